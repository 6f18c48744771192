//! System tests of the OCI hooks: each kind gets the state JSON on stdin
//! at its point of the lifecycle, in the right namespaces; timeouts;
//! failures tear the container down (prestart, createRuntime,
//! createContainer, startContainer) or only warn (poststart, poststop).

mod common;
mod lifecycle_util;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lifecycle_util::*;
use sprout_systests::serde_json::{self, Value, json};
use sprout_systests::{Bundle, output, require_root, sprout, unique_id};

/// A host hook: `/bin/sh -c 'cat > OUT; <extra>'` with `env`.
fn host_hook(out: &Path, extra: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {}; {extra}", out.display())],
        "env": ["HOOK_ENV=yes", "PATH=/usr/bin:/bin"],
    })
}

/// A directory for hook output, removed on drop.
struct Out(PathBuf);
impl Out {
    fn new() -> Out {
        let d = std::env::temp_dir().join(unique_id("lt-hooks"));
        fs::create_dir_all(&d).unwrap();
        Out(d)
    }
    fn p(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn json(&self, name: &str) -> Value {
        let p = self.p(name);
        let t = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}: {t}", p.display()))
    }
}
impl Drop for Out {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Installs an executable script at `rootfs/hookbin/NAME` (only in the
/// container: a startContainer hook path resolves there).
fn container_script(bundle: &Bundle, name: &str, body: &str) -> String {
    let dir = bundle.rootfs().join("hookbin");
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    format!("/hookbin/{name}")
}

fn ns_of(pid: &str, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

#[test]
fn every_hook_gets_its_state_at_its_point() {
    require_root!();
    let rt = Rt::new("hooks");
    let id = unique_id("lt-hooks");
    let out = Out::new();
    let bundle = sh_bundle(&id, "echo ran > /tmp/ran; exec sleep 600", |c| {
        c["annotations"] = json!({"hook.test": "1"});
    });
    let start_hook = container_script(
        &bundle,
        "start.sh",
        "cat > /tmp/startContainer.json; hostname > /tmp/startContainer.host; test -e /tmp/ran && echo after >> /tmp/startContainer.host; echo \"$HOOK_ENV\" > /tmp/startContainer.env",
    );
    bundle.config_mut(|c| {
        c["hooks"] = json!({
            "prestart": [host_hook(&out.p("prestart.json"), &format!("echo \"$HOOK_ENV $0\" > {}", out.p("prestart.env").display()))],
            "createRuntime": [host_hook(&out.p("createRuntime.json"), &format!("readlink /proc/self/ns/mnt > {}", out.p("createRuntime.mnt").display()))],
            "createContainer": [host_hook(&out.p("createContainer.json"), &format!(
                "hostname > {h}; readlink /proc/self/ns/mnt > {m}; readlink /proc/self/ns/uts > {u}; test -d {rootfs}/bin && echo host-view >> {h}",
                h = out.p("createContainer.host").display(),
                m = out.p("createContainer.mnt").display(),
                u = out.p("createContainer.uts").display(),
                rootfs = bundle.rootfs().display(),
            ))],
            "startContainer": [{"path": start_hook, "env": ["HOOK_ENV=in-container"]}],
            "poststart": [host_hook(&out.p("poststart.json"), "")],
            "poststop": [host_hook(&out.p("poststop.json"), "")],
        });
    });
    rt.create_ok(&bundle, &id);
    let pid = rt.pid(&id).to_string();
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let st = out.json(&format!("{kind}.json"));
        assert_eq!(st["status"], "creating", "{kind}: {st}");
        assert_eq!(st["id"], id.as_str(), "{kind}");
        // runtime-spec "State": the pid as the hook's namespace sees the
        // container's process: 1 in its own pid namespace for a hook in
        // the container namespace (runc passes 1 too).
        let want = if kind == "createContainer" {
            "1"
        } else {
            pid.as_str()
        };
        assert_eq!(
            st["pid"].to_string(),
            want,
            "{kind}: the container process: {st}"
        );
        assert_eq!(st["bundle"], bundle.dir().to_str().unwrap(), "{kind}");
        assert_eq!(st["ociVersion"], bundle.config()["ociVersion"], "{kind}");
        assert_eq!(st["annotations"]["hook.test"], "1", "{kind}");
    }
    // createRuntime: the runtime's namespaces; createContainer: the
    // container's (its hostname, its mount namespace, still the host's
    // tree before pivot_root).
    assert_eq!(
        fs::read_to_string(out.p("prestart.env")).unwrap(),
        "yes sh\n",
        "env and argv[0] as given"
    );
    let own_mnt = ns_of("self", "mnt");
    assert_eq!(
        fs::read_to_string(out.p("createRuntime.mnt"))
            .unwrap()
            .trim(),
        own_mnt
    );
    assert_eq!(
        fs::read_to_string(out.p("createContainer.mnt"))
            .unwrap()
            .trim(),
        ns_of(&pid, "mnt")
    );
    assert_eq!(
        fs::read_to_string(out.p("createContainer.uts"))
            .unwrap()
            .trim(),
        ns_of(&pid, "uts")
    );
    assert_eq!(
        fs::read_to_string(out.p("createContainer.host")).unwrap(),
        "sprout\nhost-view\n"
    );
    assert!(
        !out.p("poststart.json").exists()
            && !bundle.rootfs().join("tmp/startContainer.json").exists()
    );

    rt.ok(&["start", &id]);
    // startContainer: in the container (path and files resolve in its
    // root), before the process runs.
    let st: Value = serde_json::from_str(
        &fs::read_to_string(bundle.rootfs().join("tmp/startContainer.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(st["status"], "created", "{st}");
    // As the container sees its process (its own pid namespace).
    assert_eq!(st["pid"], 1, "{st}");
    assert_eq!(
        fs::read_to_string(bundle.rootfs().join("tmp/startContainer.host")).unwrap(),
        "sprout\n",
        "ran before the process"
    );
    assert_eq!(
        fs::read_to_string(bundle.rootfs().join("tmp/startContainer.env")).unwrap(),
        "in-container\n"
    );
    let st = out.json("poststart.json");
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"].to_string(), pid);
    assert!(!out.p("poststop.json").exists());

    rt.ok(&["delete", "--force", &id]);
    let st = out.json("poststop.json");
    assert_eq!(st["status"], "stopped", "{st}");
    // No process, no pid (runc's hooks get none either).
    assert!(st.get("pid").is_none(), "{st}");
    assert_eq!(st["id"], id.as_str());
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// strace attached to the stub `pid` (waiting for `start`), holding its
/// `execve` back for `secs` seconds; returns once it is attached. Kill it
/// when done.
fn hold_exec(pid: i32, secs: u32) -> std::process::Child {
    let strace = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "-e", "trace=execve", "-e"])
        .arg(format!("inject=execve:delay_enter={}", secs * 1_000_000))
        .arg("-p")
        .arg(pid.to_string())
        .spawn()
        .expect("strace (cargo xtask test installs it)");
    let traced = || {
        fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("TracerPid:") && l.split_whitespace().nth(1) != Some("0"))
    };
    let t0 = Instant::now();
    while !traced() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "strace did not attach"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    strace
}

/// runtime.md, "Lifecycle": poststart hooks run after the user-specified
/// process is executed. The hook must find the container's pid running
/// the container's program, not the stub: `start` waits for the stub's
/// exec (which closes the start connection). strace holds the stub's
/// `execve` back for a second, so that a `start` that did not wait (as
/// before: the hook started on the stub's "go" byte) is seen.
#[test]
fn poststart_hooks_run_after_the_container_process_is_executed() {
    require_root!();
    let rt = Rt::new("poststart-exec");
    let id = unique_id("lt-psexec");
    let out = Out::new();
    let bundle = sh_bundle(&id, "exec sleep 600", |_| {});
    let exe = out.p("exe");
    bundle.config_mut(|c| {
        c["hooks"] = json!({"poststart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!(
                "pid=$(tr -d ' \\n' | sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); readlink /proc/$pid/exe > {}",
                exe.display()
            )],
        }]});
    });
    rt.create_ok(&bundle, &id);
    let pid = rt.pid(&id);
    let mut strace = hold_exec(pid, 1);
    rt.ok(&["start", &id]);
    let seen = fs::read_to_string(&exe).unwrap();
    let _ = strace.kill();
    let _ = strace.wait();
    assert!(
        seen.trim_end().ends_with("/busybox"),
        "the poststart hook saw {seen:?} as the container process"
    );
    rt.ok(&["delete", "--force", &id]);
}

/// While `start` waits for the container process's exec (held back here
/// by strace for 10 s), the container is already saved as running and
/// its lock is free: `state` says running, `pause` and `resume` work, and
/// a `start` killed meanwhile leaves it running (it stayed `created`, and
/// `kill TERM` of a created container is SIGKILL).
#[test]
fn start_waiting_for_the_exec_holds_nothing() {
    require_root!();
    let rt = Rt::new("start-held");
    let id = unique_id("lt-startheld");
    let bundle = sh_bundle(&id, "exec sleep 600", |_| {});
    rt.create_ok(&bundle, &id);
    let pid = rt.pid(&id);
    let mut strace = hold_exec(pid, 10);
    let mut start = rt.cmd(&["start", &id]).spawn().unwrap();
    let t0 = Instant::now();
    while rt.status(&id) != "running" {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "not running: {}",
            rt.status(&id)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for cmd in ["pause", "resume"] {
        let out =
            sprout_systests::output_with_timeout(&mut rt.cmd(&[cmd, &id]), Duration::from_secs(3));
        assert_eq!(out.code(), Some(0), "{cmd} while start waits: {out}");
    }
    let _ = start.kill();
    let _ = start.wait();
    let _ = strace.kill();
    let _ = strace.wait();
    assert_eq!(rt.status(&id), "running");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn foreground_run_runs_every_hook() {
    require_root!();
    let rt = Rt::new("fghooks");
    let id = unique_id("lt-fgh");
    let out = Out::new();
    let log = out.p("order");
    let bundle = sh_bundle(&id, "cat /tmp/start.status; echo process", |_| {});
    let start_hook = container_script(
        &bundle,
        "start.sh",
        "grep -o '\"status\":\"[a-z]*\"' > /tmp/start.status",
    );
    let h = |name: &str| {
        host_hook(
            &out.p(&format!("{name}.json")),
            &format!("echo {name} >> {}", log.display()),
        )
    };
    bundle.config_mut(|c| {
        c["hooks"] = json!({
            "prestart": [h("prestart")],
            "createRuntime": [h("createRuntime")],
            "createContainer": [h("createContainer")],
            "startContainer": [{"path": start_hook}],
            "poststart": [h("poststart")],
            "poststop": [h("poststop")],
        });
    });
    let o = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(o.stdout_str(), "\"status\":\"created\"\nprocess\n", "{o}");
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "prestart\ncreateRuntime\ncreateContainer\npoststart\npoststop\n"
    );
    assert_eq!(out.json("poststop.json")["status"], "stopped");
    assert_eq!(out.json("poststart.json")["status"], "running");
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn a_hook_that_times_out_is_killed_and_fails_create() {
    require_root!();
    let rt = Rt::new("hooktmo");
    let id = unique_id("lt-htmo");
    let out = Out::new();
    let marker = out.p("still-running");
    let bundle = sh_bundle(&id, "true", |c| {
        c["hooks"] = json!({"prestart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("sleep 30; touch {}", marker.display())],
            "timeout": 1
        }]});
    });
    let t = Instant::now();
    let o = rt.create(&bundle, &id, &[]);
    let msg = common::assert_one_line_error(&o, &["hooks.prestart[0]", "timed out after 1 s"]);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}: {msg}",
        t.elapsed()
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!marker.exists());
}

#[test]
fn failing_hooks_tear_the_container_down() {
    require_root!();
    let rt = Rt::new("hookfail");
    let out = Out::new();
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let id = unique_id(&format!("lt-hf-{}", kind.to_lowercase()));
        let poststop = out.p(&format!("{kind}-poststop.json"));
        let bundle = sh_bundle(&id, "true", |c| {
            c["hooks"] = json!({kind: [
                {"path": "/bin/true"},
                {"path": "/bin/sh", "args": ["sh", "-c", "cat >/dev/null; echo hook-said-no >&2; exit 4"]}
            ], "poststop": [host_hook(&poststop, "")]});
        });
        let o = rt.create(&bundle, &id, &[]);
        common::assert_one_line_error(
            &o,
            &[
                &format!("hooks.{kind}[1] \"/bin/sh\": exit status 4"),
                "hook-said-no",
            ],
        );
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
        // The lifecycle goes on at "destroy", then the poststop hooks.
        let st = out.json(&format!("{kind}-poststop.json"));
        assert_eq!(st["status"], "stopped", "{kind}: {st}");
        assert_eq!(st["id"], id.as_str());
    }
    // A missing hook binary.
    let id = unique_id("lt-hf-missing");
    let bundle = sh_bundle(&id, "true", |c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/no/such/hook"}]})
    });
    let o = rt.create(&bundle, &id, &[]);
    common::assert_one_line_error(
        &o,
        &[
            "hooks.createRuntime[0] \"/no/such/hook\"",
            "No such file or directory",
        ],
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn failing_start_container_hook_stops_the_container() {
    require_root!();
    let rt = Rt::new("hooksc");
    let id = unique_id("lt-hsc");
    let bundle = sh_bundle(&id, "echo ran > /tmp/ran; sleep 600", |_| {});
    let hook = container_script(&bundle, "fail.sh", "exit 9");
    bundle.config_mut(|c| c["hooks"] = json!({"startContainer": [{"path": hook}]}));
    rt.create_ok(&bundle, &id);
    let o = rt.sprout(&["start", &id]);
    common::assert_one_line_error(&o, &["hooks.startContainer[0]", "exit status 9"]);
    assert_eq!(rt.status(&id), "stopped");
    assert!(
        !bundle.rootfs().join("tmp/ran").exists(),
        "the process must not run"
    );
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn poststart_and_poststop_failures_are_warnings() {
    require_root!();
    let rt = Rt::new("hookwarn");
    let id = unique_id("lt-hw");
    let out = Out::new();
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["hooks"] = json!({
            "poststart": [
                {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]},
                host_hook(&out.p("poststart2.json"), "")
            ],
            "poststop": [
                {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1},
                host_hook(&out.p("poststop2.json"), "")
            ],
        });
    });
    rt.create_ok(&bundle, &id);
    let o = rt.sprout(&["start", &id]);
    assert!(o.success(), "{o}");
    assert_eq!(
        o.stderr_str(),
        "sprout: warning: hooks.poststart[0] \"/bin/sh\": exit status 3\n",
        "{o}"
    );
    assert_eq!(
        out.json("poststart2.json")["status"],
        "running",
        "the next hook still runs"
    );
    assert_eq!(rt.status(&id), "running");
    let o = rt.sprout(&["delete", "--force", &id]);
    assert!(o.success(), "{o}");
    assert!(
        o.stderr_str()
            .contains("warning: hooks.poststop[0] \"/bin/sleep\": timed out after 1 s"),
        "{o}"
    );
    assert_eq!(out.json("poststop2.json")["status"], "stopped");
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// Opens the hook's own `/proc/self/cgroup` (fd 3) and pid namespace
/// (fd 4) in the hook's shell itself: a child it forks would be in the
/// pid namespace a `setns` chose for children (and so in the container's
/// `/proc`) even if the hook were not.
const SELF_OPEN: &str = "exec 3< /proc/self/cgroup 4< /proc/self/ns/pid";

/// createContainer and startContainer run "in the container namespace"
/// as runc and crun run them (from the container's init): inside the
/// container's pid namespace (so `/proc/self` resolves in the container's
/// `/proc` for a startContainer hook) and inside its cgroups, in every
/// hierarchy. Each hook records its `/proc/self/cgroup` and pid
/// namespace; so does the container process. With a cgroup namespace all
/// three see `/` everywhere; without one, the host's paths of the
/// container's cgroup.
#[test]
fn container_hooks_run_in_the_container_pid_namespace_and_cgroups() {
    require_root!();
    let rt = Rt::new("hookcg");
    let out = Out::new();
    for cgroupns in [true, false] {
        let id = unique_id(if cgroupns { "lt-hcg" } else { "lt-hcg-nons" });
        let bundle = sh_bundle(
            &id,
            "cat /proc/self/cgroup > /tmp/proc.cgroup; readlink /proc/self/ns/pid > /tmp/proc.pidns; exec sleep 600",
            |c| {
                if !cgroupns {
                    common::drop_namespace(c, "cgroup");
                }
            },
        );
        let start_hook = container_script(
            &bundle,
            "start.sh",
            &format!(
                "{SELF_OPEN} && cat <&3 > /tmp/start.cgroup && readlink /proc/self/fd/4 > /tmp/start.pidns"
            ),
        );
        let cc = |ext: &str| out.p(&format!("{id}.create.{ext}"));
        bundle.config_mut(|c| {
            c["hooks"] = json!({
                "createContainer": [host_hook(&cc("json"), &format!(
                    "{SELF_OPEN} && cat <&3 > {} && readlink /proc/self/fd/4 > {}",
                    cc("cgroup").display(),
                    cc("pidns").display(),
                ))],
                "startContainer": [{"path": start_hook}],
            });
        });
        rt.create_ok(&bundle, &id);
        let pid = rt.pid(&id);
        let pid_ns = ns_of(&pid.to_string(), "pid");
        assert_ne!(pid_ns, ns_of("self", "pid"), "the container has its own");
        // The container process's cgroups (the stub's, before `start`), in
        // every hierarchy: as the host sees them; with a cgroup namespace,
        // `/` in each (the namespace's root).
        let host_view = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(host_view.lines().count() > 1, "{host_view}");
        let mut want = String::new();
        for line in host_view.lines() {
            let (hierarchy, path) = line.rsplit_once(':').unwrap();
            assert_eq!(path, format!("/sprout/{id}"), "{host_view}");
            want += &format!("{hierarchy}:{}\n", if cgroupns { "/" } else { path });
        }
        let check = |hook: &str, cgroup: &Path, pidns: &Path| {
            let got = fs::read_to_string(cgroup)
                .unwrap_or_else(|e| panic!("{hook}: {}: {e}", cgroup.display()));
            assert_eq!(
                got, want,
                "{hook} (cgroup namespace: {cgroupns}): the container's cgroups"
            );
            assert_eq!(
                fs::read_to_string(pidns).unwrap().trim(),
                pid_ns,
                "{hook}: the container's pid namespace"
            );
        };
        check("createContainer", &cc("cgroup"), &cc("pidns"));
        rt.ok(&["start", &id]);
        let in_root = |name: &str| bundle.rootfs().join("tmp").join(name);
        check(
            "startContainer",
            &in_root("start.cgroup"),
            &in_root("start.pidns"),
        );
        // What the container process itself sees.
        assert_eq!(wait_file(&in_root("proc.cgroup"), 10), want);
        assert_eq!(
            fs::read_to_string(in_root("proc.pidns")).unwrap().trim(),
            pid_ns
        );
        rt.ok(&["delete", "--force", &id]);
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
}

/// A container-namespace hook that times out is killed with everything
/// it started (the hook runs below a parent that stays outside the
/// container's pid namespace; both are in the killed process group):
/// `create` fails and leaves nothing, a `start` fails and the container
/// is stopped; no process is left.
#[test]
fn a_container_hook_that_times_out_leaves_no_process() {
    require_root!();
    let rt = Rt::new("hookctmo");
    let out = Out::new();
    let marker = out.p("still-running");
    let slow = format!(
        "cat > /dev/null; sleep 30 & sleep 30; touch {}",
        marker.display()
    );
    // createContainer: `create` fails.
    let id = unique_id("lt-hctmo");
    let bundle = sh_bundle(&id, "true", |c| {
        c["hooks"] = json!({"createContainer": [{
            "path": "/bin/sh", "args": ["sh", "-c", slow], "timeout": 1,
            "env": ["PATH=/usr/bin:/bin"]
        }]});
    });
    let t = Instant::now();
    let o = rt.create(&bundle, &id, &[]);
    let msg = common::assert_one_line_error(&o, &["hooks.createContainer[0]"]);
    assert_eq!(
        msg,
        "hooks.createContainer[0] \"/bin/sh\": timed out after 1 s (killed)"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));

    // startContainer: `start` fails, the container is stopped.
    let id = unique_id("lt-hstmo");
    let bundle = sh_bundle(&id, "echo ran > /tmp/ran; sleep 600", |_| {});
    let hook = container_script(&bundle, "slow.sh", "sleep 30 & sleep 30; touch /tmp/late");
    bundle.config_mut(|c| c["hooks"] = json!({"startContainer": [{"path": hook, "timeout": 1}]}));
    rt.create_ok(&bundle, &id);
    let t = Instant::now();
    let o = rt.sprout(&["start", &id]);
    let msg = common::assert_one_line_error(&o, &["hooks.startContainer[0]"]);
    assert_eq!(
        msg,
        "hooks.startContainer[0] \"/hookbin/slow.sh\": timed out after 1 s (killed)"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(rt.status(&id), "stopped");
    assert!(!bundle.rootfs().join("tmp/ran").exists());
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!marker.exists() && !bundle.rootfs().join("tmp/late").exists());
}

/// A hook's `timeout` holds whatever the hook does with its stdin: the
/// state comes from a file, so a state bigger than a pipe holds (large
/// annotations) and a hook that never reads it, or closes it, cannot
/// keep sprout writing past the timeout (attack pass: such a hook ran
/// to its end and counted as a success).
#[test]
fn a_hook_timeout_holds_with_a_large_state() {
    require_root!();
    let rt = Rt::new("hookbig");
    for (kind, script) in [
        ("createRuntime", "sleep 10"),
        ("createContainer", "exec 0</dev/null; sleep 10"),
    ] {
        let id = unique_id("lt-hbig");
        let bundle = sh_bundle(&id, "true", |c| {
            c["annotations"] = json!({"big": "x".repeat(200_000)});
            c["hooks"] = json!({kind: [{
                "path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 1,
                "env": ["PATH=/usr/bin:/bin"]
            }]});
        });
        let o = rt.create(&bundle, &id, &[]);
        let msg = common::assert_one_line_error(&o, &[kind]);
        assert_eq!(
            msg,
            format!("hooks.{kind}[0] \"/bin/sh\": timed out after 1 s (killed)")
        );
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
}

/// Under a parent that is a subreaper and reaps only its own child (an
/// application as a container's pid 1, a supervisor), a container hook
/// killed on its timeout is still reaped by sprout: its parent dies with
/// it, and the zombie, handed up, would hold the container's init in its
/// pid namespace's teardown until someone reaped it (the attack pass saw
/// `create` hang for good). Guarded by `timeout 60`.
#[test]
fn a_timed_out_container_hook_is_reaped_under_a_lazy_parent() {
    require_root!();
    let rt = Rt::new("hooklazy");
    let id = unique_id("lt-hlazy");
    let bundle = sh_bundle(&id, "true", |c| {
        c["hooks"] = json!({"createContainer": [{
            "path": "/bin/sh", "args": ["sh", "-c", "exec sleep 30"], "timeout": 1,
            "env": ["PATH=/usr/bin:/bin"]
        }]});
    });
    let mut cmd = Command::new("timeout");
    cmd.arg("60").arg(env!("CARGO_BIN_EXE_lazy-reaper"));
    cmd.arg(sprout_systests::sprout_bin())
        .arg("--root")
        .arg(&rt.root);
    cmd.args(["create", "--bundle"]).arg(bundle.dir()).arg(&id);
    let o = output(&mut cmd);
    assert_ne!(
        o.code(),
        Some(124),
        "create hung under the lazy parent: {o}"
    );
    let msg = common::assert_one_line_error(&o, &["hooks.createContainer[0]"]);
    assert_eq!(
        msg,
        "hooks.createContainer[0] \"/bin/sh\": timed out after 1 s (killed)"
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// A container-namespace hook's end is reported as a runtime hook's is:
/// the exec error of a missing path, its exit status with its output, the
/// signal that killed it.
#[test]
fn container_hook_failures_are_reported_exactly() {
    require_root!();
    let rt = Rt::new("hookcfail");
    let cases: [(&str, Value, &str); 3] = [
        (
            "createContainer",
            json!({"path": "/no/such/hook"}),
            "hooks.createContainer[0] \"/no/such/hook\": exec: No such file or directory (ENOENT)",
        ),
        (
            "createContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "echo said-so; exit 42"]}),
            "hooks.createContainer[0] \"/bin/sh\": exit status 42 (output: said-so)",
        ),
        (
            "createContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "kill -KILL $$; echo not-here"]}),
            "hooks.createContainer[0] \"/bin/sh\": killed by SIGKILL",
        ),
    ];
    for (i, (kind, hook, want)) in cases.into_iter().enumerate() {
        let id = unique_id(&format!("lt-hcf{i}"));
        let bundle = sh_bundle(&id, "true", |c| c["hooks"] = json!({kind: [hook]}));
        let o = rt.create(&bundle, &id, &[]);
        let msg = common::assert_one_line_error(&o, &[]);
        assert_eq!(msg, want);
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
    // startContainer with a path missing in the container's root.
    let id = unique_id("lt-hcf-start");
    let bundle = sh_bundle(&id, "echo ran > /tmp/ran; sleep 600", |c| {
        c["hooks"] = json!({"startContainer": [{"path": "/no/such/hook"}]})
    });
    rt.create_ok(&bundle, &id);
    let o = rt.sprout(&["start", &id]);
    let msg = common::assert_one_line_error(&o, &[]);
    assert_eq!(
        msg,
        "hooks.startContainer[0] \"/no/such/hook\": exec: No such file or directory (ENOENT)"
    );
    assert_eq!(rt.status(&id), "stopped");
    assert!(!bundle.rootfs().join("tmp/ran").exists());
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    // One the stub cannot exec (a directory): the exec error too, not the
    // stub's exit status and line.
    let id = unique_id("lt-hcf-startdir");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["hooks"] = json!({"startContainer": [{"path": "/tmp"}]})
    });
    rt.create_ok(&bundle, &id);
    let o = rt.sprout(&["start", &id]);
    let msg = common::assert_one_line_error(&o, &[]);
    assert_eq!(
        msg,
        "hooks.startContainer[0] \"/tmp\": exec: Permission denied (EACCES)"
    );
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// Every hook starts with no signal blocked, as runc's do (and as the
/// container process does), also in a foreground `run`, which blocks the
/// signals it forwards. `awk` reads its own `/proc/self/status` (a shell
/// would clear the mask itself).
#[test]
fn hooks_start_with_no_signal_blocked() {
    require_root!();
    let rt = Rt::new("hooksig");
    let id = unique_id("lt-hsig");
    let out = Out::new();
    let bundle = sh_bundle(&id, "true", |_| {});
    let awk = |path: &str, file: &str| json!({"path": path, "args": ["awk", format!("/SigBlk/ {{ print $2 > \"{file}\" }}"), "/proc/self/status"]});
    let host = |kind: &str| out.p(kind).display().to_string();
    bundle.config_mut(|c| {
        c["hooks"] = json!({
            "prestart": [awk("/usr/bin/awk", &host("prestart"))],
            "createContainer": [awk("/usr/bin/awk", &host("createContainer"))],
            "startContainer": [awk("/bin/awk", "/tmp/startContainer")],
            "poststart": [awk("/usr/bin/awk", &host("poststart"))],
            "poststop": [awk("/usr/bin/awk", &host("poststop"))],
        });
    });
    let o = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
    assert_eq!(o.code(), Some(0), "{o}");
    for kind in ["prestart", "createContainer", "poststart", "poststop"] {
        assert_eq!(
            fs::read_to_string(out.p(kind)).unwrap().trim(),
            "0000000000000000",
            "{kind}"
        );
    }
    assert_eq!(
        fs::read_to_string(bundle.rootfs().join("tmp/startContainer"))
            .unwrap()
            .trim(),
        "0000000000000000",
        "startContainer"
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// A startContainer hook runs as the container's process will: its user,
/// groups, capability sets and no_new_privs (runc runs it from its init
/// after applying them). Its path resolves in the container's rootfs, the
/// image's files: as the runtime (root, every capability) it could leave
/// the container.
#[test]
fn start_container_hooks_run_with_the_containers_credentials() {
    require_root!();
    let id = unique_id("lt-hookcreds");
    let bundle = sh_bundle(&id, "cat /dev/shm/hook-status", |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]});
        c["process"]["noNewPrivileges"] = json!(true);
    });
    let hook = container_script(
        &bundle,
        "creds.sh",
        "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status > /dev/shm/hook-status",
    );
    bundle.config_mut(|c| c["hooks"] = json!({"startContainer": [{"path": hook}]}));
    let out = output(sprout(&["run", "--bundle"]).arg(bundle.dir()).arg(&id));
    assert_eq!(out.code(), Some(0), "{out}");
    let s = out.stdout_str();
    let field = |name: &str| -> String {
        s.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
    };
    assert_eq!(field("Uid"), "1000 1000 1000 1000", "{out}");
    assert_eq!(field("Gid"), "1000 1000 1000 1000", "{out}");
    assert_eq!(field("Groups"), "2000", "{out}");
    assert_eq!(field("NoNewPrivs"), "1", "{out}");
    // `sprout spec`'s bounding set: CAP_AUDIT_WRITE, CAP_KILL,
    // CAP_NET_BIND_SERVICE; as a non-root user after its exec, no
    // effective or permitted capability (none ambient).
    assert_eq!(field("CapBnd"), "0000000020000420", "{out}");
    assert_eq!(field("CapEff"), "0000000000000000", "{out}");
    assert_eq!(field("CapPrm"), "0000000000000000", "{out}");
}

/// A startContainer hook also takes on the container process's
/// `process.rlimits`, umask and `process.oomScoreAdj`, as runc's (run from
/// its init, which has them by then): here NOFILE 777/888, umask 0077,
/// oomScoreAdj 500, the same in the hook as in the container. The hook
/// had the caller's before.
#[test]
fn start_container_hooks_get_the_containers_rlimits_umask_and_oom_score() {
    require_root!();
    let id = unique_id("lt-hookrlim");
    let probe = "echo $(ulimit -n) $(ulimit -Hn) $(umask) $(cat /proc/self/oom_score_adj)";
    let bundle = sh_bundle(&id, &format!("cat /dev/shm/hook; {probe}"), |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 888}]);
        c["process"]["user"]["umask"] = json!(0o077);
        c["process"]["oomScoreAdj"] = json!(500);
    });
    let hook = container_script(&bundle, "limits.sh", &format!("{probe} > /dev/shm/hook"));
    bundle.config_mut(|c| c["hooks"] = json!({"startContainer": [{"path": hook}]}));
    let out = output(sprout(&["run", "--bundle"]).arg(bundle.dir()).arg(&id));
    assert_eq!(out.code(), Some(0), "{out}");
    let lines: Vec<String> = out.stdout_str().lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        ["777 888 0077 500", "777 888 0077 500"],
        "hook, then the container: {out}"
    );
}

/// With a user namespace, a createContainer hook runs as the namespace's
/// root, as runc's (run from its init): `id -u` says 0 and a file it makes
/// in the container's `/dev` (a tmpfs of the namespace) belongs to it. It
/// ran as the host's root, unmapped there (65534, and EOVERFLOW for the
/// file). The hook fails on purpose so that its output is in the error.
#[test]
fn create_container_hooks_are_the_user_namespaces_root() {
    require_root!();
    let rt = Rt::new("hookuserns");
    let id = unique_id("lt-hookuserns");
    let bundle = sh_bundle(&id, "true", |c| {
        common::add_user_namespace(c);
        c["hooks"] = json!({"createContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", "echo $(id -u) $(id -g); touch dev/x && stat -c %u dev/x; exit 1"],
        }]});
    });
    let o = rt.create(&bundle, &id, &[]);
    let msg = common::assert_one_line_error(&o, &[]);
    assert_eq!(
        msg,
        "hooks.createContainer[0] \"/bin/sh\": exit status 1 (output: 0 0 0)"
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// The same with a foreground `run`, whose stub starts before the plan
/// exists (the id maps are written right after the clone): the
/// createContainer hook runs as the namespace's root too, and a failing
/// hook leaves nothing behind.
#[test]
fn create_container_hooks_of_a_run_are_the_user_namespaces_root() {
    require_root!();
    let rt = Rt::new("hookusernsrun");
    let id = unique_id("lt-hookusernsrun");
    let bundle = sh_bundle(&id, "true", |c| {
        common::add_user_namespace(c);
        c["hooks"] = json!({"createContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", "echo $(id -u) $(id -g); touch dev/x && stat -c %u dev/x; exit 1"],
        }]});
    });
    let mut cmd = rt.cmd(&["run", "--bundle"]);
    cmd.arg(bundle.dir()).arg(&id);
    let o = sprout_systests::output(&mut cmd);
    let msg = common::assert_one_line_error(&o, &[]);
    assert_eq!(
        msg,
        "hooks.createContainer[0] \"/bin/sh\": exit status 1 (output: 0 0 0)"
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// A startContainer hook of a non-root user dies with a killed `start`
/// (its parent-death signal is armed again after the uid change, which
/// cleared it): the container's cgroup holds only the waiting container
/// process again, and the hook cannot run twice at once. It survived.
/// Its `env` is passed as given, an entry without `=` too (runc).
#[test]
fn a_non_root_start_container_hook_dies_with_a_killed_start() {
    require_root!();
    let rt = Rt::new("hookpdeath");
    let id = unique_id("lt-hookpdeath");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    let hook = container_script(
        &bundle,
        "slow.sh",
        "tr '\\0' '\\n' < /proc/$$/environ > /tmp/hook-env; exec sleep 600",
    );
    bundle.config_mut(|c| {
        c["hooks"] = json!({"startContainer": [{"path": hook, "env": ["NOEQ", "A=b"]}]})
    });
    rt.create_ok(&bundle, &id);
    let procs = format!("/sys/fs/cgroup/pids/sprout/{id}/cgroup.procs");
    let count = || {
        fs::read_to_string(&procs)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(count(), 1, "{procs}");
    let mut start = rt.cmd(&["start", &id]).spawn().unwrap();
    let env = bundle.rootfs().join("tmp/hook-env");
    assert_eq!(wait_file(&env, 10), "NOEQ\nA=b\n");
    // The hook and its parent, which stays outside the pid namespace.
    assert_eq!(count(), 3, "the hook runs in the container's cgroup");
    start.kill().unwrap();
    let _ = start.wait();
    let t0 = Instant::now();
    while count() != 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the hook outlived the killed start: {:?}",
            fs::read_to_string(&procs)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rt.status(&id), "created");
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// A startContainer hook runs under the container's seccomp filter, as
/// runc's do (its init has loaded the filter when it runs them): here a
/// profile that answers mkdir with EOPNOTSUPP, with and without
/// `noNewPrivileges` (without it the filter is loaded while
/// CAP_SYS_ADMIN is still effective). The hook ran unfiltered before.
#[test]
fn start_container_hooks_run_under_the_containers_seccomp_filter() {
    require_root!();
    for nnp in [true, false] {
        let id = unique_id("lt-hookseccomp");
        let bundle = sh_bundle(
            &id,
            "cat /dev/shm/hook-mkdir; test -d /tmp/by-hook || echo no-dir",
            |c| {
                c["process"]["noNewPrivileges"] = json!(nnp);
                c["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]
                });
            },
        );
        let hook = container_script(
            &bundle,
            "mk.sh",
            "mkdir /tmp/by-hook 2> /dev/shm/hook-mkdir; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status >> /dev/shm/hook-mkdir",
        );
        bundle.config_mut(|c| c["hooks"] = json!({"startContainer": [{"path": hook}]}));
        let out = output(sprout(&["run", "--bundle"]).arg(bundle.dir()).arg(&id));
        assert_eq!(out.code(), Some(0), "nnp {nnp}: {out}");
        let words: Vec<String> = out
            .stdout_str()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let want = format!(
            "mkdir: can't create directory '/tmp/by-hook': Operation not supported \
             NoNewPrivs: {} Seccomp: 2 no-dir",
            u8::from(nnp)
        );
        assert_eq!(words.join(" "), want, "nnp {nnp}: {out}");
    }
}

/// A startContainer hook joins the container's time namespace too (it
/// runs in the container's namespaces): it reads the container's uptime,
/// two days ahead of the host's here. It read the host's before.
#[test]
fn start_container_hooks_join_the_time_namespace() {
    require_root!();
    let id = unique_id("lt-hooktime");
    let bundle = sh_bundle(&id, "cat /dev/shm/hook-uptime", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 172800}});
    });
    let hook = container_script(
        &bundle,
        "up.sh",
        "cut -d. -f1 /proc/uptime > /dev/shm/hook-uptime",
    );
    bundle.config_mut(|c| c["hooks"] = json!({"startContainer": [{"path": hook}]}));
    let before = host_uptime();
    let out = output(sprout(&["run", "--bundle"]).arg(bundle.dir()).arg(&id));
    let after = host_uptime();
    assert_eq!(out.code(), Some(0), "{out}");
    let up: u64 = out
        .stdout_str()
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        up >= before + 172_800 && up <= after + 172_800 + 1,
        "the hook's uptime {up}, the host's {before}..{after}: {out}"
    );
}

/// The host's uptime, whole seconds.
fn host_uptime() -> u64 {
    let t = fs::read_to_string("/proc/uptime").unwrap();
    t.split('.').next().unwrap().parse().unwrap()
}

/// With `linux.timeOffsets`, a createContainer hook (it enters the
/// container's time namespace before pivot_root) and the container read
/// the container's uptime, two days ahead of the host's: `create` writes
/// the offsets before those hooks run. `run` failed before (`EACCES`:
/// the hook was in the namespace before the stub wrote them).
#[test]
fn create_container_hooks_see_the_time_offsets() {
    require_root!();
    let id = unique_id("lt-hooktime-cc");
    let out = Out::new();
    let bundle = sh_bundle(&id, "cut -d. -f1 /proc/uptime", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 172800}});
    });
    let seen = out.p("uptime");
    bundle.config_mut(|c| {
        c["hooks"] = json!({"createContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cut -d. -f1 /proc/uptime > {}", seen.display())],
        }]})
    });
    let before = host_uptime();
    let run = output(sprout(&["run", "--bundle"]).arg(bundle.dir()).arg(&id));
    let after = host_uptime();
    assert_eq!(run.code(), Some(0), "{run}");
    let hook = fs::read_to_string(&seen).unwrap();
    for (who, up) in [("the container", run.stdout_str()), ("the hook", hook)] {
        let up: u64 = up
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{who}: {e}: {up:?}"));
        assert!(
            up >= before + 172_800 && up <= after + 172_800 + 1,
            "{who}'s uptime {up}, the host's {before}..{after}"
        );
    }
}

/// Hooks work where runc's do: in the bundle directory (runc works
/// there) for the hooks in the runtime's namespaces, in the rootfs for
/// createContainer, in `process.cwd` for startContainer. A hook that
/// reads `config.json` relative to its working directory works. They ran
/// in the caller's directory and in `/`.
#[test]
fn hooks_run_in_runcs_working_directories() {
    require_root!();
    let id = unique_id("lt-hookcwd");
    let out = Out::new();
    let bundle = sh_bundle(&id, "cat /dev/shm/start-cwd", |c| {
        c["process"]["cwd"] = json!("/tmp");
    });
    let start_hook = container_script(&bundle, "cwd.sh", "pwd > /dev/shm/start-cwd");
    let pwd = |kind: &str| {
        json!({"path": "/bin/sh", "args": ["sh", "-c",
            format!("pwd > {}; test -f config.json && echo config >> {0}; true", out.p(kind).display())]})
    };
    bundle.config_mut(|c| {
        c["hooks"] = json!({
            "prestart": [pwd("prestart")],
            "createRuntime": [pwd("createRuntime")],
            "createContainer": [pwd("createContainer")],
            "startContainer": [{"path": start_hook}],
            "poststart": [pwd("poststart")],
            "poststop": [pwd("poststop")],
        });
    });
    let run = output(
        sprout(&["run", "--bundle"])
            .arg(bundle.dir())
            .arg(&id)
            .current_dir("/"),
    );
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(run.stdout_str(), "/tmp\n", "startContainer: {run}");
    let dir = bundle.dir().canonicalize().unwrap();
    let in_bundle = format!("{}\nconfig\n", dir.display());
    for kind in ["prestart", "createRuntime", "poststart", "poststop"] {
        assert_eq!(
            fs::read_to_string(out.p(kind)).unwrap(),
            in_bundle,
            "{kind}"
        );
    }
    assert_eq!(
        fs::read_to_string(out.p("createContainer")).unwrap(),
        format!("{}\n", dir.join("rootfs").display()),
        "createContainer"
    );
}

/// CVE-2019-5736 through a hook path: a startContainer hook path that
/// the image points at `/proc/self/exe` runs the sealed sprout-init
/// (the hook is exec'd through it), never the host's sprout binary, whose
/// process the container could then reopen for writing. Here the stub
/// refuses `--version` with its usage line; before, the host's sprout
/// ran and printed its version.
#[test]
fn a_start_container_hook_path_to_proc_self_exe_runs_the_sealed_stub() {
    require_root!();
    let rt = Rt::new("hookselfexe");
    let id = unique_id("lt-hookselfexe");
    let bundle = sh_bundle(&id, "true", |_| {});
    std::os::unix::fs::symlink("/proc/self/exe", bundle.rootfs().join("selfexe")).unwrap();
    bundle.config_mut(|c| {
        c["hooks"] =
            json!({"startContainer": [{"path": "/selfexe", "args": ["hook", "--version"]}]})
    });
    rt.create_ok(&bundle, &id);
    let o = rt.sprout(&["start", &id]);
    let msg = common::assert_one_line_error(&o, &[]);
    rt.ok(&["delete", "--force", &id]);
    assert!(
        msg.starts_with(
            "hooks.startContainer[0] \"/selfexe\": exit status 2 (output: sprout-init: usage: sprout-init"
        ),
        "{msg}"
    );
}

/// Hooks get stdin, stdout and stderr only, as runc's: fds the caller of
/// sprout left open (7: the host's `/`, 9: its `/etc`) reach neither a
/// host hook (prestart) nor a startContainer hook (the image's program,
/// which could read the host through them). They reached both before.
#[test]
fn hooks_get_no_fd_of_the_caller() {
    require_root!();
    let id = unique_id("lt-hookfds");
    let out = Out::new();
    let bundle = sh_bundle(&id, "true", |_| {});
    let start = container_script(&bundle, "fds.sh", "ls /proc/self/fd > /tmp/start.fds");
    let host = out.p("prestart.fds");
    bundle.config_mut(|c| {
        c["hooks"] = json!({
            "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("ls /proc/self/fd > {}", host.display())]}],
            "startContainer": [{"path": start}],
        })
    });
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("exec 7</ 9</etc; exec \"$0\" \"$@\"")
        .arg(sprout_systests::sprout_bin())
        .args(["run", "--bundle"])
        .arg(bundle.dir())
        .arg(&id)
        .stdin(std::process::Stdio::null());
    let run = output(&mut cmd);
    assert_eq!(run.code(), Some(0), "{run}");
    for (hook, listing) in [
        ("prestart", host),
        ("startContainer", bundle.rootfs().join("tmp/start.fds")),
    ] {
        let fds = fs::read_to_string(&listing)
            .unwrap_or_else(|e| panic!("{hook}: {}: {e}", listing.display()));
        let mut fds: Vec<u32> = fds.split_whitespace().map(|f| f.parse().unwrap()).collect();
        fds.sort();
        // 0-2, and the one `ls` opens for /proc/self/fd.
        assert_eq!(fds, [0, 1, 2, 3], "{hook}'s fds");
    }
}

/// CVE-2019-5736 for hooks: until its exec, a startContainer hook's
/// process is a fork of the host's sprout binary with the container's
/// credentials, in the container's pid namespace. strace holds that
/// exec (of the sealed stub, which then execs the hook) and the hook's
/// back for two seconds each while a process of the container (an
/// `exec`, the container's default capabilities: no CAP_SYS_PTRACE) reads
/// every `/proc/PID/exe` it sees: the host binary must not be among them
/// (the hook process is non-dumpable). Before, it was readable (and so
/// writable once no sprout ran: an attack pass rewrote the host binary).
#[test]
fn a_start_container_hook_does_not_show_the_host_binary_to_the_container() {
    require_root!();
    let rt = Rt::new("hookexe");
    let id = unique_id("lt-hookexe");
    let bundle = sh_bundle(&id, "true", |_| {});
    let hook = container_script(&bundle, "hook.sh", "true");
    bundle.config_mut(|c| c["hooks"] = json!({"startContainer": [{"path": hook}]}));
    rt.create_ok(&bundle, &id);
    rt.ok(&[
        "exec",
        "-d",
        &id,
        "sh",
        "-c",
        "while :; do for p in /proc/[0-9]*; do readlink $p/exe; done; done > /tmp/seen 2>/dev/null",
    ]);
    let seen = bundle.rootfs().join("tmp/seen");
    wait_file(&seen, 10);
    let mut start = Command::new("strace");
    start
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=execve,execveat",
            "-e",
        ])
        .arg("inject=execve,execveat:delay_enter=2000000")
        .arg(sprout_systests::sprout_bin())
        .args(["--root", &rt.root_str(), "start", &id]);
    let out = output(&mut start);
    assert_eq!(out.code(), Some(0), "{out}");
    let seen_text = fs::read_to_string(&seen).unwrap();
    rt.ok(&["delete", "--force", &id]);
    assert!(
        seen_text.lines().any(|l| l.ends_with("/busybox")),
        "the loop saw no process at all: {seen_text:?}"
    );
    let host = fs::canonicalize(sprout_systests::sprout_bin()).unwrap();
    assert!(
        !seen_text.lines().any(|l| Path::new(l) == host),
        "the container saw the host binary {} as a process's exe",
        host.display()
    );
}
