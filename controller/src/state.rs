//! Container state on disk: `<root>/<ID>/state.json` (OCI runtime spec,
//! runtime.md "State"; runc keeps the same under `/run/runc/<ID>`).
//!
//! ```text
//! <root>/                 --root (default /run/sprout), mode 0711
//!   <ID>/                 the state directory, mode 0700
//!     state.json          State (below), replaced atomically (temp + rename)
//!     start.sock          listening AF_UNIX socket of a created container's stub
//!   .creating~/<PID>      a state directory being built by `create` (PID's)
//! ```
//!
//! - **Exclusivity and atomic creation**: [`State::publish`] builds the
//!   state directory, with its `state.json` and its lock, under
//!   `.creating~/` and renames it to `<root>/<ID>` with
//!   `RENAME_NOREPLACE`: of two `create`s of one ID exactly one succeeds,
//!   the other gets `container "ID" already exists` (runc's wording), and
//!   `<root>/<ID>` never exists without a state file. `.creating~` is
//!   removed again once empty. A `create` killed before the rename leaves
//!   its `.creating~/<PID>`, which the next `create` removes (`~` is not
//!   allowed in an ID, so no container can be named like it).
//! - **Locking**: [`State::lock`] takes `flock(LOCK_EX)` on the state
//!   directory itself, so concurrent commands on one ID serialize; the lock
//!   is dropped with the guard (or when the process dies). After getting the
//!   lock the directory is checked to still be the one at the path (a
//!   `delete` may have removed it while we waited).
//! - **Liveness**: [`State::status`] never trusts a bare pid: the process
//!   counts as alive only if `/proc/PID/stat` exists, is not a zombie and
//!   its start time (field 22, clock ticks since boot) equals the one
//!   recorded at create ([`State::pid_start_time`]). A recycled pid or an
//!   unreaped zombie is `stopped`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, RenameFlags, renameat2};
use oci_spec::runtime::{Linux, Spec};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default `--root`.
pub const DEFAULT_ROOT: &str = "/run/sprout";
/// The state file's name in the state directory.
pub const STATE_FILE: &str = "state.json";
/// The start socket's name in the state directory (the stub of a created
/// container blocks in `accept(2)` on it until `start` connects).
pub const START_SOCKET: &str = "start.sock";

/// The OCI container status (runtime.md "State": `creating`, `created`,
/// `running`, `stopped`; plus `paused`, as runc reports a frozen cgroup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still setting the container up.
    Creating,
    /// Set up; the stub waits on the start socket for `start`.
    Created,
    /// The user process runs (`start` released it).
    Running,
    /// The cgroup is frozen (`pause`).
    Paused,
    /// The container process is gone (exited, killed, never started).
    Stopped,
}

impl Status {
    /// The lowercase OCI name (`"created"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One container's saved state (`<root>/<ID>/state.json`).
///
/// The persisted status is only what the last command recorded
/// (`creating`, `created` or `running`); [`State::status`] derives the
/// live one from the process and the cgroup.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// `ociVersion` of the bundle's config.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the container process (the stub until it execs, then
    /// the user process; the stub's child when it forked after joining a
    /// pid namespace). 0 until known.
    pub pid: i32,
    /// Start time of `pid`: field 22 of `/proc/PID/stat` (clock ticks
    /// after boot), to tell the process from a later one with the same pid.
    pub pid_start_time: u64,
    /// Absolute bundle directory.
    pub bundle: PathBuf,
    /// Absolute host path of the root filesystem.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 UTC (`2024-05-01T12:34:56.789Z`).
    pub created: String,
    /// User name (else the decimal uid) of the creator.
    pub owner: String,
    /// The config's `annotations`.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The container's cgroup path (`linux.cgroupsPath` resolved; default `/sprout/<ID>`).
    pub cgroup_path: PathBuf,
    /// The topmost cgroup path `create` made (see
    /// `cgroups::Cgroup::created_ancestor`), removed by `delete` when empty.
    #[serde(default)]
    pub cgroup_created_ancestor: Option<PathBuf>,
    /// The status the last command recorded (never `paused`/`stopped`).
    pub status_stored: Status,
    /// The container was started by a foreground `run` (which deletes it
    /// at the end itself).
    #[serde(default)]
    pub foreground: bool,
    /// What later commands need of the bundle's config, as loaded at
    /// create time ([`State::saved_config`]: `ociVersion`, `process`,
    /// `hooks`, `linux.seccomp` and `linux.personality`, for `start`,
    /// `exec` and `delete`). Boxed: see `config::Bundle::spec`.
    pub config: Box<Spec>,
    /// `--root` this state lives under (not saved).
    #[serde(skip)]
    pub root: PathBuf,
}

/// An exclusive `flock(2)` on a state directory; released on drop.
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<File>,
}

impl State {
    /// The state directory of `id`: `<root>/<id>`.
    pub fn dir(root: &Path, id: &str) -> PathBuf {
        root.join(id)
    }

    /// This container's state directory.
    pub fn state_dir(&self) -> PathBuf {
        Self::dir(&self.root, &self.id)
    }

    /// This container's start socket path (`<dir>/start.sock`).
    pub fn start_socket(&self) -> PathBuf {
        self.state_dir().join(START_SOCKET)
    }

    /// The part of `spec` a state keeps (see [`State::config`]): the rest
    /// (mounts, resources, namespaces, paths...) is only needed at create,
    /// and leaving it out makes every save and load of the state cheap.
    pub fn saved_config(spec: &Spec) -> Box<Spec> {
        // Parsed from nothing: every optional field absent (the types'
        // `Default` would fill in runc's defaults instead).
        let mut linux: Linux = serde_json::from_str("{}").unwrap_or_default();
        if let Some(l) = spec.linux() {
            linux.set_seccomp(l.seccomp().clone());
            linux.set_personality(l.personality().clone());
        }
        let mut saved: Box<Spec> =
            serde_json::from_value(serde_json::json!({ "ociVersion": spec.version() })).unwrap_or_default();
        saved.set_process(spec.process().clone());
        saved.set_hooks(spec.hooks().clone());
        saved.set_linux(Some(linux));
        saved
    }

    /// Publishes the state directory of a new container: `<root>/<ID>`
    /// with `state.json` (this state) in it, made atomically (see the
    /// module docs), and locked. The root is made first if missing (mode
    /// 0711), as is `<root>/.creating~` (0700).
    ///
    /// Errors: `container "ID" already exists` (runc's wording); a mkdir,
    /// write or rename failure naming `--root`.
    pub fn publish(&self) -> Result<Lock> {
        let root = self.root.as_path();
        let at_root = |what: &str, e: &io::Error| Error::io(format!("--root \"{}\": {what}", root.display()), e);
        let staging = root.join(STAGING);
        let tmp = staging.join(std::process::id().to_string());
        let mkdir = || fs::DirBuilder::new().mode(0o700).create(&tmp);
        // Concurrent creates share `staging`: each removes it when it looks
        // empty, so another may see it vanish between its mkdir of
        // `staging` and of `tmp` (ENOENT): then start over.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match fs::DirBuilder::new().mode(0o700).create(&staging) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => remove_stale(&staging),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o711)
                        .create(root)
                        .map_err(|e| at_root("mkdir", &e))?;
                    continue;
                }
                Err(e) => return Err(at_root(&format!("mkdir {STAGING}"), &e)),
            }
            match mkdir() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 100 => continue,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    // A leftover of a dead process that had our pid.
                    let _ = fs::remove_dir_all(&tmp);
                    if mkdir().is_ok() {
                        break;
                    }
                    if attempts >= 100 {
                        return Err(at_root("mkdir", &e));
                    }
                }
                Err(e) => return Err(at_root("mkdir", &e)),
            }
        }
        let built = (|| -> Result<Lock> {
            let lock = lock_dir(&tmp)?;
            let text = serde_json::to_vec(self).map_err(Error::invalid)?;
            fs::write(tmp.join(STATE_FILE), text).map_err(|e| at_root("writing the state", &e))?;
            let dir = self.state_dir();
            match renameat2(None, &tmp, None, &dir, RenameFlags::RENAME_NOREPLACE) {
                Ok(()) => Ok(lock),
                Err(Errno::EEXIST) => crate::bail!("container \"{}\" already exists", self.id),
                // A file system without RENAME_NOREPLACE: check, then rename
                // (a rename onto an empty directory would replace it).
                Err(Errno::EINVAL) if !dir.exists() => {
                    fs::rename(&tmp, &dir).map_err(|e| at_root("rename", &e))?;
                    Ok(lock)
                }
                Err(Errno::EINVAL) => crate::bail!("container \"{}\" already exists", self.id),
                Err(errno) => Err(Error::Sys {
                    context: format!("--root \"{}\": rename to {}", root.display(), dir.display()),
                    errno,
                }),
            }
        })();
        if built.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        // Gone unless another create is under way (then ENOTEMPTY): the
        // root holds only containers.
        let _ = fs::remove_dir(&staging);
        built
    }

    /// Takes the exclusive lock of `id` (blocking until other commands on
    /// it finish). Errors: `container "ID" does not exist` when the state
    /// directory is missing or was removed while waiting.
    pub fn lock(root: &Path, id: &str) -> Result<Lock> {
        let dir = Self::dir(root, id);
        let missing = || Error::invalid(format!("container \"{id}\" does not exist"));
        let locked = match open_locked(&dir, FlockArg::LockExclusive) {
            Ok(l) => l,
            Err(Errno::ENOENT) => return Err(missing()),
            Err(errno) => return Err(Error::Sys { context: format!("state directory {}: lock", dir.display()), errno }),
        };
        // Still the directory at the path (not removed meanwhile)?
        let held = locked.metadata().map_err(|e| Error::io(format!("state directory {}", dir.display()), &e))?;
        match fs::metadata(&dir) {
            Ok(m) if m.ino() == held.ino() && m.dev() == held.dev() => Ok(Lock { _flock: locked }),
            _ => Err(missing()),
        }
    }

    /// Loads `<root>/<id>/state.json`.
    ///
    /// Errors: `container "ID" does not exist` (runc's wording) when the
    /// directory or the file is missing; an unreadable or corrupt file.
    pub fn load(root: &Path, id: &str) -> Result<State> {
        crate::cli::check_id(id)?;
        let path = Self::dir(root, id).join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
                crate::bail!("container \"{id}\" does not exist")
            }
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), &e)),
        };
        let mut st: State = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(format!("{}: corrupt state: {e}", path.display())))?;
        st.root = root.to_path_buf();
        Ok(st)
    }

    /// Writes the state atomically: `<dir>/.state.json.tmp`, then
    /// `rename(2)` over `state.json`, so readers see the old or the new
    /// file, never a partial one.
    pub fn save(&self) -> Result<()> {
        let dir = self.state_dir();
        let tmp = dir.join(".state.json.tmp");
        let path = dir.join(STATE_FILE);
        let text = serde_json::to_vec(self).map_err(Error::invalid)?;
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| Error::io(format!("writing {}", path.display()), &e))
    }

    /// Removes the whole state directory (missing is fine): its known
    /// files and the directory, or, when more is in it, the whole tree.
    pub fn remove_dir(root: &Path, id: &str) -> Result<()> {
        let dir = Self::dir(root, id);
        for name in [STATE_FILE, START_SOCKET, ".state.json.tmp"] {
            let _ = fs::remove_file(dir.join(name));
        }
        match fs::remove_dir(&dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => {}
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", dir.display()), &e)),
        }
    }

    /// Ids of every container under `root` that has a state file, sorted.
    /// A missing root gives an empty list.
    pub fn list_ids(root: &Path) -> Result<Vec<String>> {
        let rd = match fs::read_dir(root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("--root \"{}\"", root.display()), &e)),
        };
        let mut ids: Vec<String> = rd
            .flatten()
            .filter(|e| e.path().join(STATE_FILE).is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Whether the recorded process still runs: `/proc/PID/stat` exists,
    /// is not a zombie (`Z`/`X`), and its start time is the recorded one.
    pub fn process_alive(&self) -> bool {
        self.pid > 0 && proc_start_time(self.pid).is_some_and(|t| t == self.pid_start_time)
    }

    /// Records `pid` as the container process, with its start time.
    /// Errors if the process is already gone.
    pub fn set_pid(&mut self, pid: i32) -> Result<()> {
        let Some(t) = proc_start_time(pid) else {
            crate::bail!("container \"{}\": process {pid} exited during setup", self.id);
        };
        self.pid = pid;
        self.pid_start_time = t;
        Ok(())
    }

    /// The live status: `stopped` once the process is gone (even unreaped,
    /// even if the pid was reused); `paused` if the cgroup is frozen;
    /// otherwise the stored one. A `creating` state is `creating` while its
    /// `create` runs (holds the lock) and `stopped` once that died, even if
    /// its stub still waits: nothing can finish or start that container,
    /// and `delete` removes it (killing what is left in its cgroup).
    pub fn status(&self) -> Status {
        self.status_in(None)
    }

    /// [`State::status`], with the container's cgroup already opened (when
    /// the caller needs it anyway: opening it reads the mount table).
    pub fn status_in(&self, cgroup: Option<&crate::cgroups::Cgroup>) -> Status {
        if self.status_stored == Status::Creating {
            return if lock_held(&self.state_dir()) { Status::Creating } else { Status::Stopped };
        }
        if !self.process_alive() {
            return Status::Stopped;
        }
        if matches!(self.status_stored, Status::Created | Status::Running) {
            let frozen = match cgroup {
                Some(cg) => cg.is_frozen().unwrap_or(false),
                None => self.cgroup_frozen(),
            };
            if frozen {
                return Status::Paused;
            }
        }
        self.status_stored
    }

    /// Whether the container's cgroup is frozen (false if it cannot be read).
    fn cgroup_frozen(&self) -> bool {
        crate::cgroups::Cgroup::open(&self.cgroup_path).and_then(|c| c.is_frozen()).unwrap_or(false)
    }

    /// The pid the OCI state reports: the process's pid, 0 once stopped (runc).
    pub fn reported_pid(&self, status: Status) -> i32 {
        if status == Status::Stopped { 0 } else { self.pid }
    }

    /// The OCI state document for `status` (runtime.md "State"; also what
    /// hooks get on stdin): `ociVersion, id, status, pid, bundle,
    /// annotations` plus runc's `rootfs, created, owner`, in runc's order.
    pub fn oci_state(&self, status: Status) -> OciState {
        OciState {
            oci_version: self.oci_version.clone(),
            id: self.id.clone(),
            pid: self.reported_pid(status),
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            annotations: self.annotations.clone(),
            owner: self.owner.clone(),
        }
    }
}

/// The OCI state of a container as `sprout state` prints it and hooks
/// receive it on stdin (runtime.md "State"; field order and `rootfs`,
/// `created`, `owner` as runc's `state`). `annotations` is left out when
/// empty (runc's `omitempty`).
#[derive(Clone, Debug, Serialize)]
pub struct OciState {
    /// `ociVersion` of the config.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the container process; 0 when stopped (runc).
    pub pid: i32,
    /// `creating`, `created`, `running`, `paused` or `stopped`.
    pub status: Status,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339.
    pub created: String,
    /// The config's annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// User name of the creator.
    pub owner: String,
}

/// The directory under the root where `create` builds state directories
/// (see the module docs).
pub const STAGING: &str = ".creating~";

/// Opens the directory `dir` and takes `how` (an flock(2) mode) on it.
fn open_locked(dir: &Path, how: FlockArg) -> std::result::Result<Flock<File>, Errno> {
    let f = File::open(dir).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Flock::lock(f, how).map_err(|(_, errno)| errno)
}

/// The exclusive lock of a directory nobody else knows yet.
fn lock_dir(dir: &Path) -> Result<Lock> {
    open_locked(dir, FlockArg::LockExclusiveNonblock)
        .map(|f| Lock { _flock: f })
        .map_err(|errno| Error::Sys { context: format!("state directory {}: lock", dir.display()), errno })
}

/// Removes what `create`s killed before publishing left in `staging`:
/// every entry whose lock nobody holds (best effort).
/// Removes the half-built state directories under `staging` whose
/// `create` is gone: named after a pid that no longer runs, and unlocked.
/// (An unlocked directory of a live pid may be one its create has just
/// made and not locked yet: it stays.)
fn remove_stale(staging: &Path) {
    let Ok(rd) = fs::read_dir(staging) else { return };
    for e in rd.flatten() {
        let path = e.path();
        let pid: Option<i32> = e.file_name().to_str().and_then(|n| n.parse().ok());
        let gone = match pid {
            Some(p) if p > 0 => matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None), Err(Errno::ESRCH)),
            _ => true,
        };
        if gone && open_locked(&path, FlockArg::LockExclusiveNonblock).is_ok() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// Whether some process holds the lock of the state directory `dir` (a
/// non-blocking shared `flock` probe fails with `EWOULDBLOCK`).
fn lock_held(dir: &Path) -> bool {
    matches!(open_locked(dir, FlockArg::LockSharedNonblock), Err(Errno::EWOULDBLOCK))
}

/// Start time of `pid` (field 22 of `/proc/PID/stat`, clock ticks after
/// boot), or `None` if there is no such process or it is a zombie.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    use std::io::Read;
    // One read into a buffer big enough for the line (procfs reports size
    // 0, so `read_to_string` would grow its buffer over ~6 reads).
    let mut f = File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut buf = [0u8; 1024];
    let mut len = 0;
    while len < buf.len() {
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    // `pid (comm) S ...`: comm may contain spaces, parentheses and bytes
    // that are not UTF-8.
    let line = &buf[..len];
    let close = line.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&line[close + 1..]).ok()?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?; // field 3
    if state == "Z" || state == "X" {
        return None;
    }
    // fields 4..21 (18 of them), then field 22
    fields.nth(18)?.parse().ok()
}

/// The user name of `uid` from the host's /etc/passwd, else the number.
pub fn owner_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id: u32 = f.nth(1)?.parse().ok()?;
                (id == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(root: &Path, id: &str) -> State {
        State {
            oci_version: "1.0.2".into(),
            id: id.into(),
            pid: std::process::id() as i32,
            pid_start_time: proc_start_time(std::process::id() as i32).unwrap(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2024-01-01T00:00:00.000Z".into(),
            owner: "root".into(),
            annotations: BTreeMap::from([("a".to_string(), "b".to_string())]),
            cgroup_path: "/sprout-test-nonexistent/x".into(),
            cgroup_created_ancestor: None,
            status_stored: Status::Created,
            foreground: false,
            config: Box::default(),
            root: root.to_path_buf(),
        }
    }

    #[test]
    fn start_time_of_self_and_missing() {
        let me = std::process::id() as i32;
        assert!(proc_start_time(me).unwrap() > 0);
        assert_eq!(proc_start_time(i32::MAX), None);
    }

    #[test]
    fn save_load_status_lock() {
        let root = std::env::temp_dir().join(format!("sprout-state-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        assert_eq!(State::load(&root, "c1").unwrap_err().to_string(), "container \"c1\" does not exist");
        assert!(State::lock(&root, "c1").is_err());
        let mut st = sample(&root, "c1");
        let lock = st.publish().unwrap();
        assert_eq!(st.publish().unwrap_err().to_string(), "container \"c1\" already exists");
        drop(lock);
        // Nothing of either attempt is left.
        assert!(!root.join(STAGING).exists());
        st.save().unwrap();
        let back = State::load(&root, "c1").unwrap();
        assert_eq!(back.pid, st.pid);
        assert_eq!(back.status(), Status::Created);
        assert_eq!(serde_json::to_value(back.oci_state(Status::Created)).unwrap()["annotations"]["a"], "b");
        st.pid_start_time += 1; // a "recycled" pid
        assert_eq!(st.status(), Status::Stopped);
        assert_eq!(serde_json::to_value(st.oci_state(Status::Stopped)).unwrap()["pid"], 0);
        assert_eq!(State::list_ids(&root).unwrap(), vec!["c1".to_string()]);
        {
            let _l = State::lock(&root, "c1").unwrap();
        }
        State::remove_dir(&root, "c1").unwrap();
        assert!(State::lock(&root, "c1").is_err());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn publish_removes_stale_staging_dirs() {
        let root = std::env::temp_dir().join(format!("sprout-state-stale-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let stale = root.join(STAGING).join("999999999");
        fs::create_dir_all(&stale).unwrap();
        fs::write(stale.join(STATE_FILE), "{}").unwrap();
        let held = root.join(STAGING).join("1");
        fs::create_dir_all(&held).unwrap();
        let _busy = lock_dir(&held).unwrap();
        let st = sample(&root, "c2");
        drop(st.publish().unwrap());
        assert!(!stale.exists());
        assert!(held.exists(), "a staging dir whose create still runs stays");
        assert_eq!(State::list_ids(&root).unwrap(), vec!["c2".to_string()]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn saved_config_keeps_what_later_commands_need() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["sh"]},
            "root": {"path": "rootfs"},
            "hooks": {"poststop": [{"path": "/bin/true"}]},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}, "personality": {"domain": "LINUX"},
                      "namespaces": [{"type": "pid"}], "maskedPaths": ["/proc/kcore"]}
        }))
        .unwrap();
        let saved = serde_json::to_value(State::saved_config(&spec)).unwrap();
        assert_eq!(
            saved,
            serde_json::json!({
                "ociVersion": "1.0.2",
                "process": serde_json::to_value(spec.process()).unwrap(),
                "hooks": {"poststop": [{"path": "/bin/true"}]},
                "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}, "personality": {"domain": "LINUX"}}
            })
        );
    }
}
