//! Launching a container in the foreground (`sprout run`): the controller
//! side of the message sequence in `sprout_protocol`'s crate docs.
//!
//! 1. Copy `sprout-init` into a sealed memfd (CVE-2019-5736: nothing in
//!    the container can ever write to the host's stub binary).
//! 2. Create the plan pipe, the `SOCK_SEQPACKET` sync socketpair and an
//!    error pipe (all CLOEXEC), move every fd the child needs above the
//!    highest fd number it must land on, prepare argv/envp, block the
//!    forwarded signals — everything before the fork.
//! 3. `clone3(2)` with the new-namespace flags (vfork-style unless the
//!    child must wait). The child joins the container's cgroup by itself
//!    (`cgroups::JoinFds`), waits for the id maps (user namespace), becomes
//!    root there, `dup2`s the plan/sync/namespace fds to `3+N`, `4+N`,
//!    `5+N...` and `execveat`s the memfd.
//! 4. Write the id maps, then the plan; save the state (`on_spawn`) while
//!    the stub works; then the sync loop: `Ready` →
//!    `prlimit` + `oom_score_adj` → `Run`; `Console` → keep the pty master;
//!    `Pid` → the container process is the stub's child; `Failed` → one
//!    line naming the config field ([`crate::failure`]). EOF after `Run`
//!    without `Failed` means the exec happened (the sync fd is CLOEXEC).
//! 5. Relay the pty (if any), forward signals, wait, and return the exit
//!    code (128+N for a death by signal N).
//!
//! On any error after the clone the [`Child`] guard kills (SIGKILL) and
//! reaps what was started; mounts live in the child's mount namespace and
//! vanish with it.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SealFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2};
use sprout_protocol::{MSG_LEN, Msg, flags};

use crate::cgroups::{Cgroup, JoinFds};
use crate::console;
use crate::error::{Context, Error, Result, errno_text};
use crate::failure;
use crate::plan::{Plan, clone_flags, map_text};
use crate::rlimit;
use crate::sys::{self, ChildSetup};
use crate::timing::Timer;

/// Environment variable overriding the stub's path.
pub const STUB_ENV: &str = "SPROUT_INIT";

/// Signals the controller forwards to the container process while it runs
/// (as `runc run` does); `SIGWINCH` resizes the pty instead when there is one.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGWINCH,
    Signal::SIGPWR,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
];

/// What `sprout run`/`create` add to the sync loop ([`Launched::sync`]).
#[derive(Default)]
pub struct RunOptions<'a> {
    /// `--pid-file`: where to write the container process's pid (once it is
    /// ready, before it execs).
    pub pid_file: Option<&'a Path>,
    /// Called on `Hooks` (the stub waits before pivot_root, see
    /// [`flags::HOOKS_BEFORE_PIVOT`]) with the container process's pid;
    /// `HooksDone` is sent when it returns `Ok`. An error fails the sync
    /// (and so kills the child).
    pub on_hooks: Option<&'a dyn Fn(Pid) -> Result<()>>,
    /// Called on `Ready` (setup in the container is done, pivot_root
    /// happened, the stub is still privileged) with the container
    /// process's pid, before `Run`: a foreground `run` runs the
    /// startContainer hooks here. An error fails the sync.
    pub on_ready: Option<&'a dyn Fn(Pid) -> Result<()>>,
    /// The container's OCI state as JSON (runtime.md "State"), given the
    /// container process's pid: sent with a seccomp notify listener
    /// (`linux.seccomp.listenerPath`). Without it a state with the pid,
    /// status `creating` and empty id and bundle is sent.
    pub container_state: Option<&'a dyn Fn(Pid) -> String>,
    /// The caller waits for the container process ([`Launched::wait`]:
    /// a foreground `run` or `exec`). Signals that arrive during the sync
    /// then stay pending in the signalfd and are forwarded to the
    /// container process once it runs, as runc's `run` queues them until
    /// the container has started; sent to sprout-init instead, they would
    /// kill it before its exec, or be lost on it as pid 1 of a new pid
    /// namespace. Otherwise (`create`, `run -d`, `exec -d`) they go to
    /// sprout-init as before: a `create` told to stop fails and cleans up.
    pub hold_signals: bool,
}

/// The stub's path: `$SPROUT_INIT`, else `sprout-init` next to this
/// executable (`/proc/self/exe`).
pub fn stub_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(STUB_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::io("locating sprout-init: /proc/self/exe", &e))?;
    Ok(exe.with_file_name("sprout-init"))
}

/// The largest stub [`load_stub`] copies, in bytes.
const MAX_STUB: usize = 16 << 20;

/// Copies the stub into a sealed memfd (`memfd_create(2)` with
/// `MFD_CLOEXEC|MFD_ALLOW_SEALING` (+`MFD_EXEC` where the kernel knows
/// it), then `F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE`).
/// Errors: the file cannot be opened or read, or is larger than
/// [`MAX_STUB`].
pub fn load_stub(path: &Path) -> Result<OwnedFd> {
    use nix::sys::memfd::{MemFdCreateFlag, memfd_create};
    let shown = path.display();
    // Where the path came from: the hint to give when it is wrong.
    let hint = match std::env::var_os(STUB_ENV).filter(|p| !p.is_empty()) {
        Some(_) => format!("from ${STUB_ENV}"),
        None => format!("next to sprout; set {STUB_ENV} to its path"),
    };
    // O_NONBLOCK: a FIFO must not hang the start (with the signals that
    // would stop it held); only a regular file is taken.
    let src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(format!("sprout-init \"{shown}\" ({hint}): open"), &e))?;
    match src.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            crate::bail!("sprout-init \"{shown}\" ({hint}): not a regular file")
        }
        Err(e) => return Err(Error::io(format!("sprout-init \"{shown}\": fstat"), &e)),
    }
    let base = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    const MFD_EXEC: libc::c_uint = 0x0010;
    let fd = match memfd_create(
        c"sprout-init",
        base | MemFdCreateFlag::from_bits_retain(MFD_EXEC),
    ) {
        Err(Errno::EINVAL) => memfd_create(c"sprout-init", base),
        r => r,
    }
    .ctx(|| "sprout-init: memfd_create")?;
    let dst = File::from(fd);
    // sendfile(2) until EOF: what std::io::copy ends up doing after two
    // fstats and a copy_file_range that fails across filesystems (EXDEV).
    // At most MAX_STUB bytes: the stub is ~30 KiB, and a `$SPROUT_INIT`
    // naming a device such as /dev/zero must not fill memory.
    let mut copied = 0usize;
    loop {
        match nix::sys::sendfile::sendfile(&dst, &src, None, 1 << 20) {
            Ok(0) => break,
            Ok(n) => {
                copied += n;
                if copied > MAX_STUB {
                    crate::bail!(
                        "sprout-init \"{shown}\": larger than {} MiB, not a sprout-init",
                        MAX_STUB >> 20
                    );
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => {
                return Err(Error::io(
                    format!("sprout-init \"{shown}\": copy to memfd"),
                    &std::io::Error::from(e),
                ));
            }
        }
    }
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(dst.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))
        .ctx(|| "sprout-init: sealing the memfd")?;
    Ok(OwnedFd::from(dst))
}

/// The started processes; dropping it before `done` kills (SIGKILL) and
/// reaps them, so that an error after the clone leaves nothing behind.
struct Child {
    /// The cloned child (the stub).
    pid: Pid,
    /// Its pidfd.
    pidfd: OwnedFd,
    /// The container process when the stub forked (`Pid` message).
    grandchild: Option<(Pid, OwnedFd)>,
    /// Set once everything was reaped.
    done: bool,
}

impl Child {
    /// The container process: the grandchild if the stub forked.
    fn container(&self) -> Pid {
        self.grandchild.as_ref().map_or(self.pid, |g| g.0)
    }

    fn container_pidfd(&self) -> &OwnedFd {
        self.grandchild.as_ref().map_or(&self.pidfd, |g| &g.1)
    }

    /// Sends `sig` to the container process (ESRCH ignored).
    fn signal(&self, sig: Signal) {
        let _ = kill(self.container(), sig);
    }

    /// Waits for the stub and describes how it ended.
    fn wait_stub(&mut self) -> String {
        let st = wait(self.pid);
        if self.grandchild.is_none() {
            self.done = true;
        }
        describe_status(st)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some((g, _)) = &self.grandchild {
            let _ = kill(*g, Signal::SIGKILL);
            wait(*g);
        }
        let _ = kill(self.pid, Signal::SIGKILL);
        wait(self.pid);
    }
}

/// `waitpid` until `pid` is gone (EINTR retried); `None` if it was not
/// our child any more.
fn wait(pid: Pid) -> Option<WaitStatus> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Err(Errno::EINTR) => continue,
            Ok(WaitStatus::StillAlive) => continue,
            Ok(st @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Some(st),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// The exit code for a wait status: the code, or 128+N for signal N.
fn exit_code(st: Option<WaitStatus>) -> i32 {
    match st {
        Some(WaitStatus::Exited(_, c)) => c,
        Some(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        _ => 1,
    }
}

fn describe_status(st: Option<WaitStatus>) -> String {
    match st {
        Some(WaitStatus::Exited(_, c)) => format!("exit status {c}"),
        Some(WaitStatus::Signaled(_, s, core)) => {
            format!("killed by {s}{}", if core { " (core dumped)" } else { "" })
        }
        _ => "status unknown".to_string(),
    }
}

/// Names of the new namespaces for the clone error message.
fn clone_desc(plan: &Plan) -> String {
    if plan.new_namespaces.is_empty() {
        "clone".to_string()
    } else {
        format!(
            "linux.namespaces: clone (new {})",
            plan.new_namespaces.join(", ")
        )
    }
}

/// Writes the id maps of a new user namespace. When the kernel refuses
/// the gid map (an unprivileged controller), `deny` is written to
/// `setgroups` and the map retried; then the plan gets `SKIP_SETGROUPS`.
/// Returns whether that happened.
fn write_id_maps(pid: Pid, plan: &Plan) -> Result<bool> {
    write_id_map_texts(pid, &map_text(&plan.uid_map), &map_text(&plan.gid_map))
}

/// [`write_id_maps`] with the texts of `/proc/PID/uid_map` and `gid_map`.
///
/// Errors: `linux.uidMappings: writing /proc/PID/uid_map: ...` (or the
/// gid map, or `setgroups`), with the kernel's errno.
fn write_id_map_texts(pid: Pid, uids: &str, gids: &str) -> Result<bool> {
    let uid_map = format!("/proc/{pid}/uid_map");
    write_once(&uid_map, uids).ctx(|| format!("linux.uidMappings: writing {uid_map}"))?;
    let gid_map = format!("/proc/{pid}/gid_map");
    match write_once(&gid_map, gids) {
        Ok(()) => Ok(false),
        Err(Errno::EPERM) => {
            let sg = format!("/proc/{pid}/setgroups");
            write_once(&sg, "deny").ctx(|| format!("linux.gidMappings: writing {sg}"))?;
            write_once(&gid_map, gids).ctx(|| format!("linux.gidMappings: writing {gid_map}"))?;
            Ok(true)
        }
        Err(e) => Err(e).ctx(|| format!("linux.gidMappings: writing {gid_map}")),
    }
}

/// After [`write_id_maps`] said `setgroups` is denied: the plan skips
/// `setgroups(2)`, and refuses `additionalGids`, which then cannot be set.
fn deny_setgroups(plan: &mut Plan) -> Result<()> {
    if !plan.additional_gids.is_empty() {
        crate::bail!(
            "process.user.additionalGids: setgroups is denied in the user namespace (the gid map needs it)"
        );
    }
    plan.flags |= flags::SKIP_SETGROUPS;
    Ok(())
}

/// One `write(2)` of the whole text (id maps must be written at once).
fn write_once(path: &str, text: &str) -> Result<(), Errno> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_errno)?;
    let n = f.write(text.as_bytes()).map_err(io_errno)?;
    if n != text.len() {
        Err(Errno::EIO)
    } else {
        Ok(())
    }
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Writes the pid file atomically (temp file + rename), as runc does; the
/// temporary file is a new one (`O_EXCL`, `O_NOFOLLOW`) under a random
/// name, removed again when the rename fails.
///
/// Errors: `--pid-file "PATH": ...` with the errno of the create, write or
/// rename.
pub fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let err = |e: &std::io::Error| Error::io(format!("--pid-file \"{}\"", path.display()), e);
    // A new file of our own (O_EXCL, O_NOFOLLOW): the directory may be
    // writable by others, who could have put a symlink at a name we pick
    // (CWE-59), and root would write through it. The name has our pid and
    // a random part; taken names are skipped.
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        // std's per-process random hash keys (getrandom(2)).
        let r = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), attempt);
        let tmp = path.with_file_name(format!(
            ".{name}.{}.{r:016x}.sprout-tmp",
            std::process::id()
        ));
        match File::options()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
            Err(e) => return Err(err(&e)),
        }
    };
    let written = file
        .write_all(pid.to_string().as_bytes())
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(&e));
    }
    Ok(())
}

/// Whether the process behind a pidfd still runs (a pidfd polls readable
/// once the process has exited; pidfd_open(2)).
pub fn pidfd_alive(pidfd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, PollTimeout::ZERO) {
            Err(Errno::EINTR) => continue,
            Ok(0) => return true,
            _ => return false,
        }
    }
}

/// Reads the child's pre-exec failure record, if it wrote one.
/// `cgroup_tasks` names the `tasks` files the child wrote to, in order.
fn child_failure(err_r: &OwnedFd, cgroup_tasks: &[PathBuf]) -> Option<String> {
    let mut rec = [0u8; 5];
    let mut f = File::from(err_r.try_clone().ok()?);
    let n = f.read(&mut rec).ok()?;
    if n != 5 {
        return None;
    }
    let raw = Errno::from_raw(u32::from_le_bytes([rec[1], rec[2], rec[3], rec[4]]) as i32);
    let errno = errno_text(raw);
    if rec[0] >= sys::stage::CGROUP
        && let Some(p) = cgroup_tasks.get((rec[0] - sys::stage::CGROUP) as usize)
    {
        return Some(format!(
            "linux.cgroupsPath: joining the container's cgroup: writing 0 to {}: {errno}",
            p.display()
        ));
    }
    // ENOENT from the exec of a file that exists: a script (`#!`: the
    // interpreter would need a path to the close-on-exec memfd) or a
    // program whose ELF interpreter is missing.
    let hint = if rec[0] == sys::stage::EXEC && raw == Errno::ENOENT {
        " (a script or a dynamically linked program? sprout-init must be the static binary itself)"
    } else {
        ""
    };
    Some(format!("{}: {errno}{hint}", sys::stage::name(rec[0])))
}

/// The signal mask the caller gave this process, saved by
/// [`block_forwarded_early`] for the container's process.
static ORIGINAL_MASK: std::sync::OnceLock<libc::sigset_t> = std::sync::OnceLock::new();

/// [`FORWARDED`] as a set, less a SIGHUP or SIGINT the caller left
/// ignored (`nohup`): those stay ignored here and are not passed on, as
/// `runc run` does not ([`sys::ignored_at_start`]).
fn forwarded_set() -> SigSet {
    let mut forwarded = SigSet::empty();
    for s in FORWARDED {
        if !sys::ignored_at_start(*s as i32) {
            forwarded.add(*s);
        }
    }
    forwarded
}

/// Blocks the signals a foreground `run` forwards ([`FORWARDED`]) before
/// anything is made (state directory, cgroup), saving the caller's mask
/// for the child (sprout-init runs with it; it clears the mask before the
/// container's exec, so the container process starts with none blocked).
/// A SIGTERM or SIGINT that arrives while the container is being set up
/// then stays pending in the signalfd (the sync does not read it, see
/// [`RunOptions::hold_signals`]) and is forwarded to the container once it
/// runs, as runc queues them, instead of killing this process half-way and
/// leaving a state directory and a cgroup for `delete`. If the start
/// fails, the error is reported and the pending signal dropped with this
/// process. Best effort: a failure leaves the later block of
/// [`block_forwarded`].
pub fn block_forwarded_early() {
    let mask = sys::current_sigmask();
    if forwarded_set().thread_block().is_ok() {
        let _ = ORIGINAL_MASK.set(mask);
    }
}

/// Blocks the signals a foreground container gets forwarded ([`FORWARDED`])
/// in this thread and opens a signalfd for them; returns the mask before,
/// which the child restores before its exec. Errors: the mask, signalfd.
fn block_forwarded() -> Result<(libc::sigset_t, SignalFd)> {
    let forwarded = forwarded_set();
    // Blocked already by `block_forwarded_early`: no second sigprocmask.
    let old_mask = match ORIGINAL_MASK.get() {
        Some(m) => *m,
        None => {
            let m = sys::current_sigmask();
            forwarded.thread_block().ctx(|| "blocking signals")?;
            m
        }
    };
    let sigfd = SignalFd::with_flags(&forwarded, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ctx(|| "signalfd")?;
    Ok((old_mask, sigfd))
}

/// Sends `Msg::Cgroup` with the `tasks` fds of `fds` (`SCM_RIGHTS`). A
/// stub that is gone already (it failed) is left to the sync loop, which
/// reports its own error.
fn send_cgroup(sock: &OwnedFd, fds: &JoinFds, child: &Child) -> Result<()> {
    let raw: Vec<RawFd> = fds.tasks.iter().map(|(fd, _, _)| fd.as_raw_fd()).collect();
    if raw.len() > sprout_protocol::MAX_CGROUP_FDS {
        crate::bail!(
            "linux.cgroupsPath: {} cgroup v1 hierarchies, more than sprout-init takes ({})",
            raw.len(),
            sprout_protocol::MAX_CGROUP_FDS
        );
    }
    let optional = fds
        .tasks
        .iter()
        .enumerate()
        .fold(0u32, |m, (i, (_, _, opt))| m | (*opt as u32) << i);
    let msg = Msg::Cgroup {
        count: raw.len() as u32,
        optional,
    };
    send_with_fds(sock, msg, &raw, child, "the cgroup's tasks files")
}

/// Sends `msg` with `fds` as `SCM_RIGHTS` on the sync socket. A stub that
/// is gone or going (its end closed, `EPIPE`/`ECONNRESET`, possibly before
/// its pidfd says so) is left to the sync loop, which reports how it
/// ended. Errors: `sendmsg(2)` otherwise, naming `what` was sent.
fn send_with_fds(sock: &OwnedFd, msg: Msg, fds: &[RawFd], child: &Child, what: &str) -> Result<()> {
    use nix::sys::socket::{ControlMessage, sendmsg};
    let bytes = msg.encode();
    let iov = [std::io::IoSlice::new(&bytes)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &cmsg };
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE | Errno::ECONNRESET) => return Ok(()),
            Err(_) if !pidfd_alive(&child.pidfd) => return Ok(()),
            r => {
                r.ctx(|| format!("sync socket: sendmsg of {what}"))?;
                return Ok(());
            }
        }
    }
}

/// When the plan has
/// [`mount_opts::CGROUP_TREE`](sprout_protocol::mount_opts::CGROUP_TREE)
/// ops (after `Msg::Cgroup`, whose directories they clone): waits for the
/// stub's `Msg::CgroupTreeParent` (the tmpfs they go into is made, so the
/// clones come after it in the container's mount table), then sends
/// `Msg::CgroupTrees` with the trees [`crate::mounts::cgroup_tree`] made,
/// tree `k` as fd `k`: all of them, or none when one could not be made
/// (the stub then clones them itself). Any other message (the stub failed: `Failed`) or the end of
/// the socket is left, unread, to the sync loop, which reports it; so is
/// a stub that is gone already, as in [`send_cgroup`].
fn send_cgroup_trees(sock: &OwnedFd, plan: &Plan, child: &Child) -> Result<()> {
    use sprout_protocol::mount_opts::CGROUP_TREE;
    let mut wanted = plan
        .mounts
        .iter()
        .filter(|op| op.opts & CGROUP_TREE != 0)
        .peekable();
    if wanted.peek().is_none() {
        return Ok(());
    }
    let mut buf = [0u8; sprout_protocol::MSG_LEN + 1];
    let peeked = loop {
        match recv(sock.as_raw_fd(), &mut buf, MsgFlags::MSG_PEEK) {
            Err(Errno::EINTR) => continue,
            r => break r,
        }
    };
    match peeked.ok().and_then(|n| Msg::decode(&buf[..n]).ok()) {
        Some(Msg::CgroupTreeParent) => match recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            // The stub went meanwhile (a reset comes before the records
            // still queued, this one included; the sync loop skips both).
            Err(Errno::ECONNRESET) => return Ok(()),
            r => {
                r.ctx(|| "sync socket: recv")?;
            }
        },
        _ => return Ok(()),
    }
    // All or none (tree `k` is fd `k`; the marks number them in op order).
    let trees: Vec<OwnedFd> = wanted
        .map(|op| crate::mounts::cgroup_tree(op, plan.rootfs_propagation))
        .collect::<Option<_>>()
        .unwrap_or_default();
    let raw: Vec<RawFd> = trees.iter().map(|t| t.as_raw_fd()).collect();
    let msg = Msg::CgroupTrees {
        count: raw.len() as u32,
    };
    send_with_fds(sock, msg, &raw, child, "the cgroup's mount trees")
}

/// Sends one sync message; a stub that is gone (`EPIPE`, `ECONNRESET`) is
/// left to the sync loop, which reports how it ended.
fn send_msg(sock: &OwnedFd, msg: Msg) -> Result<()> {
    match send(sock.as_raw_fd(), &msg.encode(), MsgFlags::MSG_NOSIGNAL) {
        // The stub is gone: the sync loop's EOF comes next and reports how
        // it ended (a bare EPIPE would not say).
        Err(Errno::EPIPE | Errno::ECONNRESET) => Ok(()),
        r => r.map(drop).ctx(|| "sync socket: send"),
    }
}

/// Whether every rlimit of `plan` keeps its hard limit at or below this
/// process's (see [`skip_ready_when_idle`]); an unreadable one counts as
/// raised.
fn rlimits_only_lower(plan: &Plan) -> bool {
    plan.rlimits
        .iter()
        .all(|r| sys::hard_limit(r.resource).is_ok_and(|hard| r.hard <= hard))
}

/// Lets the stub go from its setup straight on to the exec, without the
/// `Ready`/`Run` round trip, when the controller has nothing to do at
/// `Ready` (`controller_work` false: no pid file, no startContainer hook;
/// and no `oomScoreAdj`, `scheduler`, `ioPriority` or CPU affinity, no
/// pid namespace joined, no user namespace joined, neither `create`'s wait
/// for `start` nor hooks before pivot_root): the plan's rlimits are then
/// set by the stub itself (`setrlimit(2)`, `APPLY_RLIMITS`), which without
/// a new user namespace has exactly this process's privileges, as
/// `prlimit(2)` from here would. In a new user namespace the stub's
/// capabilities do not count for raising a hard limit
/// (`CAP_SYS_RESOURCE` is checked in the initial user namespace,
/// setrlimit(2)), so there the round trip is skipped only when no planned
/// hard limit is above this process's own, which the stub inherited:
/// lowering needs no privilege. Each round trip is two wake-ups across
/// processes (0.1-0.3 ms here).
pub fn skip_ready_when_idle(plan: &mut Plan, controller_work: bool) {
    let attrs = &plan.proc_attrs;
    let idle = !controller_work
        && plan.oom_score_adj.is_none()
        && attrs.sched.is_none()
        && attrs.ioprio.is_none()
        && attrs.cpus.is_none()
        && (plan.clone_flags & clone_flags::NEWUSER == 0 || rlimits_only_lower(plan))
        && !plan
            .join
            .iter()
            .any(|j| j.nstype & (clone_flags::NEWUSER | clone_flags::NEWPID) != 0)
        && plan.flags & (flags::WAIT_START | flags::HOOKS_BEFORE_PIVOT) == 0;
    if idle {
        plan.flags = (plan.flags & !flags::SYNC) | flags::APPLY_RLIMITS;
    }
}

/// A started stub: what the later phases need.
pub struct Launched {
    plan: Plan,
    child: Child,
    sync: OwnedFd,
    sigfd: SignalFd,
    err_r: OwnedFd,
    plan_sent: std::io::Result<()>,
    /// A read end of the plan pipe, kept until the sync loop ends: what
    /// is still unread in the pipe then ([`unread_plan`]) tells a program
    /// that never read its plan (not a sprout-init) from a stub that
    /// executed the container process. `None` when the plan did not fit
    /// the pipe whole (its write could then wait for a reader that is
    /// gone: a failed write tells instead).
    plan_r: Option<OwnedFd>,
    console: Option<OwnedFd>,
    /// The cgroup `tasks` files the child wrote to (for its failure message).
    cgroup_tasks: Vec<PathBuf>,
}

/// How [`spawn_with`] starts the stub.
pub struct SpawnOptions<'a> {
    /// `PR_SET_PDEATHSIG(SIGKILL)` on the stub: it dies with this
    /// controller (a foreground `run`/`exec`). False when the container
    /// process must outlive the command (`exec -d`, `create`). The kernel
    /// clears the setting at a change of uid or gid (a non-root
    /// `process.user`, a user namespace); the stub sets it again just
    /// before its exec ([`flags::PDEATHSIG`]), so the container process
    /// keeps it.
    pub pdeathsig: bool,
    /// The container's cgroup, which the child joins by itself before its
    /// exec (`Cgroup::join_fds`: v1 `tasks` writes of itself and
    /// `CLONE_INTO_CGROUP`), so that no pid is written to `cgroup.procs`
    /// under the kernel's global threadgroup lock.
    pub cgroup: Option<&'a Cgroup>,
    /// Or a cgroup that is made while the stub starts ([`Deferred`]).
    pub deferred: Option<Deferred<'a>>,
}

/// A cgroup made while the stub starts: only its cgroup2 directory exists
/// before the clone (`Cgroup::begin`). The child is cloned with just the
/// new pid namespace; the stub makes the other new namespaces itself
/// (`unshare(2)`, `Plan::unshare`: the network namespace alone costs about
/// 0.7 ms of kernel work here) while this process runs `finish` (the v1
/// directories and limits, about 0.45 ms), sends the `tasks` files
/// (`Msg::Cgroup`) and saves the state. The stub writes itself into them
/// (`flags::JOIN_CGROUP`) at the plan's `JoinCgroup` op, before the first
/// op that needs the cgroup ([`crate::mounts::place_join_cgroup`]): the
/// mounts before it overlap `finish`, and everything that depends on the
/// cgroup (cgroup mounts, the cgroup namespace, device nodes, hooks, the
/// container process) happens inside it, as before.
///
/// With a new user namespace too: the child is cloned into it (and the
/// new pid namespace), its id maps are written, and the stub then makes
/// the other namespaces as their owner, as a clone with all of them would.
/// Only without namespaces to join (their order against new ones);
/// otherwise `finish` runs before the clone and the child joins as with
/// [`SpawnOptions::cgroup`].
pub struct Deferred<'a> {
    /// The cgroup2 directory for `clone3(CLONE_INTO_CGROUP)`, if any.
    pub into: Option<OwnedFd>,
    /// Makes the rest of the cgroup; called with the child's pid and
    /// whether it was born in `into` (else `finish` joins it another
    /// way). Returns the fds the child needs to join.
    pub finish: &'a mut dyn FnMut(Pid, bool) -> Result<JoinFds>,
}

impl Default for SpawnOptions<'_> {
    fn default() -> Self {
        SpawnOptions {
            pdeathsig: true,
            cgroup: None,
            deferred: None,
        }
    }
}

/// Steps 1 to 3: prepares everything, clones the child that becomes the
/// stub (it joins `spawn_opts.cgroup` itself before its exec), writes the
/// id maps, sends the plan, then calls `on_spawn(pid)` (where the state is
/// saved) while the stub sets up the container.
///
/// Errors: preparing fds or the stub, `clone(2)`, `on_spawn`, the id maps.
/// After the clone, an error kills and reaps the child.
pub fn spawn_with(
    mut plan: Plan,
    on_spawn: &dyn Fn(Pid) -> Result<()>,
    spawn_opts: SpawnOptions<'_>,
    timer: &mut Timer,
) -> Result<Launched> {
    // ---- 1. prepare everything before the fork ----
    if plan.flags & flags::WAIT_START != 0 && !plan.seccomp.is_empty() {
        // `create`: the stub also waits for `start` after loading the filter.
        crate::seccomp::check_stub_syscalls(&plan.seccomp, plan.seccomp_listener.is_some(), true)?;
    }
    let stub = load_stub(&stub_path()?)?;
    timer.phase("copy sprout-init into a sealed memfd");
    let userns = plan.clone_flags & clone_flags::NEWUSER != 0;
    let mut deferred = spawn_opts.deferred;
    let mut early_join: Option<JoinFds> = None;
    if let Some(d) = deferred.take_if(|_| !plan.join.is_empty()) {
        // No overlap here (see `Deferred`): the cgroup first, joined by the child.
        early_join = Some((d.finish)(Pid::from_raw(0), true)?);
        drop(d.into);
    }
    plan.join_user_then_unshare();
    if deferred.is_some() {
        plan.unshare = plan.clone_flags
            & (clone_flags::NEWNS
                | clone_flags::NEWUTS
                | clone_flags::NEWIPC
                | clone_flags::NEWNET);
        plan.join_cgroup_in_stub();
    }
    // A new cgroup namespace is made by the stub itself, first thing after
    // the plan arrives (flags::NEW_CGROUPNS): the child joined the
    // container's cgroup before its exec, so the container sees that cgroup
    // as its root (runc's order), and the child need not wait for us.
    if plan.clone_flags & clone_flags::NEWCGROUP != 0 {
        plan.flags |= flags::NEW_CGROUPNS;
    }
    if spawn_opts.pdeathsig {
        plan.flags |= flags::PDEATHSIG;
    }
    let mut bytes = plan.encode()?;
    timer.phase("encode plan");

    let cloexec = OFlag::O_CLOEXEC;
    let (plan_r, plan_w) = pipe2(cloexec).ctx(|| "plan pipe")?;
    let (sync_parent, sync_child) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "sync socketpair")?;
    let (err_r, err_w) = pipe2(cloexec).ctx(|| "error pipe")?;
    // Without a user namespace the plan is final now: it goes into the
    // pipe before the clone when the pipe holds it whole (F_GETPIPE_SZ),
    // so the stub reads it at once instead of waiting for this process to
    // be scheduled again after the clone.
    let pipe_size = pipe_size(&plan_w);
    let mut plan_w = Some(plan_w);
    let mut plan_sent: Option<std::io::Result<()>> = None;
    if !userns && bytes.len() <= pipe_size {
        plan_sent = plan_w.take().map(|w| send_plan(w, &bytes));
    }
    // With a new user namespace the child waits for its id maps before the
    // exec (an unmapped root would lose its capabilities in execve).
    let wait_pipe = if userns {
        Some(pipe2(cloexec).ctx(|| "id-map pipe")?)
    } else {
        None
    };

    // Every fd the child keeps goes above the highest number it must land on.
    // (The originals are consumed: a leftover copy of the child's sync end
    // here would hide the EOF that means "exec happened".)
    let trees: Vec<(&OwnedFd, u32)> = plan
        .mounts
        .iter()
        .filter_map(|o| o.tree.as_ref().map(|t| (&*t.0, o.major)))
        .collect();
    let floor =
        (plan.sync_fd as RawFd + plan.join.len() as RawFd + 2 + trees.len() as RawFd).max(10);
    let hi = |fd: OwnedFd| sys::dup_above(&fd, floor).ctx(|| "fcntl(F_DUPFD_CLOEXEC)");
    let plan_r = hi(plan_r)?;
    let sync_child = hi(sync_child)?;
    let stub = hi(stub)?;
    let err_w = hi(err_w)?;
    let ns_fds: Vec<OwnedFd> = plan
        .join
        .iter()
        .map(|j| sys::dup_above(&j.fd, floor).ctx(|| "fcntl(F_DUPFD_CLOEXEC)"))
        .collect::<Result<_>>()?;
    let mut moves = vec![
        (plan_r.as_raw_fd(), plan.plan_fd as RawFd),
        (sync_child.as_raw_fd(), plan.sync_fd as RawFd),
    ];
    moves.extend(
        ns_fds
            .iter()
            .zip(&plan.join)
            .map(|(fd, j)| (fd.as_raw_fd(), j.stub_fd as RawFd)),
    );
    // `create`: the listening start socket, on `start_fd` in the stub.
    let start_fd = match &plan.start_socket {
        Some(sock) => Some(sys::dup_above(sock, floor).ctx(|| "fcntl(F_DUPFD_CLOEXEC)")?),
        None => None,
    };
    if let Some(fd) = &start_fd {
        moves.push((fd.as_raw_fd(), plan.start_fd() as RawFd));
    }
    // Detached mount trees (mount_opts::MOVE_FD), on their ops' `major`.
    let tree_fds: Vec<OwnedFd> = trees
        .iter()
        .map(|(fd, _)| sys::dup_above(*fd, floor).ctx(|| "fcntl(F_DUPFD_CLOEXEC)"))
        .collect::<Result<_>>()?;
    moves.extend(
        tree_fds
            .iter()
            .zip(&trees)
            .map(|(fd, (_, n))| (fd.as_raw_fd(), *n as RawFd)),
    );

    let argv_s = [
        CString::from(c"sprout-init"),
        CString::from(c"--controller"),
        CString::new(plan.plan_fd.to_string()).expect("digits"),
        CString::new(plan.sync_fd.to_string()).expect("digits"),
    ];
    let argv_refs: Vec<&std::ffi::CStr> = argv_s.iter().map(|s| s.as_c_str()).collect();
    let argv = sys::ptr_array(&argv_refs);
    let envp = sys::ptr_array(&[]);

    if plan.join.iter().any(|j| j.nstype == clone_flags::NEWPID)
        || plan.unshare & clone_flags::NEWPID != 0
    {
        // The stub forks after joining a pid namespace and its parent exits:
        // the container process must become our child to be waited for.
        nix::sys::prctl::set_child_subreaper(true).ctx(|| "prctl(PR_SET_CHILD_SUBREAPER)")?;
    }
    let (old_mask, sigfd) = block_forwarded()?;

    let mut join: JoinFds = match (spawn_opts.cgroup, early_join) {
        (_, Some(j)) => j,
        (Some(cg), None) => cg.join_fds().map_err(crate::lifecycle::cg_err)?,
        (None, None) => JoinFds::default(),
    };
    if let Some(d) = &mut deferred {
        join.into = d.into.take().map(|fd| (fd, PathBuf::new(), false));
    }
    let tasks: Vec<(RawFd, bool)> = join
        .tasks
        .iter()
        .map(|(fd, _, optional)| (fd.as_raw_fd(), *optional))
        .collect();
    let cgroup_tasks: Vec<PathBuf> = join.tasks.iter().map(|(_, p, _)| p.clone()).collect();
    let setup = ChildSetup {
        clone_flags: plan.clone_flags & !clone_flags::NEWCGROUP & !plan.unshare,
        wait_fd: wait_pipe.as_ref().map_or(-1, |(r, _)| r.as_raw_fd()),
        wait_peer_fd: wait_pipe.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
        become_root: userns,
        fd_moves: &moves,
        exec_fd: stub.as_raw_fd(),
        argv: &argv,
        envp: &envp,
        sigmask: &old_mask,
        err_fd: err_w.as_raw_fd(),
        pdeathsig: spawn_opts.pdeathsig,
        cgroup_tasks: &tasks,
        into_cgroup: join.into.as_ref().map_or(-1, |(fd, _, _)| fd.as_raw_fd()),
    };
    timer.phase("prepare fds, argv, signals");

    // ---- 2. clone ----
    let spawned = sys::spawn(&setup).ctx(|| clone_desc(&plan))?;
    let child = Child {
        pid: Pid::from_raw(spawned.pid),
        pidfd: spawned.pidfd,
        grandchild: None,
        done: false,
    };
    drop(join.tasks);
    if let (Some(cg), Some(_), false) = (spawn_opts.cgroup, &join.into, spawned.in_cgroup) {
        cg.add_task_unified(child.pid.as_raw())
            .map_err(crate::lifecycle::cg_err)?;
    }
    let mut cgroup_tasks = cgroup_tasks;
    // The child has its copies now. (The namespace files in `plan.join`
    // stay open: failure messages name their paths.)
    drop((sync_child, stub, err_w, ns_fds, start_fd, tree_fds));
    // Kept to see what the stub left unread (see `Launched::plan_r`).
    let mut plan_r = Some(plan_r);
    timer.phase("clone");

    // ---- 3. id maps, plan ----
    if let Some((wait_r, wait_w)) = wait_pipe {
        drop(wait_r);
        if write_id_maps(child.pid, &plan)? {
            deny_setgroups(&mut plan)?;
            bytes = plan.encode()?;
        }
        File::from(wait_w)
            .write_all(b"1")
            .map_err(|e| Error::io("id-map pipe: write", &e))?;
        timer.phase("write id maps");
    }
    if bytes.len() > pipe_size {
        plan_r = None;
    }
    let plan_sent = match (plan_sent, plan_w) {
        (Some(sent), _) => sent,
        (None, Some(w)) => send_plan(w, &bytes),
        (None, None) => Ok(()),
    };
    timer.phase("send plan");
    if let Some(d) = deferred {
        // The stub unshares its namespaces meanwhile (see `Deferred`).
        let fds = (d.finish)(child.pid, spawned.in_cgroup || join.into.is_none())?;
        send_cgroup(&sync_parent, &fds, &child)?;
        send_cgroup_trees(&sync_parent, &plan, &child)?;
        cgroup_tasks = fds.tasks.into_iter().map(|(_, p, _)| p).collect();
        timer.phase("cgroup (while the stub starts)");
    }
    // After the plan: the stub sets up the container meanwhile. (It is in
    // its cgroup already; an error here kills it.) The stub may be gone by
    // now: it failed (the sync loop reports its own one-line error), or it
    // forked into a joined pid namespace and its parent half exited (the
    // container process's pid is saved at `Ready`). Either way an error
    // about the exited stub must not hide that.
    if let Err(e) = on_spawn(child.pid)
        && pidfd_alive(&child.pidfd)
    {
        return Err(e);
    }
    timer.phase("on spawn (save state)");
    Ok(Launched {
        plan,
        child,
        sync: sync_parent,
        sigfd,
        err_r,
        plan_sent,
        plan_r,
        console: None,
        cgroup_tasks,
    })
}

/// The namespaces of a `run` whose stub can start before its plan is
/// computed ([`spawn_early`]): every `linux.namespaces` entry is new (no
/// `path`) and a mount namespace is among them. With a user namespace
/// also: both id maps valid and mapping container id 0
/// ([`early_id_maps`]), and no bind mount (in a user namespace the
/// controller may clone one into a detached tree the stub must inherit,
/// which an early stub cannot). Returns the `CLONE_NEW*` flags of the
/// clone and the stub's unshare together (the time namespace excluded:
/// the stub makes it later), or `None` where the usual order applies.
pub fn early_namespaces(spec: &oci_spec::runtime::Spec) -> Option<u32> {
    let mut flags = 0u32;
    for ns in spec.linux().as_ref()?.namespaces().as_ref()? {
        if ns.path().is_some() {
            return None;
        }
        match crate::plan::ns_kind(ns.typ()).1 {
            clone_flags::NEWTIME => {}
            f => flags |= f,
        }
    }
    if flags & clone_flags::NEWUSER != 0
        && (early_id_maps(spec).is_none()
            || spec.mounts().iter().flatten().any(crate::mounts::is_bind))
    {
        return None;
    }
    (flags & clone_flags::NEWNS != 0).then_some(flags)
}

/// The `uid_map` and `gid_map` texts an early stub in a new user
/// namespace gets ([`spawn_early`]), from `linux.uidMappings` and
/// `linux.gidMappings`; `None` unless both are valid, non-empty and map
/// container id 0 (otherwise [`Plan::compute`] names the field first).
pub fn early_id_maps(spec: &oci_spec::runtime::Spec) -> Option<(String, String)> {
    let linux = spec.linux().as_ref()?;
    let uids = crate::plan::id_maps("linux.uidMappings", linux.uid_mappings()).ok()?;
    let gids = crate::plan::id_maps("linux.gidMappings", linux.gid_mappings()).ok()?;
    let root = |m: &[crate::plan::IdMap]| m.iter().any(|m| m.contains(0));
    (root(&uids) && root(&gids)).then(|| (map_text(&uids), map_text(&gids)))
}

/// A stub started before its plan exists ([`spawn_early`]).
pub struct Early {
    /// First: dropped (killed) before the sync socket closes, so that a
    /// stub cut off by an error here never reports a broken pipe.
    child: Child,
    sync: OwnedFd,
    sigfd: SignalFd,
    err_r: OwnedFd,
    plan_w: Option<OwnedFd>,
    /// A read end of the plan pipe (see `Launched::plan_r`).
    plan_r: Option<OwnedFd>,
    /// All the new namespaces ([`early_namespaces`]).
    namespaces: u32,
    /// The part the stub unshares itself.
    unshare: u32,
    preserve_fds: u32,
    /// Born in the cgroup2 directory, or there is none to join.
    in_cgroup: bool,
    /// The signal mask before the forwarded signals were blocked.
    old_mask: libc::sigset_t,
    /// With a new user namespace: what writing its id maps gave
    /// ([`write_id_maps`]: whether `setgroups` is denied), reported by
    /// [`Early::complete`], after the plan's own errors.
    id_maps: Option<Result<bool>>,
}

/// Starts the stub of a foreground `run` before its plan is computed, so
/// that the kernel makes its namespaces (the stub's `unshare`, about 0.6
/// ms here) while this process computes the plan, then makes the cgroup
/// ([`Early::complete`]). The child is cloned with the new pid namespace
/// only, into the cgroup2 directory `into` (`Cgroup::begin`), and runs
/// `sprout-init --controller PLANFD SYNCFD UNSHARE`: the stub unshares the
/// other namespaces of `namespaces` ([`early_namespaces`]) first and then
/// reads its plan. It dies with this process (`PR_SET_PDEATHSIG`).
///
/// With a new user namespace in `namespaces`, `id_maps` holds its
/// `uid_map` and `gid_map` texts ([`early_id_maps`]): the child is cloned
/// into it too (and the pid namespace), waits for the maps, which are
/// written right after the clone, becomes its root and then runs the
/// stub, which makes the other namespaces as their owner, as the usual
/// order does ([`Deferred`]). A failed map write is reported by
/// [`Early::complete`].
///
/// Errors: the stub's memfd, pipes, sockets, signals, `clone(2)`.
pub fn spawn_early(
    namespaces: u32,
    id_maps: Option<(String, String)>,
    preserve_fds: u32,
    into: Option<RawFd>,
    timer: &mut Timer,
) -> Result<Early> {
    let stub = load_stub(&stub_path()?)?;
    let unshare = namespaces
        & (clone_flags::NEWNS | clone_flags::NEWUTS | clone_flags::NEWIPC | clone_flags::NEWNET);
    let cloexec = OFlag::O_CLOEXEC;
    let (plan_r, plan_w) = pipe2(cloexec).ctx(|| "plan pipe")?;
    let (sync_parent, sync_child) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "sync socketpair")?;
    let (err_r, err_w) = pipe2(cloexec).ctx(|| "error pipe")?;
    // With a new user namespace the child waits for its id maps before the
    // exec (an unmapped root would lose its capabilities in execve).
    if (namespaces & clone_flags::NEWUSER != 0) != id_maps.is_some() {
        crate::bail!("internal error: spawn_early takes id maps exactly with a new user namespace");
    }
    let wait_pipe = match id_maps {
        Some(_) => Some(pipe2(cloexec).ctx(|| "id-map pipe")?),
        None => None,
    };
    // The numbers the plan gives them (`Plan::plan_fd`, `Plan::sync_fd`).
    let (plan_fd, sync_fd) = (3 + preserve_fds as RawFd, 4 + preserve_fds as RawFd);
    let floor = (sync_fd + 2).max(10);
    let hi = |fd: OwnedFd| sys::dup_above(&fd, floor).ctx(|| "fcntl(F_DUPFD_CLOEXEC)");
    let plan_r = hi(plan_r)?;
    let sync_child = hi(sync_child)?;
    let stub = hi(stub)?;
    let err_w = hi(err_w)?;
    let moves = [
        (plan_r.as_raw_fd(), plan_fd),
        (sync_child.as_raw_fd(), sync_fd),
    ];
    let argv_s = [
        CString::from(c"sprout-init"),
        CString::from(c"--controller"),
        CString::new(plan_fd.to_string()).expect("digits"),
        CString::new(sync_fd.to_string()).expect("digits"),
        CString::new(unshare.to_string()).expect("digits"),
    ];
    let argv_refs: Vec<&std::ffi::CStr> = argv_s.iter().map(|s| s.as_c_str()).collect();
    let argv = sys::ptr_array(&argv_refs);
    let envp = sys::ptr_array(&[]);
    let (old_mask, sigfd) = block_forwarded()?;
    let setup = ChildSetup {
        clone_flags: namespaces & !clone_flags::NEWCGROUP & !unshare,
        wait_fd: wait_pipe.as_ref().map_or(-1, |(r, _)| r.as_raw_fd()),
        wait_peer_fd: wait_pipe.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
        become_root: id_maps.is_some(),
        fd_moves: &moves,
        exec_fd: stub.as_raw_fd(),
        argv: &argv,
        envp: &envp,
        sigmask: &old_mask,
        err_fd: err_w.as_raw_fd(),
        pdeathsig: true,
        cgroup_tasks: &[],
        into_cgroup: into.unwrap_or(-1),
    };
    timer.phase("copy sprout-init into a sealed memfd, prepare fds");
    // (The stub makes the other namespaces itself and names its own failures.)
    let spawned = sys::spawn(&setup).ctx(|| {
        format!(
            "linux.namespaces: clone (new {})",
            crate::exec::namespace_names(setup.clone_flags)
        )
    })?;
    let child = Child {
        pid: Pid::from_raw(spawned.pid),
        pidfd: spawned.pidfd,
        grandchild: None,
        done: false,
    };
    drop((sync_child, stub, err_w));
    // The maps now: the child waits for them before it becomes the stub.
    // (A failure closes the pipe unwritten: the child ends at its wait.)
    let id_maps = match (wait_pipe, id_maps) {
        (Some((wait_r, wait_w)), Some((uids, gids))) => {
            drop(wait_r);
            let written = write_id_map_texts(child.pid, &uids, &gids).and_then(|denied| {
                File::from(wait_w)
                    .write_all(b"1")
                    .map_err(|e| Error::io("id-map pipe: write", &e))?;
                Ok(denied)
            });
            Some(written)
        }
        _ => None,
    };
    timer.phase("clone (the stub makes its namespaces)");
    Ok(Early {
        child,
        sync: sync_parent,
        sigfd,
        err_r,
        plan_w: Some(plan_w),
        plan_r: Some(plan_r),
        namespaces,
        unshare,
        preserve_fds,
        in_cgroup: spawned.in_cgroup || into.is_none(),
        old_mask,
        id_maps,
    })
}

impl Early {
    /// Whether `plan` is the one this stub was started for: the same new
    /// namespaces, none to join, no detached mount trees and no start
    /// socket (fds it would have had to inherit), the same fd numbers.
    /// Otherwise drop `self` (the stub is killed) and start the usual way.
    pub fn fits(&self, plan: &Plan) -> bool {
        plan.clone_flags == self.namespaces
            && plan.join.is_empty()
            && plan.start_socket.is_none()
            && plan.mounts.iter().all(|o| o.tree.is_none())
            && plan.plan_fd == 3 + self.preserve_fds
            && plan.sync_fd == 4 + self.preserve_fds
    }

    /// Gives up on this stub (it is killed and reaped) and unblocks the
    /// signals [`spawn_early`] blocked, for a start the usual way.
    pub fn abandon(self) {
        let mask = self.old_mask;
        drop(self);
        sys::set_sigmask(&mask);
    }

    /// Sends the plan (the stub reads it after its `unshare`), makes the
    /// cgroup with `finish` and sends its `tasks` files (as
    /// [`Deferred`]), then calls `on_spawn(pid)`; returns what the later
    /// phases need, as [`spawn_with`] does. Call only when [`Early::fits`].
    ///
    /// Errors: encoding the plan, `finish`, sending the cgroup, `on_spawn`;
    /// the stub is killed and reaped on error.
    pub fn complete(
        mut self,
        mut plan: Plan,
        on_spawn: &dyn Fn(Pid) -> Result<()>,
        finish: &mut dyn FnMut(Pid, bool) -> Result<JoinFds>,
        timer: &mut Timer,
    ) -> Result<Launched> {
        if let Some(written) = self.id_maps.take()
            && written?
        {
            deny_setgroups(&mut plan)?;
        }
        if plan.clone_flags & clone_flags::NEWCGROUP != 0 {
            plan.flags |= flags::NEW_CGROUPNS;
        }
        // Spawned with PR_SET_PDEATHSIG, which the stub must keep.
        plan.flags |= flags::PDEATHSIG;
        plan.join_cgroup_in_stub();
        let bytes = plan.encode()?;
        // (Encoded without: the stub unshared them from its argv. Kept for
        // failure messages.)
        plan.unshare = self.unshare;
        let mut plan_r = self.plan_r.take();
        let plan_sent = match self.plan_w.take() {
            Some(w) => {
                if bytes.len() > pipe_size(&w) {
                    plan_r = None;
                }
                send_plan(w, &bytes)
            }
            None => Ok(()),
        };
        timer.phase("encode and send plan");
        let fds = finish(self.child.pid, self.in_cgroup)?;
        send_cgroup(&self.sync, &fds, &self.child)?;
        send_cgroup_trees(&self.sync, &plan, &self.child)?;
        let cgroup_tasks = fds.tasks.into_iter().map(|(_, p, _)| p).collect();
        timer.phase("cgroup (while the stub starts)");
        if let Err(e) = on_spawn(self.child.pid)
            && pidfd_alive(&self.child.pidfd)
        {
            return Err(e);
        }
        timer.phase("on spawn (save state)");
        let Early {
            child,
            sync,
            sigfd,
            err_r,
            ..
        } = self;
        Ok(Launched {
            plan,
            child,
            sync,
            sigfd,
            err_r,
            plan_sent,
            plan_r,
            console: None,
            cgroup_tasks,
        })
    }
}

impl Launched {
    /// The container process: the stub, or its child when it forked after
    /// joining a pid namespace (known once `Pid` arrived, i.e. after
    /// [`Launched::sync`]).
    pub fn pid(&self) -> Pid {
        self.child.container()
    }

    /// Takes the pty master the stub sent (`process.terminal`), so that
    /// [`Launched::wait`] does not relay it: for `--console-socket`
    /// ([`console::send_to_socket`]).
    pub fn take_console(&mut self) -> Option<OwnedFd> {
        self.console.take()
    }

    /// Leaves the container process running on its own (`exec -d`): reaps
    /// the stub's parent half when it forked (it exits right after `Pid`),
    /// and returns the container process's pid. Nothing is killed; the
    /// process is reparented to the nearest subreaper or init once this
    /// controller exits. Call after [`Launched::sync`].
    pub fn detach(mut self) -> Pid {
        let pid = self.child.container();
        if self.child.grandchild.is_some() {
            wait(self.child.pid);
        }
        self.child.done = true;
        pid
    }

    /// Step 4: the sync loop until the sync socket closes (or, with
    /// [`flags::WAIT_START`], until `Created`). `Ready` is answered with
    /// `Run` after prlimit, oom_score_adj and the pid file; `Hooks` with
    /// `HooksDone` after [`RunOptions::on_hooks`].
    ///
    /// Errors: a `Failed` report (in words), the stub dying before `Ready`,
    /// a prlimit/oom_score_adj/pid-file failure, a protocol violation. The
    /// child is killed and reaped on error (when `self` is dropped).
    pub fn sync(&mut self, opts: &RunOptions<'_>, timer: &mut Timer) -> Result<()> {
        let plan = &self.plan;
        let mut failed: Option<String> = None;
        // Without `SYNC` (see [`skip_ready_when_idle`]) no `Ready` comes:
        // EOF without `Failed` is the exec.
        let mut running = plan.flags & flags::SYNC == 0;
        let mut created = false;
        let wait_start = plan.flags & flags::WAIT_START != 0;
        let mut buf = [0u8; MSG_LEN + 1];
        while !created {
            let (sync_ready, sig_ready) = {
                let mut fds = [
                    PollFd::new(self.sync.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN),
                ];
                // Held signals: the signalfd is not watched until `wait`.
                let n = if opts.hold_signals { 1 } else { 2 };
                match poll(&mut fds[..n], PollTimeout::NONE) {
                    Err(Errno::EINTR) => continue,
                    r => r.ctx(|| "poll")?,
                };
                (
                    fds[0].any().unwrap_or(false),
                    n == 2 && fds[1].any().unwrap_or(false),
                )
            };
            if sig_ready {
                forward_signals(&self.sigfd, &self.child, self.console.as_ref());
            }
            if !sync_ready {
                continue;
            }
            let rec = match sys::recv_record(&self.sync, &mut buf) {
                // The stub exited with unread data in its queue: the kernel
                // reports ECONNRESET once, before the records it did send
                // (a `Failed` among them), then EOF.
                Err(Errno::ECONNRESET) => continue,
                r => r.ctx(|| "sync socket: recv")?,
            };
            if rec.len == 0 {
                break;
            }
            let msg = if rec.truncated || rec.len != MSG_LEN {
                None
            } else {
                Msg::decode(&buf[..rec.len]).ok()
            };
            let Some(msg) = msg else {
                crate::bail!(
                    "sync socket: malformed message from sprout-init ({} bytes)",
                    rec.len
                );
            };
            match msg {
                Msg::Failed { step, errno, arg } => {
                    failed.get_or_insert_with(|| match self.cgroup_tasks.get(arg as usize) {
                        Some(p) if step == sprout_protocol::Step::JoinCgroup => format!(
                            "linux.cgroupsPath: joining the container's cgroup: writing 0 to {}: {}",
                            p.display(),
                            errno_text(Errno::from_raw(errno as i32))
                        ),
                        _ => failure::describe(plan, step, errno, arg),
                    });
                }
                Msg::Console if plan.flags & flags::TERMINAL != 0 && self.console.is_none() => {
                    let Some(master) = rec.fds.into_iter().next() else {
                        crate::bail!(
                            "sync socket: Console message from sprout-init without a file descriptor"
                        );
                    };
                    self.console = Some(master);
                }
                Msg::Pid { pid } if !running && self.child.grandchild.is_none() && pid > 0 => {
                    let gpid = Pid::from_raw(pid as i32);
                    let gfd = sys::pidfd_open(gpid.as_raw())
                        .ctx(|| format!("pidfd_open of container process {pid}"))?;
                    self.child.grandchild = Some((gpid, gfd));
                }
                Msg::Hooks if !running && plan.flags & flags::HOOKS_BEFORE_PIVOT != 0 => {
                    let Some(hooks) = opts.on_hooks else {
                        crate::bail!("sync socket: Hooks from sprout-init but no hooks to run");
                    };
                    hooks(self.child.container())?;
                    send_msg(&self.sync, Msg::HooksDone)?;
                    timer.phase("hooks before pivot_root");
                }
                // The filter is loaded; the stub waits for `SeccompDone`.
                Msg::SeccompListener if running => {
                    let Some(listener) = &plan.seccomp_listener else {
                        crate::bail!(
                            "sync socket: a seccomp listener from sprout-init, but no linux.seccomp.listenerPath"
                        );
                    };
                    let Some(fd) = rec.fds.into_iter().next() else {
                        crate::bail!(
                            "sync socket: SeccompListener from sprout-init without a file descriptor"
                        );
                    };
                    let pid = self.child.container();
                    let state = match opts.container_state {
                        Some(f) => f(pid),
                        None => serde_json::json!({
                            "ociVersion": oci_spec::runtime::VERSION,
                            "id": "",
                            "status": "creating",
                            "pid": pid.as_raw(),
                            "bundle": "",
                        })
                        .to_string(),
                    };
                    crate::seccomp::send_listener(listener, fd, pid.as_raw(), &state)?;
                    send_msg(&self.sync, Msg::SeccompDone)?;
                    timer.phase("seccomp listener sent");
                }
                // `create`: the stub waits on the start socket now; the
                // sync socket stays open until it execs, so stop here.
                Msg::Created if running && wait_start && failed.is_none() => {
                    created = true;
                    timer.phase("privilege drop (until Created)");
                }
                Msg::Ready if !running => {
                    let target = self.child.container();
                    for (i, r) in plan.rlimits.iter().enumerate() {
                        sys::prlimit(target.as_raw(), r.resource, r.soft, r.hard).map_err(|e| {
                            Error::Sys {
                                context: format!(
                                    "process.rlimits[{i}] {}: prlimit{}",
                                    rlimit::name_of(r.resource),
                                    match e {
                                        Errno::EPERM => rlimit::raise_hint(r.resource, r.hard),
                                        _ => String::new(),
                                    }
                                ),
                                errno: e,
                            }
                        })?;
                    }
                    if let Some(adj) = plan.oom_score_adj {
                        let path = format!("/proc/{target}/oom_score_adj");
                        std::fs::write(&path, adj.to_string()).map_err(|e| {
                            Error::io(format!("process.oomScoreAdj {adj}: writing {path}"), &e)
                        })?;
                    }
                    plan.proc_attrs.apply(target)?;
                    if let Some(p) = opts.pid_file {
                        write_pid_file(p, target)?;
                    }
                    if let Some(ready) = opts.on_ready {
                        ready(target)?;
                    }
                    send_msg(&self.sync, Msg::Run)?;
                    running = true;
                    timer.phase("setup in the container (until Ready)");
                }
                // Read by `send_cgroup_trees` unless the stub went (or the
                // socket was reset) in between; it asks for nothing now.
                Msg::CgroupTreeParent if !running => {}
                other => crate::bail!("sync socket: unexpected {other:?} from sprout-init"),
            }
        }

        if let Some(msg) = failed {
            return Err(Error::Container(msg));
        }
        // Without `Ready` (always so when not `running`): a failure the
        // clone's child recorded before its exec of the stub.
        if (!running || plan.flags & flags::SYNC == 0)
            && let Some(what) = child_failure(&self.err_r, &self.cgroup_tasks)
        {
            let st = self.child.wait_stub();
            crate::bail!("starting the container: {what} ({st})");
        }
        // A program that never read its plan is no sprout-init (a wrong
        // $SPROUT_INIT, say): it ended, and whatever ran was not the
        // container (at EOF, `running` took it for the exec; otherwise
        // the generic "exited before ready" below would not say why).
        let unread = self.plan_r.take().and_then(|r| unread_plan(&r));
        if unread.is_some_and(|n| n > 0) || (running && self.plan_sent.is_err()) {
            // It is ending (its sync socket is closed): a moment to see how,
            // then killed in case it lives on without the socket.
            let mut fds = [PollFd::new(self.child.pidfd.as_fd(), PollFlags::POLLIN)];
            let ended = poll(&mut fds, PollTimeout::from(100u16)).is_ok_and(|n| n > 0);
            let signaled = ended && killed(&self.child.pidfd);
            let _ = kill(self.child.pid, Signal::SIGKILL);
            let st = self.child.wait_stub();
            if signaled {
                crate::bail!("sprout-init was killed before it read its plan ({st})");
            }
            let how = match &self.plan_sent {
                Err(e) => format!("sending it failed: {e}"),
                Ok(()) => format!("{} bytes left unread", unread.unwrap_or(0)),
            };
            crate::bail!(
                "sprout-init ended without reading its plan ({how}; {st}): is it a sprout-init of this build?"
            );
        }
        if !running {
            if let Err(e) = &self.plan_sent {
                let st = self.child.wait_stub();
                return Err(Error::io(
                    format!("sending the plan to sprout-init ({st})"),
                    e,
                ));
            }
            let st = self.child.wait_stub();
            crate::bail!("sprout-init exited before the container was ready ({st})");
        }
        if wait_start && !created {
            let st = self.child.wait_stub();
            crate::bail!("sprout-init exited before the container was created ({st})");
        }
        if plan.flags & flags::TERMINAL != 0 && self.console.is_none() {
            crate::bail!("process.terminal: sprout-init sent no console");
        }
        if !wait_start {
            timer.phase("exec (sync socket closed)");
        }
        Ok(())
    }

    /// Step 5: relays the pty (if any), forwards signals and waits for the
    /// container process; returns its exit code (128+N for signal N).
    pub fn wait(mut self, timer: &mut Timer) -> Result<i32> {
        let console = self.console.take();
        let child = &mut self.child;
        let stdin_tty = console::stdin_is_tty();
        let _raw = match &console {
            Some(master) => {
                console::sync_size(master);
                console::spawn_input(master, stdin_tty)
                    .map_err(|e| Error::io("starting the stdin relay", &e))?;
                if stdin_tty {
                    console::RawMode::enter()
                } else {
                    None
                }
            }
            None => None,
        };
        let mut pty_open = console.is_some();
        let status = loop {
            let (exited, sig_ready, pty_ready) = {
                let mut fds = vec![
                    PollFd::new(child.container_pidfd().as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN),
                ];
                if let (true, Some(m)) = (pty_open, &console) {
                    fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, PollTimeout::NONE) {
                    Err(Errno::EINTR) => continue,
                    r => r.ctx(|| "poll")?,
                };
                let ready = |i: usize| fds.get(i).and_then(|f| f.any()).unwrap_or(false);
                (ready(0), ready(1), ready(2))
            };
            if pty_ready && let Some(m) = &console {
                pty_open = console::pump_output(m);
            }
            if sig_ready {
                forward_signals(&self.sigfd, child, console.as_ref());
            }
            if exited {
                if child.grandchild.is_none() && killed(&child.pidfd) && still_the_stub(child.pid) {
                    // Without a `Ready` round trip, the exec was assumed at
                    // EOF; a stub killed meanwhile (an OOM kill under a small
                    // memory limit, say) never ran the container process.
                    let st = child.wait_stub();
                    return Err(Error::Container(format!(
                        "sprout-init ended before it executed the container process ({st})"
                    )));
                }
                if child.grandchild.is_some() {
                    // The stub's parent half exits right after `Pid`; reap it
                    // first so that its child is surely ours (subreaper) to wait for.
                    wait(child.pid);
                }
                break wait(child.container());
            }
        };
        // The rest of the output: until the pty closes or stays quiet.
        if let (true, Some(m)) = (pty_open, &console) {
            loop {
                let mut fds = [PollFd::new(m.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, PollTimeout::from(200u16)) {
                    Ok(n) if n > 0 && console::pump_output(m) => {}
                    Err(Errno::EINTR) => {}
                    _ => break,
                }
            }
        }
        if child.grandchild.is_some() {
            // As a subreaper we may have inherited orphans of the container.
            while let Ok(st) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                if st == WaitStatus::StillAlive {
                    break;
                }
            }
        }
        child.done = true;
        timer.phase("container ran");
        Ok(exit_code(status))
    }
}

/// The name the kernel gives the stub (`comm`, proc(5): the memfd's name
/// cut to 15 bytes), which an `execve` replaces with the program's.
const STUB_COMM: &[u8] = b"memfd:sprout-in";

/// Whether the exited, not yet reaped process of `pidfd` was killed by a
/// signal (`waitid(P_PIDFD, WNOWAIT)`): a stub that fails on its own says
/// so on the sync socket and exits 1; only a killed one ends silently.
fn killed(pidfd: &OwnedFd) -> bool {
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    matches!(
        waitid(Id::PIDFd(pidfd.as_fd()), flags),
        Ok(WaitStatus::Signaled(..))
    )
}

/// Writes the encoded plan into the plan pipe and closes the write end
/// (the stub reads exactly the length its header gives; a program that
/// reads on to EOF gets it).
fn send_plan(w: OwnedFd, bytes: &[u8]) -> std::io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match nix::unistd::write(&w, rest) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The capacity of pipe `fd` in bytes (`F_GETPIPE_SZ`, pipe(7)); 0 if the
/// kernel does not say.
fn pipe_size(fd: &OwnedFd) -> usize {
    fcntl(fd.as_raw_fd(), FcntlArg::F_GETPIPE_SZ).map_or(0, |n| n.max(0) as usize)
}

/// The bytes still unread in the pipe of `r` (`FIONREAD`); `None` if the
/// kernel does not say.
fn unread_plan(r: &OwnedFd) -> Option<i32> {
    sys::fionread(r).ok()
}

/// Whether the exited, not yet reaped process `pid` is still the stub,
/// that is, it never executed the container process (its `comm` is kept
/// until it is reaped). Checked only once it has exited: during an exec
/// the sync socket closes a moment before the name changes. (A container
/// process that names itself so and is then killed would be reported as
/// the stub: the name is the only trace of the exec a zombie keeps.)
fn still_the_stub(pid: Pid) -> bool {
    std::fs::read(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.strip_suffix(b"\n").unwrap_or(&c) == STUB_COMM)
}

/// Reads every pending signal from the signalfd and forwards it to the
/// container process; `SIGWINCH` with a pty resizes the pty instead.
fn forward_signals(sigfd: &SignalFd, child: &Child, console: Option<&OwnedFd>) {
    while let Ok(Some(info)) = sigfd.read_signal() {
        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
            continue;
        };
        match (sig, console) {
            (Signal::SIGWINCH, Some(m)) => console::sync_size(m),
            _ => child.signal(sig),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let p = Pid::from_raw(1);
        assert_eq!(exit_code(Some(WaitStatus::Exited(p, 3))), 3);
        assert_eq!(
            exit_code(Some(WaitStatus::Signaled(p, Signal::SIGKILL, false))),
            137
        );
        assert_eq!(exit_code(None), 1);
        assert_eq!(
            describe_status(Some(WaitStatus::Signaled(p, Signal::SIGSEGV, true))),
            "killed by SIGSEGV (core dumped)"
        );
    }

    #[test]
    fn stub_is_sealed_in_a_memfd() {
        let fd = load_stub(Path::new("/bin/true")).unwrap();
        let seals = fcntl(fd.as_raw_fd(), FcntlArg::F_GET_SEALS).unwrap();
        let want = SealFlag::F_SEAL_SEAL
            | SealFlag::F_SEAL_SHRINK
            | SealFlag::F_SEAL_GROW
            | SealFlag::F_SEAL_WRITE;
        assert_eq!(SealFlag::from_bits_truncate(seals) & want, want);
        let mut f = File::from(fd);
        assert!(f.write_all(b"x").is_err());
        let e = load_stub(Path::new("/nonexistent/sprout-init"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("No such file or directory (ENOENT)"), "{e}");
    }
}
