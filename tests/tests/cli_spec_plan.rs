//! `sprout spec` (a default config that `sprout run` accepts; never
//! overwritten) and `sprout plan` (the resolved plan as JSON; runs
//! nothing).

mod common;

use common::{assert_clean, assert_one_line_error, busybox, demo_user, issue_caps};
use sprout_systests::serde_json::{self, Value, json};
use sprout_systests::{Bundle, Output, require_root, unique_id};

/// The default config, unchanged but for the command (it keeps
/// `terminal: true`: the output comes through the pty, with CRLF).
#[test]
fn spec_config_is_accepted_by_run() {
    require_root!();
    let b = Bundle::busybox_rootfs_only();
    let out = b.sprout("spec", &[]);
    assert_eq!(
        (
            out.code(),
            out.stdout_str().as_str(),
            out.stderr_str().as_str()
        ),
        (Some(0), "", ""),
        "{out}"
    );
    let config = b.config();
    assert_eq!(config["process"]["terminal"], true);
    assert_eq!(config["process"]["args"], json!(["sh"]));
    assert_eq!(config["root"], json!({"path": "rootfs", "readonly": true}));
    assert_eq!(config["hostname"], "sprout");
    b.set_args(&["sh", "-c", "echo spec-ok; hostname; id -u"]);
    let id = unique_id("spec");
    let out = b.run(&id);
    assert_clean(&b, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "spec-ok\r\nsprout\r\n0\r\n", "{out}");
}

#[test]
fn spec_refuses_to_overwrite() {
    require_root!();
    let b = Bundle::busybox_rootfs_only();
    b.sprout("spec", &[]).assert_success();
    std::fs::write(b.config_path(), "{\"mine\": true}\n").unwrap();
    let out = b.sprout("spec", &[]);
    assert_eq!(
        assert_one_line_error(&out, &["config.json"]),
        "File config.json exists. Remove it first"
    );
    assert_eq!(
        std::fs::read_to_string(b.config_path()).unwrap(),
        "{\"mine\": true}\n"
    );
}

#[test]
fn spec_needs_an_existing_bundle_directory() {
    let b = Bundle::empty();
    let missing = b.dir().join("missing");
    let out = sprout_systests::output(sprout_systests::sprout(&["spec", "--bundle"]).arg(&missing));
    assert_one_line_error(&out, &["bundle", &missing.display().to_string()]);
    assert!(!missing.exists());
}

/// A bundle whose container would create `out/ran` in the bundle (through
/// a bind mount), so that a plan that runs anything is noticed.
fn issue_bundle(id: &str, edit: impl FnOnce(&mut Value)) -> Bundle {
    let b = busybox(id, |c| {
        demo_user(c);
        issue_caps(c);
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]);
        c["process"]["cwd"] = json!("/tmp");
        common::push_env(c, "FOO=bar");
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/out", "type": "bind", "source": "out", "options": ["bind"]}));
        c["process"]["args"] = json!(["touch", "/out/ran"]);
        edit(c);
    });
    std::fs::create_dir(b.dir().join("out")).unwrap();
    std::fs::set_permissions(
        b.dir().join("out"),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    b
}

/// `sprout plan` with the id; parses stdout as JSON.
fn plan(b: &Bundle, id: &str) -> (Output, Value) {
    let out = b.sprout("plan", &[id]);
    assert_clean(b, id);
    assert!(
        !b.dir().join("out/ran").exists(),
        "`sprout plan` ran the container:\n{out}"
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stderr_str(), "", "{out}");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan is not JSON: {e}\n{out}"));
    (out, v)
}

#[test]
fn plan_shows_the_resolved_issue_config_and_runs_nothing() {
    require_root!();
    let id = unique_id("plan");
    let b = issue_bundle(&id, |_| {});
    let (out, p) = plan(&b, &id);
    let user = &p["user"];
    assert_eq!(
        (&user["uid"], &user["gid"], &user["additionalGids"]),
        (&json!(1000), &json!(1000), &json!([2000]))
    );
    assert_eq!(p["homeFromPasswd"], "/home/demo", "{out}");
    assert_eq!(p["args"], json!(["touch", "/out/ran"]), "{out}");
    assert_eq!(p["cwd"], "/tmp", "{out}");
    let env: Vec<&str> = p["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert_eq!(
        env.first(),
        Some(&"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "{out}"
    );
    assert!(env.contains(&"FOO=bar"), "{out}");
    assert_eq!(env.last(), Some(&"HOME=/home/demo"), "{out}");
    let caps = &p["capabilities"];
    for set in ["bounding", "effective", "permitted"] {
        assert_eq!(caps[set]["mask"], "0x0000000000000401", "{set}:\n{out}");
        assert_eq!(
            caps[set]["names"],
            json!(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]),
            "{set}:\n{out}"
        );
    }
    for set in ["inheritable", "ambient"] {
        assert_eq!(
            caps[set]["names"],
            json!(["CAP_NET_BIND_SERVICE"]),
            "{set}:\n{out}"
        );
    }
    assert_eq!(p["rlimits"][0]["type"], "RLIMIT_NOFILE", "{out}");
    assert_eq!(
        (&p["rlimits"][0]["soft"], &p["rlimits"][0]["hard"]),
        (&json!(512), &json!(1024)),
        "{out}"
    );
    assert_eq!(p["hostname"], "sprout", "{out}");
    assert_eq!(p["rootfs"], b.rootfs().display().to_string(), "{out}");
    // The same bundle runs (and then does create the file).
    let out = common::run(&b, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(b.dir().join("out/ran").exists());
}

#[test]
fn plan_keeps_home_from_env() {
    require_root!();
    let id = unique_id("planhome");
    let b = issue_bundle(&id, |c| common::push_env(c, "HOME=/elsewhere"));
    let (out, p) = plan(&b, &id);
    assert_eq!(p["homeFromPasswd"], Value::Null, "{out}");
    let homes: Vec<&Value> = p["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.as_str().unwrap().starts_with("HOME="))
        .collect();
    assert_eq!(homes, [&json!("HOME=/elsewhere")], "{out}");
}

#[test]
fn plan_of_a_uid_without_passwd_entry_has_home_slash() {
    require_root!();
    let id = unique_id("planuid");
    let b = issue_bundle(&id, |c| {
        c["process"]["user"] = json!({"uid": 4242, "gid": 4242})
    });
    let (out, p) = plan(&b, &id);
    assert_eq!(p["homeFromPasswd"], "/", "{out}");
    assert_eq!(p["user"]["uid"], 4242, "{out}");
    assert_eq!(p["user"]["additionalGids"], json!([]), "{out}");
}

/// The plan fails like run would, with the same one line.
#[test]
fn plan_reports_config_errors_like_run() {
    require_root!();
    let id = unique_id("planerr");
    let b = issue_bundle(&id, |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}])
    });
    let out = b.sprout("plan", &[&id]);
    assert_clean(&b, &id);
    let msg = assert_one_line_error(&out, &["process.rlimits[0].type", "RLIMIT_NOPE"]);
    let out = common::run(&b, &id);
    assert_eq!(assert_one_line_error(&out, &[]), msg);
    assert!(!b.dir().join("out/ran").exists());
}
