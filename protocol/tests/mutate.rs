//! Property test: random mutations of valid plans never make the decoder
//! panic, and whatever it accepts re-encodes to exactly the same bytes
//! (every accepted encoding is canonical).
//!
//! Deterministic (fixed seeds). `SPROUT_MUTATIONS=N` changes the number of
//! mutants per sample plan (default 20000).

mod common;

use common::*;
use sprout_protocol::{DecodeError, HEADER_LEN, MountKind, MountOp, PlanSpec};

/// Byte values and words that tend to hit edge cases.
const INTERESTING: [u32; 12] = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    0x7f,
    0x80,
    0xffff,
    0x7fff_ffff,
    u32::MAX,
];

fn mutate(rng: &mut Rng, b: &mut Vec<u8>, samples: &[Vec<u8>]) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = b.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = rng.next_u64() as u8;
            }
            2 if len >= 4 => {
                // An interesting u32 at a 4-aligned offset (most fields are).
                let i = rng.below(len / 4) * 4;
                let v = INTERESTING[rng.below(INTERESTING.len())];
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            3 if len >= 4 => {
                // Add or subtract a little from a u32 anywhere (counts).
                let i = rng.below(len - 3);
                let v = u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
                let d = rng.below(17) as u32;
                let v = if rng.chance(2) {
                    v.wrapping_add(d)
                } else {
                    v.wrapping_sub(d)
                };
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            4 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                for _ in 0..n {
                    b.insert(i, rng.next_u64() as u8);
                }
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = (1 + rng.below(8)).min(len - i);
                b.drain(i..i + n);
            }
            6 => b.truncate(rng.below(len + 1)),
            7 if len > 0 => {
                // Duplicate a chunk (repeated list items).
                let i = rng.below(len);
                let n = (1 + rng.below(64)).min(len - i);
                let chunk = b[i..i + n].to_vec();
                let at = rng.below(len + 1);
                b.splice(at..at, chunk);
            }
            8 if len > 0 => {
                // Splice in a chunk of another sample at the same offset.
                let other = &samples[rng.below(samples.len())];
                let i = rng.below(len);
                if i < other.len() {
                    let n = (1 + rng.below(64)).min(other.len() - i).min(len - i);
                    b[i..i + n].copy_from_slice(&other[i..i + n]);
                }
            }
            _ if len > 0 => {
                let i = rng.below(len);
                b[i] = [0u8, 0xff, b'/', 1][rng.below(4)];
            }
            _ => {}
        }
    }
    // Usually fix up the header's length so the body parser is exercised.
    if b.len() >= HEADER_LEN && !rng.chance(8) {
        let n = b.len() as u32;
        b[8..12].copy_from_slice(&n.to_le_bytes());
    }
}

fn samples() -> Vec<Vec<u8>> {
    let d = RichData::new(4);
    let mounts = d.mounts(6);
    let (args, env) = (d.args(), d.env());
    // Drop the 64 KiB op: mutants of a small plan are faster and hit more.
    let small_mounts: Vec<MountOp<'_>> = mounts
        .iter()
        .copied()
        .filter(|m| m.data.is_none_or(|s| s.count_bytes() < 100))
        .collect();
    let rich = d.spec(&small_mounts, &args, &env);
    let ops: Vec<MountOp<'_>> = ALL_KINDS.iter().map(|&k| MountOp::new(k, c"/x")).collect();
    vec![
        encode(&minimal_spec()),
        encode(&small_spec()),
        encode(&rich),
        encode(&PlanSpec {
            mounts: &ops,
            args: &[c"a"],
            env: &[c"b"],
            ..minimal_spec()
        }),
        encode(&PlanSpec {
            mounts: &[MountOp::new(MountKind::Symlink, c"")],
            ..minimal_spec()
        }),
    ]
}

#[test]
fn mutants_never_panic_and_accepted_ones_are_canonical() {
    let per_sample: usize = std::env::var("SPROUT_MUTATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let samples = samples();
    let mut accepted = 0usize;
    let mut errors = [0usize; 7];
    for (k, sample) in samples.iter().enumerate() {
        let mut rng = Rng::new(0xfeed_0000 + k as u64);
        for _ in 0..per_sample {
            let mut b = sample.clone();
            mutate(&mut rng, &mut b, &samples);
            // check_decode asserts re-encode == input for accepted plans.
            match check_decode(&b) {
                Ok(()) => accepted += 1,
                Err(e) => {
                    errors[match e {
                        DecodeError::Truncated => 0,
                        DecodeError::BadMagic => 1,
                        DecodeError::UnsupportedVersion(_) => 2,
                        DecodeError::BadKind => 3,
                        DecodeError::BadLength => 4,
                        DecodeError::BadString => 5,
                        DecodeError::BadValue => 6,
                    }] += 1
                }
            }
        }
    }
    eprintln!(
        "{} mutants: {accepted} accepted; rejected Truncated {}, BadMagic {}, UnsupportedVersion {}, \
         BadKind {}, BadLength {}, BadString {}, BadValue {}",
        per_sample * samples.len(),
        errors[0],
        errors[1],
        errors[2],
        errors[3],
        errors[4],
        errors[5],
        errors[6]
    );
    if per_sample >= 1000 {
        // The mutator must reach both sides and every kind of rejection.
        assert!(
            accepted > per_sample / 100,
            "too few mutants accepted ({accepted})"
        );
        for (i, n) in errors.iter().enumerate() {
            assert!(*n > 0, "no mutant hit error #{i}");
        }
    }
}
