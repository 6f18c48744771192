//! The container process's limits, exit status, file descriptors and
//! hostname, checked from inside busybox containers run with `sprout run`.

mod common;

use common::{
    assert_clean, assert_one_line_error, busybox, demo_user, run, run_ok, sh, sprout_with_fds,
};
use sprout_systests::serde_json::json;
use sprout_systests::{require_root, sprout, unique_id};

#[test]
fn rlimit_nofile_soft_and_hard() {
    require_root!();
    let id = unique_id("nofile");
    let bundle = busybox(&id, |c| {
        demo_user(c);
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]);
        sh(
            c,
            "ulimit -n; ulimit -Hn; grep 'Max open files' /proc/self/limits",
        );
    });
    let out = run_ok(&bundle, &id);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["512", "1024"], "{out}");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["Max", "open", "files", "512", "1024", "files"]
    );
}

/// Several limits at once, read back from /proc/self/limits (exact values,
/// bytes where the kernel counts bytes).
#[test]
fn several_rlimits() {
    require_root!();
    let id = unique_id("rlimits");
    let bundle = busybox(&id, |c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192},
            {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200},
            {"type": "RLIMIT_FSIZE", "soft": 1048576, "hard": 2097152},
            {"type": "RLIMIT_MSGQUEUE", "soft": 1000, "hard": 1000},
            {"type": "RLIMIT_NOFILE", "soft": 64, "hard": 64},
        ]);
        c["process"]["args"] = json!(["cat", "/proc/self/limits"]);
    });
    let out = run_ok(&bundle, &id);
    let limit = |label: &str| -> (String, String) {
        let line = out
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label}:\n{out}"));
        let mut f = line[label.len()..].split_whitespace().map(String::from);
        (f.next().unwrap(), f.next().unwrap())
    };
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(limit("Max core file size"), s("4096", "8192"), "{out}");
    assert_eq!(limit("Max processes"), s("100", "200"), "{out}");
    assert_eq!(limit("Max file size"), s("1048576", "2097152"), "{out}");
    assert_eq!(limit("Max msgqueue size"), s("1000", "1000"), "{out}");
    assert_eq!(limit("Max open files"), s("64", "64"), "{out}");
}

/// Limits not in the config are the caller's (inherited).
#[test]
fn unlisted_rlimits_are_inherited() {
    require_root!();
    let id = unique_id("inherit");
    let bundle = busybox(&id, |c| {
        c["process"]["rlimits"] = json!([]);
        c["process"]["args"] = json!(["cat", "/proc/self/limits"]);
    });
    let out = run_ok(&bundle, &id);
    let (soft, hard) = common::own_limit("Max open files");
    let show = |v: Option<u64>| v.map_or("unlimited".to_string(), |n| n.to_string());
    let line = out
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let f: Vec<&str> = line["Max open files".len()..].split_whitespace().collect();
    assert_eq!(f[..2], [show(soft), show(hard)], "{out}");
}

/// Raising a hard limit above the caller's needs CAP_SYS_RESOURCE, which
/// this root lacks: a clear error naming the entry, nothing left.
#[test]
fn raising_a_hard_limit_fails_clearly() {
    require_root!();
    if common::have_cap(24) {
        eprintln!(
            "!!!!! SKIPPED raising_a_hard_limit_fails_clearly: this root has CAP_SYS_RESOURCE, it may raise limits"
        );
        return;
    }
    let candidates = [
        ("RLIMIT_NOFILE", "Max open files"),
        ("RLIMIT_NPROC", "Max processes"),
        ("RLIMIT_MEMLOCK", "Max locked memory"),
        ("RLIMIT_SIGPENDING", "Max pending signals"),
        ("RLIMIT_MSGQUEUE", "Max msgqueue size"),
        ("RLIMIT_CORE", "Max core file size"),
        ("RLIMIT_STACK", "Max stack size"),
    ];
    let Some((name, hard)) = candidates
        .iter()
        .find_map(|(name, label)| common::own_limit(label).1.map(|h| (*name, h)))
    else {
        eprintln!(
            "!!!!! SKIPPED raising_a_hard_limit_fails_clearly: every candidate hard limit is unlimited here"
        );
        return;
    };
    let id = unique_id("raise");
    let bundle = busybox(&id, |c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_RTTIME", "soft": 1_000_000, "hard": 1_000_000},
            {"type": name, "soft": hard + 1, "hard": hard + 1},
        ]);
        c["process"]["args"] = json!(["touch", "/tmp/should-not-run"]);
        c["root"]["readonly"] = json!(false);
    });
    let out = run(&bundle, &id);
    // The words say why (it named only the entry and EPERM).
    let msg = assert_one_line_error(
        &out,
        &[
            &format!("process.rlimits[1] {name}"),
            &format!(
                "(hard limit {} is above sprout's own {hard}; raising it needs CAP_SYS_RESOURCE)",
                hard + 1
            ),
            "Operation not permitted (EPERM)",
        ],
    );
    eprintln!("message: {msg}");
    assert!(
        !bundle.rootfs().join("tmp/should-not-run").exists(),
        "the process ran anyway"
    );
}

#[test]
fn exit_code_is_the_containers() {
    require_root!();
    for code in [0, 1, 7, 255] {
        let id = unique_id("exit");
        let bundle = busybox(&id, |c| sh(c, &format!("exit {code}")));
        let out = run(&bundle, &id);
        assert_eq!(out.code(), Some(code), "{out}");
        assert_eq!(out.stderr_str(), "", "{out}");
    }
}

/// Killed by signal N gives 128+N. (The process must not be pid 1 of a pid
/// namespace: init cannot be killed by its own signals; so no pid ns here.)
#[test]
fn killed_by_a_signal_gives_128_plus_n() {
    require_root!();
    // (No SIGSEGV/SIGABRT: a piped core_pattern would run a host helper.)
    for (sig, code) in [("KILL", 137), ("TERM", 143), ("USR1", 138)] {
        let id = unique_id("signal");
        let bundle = busybox(&id, |c| {
            common::drop_namespace(c, "pid");
            sh(c, &format!("kill -{sig} $$; sleep 5"));
        });
        let out = run(&bundle, &id);
        assert_eq!(out.code(), Some(code), "SIG{sig}:\n{out}");
    }
}

/// In a pid namespace the container process is init: a SIGKILL sent from
/// outside (the host) still kills it, and sprout reports 137.
#[test]
fn pid1_killed_from_the_host_gives_137() {
    require_root!();
    let id = unique_id("kill1");
    let bundle = busybox(&id, |c| c["process"]["args"] = json!(["sleep", "30"]));
    let pid_file = bundle.dir().join("pid");
    let mut child = sprout_systests::sprout(&["run", "--pid-file"])
        .arg(&pid_file)
        .arg("--bundle")
        .arg(bundle.dir())
        .arg(&id)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let pid = loop {
        if let Ok(p) = std::fs::read_to_string(&pid_file)
            && let Ok(p) = p.trim().parse::<i32>()
        {
            break p;
        }
        assert!(start.elapsed().as_secs() < 20, "no pid file");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    // The pid file is written before the exec: wait for busybox sleep.
    while !std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("busybox")) {
        assert!(
            start.elapsed().as_secs() < 20,
            "the container process never exec'd"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let k = sprout_systests::output(
        std::process::Command::new("kill").args(["-KILL", &pid.to_string()]),
    );
    assert!(k.success(), "{k}");
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(137), "{st:?}");
    assert_clean(&bundle, &id);
}

/// Only 0, 1 and 2 are open in the container, even when the caller of
/// `sprout run` leaked non-CLOEXEC descriptors into it.
#[test]
fn only_stdio_fds_even_when_the_caller_leaks_some() {
    require_root!();
    let id = unique_id("fds");
    let bundle = busybox(&id, |c| sh(c, "ls /proc/$$/fd; echo ==; ls /proc/self/fd"));
    let dir = bundle.dir().to_str().unwrap().to_string();
    let out = sprout_with_fds(
        "3</etc/hostname 5</etc/passwd 9>/dev/null",
        &["run", "--bundle", &dir, &id],
    );
    assert_clean(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    // `ls /proc/self/fd` also shows ls's own directory fd (3).
    assert_eq!(out.stdout_str(), "0\n1\n2\n==\n0\n1\n2\n3\n", "{out}");
}

/// The leak check itself: the same shell construct does leak the fds
/// into a plain child process (so the test above can fail).
#[test]
fn the_leak_helper_really_leaks() {
    let out = common::sprout_with_fds("3</etc/hostname 5</etc/passwd", &["--version"]);
    assert!(out.success(), "{out}");
    let out = sprout_systests::output(std::process::Command::new("sh").args([
        "-c",
        "exec 3</etc/hostname 5</etc/passwd; exec ls /proc/self/fd",
    ]));
    // (4 is ls's directory fd; whatever else this test process inherited
    // from its own caller shows up too.)
    let fds: Vec<String> = out.stdout_str().lines().map(String::from).collect();
    for fd in ["0", "1", "2", "3", "5"] {
        assert!(fds.iter().any(|f| f == fd), "fd {fd} not inherited:\n{out}");
    }
}

/// `--preserve-fds 1` passes fd 3 (and only it) to the container.
#[test]
fn preserve_fds_keeps_fd_3() {
    require_root!();
    let id = unique_id("preserve");
    let bundle = busybox(&id, |c| sh(c, "ls /proc/$$/fd; cat <&3"));
    let data = bundle.dir().join("fd3.txt");
    std::fs::write(&data, "through fd 3\n").unwrap();
    let dir = bundle.dir().to_str().unwrap().to_string();
    let out = sprout_with_fds(
        &format!("3<{} 4</etc/hostname 6</etc/passwd", data.display()),
        &["run", "--preserve-fds", "1", "--bundle", &dir, &id],
    );
    assert_clean(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "0\n1\n2\n3\nthrough fd 3\n", "{out}");
}

#[test]
fn preserve_fds_2_keeps_fd_3_and_4() {
    require_root!();
    let id = unique_id("preserve2");
    let bundle = busybox(&id, |c| sh(c, "ls /proc/$$/fd; cat <&4"));
    let data = bundle.dir().join("fd4.txt");
    std::fs::write(&data, "through fd 4\n").unwrap();
    let dir = bundle.dir().to_str().unwrap().to_string();
    let out = sprout_with_fds(
        &format!("3</dev/null 4<{} 5</etc/hostname", data.display()),
        &["run", "--preserve-fds", "2", "--bundle", &dir, &id],
    );
    assert_clean(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "0\n1\n2\n3\n4\nthrough fd 4\n", "{out}");
}

/// The hostname is set in a new UTS namespace; the host's is untouched.
#[test]
fn hostname_in_a_new_uts_namespace() {
    require_root!();
    let host_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let id = unique_id("hostname");
    let bundle = busybox(&id, |c| {
        c["hostname"] = json!("sprout-systest-box");
        sh(
            c,
            "hostname; cat /proc/sys/kernel/hostname; readlink /proc/self/ns/uts",
        );
    });
    let out = run_ok(&bundle, &id);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..2],
        ["sprout-systest-box", "sprout-systest-box"],
        "{out}"
    );
    let host_uts = std::fs::read_link("/proc/self/ns/uts").unwrap();
    assert_ne!(
        lines[2],
        host_uts.to_str().unwrap(),
        "the container shares the host's uts namespace"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_before
    );
}

/// The stdio of `sprout run` is the container's (no terminal).
#[test]
fn stdin_is_passed_through() {
    require_root!();
    let id = unique_id("stdin");
    let bundle = busybox(&id, |c| {
        c["process"]["args"] = json!(["sh", "-c", "tr a-z A-Z; echo err >&2"])
    });
    let out = sprout_systests::output(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("echo hello | \"$0\" run --bundle \"$1\" \"$2\"")
            .arg(sprout_systests::sprout_bin())
            .arg(bundle.dir())
            .arg(&id),
    );
    assert_clean(&bundle, &id);
    assert_eq!(
        (
            out.code(),
            out.stdout_str().as_str(),
            out.stderr_str().as_str()
        ),
        (Some(0), "HELLO\n", "err\n")
    );
}

/// With `process.terminal` and a stdin that is not a terminal (a pipe),
/// what stdin holds reaches the container through its pty, and its end
/// arrives as the terminal's end-of-file character (^D), so that a
/// program reading to the end finishes.
#[test]
fn terminal_input_from_a_pipe_reaches_the_container() {
    require_root!();
    let id = unique_id("ttyin");
    let bundle = busybox(&id, |c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "stty -echo; read a; read b; echo \"got $a $b\"; cat; echo end"
        ])
    });
    let out = sprout_systests::output(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("(sleep 0.3; printf 'one\\ntwo\\nthree\\n') | \"$0\" run --bundle \"$1\" \"$2\"")
            .arg(sprout_systests::sprout_bin())
            .arg(bundle.dir())
            .arg(&id),
    );
    assert_clean(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(
        out.stdout_str().replace('\r', ""),
        "got one two\nthree\nend\n",
        "{out}"
    );
}

/// Signals the caller ignores do not stay ignored in the container (an
/// ignored disposition survives execve): with SIGTERM, SIGUSR1 and SIGCHLD
/// ignored by the shell that starts `sprout run`, the container's
/// `SigIgn` has none of them, and its exit status still comes through (an
/// ignored SIGCHLD made the kernel reap the stub before sprout's waitpid:
/// `run` exited 1). SIGHUP and SIGINT are reset for the container too, as
/// runc 1.1.5's container has no signal ignored even under `nohup`
/// (measured; they stayed ignored before, on a wrong reading of runc).
/// Found by attack passes.
#[test]
fn ignored_signals_of_the_caller_are_reset() {
    require_root!();
    let id = unique_id("sigign");
    let bundle = busybox(&id, |c| sh(c, "grep SigIgn /proc/self/status; exit 7"));
    // perl (Debian's essential perl-base) sets the dispositions and
    // execs: sh cannot ignore SIGCHLD.
    let out = sprout_systests::output(
        std::process::Command::new("perl")
            .args([
                "-e",
                "$SIG{$_} = 'IGNORE' for qw(TERM USR1 CHLD HUP INT); exec @ARGV or die \"exec: $!\"",
            ])
            .arg(sprout_systests::sprout_bin())
            .args(["run", "--bundle"])
            .arg(bundle.dir())
            .arg(&id)
            .stdin(std::process::Stdio::null()),
    );
    assert_clean(&bundle, &id);
    assert_eq!(out.code(), Some(7), "{out}");
    let ign = common::status_field(&out.stdout_str(), "SigIgn");
    let mask = u64::from_str_radix(&ign, 16).unwrap();
    for (sig, name) in [
        (15, "TERM"),
        (10, "USR1"),
        (17, "CHLD"),
        (1, "HUP"),
        (2, "INT"),
    ] {
        assert_eq!(mask & 1 << (sig - 1), 0, "SIG{name} still ignored: {ign}");
    }
}

/// A container process that gives itself the stub's name (`comm`) and
/// exits keeps its exit status: only a process killed by a signal while
/// it still has the stub's name is reported as a stub that never executed
/// the container process.
#[test]
fn a_container_named_like_the_stub_keeps_its_exit_status() {
    require_root!();
    let id = unique_id("commname");
    let bundle = busybox(&id, |c| {
        sh(
            c,
            "printf memfd:sprout-in > /proc/self/comm; cat /proc/self/comm; echo; exit 5",
        )
    });
    let out = run(&bundle, &id);
    assert_eq!(
        (out.code(), out.stderr_str().as_str()),
        (Some(5), ""),
        "{out}"
    );
}

/// The container process leads a session of its own with no controlling
/// terminal, as runc's (`setsid` in its nsexec): `sprout run` typed in a
/// terminal does not hand that terminal to the container, which could
/// otherwise write to it (or push input into the caller's shell with
/// TIOCSTI) through `/dev/tty`.
#[test]
fn container_process_leads_its_own_session_without_the_callers_terminal() {
    require_root!();
    let id = unique_id("session");
    let bundle = busybox(&id, |c| sh(c, common::SESSION_SCRIPT));
    let (out, terminal) =
        common::output_on_a_terminal(sprout(&["run", "--bundle"]).arg(bundle.dir()).arg(&id));
    assert_clean(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(
        out.stdout_str(),
        "leader\ntty_nr 0\ntty: none\n",
        "{out}\nterminal got: {terminal:?}"
    );
    assert_eq!(terminal, "", "the container wrote to the caller's terminal");
}

/// An environment of 1.2 MB (12 variables of 100 KB: the plan was capped
/// at 1 MiB) and 5000 variables (the stub passed at most 4096) run, as
/// under runc; the kernel's own limit is far above both.
#[test]
fn a_large_environment_runs() {
    require_root!();
    let id = unique_id("bigenv");
    let big = "x".repeat(100_000);
    let bundle = busybox(&id, |c| {
        let mut env: Vec<String> = vec!["PATH=/bin".into()];
        env.extend((0..12).map(|i| format!("BIG{i}={big}")));
        env.extend((0..5000).map(|i| format!("SVC_{i}=10.0.0.1")));
        c["process"]["env"] = json!(env);
        c["process"]["args"] = json!(["sh", "-c", "echo ${#BIG11} $(env | grep -c ^SVC_)"]);
    });
    assert_eq!(run_ok(&bundle, &id), "100000 5000\n");
}
