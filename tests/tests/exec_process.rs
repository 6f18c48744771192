//! `sprout exec` into a started busybox container: the exec process's
//! output and exit status, identity, cwd, env, `--process`, capabilities,
//! no_new_privs, rlimits, and the error wording podman maps to exit codes.

mod common;
#[macro_use]
mod exec_util;

use exec_util::{Container, status_field};
use sprout_systests::serde_json::json;
use sprout_systests::{require_root, unique_id};

#[test]
fn output_and_exit_status() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-status"), |_| {});
    let out = c.exec(&[], &["sh", "-c", "echo out; echo err >&2; exit 5"]);
    assert_eq!(out.code(), Some(5), "{out}");
    assert_eq!(out.stdout_str(), "out\n", "{out}");
    assert_eq!(out.stderr_str(), "err\n", "{out}");
    assert_eq!(c.exec_ok(&[], &["echo", "hello", "world"]), "hello world\n");
    // A death by signal N is 128+N.
    let out = c.exec(&[], &["sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.code(), Some(137), "{out}");
    // The container is still running afterwards.
    assert_eq!(c.state()["status"], "running");
}

#[test]
fn stdin_is_passed_through() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-stdin"), |_| {});
    let mut cmd = sprout_systests::sprout(&["--root", exec_util::ROOT, "exec", &c.id, "cat"]);
    let dir = c.bundle.dir().join("in.txt");
    std::fs::write(&dir, "from stdin\n").unwrap();
    cmd.stdin(std::fs::File::open(&dir).unwrap());
    let out = sprout_systests::output(&mut cmd);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "from stdin\n", "{out}");
}

#[test]
fn user_and_group() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-user"), |_| {});
    assert_eq!(
        c.exec_ok(&["--user", "1000:1000"], &["id"]),
        "uid=1000(demo) gid=1000(demo)\n"
    );
    // Only a uid: the gid stays the config's (0).
    assert_eq!(c.exec_ok(&["-u", "1000"], &["id", "-u"]), "1000\n");
    assert_eq!(c.exec_ok(&["-u", "1000"], &["id", "-g"]), "0\n");
    // HOME comes from the rootfs's passwd for the exec user.
    assert_eq!(
        c.exec_ok(&["-u", "1000:1000"], &["sh", "-c", "echo $HOME"]),
        "/home/demo\n"
    );
    assert_eq!(c.exec_ok(&[], &["sh", "-c", "echo $HOME"]), "/root\n");
    let out = c.exec(&["--user", "x"], &["id"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(
        out.stderr_str()
            .starts_with("sprout: exec failed: --user \"x\""),
        "{out}"
    );
}

#[test]
fn additional_gids() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-gids"), |_| {});
    let got = c.exec_ok(
        &["-u", "1000:1000", "--additional-gids", "2000", "-g", "3000"],
        &["id", "-G"],
    );
    assert_eq!(got, "1000 2000 3000\n");
    let status = c.exec_ok(
        &["-u", "1000:1000", "-g", "2000,3000"],
        &["cat", "/proc/self/status"],
    );
    assert_eq!(status_field(&status, "Groups"), "2000 3000");
    // None given: none at all (not the controller's).
    let status = c.exec_ok(&["-u", "1000:1000"], &["cat", "/proc/self/status"]);
    assert_eq!(status_field(&status, "Groups"), "");
}

#[test]
fn cwd() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-cwd"), |_| {});
    assert_eq!(c.exec_ok(&["--cwd", "/tmp"], &["pwd"]), "/tmp\n");
    assert_eq!(c.exec_ok(&[], &["pwd"]), "/\n");
    let out = c.exec(&["--cwd", "/nonexistent"], &["pwd"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert_eq!(
        out.stderr_str(),
        "sprout: exec failed: process.cwd \"/nonexistent\": chdir: No such file or directory (ENOENT)\n"
    );
    let out = c.exec(&["--cwd", "tmp"], &["pwd"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(
        out.stderr_str().contains("must be an absolute path"),
        "{out}"
    );
}

#[test]
fn env_overrides_the_config() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-env"), |c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("FOO=config"));
    });
    let got = c.exec_ok(
        &["--env", "FOO=flag", "-e", "NEW=1", "-e", "TERM=dumb"],
        &["sh", "-c", "echo $FOO $NEW $TERM; env | grep -c '^FOO='"],
    );
    assert_eq!(got, "flag 1 dumb\n1\n");
    assert_eq!(
        c.exec_ok(&[], &["sh", "-c", "echo $FOO $TERM"]),
        "config xterm\n"
    );
    let out = c.exec(&["-e", "NOEQUALS"], &["true"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(
        out.stderr_str().contains("\"NOEQUALS\": missing '='"),
        "{out}"
    );
}

/// `--process FILE` replaces the config's process entirely (other flags
/// about the process are ignored, as runc does).
#[test]
fn process_file() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-procfile"), |c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("FOO=config"));
    });
    let file = c.bundle.dir().join("process.json");
    let p = json!({
        "args": ["sh", "-c", "id; pwd; echo FOO=$FOO BAR=$BAR; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; exit 7"],
        "env": ["PATH=/bin", "BAR=file"],
        "cwd": "/tmp",
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [2000]},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
        "noNewPrivileges": true,
        "terminal": false
    });
    std::fs::write(&file, p.to_string()).unwrap();
    let out = c.exec(
        &["--process", file.to_str().unwrap(), "-e", "FOO=ignored"],
        &[],
    );
    assert_eq!(out.code(), Some(7), "{out}");
    let got = out.stdout_str();
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(
        lines[0], "uid=1000(demo) gid=1000(demo) groups=2000(extra)",
        "{out}"
    );
    assert_eq!(lines[1], "/tmp", "{out}");
    assert_eq!(lines[2], "FOO= BAR=file", "{out}");
    // uid 1000 without ambient capabilities: nothing effective.
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["CapEff:", "0000000000000000"],
        "{out}"
    );
    assert_eq!(
        lines[4].split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"],
        "{out}"
    );

    std::fs::write(
        &file,
        r#"{"args": ["true"], "cwd": "/", "user": {"uid": "root"}}"#,
    )
    .unwrap();
    let out = c.exec(&["-p", file.to_str().unwrap()], &[]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(
        out.stderr_str().contains("process.user.uid: invalid type"),
        "{out}"
    );
}

#[test]
fn cap_adds_to_bounding_effective_permitted() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-cap"), |_| {});
    let mask = |text: &str, f: &str| u64::from_str_radix(&status_field(text, f), 16).unwrap();
    let base = c.exec_ok(&[], &["cat", "/proc/self/status"]);
    let with = c.exec_ok(
        &["--cap", "CAP_SYS_ADMIN", "--cap", "CAP_NET_RAW"],
        &["cat", "/proc/self/status"],
    );
    let added = (1u64 << 21) | (1u64 << 13);
    for f in ["CapBnd", "CapEff", "CapPrm"] {
        assert_eq!(mask(&base, f) & added, 0, "{f} before: {base}");
        assert_eq!(mask(&with, f), mask(&base, f) | added, "{f}: {with}");
    }
    // Not inheritable in the config: not ambient either.
    assert_eq!(mask(&with, "CapAmb"), 0, "{with}");
    assert_eq!(mask(&with, "CapInh"), 0, "{with}");
    // Names runc does not know are ignored with a warning, as runc does:
    // `sys_admin` is not CAP_SYS_ADMIN's spelling and grants nothing.
    let out = c.exec(
        &["--cap", "CAP_NOPE", "--cap", "sys_admin"],
        &["cat", "/proc/self/status"],
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(
        out.stderr_str(),
        "sprout: warning: --cap: ignoring unknown capabilities: \"CAP_NOPE\", \"sys_admin\"\n"
    );
    assert_eq!(
        mask(&out.stdout_str(), "CapEff"),
        mask(&base, "CapEff"),
        "{out}"
    );
}

#[test]
fn cap_is_ambient_when_inheritable() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-ambient"), |c| {
        c["process"]["capabilities"]["inheritable"] = json!(["CAP_NET_RAW"]);
        c["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_NET_RAW"));
    });
    let with = c.exec_ok(
        &["-u", "1000:1000", "--cap", "CAP_NET_RAW"],
        &["cat", "/proc/self/status"],
    );
    let mask = |f: &str| u64::from_str_radix(&status_field(&with, f), 16).unwrap();
    assert_eq!(mask("CapAmb"), 1 << 13, "{with}");
    // A non-root user keeps exactly the ambient set.
    assert_eq!(mask("CapEff"), 1 << 13, "{with}");
}

#[test]
fn no_new_privs() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-nnp"), |c| {
        c["process"]["noNewPrivileges"] = json!(false)
    });
    let nnp = |flags: &[&str]| {
        let s = c.exec_ok(flags, &["cat", "/proc/self/status"]);
        status_field(&s, "NoNewPrivs")
    };
    assert_eq!(nnp(&[]), "0");
    assert_eq!(nnp(&["--no-new-privs"]), "1");
}

/// The config's rlimits apply to the exec process (prlimit on the process
/// that runs the command, after the pid-namespace fork).
#[test]
fn rlimits_from_the_config() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-rlimit"), |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]);
    });
    assert_eq!(
        c.exec_ok(&[], &["sh", "-c", "ulimit -n; ulimit -Hn"]),
        "123\n456\n"
    );
}

/// runc's words, which podman maps: "executable file not found" and "no
/// such file or directory" give 127, "permission denied" 126.
#[test]
fn start_errors_keep_runc_words() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-notfound"), |_| {});
    let out = c.exec(&[], &["nosuchcommand"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert_eq!(out.stdout_str(), "", "{out}");
    assert_eq!(
        out.stderr_str(),
        "sprout: exec failed: process.args[0] \"nosuchcommand\": executable file not found in $PATH\n"
    );
    let out = c.exec(&[], &["/bin/nosuch"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(
        out.stderr_str().contains("no such file or directory"),
        "{out}"
    );
    std::fs::write(c.bundle.rootfs().join("tmp/noexec"), "#!/bin/sh\n").unwrap();
    let out = c.exec(&[], &["/tmp/noexec"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(out.stderr_str().contains("permission denied"), "{out}");
    // Nothing of the failed attempts is left in the container.
    let ps = c.exec_ok(&[], &["ps", "-o", "pid,args"]);
    assert_eq!(ps.lines().count(), 3, "header, sleep and ps only:\n{ps}");
}

/// More arguments than sprout-init passes to execve (131072, 2^17): one
/// line that names process.args and the limit, before anything runs;
/// 131072 work (and 5000 environment variables, a Kubernetes namespace's
/// service links: the limit was 4096 before).
#[test]
fn too_many_arguments_is_a_clear_error() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-argmax"), |_| {});
    let vars: Vec<String> = (0..5000).map(|i| format!("SVC_{i}=10.0.0.1")).collect();
    let mut flags = vec![];
    for v in &vars {
        flags.extend(["--env", v.as_str()]);
    }
    let out = c.exec(&flags, &["sh", "-c", "env | grep -c ^SVC_"]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str().trim(), "5000", "{out}");
    let mut argv = vec!["true"];
    argv.extend(std::iter::repeat_n("x", 131071));
    let out = c.exec(&[], &argv);
    assert_eq!(out.code(), Some(0), "{out}");
    argv.push("x");
    let out = c.exec(&[], &argv);
    assert_eq!(out.code(), Some(255), "{out}");
    assert_eq!(
        out.stderr_str(),
        "sprout: exec failed: process.args: 131073 arguments; sprout-init passes at most 131072\n"
    );
    assert_eq!(c.state()["status"], "running");
}

#[test]
fn errors_about_the_container() {
    require_root!();
    require_lifecycle!();
    let out = exec_util::sprout_root(&["exec", &unique_id("exec-none"), "true"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(
        out.stderr_str()
            .starts_with("sprout: exec failed: container \""),
        "{out}"
    );
    assert!(out.stderr_str().ends_with("\" does not exist\n"), "{out}");

    let c = Container::started(&unique_id("exec-stopped"), |c| {
        c["process"]["args"] = json!(["true"])
    });
    c.wait_status("stopped");
    let out = c.exec(&[], &["echo", "hi"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert_eq!(
        out.stderr_str(),
        "sprout: exec failed: cannot exec in a stopped container\n"
    );

    let c = Container::started(&unique_id("exec-noargs"), |_| {});
    let out = c.exec(&[], &[]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(
        out.stderr_str().contains("process args cannot be empty"),
        "{out}"
    );
    for (flag, v) in [
        ("--apparmor", "prof"),
        ("--process-label", "system_u:system_r:x"),
    ] {
        let out = c.exec(&[flag, v], &["true"]);
        assert_eq!(out.code(), Some(255), "{out}");
        assert!(out.stderr_str().contains("not supported"), "{out}");
    }
    // Empty values are accepted (as podman may pass them).
    c.exec_ok(&["--apparmor", "", "--process-label", ""], &["true"]);
}

/// A created (not yet started) container accepts exec, as runc's does.
#[test]
fn exec_in_a_created_container() {
    require_root!();
    require_lifecycle!();
    let c = Container::created(&unique_id("exec-created"), |_| {});
    assert_eq!(c.exec_ok(&[], &["echo", "hi"]), "hi\n");
    assert_eq!(c.state()["status"], "created");
}

/// `--log-format json --log FILE`: the failure is also a JSON line there.
#[test]
fn failure_is_logged_as_json() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-log"), |_| {});
    let log = c.bundle.dir().join("log.json");
    let out = sprout_systests::output(
        sprout_systests::sprout(&["--root", exec_util::ROOT, "--log-format=json", "--log"])
            .arg(&log)
            .args(["exec", &c.id, "nosuch"]),
    );
    assert_eq!(out.code(), Some(255), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let line: sprout_systests::serde_json::Value =
        sprout_systests::serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(
        line["msg"],
        "exec failed: process.args[0] \"nosuch\": executable file not found in $PATH"
    );
}

/// A paused container refuses exec (runc's words); with `--ignore-paused`
/// the process joins the frozen cgroup and runs once `resume` thaws it.
#[test]
fn paused_container() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-paused"), |_| {});
    let out = exec_util::sprout_root(&["pause", &c.id]);
    assert!(out.success(), "{out}");
    let out = c.exec(&[], &["echo", "hi"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert_eq!(
        out.stderr_str(),
        "sprout: exec failed: cannot exec in a paused container (use --ignore-paused to override)\n"
    );
    let child = sprout_systests::sprout(&[
        "--root",
        exec_util::ROOT,
        "exec",
        "--ignore-paused",
        &c.id,
        "echo",
        "thawed",
    ])
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = exec_util::sprout_root(&["resume", &c.id]);
    assert!(out.success(), "{out}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "thawed\n");
}
