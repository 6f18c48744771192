//! Everything that needs `unsafe`: the runtime ([`rt`]), raw system calls
//! that rustix does not offer (stub-build.md §7: execve, exit_group,
//! close_range, seccomp, rt_sigprocmask, clone, plus a few where the stub
//! needs the exact kernel ABI: `mount(2)` with NULL arguments and raw flags,
//! setns, setgroups, prlimit64, personality, keyctl, the SIOC*IFFLAGS
//! ioctls), adopting inherited file descriptors, and the static buffers.
//!
//! Every wrapper here is safe to call: it takes only references and plain
//! numbers and returns `Result<_, Errno>` like rustix.

pub mod rt;

use core::ffi::{CStr, c_char};
use core::sync::atomic::{AtomicBool, Ordering};

use linux_raw_sys::general as k;
use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
pub use rustix::io::Errno;
use sprout_protocol::MAX_PLAN_LEN;

/// The process arguments as the kernel laid them out (see [`rt`]).
pub struct Args {
    argc: usize,
    argv: *const *const c_char,
}

/// One raw `syscall` instruction (x86-64 convention: number in rax, args in
/// rdi, rsi, rdx, r10, r8, r9; rcx and r11 clobbered). Returns the kernel's
/// result, or the errno of a value in [-4095, -1].
///
/// # Safety
/// The arguments must satisfy the contract of system call `nr`; pointers
/// must be valid for what the kernel reads or writes through them.
#[inline(always)]
unsafe fn syscall(nr: u32, a: [usize; 6]) -> Result<usize, Errno> {
    let ret: usize;
    // SAFETY: the caller upholds the syscall's contract; the asm touches only
    // the declared registers and memory the kernel accesses on our behalf.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as usize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    if ret > (-4096isize) as usize {
        Err(Errno::from_raw_os_error(-(ret as isize) as i32))
    } else {
        Ok(ret)
    }
}

fn ptr(s: Option<&CStr>) -> usize {
    s.map_or(0, |s| s.as_ptr() as usize)
}

/// Borrows an inherited fd number from the plan or the command line
/// (namespace fds, the sync socket, the start socket, stdio). A number that
/// is not open makes the syscalls using it fail with `EBADF`.
pub fn fd(n: u32) -> BorrowedFd<'static> {
    // Never -1 (the one value borrow_raw forbids); out-of-range -> EBADF.
    let n = if n > i32::MAX as u32 { i32::MAX } else { n as i32 };
    // SAFETY: the fd numbers come from the launch contract (protocol crate
    // docs): the controller hands them to the stub for its whole life. The
    // stub closes such an fd only through `close`, after its last use.
    unsafe { BorrowedFd::borrow_raw(n) }
}

/// Closes an inherited fd number (`close(2)`), e.g. the plan pipe after
/// reading it. Errors are ignored, as after any `close`.
pub fn close(n: u32) {
    if n <= i32::MAX as u32 {
        // SAFETY: the stub owns the inherited fd (launch contract) and makes
        // no further use of it or of any `fd(n)` borrow after this call.
        drop(unsafe { OwnedFd::from_raw_fd(n as i32) });
    }
}

/// `exit_group(2)`: ends the process with `code`.
pub fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group takes a plain integer and does not return.
        let _ = unsafe { syscall(k::__NR_exit_group, [code as usize, 0, 0, 0, 0, 0]) };
    }
}

/// Writes `msg` to fd 2; errors are ignored (nowhere to report them).
pub fn write_stderr(parts: &[&[u8]]) {
    for p in parts {
        let _ = rustix::io::write(fd(2), p);
    }
}

/// Largest number of `argv` or `envp` entries the stub passes to execve.
pub const MAX_ARGS: usize = 4096;
/// `NGROUPS_MAX`: the most supplementary groups `setgroups(2)` accepts.
pub const MAX_GROUPS: usize = 65536;

/// A NULL-terminated array of pointers to `'static` C strings, the `argv`
/// and `envp` arguments of `execve(2)`. Fixed capacity [`MAX_ARGS`].
pub struct CStrVec {
    // Invariant: ptrs[..len] point to 'static NUL-terminated strings and
    // ptrs[len] (and everything after) is NULL.
    ptrs: [*const c_char; MAX_ARGS + 1],
    len: usize,
}

impl CStrVec {
    const fn new() -> Self {
        CStrVec { ptrs: [core::ptr::null(); MAX_ARGS + 1], len: 0 }
    }

    /// Appends `s`; `E2BIG` when [`MAX_ARGS`] entries are already there.
    pub fn push(&mut self, s: &'static CStr) -> Result<(), Errno> {
        if self.len >= MAX_ARGS {
            return Err(Errno::TOOBIG);
        }
        if let Some(p) = self.ptrs.get_mut(self.len) {
            *p = s.as_ptr();
            self.len += 1;
        }
        Ok(())
    }
}

/// The stub's only large data, all in `.bss` (no allocator, stub-build.md).
pub struct Bufs {
    /// Receive buffer of the plan; `Plan` borrows its strings from here.
    pub plan: [u8; MAX_PLAN_LEN],
    /// `argv` of the command.
    pub argv: CStrVec,
    /// `envp` of the command.
    pub envp: CStrVec,
    /// Supplementary groups, copied out of the plan for `setgroups(2)`.
    pub gids: [u32; MAX_GROUPS],
}

static mut BUFS: Bufs = Bufs {
    plan: [0; MAX_PLAN_LEN],
    argv: CStrVec::new(),
    envp: CStrVec::new(),
    gids: [0; MAX_GROUPS],
};
static BUFS_TAKEN: AtomicBool = AtomicBool::new(false);

/// The static buffers, handed out once (`None` on a second call).
pub fn bufs() -> Option<&'static mut Bufs> {
    if BUFS_TAKEN.swap(true, Ordering::Relaxed) {
        return None;
    }
    // SAFETY: BUFS_TAKEN guarantees this unique reference is created at most
    // once, so it never aliases another reference to BUFS.
    #[allow(clippy::deref_addrof)] // `&mut BUFS` is the static_mut_refs lint
    Some(unsafe { &mut *(&raw mut BUFS) })
}

/// `execve(2)` of `path` with `argv` and `envp`; returns only on failure.
pub fn execve(path: &CStr, argv: &CStrVec, envp: &CStrVec) -> Errno {
    // SAFETY: `path` is NUL-terminated; `argv`/`envp` are NULL-terminated
    // arrays of pointers to 'static NUL-terminated strings (CStrVec invariant).
    let r = unsafe {
        syscall(
            k::__NR_execve,
            [path.as_ptr() as usize, argv.ptrs.as_ptr() as usize, envp.ptrs.as_ptr() as usize, 0, 0, 0],
        )
    };
    match r {
        Err(e) => e,
        Ok(_) => Errno::INVAL, // execve does not return on success
    }
}

/// `CLOSE_RANGE_CLOEXEC` (include/uapi/linux/close_range.h, not in linux-raw-sys).
const CLOSE_RANGE_CLOEXEC: usize = 1 << 2;

/// `close_range(first, ~0U, CLOSE_RANGE_CLOEXEC)` (Linux 5.11): marks every
/// fd from `first` up close-on-exec without closing it now, like runc's
/// `CloseExecFrom`.
pub fn cloexec_from(first: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only; marking fds CLOEXEC affects no memory.
    unsafe { syscall(k::__NR_close_range, [first as usize, u32::MAX as usize, CLOSE_RANGE_CLOEXEC, 0, 0, 0]) }
        .map(drop)
}

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` (seccomp(2)).
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const u8,
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog)` with `prog` the
/// raw `struct sock_filter` array (8 bytes each). With
/// [`SECCOMP_FILTER_FLAG_NEW_LISTENER`] in `flags` it returns the listener fd.
pub fn seccomp_filter(flags: u32, prog: &[u8]) -> Result<Option<OwnedFd>, Errno> {
    let len = u16::try_from(prog.len() / 8).map_err(|_| Errno::INVAL)?;
    let fprog = SockFprog { len, filter: prog.as_ptr() };
    // SAFETY: `fprog` points to `len` 8-byte instructions inside `prog`; the
    // kernel copies them (copy_from_user has no alignment requirement).
    let r = unsafe {
        syscall(k::__NR_seccomp, [1 /* SECCOMP_SET_MODE_FILTER */, flags as usize, &raw const fprog as usize, 0, 0, 0])
    }?;
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the return value is a new fd we own.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }));
    }
    Ok(None)
}

/// `rt_sigprocmask(SIG_SETMASK, {}, NULL)`: the signal mask survives
/// execve(2), so the container process must not inherit ours.
pub fn unblock_all_signals() -> Result<(), Errno> {
    let empty: u64 = 0;
    // SAFETY: `empty` is a valid 8-byte sigset_t; no old set is written.
    unsafe { syscall(k::__NR_rt_sigprocmask, [2 /* SIG_SETMASK */, &raw const empty as usize, 0, 8, 0, 0]) }
        .map(drop)
}

/// `fork(2)` as `clone(SIGCHLD)` without a new stack: returns 0 in the
/// child and the child's pid in the parent.
pub fn fork() -> Result<u32, Errno> {
    // SAFETY: without CLONE_VM the child gets a copy of the address space, so
    // both processes continue on their own copy of this stack (fork(2)).
    unsafe { syscall(k::__NR_clone, [k::SIGCHLD as usize, 0, 0, 0, 0, 0]) }.map(|p| p as u32)
}

/// `setns(fd, nstype)` (setns(2)).
pub fn setns(fd: BorrowedFd<'_>, nstype: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    unsafe { syscall(k::__NR_setns, [fd.as_raw_fd() as usize, nstype as usize, 0, 0, 0, 0]) }.map(drop)
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)`: join a new anonymous session
/// keyring (keyctl(2); runc does this unless `--no-new-keyring`).
pub fn join_new_session_keyring() -> Result<(), Errno> {
    // SAFETY: a NULL name asks for an anonymous keyring; nothing is written.
    unsafe { syscall(k::__NR_keyctl, [1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0, 0, 0, 0, 0]) }.map(drop)
}

/// `personality(persona)` (personality(2)).
pub fn personality(persona: u32) -> Result<(), Errno> {
    // SAFETY: integer argument only.
    unsafe { syscall(k::__NR_personality, [persona as usize, 0, 0, 0, 0, 0]) }.map(drop)
}

/// `prlimit64(0, resource, {soft, hard}, NULL)`, i.e. setrlimit(2) with the
/// raw resource number from the plan.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> Result<(), Errno> {
    let new: [u64; 2] = [soft, hard];
    // SAFETY: `new` is a valid struct rlimit64; no old limit is written.
    unsafe { syscall(k::__NR_prlimit64, [0, resource as usize, &raw const new as usize, 0, 0, 0]) }.map(drop)
}

/// `setgroups(2)` with exactly `gids` (possibly empty). Thread-level, which is
/// the whole process: the stub is single-threaded.
pub fn setgroups(gids: &[u32]) -> Result<(), Errno> {
    // SAFETY: the kernel reads `gids.len()` u32 values from the slice.
    unsafe { syscall(k::__NR_setgroups, [gids.len(), gids.as_ptr() as usize, 0, 0, 0, 0]) }.map(drop)
}

/// `mount(2)` with the plan's values passed through unchanged: absent
/// strings are NULL, `flags` are the raw `MS_*` bits (as runc's `mount`).
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    // SAFETY: every pointer is NULL or a NUL-terminated string that outlives
    // the call; the kernel only reads them.
    unsafe {
        syscall(
            k::__NR_mount,
            [ptr(source), target.as_ptr() as usize, ptr(fstype), flags as usize, ptr(data), 0],
        )
    }
    .map(drop)
}

const SIOCGIFFLAGS: usize = 0x8913;
const SIOCSIFFLAGS: usize = 0x8914;
const IFF_UP: u16 = 1;

/// Sets `IFF_UP` on the interface `lo` via `sock` (netdevice(7):
/// SIOCGIFFLAGS, then SIOCSIFFLAGS), as runc's loopback setup does.
pub fn loopback_up(sock: BorrowedFd<'_>) -> Result<(), Errno> {
    // struct ifreq: char ifr_name[16]; union { short ifr_flags; ... } (24 bytes).
    let mut ifr = [0u8; 40];
    ifr[0] = b'l';
    ifr[1] = b'o';
    let p = ifr.as_mut_ptr() as usize;
    // SAFETY: `ifr` is a zeroed, 40-byte struct ifreq naming "lo"; the kernel
    // reads the name and writes ifr_flags inside it.
    unsafe { syscall(k::__NR_ioctl, [sock.as_raw_fd() as usize, SIOCGIFFLAGS, p, 0, 0, 0]) }?;
    let flags = u16::from_ne_bytes([ifr[16], ifr[17]]) | IFF_UP;
    [ifr[16], ifr[17]] = flags.to_ne_bytes();
    let p = ifr.as_ptr() as usize;
    // SAFETY: as above; the kernel only reads the struct.
    unsafe { syscall(k::__NR_ioctl, [sock.as_raw_fd() as usize, SIOCSIFFLAGS, p, 0, 0, 0]) }.map(drop)
}
