//! Helpers for the `lifecycle_*` system tests: a private `--root` per
//! test ([`Rt`], every container in it deleted with `delete --force` and
//! the directory removed on drop), bundles from `common::busybox`, state
//! and cgroup probes.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sprout_systests::serde_json::{self, Value, json};
use sprout_systests::{Bundle, Output, output, sprout, unique_id};

pub use crate::common::busybox;

/// A private state root `/run/sprout-lt/<unique>`; on drop every
/// container under it is deleted (`delete --force`) and the root removed
/// (with sprout's bookkeeping in it: `.creating~`, `.spare~`).
pub struct Rt {
    /// The `--root` directory.
    pub root: PathBuf,
}

impl Rt {
    /// A fresh root for test `tag`.
    pub fn new(tag: &str) -> Rt {
        let root = PathBuf::from("/run/sprout-lt").join(unique_id(tag));
        Rt { root }
    }

    /// `--root` as a string.
    pub fn root_str(&self) -> String {
        self.root.to_string_lossy().into_owned()
    }

    /// A `Command` for `sprout --root ROOT <args>`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = sprout(&["--root", &self.root_str()]);
        c.args(args);
        c
    }

    /// `sprout --root ROOT <args>`, output captured (see [`run_files`]).
    pub fn sprout(&self, args: &[&str]) -> Output {
        run_files(&mut self.cmd(args))
    }

    /// [`Rt::sprout`] that must succeed; its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.sprout(args);
        assert!(out.success(), "expected success:\n{out}");
        out.stdout_str()
    }

    /// `sprout create --bundle B <extra...> ID`.
    pub fn create(&self, bundle: &Bundle, id: &str, extra: &[&str]) -> Output {
        let mut c = self.cmd(&["create", "--bundle"]);
        c.arg(bundle.dir()).args(extra).arg(id);
        run_files(&mut c)
    }

    /// `create` that must succeed.
    #[track_caller]
    pub fn create_ok(&self, bundle: &Bundle, id: &str) {
        let out = self.create(bundle, id, &[]);
        assert!(out.success(), "create failed:\n{out}");
    }

    /// The `state` JSON of `id`.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.sprout(&["state", id]);
        assert!(out.success(), "state failed:\n{out}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("state JSON: {e}\n{out}"))
    }

    /// The `status` of `id`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The pid `state` reports.
    #[track_caller]
    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().unwrap_or(0) as i32
    }

    /// Waits (at most 10 s) until `state` reports `status`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) {
        let start = Instant::now();
        loop {
            let st = self.state(id);
            if st["status"] == status {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "still not {status} after 10 s: {st}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The state directory of `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Ok(rd) = fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if is_bookkeeping(&id) {
                    continue;
                }
                let out = self.sprout(&["delete", "--force", &id]);
                if !out.success() {
                    eprintln!("cleanup: {out}");
                }
            }
        }
        let _ = fs::remove_dir_all(&self.root);
        // The shared parent too, once the last test is done with it.
        let _ = fs::remove_dir("/run/sprout-lt");
    }
}

/// Whether `name` in a `--root` is sprout's bookkeeping (`.creating~`
/// where creates build state directories, `.spare~` the pool of spare
/// ones), not a container: ids cannot contain `~`.
pub fn is_bookkeeping(name: &str) -> bool {
    name.contains('~')
}

/// The entries of `root` that are not bookkeeping ([`is_bookkeeping`]),
/// sorted; also checks that no half-built state directory is left in
/// `.creating~`. Empty when `root` does not exist.
#[track_caller]
pub fn root_containers(root: &Path) -> Vec<String> {
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let staging = names(&root.join(".creating~"));
    assert!(
        staging.is_empty(),
        "left in {}/.creating~: {staging:?}",
        root.display()
    );
    names(root)
        .into_iter()
        .filter(|n| !is_bookkeeping(n))
        .collect()
}

/// Runs `cmd` with stdout and stderr going to (unlinked) temporary files,
/// not pipes: a created container inherits the controller's stdio and
/// would hold pipes open. Killed after 60 s. What the command (and, until
/// it exits, anything that inherited them) wrote is returned.
pub fn run_files(cmd: &mut Command) -> Output {
    let command = format!("{cmd:?}");
    let tmp = |tag: &str| {
        let p = std::env::temp_dir().join(unique_id(tag));
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
            .expect("temp file");
        let _ = fs::remove_file(&p);
        f
    };
    let (out, err) = (tmp("lt-out"), tmp("lt-err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {command}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(st) => break Some(st),
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let read = |mut f: fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        let _ = f.rewind();
        let _ = f.read_to_end(&mut v);
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
        command,
    }
}

/// A busybox bundle for container `id` running `sh -c script` (no
/// terminal, writable root), then changed by `edit`.
pub fn sh_bundle(id: &str, script: &str, edit: impl FnOnce(&mut Value)) -> Bundle {
    busybox(id, |c| {
        c["process"]["args"] = json!(["sh", "-c", script]);
        c["root"]["readonly"] = json!(false);
        edit(c)
    })
}

/// The cgroup directories of cgroup path `path` (`/sprout/ID`) that exist
/// in any hierarchy under /sys/fs/cgroup.
pub fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    let mut found = Vec::new();
    let Ok(rd) = fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    for e in rd.flatten() {
        let d = e.path().join(rel);
        if d.is_dir() {
            found.push(d);
        }
    }
    found
}

/// Reads a cgroup v1 file `/sys/fs/cgroup/<ctrl>/<path>/<file>`, trimmed.
#[track_caller]
pub fn cg_read(ctrl: &str, path: &str, file: &str) -> String {
    let p = Path::new("/sys/fs/cgroup")
        .join(ctrl)
        .join(path.trim_start_matches('/'))
        .join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The pids in `/sys/fs/cgroup/<ctrl>/<path>/cgroup.procs`.
pub fn cg_procs(ctrl: &str, path: &str) -> Vec<i32> {
    let p = Path::new("/sys/fs/cgroup")
        .join(ctrl)
        .join(path.trim_start_matches('/'))
        .join("cgroup.procs");
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Whether `/proc/PID` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .map(|(_, r)| r.trim_start().chars().next().unwrap_or('?'))
        .unwrap_or('?');
    state != 'Z' && state != 'X'
}

/// Waits (at most `secs`) until `cond` holds; false on timeout.
pub fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a file to exist and be non-empty (at most `secs`); its text.
#[track_caller]
pub fn wait_file(path: &Path, secs: u64) -> String {
    assert!(
        wait_for(secs, || fs::metadata(path).is_ok_and(|m| m.len() > 0)),
        "{} did not appear in {secs} s",
        path.display()
    );
    // Give a writer a moment to finish the line.
    std::thread::sleep(Duration::from_millis(50));
    fs::read_to_string(path).unwrap_or_default()
}

/// Asserts nothing of container `id` is left: no state dir under `rt`, no
/// cgroup directory for `cgroup` in any hierarchy, no process referring
/// to it (see `common::processes_referring_to`).
#[track_caller]
pub fn assert_gone(rt: &Rt, bundle: &Bundle, id: &str, cgroup: &str) {
    assert!(
        !rt.dir(id).exists(),
        "state dir {} left",
        rt.dir(id).display()
    );
    let dirs = cgroup_dirs(cgroup);
    assert!(dirs.is_empty(), "cgroup dirs left: {dirs:#?}");
    assert!(
        wait_for(5, || crate::common::processes_referring_to(
            id,
            bundle.dir()
        )
        .is_empty()),
        "processes left: {:#?}",
        crate::common::processes_referring_to(id, bundle.dir())
    );
}

/// Runs `ps -o pid= --ppid PID`-free: the children of `pid` from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(n) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(stat) = fs::read_to_string(format!("/proc/{n}/stat"))
            && let Some((_, rest)) = stat.rsplit_once(')')
            && rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<i32>().ok())
                == Some(pid)
        {
            out.push(n);
        }
    }
    out
}

/// `sh -c script` on the host with stdin closed.
pub fn host_sh(script: &str) -> Output {
    output(
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null()),
    )
}

/// Foreground `run`s of `bundle` at once, one per ID, each with captured
/// stdio ([`run_files`]); their outputs in `ids` order.
pub fn run_concurrently(rt: &Rt, bundle: &Bundle, ids: &[String]) -> Vec<Output> {
    std::thread::scope(|s| {
        let hs: Vec<_> = ids
            .iter()
            .map(|id| {
                let mut c = rt.cmd(&["run", "--bundle"]);
                c.arg(bundle.dir()).arg(id);
                s.spawn(move || run_files(&mut c))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}
