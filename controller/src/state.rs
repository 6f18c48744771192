//! Container state on disk: `<root>/<ID>/state.json` (OCI runtime spec,
//! runtime.md "State"; runc keeps the same under `/run/runc/<ID>`).
//!
//! ```text
//! <root>/                 --root (default /run/sprout), mode 0711
//!   <ID>/                 the state directory, mode 0700
//!     state.json          State (below)
//!     .state.json.tmp     the previous state.json, rewritten by the next save
//!     start.sock          listening AF_UNIX socket of a created container's stub
//!   .creating~/<TID>      a state directory being built by `create` (thread TID's)
//!   .spare~/<INODE>       spare state directories, reused by later `create`s
//! ```
//!
//! **Why the bookkeeping**: creating or deleting an inode is the expensive
//! part of keeping state. `/run` is often tmpfs, where it is cheap, but on
//! a disk-backed `/run` (ext4 measured: mkdir, create or create+rename
//! 320-450 us, unlink 150 us, rmdir 106 us, against 17 us for a rename of
//! an existing entry and 11 us for a write in place) the old create-write-
//! rename-unlink cycle cost 1.2-1.4 ms of a 7 ms `run`. So, in steady
//! state, no command creates or frees an inode: state directories are
//! recycled through `.spare~`, `.creating~` stays, and the two state files
//! swap roles on every save. On tmpfs this gains little and loses nothing.
//!
//! - **Exclusivity and atomic creation**: [`State::publish`] builds the
//!   state directory, with its `state.json` and its lock, under
//!   `.creating~/<TID>` and renames it to `<root>/<ID>` with
//!   `RENAME_NOREPLACE`: of two `create`s of one ID exactly one succeeds,
//!   the other gets `container "ID" already exists` (runc's wording), and
//!   `<root>/<ID>` never exists without a complete state file. The
//!   directory is a spare taken from `.spare~` when there is one (locked,
//!   then renamed to `.creating~/<TID>`: the rename decides which of
//!   concurrent `create`s gets it, and its `state.json` is rewritten in
//!   place), else a new one. A `create` killed before the rename leaves its
//!   `.creating~/<TID>`, which a later `create` retires once that thread is
//!   gone and nobody holds the directory's lock. `~` is not allowed in an
//!   ID, so no container can be named like the bookkeeping entries (and
//!   [`State::list_ids`] skips them). A `.creating~` or `.spare~` that is
//!   not a directory (a symlink) is replaced by one, and entries of them
//!   that are not directories are unlinked or skipped, never followed: a
//!   followed symlink would make its target's directories spares or
//!   stale staging directories, renamed into the root and removed.
//! - **Recycling**: [`State::remove_dir`] parks a state directory that
//!   holds nothing but the state files (a leftover `start.sock` is removed
//!   first: a later bind would fail on it) in `.spare~`, named after its
//!   inode number (unique among live directories, so parkers never
//!   collide), as long as the pool has fewer than [`SPARE_CAP`] entries;
//!   anything else in it, a full pool or a failed rename means the
//!   directory is removed as before.
//! - **Saves**: [`State::save`] rewrites `.state.json.tmp` in place and
//!   swaps it with `state.json` (`renameat2(RENAME_EXCHANGE)`; a plain
//!   rename over it where the file system lacks the flag), so a reader
//!   opening `state.json` always finds a complete file. Writers of a state
//!   file in place hold `flock(LOCK_EX)` on that file and [`State::load`]
//!   reads under `flock(LOCK_SH)`, so a reader that opened the file before
//!   it became the temporary one (or before its directory was recycled)
//!   still reads a whole version; the loaded state must also name the
//!   requested ID (a recycled directory's file names another), else the
//!   read is retried.
//! - **Locking**: [`State::lock`] takes `flock(LOCK_EX)` on the state
//!   directory itself, so concurrent commands on one ID serialize; the lock
//!   is dropped with the guard (or when the process dies). After getting the
//!   lock the directory is checked to still be the one at the path (a
//!   `delete` may have parked or removed it while we waited).
//! - **Liveness**: [`State::status`] never trusts a bare pid: the process
//!   counts as alive only if `/proc/PID/stat` exists, is not a zombie and
//!   its start time (field 22, clock ticks since boot) equals the one
//!   recorded at create ([`State::pid_start_time`]). A recycled pid or an
//!   unreaped zombie is `stopped`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::sys::{RenameFlags, renameat2};
use nix::errno::Errno;
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
    /// The container's namespaces from `linux.namespaces`, new or joined by
    /// path, as a `CLONE_NEW*` mask: what `exec` joins (runc's exec joins
    /// the namespaces of the config too). 0 in states of older versions:
    /// `exec` then compares `/proc/PID/ns` with its own.
    #[serde(default)]
    pub namespaces: u32,
    /// The container has a pid namespace of its own (a new one, not joined
    /// by path): when its process is gone, everything in that namespace is
    /// gone too, so what is left in its cgroup belongs to someone else
    /// (`delete` then leaves it alone, as runc does). False in states of
    /// older versions.
    #[serde(default)]
    pub own_pid_ns: bool,
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
    _file: File,
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
            serde_json::from_value(serde_json::json!({ "ociVersion": spec.version() }))
                .unwrap_or_default();
        saved.set_process(spec.process().clone());
        saved.set_hooks(spec.hooks().clone());
        saved.set_linux(Some(linux));
        saved
    }

    /// Publishes the state directory of a new container: `<root>/<ID>`
    /// with `state.json` (this state) in it, made atomically (see the
    /// module docs), and locked. The directory is a spare from
    /// `<root>/.spare~` when one is free, else a new one. The root is made
    /// first if missing (mode 0711), as is `<root>/.creating~` (0700).
    ///
    /// Errors: `container "ID" already exists` (runc's wording; the
    /// directory built goes back to the pool); a mkdir, write or rename
    /// failure naming `--root`.
    pub fn publish(&self) -> Result<Lock> {
        let root = self.root.as_path();
        let at_root = |what: &str, e: &io::Error| {
            Error::io(format!("--root \"{}\": {what}", root.display()), e)
        };
        let text = serde_json::to_vec(self).map_err(Error::invalid)?;
        let staging = root.join(STAGING);
        prepare_staging(root, &staging).map_err(|e| at_root(&format!("mkdir {STAGING}"), &e))?;
        // The thread id: unique among the creates under way, also among
        // threads of one process (and the pid, for a single-threaded one).
        let tmp = staging.join(nix::unistd::gettid().to_string());
        let lock = match take_spare(root, &tmp) {
            Some(lock) => lock,
            None => make_staged(root, &tmp).map_err(|e| at_root("mkdir", &e))?,
        };
        let built = (|| -> Result<()> {
            drop(
                rewrite(&tmp.join(STATE_FILE), &text)
                    .map_err(|e| at_root("writing the state", &e))?,
            );
            let dir = self.state_dir();
            match renameat2(&tmp, &dir, RenameFlags::RENAME_NOREPLACE) {
                Ok(()) => Ok(()),
                Err(Errno::EEXIST) => crate::bail!("container \"{}\" already exists", self.id),
                // A file system without RENAME_NOREPLACE: check, then rename
                // (a rename onto an empty directory would replace it).
                Err(Errno::EINVAL) if !dir.exists() => {
                    fs::rename(&tmp, &dir).map_err(|e| at_root("rename", &e))
                }
                Err(Errno::EINVAL) => crate::bail!("container \"{}\" already exists", self.id),
                Err(errno) => Err(Error::Sys {
                    context: format!("--root \"{}\": rename to {}", root.display(), dir.display()),
                    errno,
                }),
            }
        })();
        match built {
            Ok(()) => Ok(Lock { _file: lock }),
            Err(e) => {
                // Still locked by us: nobody takes it before it is parked.
                let _ = retire(root, &tmp);
                Err(e)
            }
        }
    }

    /// Takes the exclusive lock of `id` (blocking until other commands on
    /// it finish). Errors: `container "ID" does not exist` when the state
    /// directory is missing or was removed (or parked) while waiting.
    pub fn lock(root: &Path, id: &str) -> Result<Lock> {
        let dir = Self::dir(root, id);
        let missing = || Error::invalid(format!("container \"{id}\" does not exist"));
        let locked = match open_locked(&dir, How::Exclusive) {
            Ok(l) => l,
            Err(Errno::ENOENT) => return Err(missing()),
            Err(errno) => {
                return Err(Error::Sys {
                    context: format!("state directory {}: lock", dir.display()),
                    errno,
                });
            }
        };
        // Still the directory at the path (not removed meanwhile)?
        let held = locked
            .metadata()
            .map_err(|e| Error::io(format!("state directory {}", dir.display()), &e))?;
        match fs::metadata(&dir) {
            Ok(m) if m.ino() == held.ino() && m.dev() == held.dev() => Ok(Lock { _file: locked }),
            _ => Err(missing()),
        }
    }

    /// Loads `<root>/<id>/state.json`, read whole under a shared `flock`
    /// on the file (see the module docs). A file that does not parse, or
    /// holds another container's state (its directory was recycled while
    /// we read), is read again, up to [`LOAD_ATTEMPTS`] times in all.
    ///
    /// Errors: `container "ID" does not exist` (runc's wording) when the
    /// directory or the file is missing; an unreadable or corrupt file.
    pub fn load(root: &Path, id: &str) -> Result<State> {
        crate::cli::check_id(id)?;
        let path = Self::dir(root, id).join(STATE_FILE);
        let mut attempt = 1;
        loop {
            let text = match read_locked(&path) {
                Ok(t) => t,
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        || e.raw_os_error() == Some(libc::ENOTDIR) =>
                {
                    crate::bail!("container \"{id}\" does not exist")
                }
                Err(e) => return Err(Error::io(format!("reading {}", path.display()), &e)),
            };
            let problem = match serde_json::from_str::<State>(&text) {
                Ok(mut st) if st.id == id => {
                    st.root = root.to_path_buf();
                    return Ok(st);
                }
                Ok(st) => format!("it is the state of container \"{}\"", st.id),
                Err(e) => e.to_string(),
            };
            if attempt >= LOAD_ATTEMPTS {
                crate::bail!("{}: corrupt state: {problem}", path.display());
            }
            attempt += 1;
        }
    }

    /// Writes the state atomically: `<dir>/.state.json.tmp` is rewritten
    /// in place (made if missing) and swapped with `state.json`
    /// (`renameat2(RENAME_EXCHANGE)`), so readers see the old or the new
    /// file, never a partial one, and no inode is made or freed. Where the
    /// file system lacks the flag (EINVAL), or `state.json` is missing, it
    /// is renamed over `state.json` instead.
    ///
    /// Errors: any open, write or rename failure, naming `state.json`.
    pub fn save(&self) -> Result<()> {
        self.save_bytes().map(drop)
    }

    /// [`State::save`], returning the bytes written (for
    /// [`State::unchanged`]).
    pub fn save_bytes(&self) -> Result<Vec<u8>> {
        let dir = self.state_dir();
        let tmp = dir.join(TMP_FILE);
        let path = dir.join(STATE_FILE);
        let text = serde_json::to_vec(self).map_err(Error::invalid)?;
        let write = || -> io::Result<()> {
            // Locked until swapped in: a reader that still has this file
            // open as `state.json` of two saves ago waits, then reads it
            // whole.
            let _written = rewrite(&tmp, &text)?;
            match renameat2(&tmp, &path, RenameFlags::RENAME_EXCHANGE) {
                Ok(()) => Ok(()),
                Err(Errno::EINVAL | Errno::ENOENT) => fs::rename(&tmp, &path),
                Err(errno) => Err(errno.into()),
            }
        };
        write().map_err(|e| Error::io(format!("writing {}", path.display()), &e))?;
        Ok(text)
    }

    /// Whether the state file of container `id` holds exactly `saved`
    /// (the bytes a [`State::save_bytes`] wrote): read under a shared lock
    /// like [`State::load`], compared without parsing. A foreground `run`
    /// checks so at its end that the state is still its own (no `delete`
    /// and new `create` of the ID meanwhile) before it parses anything;
    /// `false` (anything rewrote it, or it is gone) sends it to the full
    /// check.
    pub fn unchanged(root: &Path, id: &str, saved: &[u8]) -> bool {
        let path = Self::dir(root, id).join(STATE_FILE);
        read_locked(&path).is_ok_and(|text| text.as_bytes() == saved)
    }

    /// Retires the whole state directory (missing is fine): parked in
    /// `<root>/.spare~` for a later [`State::publish`] when it holds only
    /// the state files (and maybe `start.sock`, removed), else removed,
    /// the whole tree if need be. See the module docs.
    ///
    /// Errors: the directory could be neither parked nor removed.
    pub fn remove_dir(root: &Path, id: &str) -> Result<()> {
        let dir = Self::dir(root, id);
        retire(root, &dir).map_err(|e| Error::io(format!("removing {}", dir.display()), &e))
    }

    /// Ids of every container under `root` that has a state file, sorted
    /// (the `.creating~` and `.spare~` bookkeeping is no container: `~` is
    /// not allowed in an id). A missing root gives an empty list.
    pub fn list_ids(root: &Path) -> Result<Vec<String>> {
        let rd = match fs::read_dir(root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("--root \"{}\"", root.display()), &e)),
        };
        let mut ids: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| {
                crate::cli::check_id(id).is_ok() && root.join(id).join(STATE_FILE).is_file()
            })
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
            crate::bail!(
                "container \"{}\": process {pid} exited during setup",
                self.id
            );
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
            return if lock_held(&self.state_dir()) {
                Status::Creating
            } else {
                Status::Stopped
            };
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
        crate::cgroups::Cgroup::open(&self.cgroup_path)
            .and_then(|c| c.is_frozen())
            .unwrap_or(false)
    }

    /// The pid the OCI state reports: the process's pid, 0 once stopped (runc).
    pub fn reported_pid(&self, status: Status) -> i32 {
        if status == Status::Stopped {
            0
        } else {
            self.pid
        }
    }

    /// The OCI state document for `status` (runtime.md "State"; also what
    /// hooks get on stdin): `ociVersion, id, status, pid, bundle,
    /// annotations` plus runc's `rootfs, created, owner`, in runc's order.
    pub fn oci_state(&self, status: Status) -> OciState {
        OciState {
            oci_version: self.oci_version.clone(),
            id: self.id.clone(),
            pid: Some(self.reported_pid(status)),
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
    /// Host pid of the container process; 0 when stopped (runc). `None`
    /// leaves the field out (a hook's state once stopped: [`OciState::for_hook`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
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

impl OciState {
    /// The state as a hook gets it on stdin (JSON): without `pid` once
    /// there is no process (poststop), which runtime.md makes optional
    /// when stopped and runc's hooks never get (`specs.State.Pid` is
    /// `omitempty`); `sprout state` prints `"pid": 0` as `runc state` does.
    pub fn for_hook(mut self) -> String {
        if self.pid == Some(0) {
            self.pid = None;
        }
        serde_json::to_string(&self).unwrap_or_default()
    }
}

/// The directory under the root where `create` builds state directories
/// (see the module docs).
pub const STAGING: &str = ".creating~";
/// The pool of spare state directories under the root (see the module docs).
pub const SPARES: &str = ".spare~";
/// At most this many spare state directories are kept in the pool; a
/// directory retired into a full pool is removed instead.
pub const SPARE_CAP: usize = 64;
/// How often [`State::load`] reads a state file that does not parse (or
/// names another container) before it reports it corrupt.
pub const LOAD_ATTEMPTS: u32 = 3;
/// The state file's partner in the state directory: the previous
/// `state.json`, rewritten and swapped in by the next [`State::save`].
const TMP_FILE: &str = ".state.json.tmp";

/// Opens the directory `dir` and takes `how` (an flock(2) mode) on it.
/// (std's `File::lock` family is `flock(2)` on Linux; closing the file
/// releases the lock, with no extra unlock call.)
fn open_locked(dir: &Path, how: How) -> std::result::Result<File, Errno> {
    let errno = |e: io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    let f = File::open(dir).map_err(errno)?;
    let tried = match how {
        How::Exclusive => return f.lock().map(|()| f).map_err(errno),
        How::ExclusiveNonblock => f.try_lock(),
        How::SharedNonblock => f.try_lock_shared(),
    };
    match tried {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(Errno::EWOULDBLOCK),
        Err(fs::TryLockError::Error(e)) => Err(errno(e)),
    }
}

/// An flock(2) mode for [`open_locked`].
#[derive(Clone, Copy)]
enum How {
    /// `LOCK_EX`, waiting for it.
    Exclusive,
    /// `LOCK_EX | LOCK_NB`.
    ExclusiveNonblock,
    /// `LOCK_SH | LOCK_NB`.
    SharedNonblock,
}

/// Opens (making it if missing, never truncating) the file `path`, takes
/// `flock(LOCK_EX)` on it and rewrites it in place with `text` (written
/// at offset 0, then cut to its length). Returns the still-locked file.
fn rewrite(path: &Path, text: &[u8]) -> io::Result<File> {
    let f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.lock()?;
    f.write_all_at(text, 0)?;
    f.set_len(text.len() as u64)?;
    Ok(f)
}

/// The whole file `path`, read under `flock(LOCK_SH)` (see [`rewrite`]).
/// (A `String`: parsing with `serde_json::from_str`, as the bundle's
/// config is, shares the deserializer code; `from_slice` would add a
/// second copy of it, 260 KiB.)
fn read_locked(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    f.lock_shared()?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(text)
}

/// Makes sure `staging` (`<root>/.creating~`) exists, making the root
/// (0711) and it (0700) if missing (or not a directory: see
/// [`replace_by_dir`]); when it holds anything (its link count is not 2,
/// or not known), retires what dead creates left in it.
fn prepare_staging(root: &Path, staging: &Path) -> io::Result<()> {
    match fs::symlink_metadata(staging) {
        Ok(m) if m.is_dir() => {
            if m.nlink() != 2 {
                remove_stale(root, staging);
            }
            Ok(())
        }
        // Not a directory (a symlink, a file): never sprout's; followed,
        // a symlink would make its target's entries "stale staging
        // directories" to remove. Replaced by a directory.
        Ok(_) => replace_by_dir(staging),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(root)?;
            match fs::DirBuilder::new().mode(0o700).create(staging) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
                _ => Ok(()),
            }
        }
        Err(e) => Err(e),
    }
}

/// Unlinks the non-directory `path` (a symlink itself, not its target) and
/// makes a directory (0700) in its place; one made meanwhile by another
/// command is fine.
fn replace_by_dir(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// A new state directory at `tmp` (mode 0700), locked. A leftover at
/// `tmp` (of a dead thread that had our thread id) is retired first; a
/// staging directory gone meanwhile (removed by hand, or by an older
/// sprout that removed it when empty) is made again.
fn make_staged(root: &Path, tmp: &Path) -> io::Result<File> {
    let mkdir = || fs::DirBuilder::new().mode(0o700).create(tmp);
    for attempt in 1.. {
        match mkdir() {
            Ok(()) => break,
            Err(e) if attempt >= 10 => return Err(e),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => retire(root, tmp)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                prepare_staging(root, tmp.parent().unwrap_or(root))?;
            }
            Err(e) => return Err(e),
        }
    }
    open_locked(tmp, How::ExclusiveNonblock).map_err(io::Error::from)
}

/// Takes a spare state directory from `<root>/.spare~` to `tmp`, locked:
/// the first entry that opens as a directory, whose lock is free and that
/// is still there to rename (else another create took it) and that is,
/// at `tmp`, the directory locked. `None` when there is none (or no pool).
fn take_spare(root: &Path, tmp: &Path) -> Option<File> {
    let pool = root.join(SPARES);
    // A pool that is not a directory (a symlink) is no pool: its target's
    // directories are not spares.
    if !fs::symlink_metadata(&pool).is_ok_and(|m| m.is_dir()) {
        return None;
    }
    let rd = fs::read_dir(pool).ok()?;
    for e in rd.flatten() {
        let from = e.path();
        let dir_only = libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let Ok(lock) = fs::OpenOptions::new()
            .read(true)
            .custom_flags(dir_only)
            .open(&from)
        else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue;
        }
        let rename = || renameat2(&from, tmp, RenameFlags::RENAME_NOREPLACE);
        match rename() {
            Ok(()) => {}
            // Taken (and renamed away) by another create.
            Err(Errno::ENOENT) => continue,
            // A leftover of a dead thread that had our thread id.
            Err(Errno::EEXIST) => {
                if retire(root, tmp).is_err() || rename().is_err() {
                    return None;
                }
            }
            Err(_) => return None,
        }
        let same = |m: fs::Metadata| {
            lock.metadata()
                .is_ok_and(|held| held.dev() == m.dev() && held.ino() == m.ino())
        };
        if fs::symlink_metadata(tmp).is_ok_and(same) {
            return Some(lock);
        }
        // Not the directory locked (something put in the pool by hand):
        // back it goes (or away).
        let _ = retire(root, tmp);
    }
    None
}

/// Retires the state directory `dir` (missing is fine): parks it in the
/// pool ([`park`]), else removes it (its known files and the directory,
/// or, when more is in it, the whole tree). Something at `dir` that is
/// not a directory (a symlink) is unlinked, never followed.
fn retire(root: &Path, dir: &Path) -> io::Result<()> {
    match park(root, dir) {
        Ok(true) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Ok(false) | Err(_) => {}
    }
    // Not a directory (a symlink, a file): unlinked itself; the paths
    // below would resolve through a symlink into its target.
    if fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return match fs::remove_file(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    for name in [STATE_FILE, START_SOCKET, TMP_FILE] {
        let _ = fs::remove_file(dir.join(name));
    }
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Parks the state directory `dir` in `<root>/.spare~` (made, 0700, if
/// missing) as `<inode number>`, with `RENAME_NOREPLACE`, when it holds
/// only regular files `state.json` / `.state.json.tmp` and maybe
/// `start.sock` (removed first) and the pool has fewer than [`SPARE_CAP`]
/// entries. `Ok(false)`: not parked (something else in it, a full pool,
/// the rename failed); `NotFound`: `dir` is missing.
fn park(root: &Path, dir: &Path) -> io::Result<bool> {
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(false);
    }
    let mut socket = false;
    for e in fs::read_dir(dir)? {
        let e = e?;
        match e.file_name().to_str() {
            Some(STATE_FILE | TMP_FILE) if e.file_type()?.is_file() => {}
            Some(START_SOCKET) => socket = true,
            _ => return Ok(false),
        }
    }
    if socket {
        match fs::remove_file(dir.join(START_SOCKET)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Ok(false),
            _ => {}
        }
    }
    let pool = root.join(SPARES);
    if !spare_count(&pool).is_ok_and(|n| n < SPARE_CAP) {
        return Ok(false);
    }
    match renameat2(
        dir,
        &pool.join(meta.ino().to_string()),
        RenameFlags::RENAME_NOREPLACE,
    ) {
        Ok(()) => Ok(true),
        Err(Errno::ENOENT) if fs::symlink_metadata(dir).is_err() => {
            Err(io::ErrorKind::NotFound.into())
        }
        Err(_) => Ok(false),
    }
}

/// The number of spare directories in `pool`, made (0700) if missing (or
/// if not a directory: a symlink there is unlinked, never followed):
/// its link count less 2 (one per subdirectory, as on ext4, xfs and
/// tmpfs), or, where directories report fewer than 2 links (btrfs), its
/// entries counted.
fn spare_count(pool: &Path) -> io::Result<usize> {
    match fs::symlink_metadata(pool) {
        // Not a directory (a symlink, a file): parking would rename state
        // directories into a symlink's target. Replaced by a directory.
        Ok(m) if !m.is_dir() => replace_by_dir(pool).map(|()| 0),
        Ok(m) if m.nlink() >= 2 => Ok((m.nlink() - 2) as usize),
        Ok(_) => Ok(fs::read_dir(pool)?.count()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match fs::DirBuilder::new().mode(0o700).create(pool) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
                _ => Ok(0),
            }
        }
        Err(e) => Err(e),
    }
}

/// Retires ([`retire`]) the half-built state directories under `staging`
/// whose `create` is gone: named after a thread that no longer runs, and
/// unlocked (best effort). (An unlocked directory of a live thread may be
/// one its create has just made and not locked yet: it stays.)
fn remove_stale(root: &Path, staging: &Path) {
    let Ok(rd) = fs::read_dir(staging) else {
        return;
    };
    for e in rd.flatten() {
        let path = e.path();
        let tid: Option<i32> = e.file_name().to_str().and_then(|n| n.parse().ok());
        let gone = match tid {
            // kill(2) takes a thread id too (it signals that thread's process).
            Some(t) if t > 0 => matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(t), None),
                Err(Errno::ESRCH)
            ),
            _ => true,
        };
        if gone && let Ok(_held) = open_locked(&path, How::ExclusiveNonblock) {
            let _ = retire(root, &path);
        }
    }
}

/// Whether some process holds the lock of the state directory `dir` (a
/// non-blocking shared `flock` probe fails with `EWOULDBLOCK`).
fn lock_held(dir: &Path) -> bool {
    matches!(
        open_locked(dir, How::SharedNonblock),
        Err(Errno::EWOULDBLOCK)
    )
}

/// Start time of `pid` (field 22 of `/proc/PID/stat`, clock ticks after
/// boot), or `None` if there is no such process or it is a zombie.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    match proc_stat(pid)? {
        ('Z' | 'X', _) => None,
        (_, t) => Some(t),
    }
}

/// Whether `pid` is a zombie thread-group leader that started at
/// `start_time`: its process exited (`state` says stopped) but it has not
/// been reaped, or its other threads still run or are exiting (a leader
/// that called pthread_exit(3), the threads of an exit_group(2) on their
/// way out). Those threads are still in the container's cgroup.
pub fn proc_zombie_since(pid: i32, start_time: u64) -> bool {
    pid > 0 && proc_stat(pid) == Some(('Z', start_time))
}

/// (state, start time) of `pid` from `/proc/PID/stat` (proc(5): fields 3
/// and 22); `None` if there is no such process.
fn proc_stat(pid: i32) -> Option<(char, u64)> {
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
    let state = fields.next()?.chars().next()?; // field 3
    // fields 4..21 (18 of them), then field 22
    Some((state, fields.nth(18)?.parse().ok()?))
}

/// The innermost pid of host pid `pid`: the last `NSpid` of
/// `/proc/PID/status` (proc(5)), the pid as its own pid namespace sees it
/// (1 for that namespace's init; `pid` itself without a pid namespace of
/// its own). `None` when the process is gone or the line is missing.
pub fn innermost_pid(pid: i32) -> Option<i64> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
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
            namespaces: 0,
            own_pid_ns: false,
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

    /// A fresh, missing root for test `tag`.
    fn fresh_root(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("sprout-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        root
    }

    fn ino(path: &Path) -> u64 {
        fs::symlink_metadata(path).unwrap().ino()
    }

    /// The entries of `dir`, sorted (none if it is missing).
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn save_load_status_lock() {
        let root = fresh_root("basic");
        assert_eq!(
            State::load(&root, "c1").unwrap_err().to_string(),
            "container \"c1\" does not exist"
        );
        assert!(State::lock(&root, "c1").is_err());
        let mut st = sample(&root, "c1");
        let lock = st.publish().unwrap();
        assert_eq!(
            st.publish().unwrap_err().to_string(),
            "container \"c1\" already exists"
        );
        drop(lock);
        // The failed attempt's directory went to the pool; staging is empty.
        assert_eq!(names(&root.join(STAGING)), Vec::<String>::new());
        assert_eq!(names(&root.join(SPARES)).len(), 1);
        st.save().unwrap();
        let back = State::load(&root, "c1").unwrap();
        assert_eq!(back.pid, st.pid);
        assert_eq!(back.status(), Status::Created);
        assert_eq!(
            serde_json::to_value(back.oci_state(Status::Created)).unwrap()["annotations"]["a"],
            "b"
        );
        st.pid_start_time += 1; // a "recycled" pid
        assert_eq!(st.status(), Status::Stopped);
        assert_eq!(
            serde_json::to_value(st.oci_state(Status::Stopped)).unwrap()["pid"],
            0
        );
        assert!(!st.oci_state(Status::Stopped).for_hook().contains("\"pid\""));
        assert!(
            back.oci_state(Status::Created)
                .for_hook()
                .contains("\"pid\":")
        );
        assert_eq!(State::list_ids(&root).unwrap(), vec!["c1".to_string()]);
        {
            let _l = State::lock(&root, "c1").unwrap();
        }
        State::remove_dir(&root, "c1").unwrap();
        assert!(State::lock(&root, "c1").is_err());
        assert_eq!(
            State::load(&root, "c1").unwrap_err().to_string(),
            "container \"c1\" does not exist"
        );
        // Missing is fine.
        State::remove_dir(&root, "c1").unwrap();
        assert_eq!(names(&root), vec![STAGING.to_string(), SPARES.to_string()]);
        assert_eq!(names(&root.join(SPARES)).len(), 2);
        assert_eq!(State::list_ids(&root).unwrap(), Vec::<String>::new());
        fs::remove_dir_all(&root).unwrap();
    }

    /// A retired directory is parked under its inode number and the next
    /// publish (of another id, with a shorter state) reuses it, its state
    /// file rewritten whole; the stale start socket does not survive.
    #[test]
    fn park_and_reuse() {
        let root = fresh_root("reuse");
        let mut long = sample(&root, "old");
        long.annotations.insert("big".into(), "x".repeat(5000));
        let lock = long.publish().unwrap();
        long.save().unwrap();
        long.save().unwrap();
        let dir = State::dir(&root, "old");
        let dino = ino(&dir);
        let files = (ino(&dir.join(STATE_FILE)), ino(&dir.join(TMP_FILE)));
        std::os::unix::net::UnixListener::bind(dir.join(START_SOCKET)).unwrap();
        State::remove_dir(&root, "old").unwrap();
        drop(lock);
        assert!(!dir.exists());
        assert_eq!(names(&root.join(SPARES)), vec![dino.to_string()]);
        assert_eq!(
            names(&root.join(SPARES).join(dino.to_string())),
            vec![TMP_FILE.to_string(), STATE_FILE.to_string()]
        );

        let short = sample(&root, "new");
        let lock = short.publish().unwrap();
        let ndir = State::dir(&root, "new");
        assert_eq!(ino(&ndir), dino, "the spare is reused");
        assert_eq!(
            ino(&ndir.join(STATE_FILE)),
            files.0,
            "state.json rewritten in place"
        );
        assert_eq!(names(&root.join(SPARES)), Vec::<String>::new());
        assert_eq!(names(&root.join(STAGING)), Vec::<String>::new());
        // Exactly the new state, though it is shorter than what was there.
        let text = fs::read(ndir.join(STATE_FILE)).unwrap();
        assert_eq!(text, serde_json::to_vec(&short).unwrap());
        assert!(text.len() < 5000);
        let back = State::load(&root, "new").unwrap();
        assert_eq!(back.id, "new");
        assert!(!back.annotations.contains_key("big"));
        assert_eq!(
            State::load(&root, "old").unwrap_err().to_string(),
            "container \"old\" does not exist"
        );
        short.save().unwrap();
        assert_eq!(
            ino(&ndir.join(STATE_FILE)),
            files.1,
            "the saves swap the two files"
        );
        assert_eq!(State::list_ids(&root).unwrap(), vec!["new".to_string()]);
        drop(lock);
        fs::remove_dir_all(&root).unwrap();
    }

    /// Saves alternate between the same two inodes, each time leaving
    /// exactly the saved state in state.json.
    #[test]
    fn exchange_save() {
        let root = fresh_root("exchange");
        let mut st = sample(&root, "x");
        let _lock = st.publish().unwrap();
        let dir = st.state_dir();
        let first = ino(&dir.join(STATE_FILE));
        st.save().unwrap();
        let second = ino(&dir.join(STATE_FILE));
        assert_eq!(ino(&dir.join(TMP_FILE)), first);
        for i in 0..6 {
            st.pid = 1000 + i;
            if i % 2 == 0 {
                st.annotations.insert("pad".into(), "y".repeat(3000));
            } else {
                st.annotations.remove("pad");
            }
            st.save().unwrap();
            let now = (ino(&dir.join(STATE_FILE)), ino(&dir.join(TMP_FILE)));
            assert!(now == (first, second) || now == (second, first), "{now:?}");
            assert_eq!(
                fs::read(dir.join(STATE_FILE)).unwrap(),
                serde_json::to_vec(&st).unwrap()
            );
            assert_eq!(State::load(&root, "x").unwrap().pid, 1000 + i);
        }
        // Without state.json the save renames the temporary file into place.
        fs::remove_file(dir.join(STATE_FILE)).unwrap();
        st.save().unwrap();
        assert_eq!(State::load(&root, "x").unwrap().pid, st.pid);
        assert_eq!(names(&dir), vec![STATE_FILE.to_string()]);
        fs::remove_dir_all(&root).unwrap();
    }

    /// Readers racing with saves of states of different lengths always
    /// load one of the saved versions whole.
    #[test]
    fn loads_during_saves_see_whole_versions() {
        let root = fresh_root("race");
        let mut st = sample(&root, "r");
        let _lock = st.publish().unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let mut n = 0;
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            let back = State::load(&root, "r").unwrap();
                            assert!(
                                back.annotations
                                    .get("pad")
                                    .is_none_or(|p| p.len() == 4000 + back.pid as usize)
                            );
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            for i in 0..1000 {
                st.pid = i % 7;
                if i % 2 == 0 {
                    st.annotations
                        .insert("pad".into(), "z".repeat(4000 + st.pid as usize));
                } else {
                    st.annotations.remove("pad");
                }
                st.save().unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for r in readers {
                assert!(r.join().unwrap() > 0);
            }
        });
        fs::remove_dir_all(&root).unwrap();
    }

    /// A file that stays unparsable, or names another container, is
    /// reported corrupt after the retries.
    #[test]
    fn load_retries_then_reports_corrupt() {
        let root = fresh_root("corrupt");
        let st = sample(&root, "k");
        let _lock = st.publish().unwrap();
        let path = st.state_dir().join(STATE_FILE);
        fs::write(&path, "{\"ociVersion\":").unwrap();
        let e = State::load(&root, "k").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: corrupt state: ", path.display())),
            "{e}"
        );
        fs::write(&path, serde_json::to_vec(&sample(&root, "other")).unwrap()).unwrap();
        let e = State::load(&root, "k").unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: corrupt state: it is the state of container \"other\"",
                path.display()
            )
        );
        fs::remove_dir_all(&root).unwrap();
    }

    /// A full pool, or anything unexpected in the directory: removed, not parked.
    #[test]
    fn full_pool_or_unexpected_files_mean_removal() {
        let root = fresh_root("cap");
        let st = sample(&root, "a");
        drop(st.publish().unwrap());
        let dir = st.state_dir();
        fs::write(dir.join("extra"), "x").unwrap();
        State::remove_dir(&root, "a").unwrap();
        assert!(!dir.exists());
        assert_eq!(
            names(&root.join(SPARES)),
            Vec::<String>::new(),
            "not parked"
        );

        let pool = root.join(SPARES);
        fs::create_dir_all(&pool).unwrap();
        for i in 0..SPARE_CAP {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(pool.join(format!("filler{i}")))
                .unwrap();
        }
        drop(st.publish().unwrap()); // takes one of the fillers
        assert_eq!(names(&pool).len(), SPARE_CAP - 1);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(pool.join("refill"))
            .unwrap();
        let dino = ino(&dir);
        State::remove_dir(&root, "a").unwrap();
        assert!(!dir.exists());
        assert_eq!(names(&pool).len(), SPARE_CAP, "a full pool is not grown");
        assert!(!names(&pool).contains(&dino.to_string()));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn publish_retires_stale_staging_dirs() {
        let root = fresh_root("stale");
        let stale = root.join(STAGING).join("999999999");
        fs::create_dir_all(&stale).unwrap();
        fs::write(stale.join(STATE_FILE), "{}").unwrap();
        let sino = ino(&stale);
        let odd = root.join(STAGING).join("odd");
        fs::create_dir_all(odd.join("sub")).unwrap();
        let held = root.join(STAGING).join("1");
        fs::create_dir_all(&held).unwrap();
        let _busy = open_locked(&held, How::ExclusiveNonblock).unwrap();
        let st = sample(&root, "c2");
        drop(st.publish().unwrap());
        assert!(!stale.exists() && !odd.exists());
        assert!(held.exists(), "a staging dir whose create still runs stays");
        // The stale one (parked) was reused at once; the odd one removed.
        assert_eq!(ino(&st.state_dir()), sino);
        assert_eq!(State::load(&root, "c2").unwrap().id, "c2");
        assert_eq!(State::list_ids(&root).unwrap(), vec!["c2".to_string()]);
        fs::remove_dir_all(&root).unwrap();
    }

    /// `.creating~` and `.spare~` that are symlinks, and a symlink in
    /// `.creating~` named after a dead thread, are replaced or unlinked:
    /// the directories and files they point to are left alone.
    #[test]
    fn bookkeeping_symlinks_are_not_followed() {
        let root = fresh_root("symlinks");
        let victim = fresh_root("symlinks-victim");
        for d in ["a/deep", "b", "c"] {
            fs::create_dir_all(victim.join(d)).unwrap();
        }
        fs::write(victim.join("a/deep/file"), "keep").unwrap();
        fs::write(victim.join("c").join(STATE_FILE), "keep").unwrap();
        let listing = |d: &Path| -> Vec<String> {
            let mut v = vec![];
            let mut stack = vec![d.to_path_buf()];
            while let Some(p) = stack.pop() {
                for e in fs::read_dir(&p).unwrap().flatten() {
                    v.push(e.path().display().to_string());
                    if e.file_type().unwrap().is_dir() {
                        stack.push(e.path());
                    }
                }
            }
            v.sort();
            v
        };
        let before = listing(&victim);
        fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(&victim, root.join(STAGING)).unwrap();
        std::os::unix::fs::symlink(&victim, root.join(SPARES)).unwrap();
        let st = sample(&root, "s1");
        drop(st.publish().unwrap());
        State::remove_dir(&root, "s1").unwrap();
        let st = sample(&root, "s2");
        drop(st.publish().unwrap());
        State::remove_dir(&root, "s2").unwrap();
        assert_eq!(listing(&victim), before);
        for d in [STAGING, SPARES] {
            assert!(fs::symlink_metadata(root.join(d)).unwrap().is_dir(), "{d}");
        }
        assert_eq!(
            names(&root.join(SPARES)).len(),
            1,
            "parked in the real pool"
        );
        // A symlink in staging under this thread's id (as a dead thread
        // with the same id would have left it), and one in the pool.
        let mine = nix::unistd::gettid().to_string();
        std::os::unix::fs::symlink(victim.join("c"), root.join(STAGING).join(&mine)).unwrap();
        std::os::unix::fs::symlink(victim.join("b"), root.join(SPARES).join("1")).unwrap();
        let st = sample(&root, "s3");
        drop(st.publish().unwrap());
        State::remove_dir(&root, "s3").unwrap();
        assert_eq!(listing(&victim), before);
        assert_eq!(names(&root.join(STAGING)), Vec::<String>::new());
        // The pool's symlink is skipped (not a spare); then a directory.
        let st = sample(&root, "s4");
        drop(st.publish().unwrap());
        assert_eq!(listing(&victim), before);
        State::remove_dir(&root, "s4").unwrap();
        fs::remove_dir_all(&root).unwrap();
        fs::remove_dir_all(&victim).unwrap();
    }

    /// Concurrent publishes (threads) of distinct ids, with and without
    /// spares, all succeed with distinct directories; concurrent removals
    /// leave only the bookkeeping.
    #[test]
    fn concurrent_publishes_get_distinct_dirs() {
        let root = fresh_root("conc");
        for round in 0..4 {
            let inos: Vec<u64> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..16)
                    .map(|i| {
                        let root = &root;
                        s.spawn(move || {
                            let st = sample(root, &format!("t{round}-{i}"));
                            let lock = st.publish().unwrap();
                            let back = State::load(root, &st.id).unwrap();
                            assert_eq!(back.id, st.id);
                            st.save().unwrap();
                            let dino = ino(&st.state_dir());
                            drop(lock);
                            dino
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let mut distinct = inos.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 16, "{inos:?}");
            assert_eq!(State::list_ids(&root).unwrap().len(), 16);
            std::thread::scope(|s| {
                for i in 0..16 {
                    let root = &root;
                    s.spawn(move || State::remove_dir(root, &format!("t{round}-{i}")).unwrap());
                }
            });
            assert_eq!(names(&root), vec![STAGING.to_string(), SPARES.to_string()]);
            assert_eq!(names(&root.join(STAGING)), Vec::<String>::new());
            assert_eq!(names(&root.join(SPARES)).len(), 16);
        }
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
