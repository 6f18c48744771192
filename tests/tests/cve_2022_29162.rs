//! CVE-2022-29162 (runc < 1.1.2; also moby CVE-2022-24769): runc set the
//! container process's *inheritable* capability set to the bounding set
//! instead of what the config says (empty by default). A non-root user
//! then gained capabilities by executing a program with file-inheritable
//! capabilities: at execve, P'(permitted) = (P(inheritable) &
//! F(inheritable)) | (F(permitted) & P(bounding)) | P'(ambient)
//! (capabilities(7)).
//!
//! How these tests fail on a vulnerable runtime: the container's
//! `CapInh` is not the config's; and a copy of busybox with the file
//! capabilities `cap_chown,cap_net_bind_service+ei`, run as uid 1000,
//! gets CAP_CHOWN into its permitted set although the config gives uid
//! 1000 no inheritable capabilities.

mod common;
mod support;

use common::{busybox, run_ok, sh, status_field};
use sprout_systests::serde_json::json;
use sprout_systests::{output, require_root, unique_id};

const CHOWN: u64 = 1 << 0;
const NET_BIND: u64 = 1 << 10;

fn mask(text: &str, field: &str) -> u64 {
    u64::from_str_radix(&status_field(text, field), 16).unwrap()
}

/// `/capbin/cat`: a real copy of busybox (run as its `cat` applet) with file capabilities
/// `cap_chown,cap_net_bind_service+ei` (setcap(8)); false when setcap is
/// missing.
fn capbox(bundle: &sprout_systests::Bundle) -> bool {
    std::fs::create_dir_all(bundle.rootfs().join("capbin")).unwrap();
    let dst = bundle.rootfs().join("capbin/cat");
    std::fs::copy(bundle.rootfs().join("bin/busybox"), &dst).unwrap();
    let out = output(
        std::process::Command::new("setcap")
            .arg("cap_chown,cap_net_bind_service+ei")
            .arg(&dst),
    );
    if !out.success() {
        eprintln!("setcap failed:\n{out}");
    }
    out.success()
}

/// The inheritable set is exactly `process.capabilities.inheritable`:
/// empty by default (root and uid 1000), one capability when the config
/// names it.
#[test]
fn inheritable_set_is_exactly_the_configs() {
    require_root!();
    for (inh, uid, want) in [
        (None, 0, 0),
        (None, 1000, 0),
        (Some(json!([])), 0, 0),
        (Some(json!(["CAP_NET_BIND_SERVICE"])), 1000, NET_BIND),
    ] {
        let id = unique_id("inh");
        let bundle = busybox(&id, |c| {
            let two = json!(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
            c["process"]["capabilities"] =
                json!({"bounding": two, "effective": two, "permitted": two});
            if let Some(i) = &inh {
                c["process"]["capabilities"]["inheritable"] = i.clone();
            }
            c["process"]["user"] = json!({"uid": uid, "gid": uid});
            sh(c, "cat /proc/self/status");
        });
        let out = run_ok(&bundle, &id);
        assert_eq!(
            mask(&out, "CapInh"),
            want,
            "inheritable {inh:?} uid {uid}:\n{out}"
        );
    }
}

/// A file-inheritable program gives a non-root container user nothing the
/// config did not put in its inheritable set.
#[test]
fn file_inheritable_caps_grant_nothing_extra() {
    require_root!();
    for (inh, want) in [(json!([]), 0), (json!(["CAP_NET_BIND_SERVICE"]), NET_BIND)] {
        let id = unique_id("inhfile");
        let bundle = busybox(&id, |c| {
            let two = json!(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
            c["process"]["capabilities"] =
                json!({"bounding": two, "effective": two, "permitted": two, "inheritable": inh});
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            // no_new_privs would mask the gain (execve then keeps the
            // permitted set from growing): the attack needs it off.
            c["process"]["noNewPrivileges"] = json!(false);
            sh(c, "/capbin/cat /proc/self/status");
        });
        if !capbox(&bundle) {
            skip!("setcap is not available");
        }
        let out = run_ok(&bundle, &id);
        assert_eq!(
            mask(&out, "CapPrm"),
            want,
            "inheritable {inh}: the program gained capabilities:\n{out}"
        );
        assert_eq!(mask(&out, "CapEff"), want, "{out}");
        assert_eq!(mask(&out, "CapPrm") & CHOWN, 0, "{out}");
    }
}

/// The same for a process started with `sprout exec` (as uid 1000):
/// inheritable set empty, and the file-inheritable program gains nothing.
/// Skipped (loudly) while this build has no `exec`.
#[test]
fn exec_inheritable_set_is_the_configs() {
    require_root!();
    if !support::has_command("exec") {
        skip!("`sprout exec` is not in this build yet");
    }
    let id = unique_id("inhexec");
    let bundle = busybox(&id, |c| {
        let two = json!(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
        c["process"]["capabilities"] = json!({"bounding": two, "effective": two, "permitted": two});
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["args"] = json!(["sleep", "60"]);
    });
    if !capbox(&bundle) {
        skip!("setcap is not available");
    }
    let mut bg = support::Background::run(&bundle, &id);
    let pid = bg.pid();
    let start = std::time::Instant::now();
    while !std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("busybox")) {
        assert!(start.elapsed().as_secs() < 20);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let ex = |args: &[&str]| {
        output(&mut sprout_systests::sprout(
            &[&["exec", "--user", "1000:1000", &id][..], args].concat(),
        ))
    };
    let own = ex(&["cat", "/proc/self/status"]);
    let file = ex(&["/capbin/cat", "/proc/self/status"]);
    support::kill_pid(pid);
    let _ = bg.wait(20);
    let _ = output(&mut sprout_systests::sprout(&["delete", "-f", &id]));
    common::assert_clean(&bundle, &id);
    assert!(own.success(), "{own}");
    assert_eq!(mask(&own.stdout_str(), "CapInh"), 0, "{own}");
    assert!(file.success(), "{file}");
    assert_eq!(mask(&file.stdout_str(), "CapPrm"), 0, "{file}");
}
