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
//! - every signal is blocked (`rt_sigprocmask`) *before* the fork, so
//!   nothing that arrives while the child starts is lost or acted on;
//!   blocked signals are queued even for a namespace init;
//! - the child clears its mask again (`exec::exec`) and execs; the stub
//!   installs no handlers, so the command gets the dispositions the stub
//!   was started with (a reset of the stub's own changes, as tini does);
//! - the parent loops in `rt_sigtimedwait(all)`: `SIGCHLD` reaps with
//!   `wait4(-1, WNOHANG)` until nothing is left to reap (one SIGCHLD may
//!   stand for many exits); any other signal is sent on with `kill(2)` to
//!   the child, or to its process group with `--pgroup` (tini `-g`);
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

/// Forks and execs `exe` (see the module docs); never returns on success.
/// `pgroup`: the child gets a process group of its own (and the terminal's
/// foreground, when stdin is one: tini does the same so that the command,
/// not the init, gets ^C and may read the tty), and signals go to that
/// group. `subreaper`: `PR_SET_CHILD_SUBREAPER`, for a stub that is not
/// PID 1 but should still reap orphans (tini `-s`).
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
    sys::block_all_signals().at(Step::Spawn, 0)?;
    let child = sys::fork().at(Step::Spawn, 0)?;
    if child == 0 {
        if pgroup {
            // Errors: not a terminal (ENOTTY) is the usual case; ignore.
            let _ = sys::setpgid(0, 0);
            let _ = sys::tcsetpgrp(0, sys::getpid());
        }
        // An exec failure exits 127 (not found) or 126 from the child, and
        // the parent passes that status on.
        die(&Sync::new(None), exec::exec(exe, argv, envp))
    }
    if pgroup {
        // Also from the parent, so the group exists before any forwarding
        // (EACCES once the child has exec'd: then it did it itself).
        let _ = sys::setpgid(child, child);
    }
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
