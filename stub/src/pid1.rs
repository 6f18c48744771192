//! Image mode's PID-1 duties: run the command as a child, forward signals
//! to it, reap every zombie, and exit with the command's status.
//!
//! This is what tini and catatonit do for a container (tini's README,
//! "Why tini?"; catatonit(1)): the kernel gives the init of a pid namespace
//! no default signal actions (pid_namespaces(7): only signals it has a
//! handler for are delivered from inside the namespace), and orphans are
//! reparented to it, so a plain program as PID 1 ignores `docker stop`'s
//! SIGTERM and leaves zombies behind.
//!
//! How, without an allocator or signal handlers:
//!
//! - every signal is blocked (`rt_sigprocmask`) first thing in image
//!   mode, before the plan is read, so nothing that arrives while the
//!   stub starts or the child execs is lost or acted on; blocked signals
//!   are queued even for a namespace init (tini blocks them right after
//!   parsing its arguments too);
//! - the child leads a process group of its own, the terminal's
//!   foreground one when stdin is a terminal;
//! - the child clears its mask again (`exec::exec`) and execs; the stub
//!   installs no handlers, so the command gets the dispositions the stub
//!   was started with (a reset of the stub's own changes, as tini does);
//! - the parent loops in `rt_sigtimedwait(all)`: `SIGCHLD` reaps with
//!   `wait4(-1, WNOHANG)` until nothing is left to reap (one SIGCHLD may
//!   stand for many exits); any other signal is sent on with `kill(2)` to
//!   the child, or to its process group with `--pgroup` (tini `-g`),
//!   except, as tini, the synchronous ones (SIGILL, SIGTRAP, SIGABRT,
//!   SIGBUS, SIGFPE, SIGSEGV, SIGSYS) and SIGTTIN/SIGTTOU;
//! - when the command itself is reaped, the stub exits with its exit code,
//!   or 128+N if signal N killed it (tini and catatonit do the same; the
//!   shell convention of sh(1)). The rest of the namespace is then killed by
//!   the kernel as the init exits.
//!
//! The privilege drop of the plan happened before the fork, so the stub
//! (like su-exec under tini) keeps running with the command's identity:
//! `kill(2)` to a child with the same real uid is always allowed.

use core::convert::Infallible;
use core::ffi::CStr;

use sprout_protocol::Step;

use crate::exec;
use crate::fail::{At, Res, die};
use crate::sync::Sync;
use crate::sys::{self, CStrVec, Errno, abi};

const SIGCHLD: u32 = abi::SIGCHLD as u32;

/// Signals the supervisor takes but does not forward (bit N: signal N):
/// SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS (tini leaves
/// these synchronous signals out) and SIGTTIN, SIGTTOU (tini ignores them:
/// forwarded, they stop the command and the container hangs).
const NOT_FORWARDED: u64 =
    1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 11 | 1 << 31 | 1 << 21 | 1 << 22;

/// Forks and execs `exe` (see the module docs); never returns on success.
/// The child always gets a process group of its own and the terminal's
/// foreground, when stdin is one (tini's `isolate_child`): the command,
/// not the init, gets ^C from the terminal, once, and may read the tty.
/// (In the init's group, a ^C reached the command twice: from the
/// terminal, and forwarded by the init, which got one too.) `pgroup`:
/// signals go to the child's whole group (tini `-g`), else to the child.
/// `subreaper`: `PR_SET_CHILD_SUBREAPER`, for a stub that is not PID 1 but
/// should still reap orphans (tini `-s`).
///
/// Every signal must be blocked already ([`sys::block_all_signals`]):
/// they wait, queued, to be forwarded.
pub fn supervise(
    exe: &CStr,
    argv: &CStrVec,
    envp: &CStrVec,
    pgroup: bool,
    subreaper: bool,
) -> Res<Infallible> {
    if subreaper {
        sys::set_child_subreaper().at(Step::Spawn, 0)?;
    }
    // (Every signal is blocked since the start of image mode, see `main`.)
    let child = sys::fork().at(Step::Spawn, 0)?;
    if child == 0 {
        // Errors: not a terminal (ENOTTY) is the usual case; ignore. (With
        // every signal blocked, `tcsetpgrp` from the background group is
        // not stopped by SIGTTOU.)
        let _ = sys::setpgid(0, 0);
        let _ = sys::tcsetpgrp(0, sys::getpid());
        // An exec failure exits 127 (not found) or 126 from the child, and
        // the parent passes that status on.
        die(&Sync::new(None), exec::exec(exe, argv, envp))
    }
    // Also from the parent, so the group exists before any forwarding
    // (EACCES once the child has exec'd: then it did it itself).
    let _ = sys::setpgid(child, child);
    let target = if pgroup {
        -(child as i32)
    } else {
        child as i32
    };
    loop {
        match sys::wait_signal() {
            Ok(SIGCHLD) => {
                if let Some(status) = reap(child) {
                    sys::exit(exit_code(status))
                }
            }
            // Not forwarded, as tini: the synchronous ones (a fault of
            // the init's own, not the command's business) and SIGTTIN/
            // SIGTTOU, which would stop the command for good.
            Ok(sig) if sig < 64 && (NOT_FORWARDED >> sig) & 1 != 0 => {}
            Ok(sig) => {
                // A group that is already gone: the child may still be
                // there (it left the group); errors are not fatal.
                if sys::kill(target, sig) == Err(Errno::SRCH) && pgroup {
                    let _ = sys::kill(child as i32, sig);
                }
            }
            Err(_) => {}
        }
    }
}

/// Reaps every child that has ended; returns the wait status of `child`
/// if it was among them.
fn reap(child: u32) -> Option<u32> {
    let mut ours = None;
    while let Ok(Some((pid, status))) = sys::reap_one() {
        if pid == child {
            ours = Some(status);
        }
    }
    ours
}

/// The exit code for a wait(2) status: `WEXITSTATUS`, or 128 + `WTERMSIG`.
fn exit_code(status: u32) -> i32 {
    let sig = status & 0x7f;
    if sig == 0 {
        ((status >> 8) & 0xff) as i32
    } else {
        128 + sig as i32
    }
}
