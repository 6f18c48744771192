//! `sprout-init`: the static, allocation-free stub that runs inside the new
//! container namespaces. It reads the plan the controller precomputed
//! (sprout-protocol), performs the setup in runc's order, and execs the
//! container process. It decides nothing the controller could decide.
//!
//! ```text
//! sprout-init --controller PLANFD SYNCFD [UNSHARE]  (launched by `sprout`)
//! sprout-init [--plan FILE] [--subreaper] [--pgroup] [--exec] [--] [CMD [ARGS...]]
//!                                              (image mode, default plan /etc/sprout/plan)
//! sprout-init --hook PATH ARGV0 [ARGS...]       (a startContainer hook: exec PATH)
//! ```
//!
//! Image mode (the stub copied into a minimal image as its entrypoint,
//! with a plan compiled by `sprout plan --rootfs`): apply the plan, then
//! - as PID 1, with `--subreaper` or a plan with `SUBREAPER`: fork the
//!   command and do an init's duties for it (`pid1`: forward signals, reap
//!   zombies, exit with its status), as tini and catatonit do;
//! - otherwise, or with `--exec`: exec the command (gosu/su-exec's use).
//!
//! `CMD` defaults to the plan's args. The command's environment is the
//! inherited one with the plan's entries set over it (as env(1) would).
//!
//! Order of work (controller mode), see `run`:
//! harden → read plan → setns (+fork) → hostname/loopback → rootfs
//! (mounts, the cgroup joined at its op, devices, hooks, pivot_root) → console (else `setsid`) → masked/read-only paths →
//! read-only root → Ready/Run → privileges (`user`) → Created/start → exec.
//! Image mode runs only the part from Ready/Run (skipped: no controller) on.
//!
//! Failures (see `fail`): controller mode sends `Failed{step, errno, arg}`
//! on the sync socket and exits 1; image mode prints
//! `sprout-init: <step>: errno N (ENAME)` and exits 127 (command not found) or 126,
//! before anything ran (the whole plan is applied before the fork).
//! A plan that cannot be read or decoded always also gets a stderr line and
//! exits 1 (126 in image mode); usage errors exit 2.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod console;
mod exec;
mod fail;
mod ns;
mod pid1;
mod plan;
mod rootfs;
mod sync;
#[allow(unsafe_code)]
mod sys;
mod user;

use core::ffi::CStr;

use sprout_protocol::{Msg, Plan, Step, flags};

use crate::fail::{At, Fail, Line, Res, die};
use crate::sync::Sync;
use crate::sys::Args;

/// Default plan file in image mode.
const DEFAULT_PLAN: &CStr = c"/etc/sprout/plan";

/// How the stub was started.
enum Mode {
    /// `--controller PLANFD SYNCFD [UNSHARE]`: `UNSHARE`, decimal
    /// `CLONE_NEW*` flags, are unshared before the plan is read (the
    /// controller computes the plan while the kernel makes them).
    Controller {
        plan_fd: u32,
        sync_fd: u32,
        unshare: u32,
    },
    /// Image mode: plan file, the index in argv where `CMD` starts
    /// (`argc` when no command was given: the plan's args are used), and
    /// the options.
    Image {
        plan: &'static CStr,
        cmd: usize,
        /// `--subreaper`: supervise even when not PID 1 (tini `-s`).
        subreaper: bool,
        /// `--pgroup`: the command in its own process group, which gets the
        /// forwarded signals (tini `-g`).
        pgroup: bool,
        /// `--exec`: exec the command even as PID 1 (no supervision).
        exec: bool,
    },
}

fn usage() -> ! {
    Line::new()
        .push(b"usage: sprout-init --controller PLANFD SYNCFD [UNSHARE] | sprout-init [--plan FILE] [--subreaper] [--pgroup] [--exec] [--] CMD [ARGS...]")
        .emit();
    sys::exit(2)
}

/// A decimal `u32` argument (an fd number, or the `UNSHARE` flags); anything
/// else is a usage error.
fn parse_fd(s: Option<&CStr>) -> u32 {
    let Some(s) = s else { usage() };
    let b = s.to_bytes();
    let mut n: u32 = 0;
    if b.is_empty() || b.len() > 10 {
        usage()
    }
    for &c in b {
        if !c.is_ascii_digit() {
            usage()
        }
        let Some(m) = n
            .checked_mul(10)
            .and_then(|m| m.checked_add((c - b'0') as u32))
        else {
            usage()
        };
        n = m;
    }
    n
}

fn parse_args(args: &Args) -> Mode {
    let arg = |i| args.get(i).map(CStr::to_bytes);
    if arg(1) == Some(b"--controller") {
        if args.len() != 4 && args.len() != 5 {
            usage()
        }
        return Mode::Controller {
            plan_fd: parse_fd(args.get(2)),
            sync_fd: parse_fd(args.get(3)),
            unshare: if args.len() == 5 {
                parse_fd(args.get(4))
            } else {
                0
            },
        };
    }
    let mut i = 1;
    let mut plan = DEFAULT_PLAN;
    let (mut subreaper, mut pgroup, mut exec) = (false, false, false);
    loop {
        match arg(i) {
            Some(b"--plan") => {
                let Some(p) = args.get(i + 1) else { usage() };
                plan = p;
                i += 1;
            }
            Some(b"--subreaper") => subreaper = true,
            Some(b"--pgroup") => pgroup = true,
            Some(b"--exec") => exec = true,
            Some(b"--") => {
                i += 1;
                break;
            }
            Some([b'-', ..]) => usage(),
            _ => break,
        }
        i += 1;
    }
    Mode::Image {
        plan,
        cmd: i,
        subreaper,
        pgroup,
        exec,
    }
}

/// The entry point, called by `sys::rt` with the process arguments.
pub fn main(args: Args) -> ! {
    // `--hook PATH ARGV0 [ARGS...]`: a startContainer hook, whose process
    // the controller prepared (namespaces, credentials, seccomp) and
    // exec'd as this sealed memfd: exec PATH at once, the only system call
    // here, so that nothing in the container ever sees the host's sprout as
    // a process's /proc/PID/exe, not even through a PATH or `#!` line that
    // names /proc/self/exe (CVE-2019-5736).
    if args.get(1).map(CStr::to_bytes) == Some(b"--hook") {
        let e = args.exec_from(2);
        die(&Sync::new(None), Fail::new(Step::Execve, e, 0))
    }
    // First of all (CVE-2016-9962, runc's nsexec): not dumpable, so nothing
    // in the container can ptrace us or open our /proc entries until exec.
    let hardened = sys::set_dumpable(false);
    let mode = parse_args(&args);
    let sync = Sync::new(match mode {
        Mode::Controller { sync_fd, .. } => Some(sys::fd(sync_fd)),
        Mode::Image { .. } => None,
    });
    if let Err(e) = hardened {
        die(&sync, Fail::new(Step::Dumpable, e, 0))
    }
    // Image mode: every signal waits, queued, from now on, for the
    // command (`exec::exec` unblocks them) or to be forwarded to it
    // (`pid1::supervise`): a SIGTERM to a starting PID 1 is not lost.
    if let Mode::Image { .. } = mode
        && let Err(e) = sys::block_all_signals()
    {
        die(&sync, Fail::new(Step::Spawn, e, 0))
    }
    if let Mode::Controller { unshare, .. } = mode
        && unshare != 0
        && let Err(e) = sys::unshare(unshare)
    {
        die(&sync, Fail::new(Step::Unshare, e, 0))
    }
    let Some(mut arena) = sys::arena() else {
        sys::exit(125)
    };
    let plan = plan::load(&mode, &mut arena, &sync);
    // The rest of the arena, right after the plan: argv, envp, the path
    // scratch buffer and the groups (see `sys::Arena`).
    let (n_args, n_env) = match mode {
        Mode::Image { cmd, .. } if cmd < args.len() => {
            (args.len() - cmd, plan.env.len() + args.env().count())
        }
        Mode::Image { .. } => (plan.args.len(), plan.env.len() + args.env().count()),
        Mode::Controller { .. } => (plan.args.len(), plan.env.len()),
    };
    let bufs = (
        arena.cstr_vec(n_args),
        arena.cstr_vec(n_env),
        arena.path_buf(),
        arena.u32s(plan.additional_gids.len()),
    );
    let (Some(mut argv), Some(mut envp), Some(path), Some(gids)) = bufs else {
        die(&sync, Fail::new(Step::Execve, sys::Errno::TOOBIG, 0))
    };
    let Err(f) = run(&mode, &args, &plan, &sync, &mut argv, &mut envp, gids, path);
    die(&sync, f)
}

/// Everything after the plan is decoded; returns only on failure.
#[allow(clippy::too_many_arguments)]
fn run(
    mode: &Mode,
    args: &Args,
    plan: &Plan<'static>,
    sync: &Sync,
    argv: &mut sys::CStrVec,
    envp: &mut sys::CStrVec,
    gids: &mut [u32],
    path: &mut [u8; sys::PATH_MAX],
) -> Res<core::convert::Infallible> {
    let mut cmd = None;
    match *mode {
        Mode::Controller { .. } => {
            ns::join(plan, sync)?;
            ns::identity(plan)?;
            if plan.has(flags::SETUP_ROOTFS) {
                rootfs::prepare(plan, sync, path)?;
            }
            if plan.has(flags::TERMINAL) {
                console::setup(plan, sync)?;
            } else {
                // A session of its own, as runc's and crun's container
                // processes (`run`, `exec`): not in the caller's process
                // group or session, so no controlling terminal. Otherwise
                // a container started from a shell could open the shell's
                // terminal as /dev/tty (and TIOCSTI into it), and got the
                // terminal's job-control signals itself besides the ones
                // the controller forwards.
                sys::setsid().at(Step::Setsid, 0)?;
            }
            if plan.has(flags::SETUP_ROOTFS) {
                rootfs::finish(plan)?;
            }
        }
        Mode::Image { cmd: i, .. } => {
            if i < args.len() {
                cmd = Some(i);
            }
        }
    }
    if plan.has(flags::SYNC) && sync.is_connected() {
        // The controller applies rlimits (prlimit) and oom_score_adj now.
        sync.send(Msg::Ready)?;
        sync.expect(Msg::Run)?;
    }
    if plan.has(flags::APPLY_RLIMITS) {
        for (i, rl) in plan.rlimits.iter().enumerate() {
            sys::setrlimit(rl.resource, rl.soft, rl.hard).at(Step::Rlimit, i as u32)?;
        }
    }
    // argv: the plan's args, or CMD... in image mode.
    let arg0 = match cmd {
        Some(i) => {
            for j in i..args.len() {
                if let Some(a) = args.get(j) {
                    argv.push(a).at(Step::Execve, 0)?;
                }
            }
            args.get(i)
        }
        None => {
            for a in plan.args.iter() {
                argv.push(a).at(Step::Execve, 0)?;
            }
            plan.args.get(0)
        }
    };
    for e in plan.env.iter() {
        envp.push(e).at(Step::Execve, 0)?;
    }
    if let Mode::Image { .. } = mode {
        // The inherited environment, minus the names the plan sets.
        for e in args.env() {
            if !plan.env.iter().any(|p| same_name(p, e)) {
                envp.push(e).at(Step::Execve, 0)?;
            }
        }
    }
    let exe = user::finalize(plan, sync, arg0, envp, gids, path)?;
    // Held open until the exec (see `wait_start`).
    let _started = exec::wait_start(plan, sync)?;
    if let Mode::Image {
        subreaper,
        pgroup,
        exec: false,
        ..
    } = *mode
    {
        let pid1 = sys::getpid() == 1;
        let subreaper = !pid1 && (subreaper || plan.has(flags::SUBREAPER));
        if pid1 || subreaper {
            return pid1::supervise(exe, argv, envp, pgroup, subreaper);
        }
    }
    Err(exec::exec(exe, argv, envp))
}

/// With [`flags::PDEATHSIG`] (a foreground `run` or `exec`), sets
/// `PR_SET_PDEATHSIG(SIGKILL)` again after the last change of credentials
/// and before the seccomp filter (`user::finalize`: a profile may deny
/// `prctl`, which runc's containers run with). The controller set it
/// on its child, but the kernel clears it on every change of the effective
/// or filesystem uid or gid and on a capability gain (prctl(2),
/// `commit_creds`), and at an exec that gains privileges (the stub's own
/// exec into a new user namespace, before the id maps): the switch to a
/// non-root `process.user`, a user namespace. Without this, killing a
/// foreground `run` or `exec` of such a container left its process
/// running. A controller that died before the signal was set again cannot
/// deliver it: its closed sync socket ends the stub instead.
pub fn rearm_pdeathsig(plan: &Plan<'_>, sync: &Sync) -> Res<()> {
    if !plan.has(flags::PDEATHSIG) || !sync.is_connected() {
        return Ok(());
    }
    sys::set_pdeathsig_kill().at(Step::Sync, 0)?;
    if sync.peer_gone() {
        return Err(Fail::new(Step::Sync, sys::Errno::PIPE, 0));
    }
    Ok(())
}

/// Whether two `NAME=value` entries set the same variable.
fn same_name(a: &CStr, b: &CStr) -> bool {
    fn name(s: &CStr) -> &[u8] {
        let b = s.to_bytes();
        b.split(|&c| c == b'=').next().unwrap_or(b)
    }
    name(a) == name(b)
}
