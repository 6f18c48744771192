//! System tests of `process.terminal` with `--console-socket` for
//! `create`/`start`, `run -d` and a foreground `run`: the pty master
//! arrives in runc's message shape and carries the container's output.

mod common;
#[allow(unused_macros)]
mod exec_util;
mod lifecycle_util;

use exec_util::ConsoleReceiver;
use lifecycle_util::*;
use sprout_systests::serde_json::json;
use sprout_systests::{require_root, unique_id};

#[test]
fn create_sends_the_pty_master_to_the_console_socket() {
    require_root!();
    let rt = Rt::new("cons");
    let id = unique_id("lt-cons");
    let recv = ConsoleReceiver::new("lt-create");
    let bundle = sh_bundle(&id, "echo hello-from-tty; tty; stty size", |c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    });
    let out = rt.create(&bundle, &id, &["--console-socket", &recv.path_str()]);
    assert!(out.success(), "{out}");
    assert_eq!(rt.status(&id), "created");
    rt.ok(&["start", &id]);
    let got = recv.receive(20);
    assert_eq!(got.name, b"/dev/ptmx", "runc sends the master's name");
    assert_eq!(got.fds, 1);
    assert!(got.output.contains("hello-from-tty"), "{got:?}");
    assert!(
        got.output.contains("/dev/pts/") || got.output.contains("/dev/console"),
        "{got:?}"
    );
    assert!(
        got.output.contains("30 100"),
        "consoleSize applied: {got:?}"
    );
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn run_detached_and_foreground_with_a_console_socket() {
    require_root!();
    let rt = Rt::new("consrun");
    for detach in [true, false] {
        let id = unique_id("lt-consrun");
        let recv = ConsoleReceiver::new("lt-run");
        let bundle = sh_bundle(&id, "echo via-pty; exit 3", |c| {
            c["process"]["terminal"] = json!(true)
        });
        let mut args = vec!["run"];
        if detach {
            args.push("-d");
        }
        let b = bundle.dir().to_str().unwrap().to_string();
        let sock = recv.path_str();
        args.extend(["--bundle", &b, "--console-socket", &sock, &id]);
        let out = rt.sprout(&args);
        assert_eq!(out.code(), Some(if detach { 0 } else { 3 }), "{out}");
        let got = recv.receive(20);
        assert!(got.output.contains("via-pty"), "detach={detach}: {got:?}");
        if detach {
            rt.wait_status(&id, "stopped");
            rt.ok(&["delete", &id]);
        }
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
}

#[test]
fn console_socket_that_nobody_listens_on_fails_cleanly() {
    require_root!();
    let rt = Rt::new("consbad");
    let id = unique_id("lt-consbad");
    let bundle = sh_bundle(&id, "true", |c| c["process"]["terminal"] = json!(true));
    let dir = std::env::temp_dir().join(unique_id("lt-nosock"));
    let sock = dir.join("none.sock");
    let out = rt.create(&bundle, &id, &["--console-socket", sock.to_str().unwrap()]);
    common::assert_one_line_error(&out, &["--console-socket"]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}
