//! The x86-64 Linux ABI numbers the stub uses (syscall numbers, flags,
//! ioctl requests, struct offsets are in the wrappers). Plain constants, no
//! code: `tests/e2e.rs` includes this file and checks every value against
//! the `libc` crate.
//!
//! Why not linux-raw-sys/rustix: in a `cargo build --workspace` Cargo
//! unifies features across members, and the controller's dependencies
//! enable rustix's (and bitflags') `std`, which would link std into this
//! no_std binary (duplicate `panic_impl`). The stub therefore depends on
//! nothing but the dependency-free protocol crate.
#![allow(dead_code)]

// Syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
pub const SYS_READ: usize = 0;
pub const SYS_WRITE: usize = 1;
pub const SYS_CLOSE: usize = 3;
pub const SYS_FSTAT: usize = 5;
pub const SYS_RT_SIGPROCMASK: usize = 14;
pub const SYS_IOCTL: usize = 16;
pub const SYS_SOCKET: usize = 41;
pub const SYS_SENDTO: usize = 44;
pub const SYS_RECVFROM: usize = 45;
pub const SYS_SENDMSG: usize = 46;
pub const SYS_RECVMSG: usize = 47;
pub const SYS_GETPID: usize = 39;
pub const SYS_CLONE: usize = 56;
pub const SYS_EXECVE: usize = 59;
pub const SYS_WAIT4: usize = 61;
pub const SYS_KILL: usize = 62;
pub const SYS_FCNTL: usize = 72;
pub const SYS_GETCWD: usize = 79;
pub const SYS_CHDIR: usize = 80;
pub const SYS_FCHDIR: usize = 81;
pub const SYS_FCHOWN: usize = 93;
pub const SYS_UMASK: usize = 95;
pub const SYS_SETPGID: usize = 109;
pub const SYS_SETSID: usize = 112;
pub const SYS_SETGROUPS: usize = 116;
pub const SYS_SETRESUID: usize = 117;
pub const SYS_SETRESGID: usize = 119;
pub const SYS_CAPSET: usize = 126;
pub const SYS_RT_SIGTIMEDWAIT: usize = 128;
pub const SYS_PERSONALITY: usize = 135;
pub const SYS_STATFS: usize = 137;
pub const SYS_PIVOT_ROOT: usize = 155;
pub const SYS_PRCTL: usize = 157;
pub const SYS_CHROOT: usize = 161;
pub const SYS_MOUNT: usize = 165;
pub const SYS_UMOUNT2: usize = 166;
pub const SYS_SETHOSTNAME: usize = 170;
pub const SYS_SETDOMAINNAME: usize = 171;
pub const SYS_EXIT_GROUP: usize = 231;
pub const SYS_KEYCTL: usize = 250;
pub const SYS_UNSHARE: usize = 272;
pub const SYS_OPENAT: usize = 257;
pub const SYS_MKDIRAT: usize = 258;
pub const SYS_MKNODAT: usize = 259;
pub const SYS_FCHOWNAT: usize = 260;
pub const SYS_NEWFSTATAT: usize = 262;
pub const SYS_SYMLINKAT: usize = 266;
pub const SYS_FCHMODAT: usize = 268;
pub const SYS_FACCESSAT: usize = 269;
pub const SYS_ACCEPT4: usize = 288;
pub const SYS_DUP3: usize = 292;
pub const SYS_PIPE2: usize = 293;
pub const SYS_PRLIMIT64: usize = 302;
pub const SYS_SETNS: usize = 308;
pub const SYS_SECCOMP: usize = 317;
pub const SYS_OPEN_TREE: usize = 428;
pub const SYS_MOVE_MOUNT: usize = 429;
pub const SYS_CLOSE_RANGE: usize = 436;
pub const SYS_OPENAT2: usize = 437;
pub const SYS_MOUNT_SETATTR: usize = 442;
pub const SYS_OPEN_TREE_ATTR: usize = 467;

// errno values (asm-generic/errno-base.h, errno.h).
pub const EPERM: u32 = 1;
pub const ENOENT: u32 = 2;
pub const ESRCH: u32 = 3;
pub const EINTR: u32 = 4;
pub const E2BIG: u32 = 7;
pub const EBADF: u32 = 9;
pub const ECHILD: u32 = 10;
pub const EAGAIN: u32 = 11;
pub const EACCES: u32 = 13;
pub const EEXIST: u32 = 17;
pub const ENOTDIR: u32 = 20;
pub const EINVAL: u32 = 22;
pub const EXDEV: u32 = 18;

/// `CAP_SYS_ADMIN` (capability.h).
pub const CAP_SYS_ADMIN: u32 = 21;
pub const EROFS: u32 = 30;
pub const EPIPE: u32 = 32;
pub const ENAMETOOLONG: u32 = 36;
pub const ENOSYS: u32 = 38;
pub const ELOOP: u32 = 40;
pub const EPROTO: u32 = 71;
pub const ENOTCONN: u32 = 107;

// open(2) flags.
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 0o1;
pub const O_RDWR: u32 = 0o2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_NOCTTY: u32 = 0o400;
pub const O_TRUNC: u32 = 0o1000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_CLOEXEC: u32 = 0o2000000;
pub const O_PATH: u32 = 0o10000000;

// fcntl(2).
pub const F_DUPFD_CLOEXEC: usize = 1030;

// openat2(2) resolve flags.
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_IN_ROOT: u64 = 0x10;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;

// *at(2) flags.
pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
pub const AT_EMPTY_PATH: u32 = 0x1000;
pub const AT_RECURSIVE: u32 = 0x8000;
pub const X_OK: u32 = 1;

// File types (inode(7)).
pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFCHR: u32 = 0o020000;

// mount(2).
pub const MS_RDONLY: u64 = 1;
pub const MS_NOSUID: u64 = 2;
pub const MS_NODEV: u64 = 4;
pub const MS_NOEXEC: u64 = 8;
pub const MS_REMOUNT: u64 = 32;
pub const MS_NOATIME: u64 = 1024;
pub const MS_NODIRATIME: u64 = 2048;
pub const MS_BIND: u64 = 4096;
pub const MS_MOVE: u64 = 8192;
pub const MS_REC: u64 = 16384;
pub const MS_PRIVATE: u64 = 1 << 18;
pub const MS_SLAVE: u64 = 1 << 19;
pub const MS_SHARED: u64 = 1 << 20;
pub const MS_UNBINDABLE: u64 = 1 << 17;
pub const MS_RELATIME: u64 = 1 << 21;
pub const MS_STRICTATIME: u64 = 1 << 24;
pub const MS_NOSYMFOLLOW: u64 = 256;
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
pub const MNT_DETACH: u32 = 2;
pub const OPEN_TREE_CLONE: u32 = 1;
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = 4;
pub const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

// Sockets.
pub const AF_INET: u32 = 2;
pub const SOCK_DGRAM: u32 = 2;
pub const SOCK_CLOEXEC: u32 = O_CLOEXEC;
pub const MSG_NOSIGNAL: u32 = 0x4000;
pub const MSG_PEEK: u32 = 0x2;
pub const MSG_DONTWAIT: u32 = 0x40;
pub const SOL_SOCKET: i32 = 1;
pub const SCM_RIGHTS: i32 = 1;
pub const MSG_CTRUNC: i32 = 0x8;
pub const MSG_TRUNC: i32 = 0x20;
pub const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

// ioctl requests.
pub const SIOCGIFFLAGS: usize = 0x8913;
pub const SIOCSIFFLAGS: usize = 0x8914;
pub const IFF_UP: u16 = 1;
pub const IFF_LOOPBACK: u16 = 8;
pub const TIOCSCTTY: usize = 0x540E;
pub const TIOCSWINSZ: usize = 0x5414;
pub const TIOCSPTLCK: usize = 0x4004_5431;
pub const TIOCGPTPEER: usize = 0x5441;
pub const TIOCSPGRP: usize = 0x5410;

// prctl(2).
pub const PR_SET_PDEATHSIG: usize = 1;
pub const PR_SET_DUMPABLE: usize = 4;
pub const PR_SET_KEEPCAPS: usize = 8;
pub const PR_CAPBSET_READ: usize = 23;
pub const PR_CAPBSET_DROP: usize = 24;
pub const PR_SET_CHILD_SUBREAPER: usize = 36;
pub const PR_SET_NO_NEW_PRIVS: usize = 38;
pub const PR_CAP_AMBIENT: usize = 47;
pub const PR_CAP_AMBIENT_RAISE: usize = 2;
pub const PR_CAP_AMBIENT_CLEAR_ALL: usize = 4;
/// capget(2)/capset(2) `_LINUX_CAPABILITY_VERSION_3`.
pub const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

// Processes and signals.
pub const CLONE_NEWPID: u32 = 0x2000_0000;
pub const CLONE_NEWUSER: u32 = 0x1000_0000;
pub const CLONE_NEWTIME: u32 = 0x80;
pub const CLONE_NEWCGROUP: u32 = 0x0200_0000;
pub const SIGKILL: usize = 9;
pub const SIGCHLD: usize = 17;
pub const SIG_SETMASK: usize = 2;
pub const WNOHANG: usize = 1;
pub const KEYCTL_JOIN_SESSION_KEYRING: usize = 1;
pub const SECCOMP_SET_MODE_FILTER: usize = 1;
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;
/// include/uapi/linux/close_range.h.
pub const CLOSE_RANGE_CLOEXEC: usize = 1 << 2;

/// `makedev(3)` of glibc (and the kernel's `new_encode_dev`).
pub const fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (major as u64, minor as u64);
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}
