//! Joining a container's cgroup from the child itself, without the
//! kernel's global threadgroup lock.
//!
//! Writing a pid to `cgroup.procs` (what runc and crun do, and
//! [`Cgroup::add_task`]) takes `cgroup_threadgroup_rwsem` for writing: the
//! first such write after a quiet spell waits for an RCU grace period
//! (measured here: 6-15 ms per container start) and blocks every fork on
//! the machine meanwhile. Two ways in avoid it:
//!
//! - **v1 hierarchies**: the freshly cloned child writes `0` (itself) to
//!   each hierarchy's `tasks` file. Moving only the calling thread skips
//!   the global lock (`cgroup_procs_write_start`: a thread moving itself
//!   needs no threadgroup stability); the child has one thread, so the
//!   whole process moves. The files are opened here by the controller;
//!   cgroup v1 checks permission with the opener's credentials.
//! - **cgroup2**: `clone3(CLONE_INTO_CGROUP)` with the cgroup directory's
//!   fd creates the child inside the cgroup (Linux 5.7); fork only takes
//!   the lock for reading.
//!
//! Either way the child is in the container's cgroup before it execs the
//! stub, so nothing the plan does runs outside it. Or, when the cgroup is
//! made while the stub starts (`launch::Deferred`), the child is born in
//! the cgroup2 directory and the stub writes `0` to the v1 `tasks` files,
//! sent to it over the sync socket, before its first mount
//! (`flags::JOIN_CGROUP`).
//!
//! A third way in is for a process that joins the cgroups *another*
//! process is in ([`join_files_of`]): the createContainer and
//! startContainer hooks, which runc starts from the container's init and
//! so has in the container's cgroups.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Cgroup, CgroupSetup, Layout, Result, clean, discover, io_err, read_small, rel};

/// What a child needs to join a cgroup by itself ([`Cgroup::join_fds`]).
#[derive(Debug, Default)]
pub struct JoinFds {
    /// Every v1 hierarchy's `tasks` file, opened write-only and
    /// close-on-exec, with its path (for messages) and whether a failed
    /// write is tolerated (named hierarchies such as `name=systemd` are
    /// joined best-effort, as [`Cgroup::add_task`] does).
    pub tasks: Vec<(OwnedFd, std::path::PathBuf, bool)>,
    /// The cgroup2 directory (`O_DIRECTORY`) for `CLONE_INTO_CGROUP`, with
    /// its path, and whether joining it is required (a Unified host) or
    /// best-effort (the controller-less cgroup2 of a Hybrid host).
    pub into: Option<(OwnedFd, std::path::PathBuf, bool)>,
}

impl Cgroup {
    /// Opens what a child needs to join this cgroup by itself (see the
    /// module docs). A v1 cpuset whose `cpuset.cpus` or `cpuset.mems` is empty (its parent
    /// lacks `cgroup.clone_children`) is filled from its parents first, or
    /// the kernel would refuse the task (ENOSPC).
    ///
    /// Errors: opening a controller hierarchy's `tasks` file or the cgroup2
    /// directory on a Unified host, naming the file; filling the cpuset.
    pub fn join_fds(&self) -> Result<JoinFds> {
        let mut out = JoinFds::default();
        for d in &self.v1 {
            if d.has("cpuset") {
                // Either one empty makes the kernel refuse the task (ENOSPC).
                let empty = |f: &str| {
                    super::read_small(&d.dir.join(f))
                        .unwrap_or_default()
                        .trim()
                        .is_empty()
                };
                if empty("cpuset.cpus") || empty("cpuset.mems") {
                    self.fill_empty_cpuset(d)?;
                }
            }
            let f = d.dir.join("tasks");
            match File::options()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&f)
            {
                Ok(file) => out.tasks.push((file.into(), f, d.named_only())),
                Err(_) if d.named_only() => {}
                Err(e) => return Err(io_err(&self.path, "open", &f, e)),
            }
        }
        if let Some((_, d)) = &self.unified {
            let required = self.setup == CgroupSetup::Unified;
            match File::options()
                .read(true)
                .custom_flags(libc::O_CLOEXEC | libc::O_DIRECTORY)
                .open(d)
            {
                Ok(dir) => out.into = Some((dir.into(), d.clone(), required)),
                Err(_) if !required => {}
                Err(e) => return Err(io_err(&self.path, "open", d, e)),
            }
        }
        Ok(out)
    }

    /// The fallback when `clone3(CLONE_INTO_CGROUP)` was refused: writes
    /// `pid` to the cgroup2 directory's `cgroup.procs` (required on a
    /// Unified host, best-effort on a Hybrid one).
    ///
    /// Errors: the write on a Unified host, naming the file.
    pub fn add_task_unified(&self, pid: i32) -> Result<()> {
        let Some((_, d)) = &self.unified else {
            return Ok(());
        };
        let f = d.join("cgroup.procs");
        match super::write_file(&f, &pid.to_string()) {
            Ok(()) => Ok(()),
            Err(_) if self.setup != CgroupSetup::Unified => Ok(()),
            Err(e) => Err(io_err(&self.path, "write pid to", &f, e)),
        }
    }
}

/// One file through which a process joins a cgroup by writing `0` to it
/// ([`join_files_of`]).
#[derive(Debug)]
pub struct JoinFile {
    /// The file, open write-only and close-on-exec.
    pub fd: OwnedFd,
    /// Its path, for messages (`/sys/fs/cgroup/cpu/sprout/ID/tasks`).
    pub path: PathBuf,
    /// A failed write is tolerated: a named v1 hierarchy (`name=systemd`)
    /// or the controller-less cgroup2 of a Hybrid host, which
    /// [`Cgroup::add_task`] joins best-effort too.
    pub optional: bool,
    /// cgroup2 only: the cgroup's directory (`O_DIRECTORY`, close-on-exec)
    /// for `clone3(CLONE_INTO_CGROUP)`: a child born in the cgroup needs
    /// no write to `cgroup.procs`, which takes the kernel's global
    /// threadgroup lock (a wait for an RCU grace period, 6-15 ms here).
    pub dir: Option<OwnedFd>,
}

/// Opens what a process needs to join every cgroup process `pid` is in:
/// for each line of `/proc/PID/cgroup` (as our cgroup namespace sees it)
/// whose hierarchy is mounted under /sys/fs/cgroup, the file to write `0`
/// to, in that line's order (v1 first, cgroup2 last, as the kernel lists
/// them): `tasks` in a v1 hierarchy (a single-threaded writer moves as a
/// whole, without the kernel's global threadgroup lock; see the module
/// docs), `cgroup.procs` in the cgroup2 one, with the cgroup2 directory
/// itself ([`JoinFile::dir`]).
///
/// This is how the createContainer and startContainer hooks get into the
/// container's cgroups: runc and crun start them from the container's
/// init, so they are in its cgroups in every hierarchy. Hierarchies not
/// mounted under /sys/fs/cgroup are passed over; on a Unified host only
/// the cgroup2 line counts (as in [`Cgroup`]).
///
/// Errors: reading `/proc/PID/cgroup` (`ENOENT`: the process is gone);
/// opening a file that is not [`JoinFile::optional`], naming it
/// (`linux.cgroupsPath: cgroup /sprout/ID: open /sys/fs/cgroup/cpu/sprout/ID/tasks: ...`).
pub fn join_files_of(pid: i32) -> Result<Vec<JoinFile>> {
    let layout = discover()?;
    let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = read_small(&file).map_err(|e| io_err(Path::new("/"), "read", &file, e))?;
    let mut out = Vec::new();
    for (cg, path, optional) in join_paths(&text, &layout) {
        match File::options()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(f) => {
                let dir = match path.ends_with("cgroup.procs") {
                    true => Some(open_dir(&cg, path.parent().unwrap_or(&path))),
                    false => None,
                };
                let dir = match dir {
                    Some(Err(_)) if optional => None,
                    Some(Err(e)) => return Err(e),
                    Some(Ok(d)) => Some(d),
                    None => None,
                };
                out.push(JoinFile {
                    fd: f.into(),
                    path,
                    optional,
                    dir,
                });
            }
            Err(_) if optional => {}
            Err(e) => return Err(io_err(&cg, "open", &path, e)),
        }
    }
    Ok(out)
}

/// `dir` (of cgroup `cg`) opened `O_DIRECTORY`, close-on-exec.
fn open_dir(cg: &Path, dir: &Path) -> Result<OwnedFd> {
    File::options()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_DIRECTORY)
        .open(dir)
        .map(OwnedFd::from)
        .map_err(|e| io_err(cg, "open", dir, e))
}

/// The files [`join_files_of`] opens for the `/proc/PID/cgroup` text
/// `text` on a host of `layout`: `(cgroup path, file, optional)`.
pub(super) fn join_paths(text: &str, layout: &Layout) -> Vec<(PathBuf, PathBuf, bool)> {
    let mut out = Vec::new();
    for line in text.lines() {
        // hierarchy-ID:controller-list:cgroup-path (the path may hold ':').
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let cg = clean(Path::new(path));
        if ctrls.is_empty() {
            if let Some(mount) = &layout.v2 {
                let optional = layout.setup != CgroupSetup::Unified;
                out.push((
                    cg.clone(),
                    mount.join(rel(&cg)).join("cgroup.procs"),
                    optional,
                ));
            }
            continue;
        }
        if layout.setup == CgroupSetup::Unified {
            continue;
        }
        let mut want: Vec<&str> = ctrls.split(',').collect();
        want.sort_unstable();
        let Some((have, mount)) = layout.v1.iter().find(|(c, _)| c.iter().eq(want.iter())) else {
            continue;
        };
        let optional = have.iter().all(|c| c.starts_with("name="));
        out.push((cg.clone(), mount.join(rel(&cg)).join("tasks"), optional));
    }
    out
}
