//! `linux.seccomp` in real containers: actions (ERRNO with and without
//! `errnoRet`, KILL_PROCESS, KILL_THREAD, TRAP, LOG, NOTIFY with an agent),
//! argument conditions (EQ, GT, MASKED_EQ, one argument twice = OR),
//! flags, unknown names, the size limit, the load order for
//! `noNewPrivileges` true and false (profiles denying what the stub itself
//! does before the load), podman's default profile run unchanged, and
//! runc's -ENOSYS answer to syscalls newer than the profile.
//!
//! Syscalls are made with the static `probe` helper (`probe sc NR ARGS`,
//! tests/helpers/probe.c), which prints `ret N` or `errno N`.

mod common;
mod support;

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_clean, busybox, run, sh, status_field};
use sprout_systests::serde_json::{self, Value, json};
use sprout_systests::{Bundle, output, require_root, sprout, unique_id};

// x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const SYS_GETPID: u32 = 39;
const SYS_MKDIR: u32 = 83;
const SYS_RMDIR: u32 = 84;
const SYS_UMASK: u32 = 95;
const SYS_GETPGID: u32 = 121;
const SYS_SETRESUID: u32 = 117;
const SYS_ADD_KEY: u32 = 248;

/// A busybox bundle with the probe, `linux.seccomp` = `profile`,
/// `process.noNewPrivileges` = `nnp` and a writable root, running `script`.
fn seccomp_bundle(id: &str, profile: Value, nnp: bool, script: &str) -> Bundle {
    let b = busybox(id, |c| {
        c["linux"]["seccomp"] = profile;
        c["process"]["noNewPrivileges"] = json!(nnp);
        c["root"]["readonly"] = json!(false);
        sh(c, script);
    });
    assert!(support::install_probe(&b), "no probe helper (cc -static)");
    b
}

fn allow_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

fn mask(text: &str, field: &str) -> u64 {
    u64::from_str_radix(&status_field(text, field), 16).unwrap()
}

const CAP_SYS_ADMIN: u64 = 1 << 21;

/// Profiles that deny setresuid, setresgid, setgroups, capset, chdir,
/// fchdir and prctl — all things the stub does before loading the filter
/// (a foreground `run` sets its parent-death signal again with prctl: it
/// did so after the load, and `run` failed with `sync: EPERM`) — with
/// `noNewPrivileges` true and false, as root and as uid 1000: the
/// container starts, the calls are denied inside, and with
/// `noNewPrivileges` false the CAP_SYS_ADMIN the stub kept for the load
/// does not reach the container process.
#[test]
fn profiles_denying_the_stubs_own_steps_still_start() {
    require_root!();
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    let deny = allow_but(json!([
        {"names": ["setresuid", "setresgid", "setgroups", "capset", "chdir", "fchdir", "prctl"], "action": "SCMP_ACT_ERRNO"}
    ]));
    for nnp in [true, false] {
        for uid in [0, 1000] {
            let id = unique_id("seccomp-order");
            let b = seccomp_bundle(
                &id,
                deny.clone(),
                nnp,
                &format!(
                    "cat /proc/self/status; echo ==cd; cd /tmp 2>&1 || echo cd-denied; echo ==setresuid; \
                     probe sc {SYS_SETRESUID} -1 -1 -1"
                ),
            );
            b.config_mut(|c| c["process"]["user"] = json!({"uid": uid, "gid": uid}));
            let out = run(&b, &id);
            let what = format!("noNewPrivileges {nnp}, uid {uid}");
            assert_eq!(
                out.code(),
                Some(1),
                "{what}: (probe exits 1 on errno)\n{out}"
            );
            let s = out.stdout_str();
            assert_eq!(status_field(&s, "Seccomp"), "2", "{what}:\n{out}");
            assert_eq!(
                status_field(&s, "NoNewPrivs"),
                if nnp { "1" } else { "0" },
                "{what}:\n{out}"
            );
            assert_eq!(
                status_field(&s, "Uid").split_whitespace().next(),
                Some(uid.to_string().as_str()),
                "{out}"
            );
            assert!(
                common::section(&s, "==cd").contains("cd-denied"),
                "{what}:\n{out}"
            );
            assert_eq!(
                common::section(&s, "==setresuid"),
                "errno 1\n",
                "{what}:\n{out}"
            );
            for set in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
                assert_eq!(
                    mask(&s, set) & CAP_SYS_ADMIN,
                    0,
                    "{what}: {set} has CAP_SYS_ADMIN:\n{out}"
                );
            }
            if uid == 1000 {
                assert_eq!(mask(&s, "CapPrm"), 0, "{what}:\n{out}");
            } else {
                // Root keeps the default set (bounding = effective).
                assert_eq!(mask(&s, "CapEff"), mask(&s, "CapBnd"), "{what}:\n{out}");
            }
        }
    }
}

/// ERRNO with `errnoRet`, with the default (EPERM), and the default
/// action's `defaultErrnoRet`.
#[test]
fn errno_actions() {
    require_root!();
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    let id = unique_id("seccomp-errno");
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "syscalls": [
            // Everything but add_key, mkdir and rmdir is allowed.
            {"names": ["add_key", "mkdir", "rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}
        ]
    });
    // An allow-list of all the syscalls libseccomp knows except those three.
    let mut profile = profile;
    let names: Vec<String> = (0..460)
        .filter_map(|n| libseccomp::ScmpSyscall::from(n).get_name().ok())
        .filter(|n| !["add_key", "mkdir", "rmdir"].contains(&n.as_str()))
        .collect();
    profile["syscalls"] = json!([
        {"names": names, "action": "SCMP_ACT_ALLOW"},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}
    ]);
    let b = seccomp_bundle(
        &id,
        profile,
        true,
        &format!(
            "probe sc {SYS_MKDIR} s:/tmp/x 0755; probe sc {SYS_RMDIR} s:/tmp; probe sc {SYS_ADD_KEY} s:user s:k 0 0 0; \
             probe sc {SYS_GETPID}; exit 0"
        ),
    );
    let out = run(&b, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    let lines: Vec<String> = out.stdout_str().lines().map(String::from).collect();
    assert_eq!(lines[..3], ["errno 95", "errno 1", "errno 38"], "{out}");
    assert!(lines[3].starts_with("ret "), "{out}");
    assert!(!b.rootfs().join("tmp/x").exists());
}

/// KILL_PROCESS, KILL (thread) and TRAP end the caller with SIGSYS (exit
/// status 128+31 seen by its shell); LOG lets the call through.
#[test]
fn kill_trap_and_log_actions() {
    require_root!();
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    for (action, want) in [
        ("SCMP_ACT_KILL_PROCESS", "status=159"),
        ("SCMP_ACT_KILL", "status=159"),
        ("SCMP_ACT_KILL_THREAD", "status=159"),
        ("SCMP_ACT_TRAP", "status=159"),
        ("SCMP_ACT_LOG", "status=0"),
    ] {
        let id = unique_id("seccomp-kill");
        let b = seccomp_bundle(
            &id,
            allow_but(json!([{"names": ["getpgid"], "action": action}])),
            true,
            &format!("probe sc {SYS_GETPGID} 0 >/dev/null; echo status=$?"),
        );
        let out = run(&b, &id);
        assert_eq!(out.code(), Some(0), "{action}:\n{out}");
        assert_eq!(out.stdout_str().trim(), want, "{action}:\n{out}");
    }
}

/// Argument conditions: EQ, GT, MASKED_EQ (value = mask, valueTwo =
/// datum), and two conditions on one argument (either matches).
#[test]
fn argument_conditions() {
    require_root!();
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    let id = unique_id("seccomp-args");
    let profile = allow_but(json!([
        // mkdir with the sticky bit (mode & 01000 == 01000): EACCES.
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 1, "value": 0o1000, "valueTwo": 0o1000, "op": "SCMP_CMP_MASKED_EQ"}]},
        // umask(077) or umask(022): EINVAL.
        {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
         "args": [{"index": 0, "value": 0o77, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 0o22, "op": "SCMP_CMP_EQ"}]},
        // getpgid(pid > 100000): ESRCH.
        {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
         "args": [{"index": 0, "value": 100000, "op": "SCMP_CMP_GT"}]}
    ]));
    let b = seccomp_bundle(
        &id,
        profile,
        true,
        &format!(
            "for a in '{m} s:/tmp/sticky 01755' '{m} s:/tmp/plain 0755' '{u} 077' '{u} 022' '{u} 027' \
             '{g} 200000' '{g} 0'; do probe sc $a; done; ls -d /tmp/*; exit 0",
            m = SYS_MKDIR,
            u = SYS_UMASK,
            g = SYS_GETPGID
        ),
    );
    let out = run(&b, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    let lines: Vec<String> = out.stdout_str().lines().map(String::from).collect();
    assert_eq!(lines[0], "errno 13", "{out}");
    assert_eq!(lines[1], "ret 0", "{out}");
    assert_eq!(lines[2..4], ["errno 22", "errno 22"], "{out}");
    assert!(lines[4].starts_with("ret "), "{out}");
    assert_eq!(lines[5], "errno 3", "{out}");
    assert!(lines[6].starts_with("ret "), "{out}");
    assert_eq!(lines[7], "/tmp/plain", "{out}");
}

/// Flags the kernel has are passed; `sprout plan` shows the filter's size
/// in instructions and the flags.
#[test]
fn flags_and_the_plan_view() {
    require_root!();
    let id = unique_id("seccomp-flags");
    let b = busybox(&id, |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_LOG"},
                         {"names": ["add_key"], "action": "SCMP_ACT_ERRNO"}]
        });
        sh(
            c,
            "grep -E '^(Seccomp|Seccomp_filters|Speculation_Store_Bypass):' /proc/self/status",
        );
    });
    let plan = output(sprout(&["plan", "--bundle"]).arg(b.dir()));
    assert!(plan.success(), "{plan}");
    let v: Value = serde_json::from_str(&plan.stdout_str()).unwrap();
    let n = v["seccomp"]["instructions"].as_u64().unwrap();
    assert!(n > 4 && n < 100, "{plan}");
    assert_eq!(
        v["seccomp"]["flagNames"],
        json!(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]),
        "{plan}"
    );
    let out = common::run_ok(&b, &id);
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("Seccomp_filters:\t1"), "{out}");
    // SPEC_ALLOW: the filter does not force the speculative store bypass
    // mitigation on (without it, seccomp turns it on for the task).
    assert!(!out.contains("thread force mitigated"), "{out}");
}

/// Syscall names libseccomp does not know are skipped (a note with
/// `--debug`), not an error.
#[test]
fn unknown_syscall_names_are_skipped() {
    require_root!();
    let id = unique_id("seccomp-unknown");
    let b = busybox(&id, |c| {
        c["linux"]["seccomp"] = allow_but(json!([
            {"names": ["mkdir", "sprout_no_such_syscall"], "action": "SCMP_ACT_ERRNO"}
        ]));
        sh(c, "mkdir /tmp/x 2>&1; exit 0");
    });
    let out = common::run_ok(&b, &id);
    assert!(out.contains("Operation not permitted"), "{out}");
    let dbg = output(sprout(&["--debug", "plan", "--bundle"]).arg(b.dir()));
    assert!(dbg.success(), "{dbg}");
    assert!(
        dbg.stderr_str()
            .contains("skipping syscall \"sprout_no_such_syscall\""),
        "{dbg}"
    );
}

/// Clear, one-line errors naming the field: a program above the kernel's
/// 4096 instructions, NOTIFY without listenerPath, NOTIFY on a syscall the
/// stub needs after the load, a profile denying execve, an unknown
/// architecture, errnoRet with KILL.
#[test]
fn profile_errors_are_one_line() {
    require_root!();
    let big: Vec<Value> = (0..440)
        .filter_map(|n| libseccomp::ScmpSyscall::from(n).get_name().ok())
        .enumerate()
        .map(|(i, n)| {
            json!({"names": [n], "action": "SCMP_ACT_ERRNO", "errnoRet": i + 1,
                   "args": [{"index": 0, "value": i, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": i, "op": "SCMP_CMP_NE"}]})
        })
        .collect();
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": big}),
            vec![
                "linux.seccomp: the compiled filter has",
                "above the kernel's limit of 4096",
            ],
        ),
        (
            allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}])),
            vec!["linux.seccomp.listenerPath: required by the SCMP_ACT_NOTIFY action"],
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/nowhere.sock",
                   "syscalls": [{"names": ["sendmsg", "mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            vec![
                "linux.seccomp: the filter answers sendmsg with SCMP_ACT_NOTIFY, which would deadlock",
            ],
        ),
        (
            allow_but(json!([{"names": ["execve"], "action": "SCMP_ACT_ERRNO"}])),
            vec![
                "linux.seccomp: the filter answers execve with SCMP_ACT_ERRNO(1)",
                "to start the container process",
            ],
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]}),
            vec!["linux.seccomp.architectures"],
        ),
        (
            // libseccomp's limit (MAX_ERRNO 4095), named up front.
            allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}])),
            vec!["linux.seccomp.syscalls[0]: errnoRet 4095 is out of range (at most 4094)"],
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}),
            vec!["linux.seccomp.defaultErrnoRet: errnoRet 5000 is out of range (at most 4094)"],
        ),
        (
            allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 3}])),
            vec![
                "linux.seccomp.syscalls[0]: errnoRet is only meaningful with SCMP_ACT_ERRNO or SCMP_ACT_TRACE",
            ],
        ),
    ];
    for (profile, needles) in cases {
        let id = unique_id("seccomp-err");
        let b = busybox(&id, |c| c["linux"]["seccomp"] = profile);
        let out = run(&b, &id);
        common::assert_one_line_error(&out, &needles);
    }
}

/// `create` with a profile that denies `accept4` (the stub waits for
/// `start` in it, after the load): refused at create time.
#[test]
fn create_refuses_a_profile_denying_the_start_wait() {
    require_root!();
    if !support::has_command("create") {
        skip!("`sprout create` is not in this build yet");
    }
    let id = unique_id("seccomp-create");
    let b = busybox(&id, |c| {
        c["linux"]["seccomp"] =
            allow_but(json!([{"names": ["accept4"], "action": "SCMP_ACT_ERRNO"}]))
    });
    let out = output(sprout(&["create", "--bundle"]).arg(b.dir()).arg(&id));
    let _ = output(&mut sprout(&["delete", "-f", &id]));
    assert_clean(&b, &id);
    common::assert_one_line_error(
        &out,
        &[
            "linux.seccomp: the filter answers accept4",
            "wait for `start`",
        ],
    );
}

/// What the notify agent got and did.
struct AgentReport {
    /// The container process state JSON it received.
    state: Value,
    /// `name -> answer` for every notification, in order.
    handled: Vec<String>,
}

/// A seccomp notify agent on `sock`: accepts one connection, takes the
/// container process state and the listener fd (SCM_RIGHTS), then answers
/// notifications until the filter has no users left: `mkdir` gets a
/// fake success (nothing is created), `rmdir` gets EROFS, anything else
/// is let through (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
fn spawn_agent(sock: PathBuf) -> std::thread::JoinHandle<Result<AgentReport, String>> {
    let listener = UnixListener::bind(&sock).expect("binding the agent socket");
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
        let start = Instant::now();
        let conn = loop {
            match listener.accept() {
                Ok((c, _)) => break c,
                Err(_) if start.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => return Err(format!("no connection from the runtime: {e}")),
            }
        };
        conn.set_nonblocking(false).unwrap();
        let mut buf = vec![0u8; 65536];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 2]);
        let (n, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                conn.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map_err(|e| format!("recvmsg: {e}"))?;
            let mut fd = None;
            for c in msg.cmsgs().map_err(|e| e.to_string())? {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    fd = fds.first().copied();
                }
            }
            (msg.bytes, fd)
        };
        // The rest of the JSON, if it came in more than one read.
        let mut text = buf[..n].to_vec();
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut &conn, &mut rest);
        text.extend(rest);
        let state: Value = serde_json::from_slice(&text).map_err(|e| format!("state JSON: {e}"))?;
        let fd = fd.ok_or("no fd with the state")?;
        let mut handled = Vec::new();
        while let Ok(req) = ScmpNotifReq::receive(fd) {
            let name = req.data.syscall.get_name().unwrap_or_default();
            let resp = match name.as_str() {
                "mkdir" | "mkdirat" => {
                    ScmpNotifResp::new_val(req.id, 0, ScmpNotifRespFlags::empty())
                }
                "rmdir" => ScmpNotifResp::new_error(req.id, -30, ScmpNotifRespFlags::empty()),
                _ => ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::empty()),
            };
            handled.push(name);
            resp.respond(fd).map_err(|e| format!("respond: {e}"))?;
        }
        let _ = nix::unistd::close(fd);
        Ok(AgentReport { state, handled })
    })
}

/// SCMP_ACT_NOTIFY with an agent at `listenerPath`: it receives the
/// container process state (ociVersion, fds ["seccompFd"], pid, metadata,
/// state with id, status and bundle) and the listener, and answers: a
/// faked mkdir, an rmdir failing with EROFS. With `noNewPrivileges` true
/// and false.
#[test]
fn notify_agent_answers_syscalls() {
    require_root!();
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    for nnp in [true, false] {
        let id = unique_id("seccomp-notify");
        let owner = Bundle::empty();
        let sock = owner.dir().join("agent.sock");
        let profile = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "sprout-test-metadata",
            "syscalls": [{"names": ["mkdir", "mkdirat", "rmdir"], "action": "SCMP_ACT_NOTIFY"}]
        });
        let b = seccomp_bundle(
            &id,
            profile,
            nnp,
            &format!(
                "probe sc {SYS_MKDIR} s:/tmp/faked 0755; [ -e /tmp/faked ] && echo created || echo not-created; \
                 probe sc {SYS_RMDIR} s:/tmp; probe sc {SYS_GETPID} >/dev/null && echo getpid-ok; exit 0"
            ),
        );
        let agent = spawn_agent(sock.clone());
        let out = run(&b, &id);
        let report = agent.join().unwrap();
        assert_eq!(out.code(), Some(0), "noNewPrivileges {nnp}:\n{out}");
        let report = report.unwrap_or_else(|e| panic!("agent: {e}\n{out}"));
        assert_eq!(
            out.stdout_str(),
            "ret 0\nnot-created\nerrno 30\ngetpid-ok\n",
            "noNewPrivileges {nnp}:\n{out}"
        );
        let s = &report.state;
        assert_eq!(s["fds"], json!(["seccompFd"]), "{s}");
        assert_eq!(s["metadata"], "sprout-test-metadata", "{s}");
        assert!(
            s["ociVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("1.")),
            "{s}"
        );
        assert!(s["pid"].as_i64().is_some_and(|p| p > 1), "{s}");
        assert_eq!(s["state"]["id"], id.as_str(), "{s}");
        assert_eq!(s["state"]["status"], "creating", "{s}");
        assert_eq!(s["state"]["pid"], s["pid"], "{s}");
        assert_eq!(
            Path::new(s["state"]["bundle"].as_str().unwrap()),
            b.dir(),
            "{s}"
        );
        assert!(
            report.handled.iter().any(|n| n == "mkdir"),
            "{:?}",
            report.handled
        );
        assert!(
            report.handled.iter().any(|n| n == "rmdir"),
            "{:?}",
            report.handled
        );
        assert!(!b.rootfs().join("tmp/faked").exists());
    }
}

/// SCMP_ACT_NOTIFY on syscalls the stub itself makes after the listener
/// is with the agent (`close`, `execve`: runc's seccomp-notify.bats
/// profile "execve,openat,open,read,close"): the agent answers them and
/// the container runs. sprout refused such a profile ("would deadlock");
/// only the hand-over's own `sendmsg`/`recvfrom` cannot be notified.
#[test]
fn notify_on_close_and_execve_is_answered_by_the_agent() {
    require_root!();
    let id = unique_id("seccomp-notify-close");
    let owner = Bundle::empty();
    let sock = owner.dir().join("agent.sock");
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "syscalls": [{"names": ["execve", "openat", "open", "read", "close"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let b = seccomp_bundle(&id, profile, true, "cat /etc/passwd >/dev/null && echo ran");
    let agent = spawn_agent(sock.clone());
    let out = run(&b, &id);
    let report = agent.join().unwrap();
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "ran\n", "{out}");
    let report = report.unwrap_or_else(|e| panic!("agent: {e}\n{out}"));
    for name in ["close", "execve", "openat"] {
        assert!(
            report.handled.iter().any(|n| n == name),
            "{name}: {:?}",
            report.handled
        );
    }
}

/// A listener socket nobody listens on: a one-line error naming
/// `linux.seccomp.listenerPath`, and nothing left behind.
#[test]
fn notify_without_an_agent_fails_clearly() {
    require_root!();
    let id = unique_id("seccomp-noagent");
    let b = busybox(&id, |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/sprout-test-no-such-agent.sock",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let out = run(&b, &id);
    common::assert_one_line_error(
        &out,
        &[
            "linux.seccomp.listenerPath \"/run/sprout-test-no-such-agent.sock\": connect",
            "(ENOENT)",
        ],
    );
}

/// podman's capabilities (containers.conf `default_capabilities`).
const PODMAN_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// The OCI `linux.seccomp` podman generates from containers-common's
/// `seccomp.json` for an amd64 container with [`PODMAN_CAPS`] (its
/// `includes`/`excludes` by capability and architecture resolved as
/// containers/common's `specconv` does; `archMap` -> `architectures`).
fn podman_profile(text: &str) -> Value {
    let p: Value = serde_json::from_str(text).unwrap();
    let has = |c: &Value| PODMAN_CAPS.contains(&c.as_str().unwrap_or_default());
    let mut architectures = Vec::new();
    for m in p["archMap"].as_array().unwrap() {
        if m["architecture"] == "SCMP_ARCH_X86_64" {
            architectures.push(m["architecture"].clone());
            architectures.extend(m["subArchitectures"].as_array().unwrap().iter().cloned());
        }
    }
    let mut syscalls = Vec::new();
    for s in p["syscalls"].as_array().unwrap() {
        let list = |v: &Value, k: &str| v[k].as_array().cloned().unwrap_or_default();
        let (inc, exc) = (&s["includes"], &s["excludes"]);
        let inc_arches = list(inc, "arches");
        if !inc_arches.is_empty() && !inc_arches.iter().any(|a| a == "amd64") {
            continue;
        }
        if list(exc, "arches").iter().any(|a| a == "amd64") {
            continue;
        }
        if !list(inc, "caps").iter().all(has) || list(exc, "caps").iter().any(has) {
            continue;
        }
        if inc.get("minKernel").is_some_and(|k| !k.is_null()) {
            continue;
        }
        let mut r = json!({"names": s["names"], "action": s["action"]});
        if let Some(a) = s.get("args").filter(|a| !a.is_null()) {
            r["args"] = a.clone();
        }
        if let Some(e) = s.get("errnoRet").filter(|e| !e.is_null()) {
            r["errnoRet"] = e.clone();
        }
        syscalls.push(r);
    }
    json!({
        "defaultAction": p["defaultAction"],
        "defaultErrnoRet": p["defaultErrnoRet"],
        "architectures": architectures,
        "syscalls": syscalls,
    })
}

/// podman's default seccomp profile (containers-common's
/// /usr/share/containers/seccomp.json, as podman turns it into
/// `linux.seccomp`) with podman's capabilities and `noNewPrivileges`
/// false runs unchanged: ordinary commands work, the filter is on, and a
/// syscall outside the profile gets its ENOSYS.
#[test]
fn podman_default_profile_runs_unchanged() {
    require_root!();
    let Ok(text) = std::fs::read_to_string("/usr/share/containers/seccomp.json") else {
        skip!(
            "no /usr/share/containers/seccomp.json (apt-get install golang-github-containers-common)"
        );
    };
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    let profile = podman_profile(&text);
    let id = unique_id("seccomp-podman");
    let b = seccomp_bundle(
        &id,
        profile,
        false,
        &format!(
            "id; mkdir /tmp/d && touch /tmp/d/f && ls /tmp/d && rm -r /tmp/d; echo x | sed s/x/y/; \
             grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; probe sc {SYS_ADD_KEY} s:user s:k 0 0 0; exit 0"
        ),
    );
    b.config_mut(|c| {
        let caps: Vec<&str> = PODMAN_CAPS.to_vec();
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
    });
    let plan = output(sprout(&["plan", "--bundle"]).arg(b.dir()));
    assert!(plan.success(), "{plan}");
    let v: Value = serde_json::from_str(&plan.stdout_str()).unwrap();
    let n = v["seccomp"]["instructions"].as_u64().unwrap();
    assert!(n > 100 && n <= 4096, "{n} instructions");
    let out = common::run_ok(&b, &id);
    assert_eq!(
        out, "uid=0(root) gid=0(root)\nf\ny\nNoNewPrivs:\t0\nSeccomp:\t2\nerrno 38\n",
        "podman's profile:\n{out}"
    );
}

/// NOTIFY with `create` + `start` (how podman and containerd run
/// containers): the listener reaches the agent during `create`, with
/// status `creating`; the process's notified syscalls are answered after
/// `start`. Skipped (loudly) without lifecycle commands.
#[test]
fn notify_with_create_and_start() {
    require_root!();
    if !support::has_command("create") || !support::has_command("start") {
        skip!("`sprout create`/`start` are not in this build yet");
    }
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    // Also with the stub's own close and execve notified (after the
    // hand-over: `start` waits for the container's execve, which the
    // agent answers).
    for extra in [&[][..], &["execve", "close"][..]] {
        let id = unique_id("seccomp-notify-create");
        let owner = Bundle::empty();
        let sock = owner.dir().join("agent.sock");
        let mut names = vec!["mkdir", "mkdirat", "rmdir"];
        names.extend(extra);
        let profile = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}]
        });
        let b = seccomp_bundle(
            &id,
            profile,
            true,
            &format!(
                "(probe sc {SYS_MKDIR} s:/tmp/faked 0755; probe sc {SYS_RMDIR} s:/tmp) > /out 2>&1"
            ),
        );
        let agent = spawn_agent(sock);
        support::create_ok(&b, &id);
        let start = output(&mut sprout(&["start", &id]));
        assert!(start.success(), "{start}");
        let report = agent.join().unwrap();
        let t0 = Instant::now();
        while !output(&mut sprout(&["state", &id]))
            .stdout_str()
            .contains("\"stopped\"")
        {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the container never stopped"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let del = output(&mut sprout(&["delete", &id]));
        assert_clean(&b, &id);
        assert!(del.success(), "{del}");
        let report = report.unwrap_or_else(|e| panic!("agent: {e}"));
        assert_eq!(
            report.state["state"]["status"], "creating",
            "{}",
            report.state
        );
        assert_eq!(report.state["state"]["id"], id.as_str());
        assert_eq!(
            std::fs::read_to_string(b.rootfs().join("out")).unwrap(),
            "ret 0\nerrno 30\n"
        );
        assert!(!b.rootfs().join("tmp/faked").exists());
    }
}

/// The compiled-program cache (controller/src/seccomp/cache.rs): the first
/// run of a profile stores an entry, the next runs load it and enforce the
/// same filter; an entry in a directory others can write to is ignored
/// (compiled again, still enforced); `SPROUT_SECCOMP_CACHE=off` stores
/// nothing.
#[test]
fn cached_programs_are_enforced_the_same() {
    require_root!();
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    let cache = std::env::temp_dir().join(unique_id("seccomp-cache"));
    let profile =
        allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]));
    let id = unique_id("seccomp-cache");
    let b = seccomp_bundle(
        &id,
        profile,
        true,
        &format!("probe sc {SYS_MKDIR} s:/tmp/x 0755; exit 0"),
    );
    let run_with = |cache: &Path| {
        let out = output(
            sprout(&["run", "--bundle"])
                .arg(b.dir())
                .arg(&id)
                .env("SPROUT_SECCOMP_CACHE", cache),
        );
        assert_eq!(out.code(), Some(0), "{out}");
        assert_eq!(out.stdout_str().trim(), "errno 95", "{out}");
        assert_clean(&b, &id);
    };
    let entries = |d: &Path| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    run_with(&cache);
    assert_eq!(entries(&cache), 1, "the first run stores one entry");
    run_with(&cache);
    run_with(&cache);
    assert_eq!(entries(&cache), 1, "later runs load it");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    run_with(&cache);
    std::fs::remove_dir_all(&cache).unwrap();
    run_with(Path::new("off"));
    assert!(!Path::new("off").exists());
    assert!(!b.rootfs().join("tmp/x").exists());
}

/// runc's -ENOSYS stub (runc 1.1's seccomp.bats "-ENOSYS handling"): with
/// an `SCMP_ACT_ERRNO` default (EPERM) and rules allowing the syscalls
/// numbered up to rseq (334) but add_key, one numbered above all of them
/// (clone3, 435, and 1000) gets ENOSYS, so that a libc falls back, while
/// add_key, below, gets the default EPERM. The same with x32 numbers
/// (bit 30 set; the rules name x32 calls up to 547), compared with x32's
/// own highest.
#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    require_root!();
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    const SYS_CLONE3: u32 = 435;
    const X32: u32 = 0x4000_0000;
    let names: Vec<String> = (0..=334)
        .filter_map(|n| libseccomp::ScmpSyscall::from(n).get_name().ok())
        .filter(|n| n != "add_key")
        .collect();
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    });
    let id = unique_id("seccomp-enosys");
    let calls = [SYS_CLONE3, 1000, SYS_ADD_KEY, X32 | 1000, X32 | SYS_ADD_KEY];
    let script: Vec<String> = calls.iter().map(|nr| format!("probe sc {nr}")).collect();
    let b = seccomp_bundle(
        &id,
        profile,
        true,
        &format!("{}; exit 0", script.join("; ")),
    );
    let out = run(&b, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    let stdout = out.stdout_str();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["errno 38", "errno 38", "errno 1", "errno 38", "errno 1"],
        "{out}"
    );
}
