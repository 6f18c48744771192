//! Everything that needs `unsafe`: the runtime ([`rt`]), the system calls
//! (one `syscall` instruction behind safe wrappers, numbers in [`abi`]),
//! and the static buffers.
//!
//! Every wrapper here is safe to call: it takes references, plain numbers
//! and fd numbers, and returns `Result<_, Errno>`. A wrong fd number makes
//! the kernel answer `EBADF`; it cannot corrupt memory. The stub has no
//! other dependency than the protocol crate (see [`abi`] for why).

pub mod abi;
pub mod rt;

use core::ffi::{CStr, c_char};
use core::sync::atomic::{AtomicBool, Ordering};

use abi::*;
use sprout_protocol::MAX_PLAN_LEN;

/// The process arguments as the kernel laid them out (see [`rt`]).
pub struct Args {
    argc: usize,
    argv: *const *const c_char,
}

/// A positive `errno` value from a failed system call (errno(3)).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u32);

impl Errno {
    pub const PERM: Errno = Errno(EPERM);
    pub const NOENT: Errno = Errno(ENOENT);
    pub const SRCH: Errno = Errno(ESRCH);
    pub const INTR: Errno = Errno(EINTR);
    pub const TOOBIG: Errno = Errno(E2BIG);
    pub const BADF: Errno = Errno(EBADF);
    pub const AGAIN: Errno = Errno(EAGAIN);
    pub const ACCESS: Errno = Errno(EACCES);
    pub const EXIST: Errno = Errno(EEXIST);
    pub const NOTDIR: Errno = Errno(ENOTDIR);
    pub const INVAL: Errno = Errno(EINVAL);
    pub const ROFS: Errno = Errno(EROFS);
    pub const XDEV: Errno = Errno(EXDEV);
    pub const PIPE: Errno = Errno(EPIPE);
    pub const NAMETOOLONG: Errno = Errno(ENAMETOOLONG);
    pub const NOSYS: Errno = Errno(ENOSYS);
    pub const LOOP: Errno = Errno(ELOOP);
    pub const PROTO: Errno = Errno(EPROTO);
    pub const NOTCONN: Errno = Errno(ENOTCONN);
}

/// Result of a system call.
pub type Result<T> = core::result::Result<T, Errno>;

/// A file descriptor number we borrow (inherited or owned elsewhere).
pub type RawFd = i32;

/// `AT_FDCWD`: `*at` calls relative to the working directory.
pub const CWD: RawFd = AT_FDCWD;

/// An owned file descriptor, closed on drop.
pub struct Fd(RawFd);

impl Fd {
    /// Takes ownership of fd number `n`, which this process holds and
    /// nothing else will close (e.g. received with `SCM_RIGHTS`).
    pub fn own(n: RawFd) -> Fd {
        Fd(n)
    }

    /// The fd number, borrowed for as long as `self` lives.
    pub fn raw(&self) -> RawFd {
        self.0
    }

    /// Gives up ownership without closing: the caller closes the number
    /// later (e.g. with [`close_range`]), or execve does (all the stub's
    /// own fds are `O_CLOEXEC`).
    pub fn into_raw(self) -> RawFd {
        let n = self.0;
        core::mem::forget(self);
        n
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: close(2) takes a plain integer; `Fd` owns the number.
        let _ = unsafe { syscall(SYS_CLOSE, [self.0 as usize, 0, 0, 0, 0, 0]) };
    }
}

/// One raw `syscall` instruction (x86-64 convention: number in rax, args in
/// rdi, rsi, rdx, r10, r8, r9; rcx and r11 clobbered). Returns the kernel's
/// result, or the errno of a value in [-4095, -1].
///
/// # Safety
/// The arguments must satisfy the contract of system call `nr`; pointers
/// must be valid for what the kernel reads or writes through them.
#[inline(always)]
unsafe fn syscall(nr: usize, a: [usize; 6]) -> Result<usize> {
    let ret: usize;
    // SAFETY: the caller upholds the syscall's contract; the asm touches only
    // the declared registers and memory the kernel accesses on our behalf.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    if ret > (-4096isize) as usize {
        Err(Errno(ret.wrapping_neg() as u32))
    } else {
        Ok(ret)
    }
}

/// A syscall that takes only integers and fd numbers, and reads or writes
/// no memory through its arguments.
fn sc_int(nr: usize, a: [usize; 6]) -> Result<usize> {
    // SAFETY: callers pass only syscalls whose arguments are plain integers
    // (fd numbers, flags, ids); nothing is dereferenced.
    unsafe { syscall(nr, a) }
}

fn unit(r: Result<usize>) -> Result<()> {
    r.map(drop)
}

fn owned(r: Result<usize>) -> Result<Fd> {
    r.map(|n| Fd(n as RawFd))
}

fn p(s: &CStr) -> usize {
    s.as_ptr() as usize
}

fn opt(s: Option<&CStr>) -> usize {
    s.map_or(0, p)
}

/// An inherited fd number from the plan or the command line (namespace
/// fds, the sync and start sockets, stdio) as a [`RawFd`]; numbers beyond
/// `i32::MAX` become an fd that is never open (`EBADF`).
pub fn fd(n: u32) -> RawFd {
    if n > i32::MAX as u32 {
        i32::MAX
    } else {
        n as RawFd
    }
}

/// Closes an inherited fd number, e.g. the plan pipe after reading it.
pub fn close(n: u32) {
    drop(Fd(fd(n)));
}

/// `exit_group(2)`: ends the process with `code`.
pub fn exit(code: i32) -> ! {
    loop {
        let _ = sc_int(SYS_EXIT_GROUP, [code as usize, 0, 0, 0, 0, 0]);
    }
}

// ---- I/O -----------------------------------------------------------------

/// `read(2)` into `buf`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    unsafe {
        syscall(
            SYS_READ,
            [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0],
        )
    }
}

/// `write(2)` from `buf`.
pub fn write(fd: RawFd, buf: &[u8]) -> Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    unsafe {
        syscall(
            SYS_WRITE,
            [fd as usize, buf.as_ptr() as usize, buf.len(), 0, 0, 0],
        )
    }
}

/// Writes each part to fd 2; errors are ignored (nowhere to report them).
pub fn write_stderr(parts: &[&[u8]]) {
    for part in parts {
        let _ = write(2, part);
    }
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub fn pipe() -> Result<(Fd, Fd)> {
    let mut fds = [0i32; 2];
    // SAFETY: the kernel writes two ints into `fds`.
    unsafe {
        syscall(
            SYS_PIPE2,
            [fds.as_mut_ptr() as usize, O_CLOEXEC as usize, 0, 0, 0, 0],
        )
    }?;
    Ok((Fd(fds[0]), Fd(fds[1])))
}

/// `dup3(fd, target, 0)` (the copy is not CLOEXEC); nothing if equal.
pub fn dup_onto(fd: RawFd, target: RawFd) -> Result<()> {
    if fd == target {
        return Ok(());
    }
    unit(sc_int(SYS_DUP3, [fd as usize, target as usize, 0, 0, 0, 0]))
}

/// Moves an owned fd to a number >= 3 (`fcntl(F_DUPFD_CLOEXEC, 3)`), so
/// that installing stdio with [`dup_onto`] cannot clobber it.
pub fn above_stdio(fd: Fd) -> Result<Fd> {
    if fd.0 > 2 {
        return Ok(fd);
    }
    owned(sc_int(
        SYS_FCNTL,
        [fd.0 as usize, F_DUPFD_CLOEXEC, 3, 0, 0, 0],
    ))
}

// ---- Files -----------------------------------------------------------------

/// `openat(2)`.
pub fn openat(dir: RawFd, path: &CStr, flags: u32, mode: u32) -> Result<Fd> {
    // SAFETY: `path` is NUL-terminated; the kernel only reads it.
    owned(unsafe {
        syscall(
            SYS_OPENAT,
            [dir as usize, p(path), flags as usize, mode as usize, 0, 0],
        )
    })
}

/// `open(2)` relative to the working directory.
pub fn open(path: &CStr, flags: u32, mode: u32) -> Result<Fd> {
    openat(CWD, path, flags, mode)
}

/// `openat2(2)` with `struct open_how { flags, mode: 0, resolve }`.
pub fn openat2(dir: RawFd, path: &CStr, flags: u32, resolve: u64) -> Result<Fd> {
    let how: [u64; 3] = [flags as u64, 0, resolve];
    // SAFETY: `path` is NUL-terminated and `how` is a 24-byte open_how; the
    // kernel only reads both.
    owned(unsafe {
        syscall(
            SYS_OPENAT2,
            [dir as usize, p(path), how.as_ptr() as usize, 24, 0, 0],
        )
    })
}

/// `mkdirat(2)`.
pub fn mkdirat(dir: RawFd, path: &CStr, mode: u32) -> Result<()> {
    // SAFETY: `path` is NUL-terminated; the kernel only reads it.
    unit(unsafe { syscall(SYS_MKDIRAT, [dir as usize, p(path), mode as usize, 0, 0, 0]) })
}

/// `mknodat(2)`: `mode` includes the file type; `dev` is `makedev` encoded.
pub fn mknodat(dir: RawFd, path: &CStr, mode: u32, dev: u64) -> Result<()> {
    // SAFETY: `path` is NUL-terminated; the kernel only reads it.
    unit(unsafe {
        syscall(
            SYS_MKNODAT,
            [dir as usize, p(path), mode as usize, dev as usize, 0, 0],
        )
    })
}

pub use abi::makedev;

/// `fchownat(2)`.
pub fn fchownat(dir: RawFd, path: &CStr, uid: u32, gid: u32, flags: u32) -> Result<()> {
    // SAFETY: `path` is NUL-terminated; the kernel only reads it.
    unit(unsafe {
        syscall(
            SYS_FCHOWNAT,
            [
                dir as usize,
                p(path),
                uid as usize,
                gid as usize,
                flags as usize,
                0,
            ],
        )
    })
}

/// `fchown(2)`.
pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> Result<()> {
    unit(sc_int(
        SYS_FCHOWN,
        [fd as usize, uid as usize, gid as usize, 0, 0, 0],
    ))
}

/// `fchmodat(AT_FDCWD, path, mode)` (chmod(2)).
pub fn chmod(path: &CStr, mode: u32) -> Result<()> {
    // SAFETY: `path` is NUL-terminated; the kernel only reads it.
    unit(unsafe {
        syscall(
            SYS_FCHMODAT,
            [CWD as usize, p(path), mode as usize, 0, 0, 0],
        )
    })
}

/// `symlinkat(2)`: a symlink `dir`/`path` with content `target`.
pub fn symlinkat(target: &CStr, dir: RawFd, path: &CStr) -> Result<()> {
    // SAFETY: both strings are NUL-terminated; the kernel only reads them.
    unit(unsafe { syscall(SYS_SYMLINKAT, [p(target), dir as usize, p(path), 0, 0, 0]) })
}

/// The fields of `struct stat` the stub reads.
pub struct Stat {
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    /// `st_uid`.
    pub uid: u32,
    /// `st_rdev`: device number of a device file.
    pub rdev: u64,
}

impl Stat {
    // x86-64 `struct stat` (144 bytes): st_mode and st_uid share the 4th
    // 8-byte word (st_gid is the low half of the 5th), st_rdev the 6th.
    fn from_raw(w: &[u64; 18]) -> Stat {
        Stat {
            mode: w[3] as u32,
            uid: (w[3] >> 32) as u32,
            rdev: w[5],
        }
    }

    /// The file type bits (`st_mode & S_IFMT`).
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }
}

/// `fstat(2)`.
pub fn fstat(fd: RawFd) -> Result<Stat> {
    let mut w = [0u64; 18];
    // SAFETY: the kernel writes a 144-byte struct stat into `w`.
    unsafe {
        syscall(
            SYS_FSTAT,
            [fd as usize, w.as_mut_ptr() as usize, 0, 0, 0, 0],
        )
    }?;
    Ok(Stat::from_raw(&w))
}

/// `stat(2)` (`newfstatat(AT_FDCWD, path, &st, 0)`, following symlinks).
pub fn stat(path: &CStr) -> Result<Stat> {
    let mut w = [0u64; 18];
    // SAFETY: `path` is NUL-terminated; the kernel writes a 144-byte struct
    // stat into `w`.
    unsafe {
        syscall(
            SYS_NEWFSTATAT,
            [CWD as usize, p(path), w.as_mut_ptr() as usize, 0, 0, 0],
        )
    }?;
    Ok(Stat::from_raw(&w))
}

/// `access(path, X_OK)` (`faccessat(AT_FDCWD, ...)`, real ids).
pub fn access_exec(path: &CStr) -> Result<()> {
    // SAFETY: `path` is NUL-terminated; the kernel only reads it.
    unit(unsafe {
        syscall(
            SYS_FACCESSAT,
            [CWD as usize, p(path), X_OK as usize, 0, 0, 0],
        )
    })
}

/// `statfs(2)`: the mount's `f_flags` (`ST_*`, equal to the `MS_*` bits).
pub fn statfs_flags(path: &CStr) -> Result<u64> {
    let mut w = [0u64; 15];
    // SAFETY: `path` is NUL-terminated; the kernel writes a 120-byte struct
    // statfs into `w` (f_flags is its 11th word).
    unsafe { syscall(SYS_STATFS, [p(path), w.as_mut_ptr() as usize, 0, 0, 0, 0]) }?;
    Ok(w[10])
}

/// `chdir(2)`.
pub fn chdir(path: &CStr) -> Result<()> {
    // SAFETY: `path` is NUL-terminated; the kernel only reads it.
    unit(unsafe { syscall(SYS_CHDIR, [p(path), 0, 0, 0, 0, 0]) })
}

/// `getcwd(2)`, the raw system call: the working directory into `buf`
/// (NUL-terminated); returns its length with the NUL. Linux writes
/// `(unreachable)/...` for a directory outside the process's root.
pub fn getcwd(buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    unsafe {
        syscall(
            SYS_GETCWD,
            [buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0, 0],
        )
    }
}

/// `fchdir(2)` (works on `O_PATH` fds).
pub fn fchdir(fd: RawFd) -> Result<()> {
    unit(sc_int(SYS_FCHDIR, [fd as usize, 0, 0, 0, 0, 0]))
}

/// `chroot(2)`.
pub fn chroot(path: &CStr) -> Result<()> {
    // SAFETY: `path` is NUL-terminated; the kernel only reads it.
    unit(unsafe { syscall(SYS_CHROOT, [p(path), 0, 0, 0, 0, 0]) })
}

/// `pivot_root(2)`.
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<()> {
    // SAFETY: both strings are NUL-terminated; the kernel only reads them.
    unit(unsafe { syscall(SYS_PIVOT_ROOT, [p(new_root), p(put_old), 0, 0, 0, 0]) })
}

/// `umount2(path, MNT_DETACH)`.
pub fn umount_detach(path: &CStr) -> Result<()> {
    // SAFETY: `path` is NUL-terminated; the kernel only reads it.
    unit(unsafe { syscall(SYS_UMOUNT2, [p(path), MNT_DETACH as usize, 0, 0, 0, 0]) })
}

/// `umask(2)`: sets the mask, returns the previous one.
pub fn umask(mask: u32) -> u32 {
    sc_int(SYS_UMASK, [(mask & 0o777) as usize, 0, 0, 0, 0, 0]).unwrap_or(0) as u32
}

/// `mount(2)` with the plan's values passed through unchanged: absent
/// strings are NULL, `flags` are the raw `MS_*` bits (as runc's `mount`).
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> Result<()> {
    // SAFETY: every pointer is NULL or a NUL-terminated string that outlives
    // the call; the kernel only reads them.
    unit(unsafe {
        syscall(
            SYS_MOUNT,
            [
                opt(source),
                p(target),
                opt(fstype),
                flags as usize,
                opt(data),
                0,
            ],
        )
    })
}

/// `open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)`:
/// a detached bind mount of exactly the file `fd` refers to.
pub fn open_tree_clone(fd: RawFd) -> Result<Fd> {
    let flags = OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH;
    // SAFETY: "" is a NUL-terminated string the kernel only reads.
    owned(unsafe {
        syscall(
            SYS_OPEN_TREE,
            [fd as usize, p(c""), flags as usize, 0, 0, 0],
        )
    })
}

/// `open_tree_attr(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
/// &{set, clear, 0, 0}, 32)` (Linux 6.15): a detached bind mount of `path`
/// (not recursive; symlinks in `path` followed, as `mount(2)` does for a
/// bind source) with the `MOUNT_ATTR_*` changes of `mount_setattr(2)`.
pub fn open_tree_attr(path: &CStr, set: u64, clear: u64) -> Result<Fd> {
    let attr: [u64; 4] = [set, clear, 0, 0];
    let flags = OPEN_TREE_CLONE | O_CLOEXEC;
    // SAFETY: `path` is NUL-terminated; `attr` is a 32-byte struct
    // mount_attr; the kernel only reads both.
    owned(unsafe {
        syscall(
            SYS_OPEN_TREE_ATTR,
            [
                CWD as usize,
                p(path),
                flags as usize,
                attr.as_ptr() as usize,
                32,
                0,
            ],
        )
    })
}

/// `move_mount(tree, "", dir, name, MOVE_MOUNT_F_EMPTY_PATH)`: attach the
/// detached tree on `name` in `dir` (a symlink there is not followed).
pub fn move_mount_to(tree: RawFd, dir: RawFd, name: &CStr) -> Result<()> {
    move_mount_at(tree, dir, name, MOVE_MOUNT_F_EMPTY_PATH)
}

/// `move_mount(tree, "", AT_FDCWD, to, MOVE_MOUNT_F_EMPTY_PATH)`.
pub fn move_mount(tree: RawFd, to: &CStr) -> Result<()> {
    move_mount_at(tree, CWD, to, MOVE_MOUNT_F_EMPTY_PATH)
}

/// `move_mount(tree, "", target, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attach
/// the detached tree exactly on the (`O_PATH`) fd `target`.
pub fn move_mount_onto(tree: RawFd, target: RawFd) -> Result<()> {
    move_mount_at(
        tree,
        target,
        c"",
        MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
    )
}

fn move_mount_at(tree: RawFd, dir: RawFd, to: &CStr, flags: u32) -> Result<()> {
    // SAFETY: both strings are NUL-terminated; the kernel only reads them.
    unit(unsafe {
        syscall(
            SYS_MOVE_MOUNT,
            [
                tree as usize,
                p(c""),
                dir as usize,
                p(to),
                flags as usize,
                0,
            ],
        )
    })
}

/// `mount_setattr(dir, path, flags, &{attr_set, attr_clr, propagation, 0},
/// 32)` (Linux 5.12): changes `MOUNT_ATTR_*` attributes and the
/// propagation of the mount at `path` (with `AT_RECURSIVE` in `flags`, of
/// the whole tree below it too); other attributes are left as they are.
pub fn mount_setattr(
    dir: RawFd,
    path: &CStr,
    flags: u32,
    set: u64,
    clear: u64,
    propagation: u64,
) -> Result<()> {
    let attr: [u64; 4] = [set, clear, propagation, 0];
    // SAFETY: `path` is NUL-terminated; `attr` is a 32-byte struct
    // mount_attr (MOUNT_ATTR_SIZE_VER0); the kernel only reads both.
    unit(unsafe {
        syscall(
            SYS_MOUNT_SETATTR,
            [
                dir as usize,
                p(path),
                flags as usize,
                attr.as_ptr() as usize,
                32,
                0,
            ],
        )
    })
}

// ---- Credentials and process attributes ---------------------------------

/// `prctl(PR_SET_DUMPABLE, on)`.
pub fn set_dumpable(on: bool) -> Result<()> {
    unit(sc_int(
        SYS_PRCTL,
        [PR_SET_DUMPABLE, on as usize, 0, 0, 0, 0],
    ))
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: killed when the parent dies.
pub fn set_pdeathsig_kill() -> Result<()> {
    unit(sc_int(SYS_PRCTL, [PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0]))
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub fn set_no_new_privs() -> Result<()> {
    unit(sc_int(SYS_PRCTL, [PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0]))
}

/// `prctl(PR_CAPBSET_DROP, cap)`.
pub fn capbset_drop(cap: u32) -> Result<()> {
    unit(sc_int(
        SYS_PRCTL,
        [PR_CAPBSET_DROP, cap as usize, 0, 0, 0, 0],
    ))
}

/// `prctl(PR_SET_KEEPCAPS, on)`.
pub fn set_keepcaps(on: bool) -> Result<()> {
    unit(sc_int(
        SYS_PRCTL,
        [PR_SET_KEEPCAPS, on as usize, 0, 0, 0, 0],
    ))
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`.
pub fn ambient_clear() -> Result<()> {
    unit(sc_int(
        SYS_PRCTL,
        [PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0],
    ))
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)`.
pub fn ambient_raise(cap: u32) -> Result<()> {
    unit(sc_int(
        SYS_PRCTL,
        [PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap as usize, 0, 0, 0],
    ))
}

/// `capset(2)`, version 3 (64-bit sets), for the calling thread.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    let header: [u32; 2] = [CAPABILITY_VERSION_3, 0];
    let lo = |v: u64| v as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let data: [u32; 6] = [
        lo(effective),
        lo(permitted),
        lo(inheritable),
        hi(effective),
        hi(permitted),
        hi(inheritable),
    ];
    // SAFETY: a cap_user_header_t and two cap_user_data_t records (v3); the
    // kernel only reads them (the header's version is valid, so it is not
    // written back).
    unit(unsafe {
        syscall(
            SYS_CAPSET,
            [header.as_ptr() as usize, data.as_ptr() as usize, 0, 0, 0, 0],
        )
    })
}

/// `setresuid(uid, uid, uid)`. The raw syscall is per thread; the stub is
/// single-threaded, so that is the whole process.
pub fn setresuid(uid: u32) -> Result<()> {
    unit(sc_int(
        SYS_SETRESUID,
        [uid as usize, uid as usize, uid as usize, 0, 0, 0],
    ))
}

/// `setresgid(gid, gid, gid)` (see [`setresuid`]).
pub fn setresgid(gid: u32) -> Result<()> {
    unit(sc_int(
        SYS_SETRESGID,
        [gid as usize, gid as usize, gid as usize, 0, 0, 0],
    ))
}

/// `setgroups(2)` with exactly `gids` (possibly empty).
pub fn setgroups(gids: &[u32]) -> Result<()> {
    // SAFETY: the kernel reads `gids.len()` u32 values from the slice.
    unit(unsafe {
        syscall(
            SYS_SETGROUPS,
            [gids.len(), gids.as_ptr() as usize, 0, 0, 0, 0],
        )
    })
}

/// `setsid(2)`.
pub fn setsid() -> Result<()> {
    unit(sc_int(SYS_SETSID, [0; 6]))
}

/// `sethostname(2)`.
pub fn sethostname(name: &[u8]) -> Result<()> {
    // SAFETY: the kernel reads `name.len()` bytes.
    unit(unsafe {
        syscall(
            SYS_SETHOSTNAME,
            [name.as_ptr() as usize, name.len(), 0, 0, 0, 0],
        )
    })
}

/// `setdomainname(2)`.
pub fn setdomainname(name: &[u8]) -> Result<()> {
    // SAFETY: the kernel reads `name.len()` bytes.
    unit(unsafe {
        syscall(
            SYS_SETDOMAINNAME,
            [name.as_ptr() as usize, name.len(), 0, 0, 0, 0],
        )
    })
}

/// `unshare(flags)` (unshare(2)).
pub fn unshare(flags: u32) -> Result<()> {
    unit(sc_int(SYS_UNSHARE, [flags as usize, 0, 0, 0, 0, 0]))
}

/// `setns(fd, nstype)` (setns(2)).
pub fn setns(fd: RawFd, nstype: u32) -> Result<()> {
    unit(sc_int(
        SYS_SETNS,
        [fd as usize, nstype as usize, 0, 0, 0, 0],
    ))
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)`: join a new anonymous session
/// keyring (keyctl(2); runc does this unless `--no-new-keyring`).
pub fn join_new_session_keyring() -> Result<()> {
    unit(sc_int(
        SYS_KEYCTL,
        [KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0, 0],
    ))
}

/// `personality(persona)` (personality(2)).
pub fn personality(persona: u32) -> Result<()> {
    unit(sc_int(SYS_PERSONALITY, [persona as usize, 0, 0, 0, 0, 0]))
}

/// `prlimit64(0, resource, {soft, hard}, NULL)`, i.e. setrlimit(2) with the
/// raw resource number from the plan.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> Result<()> {
    let new: [u64; 2] = [soft, hard];
    // SAFETY: `new` is a valid struct rlimit64; no old limit is written.
    unit(unsafe {
        syscall(
            SYS_PRLIMIT64,
            [0, resource as usize, new.as_ptr() as usize, 0, 0, 0],
        )
    })
}

/// `close_range(first, ~0U, CLOSE_RANGE_CLOEXEC)` (Linux 5.11): marks every
/// fd from `first` up close-on-exec without closing it now, like runc's
/// `CloseExecFrom`.
pub fn cloexec_from(first: u32) -> Result<()> {
    unit(sc_int(
        SYS_CLOSE_RANGE,
        [
            first as usize,
            u32::MAX as usize,
            CLOSE_RANGE_CLOEXEC,
            0,
            0,
            0,
        ],
    ))
}

/// `close_range(first, last, 0)` (Linux 5.9): closes every fd from
/// `first` to `last`, both included.
pub fn close_range(first: RawFd, last: RawFd) -> Result<()> {
    unit(sc_int(
        SYS_CLOSE_RANGE,
        [first as usize, last as usize, 0, 0, 0, 0],
    ))
}

/// `fork(2)` as `clone(SIGCHLD)` without a new stack: returns 0 in the
/// child and the child's pid in the parent.
pub fn fork() -> Result<u32> {
    // SAFETY: without CLONE_VM the child gets a copy of the address space, so
    // both processes continue on their own copy of this stack (fork(2)).
    unsafe { syscall(SYS_CLONE, [SIGCHLD, 0, 0, 0, 0, 0]) }.map(|pid| pid as u32)
}

/// `getpid(2)`.
pub fn getpid() -> u32 {
    sc_int(SYS_GETPID, [0; 6]).unwrap_or(0) as u32
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphaned descendants are reparented
/// to us instead of to PID 1 (prctl(2), Linux 3.4).
pub fn set_child_subreaper() -> Result<()> {
    unit(sc_int(SYS_PRCTL, [PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0]))
}

/// `prctl(PR_CAPBSET_READ, cap)`: whether `cap` is in the bounding set.
pub fn capbset_has(cap: u32) -> bool {
    sc_int(SYS_PRCTL, [PR_CAPBSET_READ, cap as usize, 0, 0, 0, 0]) == Ok(1)
}

/// `setpgid(pid, pgid)` (0 = the caller / its own pid).
pub fn setpgid(pid: u32, pgid: u32) -> Result<()> {
    unit(sc_int(
        SYS_SETPGID,
        [pid as usize, pgid as usize, 0, 0, 0, 0],
    ))
}

/// `tcsetpgrp(fd, pgrp)`: `ioctl(fd, TIOCSPGRP, &pgrp)` (termios(3)).
pub fn tcsetpgrp(fd: RawFd, pgrp: u32) -> Result<()> {
    // SAFETY: TIOCSPGRP reads one pid_t.
    unit(unsafe {
        syscall(
            SYS_IOCTL,
            [fd as usize, TIOCSPGRP, &raw const pgrp as usize, 0, 0, 0],
        )
    })
}

/// `kill(pid, sig)`; a negative `pid` is a process group.
pub fn kill(pid: i32, sig: u32) -> Result<()> {
    unit(sc_int(
        SYS_KILL,
        [pid as isize as usize, sig as usize, 0, 0, 0, 0],
    ))
}

/// Every signal: `rt_sigprocmask`/`rt_sigtimedwait` take a 64-bit set
/// (the kernel ignores SIGKILL and SIGSTOP in it).
const ALL_SIGNALS: u64 = !0;

/// `rt_sigprocmask(SIG_SETMASK, all, NULL)`: every catchable signal stays
/// pending until [`wait_signal`] takes it. Blocked signals are queued even
/// for the init of a pid namespace (the kernel drops only unblocked
/// default-action signals for it), which is what makes PID 1 work.
pub fn block_all_signals() -> Result<()> {
    let all = ALL_SIGNALS;
    // SAFETY: a valid 8-byte sigset_t; no old set is written.
    unit(unsafe {
        syscall(
            SYS_RT_SIGPROCMASK,
            [SIG_SETMASK, &raw const all as usize, 0, 8, 0, 0],
        )
    })
}

/// `rt_sigtimedwait(all, NULL, NULL)`: takes the next pending signal
/// (blocked with [`block_all_signals`]) and returns its number.
pub fn wait_signal() -> Result<u32> {
    let all = ALL_SIGNALS;
    // SAFETY: a valid 8-byte sigset_t is read; info and timeout are NULL.
    unsafe {
        syscall(
            SYS_RT_SIGTIMEDWAIT,
            [&raw const all as usize, 0, 0, 8, 0, 0],
        )
    }
    .map(|s| s as u32)
}

/// `wait4(-1, &status, WNOHANG, NULL)`: `Some((pid, status))` for a child
/// that ended, `None` when children remain but none has ended; `ECHILD`
/// when there are no children.
pub fn reap_one() -> Result<Option<(u32, u32)>> {
    let mut status: i32 = 0;
    // SAFETY: the kernel writes one int into `status`; no rusage.
    let pid = unsafe {
        syscall(
            SYS_WAIT4,
            [-1isize as usize, &raw mut status as usize, WNOHANG, 0, 0, 0],
        )
    }?;
    Ok((pid != 0).then_some((pid as u32, status as u32)))
}

/// `rt_sigprocmask(SIG_SETMASK, {}, NULL)`: the signal mask survives
/// execve(2), so the container process must not inherit ours.
pub fn unblock_all_signals() -> Result<()> {
    let empty: u64 = 0;
    // SAFETY: `empty` is a valid 8-byte sigset_t; no old set is written.
    unit(unsafe {
        syscall(
            SYS_RT_SIGPROCMASK,
            [SIG_SETMASK, &raw const empty as usize, 0, 8, 0, 0],
        )
    })
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const u8,
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog)` with `prog` the
/// raw `struct sock_filter` array (8 bytes each). With
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` in `flags` it returns the listener fd.
pub fn seccomp_filter(flags: u32, prog: &[u8]) -> Result<Option<Fd>> {
    let len = u16::try_from(prog.len() / 8).map_err(|_| Errno::INVAL)?;
    let fprog = SockFprog {
        len,
        filter: prog.as_ptr(),
    };
    // SAFETY: `fprog` points to `len` 8-byte instructions inside `prog`; the
    // kernel copies them (copy_from_user has no alignment requirement).
    let r = unsafe {
        syscall(
            SYS_SECCOMP,
            [
                SECCOMP_SET_MODE_FILTER,
                flags as usize,
                &raw const fprog as usize,
                0,
                0,
                0,
            ],
        )
    }?;
    // Not `then_some(Fd(r))`: that builds the `Fd` eagerly, and dropping
    // `Fd(0)` (seccomp's return without a listener) would close stdin.
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        Ok(Some(Fd(r as RawFd)))
    } else {
        Ok(None)
    }
}

// ---- Sockets --------------------------------------------------------------

/// `socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)`.
pub fn socket_inet_dgram() -> Result<Fd> {
    owned(sc_int(
        SYS_SOCKET,
        [
            AF_INET as usize,
            (SOCK_DGRAM | SOCK_CLOEXEC) as usize,
            0,
            0,
            0,
            0,
        ],
    ))
}

/// Brings `lo` up via `sock` (netdevice(7) SIOCSIFFLAGS), as runc's
/// loopback setup does. Only for the `lo` of a network namespace just
/// created: its flags are `IFF_LOOPBACK` alone, so they are set to
/// `IFF_UP | IFF_LOOPBACK` without reading them first (the kernel keeps
/// its volatile bits, such as `IFF_RUNNING`, itself).
pub fn loopback_up(sock: RawFd) -> Result<()> {
    // struct ifreq: char ifr_name[16]; union { short ifr_flags; ... } (24 bytes).
    let mut ifr = [0u8; 40];
    ifr[0] = b'l';
    ifr[1] = b'o';
    [ifr[16], ifr[17]] = (IFF_UP | IFF_LOOPBACK).to_ne_bytes();
    // SAFETY: `ifr` is a 40-byte struct ifreq naming "lo" with ifr_flags
    // set; the kernel only reads it.
    unit(unsafe {
        syscall(
            SYS_IOCTL,
            [sock as usize, SIOCSIFFLAGS, ifr.as_ptr() as usize, 0, 0, 0],
        )
    })
}

#[repr(C)]
struct IoVec {
    base: *const u8,
    len: usize,
}

#[repr(C)]
struct MsgHdr {
    name: *const u8,
    namelen: u32,
    iov: *const IoVec,
    iovlen: usize,
    control: *const u8,
    controllen: usize,
    flags: i32,
}

/// `struct cmsghdr` followed by one int (SCM_RIGHTS with one fd), padded to
/// `CMSG_SPACE(sizeof(int))` = 24 bytes.
#[repr(C)]
struct CmsgFd {
    len: usize,
    level: i32,
    kind: i32,
    fd: i32,
    pad: i32,
}

/// `sendmsg(2)` of one record, with `fd` attached as `SCM_RIGHTS` (unix(7))
/// if given. `MSG_NOSIGNAL`: a vanished peer is `EPIPE`, not SIGPIPE.
pub fn send_record(sock: RawFd, bytes: &[u8], fd: Option<RawFd>) -> Result<usize> {
    let iov = IoVec {
        base: bytes.as_ptr(),
        len: bytes.len(),
    };
    // CMSG_LEN(sizeof(int)) = 16-byte header + 4.
    let cmsg = CmsgFd {
        len: 20,
        level: SOL_SOCKET,
        kind: SCM_RIGHTS,
        fd: fd.unwrap_or(-1),
        pad: 0,
    };
    let msg = MsgHdr {
        name: core::ptr::null(),
        namelen: 0,
        iov: &raw const iov,
        iovlen: 1,
        control: if fd.is_some() {
            (&raw const cmsg).cast()
        } else {
            core::ptr::null()
        },
        controllen: if fd.is_some() { size_of::<CmsgFd>() } else { 0 },
        flags: 0,
    };
    // SAFETY: `msg` describes one iovec over `bytes` and, optionally, a
    // well-formed control message; the kernel only reads them.
    unsafe {
        syscall(
            SYS_SENDMSG,
            [
                sock as usize,
                &raw const msg as usize,
                MSG_NOSIGNAL as usize,
                0,
                0,
                0,
            ],
        )
    }
}

/// The most fds [`recv_fds`] takes from one record.
pub const MAX_RECV_FDS: usize = sprout_protocol::MAX_CGROUP_FDS;

/// A control buffer for `SCM_RIGHTS` with up to [`MAX_RECV_FDS`] fds:
/// `struct cmsghdr` (16 bytes) and the ints, 8-byte aligned.
#[repr(C, align(8))]
struct CmsgFds {
    len: usize,
    level: i32,
    kind: i32,
    fds: [i32; MAX_RECV_FDS],
}

/// `recvmsg(2)` of one record into `buf`, with the `SCM_RIGHTS` fds that
/// ride along (`MSG_CMSG_CLOEXEC`) stored into `fds`. Returns the record's
/// length and the number of fds. A record longer than `buf` (`MSG_TRUNC`),
/// cut-off control data (`MSG_CTRUNC`: more fds than fit, which the kernel
/// then closes) or a control message other than `SCM_RIGHTS` is `EPROTO`;
/// the fds that did arrive are closed first.
pub fn recv_fds(
    sock: RawFd,
    buf: &mut [u8],
    fds: &mut [RawFd; MAX_RECV_FDS],
) -> Result<(usize, usize)> {
    let iov = IoVec {
        base: buf.as_mut_ptr(),
        len: buf.len(),
    };
    let mut cmsg = CmsgFds {
        len: 0,
        level: 0,
        kind: 0,
        fds: [-1; MAX_RECV_FDS],
    };
    let mut msg = MsgHdr {
        name: core::ptr::null(),
        namelen: 0,
        iov: &raw const iov,
        iovlen: 1,
        control: (&raw mut cmsg).cast::<u8>().cast_const(),
        controllen: size_of::<CmsgFds>(),
        flags: 0,
    };
    // SAFETY: `msg` describes one iovec over `buf` (the kernel writes at
    // most `buf.len()` bytes there) and a control buffer of
    // `controllen` bytes that is `cmsg`; the kernel writes `msg.flags`,
    // `msg.controllen` and the control data, all within those objects.
    let n = unsafe {
        syscall(
            SYS_RECVMSG,
            [
                sock as usize,
                &raw mut msg as usize,
                MSG_CMSG_CLOEXEC as usize,
                0,
                0,
                0,
            ],
        )
    }?;
    // One `cmsghdr` at most: its `len` covers the header and the ints.
    let mut count = 0;
    if msg.controllen >= 16 && cmsg.len >= 16 {
        if cmsg.level == SOL_SOCKET && cmsg.kind == SCM_RIGHTS {
            count = ((cmsg.len - 16) / 4).min(MAX_RECV_FDS);
        } else {
            msg.flags |= MSG_CTRUNC;
        }
    }
    fds[..count].copy_from_slice(&cmsg.fds[..count]);
    if msg.flags & (MSG_TRUNC | MSG_CTRUNC) != 0 {
        for fd in &fds[..count] {
            drop(Fd(*fd));
        }
        return Err(Errno::PROTO);
    }
    Ok((n, count))
}

/// `send(fd, bytes, MSG_NOSIGNAL)`.
pub fn send(sock: RawFd, bytes: &[u8]) -> Result<usize> {
    // SAFETY: the kernel reads `bytes.len()` bytes; no address is passed.
    unsafe {
        syscall(
            SYS_SENDTO,
            [
                sock as usize,
                bytes.as_ptr() as usize,
                bytes.len(),
                MSG_NOSIGNAL as usize,
                0,
                0,
            ],
        )
    }
}

/// `recv(fd, buf, flags)`; `flags` 0 waits for a message,
/// `MSG_PEEK | MSG_DONTWAIT` looks at what is there without taking it or
/// waiting (`EAGAIN` when nothing; 0 at EOF).
pub fn recv(sock: RawFd, buf: &mut [u8], flags: u32) -> Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`; no
    // address is requested.
    unsafe {
        syscall(
            SYS_RECVFROM,
            [
                sock as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
                flags as usize,
                0,
                0,
            ],
        )
    }
}

/// `accept4(fd, NULL, NULL, SOCK_CLOEXEC)`.
pub fn accept(sock: RawFd) -> Result<Fd> {
    owned(sc_int(
        SYS_ACCEPT4,
        [sock as usize, 0, 0, SOCK_CLOEXEC as usize, 0, 0],
    ))
}

// ---- Terminals ------------------------------------------------------------

/// `unlockpt(3)`: `ioctl(master, TIOCSPTLCK, &0)`.
pub fn unlockpt(master: RawFd) -> Result<()> {
    let unlock: i32 = 0;
    // SAFETY: TIOCSPTLCK reads one int.
    unit(unsafe {
        syscall(
            SYS_IOCTL,
            [
                master as usize,
                TIOCSPTLCK,
                &raw const unlock as usize,
                0,
                0,
                0,
            ],
        )
    })
}

/// `ioctl(master, TIOCGPTPEER, flags)` (ioctl_tty(2), Linux 4.13): opens the
/// pty peer without a path lookup.
pub fn pty_peer(master: RawFd, flags: u32) -> Result<Fd> {
    owned(sc_int(
        SYS_IOCTL,
        [master as usize, TIOCGPTPEER, flags as usize, 0, 0, 0],
    ))
}

/// `ioctl(fd, TIOCSWINSZ, &winsize)`.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> Result<()> {
    let ws: [u16; 4] = [rows, cols, 0, 0];
    // SAFETY: TIOCSWINSZ reads one 8-byte struct winsize.
    unit(unsafe {
        syscall(
            SYS_IOCTL,
            [fd as usize, TIOCSWINSZ, ws.as_ptr() as usize, 0, 0, 0],
        )
    })
}

/// `ioctl(fd, TIOCSCTTY, 0)`: make the terminal our controlling terminal.
pub fn set_ctty(fd: RawFd) -> Result<()> {
    unit(sc_int(SYS_IOCTL, [fd as usize, TIOCSCTTY, 0, 0, 0, 0]))
}

// ---- execve and its buffers ------------------------------------------------

/// Largest number of `argv` or `envp` entries the stub passes to execve
/// (shared with the controller, which checks it first).
pub const MAX_ARGS: usize = sprout_protocol::MAX_ARGS;
/// `NGROUPS_MAX`: the most supplementary groups `setgroups(2)` accepts.
pub const MAX_GROUPS: usize = 65536;
/// Longest path the stub builds (`PATH_MAX`, including the NUL).
pub const PATH_MAX: usize = 4096;

/// A NULL-terminated array of pointers to `'static` C strings, the `argv`
/// and `envp` arguments of `execve(2)`, in slots carved from the arena
/// ([`Arena::cstr_vec`]); its capacity is one less than the slots.
pub struct CStrVec {
    // Invariant: ptrs[..len] point to 'static NUL-terminated strings and
    // ptrs[len..] are NULL; ptrs is never empty.
    ptrs: &'static mut [*const c_char],
    len: usize,
}

impl CStrVec {
    /// The value of the first entry starting with `prefix` (e.g. `PATH=`).
    pub fn value(&self, prefix: &[u8]) -> Option<&'static [u8]> {
        self.ptrs.get(..self.len)?.iter().find_map(|&p| {
            // SAFETY: ptrs[..len] point to 'static NUL-terminated strings
            // (the CStrVec invariant).
            let s = unsafe { CStr::from_ptr(p) };
            s.to_bytes().strip_prefix(prefix)
        })
    }

    /// Appends `s`; `E2BIG` when the slots are full (the last one stays
    /// NULL).
    pub fn push(&mut self, s: &'static CStr) -> Result<()> {
        if self.len + 1 >= self.ptrs.len() {
            return Err(Errno::TOOBIG);
        }
        if let Some(slot) = self.ptrs.get_mut(self.len) {
            *slot = s.as_ptr();
            self.len += 1;
        }
        Ok(())
    }
}

/// Bytes of the arena: a plan (and one byte more, to see trailing bytes
/// in a plan file), the pointer slots of argv and envp (8-byte aligned),
/// the path scratch buffer and the supplementary groups.
const ARENA_LEN: usize = MAX_PLAN_LEN + 8 + 2 * (MAX_ARGS + 1) * 8 + PATH_MAX + MAX_GROUPS * 4 + 8;

/// The stub's only large data, in `.bss` (there is no allocator).
/// Everything the stub needs is carved from it in order, right after the
/// plan, so that the pages it touches are few and adjacent: the resident
/// set is the plan's size plus a few hundred bytes. Only 8-byte aligned,
/// so that it starts in the page of `.data` (touched anyway) instead of a
/// page of its own.
#[repr(C, align(8))]
struct ArenaBytes([u8; ARENA_LEN]);

static mut ARENA: ArenaBytes = ArenaBytes([0; ARENA_LEN]);
static ARENA_TAKEN: AtomicBool = AtomicBool::new(false);

/// The unused rest of the static arena, handed out piece by piece.
pub struct Arena {
    rest: &'static mut [u8],
}

/// The static arena, handed out once (`None` on a second call).
pub fn arena() -> Option<Arena> {
    if ARENA_TAKEN.swap(true, Ordering::Relaxed) {
        return None;
    }
    // SAFETY: ARENA_TAKEN guarantees this unique reference is created at
    // most once, so it never aliases another reference to ARENA.
    #[allow(clippy::deref_addrof)] // `&mut ARENA` is the static_mut_refs lint
    let bytes = unsafe { &mut (*(&raw mut ARENA)).0 };
    Some(Arena { rest: bytes })
}

impl Arena {
    /// The unused bytes, e.g. to read the plan into before [`Arena::take`].
    pub fn bytes(&mut self) -> &mut [u8] {
        self.rest
    }

    /// Splits off the first `n` bytes (all of them if fewer are left).
    pub fn take(&mut self, n: usize) -> &'static mut [u8] {
        let rest = core::mem::take(&mut self.rest);
        let (head, tail) = rest.split_at_mut(n.min(rest.len()));
        self.rest = tail;
        head
    }

    /// Splits off `n` zeroed slots of `T`, aligned for `T`; `None` when
    /// the arena is exhausted.
    fn slots<T: Slot>(&mut self, n: usize) -> Option<&'static mut [T]> {
        let skip = self.rest.as_ptr().align_offset(align_of::<T>());
        let bytes = n.checked_mul(size_of::<T>())?.checked_add(skip)?;
        if bytes > self.rest.len() {
            return None;
        }
        let chunk = self.take(bytes);
        chunk.fill(0);
        let chunk = chunk.get_mut(skip..)?;
        // SAFETY: `chunk` is exclusively ours for 'static, aligned for `T`
        // and exactly `n * size_of::<T>()` bytes long; it is zeroed, and
        // zero bytes are a valid `T` (the `Slot` contract).
        Some(unsafe { core::slice::from_raw_parts_mut(chunk.as_mut_ptr().cast::<T>(), n) })
    }

    /// An empty [`CStrVec`] with room for `n` entries (at most
    /// [`MAX_ARGS`]; pushing more fails with `E2BIG`).
    pub fn cstr_vec(&mut self, n: usize) -> Option<CStrVec> {
        let ptrs = self.slots::<*const c_char>(n.min(MAX_ARGS) + 1)?;
        Some(CStrVec { ptrs, len: 0 })
    }

    /// `n` zeroed `u32` slots (at most [`MAX_GROUPS`]).
    pub fn u32s(&mut self, n: usize) -> Option<&'static mut [u32]> {
        self.slots::<u32>(n.min(MAX_GROUPS))
    }

    /// A [`PATH_MAX`] scratch buffer (not zeroed: only the bytes written
    /// are ever touched).
    pub fn path_buf(&mut self) -> Option<&'static mut [u8; PATH_MAX]> {
        let rest = core::mem::take(&mut self.rest);
        let (buf, tail) = rest.split_first_chunk_mut::<PATH_MAX>()?;
        self.rest = tail;
        Some(buf)
    }
}

/// Types that [`Arena::slots`] may hand out: all-zero bytes are a valid
/// value and any later value is plain data.
trait Slot {}
impl Slot for u32 {}
impl Slot for *const c_char {}

/// `execve(2)` of `path` with `argv` and `envp`; returns only on failure.
pub fn execve(path: &CStr, argv: &CStrVec, envp: &CStrVec) -> Errno {
    // SAFETY: `path` is NUL-terminated; `argv`/`envp` are NULL-terminated
    // arrays of pointers to 'static NUL-terminated strings (CStrVec invariant).
    let r = unsafe {
        syscall(
            SYS_EXECVE,
            [
                p(path),
                argv.ptrs.as_ptr() as usize,
                envp.ptrs.as_ptr() as usize,
                0,
                0,
                0,
            ],
        )
    };
    match r {
        Err(e) => e,
        Ok(_) => Errno::INVAL, // execve does not return on success
    }
}
