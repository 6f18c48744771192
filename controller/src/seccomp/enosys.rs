//! The -ENOSYS stub: instructions put in front of the libseccomp program
//! so that a syscall numbered above the highest one the profile names (per
//! architecture) fails with `ENOSYS` instead of the profile's default
//! action. That is what lets glibc and musl fall back when a program calls
//! a syscall newer than the profile (`clone3` to `clone`, `faccessat2` to
//! `faccessat`, ...): with an `EPERM` default they give up instead.
//!
//! The rules are runc's (1.1, `libcontainer/seccomp/patchbpf/enosys_linux.go`):
//!
//! - The stub is added unless the default action lets calls through
//!   (`SCMP_ACT_ALLOW`, `SCMP_ACT_LOG`, `SCMP_ACT_TRACE`: a tracer handles
//!   new syscalls itself). A default of `SCMP_ACT_ERRNO(ENOSYS)` gets none
//!   either (runc means to skip it too): the filter already answers the
//!   same.
//! - The highest number of an architecture is the largest number any rule
//!   names for it (whatever the rule's action), resolved with libseccomp
//!   per architecture; names it does not know, and names that are not a
//!   syscall there, are ignored. An architecture whose rules name nothing
//!   gets no bound (its calls all go to the filter).
//! - The architectures are the profile's plus the native one (runc 1.1.10
//!   and later add the native one too; libseccomp's filter always has it).
//! - On `AUDIT_ARCH_X86_64`, x32 calls (bit 30 of the number set) are
//!   compared with x32's own highest number, which libseccomp gives with
//!   that bit set; x86_64 calls with x86_64's. With only one of the two in
//!   the profile, the other's calls go to the filter (libseccomp's
//!   bad-architecture action).
//!
//! Only the x86 family is handled (`x86_64`, `x32`, `x86`): the only
//! audit architectures an x86_64 kernel reports, and sprout runs on
//! x86_64 only. Sections runc makes for other architectures are never
//! reached there.
//!
//! The stub does not change the filter flags, and a `SCMP_ACT_NOTIFY` rule
//! names a syscall at or below the bound, so it is never answered by the
//! stub. Layout (all jumps forward, all within the stub, so the
//! libseccomp program after it is unchanged):
//!
//! ```text
//! ld  [4]                       ; arch
//! jeq ARCH_i, section_i         ; one per architecture
//! ja  filter
//! section_i: ld [0]; [jset 0x40000000 ...;] jgt LAST, enosys, filter
//! enosys: ret ERRNO(ENOSYS)
//! filter: (the libseccomp program)
//! ```

use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};
use oci_spec::runtime::LinuxSeccomp;

use super::bpf;

/// `AUDIT_ARCH_X86_64` (`<linux/audit.h>`).
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386`.
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `__X32_SYSCALL_BIT` (`<asm/unistd.h>`).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// What the stub answers: `SECCOMP_RET_ERRNO | ENOSYS`.
pub const RET_ENOSYS: u32 = bpf::RET_ERRNO | libc::ENOSYS as u32;

/// Which calls of an audit architecture a bound applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abi {
    /// All of them (`x86`).
    All,
    /// `x86_64`: numbers without `__X32_SYSCALL_BIT` (bit 30).
    X8664,
    /// `x32`: numbers with it (the bound has it too).
    X32,
}

/// One architecture's bound: its calls above `last` get `ENOSYS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// `AUDIT_ARCH_*`, as in `seccomp_data.arch`.
    pub audit: u32,
    /// Which of its calls.
    pub abi: Abi,
    /// The highest syscall number the rules name (x32's with its bit).
    pub last: u32,
}

/// Whether a filter with this default action gets the stub (see the
/// module docs).
pub fn wanted(default: ScmpAction) -> bool {
    !matches!(
        default,
        ScmpAction::Allow | ScmpAction::Log | ScmpAction::Trace(_)
    ) && default != ScmpAction::Errno(libc::ENOSYS)
}

/// The audit architecture and ABI of a libseccomp one; None outside the
/// x86 family.
fn audit_arch(a: ScmpArch) -> Option<(u32, Abi)> {
    match a {
        ScmpArch::X8664 => Some((AUDIT_ARCH_X86_64, Abi::X8664)),
        ScmpArch::X32 => Some((AUDIT_ARCH_X86_64, Abi::X32)),
        ScmpArch::X86 => Some((AUDIT_ARCH_I386, Abi::All)),
        ScmpArch::Native => audit_arch(ScmpArch::native()),
        _ => None,
    }
}

/// The bounds of profile `s` whose filter holds `arches` (the profile's,
/// parsed) and the native architecture, in that order, without repeats.
pub fn bounds(s: &LinuxSeccomp, arches: &[ScmpArch]) -> Vec<Bound> {
    let mut out: Vec<Bound> = Vec::new();
    for a in arches.iter().copied().chain([ScmpArch::Native]) {
        let Some((audit, abi)) = audit_arch(a) else {
            continue;
        };
        if out.iter().any(|b| b.audit == audit && b.abi == abi) {
            continue;
        }
        let real = if a == ScmpArch::Native {
            ScmpArch::native()
        } else {
            a
        };
        let last = s
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names())
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, real).ok())
            .map(|nr| nr.as_raw_syscall())
            .max()
            .unwrap_or(0);
        // Negative: a pseudo-syscall (not one on this architecture); 0:
        // nothing named (runc ignores a highest of 0 too).
        if last > 0 {
            out.push(Bound {
                audit,
                abi,
                last: last as u32,
            });
        }
    }
    out
}

/// Where a stub jump goes.
#[derive(Clone, Copy)]
enum To {
    /// `n` instructions further than the next one.
    Skip(u8),
    /// The `ret ERRNO(ENOSYS)`.
    Enosys,
    /// The libseccomp program's first instruction.
    Filter,
    /// Section `i`'s first instruction.
    Section(usize),
}

/// A stub instruction, with symbolic jumps.
#[derive(Clone, Copy)]
enum Insn {
    /// `ld [off]` (`BPF_LD | BPF_W | BPF_ABS`).
    Load(u32),
    /// `jeq #k, jt, jf`.
    Jeq(u32, To, To),
    /// `jgt #k, jt, jf`.
    Jgt(u32, To, To),
    /// `jset #k, jt, jf`.
    Jset(u32, To, To),
    /// `ja` (always within the stub here: a conditional-sized offset).
    Ja(To),
    /// `ret #ERRNO(ENOSYS)`.
    RetEnosys,
}

/// The section of one audit architecture's bounds.
fn section(bounds: &[&Bound]) -> Vec<Insn> {
    let jgt = |b: &Bound| Insn::Jgt(b.last, To::Enosys, To::Filter);
    let mut s = vec![Insn::Load(0)];
    let by = |abi| bounds.iter().find(|b| b.abi == abi);
    match (by(Abi::X8664), by(Abi::X32)) {
        (Some(x64), Some(x32)) => s.extend([
            Insn::Jset(X32_SYSCALL_BIT, To::Skip(1), To::Skip(0)),
            jgt(x64),
            jgt(x32),
        ]),
        (Some(x64), None) => s.extend([
            Insn::Jset(X32_SYSCALL_BIT, To::Filter, To::Skip(0)),
            jgt(x64),
        ]),
        (None, Some(x32)) => s.extend([
            Insn::Jset(X32_SYSCALL_BIT, To::Skip(0), To::Filter),
            jgt(x32),
        ]),
        (None, None) => s.extend(bounds.iter().map(|b| jgt(b))),
    }
    s
}

/// The stub for `bounds` as `struct sock_filter` records (native byte
/// order), to put in front of the libseccomp program; empty when there
/// is no bound.
pub fn stub(bounds: &[Bound]) -> Vec<u8> {
    if bounds.is_empty() {
        return Vec::new();
    }
    let mut archs: Vec<u32> = Vec::new();
    for b in bounds {
        if !archs.contains(&b.audit) {
            archs.push(b.audit);
        }
    }
    let sections: Vec<Vec<Insn>> = archs
        .iter()
        .map(|&a| section(&bounds.iter().filter(|b| b.audit == a).collect::<Vec<_>>()))
        .collect();
    let mut insns = vec![Insn::Load(4)];
    insns.extend(
        archs
            .iter()
            .enumerate()
            .map(|(i, &a)| Insn::Jeq(a, To::Section(i), To::Skip(0))),
    );
    insns.push(Insn::Ja(To::Filter));
    let mut starts = Vec::new();
    for s in &sections {
        starts.push(insns.len());
        insns.extend_from_slice(s);
    }
    let enosys = insns.len();
    insns.push(Insn::RetEnosys);
    let filter = insns.len();
    // At most 2 audit architectures (x86_64 with x32, i386), 12
    // instructions in all: every offset fits a u8.
    let off = |pc: usize, to: To| -> u8 {
        let target = match to {
            To::Skip(n) => return n,
            To::Enosys => enosys,
            To::Filter => filter,
            To::Section(i) => starts[i],
        };
        u8::try_from(target - pc - 1).expect("the stub is short")
    };
    let mut out = Vec::with_capacity(insns.len() * 8);
    for (pc, insn) in insns.iter().enumerate() {
        let (code, jt, jf, k): (u16, u8, u8, u32) = match *insn {
            Insn::Load(o) => (0x20, 0, 0, o),
            Insn::Jeq(k, t, f) => (0x15, off(pc, t), off(pc, f), k),
            Insn::Jgt(k, t, f) => (0x25, off(pc, t), off(pc, f), k),
            Insn::Jset(k, t, f) => (0x45, off(pc, t), off(pc, f), k),
            Insn::Ja(t) => (0x05, 0, 0, off(pc, t) as u32),
            Insn::RetEnosys => (0x06, 0, 0, RET_ENOSYS),
        };
        out.extend_from_slice(&code.to_ne_bytes());
        out.extend_from_slice(&[jt, jf]);
        out.extend_from_slice(&k.to_ne_bytes());
    }
    out
}

/// `program` (libseccomp's, for profile `s` with default action `default`
/// and architectures `arches`) with the stub in front when it gets one.
pub fn patch(
    s: &LinuxSeccomp,
    default: ScmpAction,
    arches: &[ScmpArch],
    program: Vec<u8>,
) -> Vec<u8> {
    if !wanted(default) {
        return program;
    }
    let mut out = stub(&bounds(s, arches));
    if out.is_empty() {
        return program;
    }
    out.extend_from_slice(&program);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(names: &[&str]) -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
        }))
        .unwrap()
    }

    /// What the stub followed by a `ret 0xdeadbeef` ("the filter") answers.
    fn answer(bounds: &[Bound], audit: u32, nr: u32) -> u32 {
        let mut p = stub(bounds);
        p.extend_from_slice(&6u16.to_ne_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&0xdead_beefu32.to_ne_bytes());
        let data = bpf::SeccompData {
            nr: nr as i32,
            arch: audit,
            ip: 0,
            args: [0; 6],
        };
        bpf::run(&p, &data).unwrap()
    }
    const FILTER: u32 = 0xdead_beef;

    #[test]
    fn the_last_syscall_is_per_architecture() {
        // setns: 308 on x86_64, 346 on i386, 308|x32 on x32; read: 0 / 3.
        let s = profile(&["read", "setns", "not_a_syscall"]);
        let b = bounds(&s, &[ScmpArch::X86, ScmpArch::X32, ScmpArch::X8664]);
        let x32 = X32_SYSCALL_BIT | 308;
        assert_eq!(
            b,
            [
                Bound {
                    audit: AUDIT_ARCH_I386,
                    abi: Abi::All,
                    last: 346
                },
                Bound {
                    audit: AUDIT_ARCH_X86_64,
                    abi: Abi::X32,
                    last: x32
                },
                Bound {
                    audit: AUDIT_ARCH_X86_64,
                    abi: Abi::X8664,
                    last: 308
                },
            ]
        );
        // No architectures: the native one.
        assert_eq!(
            bounds(&s, &[]),
            [Bound {
                audit: AUDIT_ARCH_X86_64,
                abi: Abi::X8664,
                last: 308
            }]
        );
        let i386 = AUDIT_ARCH_I386;
        let x64 = AUDIT_ARCH_X86_64;
        for (audit, nr, want) in [
            (x64, 0, FILTER),
            (x64, 308, FILTER),
            (x64, 309, RET_ENOSYS),
            (x64, 435, RET_ENOSYS),
            (x64, 1000, RET_ENOSYS),
            (x64, x32, FILTER),
            (x64, x32 + 1, RET_ENOSYS),
            (x64, X32_SYSCALL_BIT | 1, FILTER),
            (i386, 346, FILTER),
            (i386, 347, RET_ENOSYS),
            // Another architecture: the filter (its bad-arch action).
            (0xC000_00B7, 5000, FILTER),
        ] {
            assert_eq!(answer(&b, audit, nr), want, "arch {audit:#x} nr {nr:#x}");
        }
    }

    #[test]
    fn x32_alone_or_x86_64_alone() {
        let x32 = [Bound {
            audit: AUDIT_ARCH_X86_64,
            abi: Abi::X32,
            last: X32_SYSCALL_BIT | 10,
        }];
        assert_eq!(answer(&x32, AUDIT_ARCH_X86_64, 1000), FILTER);
        assert_eq!(
            answer(&x32, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 10),
            FILTER
        );
        assert_eq!(
            answer(&x32, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 11),
            RET_ENOSYS
        );
        let x64 = [Bound {
            audit: AUDIT_ARCH_X86_64,
            abi: Abi::X8664,
            last: 10,
        }];
        assert_eq!(answer(&x64, AUDIT_ARCH_X86_64, 11), RET_ENOSYS);
        assert_eq!(
            answer(&x64, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1000),
            FILTER
        );
    }

    #[test]
    fn rules_naming_nothing_get_no_stub() {
        assert_eq!(bounds(&profile(&[]), &[ScmpArch::X8664]), []);
        // `read` is 0 on x86_64: no bound either (as runc).
        assert_eq!(bounds(&profile(&["read", "nope"]), &[]), []);
        // A name that is no syscall on i386 (a pseudo-syscall there).
        let b = bounds(&profile(&["tuxcall"]), &[ScmpArch::X86]);
        assert_eq!(
            b,
            [Bound {
                audit: AUDIT_ARCH_X86_64,
                abi: Abi::X8664,
                last: 184
            }]
        );
        assert!(stub(&[]).is_empty());
        let p = vec![6, 0, 0, 0, 0, 0, 0xff, 0x7f];
        assert_eq!(
            patch(&profile(&[]), ScmpAction::Errno(1), &[], p.clone()),
            p
        );
    }

    #[test]
    fn permissive_and_enosys_defaults_get_no_stub() {
        for d in [
            ScmpAction::Allow,
            ScmpAction::Log,
            ScmpAction::Trace(1),
            ScmpAction::Errno(libc::ENOSYS),
        ] {
            assert!(!wanted(d), "{d:?}");
        }
        for d in [
            ScmpAction::Errno(1),
            ScmpAction::KillThread,
            ScmpAction::KillProcess,
            ScmpAction::Trap,
            ScmpAction::Notify,
        ] {
            assert!(wanted(d), "{d:?}");
        }
    }
}
