//! Helpers of the image-mode system tests (`image_*.rs`, each includes
//! `mod image_common;`): `sprout-init` copied into a busybox root
//! filesystem as PID 1, side by side with tini and catatonit (the Debian
//! packages `tini` and `catatonit`; a test skips loudly without them).
//!
//! A "container" here is `unshare --pid --fork --mount --mount-proc --uts
//! --ipc --root=ROOTFS INIT...`: a new pid namespace whose PID 1 is the init
//! under test, chrooted into the rootfs, with its own /proc. That is the
//! situation of an image's entrypoint under any runtime; the podman test
//! (`image_podman.rs`) checks the real thing.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use sprout_systests::{Bundle, Output, busybox_rootfs, output, sprout, sprout_init_bin};

/// An init program under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// `sprout-init --plan /plan --` (image mode).
    Sprout,
    /// `tini-static --` (Debian package `tini`).
    Tini,
    /// `catatonit --` (Debian package `catatonit`).
    Catatonit,
}

impl Init {
    /// All three, sprout first.
    pub const ALL: [Init; 3] = [Init::Sprout, Init::Tini, Init::Catatonit];

    /// The host binary (static: it runs inside a busybox rootfs without libc).
    pub fn host_binary(self) -> Option<PathBuf> {
        let candidates: &[&str] = match self {
            Init::Sprout => return Some(sprout_init_bin()),
            Init::Tini => &["/usr/bin/tini-static"],
            Init::Catatonit => &["/usr/bin/catatonit", "/usr/libexec/podman/catatonit"],
        };
        candidates.iter().map(PathBuf::from).find(|p| p.is_file())
    }

    /// Its file name inside the rootfs.
    pub fn name(self) -> &'static str {
        match self {
            Init::Sprout => "sprout-init",
            Init::Tini => "tini-static",
            Init::Catatonit => "catatonit",
        }
    }

    /// argv inside the container up to (and including) the `--` before CMD.
    pub fn argv(self) -> Vec<String> {
        let exe = format!("/{}", self.name());
        match self {
            Init::Sprout => vec![exe, "--plan".into(), "/plan".into(), "--".into()],
            Init::Tini | Init::Catatonit => vec![exe, "--".into()],
        }
    }
}

/// The inits that are installed; prints a loud SKIPPED line for each
/// missing one (install the Debian packages `tini` and `catatonit`).
pub fn available_inits(test: &str) -> Vec<Init> {
    Init::ALL
        .into_iter()
        .filter(|i| {
            let there = i.host_binary().is_some_and(|p| p.is_file());
            if !there {
                eprintln!(
                    "!!!!! SKIPPED the {:?} half of {test}: {} is not installed (apt-get install tini catatonit)",
                    i,
                    i.name()
                );
            }
            there
        })
        .collect()
}

/// Whether `prog` is found in PATH.
pub fn have(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// A busybox root filesystem (under a [`Bundle`] dir in `target/systest`,
/// removed on drop) with the three inits copied in and, once
/// [`Image::plan`] ran, a plan at `/plan`.
pub struct Image {
    bundle: Bundle,
}

impl Image {
    /// A copy of the busybox template (`bin/` hard-linked: never written),
    /// with every available init copied to `/`.
    pub fn new() -> Image {
        let template = busybox_rootfs();
        assert!(
            template.join("bin/busybox").is_file(),
            "no busybox rootfs template at {} (run `cargo xtask test`, or set SPROUT_BUSYBOX_ROOTFS)",
            template.display()
        );
        let bundle = Bundle::empty();
        let rootfs = bundle.rootfs();
        fs::create_dir(&rootfs).expect("creating rootfs/");
        let mut cp = Command::new("cp");
        cp.arg("-a");
        for e in fs::read_dir(&template)
            .expect("reading the template")
            .flatten()
        {
            if e.file_name() != "bin" {
                cp.arg(e.path());
            }
        }
        let out = output(cp.arg(&rootfs));
        assert!(out.success(), "copying the rootfs template:\n{out}");
        let out = output(
            Command::new("cp")
                .arg("-al")
                .arg(template.join("bin"))
                .arg(rootfs.join("bin")),
        );
        assert!(out.success(), "linking the rootfs template's bin/:\n{out}");
        fs::set_permissions(
            rootfs.join("tmp"),
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
        // busybox sh gives background jobs /dev/null as stdin.
        let out = output(
            Command::new("mknod")
                .args(["-m", "666"])
                .arg(rootfs.join("dev/null"))
                .args(["c", "1", "3"]),
        );
        assert!(out.success(), "mknod dev/null:\n{out}");
        for init in Init::ALL {
            if let Some(bin) = init.host_binary() {
                fs::copy(&bin, rootfs.join(init.name()))
                    .unwrap_or_else(|e| panic!("copying {} into the rootfs: {e}", bin.display()));
            }
        }
        Image { bundle }
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.bundle.rootfs()
    }

    /// `sprout plan --rootfs ROOTFS ARGS... -o ROOTFS/plan`; panics unless it succeeds.
    pub fn plan(&self, args: &[&str]) -> &Self {
        let out = self.try_plan(args);
        assert!(
            out.success() && out.stderr.is_empty(),
            "sprout plan failed:\n{out}"
        );
        self
    }

    /// `sprout plan --rootfs ROOTFS ARGS... -o ROOTFS/plan`, its output.
    pub fn try_plan(&self, args: &[&str]) -> Output {
        let rootfs = self.rootfs();
        let mut cmd = sprout(&["plan", "--rootfs"]);
        cmd.arg(&rootfs).arg("-o").arg(rootfs.join("plan"));
        // Flags before `--`, the command after.
        match args.iter().position(|a| *a == "--") {
            Some(i) => cmd.args(&args[..i]).args(&args[i..]),
            None => cmd.args(args),
        };
        output(&mut cmd)
    }

    /// Writes `bytes` as the plan file.
    pub fn write_plan(&self, bytes: &[u8]) {
        fs::write(self.rootfs().join("plan"), bytes).expect("writing the plan");
    }

    /// The container command line: `init`'s argv, then `cmd`.
    pub fn command(&self, init: Init, cmd: &[&str]) -> Command {
        let mut argv = init.argv();
        argv.extend(cmd.iter().map(|s| s.to_string()));
        self.command_raw(&argv)
    }

    /// `unshare ... --root=ROOTFS argv...` with a small clean environment.
    pub fn command_raw(&self, argv: &[String]) -> Command {
        let mut c = Command::new("unshare");
        c.args([
            "--pid",
            "--fork",
            "--kill-child",
            "--mount",
            "--mount-proc",
            "--uts",
            "--ipc",
        ])
        .arg(format!("--root={}", self.rootfs().display()))
        .args(argv)
        .env_clear()
        .env("PATH", "/bin")
        .env("container", "sprout-systest")
        .stdin(Stdio::null());
        c
    }

    /// Runs `cmd` under `init` to completion.
    pub fn run(&self, init: Init, cmd: &[&str]) -> Output {
        output(&mut self.command(init, cmd))
    }

    /// Starts `cmd` under `init` in the background, reading stdout lines.
    pub fn spawn(&self, init: Init, cmd: &[&str]) -> Running {
        Running::start(self.command(init, cmd), format!("{init:?}"))
    }

    /// Starts the container command line `argv` in the background.
    pub fn spawn_raw(&self, argv: &[String]) -> Running {
        Running::start(self.command_raw(argv), argv.join(" "))
    }
}

/// A container running in the background: its stdout lines arrive on a
/// channel; the init's host pid is found as unshare's child. Killed (the
/// unshare process, by its own handle; `--kill-child` takes the rest) on drop.
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    pending: Vec<String>,
    what: String,
}

impl Running {
    fn start(mut cmd: Command, what: String) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
            pending: Vec::new(),
            what,
        }
    }

    /// Waits (up to `secs`) for a stdout line equal to `want`, also among
    /// the lines that arrived earlier and were not expected yet (signals
    /// may be handled in any order); panics with everything seen otherwise.
    pub fn expect_line(&mut self, want: &str, secs: u64) {
        if let Some(i) = self.pending.iter().position(|l| l == want) {
            self.pending.remove(i);
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l == want {
                        return;
                    }
                    self.pending.push(l);
                }
                Err(_) => panic!(
                    "{}: no line {want:?} within {secs}s; stdout so far: {:?}",
                    self.what, self.seen
                ),
            }
        }
    }

    /// The host pid of the container's PID 1 (unshare's only child).
    pub fn init_pid(&self) -> u32 {
        let unshare = self.child.id();
        let path = format!("/proc/{unshare}/task/{unshare}/children");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pid) = fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
            {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "{}: unshare ({unshare}) has no child",
                self.what
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `sig` (a name such as `TERM`) to the container's PID 1.
    pub fn signal_init(&self, sig: &str) {
        let pid = self.init_pid();
        let out = output(
            Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string()),
        );
        assert!(out.success(), "kill -{sig} {pid}:\n{out}");
    }

    /// Waits (up to `secs`) for the container to end; returns its exit
    /// code (unshare passes the init's on) and the remaining stdout lines.
    pub fn wait(mut self, secs: u64) -> (Option<i32>, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            match self.child.try_wait().expect("waiting for unshare") {
                Some(st) => break st,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                None => panic!(
                    "{}: still running after {secs}s; stdout: {:?}",
                    self.what, self.seen
                ),
            }
        };
        let mut rest = std::mem::take(&mut self.seen);
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            rest.push(l);
        }
        (status.code(), rest)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of a `Name:` line of /proc/PID/status text.
#[track_caller]
pub fn field(text: &str, name: &str) -> String {
    let prefix = format!("{name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name}: line in\n{text}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `path` exists below the rootfs.
pub fn exists_in(rootfs: &Path, path: &str) -> bool {
    rootfs.join(path.trim_start_matches('/')).exists()
}
