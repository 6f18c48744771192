//! Resource usage read straight from the v1 interface files, into
//! libcgroups' own [`Stats`] shape: the same files, parsing and fields
//! as libcgroups 0.7's v1 controllers (`Cpu`, `CpuAcct`, `Pids`,
//! `HugeTlb`, `Blkio`, `Memory`), without building its manager (about
//! 540 syscalls per `events --stats` on this host, before the first file
//! is read). cgroup v2 hosts keep libcgroups.

use std::collections::HashMap;
use std::path::Path;

use libcgroups::stats::{
    BlkioDeviceStat, BlkioStats, CpuThrottling, CpuUsage, HugeTlbStats, MemoryData, MemoryStats,
    PidStats, Stats,
};

use super::{Cgroup, errno_text, read_small};

/// Read `file` whole; the error names it.
fn read(file: &Path) -> Result<String, String> {
    read_small(file).map_err(|e| format!("read {}: {}", file.display(), errno_text(&e)))
}

/// One number (`max` reads as u64::MAX, as in libcgroups).
fn single(file: &Path) -> Result<u64, String> {
    let text = read(file)?;
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse()
        .map_err(|_| format!("{}: {t:?} is not a number", file.display()))
}

/// `key value` lines.
fn flat_keyed(file: &Path) -> Result<HashMap<String, u64>, String> {
    let text = read(file)?;
    let mut out = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        let [k, v] = f[..] else {
            return Err(format!("{}: {line:?} is not \"key value\"", file.display()));
        };
        let v = v
            .parse()
            .map_err(|_| format!("{}: {line:?} has no number", file.display()))?;
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

fn key(table: &HashMap<String, u64>, k: &str, file: &Path) -> Result<u64, String> {
    table
        .get(k)
        .copied()
        .ok_or_else(|| format!("{}: no {k:?}", file.display()))
}

/// `MAJ:MIN [OP] VALUE` lines of a blkio file. As libcgroups: lines with
/// two fields or fewer are skipped, three are `MAJ:MIN OP VALUE`, more
/// take the second field as the value and no op.
fn blkio_file(file: &Path) -> Result<Vec<BlkioDeviceStat>, String> {
    let text = read(file)?;
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() <= 2 {
            continue;
        }
        let bad = || format!("{}: unexpected line {line:?}", file.display());
        let (major, minor) = f[0].split_once(':').ok_or_else(bad)?;
        let (op_type, value) = if f.len() == 3 {
            (Some(f[1].to_string()), f[2])
        } else {
            (None, f[1])
        };
        out.push(BlkioDeviceStat {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
            op_type,
            value: value.parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

/// `/sys/kernel/mm/hugepages/hugepages-2048kB` -> `2MB` (libcgroups'
/// `supported_page_sizes` names).
fn page_sizes() -> Result<Vec<String>, String> {
    let dir = Path::new("/sys/kernel/mm/hugepages");
    let rd = std::fs::read_dir(dir)
        .map_err(|e| format!("read {}: {}", dir.display(), errno_text(&e)))?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        if !e.path().is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let kb: u64 = name
            .strip_prefix("hugepages-")
            .and_then(|n| n.strip_suffix("kB"))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{}: cannot read a page size from {name:?}", dir.display()))?;
        out.push(if kb >= 1 << 20 {
            format!("{}GB", kb >> 20)
        } else if kb >= 1 << 10 {
            format!("{}MB", kb >> 10)
        } else {
            format!("{kb}KB")
        });
    }
    Ok(out)
}

impl Cgroup {
    /// The v1 statistics (see the module docs). Errors: a file that
    /// cannot be read or parsed, named.
    pub(super) fn v1_stats(&self) -> Result<Stats, String> {
        let mut s = Stats::default();
        if let Some(dir) = self.v1_dir("cpu") {
            let f = dir.join("cpu.stat");
            let t = flat_keyed(&f)?;
            s.cpu.throttling = CpuThrottling {
                periods: key(&t, "nr_periods", &f)?,
                throttled_periods: key(&t, "nr_throttled", &f)?,
                throttled_time: key(&t, "throttled_time", &f)?,
            };
        }
        if let Some(dir) = self.v1_dir("cpuacct") {
            let f = dir.join("cpuacct.stat");
            let t = flat_keyed(&f)?;
            let mut u = CpuUsage {
                usage_user: key(&t, "user", &f)?,
                usage_kernel: key(&t, "system", &f)?,
                usage_total: single(&dir.join("cpuacct.usage"))?,
                ..Default::default()
            };
            let f = dir.join("cpuacct.usage_all");
            for line in read(&f)?.lines().skip(1) {
                let p: Vec<&str> = line.split_ascii_whitespace().collect();
                if p.len() != 3 {
                    continue;
                }
                let n = |v: &str| {
                    v.parse::<u64>()
                        .map_err(|_| format!("{}: unexpected line {line:?}", f.display()))
                };
                u.per_core_usage_user.push(n(p[1])?);
                u.per_core_usage_kernel.push(n(p[2])?);
            }
            let f = dir.join("cpuacct.usage_percpu");
            u.per_core_usage_total = read(&f)?
                .split_ascii_whitespace()
                .map(|v| {
                    v.parse()
                        .map_err(|_| format!("{}: {v:?} is not a number", f.display()))
                })
                .collect::<Result<_, _>>()?;
            s.cpu.usage = u;
        }
        if let Some(dir) = self.v1_dir("pids") {
            let current = single(&dir.join("pids.current"))?;
            let f = dir.join("pids.max");
            let max = read(&f)?;
            let limit = match max.trim() {
                "max" => 0,
                v => v
                    .parse()
                    .map_err(|_| format!("{}: {v:?} is not a number", f.display()))?,
            };
            s.pids = PidStats { current, limit };
        }
        if let Some(dir) = self.v1_dir("hugetlb") {
            for size in page_sizes()? {
                // The reservation counters when the kernel has them.
                let mut prefix = format!("hugetlb.{size}.rsvd");
                let usage = match single(&dir.join(format!("{prefix}.usage_in_bytes"))) {
                    Ok(v) => v,
                    Err(_) => {
                        prefix = format!("hugetlb.{size}");
                        single(&dir.join(format!("{prefix}.usage_in_bytes")))?
                    }
                };
                let h = HugeTlbStats {
                    usage,
                    max_usage: single(&dir.join(format!("{prefix}.max_usage_in_bytes")))?,
                    fail_count: single(&dir.join(format!("{prefix}.failcnt")))?,
                };
                s.hugetlb.insert(size, h);
            }
        }
        if let Some(dir) = self.v1_dir("blkio") {
            let f = |n: &str| blkio_file(&dir.join(n));
            s.blkio = if dir.join("blkio.weight").exists() {
                BlkioStats {
                    time: f("blkio.time_recursive")?,
                    sectors: f("blkio.sectors_recursive")?,
                    service_bytes: f("blkio.io_service_bytes_recursive")?,
                    serviced: f("blkio.io_serviced_recursive")?,
                    service_time: f("blkio.io_service_time_recursive")?,
                    wait_time: f("blkio.io_wait_time_recursive")?,
                    queued: f("blkio.io_queued_recursive")?,
                    merged: f("blkio.io_merged_recursive")?,
                    ..Default::default()
                }
            } else {
                BlkioStats {
                    service_bytes: f("blkio.throttle.io_service_bytes")?,
                    serviced: f("blkio.throttle.io_serviced")?,
                    ..Default::default()
                }
            };
        }
        if let Some(dir) = self.v1_dir("memory") {
            let data = |prefix: &str| -> Result<MemoryData, String> {
                let f = |n: &str| single(&dir.join(format!("{prefix}{n}")));
                Ok(MemoryData {
                    usage: f("usage_in_bytes")?,
                    max_usage: f("max_usage_in_bytes")?,
                    limit: f("limit_in_bytes")?,
                    fail_count: f("failcnt")?,
                })
            };
            let stats = flat_keyed(&dir.join("memory.stat"))?;
            s.memory = MemoryStats {
                memory: data("memory.")?,
                memswap: data("memory.memsw.")?,
                kernel: data("memory.kmem.")?,
                kernel_tcp: data("memory.kmem.tcp.")?,
                hierarchy: read(&dir.join("memory.use_hierarchy"))?.trim() == "1",
                cache: stats.get("cache").copied().unwrap_or(0),
                stats,
                ..Default::default()
            };
        }
        Ok(s)
    }
}
