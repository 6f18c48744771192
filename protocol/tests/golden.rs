//! Golden bytes: these literals freeze the v1 wire format. If one of these
//! tests fails, the encoding changed: either that is a mistake, or it is a
//! deliberate format change, which needs a new `VERSION` (an old stub must
//! refuse a new plan rather than misread it) and new literals here.

mod common;

use common::*;
use sprout_protocol::{DecodeError, MSG_LEN, Msg, Plan, Step, VERSION};

/// `small_spec()` encoded, field by field (see `PlanSpec::encode`).
const GOLDEN_PLAN: &str = "
    53505254                # magic \"SPRT\"
    0100                    # version 1
    0100                    # kind 1 = plan
    21010000                # len 289
    81000000                # flags NO_NEW_PRIVS | SETUP_ROOTFS
    e8030000                # uid 1000
    e8030000                # gid 1000
    28000000                # cap_last_cap 40
    0100000000000000        # caps.bounding
    0200000000000000        # caps.effective
    0300000000000000        # caps.permitted
    0000000000000000        # caps.inheritable
    0000000000000000        # caps.ambient
    00000000                # preserve_fds 0
    12000000                # umask 0o022
    ffffffff                # personality UNSET
    ffffffff                # start_fd UNSET
    00000000                # seccomp_flags
    0000000000000000        # rootfs_propagation
    1800 5000               # console 24 rows, 80 cols
    03000000 2f7200         # rootfs \"/r\"
    02000000 6800           # hostname \"h\"
    00000000                # domainname absent
    02000000 2f00           # cwd \"/\"
    01000000 05000000       # additional_gids [5]
    01000000                # namespaces: 1
      00000040 07000000     #   CLONE_NEWNET, fd 7
    01000000                # rlimits: 1
      07000000              #   RLIMIT_NOFILE
      0004000000000000      #   soft 1024
      0010000000000000      #   hard 4096
    01000000                # mounts: 1
      01000000              #   kind Mount
      02000000              #   opts CREATE_TARGET
      0e00000000000000      #   flags MS_NOSUID|MS_NODEV|MS_NOEXEC
      0000000000000000      #   remount_flags
      0000000000000000      #   propagation
      00000000 00000000     #   mode, major
      00000000 00000000     #   minor, uid
      00000000              #   gid
      05000000 70726f6300   #   source \"proc\"
      05000000 70726f6300   #   target \"proc\"
      05000000 70726f6300   #   fstype \"proc\"
      00000000              #   data absent
    01000000 03000000 736800    # args [\"sh\"]
    01000000 04000000 413d3100  # env [\"A=1\"]
    08000000 0600000000 00ff7f  # seccomp: one sock_filter, RET ALLOW
";

#[test]
fn plan_encoding_is_frozen() {
    let want = unhex(GOLDEN_PLAN);
    assert_eq!(want.len(), 289);
    let spec = small_spec();
    assert_eq!(spec.encoded_len(), want.len());
    let got = encode(&spec);
    assert_eq!(hex(&got), hex(&want), "the v1 plan encoding changed");
}

#[test]
fn golden_plan_decodes_to_the_small_spec() {
    let bytes = unhex(GOLDEN_PLAN);
    let plan = Plan::decode(&bytes).expect("golden plan must decode");
    let lists = Lists::of(&plan, 16);
    assert_spec_eq(&small_spec(), &lists.spec(&plan));
}

#[test]
fn header_constants_are_frozen() {
    assert_eq!(sprout_protocol::MAGIC, *b"SPRT");
    assert_eq!(VERSION, 1);
    assert_eq!(sprout_protocol::KIND_PLAN, 1);
    assert_eq!(sprout_protocol::HEADER_LEN, 12);
    // 8 MiB since 2026-12-01 (1 MiB before): only more is accepted; a
    // stub and its controller ship together, and an older stub refuses a
    // larger image plan with a one-line `bad length`.
    assert_eq!(sprout_protocol::MAX_PLAN_LEN, 8 << 20);
    assert_eq!(sprout_protocol::UNSET, u32::MAX);
    assert_eq!(MSG_LEN, 16);
}

#[test]
fn flag_and_opt_bits_are_frozen() {
    use sprout_protocol::{flags::*, mount_opts};
    let bits = [
        NO_NEW_PRIVS,
        READONLY_ROOTFS,
        TERMINAL,
        NO_PIVOT,
        LOOPBACK,
        SKIP_SETGROUPS,
        APPLY_RLIMITS,
        SETUP_ROOTFS,
        WAIT_START,
        NEW_KEYRING,
        SYNC,
        HOOKS_BEFORE_PIVOT,
        SECCOMP_EARLY,
        SUBREAPER,
        NEW_TIMENS,
        NEW_CGROUPNS,
        JOIN_CGROUP,
        PDEATHSIG,
    ];
    for (i, b) in bits.iter().enumerate() {
        assert_eq!(*b, 1 << i, "flag bit {i}");
    }
    assert_eq!(ALL, 0x3ffff);
    let opts = [
        mount_opts::TARGET_FILE,
        mount_opts::CREATE_TARGET,
        mount_opts::BIND_DEVICE,
        mount_opts::OPTIONAL,
        mount_opts::MOVE_FD,
        mount_opts::NO_SYMLINKS,
        mount_opts::FRESH_PARENT,
        mount_opts::OWNER_OK,
        mount_opts::MASK_DIR,
        mount_opts::CGROUP_TREE,
        mount_opts::CGROUP_TREE_PARENT,
        mount_opts::AT_CWD,
    ];
    for (i, b) in opts.iter().enumerate() {
        assert_eq!(*b, 1 << i, "mount opt bit {i}");
    }
    assert_eq!(mount_opts::ALL, 0xfff);
    for (i, k) in ALL_KINDS.iter().enumerate() {
        assert_eq!(*k as u32, i as u32 + 1, "{k:?}");
    }
}

/// Every message variant and its frozen 16 bytes.
fn golden_msgs() -> Vec<(Msg, &'static str)> {
    vec![
        (Msg::Ready, "53500101 00000000 00000000 00000000"),
        (Msg::Run, "53500102 00000000 00000000 00000000"),
        (
            Msg::Failed {
                step: Step::Mount,
                errno: 2,
                arg: 3,
            },
            "53500103 0b000000 02000000 03000000",
        ),
        (
            Msg::Failed {
                step: Step::Spawn,
                errno: u32::MAX,
                arg: 0x0102_0304,
            },
            "53500103 29000000 ffffffff 04030201",
        ),
        (Msg::Hooks, "53500104 00000000 00000000 00000000"),
        (Msg::HooksDone, "53500105 00000000 00000000 00000000"),
        (
            Msg::Pid { pid: 0x1234_5678 },
            "53500106 78563412 00000000 00000000",
        ),
        (Msg::Pid { pid: 0 }, "53500106 00000000 00000000 00000000"),
        (Msg::Console, "53500107 00000000 00000000 00000000"),
        (Msg::SeccompListener, "53500108 00000000 00000000 00000000"),
        (Msg::SeccompDone, "53500109 00000000 00000000 00000000"),
        (Msg::Created, "5350010a 00000000 00000000 00000000"),
        (
            Msg::Cgroup {
                count: 10,
                optional: 0x100,
            },
            "5350010b 0a000000 00010000 00000000",
        ),
        (
            Msg::CgroupTrees { count: 10 },
            "5350010c 0a000000 00000000 00000000",
        ),
        (Msg::CgroupTreeParent, "5350010d 00000000 00000000 00000000"),
    ]
}

#[test]
fn msg_encodings_are_frozen() {
    for (msg, h) in golden_msgs() {
        let want = unhex(h);
        assert_eq!(want.len(), MSG_LEN);
        assert_eq!(hex(&msg.encode()), hex(&want), "{msg:?}");
        assert_eq!(Msg::decode(&want), Ok(msg), "{msg:?}");
    }
}

/// The step numbers travel in `Failed`; freeze them in order (1-based).
const STEPS: &[&str] = &[
    "ReadPlan",
    "DecodePlan",
    "Setns",
    "Fork",
    "Hostname",
    "Domainname",
    "Loopback",
    "RootfsPropagation",
    "BindRootfs",
    "MountTarget",
    "Mount",
    "Device",
    "Symlink",
    "PivotRoot",
    "Mask",
    "ReadonlyPath",
    "ReadonlyRootfs",
    "WriteFile",
    "Console",
    "Sync",
    "NoNewPrivs",
    "CloseRange",
    "Chdir",
    "Bounding",
    "KeepCaps",
    "Setgroups",
    "Setresgid",
    "Setresuid",
    "Capset",
    "Ambient",
    "Seccomp",
    "Rlimit",
    "ChownStdio",
    "ResolveExec",
    "Execve",
    "Umask",
    "Personality",
    "StartWait",
    "Keyring",
    "Dumpable",
    "Spawn",
    "TimeNamespace",
    "CgroupNamespace",
    "JoinCgroup",
    "Unshare",
    "Setsid",
];

#[test]
fn step_numbers_are_frozen() {
    assert_eq!(Step::from_u32(0), None);
    for (i, name) in STEPS.iter().enumerate() {
        let n = i as u32 + 1;
        let step = Step::from_u32(n).unwrap_or_else(|| panic!("step {n} ({name}) missing"));
        assert_eq!(format!("{step:?}"), *name, "step number {n}");
        assert_eq!(step as u32, n);
        assert!(!step.name().is_empty());
        // Every step survives a Failed message.
        let m = Msg::Failed {
            step,
            errno: n,
            arg: !n,
        };
        assert_eq!(Msg::decode(&m.encode()), Ok(m));
    }
    let next = STEPS.len() as u32 + 1;
    assert_eq!(
        Step::from_u32(next),
        None,
        "step {next} was added: append it to STEPS (never renumber existing steps)"
    );
    assert_eq!(Step::from_u32(u32::MAX), None);
}

#[test]
fn decode_error_messages() {
    let all = [
        DecodeError::Truncated,
        DecodeError::BadMagic,
        DecodeError::UnsupportedVersion(7),
        DecodeError::BadKind,
        DecodeError::BadLength,
        DecodeError::BadString,
        DecodeError::BadValue,
    ];
    for e in all {
        assert!(!e.as_str().is_empty());
        assert!(e.to_string().starts_with(e.as_str()));
    }
    let s = DecodeError::UnsupportedVersion(7).to_string();
    assert!(s.contains('7') && s.contains(&VERSION.to_string()), "{s}");
}
