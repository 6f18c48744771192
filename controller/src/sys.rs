//! The only module with `unsafe`: the few system calls nix does not wrap
//! safely (raw `clone(2)` in fork mode and the child's path to
//! `execveat(2)`, `prlimit(2)`, `pidfd_open(2)`, `pidfd_send_signal(2)`,
//! a hook's child before exec (parent-death signal, cgroup join,
//! `setns(2)`, the second fork into the container's pid namespace),
//! `openat(2)`/`openat2(2)` adoption, fd adoption from `SCM_RIGHTS` and
//! `F_DUPFD_CLOEXEC`, the terminal window-size ioctls, the securebits
//! `prctl(2)` of `with_fs_ids`), and the musl build's C-level stand-ins
//! (`open`, `memcpy` and its family, the heap's `malloc` family).
//!
//! Every `unsafe` block says why it is sound (`// SAFETY:`).
//!
//! # The child between `clone` and `execveat`
//!
//! The controller may be multi-threaded, so the cloned child (a copy of
//! the calling thread only) may run nothing but async-signal-safe code
//! (`signal-safety(7)`): raw system calls through `libc`, no allocation, no
//! locks, no Rust std I/O. Everything it touches (argv/envp pointer arrays,
//! the fd moves, the saved signal mask) is prepared by the parent before
//! the `clone` and only read by the child. On any failure the child writes
//! `[stage, errno (4 bytes LE)]` to an error pipe and `_exit(127)`s.

use std::ffi::{CStr, CString, c_char, c_int};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;

/// What the cloned child does before it becomes the stub.
pub struct ChildSetup<'a> {
    /// `CLONE_NEW*` flags for `clone(2)` (`SIGCHLD` and `CLONE_PIDFD` are added).
    pub clone_flags: u32,
    /// Block on a 1-byte read of this fd first (user namespace: until the
    /// parent has written the id maps). `-1` = do not wait.
    pub wait_fd: RawFd,
    /// The child's copy of the write end of `wait_fd`'s pipe, closed before
    /// the wait so that a controller that dies (`sprout create` killed)
    /// gives EOF instead of a child blocked forever. `-1` = none.
    pub wait_peer_fd: RawFd,
    /// After the wait, become uid/gid 0 of the new user namespace
    /// (`setresgid`/`setresuid`), so that the exec keeps full capabilities
    /// there.
    pub become_root: bool,
    /// `(from, to)` fd moves done with `dup2` (which clears `FD_CLOEXEC` on
    /// `to`). Every `from` must be above every `to`, so no move clobbers a
    /// later source and `from != to` always holds.
    pub fd_moves: &'a [(RawFd, RawFd)],
    /// The sealed memfd holding the stub; must not be a `to` of `fd_moves`.
    pub exec_fd: RawFd,
    /// NULL-terminated argv, pointing into `CString`s the parent keeps alive.
    pub argv: &'a [*const c_char],
    /// NULL-terminated envp.
    pub envp: &'a [*const c_char],
    /// The signal mask to restore just before the exec.
    pub sigmask: &'a libc::sigset_t,
    /// Where the child reports a failure (write end of a CLOEXEC pipe).
    pub err_fd: RawFd,
    /// `PR_SET_PDEATHSIG(SIGKILL)`: die with the controller's thread (a
    /// foreground `run`). The kernel clears it when the stub changes its
    /// credentials to a non-root user.
    pub pdeathsig: bool,
    /// v1 cgroup `tasks` files (write-only fds) the child writes `0` to
    /// first thing, moving itself into the container's cgroup without the
    /// kernel's global threadgroup lock (see `cgroups::JoinFds`), each
    /// with whether a failed write is tolerated (named hierarchies).
    pub cgroup_tasks: &'a [(RawFd, bool)],
    /// A cgroup2 directory fd for `clone3(CLONE_INTO_CGROUP)`; -1 = none.
    pub into_cgroup: RawFd,
}

/// A cloned child ([`spawn`]).
#[derive(Debug)]
pub struct Spawned {
    /// Its pid (in our pid namespace).
    pub pid: libc::pid_t,
    /// Its pidfd (`CLONE_PIDFD`).
    pub pidfd: OwnedFd,
    /// Whether it was born in `into_cgroup` (false: the kernel refused
    /// `CLONE_INTO_CGROUP` and the caller must join that cgroup itself).
    pub in_cgroup: bool,
}

/// Stages reported on the error pipe.
pub mod stage {
    /// Waiting for the id maps.
    pub const WAIT: u8 = 1;
    /// `setresgid`/`setresuid` to 0 in the new user namespace.
    pub const BECOME_ROOT: u8 = 2;
    /// Moving fds into place.
    pub const DUP2: u8 = 3;
    /// `execveat` of the stub.
    pub const EXEC: u8 = 4;
    /// Writing `0` to `cgroup_tasks[N]`: stage `CGROUP + N`.
    pub const CGROUP: u8 = 0x40;

    /// A stage's description.
    pub fn name(s: u8) -> &'static str {
        match s {
            WAIT => "waiting for the user-namespace id maps",
            BECOME_ROOT => "becoming root in the new user namespace",
            DUP2 => "moving the plan and sync fds into place",
            EXEC => "executing sprout-init (execveat of the sealed memfd)",
            CGROUP.. => "joining the container's cgroup (writing 0 to its tasks file)",
            _ => "starting sprout-init",
        }
    }
}

// `spawn` passes clone(2)'s arguments in the x86_64/aarch64 order
// (flags, stack, parent_tid, ...); s390 swaps the first two.
#[cfg(target_arch = "s390x")]
compile_error!("sys::spawn: clone(2) argument order differs on s390");

/// Bytes of the stack the child runs on in vfork mode (it needs a few
/// hundred: [`child_main`] makes raw system calls only). It comes from the
/// heap's populated arena ([`heap::arena`]), so it is kept small.
const VFORK_STACK: usize = 16 * 1024;

/// `struct clone_args` of clone3(2) (`CLONE_ARGS_SIZE_VER2`, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (linux/sched.h, Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3(2) with `CLONE_VM | CLONE_VFORK` in `args.flags` and a stack in
/// `args`: the child starts on that stack and runs `entry(arg)`, which
/// must not return. Returns the raw result (pid, or -errno) once the child
/// has exec'd or exited.
///
/// # Safety
/// `args` must describe a valid, 16-byte-aligned stack that stays alive
/// until this returns; `entry` must be safe to run with `arg` in a child
/// that shares this process's memory while this thread is suspended.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_vm(
    args: &mut CloneArgs,
    entry: extern "C" fn(*const libc::c_void) -> !,
    arg: *const libc::c_void,
) -> i64 {
    let ret: i64;
    // SAFETY: the caller's contract. The syscall instruction clobbers only
    // rax, rcx and r11; the child resumes after it with rax = 0 and the
    // stack pointer at the top of the new stack, clears the frame pointer
    // and calls `entry(arg)` (r12, r13 survive the syscall). The parent
    // jumps past the child's part.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") args as *mut CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// clone(2)/clone3(2) of the child that becomes the stub, with
/// `setup.clone_flags | CLONE_PIDFD` and `SIGCHLD` as exit signal, born
/// in `setup.into_cgroup` when given (`CLONE_INTO_CGROUP`); the child runs
/// [`child_main`] and never returns.
///
/// Two modes, both ending in the child's `execveat` of the stub:
/// - **vfork mode** (`setup.wait_fd < 0`, the usual case; x86_64):
///   `CLONE_VM | CLONE_VFORK` on a separate stack, as posix_spawn does. No
///   page table is copied, and this thread sleeps only until the child's
///   exec, which follows at once.
/// - **fork mode** (the child must wait for us, e.g. for user-namespace id
///   maps): no `CLONE_VM`, no new stack; the child gets a copy-on-write
///   copy of this process and continues here.
///
/// A kernel that refuses `CLONE_INTO_CGROUP` (older than 5.7, or a target
/// it will not take) gets one retry without it (`in_cgroup` false); one
/// without clone3 (ENOSYS) gets clone(2) in fork mode.
///
/// Errors: the errno of clone(2) (EPERM, ENOMEM, ENOSPC for namespace
/// limits, EINVAL for an unsupported flag).
pub fn spawn(setup: &ChildSetup<'_>) -> Result<Spawned, Errno> {
    assert_eq!(
        setup.argv.last(),
        Some(&std::ptr::null()),
        "argv must be NULL-terminated"
    );
    assert_eq!(
        setup.envp.last(),
        Some(&std::ptr::null()),
        "envp must be NULL-terminated"
    );
    let vfork = setup.wait_fd < 0 && cfg!(target_arch = "x86_64");
    // The child's stack: allocated, not zeroed (the child writes what it
    // reads; zeroing 64 KiB was a memset on the way to the clone).
    let mut stack: Vec<u8> = if vfork {
        Vec::with_capacity(VFORK_STACK + 16)
    } else {
        Vec::new()
    };
    // 16-byte aligned base and size, so that the top is aligned too.
    let base = (stack.as_mut_ptr() as u64 + 15) & !15;
    let mut into = setup.into_cgroup >= 0;
    let mut pidfd: c_int = -1;
    let ret: i64 = loop {
        let mut args = CloneArgs {
            flags: setup.clone_flags as u64
                | libc::CLONE_PIDFD as u64
                | if into { CLONE_INTO_CGROUP } else { 0 },
            pidfd: &mut pidfd as *mut c_int as u64,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: if into { setup.into_cgroup as u64 } else { 0 },
            ..Default::default()
        };
        let r: i64 = if vfork {
            args.flags |= (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
            args.stack = base;
            args.stack_size = VFORK_STACK as u64;
            extern "C" fn entry(arg: *const libc::c_void) -> ! {
                // SAFETY: `arg` is the `&ChildSetup` passed below; with
                // CLONE_VFORK this thread is suspended, so it outlives the
                // child's use of it (until the exec or _exit).
                child_main(unsafe { &*(arg as *const ChildSetup<'_>) })
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `stack` lives until after this call returns, which
            // CLONE_VFORK delays until the child has exec'd or exited; base
            // and size are 16-byte aligned. The child shares our memory:
            // `child_main` only makes system calls on values prepared
            // before the call, writes nothing but its own stack (and
            // errno, which this thread does not read after a successful
            // clone), and ends in execveat or _exit. `pidfd` is a live
            // local that CLONE_PIDFD writes.
            let r = unsafe {
                clone3_vm(
                    &mut args,
                    entry,
                    setup as *const ChildSetup<'_> as *const libc::c_void,
                )
            };
            #[cfg(not(target_arch = "x86_64"))]
            let r = unreachable!("vfork mode is x86_64 only");
            r
        } else {
            // SAFETY: clone3 without CLONE_VM/CLONE_THREAD and without a
            // stack behaves like fork: the child gets a copy-on-write copy
            // of this thread's memory and stack and returns here with 0.
            // `args` and `pidfd` are live locals. The child only runs
            // `child_main`, which is async-signal-safe and ends in
            // execveat or _exit.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &mut args as *mut CloneArgs,
                    std::mem::size_of::<CloneArgs>(),
                )
            };
            if r == 0 {
                child_main(setup);
            }
            if r < 0 { -(Errno::last() as i64) } else { r }
        };
        match r {
            r if r >= 0 => break r,
            r if -r == libc::ENOSYS as i64 => {
                into = false;
                let flags = setup.clone_flags as libc::c_ulong
                    | libc::CLONE_PIDFD as libc::c_ulong
                    | libc::SIGCHLD as libc::c_ulong;
                // SAFETY: as the fork-mode clone3 above: raw clone without
                // CLONE_VM and stack 0 behaves like fork; `parent_tid` (the
                // third argument on x86_64 and aarch64) receives the pidfd.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_clone,
                        flags,
                        0usize,
                        &mut pidfd as *mut c_int,
                        0usize,
                        0usize,
                    )
                };
                if r == 0 {
                    child_main(setup);
                }
                if r < 0 {
                    return Err(Errno::last());
                }
                break r;
            }
            _ if into => into = false,
            r => return Err(Errno::from_raw(-r as i32)),
        }
    };
    drop(stack);
    // SAFETY: CLONE_PIDFD stored a new pidfd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Spawned {
        pid: ret as libc::pid_t,
        pidfd,
        in_cgroup: into,
    })
}

/// The cloned child: async-signal-safe only (see the module docs).
fn child_main(s: &ChildSetup<'_>) -> ! {
    // SAFETY (whole function): only raw system calls on fds and pointers the
    // parent prepared before the clone; nothing allocates or takes a lock.
    unsafe {
        let fail = |stage: u8| -> ! {
            let errno = *libc::__errno_location();
            let mut rec = [0u8; 5];
            rec[0] = stage;
            rec[1..].copy_from_slice(&(errno as u32).to_le_bytes());
            libc::write(s.err_fd, rec.as_ptr().cast(), rec.len());
            libc::_exit(127);
        };
        // Rust ignores SIGPIPE; an ignored disposition would survive the
        // exec into the container. So would a SIGHUP or SIGINT the caller
        // left ignored (`nohup`), which the container gets at its default,
        // as runc's does (see `reset_ignored_signals`).
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        for sig in [libc::SIGHUP, libc::SIGINT] {
            if ignored_at_start(sig) {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        if s.pdeathsig {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
        }
        for (i, &(fd, optional)) in s.cgroup_tasks.iter().enumerate() {
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 && !optional {
                fail(stage::CGROUP.saturating_add(i as u8));
            }
        }
        if s.wait_peer_fd >= 0 {
            libc::close(s.wait_peer_fd);
        }
        if s.wait_fd >= 0 {
            let mut b = 0u8;
            loop {
                let n = libc::read(s.wait_fd, (&mut b as *mut u8).cast(), 1);
                if n == 1 {
                    break;
                }
                if n < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                if n == 0 {
                    *libc::__errno_location() = libc::EPIPE;
                }
                fail(stage::WAIT);
            }
        }
        if s.become_root {
            // Raw syscalls: glibc's setresuid would signal the parent's other
            // threads (its set*id broadcast), which do not exist here.
            if libc::syscall(libc::SYS_setresgid, 0, 0, 0) < 0
                || libc::syscall(libc::SYS_setresuid, 0, 0, 0) < 0
            {
                fail(stage::BECOME_ROOT);
            }
        }
        for &(from, to) in s.fd_moves {
            if libc::dup2(from, to) < 0 {
                fail(stage::DUP2);
            }
        }
        // CVE-2024-21626: an fd the caller leaked to us without CLOEXEC
        // (say, a host directory) must not reach the stub, where a
        // `process.cwd` of /proc/self/fd/N would chdir through it to the
        // host. Everything above the highest fd we placed (stdio, the
        // preserved fds and the moved ones are below or at it) is made
        // close-on-exec (close_range(2), Linux 5.11); our own fds (exec_fd,
        // err_fd) are CLOEXEC already and stay usable until the exec.
        let keep = s
            .fd_moves
            .iter()
            .map(|&(_, to)| to)
            .max()
            .unwrap_or(2)
            .max(2);
        if libc::syscall(
            libc::SYS_close_range,
            keep + 1,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) < 0
        {
            fail(stage::DUP2);
        }
        libc::sigprocmask(libc::SIG_SETMASK, s.sigmask, std::ptr::null_mut());
        libc::syscall(
            libc::SYS_execveat,
            s.exec_fd,
            c"".as_ptr(),
            s.argv.as_ptr(),
            s.envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        fail(stage::EXEC);
    }
}

/// `dup` of `fd` to the lowest free number `>= min`, with `FD_CLOEXEC`
/// (`fcntl(F_DUPFD_CLOEXEC)`, fcntl(2)). Made as a raw system call: musl's
/// `fcntl` follows every `F_DUPFD_CLOEXEC` with `F_SETFD` for kernels
/// before 2.6.24, one wasted system call per fd on `run`'s start path.
pub fn dup_above(fd: &impl AsRawFd, min: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: fcntl on a valid fd; F_DUPFD_CLOEXEC returns a new fd we own.
    // `syscall` returns -1 and sets errno on failure.
    let r = unsafe { libc::syscall(libc::SYS_fcntl, fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) }
        as RawFd;
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `r` is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// `openat2(2)` of `rel` below `dir` with `flags` and `resolve`
/// (`RESOLVE_*` bits), as an owned fd.
pub fn openat2(
    dir: &impl AsRawFd,
    rel: &Path,
    flags: nix::fcntl::OFlag,
    resolve: nix::fcntl::ResolveFlag,
) -> Result<OwnedFd, Errno> {
    let how = nix::fcntl::OpenHow::new()
        .flags(flags | nix::fcntl::OFlag::O_CLOEXEC)
        .resolve(resolve);
    let fd = nix::fcntl::openat2(dir.as_raw_fd(), rel, how)?;
    // SAFETY: openat2 returned a new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat(2)` of `name` in `dir` (`O_CLOEXEC` added), as an owned fd.
pub fn openat(
    dir: &impl AsRawFd,
    name: &Path,
    flags: nix::fcntl::OFlag,
    mode: u32,
) -> Result<OwnedFd, Errno> {
    let mode = nix::sys::stat::Mode::from_bits_truncate(mode as libc::mode_t);
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        flags | nix::fcntl::OFlag::O_CLOEXEC,
        mode,
    )?;
    // SAFETY: openat returned a new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `--no-pivot` (runc's `msMoveRoot`): mounts a read-only tmpfs (nosuid,
/// nodev, noexec) over each of `paths` (absolute, as that namespace sees
/// them; a missing one is skipped) in the mount namespace of process
/// `pid` (the stub, waiting at its `Hooks` pause). A short-lived child
/// does it: `setns(2)` into a mount namespace needs a single-threaded
/// caller. Errors: `/proc/PID/ns/mnt`, the child, or the first refused
/// mount (its errno).
pub fn mount_tmpfs_covers(pid: i32, paths: &[CString]) -> io::Result<()> {
    use std::os::unix::process::CommandExt;
    let ns = File::open(format!("/proc/{pid}/ns/mnt"))?;
    let fd = ns.as_raw_fd();
    let paths = paths.to_vec();
    let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // Never exec'd: the child leaves with _exit(0) from pre_exec.
    let mut cmd = std::process::Command::new("/");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: the closure runs in the forked child before its exec and
    // makes only async-signal-safe system calls (setns, mount, _exit) on
    // memory prepared before the fork (`paths`, the literals); `fd` is
    // open in the child until its exec (`ns` lives until `status`
    // returns). An error is reported through std's exec-error pipe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            for p in &paths {
                let r = libc::mount(
                    c"tmpfs".as_ptr(),
                    p.as_ptr(),
                    c"tmpfs".as_ptr(),
                    flags,
                    std::ptr::null(),
                );
                if r != 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::ENOENT) {
                        return Err(e);
                    }
                }
            }
            libc::_exit(0)
        });
    }
    let status = cmd.status()?;
    drop(ns);
    match status.code() {
        Some(0) => Ok(()),
        _ => Err(io::Error::other(format!("covering child: {status}"))),
    }
}

/// Runs `f` with this thread's filesystem ids set to `uid`/`gid`
/// (`setfsuid(2)`/`setfsgid(2)`), keeping its capabilities: files it
/// creates get those owners, which must be mapped in the user namespace
/// of a filesystem mounted there (else `EOVERFLOW`). The kernel drops the
/// file capabilities when the fsuid leaves 0, unless
/// `SECBIT_NO_SETUID_FIXUP` is set, so that bit is set for the duration.
/// Credentials are per thread (glibc does not broadcast the setfs*id
/// calls), so nothing else in the process is affected; everything is
/// restored before returning.
pub fn with_fs_ids<T>(uid: u32, gid: u32, f: impl FnOnce() -> T) -> Result<T, Errno> {
    // SAFETY: prctl with integer arguments only.
    let old = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    if old < 0 {
        return Err(Errno::last());
    }
    let keep = (old | libc::SECBIT_NO_SETUID_FIXUP) as libc::c_ulong;
    // SAFETY: as above.
    if unsafe { libc::prctl(libc::PR_SET_SECUREBITS, keep, 0, 0, 0) } < 0 {
        return Err(Errno::last());
    }
    let old_gid = nix::unistd::setfsgid(nix::unistd::Gid::from_raw(gid));
    let old_uid = nix::unistd::setfsuid(nix::unistd::Uid::from_raw(uid));
    let out = f();
    nix::unistd::setfsuid(old_uid);
    nix::unistd::setfsgid(old_gid);
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_SECUREBITS, old as libc::c_ulong, 0, 0, 0) };
    Ok(out)
}

/// Gives the free heap memory back to the kernel (glibc's
/// `malloc_trim(3)`: `MADV_DONTNEED` on free pages). Called once the
/// command line is parsed: clap's command tree (~180 KiB, freed by then)
/// is the controller's largest heap use, and resident pages count toward
/// its peak RSS even once free.
/// With musl the heap is dlmalloc's (main.rs), which keeps no large
/// free pool, and this does nothing.
pub fn release_free_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0)
    };
}

/// `renameat2(2)` flags: `RENAME_NOREPLACE` (1) or `RENAME_EXCHANGE` (2).
#[derive(Clone, Copy)]
pub struct RenameFlags(u32);

impl RenameFlags {
    /// Fail with `EEXIST` if the new path exists.
    pub const RENAME_NOREPLACE: Self = Self(1);
    /// Swap the two paths atomically; both must exist.
    pub const RENAME_EXCHANGE: Self = Self(2);
    fn bits(self) -> u32 {
        self.0
    }
}

/// `renameat2(2)` of `old` to `new` (both relative to the current
/// directory: `AT_FDCWD`), made as a raw system call: musl has no wrapper
/// and nix offers it only with glibc. Errors: the call's errno (`EEXIST`
/// for `RENAME_NOREPLACE` onto an existing path, `EINVAL` when the file
/// system lacks the flag or a path holds a NUL).
pub fn renameat2(old: &Path, new: &Path, flags: RenameFlags) -> Result<(), Errno> {
    use std::os::unix::ffi::OsStrExt;
    let old = std::ffi::CString::new(old.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let new = std::ffi::CString::new(new.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            old.as_ptr(),
            libc::AT_FDCWD,
            new.as_ptr(),
            flags.bits(),
        )
    };
    Errno::result(r).map(drop)
}

/// glibc's fortified `fprintf` (`__fprintf_chk`), which Debian's
/// `libseccomp.a` calls and musl lacks: only from
/// `seccomp_export_pfc`, which sprout never calls. This stand-in writes
/// nothing and returns -1 (what `fprintf` returns on an output error), so
/// such a call could only fail. Declared without the variadic tail: on
/// x86_64 the extra arguments are in registers a callee may ignore.
#[cfg(all(target_env = "musl", not(test)))]
#[unsafe(no_mangle)]
extern "C" fn __fprintf_chk(
    _stream: *mut libc::c_void,
    _flag: c_int,
    _format: *const c_char,
) -> c_int {
    -1
}

/// `open(2)` for the static musl build, in place of musl's (which is then
/// not linked): `openat(AT_FDCWD, path, flags | O_LARGEFILE, mode)`,
/// returning the fd, or -1 with `errno` set. musl's follows every
/// `O_CLOEXEC` open with `fcntl(F_SETFD, FD_CLOEXEC)` for kernels before
/// 2.6.23, which ignored the flag: 41 of the controller's 291 system calls
/// in a `run` (std and nix open every file `O_CLOEXEC`). Declared without
/// the variadic tail, as `__fprintf_chk` above: on x86_64 and aarch64 a
/// variadic `mode` travels in the same register as a named one, and it
/// is only read (by the kernel) with `O_CREAT` or `O_TMPFILE`, when every
/// caller passes it.
#[cfg(all(
    target_env = "musl",
    not(test),
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[unsafe(no_mangle)]
extern "C" fn open(path: *const c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    // SAFETY: the caller's NUL-terminated path, passed through to the
    // kernel, which checks it; `syscall` sets errno on failure as open(3) does.
    unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path,
            flags | libc::O_LARGEFILE,
            mode,
        ) as c_int
    }
}

/// `memcpy`, `memmove`, `memcmp` and `bcmp` for the static musl build on
/// x86_64, in place of musl's (which are then not linked).
///
/// musl's `memcpy` moves the unaligned head and the tail a byte at a time
/// (`movsb` in a loop) around a `rep movsq`, and its `memcmp` compares a
/// byte at a time; most of the controller's copies are a few bytes to a
/// few hundred (serde_json writing the state, `format!`, path joins), where
/// that was about 7% of the controller's CPU time in a `run` (`perf`).
/// Here copies of up to 32 bytes are two overlapping loads and stores of
/// 1, 2, 4, 8 or 16 bytes (every load before any store, so they serve
/// `memmove` too), longer ones `rep movsb` (fast on every x86_64 with
/// ERMS, Ivy Bridge on); comparisons go 8 bytes at a time. The
/// implementations use no loop a compiler could turn back into a call to
/// themselves: fixed-size unaligned loads and stores, and `rep movsb`.
#[cfg(all(target_arch = "x86_64", any(test, target_env = "musl")))]
mod mem {
    use std::ptr::{read_unaligned as rd, write_unaligned as wr};

    /// Copies `n <= 32` bytes; all loads come before the stores.
    ///
    /// # Safety
    /// `src` readable and `dst` writable for `n` bytes (they may overlap).
    #[inline(always)]
    unsafe fn small(dst: *mut u8, src: *const u8, n: usize) {
        // SAFETY: every access is within the first `n` bytes of both.
        unsafe {
            if n >= 16 {
                let (a, b) = (rd(src as *const u128), rd(src.add(n - 16) as *const u128));
                wr(dst as *mut u128, a);
                wr(dst.add(n - 16) as *mut u128, b);
            } else if n >= 8 {
                let (a, b) = (rd(src as *const u64), rd(src.add(n - 8) as *const u64));
                wr(dst as *mut u64, a);
                wr(dst.add(n - 8) as *mut u64, b);
            } else if n >= 4 {
                let (a, b) = (rd(src as *const u32), rd(src.add(n - 4) as *const u32));
                wr(dst as *mut u32, a);
                wr(dst.add(n - 4) as *mut u32, b);
            } else if n > 0 {
                let (a, b, c) = (*src, *src.add(n / 2), *src.add(n - 1));
                *dst = a;
                *dst.add(n / 2) = b;
                *dst.add(n - 1) = c;
            }
        }
    }

    /// `rep movsb`, forwards (direction flag clear, as the ABI keeps it).
    ///
    /// # Safety
    /// As `memcpy`; overlap only with `dst` below `src`.
    #[inline(always)]
    unsafe fn forward(dst: *mut u8, src: *const u8, n: usize) {
        // SAFETY: the caller's ranges; rep movsb touches only those.
        unsafe {
            std::arch::asm!(
                "rep movsb",
                inout("rcx") n => _,
                inout("rdi") dst => _,
                inout("rsi") src => _,
                options(nostack, preserves_flags),
            );
        }
    }

    /// memcpy(3).
    #[cfg_attr(not(test), unsafe(no_mangle))]
    unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: memcpy(3)'s contract, the caller's.
        unsafe {
            if n <= 32 {
                small(dst, src, n);
            } else {
                forward(dst, src, n);
            }
        }
        dst
    }

    /// memmove(3).
    #[cfg_attr(not(test), unsafe(no_mangle))]
    unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: memmove(3)'s contract, the caller's. A forward copy is
        // safe unless `dst` starts inside `src..src + n`; that case copies
        // backwards (direction flag set, then cleared again).
        unsafe {
            if n <= 32 {
                small(dst, src, n);
            } else if (dst as usize).wrapping_sub(src as usize) >= n {
                forward(dst, src, n);
            } else {
                std::arch::asm!(
                    "std",
                    "rep movsb",
                    "cld",
                    inout("rcx") n => _,
                    inout("rdi") dst.add(n - 1) => _,
                    inout("rsi") src.add(n - 1) => _,
                    options(nostack),
                );
            }
        }
        dst
    }

    /// memcmp(3): the sign of the first differing byte (as unsigned char).
    #[cfg_attr(not(test), unsafe(no_mangle))]
    unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        let mut i = 0;
        // SAFETY: memcmp(3)'s contract: both readable for `n` bytes.
        unsafe {
            while i + 8 <= n {
                let (x, y) = (rd(a.add(i) as *const u64), rd(b.add(i) as *const u64));
                if x != y {
                    // Big-endian order compares as the bytes do.
                    return if x.swap_bytes() < y.swap_bytes() {
                        -1
                    } else {
                        1
                    };
                }
                i += 8;
            }
            while i < n {
                let (x, y) = (*a.add(i), *b.add(i));
                if x != y {
                    return x as i32 - y as i32;
                }
                i += 1;
            }
        }
        0
    }

    /// bcmp(3), which Rust calls for `==` on byte slices: zero when equal.
    #[cfg_attr(not(test), unsafe(no_mangle))]
    unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: the caller's contract, as memcmp's.
        unsafe { memcmp(a, b, n) }
    }

    #[cfg(test)]
    mod tests {
        /// Every length 0..300 at several offsets, against std's copy.
        #[test]
        fn copies_and_moves_like_std() {
            let src: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
            for n in 0..300 {
                for off in [0, 1, 3, 8, 13] {
                    let mut a = vec![0xaau8; 400];
                    // SAFETY: both buffers hold off + n bytes.
                    let r = unsafe { super::memcpy(a.as_mut_ptr().add(off), src.as_ptr(), n) };
                    assert_eq!(r, a.as_mut_ptr().wrapping_add(off));
                    assert_eq!(&a[off..off + n], &src[..n], "memcpy n={n} off={off}");
                    assert!(a[..off].iter().chain(&a[off + n..]).all(|&b| b == 0xaa));
                    // Overlapping moves, both directions.
                    for (from, to) in [
                        (off, off + 5),
                        (off + 5, off),
                        (off, off + 40),
                        (off + 40, off),
                    ] {
                        let mut b = src.clone();
                        let mut want = src.clone();
                        want.copy_within(from..from + n, to);
                        // SAFETY: from + n and to + n are within the 400 bytes.
                        unsafe { super::memmove(b.as_mut_ptr().add(to), b.as_ptr().add(from), n) };
                        assert_eq!(b, want, "memmove n={n} {from}->{to}");
                    }
                }
            }
        }

        #[test]
        fn compares_like_std() {
            let a: Vec<u8> = (0..100u8).collect();
            for n in 0..100 {
                for i in 0..n {
                    for d in [1u8, 0x80, 0xff] {
                        let mut b = a.clone();
                        b[i] = b[i].wrapping_add(d);
                        // SAFETY: both hold n bytes.
                        let r = unsafe { super::memcmp(a.as_ptr(), b.as_ptr(), n) };
                        assert_eq!(r.signum(), a[..n].cmp(&b[..n]) as i32, "n={n} i={i} d={d}");
                        // SAFETY: as above.
                        assert_ne!(unsafe { super::bcmp(b.as_ptr(), a.as_ptr(), n) }, 0);
                    }
                }
                // SAFETY: as above.
                assert_eq!(unsafe { super::memcmp(a.as_ptr(), a.as_ptr(), n) }, 0);
            }
        }
    }
}

/// The heap of the musl build, for Rust and C alike: one dlmalloc
/// (the `dlmalloc` crate, as Rust's std uses on wasm) behind a lock.
/// Rust allocates from it as the global allocator (main.rs); the C code
/// linked in (libseccomp) through `malloc(3)` and its family, which
/// [`heap_exports`] define over [`heap::c_malloc`] and the rest. musl's
/// own malloc maps and unmaps memory on most calls: `--version` made 71
/// system calls with it (11 with dlmalloc), and compiling a 419-rule
/// seccomp profile 282 `mmap` and 275 `munmap` calls (`sprout plan`
/// 29.8 ms against 21.6 ms on the shared heap, glibc 20.8 ms). A static
/// link may replace musl's malloc: musl's own code allocates through
/// internal names.
#[cfg(any(target_env = "musl", test))]
pub mod heap {
    use std::alloc::{GlobalAlloc, Layout};
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, Ordering};

    use dlmalloc::Dlmalloc;

    /// The allocator state, only touched with [`LOCK`] held.
    struct State(UnsafeCell<Dlmalloc<Pages>>);
    // SAFETY: every access goes through `with`, under LOCK.
    unsafe impl Sync for State {}

    static STATE: State = State(UnsafeCell::new(Dlmalloc::new_with_allocator(Pages)));

    /// dlmalloc's source of memory: anonymous mappings, as the crate's own
    /// `System` on Linux.
    struct Pages;

    // SAFETY: every method is the crate's Linux `System` (mmap, mremap,
    // munmap on exactly the regions it returned).
    unsafe impl dlmalloc::Allocator for Pages {
        fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
            // SAFETY: a fresh anonymous private mapping; nothing else is touched.
            let addr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    size,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_ANONYMOUS | libc::MAP_PRIVATE,
                    -1,
                    0,
                )
            };
            if addr == libc::MAP_FAILED {
                (std::ptr::null_mut(), 0, 0)
            } else {
                (addr.cast(), size, 0)
            }
        }

        fn remap(&self, ptr: *mut u8, oldsize: usize, newsize: usize, can_move: bool) -> *mut u8 {
            let flags = if can_move { libc::MREMAP_MAYMOVE } else { 0 };
            // SAFETY: `ptr`/`oldsize` is a mapping this allocator returned.
            let p = unsafe { libc::mremap(ptr.cast(), oldsize, newsize, flags) };
            if p == libc::MAP_FAILED {
                std::ptr::null_mut()
            } else {
                p.cast()
            }
        }

        fn free_part(&self, ptr: *mut u8, oldsize: usize, newsize: usize) -> bool {
            // SAFETY: as `remap`; the tail unmapped lies within the mapping.
            unsafe {
                if libc::mremap(ptr.cast(), oldsize, newsize, 0) != libc::MAP_FAILED {
                    return true;
                }
                libc::munmap(ptr.add(newsize).cast(), oldsize - newsize) == 0
            }
        }

        fn free(&self, ptr: *mut u8, size: usize) -> bool {
            // SAFETY: `ptr`/`size` is a whole mapping this allocator returned.
            unsafe { libc::munmap(ptr.cast(), size) == 0 }
        }

        fn can_release_part(&self, _flags: u32) -> bool {
            true
        }

        fn allocates_zeros(&self) -> bool {
            true
        }

        fn page_size(&self) -> usize {
            4096
        }
    }
    /// The allocator's lock: a flag taken with one compare-and-swap and
    /// released with a plain store. It never allocates. The controller is
    /// single-threaded but for short-lived helper threads (the console
    /// relay, state scans), so the lock is almost never contended; a
    /// waiter spins briefly, then yields its CPU (`sched_yield(2)`).
    /// `std::sync::Mutex` (an atomic exchange to release, poison checks
    /// around each call) was about 7% of the controller's profile samples
    /// in a `run` (BENCHMARKS.md).
    static LOCK: AtomicBool = AtomicBool::new(false);

    /// Releases [`LOCK`] when dropped (also if `f` unwinds, in tests).
    struct Held;

    impl Drop for Held {
        fn drop(&mut self) {
            LOCK.store(false, Ordering::Release);
        }
    }

    /// Takes [`LOCK`].
    fn lock() -> Held {
        let mut spins = 0u32;
        while LOCK
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        Held
    }

    /// Runs `f` on the allocator with the lock held.
    fn with<R>(f: impl FnOnce(&mut Dlmalloc<Pages>) -> R) -> R {
        let _held = lock();
        // SAFETY: the lock is held, so this is the only reference.
        f(unsafe { &mut *STATE.0.get() })
    }

    /// The arena: Rust's allocations are carved in order from one
    /// mapping of [`arena::SIZE`] bytes ([`arena::ARENA`]), the first
    /// [`arena::POPULATE`] of them populated at the first one, until it is
    /// used up; then they come from dlmalloc. A `run` allocates
    /// about 1,500 blocks, 230 KiB in all (most of them freed within
    /// microseconds), and exits: dlmalloc's bookkeeping and its lock were
    /// a quarter of the controller's user time under 32 `run`s at once
    /// (BENCHMARKS.md). A freed block's memory is taken back only when it
    /// is the arena's last one (a growing `Vec` grows in place); the rest
    /// is left (at most [`arena::SIZE`] bytes, 256 KiB).
    /// Rust's blocks only: C's `free(3)` gets no size, and C's blocks come
    /// from dlmalloc.
    pub(super) mod arena {
        use std::sync::atomic::{AtomicUsize, Ordering};

        /// The arena's size in bytes (address space; a page is only
        /// memory once touched). Freed blocks are not reused (but the
        /// last), so a long-running command (`events`, a `list` of
        /// hundreds) fills it and goes on with dlmalloc: this is also what
        /// such a command may hold beyond dlmalloc's own (with 1 MiB,
        /// `events` held 3.2 MiB where it held 2.4).
        pub const SIZE: usize = 256 << 10;

        /// How much of the process's arena is populated at once
        /// (`MADV_POPULATE_WRITE`, Linux 5.14): a `run` of the bench's
        /// bundle carves 156 KiB, `list` or `state` about 40. On this kind
        /// of VM a page's first touch is a trap of about 2.5 µs, where one
        /// populating call maps them all at about 2 µs a page; populated
        /// pages that stay unused are the waste (the populated 256 KiB
        /// before cost `run` 0.05 ms of CPU under 32 at once). Pages past
        /// it fault in as used.
        pub const POPULATE: usize = 160 << 10;

        /// The process's arena, mapped at its first use.
        pub static ARENA: Arena = Arena::new(SIZE);

        /// A bump allocator over `size` bytes at `base`.
        pub struct Arena {
            /// The address: 0 before the first use (then it is mapped), 1
            /// when it could not be mapped (every call answers None).
            base: AtomicUsize,
            /// The offset of the first free byte.
            top: AtomicUsize,
            size: usize,
        }

        impl Arena {
            /// An arena of `size` bytes, mapped at its first use.
            pub const fn new(size: usize) -> Self {
                Self {
                    base: AtomicUsize::new(0),
                    top: AtomicUsize::new(0),
                    size,
                }
            }

            /// An arena over `size` bytes at `base` (a test's buffer, which
            /// must outlive it).
            #[cfg(test)]
            pub fn over(base: *mut u8, size: usize) -> Self {
                Self {
                    base: AtomicUsize::new(base as usize),
                    top: AtomicUsize::new(0),
                    size,
                }
            }

            /// The address, mapped at the first call; None if it could
            /// not be.
            fn base(&self) -> Option<usize> {
                let mut b = self.base.load(Ordering::Acquire);
                if b == 0 {
                    let _held = super::lock();
                    b = self.base.load(Ordering::Acquire);
                    if b == 0 {
                        // SAFETY: a fresh anonymous private mapping;
                        // nothing else is touched.
                        let p = unsafe {
                            libc::mmap(
                                std::ptr::null_mut(),
                                self.size,
                                libc::PROT_READ | libc::PROT_WRITE,
                                libc::MAP_ANONYMOUS | libc::MAP_PRIVATE,
                                -1,
                                0,
                            )
                        };
                        b = if p == libc::MAP_FAILED {
                            1
                        } else {
                            // SAFETY: the start of the mapping just made; an
                            // older kernel's EINVAL only leaves the pages to
                            // fault in as used.
                            unsafe {
                                libc::madvise(p, POPULATE.min(self.size), libc::MADV_POPULATE_WRITE)
                            };
                            p as usize
                        };
                        self.base.store(b, Ordering::Release);
                    }
                }
                (b != 1).then_some(b)
            }

            /// The offset of `p`, if it is in this arena.
            fn offset(&self, p: *mut u8) -> Option<usize> {
                let b = self.base.load(Ordering::Acquire);
                let a = p as usize;
                (b > 1 && a >= b && a - b < self.size).then(|| a - b)
            }

            /// A block of `size` bytes (at least 1) aligned to `align` (a
            /// power of two), or None when there is no room left.
            pub fn alloc(&self, size: usize, align: usize) -> Option<*mut u8> {
                let b = self.base()?;
                let mut top = self.top.load(Ordering::Relaxed);
                loop {
                    // align is a power of two: a mask, not a division.
                    let start = (b + top).checked_add(align - 1)? & !(align - 1);
                    let start = start - b;
                    let end = start.checked_add(size).filter(|&e| e <= self.size)?;
                    match self.top.compare_exchange_weak(
                        top,
                        end,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Some((b + start) as *mut u8),
                        Err(t) => top = t,
                    }
                }
            }

            /// Frees `p` of `size` bytes if it is this arena's (true): its
            /// memory is taken back when it is the last block.
            pub fn free(&self, p: *mut u8, size: usize) -> bool {
                let Some(off) = self.offset(p) else {
                    return false;
                };
                let _ =
                    self.top
                        .compare_exchange(off + size, off, Ordering::AcqRel, Ordering::Relaxed);
                true
            }

            /// Resizes `p` (`old` bytes, this arena's) in place to `new`
            /// bytes when it can: it is the last block and there is room,
            /// or it shrinks. None if `p` is not this arena's; Some(false)
            /// if it must move.
            pub fn resize(&self, p: *mut u8, old: usize, new: usize) -> Option<bool> {
                let off = self.offset(p)?;
                let moved_top = off
                    .checked_add(new)
                    .filter(|&e| e <= self.size)
                    .is_some_and(|e| {
                        self.top
                            .compare_exchange(off + old, e, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                    });
                Some(moved_top || new <= old)
            }
        }
    }

    /// Rust's side of the heap (`#[global_allocator]` in main.rs).
    pub struct Heap;

    // SAFETY: dlmalloc returns blocks of the asked size and alignment or
    // null, and takes back what it gave with the same layout.
    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            if let Some(p) = arena::ARENA.alloc(l.size(), l.align()) {
                return p;
            }
            // SAFETY: a valid layout, as GlobalAlloc's caller guarantees.
            with(|h| unsafe { h.malloc(l.size(), l.align()) })
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            if let Some(p) = arena::ARENA.alloc(l.size(), l.align()) {
                // SAFETY: p holds l.size() bytes (a freed last block may
                // have left data in them).
                unsafe { p.write_bytes(0, l.size()) };
                return p;
            }
            // SAFETY: as above.
            with(|h| unsafe { h.calloc(l.size(), l.align()) })
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            if arena::ARENA.free(p, l.size()) {
                return;
            }
            // SAFETY: p came from this heap with layout l (caller's duty).
            with(|h| unsafe { h.free(p, l.size(), l.align()) })
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
            match arena::ARENA.resize(p, l.size(), new_size) {
                Some(true) => p,
                Some(false) => {
                    // SAFETY: new_size is valid for l's alignment (caller's
                    // duty), and not zero.
                    let nl = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
                    // SAFETY: as alloc above.
                    let q = unsafe { self.alloc(nl) };
                    if !q.is_null() {
                        // SAFETY: both hold at least l.size() bytes (the
                        // block grows) and are distinct blocks.
                        unsafe { std::ptr::copy_nonoverlapping(p, q, l.size()) };
                        arena::ARENA.free(p, l.size());
                    }
                    q
                }
                // SAFETY: as above; p is dlmalloc's.
                None => with(|h| unsafe { h.realloc(p, l.size(), l.align(), new_size) }),
            }
        }
    }

    /// `malloc(3)`: `size` bytes aligned to 16, or null.
    pub fn c_malloc(size: usize) -> *mut u8 {
        // SAFETY: c_malloc accepts any size.
        with(|h| unsafe { h.c_malloc(size) })
    }

    /// `calloc(3)`: `n * size` zeroed bytes, or null (also on overflow).
    pub fn c_calloc(n: usize, size: usize) -> *mut u8 {
        let Some(total) = n.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        // SAFETY: 16 is a power of two (the natural malloc alignment).
        with(|h| unsafe { h.calloc(total, 16) })
    }

    /// `aligned_alloc(3)`: `size` bytes aligned to `align`, or null (also
    /// when `align` is not a power of two).
    pub fn c_memalign(align: usize, size: usize) -> *mut u8 {
        if !align.is_power_of_two() {
            return std::ptr::null_mut();
        }
        // SAFETY: align is a power of two.
        with(|h| unsafe { h.c_memalign(align, size) })
    }

    /// `realloc(3)`: `p` resized to `size` bytes (a new block for null),
    /// contents kept; null with `p` left alone when there is no memory.
    ///
    /// # Safety
    /// `p` is null or a live block of this heap; not used after success.
    pub unsafe fn c_realloc(p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: per the contract.
        with(|h| unsafe { h.c_realloc(p, size) })
    }

    /// `free(3)`: gives back `p` (nothing for null).
    ///
    /// # Safety
    /// `p` is null or a live block of this heap, not used afterwards.
    pub unsafe fn c_free(p: *mut u8) {
        // SAFETY: per the contract.
        with(|h| unsafe { h.c_free(p) })
    }
}

/// `malloc`, `calloc`, `realloc`, `free`, `aligned_alloc`, `memalign` and
/// `posix_memalign` (malloc(3), posix_memalign(3)) of the musl build, on
/// [`heap`]. Errors as C has them: null and `errno` `ENOMEM` (`EINVAL`
/// for a bad alignment); `posix_memalign` returns the error.
#[cfg(all(target_env = "musl", not(test)))]
mod heap_exports {
    use super::heap;
    use libc::{c_int, c_void, size_t};

    /// `p`, or null with `errno` `e` when it is null.
    fn or_errno(p: *mut u8, e: c_int) -> *mut c_void {
        if p.is_null() {
            // SAFETY: errno is this thread's.
            unsafe { *libc::__errno_location() = e };
        }
        p.cast()
    }

    #[unsafe(no_mangle)]
    extern "C" fn malloc(size: size_t) -> *mut c_void {
        or_errno(heap::c_malloc(size), libc::ENOMEM)
    }

    #[unsafe(no_mangle)]
    extern "C" fn calloc(n: size_t, size: size_t) -> *mut c_void {
        or_errno(heap::c_calloc(n, size), libc::ENOMEM)
    }

    /// # Safety
    /// C's contract: `p` is null or a live block from this family.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn realloc(p: *mut c_void, size: size_t) -> *mut c_void {
        // SAFETY: per C's contract (above).
        or_errno(unsafe { heap::c_realloc(p.cast(), size) }, libc::ENOMEM)
    }

    /// # Safety
    /// C's contract: `p` is null or a live block from this family.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn free(p: *mut c_void) {
        // SAFETY: per C's contract (above).
        unsafe { heap::c_free(p.cast()) }
    }

    #[unsafe(no_mangle)]
    extern "C" fn aligned_alloc(align: size_t, size: size_t) -> *mut c_void {
        let e = if align.is_power_of_two() {
            libc::ENOMEM
        } else {
            libc::EINVAL
        };
        or_errno(heap::c_memalign(align, size), e)
    }

    #[unsafe(no_mangle)]
    extern "C" fn memalign(align: size_t, size: size_t) -> *mut c_void {
        aligned_alloc(align, size)
    }

    /// # Safety
    /// C's contract: `out` points to writable storage for a pointer.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn posix_memalign(
        out: *mut *mut c_void,
        align: size_t,
        size: size_t,
    ) -> c_int {
        if !align.is_power_of_two() || align % size_of::<*mut c_void>() != 0 {
            return libc::EINVAL;
        }
        let p = heap::c_memalign(align, size);
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: per C's contract (above).
        unsafe { out.write(p.cast()) };
        0
    }
}

/// `argc` and `argv` as [`main`] received them (0 and null before).
static ARGC: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static ARGV: std::sync::atomic::AtomicPtr<*const c_char> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// The command line: the `argv` strings [`main`] was given, or
/// `std::env::args_os` when it was not entered through [`main`] (unit
/// tests). musl, unlike glibc, does not pass `argv` to std's
/// `.init_array` hook, so with `#![no_main]` std sees no arguments there.
pub fn args() -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let argv = ARGV.load(std::sync::atomic::Ordering::Relaxed);
    if argv.is_null() {
        return std::env::args_os().collect();
    }
    let argc = ARGC.load(std::sync::atomic::Ordering::Relaxed);
    (0..argc)
        // SAFETY: the kernel-built argv array has argc valid entries,
        // NUL-terminated strings that live as long as the process.
        .map(|i| unsafe { *argv.add(i) })
        .take_while(|p| !p.is_null())
        // SAFETY: as above: a valid NUL-terminated string.
        .map(|p| {
            std::ffi::OsStr::from_bytes(unsafe { CStr::from_ptr(p) }.to_bytes()).to_os_string()
        })
        .collect()
}

/// The process entry point, called by glibc's `__libc_start_main` (the
/// crate is `#![no_main]`): std's runtime set-up is skipped. It costs
/// about 20 system calls per command (a `/proc/self/maps` read for the
/// main thread's stack guard, a signal stack and SIGSEGV/SIGBUS handlers
/// for stack-overflow messages, the stdio check), 0.05-0.1 ms here. Of
/// it, what the controller relies on is done here: stdio fds 0-2 that
/// are closed are opened on /dev/null (so that no file of ours lands on
/// them), and SIGPIPE is ignored (a write to a pipe whose reader died is
/// `EPIPE`, not death; the child restores the default before its exec).
/// `argc`/`argv` are kept for [`args`]. stdout is flushed by
/// `sprout_main` itself. (musl's `__libc_start_main` calls it alike.)
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    ARGC.store(argc.max(0) as usize, std::sync::atomic::Ordering::Relaxed);
    ARGV.store(argv.cast_mut(), std::sync::atomic::Ordering::Relaxed);
    // SAFETY: poll on a stack array; open of a static path; signal with a
    // constant disposition. Nothing else runs yet.
    unsafe {
        let mut fds = [
            libc::pollfd {
                fd: 0,
                events: 0,
                revents: 0,
            },
            libc::pollfd {
                fd: 1,
                events: 0,
                revents: 0,
            },
            libc::pollfd {
                fd: 2,
                events: 0,
                revents: 0,
            },
        ];
        loop {
            let r = libc::poll(fds.as_mut_ptr(), 3, 0);
            if r >= 0 {
                break;
            }
            if *libc::__errno_location() != libc::EINTR {
                // No poll: check each fd the slow way.
                for f in &mut fds {
                    if libc::fcntl(f.fd, libc::F_GETFD) < 0 {
                        f.revents = libc::POLLNVAL;
                    }
                }
                break;
            }
        }
        for f in &fds {
            if f.revents & libc::POLLNVAL != 0
                && libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) != f.fd
            {
                libc::abort();
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        reset_ignored_signals();
    }
    crate::sprout_main()
}

/// SIGHUP and SIGINT as the caller left them ignored (bit N-1: signal N),
/// read at start-up by [`reset_ignored_signals`].
static IGNORED_HUP_INT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether the caller started this process with `sig` (SIGHUP or SIGINT)
/// ignored: it stays ignored here, is not forwarded to a container, and
/// the container starts with it at its default all the same (runc 1.1.5,
/// measured: under `nohup` its container has no signal ignored, and
/// `runc run` does not pass SIGHUP on).
pub fn ignored_at_start(sig: c_int) -> bool {
    (1..64).contains(&sig)
        && IGNORED_HUP_INT.load(std::sync::atomic::Ordering::Relaxed) & 1 << (sig - 1) != 0
}

/// Signals the caller left ignored go back to their default: an ignored
/// disposition survives `execve(2)`, so the container (and hooks) would
/// inherit it (a container whose SIGTERM is ignored outlives `kill`), and
/// an ignored SIGCHLD makes the kernel reap this process's children before
/// `waitpid` sees their status. SIGHUP and SIGINT stay ignored in this
/// process (Go's runtime, and so runc, keeps just those two ignored when
/// started so: `nohup` keeps working) and are noted
/// ([`ignored_at_start`]): the container's process gets them back at
/// their default (`child_main`), as runc's does; SIGPIPE is this
/// process's own (see [`main`]). The
/// ignored set is read once from `/proc/self/stat` (`sigignore`, proc(5)):
/// 3 system calls, where asking each standard signal would take 26;
/// usually nothing is ignored and nothing more is done. Real-time signals
/// are left as they are.
#[cfg(not(test))]
fn reset_ignored_signals() {
    // One read into a stack buffer (the line is a few hundred bytes; a
    // growing String takes five reads and an fstat).
    let mut buf = [0u8; 2048];
    let Ok(mut f) = std::fs::File::open("/proc/self/stat") else {
        return;
    };
    let Ok(n) = std::io::Read::read(&mut f, &mut buf) else {
        return;
    };
    let Ok(stat) = std::str::from_utf8(&buf[..n]) else {
        return;
    };
    // Fields after the command name, which ends at the last ')': state is
    // field 3, sigignore field 33.
    let ignored = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(30))
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0);
    let hup_int = 1u64 << (libc::SIGHUP - 1) | 1 << (libc::SIGINT - 1);
    IGNORED_HUP_INT.store(ignored & hup_int, std::sync::atomic::Ordering::Relaxed);
    for sig in 1..32 {
        if ignored & 1 << (sig - 1) == 0
            || matches!(
                sig,
                libc::SIGKILL | libc::SIGSTOP | libc::SIGHUP | libc::SIGINT | libc::SIGPIPE
            )
        {
            continue;
        }
        // SAFETY: a constant disposition for a valid signal number.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// This process's hard limit of `resource` (`prlimit(2)` reading only;
/// `RLIM_INFINITY` is `u64::MAX`). Errors: EINVAL for an unknown resource.
pub fn hard_limit(resource: u32) -> Result<u64, Errno> {
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a NULL new value only reads; `old` is a live, valid out-pointer.
    let r = unsafe { libc::prlimit64(0, resource as _, std::ptr::null(), &mut old) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(old.rlim_max)
    }
}

/// `prlimit(2)`: sets resource `resource` of process `pid` to
/// `soft`/`hard` (`u64::MAX` = infinity).
pub fn prlimit(pid: libc::pid_t, resource: u32, soft: u64, hard: u64) -> Result<(), Errno> {
    let new = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `new` is a valid rlimit64; the old-value pointer may be NULL.
    let r = unsafe { libc::prlimit64(pid, resource as _, &new, std::ptr::null_mut()) };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// Whether the running kernel knows the `SECCOMP_FILTER_FLAG_*` bits in
/// `flags`: `seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL)` checks the
/// flags before it reads the (NULL) program, so it fails with `EFAULT` for
/// known flags and `EINVAL` for unknown ones; nothing is installed.
pub fn seccomp_flags_known(flags: u32) -> bool {
    const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
    // SAFETY: a NULL program pointer; the kernel only validates and fails.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_uint,
            std::ptr::null::<u8>(),
        )
    };
    r < 0 && Errno::last() == Errno::EFAULT
}

/// `sched_setattr(pid, attr, 0)` (sched_setattr(2)).
pub fn sched_setattr(pid: libc::pid_t, attr: &crate::procattr::SchedAttr) -> Result<(), Errno> {
    // SAFETY: `attr` is a #[repr(C)] struct sched_attr whose `size` field
    // says how much the kernel may read; it only reads it.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, pid, attr as *const _, 0u32) };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, pid, value)` (ioprio_set(2)).
pub fn ioprio_set(pid: libc::pid_t, value: u32) -> Result<(), Errno> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            pid,
            value as libc::c_int,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC
/// [| AT_RECURSIVE])` (open_tree(2), Linux 5.2): a detached copy of the
/// mount at `path` (with its submounts when `recursive`), like a bind
/// mount not attached anywhere yet.
pub fn open_tree_clone(path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    use std::os::unix::ffi::OsStrExt;
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `c` is a NUL-terminated path the kernel only reads.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// `open_tree_attr(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
/// attr)` (Linux 6.15; system call 467 on every architecture but alpha):
/// [`open_tree_clone`] (not recursive) and [`mount_setattr`] of `attr` on
/// the copy in one call. `ENOSYS` before 6.15.
pub fn open_tree_attr(path: &Path, attr: &MountAttr) -> Result<OwnedFd, Errno> {
    use std::os::unix::ffi::OsStrExt;
    const SYS_OPEN_TREE_ATTR: libc::c_long = 467;
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: `c` is a NUL-terminated path and `attr` a #[repr(C)] struct
    // mount_attr of the size passed; the kernel only reads both.
    let r = unsafe {
        libc::syscall(
            SYS_OPEN_TREE_ATTR,
            libc::AT_FDCWD,
            c.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// `struct mount_attr` (`<linux/mount.h>`, `MOUNT_ATTR_SIZE_VER0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MountAttr {
    /// `MOUNT_ATTR_*` to set.
    pub attr_set: u64,
    /// `MOUNT_ATTR_*` to clear.
    pub attr_clr: u64,
    /// `MS_PRIVATE`/`MS_SLAVE`/`MS_SHARED`/`MS_UNBINDABLE`, or 0.
    pub propagation: u64,
    /// A user namespace fd, with `MOUNT_ATTR_IDMAP`.
    pub userns_fd: u64,
}

/// `mount_setattr(tree, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`
/// (mount_setattr(2), Linux 5.12).
pub fn mount_setattr(tree: &OwnedFd, recursive: bool, attr: &MountAttr) -> Result<(), Errno> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: "" is NUL-terminated; `attr` is a #[repr(C)] struct
    // mount_attr of the size passed; the kernel only reads both.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// A user namespace with the given id maps (`container host size` lines),
/// as an fd (for `MOUNT_ATTR_IDMAP`): a child cloned into a new user
/// namespace waits on a pipe while its maps are written and its
/// `/proc/PID/ns/user` opened, then exits. The child runs only raw,
/// async-signal-safe syscalls (the controller may have threads).
pub fn userns_fd(uid_map: &str, gid_map: &str) -> Result<OwnedFd, Errno> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (rfd, wfd) = (r.as_raw_fd(), w.as_raw_fd());
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: fork-mode clone (no CLONE_VM): the child gets a copy of this
    // thread's memory and only calls close/read/_exit below.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid < 0 {
        return Err(Errno::last());
    }
    if pid == 0 {
        // SAFETY: raw syscalls on fds this process owns; never returns.
        unsafe {
            libc::close(wfd);
            let mut b = 0u8;
            libc::read(rfd, (&mut b as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    let pid = pid as libc::pid_t;
    let result = (|| {
        let write = |file: &str, text: &str| -> Result<(), Errno> {
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, text)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
        };
        write("uid_map", uid_map)?;
        write("gid_map", gid_map)?;
        std::fs::File::open(format!("/proc/{pid}/ns/user"))
            .map(OwnedFd::from)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    })();
    drop((r, w));
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    result
}

/// `pidfd_open(2)`.
pub fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// `pidfd_send_signal(2)`: sends `sig` to the process `pidfd` refers to
/// (never to a later process that reused its pid). `ESRCH` once it exited.
pub fn pidfd_send_signal(pidfd: &impl AsRawFd, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall with an fd, a signal number, a NULL siginfo
    // (the kernel then fills in a kill(2)-like one) and no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// One cgroup a container-namespace hook joins ([`HookJoin`]); the fds
/// must stay open until the command is spawned (the caller keeps them).
#[derive(Debug)]
pub struct HookCgroup {
    /// The file to write `0` to: v1 `tasks`, cgroup2 `cgroup.procs`
    /// (write-only).
    pub file: RawFd,
    /// cgroup2: the cgroup's directory, for `clone3(CLONE_INTO_CGROUP)`
    /// (then `file` is only written where the kernel refuses that); -1 for
    /// a v1 hierarchy.
    pub dir: RawFd,
    /// A failed join is tolerated.
    pub optional: bool,
    /// What a failed join was doing, for the error
    /// (`joining the container's cgroup: writing 0 to FILE`): written to
    /// the hook's stderr, which the caller captures, before the spawn
    /// fails with the errno.
    pub message: Vec<u8>,
}

/// What a container-namespace hook's child joins before the hook is
/// exec'd ([`hook_before_exec`]).
#[derive(Debug, Default)]
pub struct HookJoin {
    /// The container's cgroups (see `cgroups::join_files_of`); at most one
    /// with a `dir` (cgroup2).
    pub cgroups: Vec<HookCgroup>,
    /// `(fd, CLONE_NEW*)` to `setns(2)` into, in order (user namespace
    /// first, mount namespace last); fds the caller keeps open until the
    /// spawn.
    pub namespaces: Vec<(RawFd, c_int)>,
    /// The container process's identity, applied last, after the
    /// namespaces (startContainer: runc runs it from its init after the
    /// container's credentials; createContainer keeps the runtime's).
    pub creds: Option<HookCreds>,
    /// The working directory to enter after the namespaces, before the
    /// credentials (best-effort, as runc's: a failed `chdir` is skipped).
    pub cwd: Option<std::ffi::CString>,
    /// How the hook is exec'd when it runs the image's program
    /// (startContainer): through the sealed sprout-init memfd.
    pub trampoline: Option<HookTrampoline>,
}

/// A startContainer hook exec'd through sprout-init (`--hook PATH ARGV0
/// ARGS...`, the stub's first check): the last thing the hook's process
/// does is `execveat(2)` of the sealed memfd, which then execs the hook's
/// path. The process that execs a path of the image is then never the
/// host's sprout binary: a hook path, or a `#!` line, that names
/// `/proc/self/exe` runs the sealed stub, and no process of the
/// container sees the host binary as a `/proc/PID/exe` it could reopen
/// for writing (CVE-2019-5736; runc's hooks run from its memfd copy).
#[derive(Debug)]
pub struct HookTrampoline {
    /// The sealed sprout-init memfd (the caller keeps it open).
    stub: RawFd,
    /// The hook's `path`: checked with `access(2)` (`X_OK`) first, so
    /// that a missing or unusable path is the spawn's error, as for other
    /// hooks.
    path: CString,
    /// `/proc/self/fd/STUB`, exec'd with `execve(2)` (see
    /// [`hook_trampoline`]).
    stub_path: CString,
    /// `sprout-init --hook PATH ARGV0 ARGS...`, and the hook's exact `env`
    /// (`K=V`), kept alive for the pointers below.
    _strings: Vec<CString>,
    /// NULL-terminated pointer arrays into `strings`: argv, then envp
    /// (addresses as `usize`, so the pre-exec closure may hold them).
    argv: Vec<usize>,
    envp: Vec<usize>,
}

impl HookTrampoline {
    /// The trampoline for `stub` running `path` with `argv` (the hook's
    /// `args`, `argv[0]` first) and `env`. Errors: a NUL byte in any.
    pub fn new(
        stub: RawFd,
        path: &[u8],
        argv: &[&[u8]],
        env: &[&[u8]],
    ) -> io::Result<HookTrampoline> {
        let c = |b: &[u8]| CString::new(b).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL));
        let mut strings = vec![c(b"sprout-init")?, c(b"--hook")?, c(path)?];
        for a in argv {
            strings.push(c(a)?);
        }
        let n_argv = strings.len();
        for e in env {
            strings.push(c(e)?);
        }
        // A CString's bytes stay where they are when the Vec moves.
        let ptrs = |r: &[CString]| -> Vec<usize> {
            r.iter().map(|s| s.as_ptr() as usize).chain([0]).collect()
        };
        Ok(HookTrampoline {
            stub,
            path: c(path)?,
            stub_path: c(format!("/proc/self/fd/{stub}").as_bytes())?,
            argv: ptrs(&strings[..n_argv]),
            envp: ptrs(&strings[n_argv..]),
            _strings: strings,
        })
    }
}

/// `access(2)` of the hook's path with `X_OK`, made before the
/// credentials and the seccomp filter (as the runtime: a missing or
/// unusable path is the spawn's error, as for the other hooks, and no
/// system call but the exec is made under the container's filter).
///
/// # Safety
/// Async-signal-safe (for a forked child).
unsafe fn hook_path_check(t: &HookTrampoline) -> io::Result<()> {
    // SAFETY: a raw system call on a NUL-terminated string `t` owns.
    unsafe {
        if libc::syscall(
            libc::SYS_faccessat,
            libc::AT_FDCWD,
            t.path.as_ptr(),
            libc::X_OK,
        ) < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Execs `t` ([`HookTrampoline`]) with `execve(2)` of
/// `/proc/self/fd/STUB`, the system call the container's own exec makes
/// (its seccomp filter must allow it: `seccomp::check_stub_syscalls`),
/// or, where the container has no `/proc`, `execveat(2)` of the memfd.
/// Returns only on failure.
///
/// # Safety
/// Async-signal-safe (for a forked child): `t` and its strings are alive.
unsafe fn hook_trampoline(t: &HookTrampoline) -> io::Error {
    // SAFETY: raw system calls on NUL-terminated strings and NULL-terminated
    // pointer arrays that `t` owns.
    unsafe {
        let argv = t.argv.as_ptr() as *const *const libc::c_char;
        let envp = t.envp.as_ptr() as *const *const libc::c_char;
        libc::syscall(libc::SYS_execve, t.stub_path.as_ptr(), argv, envp);
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOENT) {
            return e;
        }
        libc::syscall(
            libc::SYS_execveat,
            t.stub,
            c"".as_ptr(),
            argv,
            envp,
            libc::AT_EMPTY_PATH,
        );
        io::Error::last_os_error()
    }
}

/// What a startContainer hook takes on of the container's process (as
/// runc's init has applied it by then): `process.user` and
/// `process.capabilities` (bit masks, up to `last_cap`),
/// `noNewPrivileges`, the `linux.seccomp` filter, `process.rlimits`, the
/// umask and `process.oomScoreAdj`.
#[derive(Debug, Clone, Default)]
pub struct HookCreds {
    /// `process.user.uid`, `gid`, `additionalGids`.
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// The five capability sets.
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
    /// `/proc/sys/kernel/cap_last_cap`.
    pub last_cap: u32,
    /// `process.noNewPrivileges`.
    pub no_new_privs: bool,
    /// `process.rlimits` as (`RLIMIT_*` number, soft, hard), set with
    /// setrlimit(2) before the credentials (the container's are set with
    /// prlimit(2) by `create`).
    pub rlimits: Vec<(u32, u64, u64)>,
    /// `process.user.umask` (0o022 without one, as the container's).
    pub umask: Option<u32>,
    /// `process.oomScoreAdj`, the decimal text written to
    /// `/proc/self/oom_score_adj` before any namespace is joined.
    pub oom_score_adj: Option<std::ffi::CString>,
    /// The container's compiled `linux.seccomp` filter (8-byte
    /// `struct sock_filter` records) and its `SECCOMP_FILTER_FLAG_*`
    /// bits, loaded last, as runc's init has loaded it by then.
    pub seccomp: Option<(Vec<u8>, u32)>,
}

/// Applies `c` to this (forked, single-threaded) process, in runc's order:
/// the bounding set, keep capabilities across the uid change, groups, gid,
/// uid, the other capability sets, ambient, no_new_privs, then the seccomp
/// filter (seccomp(2) `SECCOMP_SET_MODE_FILTER`; without no_new_privs it
/// needs CAP_SYS_ADMIN, kept effective until the hook's execve as the stub
/// keeps it, which then derives the sets without it). On failure a
/// line naming the step goes to stderr (the hook's output, read back by
/// the caller) and the errno is returned.
///
/// # Safety
/// Async-signal-safe (for a forked child): raw system calls on values `c`
/// owns.
unsafe fn apply_hook_creds(c: &HookCreds, parent: libc::pid_t) -> io::Result<()> {
    let fail = |what: &[u8]| -> io::Error {
        let e = io::Error::last_os_error();
        // SAFETY: write(2) of a static message to stderr.
        unsafe { libc::write(2, what.as_ptr().cast(), what.len()) };
        e
    };
    // SAFETY (block): raw system calls with arguments built here; the
    // process is a forked child with one thread, so the per-thread id
    // calls (no libc set*id broadcast) cover all of it.
    unsafe {
        for &(resource, cur, max) in &c.rlimits {
            let limit = libc::rlimit {
                rlim_cur: cur,
                rlim_max: max,
            };
            if libc::syscall(libc::SYS_setrlimit, resource, &limit as *const libc::rlimit) < 0 {
                return Err(fail(b"setting the container's credentials: setrlimit"));
            }
        }
        if let Some(mask) = c.umask {
            libc::umask(mask as libc::mode_t);
        }
        for cap in 0..=c.last_cap.min(63) {
            if c.bounding & (1u64 << cap) == 0
                && libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0
            {
                return Err(fail(
                    b"setting the container's credentials: PR_CAPBSET_DROP",
                ));
            }
        }
        if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 {
            return Err(fail(
                b"setting the container's credentials: PR_SET_KEEPCAPS",
            ));
        }
        if libc::syscall(libc::SYS_setgroups, c.groups.len(), c.groups.as_ptr()) < 0 {
            return Err(fail(b"setting the container's credentials: setgroups"));
        }
        if libc::syscall(libc::SYS_setresgid, c.gid, c.gid, c.gid) < 0 {
            return Err(fail(b"setting the container's credentials: setresgid"));
        }
        if libc::syscall(libc::SYS_setresuid, c.uid, c.uid, c.uid) < 0 {
            return Err(fail(b"setting the container's credentials: setresuid"));
        }
        #[repr(C)]
        struct Header {
            version: u32,
            pid: c_int,
        }
        #[repr(C)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let hdr = Header {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        // CAP_SYS_ADMIN (`<linux/capability.h>`).
        let admin = if c.seccomp.is_some() && !c.no_new_privs {
            1u64 << 21
        } else {
            0
        };
        let (effective, permitted) = (c.effective | admin, c.permitted | admin);
        let data = [
            Data {
                effective: effective as u32,
                permitted: permitted as u32,
                inheritable: c.inheritable as u32,
            },
            Data {
                effective: (effective >> 32) as u32,
                permitted: (permitted >> 32) as u32,
                inheritable: (c.inheritable >> 32) as u32,
            },
        ];
        if libc::syscall(libc::SYS_capset, &hdr as *const Header, data.as_ptr()) < 0 {
            return Err(fail(b"setting the container's credentials: capset"));
        }
        for cap in 0..=c.last_cap.min(63) {
            if c.ambient & (1u64 << cap) != 0
                && libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                ) < 0
            {
                return Err(fail(
                    b"setting the container's credentials: PR_CAP_AMBIENT_RAISE",
                ));
            }
        }
        // A uid change cleared the parent-death signal (prctl(2)): armed
        // again, with the parent checked again, so that a killed `start`
        // leaves no hook of another user running (and started twice).
        arm_pdeathsig(parent)?;
        if c.no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
            return Err(fail(
                b"setting the container's credentials: PR_SET_NO_NEW_PRIVS",
            ));
        }
        if let Some((program, flags)) = &c.seccomp {
            let prog = libc::sock_fprog {
                len: (program.len() / 8) as u16,
                filter: program.as_ptr() as *mut libc::sock_filter,
            };
            if libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                *flags,
                &prog as *const libc::sock_fprog,
            ) < 0
            {
                return Err(fail(
                    b"setting the container's credentials: seccomp(SECCOMP_SET_MODE_FILTER)",
                ));
            }
        }
    }
    Ok(())
}

/// `PR_SET_PDEATHSIG(SIGKILL)` for a hook's process (fork and a uid
/// change clear it, prctl(2)), then `ESRCH` if its parent is not `parent`
/// any more (gone before the signal was armed).
///
/// # Safety
/// Async-signal-safe (for a forked child).
unsafe fn arm_pdeathsig(parent: libc::pid_t) -> io::Result<()> {
    // SAFETY: prctl(2) and getppid(2) with plain values.
    unsafe {
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) < 0
        {
            return Err(io::Error::last_os_error());
        }
        if libc::getppid() != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}

/// Prepares a hook's child (between fork and exec): it unblocks every
/// signal (the hook starts with none blocked, as the container process
/// and runc's hooks do), gets `PR_SET_PDEATHSIG(SIGKILL)` so that it dies
/// with this controller (a killed `sprout create` leaves no hook behind;
/// if the controller is already gone the exec is abandoned) and becomes
/// the leader of a new process group (so a timeout can kill the hook's
/// children with it).
///
/// Before anything else it marks every fd from 3 up close-on-exec
/// (`close_range(2)` with `CLOSE_RANGE_CLOEXEC`): a hook gets stdin,
/// stdout and stderr only, as runc's, never an fd the caller of sprout
/// left open (a directory of the host, for a startContainer hook that is
/// the image's program). And it makes itself non-dumpable
/// (`PR_SET_DUMPABLE` 0, inherited by the fork below; the hook's exec
/// resets it): until its exec the child is this controller, and a
/// startContainer hook has the container's credentials by then, so a
/// process in the container's pid namespace could otherwise open its
/// `/proc/PID/exe` (the host's sprout binary: CVE-2019-5736), its fds or
/// its memory (ptrace(2), "Ptrace access mode checking": a non-dumpable
/// target needs `CAP_SYS_PTRACE` in the host's user namespace).
///
/// With `join` (createContainer, startContainer: "in the container
/// namespace"), the hook runs where runc and crun run it, as a child of
/// the container's init would: in the container's cgroups and in all its
/// namespaces, its pid namespace included. A pid namespace join only
/// applies to children (`pid_namespaces(7)`), so the child forks once
/// more ([`hook_fork`]) and the hook is that grandchild, whose
/// `/proc/self` then resolves in the container's `/proc`:
///
/// 1. the child writes `0` to each v1 cgroup's `tasks` (before any
///    `setns`: with our credentials);
/// 2. it joins each namespace but the cgroup and mount ones, in order;
/// 3. it forks the hook into the cgroup2 cgroup
///    (`clone3(CLONE_INTO_CGROUP)`, before the cgroup namespace join, so
///    that a `nsdelegate` hierarchy sees both cgroups; where the kernel
///    refuses that, it writes `0` to `cgroup.procs` first and forks);
/// 4. the hook joins the cgroup and mount namespaces (mount last: it
///    moves the root and cwd to that namespace's root).
///
/// The spawned child stays outside as the hook's parent: it waits for the
/// hook and ends the way the hook ended (exit status or signal), so the
/// caller's wait, pidfd poll and `killpg` of its process group work as for
/// a hook without `join`; an exec failure of the hook still reaches the
/// caller as the spawn's error.
pub fn hook_before_exec(cmd: &mut std::process::Command, join: Option<HookJoin>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is a plain syscall.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child, which may only call
    // async-signal-safe functions: sigprocmask on a local set, close_range, prctl,
    // getppid, setpgid, write(2) and setns(2) on fds the parent keeps
    // open, iterating Vecs it owns (no allocation), io::Error from errno
    // (no allocation for OS errors), and [`hook_fork`] (itself
    // async-signal-safe).
    unsafe {
        cmd.pre_exec(move || {
            // No signal blocked, as the container process starts (std
            // leaves the mask as it is; a `run` blocks the signals it
            // forwards): a hook that waits for SIGTERM must get it, as
            // runc's hooks do.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            if libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            ) < 0
                || libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) < 0
            {
                return Err(io::Error::last_os_error());
            }
            arm_pdeathsig(parent)?;
            // Its own process group: a timeout kills the hook's children too.
            if libc::setpgid(0, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            let Some(join) = &join else {
                return Ok(());
            };
            if let Some(adj) = join.creds.as_ref().and_then(|c| c.oom_score_adj.as_ref()) {
                hook_oom_score_adj(adj)?;
            }
            for c in join.cgroups.iter().filter(|c| c.dir < 0) {
                hook_cgroup_write(c)?;
            }
            let late = |t: c_int| t == libc::CLONE_NEWCGROUP || t == libc::CLONE_NEWNS;
            for &(fd, nstype) in join.namespaces.iter().filter(|(_, t)| !late(*t)) {
                if libc::setns(fd, nstype) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            hook_fork(join, late)
        });
    }
}

/// Writes `adj` (decimal text) to `/proc/self/oom_score_adj`; a failure
/// writes a line to stderr and is returned.
///
/// # Safety
/// Async-signal-safe (for a forked child).
unsafe fn hook_oom_score_adj(adj: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: open/write/close on a path and bytes `adj` owns.
    unsafe {
        let fd = libc::open(
            c"/proc/self/oom_score_adj".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        );
        let len = adj.to_bytes().len();
        if fd < 0 || libc::write(fd, adj.as_ptr().cast(), len) != len as isize {
            let e = io::Error::last_os_error();
            let what = b"setting the container's oomScoreAdj: /proc/self/oom_score_adj";
            libc::write(2, what.as_ptr().cast(), what.len());
            if fd >= 0 {
                libc::close(fd);
            }
            return Err(e);
        }
        libc::close(fd);
    }
    Ok(())
}

/// Writes `0` to `c.file` (a single-threaded caller: the whole process
/// moves); a failure of a cgroup that is not optional writes `c.message`
/// to stderr and is returned.
///
/// # Safety
/// Async-signal-safe (for a forked child): `c`'s fds must be open.
unsafe fn hook_cgroup_write(c: &HookCgroup) -> io::Result<()> {
    // SAFETY: write(2) of static bytes and of a message the caller owns to
    // open fds; io::Error from errno does not allocate.
    unsafe {
        if libc::write(c.file, b"0".as_ptr().cast(), 1) != 1 && !c.optional {
            let e = io::Error::last_os_error();
            libc::write(2, c.message.as_ptr().cast(), c.message.len());
            return Err(e);
        }
    }
    Ok(())
}

/// The second fork of a container-namespace hook ([`hook_before_exec`]),
/// in the spawned child after its early `setns` calls. Returns (`Ok`)
/// only in the new child, which std then execs as the hook; the spawned
/// child never returns:
///
/// - it closes every fd from 3 up (`close_range(2)`), among them its copy
///   of std's close-on-exec error pipe, so that the spawn returns once the
///   hook has exec'd (the hook's copy closes on exec; an exec failure is
///   written there by the hook and read by the caller as before);
/// - it blocks every signal (a handler of the controller's must not run
///   here; SIGKILL still ends it), waits for the hook and exits with its
///   status; a hook killed by a signal is mirrored by raising that signal
///   with its default action (no core dump: `RLIMIT_CORE` 0 first).
///
/// The hook is born in the cgroup2 cgroup of `join` (a plain fork after a
/// `cgroup.procs` write where `clone3(CLONE_INTO_CGROUP)` is refused),
/// restores the (empty) signal mask, sets its own
/// `PR_SET_PDEATHSIG(SIGKILL)` (fork clears it), gives up (`ESRCH`) if its
/// parent is gone already (its parent is outside its pid namespace,
/// `getppid` 0, when it joined one; the spawned child's pid otherwise),
/// then joins the namespaces of `join` that `late` selects, in order.
/// Both stay in the process group the caller kills on a timeout.
///
/// # Safety
/// Only for a forked child (async-signal-safe calls only; the copy of
/// std's error pipe must be an fd >= 3, which it is: stdio is 0-2).
unsafe fn hook_fork(join: &HookJoin, late: impl Fn(c_int) -> bool) -> io::Result<()> {
    let pid_ns = join
        .namespaces
        .iter()
        .any(|&(_, t)| t == libc::CLONE_NEWPID);
    let into = join.cgroups.iter().find(|c| c.dir >= 0);
    // SAFETY: raw system calls and libc's async-signal-safe wrappers on
    // local, initialised values and fds the caller keeps open; the clones
    // are fork-like (no CLONE_VM, no stack), as in `spawn`'s fork mode, and
    // the child goes on with a copy of this stack.
    unsafe {
        let me = libc::getpid();
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigemptyset(&mut old);
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
        let restore = |old: &libc::sigset_t| {
            libc::sigprocmask(libc::SIG_SETMASK, old, std::ptr::null_mut());
        };
        let mut pid: i64 = -1;
        if let Some(c) = into {
            let mut args = CloneArgs {
                flags: CLONE_INTO_CGROUP,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: c.dir as u64,
                ..Default::default()
            };
            pid = libc::syscall(
                libc::SYS_clone3,
                &mut args as *mut CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            );
            if pid < 0 {
                // Refused (an older kernel, a cgroup that takes no
                // processes, ...): the classic way in, then a plain fork.
                if let Err(e) = hook_cgroup_write(c) {
                    restore(&old);
                    return Err(e);
                }
            }
        }
        if pid < 0 {
            pid = libc::syscall(
                libc::SYS_clone,
                libc::SIGCHLD as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            );
        }
        if pid < 0 {
            let e = io::Error::last_os_error();
            restore(&old);
            return Err(e);
        }
        if pid == 0 {
            restore(&old);
            let parent = if pid_ns { 0 } else { me };
            arm_pdeathsig(parent)?;
            for &(fd, nstype) in join.namespaces.iter().filter(|(_, t)| late(*t)) {
                if libc::setns(fd, nstype) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(d) = &join.cwd {
                libc::chdir(d.as_ptr());
            }
            if let Some(t) = &join.trampoline {
                hook_path_check(t)?;
            }
            if let Some(c) = &join.creds {
                apply_hook_creds(c, parent)?;
            } else if join
                .namespaces
                .iter()
                .any(|&(_, t)| t == libc::CLONE_NEWUSER)
            {
                // A createContainer hook in the container's user namespace
                // runs as its root, as runc's (from its init): our host
                // uid 0 is unmapped there (`nobody`, files it makes fail
                // with EOVERFLOW). No supplementary groups where allowed.
                libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>());
                if libc::syscall(libc::SYS_setresgid, 0u32, 0u32, 0u32) < 0
                    || libc::syscall(libc::SYS_setresuid, 0u32, 0u32, 0u32) < 0
                {
                    return Err(io::Error::last_os_error());
                }
                arm_pdeathsig(parent)?;
            }
            if let Some(t) = &join.trampoline {
                return Err(hook_trampoline(t));
            }
            return Ok(());
        }
        let pid = pid as libc::pid_t;
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) < 0 {
            // Holding the error pipe would make the spawn wait for the hook.
            libc::kill(pid, libc::SIGKILL);
            libc::_exit(127);
        }
        let mut status: c_int = 0;
        loop {
            let r = libc::waitpid(pid, &mut status, 0);
            if r == pid {
                break;
            }
            if r < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(127);
            }
        }
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        let sig = libc::WTERMSIG(status);
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        libc::kill(me, sig);
        let mut one: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut one);
        libc::sigaddset(&mut one, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
        libc::_exit(128 + sig);
    }
}

/// Opens the regular file `rel` below `root` for reading, resolving every
/// component as if `root` were `/` (`openat2(2)` with `RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS`), so that symlinks cannot reach host files.
/// `O_NONBLOCK` keeps a planted FIFO from hanging us; a non-regular file is
/// `EINVAL`.
pub fn open_in_root(root: &Path, rel: &str) -> io::Result<File> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(root)?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(dir.as_raw_fd(), rel, how).map_err(io::Error::from)?;
    // SAFETY: openat2 returned a new fd we own.
    let file = unsafe { File::from_raw_fd(fd) };
    if !file.metadata()?.is_file() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(file)
}

/// One received sync record.
pub struct Received {
    /// Bytes of the record (0 = EOF).
    pub len: usize,
    /// The record or its control data was truncated (`MSG_TRUNC`/`MSG_CTRUNC`).
    pub truncated: bool,
    /// File descriptors that came with it (`SCM_RIGHTS`, received CLOEXEC).
    pub fds: Vec<OwnedFd>,
}

/// Receives one `SOCK_SEQPACKET` record into `buf` with up to 4 fds,
/// retrying on `EINTR`.
pub fn recv_record(sock: &impl AsRawFd, buf: &mut [u8]) -> Result<Received, Errno> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            r => break r?,
        }
    };
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            for fd in raw {
                // SAFETY: the kernel installed these fds for us; nobody else owns them.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    let truncated = msg
        .flags
        .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
    Ok(Received {
        len: msg.bytes,
        truncated,
        fds,
    })
}

nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

/// The window size of a terminal (`TIOCGWINSZ`): (rows, cols).
pub fn window_size(fd: &impl AsRawFd) -> Result<(u16, u16), Errno> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`.
    unsafe { tiocgwinsz(fd.as_raw_fd(), &mut ws) }?;
    Ok((ws.ws_row, ws.ws_col))
}

/// Sets a terminal's window size (`TIOCSWINSZ`).
pub fn set_window_size(fd: &impl AsRawFd, rows: u16, cols: u16) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from `ws`.
    unsafe { tiocswinsz(fd.as_raw_fd(), &ws) }?;
    Ok(())
}

nix::ioctl_read_bad!(fionread_raw, libc::FIONREAD, libc::c_int);

/// The bytes ready to read in a pipe or socket (`FIONREAD`, pipe(7),
/// ioctl_tty(2)); for a pipe either end may be asked.
pub fn fionread(fd: &impl AsRawFd) -> Result<i32, Errno> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into `n`.
    unsafe { fionread_raw(fd.as_raw_fd(), &mut n) }?;
    Ok(n)
}

/// A saved signal mask (for [`ChildSetup::sigmask`]) from the current
/// thread, before blocking more signals.
pub fn current_sigmask() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it, and
    // pthread_sigmask with a NULL new set only reads the current mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
        set
    }
}

/// Sets this thread's signal mask to `set` (`pthread_sigmask(SIG_SETMASK)`),
/// e.g. one saved by [`current_sigmask`].
pub fn set_sigmask(set: &libc::sigset_t) {
    // SAFETY: `set` is an initialised sigset_t; no old set is asked for.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, set, std::ptr::null_mut());
    }
}

/// Pointers of `strings` plus the terminating NULL, for argv/envp. The
/// pointers are valid as long as `strings` is.
pub fn ptr_array(strings: &[&CStr]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn heap_serves_c_and_rust_from_one_dlmalloc() {
        use std::alloc::{GlobalAlloc, Layout};
        // SAFETY: every block is used within its size and freed once, by
        // the API (C or Rust) that may take it back.
        unsafe {
            let p = heap::c_malloc(100);
            assert!(!p.is_null() && (p as usize).is_multiple_of(16));
            for i in 0..100 {
                p.add(i).write(i as u8);
            }
            let q = heap::c_realloc(p, 100_000);
            assert!(!q.is_null() && (0..100).all(|i| q.add(i).read() == i as u8));
            let q = heap::c_realloc(q, 3);
            assert_eq!((q.read(), q.add(2).read()), (0, 2));
            heap::c_free(q);
            heap::c_free(std::ptr::null_mut());

            let z = heap::c_calloc(64, 64);
            assert!((0..4096).all(|i| z.add(i).read() == 0));
            heap::c_free(z);
            assert!(heap::c_calloc(usize::MAX, 2).is_null());

            let a = heap::c_memalign(4096, 50);
            assert!(!a.is_null() && (a as usize).is_multiple_of(4096));
            heap::c_free(a);
            assert!(heap::c_memalign(24, 8).is_null());
            let r = heap::c_realloc(std::ptr::null_mut(), 0);
            assert!(!r.is_null());
            heap::c_free(r);

            // Rust's side, from several threads at once with C's.
            std::thread::scope(|s| {
                for t in 0..4u8 {
                    s.spawn(move || {
                        for n in 1..500usize {
                            let l = Layout::from_size_align(n * 8, if n % 7 == 0 { 64 } else { 8 })
                                .unwrap();
                            let b = heap::Heap.alloc(l);
                            assert!(!b.is_null() && (b as usize).is_multiple_of(l.align()));
                            b.write_bytes(t, l.size());
                            let c = heap::c_malloc(n);
                            c.write_bytes(t, n);
                            let b = heap::Heap.realloc(b, l, l.size() * 2);
                            assert!((0..l.size()).all(|i| b.add(i).read() == t));
                            assert!((0..n).all(|i| c.add(i).read() == t));
                            heap::Heap.dealloc(
                                b,
                                Layout::from_size_align(l.size() * 2, l.align()).unwrap(),
                            );
                            heap::c_free(c);
                        }
                    });
                }
            });
        }
    }

    #[test]
    fn arena_carves_in_order_and_takes_back_only_its_last_block() {
        use heap::arena::Arena;
        let mut buf = vec![0u64; 128]; // 1 KiB, 8-aligned
        let base = buf.as_mut_ptr().cast::<u8>();
        let a = Arena::over(base, 1024);
        let at = |p: *mut u8| p as usize - base as usize;

        let x = a.alloc(10, 8).unwrap();
        assert_eq!(at(x), 0);
        let y = a.alloc(5, 16).unwrap();
        assert_eq!(at(y), 16, "aligned up past x");
        // x is not the last block: freeing it gives nothing back.
        assert!(a.free(x, 10));
        assert_eq!(at(a.alloc(1, 1).unwrap()), 21);
        // The last block is taken back, and grows or shrinks in place.
        let z = a.alloc(100, 1).unwrap();
        assert_eq!(at(z), 22);
        assert_eq!(a.resize(z, 100, 300), Some(true));
        assert_eq!(at(a.alloc(1, 1).unwrap()), 322);
        // Not the last one any more: it may shrink, not grow.
        assert_eq!(a.resize(z, 300, 200), Some(true));
        assert_eq!(a.resize(z, 200, 400), Some(false));
        let w = a.alloc(8, 8).unwrap();
        assert!(a.free(w, 8));
        assert_eq!(a.alloc(8, 8), Some(w), "the freed last block comes back");
        // No room: None, and a block too big to grow in place must move.
        assert_eq!(a.alloc(1024, 1), None);
        assert_eq!(a.alloc(8, 1 << 20), None);
        let v = a.alloc(16, 1).unwrap();
        assert_eq!(a.resize(v, 16, 2000), Some(false));
        // Not its blocks.
        let mut other = 0u8;
        assert!(!a.free(&mut other, 1));
        assert_eq!(a.resize(&mut other, 1, 2), None);
        drop(buf);
    }

    #[test]
    fn arena_blocks_taken_by_several_threads_are_disjoint() {
        use heap::arena::Arena;
        let mut buf = vec![0u64; 8192]; // 64 KiB
        let base = buf.as_mut_ptr().cast::<u8>();
        let a = Arena::over(base, 65536);
        let blocks = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for t in 0..4usize {
                let (a, blocks) = (&a, &blocks);
                s.spawn(move || {
                    for n in 1..200usize {
                        let size = (n * 7 + t) % 61 + 1;
                        let Some(p) = a.alloc(size, 8) else { break };
                        // SAFETY: p holds size bytes of buf, this thread's.
                        unsafe { p.write_bytes(t as u8, size) };
                        if n % 3 == 0 {
                            a.free(p, size);
                        } else {
                            blocks.lock().unwrap().push((p as usize, size, t as u8));
                        }
                    }
                });
            }
        });
        let mut b = blocks.into_inner().unwrap();
        b.sort();
        for w in b.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "overlap: {w:?}");
        }
        for &(p, size, t) in &b {
            // SAFETY: each block lies within buf.
            let got = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
            assert!(got.iter().all(|&x| x == t), "block {p:#x} overwritten");
        }
        drop(buf);
    }

    use super::*;

    #[test]
    fn dup_above_gives_a_higher_cloexec_fd() {
        let f = File::open("/dev/null").unwrap();
        let d = dup_above(&f, 100).unwrap();
        assert!(d.as_raw_fd() >= 100);
        let flags = nix::fcntl::fcntl(d.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
    }

    #[test]
    fn ptr_arrays_end_in_null() {
        let a = [c"a", c"bc"];
        let p = ptr_array(&a);
        assert_eq!(p.len(), 3);
        assert!(p[2].is_null());
    }
}
