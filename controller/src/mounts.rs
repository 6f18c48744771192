//! The filesystem part of the plan: `mounts`, devices, `/dev` symlinks,
//! `linux.sysctl`, `linux.readonlyPaths` and `linux.maskedPaths` as a list
//! of [`Op`]s (wire: [`sprout_protocol::MountOp`]), in the order the stub
//! performs them:
//!
//! 1. every entry of `mounts`, in order (`cgroup` entries expanded, see
//!    [`cgroup_ops`]) — targets relative to the rootfs;
//! 2. device nodes: runc's defaults (`null zero full random urandom tty`)
//!    and `linux.devices`, unless `/dev` is a bind mount (runc's
//!    `needsSetupDev`);
//! 3. the `/dev` symlinks (`fd stdin stdout stderr`, `ptmx` when `/dev/pts`
//!    is mounted, `core` when `/proc` is);
//! 4. after `pivot_root` (absolute paths): the time namespace's offsets
//!    ([`time_offsets_op`]; with createContainer hooks `create` writes
//!    them before the hooks instead, [`take_time_offsets`]), sysctls, read-only paths, masked paths — runc's
//!    order (`standard_init_linux.go`).
//!
//! Mount options follow runc's table (`libcontainer/specconv`): flag words
//! set or clear `MS_*` bits, propagation words set the propagation, and
//! everything else is passed to the filesystem as the data string.

use std::collections::HashMap;
use std::ffi::CString;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};
use sprout_protocol::{MountKind, MountOp, mount_opts};

use crate::error::{Error, Result};

/// `MS_*` mount flags (`<linux/mount.h>`, `mount(2)`), as `u64`.
#[allow(missing_docs)]
pub mod ms {
    pub const RDONLY: u64 = 1;
    pub const NOSUID: u64 = 2;
    pub const NODEV: u64 = 4;
    pub const NOEXEC: u64 = 8;
    pub const SYNCHRONOUS: u64 = 16;
    pub const REMOUNT: u64 = 32;
    pub const MANDLOCK: u64 = 64;
    pub const DIRSYNC: u64 = 128;
    pub const NOSYMFOLLOW: u64 = 256;
    pub const NOATIME: u64 = 1024;
    pub const NODIRATIME: u64 = 2048;
    pub const BIND: u64 = 4096;
    pub const MOVE: u64 = 8192;
    pub const REC: u64 = 16384;
    pub const SILENT: u64 = 32768;
    pub const POSIXACL: u64 = 1 << 16;
    pub const UNBINDABLE: u64 = 1 << 17;
    pub const PRIVATE: u64 = 1 << 18;
    pub const SLAVE: u64 = 1 << 19;
    pub const SHARED: u64 = 1 << 20;
    pub const RELATIME: u64 = 1 << 21;
    pub const I_VERSION: u64 = 1 << 23;
    pub const STRICTATIME: u64 = 1 << 24;
    pub const LAZYTIME: u64 = 1 << 25;

    /// Names of the flags above, for `sprout plan`.
    pub const NAMES: &[(u64, &str)] = &[
        (RDONLY, "MS_RDONLY"),
        (NOSUID, "MS_NOSUID"),
        (NODEV, "MS_NODEV"),
        (NOEXEC, "MS_NOEXEC"),
        (SYNCHRONOUS, "MS_SYNCHRONOUS"),
        (REMOUNT, "MS_REMOUNT"),
        (MANDLOCK, "MS_MANDLOCK"),
        (DIRSYNC, "MS_DIRSYNC"),
        (NOSYMFOLLOW, "MS_NOSYMFOLLOW"),
        (NOATIME, "MS_NOATIME"),
        (NODIRATIME, "MS_NODIRATIME"),
        (BIND, "MS_BIND"),
        (MOVE, "MS_MOVE"),
        (REC, "MS_REC"),
        (SILENT, "MS_SILENT"),
        (POSIXACL, "MS_POSIXACL"),
        (UNBINDABLE, "MS_UNBINDABLE"),
        (PRIVATE, "MS_PRIVATE"),
        (SLAVE, "MS_SLAVE"),
        (SHARED, "MS_SHARED"),
        (RELATIME, "MS_RELATIME"),
        (I_VERSION, "MS_I_VERSION"),
        (STRICTATIME, "MS_STRICTATIME"),
        (LAZYTIME, "MS_LAZYTIME"),
    ];

    /// The names of the bits in `flags` (unknown bits as hex).
    pub fn names(flags: u64) -> Vec<String> {
        let mut out = Vec::new();
        let mut left = flags;
        for (bit, name) in NAMES {
            if flags & bit != 0 {
                out.push(name.to_string());
                left &= !bit;
            }
        }
        if left != 0 {
            out.push(format!("{left:#x}"));
        }
        out
    }
}

/// Flags a bind mount only gets through a second `MS_REMOUNT|MS_BIND`
/// (the kernel ignores them on the initial bind).
const BIND_REMOUNT_FLAGS: u64 = ms::RDONLY
    | ms::NOSUID
    | ms::NODEV
    | ms::NOEXEC
    | ms::NOATIME
    | ms::NODIRATIME
    | ms::RELATIME
    | ms::STRICTATIME
    | ms::NOSYMFOLLOW;

/// `MOUNT_ATTR_*` bits of `mount_setattr(2)` (`<linux/mount.h>`).
#[allow(missing_docs)]
pub mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    /// The access-time setting (a value, not a bit): clear it to set one.
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const IDMAP: u64 = 0x10_0000;
    pub const NOSYMFOLLOW: u64 = 0x20_0000;
}

/// The `MS_*` flags that have a `MOUNT_ATTR_*` bit of their own
/// (`mount_setattr(2)`), as pairs; the access-time flags are a setting,
/// not a bit, and are handled apart.
const MS_ATTRS: [(u64, u64); 6] = [
    (ms::RDONLY, attr::RDONLY),
    (ms::NOSUID, attr::NOSUID),
    (ms::NODEV, attr::NODEV),
    (ms::NOEXEC, attr::NOEXEC),
    (ms::NODIRATIME, attr::NODIRATIME),
    (ms::NOSYMFOLLOW, attr::NOSYMFOLLOW),
];

/// What one mount option does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opt {
    /// Set these `MS_*` bits.
    Set(u64),
    /// Clear these `MS_*` bits.
    Clear(u64),
    /// Mount propagation (`MS_SHARED` ... with or without `MS_REC`).
    Propagation(u64),
    /// A recursive attribute (runc's `r*` options, mount_setattr(2) with
    /// `AT_RECURSIVE`): `MOUNT_ATTR_*` bits to set and to clear, and the
    /// `MS_*` flag it means on a fresh (non-bind) mount.
    Recursive {
        set: u64,
        clear: u64,
        ms_set: u64,
        ms_clear: u64,
    },
    /// `idmap` (false) / `ridmap` (true): an idmapped bind mount.
    Idmap(bool),
}

/// runc's recursive options (`r` + a flag word): `MOUNT_ATTR_*` set and
/// clear (an access-time value also clears `MOUNT_ATTR__ATIME`,
/// mount_setattr(2)), and the `MS_*` equivalent.
fn recursive_option(word: &str) -> Option<Opt> {
    use attr::*;
    let (set, clear, ms_set, ms_clear) = match word {
        "rro" => (RDONLY, 0, ms::RDONLY, 0),
        "rrw" => (0, RDONLY, 0, ms::RDONLY),
        "rnosuid" => (NOSUID, 0, ms::NOSUID, 0),
        "rsuid" => (0, NOSUID, 0, ms::NOSUID),
        "rnodev" => (NODEV, 0, ms::NODEV, 0),
        "rdev" => (0, NODEV, 0, ms::NODEV),
        "rnoexec" => (NOEXEC, 0, ms::NOEXEC, 0),
        "rexec" => (0, NOEXEC, 0, ms::NOEXEC),
        "rnodiratime" => (NODIRATIME, 0, ms::NODIRATIME, 0),
        "rdiratime" => (0, NODIRATIME, 0, ms::NODIRATIME),
        "rrelatime" => (RELATIME, ATIME_MASK, ms::RELATIME, 0),
        "rnorelatime" => (STRICTATIME, ATIME_MASK, ms::STRICTATIME, ms::RELATIME),
        "rnoatime" => (NOATIME, ATIME_MASK, ms::NOATIME, 0),
        "ratime" => (RELATIME, ATIME_MASK, 0, ms::NOATIME),
        "rstrictatime" => (STRICTATIME, ATIME_MASK, ms::STRICTATIME, 0),
        "rnostrictatime" => (RELATIME, ATIME_MASK, 0, ms::STRICTATIME),
        "rnosymfollow" => (NOSYMFOLLOW, 0, ms::NOSYMFOLLOW, 0),
        "rsymfollow" => (0, NOSYMFOLLOW, 0, ms::NOSYMFOLLOW),
        "idmap" => return Some(Opt::Idmap(false)),
        "ridmap" => return Some(Opt::Idmap(true)),
        _ => return None,
    };
    Some(Opt::Recursive {
        set,
        clear,
        ms_set,
        ms_clear,
    })
}

/// runc's option table (`mountFlags` and `mountPropagationMapping`).
fn option(word: &str) -> Option<Opt> {
    use Opt::*;
    Some(match word {
        "acl" => Set(ms::POSIXACL),
        "async" => Clear(ms::SYNCHRONOUS),
        "atime" => Clear(ms::NOATIME),
        "bind" => Set(ms::BIND),
        "defaults" => Set(0),
        "dev" => Clear(ms::NODEV),
        "diratime" => Clear(ms::NODIRATIME),
        "dirsync" => Set(ms::DIRSYNC),
        "exec" => Clear(ms::NOEXEC),
        "iversion" => Set(ms::I_VERSION),
        "lazytime" => Set(ms::LAZYTIME),
        "loud" => Clear(ms::SILENT),
        "mand" => Set(ms::MANDLOCK),
        "noacl" => Clear(ms::POSIXACL),
        "noatime" => Set(ms::NOATIME),
        "nodev" => Set(ms::NODEV),
        "nodiratime" => Set(ms::NODIRATIME),
        "noexec" => Set(ms::NOEXEC),
        "noiversion" => Clear(ms::I_VERSION),
        "nolazytime" => Clear(ms::LAZYTIME),
        "nomand" => Clear(ms::MANDLOCK),
        "norelatime" => Clear(ms::RELATIME),
        "nostrictatime" => Clear(ms::STRICTATIME),
        "nosuid" => Set(ms::NOSUID),
        "nosymfollow" => Set(ms::NOSYMFOLLOW),
        "rbind" => Set(ms::BIND | ms::REC),
        "relatime" => Set(ms::RELATIME),
        "remount" => Set(ms::REMOUNT),
        "ro" => Set(ms::RDONLY),
        "rw" => Clear(ms::RDONLY),
        "silent" => Set(ms::SILENT),
        "strictatime" => Set(ms::STRICTATIME),
        "suid" => Clear(ms::NOSUID),
        "symfollow" => Clear(ms::NOSYMFOLLOW),
        "sync" => Set(ms::SYNCHRONOUS),
        "private" => Propagation(ms::PRIVATE),
        "rprivate" => Propagation(ms::PRIVATE | ms::REC),
        "shared" => Propagation(ms::SHARED),
        "rshared" => Propagation(ms::SHARED | ms::REC),
        "slave" => Propagation(ms::SLAVE),
        "rslave" => Propagation(ms::SLAVE | ms::REC),
        "unbindable" => Propagation(ms::UNBINDABLE),
        "runbindable" => Propagation(ms::UNBINDABLE | ms::REC),
        _ => return recursive_option(word),
    })
}

/// Mount options split into flags, propagation and data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `MS_*` flags, applied in order (later words win).
    pub flags: u64,
    /// Propagation flags (the last propagation word wins), 0 = none.
    pub propagation: u64,
    /// Filesystem-specific options, comma-joined (`mode=755,size=65536k`).
    pub data: String,
    /// Recursive attributes (`rro` ...): `MOUNT_ATTR_*` to set.
    pub rec_set: u64,
    /// Recursive attributes: `MOUNT_ATTR_*` to clear.
    pub rec_clear: u64,
    /// The `MS_*` flags the recursive attributes mean on a fresh mount.
    pub rec_ms: (u64, u64),
    /// `idmap` (Some(false)) or `ridmap` (Some(true)).
    pub idmap: Option<bool>,
}

/// Splits OCI mount options (runc semantics, including its recursive
/// `r*` words, `idmap`/`ridmap` and `tmpcopyup`); anything else is data.
pub fn parse_options(options: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut data: Vec<&str> = Vec::new();
    for word in options {
        match option(word) {
            Some(Opt::Set(f)) => o.flags |= f,
            Some(Opt::Clear(f)) => o.flags &= !f,
            Some(Opt::Propagation(p)) => o.propagation = p,
            Some(Opt::Recursive {
                set,
                clear,
                ms_set,
                ms_clear,
            }) => {
                o.rec_set = (o.rec_set & !clear) | set;
                // An access-time value keeps MOUNT_ATTR__ATIME in the clear set.
                o.rec_clear = (o.rec_clear | clear) & !(set & !attr::ATIME_MASK);
                o.rec_ms = (
                    (o.rec_ms.0 & !ms_clear) | ms_set,
                    (o.rec_ms.1 & !ms_set) | ms_clear,
                );
            }
            Some(Opt::Idmap(r)) => o.idmap = Some(r),
            // tmpfs: the controller copies the image's directory in
            // (`crate::copyup`); elsewhere ignored, as runc does.
            None if word == "tmpcopyup" => {}
            None => data.push(word),
        }
    }
    o.data = data.join(",");
    Ok(o)
}

/// `linux.rootfsPropagation` to `MS_*` flags; `""`/absent = 0 (the stub's
/// default, `MS_SLAVE|MS_REC`).
pub fn rootfs_propagation(value: Option<&str>) -> Result<u64> {
    match value {
        None | Some("") => Ok(0),
        Some(v) => match option(v) {
            Some(Opt::Propagation(p)) => Ok(p),
            _ => crate::bail!(
                "linux.rootfsPropagation \"{v}\": unknown propagation (want one of \
                 private, rprivate, shared, rshared, slave, rslave, unbindable, runbindable)"
            ),
        },
    }
}

/// Where an [`Op`] comes from, for error messages (`Display`:
/// `mounts[2] "/data"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `mounts[index]`.
    Mount {
        /// Index in `mounts`.
        index: usize,
        /// Its destination.
        destination: String,
    },
    /// One of runc's default devices.
    DefaultDevice(&'static str),
    /// `linux.devices[index]`.
    Device {
        /// Index in `linux.devices`.
        index: usize,
        /// Its path.
        path: String,
    },
    /// A `/dev` symlink sprout adds (`/dev/fd` ...).
    DevSymlink(&'static str),
    /// `linux.sysctl` key.
    Sysctl(String),
    /// `linux.readonlyPaths[index]`.
    ReadonlyPath {
        /// Index in `linux.readonlyPaths`.
        index: usize,
        /// The path.
        path: String,
    },
    /// `linux.maskedPaths[index]`.
    MaskedPath {
        /// Index in `linux.maskedPaths`.
        index: usize,
        /// The path.
        path: String,
    },
    /// `linux.timeOffsets` (written to `/proc/self/timens_offsets`).
    TimeOffsets,
    /// The stub joining the container's cgroup ([`place_join_cgroup`]).
    Cgroup,
    /// `process.cwd`, made when missing ([`cwd_op`]).
    Cwd,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Mount { index, destination } => {
                write!(f, "mounts[{index}] \"{}\"", Shown(destination))
            }
            Origin::DefaultDevice(p) => write!(f, "default device \"{}\"", Shown(p)),
            Origin::Device { index, path } => {
                write!(f, "linux.devices[{index}] \"{}\"", Shown(path))
            }
            Origin::DevSymlink(p) => write!(f, "symlink \"{}\"", Shown(p)),
            Origin::Sysctl(k) => write!(f, "linux.sysctl \"{}\"", Shown(k)),
            Origin::ReadonlyPath { index, path } => {
                write!(f, "linux.readonlyPaths[{index}] \"{}\"", Shown(path))
            }
            Origin::MaskedPath { index, path } => {
                write!(f, "linux.maskedPaths[{index}] \"{}\"", Shown(path))
            }
            Origin::TimeOffsets => write!(f, "linux.timeOffsets"),
            Origin::Cgroup => write!(f, "linux.cgroupsPath"),
            Origin::Cwd => write!(f, "process.cwd"),
        }
    }
}

/// A config string as an error shows it: control characters escaped
/// (`\n`, `\u{1b}`), so that an error stays one line and puts no terminal
/// escape sequence on stderr; everything else as is.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One filesystem step with owned strings; [`Op::wire`] borrows it as a
/// [`MountOp`]. Field meanings are those of [`MountOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// What to do.
    pub kind: MountKind,
    /// [`mount_opts`] bits.
    pub opts: u32,
    /// `MS_*` flags for `mount(2)`.
    pub flags: u64,
    /// Flags of a second `MS_REMOUNT|MS_BIND` (they include those two), 0 = none.
    pub remount_flags: u64,
    /// Propagation flags, 0 = none.
    pub propagation: u64,
    /// Device type and permission bits.
    pub mode: u32,
    /// Device major.
    pub major: u32,
    /// Device minor.
    pub minor: u32,
    /// Device owner.
    pub uid: u32,
    /// Device group.
    pub gid: u32,
    /// Source / symlink content / host device.
    pub source: Option<CString>,
    /// Target: relative to the rootfs before pivot, absolute after.
    pub target: CString,
    /// Filesystem type.
    pub fstype: Option<CString>,
    /// Data string or file content.
    pub data: Option<CString>,
    /// Which config entry this op implements.
    pub origin: Origin,
    /// With [`mount_opts::MOVE_FD`]: the detached mount tree the stub
    /// attaches (its number in the stub is `major`, see [`number_trees`]).
    pub tree: Option<TreeFd>,
    /// A bind of the container's own cgroup directory that [`cgroup_ops`]
    /// made for a `cgroup` mount (what [`mark_cgroup_trees`] may hand to
    /// the controller); a bind the config names never is.
    pub cgroup_bind: bool,
}

/// A detached mount tree (`open_tree(OPEN_TREE_CLONE)`), shared by the
/// plan's clones of an [`Op`]; equal when it is the same fd.
#[derive(Clone, Debug)]
pub struct TreeFd(pub std::sync::Arc<std::os::fd::OwnedFd>);

impl PartialEq for TreeFd {
    fn eq(&self, other: &Self) -> bool {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd() == other.0.as_raw_fd()
    }
}
impl Eq for TreeFd {}

/// Puts the [`MountKind::JoinCgroup`] op into a plan whose stub joins its
/// cgroup by itself (`flags::JOIN_CGROUP`), before the first op that needs
/// the container's cgroup: any op but a bind mount or a mount of a
/// filesystem with no device behind it (`proc`, `sysfs`, `tmpfs`,
/// `devpts`, `mqueue`); among those, one at or under `/sys/fs/cgroup` or
/// from there (the cgroup's own directories, made by the controller
/// meanwhile, and a new cgroup namespace for `cgroup`/`cgroup2` mounts);
/// and a detached tree. So device nodes (`mknod`) and filesystems on a
/// block device (its open) are checked against the container's devices
/// cgroup wherever they are in the list, as when the stub joined before
/// its first mount. The mounts before it (`/proc`, the `/dev` tmpfs,
/// devpts, shm, mqueue, sysfs in runc's default order) overlap the
/// controller's making of the cgroup instead of waiting for it. Does
/// nothing when the op is there already.
pub fn place_join_cgroup(ops: &mut Vec<Op>) {
    if ops.iter().any(|o| o.kind == MountKind::JoinCgroup) {
        return;
    }
    let under_cgroup = |p: Option<&CString>| {
        p.is_some_and(|p| {
            let p = p.to_bytes();
            let p = p.strip_prefix(b"/").unwrap_or(p);
            p.strip_prefix(b"sys/fs/cgroup")
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
        })
    };
    let deviceless = |o: &Op| {
        o.flags & ms::BIND != 0
            || o.fstype.as_ref().is_some_and(|t| {
                matches!(
                    t.to_bytes(),
                    b"proc" | b"sysfs" | b"tmpfs" | b"devpts" | b"mqueue"
                )
            })
    };
    // The tmpfs of a v1 `cgroup` mount ([`cgroup_ops`]) needs no cgroup:
    // made before the join, it is older than the binds the controller
    // clones for it ([`mark_cgroup_trees`]).
    let cgroup_tmpfs = |o: &Op| {
        o.fstype.as_deref() == Some(c"tmpfs")
            && o.flags & (ms::BIND | ms::REMOUNT) == 0
            && o.source.as_deref() == Some(c"tmpfs")
            && o.target
                .as_bytes()
                .strip_prefix(b"/")
                .unwrap_or(o.target.as_bytes())
                == b"sys/fs/cgroup"
    };
    let at = ops
        .iter()
        .position(|o| {
            o.kind != MountKind::Mount
                || o.tree.is_some()
                || !deviceless(o)
                || (under_cgroup(Some(&o.target)) && !cgroup_tmpfs(o))
                || under_cgroup(o.source.as_ref())
        })
        .unwrap_or(ops.len());
    let join = Op::new(MountKind::JoinCgroup, "", &Origin::Cgroup).expect("no NUL in \"\"");
    ops.insert(at, join);
}

/// Gives each op with a detached tree its fd number in the stub
/// (`first`, `first + 1`, ... in op order) in `major`; returns how many.
pub fn number_trees(ops: &mut [Op], first: u32) -> u32 {
    let mut n = 0;
    for op in ops.iter_mut().filter(|o| o.tree.is_some()) {
        op.major = first + n;
        n += 1;
    }
    n
}

/// A `CString` from config text; a NUL byte is an error naming `what`.
pub fn cstring(what: impl fmt::Display, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(format!("{what}: contains a NUL byte")))
}

impl Op {
    /// An op of `kind` on `target` with everything else empty.
    fn new(kind: MountKind, target: &str, origin: &Origin) -> Result<Op> {
        Ok(Op {
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
            target: cstring(origin, target)?,
            fstype: None,
            data: None,
            origin: origin.clone(),
            tree: None,
            cgroup_bind: false,
        })
    }

    fn with_source(mut self, s: &str) -> Result<Op> {
        self.source = Some(cstring(&self.origin, s)?);
        Ok(self)
    }

    fn with_fstype(mut self, s: &str) -> Result<Op> {
        self.fstype = Some(cstring(&self.origin, s)?);
        Ok(self)
    }

    fn with_data(mut self, s: &str) -> Result<Op> {
        self.data = if s.is_empty() {
            None
        } else {
            Some(cstring(&self.origin, s)?)
        };
        Ok(self)
    }

    /// The wire form, borrowing this op's strings.
    pub fn wire(&self) -> MountOp<'_> {
        MountOp {
            kind: self.kind,
            opts: self.opts,
            flags: self.flags,
            remount_flags: self.remount_flags,
            propagation: self.propagation,
            mode: self.mode,
            major: self.major,
            minor: self.minor,
            uid: self.uid,
            gid: self.gid,
            source: self.source.as_deref(),
            target: &self.target,
            fstype: self.fstype.as_deref(),
            data: self.data.as_deref(),
        }
    }
}

/// An absolute container path made relative to the rootfs: leading `/`,
/// empty and `.` components dropped (`"/dev//pts/"` -> `"dev/pts"`, `"/"`
/// -> `"."`), and `..` applied lexically, never above the root (as Go's
/// `filepath.Clean` of an absolute path: `"/a/../b"` -> `"b"`, `"/../x"`
/// -> `"x"`). The stub resolves the result inside the rootfs anyway.
pub fn rootfs_relative(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// [`rootfs_relative`] for a path that must name something below the
/// root: `Err` with the reason when it is the root itself (`/`, `.`,
/// `..`, `/a/..`: a mount there would cover the whole rootfs, a device
/// node replace it).
pub fn below_root(path: &str) -> std::result::Result<String, &'static str> {
    match rootfs_relative(path) {
        r if r == "." => Err("is the container's root directory itself"),
        r => Ok(r),
    }
}

/// The host's cgroup layout under `/sys/fs/cgroup`, from mountinfo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupLayout {
    /// `/sys/fs/cgroup` itself is cgroup2 (unified mode).
    pub unified: bool,
    /// Names of the v1 hierarchies mounted directly below `/sys/fs/cgroup`
    /// (`cpu`, `memory`, ..., `systemd`), in mountinfo order. A hybrid
    /// host's cgroup2 mount there (`unified`) is not one of them: runc
    /// (`GetCgroupMounts(false)`) leaves it out of the container's view too,
    /// and systemd as the container's init, finding it there (read-only),
    /// takes the layout for a hybrid one and fails to make its own cgroup.
    pub hierarchies: Vec<String>,
    /// Symlinks directly below `/sys/fs/cgroup` (`cpuacct` -> `cpu,cpuacct`).
    pub symlinks: Vec<(String, String)>,
}

impl CgroupLayout {
    /// Parses `/proc/self/mountinfo` text (`proc(5)`: field 5 is the mount
    /// point, the field after `-` the filesystem type).
    pub fn from_mountinfo(text: &str) -> CgroupLayout {
        let mut layout = CgroupLayout::default();
        for line in text.lines() {
            let mut fields = line.split(' ');
            let Some(mnt) = fields.nth(4) else {
                continue;
            };
            // Only /sys/fs/cgroup and below matter (no allocation for the
            // other mounts of the host).
            if !mnt.starts_with("/sys/fs/cgroup") {
                continue;
            }
            let Some(fstype) = fields.skip_while(|f| *f != "-").nth(1) else {
                continue;
            };
            if mnt == "/sys/fs/cgroup" {
                layout.unified = fstype == "cgroup2";
            } else if let Some(name) = mnt.strip_prefix("/sys/fs/cgroup/")
                && fstype == "cgroup"
                && !name.contains('/')
            {
                // mountinfo escapes space, tab, newline and backslash.
                let name = if name.contains('\\') {
                    crate::cgroups::unescape_mount(name)
                } else {
                    name.to_string()
                };
                if !layout.hierarchies.contains(&name) {
                    layout.hierarchies.push(name);
                }
            }
        }
        layout
    }

    /// The running host's layout (`/proc/self/mountinfo` and the symlinks in
    /// `/sys/fs/cgroup`). An unreadable mountinfo gives an empty layout.
    pub fn host() -> CgroupLayout {
        let mut layout =
            CgroupLayout::from_mountinfo(crate::cgroups::mountinfo().unwrap_or_default());
        if !layout.unified
            && let Ok(dir) = std::fs::read_dir("/sys/fs/cgroup")
        {
            // getdents's d_type tells the hierarchies (directories) from
            // the symlinks: only the others are read.
            for e in dir.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                if let Ok(link) = std::fs::read_link(e.path()) {
                    layout.symlinks.push((
                        e.file_name().to_string_lossy().into_owned(),
                        link.to_string_lossy().into_owned(),
                    ));
                }
            }
            layout.symlinks.sort();
        }
        layout
    }
}

/// Facts about the container the mount plan depends on.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The bundle directory (absolute): relative bind sources resolve here.
    pub bundle: &'a Path,
    /// A new user namespace: devices are bind-mounted, and bind remounts
    /// keep the source's locked flags.
    pub userns: bool,
    /// A new cgroup namespace.
    pub cgroupns: bool,
    /// The host's cgroup mounts.
    pub cgroups: &'a CgroupLayout,
    /// The host has `/proc/kcore` (runc adds `/dev/core` only then).
    pub kcore: bool,
    /// The container's cgroup path (`/a/b`, the same in every hierarchy),
    /// if known: a v1 `cgroup` mount then binds `/sys/fs/cgroup/<h>/a/b`
    /// instead of the hierarchy roots.
    pub cgroup_path: Option<&'a Path>,
    /// The container's `linux.uidMappings`/`gidMappings` as id-map text
    /// (`container host size` lines), for `idmap` mounts without mappings
    /// of their own; empty without a user namespace.
    pub id_maps: (&'a str, &'a str),
    /// The rootfs on the host (canonical), when its symlinks may be read
    /// to resolve mount targets ahead of time ([`crate::dangling`]).
    pub rootfs: Option<&'a Path>,
    /// A shared `linux.rootfsPropagation`: the copied host tree keeps the
    /// host's peer groups, so the binds of the host's cgroup hierarchies
    /// are made slaves (else they would be the host's peers: a mount under
    /// one in the container would appear on the host).
    pub shared_root: bool,
}

/// Flags of a mounted filesystem that a user namespace cannot clear on a
/// bind remount (`mount_namespaces(7)`: "locked" mount flags), read with
/// `statvfs(3)`; 0 if it cannot be read.
fn locked_flags(path: &Path) -> u64 {
    use nix::sys::statvfs::{FsFlags, statvfs};
    let Ok(st) = statvfs(path) else { return 0 };
    let f = st.flags();
    let mut out = 0;
    for (st_flag, ms_flag) in [
        (FsFlags::ST_RDONLY, ms::RDONLY),
        (FsFlags::ST_NOSUID, ms::NOSUID),
        (FsFlags::ST_NODEV, ms::NODEV),
        (FsFlags::ST_NOEXEC, ms::NOEXEC),
        (FsFlags::ST_NOATIME, ms::NOATIME),
        (FsFlags::ST_NODIRATIME, ms::NODIRATIME),
        (FsFlags::from_bits_retain(ST_RELATIME), ms::RELATIME),
    ] {
        if f.contains(st_flag) {
            out |= ms_flag;
        }
    }
    out
}

/// `ST_RELATIME` of `statvfs(3)` (4096): nix names it only with glibc.
const ST_RELATIME: libc::c_ulong = 4096;

/// The `MS_REMOUNT|MS_BIND` flags for a bind mount of `source` with
/// `flags`, or 0 when no remount is needed.
fn bind_remount(flags: u64, source: &Path, ctx: &Context) -> u64 {
    let wanted = flags & BIND_REMOUNT_FLAGS;
    if wanted == 0 {
        return 0;
    }
    let locked = if ctx.userns { locked_flags(source) } else { 0 };
    ms::REMOUNT | ms::BIND | wanted | locked
}

/// Whether a spec mount is a bind mount (`bind`/`rbind` option, or type
/// `bind` as runc accepts).
pub(crate) fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// The ops for `mounts[index]` (one, or several for `cgroup`).
fn mount_ops(index: usize, m: &Mount, ctx: &Context) -> Result<Vec<Op>> {
    let destination = m.destination().to_string_lossy().into_owned();
    let origin = Origin::Mount {
        index,
        destination: destination.clone(),
    };
    if destination.is_empty() {
        crate::bail!("mounts[{index}].destination: must not be empty");
    }
    // Nothing may be mounted over the rootfs itself or outside it.
    let target = below_root(&destination).map_err(|why| {
        Error::invalid(format!(
            "mounts[{index}].destination \"{destination}\": {why}"
        ))
    })?;
    if !destination.starts_with('/') {
        // runc 1.1 mounts it below the container's / too, with a warning
        // that later releases refuse it.
        crate::error::warn(format!(
            "mounts[{index}].destination \"{destination}\": not absolute; treated as \"/{target}\" (relative to the container's /)"
        ));
    }
    let options = m.options().clone().unwrap_or_default();
    let parsed = parse_options(&options).map_err(|e| Error::invalid(format!("{origin}: {e}")))?;
    let fstype = m.typ().clone().unwrap_or_default();

    if is_bind(m) {
        let Some(src) = m.source() else {
            crate::bail!("{origin}: a bind mount needs a source");
        };
        let src: PathBuf = if src.is_absolute() {
            src.clone()
        } else {
            ctx.bundle.join(src)
        };
        let meta = std::fs::metadata(&src)
            .map_err(|e| Error::io(format!("{origin}: source \"{}\": stat", src.display()), &e))?;
        let mut op = Op::new(MountKind::Mount, &target, &origin)?
            .with_source(&src.to_string_lossy())?
            .with_data(&parsed.data)?;
        op.flags = parsed.flags | ms::BIND;
        op.remount_flags = bind_remount(parsed.flags, &src, ctx);
        op.propagation = parsed.propagation;
        op.opts = mount_opts::CREATE_TARGET;
        if !meta.is_dir() {
            op.opts |= mount_opts::TARGET_FILE;
        }
        let maps = idmap_of(&origin, m, &parsed, ctx)?;
        // In a user namespace a bind is cloned here, by the controller,
        // where that loses nothing ([`clone_keeps_locks`]), as runc 1.1
        // opens the sources before its init joins the namespace: the
        // container's root, an unprivileged host uid, may not reach the
        // source (a directory under a `0700` one: EACCES from the stub;
        // runc's userns.bats).
        let userns_clone = ctx.userns
            && crate::cgroups::mountinfo().is_ok_and(|info| clone_keeps_locks(&src, info));
        if parsed.rec_set != 0 || parsed.rec_clear != 0 || maps.is_some() || userns_clone {
            detached_tree(&mut op, &origin, &src, &parsed, maps)?;
        }
        return Ok(vec![op]);
    }
    if idmap_of(&origin, m, &parsed, ctx)?.is_some() {
        crate::bail!(
            "{origin}: an idmapped mount (uidMappings/gidMappings, idmap) must be a bind mount"
        );
    }

    // runc: type `cgroup` follows the host's mode (v1 hierarchies or
    // cgroup2); an explicit `cgroup2` on a v1 or hybrid host is a plain
    // cgroup2 mount (the generic path below), as runc's default case.
    if fstype == "cgroup" || (fstype == "cgroup2" && ctx.cgroups.unified) {
        return cgroup_ops(&origin, &target, &parsed, ctx);
    }

    let mut op = Op::new(MountKind::Mount, &target, &origin)?.with_data(&parsed.data)?;
    if !fstype.is_empty() {
        op = op.with_fstype(&fstype)?;
    }
    if let Some(src) = m.source() {
        op = op.with_source(&src.to_string_lossy())?;
    }
    // A fresh mount has no submounts: a recursive attribute is the flag.
    op.flags = (parsed.flags & !parsed.rec_ms.1) | parsed.rec_ms.0;
    op.propagation = parsed.propagation;
    op.opts = mount_opts::CREATE_TARGET;
    if fstype == "proc" || fstype == "sysfs" {
        // Masked/read-only paths are applied there by path later: the
        // target must not be (or go through) a symlink (CVE-2019-19921).
        op.opts |= mount_opts::NO_SYMLINKS;
    }
    Ok(vec![op])
}

/// The id-map texts (uid, gid) and recursion of an idmapped mount:
/// `uidMappings`/`gidMappings` on the mount (both needed), or `idmap`/
/// `ridmap` with the container's own mappings; `None` when not idmapped.
fn idmap_of(
    origin: &Origin,
    m: &Mount,
    parsed: &Options,
    ctx: &Context,
) -> Result<Option<(String, String, bool)>> {
    let text = |field: &str, maps: &[oci_spec::runtime::LinuxIdMapping]| -> Result<String> {
        let mut t = String::new();
        for (i, x) in maps.iter().enumerate() {
            if x.size() == 0
                || x.container_id().checked_add(x.size() - 1).is_none()
                || x.host_id().checked_add(x.size() - 1).is_none()
            {
                crate::bail!("{origin}: {field}[{i}]: invalid range");
            }
            t.push_str(&format!(
                "{} {} {}\n",
                x.container_id(),
                x.host_id(),
                x.size()
            ));
        }
        Ok(t)
    };
    let (u, g) = (
        m.uid_mappings().as_deref().unwrap_or(&[]),
        m.gid_mappings().as_deref().unwrap_or(&[]),
    );
    let recursive = parsed.idmap == Some(true);
    match (u.is_empty(), g.is_empty()) {
        (false, false) => Ok(Some((
            text("uidMappings", u)?,
            text("gidMappings", g)?,
            recursive,
        ))),
        (true, false) | (false, true) => {
            crate::bail!("{origin}: uidMappings and gidMappings must be given together")
        }
        (true, true) if parsed.idmap.is_none() => Ok(None),
        (true, true) if ctx.id_maps.0.is_empty() || ctx.id_maps.1.is_empty() => crate::bail!(
            "{origin}: option \"idmap\" without uidMappings/gidMappings needs the container's user namespace mappings"
        ),
        (true, true) => Ok(Some((
            ctx.id_maps.0.to_string(),
            ctx.id_maps.1.to_string(),
            recursive,
        ))),
    }
}

/// Turns a bind `op` into one the stub attaches with `move_mount(2)`: the
/// controller clones the source (`open_tree(OPEN_TREE_CLONE)`, recursive
/// for `rbind`) and sets, with `mount_setattr(2)`: the top mount's flags
/// (`ro`, `nosuid` ...), the recursive attributes (`rro` ...) on every
/// mount of the tree, slave propagation (the clone would otherwise share
/// the host's peer group), and the idmapping (a user namespace made with
/// the mappings; recursive with `ridmap`). runc 1.2 does the same in its
/// parent for idmapped mounts (`mountFds`).
fn detached_tree(
    op: &mut Op,
    origin: &Origin,
    src: &Path,
    parsed: &Options,
    maps: Option<(String, String, bool)>,
) -> Result<()> {
    use crate::sys::{MountAttr, mount_setattr, open_tree_clone, userns_fd};
    let sys_err = |what: &str, e| Error::Sys {
        context: format!("{origin}: {what}"),
        errno: e,
    };
    let tree =
        open_tree_clone(src, op.flags & ms::REC != 0).map_err(|e| sys_err("open_tree", e))?;
    // The top mount: the plain flags (a bind remount's job otherwise).
    let f = parsed.flags;
    let mut top = MountAttr::default();
    for (m, a) in MS_ATTRS {
        if f & m != 0 {
            top.attr_set |= a;
        }
    }
    for (m, a) in [
        (ms::NOATIME, attr::NOATIME),
        (ms::STRICTATIME, attr::STRICTATIME),
        (ms::RELATIME, attr::RELATIME),
    ] {
        if f & m != 0 {
            top.attr_set = (top.attr_set & !attr::ATIME_MASK) | a;
            top.attr_clr |= attr::ATIME_MASK;
        }
    }
    if top != MountAttr::default() {
        mount_setattr(&tree, false, &top).map_err(|e| sys_err("mount_setattr", e))?;
    }
    let rec = MountAttr {
        attr_set: parsed.rec_set,
        attr_clr: parsed.rec_clear,
        propagation: ms::SLAVE,
        userns_fd: 0,
    };
    mount_setattr(&tree, true, &rec).map_err(|e| sys_err("mount_setattr (recursive)", e))?;
    if let Some((uids, gids, recursive)) = maps {
        let ns = userns_fd(&uids, &gids)
            .map_err(|e| sys_err("a user namespace for the idmapping", e))?;
        let idmap = MountAttr {
            attr_set: attr::IDMAP,
            userns_fd: std::os::fd::AsRawFd::as_raw_fd(&ns) as u64,
            ..MountAttr::default()
        };
        mount_setattr(&tree, recursive, &idmap).map_err(|e| sys_err("mount_setattr (idmap)", e))?;
    }
    op.opts |= mount_opts::MOVE_FD;
    op.flags = 0;
    op.remount_flags = 0;
    op.data = None;
    op.tree = Some(TreeFd(std::sync::Arc::new(tree)));
    Ok(())
}

/// Marks [`mount_opts::CGROUP_TREE`] on the binds of cgroup directories
/// that come after the plan's [`MountKind::JoinCgroup`] op (the v1
/// hierarchies of a `cgroup` mount, [`cgroup_ops`]; at most
/// [`sprout_protocol::MAX_CGROUP_FDS`]), numbering them in `major`: the
/// controller clones them once the cgroup is made ([`cgroup_tree`]) and
/// the stub only attaches them. Exactly the binds the stub would clone
/// with `open_tree_attr(2)` (non-recursive, onto a fresh entry, with a
/// remount that `mount_setattr(2)` expresses), and only where the clone
/// is the same from the host's mount namespace as from the stub's: no new
/// user namespace (the stub's mounts belong to it) and a `slave` or
/// `private` rootfsPropagation (the clone of a slave copy of the host's
/// mount is a slave of the host's peer group, as the host's mount made a
/// slave; a shared or unbindable copy would differ). Ops before the join
/// run before the cgroup exists and are left alone. Only the binds
/// [`cgroup_ops`] made ([`Op::cgroup_bind`]; never a bind the config
/// names, whatever its source says), with a plain absolute source, and
/// only into one tmpfs (the first `cgroup` mount's), which is marked
/// [`mount_opts::CGROUP_TREE_PARENT`]: the controller waits for the stub
/// to have made it before it clones them, so that the container's mount
/// table lists the tmpfs first.
pub fn mark_cgroup_trees(ops: &mut [Op], rootfs_propagation: u64, userns: bool) {
    use std::os::unix::ffi::OsStrExt;
    let prop = rootfs_propagation & !ms::REC;
    if userns || !(prop == 0 || prop == ms::SLAVE || prop == ms::PRIVATE) {
        return;
    }
    let want = mount_opts::FRESH_PARENT | mount_opts::CREATE_TARGET;
    let unwanted = mount_opts::MOVE_FD | mount_opts::NO_SYMLINKS;
    let parent_of = |t: &CString| {
        let t = t.as_bytes();
        t.iter().rposition(|&c| c == b'/').map(|i| t[..i].to_vec())
    };
    let mut joined = false;
    let mut k = 0;
    // The binds of one tmpfs only (the first `cgroup` mount's): the stub
    // reports that one made, and then waits for the trees.
    let mut parent: Option<Vec<u8>> = None;
    for op in ops.iter_mut() {
        if op.kind == MountKind::JoinCgroup {
            joined = true;
            continue;
        }
        let candidate = joined
            && op.cgroup_bind
            && k < sprout_protocol::MAX_CGROUP_FDS as u32
            && op.kind == MountKind::Mount
            && op.opts & (want | unwanted) == want
            && op.flags & (ms::BIND | ms::REC | ms::REMOUNT | ms::MOVE) == ms::BIND
            && op.propagation == 0
            && op.remount_flags != 0
            && op.tree.is_none()
            && cgroup_tree_attr(op.remount_flags, 0).is_some()
            && op.source.as_ref().is_some_and(|s| {
                Path::new(std::ffi::OsStr::from_bytes(s.as_bytes()))
                    .components()
                    .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
            })
            && parent
                .as_ref()
                .is_none_or(|p| parent_of(&op.target).as_ref() == Some(p));
        if candidate {
            parent = parent_of(&op.target);
            op.opts |= mount_opts::CGROUP_TREE;
            op.major = k;
            k += 1;
        }
    }
    // The tmpfs they go into: the last mount of that directory before the
    // first of them (a fresh tmpfs: FRESH_PARENT says so).
    let Some(parent) = parent else {
        return;
    };
    let first = ops
        .iter()
        .position(|o| o.opts & mount_opts::CGROUP_TREE != 0)
        .expect("a marked op");
    let tmpfs = ops[..first].iter().rposition(|o| {
        o.kind == MountKind::Mount
            && o.target.as_bytes() == parent.as_slice()
            && o.fstype.as_deref() == Some(c"tmpfs")
            && o.opts & mount_opts::OPTIONAL == 0
    });
    match tmpfs {
        Some(i) => ops[i].opts |= mount_opts::CGROUP_TREE_PARENT,
        None => {
            for op in ops.iter_mut() {
                op.opts &= !mount_opts::CGROUP_TREE;
            }
        }
    }
}

/// The `mount_setattr(2)` of a [`mount_opts::CGROUP_TREE`] clone: the
/// attributes of the remount flags (`MS_RDONLY` -> `MOUNT_ATTR_RDONLY`
/// ..., each one absent cleared; an access-time flag replaces the
/// setting), as sprout-init's `open_tree_attr(2)` sets them, and the
/// propagation of `rootfs_propagation` (`MS_SLAVE` when 0). `None` for
/// remount flags it cannot express.
pub fn cgroup_tree_attr(
    remount_flags: u64,
    rootfs_propagation: u64,
) -> Option<crate::sys::MountAttr> {
    let atime = ms::NOATIME | ms::RELATIME | ms::STRICTATIME;
    let mut known = ms::REMOUNT | ms::BIND | atime;
    let mut a = crate::sys::MountAttr::default();
    for (m, at) in MS_ATTRS {
        known |= m;
        if remount_flags & m != 0 {
            a.attr_set |= at;
        } else {
            a.attr_clr |= at;
        }
    }
    if remount_flags & !known != 0 {
        return None;
    }
    if remount_flags & atime != 0 {
        a.attr_clr |= attr::ATIME_MASK;
        a.attr_set |= if remount_flags & ms::STRICTATIME != 0 {
            attr::STRICTATIME
        } else if remount_flags & ms::NOATIME != 0 {
            attr::NOATIME
        } else {
            attr::RELATIME
        };
    }
    a.propagation = match rootfs_propagation & !ms::REC {
        0 => ms::SLAVE,
        p => p,
    };
    Some(a)
}

/// Clones the source of a [`mount_opts::CGROUP_TREE`] op (see
/// [`mark_cgroup_trees`]) with the attributes of [`cgroup_tree_attr`]:
/// `open_tree_attr(2)`, or before Linux 6.15 `open_tree(2)` with
/// `OPEN_TREE_CLONE` then `mount_setattr(2)`. `None` on any error: the
/// stub then clones the source itself and reports what fails.
pub fn cgroup_tree(op: &Op, rootfs_propagation: u64) -> Option<std::os::fd::OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let source = Path::new(std::ffi::OsStr::from_bytes(op.source.as_ref()?.as_bytes()));
    let a = cgroup_tree_attr(op.remount_flags, rootfs_propagation)?;
    match crate::sys::open_tree_attr(source, &a) {
        Err(nix::errno::Errno::ENOSYS) => {}
        r => return r.ok(),
    }
    let tree = crate::sys::open_tree_clone(source, false).ok()?;
    crate::sys::mount_setattr(&tree, false, &a).ok()?;
    Some(tree)
}

/// A `cgroup`/`cgroup2` mount.
///
/// On a cgroup2-only host the entry becomes a `cgroup2` mount (shows the
/// cgroup namespace's root when there is one). On this project's hybrid v1
/// hosts it becomes what runc 1.1 builds for v1: a tmpfs at the target
/// (`nosuid,noexec,nodev,mode=755`), then for every v1 hierarchy the host
/// mounts directly under `/sys/fs/cgroup` ([`CgroupLayout::hierarchies`]:
/// not a hybrid host's cgroup2 `unified`), a bind of the container's own
/// cgroup there ([`Context::cgroup_path`]; the hierarchy root when
/// unknown, as for `sprout plan`) onto `<target>/<name>` remounted
/// `nosuid,nodev,noexec` (and read-only when the entry is `ro`), and the
/// host's symlinks there (`cpu` -> `cpu,cpuacct`). So
/// `/sys/fs/cgroup/memory/memory.limit_in_bytes` in the container is its
/// own limit, as with runc. The tmpfs itself stays writable, `ro` or not,
/// as runc 1.1.5 and crun leave it: systemd as the container's init makes
/// its controller symlinks there (`net_cls` -> `net_cls,net_prio`).
fn cgroup_ops(origin: &Origin, target: &str, parsed: &Options, ctx: &Context) -> Result<Vec<Op>> {
    let ro = parsed.flags & ms::RDONLY;
    let base = ms::NOSUID | ms::NODEV | ms::NOEXEC;
    let mut ops = Vec::new();
    if ctx.cgroups.unified && (ctx.cgroupns || !ctx.userns) {
        let mut op = Op::new(MountKind::Mount, target, origin)?
            .with_source("cgroup2")?
            .with_fstype("cgroup2")?;
        op.flags = parsed.flags | base;
        op.opts = mount_opts::CREATE_TARGET;
        ops.push(op);
        return Ok(ops);
    }
    if ctx.cgroups.unified {
        // cgroup2 cannot be mounted from a user namespace without a cgroup
        // namespace: bind the host's tree instead.
        let host = Path::new("/sys/fs/cgroup");
        let mut op = Op::new(MountKind::Mount, target, origin)?.with_source("/sys/fs/cgroup")?;
        op.flags = ms::BIND | ms::REC;
        op.remount_flags = bind_remount(base | ro, host, ctx);
        op.opts = mount_opts::CREATE_TARGET;
        if ctx.shared_root {
            op.propagation = ms::SLAVE | ms::REC;
        }
        ops.push(op);
        return Ok(ops);
    }
    let mut tmpfs = Op::new(MountKind::Mount, target, origin)?
        .with_source("tmpfs")?
        .with_fstype("tmpfs")?
        .with_data("mode=755")?;
    tmpfs.flags = base | (parsed.flags & (ms::RELATIME | ms::NOATIME | ms::STRICTATIME));
    tmpfs.opts = mount_opts::CREATE_TARGET;
    ops.push(tmpfs);
    for name in &ctx.cgroups.hierarchies {
        let host = format!("/sys/fs/cgroup/{name}");
        // The container's own cgroup (runc's getCgroupMounts); OPTIONAL,
        // since a named one may not exist.
        let (source, opts) = match ctx.cgroup_path {
            Some(p) => (
                format!("{host}/{}", rootfs_relative(&p.to_string_lossy())),
                mount_opts::OPTIONAL,
            ),
            None => (host.clone(), 0),
        };
        let mut op =
            Op::new(MountKind::Mount, &format!("{target}/{name}"), origin)?.with_source(&source)?;
        // Not recursive: a cgroup directory has no submounts, and a plain
        // bind lets the stub clone it with its attributes in one call.
        op.flags = ms::BIND;
        op.remount_flags = bind_remount(base | ro, Path::new(&host), ctx);
        op.opts = mount_opts::CREATE_TARGET | opts;
        op.cgroup_bind = ctx.cgroup_path.is_some();
        if ctx.shared_root {
            op.propagation = ms::SLAVE;
        }
        ops.push(op);
    }
    for (name, link) in &ctx.cgroups.symlinks {
        ops.push(
            Op::new(MountKind::Symlink, &format!("{target}/{name}"), origin)?.with_source(link)?,
        );
    }
    Ok(ops)
}

/// runc's default devices (`libcontainer/specconv.AllowedDevices` that get
/// a node): path, major, minor; all `c`, mode 0666, owner 0:0.
pub const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// A device node op (`mknod`, or a bind of the host's node in a user
/// namespace, where `mknod` is not allowed).
#[allow(clippy::too_many_arguments)]
fn device_op(
    origin: &Origin,
    path: &str,
    mode: u32,
    major: u32,
    minor: u32,
    uid: u32,
    gid: u32,
    ctx: &Context,
) -> Result<Op> {
    let mut op = Op::new(MountKind::Device, &rootfs_relative(path), origin)?;
    op.mode = mode;
    op.major = major;
    op.minor = minor;
    op.uid = uid;
    op.gid = gid;
    op.opts = mount_opts::CREATE_TARGET;
    let kind = mode & libc::S_IFMT;
    // A FIFO needs no privilege: mknod'ed in a user namespace too.
    if ctx.userns && (kind == libc::S_IFCHR || kind == libc::S_IFBLK) {
        let Some(host) = host_device_node(path, kind, major, minor) else {
            let t = if kind == libc::S_IFCHR { 'c' } else { 'b' };
            crate::bail!(
                "{origin}: in a user namespace the host's device node is bound (mknod is not allowed there), \
                 but the host has no {t} {major}:{minor}"
            );
        };
        op = op.with_source(&host.to_string_lossy())?;
        op.opts |= mount_opts::BIND_DEVICE | mount_opts::TARGET_FILE;
    }
    Ok(op)
}

/// The host's node for a device: `path` itself when it is that device,
/// else `/dev/<DEVNAME>` from `/sys/dev/{char,block}/MAJ:MIN/uevent`
/// (sysfs-rules: the kernel's name of the node, devtmpfs's path).
fn host_device_node(path: &str, kind: u32, major: u32, minor: u32) -> Option<PathBuf> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let is_it = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| {
            let ft = m.file_type();
            let right_kind = if kind == libc::S_IFCHR {
                ft.is_char_device()
            } else {
                ft.is_block_device()
            };
            right_kind && libc::major(m.rdev()) == major && libc::minor(m.rdev()) == minor
        })
    };
    if is_it(Path::new(path)) {
        return Some(PathBuf::from(path));
    }
    let class = if kind == libc::S_IFCHR {
        "char"
    } else {
        "block"
    };
    let uevent =
        std::fs::read_to_string(format!("/sys/dev/{class}/{major}:{minor}/uevent")).ok()?;
    let name = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME="))?;
    let node = Path::new("/dev").join(name);
    is_it(&node).then_some(node)
}

/// The ops for one `linux.devices` entry.
fn spec_device(index: usize, d: &LinuxDevice, ctx: &Context) -> Result<Op> {
    let path = d.path().to_string_lossy().into_owned();
    let origin = Origin::Device {
        index,
        path: path.clone(),
    };
    if !d.path().is_absolute() {
        crate::bail!("{origin}: the path must be absolute");
    }
    // Device nodes only under /dev (as runc): elsewhere they would be made
    // in the (persistent) rootfs, e.g. a disk node in /etc of the image.
    match below_root(&path) {
        Ok(rel) if rel.starts_with("dev/") => {}
        _ => crate::bail!("linux.devices[{index}].path \"{path}\": must be below /dev"),
    }
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => {
            crate::bail!("{origin}: type \"a\" is only valid in cgroup device rules")
        }
    };
    let num = |what: &str, v: i64| -> Result<u32> {
        u32::try_from(v)
            .map_err(|_| Error::invalid(format!("{origin}: {what} {v} is out of range")))
    };
    let (major, minor) = if d.typ() == LinuxDeviceType::P {
        (0, 0)
    } else {
        (num("major", d.major())?, num("minor", d.minor())?)
    };
    let perm = d.file_mode().unwrap_or(0o666) & 0o7777;
    device_op(
        &origin,
        &path,
        kind | perm,
        major,
        minor,
        d.uid().unwrap_or(0),
        d.gid().unwrap_or(0),
        ctx,
    )
}

/// Whether rootfs-relative `inner` is strictly below `outer` by name
/// (`sys/fs/cgroup/x` is below `sys/fs/cgroup`; `sys/fs/cgroupx` and
/// `sys/fs/cgroup` itself are not; everything but `.` is below `.`).
fn below(inner: &CString, outer: &CString) -> bool {
    let (i, o) = (inner.as_bytes(), outer.as_bytes());
    if o == b"." {
        return i != b".";
    }
    i.len() > o.len() && i.starts_with(o) && i[o.len()] == b'/'
}

/// The op that makes the container process's working directory `cwd`
/// (absolute) when it is missing, as runc's `prepareRootfs` does
/// (`MkdirAll(cwd, 0755)` inside the new root): a [`MountKind::Mkdir`]
/// after every mount, so it lands in what is mounted there (a tmpfs on
/// `/tmp` ...). `None` for `/`. Errors: a path with NUL.
pub fn cwd_op(cwd: &str) -> Result<Option<Op>> {
    match below_root(cwd) {
        Ok(target) => Ok(Some(Op::new(MountKind::Mkdir, &target, &Origin::Cwd)?)),
        Err(_) => Ok(None),
    }
}

/// With `process.terminal` and a read-only `/dev` (remounted read-only
/// last by [`before_pivot`]): `/dev/console` made (an empty file, mode
/// 0666) before the remount, for the stub's console bind after
/// `pivot_root` (runc sets the console up before its `finalizeRootfs`
/// remount; the stub's `mknod` of an existing file is `EEXIST`, which it
/// takes, where a read-only `/dev` gave `EROFS`). Nothing otherwise.
pub fn console_before_read_only_dev(ops: &mut Vec<Op>) -> Result<()> {
    let Some(at) = ops.iter().position(|o| {
        o.kind == MountKind::Mount
            && o.target.as_bytes() == b"dev"
            && o.flags & (ms::REMOUNT | ms::RDONLY) == ms::REMOUNT | ms::RDONLY
    }) else {
        return Ok(());
    };
    let mut op = Op::new(
        MountKind::Device,
        "dev/console",
        &Origin::DevSymlink("/dev/console"),
    )?;
    op.mode = libc::S_IFREG | 0o666;
    op.opts = mount_opts::CREATE_TARGET;
    ops.insert(at, op);
    Ok(())
}

/// Whether a bind of `src` cloned by the controller (in the host's mount
/// namespace) gives a user-namespaced container the same mount as the
/// stub's own bind inside it would: the stub's copy of the host's mounts
/// is locked (the kernel locks the read-only, nosuid, nodev, noexec and
/// atime flags, and mounts over hidden contents, of mounts copied into a
/// less privileged user namespace), a clone made on the host is not, and
/// the container's root could remount it read-write. So only when the
/// mount holding `src` (per `mountinfo`, the last mounted at the longest
/// mount point above it) has none of `ro`, `nosuid`, `nodev`, `noexec`,
/// and nothing is mounted below `src` (a non-recursive clone would show
/// what such a mount hides). Paths as `mountinfo` spells them; an
/// unreadable source is not cloned.
fn clone_keeps_locks(src: &Path, mountinfo: &str) -> bool {
    let Ok(src) = std::fs::canonicalize(src) else {
        return false;
    };
    let mut holder: Option<(usize, &str)> = None;
    for m in mountinfo.lines().filter_map(MountLine::parse) {
        let mnt = Path::new(&m.mount_point);
        if mnt != src && mnt.starts_with(&src) {
            return false; // something mounted below the source
        }
        if src.starts_with(mnt) {
            let depth = mnt.components().count();
            if holder.is_none_or(|(d, _)| depth >= d) {
                holder = Some((depth, m.options));
            }
        }
    }
    holder.is_some_and(|(_, opts)| {
        !opts
            .split(',')
            .any(|o| matches!(o, "ro" | "nosuid" | "nodev" | "noexec"))
    })
}

/// The fields of one `/proc/self/mountinfo` line that [`clone_keeps_locks`]
/// and [`no_pivot_covers`] read (proc(5): 4 root, 5 mount point,
/// 6 per-mount options, the type after the `-` separator).
struct MountLine<'a> {
    /// Field 4: the root of the mount within its filesystem.
    root: &'a str,
    /// Field 5, its octal escapes (`\040` ...) decoded.
    mount_point: String,
    /// Field 6: the per-mount options (`rw,nosuid,...`).
    options: &'a str,
    /// The filesystem type (`proc`, `ext4` ...).
    fstype: &'a str,
}

impl<'a> MountLine<'a> {
    /// `None` for a line without those fields.
    fn parse(line: &'a str) -> Option<MountLine<'a>> {
        let fields: Vec<&str> = line.split(' ').collect();
        Some(MountLine {
            root: fields.get(3)?,
            mount_point: crate::cgroups::unescape_mount(fields.get(4)?),
            options: fields.get(5)?,
            fstype: fields.iter().skip_while(|f| **f != "-").nth(1)?,
        })
    }
}

/// For `--no-pivot` (runc's `msMoveRoot`): every procfs and sysfs mount
/// point of the host (`mountinfo`: the whole filesystem, root `/`; not one
/// inside `rootfs`), deepest first, which the controller covers with a
/// read-only tmpfs in the container's mount namespace after the
/// createContainer hooks, before the stub moves the rootfs onto `/`
/// ([`crate::sys::mount_tmpfs_covers`]). `MS_MOVE` and `chroot` leave the
/// host's mounts in that namespace, and there a fully visible procfs lets
/// a process with `CAP_SYS_ADMIN` in a user namespace of its own mount a
/// new procfs without the masked and read-only paths (runc 1.1.5's
/// `no_pivot.bats`); a covered one does not count (the kernel's
/// `mount_too_revealing`).
pub fn no_pivot_covers(mountinfo: &str, rootfs: &Path) -> Vec<CString> {
    mountinfo
        .lines()
        .rev()
        .filter_map(MountLine::parse)
        .filter(|m| m.root == "/" && matches!(m.fstype, "proc" | "sysfs"))
        .filter(|m| !Path::new(&m.mount_point).starts_with(rootfs))
        .filter_map(|m| CString::new(m.mount_point).ok())
        .collect()
}

/// Everything before `pivot_root`: mounts, devices, `/dev` symlinks.
pub fn before_pivot(mounts: &[Mount], devices: &[LinuxDevice], ctx: &Context) -> Result<Vec<Op>> {
    let mut ops = Vec::new();
    // The rootfs, opened at the first target that may be a symlink.
    let mut root: Option<Option<std::os::fd::OwnedFd>> = None;
    for (i, m) in mounts.iter().enumerate() {
        let mut new = mount_ops(i, m, ctx)?;
        if let Some(rootfs) = ctx.rootfs {
            for op in new.iter_mut().filter(|op| {
                op.kind == MountKind::Mount
                    && op.opts & (mount_opts::CREATE_TARGET | mount_opts::NO_SYMLINKS)
                        == mount_opts::CREATE_TARGET
                    && !op.cgroup_bind
            }) {
                let earlier: Vec<&CString> = ops.iter().map(|o: &Op| &o.target).collect();
                let covered = |p: &str| {
                    let p = CString::new(p).unwrap_or_default();
                    earlier.iter().any(|t| **t == p || below(&p, t))
                };
                let target = op.target.to_string_lossy().into_owned();
                if covered(&target) {
                    continue;
                }
                let fd = root.get_or_insert_with(|| crate::copyup::open_dir_path(rootfs).ok());
                let Some(fd) = fd.as_ref() else { break };
                if let Some(t) =
                    crate::dangling::follow(std::os::fd::AsFd::as_fd(fd), &target, covered)
                {
                    if t == "." {
                        crate::bail!(
                            "{}: a symlink in the rootfs leads to the container's root /",
                            op.origin
                        );
                    }
                    op.target = CString::new(t).map_err(|_| {
                        Error::invalid(format!(
                            "{}: a symlink in the rootfs leads to a path with NUL",
                            op.origin
                        ))
                    })?;
                }
            }
        }
        ops.append(&mut new);
    }
    let dest_is = |m: &Mount, d: &str| rootfs_relative(&m.destination().to_string_lossy()) == d;
    // runc's needsSetupDev: a bind-mounted /dev is used as it is.
    if mounts.iter().any(|m| dest_is(m, "dev") && is_bind(m)) {
        return Ok(ops);
    }
    for (path, major, minor) in DEFAULT_DEVICES {
        if devices
            .iter()
            .any(|d| rootfs_relative(&d.path().to_string_lossy()) == rootfs_relative(path))
        {
            continue; // linux.devices overrides a default
        }
        let origin = Origin::DefaultDevice(path);
        ops.push(device_op(
            &origin,
            path,
            libc::S_IFCHR | 0o666,
            major,
            minor,
            0,
            0,
            ctx,
        )?);
    }
    for (i, d) in devices.iter().enumerate() {
        ops.push(spec_device(i, d, ctx)?);
    }
    let mut links: Vec<(&'static str, &'static str)> = vec![
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    if mounts.iter().any(|m| dest_is(m, "dev/pts")) {
        links.push(("/dev/ptmx", "pts/ptmx"));
    }
    if ctx.kcore && mounts.iter().any(|m| dest_is(m, "proc")) {
        links.push(("/dev/core", "/proc/kcore"));
    }
    for (path, content) in links {
        let origin = Origin::DevSymlink(path);
        ops.push(
            Op::new(MountKind::Symlink, &rootfs_relative(path), &origin)?.with_source(content)?,
        );
    }
    // runc's `mountPropagate` and `finalizeRootfs`: a read-only /dev (not
    // a bind) is mounted writable, filled (its submounts, nodes and
    // links), and remounted read-only last (its devpts target could not
    // be made on it before).
    if let Some(dev) = ops.iter_mut().find(|o| {
        o.kind == MountKind::Mount
            && o.target.as_bytes() == b"dev"
            && o.flags & (ms::BIND | ms::REMOUNT) == 0
            && o.flags & ms::RDONLY != 0
    }) {
        dev.flags &= !ms::RDONLY;
        let mut remount = Op::new(MountKind::Mount, "dev", &dev.origin.clone())?;
        // MS_BIND: the mount's flags only (runc's `remountReadonly`; also
        // allowed in a user namespace).
        remount.flags = dev.flags | ms::REMOUNT | ms::BIND | ms::RDONLY;
        ops.push(remount);
    }
    // The stub creates nodes with the controller's ids (outside a user
    // namespace it runs with them unchanged).
    let root =
        !ctx.userns && nix::unistd::geteuid().is_root() && nix::unistd::getegid().as_raw() == 0;
    mark_fresh_parents(&mut ops, root);
    mark_at_cwd(&mut ops);
    Ok(ops)
}

/// Whether `mount(2)` of `op` (a Mount op that calls it: not MOVE_FD)
/// resolves no relative path against the working directory: a bind or
/// a move resolves its source there, a new mount of a block-device
/// filesystem its source, overlayfs the `lowerdir=`/`upperdir=`/`workdir=`
/// of its data, and a plain remount hands its data to the filesystem.
fn resolves_no_relative_path(op: &Op) -> bool {
    let f = op.flags;
    let pathless = matches!(
        op.fstype.as_deref().map(|t| t.to_bytes()),
        Some(b"proc" | b"sysfs" | b"tmpfs" | b"devpts" | b"mqueue" | b"cgroup" | b"cgroup2")
    );
    if f & ms::REMOUNT != 0 {
        return f & ms::BIND != 0 || op.data.is_none() || pathless;
    }
    if f & ms::BIND != 0 {
        return op
            .source
            .as_deref()
            .is_some_and(|s| s.to_bytes().starts_with(b"/"));
    }
    if f & (ms::SHARED | ms::PRIVATE | ms::SLAVE | ms::UNBINDABLE) != 0 {
        return true;
    }
    f & ms::MOVE == 0 && pathless
}

/// Sets [`mount_opts::AT_CWD`] on the Mount ops that may mount onto their
/// target as the stub's working directory: those that resolve no
/// relative path ([`resolves_no_relative_path`]) after the last one that
/// does (which needs the caller's working directory, unmoved, when it
/// runs: the stub does not move back).
fn mark_at_cwd(ops: &mut [Op]) {
    let calls = |op: &Op| op.kind == MountKind::Mount && op.opts & mount_opts::MOVE_FD == 0;
    let from = ops
        .iter()
        .rposition(|op| calls(op) && !resolves_no_relative_path(op))
        .map_or(0, |i| i + 1);
    for op in ops.iter_mut().skip(from) {
        if calls(op) && resolves_no_relative_path(op) {
            op.opts |= mount_opts::AT_CWD;
        }
    }
}

/// Sets [`mount_opts::FRESH_PARENT`] on the mounts (with CREATE_TARGET)
/// whose target's parent is a tmpfs an earlier op mounted, unless an
/// earlier op had the same target: there the target is all but certainly
/// missing, and the stub creates it without looking first (`/dev/pts`,
/// `/dev/shm`, `/sys/fs/cgroup/<hierarchy>` in runc's default spec). A
/// hint only: a wrong one costs the stub one `EEXIST`.
///
/// Also sets [`mount_opts::OWNER_OK`] on device nodes owned by 0:0 in such
/// a tmpfs (its `mode=` without the set-group-ID bit) when the stub runs
/// as uid and gid 0 (`root_stub`): `mknod` gives them that owner already,
/// so the stub skips the `chown`.
fn mark_fresh_parents(ops: &mut [Op], root_stub: bool) {
    use std::collections::HashSet;
    let mut fresh: HashSet<Vec<u8>> = HashSet::new();
    let mut no_setgid: HashSet<Vec<u8>> = HashSet::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    for op in ops.iter_mut() {
        let target = op.target.as_bytes().to_vec();
        let parent = target
            .iter()
            .rposition(|&c| c == b'/')
            .map(|i| target[..i].to_vec());
        let in_fresh = parent.as_ref().is_some_and(|p| fresh.contains(p));
        if op.kind == MountKind::Mount
            && op.opts & mount_opts::CREATE_TARGET != 0
            && !seen.contains(&target)
            && in_fresh
        {
            op.opts |= mount_opts::FRESH_PARENT;
        }
        let owner_ok = root_stub
            && op.kind == MountKind::Device
            && op.opts & mount_opts::BIND_DEVICE == 0
            && (op.uid, op.gid) == (0, 0)
            && parent.as_ref().is_some_and(|p| no_setgid.contains(p));
        if owner_ok {
            op.opts |= mount_opts::OWNER_OK;
        }
        let new_tmpfs = op.kind == MountKind::Mount
            && op.fstype.as_deref() == Some(c"tmpfs")
            && op.flags & (ms::REMOUNT | ms::BIND | ms::MOVE) == 0
            && op.tree.is_none();
        if new_tmpfs {
            fresh.insert(target.clone());
            if !tmpfs_mode_setgid(op.data.as_deref()) {
                no_setgid.insert(target.clone());
            }
        } else if op.kind == MountKind::Mount {
            // Anything else mounted there: no longer the plan's tmpfs.
            fresh.remove(&target);
            no_setgid.remove(&target);
        }
        seen.insert(target);
    }
}

/// Whether tmpfs mount data (`mode=1777,size=...`) gives the root
/// directory the set-group-ID bit (new entries then take its group); an
/// unreadable mode counts as set.
fn tmpfs_mode_setgid(data: Option<&std::ffi::CStr>) -> bool {
    let data = data
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    data.split(',')
        .filter_map(|o| o.strip_prefix("mode="))
        .any(|m| u32::from_str_radix(m, 8).map_or(true, |m| m & 0o2000 != 0))
}

/// Which namespaces the container has (new or joined), for sysctl checks.
#[derive(Clone, Copy, Debug, Default)]
pub struct NsPresence {
    /// A network namespace.
    pub net: bool,
    /// An IPC namespace.
    pub ipc: bool,
    /// A UTS namespace.
    pub uts: bool,
}

/// IPC sysctls that are namespaced (runc's `validateSysctl`); `fs.mqueue.*`
/// too.
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// `linux.sysctl` as `WriteFile` ops on `/proc/sys/...`, sorted by key.
///
/// Errors (runc's rules): a key whose namespace the container does not
/// have (`net.*` needs a network namespace, IPC keys an IPC namespace,
/// `kernel.domainname` a UTS namespace), any other key, or a malformed
/// key; `kernel.hostname` always (runc's validator: it conflicts with the
/// config's `hostname`).
pub fn sysctl_ops(sysctl: &HashMap<String, String>, ns: NsPresence) -> Result<Vec<Op>> {
    let mut keys: Vec<&String> = sysctl.keys().collect();
    keys.sort();
    let mut ops = Vec::new();
    for key in keys {
        let origin = Origin::Sysctl(key.clone());
        let dotted = key.replace('/', ".");
        if dotted.split('.').any(|c| c.is_empty() || c == "..")
            || !dotted
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            crate::bail!("{origin}: not a valid sysctl name");
        }
        if dotted == "kernel.hostname" {
            // runc refuses it too: the config's `hostname` is the one way
            // to set it, and both at once would silently disagree.
            crate::bail!(
                "{origin}: not allowed, it conflicts with the config's hostname field (set hostname instead)"
            );
        }
        let needs = if dotted.starts_with("net.") {
            Some((ns.net, "network"))
        } else if IPC_SYSCTLS.contains(&dotted.as_str()) || dotted.starts_with("fs.mqueue.") {
            Some((ns.ipc, "IPC"))
        } else if dotted == "kernel.domainname" {
            Some((ns.uts, "UTS"))
        } else {
            None
        };
        match needs {
            None => crate::bail!("{origin}: not a namespaced sysctl; it would change the host"),
            Some((false, name)) => {
                crate::bail!("{origin}: needs its own {name} namespace (linux.namespaces has none)")
            }
            Some((true, _)) => {}
        }
        let path = format!("/proc/sys/{}", dotted.replace('.', "/"));
        ops.push(Op::new(MountKind::WriteFile, &path, &origin)?.with_data(&sysctl[key])?);
    }
    Ok(ops)
}

/// The path of [`time_offsets_op`]'s write.
const TIMENS_OFFSETS: &std::ffi::CStr = c"/proc/self/timens_offsets";

/// Removes the op of [`time_offsets_op`] from `ops` and returns its text
/// (`None` without one), for a caller that writes the offsets itself:
/// createContainer hooks enter the container's time namespace before
/// pivot_root, and once a process is in it the offsets can no longer be
/// written (time_namespaces(7): `EACCES`), so `create` writes them to
/// `/proc/PID/timens_offsets` before those hooks run.
pub fn take_time_offsets(ops: &mut Vec<Op>) -> Option<CString> {
    let i = ops
        .iter()
        .position(|o| o.kind == MountKind::WriteFile && o.target.as_c_str() == TIMENS_OFFSETS)?;
    ops.remove(i).data
}

/// `linux.timeOffsets` as a `WriteFile` of `/proc/self/timens_offsets`
/// (time_namespaces(7): one `<clock> <secs> <nanosecs>` line per clock,
/// written after the stub's `unshare(CLONE_NEWTIME)` and before anything
/// entered the namespace; the first op after pivot_root, so the
/// container's /proc — which `mounts` must provide — is there).
///
/// Errors: a clock other than `monotonic`/`boottime`, nanoseconds of a
/// second or more, no `proc` mount at `/proc`.
pub fn time_offsets_op(
    offsets: &HashMap<String, oci_spec::runtime::LinuxTimeOffset>,
    mounts: &[Mount],
) -> Result<Op> {
    let origin = Origin::TimeOffsets;
    let mut clocks: Vec<&String> = offsets.keys().collect();
    clocks.sort();
    let mut text = String::new();
    for clock in clocks {
        if clock != "monotonic" && clock != "boottime" {
            crate::bail!(
                "{origin} \"{clock}\": not a clock of a time namespace (monotonic, boottime)"
            );
        }
        let o = &offsets[clock];
        let ns = o.nanosecs().unwrap_or(0);
        if ns >= 1_000_000_000 {
            crate::bail!("{origin} \"{clock}\": nanosecs {ns} is a second or more");
        }
        text.push_str(&format!("{clock} {} {ns}\n", o.secs().unwrap_or(0)));
    }
    let proc = mounts.iter().any(|m| {
        rootfs_relative(&m.destination().to_string_lossy()) == "proc"
            && m.typ().as_deref() == Some("proc")
    });
    if !proc {
        crate::bail!(
            "{origin}: needs /proc mounted in the container (a \"proc\" mount at /proc) to write the offsets"
        );
    }
    let path = TIMENS_OFFSETS.to_str().expect("ASCII");
    Op::new(MountKind::WriteFile, path, &origin)?.with_data(&text)
}

/// `linux.readonlyPaths` then `linux.maskedPaths` (absolute paths, after
/// pivot; a missing path is skipped by the stub).
pub fn path_ops(readonly: &[String], masked: &[String]) -> Result<Vec<Op>> {
    let mut ops = Vec::new();
    for (index, path) in readonly.iter().enumerate() {
        let origin = Origin::ReadonlyPath {
            index,
            path: path.clone(),
        };
        if !path.starts_with('/') {
            crate::bail!("{origin}: must be an absolute path");
        }
        ops.push(Op::new(MountKind::ReadonlyPath, path, &origin)?);
    }
    for (index, path) in masked.iter().enumerate() {
        let origin = Origin::MaskedPath {
            index,
            path: path.clone(),
        };
        if !path.starts_with('/') {
            crate::bail!("{origin}: must be an absolute path");
        }
        let mut op = Op::new(MountKind::Mask, path, &origin)?;
        if MASKED_DIRS.contains(&path.trim_end_matches('/')) {
            op.opts |= mount_opts::MASK_DIR;
        }
        ops.push(op);
    }
    Ok(ops)
}

/// Masked paths of the usual specs (runc's, Docker's, Podman's) that the
/// kernel makes directories: masked with a tmpfs, which the stub tries
/// first for them ([`mount_opts::MASK_DIR`], a hint: a file there costs it
/// one `ENOTDIR`).
const MASKED_DIRS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/scsi",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/sys/dev/block",
];

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxDeviceBuilder, MountBuilder};

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn splits_flags_and_data() {
        let o =
            parse_options(&opts(&["nosuid", "strictatime", "mode=755", "size=65536k"])).unwrap();
        assert_eq!(o.flags, ms::NOSUID | ms::STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.propagation, 0);

        let o = parse_options(&opts(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]))
        .unwrap();
        assert_eq!(o.flags, ms::NOSUID | ms::NOEXEC);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn later_words_win_and_clear() {
        let o = parse_options(&opts(&["ro", "rw", "nodev", "dev", "noexec"])).unwrap();
        assert_eq!(o.flags, ms::NOEXEC);
        let o = parse_options(&opts(&["rw", "ro", "suid", "nosuid"])).unwrap();
        assert_eq!(o.flags, ms::RDONLY | ms::NOSUID);
        let o = parse_options(&opts(&[
            "async", "sync", "dirsync", "remount", "mand", "nomand",
        ]))
        .unwrap();
        assert_eq!(o.flags, ms::SYNCHRONOUS | ms::DIRSYNC | ms::REMOUNT);
        let o = parse_options(&opts(&[
            "noatime",
            "atime",
            "nodiratime",
            "relatime",
            "norelatime",
        ]))
        .unwrap();
        assert_eq!(o.flags, ms::NODIRATIME);
        let o = parse_options(&opts(&[
            "diratime",
            "strictatime",
            "nostrictatime",
            "defaults",
        ]))
        .unwrap();
        assert_eq!(o.flags, 0);
    }

    #[test]
    fn bind_and_propagation() {
        let o = parse_options(&opts(&["rbind", "rprivate", "ro"])).unwrap();
        assert_eq!(o.flags, ms::BIND | ms::REC | ms::RDONLY);
        assert_eq!(o.propagation, ms::PRIVATE | ms::REC);
        for (w, p) in [
            ("private", ms::PRIVATE),
            ("shared", ms::SHARED),
            ("rshared", ms::SHARED | ms::REC),
            ("slave", ms::SLAVE),
            ("rslave", ms::SLAVE | ms::REC),
            ("unbindable", ms::UNBINDABLE),
            ("runbindable", ms::UNBINDABLE | ms::REC),
        ] {
            assert_eq!(
                parse_options(&opts(&["bind", w])).unwrap().propagation,
                p,
                "{w}"
            );
        }
    }

    #[test]
    fn recursive_and_idmap_options() {
        let o = parse_options(&opts(&["rbind", "rro", "rnosuid", "rnoatime", "ridmap"])).unwrap();
        assert_eq!(o.flags, ms::BIND | ms::REC);
        assert_eq!(o.rec_set, attr::RDONLY | attr::NOSUID | attr::NOATIME);
        assert_eq!(o.rec_clear, attr::ATIME_MASK);
        assert_eq!(o.rec_ms, (ms::RDONLY | ms::NOSUID | ms::NOATIME, 0));
        assert_eq!(o.idmap, Some(true));
        // Later words win, set and clear exclude each other.
        let o = parse_options(&opts(&["rro", "rrw", "rstrictatime", "idmap"])).unwrap();
        assert_eq!(o.rec_set, attr::STRICTATIME);
        assert_eq!(o.rec_clear, attr::RDONLY | attr::ATIME_MASK);
        assert_eq!(o.rec_ms, (ms::STRICTATIME, ms::RDONLY));
        assert_eq!(o.idmap, Some(false));
        assert_eq!(o.data, "");
    }

    #[test]
    fn rootfs_propagation_values() {
        assert_eq!(rootfs_propagation(None).unwrap(), 0);
        assert_eq!(rootfs_propagation(Some("")).unwrap(), 0);
        assert_eq!(
            rootfs_propagation(Some("rprivate")).unwrap(),
            ms::PRIVATE | ms::REC
        );
        assert_eq!(rootfs_propagation(Some("shared")).unwrap(), ms::SHARED);
        assert!(
            rootfs_propagation(Some("ro"))
                .unwrap_err()
                .to_string()
                .starts_with("linux.rootfsPropagation \"ro\"")
        );
    }

    #[test]
    fn relative_targets() {
        assert_eq!(rootfs_relative("/dev/pts"), "dev/pts");
        assert_eq!(rootfs_relative("//dev//./pts/"), "dev/pts");
        assert_eq!(rootfs_relative("/"), ".");
        assert_eq!(rootfs_relative("tmp"), "tmp");
        assert_eq!(rootfs_relative("/a/../b"), "b");
        assert_eq!(rootfs_relative("/../x"), "x");
        assert_eq!(below_root("/a/../b"), Ok("b".to_string()));
        assert_eq!(below_root("/dev/null"), Ok("dev/null".to_string()));
        for root in ["/", "", ".", "..", "/..", "/a/..", "./", "/dev/../"] {
            assert!(below_root(root).is_err(), "{root:?}");
        }
        assert_eq!(below_root("/../etc"), Ok("etc".to_string()));
    }

    #[test]
    fn flag_names() {
        assert_eq!(
            ms::names(ms::BIND | ms::REC | ms::RDONLY),
            ["MS_RDONLY", "MS_BIND", "MS_REC"]
        );
        assert_eq!(ms::names(1 << 40), ["0x10000000000"]);
    }

    const HYBRID: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 41 0:39 / /sys/fs/cgroup/unified/x rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn userns_binds_are_cloned_only_where_no_lock_is_lost() {
        let dir = std::env::temp_dir().join(format!("sprout-clk-{}", std::process::id()));
        let sub = dir.join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let d = dir.to_str().unwrap();
        let info = |extra: &str| {
            format!(
                "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
                 23 22 0:5 / /proc rw,nosuid,nodev,noexec - proc proc rw\n{extra}"
            )
        };
        assert!(clone_keeps_locks(&sub, &info("")));
        // Read-only (or nosuid ...) where the source lives: not cloned.
        let ro = info(&format!("30 22 0:9 / {d} ro,relatime - tmpfs t rw\n"));
        assert!(!clone_keeps_locks(&sub, &ro));
        let nosuid = info(&format!("30 22 0:9 / {d}/a rw,nosuid - tmpfs t rw\n"));
        assert!(!clone_keeps_locks(&sub, &nosuid));
        // A later rw mount on the same point is the one that counts.
        let over = format!("{ro}31 30 0:10 / {d} rw - tmpfs t rw\n");
        assert!(clone_keeps_locks(&sub, &over));
        // Something mounted below the source: not cloned.
        let below = info(&format!("30 22 0:9 / {d}/a/b/c rw - tmpfs t rw\n"));
        assert!(!clone_keeps_locks(&dir.join("a"), &below));
        assert!(!clone_keeps_locks(&dir.join("missing"), &info("")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_pivot_covers_every_full_host_proc_and_sysfs_deepest_first() {
        let info = "\
22 1 8:1 / / rw - ext4 /dev/sda1 rw
23 22 0:5 / /proc rw - proc proc rw
24 22 0:6 / /sys rw - sysfs sysfs rw
25 23 0:7 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw
26 22 0:5 /sys /run/procsys rw - proc proc rw
27 22 0:5 / /srv/b/rootfs/proc rw - proc proc rw
28 22 0:8 / /run/with\\040space rw - proc proc rw
";
        let covers = no_pivot_covers(info, Path::new("/srv/b/rootfs"));
        let paths: Vec<&str> = covers.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(paths, ["/run/with space", "/sys", "/proc"]);
    }

    #[test]
    fn cgroup_layout_from_mountinfo() {
        let l = CgroupLayout::from_mountinfo(HYBRID);
        assert!(!l.unified);
        // Not the hybrid host's cgroup2 `unified` (nor its submount).
        assert_eq!(l.hierarchies, ["cpu", "memory", "systemd"]);
        // Mount points come escaped (`\040` is a space, `\134` a backslash).
        let odd = CgroupLayout::from_mountinfo(
            "40 30 0:40 / /sys/fs/cgroup/sp\\040ace rw - cgroup cgroup rw,name=baz\n\
             41 30 0:29 / /sys/fs/cgroup/back\\134slash rw - cgroup cgroup rw,memory\n",
        );
        assert_eq!(odd.hierarchies, ["sp ace", "back\\slash"]);
        let v2 =
            CgroupLayout::from_mountinfo("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert!(v2.unified);
        assert!(v2.hierarchies.is_empty());
    }

    fn ctx<'a>(layout: &'a CgroupLayout, userns: bool) -> Context<'a> {
        Context {
            bundle: Path::new("/tmp"),
            userns,
            cgroupns: true,
            cgroups: layout,
            kcore: true,
            cgroup_path: None,
            id_maps: ("", ""),
            rootfs: None,
            shared_root: false,
        }
    }

    fn mount(dest: &str, typ: &str, src: &str, o: &[&str]) -> Mount {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(src)
            .options(opts(o))
            .build()
            .unwrap()
    }

    /// AT_CWD (the stub mounts onto the target as its working directory)
    /// only on ops that resolve no relative path, and only after the last
    /// one that does: an overlay's `upperdir=up` resolves against the
    /// caller's working directory, which nothing may have moved by then.
    #[test]
    fn at_cwd_only_after_the_last_op_resolving_a_relative_path() {
        let layout = CgroupLayout {
            unified: true,
            hierarchies: vec![],
            symlinks: vec![],
        };
        let dir = std::env::temp_dir();
        let src = dir.to_str().unwrap();
        let mounts = [
            mount("/proc", "proc", "proc", &[]),
            mount("/a", "tmpfs", "tmpfs", &["size=1m"]),
            mount("/b", "bind", src, &["rbind"]),
            mount(
                "/o",
                "overlay",
                "overlay",
                &["lowerdir=l,upperdir=up,workdir=w"],
            ),
            mount("/c", "tmpfs", "tmpfs", &[]),
            mount("/d", "bind", src, &["bind", "ro"]),
            mount("/e", "ext4", "img/dev", &[]),
            mount("/f", "sysfs", "sysfs", &[]),
            mount("/g", "overlay", "none", &["remount", "lowerdir=x"]),
        ];
        let at = |ops: &[Op]| -> Vec<String> {
            ops.iter()
                .filter(|o| o.opts & mount_opts::AT_CWD != 0)
                .map(|o| o.target.to_str().unwrap().to_string())
                .collect()
        };
        let ops = before_pivot(&mounts[..3], &[], &ctx(&layout, false)).unwrap();
        assert_eq!(at(&ops), ["proc", "a", "b"]);
        let ops = before_pivot(&mounts[..6], &[], &ctx(&layout, false)).unwrap();
        assert_eq!(at(&ops), ["c", "d"]);
        let ops = before_pivot(&mounts, &[], &ctx(&layout, false)).unwrap();
        assert_eq!(at(&ops), Vec::<String>::new());
        let ops = before_pivot(&mounts[6..8], &[], &ctx(&layout, false)).unwrap();
        assert_eq!(at(&ops), ["f"]);
        // A plain remount without data.
        let ro = mount("/c", "tmpfs", "tmpfs", &["remount", "ro"]);
        let ops = before_pivot(&[mounts[4].clone(), ro], &[], &ctx(&layout, false)).unwrap();
        assert_eq!(at(&ops), ["c", "c"]);
    }

    #[test]
    fn cgroup_v1_expansion() {
        let layout = CgroupLayout {
            unified: false,
            hierarchies: vec!["cpu".into(), "memory".into()],
            symlinks: vec![("cpuacct".into(), "cpu".into())],
        };
        let m = mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        );
        let ops = before_pivot(&[m], &[], &ctx(&layout, false)).unwrap();
        let ops: Vec<&Op> = ops
            .iter()
            .filter(|o| matches!(o.origin, Origin::Mount { .. }))
            .collect();
        assert_eq!(ops.len(), 4, "{ops:#?}");
        assert_eq!(ops[0].fstype.as_deref().unwrap().to_str().unwrap(), "tmpfs");
        assert_eq!(ops[0].target.to_str().unwrap(), "sys/fs/cgroup");
        assert_eq!(
            ops[0].flags,
            ms::NOSUID | ms::NODEV | ms::NOEXEC | ms::RELATIME
        );
        assert_eq!(
            ops[0].data.as_deref().unwrap().to_str().unwrap(),
            "mode=755"
        );
        assert_eq!(ops[1].target.to_str().unwrap(), "sys/fs/cgroup/cpu");
        assert_eq!(
            ops[1].source.as_deref().unwrap().to_str().unwrap(),
            "/sys/fs/cgroup/cpu"
        );
        assert_eq!(ops[1].flags, ms::BIND);
        assert_eq!(
            ops[1].remount_flags,
            ms::REMOUNT | ms::BIND | ms::RDONLY | ms::NOSUID | ms::NODEV | ms::NOEXEC
        );
        assert_eq!(ops[3].kind, MountKind::Symlink);
        assert_eq!(ops[3].target.to_str().unwrap(), "sys/fs/cgroup/cpuacct");
        // No read-only remount of the tmpfs (runc 1.1.5 leaves it writable).
    }

    /// runc's default mounts: /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue
    /// and /sys need no cgroup; the join comes before the cgroup tmpfs.
    #[test]
    fn the_cgroup_is_joined_before_the_first_op_that_needs_it() {
        let layout = CgroupLayout {
            unified: false,
            hierarchies: vec!["cpu".into(), "memory".into()],
            symlinks: vec![],
        };
        let plain = [
            mount("/proc", "proc", "proc", &[]),
            mount("/dev", "tmpfs", "tmpfs", &["nosuid", "mode=755"]),
            mount("/dev/pts", "devpts", "devpts", &["newinstance"]),
            mount("/dev/shm", "tmpfs", "shm", &["nodev"]),
            mount("/dev/mqueue", "mqueue", "mqueue", &[]),
            mount("/sys", "sysfs", "sysfs", &["ro"]),
        ];
        let cg = mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"]);
        let join_at = |ops: &[Op]| {
            let at: Vec<usize> = (0..ops.len())
                .filter(|&i| ops[i].kind == MountKind::JoinCgroup)
                .collect();
            assert_eq!(at.len(), 1, "one JoinCgroup op");
            at[0]
        };
        let mounts: Vec<Mount> = plain.iter().cloned().chain([cg.clone()]).collect();
        let mut ops = before_pivot(&mounts, &[], &ctx(&layout, false)).unwrap();
        place_join_cgroup(&mut ops);
        let at = join_at(&ops);
        // After the cgroup mount's tmpfs (it needs no cgroup), before its
        // first bind.
        assert_eq!(ops[at - 1].target.to_str().unwrap(), "sys/fs/cgroup");
        assert_eq!(ops[at - 1].fstype.as_deref(), Some(c"tmpfs"));
        assert_eq!(ops[at + 1].target.to_str().unwrap(), "sys/fs/cgroup/cpu");
        assert!(ops[..at - 1].iter().all(|o| o.kind == MountKind::Mount
            && matches!(o.origin, Origin::Mount { index, .. } if index < plain.len())));
        assert_eq!(ops[at].origin.to_string(), "linux.cgroupsPath");
        // Placed once.
        place_join_cgroup(&mut ops);
        assert_eq!(join_at(&ops), at);

        // Without a cgroup mount: before the first device node.
        let mut ops = before_pivot(&plain, &[], &ctx(&layout, false)).unwrap();
        place_join_cgroup(&mut ops);
        let at = join_at(&ops);
        assert!(at >= plain.len() && ops[at + 1].kind != MountKind::Mount);
        // A bind from a host cgroup directory, or into /sys/fs/cgroup.
        for m in [
            mount("/x", "bind", "/sys/fs/cgroup/memory", &["rbind"]),
            mount("/sys/fs/cgroup/x", "tmpfs", "tmpfs", &[]),
        ] {
            let mut ops = before_pivot(&[m], &[], &ctx(&layout, false)).unwrap();
            place_join_cgroup(&mut ops);
            assert_eq!(join_at(&ops), 0);
        }
        // A filesystem on a block device: its open is checked against the
        // devices cgroup, so the join comes first wherever it is.
        let m = mount("/mnt", "ext4", "/dev/loop0", &[]);
        let mounts: Vec<Mount> = plain.iter().take(1).cloned().chain([m]).collect();
        let mut ops = before_pivot(&mounts, &[], &ctx(&layout, false)).unwrap();
        place_join_cgroup(&mut ops);
        assert_eq!(join_at(&ops), 1);
        // Not fooled by a lookalike name.
        let m = mount("/sys/fs/cgroupx", "tmpfs", "tmpfs", &[]);
        let mut ops = before_pivot(&[m], &[], &ctx(&layout, false)).unwrap();
        place_join_cgroup(&mut ops);
        assert_eq!(join_at(&ops), 1);
        // Nothing but plain mounts: last.
        let tmpfs = Op::new(MountKind::Mount, "a", &Origin::TimeOffsets)
            .and_then(|o| o.with_fstype("tmpfs"))
            .unwrap();
        let mut ops = vec![tmpfs.clone()];
        place_join_cgroup(&mut ops);
        assert_eq!(join_at(&ops), 1);
        // A mount of unknown type (no fstype, no bind): first.
        let mut ops = vec![
            Op::new(MountKind::Mount, "a", &Origin::TimeOffsets).unwrap(),
            tmpfs,
        ];
        place_join_cgroup(&mut ops);
        assert_eq!(join_at(&ops), 0);
    }

    /// The v1 cgroup tmpfs stays writable whether the `cgroup` entry is
    /// `ro` or not, as runc 1.1.5 leaves it (sprout used to remount it
    /// read-only with `ro`, and systemd as the container's init could not
    /// make its controller symlinks there): no remount, and the config's
    /// later mounts, below it or elsewhere, follow in their order.
    #[test]
    fn the_cgroup_tmpfs_is_never_remounted() {
        let layout = CgroupLayout {
            unified: false,
            hierarchies: vec!["cpu".into()],
            symlinks: vec![],
        };
        let tmpfs = |d: &str| mount(d, "tmpfs", "tmpfs", &[]);
        for opt in ["ro", "rw"] {
            let cg = mount("/sys/fs/cgroup", "cgroup", "cgroup", &[opt, "nosuid"]);
            let mounts = [
                cg,
                tmpfs("/sys/fs/cgroup/foo"),
                tmpfs("/run"),
                tmpfs("/sys/fs/cgroup/bar"),
            ];
            let ops = before_pivot(&mounts, &[], &ctx(&layout, false)).unwrap();
            let ops: Vec<&Op> = ops
                .iter()
                .filter(|o| matches!(o.origin, Origin::Mount { .. }))
                .collect();
            let targets: Vec<&str> = ops.iter().map(|o| o.target.to_str().unwrap()).collect();
            assert_eq!(
                targets,
                [
                    "sys/fs/cgroup",
                    "sys/fs/cgroup/cpu",
                    "sys/fs/cgroup/foo",
                    "run",
                    "sys/fs/cgroup/bar"
                ],
                "{opt}"
            );
            assert!(ops.iter().all(|o| o.flags & ms::REMOUNT == 0), "{opt}");
            assert_eq!(ops[0].flags & ms::RDONLY, 0, "{opt}");
            // The hierarchy's bind follows the entry's `ro`/`rw`.
            assert_eq!(ops[1].remount_flags & ms::RDONLY != 0, opt == "ro", "{opt}");
        }
    }

    #[test]
    fn explicit_cgroup2_on_a_v1_host_is_a_cgroup2_mount() {
        let layout = CgroupLayout {
            unified: false,
            hierarchies: vec!["cpu".into()],
            symlinks: vec![],
        };
        let m = mount("/sys/fs/cgroup/u2", "cgroup2", "cgroup2", &["nosuid"]);
        let ops = before_pivot(&[m], &[], &ctx(&layout, false)).unwrap();
        let ops: Vec<&Op> = ops
            .iter()
            .filter(|o| matches!(o.origin, Origin::Mount { .. }))
            .collect();
        assert_eq!(ops.len(), 1, "{ops:#?}");
        assert_eq!(ops[0].fstype.as_deref(), Some(c"cgroup2"));
        assert_eq!(ops[0].target.to_str().unwrap(), "sys/fs/cgroup/u2");
        assert_eq!(ops[0].flags & ms::BIND, 0);
    }

    #[test]
    fn cgroup_v1_binds_the_containers_own_cgroup() {
        let layout = CgroupLayout {
            unified: false,
            hierarchies: vec!["memory".into()],
            symlinks: vec![],
        };
        let m = mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"]);
        let mut c = ctx(&layout, false);
        c.cgroup_path = Some(Path::new("/parent/ctr-1"));
        let ops = mount_ops(0, &m, &c).unwrap();
        assert_eq!(ops[1].target.to_str().unwrap(), "sys/fs/cgroup/memory");
        assert_eq!(
            ops[1].source.as_deref().unwrap().to_str().unwrap(),
            "/sys/fs/cgroup/memory/parent/ctr-1"
        );
        assert_eq!(
            ops[1].opts,
            mount_opts::CREATE_TARGET | mount_opts::OPTIONAL
        );
    }

    #[test]
    fn cgroup_v2_is_a_cgroup2_mount() {
        let layout = CgroupLayout {
            unified: true,
            ..Default::default()
        };
        let m = mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"]);
        let ops = mount_ops(0, &m, &ctx(&layout, false)).unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(
            ops[0].fstype.as_deref().unwrap().to_str().unwrap(),
            "cgroup2"
        );
        assert_eq!(
            ops[0].flags,
            ms::RDONLY | ms::NOSUID | ms::NODEV | ms::NOEXEC
        );
    }

    #[test]
    fn bind_mounts() {
        let dir = std::env::temp_dir().join(format!("sprout-mounts-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("file"), "x").unwrap();
        let layout = CgroupLayout::default();
        let c = Context {
            bundle: &dir,
            userns: false,
            cgroupns: false,
            cgroups: &layout,
            kcore: false,
            cgroup_path: None,
            id_maps: ("", ""),
            rootfs: None,
            shared_root: false,
        };

        let m = mount("/data", "none", "data", &["rbind", "ro", "nosuid"]);
        let op = &mount_ops(3, &m, &c).unwrap()[0];
        assert_eq!(
            op.source.as_deref().unwrap().to_str().unwrap(),
            dir.join("data").to_str().unwrap()
        );
        assert_eq!(op.target.to_str().unwrap(), "data");
        assert_eq!(op.flags, ms::BIND | ms::REC | ms::RDONLY | ms::NOSUID);
        assert_eq!(
            op.remount_flags,
            ms::REMOUNT | ms::BIND | ms::RDONLY | ms::NOSUID
        );
        assert_eq!(op.opts, mount_opts::CREATE_TARGET);
        assert_eq!(op.fstype, None);

        let m = mount("/etc/x", "bind", &dir.join("file").to_string_lossy(), &[]);
        let op = &mount_ops(0, &m, &c).unwrap()[0];
        assert_eq!(op.opts, mount_opts::CREATE_TARGET | mount_opts::TARGET_FILE);
        assert_eq!(op.flags, ms::BIND);
        assert_eq!(op.remount_flags, 0);

        let m = mount("/nope", "none", "/does/not/exist", &["bind"]);
        assert_eq!(
            mount_ops(2, &m, &c).unwrap_err().to_string(),
            "mounts[2] \"/nope\": source \"/does/not/exist\": stat: No such file or directory (ENOENT)"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_and_symlinks() {
        let layout = CgroupLayout::default();
        let mounts = [
            mount("/proc", "proc", "proc", &[]),
            mount("/dev", "tmpfs", "tmpfs", &["nosuid", "mode=755"]),
            mount("/dev/pts", "devpts", "devpts", &[]),
        ];
        let fuse = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .file_mode(0o600u32)
            .build()
            .unwrap();
        let null = LinuxDeviceBuilder::default()
            .path("/dev/null")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .uid(5u32)
            .build()
            .unwrap();
        let ops = before_pivot(&mounts, &[fuse, null], &ctx(&layout, false)).unwrap();
        let devs: Vec<&Op> = ops.iter().filter(|o| o.kind == MountKind::Device).collect();
        let targets: Vec<&str> = devs.iter().map(|o| o.target.to_str().unwrap()).collect();
        assert_eq!(
            targets,
            [
                "dev/zero",
                "dev/full",
                "dev/random",
                "dev/urandom",
                "dev/tty",
                "dev/fuse",
                "dev/null"
            ]
        );
        assert_eq!(devs[0].mode, libc::S_IFCHR | 0o666);
        assert_eq!((devs[0].major, devs[0].minor), (1, 5));
        assert_eq!(devs[5].mode, libc::S_IFCHR | 0o600);
        assert_eq!(devs[6].uid, 5);
        // (OWNER_OK: 0:0 in the /dev tmpfs, when these tests run as root.)
        assert_eq!(
            devs[4].opts & !mount_opts::OWNER_OK,
            mount_opts::CREATE_TARGET
        );
        assert_eq!(devs[6].opts, mount_opts::CREATE_TARGET, "uid 5: chowned");
        let links: Vec<(&str, &str)> = ops
            .iter()
            .filter(|o| o.kind == MountKind::Symlink)
            .map(|o| {
                (
                    o.target.to_str().unwrap(),
                    o.source.as_deref().unwrap().to_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            links,
            [
                ("dev/fd", "/proc/self/fd"),
                ("dev/stdin", "/proc/self/fd/0"),
                ("dev/stdout", "/proc/self/fd/1"),
                ("dev/stderr", "/proc/self/fd/2"),
                ("dev/ptmx", "pts/ptmx"),
                ("dev/core", "/proc/kcore"),
            ]
        );

        // In a user namespace devices are bound from the host.
        let ops = before_pivot(&mounts[..2], &[], &ctx(&layout, true)).unwrap();
        let d = ops.iter().find(|o| o.kind == MountKind::Device).unwrap();
        assert_eq!(d.source.as_deref().unwrap().to_str().unwrap(), "/dev/null");
        assert_eq!(
            d.opts,
            mount_opts::CREATE_TARGET | mount_opts::BIND_DEVICE | mount_opts::TARGET_FILE
        );
        assert!(!ops.iter().any(|o| o.target.to_str().unwrap() == "dev/ptmx"));
    }

    #[test]
    fn bind_mounted_dev_gets_no_devices() {
        let layout = CgroupLayout::default();
        let m = mount("/dev", "bind", "/dev", &["rbind"]);
        let ops = before_pivot(&[m], &[], &ctx(&layout, false)).unwrap();
        assert_eq!(ops.len(), 1);
    }

    #[test]
    fn origins_escape_control_characters() {
        let o = Origin::Sysctl("net.a\nb\u{1b}[31m".into());
        assert_eq!(o.to_string(), "linux.sysctl \"net.a\\nb\\u{1b}[31m\"");
        let o = Origin::Mount {
            index: 2,
            destination: "/é d".into(),
        };
        assert_eq!(o.to_string(), "mounts[2] \"/é d\"");
    }

    #[test]
    fn sysctl_kernel_hostname_is_refused() {
        let all = NsPresence {
            net: true,
            ipc: true,
            uts: true,
        };
        for key in ["kernel.hostname", "kernel/hostname"] {
            let s = HashMap::from([(key.to_string(), "x".to_string())]);
            let e = sysctl_ops(&s, all).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("linux.sysctl \"{key}\": not allowed")),
                "{e}"
            );
            assert!(e.contains("hostname field"), "{e}");
        }
        let s = HashMap::from([("kernel.domainname".to_string(), "x".to_string())]);
        assert_eq!(sysctl_ops(&s, all).unwrap().len(), 1);
    }

    #[test]
    fn sysctls_need_their_namespace() {
        let mut s = HashMap::new();
        s.insert("net.ipv4.ip_forward".to_string(), "1".to_string());
        s.insert("kernel.shmmax".to_string(), "100".to_string());
        let all = NsPresence {
            net: true,
            ipc: true,
            uts: true,
        };
        let ops = sysctl_ops(&s, all).unwrap();
        assert_eq!(ops[0].target.to_str().unwrap(), "/proc/sys/kernel/shmmax");
        assert_eq!(
            ops[1].target.to_str().unwrap(),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(ops[1].data.as_deref().unwrap().to_str().unwrap(), "1");
        assert_eq!(ops[1].kind, MountKind::WriteFile);

        let e = sysctl_ops(
            &s,
            NsPresence {
                net: false,
                ipc: true,
                uts: true,
            },
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.sysctl \"net.ipv4.ip_forward\": needs its own network namespace (linux.namespaces has none)"
        );
        let e = sysctl_ops(
            &s,
            NsPresence {
                net: true,
                ipc: false,
                uts: true,
            },
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("kernel.shmmax\": needs its own IPC namespace"),
            "{e}"
        );
        let mut bad = HashMap::new();
        bad.insert("vm.swappiness".to_string(), "1".to_string());
        assert!(
            sysctl_ops(&bad, all)
                .unwrap_err()
                .to_string()
                .contains("not a namespaced sysctl")
        );
        let mut bad = HashMap::new();
        bad.insert("net/../../x".to_string(), "1".to_string());
        assert!(
            sysctl_ops(&bad, all)
                .unwrap_err()
                .to_string()
                .contains("not a valid sysctl name")
        );
    }

    #[test]
    fn masked_and_readonly_paths() {
        let ops = path_ops(
            &opts(&["/proc/sys"]),
            &opts(&["/proc/kcore", "/sys/firmware"]),
        )
        .unwrap();
        assert_eq!(
            ops.iter().map(|o| o.kind).collect::<Vec<_>>(),
            [MountKind::ReadonlyPath, MountKind::Mask, MountKind::Mask]
        );
        assert_eq!(ops[2].target.to_str().unwrap(), "/sys/firmware");
        assert_eq!(ops[2].opts, mount_opts::MASK_DIR);
        assert_eq!(ops[1].opts, 0, "/proc/kcore is a file");
        assert_eq!(
            ops[2].origin.to_string(),
            "linux.maskedPaths[1] \"/sys/firmware\""
        );
        assert!(path_ops(&opts(&["proc"]), &[]).is_err());
    }

    #[test]
    fn cgroup_trees_are_marked_after_the_join_only_where_the_clone_is_the_same() {
        let layout = CgroupLayout {
            unified: false,
            hierarchies: vec!["cpu".into(), "memory".into()],
            symlinks: vec![],
        };
        let cg_path = Path::new("/sprout/c");
        let with_path = Context {
            cgroup_path: Some(cg_path),
            ..ctx(&layout, false)
        };
        let mounts = [
            mount("/proc", "proc", "proc", &[]),
            mount("/sys", "sysfs", "sysfs", &["ro"]),
            mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"]),
            // A config bind that reads like a cgroup directory.
            mount(
                "/sys/fs/cgroup/x",
                "bind",
                "/sys/fs/cgroup/../cgroup",
                &["bind", "ro"],
            ),
            // A second cgroup mount: its binds go into another tmpfs.
            mount("/cg2", "cgroup", "cgroup", &[]),
        ];
        let ops = before_pivot(&mounts, &[], &with_path).unwrap();
        let marked = |ops: &[Op]| -> Vec<(String, u32)> {
            ops.iter()
                .filter(|o| o.opts & mount_opts::CGROUP_TREE != 0)
                .map(|o| (o.target.to_str().unwrap().to_string(), o.major))
                .collect()
        };
        let parents = |ops: &[Op]| -> Vec<String> {
            ops.iter()
                .filter(|o| o.opts & mount_opts::CGROUP_TREE_PARENT != 0)
                .map(|o| o.target.to_str().unwrap().to_string())
                .collect()
        };
        let mut joined = ops.clone();
        place_join_cgroup(&mut joined);
        let mut ok = joined.clone();
        mark_cgroup_trees(&mut ok, 0, false);
        // The first cgroup mount's two binds, numbered; its tmpfs is the
        // parent, and comes before the join.
        let want = vec![
            ("sys/fs/cgroup/cpu".to_string(), 0),
            ("sys/fs/cgroup/memory".to_string(), 1),
        ];
        assert_eq!(marked(&ok), want);
        assert_eq!(parents(&ok), ["sys/fs/cgroup"]);
        let join = ok
            .iter()
            .position(|o| o.kind == MountKind::JoinCgroup)
            .unwrap();
        let parent = ok
            .iter()
            .position(|o| o.opts & mount_opts::CGROUP_TREE_PARENT != 0)
            .unwrap();
        assert!(parent < join);
        assert_eq!(
            ok[join + 1].source.as_deref(),
            Some(c"/sys/fs/cgroup/cpu/sprout/c")
        );
        for p in [ms::SLAVE | ms::REC, ms::PRIVATE, ms::PRIVATE | ms::REC] {
            let mut again = joined.clone();
            mark_cgroup_trees(&mut again, p, false);
            assert_eq!(marked(&again), want, "{p:#x}");
        }
        // A user namespace, a shared or unbindable root: the stub clones.
        for (p, userns) in [
            (0, true),
            (ms::SHARED | ms::REC, false),
            (ms::UNBINDABLE | ms::REC, false),
        ] {
            let mut none = joined.clone();
            mark_cgroup_trees(&mut none, p, userns);
            assert!(marked(&none).is_empty(), "{p:#x} {userns}");
            assert!(parents(&none).is_empty(), "{p:#x} {userns}");
        }
        // Without a join op, or with it after the binds: nothing.
        let mut no_join = ops.clone();
        mark_cgroup_trees(&mut no_join, 0, false);
        assert!(marked(&no_join).is_empty());
        // Without the cgroup's path (`sprout plan`): nothing.
        let mut no_path = before_pivot(&mounts, &[], &ctx(&layout, false)).unwrap();
        place_join_cgroup(&mut no_path);
        mark_cgroup_trees(&mut no_path, 0, false);
        assert!(marked(&no_path).is_empty());
    }

    #[test]
    fn cgroup_tree_attributes_mirror_the_stubs_clone() {
        let a = cgroup_tree_attr(
            ms::REMOUNT | ms::BIND | ms::RDONLY | ms::NOSUID | ms::NODEV | ms::NOEXEC,
            0,
        )
        .unwrap();
        assert_eq!(
            a.attr_set,
            attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC
        );
        assert_eq!(a.attr_clr, attr::NODIRATIME | attr::NOSYMFOLLOW);
        assert_eq!(a.propagation, ms::SLAVE);
        let b =
            cgroup_tree_attr(ms::REMOUNT | ms::BIND | ms::NOATIME, ms::PRIVATE | ms::REC).unwrap();
        assert_eq!(b.attr_set, attr::NOATIME);
        assert_eq!(b.attr_clr & attr::ATIME_MASK, attr::ATIME_MASK);
        assert_eq!(b.attr_clr & attr::RDONLY, attr::RDONLY);
        assert_eq!(b.propagation, ms::PRIVATE);
        assert_eq!(
            cgroup_tree_attr(ms::REMOUNT | ms::BIND | ms::STRICTATIME, 0)
                .unwrap()
                .attr_set,
            attr::STRICTATIME
        );
        assert!(cgroup_tree_attr(ms::REMOUNT | ms::BIND | ms::SYNCHRONOUS, 0).is_none());
    }

    #[test]
    fn fresh_parent_and_owner_hints() {
        let o = Origin::DefaultDevice("/dev/null");
        let tmpfs = |t: &str, data: &str| {
            let mut op = Op::new(MountKind::Mount, t, &o)
                .unwrap()
                .with_fstype("tmpfs")
                .unwrap()
                .with_data(data)
                .unwrap();
            op.opts = mount_opts::CREATE_TARGET;
            op
        };
        let mount = |t: &str| {
            let mut op = Op::new(MountKind::Mount, t, &o)
                .unwrap()
                .with_fstype("devpts")
                .unwrap();
            op.opts = mount_opts::CREATE_TARGET;
            op
        };
        let dev = |t: &str, uid: u32| {
            let mut op = Op::new(MountKind::Device, t, &o).unwrap();
            op.uid = uid;
            op
        };
        let mut ops = vec![
            mount("dev/x"),            // 0: before the tmpfs: no hint
            tmpfs("dev", "mode=755"),  // 1
            mount("dev/pts"),          // 2: fresh
            mount("dev/pts"),          // 3: same target again: no hint
            dev("dev/null", 0),        // 4: owner ok
            dev("dev/tty", 5),         // 5: another owner: chown
            tmpfs("run", "mode=2775"), // 6: set-group-ID
            dev("run/x", 0),           // 7: chown
            mount("run/a/b"),          // 8: parent not the tmpfs itself
        ];
        mark_fresh_parents(&mut ops, true);
        let fresh: Vec<bool> = ops
            .iter()
            .map(|o| o.opts & mount_opts::FRESH_PARENT != 0)
            .collect();
        assert_eq!(
            fresh,
            [false, false, true, false, false, false, false, false, false]
        );
        let owner: Vec<bool> = ops
            .iter()
            .map(|o| o.opts & mount_opts::OWNER_OK != 0)
            .collect();
        assert_eq!(
            owner,
            [false, false, false, false, true, false, false, false, false]
        );
        // Not root (or a user namespace): every node is chowned.
        let mut again = ops.clone();
        for op in &mut again {
            op.opts &= !mount_opts::OWNER_OK;
        }
        mark_fresh_parents(&mut again, false);
        assert!(again.iter().all(|o| o.opts & mount_opts::OWNER_OK == 0));
    }
}
