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

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;

use super::{Cgroup, CgroupSetup, Result, io_err};

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
