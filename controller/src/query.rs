//! The inspecting and adjusting commands: `state`, `list`, `ps`, `events`,
//! `update`, `features` (runc's output shapes; the runtime-spec
//! "Features Structure" for `features`).

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use oci_spec::runtime::LinuxResources;
use serde_json::{Map, Value, json};

use crate::cli::check_id;
use crate::error::{Error, Result};
use crate::lifecycle::{cg_err, cgroup_of};
use crate::state::{State, Status};
use crate::sys;

/// Prints `text` and a newline on stdout; a closed stdout (`| head`) is not an error.
fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| Error::io("stdout", &e)),
    }
}

/// JSON, pretty-printed with two-space indents (as runc's `state`).
fn pretty(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `sprout state ID`: the OCI state as JSON (see [`State::oci_state`]).
///
/// Errors: `container "ID" does not exist`.
pub fn state(root: &Path, id: &str) -> Result<()> {
    let st = State::load(root, id)?;
    print(&pretty(&st.oci_state(st.status())))
}

/// Output format of `list` and `ps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// JSON.
    Json,
}

/// Lays out rows like Go's `text/tabwriter` with runc's settings (minimum
/// cell width 12, padding 3, spaces): every column but the last is padded
/// to its widest cell plus 3, and to at least 12.
fn tabwrite(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols.saturating_sub(1)) {
            widths[i] = widths[i].max((c.chars().count() + 3).max(12));
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let pad = widths[i].saturating_sub(c.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.pop();
    out
}

/// `sprout list [-q] [--format table|json]`: every container under the
/// root: `ID PID STATUS BUNDLE CREATED OWNER` (runc's table), ids only with
/// `-q`, or a JSON array of OCI states.
pub fn list(root: &Path, quiet: bool, format: Format) -> Result<()> {
    let states: Vec<State> = State::list_ids(root)?
        .iter()
        .filter_map(|id| State::load(root, id).ok())
        .collect();
    if quiet {
        for st in &states {
            print(&st.id)?;
        }
        return Ok(());
    }
    match format {
        Format::Json => {
            let all: Vec<_> = states.iter().map(|st| st.oci_state(st.status())).collect();
            print(&serde_json::to_string(&all).unwrap_or_default())
        }
        Format::Table => {
            let mut rows = vec![
                ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                    .map(String::from)
                    .to_vec(),
            ];
            for st in &states {
                let status = st.status();
                rows.push(vec![
                    st.id.clone(),
                    st.reported_pid(status).to_string(),
                    status.to_string(),
                    st.bundle.display().to_string(),
                    st.created.clone(),
                    st.owner.clone(),
                ]);
            }
            print(&tabwrite(&rows))
        }
    }
}

/// `sprout ps [--format table|json] ID [PS_ARGS...]`: the processes in the
/// container's cgroup: a JSON array of host pids (what containerd's
/// `task ps` reads), or `ps PS_ARGS` (default `-ef`) filtered to those
/// pids, header kept (runc).
///
/// Errors: the container does not exist; `ps` cannot run or has no PID column.
pub fn ps(root: &Path, id: &str, format: Format, ps_args: &[String]) -> Result<()> {
    let st = State::load(root, id)?;
    let cg = cgroup_of(&st)?;
    let pids = cg.pids().map_err(cg_err)?;
    if format == Format::Json {
        return print(&serde_json::to_string(&pids).unwrap_or_default());
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("running ps {}", args.join(" ")), &e))?;
    if !out.status.success() {
        // Its first line only: the error stays one line (procps follows
        // it with its whole usage text).
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("failed");
        crate::bail!("ps {}: {first}", args.join(" "));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|c| c == "PID") else {
        crate::bail!("ps {}: no PID column in its output", args.join(" "));
    };
    let mut shown = vec![header.to_string()];
    for l in lines {
        if l.split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
            .is_some_and(|p| pids.contains(&p))
        {
            shown.push(l.to_string());
        }
    }
    print(&shown.join("\n"))
}

/// Parses a Go-style duration (`5s`, `100ms`, `1m`, `1m30s`, `2h`).
///
/// Errors: `--interval "X": invalid duration`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(format!(
            "--interval \"{s}\": invalid duration (use e.g. 5s, 500ms, 1m)"
        ))
    };
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[u_end..];
        total += Duration::from_secs_f64(n * unit);
    }
    if total.is_zero() {
        return Err(bad());
    }
    Ok(total)
}

/// `sprout events [--stats] [--interval D] ID`.
///
/// - `--stats`: one line `{"type":"stats","id":ID,"data":{cpu, memory,
///   pids, blkio, hugetlb}}` (runc's shape, [`crate::cgroups::Cgroup::stats`]).
/// - otherwise a stream of JSON lines, one `stats` event per interval
///   (runc) and `{"type":"oom","id":ID}` whenever the cgroup's OOM-kill
///   count grew (checked each interval and once more at the end); ends
///   (exit 0) when the container process is gone, noticed at once through
///   a pidfd.
///
/// Errors: the container does not exist; `--stats` of a container without
/// a cgroup.
pub fn events(root: &Path, id: &str, stats: bool, interval: Duration) -> Result<()> {
    let st = State::load(root, id)?;
    let cg = cgroup_of(&st)?;
    // runc's field order: type, id, data.
    let event = |typ: &str, data: Option<Value>| {
        let head = format!("{{\"type\":{},\"id\":{}", json!(typ), json!(id));
        match data {
            Some(d) => format!("{head},\"data\":{d}}}"),
            None => format!("{head}}}"),
        }
    };
    // runc refuses both forms for a stopped container.
    if st.status() == Status::Stopped {
        crate::bail!("container \"{id}\" is not running");
    }
    if stats {
        let data = cg.stats().map_err(cg_err)?;
        return print(&event("stats", Some(data)));
    }
    let pidfd: Option<OwnedFd> = sys::pidfd_open(st.pid).ok().filter(|_| st.process_alive());
    let mut ooms = cg.oom_kill_count().unwrap_or(0);
    let check_oom = |ooms: &mut u64| -> Result<()> {
        if let Ok(n) = cg.oom_kill_count()
            && n > *ooms
        {
            *ooms = n;
            print(&event("oom", None))?;
        }
        Ok(())
    };
    loop {
        let exited = match &pidfd {
            None => true,
            Some(fd) => {
                let ms = PollTimeout::try_from(interval.as_millis().min(i32::MAX as u128) as i32)
                    .unwrap_or(PollTimeout::MAX);
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, ms) {
                    Ok(0) => false,
                    Ok(_) => true,
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        return Err(Error::Sys {
                            context: "poll on the container's pidfd".into(),
                            errno: e,
                        });
                    }
                }
            }
        };
        check_oom(&mut ooms)?;
        if exited {
            return Ok(());
        }
        if let Ok(data) = cg.stats() {
            print(&event("stats", Some(data)))?;
        }
    }
}

/// `update`'s resource flags (runc's names and units).
#[derive(Clone, Debug, Default)]
pub struct UpdateFlags {
    /// `--memory`: limit in bytes (suffixes k, m, g, t accepted; -1 = unlimited).
    pub memory: Option<String>,
    /// `--memory-swap`: memory+swap limit.
    pub memory_swap: Option<String>,
    /// `--memory-reservation`: soft limit.
    pub memory_reservation: Option<String>,
    /// `--cpu-shares` (runc: `--cpu-share`).
    pub cpu_shares: Option<u64>,
    /// `--cpu-quota` (microseconds per period; -1 = unlimited).
    pub cpu_quota: Option<i64>,
    /// `--cpu-period` (microseconds).
    pub cpu_period: Option<u64>,
    /// `--cpu-burst` (microseconds; `linux.resources.cpu.burst`).
    pub cpu_burst: Option<u64>,
    /// `--cpu-idle` (0 or 1; `linux.resources.cpu.idle`).
    pub cpu_idle: Option<i64>,
    /// `--cpu-rt-period` (microseconds).
    pub cpu_rt_period: Option<u64>,
    /// `--cpu-rt-runtime` (microseconds per realtime period).
    pub cpu_rt_runtime: Option<i64>,
    /// `--cpuset-cpus` (`0-2,4`).
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `--pids-limit` (-1 = unlimited; 0 = unchanged, as runc).
    pub pids_limit: Option<i64>,
    /// `--blkio-weight` (1-1000).
    pub blkio_weight: Option<u16>,
}

impl UpdateFlags {
    /// The flags given, by name (`--memory`, ...), in the order of the
    /// fields.
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("--memory", self.memory.is_some()),
            ("--memory-swap", self.memory_swap.is_some()),
            ("--memory-reservation", self.memory_reservation.is_some()),
            ("--cpu-shares", self.cpu_shares.is_some()),
            ("--cpu-quota", self.cpu_quota.is_some()),
            ("--cpu-period", self.cpu_period.is_some()),
            ("--cpu-burst", self.cpu_burst.is_some()),
            ("--cpu-idle", self.cpu_idle.is_some()),
            ("--cpu-rt-period", self.cpu_rt_period.is_some()),
            ("--cpu-rt-runtime", self.cpu_rt_runtime.is_some()),
            ("--cpuset-cpus", self.cpuset_cpus.is_some()),
            ("--cpuset-mems", self.cpuset_mems.is_some()),
            ("--pids-limit", self.pids_limit.is_some()),
            ("--blkio-weight", self.blkio_weight.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }
}

/// Bytes from runc's memory syntax: a number with an optional binary
/// suffix `b k m g t p` (any case, optional trailing `b`: `512m`, `1GB`),
/// or `-1` for unlimited.
pub fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t
        .strip_suffix('b')
        .filter(|x| x.ends_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(&t);
    let (num, mult): (&str, i64) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('p') => (&t[..t.len() - 1], 1 << 50),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| Error::invalid(format!("{flag} \"{s}\": invalid size")))?;
    if v < 0.0 {
        crate::bail!("{flag} \"{s}\": must not be negative (or -1 for unlimited)");
    }
    Ok((v * mult as f64) as i64)
}

/// The resources `update` applies: `--resources FILE` (`-` = stdin; a
/// `linux.resources` JSON object), or else the flags. As runc's `update`,
/// the flags are ignored when a file is given (a warning names them). As
/// in runc, a 0 leaves the value unchanged (pids `limit` included; the
/// other zeros are skipped when the files are written).
pub fn update_resources(file: Option<&Path>, f: &UpdateFlags) -> Result<LinuxResources> {
    let given = f.given();
    if let Some(p) = file
        && !given.is_empty()
    {
        crate::error::warn(format!(
            "{}: ignored: --resources \"{}\" is given (as runc, the other options are then ignored)",
            given.join(", "),
            p.display()
        ));
    }
    let f = match file {
        Some(_) => &UpdateFlags::default(),
        None => f,
    };
    let mut v: Value = match file {
        None => json!({}),
        Some(p) => {
            let text = if p == Path::new("-") {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| Error::io("--resources -: reading stdin", &e))?;
                s
            } else {
                std::fs::read_to_string(p)
                    .map_err(|e| Error::io(format!("--resources \"{}\"", p.display()), &e))?
            };
            serde_json::from_str(&text).map_err(|e| {
                Error::invalid(format!(
                    "--resources \"{}\": invalid JSON: {e}",
                    p.display()
                ))
            })?
        }
    };
    if !v.is_object() {
        crate::bail!("--resources: must be a JSON object (linux.resources)");
    }
    let mut set = |section: &str, key: &str, val: Value| {
        let obj = v.as_object_mut().expect("object");
        let sec = obj
            .entry(section)
            .or_insert_with(|| Value::Object(Map::new()));
        if !sec.is_object() {
            *sec = Value::Object(Map::new());
        }
        sec.as_object_mut()
            .expect("object")
            .insert(key.to_string(), val);
    };
    if let Some(m) = &f.memory {
        set("memory", "limit", json!(parse_bytes("--memory", m)?));
    }
    if let Some(m) = &f.memory_swap {
        set("memory", "swap", json!(parse_bytes("--memory-swap", m)?));
    }
    if let Some(m) = &f.memory_reservation {
        set(
            "memory",
            "reservation",
            json!(parse_bytes("--memory-reservation", m)?),
        );
    }
    if let Some(x) = f.cpu_shares {
        set("cpu", "shares", json!(x));
    }
    if let Some(x) = f.cpu_quota {
        set("cpu", "quota", json!(x));
    }
    if let Some(x) = f.cpu_period {
        set("cpu", "period", json!(x));
    }
    if let Some(x) = f.cpu_burst {
        set("cpu", "burst", json!(x));
    }
    if let Some(x) = f.cpu_idle {
        set("cpu", "idle", json!(x));
    }
    if let Some(x) = f.cpu_rt_period {
        set("cpu", "realtimePeriod", json!(x));
    }
    if let Some(x) = f.cpu_rt_runtime {
        set("cpu", "realtimeRuntime", json!(x));
    }
    if let Some(x) = &f.cpuset_cpus {
        set("cpu", "cpus", json!(x));
    }
    if let Some(x) = &f.cpuset_mems {
        set("cpu", "mems", json!(x));
    }
    if let Some(x) = f.pids_limit {
        set("pids", "limit", json!(x));
    }
    if let Some(x) = f.blkio_weight {
        set("blockIO", "weight", json!(x));
    }
    // runc: a pids limit of 0 (flag or file) leaves pids.max as it is,
    // like every other 0 of `update` (0 is no valid limit; -1 = unlimited).
    if v.pointer("/pids/limit").and_then(Value::as_i64) == Some(0) {
        v.as_object_mut().expect("object").remove("pids");
    }
    serde_path_to_error::deserialize::<_, LinuxResources>(v)
        .map_err(|e| Error::invalid(format!("--resources: {}: {}", e.path(), e.inner())))
}

/// `sprout update [--resources FILE] [flags] ID`: changes the cgroup
/// limits of a created, running or paused container.
///
/// Errors: the container does not exist or has stopped (`container not
/// running`); a value the kernel or the validation refuses (naming the
/// flag or the `-r` file's field). A value refused part-way sets back the
/// limits written before it (runc's roll-back; see `Cgroup::update`).
pub fn update(root: &Path, id: &str, file: Option<&Path>, flags: &UpdateFlags) -> Result<()> {
    check_id(id)?;
    let resources = update_resources(file, flags)?;
    // Ignored with a file: errors then name the file's fields.
    let flags = match file {
        Some(_) => &UpdateFlags::default(),
        None => flags,
    };
    let _lock = State::lock(root, id)?;
    let st = State::load(root, id)?;
    if st.status() == Status::Stopped {
        crate::bail!("container not running");
    }
    let cg = cgroup_of(&st)?;
    for w in crate::cgroups::ignored_fields(&resources) {
        crate::error::warn(name_update_source(&w, file, flags));
    }
    let named = |e: &dyn std::fmt::Display| {
        Error::Container(name_update_source(&e.to_string(), file, flags))
    };
    crate::cgroups::validate(&resources, cg.setup()).map_err(|e| named(&e))?;
    // A refused value rolls the others back (runc); what could not be
    // written back is named in a warning before the error.
    cg.update(&resources).map_err(|(e, left)| {
        if !left.is_empty() {
            let files: Vec<_> = left.iter().map(|p| p.display().to_string()).collect();
            crate::error::warn(format!(
                "update failed and these files could not be set back: {}",
                files.join(", ")
            ));
        }
        named(&e)
    })
}

/// An error of `update` names what the value came from: the flag
/// (`--memory: ...`) or the `-r` file's field (`-r FILE: memory.limit:
/// ...`) instead of the config's `linux.resources.*` field that the cgroup
/// code names.
fn name_update_source(msg: &str, file: Option<&Path>, f: &UpdateFlags) -> String {
    const RES: &str = "linux.resources.";
    let Some(rest) = msg.strip_prefix(RES) else {
        return msg.to_string();
    };
    let flag = [
        ("memory.limit", "--memory", f.memory.is_some()),
        ("memory.swap", "--memory-swap", f.memory_swap.is_some()),
        (
            "memory.reservation",
            "--memory-reservation",
            f.memory_reservation.is_some(),
        ),
        ("cpu.shares", "--cpu-shares", f.cpu_shares.is_some()),
        ("cpu.quota", "--cpu-quota", f.cpu_quota.is_some()),
        ("cpu.period", "--cpu-period", f.cpu_period.is_some()),
        ("cpu.burst", "--cpu-burst", f.cpu_burst.is_some()),
        ("cpu.idle", "--cpu-idle", f.cpu_idle.is_some()),
        (
            "cpu.realtimePeriod",
            "--cpu-rt-period",
            f.cpu_rt_period.is_some(),
        ),
        (
            "cpu.realtimeRuntime",
            "--cpu-rt-runtime",
            f.cpu_rt_runtime.is_some(),
        ),
        ("cpu.cpus", "--cpuset-cpus", f.cpuset_cpus.is_some()),
        ("cpu.mems", "--cpuset-mems", f.cpuset_mems.is_some()),
        ("pids.limit", "--pids-limit", f.pids_limit.is_some()),
        ("blockIO.weight", "--blkio-weight", f.blkio_weight.is_some()),
    ]
    .into_iter()
    .find(|(field, _, given)| {
        *given
            && rest
                .strip_prefix(field)
                .is_some_and(|r| r.starts_with([':', ' ']))
    });
    match (flag, file) {
        (Some((field, flag, _)), _) => format!("{flag}{}", &rest[field.len()..]),
        (None, Some(path)) => format!("-r \"{}\": {rest}", path.display()),
        (None, None) => rest.to_string(),
    }
}

/// Mount options sprout understands (runc's option table; the runtime-spec
/// features document's `mountOptions`).
pub const MOUNT_OPTIONS: &[&str] = &[
    "acl",
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noacl",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// `sprout features`: what this runtime supports, as the runtime-spec
/// "Features Structure" (features.md) JSON.
pub fn features() -> Result<()> {
    let caps: Vec<&str> = crate::caps::NAMES.to_vec();
    let doc = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::cli::SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
                "archs": [
                    "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"
                ],
                "knownFlags": [
                    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
                ],
                // The ones this kernel has (crate::seccomp probes them).
                "supportedFlags": crate::seccomp::supported_flag_names()
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}}
        },
        "annotations": {
            "io.github.sprout.version": env!("CARGO_PKG_VERSION")
        }
    });
    print(&pretty(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3x").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("--memory", "512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("--memory", "1GB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("--memory", "1000").unwrap(), 1000);
        assert_eq!(parse_bytes("--memory", "-1").unwrap(), -1);
        assert!(parse_bytes("--memory", "lots").is_err());
    }

    #[test]
    fn update_errors_name_the_flag_or_the_file() {
        let flags = UpdateFlags {
            memory: Some("1k".into()),
            ..UpdateFlags::default()
        };
        let msg = "linux.resources.memory.limit: write \"1024\" to memory.limit_in_bytes: Device or resource busy (EBUSY)";
        assert_eq!(
            name_update_source(msg, None, &flags),
            "--memory: write \"1024\" to memory.limit_in_bytes: Device or resource busy (EBUSY)"
        );
        let none = UpdateFlags::default();
        assert_eq!(
            name_update_source(msg, Some(Path::new("r.json")), &none),
            "-r \"r.json\": memory.limit: write \"1024\" to memory.limit_in_bytes: Device or resource busy (EBUSY)"
        );
        assert_eq!(
            name_update_source("container not running", None, &none),
            "container not running"
        );
    }

    #[test]
    fn update_flags_over_file() {
        let f = UpdateFlags {
            memory: Some("64m".into()),
            pids_limit: Some(20),
            cpu_shares: Some(512),
            ..Default::default()
        };
        let r = update_resources(None, &f).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64i64 << 20));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 20);
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(512));
        // 0 = unchanged (runc): no pids section at all.
        let f = UpdateFlags {
            pids_limit: Some(0),
            cpu_rt_period: Some(5),
            ..Default::default()
        };
        let r = update_resources(None, &f).unwrap();
        assert!(r.pids().is_none());
        assert_eq!(r.cpu().as_ref().unwrap().realtime_period(), Some(5));
    }

    #[test]
    fn table_layout_like_tabwriter() {
        let rows = vec![
            vec!["ID".to_string(), "PID".into(), "OWNER".into()],
            vec![
                "a-very-long-identifier".to_string(),
                "1".into(),
                "root".into(),
            ],
        ];
        assert_eq!(
            tabwrite(&rows),
            "ID                       PID         OWNER\na-very-long-identifier   1           root"
        );
    }

    #[test]
    fn mount_options_are_all_known() {
        for o in MOUNT_OPTIONS {
            let parsed = crate::mounts::parse_options(&[o.to_string()]).unwrap();
            assert!(parsed.data.is_empty(), "{o} is not a known option");
        }
    }
}
