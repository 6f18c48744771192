//! Helpers shared by the `run_*` system tests (each test file includes this
//! module with `mod common;`, so not every item is used by every file).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sprout_systests::serde_json::{Value, json};
use sprout_systests::{
    Bundle, Output, assert_nothing_left, busybox_rootfs, output, sprout, sprout_bin,
};

/// Adds a new user namespace to `c` that maps container ids 0-65535 to
/// host ids 100000-165535 (`linux.uidMappings` and `gidMappings`).
pub fn add_user_namespace(c: &mut Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["uidMappings"] = map.clone();
    c["linux"]["gidMappings"] = map;
}

/// The environment variable every container gets (set by [`busybox`]) so
/// that a leftover container process can be found by its environment.
pub const MARKER: &str = "SPROUT_SYSTEST_ID";

/// A busybox bundle (default `sprout spec` config, no terminal) whose
/// config is then changed by `edit`; `process.env` also gets
/// `SPROUT_SYSTEST_ID=<id>`.
///
/// For speed, the rootfs's `bin/` (busybox and its ~270 applet symlinks)
/// is hard-linked from the template (`cp -al`); everything else is copied.
/// Tests must not write into `rootfs/bin` (replace files there by removing
/// them first), nor let the container do so: use
/// [`Bundle::busybox`] for that.
pub fn busybox(id: &str, edit: impl FnOnce(&mut Value)) -> Bundle {
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
    let out = output(sprout(&["spec", "--bundle"]).arg(bundle.dir()));
    assert!(out.success(), "`sprout spec` failed:\n{out}");
    bundle.config_mut(|c| {
        c["process"]["terminal"] = Value::Bool(false);
        push_env(c, &format!("{MARKER}={id}"));
        edit(c)
    });
    bundle
}

/// Appends an entry to `process.env`.
pub fn push_env(c: &mut Value, entry: &str) {
    c["process"]["env"]
        .as_array_mut()
        .expect("process.env is a list")
        .push(entry.into());
}

/// `process.args = ["sh", "-c", script]`.
pub fn sh(c: &mut Value, script: &str) {
    c["process"]["args"] = json!(["sh", "-c", script]);
}

/// Adds capability `cap` (`CAP_SYS_ADMIN`) to the bounding, effective and
/// permitted sets of `process.capabilities`.
pub fn add_cap(c: &mut Value, cap: &str) {
    for set in ["bounding", "effective", "permitted"] {
        c["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(cap.into());
    }
}

/// The user of the issue: uid/gid 1000 (`demo`), extra group 2000 only.
pub fn demo_user(c: &mut Value) {
    c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]});
}

/// The capabilities of the issue: `CAP_CHOWN` and `CAP_NET_BIND_SERVICE`
/// bounding/effective/permitted, `CAP_NET_BIND_SERVICE` inheritable and
/// ambient.
pub fn issue_caps(c: &mut Value) {
    let two = json!(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
    c["process"]["capabilities"] = json!({
        "bounding": two, "effective": two, "permitted": two,
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    });
}

/// Removes the namespace of type `kind` from `linux.namespaces`.
pub fn drop_namespace(c: &mut Value, kind: &str) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .expect("linux.namespaces is a list")
        .retain(|n| n["type"] != kind);
}

/// `sprout run` of the bundle; panics (showing everything) unless the run
/// left nothing behind (see [`assert_clean`]).
pub fn run(bundle: &Bundle, id: &str) -> Output {
    let out = bundle.run(id);
    assert_clean(bundle, id);
    out
}

/// Runs the bundle and returns its stdout, asserting exit status 0 and an
/// empty stderr.
#[track_caller]
pub fn run_ok(bundle: &Bundle, id: &str) -> String {
    let out = run(bundle, id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stderr_str(), "", "unexpected stderr:\n{out}");
    out.stdout_str()
}

/// The value of a `Name:` line of /proc/PID/status text, whitespace-trimmed.
#[track_caller]
pub fn status_field(text: &str, name: &str) -> String {
    let prefix = format!("{name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name}: line in\n{text}"))
        .trim()
        .to_string()
}

/// Lines of `text` after the line `marker` up to the next line starting
/// with `==` (sections printed by a container script with `echo ==name`).
#[track_caller]
pub fn section(text: &str, marker: &str) -> String {
    let mut lines = text.lines().skip_while(|l| *l != marker);
    assert!(lines.next().is_some(), "no {marker} in output:\n{text}");
    lines
        .take_while(|l| !l.starts_with("=="))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Panics unless nothing of the container `id` run from `bundle` is left on
/// the host: no mount point below the bundle, no mount of anything in the
/// bundle in this mount namespace, and no process whose command line or
/// environment names `id` or whose mount table mentions the bundle (a stub
/// or container process still alive in its own mount namespace).
#[track_caller]
pub fn assert_clean(bundle: &Bundle, id: &str) {
    assert_nothing_left(bundle.dir());
    let dir = bundle.dir().to_string_lossy().into_owned();
    let info = fs::read_to_string("/proc/self/mountinfo").expect("reading /proc/self/mountinfo");
    let host: Vec<&str> = info.lines().filter(|l| l.contains(&dir)).collect();
    assert!(host.is_empty(), "host mounts of {dir} left: {host:#?}");
    let left = processes_referring_to(id, bundle.dir());
    assert!(
        left.is_empty(),
        "processes of container {id} left:\n{}",
        left.join("\n")
    );
}

/// Descriptions of live processes (other than this one) whose command
/// line or environment contains `id`, or whose mountinfo mentions `dir`.
pub fn processes_referring_to(id: &str, dir: &Path) -> Vec<String> {
    let me = std::process::id().to_string();
    let dir = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        let p = e.path();
        let read =
            |f: &str| fs::read(p.join(f)).map(|b| String::from_utf8_lossy(&b).replace('\0', " "));
        // Zombies and processes gone meanwhile have nothing to read.
        let cmdline = read("cmdline").unwrap_or_default();
        let environ = read("environ").unwrap_or_default();
        let mountinfo = read("mountinfo").unwrap_or_default();
        if cmdline.contains(id) || environ.contains(id) || mountinfo.contains(&dir) {
            let state = read("stat").unwrap_or_default();
            found.push(format!("pid {name}: {} [{}]", cmdline.trim(), state.trim()));
        }
    }
    found
}

/// Asserts the run failed the way every configuration error must: exit
/// code 1, nothing on stdout, exactly one line on stderr, `sprout: ...`,
/// containing every one of `needles`; and nothing left behind. Returns the
/// message (without `sprout: `).
#[track_caller]
pub fn assert_one_line_error(out: &Output, needles: &[&str]) -> String {
    assert_eq!(out.code(), Some(1), "exit code:\n{out}");
    assert_eq!(out.stdout_str(), "", "stdout:\n{out}");
    let err = out.stderr_str();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "stderr must be exactly one line:\n{out}");
    assert!(err.ends_with('\n'), "stderr line not terminated:\n{out}");
    let msg = lines[0]
        .strip_prefix("sprout: ")
        .unwrap_or_else(|| panic!("no `sprout: ` prefix:\n{out}"));
    for n in needles {
        assert!(msg.contains(n), "error does not contain {n:?}:\n{out}");
    }
    msg.to_string()
}

/// Runs `sprout run` expecting a configuration error (see
/// [`assert_one_line_error`]); returns the message.
#[track_caller]
pub fn expect_error(bundle: &Bundle, id: &str, needles: &[&str]) -> String {
    let out = run(bundle, id);
    assert_one_line_error(&out, needles)
}

/// `sh -c 'exec <redirections>; exec sprout <args>'`: runs the controller
/// with extra fds opened by the shell without `FD_CLOEXEC` (so that they
/// are inherited through the exec), e.g. `redirections` = `3</etc/hostname`.
pub fn sprout_with_fds(redirections: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("exec {redirections}; exec \"$0\" \"$@\""))
        .arg(sprout_bin())
        .args(args);
    output(cmd.stdin(std::process::Stdio::null()))
}

/// The soft and hard limits of this process for the `/proc/self/limits`
/// line starting with `label` (e.g. `Max open files`); `None` = unlimited.
#[track_caller]
pub fn own_limit(label: &str) -> (Option<u64>, Option<u64>) {
    let text = fs::read_to_string("/proc/self/limits").expect("reading /proc/self/limits");
    let line = text
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label} in\n{text}"));
    let rest = &line[label.len()..];
    let mut f = rest.split_whitespace();
    let parse = |s: Option<&str>| match s {
        Some("unlimited") => None,
        Some(n) => Some(n.parse::<u64>().unwrap_or_else(|e| panic!("{line}: {e}"))),
        None => panic!("short line {line}"),
    };
    (parse(f.next()), parse(f.next()))
}

/// Whether this process has capability `bit` in its effective set.
pub fn have_cap(bit: u32) -> bool {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    u64::from_str_radix(&status_field(&text, "CapEff"), 16).is_ok_and(|m| m & (1 << bit) != 0)
}

/// The sha256 of a file (via `sha256sum`).
#[track_caller]
pub fn sha256(path: &Path) -> String {
    let out = output(Command::new("sha256sum").arg(path));
    assert!(out.success(), "{out}");
    out.stdout_str()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `sprout <args>` (no bundle), capturing its output.
pub fn sprout_cmd(args: &[&str]) -> Output {
    output(&mut sprout(args))
}

/// A host path that must never appear (the target of an escape attempt).
pub fn host_tmp_path(name: &str) -> PathBuf {
    PathBuf::from("/tmp").join(name)
}

/// Runs `cmd` (output captured as [`output`] does) in a new session whose
/// controlling terminal is a fresh pty, as a command typed in a terminal
/// would be; returns its output and what reached the terminal (see
/// [`sprout_systests::output_on_a_terminal`]).
pub fn output_on_a_terminal(cmd: &mut Command) -> (Output, String) {
    sprout_systests::output_on_a_terminal(cmd, false)
}

/// A shell script that prints, for the shell running it: whether it leads
/// its process group and its session (`leader` or the ids `pid pgrp
/// session`), its controlling terminal (`tty_nr`, 0: none), then whether
/// it can open `/dev/tty` (`tty: opened` or `tty: none`).
pub const SESSION_SCRIPT: &str = "read -r l < /proc/self/stat; set -- $l; \
     if [ \"$1\" = \"$5\" ] && [ \"$1\" = \"$6\" ]; then echo leader; else echo \"$1 $5 $6\"; fi; \
     echo \"tty_nr $7\"; \
     if echo from-the-container 2>/dev/null > /dev/tty; then echo 'tty: opened'; else echo 'tty: none'; fi";
