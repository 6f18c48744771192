//! `linux.seccomp` compiled ahead of time to a classic BPF program with
//! libseccomp (`seccomp_export_bpf(3)`), carried in the plan as raw
//! `struct sock_filter` records and loaded by the stub with `seccomp(2)`.
//!
//! Mapping (OCI runtime spec, config-linux.md "Seccomp"; runc
//! `libcontainer/seccomp`): `defaultAction`/`defaultErrnoRet`,
//! `architectures` (added to the native one), and per rule
//! `names`/`action`/`errnoRet`/`args`. For `SCMP_CMP_MASKED_EQ` the OCI
//! `value` is the mask and `valueTwo` the datum (libseccomp's
//! `SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, mask, datum)`). Args naming the same
//! index twice are OR-ed: each becomes its own rule, as runc does, since
//! libseccomp compares an argument once per rule. Rules whose action
//! equals the default are skipped (libseccomp refuses them), and so are
//! syscall names this libseccomp does not know (newer than it): a debug
//! note, not an error.
//!
//! Unless the default action lets calls through, the program starts with
//! runc's -ENOSYS stub ([`enosys`]): a syscall numbered above the highest
//! one the rules name (per architecture) fails with `ENOSYS`, not the
//! default action, so that libcs fall back from syscalls newer than the
//! profile (`clone3`, `faccessat2`, ...).
//!
//! `flags` map to `SECCOMP_FILTER_FLAG_*`; one the running kernel does not
//! know is dropped with a warning (probed with `seccomp(2)` and a NULL
//! program: `EFAULT` = known, `EINVAL` = unknown). `SCMP_ACT_NOTIFY` adds
//! `SECCOMP_FILTER_FLAG_NEW_LISTENER` and needs `listenerPath`: the stub
//! hands the listener fd to the controller, which sends it to that socket
//! with the container process state ([`send_listener`]; runtime-spec
//! runtime.md / config-linux.md "seccomp": a JSON `ContainerProcessState`
//! with the fd as `SCM_RIGHTS`).
//!
//! # The stub's own syscalls after the load
//!
//! The stub loads the filter as its last privileged step (with
//! `noNewPrivileges` false it keeps CAP_SYS_ADMIN effective until then,
//! see [`sprout_protocol::flags::SECCOMP_EARLY`]); after it, it still
//! needs a handful of syscalls: the listener handoff (`sendmsg`,
//! `recvfrom`, `close`), the start wait of `create` (`sendmsg`, `accept4`,
//! `sendto`, `close`), then `rt_sigprocmask` and `execve` (and `exit_group`
//! on an error). [`check_stub_syscalls`] runs the compiled program on exactly
//! those calls (a small classic-BPF interpreter, [`bpf`]) and refuses a
//! profile that would not allow one of them — a denied call would fail
//! the start; a notified one is fine once the agent has the listener (it
//! answers it), and would deadlock before (the hand-over's `sendmsg` and
//! `recvfrom`, an error's `exit_group`: nobody has the listener yet).

use std::io::{IoSlice, Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};

use crate::error::{Error, Result, warn};

mod cache;
mod enosys;

/// The kernel's limit on a BPF program (`BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = 4096;

/// `SECCOMP_FILTER_FLAG_*` (`<linux/seccomp.h>`).
pub mod filter_flags {
    /// `SECCOMP_FILTER_FLAG_TSYNC`.
    pub const TSYNC: u32 = 1;
    /// `SECCOMP_FILTER_FLAG_LOG`.
    pub const LOG: u32 = 2;
    /// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`.
    pub const SPEC_ALLOW: u32 = 4;
    /// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
    pub const NEW_LISTENER: u32 = 8;
    /// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19).
    pub const WAIT_KILLABLE_RECV: u32 = 32;
}

/// Where the notify listener goes (`linux.seccomp.listenerPath`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listener {
    /// The agent's socket (`listenerPath`, absolute).
    pub path: PathBuf,
    /// `listenerMetadata`, passed on as `metadata`.
    pub metadata: String,
}

/// A compiled filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    /// The BPF program: 8-byte `struct sock_filter` records.
    pub program: Vec<u8>,
    /// `SECCOMP_FILTER_FLAG_*` bits for `seccomp(2)`.
    pub flags: u32,
    /// Syscall names skipped because this libseccomp does not know them.
    pub skipped: Vec<String>,
    /// Set when a rule (or the default) is `SCMP_ACT_NOTIFY`.
    pub listener: Option<Listener>,
}

/// The libseccomp action of an OCI action; `errno` is `errnoRet` (EPERM
/// when absent, as runc). `errnoRet` with an action that takes no errno
/// is an error naming the field.
fn action(field: &str, a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    let errno_given = errno.is_some();
    let errno = errno.unwrap_or(libc::EPERM as u32);
    let act = match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            // libseccomp takes errno values below its MAX_ERRNO, 4095.
            if errno > 4094 {
                crate::bail!("{field}: errnoRet {errno} is out of range (at most 4094)");
            }
            return Ok(ScmpAction::Errno(errno as i32));
        }
        LinuxSeccompAction::ScmpActTrace => {
            if errno > u16::MAX as u32 {
                crate::bail!("{field}: errnoRet {errno} is out of range (at most 65535)");
            }
            return Ok(ScmpAction::Trace(errno as u16));
        }
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    };
    if errno_given {
        crate::bail!("{field}: errnoRet is only meaningful with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
    }
    Ok(act)
}

/// The comparator of one OCI argument condition.
fn compare(field: &str, arg: &oci_spec::runtime::LinuxSeccompArg) -> Result<ScmpArgCompare> {
    if arg.index() > 5 {
        crate::bail!(
            "{field}: argument index {} is out of range (0-5)",
            arg.index()
        );
    }
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return Ok(ScmpArgCompare::new(
                arg.index() as u32,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            ));
        }
    };
    Ok(ScmpArgCompare::new(arg.index() as u32, op, arg.value()))
}

/// The condition sets of one rule: one set normally; one set per
/// condition when an argument index repeats (OR semantics, as runc).
fn condition_sets(field: &str, rule: &LinuxSyscall) -> Result<Vec<Vec<ScmpArgCompare>>> {
    let args = rule.args().clone().unwrap_or_default();
    let cmps: Vec<ScmpArgCompare> = args
        .iter()
        .map(|a| compare(field, a))
        .collect::<Result<_>>()?;
    let mut seen = [false; 6];
    let repeats = args
        .iter()
        .any(|a| std::mem::replace(&mut seen[a.index()], true));
    Ok(if repeats {
        cmps.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![cmps]
    })
}

fn lib_err(field: &str, e: libseccomp::error::SeccompError) -> Error {
    Error::invalid(format!("{field}: libseccomp: {e}"))
}

/// The names of the `SECCOMP_FILTER_FLAG_*` bits in `flags`, for `sprout plan`.
pub fn flag_names(flags: u32) -> Vec<&'static str> {
    [
        (filter_flags::TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"),
        (filter_flags::LOG, "SECCOMP_FILTER_FLAG_LOG"),
        (filter_flags::SPEC_ALLOW, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
        (
            filter_flags::NEW_LISTENER,
            "SECCOMP_FILTER_FLAG_NEW_LISTENER",
        ),
        (
            filter_flags::WAIT_KILLABLE_RECV,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        ),
    ]
    .into_iter()
    .filter(|(b, _)| flags & b != 0)
    .map(|(_, n)| n)
    .collect()
}

/// The OCI names of the filter flags the running kernel has (for
/// `sprout features`).
pub fn supported_flag_names() -> Vec<&'static str> {
    [
        (filter_flags::TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"),
        (filter_flags::LOG, "SECCOMP_FILTER_FLAG_LOG"),
        (filter_flags::SPEC_ALLOW, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
        (
            filter_flags::WAIT_KILLABLE_RECV | filter_flags::NEW_LISTENER,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        ),
    ]
    .into_iter()
    .filter(|(b, _)| crate::sys::seccomp_flags_known(*b))
    .map(|(_, n)| n)
    .collect()
}

/// The OCI name of a filter flag.
fn flag_name(f: &LinuxSeccompFilterFlag) -> &'static str {
    match f {
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => "SECCOMP_FILTER_FLAG_LOG",
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => "SECCOMP_FILTER_FLAG_TSYNC",
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
        }
    }
}

/// The `seccomp(2)` flags of `linux.seccomp.flags` this kernel has (a
/// flag it lacks is dropped with a warning), plus NEW_LISTENER for a
/// NOTIFY filter. TSYNC is dropped with NOTIFY (the kernel refuses the
/// pair; the stub is single-threaded, so TSYNC changes nothing anyway);
/// WAIT_KILLABLE_RECV without NOTIFY is dropped with a warning (the kernel
/// refuses it without a listener, and it only concerns notifications).
fn filter_flags_of(s: &LinuxSeccomp, notify: bool) -> u32 {
    let mut flags = if notify {
        filter_flags::NEW_LISTENER
    } else {
        0
    };
    for f in s.flags().iter().flatten() {
        let (bit, name) = match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => (filter_flags::LOG, flag_name(f)),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync if notify => continue,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => (filter_flags::TSYNC, flag_name(f)),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                (filter_flags::SPEC_ALLOW, flag_name(f))
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if !notify => {
                warn(format!(
                    "linux.seccomp.flags: {} without a SCMP_ACT_NOTIFY rule has no effect; not used",
                    flag_name(f)
                ));
                continue;
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                (filter_flags::WAIT_KILLABLE_RECV, flag_name(f))
            }
        };
        let probe = if bit == filter_flags::WAIT_KILLABLE_RECV {
            bit | filter_flags::NEW_LISTENER
        } else {
            bit
        };
        if crate::sys::seccomp_flags_known(probe) {
            flags |= bit;
        } else {
            warn(format!(
                "linux.seccomp.flags: {name} is not supported by this kernel; not used"
            ));
        }
    }
    flags
}

/// Compiles `linux.seccomp`. `debug` prints the skipped names.
///
/// Errors name the field: an unknown architecture, a rule libseccomp
/// rejects, `errnoRet` with an action that takes none, `SCMP_ACT_NOTIFY`
/// without an absolute `listenerPath`, a program above
/// [`MAX_INSTRUCTIONS`], a filter that does not allow the stub's own last
/// syscalls ([`check_stub_syscalls`]).
///
/// The program comes from the cache of earlier compilations of the same
/// profile when there is one ([`cache`]): libseccomp then does nothing.
pub fn compile(s: &LinuxSeccomp, debug: bool) -> Result<Compiled> {
    let key = cache::key(s);
    if let Some(hit) = key.as_deref().and_then(cache::load) {
        if debug {
            for name in &hit.skipped {
                crate::error::debug(format_args!(
                    "linux.seccomp: skipping syscall \"{name}\" unknown to libseccomp (cached)"
                ));
            }
        }
        let listener = listener_of(s, hit.notify)?;
        check_stub_syscalls(&hit.program, hit.notify, false)?;
        return Ok(Compiled {
            flags: filter_flags_of(s, hit.notify),
            program: hit.program,
            skipped: hit.skipped,
            listener,
        });
    }
    let c = compile_uncached(s, debug)?;
    if let Some(k) = key {
        let entry = cache::Entry {
            program: c.program.clone(),
            notify: c.listener.is_some(),
            skipped: c.skipped.clone(),
        };
        cache::store(&k, &entry);
    }
    Ok(c)
}

/// `listenerPath` and `listenerMetadata` when a rule notifies.
///
/// Errors: `SCMP_ACT_NOTIFY` without an absolute `listenerPath`.
fn listener_of(s: &LinuxSeccomp, notify: bool) -> Result<Option<Listener>> {
    Ok(match (notify, s.listener_path()) {
        (true, None) => {
            crate::bail!("linux.seccomp.listenerPath: required by the SCMP_ACT_NOTIFY action")
        }
        (true, Some(p)) if !p.is_absolute() => {
            crate::bail!(
                "linux.seccomp.listenerPath \"{}\": must be an absolute path",
                p.display()
            )
        }
        (true, Some(p)) => Some(Listener {
            path: p.clone(),
            metadata: s.listener_metadata().clone().unwrap_or_default(),
        }),
        (false, Some(p)) => {
            warn(format!(
                "linux.seccomp.listenerPath \"{}\": no rule uses SCMP_ACT_NOTIFY; nothing is sent to it",
                p.display()
            ));
            None
        }
        (false, None) => None,
    })
}

/// [`compile`] with libseccomp, without the cache.
fn compile_uncached(s: &LinuxSeccomp, debug: bool) -> Result<Compiled> {
    // (action's errors are all about the errno: they name that field.)
    let default = action(
        "linux.seccomp.defaultErrnoRet",
        s.default_action(),
        s.default_errno_ret(),
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| lib_err("linux.seccomp", e))?;
    let mut arches = Vec::new();
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let a = ScmpArch::from_str(&name)
            .map_err(|_| Error::invalid(format!("{field} \"{name}\": unknown architecture")))?;
        ctx.add_arch(a).map_err(|e| lib_err(&field, e))?;
        arches.push(a);
    }
    let mut notify = default == ScmpAction::Notify;
    let mut skipped = Vec::new();
    for (i, rule) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let act = action(&field, rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let sets = condition_sets(&field, rule)?;
        for name in rule.names() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                if debug {
                    crate::error::debug(format_args!(
                        "{field}: skipping syscall \"{name}\" unknown to libseccomp"
                    ));
                }
                skipped.push(name.clone());
                continue;
            };
            notify |= act == ScmpAction::Notify;
            for set in &sets {
                ctx.add_rule_conditional(act, nr, set)
                    .map_err(|e| lib_err(&format!("{field} \"{name}\""), e))?;
            }
        }
    }
    let listener = listener_of(s, notify)?;
    let flags = filter_flags_of(s, notify);
    let program = enosys::patch(s, default, &arches, export(&ctx)?);
    let n = program.len() / 8;
    if n > MAX_INSTRUCTIONS {
        crate::bail!(
            "linux.seccomp: the compiled filter has {n} instructions, above the kernel's limit of {MAX_INSTRUCTIONS}"
        );
    }
    check_stub_syscalls(&program, notify, false)?;
    Ok(Compiled {
        program,
        flags,
        skipped,
        listener,
    })
}

/// Exports the program through a memfd (`seccomp_export_bpf_mem` needs
/// libseccomp 2.6; Debian 12 has 2.5.4).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>> {
    use nix::sys::memfd::{MemFdCreateFlag, memfd_create};
    let fd =
        memfd_create(c"sprout-seccomp", MemFdCreateFlag::MFD_CLOEXEC).map_err(|e| Error::Sys {
            context: "linux.seccomp: memfd_create".into(),
            errno: e,
        })?;
    ctx.export_bpf(&fd)
        .map_err(|e| lib_err("linux.seccomp: export", e))?;
    let mut f = std::fs::File::from(fd);
    let mut program = Vec::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_end(&mut program))
        .map_err(|e| Error::io("linux.seccomp: reading the exported filter", &e))?;
    if program.len() % 8 != 0 {
        crate::bail!(
            "linux.seccomp: libseccomp exported {} bytes, not a whole program",
            program.len()
        );
    }
    Ok(program)
}

/// One syscall the stub makes after loading the filter: number, the
/// arguments the filter could look at (pointers as 0), and why.
struct StubCall {
    name: &'static str,
    nr: i64,
    args: [u64; 6],
    why: &'static str,
    /// Made before the notify listener is with the agent (its hand-over
    /// and the wait for it, an error's exit): `SCMP_ACT_NOTIFY` there
    /// would wait for an agent that has no listener yet. The calls after
    /// the hand-over may be notified (the agent answers them: runc's
    /// seccomp-notify.bats notifies `close` and `execve`).
    before_handoff: bool,
}

/// The syscalls the stub makes after the load (stub/src/exec.rs,
/// main.rs): with a listener, with the start wait of `create`, always.
fn stub_calls(listener: bool, wait_start: bool) -> Vec<StubCall> {
    let nosig = libc::MSG_NOSIGNAL as u64;
    let mut v = Vec::new();
    if listener {
        v.push(StubCall {
            name: "sendmsg",
            nr: libc::SYS_sendmsg,
            args: [0, 0, nosig, 0, 0, 0],
            why: "to hand the notify listener to the runtime",
            before_handoff: true,
        });
        v.push(StubCall {
            name: "recvfrom",
            nr: libc::SYS_recvfrom,
            args: [0, 0, 16, 0, 0, 0],
            why: "to wait for the runtime to pass the listener on",
            before_handoff: true,
        });
        v.push(StubCall {
            name: "close",
            nr: libc::SYS_close,
            args: [0; 6],
            why: "to close the listener",
            before_handoff: false,
        });
    }
    if wait_start {
        v.push(StubCall {
            name: "sendmsg",
            nr: libc::SYS_sendmsg,
            args: [0, 0, nosig, 0, 0, 0],
            why: "to tell `create` it is done",
            before_handoff: false,
        });
        v.push(StubCall {
            name: "accept4",
            nr: libc::SYS_accept4,
            args: [0, 0, 0, libc::SOCK_CLOEXEC as u64, 0, 0],
            why: "to wait for `start`",
            before_handoff: false,
        });
        v.push(StubCall {
            name: "sendto",
            nr: libc::SYS_sendto,
            args: [0, 0, 1, nosig, 0, 0],
            why: "to answer `start`",
            before_handoff: false,
        });
        v.push(StubCall {
            name: "close",
            nr: libc::SYS_close,
            args: [0; 6],
            why: "to close the start socket",
            before_handoff: false,
        });
    }
    v.push(StubCall {
        name: "rt_sigprocmask",
        nr: libc::SYS_rt_sigprocmask,
        args: [libc::SIG_SETMASK as u64, 0, 0, 8, 0, 0],
        why: "to clear its signal mask before execve",
        before_handoff: false,
    });
    v.push(StubCall {
        name: "execve",
        nr: libc::SYS_execve,
        args: [0; 6],
        why: "to start the container process",
        before_handoff: false,
    });
    v.push(StubCall {
        name: "exit_group",
        nr: libc::SYS_exit_group,
        args: [1, 0, 0, 0, 0, 0],
        why: "to exit on an error",
        before_handoff: true,
    });
    v
}

/// `AUDIT_ARCH_X86_64` (`<linux/audit.h>`): the stub's architecture.
const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E;

/// Runs `program` on each syscall the stub still makes after loading it
/// ([`stub_calls`]); each must be allowed (`SECCOMP_RET_ALLOW` or
/// `SECCOMP_RET_LOG`).
///
/// Errors: the first call the filter would not allow, naming it, the
/// action and why the stub needs it; a program the interpreter does not
/// understand (not libseccomp's output).
pub fn check_stub_syscalls(program: &[u8], listener: bool, wait_start: bool) -> Result<()> {
    // The arguments a call's list leaves 0 (fds, pointers) are not known
    // ahead; each call is also tried with them as a typical user-space
    // pointer, so that a rule on such an argument (`execve` with
    // `arg0 != 0`) is caught too.
    const SOME_POINTER: u64 = 0x7ffd_0000_1000;
    let calls = stub_calls(listener, wait_start);
    let tries = calls.iter().flat_map(|c| {
        let other = c.args.map(|a| if a == 0 { SOME_POINTER } else { a });
        [(c, c.args), (c, other)]
    });
    for (c, args) in tries {
        let data = bpf::SeccompData {
            nr: c.nr as i32,
            arch: AUDIT_ARCH_NATIVE,
            ip: 0,
            args,
        };
        let ret = bpf::run(program, &data).map_err(|e| {
            Error::invalid(format!("linux.seccomp: checking the compiled filter: {e}"))
        })?;
        let what = match ret & bpf::RET_ACTION_FULL {
            bpf::RET_ALLOW | bpf::RET_LOG => continue,
            bpf::RET_USER_NOTIF if !c.before_handoff => continue,
            bpf::RET_ERRNO => format!("SCMP_ACT_ERRNO({})", ret & bpf::RET_DATA),
            bpf::RET_USER_NOTIF => "SCMP_ACT_NOTIFY, which would deadlock".to_string(),
            bpf::RET_TRACE => "SCMP_ACT_TRACE".to_string(),
            bpf::RET_TRAP => "SCMP_ACT_TRAP".to_string(),
            bpf::RET_KILL_PROCESS => "SCMP_ACT_KILL_PROCESS".to_string(),
            bpf::RET_KILL_THREAD => "SCMP_ACT_KILL".to_string(),
            other => format!("action {other:#x}"),
        };
        crate::bail!(
            "linux.seccomp: the filter answers {} with {what}, but sprout-init needs it after loading the filter ({}); allow it",
            c.name,
            c.why
        );
    }
    Ok(())
}

/// Sends the listener `fd` to the agent at `l.path`: one `SOCK_STREAM`
/// connection, one message with the container process state as JSON
/// (`{"ociVersion", "fds": ["seccompFd"], "pid", "metadata", "state"}`,
/// runtime-spec runtime.md "Container process state") and the fd as
/// `SCM_RIGHTS`, then the connection is closed. `state_json` is the OCI
/// state of the container.
///
/// Errors: the connection or the send, naming `linux.seccomp.listenerPath`.
pub fn send_listener(l: &Listener, fd: OwnedFd, pid: i32, state_json: &str) -> Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let field = format!("linux.seccomp.listenerPath \"{}\"", l.path.display());
    let state: serde_json::Value = serde_json::from_str(state_json)
        .map_err(|e| Error::invalid(format!("{field}: container state: {e}")))?;
    let msg = serde_json::json!({
        "ociVersion": oci_spec::runtime::VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": l.metadata,
        "state": state,
    })
    .to_string();
    let sock = std::os::unix::net::UnixStream::connect(&l.path)
        .map_err(|e| Error::io(format!("{field}: connect"), &e))?;
    let fds = [fd.as_raw_fd()];
    let iov = [IoSlice::new(msg.as_bytes())];
    let n = sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| Error::Sys {
        context: format!("{field}: sendmsg"),
        errno: e,
    })?;
    if n != msg.len() {
        // The fd went with the first bytes; send the rest of the JSON.
        use std::io::Write;
        (&sock)
            .write_all(&msg.as_bytes()[n..])
            .map_err(|e| Error::io(format!("{field}: send"), &e))?;
    }
    Ok(())
}

/// A classic-BPF interpreter for seccomp programs (the subset libseccomp
/// emits; `Documentation/networking/filter.rst`, `<linux/filter.h>`), to
/// check what the compiled filter answers for given syscalls.
pub mod bpf {
    /// `struct seccomp_data` (`<linux/seccomp.h>`).
    #[derive(Clone, Copy, Debug)]
    pub struct SeccompData {
        /// Syscall number.
        pub nr: i32,
        /// `AUDIT_ARCH_*`.
        pub arch: u32,
        /// Instruction pointer.
        pub ip: u64,
        /// Arguments.
        pub args: [u64; 6],
    }

    impl SeccompData {
        /// The 64 bytes the program loads from.
        fn bytes(&self) -> [u8; 64] {
            let mut b = [0u8; 64];
            b[0..4].copy_from_slice(&self.nr.to_ne_bytes());
            b[4..8].copy_from_slice(&self.arch.to_ne_bytes());
            b[8..16].copy_from_slice(&self.ip.to_ne_bytes());
            for (i, a) in self.args.iter().enumerate() {
                b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
            }
            b
        }
    }

    /// `SECCOMP_RET_ACTION_FULL`.
    pub const RET_ACTION_FULL: u32 = 0xffff_0000;
    /// `SECCOMP_RET_DATA`.
    pub const RET_DATA: u32 = 0x0000_ffff;
    /// `SECCOMP_RET_KILL_PROCESS`.
    pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
    /// `SECCOMP_RET_KILL_THREAD`.
    pub const RET_KILL_THREAD: u32 = 0;
    /// `SECCOMP_RET_TRAP`.
    pub const RET_TRAP: u32 = 0x0003_0000;
    /// `SECCOMP_RET_ERRNO`.
    pub const RET_ERRNO: u32 = 0x0005_0000;
    /// `SECCOMP_RET_USER_NOTIF`.
    pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
    /// `SECCOMP_RET_TRACE`.
    pub const RET_TRACE: u32 = 0x7ff0_0000;
    /// `SECCOMP_RET_LOG`.
    pub const RET_LOG: u32 = 0x7ffc_0000;
    /// `SECCOMP_RET_ALLOW`.
    pub const RET_ALLOW: u32 = 0x7fff_0000;

    /// Runs the program (8-byte `struct sock_filter` records, native byte
    /// order) on `data`; returns the `SECCOMP_RET_*` value.
    ///
    /// Errors: an instruction outside the supported subset, a jump or
    /// load out of range, falling off the end, a division by zero.
    pub fn run(program: &[u8], data: &SeccompData) -> Result<u32, String> {
        let d = data.bytes();
        let insns: Vec<(u16, u8, u8, u32)> = program
            .chunks_exact(8)
            .map(|c| {
                (
                    u16::from_ne_bytes([c[0], c[1]]),
                    c[2],
                    c[3],
                    u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect();
        let (mut a, mut x) = (0u32, 0u32);
        let mut mem = [0u32; 16];
        let mut pc = 0usize;
        // Classic BPF only jumps forward: at most one pass.
        while let Some(&(code, jt, jf, k)) = insns.get(pc) {
            pc += 1;
            let src = if code & 0x08 != 0 { x } else { k };
            let cell = |k: u32| -> Result<usize, String> {
                if (k as usize) < 16 {
                    Ok(k as usize)
                } else {
                    Err(format!("scratch cell {k} at {}", pc - 1))
                }
            };
            match code & 0x07 {
                // BPF_LD / BPF_LDX
                0x00 | 0x01 => {
                    let v = match code & 0xe0 {
                        0x00 => k,              // BPF_IMM
                        0x60 => mem[cell(k)?],  // BPF_MEM
                        0x80 => d.len() as u32, // BPF_LEN
                        0x20 if code & 0x18 == 0 => {
                            // BPF_ABS | BPF_W
                            let o = k as usize;
                            let b = d
                                .get(o..o + 4)
                                .ok_or_else(|| format!("load at offset {k}"))?;
                            u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
                        }
                        _ => return Err(format!("unsupported load {code:#x} at {}", pc - 1)),
                    };
                    if code & 0x07 == 0x00 { a = v } else { x = v }
                }
                0x02 => mem[cell(k)?] = a, // BPF_ST
                0x03 => mem[cell(k)?] = x, // BPF_STX
                // BPF_ALU
                0x04 => {
                    a = match code & 0xf0 {
                        0x00 => a.wrapping_add(src),
                        0x10 => a.wrapping_sub(src),
                        0x20 => a.wrapping_mul(src),
                        0x30 => a.checked_div(src).ok_or("division by zero")?,
                        0x40 => a | src,
                        0x50 => a & src,
                        0x60 => a.checked_shl(src).unwrap_or(0),
                        0x70 => a.checked_shr(src).unwrap_or(0),
                        0x80 => a.wrapping_neg(),
                        0x90 => a.checked_rem(src).ok_or("division by zero")?,
                        0xa0 => a ^ src,
                        _ => return Err(format!("unsupported ALU op {code:#x} at {}", pc - 1)),
                    }
                }
                // BPF_JMP
                0x05 => {
                    let taken = match code & 0xf0 {
                        0x00 => {
                            pc = pc.checked_add(k as usize).ok_or("jump out of range")?;
                            continue;
                        }
                        0x10 => a == src,
                        0x20 => a > src,
                        0x30 => a >= src,
                        0x40 => a & src != 0,
                        _ => return Err(format!("unsupported jump {code:#x} at {}", pc - 1)),
                    };
                    pc += if taken { jt as usize } else { jf as usize };
                }
                // BPF_RET
                0x06 => {
                    return match code & 0x18 {
                        0x00 => Ok(k),
                        0x10 => Ok(a),
                        _ => Err(format!("unsupported return {code:#x}")),
                    };
                }
                // BPF_MISC: TAX / TXA
                _ => match code {
                    0x07 => x = a,
                    0x87 => a = x,
                    _ => return Err(format!("unsupported instruction {code:#x} at {}", pc - 1)),
                },
            }
        }
        Err("the program ends without a return".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    fn run(c: &Compiled, name: &str, args: [u64; 6]) -> u32 {
        let nr = ScmpSyscall::from_name(name).unwrap().as_raw_syscall();
        bpf::run(
            &c.program,
            &bpf::SeccompData {
                nr,
                arch: AUDIT_ARCH_NATIVE,
                ip: 0,
                args,
            },
        )
        .unwrap()
    }

    #[test]
    fn compiles_a_small_profile() {
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat", "not_a_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                 "args": [{"index": 1, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["syslog"], "action": "SCMP_ACT_KILL_PROCESS"}
            ]
        }));
        let c = compile(&s, false).unwrap();
        assert!(!c.program.is_empty());
        assert_eq!(c.program.len() % 8, 0);
        assert_eq!(c.flags, filter_flags::LOG);
        assert_eq!(c.skipped, ["not_a_syscall"]);
        assert_eq!(c.listener, None);
        // What the program answers, through the interpreter.
        assert_eq!(run(&c, "mkdir", [0; 6]), bpf::RET_ERRNO | 1);
        assert_eq!(run(&c, "getpid", [0; 6]), bpf::RET_ALLOW);
        // MASKED_EQ: value = mask, valueTwo = datum (S_ISUID = 0o4000).
        assert_eq!(
            run(&c, "chmod", [0, 0o4755, 0, 0, 0, 0]),
            bpf::RET_ERRNO | 13
        );
        assert_eq!(run(&c, "chmod", [0, 0o755, 0, 0, 0, 0]), bpf::RET_ALLOW);
        // The same argument twice: either matches.
        assert_eq!(
            run(&c, "personality", [0, 0, 0, 0, 0, 0]),
            bpf::RET_ERRNO | 1
        );
        assert_eq!(
            run(&c, "personality", [8, 0, 0, 0, 0, 0]),
            bpf::RET_ERRNO | 1
        );
        assert_eq!(run(&c, "personality", [4, 0, 0, 0, 0, 0]), bpf::RET_ALLOW);
        assert_eq!(run(&c, "syslog", [0; 6]), bpf::RET_KILL_PROCESS);
        // The i386 numbers (AUDIT_ARCH_I386): 39 is mkdir there, 20 getpid.
        let i386 = |nr| bpf::SeccompData {
            nr,
            arch: 0x4000_0003,
            ip: 0,
            args: [0; 6],
        };
        assert_eq!(bpf::run(&c.program, &i386(39)).unwrap(), bpf::RET_ERRNO | 1);
        assert_eq!(bpf::run(&c.program, &i386(20)).unwrap(), bpf::RET_ALLOW);
        // An architecture not in the filter: killed (libseccomp's bad-arch action).
        let arm = bpf::SeccompData {
            nr: 39,
            arch: 0x4000_0028,
            ip: 0,
            args: [0; 6],
        };
        assert_eq!(bpf::run(&c.program, &arm).unwrap(), bpf::RET_KILL_THREAD);
    }

    #[test]
    fn syscalls_above_the_profile_get_enosys() {
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["rt_sigprocmask", "execve", "exit_group", "close"],
                          "action": "SCMP_ACT_ALLOW"}]
        }));
        let c = compile(&s, false).unwrap();
        let nr = |nr: i32| bpf::SeccompData {
            nr,
            arch: AUDIT_ARCH_NATIVE,
            ip: 0,
            args: [0; 6],
        };
        let answer = |n| bpf::run(&c.program, &nr(n)).unwrap();
        // exit_group (231) is the highest named: above it ENOSYS, below
        // it the default (EPERM) or the rule.
        assert_eq!(answer(231), bpf::RET_ALLOW);
        assert_eq!(answer(232), enosys::RET_ENOSYS);
        assert_eq!(answer(435), enosys::RET_ENOSYS);
        assert_eq!(answer(39), bpf::RET_ERRNO | 1);
        // An ALLOW default: no stub, libseccomp's program unchanged.
        let mut v = serde_json::to_value(&s).unwrap();
        v["defaultAction"] = "SCMP_ACT_ALLOW".into();
        v["syscalls"][0]["action"] = "SCMP_ACT_LOG".into();
        let c = compile(&parse(v), false).unwrap();
        assert_eq!(bpf::run(&c.program, &nr(1000)).unwrap(), bpf::RET_ALLOW);
    }

    #[test]
    fn notify_needs_an_absolute_listener_path() {
        let mut v = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        });
        assert_eq!(
            compile(&parse(v.clone()), false).unwrap_err().to_string(),
            "linux.seccomp.listenerPath: required by the SCMP_ACT_NOTIFY action"
        );
        v["listenerPath"] = "agent.sock".into();
        assert!(
            compile(&parse(v.clone()), false)
                .unwrap_err()
                .to_string()
                .contains("must be an absolute path")
        );
        v["listenerPath"] = "/run/agent.sock".into();
        v["listenerMetadata"] = "meta".into();
        v["flags"] = serde_json::json!(["SECCOMP_FILTER_FLAG_TSYNC"]);
        let c = compile(&parse(v), false).unwrap();
        assert_eq!(
            c.listener,
            Some(Listener {
                path: "/run/agent.sock".into(),
                metadata: "meta".into()
            })
        );
        assert_eq!(c.flags, filter_flags::NEW_LISTENER);
        assert_eq!(run(&c, "mkdir", [0; 6]), bpf::RET_USER_NOTIF);
    }

    #[test]
    fn the_stubs_last_syscalls_must_be_allowed() {
        let e = |v: serde_json::Value| compile(&parse(v), false).unwrap_err().to_string();
        let msg = e(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ERRNO"}]
        }));
        assert!(
            msg.starts_with("linux.seccomp: the filter answers execve with SCMP_ACT_ERRNO(1)"),
            "{msg}"
        );
        let msg = e(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock",
            "syscalls": [{"names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        assert!(
            msg.contains("sendmsg with SCMP_ACT_NOTIFY, which would deadlock"),
            "{msg}"
        );
        // A rule on an argument the stub's call has unknown ahead (the
        // attack pass: ERRNO on execve with a non-null path).
        let msg = e(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}]
        }));
        assert!(msg.contains("execve with SCMP_ACT_ERRNO"), "{msg}");
        // NOTIFY after the listener's hand-over is the agent's to answer
        // (runc's seccomp-notify.bats notifies execve and close).
        let ok = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock",
            "syscalls": [{"names": ["execve", "close"], "action": "SCMP_ACT_NOTIFY",
                          "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}]
        });
        assert!(compile(&parse(ok), false).is_ok());
        // A default that denies everything the stub needs.
        let msg = e(serde_json::json!({"defaultAction": "SCMP_ACT_KILL_PROCESS"}));
        assert!(
            msg.contains("rt_sigprocmask with SCMP_ACT_KILL_PROCESS"),
            "{msg}"
        );
        // Denying what the stub does *before* the load is fine.
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["setresuid", "capset", "chdir", "accept4"], "action": "SCMP_ACT_ERRNO"}]
        }));
        let c = compile(&s, false).unwrap();
        // ... but not `create`'s start wait.
        let msg = check_stub_syscalls(&c.program, false, true)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("accept4") && msg.contains("wait for `start`"),
            "{msg}"
        );
    }

    #[test]
    fn errno_ret_only_with_errno_or_trace() {
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 5}]
        }));
        assert_eq!(
            compile(&s, false).unwrap_err().to_string(),
            "linux.seccomp.syscalls[0]: errnoRet is only meaningful with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"
        );
    }

    #[test]
    fn too_large_programs_are_rejected() {
        // Every syscall with a distinct errno: far above 4096 instructions
        // with three architectures.
        let names: Vec<String> = (0..440)
            .filter_map(|n| ScmpSyscall::from(n).get_name().ok())
            .collect();
        let rules: Vec<serde_json::Value> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                serde_json::json!({"names": [n], "action": "SCMP_ACT_ERRNO", "errnoRet": i + 1,
                "args": [{"index": 0, "value": i, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": i, "op": "SCMP_CMP_NE"}]})
            })
            .collect();
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": rules
        }));
        let e = compile(&s, false).unwrap_err().to_string();
        assert!(e.contains("above the kernel's limit of 4096"), "{e}");
    }
}
