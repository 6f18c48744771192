//! # sprout-protocol: the wire formats shared by `sprout` and `sprout-init`
//!
//! Two formats live here, both little-endian, both versioned, both decoded
//! without allocation and without panicking on any input:
//!
//! - the **plan** ([`Plan`] decoded, [`PlanSpec`] encoded): everything the stub
//!   needs to set up a container, already resolved by the controller to numbers
//!   and NUL-terminated byte strings. It travels over a stream (fd 3 of the
//!   stub) or sits in a file (image mode). The stub decodes it in place:
//!   strings are `&CStr` borrowed from the receive buffer.
//! - the **sync messages** ([`Msg`]): fixed 16-byte records on a
//!   `SOCK_SEQPACKET` socketpair (fd 4 of the stub); file descriptors ride
//!   along as `SCM_RIGHTS` on the message that announces them.
//!
//! ## Plan header
//!
//! ```text
//! offset size field
//!  0     4    magic   b"SPRT"
//!  4     2    version VERSION (u16); a decoder refuses any other version
//!  6     2    kind    1 = plan
//!  8     4    len     total length in bytes, header included (u32)
//! 12     ...  body    see PlanSpec::encode, fields in declaration order
//! ```
//!
//! ## Message sequence (`sprout run`/`create`, one container)
//!
//! ```text
//!  controller (sprout)                         stub (sprout-init)
//!  ───────────────────                         ──────────────────
//!  memfd copy of stub, socketpairs,
//!  clone(CLONE_NEW*)  ───────────────────────▶ (child waits for id maps,
//!  write uid_map/gid_map, join cgroup             then execveat(memfd))
//!  plan ══════ stream fd 3 ══════════════════▶ read + decode plan
//!                                               setns(joined namespaces) or
//!                                               unshare(new namespaces)
//!  make the cgroup (JOIN_CGROUP only)
//!  Cgroup + SCM_RIGHTS(tasks fds) ──────────▶ write "0" to each; close them
//!                      ◀─────────────────────── CgroupTreeParent (CGROUP_TREE
//!                                               ops only: their tmpfs is made)
//!  CgroupTrees + SCM_RIGHTS(trees) ─────────▶ attach each at its op
//!                                               (move_mount)
//!                                               [fork if a pid ns was joined]
//!                      ◀─────────────────────── Pid{pid}      (only after fork)
//!                                               hostname, domainname, loopback
//!                      ◀─────────────────────── Hooks         (createContainer hooks
//!  run hooks; HooksDone ────────────────────▶                  wanted before pivot)
//!                                               mounts, devices, pivot_root,
//!                                               masked/readonly paths, console
//!                      ◀─────────────────────── Console + SCM_RIGHTS(master fd)
//!                      ◀─────────────────────── Ready         (still privileged)
//!  prlimit(rlimits), oom_score_adj
//!  Run ─────────────────────────────────────▶
//!                                               no_new_privs, CLOEXEC fds, chdir,
//!                                               bounding, keepcaps, chown stdio,
//!                                               setgroups, setresgid, setresuid,
//!                                               chdir, capset, ambient,
//!                                               resolve args[0] in PATH, seccomp
//!                      ◀─────────────────────── SeccompListener + SCM_RIGHTS(fd)
//!  send it to listenerPath                      (only with SCMP_ACT_NOTIFY)
//!  SeccompDone ─────────────────────────────▶
//!                      ◀─────────────────────── Created       (only with WAIT_START:
//!                                               blocks in accept(start socket) until `start`)
//!                                               execve ── sync fd is CLOEXEC:
//!  EOF on sync socket = exec happened ◀──────── (EOF)
//!
//!  any failure:        ◀─────────────────────── Failed{step, errno, arg}; exit(1)
//! ```
//!
//! The controller turns `Failed` into one line naming the config field that
//! the step and `arg` (an index into the plan's lists) point at.
//!
//! ## Launch contract
//!
//! - The controller runs the stub as `sprout-init --controller PLANFD SYNCFD
//!   [UNSHARE]` (decimal fd numbers; `UNSHARE`, decimal `CLONE_NEW*` flags
//!   the stub passes to `unshare(2)` before it reads the plan, so that the
//!   kernel makes those namespaces while the controller computes the plan),
//!   from a sealed memfd copy of the binary
//!   (`execveat(memfd, "", AT_EMPTY_PATH)`) so that nothing in the container
//!   can write to the host's stub (CVE-2019-5736). `PLANFD` is a stream (pipe)
//!   carrying exactly one plan; `SYNCFD` is the `SOCK_SEQPACKET` sync socket.
//!   Both sit above the preserved fds (`3 .. 3+preserve_fds`), are CLOEXEC,
//!   and are gone after execve.
//! - New namespaces are created by the controller's `clone(2)` flags, so the
//!   stub starts as PID 1 of a new pid namespace; user-namespace id maps are
//!   written before the stub is exec'd. Namespaces given by `path` are opened
//!   by the controller and joined by the stub (`Plan::namespaces`). Without
//!   a user namespace and joined ones, the stub itself makes the new mount,
//!   uts, ipc and network namespaces with `unshare(2)` (`UNSHARE` above,
//!   or a `Plan::namespaces` entry whose fd is `UNSET`), while the
//!   controller makes the cgroup ([`flags::JOIN_CGROUP`], [`Msg::Cgroup`]).
//! - Without `--controller` the stub is in image mode (PID 1 in a minimal
//!   image): it reads a plan file and has no sync socket; errors go to stderr.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use core::ffi::CStr;

mod msg;
mod wire;

pub use msg::{MAX_CGROUP_FDS, MSG_LEN, Msg, Step};
pub use wire::{DecodeError, EncodeError};
pub use wire::{Reader, Writer};

/// First four bytes of every plan.
pub const MAGIC: [u8; 4] = *b"SPRT";
/// The protocol version this crate speaks (plan and sync messages).
pub const VERSION: u16 = 1;
/// Length of the plan header in bytes.
pub const HEADER_LEN: usize = 12;
/// `kind` value of a plan in the header.
pub const KIND_PLAN: u16 = 1;
/// Largest plan a decoder accepts (bytes, header included): 8 MiB, more
/// than `execve(2)` takes of arguments and environment together (a quarter
/// of `RLIMIT_STACK`, never above 6 MiB), so a plan the kernel could run
/// always fits (1 MiB refused 1.2 MB of environment that runc runs). The stub reads it into the start of its static arena
/// (`.bss`: only the pages used become memory), which has room for one
/// more byte (to see a longer plan file) and its other buffers after it.
pub const MAX_PLAN_LEN: usize = 8 << 20;
/// Most `argv` or `envp` entries sprout-init passes to `execve(2)` (its
/// static arena holds this many pointers for each); the controller refuses
/// a longer `process.args` or `process.env` up front, naming the field.
pub const MAX_ARGS: usize = 1 << 17;
/// Sentinel for an unset optional `u32` scalar (`umask`, `personality`, fds;
/// `uid`, `gid` and `cap_last_cap` of image plans: "leave as it is").
pub const UNSET: u32 = u32::MAX;

/// Bits of [`PlanSpec::flags`] / [`Plan::flags`].
pub mod flags {
    /// `process.noNewPrivileges`: call `prctl(PR_SET_NO_NEW_PRIVS)`.
    pub const NO_NEW_PRIVS: u32 = 1 << 0;
    /// `root.readonly`: remount the new root read-only after pivot_root.
    pub const READONLY_ROOTFS: u32 = 1 << 1;
    /// `process.terminal`: open a pty in the container and send its master.
    pub const TERMINAL: u32 = 1 << 2;
    /// `--no-pivot`: use `MS_MOVE` + `chroot` instead of `pivot_root(2)`.
    pub const NO_PIVOT: u32 = 1 << 3;
    /// A new network namespace: bring `lo` up.
    pub const LOOPBACK: u32 = 1 << 4;
    /// Skip `setgroups(2)`: `/proc/self/setgroups` is "deny" in the user namespace.
    pub const SKIP_SETGROUPS: u32 = 1 << 5;
    /// Image mode: the stub applies [`Plan::rlimits`](super::Plan::rlimits) itself (setrlimit);
    /// otherwise the controller applies them with prlimit at `Ready`.
    pub const APPLY_RLIMITS: u32 = 1 << 6;
    /// Set up the root filesystem (mounts, pivot_root). Clear for `exec`.
    pub const SETUP_ROOTFS: u32 = 1 << 7;
    /// `create`: after the last privileged step, send `Created` and block on
    /// the start socket ([`super::Plan::start_fd`]) until `start` connects.
    pub const WAIT_START: u32 = 1 << 8;
    /// Join a new session keyring (`keyctl(KEYCTL_JOIN_SESSION_KEYRING)`).
    pub const NEW_KEYRING: u32 = 1 << 9;
    /// Talk to a controller over the sync socket (fd 4). Clear in image mode.
    pub const SYNC: u32 = 1 << 10;
    /// createContainer hooks exist: send `Hooks` before pivot_root and wait.
    pub const HOOKS_BEFORE_PIVOT: u32 = 1 << 11;
    /// seccomp with `noNewPrivileges` false: loading the filter needs
    /// CAP_SYS_ADMIN, so the stub keeps it effective and permitted (added
    /// to the planned sets in its `capset`) until the load, which is still
    /// its last privileged step; execve then drops it (capabilities(7):
    /// the new sets come from the inheritable, bounding and ambient sets
    /// and the file). runc instead loads before the privilege drop, which
    /// makes a profile denying setresuid/capset/chdir fail the start.
    pub const SECCOMP_EARLY: u32 = 1 << 12;
    /// Make the stub the child subreaper (image mode `--subreaper`).
    pub const SUBREAPER: u32 = 1 << 13;
    /// A new time namespace (`linux.namespaces` type `time` without a
    /// path): `unshare(CLONE_NEWTIME)` after joining the namespaces (and
    /// forking into a joined pid namespace). Only children and the
    /// process after execve(2) enter it (time_namespaces(7)); its offsets
    /// (`linux.timeOffsets`) are a `WriteFile` op on
    /// `/proc/self/timens_offsets`, written before the exec.
    pub const NEW_TIMENS: u32 = 1 << 14;
    /// A new cgroup namespace (`linux.namespaces` type `cgroup` without a
    /// path): `unshare(CLONE_NEWCGROUP)` after joining the namespaces and
    /// before anything else, so that the container's cgroup (which the
    /// stub joined before its exec, or by [`JOIN_CGROUP`]) is the
    /// namespace's root (cgroup_namespaces(7); runc's order). Doing it in
    /// the stub rather than before its exec lets the controller start the
    /// stub without waiting on it.
    pub const NEW_CGROUPNS: u32 = 1 << 15;
    /// The controller makes the container's cgroup while the stub works:
    /// the stub waits for [`Msg::Cgroup`](super::Msg::Cgroup), which
    /// carries the cgroup's v1 `tasks` files (opened by the controller) as
    /// `SCM_RIGHTS`, and writes `0` (itself) to each; then comes
    /// [`NEW_CGROUPNS`]. It does so right after the namespaces of
    /// [`Plan::namespaces`](super::Plan::namespaces) are made or joined, or,
    /// when the plan's mounts hold a
    /// [`MountKind::JoinCgroup`](super::MountKind::JoinCgroup) op, at that
    /// op (the mounts before it need no cgroup, so they overlap the
    /// controller's work). Without this flag the stub was in its cgroup
    /// before its exec.
    pub const JOIN_CGROUP: u32 = 1 << 16;
    /// The controller's child dies with it (a foreground `run` or `exec`):
    /// the stub sets `PR_SET_PDEATHSIG(SIGKILL)` again just before its
    /// exec, after every credential change (which clears it, as does the
    /// stub's own exec into a new user namespace), and fails instead when
    /// the controller is already gone (its end of the sync socket closed).
    pub const PDEATHSIG: u32 = 1 << 17;
    /// All bits this version defines; a decoder rejects others.
    pub const ALL: u32 = (1 << 18) - 1;
}

/// The five capability sets as bit masks (bit N = capability number N,
/// `capabilities(7)`), plus nothing else: `cap_last_cap` is separate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    /// `process.capabilities.bounding`.
    pub bounding: u64,
    /// `process.capabilities.effective`.
    pub effective: u64,
    /// `process.capabilities.permitted`.
    pub permitted: u64,
    /// `process.capabilities.inheritable`.
    pub inheritable: u64,
    /// `process.capabilities.ambient`.
    pub ambient: u64,
}

/// One namespace to join with `setns(2)` (the fd is inherited by the
/// stub), or, with `fd` [`UNSET`], new namespaces the stub makes itself
/// with `unshare(2)`, in list order. A joined or unshared pid namespace
/// makes the stub fork into it afterwards (`Msg::Pid` names the child).
/// With a user namespace joined by path, that join comes first and the
/// unshare (the pid namespace included) after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// `CLONE_NEW*` constant of the namespace type (e.g. `CLONE_NEWNET`);
    /// with `fd` [`UNSET`], the `unshare(2)` flags (several `CLONE_NEW*`
    /// bits).
    pub nstype: u32,
    /// File descriptor number, open in the stub, referring to the
    /// namespace; [`UNSET`]: `unshare(nstype)` instead.
    pub fd: u32,
}

/// One resource limit (`setrlimit(2)`/`prlimit(2)`), already mapped from
/// the OCI `RLIMIT_*` name to its resource number. Values are raw
/// (`u64::MAX` = `RLIM_INFINITY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// Resource number (`RLIMIT_NOFILE` = 7 ...).
    pub resource: u32,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// What a [`MountOp`] does. Ops run in plan order; the first three before
/// `pivot_root` (target relative to the rootfs, resolved inside it), the
/// rest after it (absolute paths in the new root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MountKind {
    /// `mount(source, target, fstype, flags, data)`, then an optional
    /// `MS_REMOUNT|MS_BIND` with `remount_flags`, then `propagation`.
    Mount = 1,
    /// Create a device node at `target` (`mknod` with `mode`, `major`,
    /// `minor`, then `chown` to `uid`/`gid`), or bind-mount `source` over it
    /// when [`mount_opts::BIND_DEVICE`] is set (inside a user namespace).
    Device = 2,
    /// `symlink(source, target)`.
    Symlink = 3,
    /// `linux.maskedPaths`: `/dev/null` bound over a file, a read-only
    /// tmpfs over a directory; a missing path is skipped.
    Mask = 4,
    /// `linux.readonlyPaths`: bind the path on itself and remount it
    /// read-only; a missing path is skipped.
    ReadonlyPath = 5,
    /// Write `data` to the file `target` (e.g. `/proc/sys/...` for
    /// `linux.sysctl`).
    WriteFile = 6,
    /// With [`flags::JOIN_CGROUP`], before `pivot_root`: join the cgroup
    /// (wait for [`Msg::Cgroup`] and write to its
    /// `tasks` files), then [`flags::NEW_CGROUPNS`]. The controller puts it
    /// before the first op that needs the container's cgroup: a `cgroup`
    /// mount or bind of a cgroup directory (made by then), a device node
    /// (`mknod` is checked against the devices cgroup) or any other
    /// non-mount op, a filesystem with a device behind it (its open is
    /// checked too), a detached tree; else last. Its other fields are empty. At most one per plan; without
    /// JOIN_CGROUP the stub ignores it.
    JoinCgroup = 7,
    /// Create the directory `target` with any missing parent, inside the
    /// rootfs (`mkdir -p`, mode 0755; symlinks followed inside it), after
    /// the mounts: runc's `MkdirAll` of `process.cwd`. Best-effort: a
    /// failure is left for the later `chdir` to report.
    Mkdir = 8,
}

impl MountKind {
    fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Mount,
            2 => Self::Device,
            3 => Self::Symlink,
            4 => Self::Mask,
            5 => Self::ReadonlyPath,
            6 => Self::WriteFile,
            7 => Self::JoinCgroup,
            8 => Self::Mkdir,
            _ => return None,
        })
    }
    /// True for kinds performed before `pivot_root`, relative to the rootfs.
    pub fn before_pivot(self) -> bool {
        matches!(
            self,
            Self::Mount | Self::Device | Self::Symlink | Self::JoinCgroup | Self::Mkdir
        )
    }
}

/// Bits of [`MountOp::opts`].
pub mod mount_opts {
    /// The mount target is a file (bind of a file): create an empty file,
    /// not a directory.
    pub const TARGET_FILE: u32 = 1 << 0;
    /// Create the target (and missing parents) if it does not exist.
    pub const CREATE_TARGET: u32 = 1 << 1;
    /// Device: bind-mount `source` from the host instead of `mknod`.
    pub const BIND_DEVICE: u32 = 1 << 2;
    /// A missing target is not an error (skip the op).
    pub const OPTIONAL: u32 = 1 << 3;
    /// Mount: attach the detached mount tree open at fd number
    /// [`MountOp::major`](super::MountOp::major) (inherited; the controller
    /// made it with `open_tree(OPEN_TREE_CLONE)` and set its attributes
    /// with `mount_setattr(2)`: an idmapping, recursive read-only ...) on
    /// the resolved target with `move_mount(2)`, instead of `mount(2)`;
    /// `source`, `fstype`, `flags` and `data` are then unused.
    pub const MOVE_FD: u32 = 1 << 4;
    /// Mount: the target must be reached without following any symlink
    /// (`RESOLVE_NO_SYMLINKS`, besides staying in the rootfs): procfs and
    /// sysfs, whose masked and read-only paths are applied later by path,
    /// must be mounted exactly where the config says (runc's
    /// `checkProcMount`, CVE-2019-19921: a symlinked /proc target).
    pub const NO_SYMLINKS: u32 = 1 << 5;
    /// Mount with [`CREATE_TARGET`]: the target's parent is a filesystem
    /// this plan mounted just before (a fresh tmpfs), so the target is
    /// most likely missing: the stub creates it before looking it up
    /// instead of after a failed lookup. Only the order of the syscalls
    /// depends on it (an existing target is then `EEXIST`, ignored).
    pub const FRESH_PARENT: u32 = 1 << 6;
    /// Device: `mknod` already gives the node the planned owner (the stub
    /// runs as uid/gid 0, `uid`/`gid` are 0, and the parent is a tmpfs
    /// the plan mounted, without the set-group-ID bit), so the stub skips
    /// the `chown`.
    pub const OWNER_OK: u32 = 1 << 7;
    /// Mask: the path is most likely a directory (`/proc/acpi`,
    /// `/sys/firmware` ...): the stub mounts the read-only tmpfs first and
    /// binds `/dev/null` only if that fails with `ENOTDIR`, instead of the
    /// other way round. Only the order depends on it.
    pub const MASK_DIR: u32 = 1 << 8;
    /// Mount, a non-recursive bind of a cgroup directory (source under
    /// `/sys/fs/cgroup/`) with [`FRESH_PARENT`] and [`CREATE_TARGET`],
    /// after the plan's [`JoinCgroup`](super::MountKind::JoinCgroup) op:
    /// the controller clones the source itself (`open_tree(2)` with
    /// `OPEN_TREE_CLONE`, the remount's attributes and the rootfs
    /// propagation set with `mount_setattr(2)`) once the cgroup is made, and
    /// sends it as tree number [`MountOp::major`](super::MountOp::major) of
    /// [`Msg::CgroupTrees`](super::Msg::CgroupTrees); the stub creates the
    /// target and attaches that tree with `move_mount(2)`. When the trees
    /// did not come (a count of 0), the stub clones the source itself, as
    /// without this bit.
    /// The controller clones them only after the stub has made the mount
    /// they go into ([`CGROUP_TREE_PARENT`]).
    pub const CGROUP_TREE: u32 = 1 << 9;
    /// Mount: the tmpfs the [`CGROUP_TREE`] binds go into. Once it is
    /// mounted the stub sends
    /// [`Msg::CgroupTreeParent`](super::Msg::CgroupTreeParent), and only
    /// then does the controller clone the binds: a mount made before its
    /// parent would be listed before it in `/proc/self/mountinfo` (the
    /// kernel lists mounts in the order they were made), and an unmount in
    /// the reverse order of that list would find the parent busy.
    pub const CGROUP_TREE_PARENT: u32 = 1 << 10;
    /// Mount: `mount(2)` resolves no relative path of this op (a bind of
    /// an absolute source, a propagation change, a new mount of a
    /// filesystem that takes no path), and no later op needs the stub's
    /// working directory either: the stub may mount onto the target as
    /// its working directory (`fchdir`, then `"."`) instead of by its
    /// `/proc/self/fd` path. Without it the working directory stays the
    /// caller's, against which mount(2) resolves a relative source or
    /// overlayfs's `lowerdir=`/`upperdir=`/`workdir=` (with the target as
    /// the working directory they would resolve inside the rootfs, through
    /// the image's symlinks).
    pub const AT_CWD: u32 = 1 << 11;
    /// All bits this version defines.
    pub const ALL: u32 = (1 << 12) - 1;
}

/// One filesystem step of the plan (see [`MountKind`]). Unused string
/// fields are `None`; unused numbers are 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountOp<'a> {
    /// What to do.
    pub kind: MountKind,
    /// [`mount_opts`] bits.
    pub opts: u32,
    /// `MS_*` flags for `mount(2)` (Mount), or nothing.
    pub flags: u64,
    /// Flags for a second `MS_REMOUNT|MS_BIND` (e.g. a read-only bind); 0 = none.
    pub remount_flags: u64,
    /// `MS_SHARED`/`MS_SLAVE`/`MS_PRIVATE`/`MS_UNBINDABLE` (+`MS_REC`); 0 = none.
    pub propagation: u64,
    /// Device: file type and permission bits (`S_IFCHR | 0666`).
    pub mode: u32,
    /// Device major number; with [`mount_opts::MOVE_FD`], the fd number of
    /// the detached mount tree.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Device owner uid.
    pub uid: u32,
    /// Device owner gid.
    pub gid: u32,
    /// Mount source, host device path to bind, or symlink content.
    pub source: Option<&'a CStr>,
    /// Path the op acts on (relative to the rootfs before pivot).
    pub target: &'a CStr,
    /// Filesystem type for `mount(2)`.
    pub fstype: Option<&'a CStr>,
    /// Mount data string, or the bytes to write for WriteFile.
    pub data: Option<&'a CStr>,
}

impl<'a> MountOp<'a> {
    /// A op of `kind` on `target` with every other field empty.
    pub const fn new(kind: MountKind, target: &'a CStr) -> Self {
        MountOp {
            kind,
            opts: 0,
            flags: 0,
            remount_flags: 0,
            propagation: 0,
            mode: 0,
            major: 0,
            minor: 0,
            uid: 0,
            gid: 0,
            source: None,
            target,
            fstype: None,
            data: None,
        }
    }
}

/// Terminal window size for `process.consoleSize` (`TIOCSWINSZ`); 0x0 = leave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WinSize {
    /// Rows (`consoleSize.height`).
    pub rows: u16,
    /// Columns (`consoleSize.width`).
    pub cols: u16,
}

/// The plan as the controller builds it for encoding: borrowed slices.
/// [`Plan`] is the same data as decoded by the stub.
#[derive(Clone, Copy, Debug)]
pub struct PlanSpec<'a> {
    /// [`flags`] bits.
    pub flags: u32,
    /// `process.user.uid` (in the container's user namespace). [`UNSET`]
    /// (image plans without `--user`): keep the uid (`setresuid(-1, -1, -1)`).
    pub uid: u32,
    /// `process.user.gid`; [`UNSET`]: keep it.
    pub gid: u32,
    /// Highest capability number the kernel knows (`/proc/sys/kernel/cap_last_cap`);
    /// image plans say 40 and the stub ignores `EINVAL` for numbers the
    /// running kernel does not know. [`UNSET`] (image plans without
    /// `--cap-drop ALL`): leave every capability set as it is.
    pub cap_last_cap: u32,
    /// Capability masks.
    pub caps: Caps,
    /// `--preserve-fds`: fds 3..3+N stay open across exec.
    pub preserve_fds: u32,
    /// `process.user.umask`, or [`UNSET`].
    pub umask: u32,
    /// `linux.personality` domain number, or [`UNSET`].
    pub personality: u32,
    /// `create`: fd of a listening AF_UNIX stream socket (bound in the state dir) on which the stub `accept`s the `start` command; or [`UNSET`].
    pub start_fd: u32,
    /// `SECCOMP_FILTER_FLAG_*` bits to pass to `seccomp(2)`.
    pub seccomp_flags: u32,
    /// `linux.rootfsPropagation` as `MS_*` flags; 0 = runc's default (`MS_SLAVE|MS_REC`).
    pub rootfs_propagation: u64,
    /// `process.consoleSize`.
    pub console: WinSize,
    /// Absolute host path of the rootfs (`root.path` resolved against the bundle).
    pub rootfs: &'a CStr,
    /// `hostname`, if a new UTS namespace sets one.
    pub hostname: Option<&'a CStr>,
    /// `domainname`.
    pub domainname: Option<&'a CStr>,
    /// `process.cwd` (absolute, inside the container); `.` in an image
    /// plan without `--cwd`: no chdir, the working directory stays.
    pub cwd: &'a CStr,
    /// Supplementary groups for `setgroups(2)`: exactly `additionalGids`.
    pub additional_gids: &'a [u32],
    /// Namespaces to join, user namespace first.
    pub namespaces: &'a [Namespace],
    /// `process.rlimits`.
    pub rlimits: &'a [Rlimit],
    /// Filesystem steps, in order.
    pub mounts: &'a [MountOp<'a>],
    /// `process.args` (argv of execve; `args[0]` is resolved through PATH).
    pub args: &'a [&'a CStr],
    /// `process.env` (envp of execve), with HOME added when it was missing.
    pub env: &'a [&'a CStr],
    /// Seccomp BPF program: `struct sock_filter` records of 8 bytes each; empty = none.
    pub seccomp: &'a [u8],
}

/// A decoded plan: scalars copied, strings and lists borrowed in place from
/// the buffer. Produced only by [`Plan::decode`], which has validated every
/// list, so iterating a list yields exactly `len()` items.
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    /// See [`PlanSpec::flags`].
    pub flags: u32,
    /// See [`PlanSpec::uid`].
    pub uid: u32,
    /// See [`PlanSpec::gid`].
    pub gid: u32,
    /// See [`PlanSpec::cap_last_cap`].
    pub cap_last_cap: u32,
    /// See [`PlanSpec::caps`].
    pub caps: Caps,
    /// See [`PlanSpec::preserve_fds`].
    pub preserve_fds: u32,
    /// See [`PlanSpec::umask`].
    pub umask: u32,
    /// See [`PlanSpec::personality`].
    pub personality: u32,
    /// See [`PlanSpec::start_fd`].
    pub start_fd: u32,
    /// See [`PlanSpec::seccomp_flags`].
    pub seccomp_flags: u32,
    /// See [`PlanSpec::rootfs_propagation`].
    pub rootfs_propagation: u64,
    /// See [`PlanSpec::console`].
    pub console: WinSize,
    /// See [`PlanSpec::rootfs`].
    pub rootfs: &'a CStr,
    /// See [`PlanSpec::hostname`].
    pub hostname: Option<&'a CStr>,
    /// See [`PlanSpec::domainname`].
    pub domainname: Option<&'a CStr>,
    /// See [`PlanSpec::cwd`].
    pub cwd: &'a CStr,
    /// See [`PlanSpec::additional_gids`].
    pub additional_gids: List<'a, u32>,
    /// See [`PlanSpec::namespaces`].
    pub namespaces: List<'a, Namespace>,
    /// See [`PlanSpec::rlimits`].
    pub rlimits: List<'a, Rlimit>,
    /// See [`PlanSpec::mounts`].
    pub mounts: List<'a, MountOp<'a>>,
    /// See [`PlanSpec::args`].
    pub args: List<'a, &'a CStr>,
    /// See [`PlanSpec::env`].
    pub env: List<'a, &'a CStr>,
    /// See [`PlanSpec::seccomp`] (length a multiple of 8).
    pub seccomp: &'a [u8],
}

impl Plan<'_> {
    /// True when `bit` (one of [`flags`]) is set.
    pub fn has(&self, bit: u32) -> bool {
        self.flags & bit != 0
    }
}

/// An item type that can appear in a plan list.
pub trait Item<'a>: Sized {
    /// Reads one item; errors on truncation or invalid content.
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError>;
    /// Writes one item.
    fn write(&self, w: &mut Writer<'_>);
}

/// A validated list inside a decoded plan: `len()` items stored in `bytes`.
#[derive(Clone, Copy)]
pub struct List<'a, T> {
    count: u32,
    bytes: &'a [u8],
    _t: core::marker::PhantomData<T>,
}

impl<T> core::fmt::Debug for List<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "List({} items, {} bytes)", self.count, self.bytes.len())
    }
}

impl<'a, T: Item<'a>> List<'a, T> {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.count as usize
    }
    /// True when the list has no items.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Iterates over the items in order.
    pub fn iter(&self) -> ListIter<'a, T> {
        ListIter {
            left: self.count,
            r: Reader::new(self.bytes),
            _t: core::marker::PhantomData,
        }
    }
    /// The item at `index`, walking the list (lists are short).
    pub fn get(&self, index: usize) -> Option<T> {
        self.iter().nth(index)
    }
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let count = r.u32()?;
        let start = r.pos();
        for _ in 0..count {
            T::read(r)?;
        }
        Ok(List {
            count,
            bytes: r.since(start),
            _t: core::marker::PhantomData,
        })
    }
}

/// Iterator over a [`List`].
pub struct ListIter<'a, T> {
    left: u32,
    r: Reader<'a>,
    _t: core::marker::PhantomData<T>,
}

impl<'a, T: Item<'a>> Iterator for ListIter<'a, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Validated at decode time; an error here cannot happen, but stop
        // rather than panic if it somehow did.
        match T::read(&mut self.r) {
            Ok(v) => Some(v),
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }
}

impl<'a> Item<'a> for u32 {
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        r.u32()
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.u32(*self)
    }
}

impl<'a> Item<'a> for &'a CStr {
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        r.cstr()?.ok_or(DecodeError::BadString)
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.cstr(Some(self))
    }
}

impl<'a> Item<'a> for Namespace {
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Namespace {
            nstype: r.u32()?,
            fd: r.u32()?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.nstype);
        w.u32(self.fd);
    }
}

impl<'a> Item<'a> for Rlimit {
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Rlimit {
            resource: r.u32()?,
            soft: r.u64()?,
            hard: r.u64()?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.resource);
        w.u64(self.soft);
        w.u64(self.hard);
    }
}

impl<'a> Item<'a> for MountOp<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let kind = MountKind::from_u32(r.u32()?).ok_or(DecodeError::BadValue)?;
        let opts = r.u32()?;
        if opts & !mount_opts::ALL != 0 {
            return Err(DecodeError::BadValue);
        }
        Ok(MountOp {
            kind,
            opts,
            flags: r.u64()?,
            remount_flags: r.u64()?,
            propagation: r.u64()?,
            mode: r.u32()?,
            major: r.u32()?,
            minor: r.u32()?,
            uid: r.u32()?,
            gid: r.u32()?,
            source: r.cstr()?,
            target: r.cstr()?.ok_or(DecodeError::BadString)?,
            fstype: r.cstr()?,
            data: r.cstr()?,
        })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.kind as u32);
        w.u32(self.opts);
        w.u64(self.flags);
        w.u64(self.remount_flags);
        w.u64(self.propagation);
        w.u32(self.mode);
        w.u32(self.major);
        w.u32(self.minor);
        w.u32(self.uid);
        w.u32(self.gid);
        w.cstr(self.source);
        w.cstr(Some(self.target));
        w.cstr(self.fstype);
        w.cstr(self.data);
    }
}

fn write_list<'a, T: Item<'a>>(w: &mut Writer<'_>, items: &[T]) {
    w.u32(items.len() as u32);
    for it in items {
        it.write(w);
    }
}

impl<'a> PlanSpec<'a> {
    /// Number of bytes [`PlanSpec::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        let mut w = Writer::counting();
        self.write_all(&mut w);
        w.pos()
    }

    /// Encodes the plan (header included) into `out`; returns the length.
    ///
    /// Errors: [`EncodeError::BufferTooSmall`] if `out` is shorter than
    /// [`PlanSpec::encoded_len`], [`EncodeError::TooLarge`] above
    /// [`MAX_PLAN_LEN`], [`EncodeError::BadSeccomp`] if the program length is
    /// not a multiple of 8.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        if !self.seccomp.len().is_multiple_of(8) {
            return Err(EncodeError::BadSeccomp);
        }
        let len = self.encoded_len();
        if len > MAX_PLAN_LEN {
            return Err(EncodeError::TooLarge);
        }
        if out.len() < len {
            return Err(EncodeError::BufferTooSmall);
        }
        let mut w = Writer::new(&mut out[..len]);
        self.write_all(&mut w);
        Ok(len)
    }

    fn write_all(&self, w: &mut Writer<'_>) {
        w.bytes(&MAGIC);
        w.u16(VERSION);
        w.u16(KIND_PLAN);
        let len_at = w.pos();
        w.u32(0); // patched below
        w.u32(self.flags);
        w.u32(self.uid);
        w.u32(self.gid);
        w.u32(self.cap_last_cap);
        let c = self.caps;
        for m in [
            c.bounding,
            c.effective,
            c.permitted,
            c.inheritable,
            c.ambient,
        ] {
            w.u64(m);
        }
        w.u32(self.preserve_fds);
        w.u32(self.umask);
        w.u32(self.personality);
        w.u32(self.start_fd);
        w.u32(self.seccomp_flags);
        w.u64(self.rootfs_propagation);
        w.u16(self.console.rows);
        w.u16(self.console.cols);
        w.cstr(Some(self.rootfs));
        w.cstr(self.hostname);
        w.cstr(self.domainname);
        w.cstr(Some(self.cwd));
        write_list(w, self.additional_gids);
        write_list(w, self.namespaces);
        write_list(w, self.rlimits);
        write_list(w, self.mounts);
        write_list(w, self.args);
        write_list(w, self.env);
        w.u32(self.seccomp.len() as u32);
        w.bytes(self.seccomp);
        let total = w.pos() as u32;
        w.patch_u32(len_at, total);
    }
}

/// Reads the total plan length from a header, so a reader knows how many
/// bytes to wait for. `hdr` needs at least [`HEADER_LEN`] bytes.
///
/// Errors: `Truncated`, `BadMagic`, `UnsupportedVersion`, `BadKind`,
/// `BadLength` (below the header size or above [`MAX_PLAN_LEN`]).
pub fn plan_len(hdr: &[u8]) -> Result<usize, DecodeError> {
    let mut r = Reader::new(hdr);
    if r.take(4)? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = r.u16()?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    if r.u16()? != KIND_PLAN {
        return Err(DecodeError::BadKind);
    }
    let len = r.u32()? as usize;
    if !(HEADER_LEN..=MAX_PLAN_LEN).contains(&len) {
        return Err(DecodeError::BadLength);
    }
    Ok(len)
}

impl<'a> Plan<'a> {
    /// Decodes a plan in place. `buf` must hold exactly one plan: its length
    /// must equal the header's `len`.
    ///
    /// Never panics. Errors: see [`DecodeError`]; every truncation of a valid
    /// plan is rejected, as are unknown flag bits, strings without their
    /// terminating NUL or with an interior NUL, and trailing bytes.
    pub fn decode(buf: &'a [u8]) -> Result<Plan<'a>, DecodeError> {
        let len = plan_len(buf)?;
        if len != buf.len() {
            return Err(if len > buf.len() {
                DecodeError::Truncated
            } else {
                DecodeError::BadLength
            });
        }
        let mut r = Reader::new(buf);
        r.take(HEADER_LEN)?;
        let flags = r.u32()?;
        if flags & !flags::ALL != 0 {
            return Err(DecodeError::BadValue);
        }
        let uid = r.u32()?;
        let gid = r.u32()?;
        let cap_last_cap = r.u32()?;
        let caps = Caps {
            bounding: r.u64()?,
            effective: r.u64()?,
            permitted: r.u64()?,
            inheritable: r.u64()?,
            ambient: r.u64()?,
        };
        let preserve_fds = r.u32()?;
        let umask = r.u32()?;
        let personality = r.u32()?;
        let start_fd = r.u32()?;
        let seccomp_flags = r.u32()?;
        let rootfs_propagation = r.u64()?;
        let console = WinSize {
            rows: r.u16()?,
            cols: r.u16()?,
        };
        let rootfs = r.cstr()?.ok_or(DecodeError::BadString)?;
        let hostname = r.cstr()?;
        let domainname = r.cstr()?;
        let cwd = r.cstr()?.ok_or(DecodeError::BadString)?;
        let additional_gids = List::read(&mut r)?;
        let namespaces = List::read(&mut r)?;
        let rlimits = List::read(&mut r)?;
        let mounts = List::read(&mut r)?;
        let args = List::read(&mut r)?;
        let env = List::read(&mut r)?;
        let n = r.u32()? as usize;
        if !n.is_multiple_of(8) {
            return Err(DecodeError::BadValue);
        }
        let seccomp = r.take(n)?;
        if !r.is_empty() {
            return Err(DecodeError::BadLength);
        }
        Ok(Plan {
            flags,
            uid,
            gid,
            cap_last_cap,
            caps,
            preserve_fds,
            umask,
            personality,
            start_fd,
            seccomp_flags,
            rootfs_propagation,
            console,
            rootfs,
            hostname,
            domainname,
            cwd,
            additional_gids,
            namespaces,
            rlimits,
            mounts,
            args,
            env,
            seccomp,
        })
    }
}
