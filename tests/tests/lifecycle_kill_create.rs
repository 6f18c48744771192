//! Killing `sprout create` with SIGKILL at any moment must leave nothing
//! that `delete --force ID` cannot remove: no state dir, no cgroup
//! directory in any hierarchy, no process (the stub included).

mod common;
mod lifecycle_util;

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lifecycle_util::*;
use sprout_systests::serde_json::{Value, json};
use sprout_systests::{Bundle, require_root, unique_id};

/// Starts `sprout create`, waits until `ready()` (or `delay`), SIGKILLs
/// it, then checks `delete --force` cleans everything.
fn kill_create_then_delete(
    rt: &Rt,
    bundle: &Bundle,
    id: &str,
    delay: Duration,
    ready: impl FnMut() -> bool,
) {
    kill_then_delete("create", rt, bundle, id, delay, ready)
}

/// [`kill_create_then_delete`] for `sprout VERB` (`create` or `run`).
fn kill_then_delete(
    verb: &str,
    rt: &Rt,
    bundle: &Bundle,
    id: &str,
    delay: Duration,
    mut ready: impl FnMut() -> bool,
) {
    let mut c = rt.cmd(&[verb, "--bundle"]);
    c.arg(bundle.dir())
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    while start.elapsed() < delay && !ready() {
        std::thread::sleep(Duration::from_millis(1));
    }
    // The processes it started so far (the stub is its direct child).
    let mut started = children_of(child.id() as i32);
    started.extend(started.clone().iter().flat_map(|p| children_of(*p)));
    let _ = child.kill();
    let _ = child.wait();
    // Whatever the state file recorded, too.
    if let Ok(t) = fs::read_to_string(rt.dir(id).join("state.json"))
        && let Ok(v) = sprout_systests::serde_json::from_str::<Value>(&t)
        && let Some(p) = v["pid"].as_i64().filter(|p| *p > 0)
    {
        started.push(p as i32);
    }
    let out = rt.sprout(&["delete", "--force", id]);
    assert!(
        out.success(),
        "after a kill at {delay:?}: delete --force failed:\n{out}"
    );
    assert_gone(rt, bundle, id, &format!("/sprout/{id}"));
    for p in &started {
        assert!(
            wait_for(5, || !alive(*p)),
            "after a kill at {delay:?}: process {p} left"
        );
    }
    let out = rt.sprout(&["state", id]);
    assert_eq!(out.code(), Some(1), "{out}");
}

#[test]
fn sigkill_at_many_points_then_delete_force() {
    require_root!();
    let rt = Rt::new("killc");
    let id = unique_id("lt-killc");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["resources"] =
            json!({"pids": {"limit": 20}, "devices": [{"allow": false, "access": "rwm"}]});
    });
    for ms in [0, 1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 150, 400] {
        kill_create_then_delete(&rt, &bundle, &id, Duration::from_millis(ms), || false);
    }
}

#[test]
fn sigkill_during_a_hook_then_delete_force() {
    require_root!();
    let rt = Rt::new("killh");
    let id = unique_id("lt-killh");
    let marker = std::env::temp_dir().join(unique_id("lt-hook-started"));
    for kind in ["prestart", "createContainer"] {
        let _ = fs::remove_file(&marker);
        let bundle = sh_bundle(&id, "sleep 600", |c| {
            c["hooks"] = json!({kind: [{
                "path": "/bin/sh",
                "args": ["sh", "-c", format!("touch {}; exec sleep 600", marker.display())],
            }]});
        });
        kill_create_then_delete(&rt, &bundle, &id, Duration::from_secs(20), || {
            marker.exists()
        });
        assert!(marker.exists(), "{kind}: the hook never ran");
    }
    let _ = fs::remove_file(&marker);
}

#[test]
fn sigkill_with_a_user_namespace() {
    require_root!();
    let rt = Rt::new("killu");
    let id = unique_id("lt-killu");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        common::add_user_namespace(c);
    });
    for ms in [0, 2, 5, 10, 25, 60] {
        kill_create_then_delete(&rt, &bundle, &id, Duration::from_millis(ms), || false);
    }
}

/// A foreground `run` with a user namespace starts its stub before the
/// plan exists and writes the id maps right after the clone: killed at
/// any moment (before the maps, while the stub unshares, during the
/// plan, after the exec), it leaves nothing that `delete --force` cannot
/// remove, and no process.
#[test]
fn sigkill_of_a_foreground_run_with_a_user_namespace() {
    require_root!();
    let rt = Rt::new("killru");
    let id = unique_id("lt-killru");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        common::add_user_namespace(c);
    });
    for ms in [0, 1, 2, 3, 4, 6, 10, 25] {
        kill_then_delete("run", &rt, &bundle, &id, Duration::from_millis(ms), || {
            false
        });
    }
}
