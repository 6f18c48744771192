//! End-to-end tests of the real `sprout-init` binary: a tiny controller in
//! this file encodes plans with `sprout_protocol::PlanSpec`, runs the stub
//! with the plan on a pipe (fd 3) and a SEQPACKET sync socket (fd 4), and
//! checks what the exec'd command reports and what the stub sends.
//!
//! Most tests need root (setresuid, capabilities, mounts); they print
//! "skipped" and pass otherwise. The rootfs test additionally needs
//! `unshare(1)` and a static busybox (`SPROUT_BUSYBOX`, `target/busybox-rootfs`
//! or `target/busybox-deb`, as created by `cargo xtask`).

use std::ffi::CStr;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use sprout_protocol::{
    Caps, MountOp, Msg, Namespace, PlanSpec, Rlimit, Step, UNSET, WinSize, flags, mount_opts,
};

const STUB: &str = env!("CARGO_BIN_EXE_sprout-init");

/// The stub's own ABI constants (it has no libc), checked below.
#[path = "../src/sys/abi.rs"]
mod abi;

/// The few raw calls the harness needs (fd plumbing, SCM_RIGHTS).
mod sys {
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    pub fn check(r: libc::c_int) -> std::io::Result<libc::c_int> {
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    pub fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: socketpair writes two fds into `fds`.
        check(unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        })
        .unwrap();
        // SAFETY: both fds are new and owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    pub fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two fds into `fds`.
        check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }).unwrap();
        // SAFETY: both fds are new and owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// A CLOEXEC duplicate numbered >= 100, so that moving fds onto 3, 4, 5
    /// in the child never clobbers a source.
    pub fn dup_high(fd: RawFd) -> OwnedFd {
        // SAFETY: F_DUPFD_CLOEXEC returns a new fd we own.
        let n = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) }).unwrap();
        // SAFETY: `n` is new and owned by nobody else.
        unsafe { OwnedFd::from_raw_fd(n) }
    }

    /// Runs in the forked child before exec: dup2 each (src, dst).
    pub fn install(cmd: &mut std::process::Command, map: Vec<(RawFd, RawFd)>) {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure only calls dup2, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                for &(src, dst) in &map {
                    check(libc::dup2(src, dst))?;
                }
                Ok(())
            });
        }
    }

    pub fn set_timeout(fd: RawFd, secs: i64) {
        let tv = libc::timeval {
            tv_sec: secs,
            tv_usec: 0,
        };
        // SAFETY: `tv` is a valid timeval for SO_RCVTIMEO.
        check(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            )
        })
        .unwrap();
    }

    /// One SEQPACKET record and at most one SCM_RIGHTS fd; `None` at EOF.
    pub fn recv(fd: RawFd) -> std::io::Result<Option<(Vec<u8>, Option<OwnedFd>)>> {
        let mut buf = [0u8; 64];
        let mut cmsg = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: zeroed msghdr is valid; the pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cmsg);
        let n = loop {
            // SAFETY: msg describes valid buffers.
            let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                // Another test's child (a pty session) may signal this
                // process; a receive timeout is EAGAIN, not EINTR.
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            break n;
        };
        if n == 0 {
            return Ok(None);
        }
        let mut got = None;
        // SAFETY: walking the control buffer the kernel filled in.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            if !c.is_null()
                && (*c).cmsg_level == libc::SOL_SOCKET
                && (*c).cmsg_type == libc::SCM_RIGHTS
            {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
                got = Some(OwnedFd::from_raw_fd(fd));
            }
        }
        Ok(Some((buf[..n as usize].to_vec(), got)))
    }

    pub fn send(fd: RawFd, bytes: &[u8]) {
        // SAFETY: sending from a valid buffer.
        let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
        assert_eq!(n, bytes.len() as isize, "send to stub");
    }

    /// `CMSG_SPACE`/`CMSG_LEN` of one int (the stub's `CmsgFd`: 24 bytes, len 20).
    /// `sendmsg` of one record with `fds` as SCM_RIGHTS.
    pub fn send_fds(fd: RawFd, bytes: &[u8], fds: &[RawFd]) {
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        };
        // SAFETY: CMSG_SPACE only computes a size.
        let space = unsafe { libc::CMSG_SPACE((fds.len() * 4) as u32) } as usize;
        let mut control = vec![0u64; space.div_ceil(8)];
        // SAFETY: zeroed msghdr, then filled with live buffers; the CMSG
        // macros walk `control`, which is `space` bytes and 8-aligned.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((fds.len() * 4) as u32) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr(),
                libc::CMSG_DATA(c) as *mut RawFd,
                fds.len(),
            );
            let n = libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL);
            assert_eq!(
                n,
                bytes.len() as isize,
                "sendmsg: {}",
                std::io::Error::last_os_error()
            );
        }
    }

    pub fn cmsg_space_len_of_int() -> (u32, u32) {
        // SAFETY: pure arithmetic macros.
        unsafe { (libc::CMSG_SPACE(4), libc::CMSG_LEN(4)) }
    }

    pub fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }
}

fn skip_unless_root(name: &str) -> bool {
    if !sys::is_root() {
        eprintln!("{name}: skipped (needs root)");
        return true;
    }
    false
}

fn cap_last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The harness's own capabilities (root here may lack some, e.g.
/// CAP_SYS_RESOURCE on the CI VM, so "all" would make capset fail).
fn full_caps() -> Caps {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let get = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        u64::from_str_radix(line[key.len()..].trim(), 16).unwrap()
    };
    let eff = get("CapEff:");
    Caps {
        bounding: get("CapBnd:"),
        effective: eff,
        permitted: get("CapPrm:"),
        inheritable: 0,
        ambient: 0,
    }
}

/// A plan for running `args` as root in the current namespaces.
fn base<'a>(args: &'a [&'a CStr], env: &'a [&'a CStr]) -> PlanSpec<'a> {
    PlanSpec {
        flags: flags::SYNC,
        uid: 0,
        gid: 0,
        cap_last_cap: cap_last_cap(),
        caps: full_caps(),
        preserve_fds: 0,
        umask: UNSET,
        personality: UNSET,
        start_fd: UNSET,
        seccomp_flags: 0,
        rootfs_propagation: 0,
        console: WinSize::default(),
        rootfs: c"/",
        hostname: None,
        domainname: None,
        cwd: c"/",
        additional_gids: &[],
        namespaces: &[],
        rlimits: &[],
        mounts: &[],
        args,
        env,
        seccomp: &[],
    }
}

const SH_ENV: &[&CStr] = &[c"PATH=/usr/sbin:/usr/bin:/sbin:/bin", c"HOME=/"];

fn encode(spec: &PlanSpec<'_>) -> Vec<u8> {
    let mut out = vec![0u8; spec.encoded_len()];
    spec.encode(&mut out).unwrap();
    out
}

/// What a run produced.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    msgs: Vec<Msg>,
    stdout: String,
    stderr: String,
    /// Console master, if one was sent.
    console: Option<OwnedFd>,
    /// Bytes read from the console master.
    tty: String,
}

impl Run {
    fn failed(&self) -> Option<(Step, u32, u32)> {
        self.msgs.iter().find_map(|m| match *m {
            Msg::Failed { step, errno, arg } => Some((step, errno, arg)),
            _ => None,
        })
    }
}

#[derive(Default)]
struct Opts {
    /// Extra fds for the child: (fd, number in the child).
    extra: Vec<(OwnedFd, RawFd)>,
    /// Called when the stub says `Created` (e.g. connect to the start socket).
    on_created: Option<Box<dyn FnMut()>>,
    /// Wrap the stub in this command (e.g. unshare ...).
    wrapper: Vec<String>,
    /// The `UNSHARE` argument (`--controller 3 4 UNSHARE`).
    unshare: Option<u32>,
    /// Sent first: `Msg::Cgroup` with these fds, its `optional` bits and
    /// its `count` (normally the number of fds).
    cgroup: Option<(Vec<OwnedFd>, u32, u32)>,
}

/// Runs the stub in controller mode with `plan` and plays the controller.
fn launch(plan: &[u8], mut opts: Opts) -> Run {
    let (plan_r, plan_w) = sys::pipe();
    let (ours, theirs) = sys::seqpacket_pair();
    let mut keep = vec![
        sys::dup_high(plan_r.as_raw_fd()),
        sys::dup_high(theirs.as_raw_fd()),
    ];
    let mut map = vec![(keep[0].as_raw_fd(), 3), (keep[1].as_raw_fd(), 4)];
    for (fd, n) in opts.extra.drain(..) {
        let high = sys::dup_high(fd.as_raw_fd());
        map.push((high.as_raw_fd(), n));
        keep.push(high);
    }
    // Debugging aid: SPROUT_E2E_WRAPPER="strace -f -o /tmp/trace" runs the
    // stub under that command.
    if let Ok(w) = std::env::var("SPROUT_E2E_WRAPPER") {
        let mut v: Vec<String> = w.split_whitespace().map(String::from).collect();
        v.append(&mut opts.wrapper);
        opts.wrapper = v;
    }
    let mut cmd = if opts.wrapper.is_empty() {
        Command::new(STUB)
    } else {
        let mut c = Command::new(&opts.wrapper[0]);
        c.args(&opts.wrapper[1..]).arg(STUB);
        c
    };
    cmd.args(["--controller", "3", "4"]);
    if let Some(u) = opts.unshare {
        cmd.arg(u.to_string());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    sys::install(&mut cmd, map);
    let mut child = cmd.spawn().expect("spawn stub");
    drop((plan_r, theirs, keep));

    let writer = {
        let plan = plan.to_vec();
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(plan_w);
            let _ = std::io::Write::write_all(&mut f, &plan);
        })
    };
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });

    sys::set_timeout(ours.as_raw_fd(), 20);
    if let Some((fds, optional, count)) = opts.cgroup.take() {
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        sys::send_fds(
            ours.as_raw_fd(),
            &Msg::Cgroup { count, optional }.encode(),
            &raw,
        );
    }
    let mut msgs = Vec::new();
    let mut console = None;
    loop {
        let Some((bytes, fd)) = sys::recv(ours.as_raw_fd()).expect("recv from stub (timeout?)")
        else {
            break;
        };
        let msg = Msg::decode(&bytes).expect("a valid message from the stub");
        msgs.push(msg);
        let reply = match msg {
            Msg::Ready => Some(Msg::Run),
            Msg::Hooks => Some(Msg::HooksDone),
            Msg::SeccompListener => {
                assert!(fd.is_some(), "SeccompListener carries an fd");
                Some(Msg::SeccompDone)
            }
            Msg::Console => {
                console = Some(fd.expect("Console carries an fd"));
                None
            }
            Msg::Created => {
                if let Some(f) = opts.on_created.as_mut() {
                    f();
                }
                None
            }
            _ => None,
        };
        if let Some(r) = reply {
            sys::send(ours.as_raw_fd(), &r.encode());
        }
    }
    let mut tty = String::new();
    if let Some(m) = &console {
        let mut f = std::fs::File::from(m.try_clone().unwrap());
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf); // ends with EIO once the pty peer is closed
        tty = String::from_utf8_lossy(&buf).into_owned();
    }
    let status = child.wait().unwrap();
    writer.join().unwrap();
    Run {
        status,
        msgs,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
        console,
        tty,
    }
}

fn errno(e: i32) -> u32 {
    e as u32
}

/// Every syscall number, flag and ioctl the stub hard-codes equals libc's.
#[test]
fn abi_constants_match_libc() {
    macro_rules! same {
        ($($ours:ident = $theirs:expr;)*) => {
            $(assert_eq!(abi::$ours as i128, $theirs as i128, stringify!($ours));)*
        };
    }
    use libc::*;
    same! {
        SYS_READ = SYS_read; SYS_WRITE = SYS_write; SYS_CLOSE = SYS_close; SYS_FSTAT = SYS_fstat;
        SYS_RT_SIGPROCMASK = SYS_rt_sigprocmask; SYS_IOCTL = SYS_ioctl; SYS_SOCKET = SYS_socket;
        SYS_SENDTO = SYS_sendto; SYS_RECVFROM = SYS_recvfrom; SYS_SENDMSG = SYS_sendmsg;
        SYS_CLONE = SYS_clone; SYS_EXECVE = SYS_execve; SYS_FCNTL = SYS_fcntl; SYS_CHDIR = SYS_chdir; SYS_GETCWD = SYS_getcwd;
        SYS_FCHDIR = SYS_fchdir; SYS_FCHOWN = SYS_fchown; SYS_UMASK = SYS_umask; SYS_SETSID = SYS_setsid;
        SYS_SETGROUPS = SYS_setgroups; SYS_SETRESUID = SYS_setresuid; SYS_SETRESGID = SYS_setresgid;
        SYS_CAPSET = SYS_capset; SYS_PERSONALITY = SYS_personality; SYS_STATFS = SYS_statfs;
        SYS_PIVOT_ROOT = SYS_pivot_root; SYS_PRCTL = SYS_prctl; SYS_CHROOT = SYS_chroot;
        SYS_MOUNT = SYS_mount; SYS_UMOUNT2 = SYS_umount2; SYS_SETHOSTNAME = SYS_sethostname;
        SYS_SETDOMAINNAME = SYS_setdomainname; SYS_EXIT_GROUP = SYS_exit_group; SYS_KEYCTL = SYS_keyctl;
        SYS_OPENAT = SYS_openat; SYS_MKDIRAT = SYS_mkdirat; SYS_MKNODAT = SYS_mknodat;
        SYS_FCHOWNAT = SYS_fchownat; SYS_NEWFSTATAT = SYS_newfstatat; SYS_SYMLINKAT = SYS_symlinkat;
        SYS_FCHMODAT = SYS_fchmodat; SYS_FACCESSAT = SYS_faccessat; SYS_ACCEPT4 = SYS_accept4;
        SYS_DUP3 = SYS_dup3; SYS_PIPE2 = SYS_pipe2; SYS_PRLIMIT64 = SYS_prlimit64; SYS_SETNS = SYS_setns;
        SYS_SECCOMP = SYS_seccomp; SYS_OPEN_TREE = SYS_open_tree; SYS_MOVE_MOUNT = SYS_move_mount;
        SYS_CLOSE_RANGE = SYS_close_range; SYS_OPENAT2 = SYS_openat2; SYS_MOUNT_SETATTR = SYS_mount_setattr;
        SYS_GETPID = SYS_getpid; SYS_WAIT4 = SYS_wait4; SYS_KILL = SYS_kill; SYS_SETPGID = SYS_setpgid;
        SYS_RT_SIGTIMEDWAIT = SYS_rt_sigtimedwait; ESRCH = ESRCH; ECHILD = ECHILD; TIOCSPGRP = TIOCSPGRP;
        PR_CAPBSET_READ = PR_CAPBSET_READ; PR_SET_CHILD_SUBREAPER = PR_SET_CHILD_SUBREAPER;
        WNOHANG = WNOHANG;
        EPERM = EPERM; ENOENT = ENOENT; EINTR = EINTR; E2BIG = E2BIG; EBADF = EBADF; EAGAIN = EAGAIN;
        EACCES = EACCES; EEXIST = EEXIST; ENOTDIR = ENOTDIR; EINVAL = EINVAL; EROFS = EROFS; EXDEV = EXDEV;
        EPIPE = EPIPE; ENAMETOOLONG = ENAMETOOLONG; ENOSYS = ENOSYS; EPROTO = EPROTO; ENOTCONN = ENOTCONN; ELOOP = ELOOP;
        O_RDONLY = O_RDONLY; O_WRONLY = O_WRONLY; O_RDWR = O_RDWR; O_CREAT = O_CREAT; O_EXCL = O_EXCL;
        O_NOCTTY = O_NOCTTY; O_TRUNC = O_TRUNC; O_DIRECTORY = O_DIRECTORY; O_NOFOLLOW = O_NOFOLLOW;
        O_CLOEXEC = O_CLOEXEC; O_PATH = O_PATH; F_DUPFD_CLOEXEC = F_DUPFD_CLOEXEC;
        RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS; RESOLVE_IN_ROOT = RESOLVE_IN_ROOT; RESOLVE_NO_SYMLINKS = RESOLVE_NO_SYMLINKS; RESOLVE_BENEATH = RESOLVE_BENEATH;
        AT_RECURSIVE = AT_RECURSIVE; MS_STRICTATIME = MS_STRICTATIME; MS_NOSYMFOLLOW = MS_NOSYMFOLLOW;
        AT_FDCWD = AT_FDCWD; AT_SYMLINK_NOFOLLOW = AT_SYMLINK_NOFOLLOW; AT_EMPTY_PATH = AT_EMPTY_PATH;
        X_OK = X_OK; S_IFMT = S_IFMT; S_IFREG = S_IFREG; S_IFCHR = S_IFCHR;
        MS_RDONLY = MS_RDONLY; MS_NOSUID = MS_NOSUID; MS_NODEV = MS_NODEV; MS_NOEXEC = MS_NOEXEC;
        MS_REMOUNT = MS_REMOUNT; MS_NOATIME = MS_NOATIME; MS_NODIRATIME = MS_NODIRATIME;
        MS_BIND = MS_BIND; MS_MOVE = MS_MOVE; MS_REC = MS_REC; MS_PRIVATE = MS_PRIVATE;
        MS_SLAVE = MS_SLAVE; MS_SHARED = MS_SHARED; MS_UNBINDABLE = MS_UNBINDABLE; MS_RELATIME = MS_RELATIME; MNT_DETACH = MNT_DETACH;
        OPEN_TREE_CLONE = OPEN_TREE_CLONE; MOVE_MOUNT_F_EMPTY_PATH = MOVE_MOUNT_F_EMPTY_PATH; MOVE_MOUNT_T_EMPTY_PATH = MOVE_MOUNT_T_EMPTY_PATH;
        AF_INET = AF_INET; SOCK_DGRAM = SOCK_DGRAM; SOCK_CLOEXEC = SOCK_CLOEXEC;
        MSG_NOSIGNAL = MSG_NOSIGNAL; SOL_SOCKET = SOL_SOCKET; SCM_RIGHTS = SCM_RIGHTS;
        SIOCGIFFLAGS = SIOCGIFFLAGS; SIOCSIFFLAGS = SIOCSIFFLAGS; IFF_UP = IFF_UP; IFF_LOOPBACK = IFF_LOOPBACK;
        TIOCSCTTY = TIOCSCTTY; TIOCSWINSZ = TIOCSWINSZ; TIOCSPTLCK = TIOCSPTLCK; TIOCGPTPEER = TIOCGPTPEER;
        PR_SET_DUMPABLE = PR_SET_DUMPABLE; PR_SET_KEEPCAPS = PR_SET_KEEPCAPS;
        PR_CAPBSET_DROP = PR_CAPBSET_DROP; PR_SET_NO_NEW_PRIVS = PR_SET_NO_NEW_PRIVS;
        PR_CAP_AMBIENT = PR_CAP_AMBIENT; PR_CAP_AMBIENT_RAISE = PR_CAP_AMBIENT_RAISE;
        PR_CAP_AMBIENT_CLEAR_ALL = PR_CAP_AMBIENT_CLEAR_ALL;
        CLONE_NEWPID = CLONE_NEWPID; CLONE_NEWTIME = CLONE_NEWTIME; SYS_UNSHARE = SYS_unshare; SIGCHLD = SIGCHLD; SIG_SETMASK = SIG_SETMASK;
        SECCOMP_SET_MODE_FILTER = SECCOMP_SET_MODE_FILTER;
        SECCOMP_FILTER_FLAG_NEW_LISTENER = SECCOMP_FILTER_FLAG_NEW_LISTENER;
    }
    assert_eq!(abi::CAPABILITY_VERSION_3, 0x2008_0522);
    assert_eq!(abi::KEYCTL_JOIN_SESSION_KEYRING, 1);
    assert_eq!(abi::CLOSE_RANGE_CLOEXEC, 1 << 2);
    // open_tree_attr(2), Linux 6.15 (not in the libc crate yet).
    assert_eq!(abi::SYS_OPEN_TREE_ATTR, 467);
    // <linux/mount.h> MOUNT_ATTR_* (not in the libc crate).
    assert_eq!(
        [
            abi::MOUNT_ATTR_RDONLY,
            abi::MOUNT_ATTR_NOSUID,
            abi::MOUNT_ATTR_NODEV,
            abi::MOUNT_ATTR_NOEXEC
        ],
        [1, 2, 4, 8]
    );
    assert_eq!(
        [
            abi::MOUNT_ATTR__ATIME,
            abi::MOUNT_ATTR_RELATIME,
            abi::MOUNT_ATTR_NOATIME,
            abi::MOUNT_ATTR_STRICTATIME
        ],
        [0x70, 0, 0x10, 0x20]
    );
    assert_eq!(
        [abi::MOUNT_ATTR_NODIRATIME, abi::MOUNT_ATTR_NOSYMFOLLOW],
        [0x80, 0x0020_0000]
    );
    // struct layouts the wrappers hard-code.
    assert_eq!(std::mem::size_of::<libc::stat>(), 144);
    assert_eq!(std::mem::offset_of!(libc::stat, st_mode), 24);
    assert_eq!(std::mem::offset_of!(libc::stat, st_uid), 28);
    assert_eq!(std::mem::offset_of!(libc::stat, st_gid), 32);
    assert_eq!(std::mem::offset_of!(libc::stat, st_rdev), 40);
    assert_eq!(std::mem::size_of::<libc::statfs>(), 120);
    // f_flags (not exposed by libc) is the word after f_frsize.
    assert_eq!(std::mem::offset_of!(libc::statfs, f_frsize), 72);
    assert_eq!(std::mem::size_of::<libc::msghdr>(), 56);
    assert_eq!(sys::cmsg_space_len_of_int(), (24, 20));
    for (ma, mi) in [
        (1, 3),
        (5, 0),
        (136, 0x12345),
        (0xfffff, 0xffff_ffff),
        (259, 7),
    ] {
        assert_eq!(
            abi::makedev(ma, mi),
            libc::makedev(ma, mi),
            "makedev({ma}, {mi})"
        );
    }
}

#[test]
fn elf_is_static_exec_without_allocator() {
    let out = Command::new("readelf")
        .args(["-hldW", STUB])
        .output()
        .expect("readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("EXEC (Executable file)"),
        "not ET_EXEC:\n{text}"
    );
    assert!(!text.contains("INTERP"), "has PT_INTERP:\n{text}");
    assert!(!text.contains("DYNAMIC"), "has PT_DYNAMIC:\n{text}");
    assert!(
        text.contains("There is no dynamic section"),
        "has a dynamic section:\n{text}"
    );
    let nm = Command::new("nm").arg(STUB).output().expect("nm");
    let syms = String::from_utf8_lossy(&nm.stdout);
    for bad in [
        "__rust_alloc",
        "__rg_alloc",
        "__rust_no_alloc_shim",
        "malloc",
        "__libc_",
    ] {
        assert!(
            !syms.contains(bad),
            "allocator/libc symbol {bad} in the stub"
        );
    }
    let undefined = Command::new("nm").args(["-u", STUB]).output().unwrap();
    assert!(
        undefined.stdout.is_empty(),
        "undefined symbols: {}",
        String::from_utf8_lossy(&undefined.stdout)
    );
}

#[test]
fn drops_privileges_like_runc() {
    if skip_unless_root("drops_privileges_like_runc") {
        return;
    }
    const CHOWN: u64 = 1 << 0;
    const NET_BIND_SERVICE: u64 = 1 << 10;
    const NET_RAW: u64 = 1 << 13;
    let args = [
        c"sh",
        c"-c",
        c"id -u; id -g; grep -E '^(Cap|NoNewPrivs|Groups|Uid|Gid)' /proc/self/status; pwd; umask",
    ];
    let mut spec = base(&args, SH_ENV);
    spec.flags |= flags::NO_NEW_PRIVS;
    spec.uid = 1000;
    spec.gid = 1001;
    spec.additional_gids = &[27, 100];
    spec.umask = 0o027;
    spec.cwd = c"/tmp";
    spec.caps = Caps {
        bounding: CHOWN | NET_BIND_SERVICE | NET_RAW,
        effective: CHOWN | NET_BIND_SERVICE,
        permitted: CHOWN | NET_BIND_SERVICE,
        inheritable: NET_BIND_SERVICE,
        ambient: NET_BIND_SERVICE,
    };
    let run = launch(&encode(&spec), Opts::default());
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.msgs, vec![Msg::Ready], "{run:?}");
    let o = &run.stdout;
    let line = |prefix: &str| {
        o.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {o}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(o.starts_with("1000\n1001\n"), "{o}");
    assert_eq!(line("Uid:"), "1000 1000 1000 1000");
    assert_eq!(line("Gid:"), "1001 1001 1001 1001");
    assert_eq!(line("Groups:"), "27 100");
    // Only the ambient cap survives a non-root exec without file caps.
    assert_eq!(line("CapInh:"), "0000000000000400");
    assert_eq!(line("CapPrm:"), "0000000000000400");
    assert_eq!(line("CapEff:"), "0000000000000400");
    assert_eq!(line("CapBnd:"), "0000000000002401");
    assert_eq!(line("CapAmb:"), "0000000000000400");
    assert_eq!(line("NoNewPrivs:"), "1");
    assert!(o.contains("\n/tmp\n"), "{o}");
    assert!(o.ends_with("0027\n"), "{o}");
}

#[test]
fn root_keeps_planned_caps_and_fds_are_closed() {
    if skip_unless_root("root_keeps_planned_caps_and_fds_are_closed") {
        return;
    }
    // fd 5 is not preserved (preserve_fds 0): close_range marks it CLOEXEC.
    let (r, _w) = sys::pipe();
    let args = [
        c"sh",
        c"-c",
        c"ls /proc/self/fd; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status",
    ];
    let spec = base(&args, SH_ENV);
    let run = launch(
        &encode(&spec),
        Opts {
            extra: vec![(r, 5)],
            ..Default::default()
        },
    );
    assert!(run.status.success(), "{run:?}");
    let fds: Vec<&str> = run
        .stdout
        .lines()
        .take_while(|l| !l.contains(':'))
        .collect();
    // 0-2 and the fd ls itself opens for /proc/self/fd: neither the plan
    // (3), the sync socket (4) nor the unpreserved fd 5 survived.
    assert_eq!(fds, ["0", "1", "2", "3"], "{:?}", run.stdout);
    assert!(run.stdout.contains("NoNewPrivs:\t0"), "{}", run.stdout);
}

#[test]
fn preserve_fds_keeps_them_open() {
    if skip_unless_root("preserve_fds_keeps_them_open") {
        return;
    }
    let (r, w) = sys::pipe();
    std::io::Write::write_all(&mut std::fs::File::from(w), b"through fd 3\n").unwrap();
    let args = [c"sh", c"-c", c"cat <&3"];
    let mut spec = base(&args, SH_ENV);
    spec.preserve_fds = 1;
    // The plan and sync fds must then sit above the preserved ones.
    let plan = encode(&spec);
    let (plan_r, plan_w) = sys::pipe();
    let (ours, theirs) = sys::seqpacket_pair();
    let (a, b, c) = (
        sys::dup_high(r.as_raw_fd()),
        sys::dup_high(plan_r.as_raw_fd()),
        sys::dup_high(theirs.as_raw_fd()),
    );
    let mut cmd = Command::new(STUB);
    cmd.args(["--controller", "4", "5"]).stdout(Stdio::piped());
    sys::install(
        &mut cmd,
        vec![(a.as_raw_fd(), 3), (b.as_raw_fd(), 4), (c.as_raw_fd(), 5)],
    );
    let child = cmd.spawn().unwrap();
    drop((a, b, c, r, plan_r, theirs));
    std::io::Write::write_all(&mut std::fs::File::from(plan_w), &plan).unwrap();
    sys::set_timeout(ours.as_raw_fd(), 20);
    let (ready, _) = sys::recv(ours.as_raw_fd()).unwrap().unwrap();
    assert_eq!(Msg::decode(&ready), Ok(Msg::Ready));
    sys::send(ours.as_raw_fd(), &Msg::Run.encode());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through fd 3\n");
}

/// `flags::JOIN_CGROUP`: before anything else of the plan the stub takes
/// `Msg::Cgroup` and writes `0` to each fd it carries, in order (plain
/// files stand in for the `tasks` files here); a refused write (a
/// read-only fd) is tolerated where its `optional` bit is set, otherwise
/// it is `Failed{JoinCgroup, errno, index}` and nothing runs. With the
/// `UNSHARE` argument the stub is in its new uts namespace before it reads
/// the plan: the plan's hostname does not reach the host.
#[test]
fn join_cgroup_writes_each_fd_and_unshare_comes_first() {
    if skip_unless_root("join_cgroup_writes_each_fd_and_unshare_comes_first") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sprout-e2e-cg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, write: bool| -> OwnedFd {
        let p = dir.join(name);
        std::fs::write(&p, "").unwrap();
        std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .open(&p)
            .unwrap()
            .into()
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let args = [c"sh", c"-c", c"hostname"];
    let mut spec = base(&args, SH_ENV);
    spec.flags |= flags::JOIN_CGROUP;
    spec.hostname = Some(c"sprout-e2e-uts");
    let fds = vec![file("a", true), file("b", true), file("ro", false)];
    let opts = Opts {
        unshare: Some(libc::CLONE_NEWUTS as u32),
        cgroup: Some((fds, 1 << 2, 3)),
        ..Opts::default()
    };
    let run = launch(&encode(&spec), opts);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.stdout, "sprout-e2e-uts\n", "{run:?}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host,
        "the host's hostname changed"
    );
    for f in ["a", "b"] {
        assert_eq!(std::fs::read_to_string(dir.join(f)).unwrap(), "0", "{f}");
    }
    // The same read-only fd, not optional: the join fails at index 1.
    let fds = vec![file("c", true), file("ro", false)];
    let opts = Opts {
        unshare: Some(libc::CLONE_NEWUTS as u32),
        cgroup: Some((fds, 0, 2)),
        ..Opts::default()
    };
    let run = launch(&encode(&spec), opts);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(
        run.failed(),
        Some((Step::JoinCgroup, errno(libc::EBADF), 1)),
        "{run:?}"
    );
    assert_eq!(run.stdout, "", "nothing ran: {run:?}");
    // Fewer fds than the message says: a protocol error, nothing written.
    let mut spec = base(&args, SH_ENV);
    spec.flags |= flags::JOIN_CGROUP;
    let opts = Opts {
        cgroup: Some((vec![file("d", true)], 0, 2)),
        ..Opts::default()
    };
    let run = launch(&encode(&spec), opts);
    assert_eq!(
        run.failed().map(|f| (f.0, f.1)),
        Some((Step::Sync, errno(libc::EPROTO))),
        "{run:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("d")).unwrap(),
        "",
        "written despite the bad count"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_cwd_fails_chdir_enoent() {
    if skip_unless_root("missing_cwd_fails_chdir_enoent") {
        return;
    }
    let args = [c"true"];
    let mut spec = base(&args, SH_ENV);
    spec.cwd = c"/nonexistent/sprout-cwd";
    let run = launch(&encode(&spec), Opts::default());
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(
        run.failed(),
        Some((Step::Chdir, errno(libc::ENOENT), 0)),
        "{run:?}"
    );
}

#[test]
fn missing_executable_fails_resolve_enoent() {
    if skip_unless_root("missing_executable_fails_resolve_enoent") {
        return;
    }
    let args = [c"sprout-no-such-command"];
    let spec = base(&args, SH_ENV);
    let run = launch(&encode(&spec), Opts::default());
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(
        run.failed(),
        Some((Step::ResolveExec, errno(libc::ENOENT), 0)),
        "{run:?}"
    );
    // A path with a slash is not looked up in PATH, but it is checked before
    // exec (runc's LookPath in create): the same ResolveExec failure.
    let args = [c"/nonexistent/sprout-cmd"];
    let run = launch(&encode(&base(&args, SH_ENV)), Opts::default());
    assert_eq!(
        run.failed(),
        Some((Step::ResolveExec, errno(libc::ENOENT), 0)),
        "{run:?}"
    );
}

#[test]
fn non_executable_file_is_eacces() {
    if skip_unless_root("non_executable_file_is_eacces") {
        return;
    }
    // As a non-root user, a regular file without x bits is found but refused.
    let dir = tempdir("noexec");
    std::fs::write(dir.join("tool"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path_env = std::ffi::CString::new(format!("PATH={}", dir.display())).unwrap();
    let env = [path_env.as_c_str()];
    let args = [c"tool"];
    let mut spec = base(&args, &env);
    spec.uid = 1000;
    spec.gid = 1000;
    spec.caps = Caps::default();
    let run = launch(&encode(&spec), Opts::default());
    assert_eq!(
        run.failed(),
        Some((Step::ResolveExec, errno(libc::EACCES), 0)),
        "{run:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_version_fails_decode() {
    let args = [c"true"];
    let mut plan = encode(&base(&args, SH_ENV));
    plan[4..6].copy_from_slice(&99u16.to_le_bytes());
    let run = launch(&plan, Opts::default());
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(run.failed(), Some((Step::DecodePlan, 0, 99)), "{run:?}");
    assert!(
        run.stderr
            .contains("sprout-init: plan: unsupported protocol version 99"),
        "{run:?}"
    );
}

#[test]
fn truncated_plan_fails_read() {
    let args = [c"true"];
    let plan = encode(&base(&args, SH_ENV));
    let run = launch(&plan[..plan.len() - 3], Opts::default());
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(run.failed(), Some((Step::ReadPlan, 0, 0)), "{run:?}");
    assert!(
        run.stderr.contains("sprout-init: plan: truncated"),
        "{run:?}"
    );
}

#[test]
fn controller_closing_early_is_a_sync_failure() {
    // No reply to Ready: the stub sees EOF and exits 1 without exec'ing.
    let args = [c"sh", c"-c", c"echo ran"];
    let plan = encode(&base(&args, SH_ENV));
    let (plan_r, plan_w) = sys::pipe();
    let (ours, theirs) = sys::seqpacket_pair();
    let (a, b) = (
        sys::dup_high(plan_r.as_raw_fd()),
        sys::dup_high(theirs.as_raw_fd()),
    );
    let mut cmd = Command::new(STUB);
    cmd.args(["--controller", "3", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    sys::install(&mut cmd, vec![(a.as_raw_fd(), 3), (b.as_raw_fd(), 4)]);
    let child = cmd.spawn().unwrap();
    drop((a, b, plan_r, theirs));
    std::io::Write::write_all(&mut std::fs::File::from(plan_w), &plan).unwrap();
    sys::set_timeout(ours.as_raw_fd(), 20);
    let (ready, _) = sys::recv(ours.as_raw_fd()).unwrap().unwrap();
    assert_eq!(Msg::decode(&ready), Ok(Msg::Ready));
    drop(ours);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sprout-init: sync: errno"),
        "{out:?}"
    );
}

/// `seccomp(2)` BPF: `ERRNO(EPERM)` for mkdir/mkdirat, `USER_NOTIF` for
/// acct (never called), allow the rest.
fn seccomp_prog() -> Vec<u8> {
    fn ins(code: u16, jt: u8, jf: u8, k: u32) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..2].copy_from_slice(&code.to_ne_bytes());
        b[2] = jt;
        b[3] = jf;
        b[4..].copy_from_slice(&k.to_ne_bytes());
        b
    }
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    let prog = [
        ins(LD_W_ABS, 0, 0, 0),                             // A = nr
        ins(JEQ_K, 3, 0, libc::SYS_mkdir as u32),           // -> errno
        ins(JEQ_K, 2, 0, libc::SYS_mkdirat as u32),         // -> errno
        ins(JEQ_K, 2, 0, libc::SYS_acct as u32),            // -> notify
        ins(RET_K, 0, 0, 0x7fff_0000),                      // ALLOW
        ins(RET_K, 0, 0, 0x0005_0000 | libc::EPERM as u32), // ERRNO(EPERM)
        ins(RET_K, 0, 0, 0x7fc0_0000),                      // USER_NOTIF
    ];
    prog.concat()
}

#[test]
fn seccomp_filter_and_listener() {
    if skip_unless_root("seccomp_filter_and_listener") {
        return;
    }
    let dir = tempdir("seccomp");
    let script = format!(
        "mkdir {}/x && echo made || echo denied; grep Seccomp: /proc/self/status",
        dir.display()
    );
    let script = std::ffi::CString::new(script).unwrap();
    let args = [c"sh", c"-c", script.as_c_str()];
    let prog = seccomp_prog();
    for (early, listener) in [(false, false), (true, false), (false, true)] {
        let mut spec = base(&args, SH_ENV);
        spec.seccomp = &prog;
        if early {
            spec.flags |= flags::SECCOMP_EARLY;
        } else {
            spec.flags |= flags::NO_NEW_PRIVS;
        }
        spec.uid = 1000;
        spec.gid = 1000;
        spec.caps = Caps::default();
        if listener {
            spec.seccomp_flags = 1 << 3; // SECCOMP_FILTER_FLAG_NEW_LISTENER
        }
        let run = launch(&encode(&spec), Opts::default());
        assert!(run.status.success(), "{run:?}");
        assert!(run.stdout.starts_with("denied\nSeccomp:\t2"), "{run:?}");
        let want = if listener {
            vec![Msg::Ready, Msg::SeccompListener]
        } else {
            vec![Msg::Ready]
        };
        assert_eq!(run.msgs, want);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn wait_start_blocks_until_connect() {
    if skip_unless_root("wait_start_blocks_until_connect") {
        return;
    }
    use std::os::unix::net::{UnixListener, UnixStream};
    let dir = tempdir("start");
    let sock = dir.join("start.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let args = [c"sh", c"-c", c"echo started"];
    let mut spec = base(&args, SH_ENV);
    spec.flags |= flags::WAIT_START;
    spec.start_fd = 5;
    let answer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (ans, path) = (answer.clone(), sock.clone());
    let on_created = Box::new(move || {
        let mut s = UnixStream::connect(&path).unwrap();
        let mut b = Vec::new();
        s.read_to_end(&mut b).unwrap();
        *ans.lock().unwrap() = b;
    });
    let run = launch(
        &encode(&spec),
        Opts {
            extra: vec![(OwnedFd::from(listener), 5)],
            on_created: Some(on_created),
            ..Default::default()
        },
    );
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.msgs, vec![Msg::Ready, Msg::Created]);
    assert_eq!(*answer.lock().unwrap(), b"1");
    assert_eq!(run.stdout, "started\n");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn terminal_gives_a_controlling_pty() {
    if skip_unless_root("terminal_gives_a_controlling_pty") {
        return;
    }
    let args = [
        c"sh",
        c"-c",
        c"tty; stty size; echo sid=$(cut -d' ' -f6 /proc/self/stat) pid=$$",
    ];
    let mut spec = base(&args, SH_ENV);
    spec.flags |= flags::TERMINAL;
    spec.console = WinSize { rows: 31, cols: 97 };
    let run = launch(&encode(&spec), Opts::default());
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.msgs, vec![Msg::Console, Msg::Ready]);
    assert!(run.console.is_some());
    assert!(run.tty.contains("/dev/pts/"), "{run:?}");
    assert!(run.tty.contains("31 97"), "{run:?}");
    // The shell is the session leader (its pid is the sid: exec keeps the pid).
    let line = run
        .tty
        .lines()
        .find(|l| l.starts_with("sid="))
        .unwrap()
        .trim()
        .to_string();
    let (sid, pid) = line.trim_start_matches("sid=").split_once(" pid=").unwrap();
    assert_eq!(sid, pid, "{line}");
}

#[test]
fn image_mode_runs_cmd_and_applies_rlimits() {
    if skip_unless_root("image_mode_runs_cmd_and_applies_rlimits") {
        return;
    }
    let dir = tempdir("image");
    let args: [&CStr; 0] = [];
    let mut spec = base(&args, SH_ENV);
    spec.flags = flags::APPLY_RLIMITS;
    spec.rlimits = &[Rlimit {
        resource: libc::RLIMIT_NOFILE,
        soft: 321,
        hard: 654,
    }];
    spec.cwd = c"/tmp";
    let plan = dir.join("plan");
    std::fs::write(&plan, encode(&spec)).unwrap();
    let out = Command::new(STUB)
        .args([
            "--plan",
            plan.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn; pwd",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "321\n654\n/tmp\n");
    // Not found: 127 and a line on stderr; no plan file: 126 (as tini).
    let out = Command::new(STUB)
        .args(["--plan", plan.to_str().unwrap(), "sprout-nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sprout-init: exec: errno 2 (ENOENT)\n"
    );
    let out = Command::new(STUB)
        .args(["--plan", "/nonexistent/plan", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sprout-init: plan /nonexistent/plan: read: errno 2 (ENOENT)\n"
    );
    // No CMD and empty plan args: EINVAL from the lookup, 126.
    let out = Command::new(STUB)
        .args(["--plan", plan.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--controller"][..],
        &["--controller", "x", "4"],
        &["--controller", "3"],
        &["--plan"],
        // UNSHARE: decimal u32 only; a fifth argument at most.
        &["--controller", "3", "4", "0x40000000"],
        &["--controller", "3", "4", "4294967296"],
        &["--controller", "3", "4", "1", "2"],
    ] {
        let out = Command::new(STUB).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("sprout-init: usage:"));
    }
}

/// `--hook PATH ARGV0 ARGS...` (a startContainer hook exec'd through the
/// stub) execs PATH with exactly the arguments after it (`ARGV0` as
/// `argv[0]`) and the environment as given; a path that cannot be exec'd
/// is the `execve` line and 127 (ENOENT), and a missing `ARGV0` is EINVAL.
#[test]
fn hook_mode_execs_the_path_with_the_rest() {
    let out = Command::new(STUB)
        .args(["--hook", "/bin/sh", "hook-argv0", "-c", "echo $0 $FOO"])
        .env_clear()
        .env("FOO", "bar")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hook-argv0 bar\n");
    for (args, code, line) in [
        (
            &["--hook", "/no/such/hook", "x"][..],
            127,
            "sprout-init: execve: errno 2 (ENOENT)\n",
        ),
        (
            &["--hook", "/bin/sh"][..],
            126,
            "sprout-init: execve: errno 22 (EINVAL)\n",
        ),
    ] {
        let out = Command::new(STUB).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), line, "{args:?}");
    }
}

/// Joining a pid namespace by fd: the stub forks, the parent reports the
/// child's pid and exits 0, the child (pid 2 in that namespace) runs the command.
#[test]
fn joins_pid_namespace_and_forks() {
    if skip_unless_root("joins_pid_namespace_and_forks") || !have("unshare") {
        return;
    }
    let mut holder = Command::new("unshare")
        .args(["--pid", "--fork", "sleep", "60"])
        .spawn()
        .unwrap();
    let ns_path = format!("/proc/{}/ns/pid_for_children", holder.id());
    // pid_for_children of unshare(1) becomes the new namespace once it has
    // called unshare(CLONE_NEWPID).
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let ns = wait_for(|| {
        let link = std::fs::read_link(&ns_path).ok()?;
        if link == ours {
            None
        } else {
            std::fs::File::open(&ns_path).ok()
        }
    });
    let args = [c"sh", c"-c", c"echo pid=$$"];
    let nss = [Namespace {
        nstype: libc::CLONE_NEWPID as u32,
        fd: 5,
    }];
    let mut spec = base(&args, SH_ENV);
    spec.namespaces = &nss;
    let run = launch(
        &encode(&spec),
        Opts {
            extra: vec![(OwnedFd::from(ns), 5)],
            ..Default::default()
        },
    );
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(run.status.success(), "{run:?}");
    assert!(
        matches!(run.msgs[..], [Msg::Pid { pid }, Msg::Ready] if pid > 0),
        "{run:?}"
    );
    assert_eq!(run.stdout, "pid=2\n", "{run:?}");
}

/// A busybox root filesystem in a temporary directory.
struct Rootfs {
    dir: PathBuf,
    root: PathBuf,
    c: std::ffi::CString,
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rootfs_fixture(name: &str) -> Option<Rootfs> {
    if skip_unless_root(name) || !have("unshare") {
        return None;
    }
    let Some(busybox) = find_busybox() else {
        eprintln!(
            "{name}: skipped (no static busybox; run `cargo xtask` rootfs or set SPROUT_BUSYBOX)"
        );
        return None;
    };
    let dir = tempdir(name);
    let root = dir.join("root");
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "usr", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    // A hostile symlink: a mount on /evil must land on the rootfs's /tmp,
    // not the host's.
    std::os::unix::fs::symlink("/../../../../tmp", root.join("evil")).unwrap();
    std::fs::write(root.join("etc/secret"), "s3cret\n").unwrap();
    let c = std::ffi::CString::new(root.to_str().unwrap()).unwrap();
    Some(Rootfs { dir, root, c })
}

/// The mounts, devices, symlinks, sysctl, masked and read-only paths a
/// typical OCI config (runc's spec defaults) turns into. `bind_devices`:
/// bind the host's devices instead of mknod (user namespaces).
fn typical_mounts(bind_devices: bool) -> Vec<MountOp<'static>> {
    use sprout_protocol::MountKind::*;
    const MS_NOSUID: u64 = libc::MS_NOSUID;
    const MS_NODEV: u64 = libc::MS_NODEV;
    const MS_NOEXEC: u64 = libc::MS_NOEXEC;
    const MS_RDONLY: u64 = libc::MS_RDONLY;
    const CREATE: u32 = mount_opts::CREATE_TARGET;
    let m = |kind,
             target,
             src: Option<&'static CStr>,
             fstype: Option<&'static CStr>,
             flags: u64,
             data: Option<&'static CStr>| {
        let mut op = MountOp::new(kind, target);
        op.source = src;
        op.fstype = fstype;
        op.flags = flags;
        op.data = data;
        op.opts = CREATE;
        op
    };
    let dev = |target: &'static CStr, major, minor| {
        let mut op = MountOp::new(Device, target);
        op.mode = libc::S_IFCHR | 0o666;
        op.major = major;
        op.minor = minor;
        op.opts = CREATE;
        if bind_devices {
            op.opts |= mount_opts::BIND_DEVICE;
            op.source = Some(target);
        }
        op
    };
    let link = |target: &'static CStr, src: &'static CStr| {
        let mut op = MountOp::new(Symlink, target);
        op.source = Some(src);
        op
    };
    let mut sys_ro = m(
        Mount,
        c"/sys",
        Some(c"sysfs"),
        Some(c"sysfs"),
        MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
        None,
    );
    sys_ro.opts = 0;
    let mut bind_ro = m(
        Mount,
        c"/mnt/hostetc",
        Some(c"/etc"),
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    );
    bind_ro.remount_flags = MS_RDONLY;
    bind_ro.propagation = libc::MS_PRIVATE;
    let mut file_bind = m(
        Mount,
        c"/etc/hostname",
        Some(c"/etc/hostname"),
        None,
        libc::MS_BIND,
        None,
    );
    file_bind.opts = CREATE | mount_opts::TARGET_FILE;
    let mut optional = m(
        Mount,
        c"/opt/missing",
        Some(c"/nonexistent/source"),
        None,
        libc::MS_BIND,
        None,
    );
    optional.opts = CREATE | mount_opts::OPTIONAL;
    let mut sysctl = MountOp::new(WriteFile, c"/proc/sys/kernel/domainname");
    sysctl.data = Some(c"sprout.test");
    vec![
        m(
            Mount,
            c"/proc",
            Some(c"proc"),
            Some(c"proc"),
            MS_NOSUID | MS_NODEV | MS_NOEXEC,
            None,
        ),
        m(
            Mount,
            c"/dev",
            Some(c"tmpfs"),
            Some(c"tmpfs"),
            MS_NOSUID | libc::MS_STRICTATIME,
            Some(c"mode=755,size=65536k"),
        ),
        m(
            Mount,
            c"/dev/pts",
            Some(c"devpts"),
            Some(c"devpts"),
            MS_NOSUID | MS_NOEXEC,
            Some(c"newinstance,ptmxmode=0666,mode=0620"),
        ),
        m(
            Mount,
            c"/dev/shm",
            Some(c"shm"),
            Some(c"tmpfs"),
            MS_NOSUID | MS_NODEV | MS_NOEXEC,
            Some(c"mode=1777,size=65536k"),
        ),
        m(
            Mount,
            c"/dev/mqueue",
            Some(c"mqueue"),
            Some(c"mqueue"),
            MS_NOSUID | MS_NODEV | MS_NOEXEC,
            None,
        ),
        sys_ro,
        bind_ro,
        file_bind,
        optional,
        m(
            Mount,
            c"/evil",
            Some(c"tmpfs"),
            Some(c"tmpfs"),
            0,
            Some(c"size=1m"),
        ),
        dev(c"/dev/null", 1, 3),
        dev(c"/dev/zero", 1, 5),
        dev(c"/dev/full", 1, 7),
        dev(c"/dev/random", 1, 8),
        dev(c"/dev/urandom", 1, 9),
        dev(c"/dev/tty", 5, 0),
        link(c"/dev/fd", c"/proc/self/fd"),
        link(c"/dev/stdin", c"/proc/self/fd/0"),
        link(c"/dev/stdout", c"/proc/self/fd/1"),
        link(c"/dev/stderr", c"/proc/self/fd/2"),
        link(c"/dev/ptmx", c"pts/ptmx"),
        link(c"dev/core", c"/proc/kcore"),
        sysctl,
        MountOp::new(Mask, c"/proc/kcore"), // absent on some kernels: skipped
        MountOp::new(Mask, c"/proc/timer_list"),
        MountOp::new(Mask, c"/proc/acpi"),
        MountOp::new(Mask, c"/sys/firmware"),
        MountOp::new(Mask, c"/proc/does-not-exist"),
        MountOp::new(Mask, c"/etc/secret"),
        MountOp::new(ReadonlyPath, c"/proc/sys"),
        MountOp::new(ReadonlyPath, c"/proc/sysrq-trigger"),
        MountOp::new(ReadonlyPath, c"/proc/does-not-exist"),
    ]
}

/// What the container's shell reports about its root filesystem.
const INSPECT: &CStr = c"set -e
echo host=$(busybox hostname) pid=$$
for d in null zero full random urandom tty; do busybox stat -c '%n %A %t:%T' /dev/$d; done
echo links $(busybox readlink /dev/fd) $(busybox readlink /dev/ptmx) $(busybox readlink /dev/core)
echo secret=$(busybox cat /etc/secret | busybox wc -c)
echo timer_list=$(busybox cat /proc/timer_list | busybox wc -c)
echo firmware=$(busybox ls -A /sys/firmware | busybox wc -l)
busybox touch /sys/firmware/x 2>/dev/null && echo firmware-rw || echo firmware-ro
echo hostname-file=$(busybox cat /etc/hostname)
echo domain=$(busybox cat /proc/sys/kernel/domainname)
busybox touch /proc/sys/kernel/domainname 2>/dev/null && echo sys-rw || echo sys-ro
busybox touch /newfile 2>/dev/null && echo root-rw || echo root-ro
busybox touch /dev/shm/x && echo shm-rw
busybox touch /mnt/hostetc/x 2>/dev/null && echo bind-rw || echo bind-ro
echo tmp-mounts=$(busybox grep -c ' /tmp ' /proc/self/mountinfo)
busybox ip link show lo
busybox cat /proc/self/mountinfo >&2
echo done";

const INSPECTED: &[&str] = &[
    "host=sprout-test pid=1\n",
    "/dev/null crw-rw-rw- 1:3\n",
    "/dev/zero crw-rw-rw- 1:5\n",
    "/dev/urandom crw-rw-rw- 1:9\n",
    "/dev/tty crw-rw-rw- 5:0\n",
    "links /proc/self/fd pts/ptmx /proc/kcore\n",
    "secret=0\n",
    "timer_list=0\n",
    "firmware=0\n",
    "firmware-ro\n",
    "domain=sprout.test\n",
    "sys-ro\n",
    "root-ro\n",
    "shm-rw\n",
    "bind-ro\n",
    "tmp-mounts=1\n",
    ",UP",
    "done\n",
];

const CONTAINER_ENV: &[&CStr] = &[c"PATH=/bin", c"HOME=/root"];

fn unshare(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "unshare", "--mount", "--pid", "--fork", "--uts", "--ipc", "--net",
    ]
    .map(String::from)
    .to_vec();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Sets up a busybox rootfs inside `unshare --mount --pid --fork --uts --ipc
/// --net` (the namespaces the controller's clone would create) with the
/// mounts of a typical config, a read-only root, hooks before pivot and
/// loopback, then inspects it from inside.
#[test]
fn rootfs_in_new_namespaces() {
    let Some(rootfs) = rootfs_fixture("rootfs_in_new_namespaces") else {
        return;
    };
    let mounts = typical_mounts(false);
    let args = [c"/bin/sh", c"-c", INSPECT];
    let mut spec = base(&args, CONTAINER_ENV);
    spec.flags |= flags::SETUP_ROOTFS
        | flags::READONLY_ROOTFS
        | flags::LOOPBACK
        | flags::NO_NEW_PRIVS
        | flags::HOOKS_BEFORE_PIVOT;
    spec.rootfs = &rootfs.c;
    spec.hostname = Some(c"sprout-test");
    spec.mounts = &mounts;
    let run = launch(
        &encode(&spec),
        Opts {
            wrapper: unshare(&[]),
            ..Default::default()
        },
    );
    eprintln!("{}\n{}", run.stdout, run.stderr);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.msgs, vec![Msg::Hooks, Msg::Ready], "{run:?}");
    for want in INSPECTED {
        assert!(
            run.stdout.contains(want),
            "missing {want:?} in:\n{}",
            run.stdout
        );
    }
    let host = std::fs::read_to_string("/etc/hostname").unwrap();
    assert!(
        run.stdout
            .contains(&format!("hostname-file={}", host.trim())),
        "{}",
        run.stdout
    );
    // Nothing leaked to the host (unshare(1) makes its mounts private, and
    // the stub resolved /evil inside the rootfs).
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host_mounts.contains(rootfs.root.to_str().unwrap()),
        "mount leaked to the host"
    );
}

/// The same rootfs in a user namespace (`unshare --user --map-root-user`):
/// devices are bind-mounted from the host, setgroups is skipped, and the
/// read-only remounts must keep the locked flags. Also `rootfsPropagation`
/// shared, which needs the rootfs's parent mount made private for pivot_root.
#[test]
fn rootfs_in_user_namespace() {
    let Some(rootfs) = rootfs_fixture("rootfs_in_user_namespace") else {
        return;
    };
    let mounts = typical_mounts(true);
    let args = [c"/bin/sh", c"-c", INSPECT];
    let mut spec = base(&args, CONTAINER_ENV);
    spec.flags |=
        flags::SETUP_ROOTFS | flags::READONLY_ROOTFS | flags::LOOPBACK | flags::SKIP_SETGROUPS;
    spec.rootfs_propagation = libc::MS_SHARED;
    spec.rootfs = &rootfs.c;
    spec.hostname = Some(c"sprout-test");
    spec.mounts = &mounts;
    let run = launch(
        &encode(&spec),
        Opts {
            wrapper: unshare(&["--user", "--map-root-user"]),
            ..Default::default()
        },
    );
    eprintln!("{}\n{}", run.stdout, run.stderr);
    assert!(run.status.success(), "{run:?}");
    for want in INSPECTED {
        assert!(
            run.stdout.contains(want),
            "missing {want:?} in:\n{}",
            run.stdout
        );
    }
}

/// `--no-pivot` (MS_MOVE + chroot) with a terminal: the pty peer is bound
/// over /dev/console and is the shell's controlling terminal.
#[test]
fn rootfs_no_pivot_with_console() {
    let Some(rootfs) = rootfs_fixture("rootfs_no_pivot_with_console") else {
        return;
    };
    let mounts = typical_mounts(false);
    let args = [
        c"/bin/sh",
        c"-c",
        c"busybox stat -c 'console %t:%T' /dev/console; busybox tty; busybox ls /; echo done",
    ];
    let mut spec = base(&args, CONTAINER_ENV);
    spec.flags |= flags::SETUP_ROOTFS | flags::NO_PIVOT | flags::TERMINAL;
    spec.rootfs = &rootfs.c;
    spec.mounts = &mounts;
    let run = launch(
        &encode(&spec),
        Opts {
            wrapper: unshare(&[]),
            ..Default::default()
        },
    );
    eprintln!("{run:?}");
    assert!(run.status.success(), "{run:?}");
    assert_eq!(run.msgs, vec![Msg::Console, Msg::Ready], "{run:?}");
    assert!(run.tty.contains("console 88:0"), "{run:?}"); // major 136: the pts
    assert!(run.tty.contains("/dev/pts/0"), "{run:?}");
    assert!(
        run.tty.contains("busybox") || run.tty.contains("bin"),
        "{run:?}"
    );
    assert!(run.tty.contains("done"), "{run:?}");
}

fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: no {tool}");
    }
    ok
}

fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out")
}

fn tempdir(tag: &str) -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let d = base.join(format!("e2e-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A static busybox: `SPROUT_BUSYBOX`, the host's, or the one `cargo xtask`
/// unpacked under target/.
fn find_busybox() -> Option<PathBuf> {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()?
        .to_path_buf();
    let mut candidates: Vec<PathBuf> = std::env::var_os("SPROUT_BUSYBOX")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend([
        target.join("busybox-rootfs/bin/busybox"),
        target.join("busybox-deb/root/bin/busybox"),
        target.join("busybox-deb/root/usr/bin/busybox"),
        PathBuf::from("/bin/busybox"),
        PathBuf::from("/usr/bin/busybox"),
    ]);
    candidates.into_iter().find(|p| {
        p.is_file()
            && Command::new("readelf")
                .args(["-lW"])
                .arg(p)
                .output()
                .is_ok_and(|o| {
                    o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("INTERP")
                })
    })
}
