//! Namespaces beyond the basics of run_rootfs: a new time namespace with
//! `linux.timeOffsets` (and joining one by path), and `linux.sysctl`
//! validated against the container's namespaces.

mod common;
mod support;

use common::{assert_one_line_error, busybox, run, run_ok, sh};
use sprout_systests::serde_json::{Value, json};
/// A config edit of a table-driven test.
type Edit = Box<dyn Fn(&mut Value)>;

use sprout_systests::{output, require_root, sprout, unique_id};

/// An uptime as /proc/uptime prints it (seconds with two decimals), in
/// hundredths of a second: integers, so that equal readings compare equal
/// (as floats, 34865.58 + 172800.0 came out above 207665.58).
fn centis(text: &str) -> i64 {
    let (s, frac) = text.trim().split_once('.').unwrap_or((text.trim(), "0"));
    let frac = format!("{frac:0<2}");
    s.parse::<i64>().unwrap() * 100 + frac[..2].parse::<i64>().unwrap()
}

fn host_uptime() -> i64 {
    centis(
        std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap(),
    )
}

fn add_ns(c: &mut Value, ns: Value) {
    c["linux"]["namespaces"].as_array_mut().unwrap().push(ns);
}

/// A new time namespace with offsets for both clocks: the container's
/// uptime (CLOCK_BOOTTIME) is ahead of the host's by the boottime offset,
/// /proc/self/timens_offsets shows both, and the namespace is not the
/// host's.
#[test]
fn new_time_namespace_with_offsets() {
    require_root!();
    let id = unique_id("timens");
    let b = busybox(&id, |c| {
        add_ns(c, json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({
            "monotonic": {"secs": 86400, "nanosecs": 500},
            "boottime": {"secs": 172800}
        });
        sh(
            c,
            "cut -d' ' -f1 /proc/uptime; cat /proc/self/timens_offsets; readlink /proc/self/ns/time",
        );
    });
    let before = host_uptime();
    let out = run_ok(&b, &id);
    let after = host_uptime();
    let lines: Vec<&str> = out.lines().collect();
    let up = centis(lines[0]);
    assert!(
        up >= before + 172_800 * 100 && up <= after + 172_800 * 100 + 100,
        "uptime {up} vs host {before}..{after}:\n{out}"
    );
    let offsets: Vec<String> = lines[1..3]
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        offsets,
        ["monotonic 86400 500", "boottime 172800 0"],
        "{out}"
    );
    let host = std::fs::read_link("/proc/self/ns/time").unwrap();
    assert_ne!(lines[3], host.to_str().unwrap(), "{out}");
}

/// A time namespace without offsets: a namespace of its own, clocks as the
/// host's.
#[test]
fn new_time_namespace_without_offsets() {
    require_root!();
    let id = unique_id("timens0");
    let b = busybox(&id, |c| {
        add_ns(c, json!({"type": "time"}));
        sh(c, "cut -d' ' -f1 /proc/uptime; readlink /proc/self/ns/time");
    });
    let before = host_uptime();
    let out = run_ok(&b, &id);
    let up = centis(out.lines().next().unwrap());
    assert!(up >= before && up < host_uptime() + 100, "{out}");
    assert_ne!(
        out.lines().nth(1).unwrap(),
        std::fs::read_link("/proc/self/ns/time")
            .unwrap()
            .to_str()
            .unwrap()
    );
}

/// Joining an existing time namespace by path (one made with util-linux
/// `unshare --time --boottime`): the container sees its offset.
#[test]
fn join_a_time_namespace_by_path() {
    require_root!();
    let mut holder = match std::process::Command::new("unshare")
        .args(["--time", "--boottime", "1000000", "--fork", "sleep", "60"])
        .spawn()
    {
        Ok(c) => c,
        Err(e) => skip!("unshare(1): {e}"),
    };
    // The sleep is unshare's child, in the new namespace.
    let start = std::time::Instant::now();
    let sleeper = loop {
        let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", holder.id()))
            .unwrap_or_default();
        if let Some(p) = kids.split_whitespace().next() {
            break p.to_string();
        }
        assert!(start.elapsed().as_secs() < 10, "unshare started no child");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let id = unique_id("timejoin");
    let b = busybox(&id, |c| {
        add_ns(
            c,
            json!({"type": "time", "path": format!("/proc/{sleeper}/ns/time")}),
        );
        sh(c, "cut -d' ' -f1 /proc/uptime");
    });
    let out = run(&b, &id);
    let _ = holder.kill();
    let _ = output(std::process::Command::new("kill").arg(&sleeper));
    let _ = holder.wait();
    assert_eq!(out.code(), Some(0), "{out}");
    let up = centis(&out.stdout_str());
    assert!(up > host_uptime() + 999_000 * 100, "{out}");
}

/// A process in a new user namespace that maps container ids 0-65535 to
/// host ids 100000-165535 (written here, as newuidmap would), for
/// `{"type": "user", "path": "/proc/PID/ns/user"}`.
struct UsernsHolder(std::process::Child);

impl UsernsHolder {
    fn start() -> UsernsHolder {
        let child = std::process::Command::new("unshare")
            .args(["--user", "sleep", "120"])
            .spawn()
            .expect("unshare --user");
        let h = UsernsHolder(child);
        let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
        let start = std::time::Instant::now();
        while std::fs::read_link(h.ns()).ok().is_none_or(|n| n == ours) {
            assert!(
                start.elapsed().as_secs() < 10,
                "unshare made no user namespace"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for f in ["uid_map", "gid_map"] {
            std::fs::write(format!("/proc/{}/{f}", h.0.id()), "0 100000 65536\n").unwrap();
        }
        h
    }

    fn ns(&self) -> String {
        format!("/proc/{}/ns/user", self.0.id())
    }
}

impl Drop for UsernsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Joining a user namespace by path (as podman's pods and Kubernetes's
/// user namespaces do) with every other namespace new: those are made in
/// it and owned by it, as runc's nsexec makes them, so the container's
/// root mounts its own /proc and /sys; the container process is pid 1 of
/// its new pid namespace, and `exec`, `state` and `delete` work on it.
/// sprout refused this config ("not supported yet").
#[test]
fn join_a_user_namespace_by_path() {
    require_root!();
    let holder = UsernsHolder::start();
    let id = unique_id("userjoin");
    let script = "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user; echo $$; \
                  grep ' /proc ' /proc/self/mountinfo | grep -c ' - proc '";
    let b = busybox(&id, |c| {
        add_ns(c, json!({"type": "user", "path": holder.ns()}));
        // podman passes the pod namespace's mappings along (runc takes them).
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        sh(c, script);
    });
    let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let ns = std::fs::read_link(holder.ns()).unwrap();
    let want = words(&format!("0 0 100000 65536 {} 1 1", ns.to_string_lossy()));
    let out = run(&b, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(words(&out.stdout_str()), want, "{out}");

    // The lifecycle: create, start, exec, state, delete.
    b.config_mut(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let out = b.sprout("create", &[&id]);
    assert_eq!(out.code(), Some(0), "{out}");
    let out = output(&mut sprout(&["start", &id]));
    assert_eq!(out.code(), Some(0), "{out}");
    let out = output(&mut sprout(&["exec", &id, "sh", "-c", script]));
    assert_eq!(out.code(), Some(0), "{out}");
    let mut exec_want = want.clone();
    exec_want[5] = "*".into();
    let mut got = words(&out.stdout_str());
    if let Some(pid) = got.get_mut(5) {
        assert_ne!(pid, "1", "{out}");
        *pid = "*".into();
    }
    assert_eq!(got, exec_want, "{out}");
    let state = output(&mut sprout(&["state", &id]));
    let pid: sprout_systests::serde_json::Value =
        sprout_systests::serde_json::from_str(&state.stdout_str()).unwrap();
    let pid = pid["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap(),
        ns,
        "{state}"
    );
    let out = output(&mut sprout(&["delete", "--force", &id]));
    assert_eq!(out.code(), Some(0), "{out}");
    // Killed (a zombie until its reaper, the machine's init, waits).
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(") ").next().is_some_and(|r| r.starts_with('Z'))
        })
    };
    let start = std::time::Instant::now();
    while !gone() {
        assert!(start.elapsed().as_secs() < 10, "pid {pid} still runs");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A user namespace path that is not a user namespace (here the holder's
/// network namespace) fails with the field, its index and the path, as
/// for the other types. It said `namespace 0: setns: ...` (the joined user
/// namespace comes first on the wire, before the new namespaces).
#[test]
fn a_user_namespace_path_of_another_type_names_the_field() {
    require_root!();
    let holder = UsernsHolder::start();
    let id = unique_id("userjoin-net");
    let net = format!("/proc/{}/ns/net", holder.0.id());
    let mut index = 0;
    let b = busybox(&id, |c| {
        add_ns(c, json!({"type": "user", "path": net}));
        index = c["linux"]["namespaces"].as_array().unwrap().len() - 1;
        sh(c, "true");
    });
    let out = run(&b, &id);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr_str().trim_end(),
        format!(
            "sprout: linux.namespaces[{index}].path \"{net}\": setns: Invalid argument (EINVAL)"
        ),
        "{out}"
    );
}

#[test]
fn time_offset_errors() {
    require_root!();
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 5}})),
            "linux.timeOffsets: need a new time namespace (add {\"type\": \"time\"} to linux.namespaces)",
        ),
        (
            Box::new(|c| {
                add_ns(c, json!({"type": "time"}));
                c["linux"]["timeOffsets"] = json!({"realtime": {"secs": 5}});
            }),
            "linux.timeOffsets \"realtime\": not a clock of a time namespace (monotonic, boottime)",
        ),
        (
            Box::new(|c| {
                add_ns(c, json!({"type": "time"}));
                c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 5}});
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|m| m["destination"] != "/proc");
            }),
            "linux.timeOffsets: needs /proc mounted in the container",
        ),
        (
            Box::new(|c| {
                add_ns(c, json!({"type": "time"}));
                add_ns(c, json!({"type": "time"}));
            }),
            "the time namespace is given twice",
        ),
    ];
    for (edit, needle) in cases {
        let id = unique_id("timeerr");
        let b = busybox(&id, edit);
        let out = run(&b, &id);
        assert_one_line_error(&out, &[needle]);
    }
}

/// `linux.sysctl`: namespaced keys are written inside (net.* with a new
/// network namespace, kernel.shm* / fs.mqueue.* with a new IPC namespace,
/// kernel.domainname with UTS); the host's values are untouched; keys
/// that would change the host, or whose namespace is not the container's
/// own, are refused naming the key.
#[test]
fn sysctls() {
    require_root!();
    let host_shmmni = std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap();
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let id = unique_id("sysctl");
    let b = busybox(&id, |c| {
        c["linux"]["sysctl"] = json!({
            "net.ipv4.ip_forward": "1",
            "net.ipv4.ping_group_range": "0 2147483647",
            "kernel.shmmni": "1234",
            "fs.mqueue.msg_max": "42",
            "kernel.domainname": "sprout.test"
        });
        sh(
            c,
            "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ping_group_range /proc/sys/kernel/shmmni \
             /proc/sys/fs/mqueue/msg_max /proc/sys/kernel/domainname",
        );
    });
    let out = run_ok(&b, &id);
    let norm: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        norm,
        ["1", "0 2147483647", "1234", "42", "sprout.test"],
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap(),
        host_shmmni
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd
    );
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| c["linux"]["sysctl"] = json!({"kernel.panic": "1"})),
            "linux.sysctl \"kernel.panic\": not a namespaced sysctl; it would change the host",
        ),
        (
            Box::new(|c| {
                common::drop_namespace(c, "network");
                c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
            }),
            "linux.sysctl \"net.ipv4.ip_forward\": needs its own network namespace",
        ),
        (
            Box::new(|c| {
                common::drop_namespace(c, "ipc");
                c["linux"]["sysctl"] = json!({"kernel.msgmax": "1"});
            }),
            "linux.sysctl \"kernel.msgmax\": needs its own IPC namespace",
        ),
        (
            // runc refuses it: the config's hostname field sets it.
            Box::new(|c| c["linux"]["sysctl"] = json!({"kernel.hostname": "other"})),
            "linux.sysctl \"kernel.hostname\": not allowed, it conflicts with the config's hostname field",
        ),
        (
            Box::new(|c| c["linux"]["sysctl"] = json!({"net/../../kernel/panic": "1"})),
            "not a valid sysctl name",
        ),
        (
            Box::new(|c| c["linux"]["sysctl"] = json!({"net.ipv4.no_such_knob": "1"})),
            "linux.sysctl \"net.ipv4.no_such_knob\": write: No such file or directory",
        ),
    ];
    for (edit, needle) in cases {
        let id = unique_id("sysctlerr");
        let b = busybox(&id, edit);
        let out = run(&b, &id);
        assert_one_line_error(&out, &[needle]);
    }
}

/// A process started with `sprout exec` joins the container's time
/// namespace (it sees the boottime offset). Skipped without `exec`.
#[test]
fn exec_joins_the_time_namespace() {
    require_root!();
    if !support::has_command("exec") {
        skip!("`sprout exec` is not in this build yet");
    }
    let id = unique_id("timeexec");
    let b = busybox(&id, |c| {
        add_ns(c, json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 500000}});
        c["process"]["args"] = json!(["sleep", "60"]);
    });
    let mut bg = support::Background::run(&b, &id);
    let pid = bg.pid();
    let start = std::time::Instant::now();
    while !std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("busybox")) {
        assert!(start.elapsed().as_secs() < 20);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let ex = output(&mut sprout_systests::sprout(&[
        "exec",
        &id,
        "cut",
        "-d ",
        "-f1",
        "/proc/uptime",
    ]));
    support::kill_pid(pid);
    let _ = bg.wait(20);
    let _ = output(&mut sprout_systests::sprout(&["delete", "-f", &id]));
    common::assert_clean(&b, &id);
    assert!(ex.success(), "{ex}");
    let up = centis(&ex.stdout_str());
    assert!(up > host_uptime() + 499_000 * 100, "{ex}");
}
