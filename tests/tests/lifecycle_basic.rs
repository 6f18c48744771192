//! System tests of the lifecycle commands: create/start/state/kill/delete
//! sequences and their errors, run (foreground and -d), list, ps, pid
//! files, the default root, concurrent creates, JSON log lines, global
//! flags, features and --version.

mod common;
mod lifecycle_util;

use std::fs;
use std::path::Path;

use lifecycle_util::*;
use sprout_systests::serde_json::{self, Value, json};
use sprout_systests::{Bundle, Output, output, require_root, sprout, unique_id};

/// A container script that records the signals it gets (pid 1 only gets
/// signals it has handlers for) in /tmp/sigs and exits 7 on TERM.
const TRAPS: &str = "for s in HUP USR1 USR2 INT; do trap \"echo $s >> /tmp/sigs\" $s; done; \
                     trap 'echo TERM >> /tmp/sigs; exit 7' TERM; \
                     echo ready > /tmp/ready; while true; do sleep 0.05; done";

#[test]
fn create_start_state_kill_delete() {
    require_root!();
    let rt = Rt::new("basic");
    let id = unique_id("lt-basic");
    let bundle = sh_bundle(&id, TRAPS, |c| {
        c["annotations"] = json!({"org.example.k": "v"});
    });
    // --pid-file relative to the caller's cwd.
    let cwd = bundle.dir().join("cwd");
    fs::create_dir(&cwd).unwrap();
    let out = run_files(
        rt.cmd(&["create", "--bundle"])
            .arg(bundle.dir())
            .args(["--pid-file", "pid"])
            .arg(&id)
            .current_dir(&cwd),
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout_str(), "", "{out}");

    let st = rt.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], id.as_str());
    // The config's own `ociVersion` (runc's state and hooks report it).
    assert_eq!(st["ociVersion"], bundle.config()["ociVersion"]);
    assert_eq!(st["bundle"], bundle.dir().to_str().unwrap());
    assert_eq!(st["rootfs"], bundle.rootfs().to_str().unwrap());
    assert_eq!(st["owner"], "root");
    assert_eq!(st["annotations"]["org.example.k"], "v");
    assert!(st["created"].as_str().unwrap().ends_with('Z'), "{st}");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0 && alive(pid), "{st}");
    let pid_file = fs::read_to_string(cwd.join("pid")).unwrap();
    assert_eq!(
        pid_file,
        pid.to_string(),
        "pid file: no trailing newline, the state's pid"
    );
    // Pretty-printed like runc's state.
    let text = rt.ok(&["state", &id]);
    assert!(text.starts_with("{\n  \"ociVersion\""), "{text}");
    // The process has not run yet.
    assert!(!bundle.rootfs().join("tmp/ready").exists());
    assert!(rt.dir(&id).join("start.sock").exists());

    rt.ok(&["start", &id]);
    assert_eq!(rt.status(&id), "running");
    wait_file(&bundle.rootfs().join("tmp/ready"), 10);
    assert!(
        !rt.dir(&id).join("start.sock").exists(),
        "start.sock removed by start"
    );
    assert_eq!(rt.pid(&id), pid, "the same process runs the command");

    // Default signal: TERM (handled: exits 7).
    rt.ok(&["kill", &id]);
    assert!(wait_for(10, || !alive(pid)), "process did not exit on TERM");
    rt.wait_status(&id, "stopped");
    let st = rt.state(&id);
    assert_eq!(st["pid"], 0, "stopped: pid 0 as runc: {st}");
    assert_eq!(
        fs::read_to_string(bundle.rootfs().join("tmp/sigs")).unwrap(),
        "TERM\n"
    );

    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    let out = rt.sprout(&["state", &id]);
    assert_eq!(
        out.stderr_str(),
        format!("sprout: container \"{id}\" does not exist\n"),
        "{out}"
    );
}

#[test]
fn kill_by_name_and_number() {
    require_root!();
    let rt = Rt::new("sig");
    let id = unique_id("lt-sig");
    let bundle = sh_bundle(&id, TRAPS, |_| {});
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    wait_file(&bundle.rootfs().join("tmp/ready"), 10);
    let sigs = bundle.rootfs().join("tmp/sigs");
    let mut want = String::new();
    for (arg, name) in [
        ("USR1", "USR1"),
        ("SIGUSR2", "USR2"),
        ("1", "HUP"),
        ("sigint", "INT"),
        ("10", "USR1"),
    ] {
        rt.ok(&["kill", &id, arg]);
        want.push_str(name);
        want.push('\n');
        assert!(
            wait_for(10, || fs::read_to_string(&sigs).unwrap_or_default() == want),
            "after kill {arg}: {:?}",
            fs::read_to_string(&sigs)
        );
    }
    // Signal 0 only checks that the process is there.
    rt.ok(&["kill", &id, "0"]);
    for bad in ["FOO", "SIGNOPE", "99"] {
        let out = rt.sprout(&["kill", &id, bad]);
        assert_eq!(out.code(), Some(1), "{out}");
        assert!(out.stderr_str().contains("signal"), "{out}");
    }
    assert_eq!(rt.status(&id), "running");
    rt.ok(&["kill", &id, "9"]);
    rt.wait_status(&id, "stopped");
    let out = rt.sprout(&["kill", &id, "KILL"]);
    assert_eq!(out.stderr_str(), "sprout: container not running\n", "{out}");
    // --all of a stopped container is fine (nothing left to signal).
    rt.ok(&["kill", "--all", &id, "KILL"]);
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn error_cases_use_runcs_words() {
    require_root!();
    let rt = Rt::new("err");
    let id = unique_id("lt-err");
    let bundle = sh_bundle(&id, "sleep 600", |_| {});
    let one_line = |out: &sprout_systests::Output, want: &str| {
        assert_eq!(out.code(), Some(1), "{out}");
        assert_eq!(out.stderr_str(), format!("sprout: {want}\n"), "{out}");
    };
    one_line(
        &rt.sprout(&["start", &id]),
        &format!("container \"{id}\" does not exist"),
    );
    one_line(
        &rt.sprout(&["kill", &id]),
        &format!("container \"{id}\" does not exist"),
    );
    one_line(
        &rt.sprout(&["delete", &id]),
        &format!("container \"{id}\" does not exist"),
    );
    one_line(
        &rt.sprout(&["pause", &id]),
        &format!("container \"{id}\" does not exist"),
    );
    // delete --force of a missing container: silently fine (podman).
    let out = rt.sprout(&["delete", "--force", &id]);
    assert!(out.success() && out.stderr_str().is_empty(), "{out}");

    rt.create_ok(&bundle, &id);
    one_line(
        &rt.create(&bundle, &id, &[]),
        &format!("container \"{id}\" already exists"),
    );
    one_line(&rt.sprout(&["resume", &id]), "container not paused");
    rt.ok(&["start", &id]);
    one_line(
        &rt.sprout(&["start", &id]),
        "cannot start an already running container",
    );
    one_line(
        &rt.sprout(&["delete", &id]),
        &format!("cannot delete container {id} that is not stopped: running"),
    );
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    one_line(
        &rt.sprout(&["start", &id]),
        "cannot start a container that has stopped",
    );
    one_line(&rt.sprout(&["pause", &id]), "container not running");
    one_line(&rt.sprout(&["kill", &id]), "container not running");
    rt.ok(&["delete", &id]);
    for bad in ["a/b", "..", "x y"] {
        let out = rt.sprout(&["state", bad]);
        assert_eq!(out.code(), Some(1), "{out}");
        assert!(out.stderr_str().contains("invalid"), "{out}");
    }
}

#[test]
fn delete_created_container_without_force() {
    require_root!();
    let rt = Rt::new("delcreated");
    let id = unique_id("lt-delc");
    let bundle = sh_bundle(&id, "echo ran > /tmp/ran", |_| {});
    rt.create_ok(&bundle, &id);
    let pid = rt.pid(&id);
    assert!(alive(pid));
    rt.ok(&["delete", &id]);
    assert!(!alive(pid), "the waiting init was killed");
    assert!(
        !bundle.rootfs().join("tmp/ran").exists(),
        "the process never ran"
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn delete_force_kills_a_running_container() {
    require_root!();
    let rt = Rt::new("delforce");
    let id = unique_id("lt-delf");
    // A forking workload: the children must go too.
    let bundle = sh_bundle(
        &id,
        "sleep 600 & sleep 600 & echo ready > /tmp/ready; wait",
        |_| {},
    );
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    wait_file(&bundle.rootfs().join("tmp/ready"), 10);
    let procs = cg_procs("pids", &format!("/sprout/{id}"));
    assert!(procs.len() >= 3, "{procs:?}");
    rt.ok(&["delete", "--force", &id]);
    for p in procs {
        assert!(!alive(p), "process {p} survived delete --force");
    }
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn concurrent_creates_of_one_id() {
    require_root!();
    let rt = Rt::new("conc");
    let id = unique_id("lt-conc");
    let bundle = sh_bundle(&id, "sleep 600", |_| {});
    let outs: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut c = rt.cmd(&["create", "--bundle"]);
                    c.arg(bundle.dir()).arg(&id);
                    run_files(&mut c)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = outs.iter().filter(|o| o.success()).count();
    assert_eq!(ok, 1, "exactly one create succeeds: {outs:#?}");
    for o in outs.iter().filter(|o| !o.success()) {
        assert_eq!(
            o.stderr_str(),
            format!("sprout: container \"{id}\" already exists\n"),
            "{o}"
        );
    }
    assert_eq!(rt.status(&id), "created");
    let procs = cg_procs("pids", &format!("/sprout/{id}"));
    assert_eq!(procs, vec![rt.pid(&id)], "one stub in the cgroup");
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// 24 foreground runs with distinct ids in one --root at once (they share
/// the root's staging directory for atomic creates): every one succeeds,
/// and the root is left with nothing but bookkeeping.
#[test]
fn concurrent_runs_of_distinct_ids() {
    require_root!();
    let rt = Rt::new("conc-runs");
    let id = unique_id("lt-cr");
    let bundle = sh_bundle(&id, "exit 0", |_| {});
    for round in 0..3 {
        let ids: Vec<String> = (0..24).map(|i| format!("{id}-{round}-{i}")).collect();
        let outs = run_concurrently(&rt, &bundle, &ids);
        for o in &outs {
            assert!(o.success(), "{o}");
        }
    }
    let left = root_containers(&rt.root);
    assert!(left.is_empty(), "left in --root: {left:?}");
}

#[test]
fn foreground_run_has_state_and_cleans_up() {
    require_root!();
    let rt = Rt::new("fg");
    let id = unique_id("lt-fg");
    let bundle = sh_bundle(&id, "echo started > /tmp/ready; exec sleep 600", |_| {});
    let child = std::thread::spawn({
        let mut c = rt.cmd(&["run", "--bundle"]);
        c.arg(bundle.dir()).arg(&id);
        move || run_files(&mut c)
    });
    wait_file(&bundle.rootfs().join("tmp/ready"), 10);
    assert_eq!(rt.status(&id), "running");
    let list = rt.ok(&["list", "-q"]);
    assert_eq!(list, format!("{id}\n"));
    let pid = rt.pid(&id);
    assert_eq!(cg_procs("memory", &format!("/sprout/{id}")), vec![pid]);
    rt.ok(&["kill", &id, "KILL"]);
    let out = child.join().unwrap();
    assert_eq!(out.code(), Some(137), "{out}");
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// `sprout run --bundle BUNDLE --pid-file PID_FILE ID` in `rt`.
fn run_with_pid_file(rt: &Rt, bundle: &Bundle, pid_file: &Path, id: &str) -> Output {
    rt.sprout(&[
        "run",
        "--bundle",
        bundle.dir().to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
    ])
}

#[test]
fn foreground_run_exit_code_and_pid_file() {
    require_root!();
    let rt = Rt::new("fgcode");
    let id = unique_id("lt-fgc");
    let bundle = sh_bundle(&id, "echo out; exit 5", |_| {});
    let pf = bundle.dir().join("run.pid");
    let out = run_with_pid_file(&rt, &bundle, &pf, &id);
    assert_eq!(out.code(), Some(5), "{out}");
    assert_eq!(out.stdout_str(), "out\n");
    let p = fs::read_to_string(&pf).unwrap();
    assert!(p.parse::<i32>().unwrap() > 0 && !p.ends_with('\n'), "{p:?}");
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// `--pid-file` in a directory others can write to: a symlink planted at
/// the temporary name sprout used to write through (`.NAME.sprout-tmp`)
/// must not be followed (root would truncate its target, CWE-59); the pid
/// file is written all the same. A rename that fails (the path is a
/// directory) leaves no temporary file behind.
#[test]
fn pid_file_does_not_follow_a_planted_symlink() {
    require_root!();
    let rt = Rt::new("pidsym");
    let id = unique_id("lt-pidsym");
    let bundle = sh_bundle(&id, "exit 0", |_| {});
    let dir = bundle.dir().join("shared");
    fs::create_dir(&dir).unwrap();
    let victim = bundle.dir().join("victim");
    fs::write(&victim, "root-owned secret\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join(".app.pid.sprout-tmp")).unwrap();
    let pf = dir.join("app.pid");
    let out = run_with_pid_file(&rt, &bundle, &pf, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root-owned secret\n");
    assert!(fs::read_to_string(&pf).unwrap().parse::<i32>().unwrap() > 0);
    // The pid file's path is a directory: the rename fails, nothing is left.
    let id2 = unique_id("lt-piddir");
    let bundle2 = sh_bundle(&id2, "exit 0", |_| {});
    let taken = dir.join("taken");
    fs::create_dir(&taken).unwrap();
    let out = run_with_pid_file(&rt, &bundle2, &taken, &id2);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(out.stderr_str().contains("--pid-file"), "{out}");
    let left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sprout-tmp") && n != ".app.pid.sprout-tmp")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_gone(&rt, &bundle2, &id2, &format!("/sprout/{id2}"));
}

/// `kill` of a created container with a signal that ends runc's waiting
/// init (TERM here, the default) stops it (sprout-init waits as pid 1 of
/// its pid namespace, which ignores such signals without a handler, so it
/// gets SIGKILL); one that runc's init ignores (WINCH, USR1, USR2, PIPE,
/// ALRM, a real-time one) or 0 leaves it created.
#[test]
fn kill_of_a_created_container_stops_it() {
    require_root!();
    let rt = Rt::new("killcr");
    let id = unique_id("lt-killcr");
    let bundle = sh_bundle(&id, "echo ran > /tmp/ran", |_| {});
    rt.create_ok(&bundle, &id);
    // Ignored by runc's waiting init too (Go's runtime ignores them when
    // they come from kill(2)); 0 only checks that it is there (a liveness
    // probe killed the container before).
    for sig in ["WINCH", "0", "USR1", "USR2", "PIPE", "ALRM", "64"] {
        rt.ok(&["kill", &id, sig]);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(rt.status(&id), "created", "after {sig}");
    }
    rt.ok(&["kill", &id]);
    assert!(
        wait_for(10, || rt.status(&id) == "stopped"),
        "still {}",
        rt.status(&id)
    );
    let out = rt.sprout(&["start", &id]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr_str(),
        "sprout: cannot start a container that has stopped\n"
    );
    assert!(!bundle.rootfs().join("tmp/ran").exists());
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// runc's `run --keep`: the stopped container stays (state `stopped`,
/// its cgroup) until `delete`, which also runs the poststop hooks; the
/// run exits with the container's status all the same. `--no-subreaper`
/// is accepted (runc ignores it too).
#[test]
fn run_keep_leaves_the_stopped_container_for_delete() {
    require_root!();
    let rt = Rt::new("keep");
    let id = unique_id("lt-keep");
    let marker = std::env::temp_dir().join(format!("{id}.poststop"));
    let bundle = sh_bundle(&id, "echo out; exit 3", |c| {
        c["hooks"] = json!({"poststop": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}", marker.display())],
        }]});
    });
    let cg = format!("/sprout/{id}");
    let out = rt.sprout(&[
        "run",
        "--keep",
        "--no-subreaper",
        "--bundle",
        bundle.dir().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.code(), Some(3), "{out}");
    assert_eq!(out.stdout_str(), "out\n", "{out}");
    assert_eq!(rt.status(&id), "stopped");
    assert!(!cgroup_dirs(&cg).is_empty(), "the cgroup went with --keep");
    assert!(!marker.exists(), "poststop ran before delete");
    rt.ok(&["delete", &id]);
    let st: Value = serde_json::from_str(&fs::read_to_string(&marker).unwrap()).unwrap();
    let _ = fs::remove_file(&marker);
    assert_eq!(st["status"], "stopped", "{st}");
    assert_eq!(st["id"], id.as_str(), "{st}");
    assert_gone(&rt, &bundle, &id, &cg);
}

/// runc's `run --keep` destroys nothing when the run fails once the
/// container exists: a failing startContainer hook, or a process that
/// cannot be exec'd, leaves the container `stopped` (pid 0) with its
/// cgroup until `delete`, which runs the poststop hooks then.
#[test]
fn run_keep_keeps_the_container_of_a_failed_run() {
    require_root!();
    let rt = Rt::new("keepf");
    for (case, args, hook) in [
        ("hook", json!(["/bin/true"]), Some("/bin/false")),
        ("exec", json!(["/nonexistent"]), None),
    ] {
        let id = unique_id(&format!("lt-keepf-{case}"));
        let marker = std::env::temp_dir().join(format!("{id}.poststop"));
        let bundle = sh_bundle(&id, "true", |c| {
            c["process"]["args"] = args.clone();
            let mut hooks = json!({"poststop": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", format!("cat > {}", marker.display())],
            }]});
            if let Some(h) = hook {
                hooks["startContainer"] = json!([{"path": h}]);
            }
            c["hooks"] = hooks;
        });
        let cg = format!("/sprout/{id}");
        let out = rt.sprout(&[
            "run",
            "--keep",
            "--bundle",
            bundle.dir().to_str().unwrap(),
            &id,
        ]);
        assert!(!out.success(), "{case}: {out}");
        assert_eq!(rt.status(&id), "stopped", "{case}: {out}");
        assert!(
            !cgroup_dirs(&cg).is_empty(),
            "{case}: the cgroup went with --keep"
        );
        assert!(!marker.exists(), "{case}: poststop ran before delete");
        rt.ok(&["delete", &id]);
        assert!(marker.exists(), "{case}: delete ran no poststop hook");
        let _ = fs::remove_file(&marker);
        assert_gone(&rt, &bundle, &id, &cg);
    }
}

#[test]
fn run_detached() {
    require_root!();
    let rt = Rt::new("runD");
    let id = unique_id("lt-rund");
    let bundle = sh_bundle(&id, "echo started > /tmp/ready; exec sleep 600", |_| {});
    let pf = bundle.dir().join("d.pid");
    let out = rt.sprout(&[
        "run",
        "-d",
        "--bundle",
        bundle.dir().to_str().unwrap(),
        "--pid-file",
        pf.to_str().unwrap(),
        &id,
    ]);
    assert!(out.success(), "{out}");
    wait_file(&bundle.rootfs().join("tmp/ready"), 10);
    assert_eq!(rt.status(&id), "running");
    assert_eq!(fs::read_to_string(&pf).unwrap(), rt.pid(&id).to_string());
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn list_and_ps() {
    require_root!();
    let rt = Rt::new("list");
    assert_eq!(
        rt.ok(&["list"]).lines().next().unwrap(),
        "ID          PID         STATUS      BUNDLE      CREATED     OWNER"
    );
    assert_eq!(rt.ok(&["list", "--format", "json"]).trim(), "[]");
    let a = unique_id("lt-la");
    let b = unique_id("lt-lb");
    let ba = sh_bundle(&a, "sleep 600 & exec sleep 601", |_| {});
    let bb = sh_bundle(&b, "sleep 600", |_| {});
    rt.create_ok(&ba, &a);
    rt.create_ok(&bb, &b);
    rt.ok(&["start", &a]);
    let mut ids = [a.clone(), b.clone()];
    ids.sort();
    assert_eq!(rt.ok(&["list", "-q"]), format!("{}\n{}\n", ids[0], ids[1]));
    let table = rt.ok(&["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("ID ") && lines[0].contains("PID") && lines[0].ends_with("OWNER"),
        "{table}"
    );
    let row_b = lines.iter().find(|l| l.starts_with(&b)).unwrap();
    let cols: Vec<&str> = row_b.split_whitespace().collect();
    assert_eq!(cols[1], rt.pid(&b).to_string());
    assert_eq!(cols[2], "created");
    assert_eq!(cols[3], bb.dir().to_str().unwrap());
    assert_eq!(cols[5], "root");
    let json: Value = serde_json::from_str(&rt.ok(&["list", "--format=json"])).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    let ja = arr.iter().find(|v| v["id"] == a.as_str()).unwrap();
    assert_eq!(ja["status"], "running");

    // ps --format json: the pids of the cgroup (what containerd's task ps reads).
    assert!(wait_for(10, || cg_procs("pids", &format!("/sprout/{a}"))
        .len()
        == 2));
    let pids: Vec<i32> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", &a])).unwrap();
    let mut want = cg_procs("pids", &format!("/sprout/{a}"));
    want.sort();
    assert_eq!(pids, want);
    assert!(pids.contains(&rt.pid(&a)));
    // ps table: ps -ef filtered to those pids, header kept.
    let table = rt.ok(&["ps", &a]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("PID") && lines[0].contains("CMD"),
        "{table}"
    );
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[1..].iter().all(|l| l.contains("sleep 60")), "{table}");
    // ps with its own options.
    let table = rt.ok(&["ps", &a, "-o", "pid,comm"]);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(
        table.lines().skip(1).all(|l| l.trim().ends_with("sleep")),
        "{table}"
    );
    // Options ps refuses: one line, ps's first (procps follows it with its
    // whole usage text, which used to be printed too).
    let out = rt.sprout(&["ps", &a, "-o", "pid,bogus"]);
    let msg = common::assert_one_line_error(&out, &["ps -o pid,bogus: "]);
    assert!(msg.contains("bogus"), "{msg}");
}

#[test]
fn default_root_is_run_sprout() {
    require_root!();
    let id = unique_id("lt-defroot");
    let bundle = sh_bundle(&id, "sleep 600", |_| {});
    let out = run_files(sprout(&["create", "--bundle"]).arg(bundle.dir()).arg(&id));
    assert!(out.success(), "{out}");
    let dir = Path::new("/run/sprout").join(&id);
    let cleanup = scopeguard(|| {
        let _ = output(&mut sprout(&["delete", "--force", &id]));
    });
    assert!(dir.join("state.json").is_file(), "{}", dir.display());
    let out = output(&mut sprout(&["state", &id]));
    assert!(out.stdout_str().contains("\"created\""), "{out}");
    let out = output(&mut sprout(&["delete", &id]));
    assert!(out.success(), "{out}");
    assert!(!dir.exists());
    drop(cleanup);
}

/// Runs `f` on drop.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct G<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for G<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f()
            }
        }
    }
    G(Some(f))
}

#[test]
fn errors_go_to_the_log_file_as_json() {
    require_root!();
    let rt = Rt::new("log");
    let id = unique_id("lt-log");
    let dir = std::env::temp_dir().join(unique_id("lt-logdir"));
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log.json");
    let l = log.to_str().unwrap();
    // Both spellings, flags before the command (as conmon and the shim pass them).
    let out = rt.sprout(&["--log", l, "--log-format=json", "start", &id]);
    assert_eq!(out.code(), Some(1), "{out}");
    let out = rt.sprout(&["--log-format", "json", "--log", l, "kill", &id, "KILL"]);
    assert_eq!(out.code(), Some(1), "{out}");
    // A command-line error too.
    let out = rt.sprout(&["--log", l, "--log-format", "json", "kill", "--bogus", &id]);
    // One line, exit status 1, as runc's usage errors.
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr_str().trim_end(),
        "sprout: unexpected argument '--bogus' found (usage: sprout kill [OPTIONS] <ID> [SIGNAL])",
        "{out}"
    );
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    for v in &lines {
        assert_eq!(v["level"], "error", "{v}");
        assert!(v["time"].as_str().unwrap().contains('T'), "{v}");
    }
    assert_eq!(
        lines[0]["msg"],
        format!("container \"{id}\" does not exist")
    );
    assert_eq!(
        lines[1]["msg"],
        format!("container \"{id}\" does not exist")
    );
    assert_eq!(
        lines[2]["msg"],
        "unexpected argument '--bogus' found (usage: sprout kill [OPTIONS] <ID> [SIGNAL])",
        "{text}"
    );
    // Text format.
    let tlog = dir.join("log.txt");
    let out = rt.sprout(&["--log", tlog.to_str().unwrap(), "state", &id]);
    assert_eq!(out.code(), Some(1), "{out}");
    let t = fs::read_to_string(&tlog).unwrap();
    assert!(
        t.trim_end()
            .ends_with(&format!("error container \"{id}\" does not exist")),
        "{t}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn global_flags_features_version() {
    require_root!();
    let out = output(&mut sprout(&["--systemd-cgroup", "state", "x"]));
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr_str().contains("--systemd-cgroup: not supported"),
        "{out}"
    );
    // runc's --criu and --rootless are accepted (containerd's runc client
    // passes --criu on every call when its options name a CriuPath).
    let rt = Rt::new("glob");
    let id = unique_id("lt-glob");
    let out = rt.sprout(&[
        "--criu",
        "/usr/sbin/criu",
        "--rootless",
        "false",
        "state",
        &id,
    ]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr_str(),
        format!("sprout: container \"{id}\" does not exist\n"),
        "{out}"
    );
    let out = rt.sprout(&["list", "-q", "--criu=/x", "--rootless=auto"]);
    assert!(out.success(), "{out}");
    // checkpoint/restore (ctr task checkpoint, podman container
    // checkpoint): one line saying so, whatever runc options come along.
    for cmd in ["checkpoint", "restore"] {
        let out = rt.sprout(&[cmd, "--image-path", "/tmp/x", "--leave-running", &id]);
        assert_eq!(out.code(), Some(1), "{out}");
        assert_eq!(
            out.stderr_str(),
            format!(
                "sprout: {cmd}: not supported (sprout has no checkpoint/restore through CRIU)\n"
            ),
            "{out}"
        );
    }
    let out = rt.sprout(&["--rootless", "maybe", "list"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr_str().contains("'--rootless <BOOL>'"), "{out}");
    let v = output(&mut sprout(&["--version"]));
    assert!(v.success(), "{v}");
    let text = v.stdout_str();
    // runc's short flag is -v (clap's default was -V: kept too).
    for short in ["-v", "-V"] {
        let o = output(&mut sprout(&[short]));
        assert!(o.success(), "{short}: {o}");
        assert_eq!(o.stdout_str(), text, "{short}");
    }
    assert!(text.starts_with("sprout version "), "{text}");
    assert!(
        text.contains("\nspec: 1.") && text.contains("\ncommit: "),
        "{text}"
    );
    let f = output(&mut sprout(&["features"]));
    assert!(f.success(), "{f}");
    let doc: Value = serde_json::from_slice(&f.stdout).unwrap();
    assert_eq!(doc["ociVersionMin"], "1.0.0");
    assert!(doc["ociVersionMax"].as_str().unwrap().starts_with("1."));
    assert_eq!(doc["hooks"].as_array().unwrap().len(), 6);
    assert!(
        doc["mountOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rbind")
    );
    let linux = &doc["linux"];
    assert!(
        linux["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "user")
    );
    assert!(
        linux["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "CAP_SYS_ADMIN")
    );
    assert_eq!(linux["cgroup"]["v1"], true);
    assert_eq!(linux["cgroup"]["systemd"], false);
    assert_eq!(linux["seccomp"]["enabled"], true);
    assert!(
        linux["seccomp"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "SCMP_ACT_ERRNO")
    );
    assert!(
        linux["seccomp"]["archs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "SCMP_ARCH_X86_64")
    );
    assert_eq!(linux["apparmor"]["enabled"], false);
    assert_eq!(linux["selinux"]["enabled"], false);
}

#[test]
fn bad_input_leaves_nothing() {
    require_root!();
    let rt = Rt::new("bad");
    // (edit, words the one-line error must contain)
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, &[&str])> = vec![
        (|c| c["process"]["args"] = json!([]), &["process.args"]),
        (
            |c| c["linux"]["resources"] = json!({"cpu": {"period": 5}}),
            &["linux.resources.cpu.period"],
        ),
        (
            |c| c["linux"]["resources"] = json!({"cpu": {"cpus": "0-999"}}),
            &["linux.resources.cpu.cpus"],
        ),
        (
            |c| c["hooks"] = json!({"prestart": [{"path": "relative/hook"}]}),
            &["hooks.prestart[0].path"],
        ),
        (
            |c| c["hooks"] = json!({"poststart": [{"path": "/bin/true", "timeout": -1}]}),
            &["hooks.poststart[0].timeout"],
        ),
        (
            |c| c["process"]["terminal"] = json!(true),
            &["process.terminal", "--console-socket"],
        ),
        (
            |c| c["process"]["cwd"] = json!("relative"),
            &["process.cwd"],
        ),
    ];
    for (i, (edit, needles)) in cases.into_iter().enumerate() {
        let id = unique_id(&format!("lt-bad{i}"));
        let bundle = sh_bundle(&id, "true", edit);
        let out = rt.create(&bundle, &id, &[]);
        let msg = common::assert_one_line_error(&out, needles);
        eprintln!("case {i}: {msg}");
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
    // A console socket for a container without a terminal.
    let id = unique_id("lt-badcs");
    let bundle = sh_bundle(&id, "true", |_| {});
    let out = rt.create(&bundle, &id, &["--console-socket", "/nonexistent.sock"]);
    common::assert_one_line_error(&out, &["--console-socket"]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    // A missing bundle.
    let out = rt.sprout(&["create", "--bundle", "/nonexistent-bundle", &id]);
    common::assert_one_line_error(&out, &["bundle"]);
    assert!(!rt.dir(&id).exists());
    // A command that does not exist: create fails (podman maps the words to 127).
    let id = unique_id("lt-bad404");
    let bundle = busybox(&id, |c| c["process"]["args"] = json!(["/no/such/cmd"]));
    let out = rt.create(&bundle, &id, &[]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr_str().contains("no such file or directory")
            || out.stderr_str().contains("No such file"),
        "{out}"
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn create_flags_preserve_fds_no_pivot_no_new_keyring() {
    require_root!();
    let rt = Rt::new("flags");
    let id = unique_id("lt-flags");
    let bundle = sh_bundle(
        &id,
        "cat <&3 > /tmp/fd3; ls /proc/self/fd > /tmp/fds",
        |_| {},
    );
    let secret = bundle.dir().join("secret");
    fs::write(&secret, "passed-through\n").unwrap();
    // fd 3 comes from the caller, not CLOEXEC (a shell redirection).
    let out = common::sprout_with_fds(
        &format!("3<{}", secret.display()),
        &[
            "--root",
            &rt.root_str(),
            "create",
            "--preserve-fds",
            "1",
            "--no-pivot",
            "--no-new-keyring",
            "--bundle",
            bundle.dir().to_str().unwrap(),
            &id,
        ],
    );
    assert!(out.success(), "{out}");
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    assert_eq!(
        fs::read_to_string(bundle.rootfs().join("tmp/fd3")).unwrap(),
        "passed-through\n"
    );
    let fds = fs::read_to_string(bundle.rootfs().join("tmp/fds")).unwrap();
    let mut fds: Vec<i32> = fds
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    fds.sort();
    // 0-2, the preserved 3, and ls's own directory fd; nothing else (no
    // plan, sync or start socket fd).
    assert!(fds.len() <= 5 && fds[..4] == [0, 1, 2, 3], "{fds:?}");
    rt.ok(&["delete", &id]);

    // The keyring choice reaches the plan (/proc/keys is masked in the
    // container, so the stub's keyctl is checked by the stub's own tests).
    let flags = |extra: &[&str]| {
        let mut args = vec!["plan", "--bundle", bundle.dir().to_str().unwrap()];
        args.extend_from_slice(extra);
        let v: Value = serde_json::from_str(&rt.ok(&args)).unwrap();
        v["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(flags(&[]).contains(&"NEW_KEYRING".to_string()));
    assert!(!flags(&["--no-new-keyring"]).contains(&"NEW_KEYRING".to_string()));
    assert!(flags(&["--no-pivot"]).contains(&"NO_PIVOT".to_string()));
}

#[test]
fn state_is_creating_while_create_runs() {
    require_root!();
    let rt = Rt::new("creating");
    let id = unique_id("lt-creating");
    let dir = std::env::temp_dir().join(unique_id("lt-creating-dir"));
    fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("go");
    assert!(host_sh(&format!("mkfifo {}", fifo.display())).success());
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > /dev/null; read x < {}", fifo.display())]}]});
    });
    let create = std::thread::spawn({
        let mut c = rt.cmd(&["create", "--bundle"]);
        c.arg(bundle.dir()).arg(&id);
        move || run_files(&mut c)
    });
    assert!(
        wait_for(10, || rt.sprout(&["state", &id]).success()),
        "no state while creating"
    );
    let st = rt.state(&id);
    assert_eq!(st["status"], "creating", "{st}");
    assert!(wait_for(10, || rt.pid(&id) > 0));
    // Commands on the ID serialize: start waits for create's lock.
    let start = std::thread::spawn({
        let mut c = rt.cmd(&["start", &id]);
        move || run_files(&mut c)
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!start.is_finished(), "start must wait for create");
    fs::write(&fifo, "go\n").unwrap();
    let out = create.join().unwrap();
    assert!(out.success(), "{out}");
    let out = start.join().unwrap();
    assert!(out.success(), "{out}");
    assert_eq!(rt.status(&id), "running");
    rt.ok(&["delete", "--force", &id]);
    fs::remove_dir_all(&dir).unwrap();
}

/// A foreground `run` whose container is deleted (`delete --force`) and
/// whose ID is then created again while it is held up leaves the new
/// container alone when it ends: its state (even in the same, recycled
/// directory) and its cgroup stay. (Before: the ending `run` removed the
/// new container's cgroup and state.)
#[test]
fn ending_run_leaves_a_recreated_id_alone() {
    require_root!();
    let rt = Rt::new("run-recreated");
    let id = unique_id("lt-rerun");
    let bundle = sh_bundle(&id, "exec sleep 100", |_| {});
    let bdir = bundle.dir().to_str().unwrap().to_string();
    let mut run = rt.cmd(&["run", "--bundle", &bdir, &id]);
    run.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let mut run = run.spawn().expect("spawn sprout run");
    assert!(wait_for(10, || rt
        .sprout(&["state", &id])
        .status
        .is_some_and(|s| s.success())
        && rt.status(&id) == "running"));
    let first_pid = rt.pid(&id);
    // Hold the foreground run up, replace its container, let it go on.
    let ctl = nix::unistd::Pid::from_raw(run.id() as i32);
    nix::sys::signal::kill(ctl, nix::sys::signal::Signal::SIGSTOP).unwrap();
    rt.ok(&["delete", "--force", &id]);
    rt.create_ok(&bundle, &id);
    let second_pid = rt.pid(&id);
    assert_ne!(first_pid, second_pid);
    nix::sys::signal::kill(ctl, nix::sys::signal::Signal::SIGCONT).unwrap();
    let st = run.wait().unwrap();
    assert!(!st.success(), "the run's container was killed: {st:?}");
    assert_eq!(rt.status(&id), "created", "the new container's state stays");
    assert_eq!(rt.pid(&id), second_pid);
    assert!(
        !cgroup_dirs(&format!("/sprout/{id}")).is_empty(),
        "the new container's cgroup stays"
    );
    assert_eq!(cg_procs("pids", &format!("/sprout/{id}")), vec![second_pid]);
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// `delete --force` of a container whose state.json is corrupt fails, as
/// runc's, and leaves the container (process, cgroup, state directory)
/// alone: dropping the state would forget a live container that no
/// command could reach again. Once the state is readable, it deletes.
#[test]
fn delete_force_keeps_a_container_whose_state_is_corrupt() {
    require_root!();
    let rt = Rt::new("delcorrupt");
    let id = unique_id("lt-delx");
    let bundle = sh_bundle(&id, "echo ran > /tmp/ran", |_| {});
    rt.create_ok(&bundle, &id);
    let pid = rt.pid(&id);
    let file = rt.dir(&id).join("state.json");
    let saved = fs::read(&file).unwrap();
    fs::write(&file, "garbage").unwrap();
    let out = rt.sprout(&["delete", "--force", &id]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr_str().contains("corrupt state"), "{out}");
    assert!(alive(pid), "the container's process was left running");
    assert!(rt.dir(&id).is_dir(), "its state directory was removed");
    assert_eq!(cg_procs("pids", &format!("/sprout/{id}")), [pid]);
    fs::write(&file, saved).unwrap();
    rt.ok(&["delete", "--force", &id]);
    assert!(!alive(pid));
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}
