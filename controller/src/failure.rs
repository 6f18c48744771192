//! Turning the stub's `Failed{step, errno, arg}` into one line that names
//! the config field, its value, the operation and the errno:
//!
//! ```text
//! process.cwd "/data": chdir: Permission denied (EACCES)
//! process.args[0] "nosuchcmd": executable file not found in $PATH
//! mounts[2] "/data": mount: No such file or directory (ENOENT)
//! process.user.gid 5000: setresgid: Invalid argument (EINVAL)
//! ```
//!
//! `arg` indexes the plan list the step works on (mount ops, namespaces,
//! rlimits, capabilities); the plan maps it back to the config entry. The
//! stub is not trusted: an out-of-range `arg` still gives a line.
//! The `$PATH` wording is runc's (podman maps it to exit code 127).

use sprout_protocol::Step;

use crate::caps;
use crate::error::raw_errno_text;
use crate::plan::Plan;
use crate::rlimit;

/// The message for a `Failed` report about `plan`.
pub fn describe(plan: &Plan, step: Step, errno: u32, arg: u32) -> String {
    let e = raw_errno_text(errno);
    let name = step.name();
    let arg0 = || {
        plan.args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match step {
        Step::Chdir if errno == libc::EXDEV as u32 => format!(
            "process.cwd \"{}\": resolves outside the container's root filesystem (CVE-2024-21626)",
            plan.cwd.to_string_lossy()
        ),
        Step::Chdir => format!(
            "process.cwd \"{}\": {name}: {e}",
            plan.cwd.to_string_lossy()
        ),
        Step::ResolveExec | Step::Execve => match errno as i32 {
            libc::ENOENT if step == Step::ResolveExec && !arg0().contains('/') => {
                format!(
                    "process.args[0] \"{}\": executable file not found in $PATH",
                    arg0()
                )
            }
            libc::ENOENT => format!("process.args[0] \"{}\": no such file or directory", arg0()),
            libc::EACCES => format!("process.args[0] \"{}\": permission denied", arg0()),
            libc::ENOEXEC => format!("process.args[0] \"{}\": exec format error", arg0()),
            _ => format!("process.args[0] \"{}\": {name}: {e}", arg0()),
        },
        // EINVAL from mount(2) is mostly a bad option: name the type and
        // the filesystem options it got (runc shows the data string).
        Step::Mount
            if errno as i32 == libc::EINVAL
                && let Some(op) = plan.mounts.get(arg as usize)
                && op.flags & crate::mounts::ms::BIND == 0
                && let Some(fstype) = &op.fstype =>
        {
            let data = op
                .data
                .as_deref()
                .map(|d| format!(" with data \"{}\"", d.to_string_lossy()))
                .unwrap_or_default();
            format!(
                "{}: {name} of type \"{}\"{data}: {e}",
                op.origin,
                fstype.to_string_lossy()
            )
        }
        Step::MountTarget
        | Step::Mount
        | Step::Device
        | Step::Symlink
        | Step::Mask
        | Step::ReadonlyPath
        | Step::WriteFile => match plan.mounts.get(arg as usize) {
            Some(op) => format!("{}: {name}: {e}", op.origin),
            None => format!("mount op {arg}: {name}: {e}"),
        },
        Step::Setresgid => format!("process.user.gid {}: {name}: {e}", plan.gid),
        Step::Setresuid => format!("process.user.uid {}: {name}: {e}", plan.uid),
        // The list itself while it is short (a long one would make the
        // line unreadable), else how many there are.
        Step::Setgroups if plan.additional_gids.len() > 16 => format!(
            "process.user.additionalGids ({} groups): {name}: {e}",
            plan.additional_gids.len()
        ),
        Step::Setgroups => format!(
            "process.user.additionalGids {:?}: {name}: {e}",
            plan.additional_gids
        ),
        Step::Umask => format!("process.user.umask {:#o}: {name}: {e}", plan.umask),
        Step::Setns => match plan.wire_namespaces().get(arg as usize).copied().flatten() {
            Some(j) if j.index == crate::exec::JOIN_INDEX => format!(
                "joining the container's namespaces ({}) through a pidfd of {}: {name}: {e}",
                crate::exec::namespace_names(j.nstype),
                j.path.display()
            ),
            Some(j) => format!(
                "linux.namespaces[{}].path \"{}\": {name}: {e}",
                j.index,
                j.path.display()
            ),
            None => format!("namespace {arg}: {name}: {e}"),
        },
        Step::Hostname => format!(
            "hostname \"{}\": {name}: {e}",
            plan.hostname
                .as_deref()
                .map(|h| h.to_string_lossy())
                .unwrap_or_default()
        ),
        Step::Domainname => format!(
            "domainname \"{}\": {name}: {e}",
            plan.domainname
                .as_deref()
                .map(|h| h.to_string_lossy())
                .unwrap_or_default()
        ),
        Step::Loopback => format!("linux.namespaces (network): {name}: {e}"),
        Step::RootfsPropagation => format!("linux.rootfsPropagation: {name}: {e}"),
        Step::BindRootfs | Step::PivotRoot => {
            format!(
                "root.path \"{}\": {name}: {e}",
                plan.rootfs.to_string_lossy()
            )
        }
        Step::ReadonlyRootfs => format!("root.readonly: {name}: {e}"),
        Step::Console => format!("process.terminal: {name}: {e}"),
        Step::NoNewPrivs => format!("process.noNewPrivileges: {name}: {e}"),
        Step::Bounding => format!(
            "process.capabilities.bounding {}: {name}: {e}",
            cap_name(arg)
        ),
        Step::Ambient => format!(
            "process.capabilities.ambient {}: {name}: {e}",
            cap_name(arg)
        ),
        Step::Capset | Step::KeepCaps => format!("process.capabilities: {name}: {e}"),
        Step::Seccomp => format!("linux.seccomp: {name}: {e}"),
        Step::Rlimit => match plan.rlimits.get(arg as usize) {
            Some(r) => format!(
                "process.rlimits[{arg}] {}: {name}{}: {e}",
                rlimit::name_of(r.resource),
                match errno {
                    1 => rlimit::raise_hint(r.resource, r.hard),
                    _ => String::new(),
                }
            ),
            None => format!("rlimit {arg}: {name}: {e}"),
        },
        Step::Personality => format!("linux.personality: {name}: {e}"),
        Step::TimeNamespace => format!("linux.namespaces (time): {name}: {e}"),
        Step::CgroupNamespace => format!("linux.namespaces (cgroup): {name}: {e}"),
        Step::Unshare => format!(
            "linux.namespaces: unshare (new {}): {e}",
            crate::exec::namespace_names(plan.unshare)
        ),
        // (The sync loop names the `tasks` file itself when it knows it.)
        Step::JoinCgroup => {
            format!(
                "linux.cgroupsPath: joining the container's cgroup: writing 0 to tasks file {arg}: {e}"
            )
        }
        Step::ChownStdio => format!("process.user.uid {}: {name} of stdio: {e}", plan.uid),
        Step::DecodePlan => format!(
            "sprout-init could not decode the plan{} (are sprout and sprout-init from the same build?)",
            if arg != 0 {
                format!(": protocol version {arg} is not its own")
            } else {
                String::new()
            }
        ),
        Step::ReadPlan | Step::Sync | Step::CloseRange | Step::Fork | Step::Spawn => {
            format!("sprout-init: {name}: {e}")
        }
        Step::StartWait | Step::Keyring | Step::Dumpable | Step::Setsid => {
            format!("sprout-init: {name}: {e}")
        }
    }
}

/// `CAP_NAME` of a bit number from the wire.
fn cap_name(bit: u32) -> String {
    caps::names(1u64.checked_shl(bit).unwrap_or(0))
        .pop()
        .unwrap_or_else(|| format!("capability {bit}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mounts::{Op, Origin};
    use sprout_protocol::{Caps, MountKind, Rlimit, WinSize};
    use std::ffi::CString;

    fn c(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    fn plan() -> Plan {
        let op = |origin: Origin| Op {
            kind: MountKind::Mount,
            opts: 0,
            flags: 0,
            remount_flags: 0,
            propagation: 0,
            mode: 0,
            major: 0,
            minor: 0,
            uid: 0,
            gid: 0,
            source: None,
            target: c("x"),
            fstype: None,
            data: None,
            origin,
            tree: None,
            cgroup_bind: false,
        };
        Plan {
            flags: 0,
            uid: 1000,
            gid: 5000,
            additional_gids: vec![27, 100],
            home: None,
            cap_last_cap: 40,
            caps: Caps::default(),
            preserve_fds: 0,
            umask: 0o22,
            personality: sprout_protocol::UNSET,
            seccomp_flags: 0,
            rootfs_propagation: 0,
            console: WinSize::default(),
            rootfs: c("/b/rootfs"),
            hostname: Some(c("box")),
            domainname: None,
            cwd: c("/data"),
            clone_flags: 0,
            unshare: 0,
            new_namespaces: vec![],
            join: vec![],
            uid_map: vec![],
            gid_map: vec![],
            rlimits: vec![Rlimit {
                resource: 7,
                soft: 1,
                hard: 1,
            }],
            mounts: vec![
                op(Origin::Mount {
                    index: 0,
                    destination: "/proc".into(),
                }),
                op(Origin::Mount {
                    index: 2,
                    destination: "/data".into(),
                }),
                op(Origin::MaskedPath {
                    index: 1,
                    path: "/proc/kcore".into(),
                }),
            ],
            args: vec![c("nosuchcmd"), c("-x")],
            env: vec![],
            seccomp: vec![],
            oom_score_adj: None,
            plan_fd: 3,
            sync_fd: 4,
            start_socket: None,
            ..Plan::default()
        }
    }

    #[test]
    fn messages_name_the_field() {
        let p = plan();
        let d = |s, e, a| describe(&p, s, e, a);
        assert_eq!(
            d(Step::Chdir, 13, 0),
            "process.cwd \"/data\": chdir: Permission denied (EACCES)"
        );
        assert_eq!(
            d(Step::ResolveExec, 2, 0),
            "process.args[0] \"nosuchcmd\": executable file not found in $PATH"
        );
        assert_eq!(
            d(Step::ResolveExec, 13, 0),
            "process.args[0] \"nosuchcmd\": permission denied"
        );
        assert_eq!(
            d(Step::Execve, 8, 0),
            "process.args[0] \"nosuchcmd\": exec format error"
        );
        assert_eq!(
            d(Step::Mount, 2, 1),
            "mounts[2] \"/data\": mount: No such file or directory (ENOENT)"
        );
        // EINVAL names the type and data of a filesystem mount.
        let mut q = plan();
        q.mounts[1].fstype = Some(c("tmpfs"));
        q.mounts[1].data = Some(c("size=1m,bogus"));
        assert_eq!(
            describe(&q, Step::Mount, 22, 1),
            "mounts[2] \"/data\": mount of type \"tmpfs\" with data \"size=1m,bogus\": Invalid argument (EINVAL)"
        );
        q.mounts[1].data = None;
        assert_eq!(
            describe(&q, Step::Mount, 22, 1),
            "mounts[2] \"/data\": mount of type \"tmpfs\": Invalid argument (EINVAL)"
        );
        assert_eq!(
            describe(&q, Step::Mount, 2, 1),
            "mounts[2] \"/data\": mount: No such file or directory (ENOENT)"
        );
        assert_eq!(
            d(Step::Mask, 1, 2),
            "linux.maskedPaths[1] \"/proc/kcore\": mask: Operation not permitted (EPERM)"
        );
        assert_eq!(
            d(Step::Mount, 2, 99),
            "mount op 99: mount: No such file or directory (ENOENT)"
        );
        assert_eq!(
            d(Step::Setresgid, 22, 0),
            "process.user.gid 5000: setresgid: Invalid argument (EINVAL)"
        );
        assert_eq!(
            d(Step::Setresuid, 22, 0),
            "process.user.uid 1000: setresuid: Invalid argument (EINVAL)"
        );
        assert_eq!(
            d(Step::Setgroups, 1, 0),
            "process.user.additionalGids [27, 100]: setgroups: Operation not permitted (EPERM)"
        );
        assert_eq!(
            d(Step::Bounding, 1, 21),
            "process.capabilities.bounding CAP_SYS_ADMIN: prctl(PR_CAPBSET_DROP): Operation not permitted (EPERM)"
        );
        assert_eq!(
            d(Step::Rlimit, 1, 0),
            "process.rlimits[0] RLIMIT_NOFILE: setrlimit: Operation not permitted (EPERM)"
        );
        assert_eq!(
            d(Step::Hostname, 1, 0),
            "hostname \"box\": sethostname: Operation not permitted (EPERM)"
        );
        assert_eq!(
            d(Step::Sync, 32, 0),
            "sprout-init: sync: Broken pipe (EPIPE)"
        );
    }

    #[test]
    fn a_long_group_list_is_counted() {
        let mut p = plan();
        p.additional_gids = (0..17).collect();
        assert_eq!(
            describe(&p, Step::Setgroups, 7, 0),
            "process.user.additionalGids (17 groups): setgroups: Argument list too long (E2BIG)"
        );
    }

    #[test]
    fn exec_joins_name_the_namespace() {
        use crate::plan::JoinNs;
        let mut p = plan();
        let fd = std::fs::File::open("/dev/null").unwrap().into();
        p.join = vec![JoinNs {
            kind: "",
            nstype: crate::plan::clone_flags::NEWNET | crate::plan::clone_flags::NEWUSER,
            index: crate::exec::JOIN_INDEX,
            path: "/proc/42".into(),
            fd,
            stub_fd: 5,
        }];
        assert_eq!(
            describe(&p, Step::Setns, 1, 0),
            "joining the container's namespaces (user, net) through a pidfd of /proc/42: setns: Operation not permitted (EPERM)"
        );
    }

    #[test]
    fn path_in_args0_is_not_a_path_search() {
        let mut p = plan();
        p.args[0] = c("/bin/nope");
        assert_eq!(
            describe(&p, Step::ResolveExec, 2, 0),
            "process.args[0] \"/bin/nope\": no such file or directory"
        );
    }
}
