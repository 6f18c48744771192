//! The OCI lifecycle (runtime.md "Lifecycle" and "Operations", runc's
//! command line): `create`, `start`, `run` (foreground and `-d`), `kill`,
//! `delete`, `pause`, `resume`. State is [`crate::state`]; hooks
//! [`crate::hooks`]; the cgroup [`crate::cgroups`].
//!
//! ## create
//!
//! 1. Refuse an existing ID; load the bundle, validate hooks, compute the
//!    plan: bad input is one line, and nothing has been made.
//! 2. Publish the state directory `<root>/<ID>` with the state saved as
//!    `creating` (pid 0), locked for the whole create
//!    ([`State::publish`]: built aside and renamed into place, exclusive:
//!    of two creates exactly one gets past this). It exists *before*
//!    anything else, so that `delete ID` can always find and remove what a
//!    killed `create` leaves (its status is then `stopped`).
//! 3. Create the cgroup (`linux.cgroupsPath`, default `/sprout/<ID>`) with
//!    `linux.resources` plus runc's default device rules.
//! 4. Bind the start socket `<state dir>/start.sock`; the plan gets
//!    `WAIT_START` and the socket's fd.
//! 5. Spawn the stub without `PR_SET_PDEATHSIG` (it must outlive us); in
//!    `on_spawn` (before it runs anything) it joins the cgroup and its pid
//!    (and the topmost cgroup we made) is saved. Until `Created` the stub
//!    needs us (plan pipe, sync socket): if we die, it gets EOF and exits.
//! 6. Sync: on `Hooks` run prestart, createRuntime (runtime namespaces) and
//!    createContainer (container namespaces); on `Console` hand the pty
//!    master to `--console-socket`; on `Created` the stub blocks in
//!    `accept(2)`.
//! 7. Save `created`, write `--pid-file`, exit 0 (the stub is reparented).
//!
//! Any error in 3-6 kills what was started, removes the cgroup and the
//! state dir.
//!
//! ## start
//!
//! Locked; only a `created` container. startContainer hooks run from here,
//! in the container's namespaces (setns in the hook's child: after
//! pivot_root, so the path resolves in the container), just before the
//! release; then connect to `start.sock` (the stub answers one byte and
//! execs), remove it, save `running`, run poststart hooks (warnings).
//!
//! ## run
//!
//! Foreground: the same steps with the stub's parent-death signal on and
//! without the start socket: startContainer hooks run at `Ready` (after
//! pivot_root, before the exec), poststart after the exec; the state says
//! `running` while it runs (so `state`, `kill`, `list`, `ps` see it); at the
//! end poststop hooks run and the cgroup and state dir are removed.
//! `run -d` is `create` then `start` in one process.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxResources, Spec};
use sprout_protocol::flags;

use crate::cgroups::{self, Cgroup, CgroupError};
use crate::cli::check_id;
use crate::config;
use crate::console;
use crate::copyup;
use crate::error::{Context, Error, Result, warn};
use crate::hooks::{self, Kind, Place};
use crate::launch::{self, RunOptions, SpawnOptions};
use crate::plan::{Options, Plan};
use crate::state::{self, State, Status};
use crate::sys;
use crate::timing::Timer;

/// How long `delete`/`kill` wait for a SIGKILLed container process to exit.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// A cgroup error as a controller error (its text already names the field).
pub fn cg_err(e: CgroupError) -> Error {
    Error::Container(e.to_string())
}

/// Command-line choices for `create` and `run`.
#[derive(Clone, Copy, Debug)]
pub struct CreateOptions<'a> {
    /// `--bundle`.
    pub bundle: &'a Path,
    /// `--console-socket`: where the pty master goes (`process.terminal`).
    pub console_socket: Option<&'a Path>,
    /// `--pid-file` (relative to the current directory; no newline).
    pub pid_file: Option<&'a Path>,
    /// `--preserve-fds N`.
    pub preserve_fds: u32,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// `--debug`.
    pub debug: bool,
    /// `run --keep`: a foreground run that fails once its stub is running
    /// (a failing startContainer hook, a container process that cannot be
    /// exec'd) leaves the stopped container for `delete`, as runc's does.
    pub keep: bool,
}

/// What kind of launch a create is part of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `create` (and the first half of `run -d`): stop at `Created`.
    Detached,
    /// Foreground `run`.
    Foreground,
}

/// Removes what a failed create made (unless disarmed): the cgroup (which
/// kills what is in it) and the state dir. The stub itself is killed by
/// `Launched`'s drop, which happens first. Holds the state dir's lock, so
/// that it is released only after the cleanup (fields drop after `drop`).
struct Pending {
    root: PathBuf,
    id: String,
    /// Cgroup path and the topmost cgroup we created.
    cgroup: Option<(PathBuf, Option<PathBuf>)>,
    armed: bool,
    /// `run --keep` with the stub started: a failure keeps the stopped
    /// container (state, cgroup) for `delete`, which runs the poststop
    /// hooks then; only the stub is killed (by `Launched`'s drop).
    keep: bool,
    lock: Option<state::Lock>,
    /// After a failed hook: the poststop hooks to run once torn down
    /// (runtime.md: "stop the container, and continue the lifecycle at
    /// step 12"), with the stopped state.
    poststop: Option<(Box<Spec>, String)>,
    /// The cgroup as made, holding its claim (see `Cgroup::create`) until
    /// the cleanup above is done (fields drop after `drop`) or the setup
    /// succeeded, so that no other create takes it over in between.
    claim: Option<Cgroup>,
}

impl Pending {
    /// Keeps what was made; returns the lock (still held).
    fn disarm(mut self) -> Option<state::Lock> {
        self.armed = false;
        self.lock.take()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.armed || self.keep {
            return;
        }
        // The removal below claims the cgroup itself (a create that got
        // its claim in between keeps the cgroup: it is adopting it).
        self.claim = None;
        if let Some((path, ancestor)) = &self.cgroup
            && let Ok(cg) = Cgroup::open(path)
            && let Err(e) = cg
                .with_created_ancestor(ancestor.as_deref())
                .remove_unless(|| cgroup_taken_over(&self.root, &self.id, path))
        {
            warn(format!("cleaning up: {e}"));
        }
        if let Err(e) = State::remove_dir(&self.root, &self.id) {
            warn(format!("cleaning up: {e}"));
        }
        if let Some((spec, state)) = &self.poststop {
            hooks::run_warn(spec, Kind::Poststop, state);
        }
    }
}

/// `linux.resources` as runc applies them: the device rules start from
/// deny-all (runc builds its target device list in an emulator that starts
/// as an allow-list, whatever the config says), then the config's rules,
/// then runc's default rules appended (`AllowedDevices`). Without the
/// leading deny-all, a config with no `devices` (or only allow rules)
/// would keep the parent's allow-all list.
fn resources_of(spec: &Spec) -> LinuxResources {
    let mut r = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let mut devices = vec![oci_spec::runtime::LinuxDeviceCgroup::default()];
    devices[0].set_allow(false);
    devices[0].set_access(Some("rwm".to_string()));
    devices.extend(r.devices().clone().unwrap_or_default());
    devices.extend(cgroups::default_device_rules());
    r.set_devices(Some(devices));
    r
}

/// The container's cgroup path: `linux.cgroupsPath` resolved, default `/sprout/<ID>`.
fn cgroup_path_of(spec: &Spec, id: &str) -> PathBuf {
    let given = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    Cgroup::path_for(given.as_deref(), id)
}

/// The container's cgroup as recorded in its state.
pub fn cgroup_of(st: &State) -> Result<Cgroup> {
    Ok(Cgroup::open(&st.cgroup_path)
        .map_err(cg_err)?
        .with_created_ancestor(st.cgroup_created_ancestor.as_deref()))
}

/// Whether another live container under `root` (not `id`) records the
/// cgroup path `cgroup`: one that took the cgroup over once `id`'s processes were gone
/// ([`Cgroup::create`] adopts an empty existing cgroup, as runc does).
/// Its processes are not `id`'s to kill, nor its cgroup `id`'s to remove.
/// O(containers): asked only when `id`'s cgroup turns out busy.
fn cgroup_taken_over(root: &Path, id: &str, cgroup: &Path) -> bool {
    let Ok(ids) = State::list_ids(root) else {
        return false;
    };
    ids.iter().filter(|other| *other != id).any(|other| {
        State::load(root, other)
            .is_ok_and(|o| o.cgroup_path == cgroup && o.status() != Status::Stopped)
    })
}

/// `e`, a failure of the stub before the container process ran, worded as
/// the memory limit it most likely is when the kernel's OOM killer acted in
/// the container's cgroup meanwhile (the stub and the pages of its set-up
/// are charged there; a limit of a few KiB kills it).
///
/// An ENOMEM failure (the stub's exec in its cgroup, see `setup`) with the
/// cgroup's memory limit hit counts too: the kernel refused the memory
/// there (out of memory, OOM) without killing anything. So does E2BIG:
/// execve(2) reports a page it could not get for the arguments that way.
fn with_oom_cause(e: Error, cg: Option<&Cgroup>, limit: Option<i64>) -> Error {
    let ooms = cg.and_then(|c| c.oom_kill_count().ok()).unwrap_or(0);
    let why = if ooms > 0 {
        "the kernel's OOM killer acted in its cgroup"
    } else if ["(ENOMEM)", "(E2BIG)"]
        .iter()
        .any(|errno| e.to_string().contains(errno))
        && cg.is_some_and(|c| c.memory_limit_hit().unwrap_or(false))
    {
        "its cgroup hit the limit and the kernel refused the memory (OOM)"
    } else {
        return e;
    };
    match limit {
        Some(l) => Error::Container(format!(
            "linux.resources.memory.limit {l}: too small to set the container up, {why} ({e})"
        )),
        None => Error::Container(format!(
            "the container's cgroup ran out of memory while it was set up ({e})"
        )),
    }
}

/// `linux.resources.memory.limit`, if set.
fn memory_limit(spec: &Spec) -> Option<i64> {
    spec.linux()
        .as_ref()?
        .resources()
        .as_ref()?
        .memory()
        .as_ref()?
        .limit()
}

/// The state JSON a hook gets ([`crate::state::OciState::for_hook`]).
fn hook_state(st: &State, status: Status) -> String {
    st.oci_state(status).for_hook()
}

/// A bound, listening start socket at `<dir>/start.sock`. Bound through
/// `/proc/self/fd/N/start.sock` so that a long `--root`/ID (sun_path is
/// 108 bytes) still works.
fn bind_start_socket(dir: &Path) -> Result<UnixListener> {
    let path = dir.join(state::START_SOCKET);
    let _ = std::fs::remove_file(&path);
    with_short_path(dir, state::START_SOCKET, |p| UnixListener::bind(p))
        .map_err(|e| Error::io(format!("start socket {}: bind", path.display()), &e))
}

/// Runs `f` with a path to `dir/name` short enough for `sun_path`.
fn with_short_path<T>(
    dir: &Path,
    name: &str,
    f: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    use std::os::unix::fs::OpenOptionsExt;
    let full = dir.join(name);
    if full.as_os_str().len() < 100 {
        return f(&full);
    }
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    use std::os::fd::AsRawFd;
    f(&PathBuf::from(format!(
        "/proc/self/fd/{}/{name}",
        d.as_raw_fd()
    )))
}

/// Checks `process.terminal` against `--console-socket` as runc does.
fn check_terminal(spec: &Spec, console_socket: Option<&Path>, detached: bool) -> Result<()> {
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    match (terminal, console_socket.is_some()) {
        (true, false) if detached => crate::bail!(
            "process.terminal: a terminal for a detached container needs --console-socket (where to send the pty master)"
        ),
        (false, true) => {
            crate::bail!("--console-socket: process.terminal is false (no terminal to send)")
        }
        _ => Ok(()),
    }
}

/// The uid of this process (for the state's owner).
fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// A freshly set-up container (after `create`, or a foreground run
/// before its wait).
struct Setup {
    state: State,
    /// What the last save of `state` wrote (see [`State::unchanged`]).
    saved: Vec<u8>,
    launched: launch::Launched,
    /// `linux.resources.memory.limit` (for [`with_oom_cause`]).
    memory_limit: Option<i64>,
}

/// Steps 1-6 of the module docs. Returns with the state saved as
/// `created` (Detached) or `running` (Foreground, the process exec'd).
fn setup(
    root: &Path,
    id: &str,
    o: &CreateOptions<'_>,
    mode: Mode,
    timer: &mut Timer,
) -> Result<(Setup, Pending)> {
    check_id(id)?;
    // runc's order: an existing id is the error, whatever the bundle.
    // (`State::publish` below is the exclusive check.)
    let dir = State::dir(root, id);
    if std::fs::symlink_metadata(&dir).is_ok() {
        crate::bail!("container \"{id}\" already exists");
    }

    let bundle = config::load(o.bundle)?;
    hooks::validate(&bundle.spec)?;
    if let Some(r) = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
    {
        cgroups::check_devices(r).map_err(cg_err)?;
    }
    check_terminal(&bundle.spec, o.console_socket, mode == Mode::Detached)?;
    timer.phase("load bundle");
    let tty_size = if mode == Mode::Foreground {
        console::stdin_size()
    } else {
        None
    };
    let cg_path = cgroup_path_of(&bundle.spec, id);
    let opts = Options {
        preserve_fds: o.preserve_fds,
        no_pivot: o.no_pivot,
        debug: o.debug,
        tty_size,
        no_new_keyring: o.no_new_keyring,
        cgroup_path: Some(cg_path.clone()),
    };
    let spec: &Spec = &bundle.spec;
    // A foreground `run` starts its stub before the plan exists where it
    // can (`launch::spawn_early`): the kernel makes the namespaces while
    // the plan is computed. Otherwise the plan comes first.
    let early_ns = match (mode, o.console_socket) {
        (Mode::Foreground, None) => launch::early_namespaces(spec),
        _ => None,
    };
    let mut plan = None;
    if early_ns.is_none() {
        plan = Some(Plan::compute(&bundle, &opts)?);
    }
    // runc's order: a console socket nobody listens on fails before
    // anything is started.
    let console_conn = match o.console_socket {
        Some(path) => Some((path, console::connect_socket(path)?)),
        None => None,
    };
    if plan.is_some() {
        timer.phase("compute plan");
    }
    let (namespaces, own_pid_ns) = match (&plan, early_ns) {
        (Some(plan), _) => (
            plan.clone_flags
                | plan.join.iter().fold(0, |m, j| m | j.nstype)
                | if plan.flags & flags::NEW_TIMENS != 0 {
                    crate::exec::CLONE_NEWTIME
                } else {
                    0
                },
            plan.clone_flags & crate::plan::clone_flags::NEWPID != 0,
        ),
        (None, ns) => {
            let ns = ns.unwrap_or_default();
            let timens = spec
                .linux()
                .as_ref()
                .and_then(|l| l.namespaces().as_ref())
                .is_some_and(|v| {
                    v.iter()
                        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Time)
                });
            (
                ns | if timens {
                    crate::exec::CLONE_NEWTIME
                } else {
                    0
                },
                ns & crate::plan::clone_flags::NEWPID != 0,
            )
        }
    };

    let mut st = State {
        oci_version: spec.version().clone(),
        id: id.to_string(),
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::cli::rfc3339_now(),
        owner: state::owner_name(euid()),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        cgroup_path: cg_path.clone(),
        cgroup_created_ancestor: None,
        status_stored: Status::Creating,
        foreground: mode == Mode::Foreground,
        namespaces,
        own_pid_ns,
        config: State::saved_config(spec),
        root: root.to_path_buf(),
    };
    // From here on `<root>/<ID>` exists with a state file (`creating`, pid
    // 0), so `delete` can always find and remove what a killed `create`
    // leaves; before, nothing was made.
    let lock = st.publish()?;
    let mut pending = Pending {
        root: root.to_path_buf(),
        id: id.to_string(),
        cgroup: None,
        armed: true,
        keep: false,
        lock: Some(lock),
        poststop: None,
        claim: None,
    };
    timer.phase("state dir");

    // Where it can, the cgroup is made while the stub starts
    // (`launch::Deferred`): only its cgroup2 directory now.
    let resources = resources_of(spec);
    for w in cgroups::ignored_fields(&resources) {
        warn(w);
    }
    let (begun, into) = match Cgroup::begin(&cg_path, &resources).map_err(cg_err)? {
        Some((cg, into)) => (Some(cg), into),
        None => {
            let cg = Cgroup::create_with(&cg_path, &resources).map_err(cg_err)?;
            // Saved with the pid in `on_spawn` (one save fewer); a `create`
            // killed in between leaves the ancestor, empty, to the next container.
            st.cgroup_created_ancestor = cg.created_ancestor().map(Path::to_path_buf);
            pending.cgroup = Some((cg_path.clone(), st.cgroup_created_ancestor.clone()));
            pending.claim = Some(cg);
            (None, None)
        }
    };
    // Declared after `pending`, so dropped before it on an error: the
    // claim is let go, then `pending` removes the cgroup.
    let begun = RefCell::new(begun);
    timer.phase("cgroup");

    // Declared after `begun`: on an error the stub is killed before the
    // cgroup2 directory it was born in is removed.
    let mut early = match early_ns {
        Some(ns) if begun.borrow().is_some() => Some(launch::spawn_early(
            ns,
            // Only for a new user namespace: maps without one are refused
            // by the plan, naming the field.
            (ns & crate::plan::clone_flags::NEWUSER != 0)
                .then(|| launch::early_id_maps(spec))
                .flatten(),
            o.preserve_fds,
            into.as_ref().map(std::os::fd::AsRawFd::as_raw_fd),
            timer,
        )?),
        _ => None,
    };
    let mut plan = match plan {
        Some(plan) => plan,
        None => {
            let plan = Plan::compute(&bundle, &opts)?;
            timer.phase("compute plan (while the stub makes its namespaces)");
            plan
        }
    };
    if let Some(e) = early.take_if(|e| !e.fits(&plan)) {
        // Not the plan the stub was started for (a mount tree to inherit,
        // say): start again the usual way.
        e.abandon();
    }

    if mode == Mode::Detached {
        let listener = bind_start_socket(&dir)?;
        plan.flags |= flags::WAIT_START;
        plan.start_socket = Some(OwnedFd::from(listener));
    }
    let pre_pivot_hooks = [Kind::Prestart, Kind::CreateRuntime, Kind::CreateContainer]
        .iter()
        .any(|k| !hooks::of(spec, *k).is_empty());
    // tmpcopyup mounts are filled in by us in the same pause.
    let copy_up = copyup::targets(&bundle.rootfs, spec.mounts().as_deref().unwrap_or(&[]));
    if pre_pivot_hooks || !copy_up.is_empty() {
        plan.flags |= flags::HOOKS_BEFORE_PIVOT;
    }
    // createContainer hooks enter the container's time namespace: its
    // offsets are written before them, here, not by the stub after
    // pivot_root (`mounts::take_time_offsets`).
    let time_offsets = match hooks::of(spec, Kind::CreateContainer).is_empty() {
        true => None,
        false => crate::mounts::take_time_offsets(&mut plan.mounts),
    };
    // A foreground run with nothing to do at `Ready` skips that round trip.
    let start_hooks = !hooks::of(spec, Kind::StartContainer).is_empty();
    launch::skip_ready_when_idle(
        &mut plan,
        mode == Mode::Detached || o.pid_file.is_some() || start_hooks,
    );

    let cell = RefCell::new(st);
    // The stub joins the cgroup by itself (SpawnOptions::cgroup, Deferred).
    let on_spawn = |pid: Pid| -> Result<()> {
        // (The stub may be gone already; `spawn_with` then leaves the
        // report to the sync loop.)
        let mut st = cell.borrow_mut();
        st.set_pid(pid.as_raw())?;
        st.save()
    };
    let finished = std::cell::Cell::new(false);
    let mut finish = |pid: Pid, in_cgroup: bool| -> Result<cgroups::JoinFds> {
        let mut begun = begun.borrow_mut();
        let cg = begun.as_mut().expect("a begun cgroup");
        let fds = cg.finish(&resources).map_err(cg_err)?;
        finished.set(true);
        cell.borrow_mut().cgroup_created_ancestor = cg.created_ancestor().map(Path::to_path_buf);
        if !in_cgroup && pid.as_raw() > 0 {
            cg.add_task_unified(pid.as_raw()).map_err(cg_err)?;
        }
        Ok(fds)
    };
    // Covered by us at the Hooks pause (`on_hooks`).
    let host_covers = std::mem::take(&mut plan.host_covers);
    let spawned = match early {
        Some(early) => early.complete(plan, &on_spawn, &mut finish, timer),
        None => {
            let deferred = match begun.borrow().is_some() {
                true => Some(launch::Deferred {
                    into,
                    finish: &mut finish,
                }),
                false => None,
            };
            launch::spawn_with(
                plan,
                &on_spawn,
                SpawnOptions {
                    pdeathsig: mode == Mode::Foreground,
                    cgroup: pending.claim.as_ref(),
                    deferred,
                },
                timer,
            )
        }
    };
    if finished.get() {
        // Made: removed again by `pending` if anything fails from here on.
        pending.cgroup = Some((
            cg_path.clone(),
            cell.borrow().cgroup_created_ancestor.clone(),
        ));
    }
    // A stub that joined the v1 memory cgroup before its exec (the
    // cgroup made before the clone: a cgroupsPath whose parent is new) is
    // still a vfork child there, which the kernel's OOM killer passes
    // over: its exec fails with ENOMEM instead of it being killed later.
    let mut launched = spawned.map_err(|e| {
        let begun = begun.borrow();
        let cg = pending.claim.as_ref().or(begun.as_ref());
        with_oom_cause(e, cg, memory_limit(spec))
    })?;
    // From here on the container exists; `run --keep` keeps it stopped
    // whatever fails (runc's `run --keep` destroys nothing).
    pending.keep = o.keep && mode == Mode::Foreground;
    if let Some(cg) = begun.borrow_mut().take() {
        pending.claim = Some(cg);
    }
    // Set when a prestart/createRuntime/createContainer/startContainer hook failed.
    let hook_failed = std::cell::Cell::new(false);
    let failed = |r: Result<()>| {
        hook_failed.set(r.is_err());
        r
    };
    let on_hooks = |pid: Pid| -> Result<()> {
        copyup::run(&bundle.rootfs, pid.as_raw(), &copy_up)?;
        let mut st = cell.borrow_mut();
        st.set_pid(pid.as_raw())?;
        st.save()?;
        let json = hook_state(&st, Status::Creating);
        failed(hooks::run(spec, Kind::Prestart, &json, Place::Runtime))?;
        failed(hooks::run(spec, Kind::CreateRuntime, &json, Place::Runtime))?;
        if let Some(text) = &time_offsets {
            let path = format!("/proc/{pid}/timens_offsets");
            std::fs::write(&path, text.as_bytes())
                .ctx(|| format!("linux.timeOffsets: writing {path}"))?;
        }
        failed(hooks::run(
            spec,
            Kind::CreateContainer,
            &json,
            Place::Container(pid.as_raw()),
        ))?;
        // After the hooks, which may read them (runc covers them in
        // msMoveRoot, after its createContainer hooks).
        if !host_covers.is_empty() {
            crate::sys::mount_tmpfs_covers(pid.as_raw(), &host_covers)
                .map_err(|e| Error::io("--no-pivot: covering the host's /proc and /sys", &e))?;
        }
        Ok(())
    };
    let on_ready = |pid: Pid| -> Result<()> {
        let mut st = cell.borrow_mut();
        st.set_pid(pid.as_raw())?;
        st.save()?;
        let json = hook_state(&st, Status::Created);
        failed(hooks::run(
            spec,
            Kind::StartContainer,
            &json,
            Place::Container(pid.as_raw()),
        ))
    };
    // The state sent with a seccomp notify listener (linux.seccomp.listenerPath).
    let container_state = |pid: Pid| -> String {
        let mut st = cell.borrow_mut();
        let _ = st.set_pid(pid.as_raw());
        hook_state(&st, Status::Creating)
    };
    let run_opts = RunOptions {
        container_state: Some(&container_state),
        pid_file: if mode == Mode::Foreground {
            o.pid_file
        } else {
            None
        },
        on_hooks: Some(&on_hooks),
        on_ready: if mode == Mode::Foreground && !hooks::of(spec, Kind::StartContainer).is_empty() {
            Some(&on_ready)
        } else {
            None
        },
        hold_signals: mode == Mode::Foreground,
    };
    if let Err(e) = launched.sync(&run_opts, timer) {
        let e = with_oom_cause(e, pending.claim.as_ref(), memory_limit(spec));
        // (Kept, the container's poststop hooks wait for `delete`.)
        if hook_failed.get() && !pending.keep {
            pending.poststop = Some((
                Box::new(spec.clone()),
                hook_state(&cell.borrow(), Status::Stopped),
            ));
        }
        if pending.keep {
            // Kept for `delete` (`run --keep`): a created container whose
            // process is gone (the stub dies with `launched`), `stopped`
            // from now on; `delete` runs its poststop hooks, as after any
            // kept run, not the skip of a `create` killed midway.
            let mut st = cell.borrow_mut();
            st.status_stored = Status::Created;
            if let Err(se) = st.save() {
                warn(format!("container \"{id}\": keeping it: {se}"));
            }
        }
        return Err(e);
    }
    if let Some((path, conn)) = &console_conn
        && let Some(master) = launched.take_console()
    {
        console::send_master(path, conn, master)?;
    }
    let mut st = cell.into_inner();
    match mode {
        // The pid `on_spawn` recorded (the stub exec'd in place). The
        // process may be done already: it ran; the wait reports it.
        Mode::Foreground if st.pid == launched.pid().as_raw() => {}
        Mode::Foreground => {
            let _ = st.set_pid(launched.pid().as_raw());
        }
        // Still there, waiting for `start`.
        Mode::Detached => st.set_pid(launched.pid().as_raw())?,
    }
    st.status_stored = if mode == Mode::Foreground {
        Status::Running
    } else {
        Status::Created
    };
    let saved = st.save_bytes()?;
    if mode == Mode::Detached
        && let Some(p) = o.pid_file
    {
        launch::write_pid_file(p, launched.pid())?;
    }
    timer.phase("save state");
    Ok((
        Setup {
            state: st,
            saved,
            launched,
            memory_limit: memory_limit(spec),
        },
        pending,
    ))
}

/// `sprout create`: sets the container up and leaves the stub waiting for
/// `start` (see the module docs). Exit 0.
///
/// Errors: an existing ID (`container "ID" already exists`), any bundle,
/// plan, cgroup, hook or setup error; nothing is left behind then.
pub fn create(root: &Path, id: &str, o: &CreateOptions<'_>, timer: &mut Timer) -> Result<i32> {
    let (setup, pending) = setup(root, id, o, Mode::Detached, timer)?;
    setup.launched.detach();
    let _lock = pending.disarm();
    Ok(0)
}

/// `sprout run`: foreground (exit status of the container process, 128+N
/// for signal N) or `detach` (`create` + `start`, exit 0). With
/// [`CreateOptions::keep`] (runc's `run --keep`) a foreground run leaves
/// the stopped container, its state and cgroup for `sprout delete`, which
/// then runs the poststop hooks, also when it failed once its stub ran;
/// without it they go when the process exits.
pub fn run(
    root: &Path,
    id: &str,
    o: &CreateOptions<'_>,
    detach: bool,
    timer: &mut Timer,
) -> Result<i32> {
    if detach {
        let (setup, pending) = setup(root, id, o, Mode::Detached, timer)?;
        setup.launched.detach();
        // Started under the create's lock: let go in between, a `delete`
        // and a new `create` of the ID could slip in, and this would start
        // that other container.
        let lock = pending.disarm();
        let started = start_locked(root, id)?;
        drop(lock);
        started.finish();
        return Ok(0);
    }
    crate::launch::block_forwarded_early();
    let (
        Setup {
            state: st,
            saved,
            launched,
            memory_limit,
        },
        pending,
    ) = setup(root, id, o, Mode::Foreground, timer)?;
    drop(pending.disarm());
    hooks::run_warn(
        &st.config,
        Kind::Poststart,
        &hook_state(&st, Status::Running),
    );
    let code = launched.wait(timer).map_err(|e| match cgroup_of(&st) {
        Ok(cg) => with_oom_cause(e, Some(&cg), memory_limit),
        Err(_) => e,
    });
    if o.keep {
        // runc's `run --keep`: the stopped container stays for `delete`,
        // which removes the cgroup and runs the poststop hooks.
        return code;
    }
    // The end: poststop hooks, cgroup and state removed (unless a
    // `delete` did it meanwhile).
    // The lock checks the state dir is still there; the state in it must
    // still be ours: a `delete --force` and a new `create` of the same ID
    // while this ran leave a directory (even the same, recycled one) of
    // another container, which is not ours to remove.
    let ours = |now: &State| {
        now.created == st.created && now.pid == st.pid && now.pid_start_time == st.pid_start_time
    };
    if let Ok(_lock) = State::lock(root, id)
        && (State::unchanged(root, id, &saved) || State::load(root, id).is_ok_and(|now| ours(&now)))
    {
        let remove = cgroup_of(&st).and_then(|cg| {
            cg.remove_unless(|| cgroup_taken_over(root, id, &st.cgroup_path))
                .map_err(cg_err)
        });
        hooks::run_warn(
            &st.config,
            Kind::Poststop,
            &hook_state(&st, Status::Stopped),
        );
        match remove {
            Ok(_) => State::remove_dir(root, id)?,
            Err(e) => warn(format!(
                "container \"{id}\": {e} (the state stays for `sprout delete`)"
            )),
        }
    }
    timer.phase("remove cgroup and state");
    code
}

/// `sprout start`: releases a `created` container (see the module docs).
///
/// Errors (runc's words): `cannot start a container that has stopped`,
/// `cannot start an already running container`, `cannot start a
/// container in the paused state`; a failing startContainer hook (the
/// container is then killed); the start socket.
pub fn start(root: &Path, id: &str) -> Result<()> {
    check_id(id)?;
    let lock = State::lock(root, id)?;
    let started = start_locked(root, id)?;
    drop(lock);
    started.finish();
    Ok(())
}

/// How long a started container's exec may take before its poststart
/// hooks run anyway ([`Started::finish`]): an exec held up (a seccomp
/// agent that does not answer, a stalled filesystem) must not hold
/// `start` forever (runc's returns at once).
const EXEC_WAIT: Duration = Duration::from_secs(5);

/// A container released by [`start_locked`], saved as running.
struct Started {
    st: State,
    /// The start connection, which the stub holds until its execve
    /// closes it (CLOEXEC).
    conn: UnixStream,
}

impl Started {
    /// Waits (at most [`EXEC_WAIT`], without the container's lock) for
    /// the container process's exec, then runs the poststart hooks: they
    /// come after the exec (runtime.md, "Lifecycle" step 8), as the spec
    /// orders. An exec that fails ends the stub: end of file as well.
    fn finish(mut self) {
        let _ = self.conn.set_read_timeout(Some(EXEC_WAIT));
        let mut b = [0u8; 1];
        loop {
            match self.conn.read(&mut b) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        hooks::run_warn(
            &self.st.config,
            Kind::Poststart,
            &hook_state(&self.st, Status::Running),
        );
    }
}

/// [`start`] with the lock of `id` already held by the caller: runs the
/// startContainer hooks, releases the stub and saves the state as
/// running; the caller lets the lock go and calls [`Started::finish`].
fn start_locked(root: &Path, id: &str) -> Result<Started> {
    let mut st = State::load(root, id)?;
    match st.status() {
        Status::Created => {}
        Status::Stopped => crate::bail!("cannot start a container that has stopped"),
        Status::Running => crate::bail!("cannot start an already running container"),
        s => crate::bail!("cannot start a container in the {s} state"),
    }
    if let Err(e) = hooks::run(
        &st.config,
        Kind::StartContainer,
        &hook_state(&st, Status::Created),
        Place::Container(st.pid),
    ) {
        let _ = kill_and_wait(&st);
        return Err(e);
    }
    let dir = st.state_dir();
    let sock = st.start_socket();
    let mut conn =
        with_short_path(&dir, state::START_SOCKET, |p| UnixStream::connect(p)).map_err(|e| {
            Error::io(
                format!("container \"{id}\": connecting to {}", sock.display()),
                &e,
            )
        })?;
    let mut b = [0u8; 1];
    let n = loop {
        match conn.read(&mut b) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => {
                break r.map_err(|e| {
                    Error::io(
                        format!("container \"{id}\": reading {}", sock.display()),
                        &e,
                    )
                })?;
            }
        }
    };
    let _ = std::fs::remove_file(&sock);
    if n != 1 {
        crate::bail!("container \"{id}\": the container process exited before it was started");
    }
    st.status_stored = Status::Running;
    st.save()?;
    Ok(Started { st, conn })
}

/// Parses a signal as runc does: a number (0-64; 0 only checks that the
/// process exists), or a name with or without `SIG`, any case (`TERM`,
/// `sigkill`, `SIGUSR1`).
///
/// Errors: `unknown signal "X"`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (0..=64).contains(&n) {
            return Ok(n);
        }
        crate::bail!("invalid signal number {n} (0-64)");
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    match name.parse::<Signal>() {
        Ok(sig) => Ok(sig as i32),
        Err(_) => crate::bail!("unknown signal \"{s}\""),
    }
}

/// A pidfd of the container process if it is still the recorded one
/// (opened first, then the start time checked, so the fd cannot refer to
/// a process that reused the pid).
fn container_pidfd(st: &State) -> Option<OwnedFd> {
    if st.pid <= 0 {
        return None;
    }
    let fd = sys::pidfd_open(st.pid).ok()?;
    st.process_alive().then_some(fd)
}

/// Waits until the process behind `pidfd` exits (poll for readability),
/// at most `timeout`; true if it did.
fn wait_pidfd(pidfd: &OwnedFd, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// SIGKILL everything of the container (cgroup, thawed first; and the
/// process itself by pidfd) and wait on the pidfd until it is gone.
fn kill_and_wait(st: &State) -> Result<()> {
    let pidfd = container_pidfd(st);
    if let Ok(cg) = cgroup_of(st)
        && cg.exists()
        // A `create` that died before its process joined: the cgroup may
        // be another container's by now.
        && !(st.status_stored == Status::Creating && cgroup_taken_over(&st.root, &st.id, &st.cgroup_path))
    {
        if let Err(e) = cg.kill_all(libc::SIGKILL) {
            warn(format!("container \"{}\": {e}", st.id));
        }
        // A v1-frozen task cannot die (cgroup.kill of the unified
        // hierarchy does not thaw the v1 freezer).
        let _ = cg.thaw();
    }
    if let Some(fd) = pidfd {
        let _ = sys::pidfd_send_signal(&fd, libc::SIGKILL);
        if !wait_pidfd(&fd, KILL_WAIT) {
            crate::bail!(
                "container \"{}\": process {} did not exit after SIGKILL",
                st.id,
                st.pid
            );
        }
    }
    Ok(())
}

/// A stopped container whose process is a zombie leader with threads
/// still running or on their way out (it called pthread_exit(3); or its
/// exit_group(2) is still taking its threads down, as a Go program's
/// right after it returns): `state` says stopped (as runc's), but its
/// threads are in the cgroup, which `delete` took for someone else's and
/// left. They are the container's: SIGKILL to the thread group, and a
/// wait (at most `KILL_WAIT`) until it is empty. runc retries its rmdir
/// for a while instead, which covers the second case only.
fn end_exited_thread_group(st: &State) {
    if !state::proc_zombie_since(st.pid, st.pid_start_time) {
        return;
    }
    let Ok(fd) = sys::pidfd_open(st.pid) else {
        return;
    };
    // The pidfd is this process's if it is still the same zombie.
    if !state::proc_zombie_since(st.pid, st.pid_start_time) {
        return;
    }
    let _ = sys::pidfd_send_signal(&fd, libc::SIGKILL);
    if !wait_pidfd(&fd, KILL_WAIT) {
        warn(format!(
            "container \"{}\": the threads of process {} did not exit after SIGKILL",
            st.id, st.pid
        ));
    }
}

/// `sprout kill [--all] ID [SIGNAL]` (default SIGTERM).
///
/// Without `--all` the container process gets the signal through a pidfd
/// (`pidfd_send_signal`, after the start-time check); SIGKILL to a paused
/// container also thaws it (runc). With `--all` every process in the
/// cgroup gets it ([`Cgroup::kill_all`]).
///
/// Errors: `container not running` (runc) for a stopped container without
/// `--all`; an unknown signal.
pub fn kill(root: &Path, id: &str, signal: Option<&str>, all: bool) -> Result<()> {
    check_id(id)?;
    let sig = parse_signal(signal.unwrap_or("SIGTERM"))?;
    let st = State::load(root, id)?;
    let status = st.status();
    if all {
        let cg = cgroup_of(&st)?;
        if status == Status::Stopped
            && (!cg.exists() || cgroup_taken_over(root, id, &st.cgroup_path))
        {
            return Ok(());
        }
        cg.kill_all(sig).map_err(cg_err)?;
        if sig == libc::SIGKILL {
            // As runc: SIGKILL to a paused container thaws it, so that it dies.
            let _ = cg.thaw();
        }
        return Ok(());
    }
    if status == Status::Stopped {
        crate::bail!("container not running");
    }
    let Some(fd) = container_pidfd(&st) else {
        crate::bail!("container not running")
    };
    // A created container's process is sprout-init waiting for `start`:
    // as pid 1 of its pid namespace, with no handlers, it ignores every
    // signal but SIGKILL and SIGSTOP. runc's waiting init (a Go program
    // without handlers of its own) dies of the signals Go's runtime ends
    // a program on (podman's stop then needs no timeout), and ignores the
    // rest: so does sprout's, by SIGKILL for the first.
    let sig = if status == Status::Created
        && ends_runcs_waiting_init(sig)
        && state::innermost_pid(st.pid) == Some(1)
    {
        libc::SIGKILL
    } else {
        sig
    };
    match sys::pidfd_send_signal(&fd, sig) {
        Ok(()) => {}
        Err(Errno::ESRCH) => crate::bail!("container not running"),
        Err(e) => {
            return Err(Error::Sys {
                context: format!("container \"{id}\": signalling process {}", st.pid),
                errno: e,
            });
        }
    }
    if status == Status::Paused && sig == libc::SIGKILL {
        let _ = cgroup_of(&st)?.thaw();
    }
    Ok(())
}

/// Whether `sig`, sent from outside, ends runc's init while it waits in
/// `created` (measured with runc 1.1.5; Go's runtime, `sigtable`: the
/// signals it kills or throws on when they come from `kill(2)`): SIGHUP,
/// SIGINT, SIGTERM, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGSTKFLT, SIGSYS
/// (and SIGKILL). Go ignores the others (SIGUSR1, SIGUSR2, SIGPIPE,
/// SIGALRM, a SIGSEGV that is no fault, the real-time ones, ...), and
/// signal 0 only checks that the process exists.
fn ends_runcs_waiting_init(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGKILL
            | libc::SIGHUP
            | libc::SIGINT
            | libc::SIGTERM
            | libc::SIGQUIT
            | libc::SIGILL
            | libc::SIGTRAP
            | libc::SIGABRT
            | libc::SIGSTKFLT
            | libc::SIGSYS
    )
}

/// `sprout delete [--force] ID`: removes a stopped (or created) container:
/// its processes (SIGKILL, waited for on a pidfd), cgroup (with the
/// sub-cgroups the container made, in every hierarchy) and state dir,
/// then runs the poststop hooks (warnings).
///
/// Errors (runc's words): `container "ID" does not exist` (but `--force`
/// of a missing container succeeds: podman relies on it), `cannot delete
/// container ID that is not stopped: running` without `--force`; a
/// `state.json` that cannot be read or parsed, even with `--force` (what
/// it names may still run; runc refuses too).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    check_id(id)?;
    let _lock = match State::lock(root, id) {
        Ok(l) => l,
        Err(_) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let st = match State::load(root, id) {
        Ok(st) => st,
        Err(e) => {
            // A `create` killed before it saved anything: only the
            // directory. A state file that is there but unreadable or
            // corrupt may be a live container's (its process, its cgroup):
            // an error even with --force, as runc's, rather than dropping
            // the only record of them and reporting success.
            let saved = State::dir(root, id).join(crate::state::STATE_FILE);
            if force && std::fs::symlink_metadata(saved).is_err() {
                return State::remove_dir(root, id);
            }
            return Err(e);
        }
    };
    let status = st.status();
    match status {
        // A `create` that died: its stub may still be waiting.
        Status::Stopped if st.status_stored == Status::Creating => kill_and_wait(&st)?,
        Status::Stopped => end_exited_thread_group(&st),
        Status::Created | Status::Creating => kill_and_wait(&st)?,
        Status::Running | Status::Paused if force => kill_and_wait(&st)?,
        s => crate::bail!("cannot delete container {id} that is not stopped: {s}"),
    }
    // A container that stopped by itself with its own pid namespace left
    // no process in its cgroup: a process found there (in it or in a
    // sub-cgroup; `remove_unless` asks only then) is someone else's
    // (another runtime's container on the same cgroupsPath). runc 1.1
    // kills the cgroup's processes only without a private pid namespace;
    // so here. Sub-cgroups the container made (systemd, Docker in Docker)
    // and left empty are its own, and go with it in every hierarchy.
    let foreign =
        status == Status::Stopped && st.status_stored != Status::Creating && st.own_pid_ns;
    let removed = cgroup_of(&st)?
        .remove_unless(|| foreign || cgroup_taken_over(root, id, &st.cgroup_path))
        .map_err(cg_err)?;
    if !removed && foreign {
        warn(format!(
            "container \"{id}\": cgroup {} still has processes that are not the container's: left in place",
            st.cgroup_path.display()
        ));
    }
    let _ = std::fs::remove_file(st.start_socket());
    if st.status_stored != Status::Creating {
        hooks::run_warn(
            &st.config,
            Kind::Poststop,
            &hook_state(&st, Status::Stopped),
        );
    }
    State::remove_dir(root, id)
}

/// `sprout pause ID`: freezes the cgroup (status `paused`).
///
/// Errors: `container not running` unless running or created (runc).
pub fn pause(root: &Path, id: &str) -> Result<()> {
    check_id(id)?;
    let _lock = State::lock(root, id)?;
    let st = State::load(root, id)?;
    match st.status() {
        Status::Running | Status::Created => cgroup_of(&st)?.freeze().map_err(cg_err),
        _ => crate::bail!("container not running"),
    }
}

/// `sprout resume ID`: thaws the cgroup.
///
/// Errors: `container not paused` (runc).
pub fn resume(root: &Path, id: &str) -> Result<()> {
    check_id(id)?;
    let _lock = State::lock(root, id)?;
    let st = State::load(root, id)?;
    match st.status() {
        Status::Paused => cgroup_of(&st)?.thaw().map_err(cg_err),
        _ => crate::bail!("container not paused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("sigusr1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(
            parse_signal("FOO").unwrap_err().to_string(),
            "unknown signal \"FOO\""
        );
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert!(parse_signal("-1").is_err());
        assert!(parse_signal("65").is_err());
    }

    #[test]
    fn default_devices_are_appended() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"resources": {"devices": [{"allow": false, "access": "rwm"}]}}
        }))
        .unwrap();
        let r = resources_of(&spec);
        let d = r.devices().as_ref().unwrap();
        // deny-all first, then the config's rule, then runc's defaults.
        assert!(!d[0].allow() && !d[1].allow());
        assert_eq!(d.len(), 2 + cgroups::default_device_rules().len());
        assert_eq!(cgroup_path_of(&spec, "abc"), Path::new("/sprout/abc"));
        // A config without devices still starts from deny-all.
        let bare: Spec =
            serde_json::from_value(serde_json::json!({"ociVersion": "1.0.2"})).unwrap();
        let d = resources_of(&bare).devices().clone().unwrap();
        assert!(!d[0].allow() && d[0].access().as_deref() == Some("rwm"));
        assert_eq!(d.len(), 1 + cgroups::default_device_rules().len());
    }
}
