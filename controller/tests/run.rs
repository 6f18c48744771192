//! End-to-end tests of `sprout spec`, `sprout plan` and `sprout run` with
//! the real stub and a busybox rootfs.
//!
//! Container tests need root, the stub (`$SPROUT_INIT`, else
//! `target/stub/sprout-init`, else `sprout-init` next to the controller)
//! and the busybox template (`$SPROUT_BUSYBOX_ROOTFS`, else
//! `target/busybox-rootfs`, made by `cargo xtask test`); without them they
//! are skipped with a note on stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

fn sprout() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sprout"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn stub() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SPROUT_INIT").map(PathBuf::from),
        Some(workspace().join("target/stub/sprout-init")),
        Some(sprout().with_file_name("sprout-init")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

fn template() -> Option<PathBuf> {
    let p = std::env::var_os("SPROUT_BUSYBOX_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/busybox-rootfs"));
    p.join("bin/busybox").is_file().then_some(p)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// What container tests need, or `None` (after a note) to skip.
fn setup(test: &str) -> Option<(PathBuf, PathBuf)> {
    let (root, stub, tpl) = (is_root(), stub(), template());
    match (root, stub, tpl) {
        (true, Some(s), Some(t)) => Some((s, t)),
        (r, s, t) => {
            eprintln!("!!!!! SKIPPED {test}: root={r} stub={s:?} busybox rootfs={t:?}");
            None
        }
    }
}

/// A bundle directory with a copy of the busybox rootfs and the default
/// config (terminal off); removed on drop.
struct Bundle {
    dir: PathBuf,
    stub: PathBuf,
}

impl Bundle {
    fn new(stub: &Path, template: &Path) -> Bundle {
        static N: AtomicU32 = AtomicU32::new(0);
        let base = workspace().join("target/controller-tests");
        std::fs::create_dir_all(&base).unwrap();
        let dir = base.join(format!(
            "b-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(dir.join("rootfs"))
            .status()
            .unwrap();
        assert!(st.success());
        let b = Bundle {
            dir,
            stub: stub.to_path_buf(),
        };
        let out = b.sprout(&["spec"]);
        assert!(out.status.success(), "{out:?}");
        b.edit(|c| c["process"]["terminal"] = json!(false));
        b
    }

    fn config(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("config.json")).unwrap())
            .unwrap()
    }

    fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut c = self.config();
        f(&mut c);
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_string_pretty(&c).unwrap(),
        )
        .unwrap();
    }

    fn args(&self, args: &[&str]) {
        self.edit(|c| c["process"]["args"] = json!(args));
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(sprout());
        // A state root per bundle (the tests run in parallel).
        cmd.args(args)
            .arg("--bundle")
            .arg(&self.dir)
            .arg("--root")
            .arg(self.dir.join("state"));
        cmd.env("SPROUT_INIT", &self.stub).stdin(Stdio::null());
        cmd
    }

    fn sprout(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run(&self) -> Output {
        // A unique id: the default cgroup is /sprout/<id>.
        let id = self.dir.file_name().unwrap().to_string_lossy().into_owned();
        self.sprout(&["run", &id])
    }

    /// Processes whose root directory is in this bundle (leftovers).
    fn processes_inside(&self) -> Vec<String> {
        let mut left = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(root) = std::fs::read_link(e.path().join("root"))
                && root.starts_with(&self.dir)
            {
                left.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        left
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn spec_refuses_to_overwrite() {
    let dir = std::env::temp_dir().join(format!("sprout-spec-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(sprout())
        .args(["spec", "--bundle"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let c: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        c["ociVersion"], "1.1.0",
        "the spec version `--version` prints"
    );
    assert_eq!(
        c["process"]["capabilities"]["bounding"],
        json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    );
    let out = Command::new(sprout())
        .args(["spec", "--bundle"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "sprout: File config.json exists. Remove it first\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bundle_errors_are_one_line() {
    let out = Command::new(sprout())
        .args(["run", "--bundle", "/nonexistent/bundle", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "sprout: bundle \"/nonexistent/bundle\": no such directory\n"
    );
}

#[test]
fn plan_prints_json() {
    let Some((stub, tpl)) = setup("plan_prints_json") else {
        return;
    };
    let b = Bundle::new(&stub, &tpl);
    let out = b.sprout(&["plan", "c1"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["capabilities"]["bounding"]["mask"], "0x0000000020000420");
    assert_eq!(v["user"]["uid"], 0);
    assert_eq!(v["homeFromPasswd"], "/root");
    assert_eq!(v["rlimits"][0]["type"], "RLIMIT_NOFILE");
    assert!(
        v["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("NO_NEW_PRIVS"))
    );
}

#[test]
fn runs_and_exits_with_the_status() {
    let Some((stub, tpl)) = setup("runs_and_exits_with_the_status") else {
        return;
    };
    let b = Bundle::new(&stub, &tpl);
    b.args(&["sh", "-c", "echo hello; hostname; echo $HOME; exit 3"]);
    let out = b.run();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(text(&out.stdout), "hello\nsprout\n/root\n");
    assert_eq!(text(&out.stderr), "");
    assert!(b.processes_inside().is_empty());
}

#[test]
fn death_by_signal_is_128_plus_n() {
    let Some((stub, tpl)) = setup("death_by_signal_is_128_plus_n") else {
        return;
    };
    let b = Bundle::new(&stub, &tpl);
    // Without a pid namespace: pid 1 of one ignores SIGKILL from inside.
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    b.args(&["sh", "-c", "kill -9 $$"]);
    assert_eq!(b.run().status.code(), Some(137));
}

#[test]
fn user_and_groups() {
    let Some((stub, tpl)) = setup("user_and_groups") else {
        return;
    };
    let b = Bundle::new(&stub, &tpl);
    b.edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]}));
    b.args(&["sh", "-c", "id; echo $HOME"]);
    let out = b.run();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "uid=1000(demo) gid=1000(demo) groups=2000(extra)\n/home/demo\n"
    );
}

#[test]
fn user_namespace() {
    let Some((stub, tpl)) = setup("user_namespace") else {
        return;
    };
    let b = Bundle::new(&stub, &tpl);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    b.args(&[
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; ls /sys/fs/cgroup >/dev/null && echo cgroups",
    ]);
    let out = b.run();
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(
        words,
        ["1000", "0", "200000", "65536", "cgroups"],
        "{out:?}"
    );
}

#[test]
fn preserved_fds_are_passed() {
    let Some((stub, tpl)) = setup("preserved_fds_are_passed") else {
        return;
    };
    let b = Bundle::new(&stub, &tpl);
    std::fs::write(b.dir.join("three"), "fd three\n").unwrap();
    b.args(&["sh", "-c", "cat <&3"]);
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" run --bundle "$1" --preserve-fds 1 p 3<"$1/three""#)
        .arg(sprout())
        .arg(&b.dir)
        .env("SPROUT_INIT", &b.stub)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "fd three\n");
}

#[test]
fn terminal_is_relayed() {
    let Some((stub, tpl)) = setup("terminal_is_relayed") else {
        return;
    };
    let b = Bundle::new(&stub, &tpl);
    b.edit(|c| c["process"]["terminal"] = json!(true));
    b.args(&["sh", "-c", "tty; exit 4"]);
    let out = b.run();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(text(&out.stdout), "/dev/pts/0\r\n");
}

#[test]
fn errors_name_the_field_and_leave_nothing() {
    let Some((stub, tpl)) = setup("errors_name_the_field_and_leave_nothing") else {
        return;
    };
    type Edit = Box<dyn Fn(&mut Value)>;
    // This process's open-files hard limit, which the error names.
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let own = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|r| r.split_whitespace().nth(1).map(str::to_string))
        .unwrap();
    let nofile_raise = format!(
        "process.rlimits[0] RLIMIT_NOFILE: setrlimit (hard limit {} is above sprout's own {own}; \
         raising it needs CAP_SYS_RESOURCE): Operation not permitted (EPERM)",
        1u64 << 40
    );
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| c["process"]["args"] = json!(["nosuchcmd"])),
            "process.args[0] \"nosuchcmd\": executable file not found in $PATH",
        ),
        (
            // A missing cwd is made (as runc); a file in its way is not.
            Box::new(|c| c["process"]["cwd"] = json!("/bin/busybox/dir")),
            "process.cwd \"/bin/busybox/dir\": chdir: Not a directory (ENOTDIR)",
        ),
        (
            Box::new(|c| c["process"]["cwd"] = json!("tmp")),
            "process.cwd \"tmp\": must be an absolute path",
        ),
        (
            Box::new(|c| c["root"]["path"] = json!("nope")),
            "root.path \"nope\": no such file or directory",
        ),
        (
            Box::new(|c| c["process"]["args"] = json!([])),
            "process.args: must not be empty",
        ),
        (
            Box::new(|c| {
                c["process"]["rlimits"] = json!([{"type": "RLIMIT_BAR", "soft": 1, "hard": 1}])
            }),
            "process.rlimits[0].type: unknown rlimit type \"RLIMIT_BAR\"",
        ),
        (
            // Raising a hard limit needs CAP_SYS_RESOURCE (absent on these
            // hosts). A foreground run with nothing to do at Ready has the
            // stub set it (setrlimit); see launch::skip_ready_when_idle.
            Box::new(|c| {
                c["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1u64 << 40}])
            }),
            &nofile_raise,
        ),
        (
            Box::new(|c| c["process"]["env"] = json!(["A=1", "NOEQUALS"])),
            "process.env[1] \"NOEQUALS\": missing '='",
        ),
        (
            Box::new(
                |c| c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}, {"type": "network", "path": "/nonexistent/ns"}]),
            ),
            "linux.namespaces[2].path \"/nonexistent/ns\": open: No such file or directory (ENOENT)",
        ),
        (
            Box::new(|c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/bad", "type": "tmpfs", "source": "tmpfs", "options": ["nonsense=1"]}))
            }),
            "mounts[7] \"/bad\": mount of type \"tmpfs\" with data \"nonsense=1\": Invalid argument (EINVAL)",
        ),
    ];
    for (i, (edit, want)) in cases.into_iter().enumerate() {
        let b = Bundle::new(&stub, &tpl);
        b.edit(edit);
        let out = b.run();
        assert_eq!(out.status.code(), Some(1), "case {i}: {out:?}");
        assert_eq!(text(&out.stderr), format!("sprout: {want}\n"), "case {i}");
        assert!(b.processes_inside().is_empty(), "case {i}: processes left");
    }
}
