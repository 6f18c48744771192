//! Helpers of the security and `linux.*` system tests (`cve_*.rs`,
//! `linux_*.rs`; each includes `mod common;` and `mod support;`):
//! the static `probe` helper copied into containers, containers run in
//! the background, optional commands (`create`, `exec`) detected at run
//! time, and the hashes of the host's sprout binaries.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sprout_systests::{Bundle, output, sprout, sprout_bin, sprout_init_bin, workspace_root};

/// Skips the calling test loudly (returns from it) with `why`.
#[macro_export]
macro_rules! skip {
    ($($why:tt)*) => {{
        eprintln!("!!!!! SKIPPED {}: {}", module_path!(), format!($($why)*));
        return;
    }};
}

/// The static `probe` helper (`tests/helpers/probe.c`), compiled with
/// `cc -static` into `target/systest/probe` when the source is newer;
/// `None` (the caller skips loudly) when there is no C compiler or static
/// libc. Built at most once per test process: its tests run in parallel
/// threads, and two builds into one file raced (one thread renamed the
/// other's half-written output into place: `probe: Permission denied`).
pub fn probe() -> Option<PathBuf> {
    static BUILT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_probe).clone()
}

fn build_probe() -> Option<PathBuf> {
    let src = workspace_root().join("tests/helpers/probe.c");
    let dir = workspace_root().join("target/systest");
    fs::create_dir_all(&dir).ok()?;
    let bin = dir.join("probe");
    let fresh = |b: &Path| {
        let (Ok(s), Ok(b)) = (fs::metadata(&src), fs::metadata(b)) else {
            return false;
        };
        s.modified().ok() <= b.modified().ok()
    };
    if fresh(&bin) {
        return Some(bin);
    }
    // Built under a private name, then renamed: tests run in parallel.
    let tmp = dir.join(format!("probe.{}", std::process::id()));
    let out = output(
        Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(&tmp)
            .arg(&src),
    );
    if !out.success() {
        eprintln!("cannot build the probe helper (cc -static):\n{out}");
        let _ = fs::remove_file(&tmp);
        return None;
    }
    fs::rename(&tmp, &bin).ok()?;
    Some(bin)
}

/// Copies the probe into `rootfs/bin/probe` (a real copy: `bin/` may hold
/// hard links to the template). Returns false (caller skips) without it.
pub fn install_probe(bundle: &Bundle) -> bool {
    let Some(p) = probe() else { return false };
    let dst = bundle.rootfs().join("bin/probe");
    let _ = fs::remove_file(&dst);
    fs::copy(&p, &dst).expect("copying the probe into the rootfs");
    true
}

/// `sprout create --bundle B ID`, asserted to succeed; its stdout and
/// stderr go to /dev/null (the waiting stub keeps them: not pipes a test
/// could wait on).
#[track_caller]
pub fn create_ok(bundle: &Bundle, id: &str) {
    let st = sprout(&["create", "--bundle"])
        .arg(bundle.dir())
        .arg(id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "sprout create: {st}");
}

/// Whether `sprout <sub>` is a command of this build (`sprout <sub>
/// --help` succeeds): `create`/`start`/`exec` arrive with other work.
pub fn has_command(sub: &str) -> bool {
    output(&mut sprout(&[sub, "--help"])).success()
}

/// A `sprout run` of `bundle` in the background with `--pid-file`;
/// output discarded unless `capture` (then piped, read by `wait`).
pub struct Background {
    /// The `sprout run` process.
    pub child: Child,
    /// The pid file.
    pub pid_file: PathBuf,
}

impl Background {
    /// Starts `sprout run --pid-file <bundle>/run.pid --bundle <bundle> <id>`.
    pub fn run(bundle: &Bundle, id: &str) -> Background {
        let pid_file = bundle.dir().join("run.pid");
        let child = sprout(&["run", "--pid-file"])
            .arg(&pid_file)
            .arg("--bundle")
            .arg(bundle.dir())
            .arg(id)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning sprout run");
        Background { child, pid_file }
    }

    /// The container process's host pid, once the pid file is there.
    #[track_caller]
    pub fn pid(&mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Ok(p) = fs::read_to_string(&self.pid_file)
                && let Ok(p) = p.trim().parse::<i32>()
            {
                return p;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                let out = self.finish_output(st);
                panic!("the background container ended before writing its pid file:\n{out}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no pid file after 30 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn finish_output(&mut self, st: std::process::ExitStatus) -> String {
        use std::io::Read;
        let mut o = String::new();
        let mut e = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            let _ = s.read_to_string(&mut o);
        }
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_string(&mut e);
        }
        format!("status: {st}\n--- stdout ---\n{o}--- stderr ---\n{e}")
    }

    /// Waits (at most `secs`) for the run to end; returns (exit code,
    /// stdout, stderr). Kills it (by its own handle) after the timeout.
    pub fn wait(mut self, secs: u64) -> (Option<i32>, String, String) {
        use std::io::Read;
        let mut out = self.child.stdout.take();
        let mut err = self.child.stderr.take();
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_string(&mut s);
            }
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
            s
        });
        let start = Instant::now();
        let code = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break st.code(),
                Ok(None) if start.elapsed() < Duration::from_secs(secs) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        (
            code,
            t_out.join().unwrap_or_default(),
            t_err.join().unwrap_or_default(),
        )
    }
}

/// The host's sprout binaries a container must never be able to change:
/// the controller under test, the stub next to it and `SPROUT_INIT_BIN`,
/// and the workspace's builds of both — each existing file once.
pub fn host_binaries() -> Vec<PathBuf> {
    let ws = workspace_root().join("target");
    let mut v = vec![
        sprout_bin(),
        sprout_bin().with_file_name("sprout-init"),
        sprout_init_bin(),
        ws.join("debug/sprout"),
        ws.join("debug/sprout-init"),
        ws.join("release/sprout"),
        ws.join("release/sprout-init"),
        ws.join("stub/sprout-init"),
    ];
    v.retain(|p| p.is_file());
    let mut seen = Vec::new();
    v.retain(|p| {
        let c = p.canonicalize().unwrap_or_else(|_| p.clone());
        let new = !seen.contains(&c);
        seen.push(c);
        new
    });
    v
}

/// (path, sha256) of each of [`host_binaries`] under test: only the ones
/// a container in this test could reach (the controller and stub under
/// test; other builds in the workspace may be rebuilt meanwhile).
pub fn tested_binary_hashes() -> Vec<(PathBuf, String)> {
    let mut v = vec![
        sprout_bin(),
        sprout_bin().with_file_name("sprout-init"),
        sprout_init_bin(),
    ];
    v.retain(|p| p.is_file());
    v.dedup();
    v.into_iter()
        .map(|p| (p.clone(), crate::common::sha256(&p)))
        .collect()
}

/// Adds a bind mount of the host directory `src` at `dest`.
pub fn bind(c: &mut sprout_systests::serde_json::Value, src: &Path, dest: &str) {
    c["mounts"].as_array_mut().expect("mounts is a list").push(
        sprout_systests::serde_json::json!({
            "destination": dest, "type": "bind", "source": src, "options": ["rbind"]
        }),
    );
}

/// Makes a FIFO at `path` (`mkfifo`).
pub fn mkfifo(path: &Path) {
    let out = output(Command::new("mkfifo").arg(path));
    assert!(out.success(), "{out}");
}

/// Writes an executable script `rootfs/<name>` with `text`.
pub fn script(bundle: &Bundle, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = bundle.rootfs().join(name.trim_start_matches('/'));
    let _ = fs::remove_file(&p);
    fs::write(&p, text).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Waits until `path` exists (at most `secs`); false on timeout.
pub fn wait_for(path: &Path, secs: u64) -> bool {
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() > Duration::from_secs(secs) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// The host's sprout-init must not be the file the kernel runs for a
/// container's stub: the stub runs from a sealed memfd.
pub fn is_memfd_exe(link: &str) -> bool {
    link.starts_with("/memfd:")
}

/// A process-group-free way to stop a background `sprout run`: SIGKILL
/// the container process by pid (the controller then exits with 137).
pub fn kill_pid(pid: i32) {
    let _ = output(Command::new("kill").args(["-KILL", &pid.to_string()]));
}

/// Like `common::sprout_with_fds`, through bash (dash takes single-digit
/// fd numbers only): `bash -c 'exec <redirections>; exec sprout <args>'`,
/// the fds inherited without `FD_CLOEXEC`.
pub fn sprout_with_fds(redirections: &str, args: &[&str]) -> sprout_systests::Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("exec {redirections}; exec \"$0\" \"$@\""))
        .arg(sprout_bin())
        .args(args);
    output(cmd.stdin(Stdio::null()))
}
