//! OCI hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle").
//!
//! | kind            | when (sprout)                                    | where it runs                  | state status | on failure |
//! |-----------------|--------------------------------------------------|--------------------------------|--------------|------------|
//! | prestart        | `Hooks` from the stub (namespaces exist, before pivot_root) | runtime namespaces  | creating     | teardown, error |
//! | createRuntime   | right after prestart                             | runtime namespaces             | creating     | teardown, error |
//! | createContainer | right after createRuntime                        | the container's namespaces and cgroups (below) | creating | teardown, error |
//! | startContainer  | `start` (foreground `run`: at `Ready`), before the exec | the container's namespaces and cgroups (below), so the path resolves in the container's root | created | container killed, error |
//! | poststart       | after `start` released the process              | runtime namespaces             | running      | warning |
//! | poststop        | `delete` (and the end of a foreground `run`)     | runtime namespaces             | stopped      | warning |
//!
//! Each hook is `path` executed with `args` (`args[0]` is `argv[0]`; absent:
//! the path) and exactly `env`, with fds 0-2 only (as runc's: nothing the
//! caller of sprout left open; `sys::hook_before_exec`); its stdin is the state JSON (runtime.md
//! "State"), from a memfd (nothing is written while the hook runs, so
//! neither a large state nor a hook that never reads it can hold us past
//! its `timeout`). Its stdout and stderr are captured (into a memfd, so a hook
//! that leaves a daemon holding them cannot hang us) and quoted in the
//! error. `timeout` (seconds, > 0) is enforced with a pidfd poll: a hook
//! still running then is SIGKILLed with its process group and fails. A
//! hook has `PR_SET_PDEATHSIG(SIGKILL)`: it never outlives the sprout
//! command that runs it (a killed `create` leaves no hook process). It
//! starts with no signal blocked, as runc's hooks and the container
//! process do (sprout blocks the signals a `run` forwards).
//!
//! Container-namespace hooks (`createContainer`, `startContainer`) run
//! where runc and crun run them, which start them from the container's
//! init: in the container's cgroups and in all its namespaces, its pid
//! namespace included (see `sys::hook_before_exec`). The cgroups are
//! those the container's process is in (`cgroups::join_files_of`, from
//! its `/proc/PID/cgroup`; named v1 hierarchies and a Hybrid host's
//! cgroup2 best-effort): the spawned child writes `0` to each v1 `tasks`
//! file, joins the namespaces (user first), and forks the hook into the
//! cgroup2 cgroup (`clone3(CLONE_INTO_CGROUP)`: no `cgroup.procs` write,
//! whose global lock costs ~13 ms here), which then joins the cgroup and
//! mount namespaces. The second fork is needed because a pid namespace
//! join only applies to children (`pid_namespaces(7)`); the spawned
//! child stays outside as the hook's parent, waits for it and ends as it
//! ended (exit status, or the same signal). So the hook's
//! `/proc/self/cgroup` reads `/` in every hierarchy (with a cgroup
//! namespace), and its `/proc/self` resolves in the container's `/proc`.
//! A startContainer hook then takes on the container process's
//! credentials (`process.user` with its groups, the five capability sets,
//! `noNewPrivileges`; [`sys::HookCreds`]), as runc's init has applied
//! them when it runs the hook: its path is the image's file; and the
//! container's seccomp filter, loaded last (one with `SCMP_ACT_NOTIFY`
//! is left out, with a warning); it also gets `process.rlimits`, the
//! umask and `process.oomScoreAdj`, and is exec'd through the sealed
//! sprout-init memfd ([`sys::HookTrampoline`], CVE-2019-5736).
//! Both processes are in the hook's process group (a timeout kills them
//! together) and have `PR_SET_PDEATHSIG(SIGKILL)`; an exec failure of
//! the hook is reported as for any other hook. Killed together, the hook
//! may outlive its parent for a moment: sprout is then a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`, set before the first such hook) and reaps
//! the group itself, since a zombie left to a distant reaper holds the
//! container's init in its pid namespace's teardown. Their state's `pid`
//! is the container's process as the container sees it (1 with its own
//! pid namespace; runtime.md "State").
//!
//! Before pivot_root (createContainer) the container's mount namespace
//! still shows the host's tree, so the path resolves there, as the spec
//! wants ("the path MUST resolve in the runtime namespace"); after
//! pivot_root (startContainer) it resolves in the container's root ("MUST
//! resolve in the container namespace").

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use oci_spec::runtime::{Hook, Hooks, Spec};

use crate::cgroups;
use crate::error::{Error, Result, warn};
use crate::sys;

/// The six hook kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `hooks.prestart` (deprecated by the spec, still run like runc).
    Prestart,
    /// `hooks.createRuntime`.
    CreateRuntime,
    /// `hooks.createContainer`.
    CreateContainer,
    /// `hooks.startContainer`.
    StartContainer,
    /// `hooks.poststart`.
    Poststart,
    /// `hooks.poststop`.
    Poststop,
}

impl Kind {
    /// Every kind, in lifecycle order.
    pub const ALL: [Kind; 6] = [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ];

    /// The config field name (`createRuntime`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in `hooks` (empty if none).
    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        let v = match self {
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        };
        v.as_deref().unwrap_or(&[])
    }
}

/// The hooks of `kind` in `spec` (empty if none).
pub fn of(spec: &Spec, kind: Kind) -> &[Hook] {
    spec.hooks().as_ref().map_or(&[], |h| kind.of(h))
}

/// Checks every hook: `path` absolute, `timeout` > 0 when given. Errors
/// name the field: `hooks.prestart[0].timeout: must be greater than zero (got 0)`.
pub fn validate(spec: &Spec) -> Result<()> {
    for kind in Kind::ALL {
        for (i, h) in of(spec, kind).iter().enumerate() {
            let field = format!("hooks.{}[{i}]", kind.name());
            if !h.path().is_absolute() {
                crate::bail!(
                    "{field}.path \"{}\": must be an absolute path",
                    h.path().display()
                );
            }
            if let Some(t) = h.timeout()
                && t <= 0
            {
                crate::bail!("{field}.timeout: must be greater than zero (got {t})");
            }
        }
    }
    Ok(())
}

/// Where a hook runs.
#[derive(Clone, Copy, Debug)]
pub enum Place {
    /// The runtime's own namespaces.
    Runtime,
    /// The namespaces, pid namespace included, and the cgroups of this
    /// host pid (the container's process), as runc runs createContainer
    /// and startContainer hooks (see the module docs).
    Container(i32),
}

/// Namespaces in join order: user first (it owns the others), mount last;
/// the time namespace too (time_namespaces(7): its clock offsets), as the
/// hook runs in the container's namespaces.
const NS_ORDER: [(&str, libc::c_int); 8] = [
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("time", libc::CLONE_NEWTIME),
    ("pid", libc::CLONE_NEWPID),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

/// What a hook joins to run in the container of host pid `pid`: the files
/// through which it joins the cgroups `pid` is in (every hierarchy, see
/// `cgroups::join_files_of`) and the namespaces of `pid` that differ from
/// ours ([`container_namespaces`]).
///
/// Errors (after `what`): `joining the container's cgroups: ...` (the
/// process gone, a cgroup file that cannot be opened), or the namespace
/// errors.
fn container_join(pid: i32, what: &str) -> Result<Joined> {
    let namespaces =
        container_namespaces(pid).map_err(|e| Error::invalid(format!("{what}: {e}")))?;
    let cgroups = cgroups::join_files_of(pid)
        .map_err(|e| Error::invalid(format!("{what}: joining the container's cgroups: {e}")))?;
    Ok(Joined {
        cgroups,
        namespaces,
    })
}

/// `state` (the state JSON) with `pid` as the container sees its process:
/// runtime-spec "State": "for hooks executed in the container namespace,
/// it is the pid as seen by the container" (1 with a pid namespace of its
/// own; the innermost `NSpid` of `/proc/PID/status`). Unchanged when that
/// cannot be read.
fn container_state(state: &str, pid: i32) -> String {
    let inner = crate::state::innermost_pid(pid);
    // The state's own serializer writes `"pid":N` once, before the
    // bundle and annotations (runc's field order, kept as it is).
    let Some(inner) = inner else {
        return state.to_string();
    };
    let key = "\"pid\":";
    match state.find(key) {
        Some(at) => {
            let digits = at + key.len();
            let end = state[digits..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(state.len(), |n| digits + n);
            format!("{}{inner}{}", &state[..digits], &state[end..])
        }
        None => state.to_string(),
    }
}

/// What [`container_join`] opened; kept until the hook is spawned.
struct Joined {
    /// The container's cgroups.
    cgroups: Vec<cgroups::JoinFile>,
    /// `(fd, CLONE_NEW*)` in [`NS_ORDER`].
    namespaces: Vec<(OwnedFd, libc::c_int)>,
}

/// Opens `/proc/PID/ns/*` for every namespace of `pid` that differs from
/// ours, in [`NS_ORDER`].
fn container_namespaces(pid: i32) -> Result<Vec<(OwnedFd, libc::c_int)>> {
    let mut out = Vec::new();
    for (name, flag) in NS_ORDER {
        // The stub made the time namespace for its exec (unshare(2) of
        // CLONE_NEWTIME moves only children and the next exec into it).
        let theirs = match name {
            "time" => format!("/proc/{pid}/ns/time_for_children"),
            _ => format!("/proc/{pid}/ns/{name}"),
        };
        let ours = format!("/proc/self/ns/{name}");
        let (Ok(t), Ok(o)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            continue; // namespace type not supported by this kernel, or the process is gone (open fails below)
        };
        if t.ino() == o.ino() && t.dev() == o.dev() {
            continue;
        }
        let f = File::open(&theirs).map_err(|e| Error::io(format!("opening {theirs}"), &e))?;
        out.push((OwnedFd::from(f), flag));
    }
    if out.is_empty() && std::fs::metadata(format!("/proc/{pid}")).is_err() {
        crate::bail!("the container process {pid} is gone");
    }
    Ok(out)
}

/// Runs the hooks of `kind` in order with `state` (the state JSON) on
/// stdin; stops at the first failure and returns it.
///
/// Errors: `hooks.KIND[i] "PATH": ...` with the spawn errno (`exec: No such
/// file or directory (ENOENT)`), `exit status N` or `killed by SIG...`, or
/// `timed out after N s`, plus the hook's output; for [`Place::Container`]
/// also `the container process N is gone` and `joining the container's
/// cgroups: ...` (a cgroup file that cannot be opened, or written: `joining
/// the container's cgroup: writing 0 to FILE: ERRNO`).
pub fn run(spec: &Spec, kind: Kind, state: &str, place: Place) -> Result<()> {
    let hooks = of(spec, kind);
    if hooks.is_empty() {
        return Ok(());
    }
    // startContainer hooks take on the container process's identity, as
    // runc runs them from its init after the container's credentials: a
    // hook path resolves in the container's rootfs (the image's files),
    // and must not run there as the runtime (root, every capability).
    let creds = match (kind, place) {
        (Kind::StartContainer, Place::Container(_)) => Some(container_creds(spec)?),
        _ => None,
    };
    // ... and they are exec'd through the sealed stub ([`sys::HookTrampoline`]).
    let stub = match creds {
        Some(_) => Some(crate::launch::load_stub(&crate::launch::stub_path()?)?),
        None => None,
    };
    let cwd = hook_cwd(spec, kind, state);
    for (i, h) in hooks.iter().enumerate() {
        run_one(
            h,
            &format!("hooks.{}[{i}]", kind.name()),
            state,
            place,
            creds.as_ref().zip(stub.as_ref()),
            cwd.as_deref(),
        )?;
    }
    Ok(())
}

/// The working directory of a hook of `kind`, as runc's hooks get it:
/// the bundle (runc works there; the state's `bundle`) for the hooks in
/// the runtime's namespaces, the rootfs (the state's `rootfs`) for
/// createContainer, `process.cwd` for startContainer. `None` (the
/// caller's, or the joined mount namespace's root) when unknown; a
/// directory that cannot be entered is skipped as well.
fn hook_cwd(spec: &Spec, kind: Kind, state: &str) -> Option<std::path::PathBuf> {
    let field = |key: &str| -> Option<std::path::PathBuf> {
        let v: serde_json::Value = serde_json::from_str(state).ok()?;
        v.get(key)?.as_str().map(std::path::PathBuf::from)
    };
    match kind {
        Kind::CreateContainer => field("rootfs"),
        Kind::StartContainer => spec.process().as_ref().map(|p| p.cwd().clone()),
        _ => field("bundle"),
    }
}

/// The credentials of `spec`'s container process for a startContainer
/// hook ([`sys::HookCreds`]): `process.user` (its umask: 0o022 without
/// one, as the container's), `process.capabilities`,
/// `process.noNewPrivileges`, `process.rlimits`, `process.oomScoreAdj`.
/// Errors: the capability names and rlimits, as for the container (see
/// `caps::resolve`, `rlimit::resolve`).
fn container_creds(spec: &Spec) -> Result<sys::HookCreds> {
    let seccomp = hook_seccomp(spec)?;
    let Some(p) = spec.process() else {
        return Ok(sys::HookCreds {
            last_cap: crate::caps::read_cap_last_cap(),
            seccomp,
            ..Default::default()
        });
    };
    let last_cap = crate::caps::read_cap_last_cap();
    let c = crate::caps::resolve(p.capabilities().as_ref(), last_cap)?;
    let u = p.user();
    let rlimits = crate::rlimit::resolve(p.rlimits().as_deref().unwrap_or(&[]))?
        .iter()
        .map(|r| (r.resource, r.soft, r.hard))
        .collect();
    let oom_score_adj = p
        .oom_score_adj()
        .map(|a| std::ffi::CString::new(a.to_string()).expect("digits"));
    Ok(sys::HookCreds {
        uid: u.uid(),
        gid: u.gid(),
        groups: u.additional_gids().clone().unwrap_or_default(),
        bounding: c.bounding,
        effective: c.effective,
        permitted: c.permitted,
        inheritable: c.inheritable,
        ambient: c.ambient,
        last_cap,
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        seccomp,
        rlimits,
        umask: Some(u.umask().unwrap_or(0o022)),
        oom_score_adj,
    })
}

/// The container's `linux.seccomp` filter for a startContainer hook
/// (runc runs the hook from its init, under the filter). A filter with
/// `SCMP_ACT_NOTIFY` is left out, with a warning: its listener belongs to
/// the container's agent, and a second one nobody reads would hang the
/// hook at its first notified system call. Errors: as
/// [`crate::seccomp::compile`] (the compilation comes from its cache).
fn hook_seccomp(spec: &Spec) -> Result<Option<(Vec<u8>, u32)>> {
    let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    let c = crate::seccomp::compile(s, false)?;
    if c.listener.is_some() {
        warn(
            "hooks.startContainer: the container's seccomp filter has SCMP_ACT_NOTIFY; the hooks run without it",
        );
        return Ok(None);
    }
    Ok(Some((c.program, c.flags)))
}

/// Runs the hooks of `kind` like [`run`] but turns each failure into a
/// warning and goes on (poststart, poststop: the spec's "log a warning").
pub fn run_warn(spec: &Spec, kind: Kind, state: &str) {
    let hooks = of(spec, kind);
    let cwd = if hooks.is_empty() {
        None
    } else {
        hook_cwd(spec, kind, state)
    };
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(
            h,
            &format!("hooks.{}[{i}]", kind.name()),
            state,
            Place::Runtime,
            None,
            cwd.as_deref(),
        ) {
            warn(e);
        }
    }
}

/// One hook (see [`run`]); with `creds`, the container's credentials and
/// the sealed stub to exec it through.
fn run_one(
    h: &Hook,
    field: &str,
    state: &str,
    place: Place,
    creds: Option<(&sys::HookCreds, &OwnedFd)>,
    cwd: Option<&std::path::Path>,
) -> Result<()> {
    let path = h.path();
    let what = format!("{field} \"{}\"", path.display());
    let trampoline = match creds {
        Some((_, stub)) => {
            use std::os::unix::ffi::OsStrExt;
            let p = path.as_os_str().as_bytes();
            let args: Vec<&[u8]> = match h.args().as_deref() {
                Some(a) if !a.is_empty() => a.iter().map(|a| a.as_bytes()).collect(),
                _ => vec![p],
            };
            // As given, as runc passes them (an entry without `=` too).
            let env: Vec<&[u8]> = (h.env().as_deref().unwrap_or(&[]).iter())
                .map(|e| e.as_bytes())
                .collect();
            Some(
                sys::HookTrampoline::new(stub.as_raw_fd(), p, &args, &env)
                    .map_err(|e| Error::io(format!("{what}: args, env"), &e))?,
            )
        }
        None => None,
    };
    let trampolined = trampoline.is_some();
    let creds = creds.map(|(c, _)| c);
    let mut cmd = Command::new(path);
    if let Some(args) = h.args().as_deref()
        && let Some((first, rest)) = args.split_first()
    {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    for e in h.env().as_deref().unwrap_or(&[]) {
        match e.split_once('=') {
            Some((k, v)) => cmd.env(k, v),
            None => cmd.env(e, ""),
        };
    }
    // Output goes to a memfd (no reader thread, no hang on a leftover daemon).
    let out = memfd(c"sprout-hook-output", &what)?;
    let out2 = out
        .try_clone()
        .map_err(|e| Error::io(format!("{what}: dup"), &e))?;
    let out3 = out
        .try_clone()
        .map_err(|e| Error::io(format!("{what}: dup"), &e))?;
    // The state on stdin comes from a memfd too: nothing to write while
    // the hook runs, so a hook that never reads it (or a state bigger
    // than a pipe holds) cannot hold us past its `timeout`; the hook
    // reads the JSON and then end of file.
    let state_for_hook = match place {
        Place::Runtime => std::borrow::Cow::Borrowed(state),
        Place::Container(pid) => std::borrow::Cow::Owned(container_state(state, pid)),
    };
    let mut input = memfd(c"sprout-hook-state", &what)?;
    input
        .write_all(state_for_hook.as_bytes())
        .and_then(|_| input.rewind())
        .map_err(|e| Error::io(format!("{what}: state for stdin"), &e))?;
    cmd.stdin(Stdio::from(input))
        .stdout(Stdio::from(out2))
        .stderr(Stdio::from(out3));
    if matches!(place, Place::Container(_)) {
        // A hook killed on a timeout may outlive its parent (the spawned
        // child, killed with it) for a moment: as a subreaper we get it
        // back and reap it below, instead of a distant reaper holding the
        // container's init in its pid namespace's teardown meanwhile.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    // Kept open until the spawn (the child writes to / setns's into them).
    let join = match place {
        Place::Runtime => None,
        Place::Container(pid) => Some(container_join(pid, &what)?),
    };
    // In the runtime's namespaces std enters it before the exec; in the
    // container's, the child does after joining its mount namespace
    // (setns(2) moves the working directory to that namespace's root).
    if let (Place::Runtime, Some(c)) = (place, cwd)
        && c.is_dir()
    {
        cmd.current_dir(c);
    }
    let cwd = cwd.and_then(|c| {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::CString::new(c.as_os_str().as_bytes()).ok()
    });
    // Dies with us (a killed create leaves no hook); joins the container.
    sys::hook_before_exec(
        &mut cmd,
        join.as_ref().map(|j| sys::HookJoin {
            cgroups: j
                .cgroups
                .iter()
                .map(|f| sys::HookCgroup {
                    file: f.fd.as_raw_fd(),
                    dir: f.dir.as_ref().map_or(-1, |d| d.as_raw_fd()),
                    optional: f.optional,
                    message: format!(
                        "joining the container's cgroup: writing 0 to {}",
                        f.path.display()
                    )
                    .into_bytes(),
                })
                .collect(),
            namespaces: j
                .namespaces
                .iter()
                .map(|(fd, t)| (fd.as_raw_fd(), *t))
                .collect(),
            creds: creds.cloned(),
            cwd: cwd.clone(),
            trampoline,
        }),
    );
    let spawned = cmd.spawn();
    drop(join);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            // The child names what it was doing when that was not the exec
            // (a cgroup it could not join, see sys::HookJoin).
            let doing = read_output(out);
            return Err(match e.raw_os_error() {
                Some(n) if !doing.is_empty() => Error::Sys {
                    context: format!("{what}: {doing}"),
                    errno: Errno::from_raw(n),
                },
                _ => Error::io(format!("{what}: exec"), &e),
            });
        }
    };
    let timeout = h.timeout().map(|t| Duration::from_secs(t.max(1) as u64));
    let timed_out = match timeout {
        None => false,
        Some(t) => !wait_exit(child.id() as i32, t)?,
    };
    if timed_out {
        // The hook leads its own process group (sys::hook_before_exec).
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| Error::io(format!("{what}: wait"), &e))?;
    if timed_out && matches!(place, Place::Container(_)) {
        // The killed hook, handed to us when its parent died with it (we
        // are a subreaper): reap every child of its process group.
        let group = nix::unistd::Pid::from_raw(child.id() as i32);
        let flags = nix::sys::wait::WaitPidFlag::WEXITED;
        while !matches!(
            nix::sys::wait::waitid(nix::sys::wait::Id::PGid(group), flags),
            Err(Errno::ECHILD)
        ) {}
    }
    let output = read_output(out);
    let tail = if output.is_empty() {
        String::new()
    } else {
        format!(" (output: {output})")
    };
    if timed_out {
        crate::bail!(
            "{what}: timed out after {} s (killed){tail}",
            timeout.unwrap_or_default().as_secs()
        );
    }
    // The stub's line for a hook it could not exec (`--hook`): reported as
    // the exec error of any other hook.
    if trampolined
        && matches!(status.code(), Some(126 | 127))
        && let Some(n) = output
            .strip_prefix("sprout-init: execve: errno ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse::<i32>().ok())
    {
        return Err(Error::Sys {
            context: format!("{what}: exec"),
            errno: Errno::from_raw(n),
        });
    }
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let how = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!(
                "killed by {}",
                nix::sys::signal::Signal::try_from(s)
                    .map(|s| s.as_str().to_string())
                    .unwrap_or(s.to_string())
            ),
            _ => "failed".to_string(),
        };
        crate::bail!("{what}: {how}{tail}");
    }
    Ok(())
}

/// A close-on-exec memfd named `name` (a hook's stdin or output); errors
/// name the hook (`what`).
fn memfd(name: &std::ffi::CStr, what: &str) -> Result<File> {
    nix::sys::memfd::memfd_create(name, nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
        .map(File::from)
        .map_err(|e| Error::Sys {
            context: format!("{what}: memfd_create"),
            errno: e,
        })
}

/// Waits up to `timeout` for our child `pid` to exit (its pidfd becomes
/// readable); true if it did. The child is not reaped.
fn wait_exit(pid: i32, timeout: Duration) -> Result<bool> {
    let pidfd = sys::pidfd_open(pid).map_err(|e| Error::Sys {
        context: format!("pidfd_open {pid}"),
        errno: e,
    })?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => {
                return Err(Error::Sys {
                    context: "poll on a hook's pidfd".into(),
                    errno: e,
                });
            }
        }
    }
}

/// The hook's captured output as one trimmed line (at most 500 bytes).
fn read_output(mut f: File) -> String {
    let mut buf = Vec::new();
    let _ = f.rewind();
    let _ = f.take(4096).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    // Whitespace collapsed, other control characters escaped (`\x1b`): the
    // output of the image's program must not drive the operator's terminal.
    let mut line = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| match c.is_control() {
            true => format!("\\x{:02x}", c as u32),
            false => c.to_string(),
        })
        .collect::<String>();
    if line.len() > 500 {
        let mut cut = 500;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str("...");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(hooks: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({"ociVersion": "1.0.2", "hooks": hooks})).unwrap()
    }

    #[test]
    fn validation_names_the_field() {
        let s = spec_with(serde_json::json!({"prestart": [{"path": "rel/x"}]}));
        assert_eq!(
            validate(&s).unwrap_err().to_string(),
            "hooks.prestart[0].path \"rel/x\": must be an absolute path"
        );
        let s = spec_with(serde_json::json!({"poststop": [{"path": "/bin/true", "timeout": 0}]}));
        assert_eq!(
            validate(&s).unwrap_err().to_string(),
            "hooks.poststop[0].timeout: must be greater than zero (got 0)"
        );
    }

    #[test]
    fn container_state_has_the_pid_the_container_sees() {
        let me = std::process::id();
        let st = r#"{"ociVersion":"1.1.0","id":"a","status":"creating","pid":999999,"bundle":"/b","annotations":{"pid":"7"}}"#;
        // Our own NSpid (no pid namespace of ours here): our pid.
        assert_eq!(
            container_state(st, me as i32),
            st.replace("999999", &me.to_string())
        );
        // Unreadable: unchanged.
        assert_eq!(container_state(st, i32::MAX), st);
        let no_pid = r#"{"id":"a","status":"stopped"}"#;
        assert_eq!(container_state(no_pid, me as i32), no_pid);
    }

    /// A failing hook's output is quoted with its control characters
    /// escaped: an image's startContainer program printing terminal
    /// escapes (a title change, a line erase) must not reach the
    /// operator's terminal raw. They did.
    #[test]
    fn hook_output_in_errors_has_control_characters_escaped() {
        let s = spec_with(serde_json::json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "printf 'a\\033]0;pwned\\007b\\tc'; exit 1"]},
        ]}));
        let e = run(&s, Kind::Prestart, "{}", Place::Runtime)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "hooks.prestart[0] \"/bin/sh\": exit status 1 (output: a\\x1b]0;pwned\\x07b c)"
        );
    }

    #[test]
    fn runs_with_state_on_stdin_env_and_timeout() {
        let dir = std::env::temp_dir().join(format!("sprout-hooks-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let s = spec_with(serde_json::json!({"poststart": [
            {"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}; echo \"$FOO\" >> {}", out.display(), out.display())], "env": ["FOO=bar"]},
        ], "prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo oops >&2; exit 3"]},
        ], "poststop": [
            {"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1},
        ]}));
        run(&s, Kind::Poststart, "{\"id\":\"x\"}", Place::Runtime).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"x\"}bar\n"
        );
        let e = run(&s, Kind::Prestart, "{}", Place::Runtime)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "hooks.prestart[0] \"/bin/sh\": exit status 3 (output: oops)"
        );
        let t = Instant::now();
        let e = run(&s, Kind::Poststop, "{}", Place::Runtime)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "hooks.poststop[0] \"/bin/sleep\": timed out after 1 s (killed)"
        );
        assert!(t.elapsed() < Duration::from_secs(5));
        let s = spec_with(serde_json::json!({"poststop": [{"path": "/nonexistent/hook"}]}));
        let e = run(&s, Kind::Poststop, "{}", Place::Runtime)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "hooks.poststop[0] \"/nonexistent/hook\": exec: No such file or directory"
            ),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A container-namespace hook (here: in our own namespaces and
    /// cgroups, so no pid namespace is joined) runs below the spawned
    /// child; status, signal, output, stdin, exec errors and timeouts come
    /// through it as for a runtime hook, and a timeout kills both.
    #[test]
    fn container_place_reports_through_the_intermediate() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: joining cgroups needs root");
            return;
        }
        let here = Place::Container(std::process::id() as i32);
        let dir = std::env::temp_dir().join(format!("sprout-hooks-ctest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let pids = dir.join("pids");
        let s = spec_with(serde_json::json!({"createContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", format!(
                "cat > {o}; echo \"$FOO\" >> {o}; grep -h PPid /proc/self/status >> {o}",
                o = out.display()
            )], "env": ["FOO=bar"]},
        ], "prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "kill -TERM $$; sleep 5"]},
        ], "poststop": [
            {"path": "/bin/sh", "args": ["sh", "-c", format!("echo $$ > {}; exec sleep 10", pids.display())], "timeout": 1},
        ]}));
        run(&s, Kind::CreateContainer, "{\"id\":\"x\"}", here).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let (head, ppid) = text.rsplit_once("PPid:").unwrap();
        assert_eq!(head, "{\"id\":\"x\"}bar\n");
        let ppid: i32 = ppid.trim().parse().unwrap();
        assert_ne!(
            ppid,
            std::process::id() as i32,
            "a child of the intermediate"
        );
        // (startContainer hooks are exec'd through sprout-init, which a
        // unit test does not have: the system tests run them.)
        let failing = spec_with(serde_json::json!({"createContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo oops >&2; exit 3"]},
        ]}));
        let e = run(&failing, Kind::CreateContainer, "{}", here)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "hooks.createContainer[0] \"/bin/sh\": exit status 3 (output: oops)"
        );
        let e = run(&s, Kind::Prestart, "{}", here).unwrap_err().to_string();
        assert_eq!(e, "hooks.prestart[0] \"/bin/sh\": killed by SIGTERM");
        let t = Instant::now();
        let e = run(&s, Kind::Poststop, "{}", here).unwrap_err().to_string();
        assert_eq!(
            e,
            "hooks.poststop[0] \"/bin/sh\": timed out after 1 s (killed)"
        );
        assert!(t.elapsed() < Duration::from_secs(5));
        let hook: i32 = std::fs::read_to_string(&pids)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |st| {
                st.rsplit_once(") ")
                    .is_some_and(|(_, r)| r.starts_with('Z'))
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gone(hook) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(gone(hook), "the hook {hook} outlived its timeout");
        let s = spec_with(serde_json::json!({"createContainer": [{"path": "/nonexistent/hook"}]}));
        let e = run(&s, Kind::CreateContainer, "{}", here)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "hooks.createContainer[0] \"/nonexistent/hook\": exec: No such file or directory (ENOENT)"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
