//! A scratch image holding only `sprout-init`, its plan and a static
//! busybox (no shell is ever run: busybox applets are called by path),
//! built with `podman build` and run with `podman run`: the plan's
//! privilege drop, exit codes, a missing command (127), and `podman stop`
//! ending the container at once (the stub forwards SIGTERM; busybox alone
//! as PID 1 would ignore it until podman's SIGKILL).
//!
//! podman is kept away from the host's configuration and storage: its own
//! CONTAINERS_CONF and CONTAINERS_STORAGE_CONF (vfs storage, state, tmp
//! under `target/systest/`; only the run root, for its short socket paths,
//! in /run), no network, and every podman
//! image command in a private mount namespace with a tmpfs on /var/lib
//! (podman 4.3 writes a blob-info cache to /var/lib/containers whatever its
//! storage root; the shared clients harness does the same). The runtime is runc: crun 1.8
//! refuses hybrid cgroup hosts such as this one. Skips loudly without
//! podman or runc.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sprout_systests::{
    Bundle, Output, busybox_rootfs, output, require_root, sprout, sprout_init_bin,
};

/// Whether `prog` is found in PATH.
fn have(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// podman with the private configuration under `dir`.
struct Podman<'a> {
    dir: &'a Path,
}

impl Podman<'_> {
    fn setup(dir: &Path) -> Podman<'_> {
        for sub in ["tmp", "imgtmp", "ctx"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let d = dir.display();
        // The run root holds conmon's sockets, whose paths must stay below
        // sun_path's 108 bytes (with a long one `podman run` stalls 20 s):
        // a short directory in /run, a symlink to it in `dir`.
        let runroot = PathBuf::from(format!("/run/sprout-systest-podman-{}", std::process::id()));
        fs::create_dir_all(&runroot).unwrap();
        std::os::unix::fs::symlink(&runroot, dir.join("runroot")).unwrap();
        let r = runroot.display();
        fs::write(
            dir.join("storage.conf"),
            format!("[storage]\ndriver = \"vfs\"\nrunroot = \"{r}\"\ngraphroot = \"{d}/root\"\n"),
        )
        .unwrap();
        fs::write(
            dir.join("containers.conf"),
            format!(
                "[containers]\nnetns = \"none\"\nipcns = \"private\"\nlog_driver = \"k8s-file\"\ndefault_ulimits = []\n\n\
                 [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"{d}/events.log\"\n\
                 tmp_dir = \"{d}/tmp\"\nstatic_dir = \"{d}/root/libpod\"\nvolume_path = \"{d}/root/volumes\"\n\
                 lock_type = \"file\"\nimage_copy_tmp_dir = \"{d}/imgtmp\"\nruntime = \"runc\"\n"
            ),
        )
        .unwrap();
        Podman { dir }
    }

    /// `podman ARGS...`; image commands (`build`, `rmi`) in a private mount
    /// namespace with a tmpfs on /var/lib, as the shared clients harness
    /// does for its image commands (container commands do not write there,
    /// and `run` under that wrapper waits 20 s for its cleanup process).
    fn run(&self, args: &[&str]) -> Output {
        let t = Instant::now();
        let mut c = if matches!(args.first(), Some(&"build" | &"rmi")) {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
                .arg("mount -t tmpfs -o size=64m,mode=0755 sprout-systest-varlib /var/lib && exec \"$@\"")
                .args(["sh", "podman"]);
            c
        } else {
            Command::new("podman")
        };
        c.args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .env("TMPDIR", self.dir.join("imgtmp"))
            .stdin(std::process::Stdio::null());
        let out = output(&mut c);
        eprintln!(
            "podman {} ({:.1}s)",
            args.join(" "),
            t.elapsed().as_secs_f64()
        );
        out
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.success(), "{out}");
        out.stdout_str()
    }
}

const IMAGE: &str = "localhost/sprout-systest-scratch:latest";

#[test]
fn scratch_image_under_podman_run() {
    require_root!();
    for prog in ["podman", "runc", "unshare"] {
        if !have(prog) {
            eprintln!(
                "!!!!! SKIPPED scratch_image_under_podman_run: no {prog} (apt-get install podman runc)"
            );
            return;
        }
    }
    let dir = Bundle::empty();
    let podman = Podman::setup(dir.dir());
    let ctx = dir.dir().join("ctx");
    fs::copy(sprout_init_bin(), ctx.join("sprout-init")).unwrap();
    fs::copy(busybox_rootfs().join("bin/busybox"), ctx.join("busybox")).unwrap();
    // The plan, compiled against the build stage's files (the busybox
    // template's passwd and group); the image itself has neither.
    let out = output(
        sprout(&["plan", "--rootfs"])
            .arg(busybox_rootfs())
            .args([
                "--user",
                "demo",
                "--cap-drop",
                "ALL",
                "--cap-add",
                "NET_BIND_SERVICE",
                "-o",
            ])
            .arg(ctx.join("plan"))
            .args(["--", "/bin/busybox", "id"]),
    );
    assert!(out.success(), "{out}");
    fs::write(
        ctx.join("Containerfile"),
        "FROM scratch\nCOPY sprout-init /sprout-init\nCOPY plan /etc/sprout/plan\nCOPY busybox /bin/busybox\n\
         ENTRYPOINT [\"/sprout-init\"]\n",
    )
    .unwrap();
    podman.ok(&["build", "-q", "-t", IMAGE, &ctx.to_string_lossy()]);

    // The plan's command and identity.
    assert_eq!(
        podman.ok(&["run", "--rm", IMAGE]),
        "uid=1000 gid=1000 groups=1000,2000\n"
    );
    let status = podman.ok(&[
        "run",
        "--rm",
        IMAGE,
        "--",
        "/bin/busybox",
        "cat",
        "/proc/self/status",
        "/proc/1/status",
    ]);
    let lines: Vec<&str> = status
        .lines()
        .filter(|l| l.starts_with("Cap") || l.starts_with("Uid"))
        .collect();
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with("Cap"))
            .all(|l| l.ends_with("0000000000000400")),
        "{status}"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with("Uid"))
            .all(|l| l.ends_with("1000\t1000\t1000\t1000")),
        "{status}"
    );
    assert!(
        status.contains("Name:\tsprout-init"),
        "PID 1 is not the stub:\n{status}"
    );
    let rss = status
        .lines()
        .rfind(|l| l.starts_with("VmRSS"))
        .unwrap_or("?");
    eprintln!("sprout-init as PID 1 under podman: {rss}");

    // Exit codes, and a command that is not there.
    let out = podman.run(&[
        "run",
        "--rm",
        IMAGE,
        "--",
        "/bin/busybox",
        "sh",
        "-c",
        "exit 42",
    ]);
    assert_eq!(out.code(), Some(42), "{out}");
    let out = podman.run(&["run", "--rm", IMAGE, "--", "/nope"]);
    assert_eq!(out.code(), Some(127), "{out}");
    assert!(
        out.stderr_str()
            .contains("sprout-init: execve: errno 2 (ENOENT)"),
        "{out}"
    );

    // podman stop: SIGTERM reaches busybox sleep through the stub at once.
    let name = format!("sprout-systest-stop-{}", std::process::id());
    podman.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        IMAGE,
        "--",
        "/bin/busybox",
        "sleep",
        "100",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let start = Instant::now();
    podman.ok(&["stop", "-t", "20", &name]);
    let took = start.elapsed();
    let code = podman.ok(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    podman.ok(&["rm", "-f", &name]);
    assert_eq!(code.trim(), "143", "exit code after podman stop");
    assert!(
        took.as_secs() < 10,
        "podman stop took {took:?}: SIGTERM was not forwarded"
    );
    podman.ok(&["rmi", "-f", IMAGE]);
    let _ = fs::remove_dir_all(fs::read_link(dir.dir().join("runroot")).unwrap());
}
