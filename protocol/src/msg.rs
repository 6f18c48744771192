//! Sync messages between the controller and the stub.
//!
//! Each message is one `SOCK_SEQPACKET` record of exactly [`MSG_LEN`] bytes:
//!
//! ```text
//! offset size field
//!  0     2    magic   b"SP"
//!  2     1    version VERSION as u8
//!  3     1    tag     message type (see Msg)
//!  4     4    a       u32, meaning per tag
//!  8     4    b       u32
//! 12     4    c       u32
//! ```
//!
//! `Console` and `SeccompListener` carry one fd as `SCM_RIGHTS` on the same
//! record; `Cgroup` and `CgroupTrees` carry `count` of them (at most
//! [`MAX_CGROUP_FDS`]).

use crate::wire::{DecodeError, Reader};

/// Size of every sync message in bytes.
pub const MSG_LEN: usize = 16;

/// The most fds one [`Msg::Cgroup`] carries: one per cgroup v1 hierarchy
/// (a host mounts about a dozen; the kernel has 14 v1 controllers plus
/// named hierarchies).
pub const MAX_CGROUP_FDS: usize = 24;

/// A sync message. Direction in brackets: stub→controller (S→C) or C→S.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// [S→C] Setup inside the namespaces is done; still privileged. The
    /// controller applies rlimits (prlimit) and answers `Run`.
    Ready,
    /// [C→S] Continue: drop privileges and exec (or wait for start).
    Run,
    /// [S→C] A step failed: `errno` from the kernel (or 0), `arg` an index
    /// into the plan list the step works on (mount op, gid, namespace) or 0.
    Failed {
        /// Which step.
        step: Step,
        /// Positive errno value.
        errno: u32,
        /// Index into the relevant plan list, or 0.
        arg: u32,
    },
    /// [S→C] createContainer hooks may run now (before pivot_root).
    Hooks,
    /// [C→S] Hooks finished successfully.
    HooksDone,
    /// [S→C] The stub forked (after joining a pid namespace); `pid` is the
    /// child's pid as seen by the controller (sent with SCM_CREDENTIALS
    /// translation) or 0 when the controller must use the credentials.
    Pid {
        /// Child pid in the receiver's pid namespace.
        pid: u32,
    },
    /// [S→C] The pty master fd is attached (SCM_RIGHTS).
    Console,
    /// [S→C] The seccomp listener fd is attached (SCM_RIGHTS).
    SeccompListener,
    /// [C→S] The seccomp listener was handed on; continue.
    SeccompDone,
    /// [S→C] `create` is done: the stub now waits for `start` on the start
    /// socket ([`crate::Plan::start_fd`]).
    Created,
    /// [C→S] The container's cgroup is made ([`crate::flags::JOIN_CGROUP`]):
    /// `count` v1 `tasks` files ride along as `SCM_RIGHTS`, in order; the
    /// stub writes `0` to each (cgroups(7): a thread moving itself). A
    /// failed write is tolerated for fd `i` when bit `i` of `optional` is
    /// set (named hierarchies such as `name=systemd`, joined best-effort);
    /// otherwise it is `Failed{JoinCgroup, errno, i}`.
    Cgroup {
        /// Number of fds attached, at most [`MAX_CGROUP_FDS`].
        count: u32,
        /// Bit `i`: a failed write to fd `i` is tolerated.
        optional: u32,
    },
    /// [C→S] After [`Msg::Cgroup`], when the plan has ops with
    /// [`crate::mount_opts::CGROUP_TREE`]: the detached mount trees the
    /// controller cloned for them ride along as `SCM_RIGHTS`, tree number
    /// `k` (an op's `major`) as fd `k`: all of them, or none when one
    /// could not be made (`count` 0: the stub clones them itself).
    CgroupTrees {
        /// Number of fds attached, at most [`MAX_CGROUP_FDS`].
        count: u32,
    },
    /// [S→C] The mount that the [`crate::mount_opts::CGROUP_TREE`] binds
    /// go into is made ([`crate::mount_opts::CGROUP_TREE_PARENT`]): the
    /// controller clones them now, so that they are younger than it (the
    /// kernel lists a namespace's mounts in the order they were made).
    CgroupTreeParent,
}

impl Msg {
    fn parts(&self) -> (u8, u32, u32, u32) {
        match *self {
            Msg::Ready => (1, 0, 0, 0),
            Msg::Run => (2, 0, 0, 0),
            Msg::Failed { step, errno, arg } => (3, step as u32, errno, arg),
            Msg::Hooks => (4, 0, 0, 0),
            Msg::HooksDone => (5, 0, 0, 0),
            Msg::Pid { pid } => (6, pid, 0, 0),
            Msg::Console => (7, 0, 0, 0),
            Msg::SeccompListener => (8, 0, 0, 0),
            Msg::SeccompDone => (9, 0, 0, 0),
            Msg::Created => (10, 0, 0, 0),
            Msg::Cgroup { count, optional } => (11, count, optional, 0),
            Msg::CgroupTrees { count } => (12, count, 0, 0),
            Msg::CgroupTreeParent => (13, 0, 0, 0),
        }
    }

    /// The wire form of this message.
    pub fn encode(&self) -> [u8; MSG_LEN] {
        let (tag, a, b, c) = self.parts();
        let mut out = [0u8; MSG_LEN];
        out[0] = b'S';
        out[1] = b'P';
        out[2] = crate::VERSION as u8;
        out[3] = tag;
        out[4..8].copy_from_slice(&a.to_le_bytes());
        out[8..12].copy_from_slice(&b.to_le_bytes());
        out[12..16].copy_from_slice(&c.to_le_bytes());
        out
    }

    /// Decodes one record. Never panics; the record must be exactly
    /// [`MSG_LEN`] bytes (`Truncated`/`BadLength` otherwise), with the magic,
    /// this version, a known tag, and zero in unused fields.
    pub fn decode(buf: &[u8]) -> Result<Msg, DecodeError> {
        if buf.len() < MSG_LEN {
            return Err(DecodeError::Truncated);
        }
        if buf.len() > MSG_LEN {
            return Err(DecodeError::BadLength);
        }
        let mut r = Reader::new(buf);
        if r.take(2)? != b"SP" {
            return Err(DecodeError::BadMagic);
        }
        let hdr = r.take(2)?;
        let (version, tag) = (hdr[0], hdr[1]);
        if version as u16 != crate::VERSION {
            return Err(DecodeError::UnsupportedVersion(version as u16));
        }
        let (a, b, c) = (r.u32()?, r.u32()?, r.u32()?);
        let msg = match tag {
            1 => Msg::Ready,
            2 => Msg::Run,
            3 => Msg::Failed {
                step: Step::from_u32(a).ok_or(DecodeError::BadValue)?,
                errno: b,
                arg: c,
            },
            4 => Msg::Hooks,
            5 => Msg::HooksDone,
            6 => Msg::Pid { pid: a },
            7 => Msg::Console,
            8 => Msg::SeccompListener,
            9 => Msg::SeccompDone,
            10 => Msg::Created,
            11 if a as usize <= MAX_CGROUP_FDS && b >> a == 0 => Msg::Cgroup {
                count: a,
                optional: b,
            },
            12 if a as usize <= MAX_CGROUP_FDS => Msg::CgroupTrees { count: a },
            13 => Msg::CgroupTreeParent,
            _ => return Err(DecodeError::BadValue),
        };
        // Unused fields must be zero, so that every valid record has one
        // meaning and a re-encode gives the same bytes.
        if msg.encode()[..] != buf[..] {
            return Err(DecodeError::BadValue);
        }
        Ok(msg)
    }
}

macro_rules! steps {
    ($($(#[$doc:meta])* $name:ident = $n:literal, $text:literal;)*) => {
        /// A step of the stub's work, named in `Failed` messages.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub enum Step {
            $($(#[$doc])* $name = $n,)*
        }
        impl Step {
            /// Decodes a step number.
            pub fn from_u32(v: u32) -> Option<Step> {
                match v {
                    $($n => Some(Step::$name),)*
                    _ => None,
                }
            }
            /// The syscall or operation name, as in man pages (`"setresuid"`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Step::$name => $text,)*
                }
            }
        }
    };
}

steps! {
    /// Reading the plan from fd 3 or the plan file.
    ReadPlan = 1, "read plan";
    /// Decoding the plan.
    DecodePlan = 2, "decode plan";
    /// `setns(2)` into `namespaces[arg]`.
    Setns = 3, "setns";
    /// `fork(2)` after joining a pid namespace.
    Fork = 4, "fork";
    /// `sethostname(2)`.
    Hostname = 5, "sethostname";
    /// `setdomainname(2)`.
    Domainname = 6, "setdomainname";
    /// Bringing `lo` up (SIOCSIFFLAGS).
    Loopback = 7, "loopback up";
    /// Making the mount tree private/slave (rootfsPropagation).
    RootfsPropagation = 8, "mount propagation";
    /// Bind-mounting the rootfs on itself.
    BindRootfs = 9, "bind rootfs";
    /// Resolving or creating `mounts[arg]`'s target inside the rootfs.
    MountTarget = 10, "mount target";
    /// `mount(2)` of `mounts[arg]`.
    Mount = 11, "mount";
    /// `mknod(2)` or bind for device op `mounts[arg]`.
    Device = 12, "mknod";
    /// `symlink(2)` for op `mounts[arg]`.
    Symlink = 13, "symlink";
    /// `pivot_root(2)` (or MS_MOVE+chroot).
    PivotRoot = 14, "pivot_root";
    /// Masking `mounts[arg]` (maskedPaths).
    Mask = 15, "mask";
    /// Read-only bind of `mounts[arg]` (readonlyPaths).
    ReadonlyPath = 16, "readonly remount";
    /// Read-only remount of the root.
    ReadonlyRootfs = 17, "remount root read-only";
    /// Writing a file (`mounts[arg]`, e.g. sysctl).
    WriteFile = 18, "write";
    /// Opening the pty / console setup.
    Console = 19, "console";
    /// Talking to the controller on the sync socket.
    Sync = 20, "sync";
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs = 21, "prctl(PR_SET_NO_NEW_PRIVS)";
    /// `close_range(CLOSE_RANGE_CLOEXEC)`.
    CloseRange = 22, "close_range";
    /// `chdir(2)` to `process.cwd`.
    Chdir = 23, "chdir";
    /// Dropping capability `arg` from the bounding set.
    Bounding = 24, "prctl(PR_CAPBSET_DROP)";
    /// `prctl(PR_SET_KEEPCAPS)`.
    KeepCaps = 25, "prctl(PR_SET_KEEPCAPS)";
    /// `setgroups(2)`.
    Setgroups = 26, "setgroups";
    /// `setresgid(2)`.
    Setresgid = 27, "setresgid";
    /// `setresuid(2)`.
    Setresuid = 28, "setresuid";
    /// `capset(2)`.
    Capset = 29, "capset";
    /// Raising ambient capability `arg`.
    Ambient = 30, "prctl(PR_CAP_AMBIENT_RAISE)";
    /// `seccomp(SECCOMP_SET_MODE_FILTER)`.
    Seccomp = 31, "seccomp";
    /// `setrlimit(2)` of `rlimits[arg]` (image mode).
    Rlimit = 32, "setrlimit";
    /// `fchown(2)` of stdio.
    ChownStdio = 33, "fchown";
    /// Looking `args[0]` up in PATH.
    ResolveExec = 34, "exec";
    /// `execve(2)`.
    Execve = 35, "execve";
    /// `umask(2)`.
    Umask = 36, "umask";
    /// `personality(2)`.
    Personality = 37, "personality";
    /// Waiting on the start socket for `start`.
    StartWait = 38, "accept start";
    /// `keyctl(KEYCTL_JOIN_SESSION_KEYRING)`.
    Keyring = 39, "keyctl";
    /// `prctl(PR_SET_DUMPABLE)` and other hardening.
    Dumpable = 40, "prctl(PR_SET_DUMPABLE)";
    /// Forking the command as PID 1 (image mode).
    Spawn = 41, "fork";
    /// `unshare(CLONE_NEWTIME)` for a new time namespace.
    TimeNamespace = 42, "unshare(CLONE_NEWTIME)";
    /// `unshare(CLONE_NEWCGROUP)` for a new cgroup namespace.
    CgroupNamespace = 43, "unshare(CLONE_NEWCGROUP)";
    /// `arg`: the index of the `tasks` fd in [`Msg::Cgroup`].
    JoinCgroup = 44, "join cgroup";
    /// New namespaces made by the stub (`Namespace` with fd `UNSET`);
    /// `arg`: the index in [`crate::Plan::namespaces`].
    Unshare = 45, "unshare";
    /// `setsid(2)`: the container process leads a new session, with no
    /// controlling terminal unless `process.terminal` gives it the pty.
    Setsid = 46, "setsid";
}
