//! The command line (runc-compatible where it overlaps):
//!
//! ```text
//! sprout [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND
//!   spec [--bundle DIR]
//!   plan [--bundle DIR] [--preserve-fds N] [--no-pivot] [ID]
//!   plan --rootfs DIR [--user U[:G]] [--group-add G]... [--cap-drop ALL] [--cap-add CAP]...
//!        [--no-new-privs] [--rlimit TYPE=SOFT:HARD]... [--cwd DIR] [--env K=V]... [-o FILE] [-- CMD...]
//!   plan --show FILE
//!   run  [--bundle DIR] [-d] [--console-socket PATH] [--pid-file FILE] [--preserve-fds N]
//!        [--no-pivot] [--no-new-keyring] ID
//!   create [--bundle DIR] [--console-socket PATH] [--pid-file FILE] [--preserve-fds N]
//!        [--no-pivot] [--no-new-keyring] ID
//!   start ID | state ID | pause ID | resume ID
//!   kill [--all] ID [SIGNAL]
//!   delete [--force] ID
//!   list [-q] [--format table|json]
//!   ps [--format table|json] ID [PS_ARGS...]
//!   update [--resources FILE] [--memory ...] ... ID
//!   events [--stats] [--interval DURATION] ID
//!   features
//! ```
//!
//! Global flags go before or after the command, as `--flag value` or
//! `--flag=value`. `--root` is the state directory (default `/run/sprout`);
//! `--log FILE` gets every error (and warning) as a line, JSON with
//! `--log-format json` (`{"level":"error","msg":...,"time":...}`, what
//! containerd and conmon read). `--systemd-cgroup` is refused: sprout
//! drives cgroupfs directly. runc's `--criu PATH` and `--rootless
//! true|false|auto` are accepted and have no effect. Errors exit 1, as runc.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result};
use crate::imageplan::{self, ImagePlanArgs};
use crate::lifecycle::{self, CreateOptions};
use crate::plan::{Options, Plan};
use crate::query::{self, Format, UpdateFlags};
use crate::timing::Timer;
use crate::{config, spec};

/// The OCI runtime-spec version sprout implements (`features`'s
/// `ociVersionMax`, `--version`).
pub const SPEC_VERSION: &str = oci_spec::runtime::VERSION;

/// `--version` text after the name: `version X`, `spec: Y`, `commit: Z`
/// (runc's layout; the commit comes from `git` at build time).
fn version_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "version {}\ncommit: {}\nspec: {SPEC_VERSION}",
            env!("CARGO_PKG_VERSION"),
            option_env!("SPROUT_COMMIT").unwrap_or("unknown")
        )
    })
}

/// sprout: an OCI container runtime.
#[derive(Debug, Parser)]
#[command(name = "sprout", version = version_text(), about, disable_version_flag = true)]
pub struct Cli {
    /// Print the version (`-v` as runc's; `-V` too).
    #[arg(short = 'v', short_alias = 'V', long, action = clap::ArgAction::Version)]
    version: (),
    /// State directory for containers.
    #[arg(long, global = true, value_name = "DIR", default_value = crate::state::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Also write errors to this file.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of --log lines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Print per-phase timings and extra notes on stderr.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not supported: an error).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Path to criu, as runc's: accepted and unused (sprout has no
    /// checkpoint/restore; containerd's runc client passes it on every
    /// call when its options set `CriuPath`).
    #[arg(long, global = true, value_name = "PATH")]
    pub criu: Option<PathBuf>,
    /// runc's "ignore cgroup permission errors": true, false or auto.
    /// Accepted; sprout runs as root and reports every cgroup error.
    #[arg(long, global = true, value_name = "BOOL", value_parser = ["true", "false", "auto"])]
    pub rootless: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Commands,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `time level message` lines.
    Text,
    /// One JSON object per line (`{"level","msg","time"}`, as runc).
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a default config.json (like `runc spec`).
    Spec(SpecArgs),
    /// Compute the plan for a bundle and print it as JSON (runs nothing); with
    /// --rootfs, compile an image plan for sprout-init; --show prints a plan file.
    Plan(PlanArgs),
    /// Run a container in the foreground (exits with its status), or
    /// detached with -d (create + start).
    Run(RunArgs),
    /// Create a container: set it up and leave it waiting for `start`.
    Create(CreateArgs),
    /// Start a created container (run its process).
    Start(IdArg),
    /// Print the OCI state of a container as JSON.
    State(IdArg),
    /// Send a signal to the container's process (default SIGTERM).
    Kill(KillArgs),
    /// Delete a container (its processes, cgroup and state).
    Delete(DeleteArgs),
    /// List the containers.
    List(ListArgs),
    /// List the processes in a container.
    Ps(PsArgs),
    /// Freeze every process of a container.
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// Change the cgroup limits of a container.
    Update(UpdateArgs),
    /// Print container events (OOM, resource usage) as JSON lines.
    Events(EventsArgs),
    /// Print what this runtime supports (runtime-spec features JSON).
    Features,
    /// Run a new process inside a container; exits with its status (255
    /// when it cannot be started).
    Exec(crate::exec::ExecArgs),
    /// Not supported: sprout has no checkpoint/restore (CRIU); an error.
    Checkpoint(UnsupportedArgs),
    /// Not supported: sprout has no checkpoint/restore (CRIU); an error.
    Restore(UnsupportedArgs),
}

/// [`Command`] with each subcommand's arguments built only for the one
/// invoked (clap's `Command::defer`): the derived `Subcommand` builds every
/// subcommand's arguments on every call, about 180 KiB of heap and most of
/// the controller's start-up work (`cargo xtask bench`, BENCHMARKS.md). The
/// help is the derived one: `lazy_subcommands_match_the_derived_ones` checks
/// names, about lines and every subcommand's full help against it.
#[derive(Debug)]
pub struct Commands(pub Command);

/// Each subcommand: its name, its about line (the variant's doc comment as
/// clap renders it) and what adds its arguments.
type Deferred = (
    &'static str,
    &'static str,
    fn(clap::Command) -> clap::Command,
);

const SUBCOMMANDS: &[Deferred] = &[
    (
        "spec",
        "Write a default config.json (like `runc spec`)",
        args::<SpecArgs>,
    ),
    (
        "plan",
        "Compute the plan for a bundle and print it as JSON (runs nothing); with --rootfs, compile an image plan for sprout-init; --show prints a plan file",
        args::<PlanArgs>,
    ),
    (
        "run",
        "Run a container in the foreground (exits with its status), or detached with -d (create + start)",
        args::<RunArgs>,
    ),
    (
        "create",
        "Create a container: set it up and leave it waiting for `start`",
        args::<CreateArgs>,
    ),
    (
        "start",
        "Start a created container (run its process)",
        args::<IdArg>,
    ),
    (
        "state",
        "Print the OCI state of a container as JSON",
        args::<IdArg>,
    ),
    (
        "kill",
        "Send a signal to the container's process (default SIGTERM)",
        args::<KillArgs>,
    ),
    (
        "delete",
        "Delete a container (its processes, cgroup and state)",
        args::<DeleteArgs>,
    ),
    ("list", "List the containers", args::<ListArgs>),
    ("ps", "List the processes in a container", args::<PsArgs>),
    (
        "pause",
        "Freeze every process of a container",
        args::<IdArg>,
    ),
    ("resume", "Thaw a paused container", args::<IdArg>),
    (
        "update",
        "Change the cgroup limits of a container",
        args::<UpdateArgs>,
    ),
    (
        "events",
        "Print container events (OOM, resource usage) as JSON lines",
        args::<EventsArgs>,
    ),
    (
        "features",
        "Print what this runtime supports (runtime-spec features JSON)",
        |c| c,
    ),
    (
        "exec",
        "Run a new process inside a container; exits with its status (255 when it cannot be started)",
        args::<crate::exec::ExecArgs>,
    ),
    (
        "checkpoint",
        "Not supported: sprout has no checkpoint/restore (CRIU); an error",
        args::<UnsupportedArgs>,
    ),
    (
        "restore",
        "Not supported: sprout has no checkpoint/restore (CRIU); an error",
        args::<UnsupportedArgs>,
    ),
];

/// Adds `A`'s arguments to a deferred subcommand and keeps the subcommand's
/// about line (what the derive does for a variant: the variant's doc, not
/// the argument struct's).
fn args<A: Args>(cmd: clap::Command) -> clap::Command {
    let about = cmd.get_about().cloned();
    let cmd = A::augment_args(cmd).long_about(None::<&'static str>);
    match about {
        Some(about) => cmd.about(about),
        None => cmd,
    }
}

impl clap::FromArgMatches for Commands {
    fn from_arg_matches(m: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        Command::from_arg_matches(m).map(Commands)
    }
    fn from_arg_matches_mut(m: &mut clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        Command::from_arg_matches_mut(m).map(Commands)
    }
    fn update_from_arg_matches(
        &mut self,
        m: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
    fn update_from_arg_matches_mut(
        &mut self,
        m: &mut clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(m)
    }
}

thread_local! {
    /// The one subcommand [`Commands`] adds, when [`narrow_to_invoked`]
    /// found it in the command line; unset, all of them. Per thread: the
    /// parse happens on the main thread (and each unit test on its own).
    static ONLY: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Before parsing: when `argv` (program name first) names one of the
/// subcommands after nothing but the global options, builds the command
/// tree with that subcommand alone. clap copies every global option into
/// every subcommand it holds when it builds the tree (16 times five
/// `Arg`s, and as many vectors grown), about half of its work for a
/// `run`; a valid command line parses the same either way. Anything else
/// keeps the whole tree, so that help, `--version`, `help SUB`, an unknown
/// option or subcommand and their messages are clap's usual ones.
pub fn narrow_to_invoked(argv: &[std::ffi::OsString]) {
    ONLY.set(invoked(argv));
}

/// The subcommand `argv` names after nothing but global options (see
/// [`narrow_to_invoked`]); `None` when anything else comes first (`-h`,
/// `--version`, an unknown option or name, `--`, a non-UTF-8 argument).
fn invoked(argv: &[std::ffi::OsString]) -> Option<&'static str> {
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_str()?;
        if let Some(long) = a.strip_prefix("--") {
            match long.split_once('=').map_or(long, |(name, _)| name) {
                "root" | "log" | "log-format" | "criu" | "rootless" if !long.contains('=') => {
                    it.next()?;
                }
                "root" | "log" | "log-format" | "criu" | "rootless" | "debug"
                | "systemd-cgroup" => {}
                _ => return None,
            }
            continue;
        }
        if a.starts_with('-') {
            return None;
        }
        return SUBCOMMANDS
            .iter()
            .find(|(name, _, _)| *name == a)
            .map(|(name, _, _)| *name);
    }
    None
}

impl Subcommand for Commands {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        let only = ONLY.get();
        cmd.subcommands(
            SUBCOMMANDS
                .iter()
                .filter(|(name, _, _)| only.is_none_or(|o| o == *name))
                .map(|&(name, about, args)| clap::Command::new(name).about(about).defer(args)),
        )
    }
    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }
    fn has_subcommand(name: &str) -> bool {
        Command::has_subcommand(name)
    }
}

/// `--bundle`.
#[derive(Debug, Args)]
pub struct BundleArg {
    /// The bundle directory (default: the current directory).
    #[arg(long, short = 'b', value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
}

/// `sprout spec`.
#[derive(Debug, Args)]
pub struct SpecArgs {
    #[command(flatten)]
    bundle: BundleArg,
}

/// Options shared by `plan` and `run`.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    #[command(flatten)]
    bundle: BundleArg,
    /// Pass N more fds (3 .. 3+N) to the container.
    #[arg(long, value_name = "N", default_value_t = 0)]
    preserve_fds: u32,
    /// Use MS_MOVE + chroot instead of pivot_root(2).
    #[arg(long)]
    no_pivot: bool,
    /// Do not give the container a new session keyring.
    #[arg(long)]
    no_new_keyring: bool,
}

/// `sprout plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    launch: LaunchArgs,
    /// Container id (checked, otherwise unused).
    id: Option<String>,
    #[command(flatten)]
    image: ImagePlanArgs,
}

/// `sprout run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    launch: LaunchArgs,
    /// Write the container process's pid to this file.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Send the pty master (process.terminal) to this AF_UNIX socket.
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Detach: create and start, then exit 0.
    #[arg(long, short = 'd')]
    detach: bool,
    /// Keep the container after its process exits (runc's `run --keep`):
    /// its state (`stopped`) and cgroup stay, and the poststop hooks wait,
    /// until `sprout delete`. Ignored with --detach, as in runc.
    #[arg(long)]
    keep: bool,
    /// Accepted for runc compatibility and ignored (runc ignores it too:
    /// the process that waits for the container is always its parent).
    #[arg(long, hide = true)]
    no_subreaper: bool,
    /// Container id.
    id: String,
}

/// `sprout create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    launch: LaunchArgs,
    /// Write the container process's pid to this file (no newline).
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Send the pty master (process.terminal) to this AF_UNIX socket.
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Container id.
    id: String,
}

/// runc's `checkpoint` and `restore`: whatever options they get (runc's
/// `--image-path`, `--work-path`, `--leave-running`...), the command fails
/// with one line saying it is not supported (runc without CRIU fails too).
#[derive(Debug, Args)]
pub struct UnsupportedArgs {
    /// runc's options and the container id (ignored).
    #[arg(num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// A command that takes only a container id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// Container id.
    id: String,
}

/// `sprout kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process in the container's cgroup.
    #[arg(long, short = 'a')]
    all: bool,
    /// Container id.
    id: String,
    /// Signal name (TERM, SIGTERM) or number (default SIGTERM).
    signal: Option<String>,
}

/// `sprout delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill a running container first; a missing container is no error.
    #[arg(long, short = 'f')]
    force: bool,
    /// Container id.
    id: String,
}

/// `sprout list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print only the ids.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `sprout ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Output format (json: an array of host pids).
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Container id.
    id: String,
    /// Options for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

/// `sprout update` (runc's flags).
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// A linux.resources JSON object ("-" = stdin); the other options are
    /// then ignored (as runc).
    #[arg(long, short = 'r', value_name = "FILE")]
    resources: Option<PathBuf>,
    /// Memory limit in bytes (k, m, g suffixes; -1 = unlimited).
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory plus swap limit.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Kernel memory limit (ignored, as runc: the kernel dropped it).
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true, hide = true)]
    kernel_memory: Option<String>,
    /// Kernel TCP memory limit (ignored, as runc).
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true, hide = true)]
    kernel_memory_tcp: Option<String>,
    /// CPU shares (relative weight; runc spells it --cpu-share).
    #[arg(long, alias = "cpu-share", value_name = "N")]
    cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds per period (-1 = unlimited).
    #[arg(long, value_name = "USEC", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds.
    #[arg(long, value_name = "USEC")]
    cpu_period: Option<u64>,
    /// CPU CFS burst in microseconds (cpu.cfs_burst_us; runc 1.2).
    #[arg(long, value_name = "USEC")]
    cpu_burst: Option<u64>,
    /// 1 = SCHED_IDLE for the cgroup, 0 = default (cgroup v2 cpu.idle).
    #[arg(long, value_name = "0|1", allow_hyphen_values = true)]
    cpu_idle: Option<i64>,
    /// CPU realtime period in microseconds.
    #[arg(long, value_name = "USEC")]
    cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds per realtime period.
    #[arg(long, value_name = "USEC", allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// CPUs allowed (0-3,5).
    #[arg(long, value_name = "LIST")]
    cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long, value_name = "LIST")]
    cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 = unlimited, 0 = unchanged).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Block IO weight (1-1000).
    #[arg(long, value_name = "N")]
    blkio_weight: Option<u16>,
    /// Intel RDT/CAT L3 cache schema (refused: sprout has no Intel RDT).
    #[arg(long, value_name = "SCHEMA")]
    l3_cache_schema: Option<String>,
    /// Intel RDT/MBA memory bandwidth schema (refused: no Intel RDT).
    #[arg(long, value_name = "SCHEMA")]
    mem_bw_schema: Option<String>,
    /// Container id.
    id: String,
}

/// `sprout events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print resource usage once and exit.
    #[arg(long)]
    stats: bool,
    /// How often to sample (Go duration: 5s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    interval: String,
    /// Container id.
    id: String,
}

/// Longest container id, in bytes: the id names the state directory
/// `<root>/<ID>` and the cgroup `/sprout/<ID>`, one path component each
/// (NAME_MAX, limits.h).
pub const MAX_ID_LEN: usize = 255;

/// Checks a container id as runc does: `[A-Za-z0-9_+.-]+`, not `.`/`..`;
/// and at most [`MAX_ID_LEN`] bytes (a longer one cannot name a directory).
///
/// Errors: `container id "ID": invalid (...)`, or `container id
/// "PREFIX...": too long (N bytes, at most 255)`.
pub fn check_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id == "."
        || id == ".."
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+.-".contains(c))
    {
        let shown: String = id.chars().take(64).collect();
        let more = if shown.len() < id.len() { "..." } else { "" };
        crate::bail!("container id \"{shown}{more}\": invalid (use letters, digits and _ + . -)");
    }
    if id.len() > MAX_ID_LEN {
        // Only ASCII is left here: byte slicing is safe.
        crate::bail!(
            "container id \"{}...\": too long ({} bytes, at most {MAX_ID_LEN})",
            &id[..32],
            id.len()
        );
    }
    Ok(())
}

impl LaunchArgs {
    fn options(&self, debug: bool, tty_size: Option<sprout_protocol::WinSize>) -> Options {
        Options {
            preserve_fds: self.preserve_fds,
            no_pivot: self.no_pivot,
            debug,
            tty_size,
            no_new_keyring: self.no_new_keyring,
            cgroup_path: None,
        }
    }

    fn create_options<'a>(
        &'a self,
        console_socket: Option<&'a Path>,
        pid_file: Option<&'a Path>,
        debug: bool,
    ) -> CreateOptions<'a> {
        CreateOptions {
            bundle: &self.bundle.bundle,
            console_socket,
            pid_file,
            preserve_fds: self.preserve_fds,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            debug,
            keep: false,
        }
    }
}

/// Where `--log` goes (set once by [`run`]), for [`log_line`].
static LOG: std::sync::OnceLock<(PathBuf, LogFormat)> = std::sync::OnceLock::new();

/// Checks that `--log FILE` can be written: opens it for appending,
/// creating it (mode 0644 less the umask) as runc does.
///
/// Errors: `--log "FILE": open: <errno>` (a missing directory, no
/// permission); nothing else has been done then.
fn check_log(path: &Path) -> Result<()> {
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::io(format!("--log \"{}\": open", path.display()), &e)),
    }
}

/// Appends a `level` line (`error`, `warning`) to the `--log` file, if one
/// was given (best effort).
pub fn log_line(level: &str, msg: &str) -> bool {
    match LOG.get() {
        Some((path, format)) => {
            write_log(path, *format, level, msg);
            true
        }
        None => false,
    }
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: &Cli) -> Result<i32> {
    let mut timer = Timer::new(cli.debug);
    if let Some(log) = &cli.log {
        check_log(log)?;
        let _ = LOG.set((log.clone(), cli.log_format));
    }
    crate::error::set_debug(cli.debug);
    if cli.systemd_cgroup {
        crate::bail!(
            "--systemd-cgroup: not supported (sprout manages cgroups through cgroupfs; leave the flag out: \
             podman: cgroup_manager = \"cgroupfs\" in containers.conf [engine]; containerd: no SystemdCgroup \
             in the runtime's options)"
        );
    }
    // Absolute, so that a relative --root names the same place from every
    // command (the start socket path is recorded under it).
    let root_buf = std::path::absolute(&cli.root).unwrap_or_else(|_| cli.root.clone());
    let root = root_buf.as_path();
    match &cli.command.0 {
        Command::Create(a) => {
            let o = a.launch.create_options(
                a.console_socket.as_deref(),
                a.pid_file.as_deref(),
                cli.debug,
            );
            let code = lifecycle::create(root, &a.id, &o, &mut timer)?;
            timer.total("create");
            Ok(code)
        }
        Command::Start(a) => lifecycle::start(root, &a.id).map(|_| 0),
        Command::State(a) => query::state(root, &a.id).map(|_| 0),
        Command::Kill(a) => lifecycle::kill(root, &a.id, a.signal.as_deref(), a.all).map(|_| 0),
        Command::Delete(a) => lifecycle::delete(root, &a.id, a.force).map(|_| 0),
        Command::List(a) => query::list(root, a.quiet, a.format).map(|_| 0),
        Command::Ps(a) => query::ps(root, &a.id, a.format, &a.ps_args).map(|_| 0),
        Command::Pause(a) => lifecycle::pause(root, &a.id).map(|_| 0),
        Command::Resume(a) => lifecycle::resume(root, &a.id).map(|_| 0),
        Command::Update(a) => {
            // runc refuses these where Intel RDT is not enabled, -r or not.
            if a.l3_cache_schema.is_some() {
                crate::bail!("--l3-cache-schema: Intel RDT/CAT is not supported by sprout");
            }
            if a.mem_bw_schema.is_some() {
                crate::bail!("--mem-bw-schema: Intel RDT/MBA is not supported by sprout");
            }
            if a.kernel_memory.is_some() {
                crate::error::warn("--kernel-memory: ignored (the kernel no longer supports it)");
            }
            if a.kernel_memory_tcp.is_some() {
                crate::error::warn("--kernel-memory-tcp: ignored (as runc)");
            }
            let f = UpdateFlags {
                memory: a.memory.clone(),
                memory_swap: a.memory_swap.clone(),
                memory_reservation: a.memory_reservation.clone(),
                cpu_shares: a.cpu_shares,
                cpu_quota: a.cpu_quota,
                cpu_period: a.cpu_period,
                cpu_burst: a.cpu_burst,
                cpu_idle: a.cpu_idle,
                cpu_rt_period: a.cpu_rt_period,
                cpu_rt_runtime: a.cpu_rt_runtime,
                cpuset_cpus: a.cpuset_cpus.clone(),
                cpuset_mems: a.cpuset_mems.clone(),
                pids_limit: a.pids_limit,
                blkio_weight: a.blkio_weight,
            };
            query::update(root, &a.id, a.resources.as_deref(), &f).map(|_| 0)
        }
        Command::Events(a) => {
            let interval = query::parse_duration(&a.interval)?;
            query::events(root, &a.id, a.stats, interval).map(|_| 0)
        }
        Command::Features => query::features().map(|_| 0),
        Command::Checkpoint(_) | Command::Restore(_) => {
            let name = match cli.command.0 {
                Command::Checkpoint(_) => "checkpoint",
                _ => "restore",
            };
            crate::bail!("{name}: not supported (sprout has no checkpoint/restore through CRIU)")
        }
        Command::Spec(a) => {
            spec::write_default(&a.bundle.bundle)?;
            Ok(0)
        }
        Command::Plan(a) if a.image.active() => {
            if let Some(v) = imageplan::run(&a.image)? {
                print_json(&v)?;
            }
            Ok(0)
        }
        Command::Plan(a) => {
            if let Some(id) = &a.id {
                check_id(id)?;
            }
            let bundle = config::load(&a.launch.bundle.bundle)?;
            timer.phase("load bundle");
            let plan = Plan::compute(&bundle, &a.launch.options(cli.debug, None))?;
            timer.phase("compute plan");
            let bytes = plan.encode()?;
            plan.verify(&bytes)?;
            timer.phase("encode and verify plan");
            let text =
                serde_json::to_string_pretty(&plan.view(bytes.len())).map_err(Error::invalid)?;
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{text}").and_then(|_| out.flush()) {
                // `sprout plan | head`: the reader went away; not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                r => r.map_err(|e| Error::io("stdout", &e))?,
            }
            Ok(0)
        }
        Command::Exec(a) => Ok(crate::exec::main(cli, a, &mut timer)),
        Command::Run(a) => {
            let o = CreateOptions {
                keep: a.keep,
                ..a.launch.create_options(
                    a.console_socket.as_deref(),
                    a.pid_file.as_deref(),
                    cli.debug,
                )
            };
            let code = lifecycle::run(root, &a.id, &o, a.detach, &mut timer)?;
            timer.total("run");
            Ok(code)
        }
    }
}

/// Prints `v` pretty on stdout; a reader that went away (`| head`) is fine.
fn print_json(v: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(Error::invalid)?;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| Error::io("stdout", &e)),
    }
}

/// One line for a command-line error that clap renders over several
/// lines (`error: ...`, indented details, a `tip:`, `Usage: ...`, `For more
/// information ...`): the message and its details joined with spaces, then
/// `(usage: ...)` when clap gave a usage line. For example
/// `the following required arguments were not provided: <ID> (usage: sprout
/// create <ID>)`. The standard of the project: one line that names the
/// argument; runc prints its usage too, with exit status 1 (see
/// `sprout_main`).
pub fn usage_error_line(rendered: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let mut usage = None;
    for line in rendered.lines() {
        let t = line.trim();
        if let Some(u) = t.strip_prefix("Usage:") {
            usage = Some(u.trim());
            break;
        }
        if t.is_empty() || t.starts_with("tip:") {
            continue;
        }
        if t.starts_with("For more information") {
            break;
        }
        parts.push(t.strip_prefix("error:").map_or(t, str::trim_start));
    }
    let mut msg = parts.join(" ");
    if let Some(u) = usage {
        msg.push_str(&format!(" (usage: {u})"));
    }
    msg
}

/// Appends an error line to the `--log` file (best effort).
pub fn log_error(path: &Path, format: LogFormat, msg: &str) {
    write_log(path, format, "error", msg);
}

/// Appends one `level` line: `time level msg`, or runc's JSON
/// `{"level":...,"msg":...,"time":...}`.
fn write_log(path: &Path, format: LogFormat, level: &str, msg: &str) {
    let time = rfc3339_now();
    let line = match format {
        LogFormat::Text => format!("{time} {level} {}\n", crate::error::one_line(msg)),
        LogFormat::Json => {
            format!(
                "{}\n",
                serde_json::json!({"level": level, "msg": msg, "time": time})
            )
        }
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// The current UTC time as RFC 3339 (`2024-05-01T12:34:56.789Z`).
pub fn rfc3339_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_millis())
}

/// RFC 3339 of Unix seconds (days-to-civil from H. Hinnant's algorithm).
fn rfc3339(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn usage_errors_are_one_line() {
        let r = "error: the following required arguments were not provided:\n  <ID>\n\nUsage: sprout create <ID>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error_line(r),
            "the following required arguments were not provided: <ID> (usage: sprout create <ID>)"
        );
        let r = "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: sprout create [OPTIONS] <ID>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error_line(r),
            "unexpected argument '--bogus' found (usage: sprout create [OPTIONS] <ID>)"
        );
        let r = "error: invalid value 'xml' for '--log-format <LOG_FORMAT>'\n  [possible values: text, json]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error_line(r),
            "invalid value 'xml' for '--log-format <LOG_FORMAT>' [possible values: text, json]"
        );
    }
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_invoked_subcommand_is_found_after_global_options_only() {
        let v = |args: &[&str]| {
            let argv: Vec<std::ffi::OsString> = std::iter::once("sprout")
                .chain(args.iter().copied())
                .map(Into::into)
                .collect();
            invoked(&argv)
        };
        assert_eq!(v(&["run", "x"]), Some("run"));
        assert_eq!(
            v(&["--root", "/r", "--debug", "create", "-b", "b", "x"]),
            Some("create")
        );
        assert_eq!(
            v(&[
                "--root=/r",
                "--log",
                "l",
                "--log-format=json",
                "--systemd-cgroup",
                "exec",
                "x",
                "true"
            ]),
            Some("exec")
        );
        assert_eq!(
            v(&["--criu", "/usr/sbin/criu", "--rootless=auto", "kill", "x"]),
            Some("kill")
        );
        assert_eq!(v(&["run", "--help"]), Some("run"));
        for whole in [
            &[][..],
            &["--help"],
            &["-h", "run"],
            &["--version"],
            &["-V"],
            &["help", "run"],
            &["bogus"],
            &["--bogus", "run"],
            &["--root"],
            &["--", "run"],
        ] {
            assert_eq!(v(whole), None, "{whole:?}");
        }
    }

    /// A narrowed tree (what `sprout_main` parses with) and the whole one
    /// give the same result for valid command lines.
    #[test]
    fn a_narrowed_tree_parses_alike() {
        for args in [
            &["--root", "/r", "run", "-b", "/b", "--pid-file", "p", "x"][..],
            &[
                "--debug",
                "create",
                "--bundle",
                "/b",
                "--console-socket",
                "/s",
                "x",
            ],
            &["kill", "--all", "x", "KILL"],
            &["delete", "-f", "x"],
            &["exec", "-e", "A=1", "--cwd", "/", "x", "sh", "-c", "true"],
        ] {
            let argv: Vec<&str> = std::iter::once("sprout")
                .chain(args.iter().copied())
                .collect();
            let whole = format!("{:?}", Cli::try_parse_from(&argv).unwrap());
            let os: Vec<std::ffi::OsString> = argv.iter().map(Into::into).collect();
            assert!(invoked(&os).is_some(), "{args:?}");
            narrow_to_invoked(&os);
            let narrow = Cli::command();
            ONLY.set(None);
            assert_eq!(narrow.get_subcommands().count(), 1, "{args:?}");
            let m = narrow.try_get_matches_from(&argv).unwrap();
            let parsed = <Cli as clap::FromArgMatches>::from_arg_matches(&m).unwrap();
            assert_eq!(format!("{parsed:?}"), whole, "{args:?}");
        }
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The deferred subcommands ([`Commands`]) give exactly the derived
    /// ones: same names in the same order, same about lines, same full help.
    #[test]
    fn lazy_subcommands_match_the_derived_ones() {
        let derived = <Command as Subcommand>::augment_subcommands(clap::Command::new("sprout"));
        let lazy = Commands::augment_subcommands(clap::Command::new("sprout"));
        let names = |c: &clap::Command| {
            c.get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&derived), names(&lazy));
        for d in derived.get_subcommands() {
            let l = lazy.find_subcommand(d.get_name()).unwrap();
            assert_eq!(
                d.get_about().map(|a| a.to_string()),
                l.get_about().map(|a| a.to_string()),
                "{}",
                d.get_name()
            );
            let help = |c: &clap::Command| c.clone().render_long_help().to_string();
            assert_eq!(help(d), help(l), "{}", d.get_name());
            assert!(
                l.get_arguments().next().is_none() || d.get_name() == "help",
                "{} built eagerly",
                d.get_name()
            );
        }
        for (name, ..) in SUBCOMMANDS {
            assert!(Command::has_subcommand(name), "{name}");
        }
    }

    #[test]
    fn parses_runc_style_lines() {
        let c = Cli::try_parse_from([
            "sprout",
            "--root",
            "/tmp/r",
            "--log",
            "/tmp/l",
            "--log-format",
            "json",
            "--debug",
            "run",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--preserve-fds",
            "2",
            "--no-pivot",
            "c1",
        ])
        .unwrap();
        assert_eq!(c.root, Path::new("/tmp/r"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.debug);
        let Command::Run(r) = c.command.0 else {
            panic!()
        };
        assert_eq!(r.id, "c1");
        assert_eq!(r.launch.preserve_fds, 2);
        assert!(r.launch.no_pivot);
        assert_eq!(r.launch.bundle.bundle, Path::new("/b"));
        // Global flags after the subcommand, as runc allows.
        let c = Cli::try_parse_from(["sprout", "spec", "--debug", "-b", "/x"]).unwrap();
        assert!(c.debug);
        assert_eq!(c.root, Path::new("/run/sprout"));
    }

    #[test]
    fn ids() {
        assert!(check_id("abc-1.2_3+x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert!(check_id(&"a".repeat(255)).is_ok());
        let e = check_id(&"a".repeat(256)).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "container id \"{}...\": too long (256 bytes, at most 255)",
                "a".repeat(32)
            )
        );
    }

    #[test]
    fn time_format() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400 + 86399, 5), "2000-02-29T23:59:59.005Z");
        assert_eq!(rfc3339(1_700_000_000, 123), "2023-11-14T22:13:20.123Z");
    }
}
