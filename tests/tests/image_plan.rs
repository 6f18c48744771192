//! Image plans compiled with `sprout plan --rootfs` and applied by
//! `sprout-init` in image mode: the privilege drop read back from
//! /proc/self/status, defaults that change nothing (as tini), and plans
//! that are corrupt or that the kernel refuses (one line on stderr, exit
//! 126 or 127, nothing run).

mod image_common;

use std::process::Command;

use image_common::{Image, Init, available_inits, field, have};
use sprout_systests::serde_json::json;
use sprout_systests::{Bundle, output, require_root, sprout, unique_id};

macro_rules! setup {
    ($test:expr) => {{
        require_root!();
        if !have("unshare") {
            eprintln!("!!!!! SKIPPED {}: no unshare(1) (util-linux)", $test);
            return;
        }
    }};
}

const STATUS: &str = "cat /proc/self/status; echo ---; cat /proc/1/status; echo ---; ulimit -n; ulimit -Hn; pwd; \
                      echo FOO=$FOO HOME=$HOME container=$container";

/// The drop: user `demo` (1000, groups 1000 and 2000 from
/// /etc/group), only CAP_NET_BIND_SERVICE, no_new_privs, NOFILE 100/200,
/// cwd /tmp, FOO=bar; the command comes from the plan. PID 1 runs with the
/// dropped identity too; the inherited environment is kept.
#[test]
fn privilege_drop_read_back() {
    setup!("privilege_drop_read_back");
    let image = Image::new();
    image.plan(&[
        "--user",
        "demo",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_BIND_SERVICE",
        "--no-new-privs",
        "--rlimit",
        "nofile=100:200",
        "--cwd",
        "/tmp",
        "--env",
        "FOO=bar",
        "--",
        "sh",
        "-c",
        STATUS,
    ]);
    let out =
        output(&mut image.command_raw(&["/sprout-init".into(), "--plan".into(), "/plan".into()]));
    assert_eq!(out.code(), Some(0), "{out}");
    let text = out.stdout_str();
    let parts: Vec<&str> = text.split("---\n").collect();
    let (me, init, rest) = (parts[0], parts[1], parts[2]);
    for status in [me, init] {
        assert_eq!(field(status, "Uid"), "1000 1000 1000 1000", "{out}");
        assert_eq!(field(status, "Gid"), "1000 1000 1000 1000", "{out}");
        assert_eq!(field(status, "Groups"), "1000 2000", "{out}");
        assert_eq!(field(status, "NoNewPrivs"), "1", "{out}");
        assert_eq!(field(status, "CapBnd"), "0000000000000400", "{out}");
    }
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(field(me, set), "0000000000000400", "{set}: {out}");
    }
    assert_eq!(field(init, "Name"), "sprout-init", "{out}");
    assert_eq!(
        rest, "100\n200\n/tmp\nFOO=bar HOME=/home/demo container=sprout-systest\n",
        "{out}"
    );
    eprintln!("sprout-init as PID 1: {} (VmRSS)", field(init, "VmRSS"));
}

/// A numeric user with an explicit group: exactly that group, HOME=/.
#[test]
fn numeric_user_and_group() {
    setup!("numeric_user_and_group");
    let image = Image::new();
    image.plan(&[
        "--user",
        "4242:extra",
        "--group-add",
        "7",
        "--",
        "sh",
        "-c",
        STATUS,
    ]);
    let out =
        output(&mut image.command_raw(&["/sprout-init".into(), "--plan".into(), "/plan".into()]));
    assert_eq!(out.code(), Some(0), "{out}");
    let text = out.stdout_str();
    assert_eq!(field(&text, "Uid"), "4242 4242 4242 4242", "{out}");
    assert_eq!(field(&text, "Gid"), "2000 2000 2000 2000", "{out}");
    assert_eq!(field(&text, "Groups"), "7 2000", "{out}");
    assert_eq!(field(&text, "CapEff"), "0000000000000000", "{out}");
    assert!(text.contains("HOME=/ "), "{out}");
}

/// A plan without options changes nothing: the command sees the same
/// identity, capabilities and limits as under tini and catatonit.
#[test]
fn default_plan_changes_nothing() {
    setup!("default_plan_changes_nothing");
    let image = Image::new();
    image.plan(&[]);
    let keys = [
        "Uid",
        "Gid",
        "Groups",
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
    ];
    let mut seen = Vec::new();
    for init in available_inits("default_plan_changes_nothing") {
        let out = image.run(init, &["sh", "-c", "cat /proc/self/status; ulimit -n; pwd"]);
        assert_eq!(out.code(), Some(0), "{init:?}: {out}");
        let text = out.stdout_str();
        let mut v: Vec<String> = keys.iter().map(|k| field(&text, k)).collect();
        v.extend(text.lines().rev().take(2).map(String::from));
        seen.push((init, v));
    }
    for w in seen.windows(2) {
        assert_eq!(w[0].1, w[1].1, "{:?} vs {:?}", w[0].0, w[1].0);
    }
}

/// Without `--cwd` the working directory is left as it is, as gosu and
/// su-exec leave it: no chdir, so a directory the dropped user may not
/// search is no error.
#[test]
fn default_cwd_is_left_alone() {
    setup!("default_cwd_is_left_alone");
    let image = Image::new();
    let private = image.rootfs().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    image.plan(&["--user", "demo"]);
    let argv: Vec<String> = [
        "--wd=/private",
        "/sprout-init",
        "--plan",
        "/plan",
        "--exec",
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["sh".into(), "-c".into(), "pwd; id -u".into()])
    .collect();
    let out = output(&mut image.command_raw(&argv));
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "/private\n1000\n", "{out}");
}

/// Runs the stub with `cmd` (which would create /tmp/ran) and checks the
/// failure: exit `code`, exactly one stderr line starting with `prefix`,
/// no stdout, and the command did not run.
#[track_caller]
fn refused(image: &Image, mut cmd: Command, code: i32, prefix: &str) {
    let out = output(&mut cmd);
    let err = out.stderr_str();
    assert_eq!(out.code(), Some(code), "{out}");
    assert!(
        err.starts_with(prefix) && err.ends_with('\n') && err.lines().count() == 1,
        "{out}"
    );
    assert_eq!(out.stdout_str(), "", "{out}");
    assert!(
        !image.rootfs().join("tmp/ran").exists(),
        "the command ran:\n{out}"
    );
}

fn stub_argv(cmd: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["/sprout-init", "--plan", "/plan", "--"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(cmd.iter().map(|s| s.to_string()));
    v
}

/// Missing, empty, truncated, garbled, future-version and controller-only
/// plans: `sprout-init: plan /plan: ...`, exit 126, nothing run.
#[test]
fn corrupt_plans_are_one_line_errors() {
    setup!("corrupt_plans_are_one_line_errors");
    let image = Image::new();
    let touch = ["touch", "/tmp/ran"];
    let argv = stub_argv(&touch);
    refused(
        &image,
        image.command_raw(&argv),
        126,
        "sprout-init: plan /plan: read: errno 2 (ENOENT)",
    );
    // A long plan path: the line is cut, but stays one line, with its
    // newline (it lost the newline before).
    let long = format!("/{}", "p".repeat(200));
    let mut argv_long = stub_argv(&touch);
    argv_long[2] = long.clone();
    refused(
        &image,
        image.command_raw(&argv_long),
        126,
        &format!("sprout-init: plan {}", &long[..40]),
    );
    image.plan(&["--user", "demo", "--env", "A=1"]);
    let good = std::fs::read(image.rootfs().join("plan")).unwrap();
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "truncated"),
        (b"#!/bin/sh\necho not a plan\n".to_vec(), "bad magic"),
        (good[..good.len() / 2].to_vec(), "truncated"),
        (good[..good.len() - 1].to_vec(), "truncated"),
        ([&good[..], b"x"].concat(), "bad length"),
    ];
    // The header alone, its length saying just that (sprout-init read it
    // again and again, at 100% CPU, before): with and without more bytes.
    let mut header = good[..12].to_vec();
    header[8..12].copy_from_slice(&12u32.to_le_bytes());
    cases.push((header.clone(), "truncated"));
    cases.push(([&header[..], b"garbage"].concat(), "bad length"));
    let mut future = good.clone();
    future[4] = 99;
    cases.push((future, "unsupported protocol version 99"));
    // Every flag bit set (the high ones are undefined).
    let mut garbled = good.clone();
    garbled[12..16].copy_from_slice(&[0xff; 4]);
    cases.push((garbled, "bad value"));
    // A controller's plan (SYNC | SETUP_ROOTFS): not for image mode.
    let mut ctl = good.clone();
    ctl[12] |= 0x80;
    ctl[13] |= 0x04;
    cases.push((ctl, "made for the sprout controller"));
    for (bytes, what) in cases {
        image.write_plan(&bytes);
        refused(
            &image,
            image.command_raw(&argv),
            126,
            &format!("sprout-init: plan /plan: {what}"),
        );
    }
}

/// Plans the kernel refuses, and commands that cannot run: a one-line
/// error naming the step, 127 for a missing command, 126 otherwise, and
/// nothing run (everything is applied before the fork).
#[test]
fn kernel_refusals() {
    setup!("kernel_refusals");
    let image = Image::new();
    let touch = ["touch", "/tmp/ran"];
    // A command that is not there, or not executable.
    image.plan(&[]);
    refused(
        &image,
        image.command_raw(&stub_argv(&["nope"])),
        127,
        "sprout-init: exec: errno 2 (ENOENT)",
    );
    refused(
        &image,
        image.command_raw(&stub_argv(&["/etc/passwd"])),
        126,
        "sprout-init: execve: errno 13 (EACCES)",
    );
    // A cwd that does not exist.
    image.plan(&["--cwd", "/nonexistent"]);
    refused(
        &image,
        image.command_raw(&stub_argv(&touch)),
        126,
        "sprout-init: chdir: errno 2 (ENOENT)",
    );
    // A capability that is not in the bounding set the runtime gave.
    if have("setpriv") {
        image.plan(&["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"]);
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--bounding-set",
            "-net_admin",
            "--inh-caps",
            "-net_admin",
            "--",
        ]);
        let inner = image.command_raw(&stub_argv(&touch));
        cmd.arg(inner.get_program())
            .args(inner.get_args())
            .env_clear()
            .env("PATH", "/bin:/usr/bin");
        refused(&image, cmd, 126, "sprout-init: capset: errno 1 (EPERM)");
    } else {
        eprintln!("!!!!! SKIPPED the bounding-set half of kernel_refusals: no setpriv(1)");
    }
    // A uid that is not mapped in the user namespace (only uid 0 is; gids
    // 0-65535, setgroups allowed): the maps are written from here, as a
    // runtime does, while the inner shell waits for them.
    image.plan(&["--user", "4242"]);
    let inner = image.command_raw(&stub_argv(&touch));
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--user",
        "--",
        "/bin/sh",
        "-c",
        "while ! grep -q . /proc/self/uid_map; do sleep 0.01; done; exec \"$@\"",
        "sh",
    ])
    .arg(inner.get_program())
    .args(inner.get_args())
    .env_clear()
    .env("PATH", "/bin:/usr/bin")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawning unshare --user");
    let pid = child.id();
    // unshare(1) execs the shell in the same process once the namespace exists.
    let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_link(format!("/proc/{pid}/ns/user")).map_or(true, |l| l == ours) {
        assert!(
            std::time::Instant::now() < deadline,
            "unshare --user did not unshare"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::fs::write(format!("/proc/{pid}/gid_map"), "0 0 65536\n").expect("writing gid_map");
    std::fs::write(format!("/proc/{pid}/uid_map"), "0 0 1\n").expect("writing uid_map");
    let out = child
        .wait_with_output()
        .expect("waiting for unshare --user");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert_eq!(
        err, "sprout-init: setresuid: errno 22 (EINVAL)\n",
        "{out:?}"
    );
    assert!(
        out.stdout.is_empty() && !image.rootfs().join("tmp/ran").exists(),
        "{out:?}"
    );
}

/// The stub-in-the-image as the entrypoint of a container run by sprout
/// itself (`process.args` = `/sprout-init --plan /plan -- ...`): it is the
/// container's PID 1 and applies the image plan inside.
#[test]
fn as_entrypoint_under_sprout_run() {
    require_root!();
    let image_init = Init::Sprout.host_binary().unwrap();
    let bundle = Bundle::busybox();
    std::fs::copy(&image_init, bundle.rootfs().join("sprout-init")).unwrap();
    let out = output(
        sprout(&["plan", "--rootfs"])
            .arg(bundle.rootfs())
            .args([
                "--user",
                "demo",
                "--cap-drop",
                "ALL",
                "--cap-add",
                "CHOWN",
                "-o",
            ])
            .arg(bundle.rootfs().join("plan")),
    );
    assert!(out.success(), "{out}");
    let caps = json!([
        "CAP_CHOWN",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_KILL"
    ]);
    bundle.config_mut(|c| {
        c["process"]["args"] = json!([
            "/sprout-init",
            "--plan",
            "/plan",
            "--",
            "sh",
            "-c",
            "echo pid=$$; grep -E '^(Uid|Groups|CapEff|CapAmb)' /proc/self/status; cat /proc/1/comm"
        ]);
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []});
    });
    let out = bundle.run(&unique_id("image-entry"));
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(
        out.stdout_str(),
        "pid=2\nUid:\t1000\t1000\t1000\t1000\nGroups:\t1000 2000 \nCapEff:\t0000000000000001\nCapAmb:\t0000000000000001\nsprout-init\n",
        "{out}"
    );
}

/// More inherited environment variables than the stub's old limit (4096):
/// a Kubernetes namespace's service links reach thousands. The command
/// gets them all, as under tini.
#[test]
fn thousands_of_inherited_variables() {
    setup!("thousands_of_inherited_variables");
    let image = Image::new();
    image.plan(&["--env", "A=1"]);
    let mut cmd = image.command_raw(&stub_argv(&["sh", "-c", "env | grep -c ^SVC_; echo A=$A"]));
    cmd.envs((0..5000).map(|i| (format!("SVC_{i}"), "10.0.0.1")));
    let out = output(&mut cmd);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "5000\nA=1\n", "{out}");
}
