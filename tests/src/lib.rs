//! Helpers for the system tests: real containers run through the `sprout`
//! controller and the `sprout-init` stub.
//!
//! The tests live in `tests/tests/*.rs`. `cargo xtask test` builds
//! everything, prepares a busybox rootfs template and runs them with:
//!
//! * `SPROUT_BIN` — the controller (default `<workspace>/target/debug/sprout`);
//! * `SPROUT_INIT_BIN` — the shipped stub, `target/dist/sprout-init` (the
//!   `stub` profile, stripped, next to the controller; default
//!   `<workspace>/target/debug/sprout-init`);
//! * `SPROUT_BUSYBOX_ROOTFS` — the rootfs template
//!   (default `<workspace>/target/busybox-rootfs`).
//!
//! The template has `/bin` (busybox and its applets), `/etc/passwd` with
//! `root` (0) and `demo` (1000:1000, home `/home/demo`), `/etc/group` with
//! `root`, `demo` (1000) and `extra` (2000, containing `demo`), and empty
//! `/proc /sys /dev /tmp /root /home/demo`.
//!
//! A typical test:
//!
//! ```no_run
//! use sprout_systests::{Bundle, assert_nothing_left, require_root, unique_id};
//!
//! #[test]
//! fn echo() {
//!     require_root!();
//!     let bundle = Bundle::busybox();
//!     bundle.set_args(&["echo", "hello"]);
//!     let out = bundle.run(&unique_id("echo"));
//!     assert_eq!(out.stdout_str(), "hello\n", "{out}");
//!     assert_nothing_left(bundle.dir());
//! }
//! ```

#![warn(missing_docs)]

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use serde_json;
use serde_json::Value;

/// How long [`Bundle::run`] waits for `sprout run` before killing it,
/// unless `SPROUT_TEST_TIMEOUT` (seconds) says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether the effective uid is 0 (read from the `Uid:` line of /proc/self/status).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Skip the calling test (with a loud note on stderr) unless running as root.
///
/// `require_root!()` returns `()`; `require_root!(value)` returns `value`
/// (for tests returning e.g. `Result`).
#[macro_export]
macro_rules! require_root {
    () => {
        $crate::require_root!(())
    };
    ($ret:expr) => {
        if !$crate::is_root() {
            eprintln!(
                "!!!!! SKIPPED (not root): {} at {}:{} needs root to run containers",
                module_path!(),
                file!(),
                line!()
            );
            return $ret;
        }
    };
}

/// The workspace root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// `<workspace>/target`.
fn target_dir() -> PathBuf {
    workspace_root().join("target")
}

/// A path from the environment variable `var`, else `default`.
fn env_path(var: &str, default: impl FnOnce() -> PathBuf) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => default(),
    }
}

/// The controller binary: `SPROUT_BIN`, else `<workspace>/target/debug/sprout`.
pub fn sprout_bin() -> PathBuf {
    env_path("SPROUT_BIN", || target_dir().join("debug/sprout"))
}

/// The stub binary: `SPROUT_INIT_BIN`, else `<workspace>/target/debug/sprout-init`.
pub fn sprout_init_bin() -> PathBuf {
    env_path("SPROUT_INIT_BIN", || target_dir().join("debug/sprout-init"))
}

/// The busybox rootfs template: `SPROUT_BUSYBOX_ROOTFS`, else `<workspace>/target/busybox-rootfs`.
pub fn busybox_rootfs() -> PathBuf {
    env_path("SPROUT_BUSYBOX_ROOTFS", || {
        target_dir().join("busybox-rootfs")
    })
}

/// A `Command` for the controller ([`sprout_bin`]) with `args`, stdin closed.
pub fn sprout(args: &[&str]) -> Command {
    let mut cmd = Command::new(sprout_bin());
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// A container id unique within this machine for practical purposes:
/// `<prefix>-<pid>-<counter>-<time>`.
pub fn unique_id(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() & 0xff_ffff)
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{t:06x}", std::process::id())
}

/// Decode the octal escapes (`\040` etc.) used for paths in /proc/self/mountinfo.
fn unescape_mountinfo(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = (b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)))
        .then(|| {
            b[i + 1..i + 4]
                .iter()
                .fold(0u32, |n, c| n * 8 + u32::from(c - b'0'))
        })
        .and_then(|n| u8::try_from(n).ok());
        if let Some(byte) = code {
            out.push(byte);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Mount points in `mountinfo` text at or below `dir`.
fn mounts_in(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// Mount points (in this process's mount namespace) at or below `dir`.
pub fn mounts_under(dir: impl AsRef<Path>) -> Vec<PathBuf> {
    let dir = dir.as_ref();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let info = fs::read_to_string("/proc/self/mountinfo").expect("reading /proc/self/mountinfo");
    mounts_in(&info, &dir)
}

/// Panic if anything is still mounted at or below `dir` (per /proc/self/mountinfo).
#[track_caller]
pub fn assert_nothing_left(dir: impl AsRef<Path>) {
    let dir = dir.as_ref();
    let left = mounts_under(dir);
    assert!(
        left.is_empty(),
        "mounts left under {}: {left:#?}",
        dir.display()
    );
}

/// What a finished `sprout` invocation produced. `Display` shows all of it,
/// for assertion messages.
#[derive(Debug)]
pub struct Output {
    /// Exit status (`None` if it was killed after the timeout).
    pub status: Option<ExitStatus>,
    /// Captured standard output.
    pub stdout: Vec<u8>,
    /// Captured standard error.
    pub stderr: Vec<u8>,
    /// The command line, for messages.
    pub command: String,
}

impl Output {
    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The exit code, if it exited normally (`None` if signalled or timed out).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Stdout as (lossy) UTF-8.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as (lossy) UTF-8.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Panic (showing everything) unless the command succeeded; returns `self`.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command failed:\n{self}");
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "killed after timeout".into(),
        };
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "status: {status}")?;
        writeln!(f, "--- stdout ---\n{}", self.stdout_str().trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr_str().trim_end())
    }
}

/// The timeout for one command: `SPROUT_TEST_TIMEOUT` seconds, else [`DEFAULT_TIMEOUT`].
fn timeout() -> Duration {
    std::env::var("SPROUT_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// Run `cmd` to completion capturing stdout and stderr, killing it (only it,
/// by its own handle) if it takes longer than `SPROUT_TEST_TIMEOUT` seconds
/// (default [`DEFAULT_TIMEOUT`]).
pub fn output(cmd: &mut Command) -> Output {
    output_with_timeout(cmd, timeout())
}

/// Runs `cmd` (output captured as [`output`] does) in a new session whose
/// controlling terminal is a fresh pty, as a command typed in a terminal
/// would be, with the pty as its stdin too when `tty_stdin` (a container
/// started with `-t`); returns its output and what reached the terminal
/// (read from the master after `cmd` ended).
pub fn output_on_a_terminal(cmd: &mut Command, tty_stdin: bool) -> (Output, String) {
    use nix::libc;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    // SAFETY: plain pty syscalls on fds this function owns; the pre_exec
    // closure calls only async-signal-safe setsid, ioctl and dup2.
    let (master, slave) = unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = OwnedFd::from_raw_fd(m);
        assert_eq!(libc::grantpt(m), 0, "grantpt");
        assert_eq!(libc::unlockpt(m), 0, "unlockpt");
        let name = std::ffi::CStr::from_ptr(libc::ptsname(m)).to_owned();
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(s >= 0, "open {name:?}: {}", std::io::Error::last_os_error());
        (master, OwnedFd::from_raw_fd(s))
    };
    let tty = slave.as_raw_fd();
    // SAFETY: see above.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0
                || libc::ioctl(tty, libc::TIOCSCTTY, 0) < 0
                || (tty_stdin && libc::dup2(tty, 0) < 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = output(cmd);
    drop(slave);
    // Everything written to the terminal is in the master's buffer now;
    // with no slave open left, a read past it ends (EIO).
    let mut got = Vec::new();
    let _ = fs::File::from(master).read_to_end(&mut got);
    (out, String::from_utf8_lossy(&got).into_owned())
}

/// Like [`output`] with an explicit timeout.
///
/// Output is collected as it arrives. Once the command has exited, its
/// pipes get [`PIPE_GRACE`] more to reach end of file; a process that
/// inherited them and lives on (the container of `sprout create`, whose
/// stdio is the controller's) would otherwise keep them open forever, so
/// then what arrived so far is returned.
pub fn output_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    use std::sync::{Arc, Mutex};
    let command = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {command}: {e}"));
    let reader = |mut pipe: Box<dyn Read + Send>| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let h = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => return,
                    Ok(n) => sink
                        .lock()
                        .expect("output buffer")
                        .extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        });
        (h, buf)
    };
    let out = reader(Box::new(child.stdout.take().expect("piped stdout")));
    let err = reader(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(e) => panic!("waiting for {command}: {e}"),
        }
    };
    let grace = Instant::now()
        + if status.is_some() {
            PIPE_GRACE
        } else {
            Duration::ZERO
        };
    let collect = |(h, buf): (std::thread::JoinHandle<()>, Arc<Mutex<Vec<u8>>>)| {
        while !h.is_finished() && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut data = std::mem::take(&mut *buf.lock().expect("output buffer"));
        if h.is_finished() {
            let _ = h.join();
        } else if status.is_none() {
            data.extend_from_slice(b"<output abandoned after timeout>");
        }
        data
    };
    Output {
        status,
        stdout: collect(out),
        stderr: collect(err),
        command,
    }
}

/// How long [`output_with_timeout`] waits, after the command exited, for
/// its pipes to close (see there).
pub const PIPE_GRACE: Duration = Duration::from_millis(500);

/// An OCI bundle directory under `<workspace>/target/systest/`, removed on
/// drop (unless something is still mounted below it, or
/// `SPROUT_KEEP_BUNDLES` is set, or [`Bundle::keep`] was called).
pub struct Bundle {
    dir: PathBuf,
    keep: bool,
}

impl Bundle {
    /// An empty bundle directory (no rootfs, no config).
    pub fn empty() -> Bundle {
        let base = target_dir().join("systest");
        fs::create_dir_all(&base).expect("creating target/systest");
        let dir = base.join(unique_id("bundle"));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let dir = dir.canonicalize().expect("canonicalizing the bundle dir");
        let keep = std::env::var_os("SPROUT_KEEP_BUNDLES").is_some_and(|v| !v.is_empty());
        Bundle { dir, keep }
    }

    /// A bundle whose `rootfs/` is a copy (`cp -a`) of the busybox template
    /// ([`busybox_rootfs`]), without a config.json.
    pub fn busybox_rootfs_only() -> Bundle {
        let template = busybox_rootfs();
        assert!(
            template.join("bin/busybox").is_file(),
            "no busybox rootfs template at {} (run `cargo xtask test`, or set SPROUT_BUSYBOX_ROOTFS)",
            template.display()
        );
        let bundle = Bundle::empty();
        let out = output(
            Command::new("cp")
                .arg("-a")
                .arg(&template)
                .arg(bundle.rootfs())
                .stdin(Stdio::null()),
        );
        assert!(out.success(), "copying the rootfs template:\n{out}");
        bundle
    }

    /// A busybox bundle with the default config from
    /// `sprout spec --bundle <dir>`, changed only to set
    /// `process.terminal` to false (the tests capture output through pipes).
    pub fn busybox() -> Bundle {
        let bundle = Bundle::busybox_rootfs_only();
        let out = output(sprout(&["spec", "--bundle"]).arg(&bundle.dir));
        assert!(out.success(), "`sprout spec` failed:\n{out}");
        assert!(
            bundle.config_path().is_file(),
            "`sprout spec` wrote no {}:\n{out}",
            bundle.config_path().display()
        );
        bundle.config_mut(|c| c["process"]["terminal"] = Value::Bool(false));
        bundle
    }

    /// The bundle directory (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/rootfs`.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// `<dir>/config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// The parsed config.json.
    pub fn config(&self) -> Value {
        let path = self.config_path();
        let text =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
    }

    /// Replace config.json with `config` (pretty-printed).
    pub fn write_config(&self, config: &Value) {
        let text = serde_json::to_string_pretty(config).expect("serializing the config") + "\n";
        fs::write(self.config_path(), text).expect("writing config.json");
    }

    /// Edit config.json in place: `bundle.config_mut(|c| c["hostname"] = "x".into())`.
    pub fn config_mut(&self, edit: impl FnOnce(&mut Value)) {
        let mut config = self.config();
        edit(&mut config);
        self.write_config(&config);
    }

    /// Set `process.args`.
    pub fn set_args(&self, args: &[&str]) {
        self.config_mut(|c| c["process"]["args"] = args.iter().copied().collect());
    }

    /// Run `sprout run --bundle <dir> <id>` (stdin closed), capturing its output.
    pub fn run(&self, id: &str) -> Output {
        output(sprout(&["run", "--bundle"]).arg(&self.dir).arg(id))
    }

    /// Run `sprout <subcommand> --bundle <dir> <extra...>`, capturing its output.
    pub fn sprout(&self, subcommand: &str, extra: &[&str]) -> Output {
        output(sprout(&[subcommand, "--bundle"]).arg(&self.dir).args(extra))
    }

    /// Keep the directory after the test (for debugging); prints where it is.
    pub fn keep(&mut self) {
        self.keep = true;
        eprintln!("keeping bundle {}", self.dir.display());
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let left = mounts_under(&self.dir);
        if !left.is_empty() {
            // Removing through a leftover (bind) mount could delete host files.
            eprintln!(
                "NOT removing bundle {}: still mounted below it: {left:?}",
                self.dir.display()
            );
            return;
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("removing bundle {}: {e}", self.dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape_mountinfo(r"/a\040b"), Path::new("/a b"));
        assert_eq!(unescape_mountinfo(r"/plain"), Path::new("/plain"));
        assert_eq!(unescape_mountinfo(r"/tail\04"), Path::new(r"/tail\04"));
        assert_eq!(unescape_mountinfo(r"/x\134y"), Path::new(r"/x\y"));
    }

    #[test]
    fn output_captures_and_times_out() {
        let out = output(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]));
        assert_eq!(
            (
                out.code(),
                out.stdout_str().as_str(),
                out.stderr_str().as_str()
            ),
            (Some(3), "out\n", "err\n")
        );
        let start = Instant::now();
        let out = output_with_timeout(Command::new("sleep").arg("5"), Duration::from_millis(200));
        assert!(out.status.is_none() && !out.success(), "{out}");
        assert!(start.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn finds_mounts_below_a_dir_only() {
        let info = "\
22 1 0:21 / / rw - ext4 /dev/sda1 rw
23 22 0:22 / /work/b\\040x/rootfs rw - tmpfs tmpfs rw
24 22 0:23 / /work/bb rw - tmpfs tmpfs rw
25 22 0:24 / /work/b rw - tmpfs tmpfs rw
";
        assert_eq!(
            mounts_in(info, Path::new("/work/b x")),
            vec![PathBuf::from("/work/b x/rootfs")]
        );
        assert_eq!(
            mounts_in(info, Path::new("/work/b")),
            vec![PathBuf::from("/work/b")]
        );
        assert!(mounts_in(info, Path::new("/nowhere")).is_empty());
    }
}
