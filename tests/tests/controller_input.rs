//! Controller input and interruption (found by an attack pass): each bad
//! input is one line naming the flag or argument, exit 1, and leaves
//! nothing; a `create` killed at any moment leaves either nothing or a
//! container that `state` reports as `stopped` (or `created`, when it had
//! got that far) and a plain `delete` removes.

mod common;
mod lifecycle_util;

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::assert_one_line_error;
use lifecycle_util::*;
use sprout_systests::serde_json::json;
use sprout_systests::{Bundle, require_root, unique_id};

/// A bundle whose container would create `ran` in the bundle's `out/`
/// (bind-mounted), so that a run that should have failed is noticed.
fn marker_bundle(id: &str) -> Bundle {
    let b = sh_bundle(id, "touch /out/ran", |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/out", "type": "bind", "source": "out", "options": ["bind"]}));
    });
    fs::create_dir(b.dir().join("out")).unwrap();
    b
}

/// The entries of `rt`'s root but sprout's bookkeeping (empty when it
/// does not exist; see [`root_containers`]).
fn root_entries(rt: &Rt) -> Vec<String> {
    root_containers(&rt.root)
}

#[test]
fn log_into_a_missing_directory_is_an_error() {
    require_root!();
    let rt = Rt::new("ci-log");
    let id = unique_id("ci-log");
    let b = marker_bundle(&id);
    let log = b.dir().join("no-such-dir/log.json");
    let log_s = log.to_string_lossy().into_owned();
    let out = rt.sprout(&[
        "--log",
        &log_s,
        "--log-format",
        "json",
        "run",
        "--bundle",
        &b.dir().to_string_lossy(),
        &id,
    ]);
    let msg = assert_one_line_error(&out, &["--log", &log_s]);
    assert!(
        msg.ends_with("open: No such file or directory (ENOENT)"),
        "{msg}"
    );
    assert!(!b.dir().join("out/ran").exists(), "the container ran");
    assert!(!rt.dir(&id).exists(), "state dir left");
    assert!(cgroup_dirs(&format!("/sprout/{id}")).is_empty());
    // Any command, not only run.
    let out = rt.sprout(&["--log", &log_s, "list"]);
    assert_one_line_error(&out, &["--log", &log_s]);
    // An existing directory: the log file is made, the run works.
    let ok_log = b.dir().join("log.json");
    let out = rt.sprout(&[
        "--log",
        &ok_log.to_string_lossy(),
        "run",
        "--bundle",
        &b.dir().to_string_lossy(),
        &id,
    ]);
    assert!(out.success(), "{out}");
    assert!(ok_log.is_file());
    assert!(b.dir().join("out/ran").exists());
}

#[test]
fn an_overlong_id_names_the_id() {
    require_root!();
    let rt = Rt::new("ci-id");
    let b = marker_bundle("ci-id");
    let long = "x".repeat(256);
    for cmd in ["run", "create"] {
        let out = rt.sprout(&[cmd, "--bundle", &b.dir().to_string_lossy(), &long]);
        let msg = assert_one_line_error(
            &out,
            &["container id", "too long", "256 bytes", "at most 255"],
        );
        assert!(msg.len() < 120, "the line is short: {msg}");
    }
    for cmd in ["state", "delete", "start", "kill"] {
        let out = rt.sprout(&[cmd, &long]);
        assert_one_line_error(&out, &["container id", "too long"]);
    }
    assert!(!b.dir().join("out/ran").exists(), "the container ran");
    assert!(
        root_entries(&rt).is_empty(),
        "left in the root: {:?}",
        root_entries(&rt)
    );
    // 255 bytes is a valid id: state dir and cgroup are made and removed.
    let max = "y".repeat(255);
    let out = rt.sprout(&["run", "--bundle", &b.dir().to_string_lossy(), &max]);
    assert!(out.success(), "{out}");
    assert!(b.dir().join("out/ran").exists());
    assert!(
        root_entries(&rt).is_empty(),
        "left in the root: {:?}",
        root_entries(&rt)
    );
}

/// SIGKILLs `sprout create` after `delay`; then either nothing of the
/// container exists, or `state` says `stopped` (or `created`) and a plain
/// `delete` removes everything.
fn kill_create_early(rt: &Rt, b: &Bundle, id: &str, delay: Duration) {
    let mut c = rt.cmd(&["create", "--bundle"]);
    c.arg(b.dir())
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    while start.elapsed() < delay {
        std::thread::sleep(Duration::from_micros(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    if rt.dir(id).exists() {
        assert!(
            rt.dir(id).join("state.json").is_file(),
            "after {delay:?}: a state dir without a state file"
        );
        // Stopped when it died mid-way; created when it had saved that
        // already. Not `creating` once the create is gone (its lock can
        // outlive it for a moment in its clone, until that execs).
        let settled = || matches!(rt.status(id).as_str(), "stopped" | "created");
        assert!(wait_for(5, settled), "after {delay:?}: {}", rt.state(id));
        let out = rt.sprout(&["delete", id]);
        assert!(out.success(), "after {delay:?}: delete failed:\n{out}");
    } else {
        let out = rt.sprout(&["state", id]);
        let msg = assert_one_line_error(&out, &[]);
        assert_eq!(msg, format!("container \"{id}\" does not exist"));
    }
    assert_gone(rt, b, id, &format!("/sprout/{id}"));
}

#[test]
fn a_create_killed_early_is_stopped_or_absent() {
    require_root!();
    let rt = Rt::new("ci-kill");
    let id = unique_id("ci-kill");
    let b = sh_bundle(&id, "sleep 600", |_| {});
    for us in [0, 300, 600, 1000, 1500, 2000, 3000, 4000, 6000, 9000] {
        kill_create_early(&rt, &b, &id, Duration::from_micros(us));
    }
    // A create after all that works, and leaves only its container.
    rt.create_ok(&b, &id);
    assert_eq!(root_entries(&rt), vec![id.clone()]);
    rt.ok(&["delete", "--force", &id]);
    assert!(
        root_entries(&rt).is_empty(),
        "left in the root: {:?}",
        root_entries(&rt)
    );
}

#[test]
fn a_create_killed_in_a_hook_is_stopped_and_delete_removes_it() {
    require_root!();
    let rt = Rt::new("ci-hook");
    let id = unique_id("ci-hook");
    let marker = std::env::temp_dir().join(unique_id("ci-hook-started"));
    let b = sh_bundle(&id, "sleep 600", |c| {
        c["hooks"] = json!({"prestart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("touch {}; exec sleep 600", marker.display())],
        }]});
    });
    let mut c = rt.cmd(&["create", "--bundle"]);
    c.arg(b.dir())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    assert!(wait_for(20, || marker.exists()), "the hook never ran");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        wait_for(5, || rt.status(&id) == "stopped"),
        "{}",
        rt.state(&id)
    );
    assert_eq!(rt.pid(&id), 0, "a stopped container reports pid 0");
    let out = rt.sprout(&["delete", &id]);
    assert!(out.success(), "{out}");
    assert_gone(&rt, &b, &id, &format!("/sprout/{id}"));
    let _ = fs::remove_file(&marker);
}

#[test]
fn a_umask_above_0777_names_the_field() {
    require_root!();
    let rt = Rt::new("ci-umask");
    let id = unique_id("ci-umask");
    let b = marker_bundle(&id);
    b.config_mut(|c| c["process"]["user"]["umask"] = json!(0o1022));
    let out = rt.sprout(&["run", "--bundle", &b.dir().to_string_lossy(), &id]);
    let msg = assert_one_line_error(&out, &["process.user.umask"]);
    assert_eq!(
        msg,
        "process.user.umask 0o1022: out of range (at most 0o777)"
    );
    assert!(!b.dir().join("out/ran").exists(), "the container ran");
    assert!(
        root_entries(&rt).is_empty(),
        "left in the root: {:?}",
        root_entries(&rt)
    );
    assert!(cgroup_dirs(&format!("/sprout/{id}")).is_empty());
    // The same for an exec'd process (`--process`, as podman passes it).
    let sleeper = sh_bundle(&id, "sleep 600", |_| {});
    rt.create_ok(&sleeper, &id);
    let process = sleeper.dir().join("process.json");
    fs::write(
        &process,
        r#"{"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0, "umask": 4095}}"#,
    )
    .unwrap();
    let out = rt.sprout(&["exec", "--process", &process.to_string_lossy(), &id]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert_eq!(
        out.stderr_str(),
        "sprout: exec failed: process.user.umask 0o7777: out of range (at most 0o777)\n"
    );
    rt.ok(&["delete", "--force", &id]);
}

/// `cmd` run with stderr a pipe whose reading end is already closed (a
/// client that stopped reading): every write to it fails with `EPIPE`.
fn status_with_stderr_closed(cmd: &mut std::process::Command) -> std::process::ExitStatus {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(Stdio::null())
        .stderr(writer)
        .status()
        .expect("running sprout")
}

/// A closed stderr neither aborts a command nor changes its exit code:
/// an error still exits 1 and reaches the `--log` file, and a warning in
/// the middle of a foreground `run` (a failing poststart hook) does not
/// stop it before its clean-up. `eprintln!` panicked on the failed write
/// (and panics abort): exit 134, no log line, state dir and cgroup left.
#[test]
fn a_closed_stderr_neither_aborts_nor_loses_the_log() {
    require_root!();
    let rt = Rt::new("ci-epipe");
    let id = unique_id("ci-epipe");
    let b = marker_bundle(&id);
    let log = b.dir().join("log.txt");
    let log_s = log.to_string_lossy().into_owned();
    let st = status_with_stderr_closed(&mut rt.cmd(&["--log", &log_s, "state", &id]));
    assert_eq!(st.code(), Some(1), "{st:?}");
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains(&format!("container \"{id}\" does not exist")),
        "log: {text:?}"
    );
    b.config_mut(|c| {
        c["hooks"] = json!({"poststart": [{"path": "/bin/false", "args": ["false"]}]});
    });
    let st = status_with_stderr_closed(&mut rt.cmd(&[
        "--log",
        &log_s,
        "run",
        "--bundle",
        &b.dir().to_string_lossy(),
        &id,
    ]));
    assert_eq!(st.code(), Some(0), "{st:?}");
    assert!(
        b.dir().join("out/ran").exists(),
        "the container did not run"
    );
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("poststart"), "log: {text:?}");
    assert!(
        root_entries(&rt).is_empty(),
        "left in the root: {:?}",
        root_entries(&rt)
    );
    assert!(cgroup_dirs(&format!("/sprout/{id}")).is_empty());
}

/// The host pid of the first child of `parent` whose command line is
/// `cmdline` (NULs as spaces, trimmed), waiting up to 10 s for it.
fn child_running(parent: i32, cmdline: &str) -> i32 {
    let mut found = None;
    let seen = wait_for(10, || {
        found = children_of(parent).into_iter().find(|&p| {
            fs::read(format!("/proc/{p}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .is_ok_and(|c| c.trim() == cmdline)
        });
        found.is_some()
    });
    assert!(seen, "no child {cmdline:?} of {parent}");
    found.unwrap()
}

/// SIGKILLs a foreground `sprout run` of `b` once its process runs; that
/// process must die with it.
fn kill_foreground_run(rt: &Rt, b: &Bundle, id: &str, what: &str) {
    let mut run = rt.cmd(&["run", "--bundle"]);
    run.arg(b.dir())
        .arg(id)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = run.spawn().unwrap();
    let pid = child_running(child.id() as i32, "sleep 607");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        wait_for(5, || !alive(pid)),
        "the container process {pid} ({what}) outlived its foreground run"
    );
    rt.ok(&["delete", "--force", id]);
    assert_gone(rt, b, id, &format!("/sprout/{id}"));
}

/// A SIGKILLed foreground `run` or `exec` takes its process along, also
/// when that process is not root or in a user namespace: the kernel
/// clears the stub's parent-death signal at the switch to another uid
/// (and at the stub's exec into a new user namespace), and the container
/// process (or the exec'd one) used to keep running without its
/// controller.
#[test]
fn a_killed_foreground_run_or_exec_takes_a_non_root_process_along() {
    require_root!();
    let rt = Rt::new("ci-pdeath");
    let id = unique_id("ci-pdeath");
    let b = sh_bundle(&id, "exec sleep 607", |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    kill_foreground_run(&rt, &b, &id, "uid 1000");
    let b = sh_bundle(&id, "exec sleep 607", |c| {
        common::add_user_namespace(c);
        c["root"]["readonly"] = json!(true);
    });
    kill_foreground_run(&rt, &b, &id, "root in a user namespace");

    // exec -u 1000 into a (root) container.
    let b = sh_bundle(&id, "sleep 608", |_| {});
    rt.create_ok(&b, &id);
    rt.ok(&["start", &id]);
    let mut exec = rt.cmd(&["exec", "-u", "1000:1000", &id, "sleep", "609"]);
    exec.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = exec.spawn().unwrap();
    let pid = child_running(child.id() as i32, "sleep 609");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        wait_for(5, || !alive(pid)),
        "the exec'd process {pid} outlived its exec"
    );
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &b, &id, &format!("/sprout/{id}"));
}
