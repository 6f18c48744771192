//! The plan: everything the stub needs, computed ahead of time from the
//! bundle and resolved to numbers ([`sprout_protocol::PlanSpec`]).
//!
//! [`Plan::compute`] validates the whole config and fails with one line
//! naming the field before anything is started; [`Plan::encode`] produces
//! the wire bytes; [`Plan::view`] is what `sprout plan` prints.
//!
//! Besides the wire plan, a [`Plan`] carries what the controller itself
//! does at launch: the `clone(2)` flags of the new namespaces, the opened
//! fds of the namespaces to join, the user-namespace id maps, and
//! `oomScoreAdj`.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::{
    LinuxIdMapping, LinuxNamespaceType, LinuxPersonalityDomain, Process, Spec,
};
use serde_json::{Value, json};
use sprout_protocol::{Caps, Namespace, Plan as WirePlan, PlanSpec, Rlimit, UNSET, WinSize, flags};

use crate::config::Bundle;
use crate::error::{Error, Result, warn};
use crate::mounts::{self, Op};
use crate::{caps, env, procattr, rlimit, seccomp, user};

/// `NGROUPS_MAX`: the most supplementary groups `setgroups(2)` accepts
/// (`process.user.additionalGids` beyond it fail with `E2BIG` in the stub).
pub const NGROUPS_MAX: usize = 65536;

/// `CLONE_NEW*` flags (`clone(2)`), as `u32` like [`Namespace::nstype`].
pub mod clone_flags {
    /// `CLONE_NEWNS`.
    pub const NEWNS: u32 = 0x0002_0000;
    /// `CLONE_NEWCGROUP`.
    pub const NEWCGROUP: u32 = 0x0200_0000;
    /// `CLONE_NEWUTS`.
    pub const NEWUTS: u32 = 0x0400_0000;
    /// `CLONE_NEWIPC`.
    pub const NEWIPC: u32 = 0x0800_0000;
    /// `CLONE_NEWUSER`.
    pub const NEWUSER: u32 = 0x1000_0000;
    /// `CLONE_NEWPID`.
    pub const NEWPID: u32 = 0x2000_0000;
    /// `CLONE_NEWNET`.
    pub const NEWNET: u32 = 0x4000_0000;
    /// `CLONE_NEWTIME`: only for `unshare(2)`/`setns(2)`/`clone3(2)`; in
    /// `clone(2)`'s flags this bit is part of the exit signal.
    pub const NEWTIME: u32 = 0x0000_0080;
}

/// Names of the plan flags, for `sprout plan`.
const FLAG_NAMES: &[(u32, &str)] = &[
    (flags::NO_NEW_PRIVS, "NO_NEW_PRIVS"),
    (flags::READONLY_ROOTFS, "READONLY_ROOTFS"),
    (flags::TERMINAL, "TERMINAL"),
    (flags::NO_PIVOT, "NO_PIVOT"),
    (flags::LOOPBACK, "LOOPBACK"),
    (flags::SKIP_SETGROUPS, "SKIP_SETGROUPS"),
    (flags::APPLY_RLIMITS, "APPLY_RLIMITS"),
    (flags::SETUP_ROOTFS, "SETUP_ROOTFS"),
    (flags::WAIT_START, "WAIT_START"),
    (flags::NEW_KEYRING, "NEW_KEYRING"),
    (flags::SYNC, "SYNC"),
    (flags::HOOKS_BEFORE_PIVOT, "HOOKS_BEFORE_PIVOT"),
    (flags::SECCOMP_EARLY, "SECCOMP_EARLY"),
    (flags::SUBREAPER, "SUBREAPER"),
    (flags::NEW_TIMENS, "NEW_TIMENS"),
    (flags::NEW_CGROUPNS, "NEW_CGROUPNS"),
    (flags::JOIN_CGROUP, "JOIN_CGROUP"),
    (flags::PDEATHSIG, "PDEATHSIG"),
];

/// The names of plan flag bits.
pub fn flag_names(f: u32) -> Vec<&'static str> {
    FLAG_NAMES
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// The OCI name and `CLONE_NEW*` flag of a namespace type (`time`'s
/// [`clone_flags::NEWTIME`] is never a `clone(2)` flag: the stub unshares).
pub(crate) fn ns_kind(t: LinuxNamespaceType) -> (&'static str, u32) {
    match t {
        LinuxNamespaceType::Mount => ("mount", clone_flags::NEWNS),
        LinuxNamespaceType::Uts => ("uts", clone_flags::NEWUTS),
        LinuxNamespaceType::Ipc => ("ipc", clone_flags::NEWIPC),
        LinuxNamespaceType::Network => ("network", clone_flags::NEWNET),
        LinuxNamespaceType::Pid => ("pid", clone_flags::NEWPID),
        LinuxNamespaceType::Cgroup => ("cgroup", clone_flags::NEWCGROUP),
        LinuxNamespaceType::User => ("user", clone_flags::NEWUSER),
        LinuxNamespaceType::Time => ("time", clone_flags::NEWTIME),
    }
}

/// How the plan is computed: command-line choices.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--preserve-fds N`.
    pub preserve_fds: u32,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--debug`: extra notes on stderr.
    pub debug: bool,
    /// The size of the controller's terminal, used for the container's pty
    /// when `process.consoleSize` is absent (foreground run with a tty).
    pub tty_size: Option<WinSize>,
    /// `--no-new-keyring`: keep the caller's session keyring (otherwise the
    /// container joins a new anonymous one, as runc does by default).
    pub no_new_keyring: bool,
    /// The container's cgroup path (the same in every hierarchy), when
    /// known (`create`/`run`): a v1 `cgroup` mount binds the container's own
    /// cgroup of each hierarchy, as runc does; without it, the roots.
    pub cgroup_path: Option<std::path::PathBuf>,
}

/// A namespace the stub joins with `setns(2)`.
#[derive(Debug)]
pub struct JoinNs {
    /// OCI type name (`network`).
    pub kind: &'static str,
    /// `CLONE_NEW*` flag.
    pub nstype: u32,
    /// Index in `linux.namespaces`.
    pub index: usize,
    /// The path from the config.
    pub path: PathBuf,
    /// The namespace file, opened `O_RDONLY|O_CLOEXEC` by the controller.
    pub fd: OwnedFd,
    /// The fd number it gets in the stub.
    pub stub_fd: u32,
}

/// One line of a user-namespace id map (`user_namespaces(7)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the namespace.
    pub container: u32,
    /// First id on the host.
    pub host: u32,
    /// Number of ids.
    pub size: u32,
}

impl IdMap {
    /// Whether container id `id` is in this range.
    pub(crate) fn contains(&self, id: u32) -> bool {
        id >= self.container && (id - self.container) < self.size
    }
}

/// The text of `/proc/PID/uid_map`/`gid_map`: one `container host size`
/// line per entry.
pub fn map_text(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container, m.host, m.size))
        .collect()
}

/// A computed plan (see the module docs). Field meanings match
/// [`PlanSpec`] unless noted. (`Default` is an empty plan, a base for
/// [`Plan::compute_exec`].)
#[derive(Debug, Default)]
pub struct Plan {
    /// [`flags`] bits.
    pub flags: u32,
    /// `process.user.uid`.
    pub uid: u32,
    /// `process.user.gid`.
    pub gid: u32,
    /// Exactly `process.user.additionalGids`.
    pub additional_gids: Vec<u32>,
    /// `HOME` added from the rootfs's passwd (None when the config set it).
    pub home: Option<String>,
    /// `/proc/sys/kernel/cap_last_cap`.
    pub cap_last_cap: u32,
    /// Capability masks.
    pub caps: Caps,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `process.user.umask`; for `run`/`create` 0o022 without one (runc's
    /// default), for `exec` [`UNSET`] (the caller's stays).
    pub umask: u32,
    /// `linux.personality` domain or [`UNSET`].
    pub personality: u32,
    /// `SECCOMP_FILTER_FLAG_*`.
    pub seccomp_flags: u32,
    /// `linux.rootfsPropagation` as `MS_*` (0 = default).
    pub rootfs_propagation: u64,
    /// Console size.
    pub console: WinSize,
    /// Absolute host path of the rootfs.
    pub rootfs: CString,
    /// `hostname`.
    pub hostname: Option<CString>,
    /// `domainname`.
    pub domainname: Option<CString>,
    /// `process.cwd`.
    pub cwd: CString,
    /// `CLONE_NEW*` flags of the namespaces the controller creates with `clone(2)`.
    pub clone_flags: u32,
    /// `CLONE_NEW*` flags of the new namespaces the stub makes itself with
    /// `unshare(2)` instead, as its first step (encoded first in
    /// `PlanSpec::namespaces`, with fd `UNSET`); a subset of
    /// `clone_flags`, set at launch (`launch::spawn_with`) when the
    /// controller makes the cgroup meanwhile. 0 otherwise.
    pub unshare: u32,
    /// OCI names of the new namespaces, config order.
    pub new_namespaces: Vec<&'static str>,
    /// Namespaces the stub joins (user namespace first).
    pub join: Vec<JoinNs>,
    /// `linux.uidMappings` (for a new user namespace).
    pub uid_map: Vec<IdMap>,
    /// `linux.gidMappings`.
    pub gid_map: Vec<IdMap>,
    /// `process.rlimits`, applied by the controller with prlimit at `Ready`.
    pub rlimits: Vec<Rlimit>,
    /// Filesystem ops.
    pub mounts: Vec<Op>,
    /// `process.args`.
    pub args: Vec<CString>,
    /// `process.env`, de-duplicated, with `HOME`.
    pub env: Vec<CString>,
    /// Compiled seccomp program (empty = none).
    pub seccomp: Vec<u8>,
    /// `process.oomScoreAdj`, written by the controller at `Ready`.
    pub oom_score_adj: Option<i32>,
    /// Fd number of the plan pipe in the stub (`3 + preserve_fds`).
    pub plan_fd: u32,
    /// Fd number of the sync socket in the stub (`4 + preserve_fds`).
    pub sync_fd: u32,
    /// `create`: the listening start socket (bound at `<state dir>/start.sock`)
    /// the stub `accept`s on; it lands on [`Plan::start_fd`] in the stub.
    /// Set together with [`flags::WAIT_START`] by the lifecycle code.
    pub start_socket: Option<OwnedFd>,
    /// `linux.seccomp.listenerPath`/`listenerMetadata` when the filter
    /// has `SCMP_ACT_NOTIFY` rules: the controller sends the listener fd
    /// there ([`seccomp::send_listener`]).
    pub seccomp_listener: Option<seccomp::Listener>,
    /// `process.scheduler`, `ioPriority`, `execCPUAffinity`: applied by the
    /// controller at `Ready` ([`procattr::Attrs::apply`]).
    pub proc_attrs: procattr::Attrs,
    /// `--no-pivot`: the host's procfs and sysfs mount points the
    /// controller covers in the container's mount namespace at the
    /// `Hooks` pause, after the createContainer hooks
    /// ([`mounts::no_pivot_covers`], [`crate::sys::mount_tmpfs_covers`]);
    /// empty otherwise. Not sent to the stub.
    pub host_covers: Vec<std::ffi::CString>,
}

/// Warns that a present config part is skipped.
fn skipped(field: &str, why: &str) {
    warn(format!("{field}: {why}; skipped"));
}

/// Whether a serialized config part has any non-empty value.
#[cfg_attr(not(test), allow(dead_code))]
fn has_content(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => a.iter().any(has_content),
        Value::Object(o) => o.values().any(has_content),
        _ => true,
    }
}

fn ids_mapped(field: &str, id: u32, maps: &[IdMap], map_field: &str) -> Result<()> {
    if !maps.iter().any(|m| m.contains(id)) {
        crate::bail!("{field} {id} is not mapped in {map_field}");
    }
    Ok(())
}

/// The most lines `/proc/PID/uid_map` and `gid_map` take
/// (`UID_GID_MAP_MAX_EXTENTS`, user_namespaces(7): 340 since Linux 4.15).
const MAX_ID_MAP_LINES: usize = 340;

/// The ranges of `linux.uidMappings`/`gidMappings` (`field` names it in
/// errors), checked as the kernel checks a map write (user_namespaces(7),
/// kernel/user_namespace.c `map_write`), so that a map it would refuse
/// with a bare EINVAL is refused here naming the entry: a size above 0,
/// ranges whose end stays below 2^32 - 1 (the kernel refuses a range
/// that reaches 4294967295, the invalid id), at most 340 entries, no two
/// overlapping in the container's ids or in the host's, and the whole
/// text under 4096 bytes.
///
/// Errors: one line naming `field[i]` and what is wrong with it.
pub(crate) fn id_maps(field: &str, maps: &Option<Vec<LinuxIdMapping>>) -> Result<Vec<IdMap>> {
    let mut out: Vec<IdMap> = Vec::new();
    for (i, m) in maps.iter().flatten().enumerate() {
        let map = IdMap {
            container: m.container_id(),
            host: m.host_id(),
            size: m.size(),
        };
        if map.size == 0
            || map.container.checked_add(map.size).is_none()
            || map.host.checked_add(map.size).is_none()
        {
            crate::bail!(
                "{field}[{i}]: invalid range (containerID {}, hostID {}, size {})",
                map.container,
                map.host,
                map.size
            );
        }
        if i == MAX_ID_MAP_LINES {
            crate::bail!(
                "{field}: {} entries, the kernel takes at most {MAX_ID_MAP_LINES}",
                maps.iter().flatten().count()
            );
        }
        for (j, o) in out.iter().enumerate() {
            for (side, a, b) in [
                ("container", map.container, o.container),
                ("host", map.host, o.host),
            ] {
                // [a, a + map.size) against [b, b + o.size); no sum
                // overflows (checked above).
                if a < b + o.size && b < a + map.size {
                    crate::bail!(
                        "{field}[{i}]: {side} ids {a}-{} overlap {field}[{j}] ({b}-{})",
                        a + (map.size - 1),
                        b + (o.size - 1)
                    );
                }
            }
        }
        out.push(map);
    }
    let text = map_text(&out).len();
    if text >= 4096 {
        crate::bail!(
            "{field}: {text} bytes as /proc/PID/{} text, the kernel takes at most 4095",
            if field.contains("gid") {
                "gid_map"
            } else {
                "uid_map"
            }
        );
    }
    Ok(out)
}

/// A `CString` from config text, naming the field on a NUL byte.
fn cs(field: impl std::fmt::Display, s: &str) -> Result<CString> {
    mounts::cstring(field, s)
}

/// The part of a plan that comes from one `process` object (the
/// config's for `run`/`create`, the exec process's for `exec`): resolved
/// by [`ProcessPart::compute`]. Field meanings match [`Plan`].
struct ProcessPart {
    /// `NO_NEW_PRIVS` and `TERMINAL` bits.
    flags: u32,
    uid: u32,
    gid: u32,
    additional_gids: Vec<u32>,
    home: Option<String>,
    cap_last_cap: u32,
    caps: Caps,
    umask: u32,
    console: WinSize,
    cwd: CString,
    rlimits: Vec<Rlimit>,
    args: Vec<CString>,
    env: Vec<CString>,
}

impl ProcessPart {
    /// Validates and resolves `process` (user names and `HOME` from the
    /// rootfs of `bundle`); errors name the `process.*` field.
    fn compute(bundle: &Bundle, process: &Process, opts: &Options) -> Result<ProcessPart> {
        let args = process.args().clone().unwrap_or_default();
        if args.is_empty() {
            crate::bail!("process.args: must not be empty");
        }
        if args.len() > sprout_protocol::MAX_ARGS {
            crate::bail!(
                "process.args: {} arguments; sprout-init passes at most {}",
                args.len(),
                sprout_protocol::MAX_ARGS
            );
        }
        let args: Vec<CString> = args
            .iter()
            .enumerate()
            .map(|(i, a)| cs(format!("process.args[{i}]"), a))
            .collect::<Result<_>>()?;
        let cwd = process.cwd().to_string_lossy().into_owned();
        if !cwd.starts_with('/') {
            crate::bail!("process.cwd \"{cwd}\": must be an absolute path");
        }
        let cwd = cs("process.cwd", &cwd)?;

        let u = process.user();
        let (uid, gid) = (u.uid(), u.gid());
        // (uid_t)-1 means "unchanged" to setresuid(2)/setresgid(2): the
        // process would stay root.
        if uid == u32::MAX {
            crate::bail!("process.user.uid {uid}: not a valid uid");
        }
        if gid == u32::MAX {
            crate::bail!("process.user.gid {gid}: not a valid gid");
        }
        let env_list = process.env().clone().unwrap_or_default();
        env::validate(&env_list)?;
        let mut env_list = env::dedup(&env_list);
        // `process.user.username` is Windows-only in the runtime spec
        // ("config.md", "User", Windows); runc ignores it on Linux, and so
        // does sprout: a name must never override the uid and gid an
        // orchestrator chose (`"uid": 1000, "username": "root"` ran as root).
        if let Some(name) = u.username().as_deref().filter(|n| !n.is_empty()) {
            warn(format!(
                "process.user.username \"{name}\" is ignored on Linux (Windows only, as runc); process.user.uid/gid {uid}:{gid} apply"
            ));
        }
        // The rootfs's passwd is read only when needed (no HOME).
        let passwd = if !env::has_home(&env_list) {
            user::rootfs_passwd(&bundle.rootfs)?
        } else {
            Vec::new()
        };
        let additional_gids = u.additional_gids().clone().unwrap_or_default();
        if additional_gids.len() > NGROUPS_MAX {
            crate::bail!(
                "process.user.additionalGids: {} groups, more than the kernel allows ({NGROUPS_MAX}, NGROUPS_MAX)",
                additional_gids.len()
            );
        }
        let umask = match u.umask() {
            None => UNSET,
            Some(m) if m <= 0o777 => m,
            Some(m) => crate::bail!("process.user.umask {m:#o}: out of range (at most 0o777)"),
        };

        let home = if env::has_home(&env_list) {
            None
        } else {
            let h = user::home_for(uid, &passwd);
            env_list.push(format!("HOME={h}"));
            Some(h)
        };
        if env_list.len() > sprout_protocol::MAX_ARGS {
            crate::bail!(
                "process.env: {} variables (with HOME, duplicates merged); sprout-init passes at most {}",
                env_list.len(),
                sprout_protocol::MAX_ARGS
            );
        }
        let env: Vec<CString> = env_list
            .iter()
            .enumerate()
            .map(|(i, e)| cs(format!("process.env[{i}]"), e))
            .collect::<Result<_>>()?;

        let cap_last_cap = caps::read_cap_last_cap();
        let caps = caps::resolve(process.capabilities().as_ref(), cap_last_cap)?;
        let rlimits = rlimit::resolve(process.rlimits().as_deref().unwrap_or(&[]))?;
        let mut fl = 0;
        if process.no_new_privileges() == Some(true) {
            fl |= flags::NO_NEW_PRIVS;
        }
        let terminal = process.terminal() == Some(true);
        let mut console = WinSize::default();
        if terminal {
            fl |= flags::TERMINAL;
            console = opts.tty_size.unwrap_or_default();
        }
        if let Some(b) = process.console_size() {
            let clamp = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
            console = WinSize {
                rows: clamp(b.height()),
                cols: clamp(b.width()),
            };
        }
        warn_process_extras(process);
        Ok(ProcessPart {
            flags: fl,
            uid,
            gid,
            additional_gids,
            home,
            cap_last_cap,
            caps,
            umask,
            console,
            cwd,
            rlimits,
            args,
            env,
        })
    }
}

impl Plan {
    /// The stub joins the cgroup by itself (`flags::JOIN_CGROUP`, the
    /// `tasks` files sent as `Msg::Cgroup` while it starts), at a
    /// `JoinCgroup` op among its mounts when it sets up a rootfs
    /// ([`crate::mounts::place_join_cgroup`]), else right after its
    /// namespaces; and the cgroup binds after that op are cloned by the
    /// controller ([`crate::mounts::mark_cgroup_trees`], sent as
    /// `Msg::CgroupTrees`). Call before encoding: the failure messages read
    /// the ops by index.
    pub fn join_cgroup_in_stub(&mut self) {
        self.flags |= flags::JOIN_CGROUP;
        if self.flags & flags::SETUP_ROOTFS != 0 {
            crate::mounts::place_join_cgroup(&mut self.mounts);
            crate::mounts::mark_cgroup_trees(
                &mut self.mounts,
                self.rootfs_propagation,
                self.clone_flags & clone_flags::NEWUSER != 0,
            );
        }
    }

    /// Computes the plan of `bundle` for a foreground `run`.
    ///
    /// Errors: the first invalid or unsupported field, one line naming it
    /// (see the module docs of [`crate::config`], [`crate::mounts`],
    /// [`crate::caps`], [`crate::rlimit`], [`crate::env`],
    /// [`crate::seccomp`]). Unsupported optional parts (cgroups, hooks,
    /// LSM labels ...) give a warning on stderr and are skipped.
    pub fn compute(bundle: &Bundle, opts: &Options) -> Result<Plan> {
        let spec: &Spec = &bundle.spec;
        let Some(process) = spec.process() else {
            crate::bail!("process: missing (the config must say what to run)");
        };
        let no_linux;
        let linux = match spec.linux() {
            Some(l) => l,
            None => {
                no_linux = oci_spec::runtime::Linux::default();
                &no_linux
            }
        };
        let mut fl = flags::SETUP_ROOTFS | flags::SYNC;

        // --- process ---
        let ProcessPart {
            flags: process_flags,
            uid,
            gid,
            additional_gids,
            home,
            cap_last_cap,
            caps,
            umask,
            console,
            cwd,
            rlimits,
            args,
            env,
        } = ProcessPart::compute(bundle, process, opts)?;
        fl |= process_flags;

        // --- root ---
        let rootfs = cs("root.path", &bundle.rootfs.to_string_lossy())?;
        if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
            fl |= flags::READONLY_ROOTFS;
        }
        if opts.no_pivot {
            fl |= flags::NO_PIVOT;
        }
        if !opts.no_new_keyring {
            fl |= flags::NEW_KEYRING;
        }

        // --- namespaces ---
        let mut clone_flags = 0u32;
        let mut new_namespaces = Vec::new();
        let mut join = Vec::new();
        let mut seen = 0u32;
        check_preserve_fds(opts.preserve_fds)?;
        let first_ns_fd = 5 + opts.preserve_fds;
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            let (kind, flag) = ns_kind(ns.typ());
            if seen & flag != 0 {
                crate::bail!("linux.namespaces[{i}]: the {kind} namespace is given twice");
            }
            seen |= flag;
            match ns.path() {
                // The stub makes the time namespace (unshare after any fork).
                None if flag == clone_flags::NEWTIME => {
                    fl |= flags::NEW_TIMENS;
                    new_namespaces.push(kind);
                }
                None => {
                    clone_flags |= flag;
                    new_namespaces.push(kind);
                }
                Some(p) => {
                    let fd = open_ns(i, p)?;
                    join.push(JoinNs {
                        kind,
                        nstype: flag,
                        index: i,
                        path: p.clone(),
                        fd,
                        stub_fd: 0,
                    });
                }
            }
        }
        // The user namespace is joined first: the others are owned by it.
        join.sort_by_key(|j| j.nstype != clone_flags::NEWUSER);
        for (n, j) in join.iter_mut().enumerate() {
            j.stub_fd = first_ns_fd + n as u32;
        }
        if clone_flags & clone_flags::NEWNS == 0 {
            crate::bail!(
                "linux.namespaces: a new mount namespace ({{\"type\": \"mount\"}} without a path) is required: sprout sets up the rootfs only in a mount namespace of its own, never in the runtime's or a joined one"
            );
        }
        if clone_flags & clone_flags::NEWNET != 0 {
            fl |= flags::LOOPBACK;
        }
        let has = |flag: u32| seen & flag != 0;
        let hostname = match spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            None => None,
            Some(h) if has(clone_flags::NEWUTS) => Some(cs("hostname", h)?),
            Some(h) => crate::bail!(
                "hostname \"{h}\": needs a UTS namespace of its own (add {{\"type\": \"uts\"}} to linux.namespaces)"
            ),
        };
        let domainname = match spec.domainname().as_deref().filter(|h| !h.is_empty()) {
            None => None,
            Some(h) if has(clone_flags::NEWUTS) => Some(cs("domainname", h)?),
            Some(h) => crate::bail!(
                "domainname \"{h}\": needs a UTS namespace of its own (add {{\"type\": \"uts\"}} to linux.namespaces)"
            ),
        };

        // --- user namespace ---
        let new_userns = clone_flags & clone_flags::NEWUSER != 0;
        let uid_map = id_maps("linux.uidMappings", linux.uid_mappings())?;
        let gid_map = id_maps("linux.gidMappings", linux.gid_mappings())?;
        if new_userns {
            if uid_map.is_empty() {
                crate::bail!("linux.uidMappings: a new user namespace needs uid mappings");
            }
            if gid_map.is_empty() {
                crate::bail!("linux.gidMappings: a new user namespace needs gid mappings");
            }
            ids_mapped("process.user.uid", uid, &uid_map, "linux.uidMappings")?;
            ids_mapped("process.user.gid", gid, &gid_map, "linux.gidMappings")?;
            for (i, g) in additional_gids.iter().enumerate() {
                ids_mapped(
                    &format!("process.user.additionalGids[{i}]"),
                    *g,
                    &gid_map,
                    "linux.gidMappings",
                )?;
            }
            if !uid_map.iter().any(|m| m.contains(0)) {
                crate::bail!(
                    "linux.uidMappings: container uid 0 must be mapped (sprout-init starts as root in the user namespace)"
                );
            }
            if !gid_map.iter().any(|m| m.contains(0)) {
                crate::bail!(
                    "linux.gidMappings: container gid 0 must be mapped (sprout-init starts as root in the user namespace)"
                );
            }
        } else if (!uid_map.is_empty() || !gid_map.is_empty())
            // With a user namespace joined by path the mappings describe
            // it (podman passes them for a pod's namespace; runc takes
            // them): kept for `idmap` mounts, never written.
            && !join.iter().any(|j| j.nstype == clone_flags::NEWUSER)
        {
            crate::bail!(
                "linux.uidMappings/gidMappings: need a new user namespace (add {{\"type\": \"user\"}} to linux.namespaces)"
            );
        }

        // --- filesystem ---
        let spec_mounts = spec.mounts().as_deref().unwrap_or(&[]);
        let cgroups = if spec_mounts
            .iter()
            .any(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")))
        {
            mounts::CgroupLayout::host()
        } else {
            mounts::CgroupLayout::default()
        };
        let id_map_text = (map_text(&uid_map), map_text(&gid_map));
        let rootfs_propagation = mounts::rootfs_propagation(linux.rootfs_propagation().as_deref())?;
        if opts.no_pivot && rootfs_propagation & (mounts::ms::SHARED | mounts::ms::PRIVATE) != 0 {
            crate::bail!(
                "linux.rootfsPropagation \"{}\": not safe with --no-pivot (a shared root moves the \
                 container's mounts onto the host's /; a private one pins the host's mounts, as runc \
                 refuses)",
                linux.rootfs_propagation().as_deref().unwrap_or_default()
            );
        }
        let ctx = mounts::Context {
            shared_root: rootfs_propagation & mounts::ms::SHARED != 0,
            id_maps: (&id_map_text.0, &id_map_text.1),
            bundle: &bundle.dir,
            userns: new_userns || join.iter().any(|j| j.nstype == clone_flags::NEWUSER),
            cgroupns: has(clone_flags::NEWCGROUP),
            cgroups: &cgroups,
            kcore: std::path::Path::new("/proc/kcore").exists(),
            cgroup_path: opts.cgroup_path.as_deref(),
            rootfs: Some(&bundle.rootfs),
        };
        let mut ops =
            mounts::before_pivot(spec_mounts, linux.devices().as_deref().unwrap_or(&[]), &ctx)?;
        if fl & flags::TERMINAL != 0 {
            mounts::console_before_read_only_dev(&mut ops)?;
        }
        ops.extend(mounts::cwd_op(&cwd.to_string_lossy())?);
        let presence = mounts::NsPresence {
            net: has(clone_flags::NEWNET),
            ipc: has(clone_flags::NEWIPC),
            uts: has(clone_flags::NEWUTS),
        };
        if let Some(t) = linux.time_offsets().as_ref().filter(|t| !t.is_empty()) {
            if fl & flags::NEW_TIMENS == 0 {
                crate::bail!(
                    "linux.timeOffsets: need a new time namespace (add {{\"type\": \"time\"}} to linux.namespaces)"
                );
            }
            ops.push(mounts::time_offsets_op(t, spec_mounts)?);
        }
        if let Some(s) = linux.sysctl() {
            ops.extend(mounts::sysctl_ops(s, presence)?);
        }
        ops.extend(mounts::path_ops(
            linux.readonly_paths().as_deref().unwrap_or(&[]),
            linux.masked_paths().as_deref().unwrap_or(&[]),
        )?);
        let host_covers = if opts.no_pivot {
            let info = crate::cgroups::mountinfo()
                .map_err(|e| Error::io("--no-pivot: reading /proc/self/mountinfo", &e))?;
            mounts::no_pivot_covers(info, &bundle.rootfs)
        } else {
            Vec::new()
        };
        if !host_covers.is_empty() {
            // The stub pauses before its move for the controller's covers.
            fl |= flags::HOOKS_BEFORE_PIVOT;
        }
        // Detached mount trees land after the sync fd, the namespace fds
        // and the start socket's slot ([`Plan::start_fd`]).
        mounts::number_trees(&mut ops, 4 + opts.preserve_fds + 2 + join.len() as u32);

        // --- seccomp, personality ---
        let (seccomp, seccomp_flags, seccomp_listener) = match linux.seccomp() {
            None => (Vec::new(), 0, None),
            Some(s) => {
                let c = seccomp::compile(s, opts.debug)?;
                if fl & flags::NO_NEW_PRIVS == 0 {
                    fl |= flags::SECCOMP_EARLY;
                }
                (c.program, c.flags, c.listener)
            }
        };
        let personality = match linux.personality() {
            None => UNSET,
            Some(p) => match p.domain() {
                LinuxPersonalityDomain::PerLinux => 0,
                LinuxPersonalityDomain::PerLinux32 => 0x0008,
            },
        };
        procattr::refuse_linux_extras(spec)?;
        warn_linux_extras(spec);
        let proc_attrs = procattr::resolve(process, false)?;

        Ok(Plan {
            flags: fl,
            uid,
            gid,
            additional_gids,
            home,
            cap_last_cap,
            caps,
            preserve_fds: opts.preserve_fds,
            // Without process.user.umask the container's init sets 0022,
            // as runc's does (its init: `unix.Umask(0o022)`); not the
            // caller's, which may be 0 (world-writable files). `exec`
            // keeps the caller's, as runc's does.
            umask: if umask == UNSET { 0o022 } else { umask },
            personality,
            seccomp_flags,
            rootfs_propagation,
            console,
            rootfs,
            hostname,
            domainname,
            cwd,
            clone_flags,
            unshare: 0,
            new_namespaces,
            join,
            uid_map,
            gid_map,
            rlimits,
            mounts: ops,
            args,
            env,
            seccomp,
            oom_score_adj: process.oom_score_adj(),
            plan_fd: 3 + opts.preserve_fds,
            sync_fd: 4 + opts.preserve_fds,
            start_socket: None,
            seccomp_listener,
            proc_attrs,
            host_covers,
        })
    }

    /// The fd number of the start socket in the stub (after the sync fd and
    /// the namespace fds), or [`UNSET`] without one.
    pub fn start_fd(&self) -> u32 {
        match self.start_socket {
            Some(_) => self.sync_fd + 1 + self.join.len() as u32,
            None => UNSET,
        }
    }

    /// Computes the plan of an `exec` process: `process` (the config's
    /// process merged with the command line, or `--process`) run in the
    /// existing container of `bundle`, whose namespaces the stub joins from
    /// `join` (user namespace first, mount namespace last; `stub_fd` is
    /// assigned here after the plan and sync fds).
    ///
    /// The process part (args, cwd, user and `HOME` from the rootfs's
    /// passwd, capabilities, rlimits, env, terminal) is resolved exactly as
    /// for `run`; `linux.seccomp` and `linux.personality` of the container's
    /// config apply; nothing is created (no clone flags, no id maps, no
    /// rootfs setup: `SETUP_ROOTFS` is clear).
    ///
    /// Errors: the first invalid `process.*` field, `linux.seccomp`.
    pub fn compute_exec(
        bundle: &Bundle,
        process: &Process,
        mut join: Vec<JoinNs>,
        opts: &Options,
    ) -> Result<Plan> {
        check_preserve_fds(opts.preserve_fds)?;
        let no_linux;
        let linux = match bundle.spec.linux() {
            Some(l) => l,
            None => {
                no_linux = oci_spec::runtime::Linux::default();
                &no_linux
            }
        };
        let part = ProcessPart::compute(bundle, process, opts)?;
        let mut fl = flags::SYNC | part.flags;
        if !opts.no_new_keyring {
            // runc's setns init also leaves the caller's session keyring.
            fl |= flags::NEW_KEYRING;
        }
        for (n, j) in join.iter_mut().enumerate() {
            j.stub_fd = 5 + opts.preserve_fds + n as u32;
        }
        let (seccomp, seccomp_flags, seccomp_listener) = match linux.seccomp() {
            None => (Vec::new(), 0, None),
            Some(s) => {
                let c = seccomp::compile(s, opts.debug)?;
                if fl & flags::NO_NEW_PRIVS == 0 {
                    fl |= flags::SECCOMP_EARLY;
                }
                (c.program, c.flags, c.listener)
            }
        };
        let personality = match linux.personality().as_ref().map(|p| p.domain()) {
            None => UNSET,
            Some(LinuxPersonalityDomain::PerLinux) => 0,
            Some(LinuxPersonalityDomain::PerLinux32) => 0x0008,
        };
        Ok(Plan {
            flags: fl,
            uid: part.uid,
            gid: part.gid,
            additional_gids: part.additional_gids,
            home: part.home,
            cap_last_cap: part.cap_last_cap,
            caps: part.caps,
            preserve_fds: opts.preserve_fds,
            umask: part.umask,
            personality,
            seccomp_flags,
            console: part.console,
            rootfs: cs("root.path", &bundle.rootfs.to_string_lossy())?,
            cwd: part.cwd,
            join,
            rlimits: part.rlimits,
            args: part.args,
            env: part.env,
            seccomp,
            seccomp_listener,
            proc_attrs: procattr::resolve(process, true)?,
            host_covers: Vec::new(),
            oom_score_adj: process.oom_score_adj(),
            plan_fd: 3 + opts.preserve_fds,
            sync_fd: 4 + opts.preserve_fds,
            ..Plan::default()
        })
    }

    /// With a user namespace joined by path, the stub makes every new
    /// namespace itself (`unshare`, the pid namespace included, then a
    /// fork into it) after joining it, so that they are owned by it, as
    /// runc's nsexec does: namespaces made by the clone would belong to
    /// the host's, where the container's root has no capabilities (no
    /// mounts in its own mount namespace, no /proc of its pid namespace).
    pub fn join_user_then_unshare(&mut self) {
        if self.join.iter().any(|j| j.nstype == clone_flags::NEWUSER) {
            self.unshare = self.clone_flags
                & (clone_flags::NEWNS
                    | clone_flags::NEWUTS
                    | clone_flags::NEWIPC
                    | clone_flags::NEWNET
                    | clone_flags::NEWPID);
        }
    }

    /// The plan's namespaces in wire order, which the stub's `Setns` and
    /// `Unshare` failures count in: a joined user namespace first (the new
    /// namespaces are then made in it, owned by it:
    /// [`Plan::join_user_then_unshare`]), then the new ones (`None`, one
    /// `unshare` of [`Plan::unshare`], when there are any), then the other
    /// joins.
    pub fn wire_namespaces(&self) -> Vec<Option<&JoinNs>> {
        let joined = |user: bool| {
            self.join
                .iter()
                .filter(move |j| (j.nstype == clone_flags::NEWUSER) == user)
                .map(Some)
        };
        joined(true)
            .chain((self.unshare != 0).then_some(None))
            .chain(joined(false))
            .collect()
    }

    /// Encodes the plan ([`PlanSpec::encode`]).
    ///
    /// Errors: the plan is larger than the protocol's 8 MiB.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let ops: Vec<_> = self.mounts.iter().map(Op::wire).collect();
        let args: Vec<&std::ffi::CStr> = self.args.iter().map(|a| a.as_c_str()).collect();
        let env: Vec<&std::ffi::CStr> = self.env.iter().map(|a| a.as_c_str()).collect();
        let namespaces: Vec<Namespace> = self
            .wire_namespaces()
            .into_iter()
            .map(|j| match j {
                Some(j) => Namespace {
                    nstype: j.nstype,
                    fd: j.stub_fd,
                },
                None => Namespace {
                    nstype: self.unshare,
                    fd: sprout_protocol::UNSET,
                },
            })
            .collect();
        let spec = PlanSpec {
            flags: self.flags,
            uid: self.uid,
            gid: self.gid,
            cap_last_cap: self.cap_last_cap,
            caps: self.caps,
            preserve_fds: self.preserve_fds,
            umask: self.umask,
            personality: self.personality,
            start_fd: self.start_fd(),
            seccomp_flags: self.seccomp_flags,
            rootfs_propagation: self.rootfs_propagation,
            console: self.console,
            rootfs: &self.rootfs,
            hostname: self.hostname.as_deref(),
            domainname: self.domainname.as_deref(),
            cwd: &self.cwd,
            additional_gids: &self.additional_gids,
            namespaces: &namespaces,
            rlimits: &self.rlimits,
            mounts: &ops,
            args: &args,
            env: &env,
            seccomp: &self.seccomp,
        };
        let mut buf = vec![0u8; spec.encoded_len()];
        let n = spec.encode(&mut buf).map_err(|e| {
            // Name what fills it: the strings of process.args and process.env.
            let bytes = |v: &[CString]| v.iter().map(|a| a.as_bytes().len() + 1).sum::<usize>();
            Error::invalid(format!(
                "encoding the plan: {e} (process.args take {} bytes, process.env {})",
                bytes(&self.args),
                bytes(&self.env)
            ))
        })?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Decodes `bytes` with the stub's decoder and checks that every field
    /// equals this plan: the self-check of `sprout plan`.
    pub fn verify(&self, bytes: &[u8]) -> Result<()> {
        let p = WirePlan::decode(bytes)
            .map_err(|e| Error::invalid(format!("plan self-check: decode: {e}")))?;
        let mismatch =
            |what: &str| Error::invalid(format!("plan self-check: {what} differs after decoding"));
        let same_strs = |l: sprout_protocol::List<'_, &std::ffi::CStr>, v: &[CString]| {
            l.len() == v.len() && l.iter().zip(v).all(|(a, b)| a == b.as_c_str())
        };
        if p.flags != self.flags
            || p.uid != self.uid
            || p.gid != self.gid
            || p.cap_last_cap != self.cap_last_cap
            || p.caps != self.caps
            || p.preserve_fds != self.preserve_fds
            || p.umask != self.umask
            || p.personality != self.personality
            || p.start_fd != self.start_fd()
            || p.seccomp_flags != self.seccomp_flags
            || p.rootfs_propagation != self.rootfs_propagation
            || p.console != self.console
        {
            return Err(mismatch("a scalar"));
        }
        if p.rootfs != self.rootfs.as_c_str()
            || p.cwd != self.cwd.as_c_str()
            || p.hostname != self.hostname.as_deref()
            || p.domainname != self.domainname.as_deref()
        {
            return Err(mismatch("a string"));
        }
        if !p
            .additional_gids
            .iter()
            .eq(self.additional_gids.iter().copied())
        {
            return Err(mismatch("additional_gids"));
        }
        if !p.namespaces.iter().eq(self.join.iter().map(|j| Namespace {
            nstype: j.nstype,
            fd: j.stub_fd,
        })) {
            return Err(mismatch("namespaces"));
        }
        if !p.rlimits.iter().eq(self.rlimits.iter().copied()) {
            return Err(mismatch("rlimits"));
        }
        if !p.mounts.iter().eq(self.mounts.iter().map(Op::wire)) {
            return Err(mismatch("mounts"));
        }
        if !same_strs(p.args, &self.args) || !same_strs(p.env, &self.env) {
            return Err(mismatch("args/env"));
        }
        if p.seccomp != self.seccomp.as_slice() {
            return Err(mismatch("seccomp"));
        }
        Ok(())
    }

    /// The plan as JSON for `sprout plan` (masks in hex and by name, flags
    /// by name, every mount op with where it comes from).
    pub fn view(&self, encoded_len: usize) -> Value {
        let s = |c: &CString| c.to_string_lossy().into_owned();
        let os = |c: &Option<CString>| c.as_ref().map(s);
        let capset = |m: u64| json!({"mask": format!("{m:#018x}"), "names": caps::names(m)});
        let mounts: Vec<Value> = self
            .mounts
            .iter()
            .map(|o| {
                let mut v = json!({
                    "kind": format!("{:?}", o.kind),
                    "target": s(&o.target),
                    "origin": o.origin.to_string(),
                });
                let m = v.as_object_mut().expect("object");
                if let Some(x) = os(&o.source) {
                    m.insert("source".into(), x.into());
                }
                if let Some(x) = os(&o.fstype) {
                    m.insert("fstype".into(), x.into());
                }
                if let Some(x) = os(&o.data) {
                    m.insert("data".into(), x.into());
                }
                if o.flags != 0 {
                    m.insert("flags".into(), json!(mounts::ms::names(o.flags)));
                }
                if o.remount_flags != 0 {
                    m.insert(
                        "remountFlags".into(),
                        json!(mounts::ms::names(o.remount_flags)),
                    );
                }
                if o.propagation != 0 {
                    m.insert(
                        "propagation".into(),
                        json!(mounts::ms::names(o.propagation)),
                    );
                }
                let mut opts = Vec::new();
                for (bit, name) in [
                    (sprout_protocol::mount_opts::TARGET_FILE, "TARGET_FILE"),
                    (sprout_protocol::mount_opts::CREATE_TARGET, "CREATE_TARGET"),
                    (sprout_protocol::mount_opts::BIND_DEVICE, "BIND_DEVICE"),
                    (sprout_protocol::mount_opts::OPTIONAL, "OPTIONAL"),
                    (sprout_protocol::mount_opts::MOVE_FD, "MOVE_FD"),
                    (sprout_protocol::mount_opts::NO_SYMLINKS, "NO_SYMLINKS"),
                ] {
                    if o.opts & bit != 0 {
                        opts.push(name);
                    }
                }
                if !opts.is_empty() {
                    m.insert("opts".into(), json!(opts));
                }
                if o.opts & sprout_protocol::mount_opts::MOVE_FD != 0 {
                    m.insert("treeFd".into(), o.major.into());
                }
                if o.kind == sprout_protocol::MountKind::Device {
                    m.insert("mode".into(), format!("{:#o}", o.mode).into());
                    m.insert("major".into(), o.major.into());
                    m.insert("minor".into(), o.minor.into());
                    m.insert("uid".into(), o.uid.into());
                    m.insert("gid".into(), o.gid.into());
                }
                v
            })
            .collect();
        let unset = |v: u32, f: &dyn Fn(u32) -> Value| if v == UNSET { Value::Null } else { f(v) };
        // Names from the rootfs's group file, for the reader only.
        let rootfs = std::path::PathBuf::from(s(&self.rootfs));
        let groups = user::rootfs_groups(&rootfs).unwrap_or_default();
        let group_names: serde_json::Map<String, Value> = std::iter::once(self.gid)
            .chain(self.additional_gids.iter().copied())
            .filter_map(|g| {
                groups
                    .iter()
                    .find(|e| e.gid == g)
                    .map(|e| (g.to_string(), Value::from(e.name.clone())))
            })
            .collect();
        json!({
            "flags": flag_names(self.flags),
            "rootfs": s(&self.rootfs),
            "cwd": s(&self.cwd),
            "args": self.args.iter().map(s).collect::<Vec<_>>(),
            "env": self.env.iter().map(s).collect::<Vec<_>>(),
            "homeFromPasswd": self.home,
            "user": {
                "uid": self.uid,
                "gid": self.gid,
                "additionalGids": self.additional_gids,
                "umask": unset(self.umask, &|v| format!("{v:#05o}").into()),
                "groupNames": group_names,
            },
            "capLastCap": self.cap_last_cap,
            "capabilities": {
                "bounding": capset(self.caps.bounding),
                "effective": capset(self.caps.effective),
                "permitted": capset(self.caps.permitted),
                "inheritable": capset(self.caps.inheritable),
                "ambient": capset(self.caps.ambient),
            },
            "rlimits": self.rlimits.iter().map(|r| json!({
                "type": rlimit::name_of(r.resource),
                "resource": r.resource,
                "soft": r.soft,
                "hard": r.hard,
            })).collect::<Vec<_>>(),
            "namespaces": {
                "new": self.new_namespaces,
                "cloneFlags": format!("{:#010x}", self.clone_flags),
                "join": self.join.iter().map(|j| json!({
                    "type": j.kind,
                    "path": j.path.to_string_lossy(),
                    "fd": j.stub_fd,
                })).collect::<Vec<_>>(),
            },
            "uidMappings": map_text(&self.uid_map),
            "gidMappings": map_text(&self.gid_map),
            "hostname": os(&self.hostname),
            "domainname": os(&self.domainname),
            "rootfsPropagation": mounts::ms::names(self.rootfs_propagation),
            "mounts": mounts,
            "seccomp": {
                "instructions": self.seccomp.len() / 8,
                "bytes": self.seccomp.len(),
                "flags": self.seccomp_flags,
                "flagNames": seccomp::flag_names(self.seccomp_flags),
                "loaded": if self.seccomp.is_empty() {
                    Value::Null
                } else if self.flags & flags::SECCOMP_EARLY != 0 {
                    "last, keeping CAP_SYS_ADMIN until execve (noNewPrivileges false)".into()
                } else {
                    "last, after no_new_privs".into()
                },
                "listenerPath": self.seccomp_listener.as_ref().map(|l| l.path.to_string_lossy().into_owned()),
            },
            "personality": unset(self.personality, &|v| format!("{v:#x}").into()),
            "processAttributes": self.proc_attrs.view(),
            "oomScoreAdj": self.oom_score_adj,
            "consoleSize": {"rows": self.console.rows, "cols": self.console.cols},
            "fds": {
                "preserved": self.preserve_fds,
                "plan": self.plan_fd,
                "sync": self.sync_fd,
            },
            "encodedBytes": encoded_len,
        })
    }
}

/// Opens a namespace file to join (`linux.namespaces[i].path`).
fn open_ns(i: usize, path: &std::path::Path) -> Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| {
            Error::io(
                format!("linux.namespaces[{i}].path \"{}\": open", path.display()),
                &e,
            )
        })
}

/// A warning for `process` fields of other platforms (the LSM labels,
/// scheduler, I/O priority and CPU affinity are [`procattr`]'s).
fn warn_process_extras(p: &Process) {
    if p.command_line().is_some() {
        skipped("process.commandLine", "Windows only");
    }
}

/// One warning per top-level or `linux` part sprout does not apply yet.
fn warn_linux_extras(spec: &Spec) {
    // hooks, linux.resources and linux.cgroupsPath are applied by the
    // lifecycle code (crate::lifecycle), not through the plan.
    // intelRdt, memoryPolicy, netDevices, mountLabel and personality flags
    // are refused by procattr::refuse_linux_extras.
    if spec.linux().is_none() {
        return;
    }
    for (name, there) in [
        ("solaris", spec.solaris().is_some()),
        ("windows", spec.windows().is_some()),
        ("vm", spec.vm().is_some()),
        ("zos", spec.zos().is_some()),
    ] {
        if there {
            skipped(name, "not for Linux containers");
        }
    }
}

/// `--preserve-fds N`: the stub's own fds sit right above the preserved
/// ones, so N must leave room below the kernel's fd limit (and never wrap).
fn check_preserve_fds(n: u32) -> Result<()> {
    if n > 65536 {
        crate::bail!("--preserve-fds {n}: too large (at most 65536)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    /// `id_maps` of `[[container, host, size], ...]`: Ok, or the error line.
    fn maps(entries: &[[u32; 3]]) -> std::result::Result<usize, String> {
        let v: Vec<LinuxIdMapping> = entries
            .iter()
            .map(|[c, h, n]| {
                serde_json::from_value(
                    serde_json::json!({"containerID": c, "hostID": h, "size": n}),
                )
                .unwrap()
            })
            .collect();
        id_maps("linux.uidMappings", &Some(v))
            .map(|m| m.len())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn id_maps_are_checked_as_the_kernel_checks_a_map_write() {
        assert_eq!(maps(&[[0, 100000, 65536], [65536, 0, 1]]), Ok(2));
        // The last id may be 4294967294, not 4294967295 (the invalid id).
        assert_eq!(maps(&[[0, 4294967294, 1]]), Ok(1));
        for bad in [[0, 4294967295, 1], [1, 0, 4294967295], [0, 100, 0]] {
            let e = maps(&[bad]).unwrap_err();
            assert!(e.starts_with("linux.uidMappings[0]: invalid range"), "{e}");
        }
        assert_eq!(
            maps(&[[0, 100000, 65536], [10, 300000, 10]]).unwrap_err(),
            "linux.uidMappings[1]: container ids 10-19 overlap linux.uidMappings[0] (0-65535)"
        );
        assert_eq!(
            maps(&[[0, 100000, 10], [10, 100005, 10]]).unwrap_err(),
            "linux.uidMappings[1]: host ids 100005-100014 overlap linux.uidMappings[0] (100000-100009)"
        );
        // Adjacent ranges do not overlap.
        assert_eq!(maps(&[[0, 100000, 10], [10, 100010, 10]]), Ok(2));
        let many: Vec<[u32; 3]> = (0..341).map(|i| [i, 1000 + i, 1]).collect();
        assert_eq!(
            maps(&many).unwrap_err(),
            "linux.uidMappings: 341 entries, the kernel takes at most 340"
        );
        assert_eq!(maps(&many[..340]), Ok(340));
        let long: Vec<[u32; 3]> = (0..300)
            .map(|i| [1_000_000 + i, 1_000_000_000 + i, 1])
            .collect();
        let e = maps(&long).unwrap_err();
        assert!(
            e.contains("bytes as /proc/PID/uid_map text, the kernel takes at most 4095"),
            "{e}"
        );
    }

    /// A bundle in a temp dir with a tiny rootfs and the given config.
    struct TestBundle(PathBuf);
    impl TestBundle {
        fn new(tag: &str, config: &Value) -> TestBundle {
            let dir =
                std::env::temp_dir().join(format!("sprout-plan-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
            std::fs::write(
                dir.join("rootfs/etc/passwd"),
                "root:x:0:0:root:/root:/bin/sh\ndemo:x:1000:1000:demo:/home/demo:/bin/sh\n",
            )
            .unwrap();
            std::fs::write(
                dir.join("config.json"),
                serde_json::to_string_pretty(config).unwrap(),
            )
            .unwrap();
            TestBundle(dir)
        }
        fn plan(&self) -> Result<Plan> {
            Plan::compute(&config::load(&self.0)?, &Options::default())
        }
    }
    impl Drop for TestBundle {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn default_config() -> Value {
        serde_json::from_str(crate::spec::DEFAULT_CONFIG).unwrap()
    }

    #[test]
    fn default_spec_plans_and_round_trips() {
        let b = TestBundle::new("default", &default_config());
        let p = b.plan().unwrap();
        assert_eq!(
            flag_names(p.flags),
            [
                "NO_NEW_PRIVS",
                "READONLY_ROOTFS",
                "TERMINAL",
                "LOOPBACK",
                "SETUP_ROOTFS",
                "NEW_KEYRING",
                "SYNC"
            ]
        );
        assert_eq!(p.caps.bounding, (1 << 5) | (1 << 10) | (1 << 29));
        assert_eq!(p.caps.inheritable, 0);
        assert_eq!(
            p.rlimits,
            [Rlimit {
                resource: 7,
                soft: 1024,
                hard: 1024
            }]
        );
        assert_eq!(p.home.as_deref(), Some("/root"));
        assert_eq!(p.env.last().unwrap().to_str().unwrap(), "HOME=/root");
        assert_eq!(
            p.new_namespaces,
            ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        );
        assert_eq!(p.hostname.as_deref().unwrap().to_str().unwrap(), "sprout");
        assert_eq!((p.plan_fd, p.sync_fd), (3, 4));
        assert!(
            p.mounts
                .iter()
                .any(|o| o.kind == sprout_protocol::MountKind::Mask)
        );
        let bytes = p.encode().unwrap();
        p.verify(&bytes).unwrap();
        let v = p.view(bytes.len());
        assert_eq!(v["capabilities"]["bounding"]["names"][0], "CAP_KILL");
        assert_eq!(v["user"]["uid"], 0);
    }

    #[test]
    fn field_errors() {
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|c| c["process"]["args"] = json!([])),
                "process.args: must not be empty",
            ),
            (
                Box::new(|c| c["process"]["args"] = json!(vec!["x"; 131073])),
                "process.args: 131073 arguments; sprout-init passes at most 131072",
            ),
            (
                Box::new(|c| {
                    c["process"]["env"] =
                        json!((0..131072).map(|i| format!("V{i}=1")).collect::<Vec<_>>())
                }),
                "process.env: 131073 variables (with HOME, duplicates merged); sprout-init passes at most 131072",
            ),
            (
                Box::new(|c| c["process"]["cwd"] = json!("tmp")),
                "process.cwd \"tmp\": must be an absolute path",
            ),
            (
                Box::new(|c| c["process"]["env"] = json!(["A=1", "B=2", "C=3", "FOO"])),
                "process.env[3] \"FOO\": missing '='",
            ),
            (
                Box::new(|c| {
                    c["linux"]["namespaces"] =
                        json!([{"type": "mount"}, {"type": "network", "path": "/nonexistent/ns"}])
                }),
                "linux.namespaces[1].path \"/nonexistent/ns\": open: No such file or directory (ENOENT)",
            ),
            (
                Box::new(|c| c["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 5}})),
                "linux.timeOffsets: need a new time namespace (add {\"type\": \"time\"} to linux.namespaces)",
            ),
            (
                Box::new(|c| c["linux"]["namespaces"] = json!([{"type": "pid"}])),
                "linux.namespaces: a new mount namespace ({\"type\": \"mount\"} without a path) is required: sprout sets up the rootfs only in a mount namespace of its own, never in the runtime's or a joined one",
            ),
            (
                Box::new(|c| c["linux"]["namespaces"] = json!([{"type": "mount"}])),
                "hostname \"sprout\": needs a UTS namespace of its own (add {\"type\": \"uts\"} to linux.namespaces)",
            ),
            (
                Box::new(|c| {
                    c["linux"]["namespaces"] =
                        json!([{"type": "mount"}, {"type": "user"}, {"type": "uts"}]);
                    c["linux"]["uidMappings"] =
                        json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
                    c["linux"]["gidMappings"] =
                        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                    c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
                }),
                "process.user.uid 1000 is not mapped in linux.uidMappings",
            ),
            (
                Box::new(|c| {
                    c["linux"]["namespaces"] =
                        json!([{"type": "mount"}, {"type": "user"}, {"type": "uts"}]);
                    c["linux"]["uidMappings"] =
                        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                    c["linux"]["gidMappings"] =
                        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                    c["process"]["user"] =
                        json!({"uid": 0, "gid": 0, "additionalGids": [5, 70000]});
                }),
                "process.user.additionalGids[1] 70000 is not mapped in linux.gidMappings",
            ),
            (
                Box::new(|c| {
                    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1, "size": 1}])
                }),
                "linux.uidMappings/gidMappings: need a new user namespace (add {\"type\": \"user\"} to linux.namespaces)",
            ),
            (
                Box::new(|c| c["linux"]["sysctl"] = json!({"vm.overcommit_memory": "1"})),
                "linux.sysctl \"vm.overcommit_memory\": not a namespaced sysctl; it would change the host",
            ),
            (
                Box::new(|c| {
                    c["process"]["rlimits"] = json!([{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}])
                }),
                "process.rlimits[0] RLIMIT_CORE: soft limit 2 is above the hard limit 1",
            ),
        ];
        for (i, (edit, want)) in cases.into_iter().enumerate() {
            let mut c = default_config();
            edit(&mut c);
            let b = TestBundle::new(&format!("err{i}"), &c);
            let got = b.plan().map(|_| ()).unwrap_err().to_string();
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn user_namespace_plan() {
        let mut c = default_config();
        c["linux"]["namespaces"] =
            json!([{"type": "mount"}, {"type": "user"}, {"type": "uts"}, {"type": "pid"}]);
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [1000, 27]});
        c["process"]["env"] = json!(["PATH=/bin", "HOME=/custom"]);
        let b = TestBundle::new("userns", &c);
        let p = b.plan().unwrap();
        assert_eq!(p.clone_flags & clone_flags::NEWUSER, clone_flags::NEWUSER);
        assert_eq!(map_text(&p.uid_map), "0 100000 65536\n");
        assert_eq!(p.home, None);
        assert_eq!(p.additional_gids, [1000, 27]);
        let dev = p
            .mounts
            .iter()
            .find(|o| o.kind == sprout_protocol::MountKind::Device)
            .unwrap();
        assert_ne!(dev.opts & sprout_protocol::mount_opts::BIND_DEVICE, 0);
    }

    #[test]
    fn joined_namespaces_get_fds_after_plan_and_sync() {
        let mut c = default_config();
        c["linux"]["namespaces"] = json!([
            {"type": "mount"}, {"type": "uts"},
            {"type": "network", "path": "/proc/self/ns/net"},
            {"type": "ipc", "path": "/proc/self/ns/ipc"}
        ]);
        let b = TestBundle::new("join", &c);
        let cfg = config::load(&b.0).unwrap();
        let p = Plan::compute(
            &cfg,
            &Options {
                preserve_fds: 2,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((p.plan_fd, p.sync_fd), (5, 6));
        let fds: Vec<(u32, u32)> = p.join.iter().map(|j| (j.nstype, j.stub_fd)).collect();
        assert_eq!(fds, [(clone_flags::NEWNET, 7), (clone_flags::NEWIPC, 8)]);
        assert_eq!(p.flags & flags::LOOPBACK, 0);
        p.verify(&p.encode().unwrap()).unwrap();
    }

    #[test]
    fn seccomp_without_nnp_is_early() {
        let mut c = default_config();
        c["process"]["noNewPrivileges"] = json!(false);
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]});
        let b = TestBundle::new("seccomp", &c);
        let p = b.plan().unwrap();
        assert_ne!(p.flags & flags::SECCOMP_EARLY, 0);
        assert!(!p.seccomp.is_empty());
        p.verify(&p.encode().unwrap()).unwrap();
    }

    #[test]
    fn content_detection() {
        assert!(!has_content(&json!({"devices": null, "memory": null})));
        assert!(has_content(
            &json!({"devices": [{"allow": false, "access": "rwm"}]})
        ));
        assert!(!has_content(&json!({"devices": []})));
        assert!(has_content(&json!({"pids": {"limit": 5}})));
    }
}
