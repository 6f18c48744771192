//! Sync messages: round trips, truncation, and every kind of bad record.

mod common;

use common::Rng;
use sprout_protocol::{DecodeError, MAX_CGROUP_FDS, MSG_LEN, Msg, Step, VERSION};

fn all_msgs() -> Vec<Msg> {
    vec![
        Msg::Ready,
        Msg::Run,
        Msg::Failed {
            step: Step::ReadPlan,
            errno: 0,
            arg: 0,
        },
        Msg::Failed {
            step: Step::Setns,
            errno: 1,
            arg: 2,
        },
        Msg::Failed {
            step: Step::Spawn,
            errno: u32::MAX,
            arg: u32::MAX,
        },
        Msg::Hooks,
        Msg::HooksDone,
        Msg::Pid { pid: 0 },
        Msg::Pid { pid: 1 },
        Msg::Pid { pid: u32::MAX },
        Msg::Console,
        Msg::SeccompListener,
        Msg::SeccompDone,
        Msg::Created,
        Msg::Cgroup {
            count: 0,
            optional: 0,
        },
        Msg::Cgroup {
            count: 10,
            optional: 1 << 8,
        },
        Msg::Cgroup {
            count: 24,
            optional: (1 << 24) - 1,
        },
        Msg::CgroupTrees { count: 0 },
        Msg::CgroupTrees { count: 10 },
        Msg::CgroupTrees { count: 24 },
        Msg::CgroupTreeParent,
    ]
}

/// Which payload bytes (offsets 4..16) a message uses.
fn used_payload(m: &Msg) -> std::ops::Range<usize> {
    match m {
        Msg::Failed { .. } => 4..16,
        Msg::Pid { .. } => 4..8,
        Msg::Cgroup { .. } => 4..12,
        Msg::CgroupTrees { .. } => 4..8,
        _ => 4..4,
    }
}

#[test]
fn every_msg_round_trips() {
    for m in all_msgs() {
        let b = m.encode();
        assert_eq!(b.len(), MSG_LEN);
        assert_eq!(&b[..2], b"SP");
        assert_eq!(b[2] as u16, VERSION);
        assert_eq!(Msg::decode(&b), Ok(m), "{m:?}");
    }
}

#[test]
fn every_truncation_is_rejected() {
    for m in all_msgs() {
        let b = m.encode();
        for n in 0..MSG_LEN {
            assert_eq!(
                Msg::decode(&b[..n]),
                Err(DecodeError::Truncated),
                "{m:?} cut to {n}"
            );
        }
    }
}

#[test]
fn overlong_records_are_rejected() {
    for m in all_msgs() {
        let mut v = m.encode().to_vec();
        for _ in 0..20 {
            v.push(0);
            assert_eq!(
                Msg::decode(&v),
                Err(DecodeError::BadLength),
                "{m:?} with {} bytes",
                v.len()
            );
        }
        // Two messages glued together are not one.
        let two = [m.encode(), m.encode()].concat();
        assert_eq!(Msg::decode(&two), Err(DecodeError::BadLength));
    }
}

#[test]
fn bad_magic() {
    for m in all_msgs() {
        for (i, x) in [(0usize, b's'), (1, b'p'), (0, 0), (1, 0xff)] {
            let mut b = m.encode();
            b[i] = x;
            assert_eq!(Msg::decode(&b), Err(DecodeError::BadMagic), "{m:?}");
        }
    }
    // A plan header is not a message. The message magic "SP" is a prefix
    // of the plan magic "SPRT", so this shows up as version b'R'.
    let mut b = [0u8; MSG_LEN];
    b[..4].copy_from_slice(b"SPRT");
    assert_eq!(
        Msg::decode(&b),
        Err(DecodeError::UnsupportedVersion(b'R' as u16))
    );
}

#[test]
fn unsupported_version_carries_the_version() {
    for m in all_msgs() {
        for v in [0u8, 2, 0x7f, 0xff] {
            let mut b = m.encode();
            b[2] = v;
            assert_eq!(
                Msg::decode(&b),
                Err(DecodeError::UnsupportedVersion(v as u16)),
                "{m:?}"
            );
        }
    }
}

#[test]
fn unknown_tags() {
    let mut known = 0;
    for tag in 0..=255u8 {
        let mut b = Msg::Ready.encode();
        b[3] = tag;
        match Msg::decode(&b) {
            Ok(m) => {
                known += 1;
                assert_eq!(m.encode(), b, "tag {tag}");
            }
            // Failed with step 0 is invalid too.
            Err(e) => {
                assert_eq!(e, DecodeError::BadValue, "tag {tag}");
                assert!(tag == 0 || tag == 3 || tag > 13, "tag {tag} rejected");
            }
        }
    }
    assert_eq!(known, 12); // tags 1..=13 except Failed (step 0)
}

#[test]
fn nonzero_unused_fields_are_rejected() {
    for m in all_msgs() {
        let used = used_payload(&m);
        for i in 4..MSG_LEN {
            if used.contains(&i) {
                continue;
            }
            for x in [1u8, 0x80, 0xff] {
                let mut b = m.encode();
                b[i] = x;
                assert_eq!(
                    Msg::decode(&b),
                    Err(DecodeError::BadValue),
                    "{m:?}: byte {i} = {x:#x}"
                );
            }
        }
    }
}

#[test]
fn unknown_steps_are_rejected() {
    // The first number after the last step (steps are appended, so a
    // fixed number here would become a known step one day).
    let next = (1u32..)
        .find(|v| Step::from_u32(*v).is_none())
        .expect("a free step number");
    for step in [0u32, next, 100, 0x100, 0x0100_0001, u32::MAX] {
        let mut b = Msg::Failed {
            step: Step::Mount,
            errno: 5,
            arg: 6,
        }
        .encode();
        b[4..8].copy_from_slice(&step.to_le_bytes());
        assert_eq!(Msg::decode(&b), Err(DecodeError::BadValue), "step {step}");
    }
}

#[test]
fn random_records_never_panic_and_accepted_ones_round_trip() {
    let mut rng = Rng::new(0x5350_0001);
    let msgs = all_msgs();
    let mut accepted = 0;
    for _ in 0..200_000 {
        let mut b = msgs[rng.below(msgs.len())].encode().to_vec();
        for _ in 0..=rng.below(3) {
            match rng.below(5) {
                0 => {
                    let i = rng.below(b.len().max(1));
                    if let Some(x) = b.get_mut(i) {
                        *x ^= 1 << rng.below(8);
                    }
                }
                1 => {
                    let i = rng.below(b.len().max(1));
                    if let Some(x) = b.get_mut(i) {
                        *x = rng.next_u64() as u8;
                    }
                }
                2 => b.truncate(rng.below(b.len() + 1)),
                3 => b.push(rng.next_u64() as u8),
                _ => {
                    // A small number in a payload word.
                    let w = 4 + 4 * rng.below(3);
                    if b.len() >= w + 4 {
                        b[w..w + 4].copy_from_slice(&(rng.below(50) as u32).to_le_bytes());
                    }
                }
            }
        }
        if let Ok(m) = Msg::decode(&b) {
            accepted += 1;
            assert_eq!(&m.encode()[..], &b[..], "{m:?} accepted from {b:02x?}");
        }
    }
    assert!(
        accepted > 1000,
        "only {accepted} accepted: mutations too destructive to be useful"
    );
}

#[test]
fn cgroup_counts_and_optional_bits_are_bounded() {
    let raw = |a: u32, b: u32| {
        let mut v = Msg::Cgroup {
            count: 0,
            optional: 0,
        }
        .encode();
        v[4..8].copy_from_slice(&a.to_le_bytes());
        v[8..12].copy_from_slice(&b.to_le_bytes());
        v
    };
    assert_eq!(
        Msg::decode(&raw(24, 1 << 23)),
        Ok(Msg::Cgroup {
            count: 24,
            optional: 1 << 23
        })
    );
    // More fds than MAX_CGROUP_FDS, or an optional bit past `count`.
    assert_eq!(Msg::decode(&raw(25, 0)), Err(DecodeError::BadValue));
    assert_eq!(Msg::decode(&raw(u32::MAX, 0)), Err(DecodeError::BadValue));
    assert_eq!(Msg::decode(&raw(3, 1 << 3)), Err(DecodeError::BadValue));
    assert_eq!(Msg::decode(&raw(0, 1)), Err(DecodeError::BadValue));
}

#[test]
fn cgroup_trees_are_bounded() {
    let raw = |count: u32| {
        let mut v = Msg::CgroupTrees { count: 0 }.encode();
        v[4..8].copy_from_slice(&count.to_le_bytes());
        v
    };
    let most = MAX_CGROUP_FDS as u32;
    assert_eq!(
        Msg::decode(&raw(most)),
        Ok(Msg::CgroupTrees { count: most })
    );
    assert_eq!(Msg::decode(&raw(most + 1)), Err(DecodeError::BadValue));
    assert_eq!(Msg::decode(&raw(u32::MAX)), Err(DecodeError::BadValue));
    // Unused fields must be zero.
    let mut v = raw(1);
    v[8] = 1;
    assert_eq!(Msg::decode(&v), Err(DecodeError::BadValue));
}
