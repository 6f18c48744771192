//! CVE-2019-5736: a container process overwrote the host's runc binary
//! through `/proc/<pid>/exe`. The classic attack replaces a binary in the
//! container with `#!/proc/self/exe`: when the runtime's init (or `exec`
//! helper) executes it, the kernel runs the *runtime's own* executable again
//! as the interpreter, inside the container; another container process
//! opens `/proc/<that pid>/exe` (read-only: it is busy while it runs),
//! waits for it to exit, and reopens the held fd through
//! `/proc/self/fd/N` for writing — which opens the host file.
//!
//! sprout runs the stub from a sealed memfd copy (`memfd_create` +
//! `F_SEAL_WRITE|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL`, launch.rs), so
//! `/proc/<stub>/exe` is that memfd: not the host file, and not writable.
//!
//! How these tests fail on a vulnerable runtime (one that execs the host's
//! sprout-init by path): the attacker below holds `/proc/<re-executed
//! stub>/exe`, which is then the host file; after the stub exits, the
//! reopen for writing succeeds and changes it — the sha256 of the host's
//! `sprout-init` differs and the attacker prints `WROTE`. The attacker
//! gets CAP_SYS_PTRACE, so that the stub being non-dumpable (the
//! CVE-2016-9962 defence, tested on its own in cve_2016_9962.rs) does not
//! hide a regression here.
//!
//! The re-executed stub is kept alive (so the attack is not a race): in
//! image mode it reads its plan from `/etc/sprout/plan`, here a FIFO on a
//! volume shared with the attacker, who releases it when ready.

mod common;
mod support;

use common::{add_cap, assert_clean, sh};
use sprout_systests::serde_json::{Value, json};
use sprout_systests::{Bundle, require_root, unique_id};

/// The attacker's script: find the re-executed stub (its cmdline starts
/// with `/proc/self/exe`), hold its exe, try to write it while it runs,
/// release it (write the FIFO at `fifo`), wait until it is gone, then
/// write through the held fd. Prints `found`, `exe=`, `held`, and `WROTE`
/// for any write that succeeded.
fn attacker_script(fifo: &str) -> String {
    format!(
        r#"n=0; pid=
while [ -z "$pid" ]; do
  for p in /proc/[0-9]*; do
    case "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" in "/proc/self/exe "*) pid=${{p#/proc/}};; esac
  done
  n=$((n+1)); [ $n -gt 2000 ] && {{ echo "no re-executed stub found"; exit 3; }}
  usleep 10000
done
echo found
echo "exe=$(readlink /proc/$pid/exe 2>&1)"
if exec 3</proc/$pid/exe; then echo held; else echo not-held; fi
if echo evil >> /proc/$pid/exe; then echo WROTE running-append; fi
if echo evil > /proc/$pid/exe; then echo WROTE running-trunc; fi
echo release > {fifo}
n=0
while [ -n "$(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null)" ]; do usleep 10000; n=$((n+1)); [ $n -gt 2000 ] && break; done
if echo evil >> /proc/self/fd/3; then echo WROTE held-append; fi
if echo evil > /proc/self/fd/3; then echo WROTE held-trunc; fi
if printf evil | dd of=/proc/self/fd/3 conv=notrunc 2>/dev/null; then echo WROTE held-dd; fi
echo attack-done"#
    )
}

/// A full copy of the busybox rootfs (nothing hard-linked to the template:
/// the container may try to write its own files), with `edit` applied.
fn bundle(id: &str, edit: impl FnOnce(&mut Value)) -> Bundle {
    let b = Bundle::busybox();
    b.config_mut(|c| {
        common::push_env(c, &format!("{}={id}", common::MARKER));
        edit(c)
    });
    b
}

fn assert_unchanged(before: &[(std::path::PathBuf, String)], out: &str) {
    let after = support::tested_binary_hashes();
    assert_eq!(before, &after[..], "a host sprout binary changed:\n{out}");
}

/// The classic attack with `sprout run`: container B (joining the pid
/// namespace of container A) runs `/evil.sh` = `#!/proc/self/exe`, so the
/// stub executes itself again inside B; A holds and then writes its exe.
#[test]
fn reexecuted_stub_exe_cannot_be_written() {
    require_root!();
    let before = support::tested_binary_hashes();
    assert!(!before.is_empty());
    let ida = unique_id("cve5736a");
    let idb = unique_id("cve5736b");
    let shared_owner = Bundle::empty();
    let shared = shared_owner.dir().join("shared");
    std::fs::create_dir(&shared).unwrap();
    support::mkfifo(&shared.join("plan"));

    let a = bundle(&ida, |c| {
        add_cap(c, "CAP_SYS_PTRACE");
        support::bind(c, &shared, "/shared");
        sh(c, &attacker_script("/shared/plan"));
    });
    let mut bg = support::Background::run(&a, &ida);
    let apid = bg.pid();

    let b = bundle(&idb, |c| {
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
    assert_unchanged(&before, &all);
    assert!(
        outa.contains("found\n"),
        "the attacker never saw the re-executed stub:\n{all}"
    );
    assert!(
        outa.contains("held\n"),
        "the attacker (with CAP_SYS_PTRACE) could not even open the exe:\n{all}"
    );
    let exe = outa
        .lines()
        .find_map(|l| l.strip_prefix("exe="))
        .unwrap_or_default();
    assert!(
        support::is_memfd_exe(exe),
        "the re-executed stub runs from {exe:?}, not a memfd:\n{all}"
    );
    assert!(
        !outa.contains("WROTE"),
        "a write to the stub's exe succeeded:\n{all}"
    );
    assert!(outa.contains("attack-done"), "{all}");
    // B really re-executed the stub, which then found no valid plan.
    assert!(
        outb.stderr_str().contains("sprout-init") || outb.code() != Some(0),
        "{all}"
    );
}

/// Writes to `/proc/self/exe`, `/proc/1/exe` and the exe of every process
/// the container sees (its own and, without a pid namespace, the `sprout`
/// controller, its parent) fail or only change the container's own files;
/// the host's sprout binaries are unchanged. (A vulnerable runtime whose
/// controller or stub the container can open for writing fails the hash
/// check.)
#[test]
fn writes_to_visible_exes_do_not_reach_host_binaries() {
    require_root!();
    let before = support::tested_binary_hashes();
    for pidns in [true, false] {
        let id = unique_id("cve5736w");
        let b = bundle(&id, |c| {
            if !pidns {
                common::drop_namespace(c, "pid");
            }
            c["root"]["readonly"] = json!(false);
            sh(
                c,
                "for f in /proc/self/exe /proc/1/exe /proc/$$/exe /proc/$PPID/exe; do \
                   l=$(readlink $f 2>&1); \
                   if echo evil >> $f; then echo \"WROTE $f -> $l\"; fi; \
                   if (exec 3<$f) 2>/dev/null; then echo \"held $f -> $l\"; fi; \
                 done 2>/dev/null; echo ppid=$PPID; exit 0",
            );
        });
        let out = b.run(&id);
        assert_clean(&b, &id);
        assert_unchanged(&before, &out.to_string());
        assert_eq!(out.code(), Some(0), "{out}");
        for line in out.stdout_str().lines().filter(|l| l.starts_with("WROTE")) {
            // Only the container's own busybox (a file in its rootfs) may be written.
            assert!(
                line.ends_with("/bin/busybox"),
                "pid ns {pidns}: {line}\n{out}"
            );
        }
        if !pidns {
            // The parent is the host's `sprout run`: not even readable.
            assert!(!out.stdout_str().contains("held /proc/$PPID"), "{out}");
            let ppid = out
                .stdout_str()
                .lines()
                .find_map(|l| l.strip_prefix("ppid="))
                .unwrap_or_default()
                .to_string();
            assert!(
                !out.stdout_str().contains(&format!("held /proc/{ppid}/exe")),
                "the container opened its controller's exe:\n{out}"
            );
        }
    }
}

/// The same classic attack through `sprout exec`: the exec'd stub runs
/// `#!/proc/self/exe` inside the running container, whose attacker holds
/// and writes the exe. Skipped (loudly) while this build has no `exec`.
#[test]
fn exec_reexecuted_stub_exe_cannot_be_written() {
    require_root!();
    if !support::has_command("exec") {
        skip!("`sprout exec` is not in this build yet");
    }
    let before = support::tested_binary_hashes();
    let id = unique_id("cve5736e");
    let a = bundle(&id, |c| {
        add_cap(c, "CAP_SYS_PTRACE");
        c["root"]["readonly"] = json!(false);
        sh(c, &attacker_script("/etc/sprout/plan"));
    });
    std::fs::create_dir_all(a.rootfs().join("etc/sprout")).unwrap();
    support::mkfifo(&a.rootfs().join("etc/sprout/plan"));
    support::script(&a, "evil.sh", "#!/proc/self/exe\n");
    let mut bg = support::Background::run(&a, &id);
    let _ = bg.pid();
    let ex = sprout_systests::output(&mut sprout_systests::sprout(&["exec", &id, "/evil.sh"]));
    let (code, outa, erra) = bg.wait(60);
    let all = format!("A: exit {code:?}\n{outa}\n{erra}\nexec:\n{ex}");
    let _ = sprout_systests::output(&mut sprout_systests::sprout(&["delete", "-f", &id]));
    assert_clean(&a, &id);
    assert_unchanged(&before, &all);
    assert!(outa.contains("held\n"), "{all}");
    let exe = outa
        .lines()
        .find_map(|l| l.strip_prefix("exe="))
        .unwrap_or_default();
    assert!(
        support::is_memfd_exe(exe),
        "the exec'd stub runs from {exe:?}:\n{all}"
    );
    assert!(!outa.contains("WROTE"), "{all}");
}

/// An exec'd process writing to `/proc/self/exe` (its own busybox), the
/// container's init (`/proc/1/exe`) and every other process it sees: the
/// host's sprout binaries are unchanged. Skipped (loudly) without `exec`.
#[test]
fn exec_writes_to_visible_exes_do_not_reach_host_binaries() {
    require_root!();
    if !support::has_command("exec") {
        skip!("`sprout exec` is not in this build yet");
    }
    let before = support::tested_binary_hashes();
    let id = unique_id("cve5736x");
    let a = bundle(&id, |c| {
        c["root"]["readonly"] = json!(false);
        c["process"]["args"] = json!(["sleep", "60"]);
    });
    let mut bg = support::Background::run(&a, &id);
    let pid = bg.pid();
    let start = std::time::Instant::now();
    while !std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("busybox")) {
        assert!(start.elapsed().as_secs() < 20);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let ex = sprout_systests::output(&mut sprout_systests::sprout(&[
        "exec",
        &id,
        "sh",
        "-c",
        "for f in /proc/[0-9]*/exe /proc/self/exe; do l=$(readlink $f 2>&1); \
           if echo evil >> $f; then echo \"WROTE $f -> $l\"; fi; \
           if (exec 3<$f) 2>/dev/null; then echo \"held $f -> $l\"; fi; done 2>/dev/null; exit 0",
    ]));
    support::kill_pid(pid);
    let _ = bg.wait(20);
    let _ = sprout_systests::output(&mut sprout_systests::sprout(&["delete", "-f", &id]));
    assert_clean(&a, &id);
    assert_unchanged(&before, &ex.to_string());
    assert!(ex.success(), "{ex}");
    for line in ex.stdout_str().lines() {
        // Only the container's own busybox is there to open or write.
        assert!(line.ends_with("/bin/busybox"), "{line}\n{ex}");
    }
}

/// Capability names by number (capability.h), for the bounding set below.
const CAP_NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// `sprout exec` clones its process into the container's pid namespace,
/// where it is a copy of the host's sprout until it execs the sealed
/// stub. strace holds that `execveat` back for two seconds while the
/// container (every capability the exec has: all of ours but
/// CAP_SYS_PTRACE, which setpriv drops from the exec's bounding set) reads
/// every `/proc/PID/exe` it sees: the host binary must not be among them
/// (the exec is non-dumpable). It was: an attack pass opened it for
/// writing.
#[test]
fn exec_clone_does_not_show_the_host_binary() {
    require_root!();
    let bounding = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("CapBnd:")
                .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        })
        .unwrap();
    let caps: Vec<String> = (0..CAP_NAMES.len())
        .filter(|&b| b != 19 && bounding & (1 << b) != 0)
        .map(|b| format!("CAP_{}", CAP_NAMES[b]))
        .collect();
    let id = unique_id("cve5736xclone");
    let a = bundle(&id, |c| {
        c["root"]["readonly"] = json!(false);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set] = json!(caps);
        }
        sh(
            c,
            "while :; do for p in /proc/[0-9]*; do readlink $p/exe; done; done > /tmp/seen 2>/dev/null",
        );
    });
    let mut bg = support::Background::run(&a, &id);
    let pid = bg.pid();
    let seen = a.rootfs().join("tmp/seen");
    assert!(
        support::wait_for(&seen, 20),
        "the container did not start its loop"
    );
    let sprout = sprout_systests::sprout_bin();
    let ex = sprout_systests::output(
        std::process::Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=execveat"])
            .args(["-e", "inject=execveat:delay_enter=2000000"])
            .args(["setpriv", "--bounding-set", "-sys_ptrace", "--"])
            .arg(&sprout)
            .args(["exec", &id, "true"]),
    );
    let text = std::fs::read_to_string(&seen).unwrap_or_default();
    support::kill_pid(pid);
    let _ = bg.wait(20);
    let _ = sprout_systests::output(&mut sprout_systests::sprout(&["delete", "-f", &id]));
    assert_clean(&a, &id);
    assert!(ex.success(), "{ex}");
    assert!(
        text.lines().any(|l| l.ends_with("/busybox")),
        "the loop saw no process: {text:?}"
    );
    let host = std::fs::canonicalize(&sprout).unwrap();
    assert!(
        !text.lines().any(|l| std::path::Path::new(l) == host),
        "the container saw the host binary {} as a process's exe",
        host.display()
    );
}
