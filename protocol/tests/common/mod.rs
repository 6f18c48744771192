//! Shared helpers for the protocol's integration tests: sample plans, a
//! field-by-field comparison of a decoded [`Plan`] with the [`PlanSpec`] it
//! came from, the conversion of a decoded plan back into a spec, and a tiny
//! deterministic PRNG.
#![allow(dead_code)] // each test binary uses a different subset

use std::ffi::{CStr, CString};

use sprout_protocol::{
    Caps, DecodeError, Item, List, MountKind, MountOp, Namespace, Plan, PlanSpec, Rlimit, UNSET,
    WinSize, flags, mount_opts,
};

/// Every [`MountKind`], in wire order.
pub const ALL_KINDS: [MountKind; 7] = [
    MountKind::Mount,
    MountKind::Device,
    MountKind::Symlink,
    MountKind::Mask,
    MountKind::ReadonlyPath,
    MountKind::WriteFile,
    MountKind::JoinCgroup,
];

/// Encodes `spec` into a fresh vector of exactly `encoded_len()` bytes.
pub fn encode(spec: &PlanSpec<'_>) -> Vec<u8> {
    let mut out = vec![0u8; spec.encoded_len()];
    let n = spec.encode(&mut out).expect("encode");
    assert_eq!(
        n,
        out.len(),
        "encode returned a length other than encoded_len()"
    );
    out
}

/// A plan with every scalar zero/unset and every list empty.
pub fn minimal_spec() -> PlanSpec<'static> {
    PlanSpec {
        flags: 0,
        uid: 0,
        gid: 0,
        cap_last_cap: 0,
        caps: Caps::default(),
        preserve_fds: 0,
        umask: UNSET,
        personality: UNSET,
        start_fd: UNSET,
        seccomp_flags: 0,
        rootfs_propagation: 0,
        console: WinSize::default(),
        rootfs: c"/",
        hostname: None,
        domainname: None,
        cwd: c"/",
        additional_gids: &[],
        namespaces: &[],
        rlimits: &[],
        mounts: &[],
        args: &[],
        env: &[],
        seccomp: &[],
    }
}

/// The small plan whose encoding is frozen in `golden.rs` (`GOLDEN_PLAN`).
pub fn small_spec() -> PlanSpec<'static> {
    const MOUNTS: &[MountOp<'static>] = &[MountOp {
        opts: mount_opts::CREATE_TARGET,
        flags: 0xe, // MS_NOSUID | MS_NODEV | MS_NOEXEC
        source: Some(c"proc"),
        fstype: Some(c"proc"),
        ..MountOp::new(MountKind::Mount, c"proc")
    }];
    PlanSpec {
        flags: flags::NO_NEW_PRIVS | flags::SETUP_ROOTFS,
        uid: 1000,
        gid: 1000,
        cap_last_cap: 40,
        caps: Caps {
            bounding: 1,
            effective: 2,
            permitted: 3,
            inheritable: 0,
            ambient: 0,
        },
        preserve_fds: 0,
        umask: 0o022,
        personality: UNSET,
        start_fd: UNSET,
        seccomp_flags: 0,
        rootfs_propagation: 0,
        console: WinSize { rows: 24, cols: 80 },
        rootfs: c"/r",
        hostname: Some(c"h"),
        domainname: None,
        cwd: c"/",
        additional_gids: &[5],
        namespaces: &[Namespace {
            nstype: 0x4000_0000,
            fd: 7,
        }], // CLONE_NEWNET
        rlimits: &[Rlimit {
            resource: 7,
            soft: 1024,
            hard: 4096,
        }],
        mounts: MOUNTS,
        args: &[c"sh"],
        env: &[c"A=1"],
        // BPF_RET|BPF_K, SECCOMP_RET_ALLOW
        seccomp: &[0x06, 0, 0, 0, 0x00, 0x00, 0xff, 0x7f],
    }
}

/// Owned storage behind [`rich_spec`].
pub struct RichData {
    pub strings: Vec<CString>,
    pub gids: Vec<u32>,
    pub namespaces: Vec<Namespace>,
    pub rlimits: Vec<Rlimit>,
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub seccomp: Vec<u8>,
}

impl RichData {
    /// `n_long` scales the long lists (env, gids, repeated mounts).
    pub fn new(n_long: usize) -> Self {
        let mut strings: Vec<CString> = [
            "/var/lib/sprout/bundles/abc/rootfs",
            "container-host",
            "example.org",
            "/home/user/work dir",
            "/dev/sda1",
            "tmpfs",
            "mode=755,size=65536k",
            "../target/of/symlink",
            "1\n",
        ]
        .iter()
        .map(|s| CString::new(*s).unwrap())
        .collect();
        // Non-UTF-8 bytes and an empty string are legal C strings.
        strings.push(CString::new(vec![0xff, 0xfe, b'x', 0x80]).unwrap());
        strings.push(CString::new("").unwrap());
        // One long string (64 KiB).
        strings.push(CString::new(vec![b'L'; 64 * 1024]).unwrap());
        RichData {
            strings,
            gids: (0..n_long as u32)
                .map(|i| i.wrapping_mul(2654435761))
                .collect(),
            namespaces: vec![
                Namespace {
                    nstype: 0x1000_0000,
                    fd: 10,
                }, // user first
                Namespace {
                    nstype: 0x4000_0000,
                    fd: 11,
                },
                Namespace {
                    nstype: 0x0002_0000,
                    fd: 12,
                },
                Namespace {
                    nstype: u32::MAX,
                    fd: u32::MAX,
                },
            ],
            rlimits: vec![
                Rlimit {
                    resource: 7,
                    soft: 1024,
                    hard: 1024 * 1024,
                },
                Rlimit {
                    resource: 0,
                    soft: u64::MAX,
                    hard: u64::MAX,
                },
                Rlimit {
                    resource: u32::MAX,
                    soft: 0,
                    hard: 1,
                },
            ],
            args: vec![
                CString::new("/bin/sh").unwrap(),
                CString::new("-c").unwrap(),
                CString::new("echo \"$HOME\" && exit 3").unwrap(),
                CString::new("").unwrap(),
            ],
            env: (0..n_long)
                .map(|i| CString::new(format!("VAR_{i}=value {i}")).unwrap())
                .collect(),
            seccomp: (0..64u8).map(|b| b.wrapping_mul(37)).collect(),
        }
    }

    /// Mount ops using every kind, every opts bit, every optional string
    /// present and absent, extreme numbers; `n_long` extra ops on top.
    pub fn mounts(&self, n_long: usize) -> Vec<MountOp<'_>> {
        let s = |i: usize| self.strings[i].as_c_str();
        let mut v = vec![
            MountOp {
                opts: mount_opts::ALL,
                flags: u64::MAX,
                remount_flags: 1,
                propagation: 1 << 20 | 1 << 14,
                mode: 0o20666,
                major: u32::MAX,
                minor: 1,
                uid: 2,
                gid: 3,
                source: Some(s(4)),
                fstype: Some(s(5)),
                data: Some(s(6)),
                ..MountOp::new(MountKind::Mount, s(3))
            },
            MountOp {
                opts: mount_opts::BIND_DEVICE,
                mode: 0o20666,
                major: 1,
                minor: 3,
                uid: 1000,
                gid: 1000,
                source: Some(c"/dev/null"),
                ..MountOp::new(MountKind::Device, c"dev/null")
            },
            MountOp {
                source: Some(s(7)),
                ..MountOp::new(MountKind::Symlink, c"dev/fd")
            },
            MountOp::new(MountKind::Mask, c"/proc/kcore"),
            MountOp {
                opts: mount_opts::OPTIONAL,
                ..MountOp::new(MountKind::ReadonlyPath, c"/proc/sys")
            },
            MountOp {
                data: Some(s(8)),
                ..MountOp::new(MountKind::WriteFile, c"/proc/sys/net/ipv4/ip_forward")
            },
            // Empty and non-UTF-8 strings, the long string as data.
            MountOp {
                opts: mount_opts::TARGET_FILE,
                source: Some(s(10)),
                fstype: Some(s(9)),
                data: Some(s(11)),
                ..MountOp::new(MountKind::Mount, s(10))
            },
            MountOp::new(MountKind::JoinCgroup, c""),
        ];
        for i in 0..n_long {
            let kind = ALL_KINDS[i % ALL_KINDS.len()];
            let mut op = MountOp::new(kind, s(i % 4));
            op.opts = (i as u32) & mount_opts::ALL;
            op.flags = i as u64;
            if i % 2 == 0 {
                op.source = Some(s(4));
            }
            if i % 3 == 0 {
                op.fstype = Some(s(5));
            }
            if i % 5 == 0 {
                op.data = Some(s(6));
            }
            v.push(op);
        }
        v
    }

    pub fn args(&self) -> Vec<&CStr> {
        self.args.iter().map(|s| s.as_c_str()).collect()
    }
    pub fn env(&self) -> Vec<&CStr> {
        self.env.iter().map(|s| s.as_c_str()).collect()
    }

    /// A plan with every field set to something non-default.
    pub fn spec<'a>(
        &'a self,
        mounts: &'a [MountOp<'a>],
        args: &'a [&'a CStr],
        env: &'a [&'a CStr],
    ) -> PlanSpec<'a> {
        PlanSpec {
            flags: flags::ALL,
            uid: u32::MAX - 1,
            gid: 0x1234_5678,
            cap_last_cap: 63,
            caps: Caps {
                bounding: u64::MAX,
                effective: 0x0123_4567_89ab_cdef,
                permitted: 0xfedc_ba98_7654_3210,
                inheritable: 1 << 63,
                ambient: 1,
            },
            preserve_fds: 5,
            umask: 0o077,
            personality: 8,
            start_fd: 9,
            seccomp_flags: 0b1011,
            rootfs_propagation: 1 << 19 | 1 << 14,
            console: WinSize {
                rows: u16::MAX,
                cols: 1,
            },
            rootfs: &self.strings[0],
            hostname: Some(&self.strings[1]),
            domainname: Some(&self.strings[2]),
            cwd: &self.strings[3],
            additional_gids: &self.gids,
            namespaces: &self.namespaces,
            rlimits: &self.rlimits,
            mounts,
            args,
            env,
            seccomp: &self.seccomp,
        }
    }
}

/// Collects a list, checking that iteration yields exactly `len()` items,
/// that `get(i)` agrees with iteration, and that the iterator stays done.
/// `get` is checked for at most `max_get` indices (it walks the list).
pub fn collect_list<'a, T>(list: List<'a, T>, max_get: usize) -> Vec<T>
where
    T: Item<'a> + PartialEq + std::fmt::Debug,
{
    let mut it = list.iter();
    let v: Vec<T> = it.by_ref().collect();
    assert_eq!(
        v.len(),
        list.len(),
        "list iteration yielded a different count than len()"
    );
    assert_eq!(list.is_empty(), v.is_empty());
    assert!(
        it.next().is_none() && it.next().is_none(),
        "iterator resumed after the end"
    );
    let n = v.len();
    let idx: Vec<usize> = if n <= max_get {
        (0..n).collect()
    } else {
        // First, last and a spread in between.
        (0..max_get)
            .map(|k| k * (n - 1) / (max_get - 1).max(1))
            .collect()
    };
    for i in idx {
        assert_eq!(list.get(i).as_ref(), Some(&v[i]), "get({i})");
    }
    assert_eq!(list.get(n), None);
    assert_eq!(list.get(usize::MAX), None);
    v
}

/// The lists of a decoded plan, collected so that a [`PlanSpec`] can borrow them.
pub struct Lists<'a> {
    pub additional_gids: Vec<u32>,
    pub namespaces: Vec<Namespace>,
    pub rlimits: Vec<Rlimit>,
    pub mounts: Vec<MountOp<'a>>,
    pub args: Vec<&'a CStr>,
    pub env: Vec<&'a CStr>,
}

impl<'a> Lists<'a> {
    pub fn of(p: &Plan<'a>, max_get: usize) -> Self {
        Lists {
            additional_gids: collect_list(p.additional_gids, max_get),
            namespaces: collect_list(p.namespaces, max_get),
            rlimits: collect_list(p.rlimits, max_get),
            mounts: collect_list(p.mounts, max_get),
            args: collect_list(p.args, max_get),
            env: collect_list(p.env, max_get),
        }
    }

    /// The decoded plan as a spec again (scalars from `p`, lists from `self`).
    pub fn spec<'s>(&'s self, p: &Plan<'a>) -> PlanSpec<'s> {
        PlanSpec {
            flags: p.flags,
            uid: p.uid,
            gid: p.gid,
            cap_last_cap: p.cap_last_cap,
            caps: p.caps,
            preserve_fds: p.preserve_fds,
            umask: p.umask,
            personality: p.personality,
            start_fd: p.start_fd,
            seccomp_flags: p.seccomp_flags,
            rootfs_propagation: p.rootfs_propagation,
            console: p.console,
            rootfs: p.rootfs,
            hostname: p.hostname,
            domainname: p.domainname,
            cwd: p.cwd,
            additional_gids: &self.additional_gids,
            namespaces: &self.namespaces,
            rlimits: &self.rlimits,
            mounts: &self.mounts,
            args: &self.args,
            env: &self.env,
            seccomp: p.seccomp,
        }
    }
}

/// Asserts that two specs hold the same values, field by field (PlanSpec
/// has no `PartialEq`: it is a bag of borrowed slices).
pub fn assert_spec_eq(a: &PlanSpec<'_>, b: &PlanSpec<'_>) {
    assert_eq!(a.flags, b.flags, "flags");
    assert_eq!(a.uid, b.uid, "uid");
    assert_eq!(a.gid, b.gid, "gid");
    assert_eq!(a.cap_last_cap, b.cap_last_cap, "cap_last_cap");
    assert_eq!(a.caps, b.caps, "caps");
    assert_eq!(a.preserve_fds, b.preserve_fds, "preserve_fds");
    assert_eq!(a.umask, b.umask, "umask");
    assert_eq!(a.personality, b.personality, "personality");
    assert_eq!(a.start_fd, b.start_fd, "start_fd");
    assert_eq!(a.seccomp_flags, b.seccomp_flags, "seccomp_flags");
    assert_eq!(
        a.rootfs_propagation, b.rootfs_propagation,
        "rootfs_propagation"
    );
    assert_eq!(a.console, b.console, "console");
    assert_eq!(a.rootfs, b.rootfs, "rootfs");
    assert_eq!(a.hostname, b.hostname, "hostname");
    assert_eq!(a.domainname, b.domainname, "domainname");
    assert_eq!(a.cwd, b.cwd, "cwd");
    assert_eq!(a.additional_gids, b.additional_gids, "additional_gids");
    assert_eq!(a.namespaces, b.namespaces, "namespaces");
    assert_eq!(a.rlimits, b.rlimits, "rlimits");
    assert_eq!(a.mounts.len(), b.mounts.len(), "mounts.len()");
    for (i, (x, y)) in a.mounts.iter().zip(b.mounts).enumerate() {
        assert_eq!(x, y, "mounts[{i}]");
    }
    assert_eq!(a.args, b.args, "args");
    assert_eq!(a.env, b.env, "env");
    assert_eq!(a.seccomp, b.seccomp, "seccomp");
}

/// Encodes `spec`, decodes it, checks every field and list, re-encodes the
/// decoded plan and checks the bytes are identical. Returns the encoding.
pub fn round_trip(spec: &PlanSpec<'_>) -> Vec<u8> {
    let bytes = encode(spec);
    assert_eq!(sprout_protocol::plan_len(&bytes), Ok(bytes.len()));
    let plan = Plan::decode(&bytes).expect("decode of a fresh encoding");
    let lists = Lists::of(&plan, 64);
    let back = lists.spec(&plan);
    assert_spec_eq(spec, &back);
    assert_eq!(
        encode(&back),
        bytes,
        "re-encoding the decoded plan changed the bytes"
    );
    bytes
}

/// Decodes `bytes`; on success checks the lists and that re-encoding gives
/// `bytes` back. Never panics on its own account, so a panic means a bug.
pub fn check_decode(bytes: &[u8]) -> Result<(), DecodeError> {
    let plan = Plan::decode(bytes)?;
    assert_eq!(sprout_protocol::plan_len(bytes), Ok(bytes.len()));
    let lists = Lists::of(&plan, 4);
    let back = lists.spec(&plan);
    assert_eq!(
        encode(&back),
        bytes,
        "an accepted plan did not re-encode to the same bytes"
    );
    Ok(())
}

/// xorshift64*: deterministic, dependency-free randomness for the
/// property tests.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Lowercase hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses hex, ignoring whitespace, `|` separators and `#` comments to the
/// end of a line, so golden literals can be annotated field by field.
pub fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| l.bytes())
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}
