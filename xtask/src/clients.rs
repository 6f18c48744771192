//! `cargo xtask clients`: build the shipped sprout (static, with the stub next to
//! it) and drive it through real clients, podman (with conmon) and
//! containerd (ctr and the runc v2 shim), with the `clients.sh` harness.
//!
//! The harness is `../shared/clients/clients.sh` next to the workspace when
//! it is there (the shared, read-only original), otherwise the unmodified
//! copy vendored in `tests/clients/` (a fresh clone, CI). It needs root and
//! the Debian packages in [`PACKAGES`], installed here when missing (as
//! root). It prints `PASS`/`FAIL` per scenario and `N passed, M failed`;
//! our exit status is its exit status (0: all passed).
//!
//! Options map to the harness's environment: `--only REGEX`
//! (`CLIENTS_ONLY`), `--skip REGEX` (`CLIENTS_SKIP`), `--show-logs`
//! (`CLIENTS_SHOW_LOGS=1`: failing scenarios' logs on stderr), `--trace`
//! (`CLIENTS_TRACE=1`: every runtime argv logged), `--list` (scenario
//! names only). Any other `CLIENTS_*` variable is passed through as is.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use crate::util::{Context, Result, is_root, run, status, workspace_root};
use crate::{bail, deps, exit_code_of, rootfs, say};

/// What the harness drives, and the static busybox its test image is made of.
pub const PACKAGES: &[&str] = &["podman", "conmon", "containerd", "busybox-static"];

/// Where the harness lives, relative to the workspace: the shared original
/// first, then the vendored copy.
const HARNESS: &[&str] = &["../shared/clients/clients.sh", "tests/clients/clients.sh"];

/// Options of `cargo xtask clients`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    only: Option<String>,
    skip: Option<String>,
    show_logs: bool,
    trace: bool,
    list: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || -> Result<String> {
            match inline.clone().or_else(|| it.next().cloned()) {
                Some(v) => Ok(v),
                None => bail!("{name} needs a value (a regular expression over scenario names)"),
            }
        };
        match name {
            "--only" => o.only = Some(value()?),
            "--skip" => o.skip = Some(value()?),
            "--show-logs" if inline.is_none() => o.show_logs = true,
            "--trace" if inline.is_none() => o.trace = true,
            "--list" | "-l" if inline.is_none() => o.list = true,
            _ => bail!(
                "unknown argument `{a}` for clients (options: --only REGEX, --skip REGEX, --show-logs, --trace, --list)"
            ),
        }
    }
    Ok(o)
}

/// The harness script to run: the first of [`HARNESS`] that exists.
pub fn harness() -> Result<PathBuf> {
    let ws = workspace_root();
    for rel in HARNESS {
        let p = ws.join(rel);
        if p.is_file() {
            return Ok(p.canonicalize().unwrap_or(p));
        }
    }
    bail!(
        "no clients harness: looked for {} under {}",
        HARNESS.join(" and "),
        ws.display()
    )
}

/// Install whichever of [`PACKAGES`] are missing (as root).
fn ensure_packages() -> Result {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| !deps::installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    say!("installing the client packages: {list}");
    deps::apt_update()?;
    run(Command::new("apt-get")
        .args(["install", "-y"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// `cargo xtask clients [options]`.
pub fn main(args: &[String]) -> Result<ExitCode> {
    let o = parse(args)?;
    let script = harness()?;
    if o.list {
        let st = status(Command::new("bash").arg(&script).arg("-l"))?;
        return Ok(exit_code_of(st));
    }
    if !is_root() {
        bail!(
            "the clients harness drives rootful podman and containerd: run `cargo xtask clients` as root"
        );
    }
    deps::ensure()?;
    ensure_packages()?;
    say!("building sprout (static, ship profile) and the sprout-init stub");
    let sprout = crate::build_sprout()?;

    say!("harness: {}", script.display());
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg(&sprout);
    // A scratch working directory: conmon leaves files in its own (an
    // `oom` marker after the memory scenario), which must not land in the
    // checkout.
    let work = crate::util::target_dir().join("clients-work");
    std::fs::create_dir_all(&work).ctx(format!("creating {}", work.display()))?;
    cmd.current_dir(&work);
    if let Some(r) = &o.only {
        cmd.env("CLIENTS_ONLY", r);
    }
    if let Some(r) = &o.skip {
        cmd.env("CLIENTS_SKIP", r);
    }
    if o.show_logs {
        cmd.env("CLIENTS_SHOW_LOGS", "1");
    }
    if o.trace {
        cmd.env("CLIENTS_TRACE", "1");
    }
    if std::env::var_os("CLIENTS_BUSYBOX").is_none() {
        // The host's static busybox, or busybox-static unpacked under target/.
        cmd.env("CLIENTS_BUSYBOX", rootfs::find_busybox()?);
    }
    let st = status(&mut cmd)?;
    if st.success() {
        say!("all client scenarios passed");
    } else {
        say!(
            "client scenarios failed ({st}); per-scenario logs are in $CLIENTS_LOGDIR (default /tmp/oci-clients/logs/sprout)"
        );
    }
    Ok(exit_code_of(st))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Option<Options> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).ok()
    }

    #[test]
    fn parses_options() {
        assert_eq!(p(&[]), Some(Options::default()));
        let o = p(&["--only", "^ctr", "--skip=memory", "--show-logs", "--trace"]).unwrap();
        assert_eq!(o.only.as_deref(), Some("^ctr"));
        assert_eq!(o.skip.as_deref(), Some("memory"));
        assert!(o.show_logs && o.trace && !o.list);
        assert!(p(&["-l"]).unwrap().list);
        assert_eq!(p(&["--only"]), None);
        assert_eq!(p(&["--trace=1"]), None);
        assert_eq!(p(&["--bogus"]), None);
    }

    #[test]
    fn a_harness_is_found() {
        // The vendored copy is always in the tree.
        assert!(harness().ok().unwrap().ends_with("clients/clients.sh"));
    }
}
