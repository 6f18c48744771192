//! Malformed plans: every one must be rejected with the right error, without
//! panicking, and quickly.
//!
//! `Raw` is an independent, test-side writer of the wire format whose
//! fields hold raw encoded bytes, so that single fields can be broken.
//! `raw_default_matches_the_encoder` ties it to the real encoder.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sprout_protocol::{
    DecodeError, HEADER_LEN, MAX_PLAN_LEN, Plan, PlanSpec, VERSION, flags, mount_opts, plan_len,
};

fn u32le(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// A string field: count (bytes including the NUL) then the bytes.
fn s(bytes_with_nul: &[u8]) -> Vec<u8> {
    let mut v = u32le(bytes_with_nul.len() as u32);
    v.extend_from_slice(bytes_with_nul);
    v
}

/// An absent string.
fn none() -> Vec<u8> {
    u32le(0)
}

/// A list field: `count` then the concatenated items.
fn list(count: u32, items: &[Vec<u8>]) -> Vec<u8> {
    let mut v = u32le(count);
    for it in items {
        v.extend_from_slice(it);
    }
    v
}

/// A mount op with the given kind, opts and target; everything else as in
/// the small plan's op.
fn mount(
    kind: u32,
    opts: u32,
    source: Vec<u8>,
    target: Vec<u8>,
    fstype: Vec<u8>,
    data: Vec<u8>,
) -> Vec<u8> {
    let mut v = u32le(kind);
    v.extend(u32le(opts));
    v.extend(0xeu64.to_le_bytes());
    v.extend([0u8; 16]); // remount_flags, propagation
    v.extend([0u8; 20]); // mode, major, minor, uid, gid
    v.extend(source);
    v.extend(target);
    v.extend(fstype);
    v.extend(data);
    v
}

fn proc_mount() -> Vec<u8> {
    mount(
        1,
        mount_opts::CREATE_TARGET,
        s(b"proc\0"),
        s(b"proc\0"),
        s(b"proc\0"),
        none(),
    )
}

#[derive(Clone)]
struct Raw {
    magic: Vec<u8>,
    version: u16,
    kind: u16,
    /// `None`: the real total length.
    len: Option<u32>,
    flags: u32,
    /// uid .. console, 84 bytes.
    scalars: Vec<u8>,
    rootfs: Vec<u8>,
    hostname: Vec<u8>,
    domainname: Vec<u8>,
    cwd: Vec<u8>,
    gids: Vec<u8>,
    namespaces: Vec<u8>,
    rlimits: Vec<u8>,
    mounts: Vec<u8>,
    args: Vec<u8>,
    env: Vec<u8>,
    seccomp: Vec<u8>,
    trailing: Vec<u8>,
}

impl Default for Raw {
    /// The small plan (`small_spec()`).
    fn default() -> Self {
        let mut scalars = Vec::new();
        for v in [1000u32, 1000, 40] {
            scalars.extend(u32le(v));
        }
        for v in [1u64, 2, 3, 0, 0] {
            scalars.extend(v.to_le_bytes());
        }
        for v in [0u32, 0o022, u32::MAX, u32::MAX, 0] {
            scalars.extend(u32le(v));
        }
        scalars.extend(0u64.to_le_bytes());
        scalars.extend(24u16.to_le_bytes());
        scalars.extend(80u16.to_le_bytes());
        let mut rl = u32le(7);
        rl.extend(1024u64.to_le_bytes());
        rl.extend(4096u64.to_le_bytes());
        let mut ns = u32le(0x4000_0000);
        ns.extend(u32le(7));
        let mut seccomp = u32le(8);
        seccomp.extend([6, 0, 0, 0, 0, 0, 0xff, 0x7f]);
        Raw {
            magic: b"SPRT".to_vec(),
            version: VERSION,
            kind: 1,
            len: None,
            flags: flags::NO_NEW_PRIVS | flags::SETUP_ROOTFS,
            scalars,
            rootfs: s(b"/r\0"),
            hostname: s(b"h\0"),
            domainname: none(),
            cwd: s(b"/\0"),
            gids: list(1, &[u32le(5)]),
            namespaces: list(1, &[ns]),
            rlimits: list(1, &[rl]),
            mounts: list(1, &[proc_mount()]),
            args: list(1, &[s(b"sh\0")]),
            env: list(1, &[s(b"A=1\0")]),
            seccomp,
            trailing: Vec::new(),
        }
    }
}

impl Raw {
    fn bytes(&self) -> Vec<u8> {
        let mut v = self.magic.clone();
        v.extend(self.version.to_le_bytes());
        v.extend(self.kind.to_le_bytes());
        v.extend([0; 4]);
        v.extend(u32le(self.flags));
        for f in [
            &self.scalars,
            &self.rootfs,
            &self.hostname,
            &self.domainname,
            &self.cwd,
            &self.gids,
            &self.namespaces,
            &self.rlimits,
            &self.mounts,
            &self.args,
            &self.env,
            &self.seccomp,
            &self.trailing,
        ] {
            v.extend_from_slice(f);
        }
        let len = self.len.unwrap_or(v.len() as u32);
        if v.len() >= 12 {
            v[8..12].copy_from_slice(&len.to_le_bytes());
        }
        v
    }

    fn decode(&self) -> Result<(), DecodeError> {
        decode_timed(&self.bytes())
    }
}

/// Decodes (checking any accepted plan re-encodes identically) and fails
/// the test if decoding took unreasonably long.
fn decode_timed(b: &[u8]) -> Result<(), DecodeError> {
    let t = Instant::now();
    let r = check_decode(b);
    let dt = t.elapsed();
    assert!(
        dt < Duration::from_secs(5),
        "decoding {} bytes took {dt:?}",
        b.len()
    );
    r
}

fn edit(f: impl FnOnce(&mut Raw)) -> Raw {
    let mut r = Raw::default();
    f(&mut r);
    r
}

#[test]
fn raw_default_matches_the_encoder() {
    assert_eq!(hex(&Raw::default().bytes()), hex(&encode(&small_spec())));
    assert_eq!(Raw::default().decode(), Ok(()));
}

// ---- truncation -------------------------------------------------------

fn sample_encodings() -> Vec<Vec<u8>> {
    let d = RichData::new(5);
    let mounts = d.mounts(6);
    let (args, env) = (d.args(), d.env());
    let mut out = vec![encode(&minimal_spec()), encode(&small_spec())];
    // The rich plan without its 64 KiB string, to keep the quadratic loops short.
    let mut rich = d.spec(&mounts[..6], &args, &env);
    out.push(encode(&rich));
    rich.mounts = &mounts[7..];
    out.push(encode(&rich));
    out
}

#[test]
fn every_prefix_is_rejected_as_truncated() {
    for full in sample_encodings() {
        assert_eq!(decode_timed(&full), Ok(()));
        for n in 0..full.len() {
            assert_eq!(
                decode_timed(&full[..n]),
                Err(DecodeError::Truncated),
                "prefix {n} of {}",
                full.len()
            );
        }
    }
}

#[test]
fn every_prefix_with_a_matching_header_len_is_rejected() {
    // With the header's len patched to the prefix length, the decoder gets
    // past the header check and must run out of bytes inside the body.
    for full in sample_encodings() {
        for n in HEADER_LEN..full.len() {
            let mut b = full[..n].to_vec();
            b[8..12].copy_from_slice(&(n as u32).to_le_bytes());
            assert_eq!(
                decode_timed(&b),
                Err(DecodeError::Truncated),
                "prefix {n} of {}",
                full.len()
            );
        }
    }
}

#[test]
fn plan_len_reads_headers() {
    let full = encode(&small_spec());
    assert_eq!(plan_len(&full), Ok(full.len()));
    assert_eq!(plan_len(&full[..HEADER_LEN]), Ok(full.len()));
    for n in 0..HEADER_LEN {
        assert_eq!(
            plan_len(&full[..n]),
            Err(DecodeError::Truncated),
            "header prefix {n}"
        );
    }
    let with_len = |len: u32| edit(|r| r.len = Some(len)).bytes();
    assert_eq!(plan_len(&with_len(12)), Ok(12));
    assert_eq!(plan_len(&with_len(MAX_PLAN_LEN as u32)), Ok(MAX_PLAN_LEN));
    for bad in [0, 1, 11, MAX_PLAN_LEN as u32 + 1, u32::MAX] {
        assert_eq!(
            plan_len(&with_len(bad)),
            Err(DecodeError::BadLength),
            "len {bad}"
        );
    }
}

// ---- header -----------------------------------------------------------

#[test]
fn bad_magic() {
    for m in [b"SPRU", b"sprt", b"\0\0\0\0", b"TRPS"] {
        let r = edit(|r| r.magic = m.to_vec());
        assert_eq!(r.decode(), Err(DecodeError::BadMagic), "{m:?}");
        assert_eq!(plan_len(&r.bytes()), Err(DecodeError::BadMagic));
    }
    // Magic wins over a short buffer once four bytes are there.
    assert_eq!(decode_timed(b"XXXX"), Err(DecodeError::BadMagic));
    assert_eq!(decode_timed(b"SPR"), Err(DecodeError::Truncated));
}

#[test]
fn unsupported_version_carries_the_version() {
    for v in [0u16, 2, 0x0100, u16::MAX] {
        let r = edit(|r| r.version = v);
        assert_eq!(r.decode(), Err(DecodeError::UnsupportedVersion(v)));
        assert_eq!(
            plan_len(&r.bytes()),
            Err(DecodeError::UnsupportedVersion(v))
        );
        let msg = DecodeError::UnsupportedVersion(v).to_string();
        assert!(msg.contains(&v.to_string()), "{msg}");
    }
}

#[test]
fn bad_kind() {
    for k in [0u16, 2, u16::MAX] {
        let r = edit(|r| r.kind = k);
        assert_eq!(r.decode(), Err(DecodeError::BadKind), "kind {k}");
    }
}

#[test]
fn length_field_mismatch() {
    let real = Raw::default().bytes().len() as u32;
    // Header claims more than there is: the reader should wait for more.
    assert_eq!(
        edit(|r| r.len = Some(real + 1)).decode(),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        edit(|r| r.len = Some(MAX_PLAN_LEN as u32)).decode(),
        Err(DecodeError::Truncated)
    );
    // Header claims less than there is.
    assert_eq!(
        edit(|r| r.len = Some(real - 1)).decode(),
        Err(DecodeError::BadLength)
    );
    assert_eq!(
        edit(|r| r.len = Some(HEADER_LEN as u32)).decode(),
        Err(DecodeError::BadLength)
    );
    // Out of range.
    for bad in [0, 11, MAX_PLAN_LEN as u32 + 1, u32::MAX] {
        assert_eq!(
            edit(|r| r.len = Some(bad)).decode(),
            Err(DecodeError::BadLength),
            "len {bad}"
        );
    }
    // Trailing bytes covered by the header's len.
    for extra in [1usize, 3, 8, 100] {
        let r = edit(|r| r.trailing = vec![0; extra]);
        assert_eq!(
            r.decode(),
            Err(DecodeError::BadLength),
            "{extra} trailing bytes"
        );
    }
    // Trailing bytes not covered by it.
    let mut b = Raw::default().bytes();
    b.push(0);
    assert_eq!(decode_timed(&b), Err(DecodeError::BadLength));
    // A bare header.
    let mut hdr = Raw::default().bytes()[..12].to_vec();
    hdr[8..12].copy_from_slice(&12u32.to_le_bytes());
    assert_eq!(decode_timed(&hdr), Err(DecodeError::Truncated));
}

#[test]
fn buffer_over_max_plan_len() {
    let mut b = vec![0u8; MAX_PLAN_LEN + 8];
    b[..12].copy_from_slice(&Raw::default().bytes()[..12]);
    b[8..12].copy_from_slice(&((MAX_PLAN_LEN + 8) as u32).to_le_bytes());
    assert_eq!(decode_timed(&b), Err(DecodeError::BadLength));
}

// ---- scalar values ----------------------------------------------------

#[test]
fn unknown_flag_bits() {
    for bit in 18..32 {
        let r = edit(|r| r.flags = flags::ALL | 1 << bit);
        assert_eq!(r.decode(), Err(DecodeError::BadValue), "flag bit {bit}");
    }
    assert_eq!(
        edit(|r| r.flags = u32::MAX).decode(),
        Err(DecodeError::BadValue)
    );
    assert_eq!(edit(|r| r.flags = flags::ALL).decode(), Ok(()));
    assert_eq!(edit(|r| r.flags = 0).decode(), Ok(()));
}

#[test]
fn scalars_take_any_value() {
    // uid..console carry no constraints: all-ones and all-zeros decode.
    assert_eq!(edit(|r| r.scalars = vec![0xff; 84]).decode(), Ok(()));
    assert_eq!(edit(|r| r.scalars = vec![0; 84]).decode(), Ok(()));
}

#[test]
fn unknown_mount_kind() {
    for k in [0u32, 9, 0x100, u32::MAX] {
        let op = mount(k, 0, none(), s(b"t\0"), none(), none());
        let r = edit(|r| r.mounts = list(1, &[op]));
        assert_eq!(r.decode(), Err(DecodeError::BadValue), "kind {k}");
    }
    for k in 1..=8 {
        let op = mount(k, 0, none(), s(b"t\0"), none(), none());
        assert_eq!(
            edit(|r| r.mounts = list(1, &[op])).decode(),
            Ok(()),
            "kind {k}"
        );
    }
    // A bad kind in the second op.
    let bad = mount(9, 0, none(), s(b"t\0"), none(), none());
    assert_eq!(
        edit(|r| r.mounts = list(2, &[proc_mount(), bad])).decode(),
        Err(DecodeError::BadValue)
    );
}

#[test]
fn unknown_mount_opts_bits() {
    for bit in mount_opts::ALL.count_ones()..32 {
        let op = mount(
            1,
            mount_opts::ALL | 1 << bit,
            none(),
            s(b"t\0"),
            none(),
            none(),
        );
        let r = edit(|r| r.mounts = list(1, &[op]));
        assert_eq!(r.decode(), Err(DecodeError::BadValue), "opts bit {bit}");
    }
}

#[test]
fn seccomp_length_not_a_multiple_of_8() {
    for n in [1u32, 2, 4, 7, 9, 15, 17] {
        let mut f = u32le(n);
        f.extend(vec![0u8; n as usize]);
        assert_eq!(
            edit(|r| r.seccomp = f).decode(),
            Err(DecodeError::BadValue),
            "seccomp {n}"
        );
    }
    // Length over the data, and absurd lengths.
    for n in [16u32, 0x7fff_fff8, 0xffff_fff8] {
        let mut f = u32le(n);
        f.extend([0u8; 8]);
        assert_eq!(
            edit(|r| r.seccomp = f).decode(),
            Err(DecodeError::Truncated),
            "seccomp {n}"
        );
    }
    assert_eq!(
        edit(|r| r.seccomp = u32le(u32::MAX)).decode(),
        Err(DecodeError::BadValue)
    );
    assert_eq!(edit(|r| r.seccomp = u32le(0)).decode(), Ok(()));
}

// ---- strings ----------------------------------------------------------

/// Ways to break a string field, with the error each must give.
fn broken_strings() -> Vec<(Vec<u8>, DecodeError)> {
    vec![
        (s(b"/r"), DecodeError::BadString),        // no NUL
        (s(b"/a\0b\0"), DecodeError::BadString),   // interior NUL
        (s(b"\0\0"), DecodeError::BadString),      // interior NUL
        (s(b"ab\0c"), DecodeError::BadString),     // NUL not last
        (s(&[0xff]), DecodeError::BadString),      // one byte, not NUL
        (u32le(100), DecodeError::Truncated),      // count beyond the data
        (u32le(u32::MAX), DecodeError::Truncated), // absurd count
    ]
}

/// Puts each broken string into one string field of the small plan (via
/// `set`), then an absent, an empty and a non-UTF-8 string.
fn check_string_field(name: &str, set: impl Fn(&mut Raw, Vec<u8>), required: bool) {
    for (bad, want) in broken_strings() {
        let r = edit(|r| set(r, bad.clone()));
        let got = r.decode();
        // A count beyond the data may still land inside the rest of the
        // plan; then the error depends on what follows. It must be an error.
        if want == DecodeError::Truncated {
            assert!(got.is_err(), "{name}: {bad:02x?} accepted");
        } else {
            assert_eq!(got, Err(want), "{name}: {bad:02x?}");
        }
    }
    let absent = edit(|r| set(r, none())).decode();
    if required {
        assert_eq!(absent, Err(DecodeError::BadString), "{name} absent");
    } else {
        assert_eq!(absent, Ok(()), "{name} absent");
    }
    // Empty string (just the NUL) and non-UTF-8 are fine.
    assert_eq!(edit(|r| set(r, s(b"\0"))).decode(), Ok(()), "{name} empty");
    assert_eq!(
        edit(|r| set(r, s(&[0xc3, 0x28, 0xff, 0]))).decode(),
        Ok(()),
        "{name} non-UTF-8"
    );
}

#[test]
fn plan_strings() {
    check_string_field("rootfs", |r, v| r.rootfs = v, true);
    check_string_field("hostname", |r, v| r.hostname = v, false);
    check_string_field("domainname", |r, v| r.domainname = v, false);
    check_string_field("cwd", |r, v| r.cwd = v, true);
}

#[test]
fn mount_strings() {
    let tgt = || s(b"t\0");
    check_string_field(
        "source",
        |r, v| r.mounts = list(1, &[mount(1, 0, v, tgt(), none(), none())]),
        false,
    );
    check_string_field(
        "target",
        |r, v| r.mounts = list(1, &[mount(1, 0, none(), v, none(), none())]),
        true,
    );
    check_string_field(
        "fstype",
        |r, v| r.mounts = list(1, &[mount(1, 0, none(), tgt(), v, none())]),
        false,
    );
    check_string_field(
        "data",
        |r, v| r.mounts = list(1, &[mount(1, 0, none(), tgt(), none(), v)]),
        false,
    );
}

#[test]
fn list_strings() {
    check_string_field("args[0]", |r, v| r.args = list(1, &[v]), true);
    check_string_field("args[1]", |r, v| r.args = list(2, &[s(b"sh\0"), v]), true);
    check_string_field("env[0]", |r, v| r.env = list(1, &[v]), true);
    check_string_field(
        "env[2]",
        |r, v| r.env = list(3, &[s(b"A=1\0"), s(b"B=\0"), v]),
        true,
    );
}

#[test]
fn truncated_string_at_the_end_is_truncated() {
    // With nothing after the string, a count beyond the data is exactly
    // Truncated (elsewhere it may land inside the following fields).
    for (bad, want) in broken_strings() {
        let b = Raw {
            env: list(1, std::slice::from_ref(&bad)),
            seccomp: Vec::new(),
            ..Raw::default()
        };
        assert_eq!(b.decode(), Err(want), "{bad:02x?}");
    }
}

// ---- lists ------------------------------------------------------------

type ListSetter = fn(&mut Raw, Vec<u8>);

/// (name, setter, one valid item encoding)
fn lists() -> Vec<(&'static str, ListSetter, Vec<u8>)> {
    let mut ns = u32le(0x4000_0000);
    ns.extend(u32le(7));
    let mut rl = u32le(7);
    rl.extend([1u8; 16]);
    vec![
        ("additional_gids", |r, v| r.gids = v, u32le(5)),
        ("namespaces", |r, v| r.namespaces = v, ns),
        ("rlimits", |r, v| r.rlimits = v, rl),
        ("mounts", |r, v| r.mounts = v, proc_mount()),
        ("args", |r, v| r.args = v, s(b"sh\0")),
        ("env", |r, v| r.env = v, s(b"A=1\0")),
    ]
}

#[test]
fn list_counts_larger_than_the_data() {
    for (name, set, item) in lists() {
        for (count, n_items) in [
            (1u32, 0usize),
            (2, 1),
            (3, 2),
            (1000, 2),
            (u32::MAX, 3),
            (0x8000_0000, 1),
        ] {
            let items = vec![item.clone(); n_items];
            let r = edit(|r| set(r, list(count, &items)));
            assert!(
                r.decode().is_err(),
                "{name}: count {count} with {n_items} items accepted"
            );
            // As the last field of the plan, the error is exactly Truncated.
            let mut b = truncated_after(&r, name);
            let n = b.len() as u32;
            b[8..12].copy_from_slice(&n.to_le_bytes());
            assert_eq!(
                decode_timed(&b),
                Err(DecodeError::Truncated),
                "{name}: count {count} at the end"
            );
        }
    }
}

/// The bytes of `r` up to and including list `name`, nothing after it.
fn truncated_after(r: &Raw, name: &str) -> Vec<u8> {
    let order = [
        "additional_gids",
        "namespaces",
        "rlimits",
        "mounts",
        "args",
        "env",
    ];
    let pos = order.iter().position(|n| *n == name).unwrap();
    let mut cut = r.clone();
    let later: [&mut Vec<u8>; 6] = [
        &mut cut.gids,
        &mut cut.namespaces,
        &mut cut.rlimits,
        &mut cut.mounts,
        &mut cut.args,
        &mut cut.env,
    ];
    for (i, f) in later.into_iter().enumerate() {
        if i > pos {
            f.clear();
        }
    }
    cut.seccomp.clear();
    cut.trailing.clear();
    cut.bytes()
}

#[test]
fn list_counts_smaller_than_the_data() {
    // The format cannot always notice: the leftover items are read as the
    // next fields, which by coincidence may be valid (e.g. three gids 5
    // read as a namespace count of 5). What must hold: no panic, and if it
    // decodes, the list has the claimed count and the plan re-encodes to
    // the same bytes (check_decode checks that).
    let mut rejected = 0;
    for (name, set, item) in lists() {
        for count in [0u32, 2] {
            let items = vec![item.clone(); 3];
            let r = edit(|r| set(r, list(count, &items)));
            match r.decode() {
                Err(_) => rejected += 1,
                Ok(()) => {
                    let b = r.bytes();
                    let p = Plan::decode(&b).unwrap();
                    let len = match name {
                        "additional_gids" => p.additional_gids.len(),
                        "namespaces" => p.namespaces.len(),
                        "rlimits" => p.rlimits.len(),
                        "mounts" => p.mounts.len(),
                        "args" => p.args.len(),
                        _ => p.env.len(),
                    };
                    assert_eq!(len, count as usize, "{name}");
                }
            }
        }
    }
    assert!(
        rejected >= 10,
        "only {rejected} of 12 short counts rejected"
    );
}

#[test]
fn huge_counts_fail_fast_in_a_max_size_plan() {
    // A 1 MiB plan whose list claims u32::MAX items and whose remaining
    // bytes are all well-formed items: the decoder reads items until the
    // data runs out (about a quarter million), then fails. It must not go on
    // to u32::MAX iterations.
    let fills: [(&str, Vec<u8>); 4] = [
        ("additional_gids", u32le(0)),
        ("namespaces", vec![0; 8]),
        ("args", s(b"\0")),
        ("mounts", mount(4, 0, none(), s(b"\0"), none(), none())),
    ];
    for (name, item) in fills {
        let mut r = Raw::default();
        let before = truncated_after(&r, name).len(); // with the small list
        let room = MAX_PLAN_LEN - before - 4;
        let items = vec![item.clone(); room / item.len()];
        let l = list(u32::MAX, &items);
        match name {
            "additional_gids" => r.gids = l,
            "namespaces" => r.namespaces = l,
            "args" => r.args = l,
            _ => r.mounts = l,
        }
        let mut b = truncated_after(&r, name);
        assert!(b.len() <= MAX_PLAN_LEN, "{name}: {}", b.len());
        let n = b.len() as u32;
        b[8..12].copy_from_slice(&n.to_le_bytes());
        let t = Instant::now();
        assert_eq!(
            Plan::decode(&b).err(),
            Some(DecodeError::Truncated),
            "{name}"
        );
        let dt = t.elapsed();
        assert!(dt < Duration::from_secs(2), "{name}: decode took {dt:?}");
    }
}

#[test]
fn list_items_validated_beyond_the_first() {
    // A bad item deep inside a long list is found at decode time, so that
    // iteration can never stop early.
    let mut items = vec![s(b"A=1\0"); 500];
    items[499] = s(b"A=1");
    assert_eq!(
        edit(|r| r.env = list(500, &items)).decode(),
        Err(DecodeError::BadString)
    );
    let mut ops = vec![proc_mount(); 300];
    ops[299] = mount(1, mount_opts::ALL + 1, none(), s(b"t\0"), none(), none());
    assert_eq!(
        edit(|r| r.mounts = list(300, &ops)).decode(),
        Err(DecodeError::BadValue)
    );
}

#[test]
fn empty_spec_fields_are_a_valid_plan() {
    // Sanity: the encoder's empty lists look like the raw zero counts.
    let r = edit(|r| {
        for f in [
            &mut r.gids,
            &mut r.namespaces,
            &mut r.rlimits,
            &mut r.mounts,
            &mut r.args,
            &mut r.env,
        ] {
            *f = u32le(0);
        }
        r.seccomp = u32le(0);
    });
    let spec = PlanSpec {
        additional_gids: &[],
        namespaces: &[],
        rlimits: &[],
        mounts: &[],
        args: &[],
        env: &[],
        seccomp: &[],
        ..small_spec()
    };
    assert_eq!(hex(&r.bytes()), hex(&encode(&spec)));
}
