//! `linux.seccomp` compiled ahead of time to a classic BPF program with
//! libseccomp (`seccomp_export_bpf(3)`), carried in the plan as raw
//! `struct sock_filter` records and loaded by the stub with `seccomp(2)`.
//!
//! Mapping (OCI runtime spec, "Seccomp"; runc `libcontainer/seccomp`):
//! `defaultAction`/`defaultErrnoRet`, `architectures` (added to the native
//! one), and per rule `names`/`action`/`errnoRet`/`args`. For
//! `SCMP_CMP_MASKED_EQ` the OCI `value` is the mask and `valueTwo` the
//! datum. Args naming the same index twice are OR-ed: each becomes its own
//! rule, as runc does, since libseccomp compares an argument once per rule.
//! Rules whose action equals the default are skipped (libseccomp refuses
//! them), and so are syscall names this libseccomp does not know (newer
//! than it): a debug note, not an error.

use std::io::{Read, Seek, SeekFrom};
use std::str::FromStr;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall};

use crate::error::{Error, Result};

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
    /// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`.
    pub const WAIT_KILLABLE_RECV: u32 = 32;
}

/// A compiled filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    /// The BPF program: 8-byte `struct sock_filter` records.
    pub program: Vec<u8>,
    /// `SECCOMP_FILTER_FLAG_*` bits from `linux.seccomp.flags`.
    pub flags: u32,
    /// Syscall names skipped because this libseccomp does not know them.
    pub skipped: Vec<String>,
}

/// The libseccomp action of an OCI action; `errno` is `errnoRet` (EPERM
/// when absent, as runc). Errors: `SCMP_ACT_NOTIFY` (not supported yet).
fn action(field: &str, a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            if errno > u16::MAX as u32 {
                crate::bail!("{field}: errnoRet {errno} is out of range");
            }
            ScmpAction::Errno(errno as i32)
        }
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            crate::bail!("{field}: SCMP_ACT_NOTIFY is not supported yet")
        }
    })
}

/// The comparator of one OCI argument condition.
fn compare(field: &str, arg: &oci_spec::runtime::LinuxSeccompArg) -> Result<ScmpArgCompare> {
    if arg.index() > 5 {
        crate::bail!("{field}: argument index {} is out of range (0-5)", arg.index());
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
    let cmps: Vec<ScmpArgCompare> = args.iter().map(|a| compare(field, a)).collect::<Result<_>>()?;
    let mut seen = [false; 6];
    let repeats = args.iter().any(|a| std::mem::replace(&mut seen[a.index()], true));
    Ok(if repeats { cmps.into_iter().map(|c| vec![c]).collect() } else { vec![cmps] })
}

fn lib_err(field: &str, e: libseccomp::error::SeccompError) -> Error {
    Error::invalid(format!("{field}: libseccomp: {e}"))
}

/// Compiles `linux.seccomp`. `debug` prints the skipped names.
///
/// Errors name the field: `SCMP_ACT_NOTIFY` or `listenerPath` (not
/// supported yet), an unknown architecture, a rule libseccomp rejects, a
/// program above [`MAX_INSTRUCTIONS`].
pub fn compile(s: &LinuxSeccomp, debug: bool) -> Result<Compiled> {
    if s.listener_path().is_some() {
        crate::bail!("linux.seccomp.listenerPath: seccomp notification is not supported yet");
    }
    let default = action("linux.seccomp.defaultAction", s.default_action(), s.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| lib_err("linux.seccomp", e))?;
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let name = serde_json::to_value(arch).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let a = ScmpArch::from_str(&name)
            .map_err(|_| Error::invalid(format!("{field} \"{name}\": unknown architecture")))?;
        ctx.add_arch(a).map_err(|e| lib_err(&field, e))?;
    }
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
                    eprintln!("sprout: debug: {field}: skipping syscall \"{name}\" unknown to libseccomp");
                }
                skipped.push(name.clone());
                continue;
            };
            for set in &sets {
                ctx.add_rule_conditional(act, nr, set).map_err(|e| lib_err(&format!("{field} \"{name}\""), e))?;
            }
        }
    }
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => filter_flags::LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => filter_flags::TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => filter_flags::SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => filter_flags::WAIT_KILLABLE_RECV,
        };
    }
    let program = export(&ctx)?;
    let n = program.len() / 8;
    if n > MAX_INSTRUCTIONS {
        crate::bail!(
            "linux.seccomp: the compiled filter has {n} instructions, above the kernel's limit of {MAX_INSTRUCTIONS}"
        );
    }
    Ok(Compiled { program, flags, skipped })
}

/// Exports the program through a memfd (`seccomp_export_bpf_mem` needs
/// libseccomp 2.6; Debian 12 has 2.5.4).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>> {
    use nix::sys::memfd::{MemFdCreateFlag, memfd_create};
    let fd = memfd_create(c"sprout-seccomp", MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|e| Error::Sys { context: "linux.seccomp: memfd_create".into(), errno: e })?;
    ctx.export_bpf(&fd).map_err(|e| lib_err("linux.seccomp: export", e))?;
    let mut f = std::fs::File::from(fd);
    let mut program = Vec::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_end(&mut program))
        .map_err(|e| Error::io("linux.seccomp: reading the exported filter", &e))?;
    if program.len() % 8 != 0 {
        crate::bail!("linux.seccomp: libseccomp exported {} bytes, not a whole program", program.len());
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
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
    }

    #[test]
    fn notify_is_not_supported_yet() {
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        assert_eq!(
            compile(&s, false).unwrap_err().to_string(),
            "linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY is not supported yet"
        );
    }

    #[test]
    fn too_large_programs_are_rejected() {
        // Every syscall with a distinct errno: far above 4096 instructions
        // with three architectures.
        let names: Vec<String> = (0..440).filter_map(|n| ScmpSyscall::from(n).get_name().ok()).collect();
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
