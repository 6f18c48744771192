//! Process attributes the controller applies to the container process at
//! `Ready` (before `Run`: the stub is still sprout-init, waiting; all of
//! them survive execve and are inherited by its children):
//!
//! - `process.scheduler`: `sched_setattr(2)` on the pid (runtime-spec
//!   config.md "Scheduler": policy, nice, priority, flags, and runtime/
//!   deadline/period for SCHED_DEADLINE);
//! - `process.ioPriority`: `ioprio_set(IOPRIO_WHO_PROCESS, pid, ...)`
//!   (ioprio_set(2): class RT/BE/IDLE, level 0-7);
//! - `process.execCPUAffinity` (exec processes only; the spec says it does
//!   not apply to the container's init process): `sched_setaffinity(2)`
//!   with `final`, else `initial` (both are applied at once here: the
//!   process is already in the container's cgroup).
//!
//! Also here: the fields sprout refuses with an error naming them —
//! `process.apparmorProfile`, `process.selinuxLabel`, `linux.mountLabel`
//! (no LSM support: this host has neither AppArmor nor SELinux),
//! `linux.intelRdt`, `linux.memoryPolicy`, `linux.netDevices`, and
//! `linux.personality.flags` (the spec defines no flag values).

use nix::unistd::Pid;
use oci_spec::runtime::{
    ExecCPUAffinity, IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy,
    Process, Scheduler, Spec,
};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// `struct sched_attr` (`<linux/sched/types.h>`, `SCHED_ATTR_SIZE_VER1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SchedAttr {
    /// `sizeof(struct sched_attr)` = 56.
    pub size: u32,
    /// `SCHED_*` policy.
    pub policy: u32,
    /// `SCHED_FLAG_*`.
    pub flags: u64,
    /// Nice value (SCHED_OTHER, SCHED_BATCH).
    pub nice: i32,
    /// Static priority (SCHED_FIFO, SCHED_RR: 1-99).
    pub priority: u32,
    /// SCHED_DEADLINE runtime (ns).
    pub runtime: u64,
    /// SCHED_DEADLINE deadline (ns).
    pub deadline: u64,
    /// SCHED_DEADLINE period (ns).
    pub period: u64,
    /// Utilization clamp minimum.
    pub util_min: u32,
    /// Utilization clamp maximum.
    pub util_max: u32,
}

/// What the controller applies at `Ready`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    /// `process.scheduler`.
    pub sched: Option<SchedAttr>,
    /// `process.ioPriority` as an `IOPRIO_PRIO_VALUE(class, level)`.
    pub ioprio: Option<u32>,
    /// CPUs of `process.execCPUAffinity` (exec only).
    pub cpus: Option<Vec<usize>>,
}

/// `SCHED_*` policy numbers (sched(7)).
fn policy(p: LinuxSchedulerPolicy) -> Result<(u32, &'static str)> {
    Ok(match p {
        LinuxSchedulerPolicy::SchedOther => (0, "SCHED_OTHER"),
        LinuxSchedulerPolicy::SchedFifo => (1, "SCHED_FIFO"),
        LinuxSchedulerPolicy::SchedRr => (2, "SCHED_RR"),
        LinuxSchedulerPolicy::SchedBatch => (3, "SCHED_BATCH"),
        LinuxSchedulerPolicy::SchedIso => {
            crate::bail!("process.scheduler.policy SCHED_ISO: not implemented by Linux")
        }
        LinuxSchedulerPolicy::SchedIdle => (5, "SCHED_IDLE"),
        LinuxSchedulerPolicy::SchedDeadline => (6, "SCHED_DEADLINE"),
    })
}

/// `SCHED_FLAG_*` bits (`<linux/sched.h>`).
fn sched_flag(f: LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// Checks `process.scheduler` (sched(7) ranges) and builds the attr.
pub fn scheduler(s: &Scheduler) -> Result<SchedAttr> {
    let (pol, name) = policy(*s.policy())?;
    let realtime = pol == 1 || pol == 2;
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        crate::bail!("process.scheduler.nice {nice}: out of range (-20 to 19)");
    }
    if nice != 0 && pol != 0 && pol != 3 {
        crate::bail!(
            "process.scheduler.nice {nice}: only SCHED_OTHER and SCHED_BATCH use a nice value, not {name}"
        );
    }
    let priority = s.priority().unwrap_or(0);
    match (realtime, priority) {
        (true, 1..=99) | (false, 0) => {}
        (true, p) => {
            crate::bail!("process.scheduler.priority {p}: {name} needs a priority from 1 to 99")
        }
        (false, p) => crate::bail!(
            "process.scheduler.priority {p}: must be 0 with {name} (1-99 is for SCHED_FIFO and SCHED_RR)"
        ),
    }
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if pol == 6 {
        // sched(7): runtime <= deadline <= period (period 0 = deadline).
        if runtime == 0 || deadline == 0 {
            crate::bail!("process.scheduler: SCHED_DEADLINE needs runtime and deadline (ns)");
        }
        if runtime > deadline || (period != 0 && deadline > period) {
            crate::bail!(
                "process.scheduler: SCHED_DEADLINE needs runtime <= deadline <= period (got {runtime}, {deadline}, {period})"
            );
        }
    } else if runtime != 0 || deadline != 0 || period != 0 {
        crate::bail!(
            "process.scheduler: runtime, deadline and period are for SCHED_DEADLINE only, not {name}"
        );
    }
    let flags = s
        .flags()
        .iter()
        .flatten()
        .fold(0, |acc, f| acc | sched_flag(*f));
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: pol,
        flags,
        nice,
        priority: priority as u32,
        runtime,
        deadline,
        period,
        util_min: 0,
        util_max: if flags & 0x40 != 0 { 1024 } else { 0 },
    })
}

/// `IOPRIO_PRIO_VALUE(class, level)` (`<linux/ioprio.h>`: class << 13).
pub fn io_priority(p: &LinuxIOPriority) -> Result<u32> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let level = p.priority();
    if !(0..=7).contains(&level) {
        crate::bail!("process.ioPriority.priority {level}: out of range (0 to 7)");
    }
    Ok((class << 13) | level as u32)
}

/// A CPU list (`0-3,7`, cpuset(7) "List format") as CPU numbers.
pub fn cpu_list(field: &str, s: &str) -> Result<Vec<usize>> {
    let bad = || Error::invalid(format!("{field} \"{s}\": not a CPU list (like 0-3,7)"));
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: usize = a.trim().parse().map_err(|_| bad())?;
        let b: usize = b.trim().parse().map_err(|_| bad())?;
        if a > b || b >= nix::sched::CpuSet::count() {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    Ok(cpus)
}

/// `process.execCPUAffinity`: `final`, else `initial`.
fn affinity(a: &ExecCPUAffinity) -> Result<Option<Vec<usize>>> {
    if let Some(f) = a.cpu_affinity_final().as_deref().filter(|s| !s.is_empty()) {
        return cpu_list("process.execCPUAffinity.final", f).map(Some);
    }
    if let Some(i) = a.initial().as_deref().filter(|s| !s.is_empty()) {
        return cpu_list("process.execCPUAffinity.initial", i).map(Some);
    }
    Ok(None)
}

/// Whether an LSM is active, from securityfs/sysfs.
fn lsm_enabled(name: &str) -> bool {
    match name {
        "AppArmor" => std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.starts_with('Y')),
        _ => std::path::Path::new("/sys/fs/selinux/enforce").exists(),
    }
}

/// The error for a non-empty LSM field (sprout applies no LSM labels).
fn lsm_error(field: &str, value: &str, lsm: &str) -> Error {
    if lsm_enabled(lsm) {
        Error::invalid(format!(
            "{field} \"{value}\": {lsm} labels are not supported by sprout"
        ))
    } else {
        Error::invalid(format!(
            "{field} \"{value}\": {lsm} is not enabled on this host"
        ))
    }
}

/// The attributes of `process` (the container's init process when
/// `exec` is false): errors name the field.
pub fn resolve(p: &Process, exec: bool) -> Result<Attrs> {
    // "unconfined" (podman's `--security-opt apparmor=unconfined`) asks
    // for what the process has without a profile written: nothing to do.
    if let Some(v) = p
        .apparmor_profile()
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "unconfined")
    {
        return Err(lsm_error("process.apparmorProfile", v, "AppArmor"));
    }
    if let Some(v) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        return Err(lsm_error("process.selinuxLabel", v, "SELinux"));
    }
    Ok(Attrs {
        sched: p.scheduler().as_ref().map(scheduler).transpose()?,
        ioprio: p.io_priority().as_ref().map(io_priority).transpose()?,
        // Not applicable to the container's init process (config.md).
        cpus: if exec {
            p.exec_cpu_affinity()
                .as_ref()
                .map(affinity)
                .transpose()?
                .flatten()
        } else {
            None
        },
    })
}

/// The `linux` fields sprout refuses, as an error naming the first one
/// present (`linux.personality.flags` included).
pub fn refuse_linux_extras(spec: &Spec) -> Result<()> {
    let Some(l) = spec.linux() else { return Ok(()) };
    if let Some(v) = l.mount_label().as_deref().filter(|s| !s.is_empty()) {
        return Err(lsm_error("linux.mountLabel", v, "SELinux"));
    }
    if l.intel_rdt().is_some() {
        crate::bail!("linux.intelRdt: Intel RDT (resctrl) is not supported by sprout");
    }
    if l.memory_policy().is_some() {
        crate::bail!("linux.memoryPolicy: NUMA memory policies are not supported by sprout yet");
    }
    if let Some(d) = l.net_devices().as_ref().filter(|d| !d.is_empty()) {
        let mut names: Vec<&String> = d.keys().collect();
        names.sort();
        crate::bail!(
            "linux.netDevices {names:?}: moving network devices into the container is not supported by sprout yet"
        );
    }
    if let Some(f) = l
        .personality()
        .as_ref()
        .and_then(|p| p.flags().clone())
        .filter(|f| !f.is_empty())
    {
        crate::bail!("linux.personality.flags {f:?}: the runtime spec defines no flag values");
    }
    Ok(())
}

impl Attrs {
    /// Applies everything to `pid` (the container process, still the stub).
    ///
    /// Errors name the field and the syscall.
    pub fn apply(&self, pid: Pid) -> Result<()> {
        if let Some(a) = &self.sched {
            crate::sys::sched_setattr(pid.as_raw(), a).map_err(|e| Error::Sys {
                context: "process.scheduler: sched_setattr".into(),
                errno: e,
            })?;
        }
        if let Some(v) = self.ioprio {
            crate::sys::ioprio_set(pid.as_raw(), v).map_err(|e| Error::Sys {
                context: "process.ioPriority: ioprio_set".into(),
                errno: e,
            })?;
        }
        if let Some(cpus) = &self.cpus {
            let mut set = nix::sched::CpuSet::new();
            for &c in cpus {
                set.set(c).map_err(|e| Error::Sys {
                    context: "process.execCPUAffinity".into(),
                    errno: e,
                })?;
            }
            nix::sched::sched_setaffinity(pid, &set).map_err(|e| Error::Sys {
                context: "process.execCPUAffinity: sched_setaffinity".into(),
                errno: e,
            })?;
        }
        Ok(())
    }

    /// For `sprout plan`.
    pub fn view(&self) -> Value {
        json!({
            "scheduler": self.sched.map(|a| json!({
                "policy": a.policy, "flags": a.flags, "nice": a.nice, "priority": a.priority,
                "runtime": a.runtime, "deadline": a.deadline, "period": a.period,
            })),
            "ioPriority": self.ioprio.map(|v| json!({"class": v >> 13, "level": v & 7})),
            "cpus": self.cpus,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(v: Value) -> Result<SchedAttr> {
        scheduler(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn scheduler_ranges() {
        let a = sched(json!({"policy": "SCHED_BATCH", "nice": 5})).unwrap();
        assert_eq!((a.size, a.policy, a.nice, a.priority), (56, 3, 5, 0));
        let a = sched(
            json!({"policy": "SCHED_FIFO", "priority": 10, "flags": ["SCHED_RESET_ON_FORK"]}),
        )
        .unwrap();
        assert_eq!((a.policy, a.priority, a.flags), (1, 10, 1));
        let a = sched(json!({"policy": "SCHED_DEADLINE", "runtime": 10_000_000, "deadline": 30_000_000, "period": 30_000_000}))
            .unwrap();
        assert_eq!(
            (a.policy, a.runtime, a.deadline, a.period),
            (6, 10_000_000, 30_000_000, 30_000_000)
        );
        let e = |v| sched(v).unwrap_err().to_string();
        assert_eq!(
            e(json!({"policy": "SCHED_OTHER", "nice": 20})),
            "process.scheduler.nice 20: out of range (-20 to 19)"
        );
        assert!(
            e(json!({"policy": "SCHED_RR"})).contains("SCHED_RR needs a priority from 1 to 99")
        );
        assert!(
            e(json!({"policy": "SCHED_OTHER", "priority": 3}))
                .contains("must be 0 with SCHED_OTHER")
        );
        assert!(
            e(json!({"policy": "SCHED_FIFO", "priority": 3, "nice": 2}))
                .contains("only SCHED_OTHER and SCHED_BATCH")
        );
        assert!(
            e(json!({"policy": "SCHED_DEADLINE", "runtime": 5, "deadline": 4}))
                .contains("runtime <= deadline")
        );
        assert!(e(json!({"policy": "SCHED_ISO"})).contains("not implemented by Linux"));
        assert!(e(json!({"policy": "SCHED_IDLE", "period": 4})).contains("SCHED_DEADLINE only"));
    }

    #[test]
    fn io_priorities() {
        let p = |v| io_priority(&serde_json::from_value(v).unwrap());
        assert_eq!(
            p(json!({"class": "IOPRIO_CLASS_RT", "priority": 3})).unwrap(),
            (1 << 13) | 3
        );
        assert_eq!(
            p(json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0})).unwrap(),
            3 << 13
        );
        assert_eq!(
            p(json!({"class": "IOPRIO_CLASS_BE", "priority": 8}))
                .unwrap_err()
                .to_string(),
            "process.ioPriority.priority 8: out of range (0 to 7)"
        );
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("f", "0-2,5").unwrap(), [0, 1, 2, 5]);
        assert_eq!(cpu_list("f", "1").unwrap(), [1]);
        for bad in ["", "a", "3-1", "1,", "99999"] {
            assert!(cpu_list("f", bad).is_err(), "{bad}");
        }
    }
}
