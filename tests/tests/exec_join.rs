//! What an exec process joins and what it does not get: the container's
//! namespaces (pid namespace included, two pid levels seen from the host)
//! and cgroup (or the sub-cgroups `--cgroup` names), `-d --pid-file`,
//! signal forwarding, `--preserve-fds`, and
//! CVE-2024-21626 (no host fd reaches the process, `--cwd
//! /proc/self/fd/N` never resolves to a host directory).

mod common;
#[macro_use]
mod exec_util;

use std::fs;
use std::time::{Duration, Instant};

use exec_util::{Container, ROOT, sprout_root_with_fds, status_field};
use sprout_systests::{require_root, unique_id};

/// Every namespace link of the exec process equals the container init's
/// (read inside the container: /proc/1 is the container's process).
#[test]
fn joins_every_namespace_of_the_container() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-ns"), |_| {});
    let script = "for n in cgroup ipc mnt net pid uts user; do \
                  a=$(readlink /proc/self/ns/$n); b=$(readlink /proc/1/ns/$n); \
                  [ \"$a\" = \"$b\" ] && echo $n same || echo $n DIFFERENT $a $b; done; \
                  hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo";
    let got = c.exec_ok(&[], &["sh", "-c", script]);
    assert_eq!(
        got,
        "cgroup same\nipc same\nmnt same\nnet same\npid same\nuts same\nuser same\nsprout\nsleep 600 \n",
        "{got}"
    );
    // And they are not the host's.
    let init = c.pid();
    for ns in ["mnt", "pid", "net", "uts", "ipc"] {
        let host = fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let theirs = fs::read_link(format!("/proc/{init}/ns/{ns}")).unwrap();
        assert_ne!(host, theirs, "{ns}");
    }
}

/// The exec process is in the container's pid namespace: a small pid
/// inside, and from the host its `NSpid` has two levels (host, container).
#[test]
fn pid_namespace_two_levels() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-pidns"), |_| {});
    let pid_file = c.bundle.dir().join("exec.pid");
    let (code, out) = c.exec_detached(
        c.bundle.dir(),
        &["--pid-file", pid_file.to_str().unwrap()],
        &["sleep", "60"],
    );
    assert_eq!(code, Some(0), "{out}");
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid: Vec<i32> = status_field(&status, "NSpid")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(nspid.len(), 2, "{status}");
    assert_eq!(nspid[0], pid);
    assert!(nspid[1] > 1, "{status}");
    // Seen from inside: the same process, by its container pid.
    let inside = c.exec_ok(&[], &["cat", &format!("/proc/{}/cmdline", nspid[1])]);
    assert_eq!(inside, "sleep\x0060\x00");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// The exec process is in the container's cgroup in every hierarchy, seen
/// from the host and from inside (same lines as the container's process).
#[test]
fn joins_the_container_cgroup() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-cgroup"), |_| {});
    let inside = c.exec_ok(
        &[],
        &[
            "sh",
            "-c",
            "cat /proc/self/cgroup; echo ==; cat /proc/1/cgroup",
        ],
    );
    let (own, init) = inside.split_once("==\n").unwrap();
    assert_eq!(own, init, "{inside}");
    let pid_file = c.bundle.dir().join("exec.pid");
    let (code, out) = c.exec_detached(
        c.bundle.dir(),
        &["--pid-file", pid_file.to_str().unwrap()],
        &["sleep", "60"],
    );
    assert_eq!(code, Some(0), "{out}");
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let host_exec = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let host_init = fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    assert_eq!(host_exec, host_init);
    assert!(
        host_exec.contains(&c.id) || !host_exec.lines().all(|l| l.ends_with(":/")),
        "{host_exec}"
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// `-d --pid-file`: exec returns 0 at once; the pid file (no trailing
/// newline, written atomically) names a live process of the container
/// that outlives the `sprout exec` command.
#[test]
fn detach_and_pid_file() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-detach"), |_| {});
    // Relative to the caller's cwd.
    let (code, out) = c.exec_detached(c.bundle.dir(), &["--pid-file", "rel.pid"], &["sleep", "60"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "");
    let text = fs::read_to_string(c.bundle.dir().join("rel.pid")).unwrap();
    assert!(!text.ends_with('\n') && !text.is_empty(), "{text:?}");
    let pid: i32 = text.parse().unwrap();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\x0060\x00");
    // It is in the container's cgroup, so delete --force (on drop) kills it.
    let procs = c.exec_ok(&[], &["ps", "-o", "args"]);
    assert!(procs.contains("sleep 60"), "{procs}");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    );
}

/// A foreground exec forwards signals to the process and reports its
/// death by signal as 128+N.
#[test]
fn signals_are_forwarded() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-signal"), |_| {});
    let child = sprout_systests::sprout(&["--root", ROOT, "exec", &c.id, "sleep", "100"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the sleep runs in the container.
    let start = Instant::now();
    loop {
        let ps = c.exec_ok(&[], &["ps", "-o", "args"]);
        if ps.lines().any(|l| l.trim() == "sleep 100") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no sleep 100 in the container:\n{ps}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{out:?}");
    let ps = c.exec_ok(&[], &["ps", "-o", "args"]);
    assert!(!ps.contains("sleep 100"), "{ps}");
}

/// Only 0, 1 and 2 are open in the exec process even when the caller has
/// more (non-CLOEXEC) fds; `--preserve-fds N` passes exactly 3..3+N.
#[test]
fn fds_only_stdio_and_preserved() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-fds"), |_| {});
    // `; true`: keeps the shell from exec'ing ls, so $$ is the shell.
    let script = "ls /proc/$$/fd; true";
    let out = sprout_root_with_fds(
        "3</etc/hostname 4</etc/hostname 7</",
        &["exec", &c.id, "sh", "-c", script],
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "0\n1\n2\n", "{out}");
    let data = c.bundle.dir().join("preserved.txt");
    fs::write(&data, "preserved\n").unwrap();
    let script = "ls /proc/$$/fd; cat <&3; true";
    let out = sprout_root_with_fds(
        &format!("3<{} 4</etc/hostname", data.display()),
        &["exec", "--preserve-fds", "1", &c.id, "sh", "-c", script],
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "0\n1\n2\n3\npreserved\n", "{out}");
}

/// CVE-2024-21626: with host directory fds leaked by the caller at every
/// number 3..=9 (dash's limit), `--cwd /proc/self/fd/N` either fails with a one-line
/// error or runs inside the container — never in the host directory.
#[test]
fn cwd_through_a_leaked_fd_never_reaches_the_host() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-21626"), |_| {});
    let hostdir = c.bundle.dir().join("hostdir");
    fs::create_dir_all(hostdir.join("sub")).unwrap();
    fs::write(hostdir.join("HOST-MARKER"), "host\n").unwrap();
    fs::write(hostdir.join("sub/HOST-MARKER"), "host\n").unwrap();
    let leak: String = (3..=9)
        .map(|n| {
            let d = if n % 2 == 0 {
                hostdir.clone()
            } else {
                hostdir.join("sub")
            };
            format!("{n}<{} ", d.display())
        })
        .collect();
    for n in 3..=9 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = sprout_root_with_fds(
            &leak,
            &[
                "exec",
                "--cwd",
                &cwd,
                &c.id,
                "sh",
                "-c",
                "pwd; ls -a . .. ../..; cat ../HOST-MARKER; exit 0",
            ],
        );
        let all = format!("{}{}", out.stdout_str(), out.stderr_str());
        assert!(
            !all.contains("HOST-MARKER") && !all.contains("host\n"),
            "fd {n} reached the host:\n{out}"
        );
        if out.code() != Some(0) {
            assert_eq!(out.code(), Some(255), "{out}");
            assert_eq!(out.stderr_str().lines().count(), 1, "{out}");
            assert!(out.stderr_str().contains("process.cwd"), "{out}");
        }
    }
    // A preserved fd of a host directory is the caller's choice to pass,
    // but still not a way out for the cwd.
    let out = sprout_root_with_fds(
        &format!("3<{}", hostdir.display()),
        &[
            "exec",
            "--preserve-fds",
            "1",
            "--cwd",
            "/proc/self/fd/3",
            &c.id,
            "sh",
            "-c",
            "ls; exit 0",
        ],
    );
    assert!(!out.stdout_str().contains("HOST-MARKER"), "{out}");
}

/// Running two execs at once in one container works (no lock is held
/// while the first one runs).
#[test]
fn concurrent_execs() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-concurrent"), |_| {});
    let slow = sprout_systests::sprout(&[
        "--root",
        ROOT,
        "exec",
        &c.id,
        "sh",
        "-c",
        "sleep 2; echo slow",
    ])
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let start = Instant::now();
    assert_eq!(c.exec_ok(&[], &["echo", "fast"]), "fast\n");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "the second exec waited for the first"
    );
    let out = slow.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "slow\n");
}

/// A container with its own user namespace: the exec process is in it
/// (same mapping as the container's process), as root or as another
/// mapped user.
#[test]
fn user_namespace_container() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-userns"), |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(sprout_systests::serde_json::json!({"type": "user"}));
        let map = sprout_systests::serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
    });
    let got = c.exec_ok(
        &[],
        &["sh", "-c", "id -u; cat /proc/self/uid_map; [ $(readlink /proc/self/ns/user) = $(readlink /proc/1/ns/user) ] && echo same"],
    );
    let words: Vec<&str> = got.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "100000", "65536", "same"], "{got}");
    assert_eq!(
        c.exec_ok(&["-u", "1000:1000", "-g", "2000"], &["id"]),
        "uid=1000(demo) gid=1000(demo) groups=2000(extra)\n"
    );
    // Seen from the host: the mapped ids.
    let pid_file = c.bundle.dir().join("userns.pid");
    let (code, out) = c.exec_detached(
        c.bundle.dir(),
        &["-u", "1000", "--pid-file", pid_file.to_str().unwrap()],
        &["sleep", "60"],
    );
    assert_eq!(code, Some(0), "{out}");
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(
        status_field(&status, "Uid").split_whitespace().next(),
        Some("101000"),
        "{status}"
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// A container sharing the host's pid namespace: no fork in the stub, the
/// reported pid is the stub's own, which became the command.
#[test]
fn container_in_the_host_pid_namespace() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-hostpid"), |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
    });
    let out = c.exec(&[], &["sh", "-c", "exit 6"]);
    assert_eq!(out.code(), Some(6), "{out}");
    let pid_file = c.bundle.dir().join("hostpid.pid");
    let (code, out) = c.exec_detached(
        c.bundle.dir(),
        &["--pid-file", pid_file.to_str().unwrap()],
        &["sleep", "60"],
    );
    assert_eq!(code, Some(0), "{out}");
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(
        status_field(&status, "NSpid"),
        pid.to_string(),
        "one level: {status}"
    );
    assert_eq!(
        fs::read(format!("/proc/{pid}/cmdline")).unwrap(),
        b"sleep\x0060\x00"
    );
    let host_exec = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let host_init = fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    assert_eq!(host_exec, host_init);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// The exec process leads a session of its own with no controlling
/// terminal (runc's nsexec `setsid`s every process it starts): `sprout
/// exec` typed in a terminal does not give the container that terminal.
#[test]
fn exec_process_leads_its_own_session_without_the_callers_terminal() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-session"), |_| {});
    let (out, terminal) = common::output_on_a_terminal(
        sprout_systests::sprout(&["--root", ROOT, "exec", &c.id, "sh", "-c"])
            .arg(common::SESSION_SCRIPT),
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(
        out.stdout_str(),
        "leader\ntty_nr 0\ntty: none\n",
        "{out}\nterminal got: {terminal:?}"
    );
    assert_eq!(
        terminal, "",
        "the exec process wrote to the caller's terminal"
    );
}

/// The container's cgroup directories on this host, `/sprout/<ID>` in
/// each hierarchy mounted under /sys/fs/cgroup (the cgroup2 root itself
/// on a cgroup2-only host).
fn container_cgroup_dirs(id: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut mounts = vec![root.to_path_buf()];
    mounts.extend(fs::read_dir(root).unwrap().flatten().map(|e| e.path()));
    mounts
        .into_iter()
        .map(|m| m.join("sprout").join(id))
        .filter(|d| d.is_dir())
        .collect()
}

/// True on a cgroup2-only host.
fn cgroup2_only() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Sub-cgroup directories a test made from the host; removed on drop
/// (deepest first, errors ignored) if `delete` left any.
struct SubCgroupDirs(Vec<std::path::PathBuf>);

impl SubCgroupDirs {
    /// Makes `sub` in each of `dirs`.
    #[track_caller]
    fn make(&mut self, dirs: &[std::path::PathBuf], sub: &str) {
        for d in dirs {
            let s = d.join(sub);
            fs::create_dir(&s).unwrap_or_else(|e| panic!("mkdir {}: {e}", s.display()));
            self.0.push(s);
        }
    }
}

impl Drop for SubCgroupDirs {
    fn drop(&mut self) {
        for d in self.0.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// `exec --cgroup SUB` (runc 1.1): the process is in the sub-cgroup
/// `SUB` of the container's cgroup in every hierarchy (the cgroup2 one of
/// a hybrid host too); `--cgroup memory,pids:SUB2` moves those two
/// hierarchies only. Seen inside (the container has a cgroup namespace
/// rooted at its cgroup: `N:memory:/sub2`) and from the host
/// (`/sprout/ID/sub`). `delete` removes the container's cgroup with the
/// sub-cgroups.
#[test]
fn cgroup_flag_joins_sub_cgroups() {
    require_root!();
    require_lifecycle!();
    let mut subs = SubCgroupDirs(Vec::new());
    let c = Container::started(&unique_id("exec-subcg"), |_| {});
    let dirs = container_cgroup_dirs(&c.id);
    assert!(!dirs.is_empty(), "no /sprout/{} cgroup found", c.id);
    subs.make(&dirs, "sub");

    let init = c.exec_ok(&[], &["cat", "/proc/1/cgroup"]);
    let got = c.exec_ok(&["--cgroup", "sub"], &["cat", "/proc/self/cgroup"]);
    assert_eq!(got.lines().count(), init.lines().count(), "{got}");
    assert!(got.lines().all(|l| l.ends_with(":/sub")), "{got}");
    // `/` is the container's cgroup itself.
    assert_eq!(
        c.exec_ok(&["--cgroup", "/"], &["cat", "/proc/self/cgroup"]),
        init
    );

    // From the host: below /sprout/ID in every hierarchy.
    let pid_file = c.bundle.dir().join("subcg.pid");
    let (code, out) = c.exec_detached(
        c.bundle.dir(),
        &["--cgroup", "sub", "--pid-file", pid_file.to_str().unwrap()],
        &["sleep", "60"],
    );
    assert_eq!(code, Some(0), "{out}");
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let host = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("/sprout/{}/sub", c.id);
    assert!(host.lines().all(|l| l.ends_with(&want)), "{host}");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );

    if cgroup2_only() {
        // One hierarchy: no controller may be named (runc: v2 takes only a plain path).
        let out = c.exec(&["--cgroup", "memory:sub"], &["true"]);
        assert_eq!(out.code(), Some(255), "{out}");
        assert!(
            out.stderr_str().contains("unknown controller memory"),
            "{out}"
        );
    } else {
        // Made in the memory and pids hierarchies only.
        let two: Vec<_> = ["memory", "pids"]
            .iter()
            .map(|h| {
                std::path::Path::new("/sys/fs/cgroup")
                    .join(h)
                    .join("sprout")
                    .join(&c.id)
            })
            .collect();
        subs.make(&two, "sub2");
        let got = c.exec_ok(
            &["--cgroup", "memory,pids:sub2"],
            &["cat", "/proc/self/cgroup"],
        );
        for (line, init_line) in got.lines().zip(init.lines()) {
            let ctrls = line.split(':').nth(1).unwrap();
            if ctrls == "memory" || ctrls == "pids" {
                assert!(line.ends_with(":/sub2"), "{got}");
            } else {
                assert_eq!(line, init_line, "{got}");
            }
        }
        assert_eq!(got.lines().count(), init.lines().count(), "{got}");
    }

    // delete takes the sub-cgroups with the container's cgroup.
    let out = exec_util::sprout_root(&["delete", "--force", &c.id]);
    assert!(out.success(), "{out}");
    let left = container_cgroup_dirs(&c.id);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `exec --cgroup` refuses, with one line naming the value and runc's
/// words, and starts nothing: a path out of the container's cgroup
/// (`..`), a missing sub-cgroup (in all hierarchies or in one
/// controller's), an unknown controller, a malformed value, a plain path
/// among others.
#[test]
fn cgroup_flag_errors() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-subcg-err"), |_| {});
    let mut cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--cgroup", ".."],
            vec!["--cgroup \"..\"", " .. is not a sub cgroup path"],
        ),
        (
            vec!["--cgroup", "a/../../x"],
            vec!["--cgroup \"a/../../x\"", "is not a sub cgroup path"],
        ),
        (
            vec!["--cgroup", "nonexistent"],
            vec![
                "--cgroup \"nonexistent\"",
                " adding pid ",
                "/nonexistent/cgroup.procs: no such file ",
            ],
        ),
        (
            vec!["--cgroup", "a:b:c"],
            vec!["--cgroup \"a:b:c\"", "invalid --cgroup argument"],
        ),
        (
            vec!["--cgroup", "memory:x", "--cgroup", "sub"],
            vec!["--cgroup \"sub\"", "missing <controller>: prefix"],
        ),
    ];
    if !cgroup2_only() {
        cases.push((
            vec!["--cgroup", "cpu:nonexistent"],
            vec![
                "--cgroup \"cpu:nonexistent\"",
                " adding pid ",
                "/cpu/sprout/",
                "/nonexistent/cgroup.procs: no such file ",
            ],
        ));
        cases.push((
            vec!["--cgroup", "whaaat:/"],
            vec!["--cgroup \"whaaat:/\"", "unknown controller whaaat"],
        ));
    }
    for (flags, words) in &cases {
        let out = c.exec(flags, &["touch", "/dev/shm/ran"]);
        assert_eq!(out.code(), Some(255), "{flags:?}: {out}");
        let err = out.stderr_str();
        assert_eq!(err.lines().count(), 1, "{flags:?}: {out}");
        assert!(
            err.starts_with("sprout: exec failed: --cgroup "),
            "{flags:?}: {out}"
        );
        for w in words {
            assert!(err.contains(w), "{flags:?}: no {w:?} in {out}");
        }
    }
    // Nothing ran (the same command without a bad --cgroup does).
    let probe = "test -e /dev/shm/ran && echo ran || echo none";
    assert_eq!(c.exec_ok(&[], &["sh", "-c", probe]), "none\n");
    c.exec_ok(&["--cgroup", "/"], &["touch", "/dev/shm/ran"]);
    assert_eq!(c.exec_ok(&[], &["sh", "-c", probe]), "ran\n");
}
