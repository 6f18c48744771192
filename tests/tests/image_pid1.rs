//! `sprout-init` as PID 1 of an image, side by side with tini and
//! catatonit: signal forwarding, zombie reaping, exit codes, signal storms
//! and a fork bomb. Each behaviour is checked for every init that is
//! installed, and the results must agree.

mod image_common;

use image_common::{Image, Init, available_inits, have};
use sprout_systests::require_root;

/// Skips (loudly) without root or unshare(1); else the installed inits.
macro_rules! setup {
    ($test:expr) => {{
        require_root!();
        if !have("unshare") {
            eprintln!("!!!!! SKIPPED {}: no unshare(1) (util-linux)", $test);
            return;
        }
        available_inits($test)
    }};
}

/// A trap for each of `sigs` that prints `got SIG` (TERM also exits 3),
/// then `ready`, then a loop that runs the traps between short sleeps.
fn trapper(sigs: &[&str]) -> String {
    let mut s = String::new();
    for sig in sigs {
        let exit = if *sig == "TERM" { "; exit 3" } else { "" };
        s.push_str(&format!("trap 'echo got {sig}{exit}' {sig}; "));
    }
    s.push_str("echo ready; while :; do sleep 0.05; done");
    s
}

/// TERM, INT, HUP and USR1 sent to PID 1 reach the command (it traps and
/// prints each); TERM ends it and the init exits with its status.
#[test]
fn signals_reach_the_child() {
    let inits = setup!("signals_reach_the_child");
    let image = Image::new();
    image.plan(&[]);
    let sigs = [
        "HUP", "USR1", "INT", "USR2", "WINCH", "QUIT", "ALRM", "CONT", "TERM",
    ];
    let script = trapper(&sigs);
    for init in inits {
        let mut c = image.spawn(init, &["sh", "-c", &script]);
        c.expect_line("ready", 20);
        for sig in sigs {
            c.signal_init(sig);
            c.expect_line(&format!("got {sig}"), 10);
        }
        let (code, _) = c.wait(10);
        assert_eq!(
            code,
            Some(3),
            "{init:?}: exit code after the TERM trap's exit 3"
        );
    }
}

/// `sprout-init --plan /plan --pgroup -- sh -c SCRIPT`.
fn pgroup_argv(script: &str) -> Vec<String> {
    [
        "/sprout-init",
        "--plan",
        "/plan",
        "--pgroup",
        "--",
        "sh",
        "-c",
        script,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// With `--pgroup` the command gets a process group of its own and the
/// signals go to the whole group (tini -g): a background child of the
/// shell gets them too.
#[test]
fn pgroup_signals_the_whole_group() {
    require_root!();
    if !have("unshare") {
        eprintln!("!!!!! SKIPPED pgroup_signals_the_whole_group: no unshare(1)");
        return;
    }
    let image = Image::new();
    image.plan(&[]);
    let script = "sh -c \"trap 'echo bg got USR1; exit 0' USR1; echo bg ready; while :; do sleep 0.05; done\" & \
                  trap 'echo fg got USR1' USR1; trap 'wait; exit 7' TERM; \
                  while :; do sleep 0.05; done";
    let argv = pgroup_argv(script);
    let mut c = image.spawn_raw(&argv);
    c.expect_line("bg ready", 20);
    c.signal_init("USR1");
    c.expect_line("bg got USR1", 10);
    c.signal_init("TERM");
    let (code, lines) = c.wait(10);
    assert_eq!(code, Some(7), "{lines:?}");
    // Without --pgroup only the command itself gets it.
    let script = "sh -c \"trap 'echo bg got USR1' USR1; echo bg ready; while :; do sleep 0.05; done\" & \
                  trap 'echo fg got USR1' USR1; trap 'kill %1; exit 7' TERM; \
                  while :; do sleep 0.05; done";
    let mut c = image.spawn(Init::Sprout, &["sh", "-c", script]);
    c.expect_line("bg ready", 20);
    c.signal_init("USR1");
    c.expect_line("fg got USR1", 10);
    c.signal_init("TERM");
    let (code, lines) = c.wait(10);
    assert_eq!(code, Some(7), "{lines:?}");
    assert!(!lines.iter().any(|l| l == "bg got USR1"), "{lines:?}");
}

/// Orphaned grandchildren are reparented to PID 1 and reaped: no `Z` in
/// ps after they ended.
#[test]
fn orphans_are_reaped() {
    let inits = setup!("orphans_are_reaped");
    let image = Image::new();
    image.plan(&[]);
    let script = "for i in 1 2 3 4 5 6 7 8; do sh -c 'sleep 0.1 & sleep 0.1 & exit 0'; done; sleep 1; \
                  ps -o pid,ppid,stat,args; echo zombies=$(ps -o stat | grep -c '^Z'); exit 0";
    for init in inits {
        let out = image.run(init, &["sh", "-c", script]);
        assert_eq!(out.code(), Some(0), "{init:?}:\n{out}");
        let text = out.stdout_str();
        assert!(text.contains("zombies=0"), "{init:?}: zombies left:\n{out}");
    }
}

/// Exit codes 0-255 pass through; death by signal N becomes 128+N.
#[test]
fn exit_codes_and_signals() {
    let inits = setup!("exit_codes_and_signals");
    let image = Image::new();
    image.plan(&[]);
    let cases: &[(&str, i32)] = &[
        ("exit 0", 0),
        ("exit 1", 1),
        ("exit 42", 42),
        ("exit 126", 126),
        ("exit 255", 255),
        ("kill -KILL $$", 137),
        ("kill -TERM $$", 143),
        ("kill -USR1 $$", 138),
        ("kill -HUP $$", 129),
    ];
    for (script, want) in cases {
        let mut got = Vec::new();
        for &init in &inits {
            let out = image.run(init, &["sh", "-c", script]);
            assert_eq!(out.code(), Some(*want), "{init:?} `{script}`:\n{out}");
            got.push(out.code());
        }
        assert!(got.windows(2).all(|w| w[0] == w[1]), "`{script}`: {got:?}");
    }
}

/// A storm of signals (thousands of USR1 and USR2, and real-time signals,
/// which queue instead of coalescing) neither kills nor wedges PID 1:
/// afterwards every kind still reaches the command, and TERM ends it.
#[test]
fn signal_storm() {
    let inits = setup!("signal_storm");
    let image = Image::new();
    image.plan(&[]);
    let kinds = [
        "USR1", "USR2", "HUP", "INT", "QUIT", "ALRM", "34", "40", "64", "TERM",
    ];
    let script = trapper(&kinds);
    for init in inits {
        let mut c = image.spawn(init, &["sh", "-c", &script]);
        c.expect_line("ready", 20);
        let pid = c.init_pid().to_string();
        // One kill(1) per signal would be slow: a host shell loop sends them.
        let storm = format!(
            "i=0; while [ $i -lt 2000 ]; do kill -USR1 {pid}; kill -USR2 {pid}; kill -s 40 {pid}; i=$((i+1)); done; \
             for s in HUP INT QUIT ALRM WINCH CONT URG 34 64; do kill -s $s {pid}; done"
        );
        let out = sprout_systests::output(std::process::Command::new("sh").args(["-c", &storm]));
        assert!(out.success(), "{init:?}: storm:\n{out}");
        for kind in &kinds[..kinds.len() - 1] {
            c.expect_line(&format!("got {kind}"), 30);
        }
        c.signal_init("TERM");
        c.expect_line("got TERM", 30);
        let (code, lines) = c.wait(30);
        assert_eq!(code, Some(3), "{init:?}: {} lines", lines.len());
    }
}

/// A fork bomb held by RLIMIT_NPROC (the same user's process limit, set by
/// the plan for a uid of its own): PID 1 keeps reaping, and once the bomb
/// is killed the command ends normally with nothing left over.
#[test]
fn fork_bomb_under_nproc_limit() {
    let inits = setup!("fork_bomb_under_nproc_limit");
    let image = Image::new();
    image.plan(&["--user", "4242", "--rlimit", "nproc=40:40", "--cwd", "/tmp"]);
    // The shell forks its sleep before the bomb (which soon leaves no
    // process slot), kills everything but PID 1 and itself with builtins,
    // then retries ps until PID 1 has reaped enough for it to fork.
    let script = "bomb() { bomb & bomb & wait; }; sleep 2 & s=$!; (bomb) 2>/dev/null & wait $s; \
                  for i in 1 2 3 4 5 6 7 8; do kill -9 -1; done 2>/dev/null; \
                  { until ps -o pid=,stat= >/tmp/ps; do :; done; } 2>/dev/null; cat /tmp/ps; echo done";
    for init in inits {
        let out = if init == Init::Sprout {
            image.run(init, &["sh", "-c", script])
        } else {
            // tini and catatonit have no privilege drop: run them through
            // the same plan with `sprout-init --exec` in front (su-exec's use).
            let mut argv: Vec<String> = ["/sprout-init", "--plan", "/plan", "--exec", "--"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            argv.extend(init.argv());
            argv.extend(["sh", "-c", script].iter().map(|s| s.to_string()));
            sprout_systests::output(&mut image.command_raw(&argv))
        };
        assert_eq!(out.code(), Some(0), "{init:?}:\n{out}");
        let text = out.stdout_str();
        assert!(text.contains("done"), "{init:?}:\n{out}");
        // Left: PID 1, the shell and ps itself; no zombie.
        let ps: Vec<&str> = text.lines().take_while(|l| *l != "done").collect();
        assert!(
            ps.len() <= 3,
            "{init:?}: {} processes left after the bomb:\n{out}",
            ps.len()
        );
        assert!(
            !ps.iter().any(|l| l.ends_with('Z')),
            "{init:?}: zombies:\n{out}"
        );
    }
}

/// `--exec` (gosu/su-exec use): no supervision, the command is PID 1
/// itself; without PID 1 and without `--subreaper` the stub execs too.
#[test]
fn exec_mode_replaces_the_stub() {
    let inits = setup!("exec_mode_replaces_the_stub");
    let image = Image::new();
    image.plan(&[]);
    let argv: Vec<String> = [
        "/sprout-init",
        "--plan",
        "/plan",
        "--exec",
        "--",
        "sh",
        "-c",
        "echo pid=$$; read c </proc/1/comm; echo $c",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = sprout_systests::output(&mut image.command_raw(&argv));
    assert_eq!(out.stdout_str(), "pid=1\nsh\n", "{out}");
    // As PID 1 without --exec: the stub stays PID 1, the command is pid 2.
    let out = image.run(
        Init::Sprout,
        &["sh", "-c", "echo pid=$$; read c </proc/1/comm; echo $c"],
    );
    assert_eq!(out.stdout_str(), "pid=2\nsprout-init\n", "{out}");
    // Not PID 1 (tini is): exec, unless --subreaper.
    if !inits.contains(&Init::Tini) {
        return;
    }
    let out = image.run(
        Init::Tini,
        &[
            "/sprout-init",
            "--plan",
            "/plan",
            "--",
            "sh",
            "-c",
            "cat /proc/$$/status | grep PPid",
        ],
    );
    assert_eq!(out.stdout_str().trim(), "PPid:\t1", "{out}");
    let out = image.run(
        Init::Tini,
        &[
            "/sprout-init",
            "--plan",
            "/plan",
            "--subreaper",
            "--",
            "sh",
            "-c",
            "grep PPid /proc/$$/status; grep Name /proc/$PPID/status",
        ],
    );
    assert_eq!(out.stdout_str(), "PPid:\t2\nName:\tsprout-init\n", "{out}");
}

/// TTIN and TTOU sent to PID 1 are not forwarded (tini ignores them;
/// catatonit does not pass them on either): forwarded, they stopped the
/// command for good, and the container hung. The command still gets the
/// TERM that follows.
#[test]
fn job_control_signals_are_not_forwarded() {
    let inits = setup!("job_control_signals_are_not_forwarded");
    let image = Image::new();
    image.plan(&[]);
    let script = trapper(&["TERM"]);
    for init in inits {
        let mut c = image.spawn(init, &["sh", "-c", &script]);
        c.expect_line("ready", 20);
        c.signal_init("TTOU");
        c.signal_init("TTIN");
        std::thread::sleep(std::time::Duration::from_millis(200));
        c.signal_init("TERM");
        c.expect_line("got TERM", 10);
        let (code, _) = c.wait(10);
        assert_eq!(code, Some(3), "{init:?}");
    }
}

/// On a terminal, the command leads a process group of its own and that
/// group is the terminal's foreground one (tini's `isolate_child`), with or
/// without `--pgroup`: a ^C then reaches the command once, from the
/// terminal. In the init's group it got two, the terminal's and the one
/// the init (which got one too) forwarded.
#[test]
fn on_a_terminal_the_command_has_the_foreground_group() {
    let inits = setup!("on_a_terminal_the_command_has_the_foreground_group");
    let image = Image::new();
    image.plan(&[]);
    // pid, pgrp and tpgid (fields 1, 5 and 8 of /proc/self/stat) of the
    // shell that the init starts.
    let script = "read -r l < /proc/self/stat; set -- $l; echo \"pid $1 pgrp $5 tpgid $8\"";
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    for init in inits {
        // catatonit keeps the command in its own group (it is not tini).
        if init == Init::Catatonit {
            continue;
        }
        let mut argv = init.argv();
        argv.extend(["sh", "-c", script].iter().map(|s| s.to_string()));
        runs.push((format!("{init:?}"), argv));
    }
    let pgroup = pgroup_argv(script);
    runs.push(("sprout --pgroup".into(), pgroup));
    for (name, argv) in runs {
        let (out, _) = sprout_systests::output_on_a_terminal(&mut image.command_raw(&argv), true);
        assert_eq!(out.code(), Some(0), "{name}: {out}");
        let line = out.stdout_str();
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 6, "{name}: {out}");
        let (pid, pgrp, tpgid) = (f[1], f[3], f[5]);
        assert_ne!(pid, "1", "{name}: the command is not the init: {out}");
        assert_eq!(pgrp, pid, "{name}: the command leads its group: {out}");
        assert_eq!(tpgid, pid, "{name}: its group has the terminal: {out}");
    }
}
