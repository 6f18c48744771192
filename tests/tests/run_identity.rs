//! The container process's identity, checked from inside busybox
//! containers run with `sprout run`: uid/gid and exactly
//! `additionalGids`, `HOME` from the rootfs's passwd, capabilities,
//! `noNewPrivileges`, cwd and env — and the issue's whole scenario.

mod common;

use common::{busybox, demo_user, issue_caps, run, run_ok, sh, status_field};
use sprout_systests::serde_json::json;
use sprout_systests::{require_root, unique_id};

/// Bits of `capabilities(7)` used below.
const CAP_CHOWN: u64 = 1 << 0;
const CAP_KILL: u64 = 1 << 5;
const CAP_NET_BIND_SERVICE: u64 = 1 << 10;
const CAP_AUDIT_WRITE: u64 = 1 << 29;

/// The script printing what the identity tests compare.
const ID_SCRIPT: &str = "id; cat /proc/self/status";

fn mask(status: &str, field: &str) -> u64 {
    let v = status_field(status, field);
    u64::from_str_radix(&v, 16).unwrap_or_else(|e| panic!("{field}: {v:?}: {e}"))
}

/// The issue, verbatim: uid/gid 1000, extra group 2000, two capabilities
/// (one ambient), RLIMIT_NOFILE 512/1024, cwd /tmp, FOO=bar, exit 7.
#[test]
fn issue_scenario_prints_exactly_and_exits_7() {
    require_root!();
    let id = unique_id("issue");
    let bundle = busybox(&id, |c| {
        demo_user(c);
        issue_caps(c);
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]);
        c["process"]["cwd"] = json!("/tmp");
        common::push_env(c, "FOO=bar");
        sh(
            c,
            "id; grep Cap /proc/self/status; ulimit -n; pwd; echo $HOME $FOO; exit 7",
        );
    });
    let out = run(&bundle, &id);
    assert_eq!(out.code(), Some(7), "{out}");
    assert_eq!(out.stderr_str(), "", "{out}");
    assert_eq!(
        out.stdout_str(),
        "uid=1000(demo) gid=1000(demo) groups=2000(extra)\n\
         CapInh:\t0000000000000400\n\
         CapPrm:\t0000000000000400\n\
         CapEff:\t0000000000000400\n\
         CapBnd:\t0000000000000401\n\
         CapAmb:\t0000000000000400\n\
         512\n\
         /tmp\n\
         /home/demo bar\n",
        "{out}"
    );
}

#[test]
fn user_1000_gets_exactly_the_additional_gids() {
    require_root!();
    let id = unique_id("groups");
    let bundle = busybox(&id, |c| {
        demo_user(c);
        sh(c, ID_SCRIPT);
    });
    let out = run_ok(&bundle, &id);
    let first = out.lines().next().unwrap_or_default();
    assert_eq!(
        first, "uid=1000(demo) gid=1000(demo) groups=2000(extra)",
        "{out}"
    );
    assert_eq!(status_field(&out, "Uid"), "1000\t1000\t1000\t1000", "{out}");
    assert_eq!(status_field(&out, "Gid"), "1000\t1000\t1000\t1000", "{out}");
    assert_eq!(status_field(&out, "Groups"), "2000", "{out}");
}

/// `demo` is a member of `extra` (2000) in the rootfs's /etc/group, but
/// groups come only from `additionalGids` (no initgroups).
#[test]
fn no_implicit_groups_from_etc_group() {
    require_root!();
    let id = unique_id("nogroups");
    let bundle = busybox(&id, |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        sh(c, ID_SCRIPT);
    });
    assert!(
        std::fs::read_to_string(bundle.rootfs().join("etc/group"))
            .unwrap()
            .contains("extra:x:2000:demo"),
        "the fixture must list demo in group 2000"
    );
    let out = run_ok(&bundle, &id);
    assert_eq!(
        out.lines().next(),
        Some("uid=1000(demo) gid=1000(demo)"),
        "{out}"
    );
    assert_eq!(status_field(&out, "Groups"), "", "{out}");
}

#[test]
fn several_additional_gids_in_order_without_the_primary() {
    require_root!();
    let id = unique_id("gids");
    let bundle = busybox(&id, |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000, 5]});
        sh(c, ID_SCRIPT);
    });
    let out = run_ok(&bundle, &id);
    // The kernel keeps the group list sorted.
    assert_eq!(status_field(&out, "Groups"), "5 2000 3000", "{out}");
    assert_eq!(status_field(&out, "Gid"), "1000\t1000\t1000\t1000", "{out}");
}

#[test]
fn root_user_has_no_groups_and_default_caps() {
    require_root!();
    let id = unique_id("root");
    let bundle = busybox(&id, |c| sh(c, ID_SCRIPT));
    let out = run_ok(&bundle, &id);
    assert_eq!(out.lines().next(), Some("uid=0(root) gid=0(root)"), "{out}");
    assert_eq!(status_field(&out, "Uid"), "0\t0\t0\t0", "{out}");
    assert_eq!(status_field(&out, "Groups"), "", "{out}");
    let default = CAP_AUDIT_WRITE | CAP_KILL | CAP_NET_BIND_SERVICE;
    assert_eq!(mask(&out, "CapBnd"), default, "{out}");
    assert_eq!(mask(&out, "CapPrm"), default, "{out}");
    assert_eq!(mask(&out, "CapEff"), default, "{out}");
    assert_eq!(mask(&out, "CapInh"), 0, "{out}");
    assert_eq!(mask(&out, "CapAmb"), 0, "{out}");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1", "{out}");
}

/// runc's fixStdioPermissions: the container user gets its stdio as
/// owner, and only the owner changes (a terminal keeps its `tty` group;
/// here the pipes keep the caller's group 0). sprout changed the group to
/// the user's too.
#[test]
fn stdio_gets_the_users_owner_and_keeps_its_group() {
    require_root!();
    let id = unique_id("stdioown");
    let bundle = busybox(&id, |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        sh(c, "stat -L -c %u:%g /proc/self/fd/1 /proc/self/fd/2");
    });
    let out = run(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "1000:0\n1000:0\n", "{out}");
}

/// `process.cwd` as runc treats it: a missing one is made (`MkdirAll`,
/// 0755, inside what is mounted there: here the tmpfs on /tmp); one the
/// user cannot enter is entered as root first (runc's finalizeNamespace:
/// the chdir as the user comes only after a refused one). sprout failed
/// both with `chdir: ENOENT` and `EACCES`.
#[test]
fn cwd_is_made_when_missing_and_entered_as_root_first() {
    require_root!();
    let id = unique_id("cwdmk");
    let bundle = busybox(&id, |c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
        c["process"]["cwd"] = json!("/tmp/made/here");
        sh(
            c,
            "pwd; stat -c %a . ..; grep ' /tmp ' /proc/self/mountinfo | grep -c ' - tmpfs '",
        );
    });
    let out = run(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "/tmp/made/here\n755\n755\n1\n", "{out}");
    assert!(
        !bundle.rootfs().join("tmp/made").exists(),
        "made in the rootfs, not the tmpfs"
    );

    let id = unique_id("cwdroot");
    let bundle = busybox(&id, |c| {
        demo_user(c);
        c["process"]["cwd"] = json!("/data");
        sh(c, "pwd; id -u; ls . 2>&1 | grep -c 'Permission denied'");
    });
    let data = bundle.rootfs().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let out = run(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "/data\n1000\n1\n", "{out}");
}

/// Capability names runc does not know (an unknown name, or a known one
/// not spelled `CAP_<NAME>`) are ignored with one warning, as runc 1.1
/// does ("ignoring unknown or unavailable capabilities"): the container
/// runs with the rest, and `sys_admin` does not grant CAP_SYS_ADMIN.
#[test]
fn unknown_capability_names_are_ignored_with_a_warning() {
    require_root!();
    let id = unique_id("unkcap");
    let bundle = busybox(&id, |c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(["CAP_KILL", "sys_admin", "NET_RAW"]);
        }
        // A name with a newline stays on the warning's one line.
        c["process"]["capabilities"]["inheritable"] = json!(["CAP_MAKE_COFFEE", "x\ny"]);
        sh(c, ID_SCRIPT);
    });
    let out = run(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(
        out.stderr_str(),
        "sprout: warning: process.capabilities: ignoring unknown capabilities: \
         \"CAP_MAKE_COFFEE\", \"NET_RAW\", \"sys_admin\", \"x\\ny\"\n",
        "{out}"
    );
    for f in ["CapBnd", "CapPrm", "CapEff"] {
        assert_eq!(mask(&out.stdout_str(), f), CAP_KILL, "{f}: {out}");
    }
}

#[test]
fn uid_1000_with_the_issue_caps() {
    require_root!();
    let id = unique_id("caps1000");
    let bundle = busybox(&id, |c| {
        demo_user(c);
        issue_caps(c);
        sh(c, ID_SCRIPT);
    });
    let out = run_ok(&bundle, &id);
    assert_eq!(
        mask(&out, "CapBnd"),
        CAP_CHOWN | CAP_NET_BIND_SERVICE,
        "{out}"
    );
    assert_eq!(mask(&out, "CapPrm"), CAP_NET_BIND_SERVICE, "{out}");
    assert_eq!(mask(&out, "CapEff"), CAP_NET_BIND_SERVICE, "{out}");
    assert_eq!(mask(&out, "CapInh"), CAP_NET_BIND_SERVICE, "{out}");
    assert_eq!(mask(&out, "CapAmb"), CAP_NET_BIND_SERVICE, "{out}");
}

/// Root keeps all of its permitted/effective caps through the exec.
#[test]
fn root_with_the_issue_caps() {
    require_root!();
    let id = unique_id("capsroot");
    let bundle = busybox(&id, |c| {
        issue_caps(c);
        sh(c, ID_SCRIPT);
    });
    let out = run_ok(&bundle, &id);
    let two = CAP_CHOWN | CAP_NET_BIND_SERVICE;
    assert_eq!(mask(&out, "CapBnd"), two, "{out}");
    assert_eq!(mask(&out, "CapPrm"), two, "{out}");
    assert_eq!(mask(&out, "CapEff"), two, "{out}");
    assert_eq!(mask(&out, "CapAmb"), CAP_NET_BIND_SERVICE, "{out}");
}

/// The capabilities really work (or not): with CAP_CHOWN root can chown a
/// file in /tmp; as uid 1000 without ambient CAP_CHOWN it cannot.
#[test]
fn capabilities_take_effect() {
    require_root!();
    let script =
        "{ touch /tmp/f && chown 1234 /tmp/f; } 2>/dev/null && echo chown-ok || echo chown-failed";
    let id = unique_id("capuse");
    let bundle = busybox(&id, |c| {
        issue_caps(c);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
        sh(c, script);
    });
    assert_eq!(run_ok(&bundle, &id), "chown-ok\n");
    let id = unique_id("capuse");
    let bundle = busybox(&id, |c| {
        demo_user(c);
        issue_caps(c);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
        sh(c, script);
    });
    assert_eq!(run_ok(&bundle, &id), "chown-failed\n");
}

#[test]
fn empty_capabilities_drop_everything() {
    require_root!();
    let id = unique_id("nocaps");
    let bundle = busybox(&id, |c| {
        c["process"]["capabilities"] = json!({});
        sh(c, ID_SCRIPT);
    });
    let out = run_ok(&bundle, &id);
    for f in ["CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"] {
        assert_eq!(mask(&out, f), 0, "{f}:\n{out}");
    }
}

#[test]
fn no_new_privileges_on_and_off() {
    require_root!();
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let id = unique_id("nnp");
        let bundle = busybox(&id, |c| {
            c["process"]["noNewPrivileges"] = json!(nnp);
            sh(c, "grep NoNewPrivs /proc/self/status");
        });
        assert_eq!(
            run_ok(&bundle, &id),
            format!("NoNewPrivs:\t{want}\n"),
            "noNewPrivileges {nnp}"
        );
    }
}

/// HOME comes from the rootfs's /etc/passwd, never from the host's: uid 0
/// gets a home only the container's passwd has.
#[test]
fn home_from_the_rootfs_passwd() {
    require_root!();
    for (uid, want) in [
        (0, "/rootdir-in-container"),
        (1000, "/home/demo-in-container"),
        (1234, "/"),
    ] {
        let id = unique_id("home");
        let bundle = busybox(&id, |c| {
            c["process"]["user"] = json!({"uid": uid, "gid": uid});
            sh(c, "echo \"$HOME\"");
        });
        std::fs::write(
            bundle.rootfs().join("etc/passwd"),
            "root:x:0:0:root:/rootdir-in-container:/bin/sh\n\
             demo:x:1000:1000:demo:/home/demo-in-container:/bin/sh\n",
        )
        .unwrap();
        assert_eq!(run_ok(&bundle, &id), format!("{want}\n"), "uid {uid}");
    }
}

/// A uid without a passwd entry gets HOME=/ (runc's behaviour), and the
/// uid is applied even though it has no name.
#[test]
fn uid_without_passwd_entry_gets_home_slash() {
    require_root!();
    let id = unique_id("nopw");
    let bundle = busybox(&id, |c| {
        c["process"]["user"] = json!({"uid": 4321, "gid": 4322});
        sh(c, "echo \"$HOME\"; id");
    });
    assert_eq!(run_ok(&bundle, &id), "/\nuid=4321 gid=4322\n");
}

/// No /etc/passwd in the rootfs at all: HOME=/ even for root (the host's
/// /etc/passwd must not be used).
#[test]
fn no_passwd_file_gives_home_slash() {
    require_root!();
    let id = unique_id("nopwfile");
    let bundle = busybox(&id, |c| sh(c, "echo \"$HOME\""));
    std::fs::remove_file(bundle.rootfs().join("etc/passwd")).unwrap();
    assert_eq!(run_ok(&bundle, &id), "/\n");
}

/// A symlinked /etc/passwd pointing at the host's path resolves inside the
/// rootfs.
#[test]
fn passwd_symlink_resolves_inside_the_rootfs() {
    require_root!();
    let id = unique_id("pwlink");
    let bundle = busybox(&id, |c| sh(c, "echo \"$HOME\""));
    let etc = bundle.rootfs().join("etc");
    std::fs::create_dir_all(bundle.rootfs().join("usr/lib")).unwrap();
    std::fs::write(
        bundle.rootfs().join("usr/lib/passwd"),
        "root:x:0:0:root:/linked-home:/bin/sh\n",
    )
    .unwrap();
    std::fs::remove_file(etc.join("passwd")).unwrap();
    std::os::unix::fs::symlink("/usr/lib/passwd", etc.join("passwd")).unwrap();
    assert_eq!(run_ok(&bundle, &id), "/linked-home\n");
}

#[test]
fn home_from_env_is_kept() {
    require_root!();
    let id = unique_id("envhome");
    let bundle = busybox(&id, |c| {
        demo_user(c);
        common::push_env(c, "HOME=/custom/home");
        sh(c, "echo \"$HOME\"; env | grep -c '^HOME='");
    });
    assert_eq!(run_ok(&bundle, &id), "/custom/home\n1\n");
}

#[test]
fn env_is_exactly_the_config_plus_home() {
    require_root!();
    let id = unique_id("env");
    let bundle = busybox(&id, |c| {
        let marker = format!("{}={id}", common::MARKER);
        c["process"]["env"] = json!([
            "PATH=/bin",
            "FOO=bar",
            "EMPTY=",
            "EQ=a=b",
            "FOO=baz",
            marker
        ]);
        c["process"]["args"] = json!(["env"]);
    });
    // A repeated name keeps its first position and its last value.
    assert_eq!(
        run_ok(&bundle, &id),
        format!(
            "PATH=/bin\nFOO=baz\nEMPTY=\nEQ=a=b\n{}={id}\nHOME=/root\n",
            common::MARKER
        )
    );
}

#[test]
fn cwd_is_applied() {
    require_root!();
    for cwd in ["/tmp", "/home/demo", "/"] {
        let id = unique_id("cwd");
        let bundle = busybox(&id, |c| {
            demo_user(c);
            c["process"]["cwd"] = json!(cwd);
            c["process"]["args"] = json!(["pwd"]);
        });
        assert_eq!(run_ok(&bundle, &id), format!("{cwd}\n"));
    }
}

/// `process.user.username` is Windows-only: ignored on Linux, as runc
/// does, with a warning; uid and gid apply (a name used to override them:
/// `"uid": 1000, "username": "root"` ran as root).
#[test]
fn username_is_ignored_on_linux() {
    require_root!();
    let id = unique_id("username");
    let bundle = busybox(&id, |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "username": "root"});
        sh(c, "id -u; id -g; echo $HOME");
    });
    let out = bundle.sprout("run", &[&id]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "1000\n1000\n/home/demo\n", "{out}");
    assert!(
        out.stderr_str()
            .contains("process.user.username \"root\" is ignored on Linux"),
        "{out}"
    );
}

/// Without `process.user.umask` the container starts with 0022, as
/// runc's does, whatever the caller's (here 0: it was inherited, and files
/// made in the container were world-writable).
#[test]
fn umask_defaults_to_0022_not_the_callers() {
    require_root!();
    let id = unique_id("umaskdef");
    let bundle = busybox(&id, |c| {
        c["process"]["args"] = json!(["sh", "-c", "umask"]);
    });
    let mut cmd = sprout_systests::sprout(&["run", "--bundle"]);
    cmd.arg(bundle.dir()).arg(&id);
    // SAFETY: umask(2) with a constant, async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            nix::libc::umask(0);
            Ok(())
        });
    }
    let out = sprout_systests::output(&mut cmd);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "0022\n", "{out}");
}

#[test]
fn umask_is_applied() {
    require_root!();
    let id = unique_id("umask");
    let bundle = busybox(&id, |c| {
        c["process"]["user"]["umask"] = json!(0o027);
        c["process"]["args"] = json!(["sh", "-c", "umask"]);
    });
    assert_eq!(run_ok(&bundle, &id), "0027\n");
}

/// A 0700 cwd owned by the container user is entered (after the user
/// switch); the same directory is refused when owned by root (see
/// `run_errors::cwd_not_accessible_for_the_user`).
#[test]
fn private_cwd_of_the_user_is_entered() {
    require_root!();
    let id = unique_id("privcwd");
    let bundle = busybox(&id, |c| {
        demo_user(c);
        c["process"]["cwd"] = json!("/home/private");
        c["process"]["args"] = json!(["pwd"]);
    });
    let dir = bundle.rootfs().join("home/private");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(1000), Some(1000)).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    assert_eq!(run_ok(&bundle, &id), "/home/private\n");
}
