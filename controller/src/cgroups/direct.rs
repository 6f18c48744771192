//! Resource limits written straight to the v1 interface files, so that the
//! usual sections (podman's pids limit, docker's memory section, a
//! Kubernetes pod's cpu shares, quota and memory limit) do not build
//! libcgroups' v1 manager: its constructor finds every hierarchy again
//! through hardened /proc reads, about 540 syscalls and 1.8 ms per create
//! on this host, to then write a handful of files.
//!
//! The files, values, conditions and order are those of libcgroups 0.7's
//! v1 controllers (`Pids`, `Cpu`, `CpuSet`, `Memory`), which the manager
//! would have run, except where runc 1.1.5 differs and libcgroups' rule
//! lost a setting: `cpu.burst` is written alone too, and the real-time
//! period before the runtime. blockIO and rdma are runc's (`blkio.go`,
//! `rdma.go`): libcgroups ignores `leafWeight`, `weightDevice` and rdma
//! altogether. hugepageLimits and network stay with libcgroups, and so
//! does every section on cgroup v2 hosts (but rdma). A section whose
//! hierarchy is missing is left to libcgroups too, which reports the
//! missing controller as before (blockIO, cpu, memory, pids), or is
//! refused here (rdma, which libcgroups would drop).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxRdma, LinuxResources,
};

use super::{
    Cgroup, CgroupError, CgroupSetup, Result, errno_text, field_for_file, io_err, read_small,
    write_file,
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
    /// The blockIO section with the v1 blkio directory.
    blkio: Option<(PathBuf, LinuxBlockIo)>,
}

impl Direct {
    /// True if the memory section (and with it `disableOOMKiller`) is here.
    pub(super) fn has_memory(&self) -> bool {
        self.memory.is_some()
    }
}

/// Whether the cpu controller has work: libcgroups' `Cpu::needs_to_handle`
/// plus `burst`, which libcgroups writes only next to another cpu field
/// (so that a `burst` alone was silently dropped); runc 1.1.5 writes it
/// whenever it is set.
fn cpu_fields(c: &LinuxCpu) -> bool {
    c.burst().is_some()
        || c.shares().is_some()
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
        if let (Some(b), Some(dir)) = (lib.block_io().clone(), self.v1_dir("blkio")) {
            d.blkio = Some((dir.to_path_buf(), b));
            lib.set_block_io(None);
        }
        d
    }

    /// `linux.resources.rdma` (which libcgroups ignores on v1 and v2
    /// alike), as runc's `rdma.go` writes it: one line per device to
    /// `rdma.max`, `<device> hca_handle=<n|max> hca_object=<n|max>`. An
    /// empty map is nothing to do.
    ///
    /// Errors: no rdma controller for this cgroup (no v1 hierarchy, not in
    /// the cgroup2 directory's `cgroup.controllers`), naming
    /// `linux.resources.rdma`; a refused line, naming
    /// `linux.resources.rdma["<device>"]`.
    pub(super) fn apply_rdma(&self, rdma: &HashMap<String, LinuxRdma>) -> Result<()> {
        if rdma.is_empty() {
            return Ok(());
        }
        let dir = match self.setup {
            CgroupSetup::Unified => self.v2_dir().filter(|d| {
                read_small(&d.join("cgroup.controllers"))
                    .is_ok_and(|c| c.split_whitespace().any(|c| c == "rdma"))
            }),
            _ => self.v1_dir("rdma"),
        };
        let Some(dir) = dir else {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.rdma".into(),
                reason: format!(
                    "this host has no rdma controller (no rdma cgroup hierarchy for {}); \
                     the limits cannot be applied",
                    self.path.display()
                ),
            });
        };
        // Sorted, so that the order (and a failure's device) is stable.
        let mut devices: Vec<_> = rdma.iter().collect();
        devices.sort_by(|a, b| a.0.cmp(b.0));
        let max = |v: Option<u32>| v.map_or("max".to_string(), |n| n.to_string());
        for (dev, l) in devices {
            let line = format!(
                "{dev} hca_handle={} hca_object={}",
                max(l.hca_handles()),
                max(l.hca_objects())
            );
            write_file(&dir.join("rdma.max"), &line).map_err(|e| CgroupError::Rejected {
                field: format!("linux.resources.rdma[{dev:?}]"),
                file: "rdma.max".into(),
                value: line.clone(),
                source: e,
            })?;
        }
        Ok(())
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

    /// Apply the sections of `d`: cpuset, cpu, memory, blkio, pids.
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
                // Leaving SCHED_IDLE first: an idle group takes no shares
                // (EINVAL), so `idle 0` with new shares must come before them.
                if let Some(0) = c.idle() {
                    self.put(dir, "cpu.idle", "0".into())?;
                }
                if let Some(v) = c.shares().filter(|v| *v != 0) {
                    self.put(dir, "cpu.shares", v.to_string())?;
                }
                // The period first; a shorter period the kernel refuses
                // (EINVAL: the current quota over the new period exceeds
                // the parent's quota) is written again after the quota,
                // as runc 1.1's `CpuGroup.Set` does.
                let quota = c.quota().filter(|v| *v != 0);
                let mut period_after = None;
                if let Some(v) = c.period().filter(|v| *v != 0) {
                    match self.put(dir, "cpu.cfs_period_us", v.to_string()) {
                        Err(CgroupError::Rejected { source, .. })
                            if quota.is_some() && source.raw_os_error() == Some(libc::EINVAL) =>
                        {
                            period_after = Some(v);
                        }
                        r => r?,
                    }
                }
                if let Some(v) = quota {
                    self.put(dir, "cpu.cfs_quota_us", v.to_string())?;
                }
                if let Some(v) = period_after {
                    self.put(dir, "cpu.cfs_period_us", v.to_string())?;
                }
                if let Some(v) = c.burst() {
                    // A kernel without CFS burst (before 5.14) has no file:
                    // only a burst of 0 asks for nothing there (runc).
                    if v != 0 || dir.join("cpu.cfs_burst_us").exists() {
                        self.put(dir, "cpu.cfs_burst_us", v.to_string())?;
                    }
                }
                // The period first, as runc does: the kernel checks the
                // runtime against the period in place (a runtime above the
                // default 1 s period is refused before a longer period is
                // set).
                if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
                    self.put(dir, "cpu.rt_period_us", v.to_string())?;
                }
                if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
                    self.put(dir, "cpu.rt_runtime_us", v.to_string())
                        .map_err(|e| self.rt_runtime_err(dir, v, e))?;
                }
                if let Some(v) = c.idle().filter(|v| *v != 0) {
                    self.put(dir, "cpu.idle", v.to_string())?;
                }
            }
        }
        if let Some((dir, m, disable_oom)) = &d.memory {
            self.apply_memory(dir, m, *disable_oom)?;
        }
        if let Some((dir, b)) = &d.blkio {
            self.apply_blkio(dir, b)?;
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

    /// A refused `cpu.rt_runtime_us` write of `runtime` in `dir`, with the
    /// likely reason when there is one to tell: the parent cgroup's own
    /// real-time budget (`cpu.rt_runtime_us` per `cpu.rt_period_us`) is
    /// smaller than the one asked for (the kernel says only EINVAL). The
    /// shared default parent `/sprout` has a budget of 0.
    fn rt_runtime_err(&self, dir: &Path, runtime: i64, e: CgroupError) -> CgroupError {
        let CgroupError::Rejected { source, .. } = &e else {
            return e;
        };
        if source.raw_os_error() != Some(libc::EINVAL) {
            return e;
        }
        let Some(parent) = dir.parent() else {
            return e;
        };
        let num =
            |d: &Path, f: &str| -> Option<i64> { read_small(&d.join(f)).ok()?.trim().parse().ok() };
        let (Some(p_runtime), Some(p_period), Some(period)) = (
            num(parent, "cpu.rt_runtime_us"),
            num(parent, "cpu.rt_period_us"),
            num(dir, "cpu.rt_period_us"),
        ) else {
            return e;
        };
        if runtime > period {
            let field = "linux.resources.cpu.realtimeRuntime";
            return CgroupError::invalid(
                field,
                format!("{runtime} µs is above the period, {period} µs (realtimePeriod)"),
            );
        }
        // runtime/period > parent's runtime/parent's period (-1: unlimited).
        if p_runtime < 0
            || (runtime as i128) * (p_period as i128) <= (p_runtime as i128) * (period as i128)
        {
            return e;
        }
        let parent_cg = self.path.parent().unwrap_or(Path::new("/"));
        CgroupError::Unsupported {
            field: "linux.resources.cpu.realtimeRuntime".into(),
            reason: format!(
                "{runtime} µs per {period} µs does not fit: the parent cgroup {}'s \
                 cpu.rt_runtime_us is too small ({p_runtime} µs per {p_period} µs; \
                 the kernel refused the write with {})",
                parent_cg.display(),
                errno_text(source)
            ),
        }
    }

    /// runc 1.1.5's v1 `BlkioGroup.Set`: the weight (`blkio.weight`, or
    /// `blkio.bfq.weight` where the former is missing, as without CFQ),
    /// the leaf weight, every `weightDevice` entry's weight and leaf
    /// weight (to the matching `*weight_device` file), then the four
    /// throttle lists; 0 weights are left alone. Errors name the field
    /// and entry (`linux.resources.blockIO.weightDevice[0]: write "254:0
    /// 500" to blkio.bfq.weight_device: Operation not supported`); a
    /// leaf weight on a kernel without `blkio.leaf_weight` (CFQ, gone
    /// since Linux 5.0) says so.
    fn apply_blkio(&self, dir: &Path, b: &LinuxBlockIo) -> Result<()> {
        const F: &str = "linux.resources.blockIO";
        let cfq = dir.join("blkio.weight").exists();
        let (weight_file, weight_device_file) = if cfq {
            ("blkio.weight", "blkio.weight_device")
        } else {
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        };
        let put = |field: String, file: &str, value: String| -> Result<()> {
            let path = dir.join(file);
            if !path.exists() {
                let why = if file.contains("leaf_weight") {
                    " (a CFQ leaf weight: the CFQ I/O scheduler is gone since Linux 5.0, \
                     and BFQ has no leaf weights)"
                } else {
                    ""
                };
                return Err(CgroupError::Unsupported {
                    field,
                    reason: format!("this kernel's blkio controller has no {file}{why}"),
                });
            }
            write_file(&path, &value).map_err(|e| CgroupError::Rejected {
                field,
                file: file.into(),
                value,
                source: e,
            })
        };
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            put(format!("{F}.weight"), weight_file, w.to_string())?;
        }
        if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
            put(
                format!("{F}.leafWeight"),
                "blkio.leaf_weight",
                w.to_string(),
            )?;
        }
        for (i, wd) in b.weight_device().iter().flatten().enumerate() {
            let field = format!("{F}.weightDevice[{i}]");
            if let Some(w) = wd.weight().filter(|w| *w != 0) {
                let line = format!("{}:{} {w}", wd.major(), wd.minor());
                put(field.clone(), weight_device_file, line)?;
            }
            if let Some(w) = wd.leaf_weight().filter(|w| *w != 0) {
                let line = format!("{}:{} {w}", wd.major(), wd.minor());
                put(
                    format!("{field}.leafWeight"),
                    "blkio.leaf_weight_device",
                    line,
                )?;
            }
        }
        for (name, file, list) in [
            (
                "throttleReadBpsDevice",
                "blkio.throttle.read_bps_device",
                b.throttle_read_bps_device(),
            ),
            (
                "throttleWriteBpsDevice",
                "blkio.throttle.write_bps_device",
                b.throttle_write_bps_device(),
            ),
            (
                "throttleReadIOPSDevice",
                "blkio.throttle.read_iops_device",
                b.throttle_read_iops_device(),
            ),
            (
                "throttleWriteIOPSDevice",
                "blkio.throttle.write_iops_device",
                b.throttle_write_iops_device(),
            ),
        ] {
            for (i, t) in list.iter().flatten().enumerate() {
                let line = format!("{}:{} {}", t.major(), t.minor(), t.rate());
                put(format!("{F}.{name}[{i}]"), file, line)?;
            }
        }
        Ok(())
    }
}
