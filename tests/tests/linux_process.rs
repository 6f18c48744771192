//! The rest of `process.*` and `linux.*` that is not mounts or seccomp, in
//! real containers: `process.scheduler`, `process.ioPriority`,
//! `process.oomScoreAdj`, `process.execCPUAffinity` (exec), the session
//! keyring (`--no-new-keyring`), `linux.personality`, and the fields sprout
//! refuses with an error naming them (LSM labels on a host without an LSM,
//! `linux.intelRdt`, `linux.memoryPolicy`, `linux.netDevices`, personality
//! flags, out-of-range values).

mod common;
mod support;

use common::{assert_one_line_error, busybox, run, run_ok, sh};
use sprout_systests::serde_json::{Value, json};
/// A config edit of a table-driven test.
type Edit = Box<dyn Fn(&mut Value)>;

use sprout_systests::{output, require_root, sprout, unique_id};

/// Runs `script` with `edit` applied; returns stdout (exit 0, no stderr).
fn run_script(tag: &str, edit: impl FnOnce(&mut Value), script: &str) -> String {
    let id = unique_id(tag);
    let b = busybox(&id, |c| {
        edit(c);
        sh(c, script);
    });
    run_ok(&b, &id)
}

fn expect_error(tag: &str, edit: impl FnOnce(&mut Value), needles: &[&str]) -> String {
    let id = unique_id(tag);
    let b = busybox(&id, edit);
    let out = run(&b, &id);
    assert_one_line_error(&out, needles)
}

/// `policy` and `prio` lines of /proc/self/sched, and the nice value
/// (field 19 of /proc/self/stat), of a shell in the container.
const SCHED: &str = "grep -E '^(policy|prio) ' /proc/$$/sched | tr -s ' '; echo nice=$(cut -d' ' -f19 /proc/$$/stat)";

#[test]
fn scheduler_policies() {
    require_root!();
    // SCHED_IDLE keeps the nice value it inherits (the kernel sets it for
    // SCHED_OTHER and SCHED_BATCH only; its `prio` is 120 either way):
    // this test's own, e.g. 10 under `nice cargo xtask test`.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Field 19 (proc(5)); the fields after the command name start at 3.
    let own: i32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(16)
        .unwrap()
        .parse()
        .unwrap();
    let idle = format!("policy : 5\nprio : 120\nnice={own}\n");
    for (sched, want) in [
        (
            json!({"policy": "SCHED_BATCH", "nice": 7}),
            "policy : 3\nprio : 127\nnice=7\n",
        ),
        (json!({"policy": "SCHED_IDLE"}), idle.as_str()),
        (
            json!({"policy": "SCHED_OTHER", "nice": -3}),
            "policy : 0\nprio : 117\nnice=-3\n",
        ),
    ] {
        let out = run_script(
            "sched",
            |c| c["process"]["scheduler"] = sched.clone(),
            SCHED,
        );
        assert_eq!(out, want, "{sched}");
    }
}

/// A real-time policy: applied, or (in a cgroup without real-time
/// runtime) a one-line error naming process.scheduler.
#[test]
fn scheduler_realtime() {
    require_root!();
    let id = unique_id("schedrt");
    let b = busybox(&id, |c| {
        c["process"]["scheduler"] =
            json!({"policy": "SCHED_FIFO", "priority": 5, "flags": ["SCHED_RESET_ON_FORK"]});
        sh(c, "grep -E '^policy ' /proc/$$/sched | tr -s ' '");
    });
    let out = run(&b, &id);
    if out.code() == Some(0) {
        assert_eq!(out.stdout_str(), "policy : 1\n", "{out}");
    } else {
        assert_one_line_error(&out, &["process.scheduler: sched_setattr"]);
    }
}

#[test]
fn scheduler_errors() {
    require_root!();
    for (sched, needle) in [
        (
            json!({"policy": "SCHED_RR"}),
            "process.scheduler.priority 0: SCHED_RR needs a priority from 1 to 99",
        ),
        (
            json!({"policy": "SCHED_OTHER", "nice": 30}),
            "process.scheduler.nice 30: out of range (-20 to 19)",
        ),
        (
            json!({"policy": "SCHED_ISO"}),
            "process.scheduler.policy SCHED_ISO: not implemented by Linux",
        ),
        (
            json!({"policy": "SCHED_DEADLINE", "runtime": 9, "deadline": 5}),
            "SCHED_DEADLINE needs runtime <= deadline",
        ),
    ] {
        expect_error(
            "schederr",
            |c| c["process"]["scheduler"] = sched.clone(),
            &[needle],
        );
    }
    expect_error(
        "schederr",
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_LOTTERY"}),
        &["config.json: process.scheduler.policy"],
    );
}

#[test]
fn io_priority() {
    require_root!();
    for (prio, want) in [
        (json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}), "idle"),
        (
            json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
            "best-effort: prio 6",
        ),
        (
            json!({"class": "IOPRIO_CLASS_RT", "priority": 2}),
            "realtime: prio 2",
        ),
    ] {
        let out = run_script(
            "ioprio",
            |c| c["process"]["ioPriority"] = prio.clone(),
            "ionice -p $$",
        );
        assert_eq!(out.trim(), want, "{prio}");
    }
    expect_error(
        "ioprioerr",
        |c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 9}),
        &["process.ioPriority.priority 9: out of range (0 to 7)"],
    );
}

#[test]
fn oom_score_adj() {
    require_root!();
    let out = run_script(
        "oom",
        |c| c["process"]["oomScoreAdj"] = json!(500),
        "cat /proc/self/oom_score_adj",
    );
    assert_eq!(out, "500\n");
    // Lowering it needs CAP_SYS_RESOURCE: applied, or a clear error.
    let id = unique_id("oomneg");
    let b = busybox(&id, |c| {
        c["process"]["oomScoreAdj"] = json!(-500);
        sh(c, "cat /proc/self/oom_score_adj");
    });
    let out = run(&b, &id);
    if out.code() == Some(0) {
        assert_eq!(out.stdout_str(), "-500\n", "{out}");
    } else {
        assert_one_line_error(&out, &["process.oomScoreAdj -500: writing /proc/"]);
    }
}

/// `linux.personality` LINUX32: `uname -m` says i686 and
/// /proc/self/personality is PER_LINUX32 (8); LINUX leaves it at 0.
#[test]
fn personality() {
    require_root!();
    let script = "uname -m; cat /proc/self/personality";
    let out = run_script(
        "pers32",
        |c| c["linux"]["personality"] = json!({"domain": "LINUX32"}),
        script,
    );
    assert_eq!(out, "i686\n00000008\n");
    let out = run_script(
        "pers",
        |c| c["linux"]["personality"] = json!({"domain": "LINUX"}),
        script,
    );
    assert_eq!(out, "x86_64\n00000000\n");
    expect_error(
        "perserr",
        |c| c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
        &[
            "linux.personality.flags [\"ADDR_NO_RANDOMIZE\"]: the runtime spec defines no flag values",
        ],
    );
}

/// A new session keyring by default (runc's behaviour), the caller's with
/// `--no-new-keyring` (`keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING)`).
#[test]
fn session_keyring() {
    require_root!();
    let Some(probe) = support::probe() else {
        skip!("no static probe helper (cc -static)")
    };
    // The keyring sprout is started with: this test process's (shared by
    // the probe it starts).
    let host = output(std::process::Command::new(&probe).args(["sc", "250", "0", "-3", "0"]));
    assert!(host.success(), "{host}");
    let host = host.stdout_str();
    let id = unique_id("keyring");
    let b = busybox(&id, |c| sh(c, "probe sc 250 0 -3 0"));
    support::install_probe(&b);
    let new = run_ok(&b, &id);
    assert!(new.starts_with("ret "), "{new}");
    assert_ne!(new, host, "the container got the caller's session keyring");
    let id = unique_id("keyring");
    let out = output(
        sprout(&["run", "--no-new-keyring", "--bundle"])
            .arg(b.dir())
            .arg(&id),
    );
    common::assert_clean(&b, &id);
    assert!(out.success(), "{out}");
    assert_eq!(
        out.stdout_str(),
        host,
        "--no-new-keyring: not the caller's keyring:\n{out}"
    );
}

/// Fields sprout refuses, each with one line naming it.
#[test]
fn refused_fields_are_named() {
    require_root!();
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| c["process"]["apparmorProfile"] = json!("sprout-test")),
            "process.apparmorProfile \"sprout-test\": AppArmor is not enabled on this host",
        ),
        (
            Box::new(|c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0")),
            "process.selinuxLabel \"system_u:system_r:container_t:s0\": SELinux is not enabled on this host",
        ),
        (
            Box::new(|c| c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0")),
            "linux.mountLabel \"system_u:object_r:container_file_t:s0\": SELinux is not enabled on this host",
        ),
        (
            Box::new(|c| c["linux"]["intelRdt"] = json!({"closID": "sprout"})),
            "linux.intelRdt: Intel RDT (resctrl) is not supported by sprout",
        ),
        (
            Box::new(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"})),
            "linux.memoryPolicy: NUMA memory policies are not supported by sprout yet",
        ),
        (
            Box::new(|c| c["linux"]["netDevices"] = json!({"eth9": {"name": "eth0"}})),
            "linux.netDevices [\"eth9\"]: moving network devices into the container is not supported",
        ),
    ];
    for (edit, needle) in cases {
        expect_error("refused", edit, &[needle]);
    }
    // Empty LSM strings mean "none" and are fine.
    let out = run_script(
        "lsmempty",
        |c| {
            c["process"]["apparmorProfile"] = json!("");
            c["process"]["selinuxLabel"] = json!("");
            c["linux"]["mountLabel"] = json!("");
        },
        "echo ok",
    );
    assert_eq!(out, "ok\n");
    // AppArmor's "unconfined" (podman's `--security-opt apparmor=unconfined`)
    // asks for no profile: it runs, as with runc on a host without AppArmor
    // confinement of the runtime.
    let out = run_script(
        "lsmunconfined",
        |c| c["process"]["apparmorProfile"] = json!("unconfined"),
        "echo ok",
    );
    assert_eq!(out, "ok\n");
}

/// `process.execCPUAffinity` of an exec'd process (`--process` JSON):
/// `final` is the process's CPU list; the container's init process is not
/// affected (the spec: not applicable to it). Skipped without `exec`.
#[test]
fn exec_cpu_affinity() {
    require_root!();
    if !support::has_command("exec") {
        skip!("`sprout exec` is not in this build yet");
    }
    let id = unique_id("affinity");
    let b = busybox(&id, |c| {
        c["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "0"});
        c["process"]["args"] = json!(["sleep", "60"]);
    });
    let mut bg = support::Background::run(&b, &id);
    let pid = bg.pid();
    let start = std::time::Instant::now();
    while !std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("busybox")) {
        assert!(start.elapsed().as_secs() < 20);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let init = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let proc_json = b.dir().join("process.json");
    let mut p = b.config()["process"].clone();
    p["args"] = json!(["grep", "Cpus_allowed_list", "/proc/self/status"]);
    p["execCPUAffinity"] = json!({"initial": "0-1", "final": "1"});
    std::fs::write(&proc_json, p.to_string()).unwrap();
    let ex = output(sprout(&["exec", "--process"]).arg(&proc_json).arg(&id));
    support::kill_pid(pid);
    let _ = bg.wait(20);
    let _ = output(&mut sprout(&["delete", "-f", &id]));
    common::assert_clean(&b, &id);
    let all_cpus = common::status_field(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "Cpus_allowed_list",
    );
    assert_eq!(
        common::status_field(&init, "Cpus_allowed_list"),
        all_cpus,
        "the init process was pinned"
    );
    assert!(ex.success(), "{ex}");
    assert_eq!(ex.stdout_str().split_whitespace().last(), Some("1"), "{ex}");
}

/// A container whose process exited while its other threads run on (the
/// leader called pthread_exit; a Go program's threads right after its
/// exit_group are the short-lived case): `state` says stopped, as runc's,
/// and `delete` ends those threads and removes the cgroup in every
/// hierarchy. sprout took them for another container's processes and left
/// the cgroup for good (found by the OCI runtime-tools validation suite).
#[test]
fn delete_ends_the_threads_of_an_exited_process() {
    require_root!();
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    let id = unique_id("linger");
    let b = busybox(&id, |c| {
        c["process"]["args"] = json!(["/bin/probe", "linger", "60"])
    });
    support::install_probe(&b);
    support::create_ok(&b, &id);
    let start = output(&mut sprout(&["start", &id]));
    assert!(start.success(), "{start}");
    let state = || -> Value {
        let out = output(&mut sprout(&["state", &id]));
        sprout_systests::serde_json::from_str(&out.stdout_str()).unwrap_or(Value::Null)
    };
    let t0 = std::time::Instant::now();
    while state()["status"] != "stopped" {
        assert!(t0.elapsed().as_secs() < 20, "never stopped: {}", state());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let procs = format!("/sys/fs/cgroup/pids/sprout/{id}/cgroup.procs");
    let tasks = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/sprout/{id}/tasks"))
        .unwrap_or_default();
    assert!(
        !tasks.trim().is_empty(),
        "the test needs a thread left ({procs})"
    );
    let del = output(&mut sprout(&["delete", &id]));
    assert!(del.success(), "{del}");
    assert!(del.stderr_str().is_empty(), "{del}");
    for h in ["pids", "memory", "cpu", "freezer", "devices"] {
        let d = format!("/sys/fs/cgroup/{h}/sprout/{id}");
        assert!(!std::path::Path::new(&d).exists(), "{d} left");
    }
    common::assert_clean(&b, &id);
}
