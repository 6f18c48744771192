#![deny(unsafe_code)]
//! The container's cgroup: create, join, limit, freeze, signal, measure,
//! remove.
//!
//! One [`Cgroup`] is one path (`linux.cgroupsPath`) present in every
//! hierarchy the host has:
//! - **Legacy** (v1 only): a directory in each v1 hierarchy, controllers
//!   and named ones (`name=systemd`) alike.
//! - **Hybrid** (v1 + a controller-less cgroup2 at `/sys/fs/cgroup/unified`,
//!   this project's reference host): the v1 directories do all resource
//!   control; the process also joins the unified hierarchy, as runc does,
//!   so that `/proc/PID/cgroup` shows `0::/path` and `cgroup.kill` works.
//!   We never write the unified root's `cgroup.subtree_control`.
//! - **Unified** (cgroup2 only): one directory; the controllers listed in the
//!   root's `cgroup.controllers` are enabled in every ancestor's
//!   `cgroup.subtree_control` (as runc and libcgroups do).
//!
//! Resource writes and stats go through youki's libcgroups (0.7, features
//! v1+v2), and only when there is something to write or read: creating,
//! joining, freezing, signalling, pid listing and removal are direct
//! cgroupfs calls (building libcgroups' manager costs about 540
//! syscalls). On top of it this module does what libcgroups leaves to the
//! caller (see shared/design/libcgroups-check.md): creating the
//! directories itself (exclusively, before anything is applied), keeping
//! the shared parent `/sprout` set up for cheap children, joining the
//! unified and named hierarchies, exact device rules
//! (libcgroups always appends its own allow-list; see `devices.rs`),
//! OOM kill counts, thaw-before-kill, killing every process with
//! `cgroup.kill` or freeze/signal/thaw, recursive removal including the
//! parents we created, and one-line errors that name the OCI field.
//!
//! Order used by the lifecycle (runc `process_linux.go`, "so that no
//! children can escape the cgroup"): `create_with` before the stub is
//! spawned; the spawned child joins by itself before its exec
//! ([`Cgroup::join_fds`], see `join.rs`: no pid written to `cgroup.procs`,
//! so no wait for an RCU grace period); [`Cgroup::add_task`] is the
//! pid-writing way in for other callers. `apply` works before or after a
//! join (directories exist from `create` on).
//!
//! Per container on a hybrid host this is, in the usual case: 10 mkdir(2),
//! the device rules (one reset and 12 allows through 2 fds, one read-back),
//! 9 `tasks` writes by the child plus `CLONE_INTO_CGROUP`, and 10 rmdir(2);
//! the shared parent `/sprout` is made once and stays.
//!
//! Units follow the OCI spec: bytes for memory, microseconds for cpu
//! quota/period, relative shares; stats report nanoseconds of cpu time and
//! bytes of memory, as runc's `events --stats` does.

mod devices;
mod direct;
mod join;
mod restore;
mod sub;
#[cfg(test)]
mod tests;
mod v1stats;

pub use join::{JoinFds, JoinFile, join_files_of};
pub use sub::SubCgroups;

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use libcgroups::common::{CgroupManager, ControllerOpt, WrappedIoError};
use nix::errno::Errno;
use nix::fcntl::FlockArg;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};
use serde_json::{Value, json};

use devices::{DevRule, DevState};

/// Root of all cgroup mounts.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Parent of every container cgroup when `linux.cgroupsPath` is not set.
pub const DEFAULT_PARENT: &str = "/sprout";
/// The OCI field every path-level error is reported under.
const PATH_FIELD: &str = "linux.cgroupsPath";

/// How long `remove` keeps killing and retrying `rmdir` on EBUSY.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The host's cgroup layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupSetup {
    /// cgroup v1 only.
    Legacy,
    /// cgroup v1 controllers plus a cgroup2 hierarchy at
    /// `/sys/fs/cgroup/unified` (usually without controllers).
    Hybrid,
    /// cgroup v2 only, mounted at `/sys/fs/cgroup`.
    Unified,
}

impl fmt::Display for CgroupSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupSetup::Legacy => "legacy",
            CgroupSetup::Hybrid => "hybrid",
            CgroupSetup::Unified => "unified",
        })
    }
}

/// Detect the host's cgroup layout from the filesystem types mounted at
/// `/sys/fs/cgroup` and `/sys/fs/cgroup/unified`, as libcgroups
/// `get_cgroup_setup` does with statfs(2), but read from
/// /proc/self/mountinfo (which [`Cgroup`] reads anyway): cgroup2 at the root
/// is Unified; tmpfs at the root is Hybrid with a cgroup2 at `unified`,
/// else Legacy. Errors if `/sys/fs/cgroup` is not mounted or is neither
/// tmpfs nor cgroup2.
pub fn setup() -> Result<CgroupSetup, CgroupError> {
    discover().map(|l| l.setup)
}

/// Errors of this module. Every message is one line and starts with the
/// OCI field it concerns (`linux.resources.<...>` or `linux.cgroupsPath`),
/// or with the command-line flag (`--cgroup "VALUE"` of `exec`).
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The configuration is invalid; found before anything was written.
    /// Example: `linux.resources.cpu.period: 500 is out of range 1000-1000000 (microseconds)`.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The kernel refused a value.
    /// Example: `linux.resources.memory.limit: write "1" to memory.limit_in_bytes: Device or resource busy`.
    #[error("{field}: write {value:?} to {file}: {}", errno_text(.source))]
    Rejected {
        field: String,
        file: String,
        value: String,
        source: io::Error,
    },
    /// A resource section this host cannot honour (missing controller, v2-only key on v1, ...).
    #[error("{field}: {reason}")]
    Unsupported { field: String, reason: String },
    /// `create` found the cgroup in use by processes (runc refuses it the same way).
    #[error("linux.cgroupsPath: cgroup {path} is not empty: {count} process(es) found")]
    InUse { path: PathBuf, count: usize },
    /// `create` found the cgroup frozen.
    #[error("linux.cgroupsPath: cgroup {path} is frozen")]
    Frozen { path: PathBuf },
    /// Another `create` is setting up a container in the same cgroup right
    /// now (it holds the claim, see [`Cgroup::create`]).
    #[error("linux.cgroupsPath: cgroup {path} is being set up by another container")]
    Claimed { path: PathBuf },
    /// An operation on the cgroup's files failed (mkdir, join, freeze, kill, rmdir ...).
    #[error("linux.cgroupsPath: cgroup {path}: {op} {file}: {}", errno_text(.source))]
    Io {
        path: PathBuf,
        op: &'static str,
        file: PathBuf,
        source: io::Error,
    },
    /// A failure reported by libcgroups that could not be tied to one file.
    #[error("{field}: {msg}")]
    Other { field: String, msg: String },
}

impl CgroupError {
    fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CgroupError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The errno behind the error, if the kernel gave one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            CgroupError::Rejected { source, .. } | CgroupError::Io { source, .. } => {
                source.raw_os_error().map(Errno::from_raw)
            }
            _ => None,
        }
    }
}

/// `Invalid argument` rather than `Invalid argument (os error 22)`.
fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// Short result alias.
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// One v1 hierarchy directory of this cgroup.
#[derive(Clone, Debug)]
struct V1Dir {
    /// Controllers of the hierarchy, e.g. `["cpu"]`, `["cpu", "cpuacct"]`,
    /// or `["name=systemd"]`.
    controllers: Vec<String>,
    /// Mount point of the hierarchy.
    mount: PathBuf,
    /// `mount` + cgroup path.
    dir: PathBuf,
}

impl V1Dir {
    fn has(&self, ctrl: &str) -> bool {
        self.controllers.iter().any(|c| c == ctrl)
    }
    /// Named hierarchies (no controller) are joined best-effort.
    fn named_only(&self) -> bool {
        self.controllers.iter().all(|c| c.starts_with("name="))
    }
}

enum Manager {
    V1(libcgroups::v1::Manager),
    V2(libcgroups::v2::manager::Manager),
}

/// A container's cgroup (see the module docs for what it spans).
///
/// Cheap to re-create from the path with [`Cgroup::open`]; nothing is kept
/// open, except the claim a `create` holds until the object is dropped.
/// Not removed on drop: call [`Cgroup::remove`].
pub struct Cgroup {
    /// Cleaned absolute cgroup path, e.g. `/sprout/abc`.
    path: PathBuf,
    setup: CgroupSetup,
    v1: Vec<V1Dir>,
    /// (mount, dir) in the cgroup2 hierarchy: the only hierarchy on Unified
    /// hosts, the join-only one on Hybrid hosts.
    unified: Option<(PathBuf, PathBuf)>,
    /// Built on first use: libcgroups' v1 `Manager::new` costs about
    /// 1.8 ms here (about 540 syscalls: a private procfs mount, hardened
    /// /proc reads), so only `apply` with limits and `stats` pay for it.
    manager: OnceLock<Manager>,
    /// Topmost ancestor of `path` (a cgroup path) that we created and may
    /// remove again once it is empty.
    created_ancestor: Option<PathBuf>,
    /// Directories this object created, for cleanup when `create` fails
    /// (never the shared default parent).
    created_dirs: Vec<PathBuf>,
    /// `create` made the v1 devices directory itself: no process and no
    /// sub-cgroup is in it yet, so its rules can be set with a reset.
    devices_fresh: bool,
    /// `create`'s claim: `cgroup.procs` of the cgroup's directory in its
    /// first controller hierarchy, open with an exclusive `flock(2)` on it;
    /// released on drop.
    claim: Option<fs::File>,
    /// The cgroup2 directory [`Cgroup::begin`] made before the rest (a
    /// Hybrid host), until [`Cgroup::finish`] succeeds; removed on drop
    /// otherwise (the stub that was born in it is gone by then).
    premade: Option<PathBuf>,
    /// Made by [`Cgroup::begin`] from [`quick_hybrid`] alone: the v1
    /// hierarchies are not known yet ([`Cgroup::finish`] reads them).
    partial: bool,
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if let Some(d) = self.premade.take() {
            let _ = rmdir_retry(&d, Instant::now() + Duration::from_millis(200));
        }
    }
}

impl fmt::Debug for Cgroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cgroup")
            .field("path", &self.path)
            .field("setup", &self.setup)
            .field("v1", &self.v1)
            .field("unified", &self.unified)
            .field("created_ancestor", &self.created_ancestor)
            .finish()
    }
}

/// Lexically clean `p` as if rooted at `/`: drop `.`, resolve `..` without
/// going above the root. Always absolute.
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// `/a/b` -> `a/b`, for joining under a mount point.
fn rel(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

fn io_err(path: &Path, op: &'static str, file: &Path, source: io::Error) -> CgroupError {
    CgroupError::Io {
        path: path.to_path_buf(),
        op,
        file: file.to_path_buf(),
        source,
    }
}

fn write_file(file: &Path, data: &str) -> io::Result<()> {
    // cgroup files want one write(2) of the whole value, without O_TRUNC/O_CREAT.
    use std::io::Write;
    fs::OpenOptions::new()
        .write(true)
        .open(file)?
        .write_all(data.as_bytes())
}

/// Read a small kernel file (cgroup interface files, mountinfo) whole:
/// open, read(2) into a 4 KiB buffer (doubled while full) until EOF, close.
/// Unlike `fs::read_to_string` there is no fstat for a size hint (always 0
/// on these files) and no 32-byte first read.
fn read_small(file: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut f = fs::File::open(file)?;
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    // A host mount point may hold any bytes (mountinfo escapes only
    // space, tab, newline and backslash): such a line reads lossily, as
    // nothing sprout looks for is in it, rather than failing every
    // command on this host.
    Ok(String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// `kill(2)` of one pid with a raw signal number 0-64: nix's `Signal`
/// has no real-time signals, so those go through a pidfd
/// (`pidfd_send_signal(2)`, the same siginfo as `kill`).
fn send_signal(pid: i32, sig: i32) -> std::result::Result<(), Errno> {
    match Signal::try_from(sig) {
        Ok(s) => kill(Pid::from_raw(pid), s),
        Err(_) if sig == 0 => kill(Pid::from_raw(pid), None),
        Err(_) => crate::sys::pidfd_send_signal(&crate::sys::pidfd_open(pid)?, sig),
    }
}

/// Read `cgroup.procs` of `dir` and of every cgroup below it.
fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> io::Result<()> {
    let text = read_small(&dir.join("cgroup.procs"))?;
    out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            match procs_recursive(&entry.path(), out) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                r => r?,
            }
        }
    }
    Ok(())
}

/// Sub-cgroups of `dir`, deepest first (so they can be removed in order).
fn subdirs_deepest_first(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = fs::read_dir(dir) {
        for entry in rd.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                subdirs_deepest_first(&entry.path(), out);
                out.push(entry.path());
            }
        }
    }
}

/// rmdir `dir` and every cgroup below it, deepest first, each with
/// [`rmdir_retry`]; on failure, the directory that could not be removed.
fn rmdir_tree(dir: &Path, deadline: Instant) -> std::result::Result<(), (PathBuf, io::Error)> {
    let mut dirs = Vec::new();
    subdirs_deepest_first(dir, &mut dirs);
    dirs.push(dir.to_path_buf());
    for d in dirs {
        rmdir_retry(&d, deadline).map_err(|e| (d, e))?;
    }
    Ok(())
}

/// rmdir with retries on EBUSY (tasks still exiting) until `deadline`.
/// ENOENT counts as success.
fn rmdir_retry(dir: &Path, deadline: Instant) -> io::Result<()> {
    let mut delay = Duration::from_millis(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(Errno::EBUSY as i32) && Instant::now() < deadline =>
            {
                sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// v1 hierarchies as (sorted controller names, mount point).
type V1Mounts = Vec<(Vec<String>, PathBuf)>;

/// What /proc/self/mountinfo says about the cgroup mounts.
#[derive(Clone)]
struct Layout {
    setup: CgroupSetup,
    /// v1 hierarchies (empty on Unified hosts is not enforced here).
    v1: V1Mounts,
    /// The first cgroup2 mount under /sys/fs/cgroup.
    v2: Option<PathBuf>,
}

/// The cgroup mounts of this mount namespace, from /proc/self/mountinfo:
/// (v1 hierarchies, cgroup2 mount).
#[cfg(test)]
fn discover_mounts() -> Result<(V1Mounts, Option<PathBuf>)> {
    discover().map(|l| (l.v1, l.v2))
}

/// The v1 hierarchies, the cgroup2 mount and the host layout (see
/// [`setup`]), from /proc/self/mountinfo read once per process: a `run`
/// opens the container's cgroup twice (create, remove), an `exec` twice
/// (status, join), and this process never changes its mount namespace.
fn discover() -> Result<Layout> {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    if let Some(l) = LAYOUT.get() {
        return Ok(l.clone());
    }
    let l = read_layout()?;
    Ok(LAYOUT.get_or_init(|| l).clone())
}

/// `/proc/self/mountinfo` (`proc(5)`), read once per process and shared
/// by the plan (the host's cgroup layout for the container's cgroup
/// mounts, `mounts.rs`) and the cgroup set-up: each read costs ~80 us
/// here, the kernel formatting every mount's options. The controller
/// never changes its own mount namespace. Errors: the open or read error
/// (the same one on every call).
pub fn mountinfo() -> io::Result<&'static str> {
    static TEXT: OnceLock<Result<String, i32>> = OnceLock::new();
    let text = TEXT.get_or_init(|| {
        read_small(Path::new("/proc/self/mountinfo"))
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    });
    match text {
        Ok(t) => Ok(t),
        Err(n) => Err(io::Error::from_raw_os_error(*n)),
    }
}

fn read_layout() -> Result<Layout> {
    let info = mountinfo()
        .map_err(|e| io_err(Path::new("/"), "read", Path::new("/proc/self/mountinfo"), e))?;
    layout_from(info)
}

/// [`read_layout`] of mountinfo text `info`.
fn layout_from(info: &str) -> Result<Layout> {
    let mut v1: V1Mounts = Vec::new();
    let mut v2 = None;
    // Filesystem types at /sys/fs/cgroup and /sys/fs/cgroup/unified; the
    // last mount on a path is the visible one.
    let mut root_fs: Option<String> = None;
    let mut unified_fs: Option<String> = None;
    for line in info.lines() {
        // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        // Only mounts at or below /sys/fs/cgroup matter: the others are
        // passed over without allocating (a host has dozens).
        let Some(point) = left.split(' ').nth(4) else {
            continue;
        };
        if !point.starts_with(CGROUP_ROOT) {
            continue;
        }
        let mut right = right.split(' ');
        let (Some(fstype), Some(_source), Some(superopts)) =
            (right.next(), right.next(), right.next())
        else {
            continue;
        };
        let point = if point.contains('\\') {
            std::borrow::Cow::Owned(unescape_mount(point))
        } else {
            std::borrow::Cow::Borrowed(point)
        };
        let below = point.strip_prefix(CGROUP_ROOT);
        if !matches!(below, Some(r) if r.is_empty() || r.starts_with('/')) {
            continue;
        }
        if below == Some("") {
            root_fs = Some(fstype.to_string());
        } else if below == Some("/unified") {
            unified_fs = Some(fstype.to_string());
        }
        match fstype {
            "cgroup2" if v2.is_none() => {
                v2 = Some(PathBuf::from(&*point));
            }
            "cgroup" => {
                let mut ctrls: Vec<&str> = superopts
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "xattr"
                                | "noprefix"
                                | "cpuset_v2_mode"
                                | "clone_children"
                                | "nosuid"
                                | "nodev"
                                | "noexec"
                                | "relatime"
                        ) && !o.starts_with("release_agent=")
                    })
                    .collect();
                ctrls.sort_unstable();
                if !ctrls.is_empty() && !v1.iter().any(|(c, _)| *c == ctrls) {
                    let ctrls = ctrls.into_iter().map(str::to_string).collect();
                    v1.push((ctrls, PathBuf::from(&*point)));
                }
            }
            _ => {}
        }
    }
    let setup = match root_fs.as_deref() {
        Some("cgroup2") => CgroupSetup::Unified,
        Some("tmpfs") if unified_fs.as_deref() == Some("cgroup2") => CgroupSetup::Hybrid,
        Some("tmpfs") => CgroupSetup::Legacy,
        other => {
            return Err(CgroupError::Unsupported {
                field: PATH_FIELD.into(),
                reason: format!(
                    "cannot detect the cgroup layout: {CGROUP_ROOT} is {}, neither tmpfs (cgroup v1) nor cgroup2",
                    match other {
                        Some(fs) => format!("a {fs} mount"),
                        None => "not a mount point".to_string(),
                    }
                ),
            });
        }
    };
    // The cgroup2 mount the setup was told by (the first one under
    // /sys/fs/cgroup otherwise, on a Legacy host): the same one that
    // [`quick_hybrid`] finds with statfs(2).
    let v2 = match setup {
        CgroupSetup::Unified => Some(PathBuf::from(CGROUP_ROOT)),
        CgroupSetup::Hybrid => Some(Path::new(CGROUP_ROOT).join("unified")),
        CgroupSetup::Legacy => v2,
    };
    Ok(Layout { setup, v1, v2 })
}

/// The Hybrid layout's cgroup2 mount, `/sys/fs/cgroup/unified`, from two
/// `statfs(2)` calls (tmpfs visible at `/sys/fs/cgroup`, cgroup2 at
/// `unified`): what [`read_layout`] concludes from mountinfo about the
/// same two visible mounts, without the read (about 80 µs here, on the way
/// to the stub's clone; the plan reads mountinfo after the clone anyway).
/// `None`: not such a host, or not known this way (then mountinfo).
fn quick_hybrid() -> Option<PathBuf> {
    use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, TMPFS_MAGIC, statfs};
    let fs_type = |p: &str| statfs(p).ok().map(|s| s.filesystem_type());
    (fs_type(CGROUP_ROOT) == Some(TMPFS_MAGIC)
        && fs_type("/sys/fs/cgroup/unified") == Some(CGROUP2_SUPER_MAGIC))
    .then(|| Path::new(CGROUP_ROOT).join("unified"))
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
pub(crate) fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Cgroup {
    /// Resolve `linux.cgroupsPath` to the cgroup path used in every hierarchy.
    ///
    /// `None` gives `/sprout/<id>`. An absolute path is used as is; a
    /// relative one is taken relative to the root of each hierarchy (so
    /// `a/b` and `/a/b` are the same cgroup). `.` and `..` are resolved
    /// lexically and can never climb above the hierarchy root. Paths are
    /// not interpreted as systemd `slice:prefix:name` triples.
    pub fn path_for(cgroups_path: Option<&Path>, id: &str) -> PathBuf {
        match cgroups_path {
            Some(p) if !p.as_os_str().is_empty() => clean(p),
            _ => clean(&Path::new(DEFAULT_PARENT).join(id)),
        }
    }

    /// Build the object for `path` without touching the filesystem.
    fn new(path: &Path) -> Result<Cgroup> {
        Cgroup::with_layout(path, discover()?)
    }

    /// The cgroup at `path` in the hierarchies of `layout`.
    fn with_layout(path: &Path, layout: Layout) -> Result<Cgroup> {
        let path = clean(path);
        if path == Path::new("/") {
            return Err(CgroupError::invalid(
                PATH_FIELD,
                "resolves to the root cgroup, which cannot be a container's cgroup",
            ));
        }
        let Layout {
            setup,
            v1: mounts,
            v2: v2mount,
        } = layout;
        let v1: Vec<V1Dir> = if setup == CgroupSetup::Unified {
            Vec::new()
        } else {
            mounts
                .into_iter()
                .map(|(controllers, mount)| V1Dir {
                    dir: mount.join(rel(&path)),
                    controllers,
                    mount,
                })
                .collect()
        };
        let unified = v2mount.map(|m| {
            let d = m.join(rel(&path));
            (m, d)
        });
        // The default parent `/sprout` is shared and stays (as runc's and
        // crun's parents do): it is never recorded as ours to remove.
        Ok(Cgroup {
            path,
            setup,
            v1,
            unified,
            manager: OnceLock::new(),
            created_ancestor: None,
            created_dirs: Vec::new(),
            devices_fresh: false,
            claim: None,
            premade: None,
            partial: false,
        })
    }

    /// Create the cgroup (a directory in every hierarchy; see module docs)
    /// and return it, with no process in it and nothing applied.
    ///
    /// - Usually the parents exist and this is one mkdir(2) per hierarchy.
    ///   Missing parents are created; the topmost one we create is
    ///   remembered ([`Cgroup::created_ancestor`]) so `remove` can delete it
    ///   when it becomes empty. The default parent `/sprout` is the
    ///   exception: it is shared by all containers and stays (runc and crun
    ///   keep theirs too).
    /// - v1 cpuset: parents we create get `cpuset.cpus`/`cpuset.mems` from
    ///   their own parent and `cgroup.clone_children` = 1, so that the
    ///   kernel copies both into every new child. A child that still comes
    ///   up empty (a parent made by someone else) is filled from its
    ///   parents when [`Cgroup::add_task`] gets ENOSPC, so tasks can always
    ///   join before `apply`.
    /// - On Hybrid hosts a failure to create the unified or a named (v1
    ///   `name=...`) directory is tolerated ("where we can"); controller
    ///   hierarchies must succeed.
    /// - An existing cgroup is adopted only if it is empty and not frozen;
    ///   otherwise [`CgroupError::InUse`] / [`CgroupError::Frozen`] (runc
    ///   1.1 only warns and goes on; runc 1.2 refuses a non-empty one too),
    ///   after removing the directories this call added to it (where it
    ///   existed in some hierarchies only); those that existed stay, with
    ///   their processes.
    /// - The result holds a claim on the cgroup until it is dropped (the
    ///   lifecycle keeps it until the container's first process has joined):
    ///   an exclusive, non-blocking `flock(2)` on `cgroup.procs` in the first
    ///   controller hierarchy, taken after the mkdirs and before the
    ///   emptiness check. Two creates racing on one `linux.cgroupsPath`
    ///   therefore never both get it. The second one waits (polling, up
    ///   to 3 s) while the first holds the claim, then starts over,
    ///   keeping the list of the directories it made itself across
    ///   attempts; it fails with [`CgroupError::InUse`] once the first
    ///   container's process is in the cgroup (or with
    ///   [`CgroupError::Claimed`] if the claim is still held after the
    ///   wait, removing nothing then). A refusing create (`InUse`,
    ///   `Frozen`) removes every directory it made that is still empty, one
    ///   rmdir(2) each, deepest first, and after letting go of the claim
    ///   retries for a moment the parents it made that still held a
    ///   racer's directory (that racer removes its own in turn): nothing in
    ///   use and nothing that existed is touched, and every directory a
    ///   racer made goes unless a winner uses it. The usual create (no
    ///   race) makes the same syscalls as before.
    ///   A directory removed under us (a concurrent delete) is made again.
    ///
    /// On error nothing that this call created is left behind (except
    /// `/sprout`).
    pub fn create(path: &Path) -> Result<Cgroup> {
        let mut cg = Cgroup::new(path)?;
        cg.create_or_undo()?;
        Ok(cg)
    }

    fn create_or_undo(&mut self) -> Result<()> {
        let mut attempts = 0;
        let mut claimed_waits = 0;
        loop {
            match self.create_dirs() {
                Ok(()) => return Ok(()),
                Err(e @ CgroupError::Claimed { .. }) => {
                    // Another create is setting this cgroup up right now
                    // and may count on the directories we made (its mkdir
                    // found them). Wait until it lets go (its process
                    // joined, or it failed and cleaned up), then start
                    // over, keeping the list of what we made: so that we
                    // remove it ourselves if we refuse or fail in the end.
                    self.claim = None;
                    if claimed_waits < 20 && self.wait_claim_free() {
                        claimed_waits += 1;
                        self.devices_fresh = false;
                        self.created_ancestor = None;
                        continue;
                    }
                    // Still held after seconds: nothing is removed (the
                    // holder may count on it).
                    self.created_dirs.clear();
                    return Err(e);
                }
                Err(e @ (CgroupError::InUse { .. } | CgroupError::Frozen { .. })) => {
                    // Someone else's busy or frozen cgroup: the directories
                    // we added to it go again, while we hold the claim (no
                    // create is setting it up meanwhile).
                    let busy = self.undo_refused();
                    self.claim = None;
                    // A parent we made that still held a racer's
                    // directory: that racer (waiting for our claim) takes
                    // its own away in a moment.
                    let deadline = Instant::now() + Duration::from_millis(300);
                    for d in busy {
                        let _ = rmdir_retry(&d, deadline);
                    }
                    self.created_dirs.clear();
                    return Err(e);
                }
                Err(CgroupError::Io { source, .. })
                    if source.kind() == io::ErrorKind::NotFound && attempts < 3 =>
                {
                    // Removed between our mkdir and the claim: start over.
                    attempts += 1;
                    self.claim = None;
                    self.undo_create();
                    self.created_dirs.clear();
                    self.devices_fresh = false;
                    self.created_ancestor = None;
                }
                Err(e) => {
                    // With the claim (if any) still held: some of these
                    // may be from an earlier attempt, and a racer waiting
                    // for the claim must not adopt one we are removing.
                    self.undo_create();
                    self.claim = None;
                    return Err(e);
                }
            }
        }
    }

    /// [`Cgroup::create`], then [`Cgroup::apply`] `resources`; if either
    /// fails, everything created is removed again before the error is
    /// returned. Invalid values are reported before any directory is made.
    pub fn create_with(path: &Path, resources: &LinuxResources) -> Result<Cgroup> {
        let mut cg = Cgroup::new(path)?;
        validate(resources, cg.setup)?;
        cg.create_or_undo()?;
        match cg.apply_inner(resources, cg.devices_fresh) {
            Ok(()) => Ok(cg),
            Err(e) => {
                cg.undo_create();
                Err(e)
            }
        }
    }

    /// First half of a create that overlaps the container's start
    /// (`launch::spawn_with`): validates `resources` and, on a Hybrid
    /// host, makes only the cgroup2 directory, returned open for
    /// `clone3(CLONE_INTO_CGROUP)` (joining it any other way takes the
    /// kernel's global threadgroup lock, see `join.rs`). The v1 directories
    /// and the limits follow in [`Cgroup::finish`] while the stub starts.
    ///
    /// `Ok(None)`, with nothing made, where that does not apply: a Unified
    /// host (everything is cgroup2 and must exist before the clone), or a
    /// cgroup2 directory that one mkdir cannot make (it exists already, a
    /// parent is missing): the caller then uses [`Cgroup::create_with`].
    /// A Legacy host has no cgroup2 directory: `Some((cgroup, None))`.
    /// On a Hybrid host the layout comes from two `statfs(2)` calls
    /// ([`quick_hybrid`]) and mountinfo is read by `finish`, after the
    /// clone; `finish` fails if the two disagree.
    ///
    /// Errors: invalid `resources`, as [`Cgroup::create_with`].
    pub fn begin(
        path: &Path,
        resources: &LinuxResources,
    ) -> Result<Option<(Cgroup, Option<OwnedFd>)>> {
        let mut cg = match quick_hybrid() {
            Some(v2) => {
                let quick = Layout {
                    setup: CgroupSetup::Hybrid,
                    v1: Vec::new(),
                    v2: Some(v2),
                };
                let mut cg = Cgroup::with_layout(path, quick)?;
                cg.partial = true;
                cg
            }
            None => Cgroup::new(path)?,
        };
        validate(resources, cg.setup)?;
        if cg.setup == CgroupSetup::Unified {
            return Ok(None);
        }
        let Some((_, dir)) = cg.unified.clone() else {
            return Ok(Some((cg, None)));
        };
        if fs::create_dir(&dir).is_err() {
            return Ok(None);
        }
        let opened = fs::File::options()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_DIRECTORY)
            .open(&dir);
        cg.premade = Some(dir);
        // Joining the controller-less cgroup2 of a Hybrid host is best-effort.
        Ok(Some((cg, opened.ok().map(OwnedFd::from))))
    }

    /// Second half of [`Cgroup::begin`]: [`Cgroup::create_with`]'s work in
    /// the v1 hierarchies (mkdir, claim, adoption rules, `resources`),
    /// then the `tasks` files the stub writes itself into
    /// ([`Cgroup::join_fds`]). On error what this call made is removed;
    /// the cgroup2 directory of `begin` goes when `self` is dropped (after
    /// the stub in it is gone).
    pub fn finish(&mut self, resources: &LinuxResources) -> Result<JoinFds> {
        if self.partial {
            let mut full = Cgroup::new(&self.path)?;
            if full.setup != CgroupSetup::Hybrid || full.unified != self.unified {
                return Err(CgroupError::Unsupported {
                    field: PATH_FIELD.into(),
                    reason: format!(
                        "the cgroup layout changed while the container started (now {})",
                        full.setup
                    ),
                });
            }
            self.v1 = std::mem::take(&mut full.v1);
            self.partial = false;
        }
        self.create_or_undo()?;
        let fds = self
            .apply_inner(resources, self.devices_fresh)
            .and_then(|()| self.join_fds());
        match fds {
            Ok(fds) => {
                if let Some(d) = self.premade.take() {
                    self.created_dirs.push(d);
                }
                Ok(fds)
            }
            Err(e) => {
                self.undo_create();
                Err(e)
            }
        }
    }

    /// The cgroup at `path` as created earlier (by another `sprout`
    /// process), for `start`, `kill`, `pause`, `update`, `events`, `delete`.
    /// Does not check that it exists (see [`Cgroup::exists`]); `remove` of a
    /// missing cgroup succeeds.
    ///
    /// Ownership of parents is not known here: no parent is treated as
    /// ours. Use [`Cgroup::with_created_ancestor`] with the value saved
    /// from [`Cgroup::created_ancestor`] at create time to restore it.
    pub fn open(path: &Path) -> Result<Cgroup> {
        Cgroup::new(path)
    }

    /// Restore the created-ancestor record saved in the container state
    /// (`None` = we created no parent). It must be `path` itself or one of
    /// its ancestors; anything else is ignored, and so is the shared
    /// default parent `/sprout` (which older versions recorded).
    pub fn with_created_ancestor(mut self, ancestor: Option<&Path>) -> Cgroup {
        self.created_ancestor = ancestor.map(clean).filter(|a| {
            a != Path::new("/") && a != Path::new(DEFAULT_PARENT) && self.path.starts_with(a)
        });
        self
    }

    /// The topmost cgroup path that `create` made (it did not exist
    /// before) and `remove` may delete, e.g. `/a` for `/a/b/c` when `/a`
    /// was missing, or the container's own path (`/sprout/<id>`: the
    /// default parent is never ours). Save it in the container state for
    /// `delete`.
    pub fn created_ancestor(&self) -> Option<&Path> {
        self.created_ancestor.as_deref()
    }

    /// The cgroup path (cleaned, absolute), e.g. `/sprout/abc`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The host layout this cgroup spans.
    pub fn setup(&self) -> CgroupSetup {
        self.setup
    }

    /// Every directory of this cgroup, v1 hierarchies first, then cgroup2.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.v1.iter().map(|d| d.dir.clone()).collect();
        if let Some((_, d)) = &self.unified {
            v.push(d.clone());
        }
        v
    }

    /// True if the cgroup directory exists in any hierarchy.
    pub fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.is_dir())
    }

    fn v1_dir(&self, ctrl: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|d| d.has(ctrl))
            .map(|d| d.dir.as_path())
    }

    /// The directory the kernel's v2 interface files live in, on Unified hosts.
    fn v2_dir(&self) -> Option<&Path> {
        match self.setup {
            CgroupSetup::Unified => self.unified.as_ref().map(|(_, d)| d.as_path()),
            _ => None,
        }
    }

    /// The libcgroups manager, built on first use.
    fn manager(&self) -> Result<&Manager> {
        if let Some(m) = self.manager.get() {
            return Ok(m);
        }
        let lib_err = |e: &dyn fmt::Display| CgroupError::Other {
            field: PATH_FIELD.into(),
            msg: format!("cgroup {}: {e}", self.path.display()),
        };
        let m = match (&self.setup, &self.unified) {
            (CgroupSetup::Unified, Some((mount, _))) => Manager::V2(
                libcgroups::v2::manager::Manager::new(mount.clone(), self.path.clone())
                    .map_err(|e| lib_err(&e))?,
            ),
            (CgroupSetup::Unified, None) => {
                return Err(CgroupError::Unsupported {
                    field: PATH_FIELD.into(),
                    reason: "no cgroup2 mount found".into(),
                });
            }
            _ => Manager::V1(libcgroups::v1::Manager::new(&self.path).map_err(|e| lib_err(&e))?),
        };
        Ok(self.manager.get_or_init(|| m))
    }

    /// mkdir -p in every hierarchy, recording what we made.
    fn create_dirs(&mut self) -> Result<()> {
        let mut existed_somewhere = false;
        // Per hierarchy: the topmost directory we made, or the leaf.
        let mut tops: Vec<PathBuf> = Vec::new();
        // (mount, dir, required, kind, is the devices hierarchy)
        let mut jobs: Vec<(PathBuf, PathBuf, bool, Kind, bool)> = Vec::new();
        for d in &self.v1 {
            let kind = if d.has("cpuset") {
                Kind::Cpuset
            } else {
                Kind::Plain
            };
            jobs.push((
                d.mount.clone(),
                d.dir.clone(),
                !d.named_only(),
                kind,
                d.has("devices"),
            ));
        }
        if let Some((m, d)) = &self.unified {
            match self.setup {
                CgroupSetup::Unified => {
                    jobs.push((m.clone(), d.clone(), true, Kind::V2Root, false))
                }
                _ => jobs.push((m.clone(), d.clone(), false, Kind::Plain, false)),
            }
        }
        for (mount, dir, required, kind, is_devices) in jobs {
            if self.premade.as_ref() == Some(&dir) {
                // Made by `begin`, with the stub in it now.
                tops.push(self.path.clone());
                continue;
            }
            // Fast path: the parents exist (the shared /sprout stays), so
            // one mkdir. Unified hosts always take the chain, which enables
            // the controllers in every ancestor.
            if kind != Kind::V2Root {
                match fs::create_dir(&dir) {
                    Ok(()) => {
                        self.created_dirs.push(dir.clone());
                        self.devices_fresh |= is_devices;
                        tops.push(self.path.clone());
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        existed_somewhere = true;
                        tops.push(self.path.clone());
                        if kind == Kind::Cpuset {
                            self.fill_cpuset(&mount, &dir)?;
                        }
                        continue;
                    }
                    // A parent is missing: the chain below.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(_) if !required => continue,
                    Err(e) => return Err(io_err(&self.path, "mkdir", &dir, e)),
                }
            }
            match self.mkdir_chain(&mount, &dir, kind) {
                Ok(Some(top)) => {
                    self.devices_fresh |= is_devices;
                    tops.push(top);
                }
                Ok(None) => {
                    existed_somewhere = true;
                    tops.push(self.path.clone());
                }
                Err(e) if !required => {
                    // "where we can": the unified/named join is best-effort on v1 hosts.
                    let _ = e;
                }
                Err(e) => return Err(e),
            }
        }
        // The ancestor we may remove later is the deepest of the per-
        // hierarchy tops (the leaf where it existed already): only that one
        // was made by us in every hierarchy. The shortest would remove, in
        // the others, a parent someone else made there (an admin's
        // /system.slice with its limits); runc never removes parents.
        let topmost = if self.created_dirs.is_empty() {
            None
        } else {
            tops.into_iter().max_by_key(|t| t.components().count())
        };
        self.created_ancestor = topmost.map(|top| self.owned_ancestor(top));
        self.take_claim()?;
        if existed_somewhere {
            // A create that refused this cgroup (in use, frozen) removed
            // the directories it had made, which our mkdir found: before
            // we got the claim, which it held meanwhile. Start over
            // (`create_or_undo` retries on NotFound).
            for d in &self.v1 {
                if !d.dir.is_dir() {
                    return Err(io_err(
                        &self.path,
                        "open",
                        &d.dir,
                        io::Error::from_raw_os_error(libc::ENOENT),
                    ));
                }
            }
            // Adopt only an empty, thawed cgroup (runc: "container's cgroup is not empty").
            let mut pids = BTreeSet::new();
            for dir in self.dirs() {
                if self.premade.as_ref() == Some(&dir) {
                    continue; // ours, fresh, with our stub in it
                }
                let mut v = Vec::new();
                match procs_recursive(&dir, &mut v) {
                    Ok(()) => pids.extend(v),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&self.path, "read", &dir.join("cgroup.procs"), e)),
                }
            }
            if !pids.is_empty() {
                return Err(CgroupError::InUse {
                    path: self.path.clone(),
                    count: pids.len(),
                });
            }
            if self.is_frozen().unwrap_or(false) {
                return Err(CgroupError::Frozen {
                    path: self.path.clone(),
                });
            }
        }
        Ok(())
    }

    /// Take the claim (see [`Cgroup::create`]) and check that no process
    /// is in the claimed directory: a create that got there first and
    /// finished in between (its claim released, its process joined) shows
    /// up here even when we made the directory ourselves.
    ///
    /// Errors: [`CgroupError::Claimed`], [`CgroupError::InUse`];
    /// [`CgroupError::Io`] with `NotFound` when the directory was removed
    /// meanwhile (the caller starts over).
    fn take_claim(&mut self) -> Result<()> {
        let Some(dir) = self.claim_dir() else {
            return Ok(());
        };
        // The lock is on `cgroup.procs` itself, which is then read through
        // the same fd: 4 syscalls in all (open, flock, read, close on drop).
        let procs = dir.join("cgroup.procs");
        let f = fs::File::open(&procs).map_err(|e| io_err(&self.path, "open", &procs, e))?;
        // (nix's `Flock` guard would add an unlock call before the close,
        // which releases the lock anyway; std's `File::try_lock` is newer
        // than the workspace's rust-version.)
        // A `begin` that made the cgroup2 directory (its stub is in it now)
        // waits a moment for a racing create that holds the claim: that one
        // fails on seeing the stub (`InUse`) and lets go, or it got to the
        // directories first and this one fails on its process below.
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut delay = Duration::from_micros(500);
        let locked = loop {
            #[allow(deprecated)]
            match nix::fcntl::flock(f.as_raw_fd(), FlockArg::LockExclusiveNonblock) {
                Err(Errno::EWOULDBLOCK) if self.premade.is_some() && Instant::now() < deadline => {
                    sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(20));
                }
                r => break r,
            }
        };
        match locked {
            Ok(()) => {}
            Err(Errno::EWOULDBLOCK) => {
                return Err(CgroupError::Claimed {
                    path: self.path.clone(),
                });
            }
            Err(e) => {
                return Err(io_err(
                    &self.path,
                    "flock",
                    &procs,
                    io::Error::from_raw_os_error(e as i32),
                ));
            }
        }
        // Empty or not is all that counts: one read.
        let mut buf = [0u8; 64];
        // ENODEV: the directory was removed after our open (a create that
        // refused the cgroup took away what it had made, see
        // `undo_refused`): as NotFound, so that the caller starts over.
        let n = io::Read::read(&mut &f, &mut buf).map_err(|e| {
            let e = match e.raw_os_error() {
                Some(libc::ENODEV) => io::Error::from_raw_os_error(libc::ENOENT),
                _ => e,
            };
            io_err(&self.path, "read", &procs, e)
        })?;
        // Held until drop: closing the file releases the lock.
        self.claim = Some(f);
        if n > 0 {
            let count = buf[..n].iter().filter(|b| **b == b'\n').count().max(1);
            return Err(CgroupError::InUse {
                path: self.path.clone(),
                count,
            });
        }
        Ok(())
    }

    /// The directory whose `cgroup.procs` carries the claim: the first v1
    /// controller hierarchy's, else the cgroup2 one.
    fn claim_dir(&self) -> Option<&Path> {
        match self.v1.iter().find(|d| !d.named_only()) {
            Some(d) => Some(&d.dir),
            None => self.unified.as_ref().map(|(_, d)| d.as_path()),
        }
    }

    /// Takes the claim for removing the cgroup: `Some(Ok(file))` holds it
    /// (until dropped), `Some(Err(()))` when another process holds it (a
    /// create adopting the cgroup), `None` when this object holds it
    /// already or there is nothing to claim (gone, or unreadable: removal
    /// goes on as before).
    fn claim_for_removal(&self) -> Option<std::result::Result<fs::File, ()>> {
        if self.claim.is_some() {
            return None; // ours already
        }
        let procs = self.claim_dir()?.join("cgroup.procs");
        let f = fs::File::open(procs).ok()?;
        #[allow(deprecated)]
        match nix::fcntl::flock(f.as_raw_fd(), FlockArg::LockExclusiveNonblock) {
            Ok(()) => Some(Ok(f)),
            Err(Errno::EWOULDBLOCK) => Some(Err(())),
            Err(_) => None,
        }
    }

    /// The topmost created cgroup `top` (an ancestor of, or, `self.path`)
    /// as far as we own it: the shared default parent `/sprout` is never
    /// ours, its child on our path is.
    fn owned_ancestor(&self, top: PathBuf) -> PathBuf {
        let parent = Path::new(DEFAULT_PARENT);
        if top != parent {
            return top;
        }
        match self
            .path
            .strip_prefix(parent)
            .ok()
            .and_then(|r| r.components().next())
        {
            Some(c) => parent.join(c),
            None => top,
        }
    }

    /// Create `dir` and its missing ancestors under `mount`. Returns the
    /// cgroup path of the topmost directory created, or None if `dir`
    /// already existed (someone else made it concurrently).
    fn mkdir_chain(&mut self, mount: &Path, dir: &Path, kind: Kind) -> Result<Option<PathBuf>> {
        let relative = dir.strip_prefix(mount).unwrap_or(dir).to_path_buf();
        let comps: Vec<_> = relative.components().collect();
        let controllers = if kind == Kind::V2Root {
            read_small(&mount.join("cgroup.controllers")).unwrap_or_default()
        } else {
            String::new()
        };
        // A concurrent `remove` may rmdir an empty shared parent between our
        // mkdirs (ENOENT): start over a few times.
        for _attempt in 0..5 {
            let mut cur = mount.to_path_buf();
            let mut top: Option<PathBuf> = None;
            let mut retry = false;
            for (i, c) in comps.iter().enumerate() {
                if kind == Kind::V2Root {
                    // Enable the root's controllers for the children of `cur`
                    // (never in the leaf: no internal processes in v2).
                    for ctrl in controllers.split_whitespace() {
                        let _ =
                            write_file(&cur.join("cgroup.subtree_control"), &format!("+{ctrl}"));
                    }
                }
                let parent = cur.clone();
                cur.push(c);
                let last = i + 1 == comps.len();
                match fs::create_dir(&cur) {
                    Ok(()) => {
                        let cg_path = Path::new("/").join(cur.strip_prefix(mount).unwrap_or(&cur));
                        if cg_path != Path::new(DEFAULT_PARENT) {
                            self.created_dirs.push(cur.clone());
                        }
                        if top.is_none() {
                            top = Some(cg_path);
                        }
                        if kind == Kind::Cpuset {
                            self.fill_one_cpuset(&parent, &cur)?;
                            if !last {
                                // Children we or others make below get
                                // cpus/mems from the kernel (best-effort:
                                // `add_task` fills an empty cpuset anyway).
                                let _ = write_file(&cur.join("cgroup.clone_children"), "1");
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        if kind == Kind::Cpuset {
                            self.fill_one_cpuset(&parent, &cur)?;
                        }
                        if last {
                            return Ok(top);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        retry = true;
                        break;
                    }
                    Err(e) => return Err(io_err(&self.path, "mkdir", &cur, e)),
                }
            }
            if !retry {
                return Ok(top);
            }
        }
        Err(io_err(
            &self.path,
            "mkdir",
            dir,
            io::Error::from_raw_os_error(Errno::ENOENT as i32),
        ))
    }

    /// `d` (the cpuset hierarchy) came up with an empty `cpuset.cpus` or
    /// `cpuset.mems` because its parent lacks `cgroup.clone_children`:
    /// fill it from its parents, and give the shared default parent the
    /// flag so that the next container inherits instead.
    fn fill_empty_cpuset(&self, d: &V1Dir) -> Result<()> {
        self.fill_cpuset(&d.mount, &d.dir)?;
        if self.path.parent() == Some(Path::new(DEFAULT_PARENT)) {
            let parent = d.mount.join(rel(Path::new(DEFAULT_PARENT)));
            let _ = write_file(&parent.join("cgroup.clone_children"), "1");
        }
        Ok(())
    }

    /// Copy empty cpuset.cpus/mems down from the parent along `dir`.
    fn fill_cpuset(&self, mount: &Path, dir: &Path) -> Result<()> {
        let relative = dir.strip_prefix(mount).unwrap_or(dir);
        let mut cur = mount.to_path_buf();
        for c in relative.components() {
            let parent = cur.clone();
            cur.push(c);
            self.fill_one_cpuset(&parent, &cur)?;
        }
        Ok(())
    }

    fn fill_one_cpuset(&self, parent: &Path, child: &Path) -> Result<()> {
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let cf = child.join(f);
            let cur = read_small(&cf).map_err(|e| io_err(&self.path, "read", &cf, e))?;
            if cur.trim().is_empty() {
                let pf = parent.join(f);
                let pv = read_small(&pf).map_err(|e| io_err(&self.path, "read", &pf, e))?;
                write_file(&cf, pv.trim()).map_err(|e| io_err(&self.path, "write", &cf, e))?;
            }
        }
        Ok(())
    }

    /// Remove what `create` made (on a failed create/create_with). No
    /// process of ours is in it yet, and nothing is killed: a directory
    /// that existed before may hold another container's processes.
    fn undo_create(&self) {
        let deadline = Instant::now() + Duration::from_millis(500);
        for d in self.created_dirs.iter().rev() {
            let mut subs = Vec::new();
            subdirs_deepest_first(d, &mut subs);
            for s in subs {
                let _ = rmdir_retry(&s, deadline);
            }
            let _ = rmdir_retry(d, deadline);
        }
    }

    /// Remove what `create` made in a cgroup it then refused (in use,
    /// frozen), deepest first: one rmdir(2) each, no retry and no
    /// sub-cgroups, so that a directory that is in use after all (a
    /// process of the cgroup's owner joined it, a sub-cgroup was made in
    /// it) stays as it is. What existed before is never touched.
    ///
    /// Returns the directories that still held something (EBUSY,
    /// ENOTEMPTY), for the caller to retry once the claim is released.
    ///
    /// Called with the claim held; the claimed directory (and the parents
    /// of it we made) go last: a create racing on the path waits for that
    /// claim, or opens it anew, and finds what we removed missing (it
    /// starts over) rather than a claim on a new directory while we still
    /// remove its neighbours.
    fn undo_refused(&self) -> Vec<PathBuf> {
        let claim = self.claim_dir().map(Path::to_path_buf);
        let under_claim = |d: &PathBuf| claim.as_ref().is_some_and(|c| c.starts_with(d));
        // Made over several attempts (see `create_or_undo`): once each,
        // deepest first.
        let mut dirs: Vec<&PathBuf> = self.created_dirs.iter().collect();
        dirs.sort_by(|a, b| (b.components().count(), b).cmp(&(a.components().count(), a)));
        dirs.dedup();
        let leaves = self.dirs();
        let mut busy = Vec::new();
        let not_claim = dirs.iter().filter(|d| !under_claim(d));
        for d in not_claim.chain(dirs.iter().filter(|d| under_claim(d))) {
            // Only parents are retried: a leaf may be a winner's to adopt
            // (empty) once we let go; a parent stays busy while its leaf is
            // there.
            if let Err(e) = fs::remove_dir(d)
                && matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY))
                && !leaves.contains(*d)
            {
                busy.push(d.to_path_buf());
            }
        }
        busy
    }

    /// Wait (bounded) until no create holds the claim on this cgroup; true
    /// when it is free (or gone) now. The claim is not kept.
    fn wait_claim_free(&self) -> bool {
        let Some(dir) = self.claim_dir() else {
            return true;
        };
        let Ok(f) = fs::File::open(dir.join("cgroup.procs")) else {
            return true; // removed meanwhile: start over
        };
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            #[allow(deprecated)]
            match nix::fcntl::flock(f.as_raw_fd(), FlockArg::LockExclusiveNonblock) {
                Err(Errno::EWOULDBLOCK) if Instant::now() < deadline => {
                    sleep(Duration::from_millis(2))
                }
                Err(Errno::EWOULDBLOCK) => return false,
                _ => return true, // closing `f` lets go again
            }
        }
    }

    /// Move process `pid` (and so all its future children) into the cgroup
    /// in every hierarchy, by writing `cgroup.procs`. The unified (Hybrid)
    /// and named hierarchies are joined best-effort; a failure in a
    /// controller hierarchy is an error naming the file.
    ///
    /// A v1 cpuset that refuses the task with ENOSPC (empty `cpuset.cpus`
    /// or `cpuset.mems`: its parent lacks `cgroup.clone_children`) is
    /// filled from its parents and the write retried once; the shared
    /// default parent then gets `cgroup.clone_children` = 1 for the next
    /// container.
    pub fn add_task(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for d in &self.v1 {
            let f = d.dir.join("cgroup.procs");
            let mut r = write_file(&f, &pid);
            if d.has("cpuset")
                && matches!(&r, Err(e) if e.raw_os_error() == Some(Errno::ENOSPC as i32))
            {
                self.fill_empty_cpuset(d)?;
                r = write_file(&f, &pid);
            }
            match r {
                Ok(()) => {}
                Err(_) if d.named_only() => {}
                Err(e) => return Err(io_err(&self.path, "write pid to", &f, e)),
            }
        }
        if let Some((_, d)) = &self.unified {
            let f = d.join("cgroup.procs");
            match write_file(&f, &pid) {
                Ok(()) => {}
                Err(_) if self.setup != CgroupSetup::Unified => {}
                Err(e) => return Err(io_err(&self.path, "write pid to", &f, e)),
            }
        }
        Ok(())
    }

    /// Apply (create) or change (update) the resource limits.
    ///
    /// Covers memory (limit, reservation, swap = memory+swap as in the
    /// spec, swappiness, kernelTCP, disableOOMKiller), cpu (shares, quota,
    /// period, burst, realtime, idle, cpus, mems), pids, blockIO,
    /// hugepageLimits, network (where net_cls/net_prio are mounted),
    /// rdma (refused where there is no rdma controller, as runc does),
    /// `unified` (v2 hosts only) and devices. `memory.kernel` is ignored,
    /// as runc does (the kernel no longer supports it; the caller warns,
    /// see [`ignored_fields`]). On v1 hosts blockIO is written as runc
    /// writes it (`direct.rs`): a leaf weight where the kernel has no
    /// `blkio.leaf_weight`, or a device weight the kernel refuses, is an
    /// error naming the field.
    ///
    /// Devices (v1): the result is exactly `resources.devices`, nothing
    /// added (runc appends its default allow-list itself: the spec layer
    /// should append [`default_device_rules`] to match runc). `devices:
    /// None` leaves the device rules as they were. Without a change of the
    /// default policy, only the differences are written, so a running
    /// container never loses access to a device it keeps.
    ///
    /// Errors name the field, e.g.
    /// `linux.resources.cpu.cpus: write "0-99" to cpuset.cpus: Invalid argument`.
    /// A failed apply may leave earlier sections applied (see
    /// [`Cgroup::update`] for the roll-back).
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        self.apply_inner(resources, false)
    }

    /// [`Cgroup::apply`] for `sprout update`: when a write fails part-way,
    /// the limit files of the sections in `resources` get back the values
    /// they had before (runc's `Container.Set` applies the saved
    /// configuration again). Returns the apply's error and the files that
    /// could not be written back (empty when the roll-back was whole).
    pub fn update(
        &self,
        resources: &LinuxResources,
    ) -> std::result::Result<(), (CgroupError, Vec<PathBuf>)> {
        let snap = self.snapshot(resources);
        self.apply_inner(resources, false)
            .map_err(|e| (e, self.restore(&snap)))
    }

    /// [`Cgroup::apply`]; `fresh_devices`: the v1 devices directory was
    /// just made by `create` (no process, no sub-cgroup in it), so device
    /// rules that contain a reset (`a`, as the default deny-all does) are
    /// written as that reset plus the resulting exceptions, without
    /// reading the inherited list first.
    fn apply_inner(&self, resources: &LinuxResources, fresh_devices: bool) -> Result<()> {
        validate(resources, self.setup)?;
        if self.setup == CgroupSetup::Unified
            && let Some(devs) = resources.devices()
            && !devs.is_empty()
        {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.devices".into(),
                reason: "device rules on cgroup v2 need an eBPF program, which sprout \
                                 does not load yet; refusing rather than allowing every device"
                    .into(),
            });
        }
        let rules = match resources.devices() {
            Some(devs) => Some(devices::rules_from_oci(devs)?),
            None => None,
        };

        // What libcgroups gets: devices and rdma are ours, kernel memory is
        // dropped.
        let mut lib = resources.clone();
        lib.set_devices(None);
        lib.set_rdma(None);
        if let Some(mem) = lib.memory_mut() {
            mem.set_kernel(None);
        }
        let disable_oom = resources
            .memory()
            .as_ref()
            .and_then(|m| m.disable_oom_killer())
            .unwrap_or(false);
        // The usual sections (pids, cpu, memory) are written here on v1
        // (see `direct.rs`), the rest by libcgroups.
        let direct = self.take_direct(&mut lib, disable_oom);
        let disable_oom = disable_oom && !direct.has_memory();
        // Nothing left for libcgroups (the usual case): skip building its
        // manager, which rediscovers every hierarchy through hardened /proc
        // reads (~540 syscalls, ~1.8 ms per create on a v1/hybrid host).
        let lib_runs = lib != LinuxResources::default() || disable_oom;

        // The devices cgroup needs work when there are rules, or when
        // libcgroups runs (it appends its own allow-list, taken away again).
        let devices_dir = self
            .v1_dir("devices")
            .filter(|_| rules.is_some() || lib_runs)
            .map(Path::to_path_buf);
        let reset = fresh_devices
            && rules
                .as_ref()
                .is_some_and(|r| r.iter().any(|r| matches!(r, DevRule::All { .. })));
        let before = match &devices_dir {
            // After a reset the state before does not matter.
            Some(_) if reset => Some(DevState::default()),
            Some(d) => Some(self.read_devices(d)?),
            None => None,
        };

        if let Some(rdma) = resources.rdma() {
            self.apply_rdma(rdma)?;
        }
        self.apply_direct(&direct)?;
        if lib_runs {
            let opt = ControllerOpt {
                resources: &lib,
                disable_oom_killer: disable_oom,
                oom_score_adj: None,
                freezer_state: None,
            };
            match self.manager()? {
                Manager::V1(m) => m.apply(&opt).map_err(|e| map_v1_err(&e)),
                Manager::V2(m) => m.apply(&opt).map_err(|e| map_v2_err(&e)),
            }?;
        }

        if let (Some(dir), Some(before)) = (devices_dir, before) {
            let mut target = before.clone();
            for r in rules.iter().flatten() {
                target.apply(r);
            }
            let writes = if reset {
                devices::reset_plan(&target)
            } else {
                // Unless libcgroups ran, the list read before is current.
                let actual = if lib_runs {
                    self.read_devices(&dir)?
                } else {
                    before
                };
                devices::plan(&target, &actual)
            };
            self.set_devices(&dir, &target, &writes)?;
        }
        Ok(())
    }

    fn read_devices(&self, dir: &Path) -> Result<DevState> {
        let f = dir.join("devices.list");
        let text = read_small(&f).map_err(|e| io_err(&self.path, "read", &f, e))?;
        DevState::parse_list(&text).map_err(|m| CgroupError::Other {
            field: "linux.resources.devices".into(),
            msg: m,
        })
    }

    /// Write `writes` to the devices cgroup at `dir` (one open per run of
    /// lines to the same file: the kernel takes one rule per write(2)),
    /// then check that the kernel's list is `target` (not possible in
    /// allow-all mode, where `devices.list` hides the deny exceptions).
    fn set_devices(
        &self,
        dir: &Path,
        target: &DevState,
        writes: &[(devices::DevFile, String)],
    ) -> Result<()> {
        use std::io::Write;
        let mut open: Option<(devices::DevFile, fs::File)> = None;
        for (file, line) in writes {
            let rejected = |e: io::Error| CgroupError::Rejected {
                field: "linux.resources.devices".into(),
                file: file.name().into(),
                value: line.clone(),
                source: e,
            };
            if open.as_ref().is_none_or(|(f, _)| f != file) {
                drop(open.take());
                let f = fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join(file.name()))
                    .map_err(rejected)?;
                open = Some((*file, f));
            }
            if let Some((_, f)) = &mut open {
                f.write_all(line.as_bytes()).map_err(rejected)?;
            }
        }
        drop(open);
        if !writes.is_empty() && !target.allow_all {
            let now = self.read_devices(dir)?;
            if now != *target {
                return Err(CgroupError::Other {
                    field: "linux.resources.devices".into(),
                    msg: format!(
                        "the kernel's device list is {} instead of {}",
                        now.describe(),
                        target.describe()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Freeze every process in the cgroup.
    ///
    /// - v1: write `FROZEN` to `freezer.state` and read it back, again and
    ///   again while the kernel reports `FREEZING` (a task that cannot be
    ///   frozen yet, e.g. in an uninterruptible sleep): up to 1000 attempts,
    ///   pausing 10 ms every 25th and thawing for 10 ms before every 50th
    ///   (runc's freezer.go does the same). A state other than
    ///   FREEZING/FROZEN, or no success, thaws again and is an error.
    /// - v2: write `1` to `cgroup.freeze` and check that it reads back `1`.
    ///
    /// Direct file writes: libcgroups' manager (which did this before)
    /// costs about 540 syscalls to build, per `pause` or `kill --all`.
    pub fn freeze(&self) -> Result<()> {
        let fail = |msg: String| CgroupError::Other {
            field: PATH_FIELD.into(),
            msg: format!("cgroup {}: freeze: {msg}", self.path.display()),
        };
        let io = |op: &str, f: &Path, e: io::Error| {
            fail(format!("{op} {}: {}", f.display(), errno_text(&e)))
        };
        if self.setup == CgroupSetup::Unified {
            let Some(dir) = self.v2_dir() else {
                return Err(fail("no cgroup2 directory".into()));
            };
            let f = dir.join("cgroup.freeze");
            write_file(&f, "1").map_err(|e| io("write 1 to", &f, e))?;
            let now = read_small(&f).map_err(|e| io("read", &f, e))?;
            if now.trim() != "1" {
                return Err(fail(format!(
                    "{} reads {:?} after writing 1",
                    f.display(),
                    now.trim()
                )));
            }
            return Ok(());
        }
        let Some(dir) = self.v1_dir("freezer") else {
            return Err(fail("this host has no freezer hierarchy".into()));
        };
        let f = dir.join("freezer.state");
        let pause = || sleep(Duration::from_millis(10));
        let attempt = || -> Result<()> {
            for i in 1..=1000 {
                if i % 50 == 0 {
                    let _ = write_file(&f, "THAWED");
                    pause();
                }
                write_file(&f, "FROZEN").map_err(|e| io("write FROZEN to", &f, e))?;
                if i % 25 == 0 {
                    pause();
                }
                let state = read_small(&f).map_err(|e| io("read", &f, e))?;
                match state.trim() {
                    "FROZEN" => return Ok(()),
                    "FREEZING" => {}
                    other => {
                        return Err(fail(format!(
                            "unexpected state {other:?} in {}",
                            f.display()
                        )));
                    }
                }
            }
            Err(fail(format!(
                "{} still FREEZING after 1000 attempts",
                f.display()
            )))
        };
        let r = attempt();
        if r.is_err() {
            let _ = write_file(&f, "THAWED");
        }
        r
    }

    /// Thaw the cgroup: one write of v1 `freezer.state` = THAWED or v2
    /// `cgroup.freeze` = 0 (takes effect at once; nothing to wait for).
    /// A cgroup without a freezer directory is left alone.
    pub fn thaw(&self) -> Result<()> {
        let (file, value) = match self.setup {
            CgroupSetup::Unified => match self.v2_dir() {
                Some(d) => (d.join("cgroup.freeze"), "0"),
                None => return Ok(()),
            },
            _ => match self.v1_dir("freezer") {
                Some(d) => (d.join("freezer.state"), "THAWED"),
                None => return Ok(()),
            },
        };
        match write_file(&file, value) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&self.path, "write to", &file, e)),
        }
    }

    /// True if the cgroup is fully frozen (v1 `freezer.state` is FROZEN;
    /// v2 `cgroup.events` has `frozen 1`). FREEZING counts as not frozen.
    /// A missing freezer directory is not frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        let (file, want): (PathBuf, fn(&str) -> bool) = match self.setup {
            CgroupSetup::Unified => match self.v2_dir() {
                Some(d) => (d.join("cgroup.events"), |t: &str| {
                    t.lines().any(|l| l.trim() == "frozen 1")
                }),
                None => return Ok(false),
            },
            _ => match self.v1_dir("freezer") {
                Some(d) => (d.join("freezer.state"), |t: &str| t.trim() == "FROZEN"),
                None => return Ok(false),
            },
        };
        match read_small(&file) {
            Ok(t) => Ok(want(&t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&self.path, "read", &file, e)),
        }
    }

    /// Pids of every process in the cgroup and its sub-cgroups, from
    /// `cgroup.procs` of the v1 freezer hierarchy (else devices, else the
    /// first one) or of the v2 directory; sorted. Empty if the cgroup does
    /// not exist. (The same walk as libcgroups `get_all_pids`, without the
    /// cost of building its manager.)
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = match self.setup {
            CgroupSetup::Unified => self.v2_dir(),
            _ => self
                .v1_dir("freezer")
                .or_else(|| self.v1_dir("devices"))
                .or_else(|| self.v1.first().map(|d| d.dir.as_path())),
        };
        let Some(dir) = dir else {
            return Ok(Vec::new());
        };
        let mut v = Vec::new();
        match procs_recursive(dir, &mut v) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.path, "read", &dir.join("cgroup.procs"), e)),
        }
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    /// Send `sig` to every process in the cgroup (`kill --all`). `sig` is
    /// 0-64 as `kill(2)` takes it: 0 only checks (delivers nothing, as
    /// `runc kill --all ID 0` accepts it), 34-64 are the real-time signals.
    ///
    /// SIGKILL with a cgroup2 directory that has `cgroup.kill` (kernel
    /// 5.14+; Unified hosts, and the joined unified hierarchy on Hybrid
    /// hosts): one write of `1`, which the kernel applies to the whole
    /// subtree atomically. Processes that are in the v1 hierarchies but not
    /// in the unified one (joined without `add_task`) are then signalled as
    /// below. Otherwise: freeze, signal every pid (ESRCH ignored, the
    /// process already exited), and always thaw again, even on error, as
    /// runc `signalAllProcesses` and crun `cgroup_killall_path` do. Signal
    /// 0 skips the freeze (nothing is delivered, and a paused container
    /// stays paused).
    ///
    /// Errors: `signal: N is not a valid signal number` outside 0-64.
    pub fn kill_all(&self, sig: i32) -> Result<()> {
        if !(0..=64).contains(&sig) {
            return Err(CgroupError::Invalid {
                field: "signal".into(),
                reason: format!("{sig} is not a valid signal number"),
            });
        }
        if sig == libc::SIGKILL
            && let Some((_, udir)) = &self.unified
        {
            let kf = udir.join("cgroup.kill");
            if kf.exists() {
                let mut in_unified = Vec::new();
                let _ = procs_recursive(udir, &mut in_unified);
                let v1_pids = if self.setup == CgroupSetup::Unified {
                    Vec::new()
                } else {
                    self.pids()?
                };
                write_file(&kf, "1").map_err(|e| io_err(&self.path, "write 1 to", &kf, e))?;
                let in_unified: BTreeSet<i32> = in_unified.into_iter().collect();
                let stragglers: Vec<i32> = v1_pids
                    .into_iter()
                    .filter(|p| !in_unified.contains(p))
                    .collect();
                if stragglers.is_empty() {
                    return Ok(());
                }
                return self.signal_frozen(sig, Some(&stragglers));
            }
        }
        self.signal_frozen(sig, None)
    }

    /// Freeze (unless `sig` is 0), signal `only` (or every pid), always thaw.
    fn signal_frozen(&self, sig: i32, only: Option<&[i32]>) -> Result<()> {
        let has_freezer = sig != 0
            && match self.setup {
                CgroupSetup::Unified => self
                    .v2_dir()
                    .is_some_and(|d| d.join("cgroup.freeze").exists()),
                _ => self.v1_dir("freezer").is_some_and(Path::is_dir),
            };
        // A failed freeze is not fatal: signal anyway (runc logs and goes on).
        let _ = has_freezer && self.freeze().is_ok();
        let result = (|| -> Result<()> {
            let pids = match only {
                Some(p) => p.to_vec(),
                None => self.pids()?,
            };
            for pid in pids {
                match send_signal(pid, sig) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(e) => {
                        return Err(io_err(
                            &self.path,
                            "signal",
                            Path::new(&format!("/proc/{pid}")),
                            io::Error::from_raw_os_error(e as i32),
                        ));
                    }
                }
            }
            Ok(())
        })();
        let thawed = if has_freezer { self.thaw() } else { Ok(()) };
        result?;
        thawed
    }

    /// Resource usage in the shape of runc's `events --stats` data:
    ///
    /// ```json
    /// {"cpu": {"usage": {"total": ns, "percpu": [ns..], "percpu_kernel": [..],
    ///                    "percpu_user": [..], "kernel": ns, "user": ns},
    ///          "throttling": {"periods": n, "throttledPeriods": n, "throttledTime": ns}},
    ///  "memory": {"cache": bytes, "usage": {"usage", "max", "limit", "failcnt"},
    ///             "swap": {..}, "kernel": {..}, "kernelTCP": {..}, "raw": {memory.stat}},
    ///  "pids": {"current": n, "limit": n (0 = unlimited)},
    ///  "blkio": {"ioServiceBytesRecursive": [{"major","minor","op","value"}], ..},
    ///  "hugetlb": {"2MB": {"usage", "max", "failcnt"}}}
    /// ```
    ///
    /// Source: the v1 files (read as libcgroups does, see `v1stats.rs`) or
    /// libcgroups `stats()` on v2; v1 user/kernel times are converted from
    /// USER_HZ ticks and v2 times from microseconds to nanoseconds. On v1
    /// `memory.swap` is memory+swap (memsw), as in runc.
    pub fn stats(&self) -> Result<Value> {
        let r = if self.setup == CgroupSetup::Unified {
            match self.manager()? {
                Manager::V1(m) => m.stats().map_err(|e| e.to_string()),
                Manager::V2(m) => m.stats().map_err(|e| e.to_string()),
            }
        } else {
            // Direct reads (v1stats.rs): libcgroups' manager costs ~540
            // syscalls to build.
            self.v1_stats()
        };
        let s = r.map_err(|msg| CgroupError::Other {
            field: PATH_FIELD.into(),
            msg: format!("cgroup {}: read stats: {msg}", self.path.display()),
        })?;
        let (tick_ns, us) = match self.setup {
            CgroupSetup::Legacy | CgroupSetup::Hybrid => {
                let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
                    .ok()
                    .flatten()
                    .filter(|h| *h > 0)
                    .unwrap_or(100) as u64;
                (1_000_000_000 / hz, 1)
            }
            CgroupSetup::Unified => (1000, 1000),
        };
        let u = &s.cpu.usage;
        let mem = |d: &libcgroups::stats::MemoryData| json!({"usage": d.usage, "max": d.max_usage, "limit": d.limit, "failcnt": d.fail_count});
        let blk = |v: &[libcgroups::stats::BlkioDeviceStat]| -> Value {
            v.iter()
                .map(|e| {
                    json!({"major": e.major, "minor": e.minor,
                           "op": e.op_type.clone().unwrap_or_default(), "value": e.value})
                })
                .collect()
        };
        let hugetlb: serde_json::Map<String, Value> = s
            .hugetlb
            .iter()
            .map(|(k, h)| {
                (
                    k.clone(),
                    json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.fail_count}),
                )
            })
            .collect();
        let raw: serde_json::Map<String, Value> = s
            .memory
            .stats
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        Ok(json!({
            "cpu": {
                "usage": {
                    "total": u.usage_total * us,
                    "percpu": u.per_core_usage_total,
                    "percpu_kernel": u.per_core_usage_kernel,
                    "percpu_user": u.per_core_usage_user,
                    "kernel": if us == 1 { u.usage_kernel * tick_ns } else { u.usage_kernel * us },
                    "user": if us == 1 { u.usage_user * tick_ns } else { u.usage_user * us },
                },
                "throttling": {
                    "periods": s.cpu.throttling.periods,
                    "throttledPeriods": s.cpu.throttling.throttled_periods,
                    "throttledTime": s.cpu.throttling.throttled_time * us,
                },
            },
            "memory": {
                "cache": s.memory.cache,
                "usage": mem(&s.memory.memory),
                "swap": mem(&s.memory.memswap),
                "kernel": mem(&s.memory.kernel),
                "kernelTCP": mem(&s.memory.kernel_tcp),
                "raw": raw,
            },
            "pids": {"current": s.pids.current, "limit": s.pids.limit},
            "blkio": {
                "ioServiceBytesRecursive": blk(&s.blkio.service_bytes),
                "ioServicedRecursive": blk(&s.blkio.serviced),
                "ioQueuedRecursive": blk(&s.blkio.queued),
                "ioServiceTimeRecursive": blk(&s.blkio.service_time),
                "ioWaitTimeRecursive": blk(&s.blkio.wait_time),
                "ioMergedRecursive": blk(&s.blkio.merged),
                "ioTimeRecursive": blk(&s.blkio.time),
                "sectorsRecursive": blk(&s.blkio.sectors),
            },
            "hugetlb": hugetlb,
        }))
    }

    /// How many processes the kernel's OOM killer has killed in this
    /// cgroup (and below): `oom_kill` of v1 `memory.oom_control` (kernel
    /// 4.13+) or v2 `memory.events`. Poll it to report OOM events; a
    /// missing key reads as 0. Errors if there is no memory controller.
    pub fn oom_kill_count(&self) -> Result<u64> {
        self.memory_count(
            ("memory.events", "oom_kill "),
            ("memory.oom_control", "oom_kill "),
        )
    }

    /// Whether an allocation in the cgroup has been refused at its memory
    /// limit: v1 `memory.failcnt` (or v2 `memory.events` `max`) above 0.
    /// Errors if there is no memory controller.
    pub fn memory_limit_hit(&self) -> Result<bool> {
        Ok(self.memory_count(("memory.events", "max "), ("memory.failcnt", ""))? > 0)
    }

    /// The number after `key` (at the start of a line) in a memory
    /// controller file: `v2` (file, key) on a Unified host, else `v1`; 0
    /// when the key is missing. Errors if there is no memory controller.
    fn memory_count(&self, v2: (&str, &str), v1: (&str, &str)) -> Result<u64> {
        let (file, key) = match self.setup {
            CgroupSetup::Unified => (self.v2_dir().map(|d| d.join(v2.0)), v2.1),
            _ => (self.v1_dir("memory").map(|d| d.join(v1.0)), v1.1),
        };
        let file = file.ok_or_else(|| CgroupError::Unsupported {
            field: "linux.resources.memory".into(),
            reason: "no memory controller on this host".into(),
        })?;
        let text = read_small(&file).map_err(|e| io_err(&self.path, "read", &file, e))?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Delete the cgroup: rmdir it in every hierarchy with every sub-cgroup
    /// below it (deepest first: a container may make its own, as systemd,
    /// Docker-in-Docker and kind do), after thawing and SIGKILLing the
    /// processes still in it (waiting until they are gone; rmdir retried
    /// on EBUSY for up to 5 s), then rmdir the parents up to
    /// [`Cgroup::created_ancestor`] that are now empty. A parent that
    /// still has other cgroups or processes in it stays. Missing
    /// directories are fine: calling `remove` twice succeeds.
    ///
    /// The usual case, a container whose processes are gone and that made
    /// no sub-cgroups, is one rmdir(2) per hierarchy: only the hierarchies
    /// where that fails (EBUSY: sub-cgroups or processes left; or any
    /// other error) are looked into.
    pub fn remove(&self) -> Result<()> {
        self.remove_unless(|| false).map(|_| ())
    }

    /// [`Cgroup::remove`], but when processes are found in the cgroup's
    /// tree (in any hierarchy, sub-cgroups included) `in_use_elsewhere` is
    /// asked first, once: if it says they are someone else's (another
    /// container adopted the cgroup; another runtime's, when the
    /// container's own processes are known to be gone), nothing is
    /// killed, the hierarchies holding processes stay as they are and only
    /// the others are removed. Empty sub-cgroups alone never count as in
    /// use. Returns whether the whole cgroup was removed. A hierarchy that
    /// cannot be removed does not stop the others from being tried; the
    /// first failure is returned.
    pub fn remove_unless(&self, in_use_elsewhere: impl FnOnce() -> bool) -> Result<bool> {
        // A create adopting this cgroup holds its claim: the cgroup is
        // about to be another container's; leave it. Otherwise hold the
        // claim while removing, so that no create adopts it meanwhile (it
        // gets `Claimed`, or makes a fresh one once it is gone).
        let _claim = match self.claim_for_removal() {
            Some(Err(())) => return Ok(false),
            Some(Ok(f)) => Some(f),
            None => None,
        };
        // The cheap pass, in every hierarchy: one rmdir each.
        let busy: Vec<PathBuf> = self
            .dirs()
            .into_iter()
            .filter(|dir| match fs::remove_dir(dir) {
                Ok(()) => false,
                Err(e) => e.kind() != io::ErrorKind::NotFound,
            })
            .collect();
        let deadline = Instant::now() + REMOVE_TIMEOUT;
        let mut removed = true;
        if !busy.is_empty() {
            let populated: Vec<bool> = busy.iter().map(|d| self.tree_populated(d)).collect();
            let mut remove: Vec<&PathBuf> = busy.iter().collect();
            let mut killed = Ok(());
            if populated.iter().any(|p| *p) {
                if in_use_elsewhere() {
                    // Not ours to kill: leave the hierarchies that hold
                    // processes, remove the rest.
                    remove = busy
                        .iter()
                        .zip(&populated)
                        .filter(|(_, p)| !**p)
                        .map(|(d, _)| d)
                        .collect();
                    removed = false;
                } else {
                    // (On failure the hierarchies are still tried: those
                    // without the survivors go.)
                    killed = self.kill_remaining(deadline);
                }
            }
            let mut first_err = None;
            for dir in remove {
                if let Err(e) = rmdir_tree(dir, deadline) {
                    first_err.get_or_insert(e);
                }
            }
            killed?;
            if let Some((d, e)) = first_err {
                return Err(io_err(&self.path, "rmdir", &d, e));
            }
        }
        self.remove_parents(deadline);
        Ok(removed)
    }

    /// Whether any process is in `dir` (one of this cgroup's directories)
    /// or a cgroup below it: `populated` of `cgroup.events` on cgroup2
    /// (one read for the whole tree), else `cgroup.procs` read
    /// recursively. A tree that cannot be read counts as populated (the
    /// careful answer: nothing is then taken for empty).
    fn tree_populated(&self, dir: &Path) -> bool {
        if self.unified.as_ref().is_some_and(|(_, d)| d == dir)
            && let Ok(events) = read_small(&dir.join("cgroup.events"))
            && let Some(v) = events.lines().find_map(|l| l.strip_prefix("populated "))
        {
            return v.trim() != "0";
        }
        let mut pids = Vec::new();
        match procs_recursive(dir, &mut pids) {
            Ok(()) => !pids.is_empty(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => !pids.is_empty(),
            Err(_) => true,
        }
    }

    /// Thaw, then SIGKILL everything in every hierarchy until empty.
    fn kill_remaining(&self, deadline: Instant) -> Result<()> {
        let _ = self.thaw();
        let mut delay = Duration::from_micros(100);
        loop {
            let mut pids = BTreeSet::new();
            for d in self.dirs() {
                let mut v = Vec::new();
                let _ = procs_recursive(&d, &mut v);
                pids.extend(v);
            }
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(CgroupError::Other {
                    field: PATH_FIELD.into(),
                    msg: format!(
                        "cgroup {}: {} process(es) still running after SIGKILL",
                        self.path.display(),
                        pids.len()
                    ),
                });
            }
            let _ = self.kill_all(Signal::SIGKILL as i32);
            sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// rmdir the now-empty parents we own, bottom-up, in every hierarchy.
    fn remove_parents(&self, deadline: Instant) {
        let Some(top) = &self.created_ancestor else {
            return;
        };
        let mut parents = Vec::new();
        let mut p = self.path.parent();
        while let Some(cur) = p {
            if !cur.starts_with(top) || cur == Path::new("/") {
                break;
            }
            parents.push(cur.to_path_buf());
            p = cur.parent();
        }
        let mounts: Vec<PathBuf> = self
            .v1
            .iter()
            .map(|d| d.mount.clone())
            .chain(self.unified.iter().map(|(m, _)| m.clone()))
            .collect();
        for m in mounts {
            for parent in &parents {
                let d = m.join(rel(parent));
                // One attempt and no listing: rmdir of a cgroup that still
                // has sub-cgroups (or tasks) fails with EBUSY, and then it is
                // not ours to remove yet. (Listing it first walked every
                // container under /sprout in every hierarchy, on every run.)
                if rmdir_retry(&d, deadline.min(Instant::now())).is_err() {
                    break;
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Plain,
    Cpuset,
    /// The cgroup2 hierarchy of a Unified host (controllers enabled in parents).
    V2Root,
}

/// The device rules runc adds to every container (runc `AllowedDevices`):
/// `c *:* m`, `b *:* m`, /dev/null, random, full, tty, zero, urandom,
/// pts (136:*), ptmx (5:2), tun (10:200), all `rwm` (runc 1.1's list: no
/// /dev/console 5:1; a terminal's console is a pts).
/// [`Cgroup::apply`] writes exactly the rules it is given; the spec layer
/// appends these after the spec's own rules to behave like runc.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    devices::runc_default_rules()
}

/// Warnings for fields of `r` that are accepted but deliberately not
/// applied, each one line naming the field: `memory.kernel` (kernel
/// memory limits are deprecated and no longer enforced by the kernel;
/// runc 1.1.5 warns "Kernel memory settings are ignored and will be
/// removed" and goes on, and so does sprout).
pub fn ignored_fields(r: &LinuxResources) -> Vec<String> {
    let mut out = Vec::new();
    if r.memory().as_ref().is_some_and(|m| m.kernel().is_some()) {
        out.push(
            "linux.resources.memory.kernel: ignored (kernel memory limits are deprecated \
             and no longer enforced; runc ignores them too)"
                .to_string(),
        );
    }
    out
}

/// Check values that can be checked without the kernel. Errors name the
/// field and the allowed range.
pub fn validate(r: &LinuxResources, setup: CgroupSetup) -> Result<()> {
    let v1 = setup != CgroupSetup::Unified;
    if let Some(m) = r.memory() {
        let f = |n: &str| format!("linux.resources.memory.{n}");
        for (name, v) in [
            ("limit", m.limit()),
            ("reservation", m.reservation()),
            ("swap", m.swap()),
        ] {
            if let Some(v) = v
                && v < -1
            {
                return Err(CgroupError::invalid(
                    f(name),
                    format!("{v} is not a byte count (use -1 for unlimited)"),
                ));
            }
        }
        if let (Some(limit), Some(swap)) = (m.limit(), m.swap())
            && limit > 0
            && swap > 0
            && swap < limit
        {
            return Err(CgroupError::invalid(
                f("swap"),
                format!("{swap} is below memory.limit {limit} (swap is the memory+swap limit)"),
            ));
        }
        if let Some(s) = m.swappiness()
            && s > 100
        {
            return Err(CgroupError::invalid(
                f("swappiness"),
                format!("{s} is out of range 0-100"),
            ));
        }
    }
    if let Some(c) = r.cpu() {
        let f = |n: &str| format!("linux.resources.cpu.{n}");
        if let Some(p) = c.period()
            && p != 0
            && !(1000..=1_000_000).contains(&p)
        {
            return Err(CgroupError::invalid(
                f("period"),
                format!("{p} is out of range 1000-1000000 (microseconds)"),
            ));
        }
        if let Some(q) = c.quota()
            && q != 0
            && q != -1
            && q < 1000
        {
            return Err(CgroupError::invalid(
                f("quota"),
                format!("{q} is below 1000 microseconds (use -1 for unlimited)"),
            ));
        }
        if let Some(s) = c.shares()
            && v1
            && s != 0
            && !(2..=262_144).contains(&s)
        {
            return Err(CgroupError::invalid(
                f("shares"),
                format!("{s} is out of range 2-262144"),
            ));
        }
        for (name, v) in [("cpus", c.cpus()), ("mems", c.mems())] {
            if let Some(list) = v
                && !valid_cpu_list(list)
            {
                return Err(CgroupError::invalid(
                    f(name),
                    format!("{list:?} is not a list like \"0-3,6\""),
                ));
            }
        }
    }
    if let Some(b) = r.block_io()
        && let Some(w) = b.weight()
        && w > 1000
    {
        // 0 is unset (runc); BFQ's blkio.bfq.weight takes 1-1000 (CFQ's
        // blkio.weight 10-1000: the kernel refuses 1-9 there itself).
        return Err(CgroupError::invalid(
            "linux.resources.blockIO.weight",
            format!("{w} is out of range 1-1000"),
        ));
    }
    if let Some(u) = r.unified() {
        if !u.is_empty() && setup != CgroupSetup::Unified {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.unified".into(),
                reason: format!("needs a cgroup v2 host; this host is {setup}"),
            });
        }
        for k in u.keys() {
            if k.contains('/') || !k.contains('.') || k.starts_with("cgroup.") {
                return Err(CgroupError::invalid(
                    format!("linux.resources.unified[{k:?}]"),
                    "not a controller interface file name",
                ));
            }
        }
    }
    if let Some(h) = r.hugepage_limits() {
        for (i, l) in h.iter().enumerate() {
            let ps = l.page_size();
            let ok = ps.len() > 2
                && (ps.ends_with("KB") || ps.ends_with("MB") || ps.ends_with("GB"))
                && ps[..ps.len() - 2]
                    .parse::<u64>()
                    .is_ok_and(|n| n.is_power_of_two());
            if !ok {
                return Err(CgroupError::invalid(
                    format!("linux.resources.hugepageLimits[{i}].pageSize"),
                    format!("{ps:?} is not a page size like \"2MB\""),
                ));
            }
        }
    }
    if let Some(d) = r.devices() {
        devices::rules_from_oci(d)?;
    }
    Ok(())
}

/// `linux.resources.devices` as runc's device emulator takes them:
/// deny-all, the config's rules, then runc's defaults. A rule the kernel
/// would ignore because it punches a hole in a wildcard exception
/// ([`devices::check_holes`]) is refused, as runc does.
///
/// Errors: a malformed rule, or a hole, naming `linux.resources.devices[i]`.
pub fn check_devices(r: &LinuxResources) -> Result<()> {
    let user = match r.devices() {
        Some(d) => devices::rules_from_oci(d)?,
        None => Vec::new(),
    };
    let mut all = user.clone();
    all.extend(devices::rules_from_oci(&default_device_rules())?);
    match devices::check_holes(&all) {
        Ok(()) => Ok(()),
        Err(i) if i < user.len() => Err(CgroupError::invalid(
            format!("linux.resources.devices[{i}]"),
            "cannot punch a hole in an existing wildcard rule (the devices controller would ignore it; runc refuses it too)",
        )),
        Err(_) => Err(CgroupError::invalid(
            "linux.resources.devices",
            "a wildcard deny rule covers one of runc's default devices (/dev/null, /dev/zero, ...), which cannot be allowed back through it",
        )),
    }
}

/// "0-3,6" / "0" / "" (empty is allowed: inherit).
fn valid_cpu_list(s: &str) -> bool {
    let s = s.trim();
    s.is_empty()
        || s.split(',').all(|part| {
            let mut it = part.splitn(2, '-');
            let a = it.next().unwrap_or("");
            let b = it.next();
            let num = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
            num(a) && b.is_none_or(|b| num(b) && b.parse::<u64>().ok() >= a.parse::<u64>().ok())
        })
}

/// The OCI field a cgroup interface file belongs to.
fn field_for_file(file: &str) -> String {
    let f = match file {
        "memory.limit_in_bytes" | "memory.max" => "memory.limit",
        "memory.soft_limit_in_bytes" | "memory.low" => "memory.reservation",
        "memory.memsw.limit_in_bytes" | "memory.swap.max" => "memory.swap",
        "memory.swappiness" => "memory.swappiness",
        "memory.kmem.limit_in_bytes" => "memory.kernel",
        "memory.kmem.tcp.limit_in_bytes" => "memory.kernelTCP",
        "memory.oom_control" | "memory.oom.group" => "memory.disableOOMKiller",
        "cpu.shares" | "cpu.weight" => "cpu.shares",
        "cpu.cfs_quota_us" | "cpu.max" => "cpu.quota",
        "cpu.cfs_period_us" => "cpu.period",
        "cpu.cfs_burst_us" | "cpu.max.burst" => "cpu.burst",
        "cpu.rt_runtime_us" => "cpu.realtimeRuntime",
        "cpu.rt_period_us" => "cpu.realtimePeriod",
        "cpu.idle" => "cpu.idle",
        "cpuset.cpus" => "cpu.cpus",
        "cpuset.mems" => "cpu.mems",
        "pids.max" => "pids.limit",
        "blkio.weight" | "blkio.bfq.weight" | "io.weight" | "io.bfq.weight" => "blockIO.weight",
        "blkio.leaf_weight" => "blockIO.leafWeight",
        "blkio.weight_device" | "blkio.bfq.weight_device" => "blockIO.weightDevice",
        "blkio.throttle.read_bps_device" => "blockIO.throttleReadBpsDevice",
        "blkio.throttle.write_bps_device" => "blockIO.throttleWriteBpsDevice",
        "blkio.throttle.read_iops_device" => "blockIO.throttleReadIOPSDevice",
        "blkio.throttle.write_iops_device" => "blockIO.throttleWriteIOPSDevice",
        "io.max" => "blockIO",
        "net_cls.classid" => "network.classID",
        "net_prio.ifpriomap" => "network.priorities",
        "devices.allow" | "devices.deny" => "devices",
        f if f.starts_with("hugetlb.") => "hugepageLimits",
        f => return format!("linux.resources.unified[{f:?}]"),
    };
    format!("linux.resources.{f}")
}

/// Turn a libcgroups write failure into `<field>: write <value> to <file>: <errno>`.
fn from_wrapped(w: &WrappedIoError) -> CgroupError {
    let path = match w {
        WrappedIoError::Write { path, .. }
        | WrappedIoError::Open { path, .. }
        | WrappedIoError::Read { path, .. }
        | WrappedIoError::CreateDir { path, .. }
        | WrappedIoError::Other { path, .. } => path,
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let field = field_for_file(&file);
    let err = w.inner();
    match w {
        WrappedIoError::Write { data, .. } => CgroupError::Rejected {
            field,
            file,
            value: data.clone(),
            source: match err.raw_os_error() {
                Some(n) => io::Error::from_raw_os_error(n),
                None => io::Error::new(err.kind(), err.to_string()),
            },
        },
        _ => CgroupError::Other {
            field,
            msg: format!("{file}: {}", errno_text(err)),
        },
    }
}

/// Find the WrappedIoError inside a libcgroups error: directly held, or
/// one `source()` level down (the per-controller error enums are private
/// to libcgroups, but their `WrappedIo` variants are `#[from]` sources).
fn wrapped_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a WrappedIoError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(w) = c.downcast_ref::<WrappedIoError>() {
            return Some(w);
        }
        cur = c.source();
    }
    None
}

fn map_v1_err(e: &libcgroups::v1::manager::V1ManagerError) -> CgroupError {
    use libcgroups::v1::manager::V1ManagerError as E;
    let w = match e {
        E::WrappedIo(w)
        | E::BlkioController(w)
        | E::CpuController(w)
        | E::CpuAcctController(w)
        | E::PidsController(w) => Some(w),
        E::MemoryController(inner) => wrapped_in(inner),
        E::CpuSetController(inner) => wrapped_in(inner),
        E::HugeTlbController(inner) => wrapped_in(inner),
        E::FreezerController(inner) => wrapped_in(inner),
        _ => None,
    };
    if let Some(w) = w {
        return from_wrapped(w);
    }
    let field = match e {
        E::MemoryController(_) => "linux.resources.memory.limit".to_string(),
        E::CpuSetController(_) => "linux.resources.cpu".to_string(),
        E::HugeTlbController(_) => "linux.resources.hugepageLimits".to_string(),
        E::CGroupRequired(c) => {
            return CgroupError::Unsupported {
                field: controller_field(c.as_ref()),
                reason: format!("the {c} controller is not mounted on this host"),
            };
        }
        _ => "linux.resources".to_string(),
    };
    CgroupError::Other {
        field,
        msg: e.to_string(),
    }
}

fn map_v2_err(e: &libcgroups::v2::manager::V2ManagerError) -> CgroupError {
    use libcgroups::v2::manager::V2ManagerError as E;
    let w = match e {
        E::WrappedIo(w) | E::CpuSetController(w) | E::PidsController(w) => Some(w),
        other => wrapped_in(other),
    };
    if let Some(w) = w {
        return from_wrapped(w);
    }
    let field = match e {
        E::MemoryController(_) => "linux.resources.memory",
        E::CpuController(_) => "linux.resources.cpu",
        E::HugeTlbController(_) => "linux.resources.hugepageLimits",
        E::IoController(_) => "linux.resources.blockIO",
        E::UnifiedController(_) => "linux.resources.unified",
        _ => "linux.resources",
    };
    CgroupError::Other {
        field: field.into(),
        msg: e.to_string(),
    }
}

fn controller_field(ctrl: &str) -> String {
    let f = match ctrl {
        "cpu" | "cpuacct" | "cpuset" => "cpu",
        "memory" => "memory",
        "pids" => "pids",
        "blkio" => "blockIO",
        "hugetlb" => "hugepageLimits",
        "net_cls" | "net_prio" => "network",
        "devices" => "devices",
        _ => return "linux.resources".into(),
    };
    format!("linux.resources.{f}")
}
