//! `update`'s roll-back: the limit files an update may write are read
//! before it, and written back when it fails part-way, so that a refused
//! value does not leave the sections before it applied. runc's
//! `Container.Set` does the same by applying the saved configuration again
//! after a failed `Set`; reading the files restores what the kernel had,
//! also what an earlier `update` set.
//!
//! Scalar files only (one value each): the device rules are not touched by
//! `update`, and the per-device lists (blkio throttles, hugetlb, network
//! priorities) add entries that have no "old value" to write back.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{Cgroup, CgroupSetup, read_small, write_file};

/// The files read before an update, with the values they had.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    files: Vec<(PathBuf, String)>,
}

/// The scalar files of each section, v1 (controller, files) and v2.
const V1: &[(&str, &[&str])] = &[
    ("cpuset", &["cpuset.cpus", "cpuset.mems"]),
    (
        "cpu",
        &[
            "cpu.shares",
            "cpu.cfs_period_us",
            "cpu.cfs_quota_us",
            "cpu.cfs_burst_us",
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
            "cpu.idle",
        ],
    ),
    (
        "memory",
        &[
            "memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.swappiness",
            "memory.oom_control",
            "memory.kmem.tcp.limit_in_bytes",
        ],
    ),
    (
        "blkio",
        &["blkio.weight", "blkio.bfq.weight", "blkio.leaf_weight"],
    ),
    ("pids", &["pids.max"]),
];
const V2: &[&str] = &[
    "cpuset.cpus",
    "cpuset.mems",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "memory.high",
    "memory.oom.group",
    "io.bfq.weight",
    "io.weight",
    "pids.max",
];

/// The value to write back for what `file` read (`text`): most files
/// take what they show; `memory.oom_control` shows several lines, of which
/// `oom_kill_disable` is the setting; `io.bfq.weight`/`io.weight` show
/// `default N` plus per-device lines, and take `default N`.
fn write_back_value(file: &str, text: &str) -> Option<String> {
    match file {
        "memory.oom_control" => text
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill_disable "))
            .map(|v| v.trim().to_string()),
        "io.bfq.weight" | "io.weight" | "blkio.bfq.weight" => {
            let first = text.lines().next()?.trim();
            Some(first.to_string())
        }
        _ => Some(text.trim().to_string()),
    }
}

impl Cgroup {
    /// Read the limit files of the sections `r` has (missing files are
    /// skipped).
    pub(super) fn snapshot(&self, r: &LinuxResources) -> Snapshot {
        let mut files = Vec::new();
        let mut take = |dir: &Path, file: &str| {
            let path = dir.join(file);
            if let Ok(text) = read_small(&path)
                && let Some(v) = write_back_value(file, &text)
            {
                files.push((path, v));
            }
        };
        let wanted = |ctrl: &str| match ctrl {
            "cpuset" | "cpu" => r.cpu().is_some(),
            "memory" => r.memory().is_some(),
            "blkio" => r.block_io().is_some(),
            "pids" => r.pids().is_some(),
            _ => false,
        };
        match self.setup {
            CgroupSetup::Unified => {
                if let Some(dir) = self.v2_dir() {
                    for file in V2 {
                        let ctrl = file.split('.').next().unwrap_or("");
                        let ctrl = if ctrl == "io" { "blkio" } else { ctrl };
                        if wanted(ctrl) {
                            take(dir, file);
                        }
                    }
                }
            }
            _ => {
                for (ctrl, names) in V1 {
                    if wanted(ctrl)
                        && let Some(dir) = self.v1_dir(ctrl)
                    {
                        for file in *names {
                            take(dir, file);
                        }
                    }
                }
            }
        }
        Snapshot { files }
    }

    /// Write back every file of `snap` whose value changed. Some values
    /// depend on each other (memory.memsw.limit_in_bytes >= the limit,
    /// the real-time runtime within its period), so a refused write is
    /// tried again after the others, up to three rounds. Returns the
    /// files it could not restore.
    pub(super) fn restore(&self, snap: &Snapshot) -> Vec<PathBuf> {
        let mut left: Vec<&(PathBuf, String)> = snap
            .files
            .iter()
            .filter(|(path, old)| {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                read_small(path)
                    .ok()
                    .and_then(|now| write_back_value(name, &now))
                    .is_none_or(|now| &now != old)
            })
            .collect();
        for _ in 0..3 {
            if left.is_empty() {
                break;
            }
            left.retain(|(path, old)| write_file(path, old).is_err());
        }
        left.into_iter().map(|(p, _)| p.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::write_back_value;

    #[test]
    fn write_back_values() {
        assert_eq!(
            write_back_value(
                "memory.oom_control",
                "oom_kill_disable 1\nunder_oom 0\noom_kill 3\n"
            )
            .as_deref(),
            Some("1")
        );
        assert_eq!(
            write_back_value("io.bfq.weight", "default 100\n8:0 200\n").as_deref(),
            Some("default 100")
        );
        assert_eq!(
            write_back_value("cpu.max", "max 100000\n").as_deref(),
            Some("max 100000")
        );
        assert_eq!(write_back_value("memory.oom_control", ""), None);
    }
}
