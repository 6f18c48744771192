//! The seccomp profile of the bench's "seccomp" variant: podman's default
//! profile (`/usr/share/containers/seccomp.json`, containers-common)
//! converted into an OCI `linux.seccomp`, or, where that file is missing, a
//! built-in allowlist of the same kind.
//!
//! podman's file is in the moby/containers format, not OCI's: rules carry
//! `includes`/`excludes` conditions (architectures, capabilities, minimum
//! kernel) that the engine evaluates when it writes a container's
//! config.json, and the top level has an `archMap` instead of
//! `architectures`. [`convert`] does what the engine does for one
//! container (moby `profiles/seccomp`, containers/common `pkg/seccomp`;
//! read for behaviour):
//!
//! - `architectures`: the `archMap` entry of the host's architecture and its
//!   `subArchitectures` (x86_64: `SCMP_ARCH_X86_64`, `SCMP_ARCH_X86`,
//!   `SCMP_ARCH_X32`).
//! - A rule is kept when its `includes.arches` is empty or names the host
//!   (Go's name: `amd64`, `arm64`), its `excludes.arches` does not, every
//!   capability in `includes.caps` is in the bundle's bounding set, none in
//!   `excludes.caps` is, and the running kernel is at least
//!   `includes.minKernel`.
//! - A kept rule keeps only OCI's fields: `names`, `action`, `errnoRet`,
//!   `args` (each `index`, `value`, `valueTwo`, `op`); `comment`,
//!   `includes`, `excludes` go.
//! - Dropped, and counted in [`Converted::dropped`]: rules whose action is
//!   not one of OCI's (config-linux.md "Seccomp"), `SCMP_ACT_NOTIFY` rules
//!   (they need a `listenerPath` agent the bench does not have), and rules
//!   whose action and errno equal the default (libseccomp refuses those).
//! - Top level: `defaultAction`, `defaultErrnoRet`, `flags` kept; podman's
//!   `defaultErrno` (a name, not OCI) and `archMap` go.
//!
//! Syscall names are passed on as they are; each runtime skips the names its
//! libseccomp does not know for an architecture.

use serde_json::{Map, Value, json};

use crate::bail;
use crate::util::Result;

/// podman's default profile (package containers-common).
pub const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

/// The actions the OCI runtime spec lists for `linux.seccomp` (config-linux.md).
const OCI_ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// The host, as the profile's conditions name it.
#[derive(Clone, Debug)]
pub struct Host {
    /// libseccomp's name of the native architecture (`SCMP_ARCH_X86_64`), if known.
    pub scmp_arch: Option<&'static str>,
    /// Go's name of it (`amd64`), as `includes.arches` spells it.
    pub go_arch: &'static str,
    /// The container's bounding capabilities (`CAP_KILL`, ...).
    pub caps: Vec<String>,
    /// The running kernel's (major, minor).
    pub kernel: (u32, u32),
}

impl Host {
    /// This machine, for a container with bounding set `caps`.
    pub fn this(caps: Vec<String>) -> Host {
        let (scmp_arch, go_arch) = match std::env::consts::ARCH {
            "x86_64" => (Some("SCMP_ARCH_X86_64"), "amd64"),
            "aarch64" => (Some("SCMP_ARCH_AARCH64"), "arm64"),
            "x86" => (Some("SCMP_ARCH_X86"), "386"),
            "arm" => (Some("SCMP_ARCH_ARM"), "arm"),
            "powerpc64" => (Some("SCMP_ARCH_PPC64LE"), "ppc64le"),
            "s390x" => (Some("SCMP_ARCH_S390X"), "s390x"),
            "riscv64" => (Some("SCMP_ARCH_RISCV64"), "riscv64"),
            other => (None, other),
        };
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Host {
            scmp_arch,
            go_arch,
            caps,
            kernel: parse_kernel(&release).unwrap_or((0, 0)),
        }
    }
}

/// `"6.1.0-13-amd64"` -> (6, 1).
pub fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.trim().split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// A profile ready for `linux.seccomp`, with what the conversion did.
#[derive(Clone, Debug)]
pub struct Converted {
    /// The `linux.seccomp` object.
    pub profile: Value,
    /// Rules kept.
    pub rules: usize,
    /// Distinct syscall names in the kept rules.
    pub names: usize,
    /// Rules left out, with why (`"names: reason"`), in file order.
    pub dropped: Vec<String>,
}

/// Whether `list` (a JSON array of strings, or absent) contains `what`.
fn lists(list: Option<&Value>, what: &str) -> bool {
    list.and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(what)))
}

fn strings(list: Option<&Value>) -> Vec<&str> {
    list.and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Why a rule does not apply to `host`, or `None` if it does.
fn condition_fails(rule: &Value, host: &Host) -> Option<String> {
    let inc = rule.get("includes");
    let exc = rule.get("excludes");
    let inc_arches = strings(inc.and_then(|i| i.get("arches")));
    if !inc_arches.is_empty() && !inc_arches.contains(&host.go_arch) {
        return Some(format!("only for {}", inc_arches.join(",")));
    }
    if lists(exc.and_then(|e| e.get("arches")), host.go_arch) {
        return Some(format!("not for {}", host.go_arch));
    }
    let has = |c: &str| host.caps.iter().any(|h| h == c);
    let inc_caps = strings(inc.and_then(|i| i.get("caps")));
    if let Some(c) = inc_caps.iter().find(|c| !has(c)) {
        return Some(format!("only with {c}, not in the bounding set"));
    }
    let exc_caps = strings(exc.and_then(|e| e.get("caps")));
    if let Some(c) = exc_caps.iter().find(|c| has(c)) {
        return Some(format!("not with {c}, which the bounding set has"));
    }
    if let Some(min) = inc
        .and_then(|i| i.get("minKernel"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        match parse_kernel(min) {
            Some(m) if host.kernel >= m => {}
            _ => return Some(format!("only on kernel >= {min}")),
        }
    }
    None
}

/// podman's profile (moby format) -> OCI `linux.seccomp` for a container on
/// `host` (see the module docs for every rule). Errors: no
/// `defaultAction`, or `syscalls` is not an array.
pub fn convert(src: &Value, host: &Host) -> Result<Converted> {
    let Some(default_action) = src.get("defaultAction").and_then(Value::as_str) else {
        bail!("seccomp profile: no `defaultAction`");
    };
    let default_errno = src.get("defaultErrnoRet").and_then(Value::as_u64);
    let Some(rules) = src.get("syscalls").and_then(Value::as_array) else {
        bail!("seccomp profile: `syscalls` is not an array");
    };
    let mut out = Map::new();
    out.insert("defaultAction".into(), json!(default_action));
    if let Some(e) = default_errno {
        out.insert("defaultErrnoRet".into(), json!(e));
    }
    if let Some(arch) = host.scmp_arch {
        let entry = src
            .get("archMap")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|m| m.get("architecture").and_then(Value::as_str) == Some(arch));
        if let Some(entry) = entry {
            let mut arches = vec![json!(arch)];
            arches.extend(
                strings(entry.get("subArchitectures"))
                    .into_iter()
                    .map(|s| json!(s)),
            );
            out.insert("architectures".into(), Value::Array(arches));
        }
    }
    if let Some(flags) = src.get("flags").filter(|f| f.is_array()) {
        out.insert("flags".into(), flags.clone());
    }
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for rule in rules {
        let rule_names = strings(rule.get("names"));
        let label = match rule_names.as_slice() {
            [] => "(no names)".to_string(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} and {} more", rest.len()),
        };
        let action = rule.get("action").and_then(Value::as_str).unwrap_or("");
        let errno = rule.get("errnoRet").and_then(Value::as_u64);
        let why = if rule_names.is_empty() {
            Some("no syscall names".to_string())
        } else if !OCI_ACTIONS.contains(&action) {
            Some(format!("action `{action}` is not an OCI seccomp action"))
        } else if action == "SCMP_ACT_NOTIFY" {
            Some("SCMP_ACT_NOTIFY needs a listenerPath agent".to_string())
        } else if let Some(w) = condition_fails(rule, host) {
            Some(w)
        } else if action == default_action
            && (action != "SCMP_ACT_ERRNO" || errno.or(Some(1)) == default_errno.or(Some(1)))
        {
            Some("same action as the default (libseccomp refuses it)".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            dropped.push(format!("{label}: {why}"));
            continue;
        }
        let mut r = Map::new();
        r.insert("names".into(), json!(rule_names));
        r.insert("action".into(), json!(action));
        if let Some(e) = errno {
            r.insert("errnoRet".into(), json!(e));
        }
        let args: Vec<Value> = rule
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|a| {
                let mut m = Map::new();
                for k in ["index", "value", "valueTwo", "op"] {
                    if let Some(v) = a.get(k) {
                        m.insert(k.into(), v.clone());
                    }
                }
                Value::Object(m)
            })
            .collect();
        if !args.is_empty() {
            r.insert("args".into(), Value::Array(args));
        }
        names.extend(rule_names.iter().map(|s| s.to_string()));
        kept.push(Value::Object(r));
    }
    let n = kept.len();
    out.insert("syscalls".into(), Value::Array(kept));
    Ok(Converted {
        profile: Value::Object(out),
        rules: n,
        names: names.len(),
        dropped,
    })
}

/// The built-in profile's allowlist: x86_64 syscall names a container
/// with the bench bundle's capabilities (AUDIT_WRITE, KILL,
/// NET_BIND_SERVICE) may use under a podman-like default profile. Left out
/// (so they fail with ENOSYS): module, kexec, mount-API, swap, reboot,
/// clock-setting, keyring, bpf, perf, ptrace-like (kcmp, process_madvise),
/// io_uring, userfaultfd, NUMA policy, namespace (setns, unshare), chroot,
/// pivot_root, acct, quotactl, syslog, uselib/ustat/sysfs and the
/// never-implemented entries of the table.
#[rustfmt::skip]
const BUILTIN_ALLOW: &[&str] = &[
    "read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap",
    "mprotect", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl",
    "pread64", "pwrite64", "readv", "writev", "access", "pipe", "select", "sched_yield",
    "mremap", "msync", "mincore", "madvise", "shmget", "shmat", "shmctl", "dup", "dup2",
    "pause", "nanosleep", "getitimer", "alarm", "setitimer", "getpid", "sendfile", "socket",
    "connect", "accept", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "bind",
    "listen", "getsockname", "getpeername", "socketpair", "setsockopt", "getsockopt", "clone",
    "fork", "vfork", "execve", "exit", "wait4", "kill", "uname", "semget", "semop", "semctl",
    "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "fcntl", "flock", "fsync", "fdatasync",
    "truncate", "ftruncate", "getdents", "getcwd", "chdir", "fchdir", "rename", "mkdir",
    "rmdir", "creat", "link", "unlink", "symlink", "readlink", "chmod", "fchmod", "chown",
    "fchown", "lchown", "umask", "gettimeofday", "getrlimit", "getrusage", "sysinfo", "times",
    "ptrace", "getuid", "getgid", "setuid", "setgid", "geteuid", "getegid", "setpgid",
    "getppid", "getpgrp", "setsid", "setreuid", "setregid", "getgroups", "setgroups",
    "setresuid", "getresuid", "setresgid", "getresgid", "getpgid", "setfsuid", "setfsgid",
    "getsid", "capget", "capset", "rt_sigpending", "rt_sigtimedwait", "rt_sigqueueinfo",
    "rt_sigsuspend", "sigaltstack", "utime", "mknod", "statfs", "fstatfs",
    "getpriority", "setpriority", "sched_setparam", "sched_getparam", "sched_setscheduler",
    "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "mlock", "munlock", "mlockall", "munlockall", "modify_ldt",
    "prctl", "arch_prctl", "adjtimex", "setrlimit", "sync", "sethostname", "setdomainname",
    "gettid", "readahead", "setxattr", "lsetxattr", "fsetxattr", "getxattr", "lgetxattr",
    "fgetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
    "fremovexattr", "tkill", "time", "futex", "sched_setaffinity", "sched_getaffinity",
    "set_thread_area", "io_setup", "io_destroy", "io_getevents", "io_submit", "io_cancel",
    "get_thread_area", "epoll_create", "remap_file_pages", "getdents64", "set_tid_address",
    "restart_syscall", "semtimedop", "fadvise64", "timer_create", "timer_settime",
    "timer_gettime", "timer_getoverrun", "timer_delete", "clock_gettime", "clock_getres",
    "clock_nanosleep", "exit_group", "epoll_wait", "epoll_ctl", "tgkill", "utimes",
    "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    "waitid", "ioprio_set", "ioprio_get", "inotify_init", "inotify_add_watch",
    "inotify_rm_watch", "openat", "mkdirat", "mknodat", "fchownat", "futimesat", "newfstatat",
    "unlinkat", "renameat", "linkat", "symlinkat", "readlinkat", "fchmodat", "faccessat",
    "pselect6", "ppoll", "set_robust_list", "get_robust_list", "splice", "tee",
    "sync_file_range", "vmsplice", "utimensat", "epoll_pwait", "signalfd", "timerfd_create",
    "eventfd", "fallocate", "timerfd_settime", "timerfd_gettime", "accept4", "signalfd4",
    "eventfd2", "epoll_create1", "dup3", "pipe2", "inotify_init1", "preadv", "pwritev",
    "rt_tgsigqueueinfo", "recvmmsg", "fanotify_mark", "prlimit64", "name_to_handle_at",
    "clock_adjtime", "syncfs", "sendmmsg", "getcpu", "process_vm_readv", "process_vm_writev",
    "sched_setattr", "sched_getattr", "renameat2", "seccomp", "getrandom", "memfd_create",
    "execveat", "membarrier", "mlock2", "copy_file_range", "preadv2", "pwritev2",
    "pkey_mprotect", "pkey_alloc", "pkey_free", "statx", "io_pgetevents", "rseq",
    "pidfd_send_signal", "pidfd_open", "clone3", "close_range", "openat2", "pidfd_getfd",
    "faccessat2", "epoll_pwait2", "landlock_create_ruleset", "landlock_add_rule",
    "landlock_restrict_self", "process_mrelease", "futex_waitv",
];

/// `personality(2)` personas the built-in profile allows (PER_LINUX,
/// PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff = query).
const BUILTIN_PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// The built-in profile: default `SCMP_ACT_ERRNO` with ENOSYS (38), as
/// podman's, one `SCMP_ACT_ALLOW` rule for [`BUILTIN_ALLOW`] and one per
/// allowed `personality` argument; native architecture only.
pub fn builtin() -> Converted {
    let mut rules = vec![json!({"names": BUILTIN_ALLOW, "action": "SCMP_ACT_ALLOW"})];
    for p in BUILTIN_PERSONAS {
        rules.push(json!({
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": p, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
        }));
    }
    Converted {
        rules: rules.len(),
        names: BUILTIN_ALLOW.len() + 1,
        profile: json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "syscalls": rules,
        }),
        dropped: Vec::new(),
    }
}

/// The variant's profile and a one-line account of where it came from:
/// podman's file converted for a container with bounding set `caps`, or
/// [`builtin`] when the file is missing, unreadable, or
/// `SPROUT_BENCH_SECCOMP=builtin` asks for it.
pub fn load(caps: Vec<String>) -> (Converted, String) {
    let host = Host::this(caps);
    let forced = std::env::var("SPROUT_BENCH_SECCOMP").is_ok_and(|v| v == "builtin");
    let from_file = if forced {
        Err("SPROUT_BENCH_SECCOMP=builtin".to_string())
    } else {
        std::fs::read_to_string(PODMAN_PROFILE)
            .map_err(|e| format!("{PODMAN_PROFILE}: {e}"))
            .and_then(|t| {
                serde_json::from_str::<Value>(&t).map_err(|e| format!("{PODMAN_PROFILE}: {e}"))
            })
            .and_then(|v| convert(&v, &host).map_err(|e| e.to_string()))
    };
    match from_file {
        Ok(c) => {
            let how = format!(
                "podman's {PODMAN_PROFILE} converted to OCI: {} rules, {} syscall names, {} architectures; {} rules left out by their conditions (arch, caps {}, kernel {}.{})",
                c.rules,
                c.names,
                c.profile["architectures"].as_array().map_or(1, Vec::len),
                c.dropped.len(),
                host.caps.join("+"),
                host.kernel.0,
                host.kernel.1,
            );
            (c, how)
        }
        Err(why) => {
            let c = builtin();
            let how = format!(
                "built-in profile ({why}): default ERRNO(ENOSYS), {} syscall names allowed, personality limited by argument, native architecture only",
                c.names
            );
            (c, how)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(caps: &[&str]) -> Host {
        Host {
            scmp_arch: Some("SCMP_ARCH_X86_64"),
            go_arch: "amd64",
            caps: caps.iter().map(|c| c.to_string()).collect(),
            kernel: (6, 1),
        }
    }

    fn profile() -> Value {
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "defaultErrno": "ENOSYS",
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": [], "comment": "", "includes": {}, "excludes": {}},
                {"names": ["bdflush"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
                {"names": ["breakpoint"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["vm86"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
                {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
                {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_AUDIT_WRITE"]}},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "excludes": {"caps": ["CAP_AUDIT_WRITE"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["futex_waitv"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "7.2"}},
                {"names": ["ioctl"], "action": "SCMP_ACT_NOTIFY"},
                {"names": ["open"], "action": "SCMP_ACT_FROBNICATE"},
                {"names": ["nothing"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]
        })
    }

    #[test]
    fn conversion_keeps_what_applies_in_oci_form() {
        let c = convert(&profile(), &host(&["CAP_AUDIT_WRITE", "CAP_KILL"])).unwrap();
        let p = &c.profile;
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 38);
        assert!(p.get("defaultErrno").is_none() && p.get("archMap").is_none());
        assert_eq!(
            p["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let kept: Vec<(String, String)> = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["names"][0].as_str().unwrap().to_string(),
                    r["action"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want = [
            ("read", "SCMP_ACT_ALLOW"),
            ("bdflush", "SCMP_ACT_ERRNO"),
            ("personality", "SCMP_ACT_ALLOW"),
            ("arch_prctl", "SCMP_ACT_ALLOW"),
            ("chroot", "SCMP_ACT_ERRNO"),
            ("socket", "SCMP_ACT_ALLOW"),
            ("ptrace", "SCMP_ACT_ALLOW"),
        ];
        assert_eq!(
            kept,
            want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
        );
        assert_eq!(c.rules, 7);
        assert_eq!(
            c.names, 8,
            "read write bdflush personality arch_prctl chroot socket ptrace"
        );
        // Only OCI's fields survive; empty args are left out; errnoRet and args are kept.
        for r in p["syscalls"].as_array().unwrap() {
            for k in r.as_object().unwrap().keys() {
                assert!(
                    ["names", "action", "errnoRet", "args"].contains(&k.as_str()),
                    "{k}"
                );
            }
        }
        assert!(p["syscalls"][0].get("args").is_none());
        assert_eq!(p["syscalls"][1]["errnoRet"], 1);
        assert_eq!(
            p["syscalls"][2]["args"],
            json!([{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}])
        );
        // Every dropped rule is accounted for, with its reason.
        let d = c.dropped.join("\n");
        assert_eq!(c.dropped.len(), 8, "{d}");
        for (name, why) in [
            ("breakpoint", "only for arm64"),
            ("vm86", "not for amd64"),
            ("chroot", "only with CAP_SYS_CHROOT"),
            ("socket", "not with CAP_AUDIT_WRITE"),
            ("futex_waitv", "only on kernel >= 7.2"),
            ("ioctl", "SCMP_ACT_NOTIFY"),
            ("open", "not an OCI seccomp action"),
            ("nothing", "same action as the default"),
        ] {
            assert!(
                d.contains(&format!("{name}: ")) && d.contains(why),
                "{name}: {why} in\n{d}"
            );
        }
    }

    #[test]
    fn capabilities_decide_the_conditional_rules() {
        // Without CAP_AUDIT_WRITE the restricted socket rule applies instead.
        let c = convert(&profile(), &host(&["CAP_SYS_CHROOT"])).unwrap();
        let rules = c.profile["syscalls"].as_array().unwrap();
        let socket: Vec<&Value> = rules.iter().filter(|r| r["names"][0] == "socket").collect();
        assert_eq!(socket.len(), 1);
        assert_eq!(socket[0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(socket[0]["errnoRet"], 22);
        let chroot: Vec<&Value> = rules.iter().filter(|r| r["names"][0] == "chroot").collect();
        assert_eq!(chroot.len(), 1);
        assert_eq!(chroot[0]["action"], "SCMP_ACT_ALLOW");
    }

    #[test]
    fn conversion_refuses_a_profile_without_default() {
        assert!(convert(&json!({"syscalls": []}), &host(&[])).is_err());
        assert!(convert(&json!({"defaultAction": "SCMP_ACT_ALLOW"}), &host(&[])).is_err());
    }

    #[test]
    fn unknown_arch_gets_no_architectures() {
        let mut h = host(&[]);
        h.scmp_arch = None;
        h.go_arch = "mips";
        let c = convert(&profile(), &h).unwrap();
        assert!(c.profile.get("architectures").is_none());
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel("6.1.0-13-amd64\n"), Some((6, 1)));
        assert_eq!(parse_kernel("5.15"), Some((5, 15)));
        assert_eq!(parse_kernel("4"), Some((4, 0)));
        assert_eq!(parse_kernel("x"), None);
    }

    #[test]
    fn builtin_profile_is_a_plausible_default() {
        let b = builtin();
        let names: std::collections::BTreeSet<&str> = BUILTIN_ALLOW.iter().copied().collect();
        assert_eq!(names.len(), BUILTIN_ALLOW.len(), "duplicate names");
        assert!(names.len() >= 250, "{}", names.len());
        for must in [
            "execve",
            "exit_group",
            "mmap",
            "openat",
            "arch_prctl",
            "rt_sigreturn",
        ] {
            assert!(names.contains(must), "{must}");
        }
        for never in [
            "mount",
            "umount2",
            "pivot_root",
            "bpf",
            "kexec_load",
            "init_module",
            "reboot",
            "swapon",
            "setns",
            "unshare",
            "keyctl",
            "perf_event_open",
            "personality",
        ] {
            assert!(!names.contains(never), "{never}");
        }
        assert_eq!(b.profile["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(b.profile["defaultErrnoRet"], 38);
        assert_eq!(b.rules, 1 + BUILTIN_PERSONAS.len());
        // It is already in OCI form: converting it changes nothing.
        let again = convert(&b.profile, &host(&[])).unwrap();
        assert_eq!(again.profile["syscalls"], b.profile["syscalls"]);
        assert!(again.dropped.is_empty());
    }
}
