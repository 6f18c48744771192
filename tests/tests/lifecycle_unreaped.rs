//! `state` reports `stopped` once the container process is gone even
//! though nobody reaped it (a zombie): this test process is made a child
//! subreaper, so the container process orphaned by `sprout create`
//! becomes its child and stays a zombie until the test reaps it. (A file
//! of its own: the subreaper setting is process-wide.)

mod common;
mod lifecycle_util;

use std::fs;

use lifecycle_util::*;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use sprout_systests::{require_root, unique_id};

fn proc_state(pid: i32) -> char {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next())
        })
        .unwrap_or('?')
}

#[test]
fn a_zombie_container_process_is_stopped() {
    require_root!();
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    let rt = Rt::new("zombie");
    let id = unique_id("lt-zombie");
    let bundle = sh_bundle(&id, "read x < /tmp/go; exit 3", |_| {});
    // A FIFO the process blocks on until the test lets it exit.
    assert!(
        host_sh(&format!(
            "mkfifo {}",
            bundle.rootfs().join("tmp/go").display()
        ))
        .success()
    );
    rt.create_ok(&bundle, &id);
    let pid = rt.pid(&id);
    rt.ok(&["start", &id]);
    assert_eq!(rt.status(&id), "running");
    // Release it; it exits and, unreaped, stays a zombie of ours.
    fs::write(bundle.rootfs().join("tmp/go"), "go\n").unwrap();
    assert!(
        wait_for(10, || proc_state(pid) == 'Z'),
        "state {}",
        proc_state(pid)
    );
    let st = rt.state(&id);
    assert_eq!(st["status"], "stopped", "{st}");
    assert_eq!(st["pid"], 0, "{st}");
    let out = rt.sprout(&["kill", &id, "KILL"]);
    assert_eq!(out.stderr_str(), "sprout: container not running\n", "{out}");
    let out = rt.sprout(&["start", &id]);
    assert_eq!(
        out.stderr_str(),
        "sprout: cannot start a container that has stopped\n",
        "{out}"
    );
    rt.ok(&["delete", &id]);
    assert!(!rt.dir(&id).exists());
    // Now reap it: it really was ours, exit status 3.
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, 3)) => {}
        other => panic!("reaping {pid}: {other:?}"),
    }
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}
