//! The fuzzers' seed inputs in `fuzz/seeds/` (valid plans and messages,
//! checked into git) must be current: this test fails when the wire format
//! changed and they were not regenerated. Regenerate with
//!
//! ```text
//! SPROUT_WRITE_SEEDS=1 cargo test -p sprout-protocol --test seeds
//! ```

mod common;

use std::path::PathBuf;

use common::*;
use sprout_protocol::{MountKind, MountOp, Msg, PlanSpec, Step};

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds")
}

fn plan_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let d = RichData::new(3);
    let mounts = d.mounts(6);
    let (args, env) = (d.args(), d.env());
    // Without the 64 KiB op: seeds should be small.
    let small: Vec<MountOp<'_>> = mounts
        .iter()
        .copied()
        .filter(|m| m.data.is_none_or(|s| s.count_bytes() < 100))
        .collect();
    let ops: Vec<MountOp<'_>> = ALL_KINDS.iter().map(|&k| MountOp::new(k, c"/x")).collect();
    vec![
        ("minimal.plan", encode(&minimal_spec())),
        ("small.plan", encode(&small_spec())),
        ("rich.plan", encode(&d.spec(&small, &args, &env))),
        (
            "every-kind.plan",
            encode(&PlanSpec {
                mounts: &ops,
                args: &[c"/bin/true"],
                ..minimal_spec()
            }),
        ),
        (
            "symlink.plan",
            encode(&PlanSpec {
                mounts: &[MountOp {
                    source: Some(c"/proc/self/fd"),
                    ..MountOp::new(MountKind::Symlink, c"dev/fd")
                }],
                ..minimal_spec()
            }),
        ),
    ]
}

fn sync_seeds() -> Vec<(String, Vec<u8>)> {
    [
        Msg::Ready,
        Msg::Run,
        Msg::Failed {
            step: Step::Mount,
            errno: 2,
            arg: 3,
        },
        Msg::Hooks,
        Msg::HooksDone,
        Msg::Pid { pid: 42 },
        Msg::Console,
        Msg::SeccompListener,
        Msg::SeccompDone,
        Msg::Created,
        Msg::Cgroup {
            count: 10,
            optional: 1 << 8,
        },
        Msg::CgroupTrees { count: 10 },
        Msg::CgroupTreeParent,
    ]
    .iter()
    .map(|m| {
        let name = format!("{m:?}")
            .split([' ', '{'])
            .next()
            .unwrap()
            .to_lowercase();
        (format!("{name}.msg"), m.encode().to_vec())
    })
    .collect()
}

fn check_or_write(target: &str, seeds: Vec<(String, Vec<u8>)>) {
    let dir = seeds_dir().join(target);
    let write = std::env::var_os("SPROUT_WRITE_SEEDS").is_some();
    if write {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, bytes) in seeds {
        let path = dir.join(&name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; regenerate with SPROUT_WRITE_SEEDS=1",
                path.display()
            )
        });
        assert!(
            on_disk == bytes,
            "{} is stale; regenerate with SPROUT_WRITE_SEEDS=1 cargo test -p sprout-protocol --test seeds",
            path.display()
        );
    }
}

#[test]
fn decode_plan_seeds_are_current() {
    let seeds = plan_seeds();
    for (_, b) in &seeds {
        check_decode(b).unwrap();
    }
    check_or_write(
        "decode_plan",
        seeds.into_iter().map(|(n, b)| (n.to_string(), b)).collect(),
    );
}

#[test]
fn decode_sync_seeds_are_current() {
    let seeds = sync_seeds();
    for (_, b) in &seeds {
        assert_eq!(Msg::decode(b).unwrap().encode()[..], b[..]);
    }
    check_or_write("decode_sync", seeds);
}
