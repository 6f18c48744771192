//! CVE-2016-9962: runc's init was dumpable while it joined the container,
//! so a process already in the container could ptrace it (or open its
//! /proc entries: fds, memory, environment) and use the host fds it held.
//! sprout-init makes itself non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`) as
//! its very first act (stub/src/main.rs), and stays so until execve.
//!
//! The tests hold a stub alive inside a container's pid namespace and let
//! another container process (root there, default capabilities, no
//! CAP_SYS_PTRACE) try `ptrace(PTRACE_ATTACH)` and read its
//! `/proc/<pid>/{environ,exe,mem}` and its fd links. As a control the same probes must
//! succeed against an ordinary (dumpable) process of the attacker.
//!
//! How they fail on a vulnerable runtime: with a dumpable stub the attach
//! and the reads succeed (same uid, same capabilities, no Yama here), and
//! the test asserts they do not.
//!
//! Two ways to hold a stub: `sprout create` (the stub waits for `start`,
//! still as sprout-init), and, without lifecycle commands, the stub
//! executed again as a `#!/proc/self/exe` interpreter whose image-mode
//! plan file is a FIFO nobody writes yet.

mod common;
mod support;

use common::{assert_clean, sh};
use sprout_systests::serde_json::{Value, json};
use sprout_systests::{Bundle, output, require_root, sprout, unique_id};

/// Probes `$pid` (set by `find`): each line says `OPEN <what>` when an
/// access succeeded. Then the control against a `sleep` of our own, whose
/// lines say `CONTROL <what>`.
const PROBES: &str = r#"
probe_all() {
  tag=$1; t=$2
  if [ -n "$(readlink /proc/$t/exe 2>/dev/null)" ]; then echo "$tag exe"; fi
  if cat /proc/$t/environ >/dev/null 2>&1; then echo "$tag environ"; fi
  for f in /proc/$t/fd/*; do [ -n "$(readlink $f 2>/dev/null)" ] && { echo "$tag fd"; break; }; done
  if dd if=/proc/$t/mem of=/dev/null bs=1 count=1 2>/dev/null; then echo "$tag mem-open"; fi
  if probe ptrace $t >/dev/null; then echo "$tag ptrace"; fi
}
probe_all OPEN $pid
sleep 30 & ctl=$!
probe_all CONTROL $ctl
kill $ctl
echo probes-done
"#;

fn bundle(id: &str, edit: impl FnOnce(&mut Value)) -> Bundle {
    let b = common::busybox(id, edit);
    support::install_probe(&b);
    b
}

/// Checks the attacker's output: every probe failed against the stub and
/// succeeded against the control.
fn check(out: &str, all: &str) {
    assert!(
        out.contains("probes-done"),
        "the probes did not run:\n{all}"
    );
    let opened: Vec<&str> = out.lines().filter(|l| l.starts_with("OPEN")).collect();
    assert!(
        opened.is_empty(),
        "the stub was accessible from the container: {opened:?}\n{all}"
    );
    for what in ["exe", "environ", "fd", "ptrace"] {
        assert!(
            out.contains(&format!("CONTROL {what}\n")),
            "control probe {what} failed (the probe is broken):\n{all}"
        );
    }
}

/// The stub run again as `#!/proc/self/exe` in container B, held on its
/// FIFO plan file, is probed from container A sharing B's pid namespace.
#[test]
fn reexecuted_stub_is_not_dumpable() {
    require_root!();
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    let ida = unique_id("cve9962a");
    let idb = unique_id("cve9962b");
    let shared_owner = Bundle::empty();
    let shared = shared_owner.dir().join("shared");
    std::fs::create_dir(&shared).unwrap();
    support::mkfifo(&shared.join("plan"));
    let a = bundle(&ida, |c| {
        support::bind(c, &shared, "/shared");
        sh(
            c,
            &format!(
                r#"n=0; pid=
while [ -z "$pid" ]; do
  for p in /proc/[0-9]*; do
    case "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" in "/proc/self/exe "*) pid=${{p#/proc/}};; esac
  done
  n=$((n+1)); [ $n -gt 2000 ] && {{ echo "no re-executed stub found"; exit 3; }}
  usleep 10000
done
{PROBES}
echo release > /shared/plan
exit 0"#
            ),
        );
    });
    let mut bg = support::Background::run(&a, &ida);
    let apid = bg.pid();
    let b = common::busybox(&idb, |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        ns.push(json!({"type": "pid", "path": format!("/proc/{apid}/ns/pid")}));
        support::bind(c, &shared, "/etc/sprout");
        c["process"]["args"] = json!(["/evil.sh"]);
    });
    support::script(&b, "evil.sh", "#!/proc/self/exe\n");
    let outb = b.run(&idb);
    let (code, outa, erra) = bg.wait(60);
    let all = format!("A: exit {code:?}\n{outa}\n{erra}\nB:\n{outb}");
    assert_clean(&a, &ida);
    assert_clean(&b, &idb);
    check(&outa, &all);
}

/// `sprout create` leaves the stub waiting for `start` (pid 1 of the new
/// pid namespace, still sprout-init); a container joining that pid
/// namespace cannot ptrace it nor read its /proc entries. Skipped (loudly)
/// while this build has no `create`.
#[test]
fn created_stub_waiting_for_start_is_not_dumpable() {
    require_root!();
    if !support::has_command("create") {
        skip!("`sprout create` is not in this build yet");
    }
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    let idc = unique_id("cve9962c");
    let created = common::busybox(&idc, |c| c["process"]["args"] = json!(["true"]));
    let pid_file = created.dir().join("create.pid");
    // The waiting stub keeps create's stdout/stderr: not pipes we wait on.
    let st = sprout(&["create", "--pid-file"])
        .arg(&pid_file)
        .arg("--bundle")
        .arg(created.dir())
        .arg(&idc)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "sprout create: {st}");
    let stub: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let exe = std::fs::read_link(format!("/proc/{stub}/exe")).unwrap();
    assert!(
        support::is_memfd_exe(&exe.to_string_lossy()),
        "the waiting stub runs from {exe:?}"
    );
    let ida = unique_id("cve9962d");
    let a = bundle(&ida, |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        ns.push(json!({"type": "pid", "path": format!("/proc/{stub}/ns/pid")}));
        sh(c, &format!("pid=1\n{PROBES}"));
    });
    let outa = a.run(&ida);
    let del = output(&mut sprout(&["delete", "-f", &idc]));
    let all = format!("{outa}\ndelete: {del}");
    assert_clean(&a, &ida);
    assert!(del.success(), "{all}");
    check(&outa.stdout_str(), &all);
}

/// The same from a process started with `sprout exec` in the created
/// container (runc's scenario: an exec'd process attacking the waiting
/// init). Skipped (loudly) without `create` or `exec`.
#[test]
fn created_stub_is_not_dumpable_for_an_exec_process() {
    require_root!();
    if !support::has_command("create") || !support::has_command("exec") {
        skip!("`sprout create`/`exec` are not in this build yet");
    }
    if support::probe().is_none() {
        skip!("no static probe helper (cc -static)");
    }
    let id = unique_id("cve9962e");
    let created = bundle(&id, |c| c["process"]["args"] = json!(["true"]));
    support::create_ok(&created, &id);
    let ex = output(&mut sprout(&[
        "exec",
        &id,
        "sh",
        "-c",
        &format!("pid=1\n{PROBES}"),
    ]));
    let del = output(&mut sprout(&["delete", "-f", &id]));
    let all = format!("{ex}\ndelete: {del}");
    assert_clean(&created, &id);
    check(&ex.stdout_str(), &all);
}
