//! Resource limits written straight to the v1 interface files, so that the
//! usual sections (podman's pids limit, docker's memory section, a
//! Kubernetes pod's cpu shares, quota and memory limit) do not build
//! libcgroups' v1 manager: its constructor finds every hierarchy again
//! through hardened /proc reads, about 540 syscalls and 1.8 ms per create
//! on this host, to then write a handful of files.
//!
//! The files, values, conditions and order are those of libcgroups 0.7's
//! v1 controllers (`Pids`, `Cpu`, `CpuSet`, `Memory`), which the manager
//! would have run; blockIO, hugepageLimits and network stay with
//! libcgroups, and so does every section on cgroup v2 hosts. A section
//! whose hierarchy is missing is left to libcgroups too, which reports
//! the missing controller as before.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::{
    Cgroup, CgroupError, CgroupSetup, Result, field_for_file, io_err, read_small, write_file,
};

/// The sections taken out of what libcgroups gets, with their directories.
#[derive(Debug, Default)]
pub(super) struct Direct {
    pids: Option<(PathBuf, LinuxPids)>,
    /// (cpu directory, cpuset directory, the section): a directory is
    /// present when the section has fields for that controller.
    cpu: Option<(Option<PathBuf>, Option<PathBuf>, LinuxCpu)>,
    /// The memory section and `disableOOMKiller`.
    memory: Option<(PathBuf, LinuxMemory, bool)>,
}

impl Direct {
    /// True if the memory section (and with it `disableOOMKiller`) is here.
    pub(super) fn has_memory(&self) -> bool {
        self.memory.is_some()
    }
}

/// libcgroups' `Cpu::needs_to_handle`: the cpu controller is touched only
/// when one of these is set (`burst` alone is not enough there, and so it
/// is not here either).
fn cpu_fields(c: &LinuxCpu) -> bool {
    c.shares().is_some()
        || c.period().is_some()
        || c.quota().is_some()
        || c.realtime_period().is_some()
        || c.realtime_runtime().is_some()
        || c.idle().is_some()
}

impl Cgroup {
    /// Move the sections written here out of `lib` (v1 hosts only).
    pub(super) fn take_direct(&self, lib: &mut LinuxResources, disable_oom: bool) -> Direct {
        let mut d = Direct::default();
        if self.setup == CgroupSetup::Unified {
            return d;
        }
        if let (Some(p), Some(dir)) = (*lib.pids(), self.v1_dir("pids")) {
            d.pids = Some((dir.to_path_buf(), p));
            lib.set_pids(None);
        }
        if let Some(c) = lib.cpu().clone() {
            let cpu_dir = cpu_fields(&c).then(|| self.v1_dir("cpu"));
            let cpuset_dir =
                (c.cpus().is_some() || c.mems().is_some()).then(|| self.v1_dir("cpuset"));
            // Every controller the section needs must be there.
            if cpu_dir != Some(None) && cpuset_dir != Some(None) {
                d.cpu = Some((
                    cpu_dir.flatten().map(Path::to_path_buf),
                    cpuset_dir.flatten().map(Path::to_path_buf),
                    c,
                ));
                lib.set_cpu(None);
            }
        }
        if let (Some(m), Some(dir)) = (*lib.memory(), self.v1_dir("memory")) {
            d.memory = Some((dir.to_path_buf(), m, disable_oom));
            lib.set_memory(None);
        }
        d
    }

    /// Write `value` to `dir/file`; a refusal names the OCI field.
    fn put(&self, dir: &Path, file: &str, value: String) -> Result<()> {
        write_file(&dir.join(file), &value).map_err(|e| CgroupError::Rejected {
            field: field_for_file(file),
            file: file.into(),
            value,
            source: e,
        })
    }

    /// Apply the sections of `d`: cpuset, cpu, memory, pids.
    pub(super) fn apply_direct(&self, d: &Direct) -> Result<()> {
        if let Some((cpu_dir, cpuset_dir, c)) = &d.cpu {
            if let Some(dir) = cpuset_dir {
                if let Some(cpus) = c.cpus() {
                    self.put(dir, "cpuset.cpus", cpus.clone())?;
                }
                if let Some(mems) = c.mems() {
                    self.put(dir, "cpuset.mems", mems.clone())?;
                }
            }
            if let Some(dir) = cpu_dir {
                if let Some(v) = c.shares().filter(|v| *v != 0) {
                    self.put(dir, "cpu.shares", v.to_string())?;
                }
                if let Some(v) = c.period().filter(|v| *v != 0) {
                    self.put(dir, "cpu.cfs_period_us", v.to_string())?;
                }
                if let Some(v) = c.quota().filter(|v| *v != 0) {
                    self.put(dir, "cpu.cfs_quota_us", v.to_string())?;
                }
                if let Some(v) = c.burst() {
                    self.put(dir, "cpu.cfs_burst_us", v.to_string())?;
                }
                if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
                    self.put(dir, "cpu.rt_runtime_us", v.to_string())?;
                }
                if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
                    self.put(dir, "cpu.rt_period_us", v.to_string())?;
                }
                if let Some(v) = c.idle() {
                    self.put(dir, "cpu.idle", v.to_string())?;
                }
            }
        }
        if let Some((dir, m, disable_oom)) = &d.memory {
            self.apply_memory(dir, m, *disable_oom)?;
        }
        if let Some((dir, p)) = &d.pids {
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".to_string()
            };
            self.put(dir, "pids.max", v)?;
        }
        Ok(())
    }

    /// libcgroups' v1 `Memory::apply`: the limit and memory+swap limit in
    /// the order that keeps memsw >= limit (memsw first when it grows,
    /// which libcgroups decides from the current limit), 0 meaning "leave
    /// alone"; then the reservation (soft limit), `memory.oom_control`
    /// (always written, 0 or 1), swappiness and the kernel TCP limit.
    fn apply_memory(&self, dir: &Path, m: &LinuxMemory, disable_oom: bool) -> Result<()> {
        let current_limit = || -> Result<i64> {
            let f = dir.join("memory.limit_in_bytes");
            let text = read_small(&f).map_err(|e| io_err(&self.path, "read", &f, e))?;
            let t = text.trim();
            if t == "max" {
                return Ok(i64::MAX);
            }
            t.parse().map_err(|_| CgroupError::Other {
                field: "linux.resources.memory.limit".into(),
                msg: format!("{}: unexpected value {t:?}", f.display()),
            })
        };
        // (limit, memory+swap, whether memsw is written first too)
        let (limit, swap, grow_first) = match (m.limit(), m.swap()) {
            (Some(l), Some(s)) => (l, s, s == -1 || current_limit()? < s),
            (Some(-1), None) => (-1, -1, true),
            // libcgroups compares the current limit with 0 here, which a v1
            // limit never is below: the write order is always limit first.
            (Some(l), None) => (l, 0, false),
            (None, Some(s)) => (0, s, false),
            (None, None) => (0, 0, false),
        };
        let set_limit = |v: i64| {
            if v == 0 {
                return Ok(());
            }
            self.put(dir, "memory.limit_in_bytes", v.to_string())
        };
        let set_swap = |v: i64| {
            if v == 0 {
                return Ok(());
            }
            self.put(dir, "memory.memsw.limit_in_bytes", v.to_string())
        };
        if grow_first {
            set_swap(swap)?;
            set_limit(limit)?;
        }
        set_limit(limit)?;
        set_swap(swap)?;
        if let Some(r) = m.reservation().filter(|r| *r != 0) {
            self.put(dir, "memory.soft_limit_in_bytes", r.to_string())?;
        }
        self.put(
            dir,
            "memory.oom_control",
            if disable_oom { "1" } else { "0" }.into(),
        )?;
        if let Some(s) = m.swappiness() {
            // validate() refused values above 100, as libcgroups does here.
            self.put(dir, "memory.swappiness", s.to_string())?;
        }
        if let Some(t) = m.kernel_tcp() {
            self.put(dir, "memory.kmem.tcp.limit_in_bytes", t.to_string())?;
        }
        Ok(())
    }
}
