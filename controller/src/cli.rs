//! The command line (runc-compatible where it overlaps):
//!
//! ```text
//! sprout [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND
//!   spec [--bundle DIR]
//!   plan [--bundle DIR] [--preserve-fds N] [--no-pivot] [ID]
//!   plan --rootfs DIR [--user U[:G]] [--group-add G]... [--cap-drop ALL] [--cap-add CAP]...
//!        [--no-new-privs] [--rlimit TYPE=SOFT:HARD]... [--cwd DIR] [--env K=V]... [-o FILE] [-- CMD...]
//!   plan --show FILE
//!   run  [--bundle DIR] [--pid-file FILE] [--preserve-fds N] [--no-pivot] ID
//! ```
//!
//! `--root` (state directory) is parsed now and used by the lifecycle
//! commands (`create`, `start`, `state`, ...) that come later.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result};
use crate::imageplan::{self, ImagePlanArgs};
use crate::plan::{Options, Plan};
use crate::timing::Timer;
use crate::{config, console, launch, spec};

/// sprout: an OCI container runtime.
#[derive(Debug, Parser)]
#[command(name = "sprout", version, about)]
pub struct Cli {
    /// State directory for containers.
    #[arg(long, global = true, value_name = "DIR", default_value = "/run/sprout")]
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
    /// The command.
    #[command(subcommand)]
    pub command: Command,
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
    /// Run a container in the foreground; exits with its status.
    Run(RunArgs),
    /// Run a new process inside a container; exits with its status (255
    /// when it cannot be started).
    Exec(crate::exec::ExecArgs),
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
    /// Detach (not supported yet).
    #[arg(long, short = 'd')]
    detach: bool,
    /// Container id.
    id: String,
}

/// Checks a container id as runc does: `[A-Za-z0-9_+.-]+`, not `.`/`..`.
pub fn check_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id == "."
        || id == ".."
        || id.len() > 1024
        || !id.chars().all(|c| c.is_ascii_alphanumeric() || "_+.-".contains(c))
    {
        crate::bail!("container id \"{id}\": invalid (use letters, digits and _ + . -)");
    }
    Ok(())
}

impl LaunchArgs {
    fn options(&self, debug: bool, tty_size: Option<sprout_protocol::WinSize>) -> Options {
        Options { preserve_fds: self.preserve_fds, no_pivot: self.no_pivot, debug, tty_size, no_new_keyring: false }
    }
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: &Cli) -> Result<i32> {
    let mut timer = Timer::new(cli.debug);
    match &cli.command {
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
            let text = serde_json::to_string_pretty(&plan.view(bytes.len())).map_err(Error::invalid)?;
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
            check_id(&a.id)?;
            if a.detach {
                crate::bail!("run --detach: not supported yet (use a foreground run)");
            }
            let bundle = config::load(&a.launch.bundle.bundle)?;
            timer.phase("load bundle");
            let plan = Plan::compute(&bundle, &a.launch.options(cli.debug, console::stdin_size()))?;
            timer.phase("compute plan");
            let code = launch::run(plan, &launch::RunOptions { pid_file: a.pid_file.as_deref(), ..Default::default() }, &mut timer)?;
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

/// Appends an error line to the `--log` file (best effort).
pub fn log_error(path: &Path, format: LogFormat, msg: &str) {
    let time = rfc3339_now();
    let line = match format {
        LogFormat::Text => format!("{time} error {msg}\n"),
        LogFormat::Json => {
            format!("{}\n", serde_json::json!({"level": "error", "msg": msg, "time": time}))
        }
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(line.as_bytes());
    }
}

/// The current UTC time as RFC 3339 (`2024-05-01T12:34:56.789Z`).
fn rfc3339_now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
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
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", sod / 3600, sod % 3600 / 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
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
        let Command::Run(r) = c.command else { panic!() };
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
    }

    #[test]
    fn time_format() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400 + 86399, 5), "2000-02-29T23:59:59.005Z");
        assert_eq!(rfc3339(1_700_000_000, 123), "2023-11-14T22:13:20.123Z");
    }
}
