//! Encode → decode → re-encode round trips of plans of every shape.

mod common;

use std::ffi::CString;

use common::*;
use sprout_protocol::{
    EncodeError, HEADER_LEN, MAX_PLAN_LEN, MountKind, MountOp, Plan, PlanSpec, UNSET, flags,
    mount_opts,
};

#[test]
fn minimal_plan_round_trips() {
    let bytes = round_trip(&minimal_spec());
    let p = Plan::decode(&bytes).unwrap();
    assert!(p.additional_gids.is_empty() && p.namespaces.is_empty() && p.rlimits.is_empty());
    assert!(p.mounts.is_empty() && p.args.is_empty() && p.env.is_empty() && p.seccomp.is_empty());
    assert_eq!(p.hostname, None);
    assert_eq!(p.domainname, None);
    assert_eq!((p.umask, p.personality, p.start_fd), (UNSET, UNSET, UNSET));
}

#[test]
fn small_plan_round_trips() {
    round_trip(&small_spec());
}

#[test]
fn rich_plan_round_trips() {
    let d = RichData::new(8);
    let mounts = d.mounts(0);
    let (args, env) = (d.args(), d.env());
    let spec = d.spec(&mounts, &args, &env);
    let bytes = round_trip(&spec);

    let p = Plan::decode(&bytes).unwrap();
    // Spot checks through the public accessors the stub uses.
    assert!(p.has(flags::NO_NEW_PRIVS) && p.has(flags::SUBREAPER) && p.has(flags::SYNC));
    assert_eq!(p.flags, flags::ALL);
    let kinds: Vec<MountKind> = p.mounts.iter().map(|m| m.kind).collect();
    for k in ALL_KINDS {
        assert!(kinds.contains(&k), "{k:?} missing from the rich plan");
    }
    let m0 = p.mounts.get(0).unwrap();
    assert_eq!(m0.opts, mount_opts::ALL);
    assert_eq!(m0.flags, u64::MAX);
    assert!(m0.source.is_some() && m0.fstype.is_some() && m0.data.is_some());
    let m3 = p.mounts.get(3).unwrap();
    assert_eq!(m3.kind, MountKind::Mask);
    assert!(m3.source.is_none() && m3.fstype.is_none() && m3.data.is_none());
    // Empty and non-UTF-8 strings survive.
    let m6 = p.mounts.get(6).unwrap();
    assert_eq!(m6.target.to_bytes(), b"");
    assert_eq!(m6.source, Some(c""));
    assert_eq!(m6.fstype.unwrap().to_bytes(), &[0xff, 0xfe, b'x', 0x80]);
    assert_eq!(m6.data.unwrap().to_bytes().len(), 64 * 1024);
    assert_eq!(p.args.get(3), Some(c""));
    assert_eq!(p.mounts.get(7).unwrap().kind, MountKind::JoinCgroup);
    assert_eq!(p.mounts.get(8), None);
}

#[test]
fn each_mount_kind_alone_round_trips() {
    for kind in ALL_KINDS {
        for opts in 0..=mount_opts::ALL {
            let ops = [MountOp {
                opts,
                ..MountOp::new(kind, c"/t")
            }];
            let spec = PlanSpec {
                mounts: &ops,
                ..minimal_spec()
            };
            let bytes = round_trip(&spec);
            let p = Plan::decode(&bytes).unwrap();
            let m = p.mounts.get(0).unwrap();
            assert_eq!((m.kind, m.opts), (kind, opts));
            assert_eq!(
                m.kind.before_pivot(),
                matches!(
                    kind,
                    MountKind::Mount
                        | MountKind::Device
                        | MountKind::Symlink
                        | MountKind::JoinCgroup
                )
            );
        }
    }
}

#[test]
fn optional_strings_present_and_absent() {
    // All 2^5 combinations of hostname/domainname/source/fstype/data.
    for bits in 0u32..32 {
        let pick =
            |b: u32, s: &'static std::ffi::CStr| if bits & (1 << b) != 0 { Some(s) } else { None };
        let ops = [MountOp {
            source: pick(2, c"src"),
            fstype: pick(3, c"fs"),
            data: pick(4, c""),
            ..MountOp::new(MountKind::Mount, c"t")
        }];
        let spec = PlanSpec {
            hostname: pick(0, c"host"),
            domainname: pick(1, c""),
            mounts: &ops,
            ..minimal_spec()
        };
        round_trip(&spec);
    }
}

#[test]
fn each_list_alone_round_trips() {
    let d = RichData::new(3);
    let mounts = d.mounts(0);
    let (args, env) = (d.args(), d.env());
    let base = minimal_spec();
    round_trip(&PlanSpec {
        additional_gids: &d.gids,
        ..base
    });
    round_trip(&PlanSpec {
        namespaces: &d.namespaces,
        ..base
    });
    round_trip(&PlanSpec {
        rlimits: &d.rlimits,
        ..base
    });
    round_trip(&PlanSpec {
        mounts: &mounts,
        ..base
    });
    round_trip(&PlanSpec {
        args: &args,
        ..base
    });
    round_trip(&PlanSpec { env: &env, ..base });
    round_trip(&PlanSpec {
        seccomp: &d.seccomp,
        ..base
    });
}

#[test]
fn long_lists_round_trip() {
    let d = RichData::new(2000);
    let mounts = d.mounts(1000);
    let (args, env) = (d.args(), d.env());
    let spec = d.spec(&mounts, &args, &env);
    let bytes = round_trip(&spec);
    let p = Plan::decode(&bytes).unwrap();
    assert_eq!(p.additional_gids.len(), 2000);
    assert_eq!(p.env.len(), 2000);
    assert_eq!(p.mounts.len(), 1008);
    assert_eq!(p.env.get(1999).unwrap().to_bytes(), b"VAR_1999=value 1999");
    assert_eq!(p.additional_gids.iter().count(), 2000);
}

#[test]
fn plan_of_exactly_max_len() {
    // Size the plan to MAX_PLAN_LEN exactly: seccomp takes the bulk in
    // 8-byte steps, one env string the remainder.
    let base_spec = PlanSpec {
        env: &[c"X"],
        ..minimal_spec()
    };
    let base = base_spec.encoded_len();
    let seccomp = vec![0u8; (MAX_PLAN_LEN - base) / 8 * 8];
    let extra = MAX_PLAN_LEN - base - seccomp.len();
    let s = CString::new(vec![b'X'; 1 + extra]).unwrap();
    let env = [s.as_c_str()];
    let spec = PlanSpec {
        env: &env,
        seccomp: &seccomp,
        ..minimal_spec()
    };
    assert_eq!(spec.encoded_len(), MAX_PLAN_LEN);
    let bytes = round_trip(&spec);
    assert_eq!(bytes.len(), MAX_PLAN_LEN);

    // One byte more is refused by the encoder...
    let s2 = CString::new(vec![b'X'; 2 + extra]).unwrap();
    let env2 = [s2.as_c_str()];
    let big = PlanSpec { env: &env2, ..spec };
    assert_eq!(big.encoded_len(), MAX_PLAN_LEN + 1);
    let mut out = vec![0u8; MAX_PLAN_LEN + 1];
    assert_eq!(big.encode(&mut out), Err(EncodeError::TooLarge));
    assert!(
        out.iter().all(|&b| b == 0),
        "a refused encode wrote into the buffer"
    );
}

#[test]
fn encode_into_larger_buffer_leaves_the_tail_alone() {
    let spec = small_spec();
    let exact = encode(&spec);
    let mut out = vec![0xaau8; exact.len() + 100];
    assert_eq!(spec.encode(&mut out), Ok(exact.len()));
    assert_eq!(&out[..exact.len()], &exact[..]);
    assert!(out[exact.len()..].iter().all(|&b| b == 0xaa));
    // The decoder wants exactly one plan: with the tail it refuses.
    assert!(Plan::decode(&out).is_err());
    assert!(Plan::decode(&out[..exact.len()]).is_ok());
}

#[test]
fn encode_errors() {
    let spec = small_spec();
    let len = spec.encoded_len();
    // Every too-small buffer, and nothing is written into it.
    for n in 0..len {
        let mut out = vec![0x55u8; n];
        assert_eq!(
            spec.encode(&mut out),
            Err(EncodeError::BufferTooSmall),
            "buffer of {n}"
        );
        assert!(
            out.iter().all(|&b| b == 0x55),
            "BufferTooSmall wrote into the buffer"
        );
    }
    // A seccomp program whose length is not a multiple of 8, whatever the buffer.
    for bad in [1usize, 4, 7, 9, 12, 15, 17] {
        let prog = vec![0u8; bad];
        let s = PlanSpec {
            seccomp: &prog,
            ..spec
        };
        let mut out = vec![0u8; 4096];
        assert_eq!(
            s.encode(&mut out),
            Err(EncodeError::BadSeccomp),
            "seccomp of {bad}"
        );
        assert_eq!(s.encode(&mut []), Err(EncodeError::BadSeccomp));
    }
    // Error messages are meaningful.
    for e in [
        EncodeError::BufferTooSmall,
        EncodeError::TooLarge,
        EncodeError::BadSeccomp,
    ] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn encoded_len_is_deterministic_and_minimal() {
    let spec = minimal_spec();
    // Header + scalars + 4 string fields (two 2-byte strings, two absent) +
    // 6 list counts + seccomp count.
    let scalars = 4 * 4 + 5 * 8 + 5 * 4 + 8 + 2 * 2;
    let strings = (4 + 2) + 4 + 4 + (4 + 2);
    assert_eq!(
        spec.encoded_len(),
        HEADER_LEN + scalars + strings + 6 * 4 + 4
    );
    assert_eq!(spec.encoded_len(), spec.encoded_len());
}
