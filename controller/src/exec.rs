//! `sprout exec`: run one more process inside an existing container
//! (runc's `exec`, "setns init").
//!
//! ```text
//! sprout exec [--process FILE] [-t] [--console-socket PATH] [--cwd DIR]
//!             [-e K=V]... [-u UID[:GID]] [-g GID]... [-c CAP]...
//!             [--no-new-privs] [--preserve-fds N] [-d] [--pid-file PATH]
//!             [--ignore-paused] [--cgroup [CTRL[,CTRL]:]PATH]... ID [CMD [ARG...]]
//! ```
//!
//! 1. Under the container's lock: load its state; it must be `created` or
//!    `running` (`cannot exec in a stopped container`, runc's wording;
//!    `paused` needs `--ignore-paused`).
//! 2. The exec process ([`exec_process`]): `--process FILE` (an OCI
//!    `process` object) replaces the config's process entirely; otherwise
//!    the container's saved config's process with `CMD` as args and the
//!    flags applied as runc applies them.
//! 3. The namespaces ([`container_namespaces`]): every namespace of the
//!    container's process that differs from this controller's own
//!    (`/proc/PID/ns/*` against `/proc/self/ns/*`), through a
//!    pidfd-verified pid (start time checked after `pidfd_open`, the pidfd
//!    checked alive after the stats), so that a recycled pid is never used.
//!    The stub joins them all with one `setns` on the pidfd; the pid
//!    namespace is joined by the controller (for its next child).
//! 4. The plan: [`Plan::compute_exec`], the same process code as `run`
//!    (identity, `HOME` from the rootfs's passwd, capabilities, rlimits,
//!    env, seccomp) without rootfs setup.
//! 5. Launch ([`launch::spawn_with`]): the stub is put into the container's
//!    cgroup (or the sub-cgroups `--cgroup` names, which must exist:
//!    [`SubCgroups`]) right after the clone, before it reads its plan; it is born
//!    in the container's pid namespace and joins the others. rlimits are applied with prlimit on that process at `Ready`;
//!    `--pid-file` (atomic, relative to the caller's cwd, no newline) gets
//!    its pid.
//! 6. With a terminal the pty master goes to `--console-socket` or, in the
//!    foreground without one, is relayed as `run` does. `-d` returns 0
//!    once the process has exec'd; otherwise `exec` waits, forwarding
//!    signals, and exits with the process's status (128+N for signal N).
//!
//! Any failure is one line `sprout: exec failed: <message>` with exit code
//! 255, as runc (`exec failed: ...`); the stub's failures keep the words
//! podman maps to exit codes: `executable file not found in $PATH` and
//! `no such file or directory` (127), `permission denied` (126).

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use clap::Args;
use nix::errno::Errno;
use oci_spec::runtime::Process;
use serde_json::{Value, json};

use crate::cgroups::{Cgroup, SubCgroups};
use crate::cli::{Cli, check_id, log_error};
use crate::config::Bundle;
use crate::error::{Error, Result};
use crate::launch::{self, RunOptions, SpawnOptions};
use crate::plan::{JoinNs, Options, Plan, clone_flags};
use crate::state::{State, Status, proc_start_time};
use crate::timing::Timer;
use crate::{caps, console, sys};

/// Exit code of `exec` when it fails before the process runs (runc's).
pub const FAILED: i32 = 255;

/// [`JoinNs::index`] of the namespaces `exec` joins: they come from the
/// container's process, not from `linux.namespaces` (failure messages
/// name the namespace and its `/proc/PID/ns` path instead).
pub const JOIN_INDEX: usize = usize::MAX;

/// `CLONE_NEWTIME` (not in [`clone_flags`]: containers never get a new one
/// from sprout, but one made elsewhere is joined like the others).
pub const CLONE_NEWTIME: u32 = 0x0000_0080;

/// The namespaces an exec process joins, in join order: the user namespace
/// first (it owns the others), the mount namespace last. `(name in
/// /proc/PID/ns, OCI type name, CLONE_NEW* flag)`.
const NAMESPACES: &[(&str, &str, u32)] = &[
    ("user", "user", clone_flags::NEWUSER),
    ("ipc", "ipc", clone_flags::NEWIPC),
    ("uts", "uts", clone_flags::NEWUTS),
    ("net", "network", clone_flags::NEWNET),
    ("pid", "pid", clone_flags::NEWPID),
    ("cgroup", "cgroup", clone_flags::NEWCGROUP),
    ("time", "time", CLONE_NEWTIME),
    ("mnt", "mount", clone_flags::NEWNS),
];

/// `sprout exec` (runc's flags).
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// An OCI process JSON file: replaces the config's process entirely
    /// (the other process flags are then ignored, as runc does).
    #[arg(long, short = 'p', value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-terminal (inside the container).
    #[arg(long, short = 't')]
    pub tty: bool,
    /// AF_UNIX socket that receives the pty master (SCM_RIGHTS), with --tty --detach.
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Working directory in the container (absolute).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Set an environment variable (overrides the config's entry of that name).
    #[arg(long, short = 'e', value_name = "K=V")]
    pub env: Vec<String>,
    /// User (and group) id: UID[:GID].
    #[arg(long, short = 'u', value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Additional group ids (repeatable, or comma-separated).
    #[arg(long, short = 'g', value_name = "GID", value_delimiter = ',')]
    pub additional_gids: Vec<String>,
    /// Add a capability to the bounding, effective and permitted sets (and
    /// to the ambient set when it is inheritable).
    #[arg(long, short = 'c', value_name = "CAP")]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Pass N more fds (3 .. 3+N) to the process.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Return once the process runs instead of waiting for it.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write the process's pid to this file.
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// SELinux process label (not supported: refused unless empty).
    #[arg(long, value_name = "LABEL")]
    pub process_label: Option<String>,
    /// AppArmor profile (not supported: refused unless empty).
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Allow exec in a paused container.
    #[arg(long)]
    pub ignore_paused: bool,
    /// Run the process in an existing sub-cgroup of the container's
    /// cgroup: PATH in every hierarchy (then the only --cgroup), or
    /// CTRL[,CTRL]:PATH in those controllers' hierarchies (repeatable).
    #[arg(long, value_name = "[CTRL[,CTRL]:]PATH")]
    pub cgroup: Vec<String>,
    /// Container id.
    pub id: String,
    /// The command and its arguments (unless --process is given).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

/// Runs `sprout exec`; returns the exit code: the process's status in the
/// foreground, 0 when detached, [`FAILED`] (255) after printing
/// `sprout: exec failed: <message>` (and logging it to `--log`).
pub fn main(cli: &Cli, args: &ExecArgs, timer: &mut Timer) -> i32 {
    match exec(cli, args, timer) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("exec failed: {e}");
            crate::error::stderr_line(&format!("sprout: {msg}"));
            if let Some(log) = &cli.log {
                log_error(log, cli.log_format, &msg);
            }
            FAILED
        }
    }
}

fn exec(cli: &Cli, args: &ExecArgs, timer: &mut Timer) -> Result<i32> {
    check_id(&args.id)?;
    for (flag, v) in [
        ("--process-label", &args.process_label),
        ("--apparmor", &args.apparmor),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            crate::bail!("{flag} \"{v}\": LSM labels are not supported by sprout");
        }
    }
    let sub_cgroups = SubCgroups::parse(&args.cgroup).map_err(Error::invalid)?;
    // Held until the process runs in the container's cgroup, so that a
    // concurrent `delete` cannot empty and remove the cgroup in between.
    let mut lock = Some(State::lock(&cli.root, &args.id)?);
    let state = State::load(&cli.root, &args.id)?;
    // Opened once: for the paused check and for the stub to join.
    let cgroup = Cgroup::open(&state.cgroup_path);
    let status = state.status_in(cgroup.as_ref().ok());
    match status {
        Status::Created | Status::Running => {}
        // The stub freezes as soon as it joins the frozen cgroup and runs
        // once `resume` thaws it; `resume` needs the lock.
        Status::Paused if args.ignore_paused => lock = None,
        Status::Paused => {
            crate::bail!("cannot exec in a paused container (use --ignore-paused to override)")
        }
        Status::Stopped => crate::bail!("cannot exec in a stopped container"),
        Status::Creating => crate::bail!("cannot exec in a container that is still being created"),
    }
    // `--cgroup`: the sub-cgroups, checked before anything is started.
    let cgroup = match cgroup {
        Ok(c) => Ok(c.into_sub(&sub_cgroups).map_err(Error::invalid)?),
        Err(e) => Err(e),
    };
    timer.phase("load state");

    let process = exec_process(args, &state)?;
    let terminal = process.terminal() == Some(true);
    if args.detach && terminal && args.console_socket.is_none() {
        crate::bail!(
            "cannot allocate a tty when detaching without --console-socket (nobody would hold the terminal)"
        );
    }
    if args.console_socket.is_some() && !(args.detach && terminal) {
        crate::bail!("--console-socket needs --detach and a tty (--tty or process.terminal)");
    }

    // Connected first (as runc): no listener, no process.
    let console_conn = match &args.console_socket {
        Some(path) => Some((path, console::connect_socket(path)?)),
        None => None,
    };
    let ns = container_namespaces(&state)?;
    let join = ns.join;
    timer.phase("open the container's namespaces");
    let bundle = Bundle {
        dir: state.bundle.clone(),
        spec: state.config.clone(),
        rootfs: state.rootfs.clone(),
    };
    let tty_size = if terminal && args.console_socket.is_none() {
        console::stdin_size()
    } else {
        None
    };
    let opts = Options {
        preserve_fds: args.preserve_fds,
        debug: cli.debug,
        tty_size,
        ..Options::default()
    };
    let plan = Plan::compute_exec(&bundle, &process, join, &opts)?;
    timer.phase("compute plan");

    let cgroup = cgroup.map_err(Error::invalid)?;
    // The stub joins the cgroup by itself before its exec (SpawnOptions::cgroup).
    let join_cgroup = |_pid: nix::unistd::Pid| Ok(());
    // A container killed from here on fails the steps below in ways that
    // say little (setns ESRCH, clone ENOMEM in a pid namespace whose init
    // is gone, EPIPE from a stub killed with it): say what happened.
    let gone = |e: Error| {
        if container_exiting(&state) {
            Error::invalid("the container stopped during exec")
        } else {
            e
        }
    };
    let pid_ns = match &ns.pid_ns {
        Some(pidfd) => Some(PidNsForChildren::enter(pidfd, state.pid).map_err(gone)?),
        None => None,
    };
    let mut plan = plan;
    launch::skip_ready_when_idle(&mut plan, args.pid_file.is_some());
    let launched = launch::spawn_with(
        plan,
        &join_cgroup,
        SpawnOptions {
            pdeathsig: !args.detach,
            cgroup: Some(&cgroup),
            deferred: None,
        },
        timer,
    );
    // Threads (the stdin relay) can only be made in our own pid namespace.
    if let Some(p) = pid_ns {
        p.leave()?;
    }
    let mut launched = launched.map_err(gone)?;
    // A seccomp notify agent gets the container's state with the exec
    // process's pid (runtime.md "Container process state"); the status is
    // the one checked above (we hold the lock).
    let container_state = |_pid: nix::unistd::Pid| {
        serde_json::to_string(&state.oci_state(status)).unwrap_or_default()
    };
    let sync_opts = RunOptions {
        pid_file: args.pid_file.as_deref(),
        container_state: Some(&container_state),
        hold_signals: !args.detach,
        ..Default::default()
    };
    launched.sync(&sync_opts, timer).map_err(gone)?;
    if let Some((path, conn)) = console_conn {
        let Some(master) = launched.take_console() else {
            crate::bail!("process.terminal: sprout-init sent no console");
        };
        console::send_master(path, &conn, master)?;
    }
    // The process runs in the container's cgroup: other commands (kill,
    // delete) may go on while it runs.
    drop(lock);
    if args.detach {
        launched.detach();
        timer.total("exec");
        return Ok(0);
    }
    // (A stub killed before its exec is reported by `wait`; with the
    // container gone meanwhile, that is the reason.)
    let code = launched.wait(timer).map_err(gone)?;
    timer.total("exec");
    Ok(code)
}

/// The exec process as runc builds it (see the module docs): `--process`
/// replaces the config's process; otherwise the saved config's process
/// with `CMD`, `--cwd`, `--env` (appended: a name given again overrides the
/// config's value), `--user UID[:GID]` (the gid stays the config's when
/// omitted; a `username` in the config no longer applies),
/// `--additional-gids` (appended), `--cap` (added to bounding, effective,
/// permitted, and to ambient when it is in the inheritable set),
/// `--no-new-privs`, and `terminal` = `--tty` (the config's own
/// `terminal` does not apply to exec).
///
/// Errors: an unreadable or invalid `--process` file (naming the field),
/// no command, a malformed `--user`/`--additional-gids`, an unknown
/// `--cap`.
pub fn exec_process(args: &ExecArgs, state: &State) -> Result<Process> {
    if let Some(path) = &args.process {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("--process \"{shown}\": read"), &e))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(format!("--process \"{shown}\": invalid JSON: {e}")))?;
        return parse_process(&value)
            .map_err(|e| Error::invalid(format!("--process \"{shown}\": {e}")));
    }
    if args.command.is_empty() {
        crate::bail!("process args cannot be empty (give a command, or --process FILE)");
    }
    // The flags' own errors name the flag (they end up in process.cwd and
    // process.env, whose later checks would name those fields).
    if let Some(cwd) = &args.cwd
        && !cwd.starts_with('/')
    {
        crate::bail!("--cwd \"{cwd}\": must be an absolute path");
    }
    for (i, e) in args.env.iter().enumerate() {
        if !e.contains('=') {
            crate::bail!("--env[{i}] \"{e}\": missing '='");
        }
    }
    let mut p = match state.config.process() {
        Some(p) => serde_json::to_value(p).map_err(Error::invalid)?,
        None => json!({"cwd": "/", "user": {"uid": 0, "gid": 0}}),
    };
    let obj = p
        .as_object_mut()
        .ok_or_else(|| Error::invalid("process: not an object"))?;
    obj.insert("args".into(), json!(args.command));
    if let Some(cwd) = &args.cwd {
        obj.insert("cwd".into(), json!(cwd));
    }
    if !args.env.is_empty() {
        let env = obj.entry("env").or_insert_with(|| json!([]));
        if let Some(list) = env.as_array_mut() {
            list.extend(args.env.iter().map(|e| json!(e)));
        }
    }
    obj.insert("terminal".into(), json!(args.tty));
    if args.no_new_privs {
        obj.insert("noNewPrivileges".into(), json!(true));
    }
    let user = obj
        .entry("user")
        .or_insert_with(|| json!({"uid": 0, "gid": 0}));
    if let Some(spec) = &args.user {
        let (uid, gid) = parse_user(spec)?;
        user["uid"] = json!(uid);
        if let Some(gid) = gid {
            user["gid"] = json!(gid);
        }
        if let Some(u) = user.as_object_mut() {
            u.remove("username");
        }
    }
    if !args.additional_gids.is_empty() {
        let mut gids: Vec<Value> = user
            .get("additionalGids")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        for g in &args.additional_gids {
            let n: u32 = g.trim().parse().map_err(|_| {
                Error::invalid(format!(
                    "--additional-gids \"{g}\": not a group id (a number from 0 to 4294967295)"
                ))
            })?;
            gids.push(json!(n));
        }
        user["additionalGids"] = Value::Array(gids);
    }
    if !args.cap.is_empty() {
        let caps = obj.entry("capabilities").or_insert_with(|| json!({}));
        add_caps(caps, &args.cap)?;
    }
    parse_process(&p)
}

/// Parses a `process` object with the config's checks: unknown capability
/// names are dropped with a warning (as runc), rlimit names get their own
/// messages, type errors name the field.
fn parse_process(value: &Value) -> Result<Process> {
    if !value.is_object() {
        crate::bail!("the process must be a JSON object");
    }
    let mut value = value.clone();
    // Go's zero values, as runc reads a process: root when no user is given.
    if value.get("user").is_none_or(Value::is_null) {
        value["user"] = json!({"uid": 0, "gid": 0});
    }
    if value
        .get("cwd")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        crate::bail!("process.cwd: missing (an absolute path in the container)");
    }
    let mut wrapped = json!({ "process": value });
    caps::drop_unknown(&mut wrapped);
    crate::rlimit::precheck(&wrapped)?;
    let text = wrapped["process"].to_string();
    let mut de = serde_json::Deserializer::from_str(&text);
    let process: Process = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path.is_empty() || path == "." {
            Error::invalid(format!("process: {}", e.inner()))
        } else {
            Error::invalid(format!("process.{path}: {}", e.inner()))
        }
    })?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        crate::bail!("process.args: must not be empty");
    }
    Ok(process)
}

/// `UID[:GID]` of `--user`, numbers only (as runc).
fn parse_user(spec: &str) -> Result<(u32, Option<u32>)> {
    let bad = |what: &str, v: &str| {
        Error::invalid(format!(
            "--user \"{spec}\": {what} \"{v}\" is not a number (use UID[:GID])"
        ))
    };
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = u.parse().map_err(|_| bad("uid", u))?;
    let gid = g
        .map(|g| g.parse().map_err(|_| bad("gid", g)))
        .transpose()?;
    Ok((uid, gid))
}

/// Adds `--cap` names to a `capabilities` object: to bounding, effective
/// and permitted, and to ambient only when the capability is inheritable
/// (an ambient capability must be permitted and inheritable; runc 1.2
/// does the same). A name not spelled `CAP_<NAME>` as the kernel's is
/// ignored with a warning, as runc ignores it.
fn add_caps(caps: &mut Value, names: &[String]) -> Result<()> {
    if !caps.is_object() {
        *caps = json!({});
    }
    let mut unknown = Vec::new();
    for name in names {
        let Some(bit) = caps::bit_of_exact(name) else {
            unknown.push(name.as_str());
            continue;
        };
        let canonical = caps::names(1u64 << bit)
            .pop()
            .unwrap_or_else(|| name.clone());
        let has = |caps: &Value, set: &str| {
            caps.get(set).and_then(|s| s.as_array()).is_some_and(|l| {
                l.iter()
                    .any(|v| v.as_str().and_then(caps::bit_of) == Some(bit))
            })
        };
        let mut sets = vec!["bounding", "effective", "permitted"];
        if has(caps, "inheritable") {
            sets.push("ambient");
        }
        for set in sets {
            if has(caps, set) {
                continue;
            }
            let list = &mut caps[set];
            if !list.is_array() {
                *list = json!([]);
            }
            if let Some(l) = list.as_array_mut() {
                l.push(json!(canonical));
            }
        }
    }
    if !unknown.is_empty() {
        let shown: Vec<String> = unknown.iter().map(|n| format!("{n:?}")).collect();
        crate::error::warn(format!(
            "--cap: ignoring unknown capabilities: {}",
            shown.join(", ")
        ));
    }
    Ok(())
}

/// Whether the container's process is gone or exiting: the recorded
/// process no longer runs (see [`State::process_alive`]), or it has
/// `PF_EXITING` (0x4) in the flags of `/proc/PID/stat` (proc(5) field 9),
/// set as soon as it starts to exit: a pid namespace's init has it while
/// the kernel kills the rest of the namespace, before it turns zombie.
fn container_exiting(state: &State) -> bool {
    const PF_EXITING: u64 = 0x4;
    if !state.process_alive() {
        return true;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", state.pid)) else {
        return true;
    };
    let flags = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(6)?.parse::<u64>().ok());
    flags.is_some_and(|f| f & PF_EXITING != 0)
}

/// The container's namespaces that this controller does not share, for
/// an exec process to join.
pub struct ContainerNs {
    /// At most one entry: the container process's pidfd with the
    /// `CLONE_NEW*` mask of every differing namespace except pid. The stub
    /// joins them with one `setns(2)` on the pidfd (Linux 5.8), which
    /// enters the user namespace first and is atomic: all or none.
    pub join: Vec<JoinNs>,
    /// The pidfd again when the pid namespace differs: the controller joins
    /// that one itself for its children ([`PidNsForChildren`]), so that the
    /// stub is born in it and need not fork.
    pub pid_ns: Option<OwnedFd>,
}

/// Finds the namespaces to join ([`ContainerNs`]): every namespace of the
/// container's process whose `/proc/PID/ns/*` file differs (device and
/// inode, stat(2) through the magic link) from this controller's
/// `/proc/self/ns/*`. The pid is verified through a pidfd: its start time
/// is checked after `pidfd_open`, and the pidfd is checked alive after the
/// stats, so that a recycled pid is never used.
///
/// Errors: `cannot exec in a stopped container` (no pid, the process gone
/// or recycled); a stat or pidfd_open failure, naming the path.
pub fn container_namespaces(state: &State) -> Result<ContainerNs> {
    let stopped = || Error::invalid("cannot exec in a stopped container");
    let pid = state.pid;
    if pid <= 0 {
        return Err(stopped());
    }
    let pidfd = match sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Err(stopped()),
        Err(e) => {
            return Err(Error::Sys {
                context: format!("pidfd_open of the container process {pid}"),
                errno: e,
            });
        }
    };
    if proc_start_time(pid) != Some(state.pid_start_time) {
        return Err(stopped());
    }
    let mut mask = 0u32;
    for &(file, _, nstype) in NAMESPACES {
        // The config's namespaces, as saved at create (no /proc look-up);
        // the user and pid namespaces are still compared with ours when
        // the config has them: joining one's own user namespace is
        // EINVAL, and a pid namespace shared with us needs no
        // pid_for_children dance.
        let compared = nstype == clone_flags::NEWUSER || nstype == clone_flags::NEWPID;
        if state.namespaces != 0 && (!compared || state.namespaces & nstype == 0) {
            mask |= state.namespaces & nstype;
            continue;
        }
        let path = format!("/proc/{pid}/ns/{file}");
        let theirs = match std::fs::metadata(&path) {
            Ok(m) => m,
            // A kernel without this namespace type.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && matches!(file, "time" | "cgroup") =>
            {
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(stopped()),
            Err(e) => return Err(Error::io(format!("{path}: stat"), &e)),
        };
        let own_path = format!("/proc/self/ns/{file}");
        let own =
            std::fs::metadata(&own_path).map_err(|e| Error::io(format!("{own_path}: stat"), &e))?;
        if theirs.dev() != own.dev() || theirs.ino() != own.ino() {
            mask |= nstype;
        }
    }
    if !launch::pidfd_alive(&pidfd) {
        return Err(stopped());
    }
    let pid_ns = if mask & clone_flags::NEWPID != 0 {
        Some(pidfd.try_clone().map_err(|e| Error::io("pidfd: dup", &e))?)
    } else {
        None
    };
    mask &= !clone_flags::NEWPID;
    let join = if mask == 0 {
        Vec::new()
    } else {
        let path = PathBuf::from(format!("/proc/{pid}"));
        vec![JoinNs {
            kind: "",
            nstype: mask,
            index: JOIN_INDEX,
            path,
            fd: pidfd,
            stub_fd: 0,
        }]
    };
    Ok(ContainerNs { join, pid_ns })
}

/// The names (`/proc/PID/ns` file names) of the namespaces in a
/// `CLONE_NEW*` mask, comma-separated, in join order: for messages.
pub fn namespace_names(mask: u32) -> String {
    NAMESPACES
        .iter()
        .filter(|(_, _, f)| mask & f != 0)
        .map(|(n, _, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// This controller's children are born in the container's pid namespace
/// while this lives: `setns(pidfd, CLONE_NEWPID)` changes only where
/// children go (pid_namespaces(7), `/proc/self/ns/pid_for_children`), and
/// [`PidNsForChildren::leave`] points it back at our own pid namespace
/// (allowed: it is the caller's active one), because a thread cannot be
/// created while the two differ (clone(2): EINVAL).
///
/// Entering makes this process non-dumpable first (`PR_SET_DUMPABLE` 0,
/// for the rest of the command): the child is a copy of the host's sprout
/// until its exec of the sealed stub, visible in the container's pid
/// namespace, and a container process with the same uid and capabilities
/// could otherwise open its `/proc/PID/exe` and later write the host
/// binary (CVE-2019-5736; ptrace(2), "Ptrace access mode checking").
pub struct PidNsForChildren {
    own: std::fs::File,
}

impl PidNsForChildren {
    /// Opens `/proc/self/ns/pid`, then joins the container's pid namespace
    /// for children through its process's pidfd.
    ///
    /// Errors: the open or setns(2), naming the namespace.
    pub fn enter(pidfd: &OwnedFd, pid: i32) -> Result<Self> {
        let own = std::fs::File::open("/proc/self/ns/pid")
            .map_err(|e| Error::io("/proc/self/ns/pid: open", &e))?;
        nix::sys::prctl::set_dumpable(false).map_err(|e| Error::Sys {
            context: "prctl(PR_SET_DUMPABLE, 0)".into(),
            errno: e,
        })?;
        nix::sched::setns(pidfd, nix::sched::CloneFlags::CLONE_NEWPID).map_err(|e| Error::Sys {
            context: format!("joining the container's pid namespace \"/proc/{pid}/ns/pid\": setns"),
            errno: e,
        })?;
        Ok(PidNsForChildren { own })
    }

    /// Points `pid_for_children` back at our own pid namespace.
    ///
    /// Errors: setns(2) (not expected: the target is our active namespace).
    pub fn leave(self) -> Result<()> {
        nix::sched::setns(&self.own, nix::sched::CloneFlags::CLONE_NEWPID).map_err(|e| Error::Sys {
            context: "returning to our own pid namespace: setns".into(),
            errno: e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    fn parse(argv: &[&str]) -> ExecArgs {
        let cli = Cli::try_parse_from(argv).unwrap();
        match cli.command.0 {
            crate::cli::Command::Exec(a) => a,
            other => panic!("not exec: {other:?}"),
        }
    }

    fn state_with(process: Value) -> State {
        let config = json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": process,
        });
        let v = json!({
            "ociVersion": "1.0.2",
            "id": "c1",
            "pid": 0,
            "pidStartTime": 0,
            "bundle": "/b",
            "rootfs": "/b/rootfs",
            "created": "2024-01-01T00:00:00.000Z",
            "owner": "root",
            "cgroupPath": "/sprout/c1",
            "statusStored": "running",
            "config": config,
        });
        serde_json::from_value(v).unwrap()
    }

    fn base_process() -> Value {
        json!({
            "terminal": true,
            "user": {"uid": 0, "gid": 0, "username": "root", "additionalGids": [10]},
            "args": ["sh"],
            "env": ["PATH=/bin", "FOO=config"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_KILL"],
                "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"],
                "inheritable": ["CAP_CHOWN"]
            },
            "noNewPrivileges": false
        })
    }

    #[test]
    fn parses_runc_and_client_command_lines() {
        let a = parse(&[
            "sprout",
            "--log-format=json",
            "--log",
            "/l",
            "exec",
            "--pid-file",
            "/p",
            "--process",
            "/f.json",
            "--detach",
            "--tty",
            "--console-socket",
            "/s",
            "c1",
        ]);
        assert!(a.detach && a.tty);
        assert_eq!(a.process.as_deref(), Some(Path::new("/f.json")));
        assert_eq!(a.id, "c1");
        assert!(a.command.is_empty());
        let a = parse(&[
            "sprout",
            "exec",
            "-u",
            "1000:1000",
            "-e",
            "A=1",
            "--env",
            "B=2",
            "c1",
            "sh",
            "-c",
            "exit 5",
        ]);
        assert_eq!(a.user.as_deref(), Some("1000:1000"));
        assert_eq!(a.env, ["A=1", "B=2"]);
        assert_eq!(a.command, ["sh", "-c", "exit 5"]);
        let a = parse(&[
            "sprout",
            "exec",
            "-g",
            "5,6",
            "--additional-gids",
            "7",
            "c1",
            "id",
            "--help",
        ]);
        assert_eq!(a.additional_gids, ["5", "6", "7"]);
        assert_eq!(a.command, ["id", "--help"]);
    }

    #[test]
    fn process_from_the_config_and_flags() {
        let st = state_with(base_process());
        let a = parse(&[
            "sprout",
            "exec",
            "--user",
            "1000",
            "-g",
            "20",
            "--cwd",
            "/tmp",
            "-e",
            "FOO=flag",
            "-e",
            "BAR=1",
            "--cap",
            "CAP_CHOWN",
            "--cap",
            "CAP_NET_RAW",
            "--cap",
            "net_admin",
            "--no-new-privs",
            "c1",
            "id",
        ]);
        let p = exec_process(&a, &st).unwrap();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["args"], json!(["id"]));
        assert_eq!(v["cwd"], "/tmp");
        assert_eq!(
            v["env"],
            json!(["PATH=/bin", "FOO=config", "FOO=flag", "BAR=1"])
        );
        assert_eq!(v["user"]["uid"], 1000);
        assert_eq!(v["user"]["gid"], 0);
        assert!(v["user"].get("username").is_none_or(|u| u.is_null()));
        assert_eq!(v["user"]["additionalGids"], json!([10, 20]));
        assert_eq!(v["terminal"], false, "exec has a terminal only with --tty");
        assert_eq!(v["noNewPrivileges"], true);
        let set = |name: &str| {
            let mut l: Vec<String> = v["capabilities"][name]
                .as_array()
                .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            l.sort();
            l
        };
        // `net_admin` is not runc's spelling: ignored, as runc does.
        assert_eq!(set("bounding"), ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]);
        assert_eq!(set("effective"), ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]);
        assert_eq!(set("permitted"), ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]);
        assert_eq!(set("inheritable"), ["CAP_CHOWN"]);
        assert_eq!(
            set("ambient"),
            ["CAP_CHOWN"],
            "ambient only when inheritable"
        );
    }

    #[test]
    fn user_with_gid_and_tty() {
        let st = state_with(base_process());
        let p = exec_process(
            &parse(&["sprout", "exec", "-t", "-u", "5:6", "c1", "sh"]),
            &st,
        )
        .unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (5, 6));
        assert_eq!(p.terminal(), Some(true));
    }

    #[test]
    fn flag_errors() {
        let st = state_with(base_process());
        let e = |argv: &[&str]| exec_process(&parse(argv), &st).unwrap_err().to_string();
        assert_eq!(
            e(&["sprout", "exec", "c1"]),
            "process args cannot be empty (give a command, or --process FILE)"
        );
        assert_eq!(
            e(&["sprout", "exec", "--cwd", "rel", "c1", "sh"]),
            "--cwd \"rel\": must be an absolute path"
        );
        assert_eq!(
            e(&["sprout", "exec", "-e", "A=1", "-e", "FOO", "c1", "sh"]),
            "--env[1] \"FOO\": missing '='"
        );
        assert_eq!(
            e(&["sprout", "exec", "-u", "x:1", "c1", "sh"]),
            "--user \"x:1\": uid \"x\" is not a number (use UID[:GID])"
        );
        assert_eq!(
            e(&["sprout", "exec", "-u", "1:g", "c1", "sh"]),
            "--user \"1:g\": gid \"g\" is not a number (use UID[:GID])"
        );
        assert_eq!(
            e(&["sprout", "exec", "--additional-gids=-1", "c1", "sh"]),
            "--additional-gids \"-1\": not a group id (a number from 0 to 4294967295)"
        );
    }

    #[test]
    fn process_file_replaces_everything() {
        let dir = std::env::temp_dir().join(format!("sprout-exec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p.json");
        std::fs::write(
            &f,
            r#"{"args": ["cat"], "cwd": "/x", "user": {"uid": 7, "gid": 8}, "terminal": true}"#,
        )
        .unwrap();
        let st = state_with(base_process());
        let a = parse(&[
            "sprout",
            "exec",
            "--process",
            f.to_str().unwrap(),
            "-u",
            "1",
            "c1",
        ]);
        let p = exec_process(&a, &st).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["cat".to_string()][..]));
        assert_eq!((p.user().uid(), p.user().gid()), (7, 8));
        assert_eq!(p.terminal(), Some(true));
        assert!(p.env().is_none(), "nothing from the config");

        std::fs::write(&f, r#"{"args": ["cat"]}"#).unwrap();
        let e = exec_process(&a, &st).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "--process \"{}\": process.cwd: missing (an absolute path in the container)",
                f.display()
            )
        );
        std::fs::write(&f, r#"{"args": [], "cwd": "/"}"#).unwrap();
        let e = exec_process(&a, &st).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "--process \"{}\": process.args: must not be empty",
                f.display()
            )
        );
        std::fs::write(&f, r#"{"args": ["a"], "cwd": "/", "user": {"uid": "x"}}"#).unwrap();
        let e = exec_process(&a, &st).unwrap_err().to_string();
        assert!(e.contains(": process.user.uid: invalid type"), "{e}");
        std::fs::write(
            &f,
            r#"{"args": ["a"], "cwd": "/", "capabilities": {"bounding": ["CAP_X", "kill", "CAP_KILL"]}}"#,
        )
        .unwrap();
        // Unknown names (and runc's unknown spellings) are dropped, as runc.
        let p = exec_process(&a, &st).unwrap();
        let bounding = p
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .as_ref()
            .unwrap();
        assert_eq!(bounding.len(), 1, "{bounding:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn own_namespaces_are_not_joined() {
        // This test process as "the container": every namespace is ours.
        let mut st = state_with(base_process());
        st.pid = std::process::id() as i32;
        st.pid_start_time = proc_start_time(st.pid).unwrap();
        let ns = container_namespaces(&st).unwrap();
        assert!(ns.join.is_empty() && ns.pid_ns.is_none());
        st.pid_start_time += 1;
        assert_eq!(
            container_namespaces(&st).err().unwrap().to_string(),
            "cannot exec in a stopped container"
        );
        st.pid = 0;
        assert_eq!(
            container_namespaces(&st).err().unwrap().to_string(),
            "cannot exec in a stopped container"
        );
    }
}
