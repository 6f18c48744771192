//! What podman and containerd rely on beyond the plain lifecycle, checked
//! with `sprout run`/`create` directly (the clients themselves are driven
//! by `cargo xtask clients`):
//!
//! - `tmpcopyup` (podman `--read-only` puts it on /run, /tmp, /var/tmp):
//!   the tmpfs starts with a copy of the image's directory (owners, modes,
//!   times, symlinks, FIFOs), nothing reaches the host, a later mount
//!   inside the tmpfs is not written through, and image symlinks cannot
//!   turn the copy towards host directories;
//! - a v1 `cgroup` mount shows the container's own cgroup (podman's
//!   `--memory`/`--pids-limit` checks read the limits inside);
//! - a `process.args[0]` with a slash is checked by `create` (podman turns
//!   "no such file or directory" into 127 and "permission denied" into
//!   126), and the error is a JSON line in `--log` with `--log-format json`.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::process::Command;

use common::{assert_clean, busybox, run_ok, sh};
use sprout_systests::serde_json::{Value, json};
use sprout_systests::{output, require_root, sprout, unique_id};

fn push_mount(c: &mut Value, m: Value) {
    c["mounts"]
        .as_array_mut()
        .expect("mounts is a list")
        .push(m);
}

fn tmpfs(dest: &str, extra: &[&str]) -> Value {
    let mut opts = vec!["rw", "nosuid", "nodev"];
    opts.extend_from_slice(extra);
    json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts})
}

#[test]
fn tmpcopyup_fills_the_tmpfs_from_the_image() {
    require_root!();
    let id = unique_id("copyup");
    let host_file = std::env::temp_dir().join(format!("{id}.bound"));
    fs::write(&host_file, "host\n").unwrap();
    let bundle = busybox(&id, |c| {
        c["root"]["readonly"] = json!(true);
        push_mount(c, tmpfs("/run", &["tmpcopyup"]));
        // A later mount inside the tmpfs, over a file the image also has.
        push_mount(
            c,
            json!({"destination": "/run/lock/bound", "type": "bind",
                   "source": host_file.to_str().unwrap(), "options": ["bind", "ro"]}),
        );
        sh(
            c,
            "stat -c '%a %u:%g %F' /run; stat -c '%a %u:%g %Y %F' /run/lock /run/lock/f /run/lock/sub; \
             stat -c '%a %u:%g %F' /run/fifo; \
             cat /run/lock/f /run/lock/bound; readlink /run/pw; \
             touch /run/new && echo run-writable; touch /rootfile 2>/dev/null || echo root-ro; \
             awk '$2 == \"/run\" { print $3 }' /proc/mounts",
        );
    });
    let run = bundle.rootfs().join("run");
    fs::create_dir_all(run.join("lock/sub")).unwrap();
    fs::write(run.join("lock/f"), "image\n").unwrap();
    fs::write(run.join("lock/bound"), "image-bound\n").unwrap();
    let st = |args: &[&str]| {
        assert!(
            output(Command::new(args[0]).args(&args[1..])).success(),
            "{args:?}"
        )
    };
    let p = |rel: &str| run.join(rel).to_str().unwrap().to_string();
    st(&["mkfifo", "-m", "0600", &p("fifo")]);
    st(&["chown", "-R", "12:34", &p("lock")]);
    st(&["chmod", "0604", &p("lock/f")]);
    st(&[
        "touch",
        "-h",
        "-d",
        "@978307200",
        &p("lock/f"),
        &p("lock/sub"),
        &p("lock"),
    ]);
    symlink("/etc/passwd", run.join("pw")).unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o1733)).unwrap();

    let out = run_ok(&bundle, &id);
    assert_eq!(
        out,
        "1733 0:0 directory\n\
         755 12:34 978307200 directory\n\
         604 12:34 978307200 regular file\n\
         755 12:34 978307200 directory\n\
         600 0:0 fifo\n\
         image\nhost\n/etc/passwd\nrun-writable\nroot-ro\ntmpfs\n",
        "{out}"
    );
    // Nothing reached the host: not the new file, not the bind source.
    assert!(!run.join("new").exists());
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "host\n");
    assert_eq!(
        fs::read_to_string(run.join("lock/bound")).unwrap(),
        "image-bound\n"
    );
    let _ = fs::remove_file(&host_file);
}

#[test]
fn tmpcopyup_of_a_missing_directory_is_an_empty_tmpfs() {
    require_root!();
    let id = unique_id("copyup-none");
    let bundle = busybox(&id, |c| {
        push_mount(c, tmpfs("/not/there", &["tmpcopyup"]));
        sh(c, "ls -A /not/there | wc -l; stat -c %a /not/there");
    });
    // As runc: a tmpfs the image had no directory for keeps its own mode.
    assert_eq!(run_ok(&bundle, &id), "0\n1777\n");
}

/// The destination is an absolute symlink in the image: the stub mounts
/// the tmpfs on the rootfs's /etc, and the copy must come from the
/// rootfs's /etc too, never from the host's.
#[test]
fn tmpcopyup_stays_inside_the_rootfs() {
    require_root!();
    let id = unique_id("copyup-link");
    let bundle = busybox(&id, |c| {
        push_mount(c, tmpfs("/conf", &["tmpcopyup"]));
        sh(
            c,
            "cat /conf/passwd; test -e /conf/os-release && echo host-etc-copied; echo end",
        );
    });
    symlink("/etc", bundle.rootfs().join("conf")).unwrap();
    let image_passwd = fs::read_to_string(bundle.rootfs().join("etc/passwd")).unwrap();
    let out = run_ok(&bundle, &id);
    assert_eq!(out, format!("{image_passwd}end\n"));
}

#[test]
fn v1_cgroup_mount_shows_the_containers_own_limits() {
    require_root!();
    let unified = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup") && l.contains(" - cgroup2 "));
    if unified {
        eprintln!("skipped: /sys/fs/cgroup is cgroup2 (this checks the v1 bind mounts)");
        return;
    }
    let id = unique_id("cgmount");
    let bundle = busybox(&id, |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 33554432});
        c["linux"]["resources"]["pids"] = json!({"limit": 10});
        if !c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "cgroup")
        {
            push_mount(
                c,
                json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
            );
        }
        sh(
            c,
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max",
        );
    });
    assert_eq!(run_ok(&bundle, &id), "33554432\n10\n");
}

#[test]
fn create_checks_a_path_in_args0() {
    require_root!();
    for (cmd, text) in [
        ("/nonexistent", "no such file or directory"),
        ("/etc/passwd", "permission denied"),
    ] {
        let id = unique_id("args0");
        let bundle = busybox(&id, |c| c["process"]["args"] = json!([cmd]));
        let log = bundle.dir().join("log.json");
        let out = output(
            sprout(&[
                "--log",
                log.to_str().unwrap(),
                "--log-format=json",
                "create",
                "--bundle",
            ])
            .arg(bundle.dir())
            .arg(&id),
        );
        assert_eq!(out.code(), Some(1), "{out}");
        assert_eq!(
            out.stderr_str(),
            format!("sprout: process.args[0] \"{cmd}\": {text}\n"),
            "{out}"
        );
        let line = fs::read_to_string(&log).unwrap();
        let v: Value = sprout_systests::serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["level"], "error", "{line}");
        assert_eq!(
            v["msg"],
            format!("process.args[0] \"{cmd}\": {text}"),
            "{line}"
        );
        let state = output(&mut sprout(&["state", &id]));
        assert_eq!(
            state.code(),
            Some(1),
            "a failed create left a container:\n{state}"
        );
        fs::remove_file(&log).unwrap();
        assert_clean(&bundle, &id);
    }
}
