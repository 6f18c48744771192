//! `sprout exec --tty`: the pty master handed to a `--console-socket`
//! (runc's message: the name `/dev/ptmx` and the fd by SCM_RIGHTS), the
//! terminal inside the container, `consoleSize`, the foreground relay, and
//! the flag combinations runc refuses.

mod common;
#[macro_use]
mod exec_util;

use exec_util::{ConsoleReceiver, Container};
use sprout_systests::serde_json::json;
use sprout_systests::{require_root, unique_id};

#[test]
fn tty_detach_console_socket() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-tty"), |_| {});
    let rx = ConsoleReceiver::new("tty");
    let sock = rx.path_str();
    let pid_file = c.bundle.dir().join("tty.pid");
    let script = "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo stdio-is-tty; \
                  ls -l /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2 | grep -c pts; echo done";
    let out = c.exec(
        &[
            "--tty",
            "--detach",
            "--console-socket",
            &sock,
            "--pid-file",
            pid_file.to_str().unwrap(),
        ],
        &["sh", "-c", script],
    );
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "", "{out}");
    let got = rx.receive(10);
    assert_eq!(got.name, b"/dev/ptmx");
    assert_eq!(got.fds, 1);
    let lines: Vec<&str> = got
        .output
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{got:?}");
    assert_eq!(lines[1..], ["stdio-is-tty", "3", "done"], "{got:?}");
}

#[test]
fn process_file_terminal_and_console_size() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-ttysize"), |_| {});
    let rx = ConsoleReceiver::new("size");
    let file = c.bundle.dir().join("process.json");
    let p = json!({
        "args": ["sh", "-c", "stty size; id -u"],
        "cwd": "/",
        "user": {"uid": 1000, "gid": 1000},
        "env": ["PATH=/bin"],
        "terminal": true,
        "consoleSize": {"height": 40, "width": 120}
    });
    std::fs::write(&file, p.to_string()).unwrap();
    let out = c.exec(
        &[
            "--process",
            file.to_str().unwrap(),
            "--detach",
            "--console-socket",
            &rx.path_str(),
        ],
        &[],
    );
    assert_eq!(out.code(), Some(0), "{out}");
    let got = rx.receive(10);
    assert_eq!(got.output.replace('\r', ""), "40 120\n1000\n", "{got:?}");
}

/// Without a console socket in the foreground, the pty is relayed to
/// stdout (stdin here is not a terminal).
#[test]
fn foreground_tty_is_relayed() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-ttyfg"), |_| {});
    let out = c.exec(&["-t"], &["sh", "-c", "tty; exit 3"]);
    assert_eq!(out.code(), Some(3), "{out}");
    assert!(out.stdout_str().starts_with("/dev/pts/"), "{out}");
    assert!(out.stdout_str().ends_with("\r\n"), "{out}");
}

#[test]
fn refused_flag_combinations() {
    require_root!();
    require_lifecycle!();
    let c = Container::started(&unique_id("exec-ttyflags"), |_| {});
    // A detached terminal nobody would hold.
    let out = c.exec(&["-t", "-d"], &["true"]);
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(out.stderr_str().contains("--console-socket"), "{out}");
    // A console socket without a terminal, or in the foreground.
    let rx = ConsoleReceiver::new("flags");
    let out = c.exec(&["-d", "--console-socket", &rx.path_str()], &["true"]);
    assert_eq!(out.code(), Some(255), "{out}");
    let out = c.exec(&["-t", "--console-socket", &rx.path_str()], &["true"]);
    assert_eq!(out.code(), Some(255), "{out}");
    // A console socket nobody listens on: one line naming it; the process
    // never runs.
    let dir = c.bundle.dir().join("nobody.sock");
    let out = c.exec(
        &["-t", "-d", "--console-socket", dir.to_str().unwrap()],
        &["sh", "-c", "touch /tmp/ran"],
    );
    assert_eq!(out.code(), Some(255), "{out}");
    assert!(out.stderr_str().contains("--console-socket"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !c.bundle.rootfs().join("tmp/ran").exists(),
        "the process ran without a console holder"
    );
}
