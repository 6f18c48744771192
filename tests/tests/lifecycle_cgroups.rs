//! System tests of the container cgroup: every `linux.resources` section
//! read back from the host's cgroup files, `linux.cgroupsPath`, the
//! stub's placement, kill --all with a forking workload, pause/resume,
//! update, events (--stats and the OOM stream).

mod common;
mod lifecycle_util;

use std::fs;
use std::time::Duration;

use lifecycle_util::*;
use sprout_systests::serde_json::{self, Value, json};
use sprout_systests::{Output, require_root, unique_id};

#[test]
fn resources_are_applied_and_read_back() {
    require_root!();
    let rt = Rt::new("res");
    let id = unique_id("lt-res");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["resources"] = json!({
            "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728, "swappiness": 10},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 50},
            "blockIO": {"weight": 500},
            "devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 4, "minor": 64, "access": "r"}
            ]
        });
    });
    rt.create_ok(&bundle, &id);
    let cg = format!("/sprout/{id}");
    for (ctrl, file, want) in [
        ("memory", "memory.limit_in_bytes", "67108864"),
        ("memory", "memory.soft_limit_in_bytes", "33554432"),
        ("memory", "memory.memsw.limit_in_bytes", "134217728"),
        ("memory", "memory.swappiness", "10"),
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_quota_us", "50000"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpuset", "cpuset.cpus", "0"),
        ("cpuset", "cpuset.mems", "0"),
        ("pids", "pids.max", "50"),
        ("blkio", "blkio.bfq.weight", "500"),
    ] {
        assert_eq!(cg_read(ctrl, &cg, file), want, "{ctrl}/{file}");
    }
    // Devices: the config's rules (deny all, then 4:64 r) plus runc's defaults.
    let list = cg_read("devices", &cg, "devices.list");
    let rules: Vec<&str> = list.lines().collect();
    for want in [
        "c 4:64 r",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
        "c *:* m",
        "b *:* m",
    ] {
        assert!(
            rules.contains(&want),
            "{want} missing from devices.list:\n{list}"
        );
    }
    assert!(!rules.contains(&"a *:* rwm"), "deny-all must hold:\n{list}");

    // The stub (and so the process) is in the cgroup of every hierarchy,
    // the unified one included, before it runs anything.
    let pid = rt.pid(&id);
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in own.lines() {
        assert!(line.ends_with(&cg), "{line} in\n{own}");
    }
    assert!(own.lines().any(|l| l.starts_with("0::")), "{own}");
    for ctrl in ["memory", "pids", "cpu", "freezer", "devices"] {
        assert_eq!(cg_procs(ctrl, &cg), vec![pid], "{ctrl}");
    }
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
}

#[test]
fn device_rules_are_enforced() {
    require_root!();
    let rt = Rt::new("dev");
    let id = unique_id("lt-dev");
    // /dev/null is allowed by runc's defaults; a device node for /dev/kmsg
    // (1:11) made in the container is not.
    let bundle = sh_bundle(
        &id,
        "echo x > /dev/null && echo null-ok; mknod /tmp/kmsg c 1 11 && (cat /tmp/kmsg >/dev/null 2>&1 && echo kmsg-open || echo kmsg-denied)",
        |c| {
            c["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
            c["process"]["capabilities"]["bounding"]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_MKNOD"));
            c["process"]["capabilities"]["effective"]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_MKNOD"));
            c["process"]["capabilities"]["permitted"]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_MKNOD"));
        },
    );
    let out = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
    assert_eq!(out.stdout_str(), "null-ok\nkmsg-denied\n", "{out}");
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn cgroups_path_relative_and_nested() {
    require_root!();
    let rt = Rt::new("cgpath");
    let id = unique_id("lt-cgp");
    let parent = unique_id("lt-parent");
    let rel = format!("{parent}/inner/{id}");
    let bundle = sh_bundle(&id, "sleep 600", |c| c["linux"]["cgroupsPath"] = json!(rel));
    rt.create_ok(&bundle, &id);
    let cg = format!("/{rel}");
    let pid = rt.pid(&id);
    assert_eq!(cg_procs("memory", &cg), vec![pid]);
    assert!(cgroup_dirs(&cg).len() >= 8, "{:?}", cgroup_dirs(&cg));
    rt.ok(&["delete", "--force", &id]);
    // The parents sprout created go too.
    assert!(
        cgroup_dirs(&format!("/{parent}")).is_empty(),
        "{:?}",
        cgroup_dirs(&format!("/{parent}"))
    );
    assert_gone(&rt, &bundle, &id, &cg);
}

#[test]
fn kill_all_reaches_every_process_of_a_forking_workload() {
    require_root!();
    let rt = Rt::new("killall");
    let id = unique_id("lt-kall");
    // pid 1 (sh) ignores TERM (no handler); its children do not.
    let bundle = sh_bundle(
        &id,
        "for i in 1 2 3 4 5; do (sleep 600; echo no) & done; sh -c 'sleep 600 & sleep 601' & echo ready > /tmp/ready; wait; sleep 600",
        |_| {},
    );
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    wait_file(&bundle.rootfs().join("tmp/ready"), 10);
    let cg = format!("/sprout/{id}");
    assert!(
        wait_for(10, || cg_procs("pids", &cg).len() >= 13),
        "{:?}",
        cg_procs("pids", &cg)
    );
    let pid1 = rt.pid(&id);
    // TERM to all (freeze, signal each, thaw): everything but pid 1 dies.
    rt.ok(&["kill", "--all", &id, "TERM"]);
    assert!(
        wait_for(10, || cg_procs("pids", &cg) == vec![pid1]),
        "after kill --all TERM: {:?}",
        cg_procs("pids", &cg)
    );
    assert_eq!(
        cg_read("freezer", &cg, "freezer.state"),
        "THAWED",
        "always thawed again"
    );
    assert_eq!(rt.status(&id), "running");
    // KILL to all: cgroup.kill.
    rt.ok(&["kill", "-a", &id, "KILL"]);
    assert!(
        wait_for(10, || cg_procs("pids", &cg).is_empty()),
        "{:?}",
        cg_procs("pids", &cg)
    );
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
}

#[test]
fn kill_all_takes_signal_zero_and_real_time_signals() {
    require_root!();
    let rt = Rt::new("kall0");
    let id = unique_id("lt-kall0");
    // pid 1 (sh) gets no signal it has no handler for; its children do.
    let bundle = sh_bundle(
        &id,
        "for i in 1 2 3; do sleep 600 & done; echo ready > /tmp/ready; wait; sleep 600",
        |_| {},
    );
    rt.create_ok(&bundle, &id);
    // Signal 0 to a created container: only a check (runc: exit 0).
    rt.ok(&["kill", "--all", &id, "0"]);
    rt.ok(&["start", &id]);
    wait_file(&bundle.rootfs().join("tmp/ready"), 10);
    let cg = format!("/sprout/{id}");
    assert!(
        wait_for(10, || cg_procs("pids", &cg).len() == 4),
        "{:?}",
        cg_procs("pids", &cg)
    );
    let pid1 = rt.pid(&id);
    // As runc: 0 delivers nothing, with or without --all.
    rt.ok(&["kill", "--all", &id, "0"]);
    rt.ok(&["kill", &id, "0"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        cg_procs("pids", &cg).len(),
        4,
        "signal 0 killed something: {:?}",
        cg_procs("pids", &cg)
    );
    // A paused container stays paused (nothing to deliver, no freeze/thaw).
    rt.ok(&["pause", &id]);
    rt.ok(&["kill", "--all", &id, "0"]);
    assert_eq!(rt.status(&id), "paused");
    assert_eq!(cg_read("freezer", &cg, "freezer.state"), "FROZEN");
    rt.ok(&["resume", &id]);
    // A real-time signal (SIGRTMIN+6, default action: terminate) reaches
    // every process; pid 1 has no handler, so only the children die.
    rt.ok(&["kill", "--all", &id, "40"]);
    assert!(
        wait_for(10, || cg_procs("pids", &cg) == vec![pid1]),
        "after kill --all 40: {:?}",
        cg_procs("pids", &cg)
    );
    for bad in ["65", "99"] {
        let out = rt.sprout(&["kill", "--all", &id, bad]);
        assert_eq!(out.code(), Some(1), "{out}");
        assert!(out.stderr_str().contains("signal"), "{out}");
    }
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    // Stopped, as runc: without --all "container not running" (exit 1);
    // with --all nothing is left to signal (exit 0).
    let out = rt.sprout(&["kill", &id, "0"]);
    assert_eq!(
        (out.code(), out.stderr_str()),
        (Some(1), "sprout: container not running\n".to_string()),
        "{out}"
    );
    rt.ok(&["kill", "--all", &id, "0"]);
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
}

#[test]
fn pause_and_resume_freeze_the_processes() {
    require_root!();
    let rt = Rt::new("pause");
    let id = unique_id("lt-pause");
    let bundle = sh_bundle(
        &id,
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done",
        |_| {},
    );
    rt.create_ok(&bundle, &id);
    // A created container can be paused too (runc).
    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    let out = rt.sprout(&["start", &id]);
    assert_eq!(
        out.stderr_str(),
        "sprout: cannot start a container in the paused state\n",
        "{out}"
    );
    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "created");
    rt.ok(&["start", &id]);
    let count = bundle.rootfs().join("tmp/count");
    wait_file(&count, 10);
    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    let cg = format!("/sprout/{id}");
    assert_eq!(cg_read("freezer", &cg, "freezer.state"), "FROZEN");
    let pid = rt.pid(&id);
    let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        common::status_field(&st, "State").starts_with('D'),
        "frozen task: {st}"
    );
    let c1 = fs::read_to_string(&count).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        fs::read_to_string(&count).unwrap(),
        c1,
        "the counter moved while paused"
    );
    let out = rt.sprout(&["pause", &id]);
    assert_eq!(out.stderr_str(), "sprout: container not running\n", "{out}");
    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "running");
    assert!(
        wait_for(10, || fs::read_to_string(&count).unwrap_or_default() != c1),
        "counter did not move after resume"
    );
    let out = rt.sprout(&["resume", &id]);
    assert_eq!(out.stderr_str(), "sprout: container not paused\n", "{out}");
    // SIGKILL to a paused container thaws it (runc).
    rt.ok(&["pause", &id]);
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
}

/// `exec` into a container killed while the exec is being set up (its
/// stub frozen as it joined the paused container's cgroup, then the
/// container killed, which thaws it): one line naming what happened, exit
/// 255 (runc's exec failure code), nothing left. sprout passed on whichever
/// step failed (setns ESRCH, EPIPE to the killed stub, clone ENOMEM in a
/// dying pid namespace).
#[test]
fn exec_into_a_container_killed_meanwhile() {
    require_root!();
    let rt = Rt::new("execkill");
    for _ in 0..5 {
        let id = unique_id("lt-execkill");
        let bundle = sh_bundle(&id, "sleep 600", |_| {});
        rt.create_ok(&bundle, &id);
        rt.ok(&["start", &id]);
        let cg = format!("/sprout/{id}");
        rt.ok(&["pause", &id]);
        let out = std::thread::scope(|s| {
            let exec = s.spawn(|| rt.sprout(&["exec", "--ignore-paused", &id, "true"]));
            assert!(
                wait_for(10, || cg_procs("freezer", &cg).len() == 2),
                "{:?}",
                cg_procs("freezer", &cg)
            );
            rt.ok(&["kill", &id, "KILL"]);
            exec.join().unwrap()
        });
        // The stub may still have won the race (exit 0) or been killed
        // running `true` (137); otherwise this exact line.
        if !matches!(out.code(), Some(0 | 137)) {
            assert_eq!(
                (out.code(), out.stderr_str()),
                (
                    Some(255),
                    "sprout: exec failed: the container stopped during exec\n".to_string()
                ),
                "{out}"
            );
        }
        rt.wait_status(&id, "stopped");
        rt.ok(&["delete", &id]);
        assert_gone(&rt, &bundle, &id, &cg);
    }
}

#[test]
fn delete_force_of_a_paused_container() {
    require_root!();
    let rt = Rt::new("delpaused");
    let id = unique_id("lt-delp");
    let bundle = sh_bundle(&id, "sleep 600 & sleep 601", |_| {});
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    rt.ok(&["pause", &id]);
    let out = rt.sprout(&["delete", &id]);
    assert_eq!(
        out.stderr_str(),
        format!("sprout: cannot delete container {id} that is not stopped: paused\n")
    );
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn update_changes_the_limits() {
    require_root!();
    let rt = Rt::new("upd");
    let id = unique_id("lt-upd");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["resources"] = json!({"pids": {"limit": 10}})
    });
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    let cg = format!("/sprout/{id}");
    let devices = cg_read("devices", &cg, "devices.list");
    rt.ok(&[
        "update",
        "--memory",
        "32m",
        "--memory-reservation",
        "16m",
        "--memory-swap",
        "64m",
        "--cpu-shares",
        "256",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "50000",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "--pids-limit",
        "20",
        "--blkio-weight",
        "300",
        &id,
    ]);
    for (ctrl, file, want) in [
        ("memory", "memory.limit_in_bytes", "33554432"),
        ("memory", "memory.soft_limit_in_bytes", "16777216"),
        ("memory", "memory.memsw.limit_in_bytes", "67108864"),
        ("cpu", "cpu.shares", "256"),
        ("cpu", "cpu.cfs_quota_us", "20000"),
        ("cpu", "cpu.cfs_period_us", "50000"),
        ("cpuset", "cpuset.cpus", "0"),
        ("pids", "pids.max", "20"),
        ("blkio", "blkio.bfq.weight", "300"),
    ] {
        assert_eq!(cg_read(ctrl, &cg, file), want, "{ctrl}/{file}");
    }
    // Devices are left alone by an update.
    assert_eq!(cg_read("devices", &cg, "devices.list"), devices);
    // --resources FILE, then from stdin; the flags are then ignored (runc).
    let file = bundle.dir().join("res.json");
    fs::write(&file, r#"{"pids": {"limit": 30}, "cpu": {"shares": 128}}"#).unwrap();
    rt.ok(&[
        "update",
        "--resources",
        file.to_str().unwrap(),
        "--cpu-shares",
        "300",
        &id,
    ]);
    assert_eq!(cg_read("pids", &cg, "pids.max"), "30");
    assert_eq!(cg_read("cpu", &cg, "cpu.shares"), "128");
    // --resources - reads stdin.
    let sh = format!(
        "echo '{{\"pids\": {{\"limit\": 40}}}}' | {} --root {} update -r - {id}",
        sprout_systests::sprout_bin().display(),
        rt.root_str()
    );
    let out = host_sh(&sh);
    assert!(out.success(), "{out}");
    assert_eq!(cg_read("pids", &cg, "pids.max"), "40");
    // Unlimited.
    rt.ok(&["update", "--pids-limit", "-1", "--memory", "-1", &id]);
    assert_eq!(cg_read("pids", &cg, "pids.max"), "max");
    // Bad values: one line naming the field; nothing changed.
    for (args, needle) in [
        (vec!["--cpu-period", "5"], "--cpu-period"),
        (vec!["--memory", "lots"], "--memory"),
        (vec!["--cpuset-cpus", "0-999"], "--cpuset-cpus"),
        (vec!["--memory", "4k"], "--memory"),
    ] {
        let mut a = vec!["update"];
        a.extend(args);
        a.push(&id);
        let out = rt.sprout(&a);
        common::assert_one_line_error(&out, &[needle]);
    }
    fs::write(&file, "{not json").unwrap();
    let out = rt.sprout(&["update", "-r", file.to_str().unwrap(), &id]);
    common::assert_one_line_error(&out, &["--resources", "JSON"]);
    assert_eq!(cg_read("pids", &cg, "pids.max"), "max");
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    let out = rt.sprout(&["update", "--pids-limit", "5", &id]);
    assert_eq!(out.stderr_str(), "sprout: container not running\n", "{out}");
    rt.ok(&["delete", &id]);
}

/// `blockIO.weight` 1-9: BFQ's `blkio.bfq.weight` takes 1-1000 and runc
/// writes it; it was refused with CFQ's 10-1000. Also through `update`;
/// 1001 stays refused, naming the flag.
#[test]
fn blkio_weight_takes_bfqs_range() {
    require_root!();
    let rt = Rt::new("bfqw");
    let id = unique_id("lt-bfqw");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["resources"] = json!({"blockIO": {"weight": 5}});
    });
    rt.create_ok(&bundle, &id);
    let cg = format!("/sprout/{id}");
    let weight = || cg_read("blkio", &cg, "blkio.bfq.weight");
    assert_eq!(weight(), "5");
    rt.ok(&["update", "--blkio-weight", "1", &id]);
    assert_eq!(weight(), "1");
    let out = rt.sprout(&["update", "--blkio-weight", "1001", &id]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stderr_str() == "sprout: --blkio-weight: 1001 is out of range 1-1000\n",
        "{out}"
    );
    rt.ok(&["delete", "-f", &id]);
}

#[test]
fn update_zero_leaves_a_limit_unchanged_as_runc() {
    require_root!();
    let rt = Rt::new("upd0");
    let id = unique_id("lt-upd0");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["resources"] = json!({
            "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000},
            "pids": {"limit": 50},
            "blockIO": {"weight": 500}
        });
    });
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    let cg = format!("/sprout/{id}");
    let files = [
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.soft_limit_in_bytes"),
        ("memory", "memory.memsw.limit_in_bytes"),
        ("cpu", "cpu.shares"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.cfs_period_us"),
        ("cpu", "cpu.rt_period_us"),
        ("pids", "pids.max"),
        ("blkio", "blkio.bfq.weight"),
    ];
    let read_all = || files.map(|(c, f)| cg_read(c, &cg, f));
    let before = read_all();
    assert_eq!(before[7], "50");
    // runc 1.1: every flag's 0 means "leave it" (pids.max stayed 50 under
    // runc, sprout used to write "max").
    for flag in [
        "--pids-limit",
        "--memory",
        "--memory-swap",
        "--memory-reservation",
        "--cpu-shares",
        "--cpu-share",
        "--cpu-quota",
        "--cpu-period",
        "--cpu-rt-period",
        "--cpu-rt-runtime",
        "--blkio-weight",
    ] {
        rt.ok(&["update", flag, "0", &id]);
        assert_eq!(read_all(), before, "after update {flag} 0");
    }
    // The same for a limit of 0 in --resources.
    let file = bundle.dir().join("res.json");
    fs::write(&file, r#"{"pids": {"limit": 0}, "memory": {"limit": 0}}"#).unwrap();
    rt.ok(&["update", "-r", file.to_str().unwrap(), &id]);
    assert_eq!(read_all(), before, "after update -r {{pids: {{limit: 0}}}}");
    // runc's spellings: --cpu-share, --cpu-rt-period.
    rt.ok(&[
        "update",
        "--cpu-share",
        "600",
        "--cpu-rt-period",
        "500000",
        &id,
    ]);
    assert_eq!(cg_read("cpu", &cg, "cpu.shares"), "600");
    assert_eq!(cg_read("cpu", &cg, "cpu.rt_period_us"), "500000");
    // -1 is still "unlimited".
    rt.ok(&["update", "--pids-limit", "-1", &id]);
    assert_eq!(cg_read("pids", &cg, "pids.max"), "max");
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
}

/// `update -r FILE` with flags applies the file alone, as runc's ("all
/// other options are ignored"), and says which flags it ignored (sprout
/// used to apply both); `--cpu-burst` (runc 1.2) is a flag too; Intel RDT
/// schemas are refused with one line, as runc refuses them where RDT is
/// off.
#[test]
fn update_with_a_file_ignores_the_flags_as_runc() {
    require_root!();
    let rt = Rt::new("updr");
    let id = unique_id("lt-updr");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["resources"] = json!({"pids": {"limit": 50}, "cpu": {"shares": 512}});
    });
    rt.create_ok(&bundle, &id);
    let cg = format!("/sprout/{id}");
    let file = bundle.dir().join("res.json");
    fs::write(&file, r#"{"pids": {"limit": 70}}"#).unwrap();
    let f = file.to_str().unwrap();
    let out = rt.sprout(&[
        "update",
        "-r",
        f,
        "--cpu-share",
        "700",
        "--pids-limit",
        "90",
        &id,
    ]);
    assert!(out.success(), "{out}");
    let err = out.stderr_str();
    assert!(
        err.contains("--cpu-shares, --pids-limit: ignored")
            && err.contains(f)
            && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(cg_read("pids", &cg, "pids.max"), "70");
    assert_eq!(cg_read("cpu", &cg, "cpu.shares"), "512");
    // Without a file the flags apply.
    rt.ok(&["update", "--cpu-share", "700", "--pids-limit", "90", &id]);
    assert_eq!(cg_read("pids", &cg, "pids.max"), "90");
    assert_eq!(cg_read("cpu", &cg, "cpu.shares"), "700");
    if std::path::Path::new("/sys/fs/cgroup/cpu/cpu.cfs_burst_us").exists() {
        rt.ok(&["update", "--cpu-burst", "2000", &id]);
        assert_eq!(cg_read("cpu", &cg, "cpu.cfs_burst_us"), "2000");
    }
    // SCHED_IDLE and back with new shares in one update (an idle group
    // refuses shares: idle 0 is written first).
    if std::path::Path::new("/sys/fs/cgroup/cpu/cpu.idle").exists() {
        rt.ok(&["update", "--cpu-idle", "1", &id]);
        assert_eq!(cg_read("cpu", &cg, "cpu.idle"), "1");
        rt.ok(&["update", "--cpu-share", "444", "--cpu-idle", "0", &id]);
        assert_eq!(cg_read("cpu", &cg, "cpu.idle"), "0");
        assert_eq!(cg_read("cpu", &cg, "cpu.shares"), "444");
    }
    for flag in ["--l3-cache-schema", "--mem-bw-schema"] {
        let out = rt.sprout(&["update", flag, "L3:0=f", &id]);
        common::assert_one_line_error(&out, &[flag, "Intel RDT"]);
    }
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
}

/// An `update` refused part-way sets back what it had written before the
/// refusal, as runc's does (`Container.Set` applies the saved config
/// again): `--cpu-share` is written before `--memory`, whose value the
/// kernel refuses (below what the container uses), and before the
/// real-time runtime the period cannot hold. sprout used to leave the new
/// shares in place.
#[test]
fn a_refused_update_rolls_back_what_it_wrote() {
    require_root!();
    let rt = Rt::new("updrb");
    let id = unique_id("lt-updrb");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["resources"] = json!({
            "cpu": {"shares": 512},
            "memory": {"limit": 67108864},
            "pids": {"limit": 50}
        });
    });
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    let cg = format!("/sprout/{id}");
    let read = || {
        [
            cg_read("cpu", &cg, "cpu.shares"),
            cg_read("memory", &cg, "memory.limit_in_bytes"),
            cg_read("pids", &cg, "pids.max"),
        ]
    };
    let before = read();
    assert_eq!(before, ["512", "67108864", "50"]);
    let out = rt.sprout(&[
        "update",
        "--cpu-share",
        "800",
        "--memory",
        "4096",
        "--pids-limit",
        "90",
        &id,
    ]);
    common::assert_one_line_error(&out, &["--memory", "memory.limit_in_bytes"]);
    assert_eq!(read(), before, "after a refused --memory");
    let out = rt.sprout(&[
        "update",
        "--cpu-share",
        "700",
        "--cpu-rt-runtime",
        "2000000",
        &id,
    ]);
    common::assert_one_line_error(&out, &["--cpu-rt-runtime"]);
    assert_eq!(read(), before, "after a refused --cpu-rt-runtime");
    // What succeeds stays.
    rt.ok(&["update", "--cpu-share", "700", &id]);
    assert_eq!(cg_read("cpu", &cg, "cpu.shares"), "700");
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
}

/// A shorter CFS period with a smaller quota under a parent with a quota
/// of its own: the period alone is refused (the current quota over it
/// exceeds the parent's), so it is written again after the quota, as
/// runc's `CpuGroup.Set` does (runc's update.bats "update cgroup cpu
/// limits"); sprout failed with `--cpu-period: ... Invalid argument`.
#[test]
fn a_shorter_cpu_period_under_a_limited_parent() {
    require_root!();
    let rt = Rt::new("cgper");
    let top = unique_id("lt-cgper");
    let parent = format!("/sys/fs/cgroup/cpu/{top}");
    fs::create_dir(&parent).unwrap();
    fs::write(format!("{parent}/cpu.cfs_period_us"), "100000").unwrap();
    fs::write(format!("{parent}/cpu.cfs_quota_us"), "50000").unwrap();
    let id = unique_id("lt-cgper");
    let cg = format!("/{top}/c");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["cgroupsPath"] = json!(cg);
        c["linux"]["resources"] = json!({"cpu": {"quota": 500000, "period": 1000000}});
    });
    rt.create_ok(&bundle, &id);
    let out = rt.sprout(&[
        "update",
        "--cpu-period",
        "10000",
        "--cpu-quota",
        "3000",
        &id,
    ]);
    let got = (
        cg_read("cpu", &cg, "cpu.cfs_period_us"),
        cg_read("cpu", &cg, "cpu.cfs_quota_us"),
    );
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
    remove_cgroup_tree(&format!("/{top}"));
    assert!(out.success(), "{out}");
    assert_eq!(got, ("10000".to_string(), "3000".to_string()));
}

/// Two `create`s racing on one `linux.cgroupsPath` (different ids): one
/// wins, the other fails with one line naming `linux.cgroupsPath` and
/// leaves nothing (runc 1.1 lets both in with a warning, runc 1.2 refuses
/// a non-empty cgroup; sprout let both in about half the time, and the
/// first `delete` then killed the other container).
#[test]
fn racing_creates_on_one_cgroups_path() {
    require_root!();
    let rt = Rt::new("cgrace");
    let parent = unique_id("lt-cgrace");
    let pairs: Vec<(String, String, String, sprout_systests::Bundle)> = (0..20)
        .map(|i| {
            let (a, b) = (unique_id("lt-cgra"), unique_id("lt-cgrb"));
            let cg = format!("/{parent}/p{i}");
            let bundle = sh_bundle(&a, "sleep 600", |c| c["linux"]["cgroupsPath"] = json!(cg));
            (a, b, cg, bundle)
        })
        .collect();
    let outs: Vec<(Output, Output)> = std::thread::scope(|s| {
        let hs: Vec<_> = pairs
            .iter()
            .map(|(a, b, _, bundle)| {
                let ha = s.spawn(|| rt.create(bundle, a, &[]));
                let hb = s.spawn(|| rt.create(bundle, b, &[]));
                (ha, hb)
            })
            .collect();
        hs.into_iter()
            .map(|(ha, hb)| (ha.join().unwrap(), hb.join().unwrap()))
            .collect()
    });
    for ((a, b, cg, bundle), (oa, ob)) in pairs.iter().zip(&outs) {
        let (winner, loser, lost) = match (oa.success(), ob.success()) {
            (true, false) => (a, b, ob),
            (false, true) => (b, a, oa),
            _ => panic!("exactly one create must win on {cg}:\n{oa}\n{ob}"),
        };
        common::assert_one_line_error(lost, &["linux.cgroupsPath", cg.as_str()]);
        assert!(!rt.dir(loser).exists(), "the loser's state dir is left");
        assert_eq!(cg_procs("pids", cg), vec![rt.pid(winner)], "{cg}");
        rt.ok(&["start", winner]);
        rt.ok(&["delete", "--force", winner]);
        assert_gone(&rt, bundle, winner, cg);
    }
    // The shared parent (made by whichever create came first) is empty.
    for d in cgroup_dirs(&format!("/{parent}")) {
        fs::remove_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    }
}

/// Eight creates racing on a busy `linux.cgroupsPath` (a foreign process in
/// its memory directory, nothing elsewhere), and eight on a fresh path
/// whose limits every create fails to apply: all are refused, and nothing
/// but the pre-existing directories remains. A loser that found the claim
/// taken used to forget the directories it had made (the holder removed
/// only its own), and a refusing create's single rmdir failed while a
/// racer's directory was inside, so that some were left in most rounds.
#[test]
fn racing_refused_creates_leave_only_what_existed() {
    require_root!();
    let rt = Rt::new("a18r");
    let mut leaks = Vec::new();
    for round in 0..4 {
        // Busy: only the memory directories exist, with a process.
        let top = unique_id("a18r-busy");
        let mem = format!("/sys/fs/cgroup/memory/{top}/busy");
        fs::create_dir_all(&mem).unwrap();
        let mut sleeper = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        fs::write(format!("{mem}/cgroup.procs"), sleeper.id().to_string()).unwrap();
        let cg = format!("/{top}/busy");
        let busy = race_creates(&rt, "a18r-b", |c| c["linux"]["cgroupsPath"] = json!(cg));
        let left: Vec<_> = cgroup_dirs(&format!("/{top}"))
            .into_iter()
            .chain(cgroup_dirs(&cg))
            .filter(|d| !d.starts_with("/sys/fs/cgroup/memory"))
            .collect();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        remove_cgroup_tree(&format!("/{top}"));
        // All failing at apply time, on a path nobody made.
        let fresh = format!("/{}", unique_id("a18r-fail"));
        let failing = race_creates(&rt, "a18r-f", |c| {
            c["linux"]["cgroupsPath"] = json!(fresh);
            c["linux"]["resources"]["blockIO"] =
                json!({"weightDevice": [{"major": 250, "minor": 99, "weight": 500}]});
        });
        let left_fresh = cgroup_dirs(&fresh);
        remove_cgroup_tree(&fresh);
        assert_eq!(busy, 0, "round {round}: a create adopted a busy cgroup");
        assert_eq!(
            failing, 0,
            "round {round}: a create with a bad limit succeeded"
        );
        if !left.is_empty() || !left_fresh.is_empty() {
            leaks.push(format!("round {round}: {left:?} {left_fresh:?}"));
        }
    }
    assert!(leaks.is_empty(), "directories left:\n{}", leaks.join("\n"));
}

/// Eight concurrent `create`s of bundles edited by `edit`; the number that
/// succeeded (those are deleted again).
fn race_creates(rt: &Rt, prefix: &str, edit: impl Fn(&mut Value) + Sync) -> usize {
    let ids: Vec<String> = (0..8).map(|_| unique_id(prefix)).collect();
    let bundles: Vec<_> = ids
        .iter()
        .map(|id| sh_bundle(id, "sleep 600", |c| edit(c)))
        .collect();
    let outs: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = ids
            .iter()
            .zip(&bundles)
            .map(|(id, b)| s.spawn(|| rt.create(b, id, &[])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ok = 0;
    for (id, out) in ids.iter().zip(&outs) {
        if out.success() {
            ok += 1;
            rt.ok(&["delete", "--force", id]);
        } else {
            assert!(!rt.dir(id).exists(), "{id}: state left after {out}");
        }
    }
    ok
}

/// Remove cgroup path `path` and everything below it in every hierarchy.
fn remove_cgroup_tree(path: &str) {
    for d in cgroup_dirs(path) {
        let mut all: Vec<_> = walk_dirs(&d);
        all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for s in all {
            let _ = fs::remove_dir(&s);
        }
    }
}

fn walk_dirs(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![d.to_path_buf()];
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk_dirs(&e.path()));
            }
        }
    }
    out
}

/// A stopped container's cgroup taken over by a new container on the same
/// `linux.cgroupsPath` (allowed: it is empty, as in runc): the old one's
/// `kill --all` and `delete` leave the new one and its cgroup alone
/// (sprout's delete used to SIGKILL everything left in the cgroup).
#[test]
fn a_stopped_containers_cgroup_taken_over() {
    require_root!();
    let rt = Rt::new("cgtake");
    let (old, new) = (unique_id("lt-cgold"), unique_id("lt-cgnew"));
    let cg = format!("/{}", unique_id("lt-cgtake"));
    let bundle = sh_bundle(&old, "sleep 600", |c| c["linux"]["cgroupsPath"] = json!(cg));
    rt.create_ok(&bundle, &old);
    rt.ok(&["start", &old]);
    // In use: refused, naming the field.
    let out = rt.create(&bundle, &new, &[]);
    common::assert_one_line_error(&out, &["linux.cgroupsPath", &cg, "not empty"]);
    rt.ok(&["kill", &old, "KILL"]);
    rt.wait_status(&old, "stopped");
    rt.create_ok(&bundle, &new);
    rt.ok(&["start", &new]);
    let pid = rt.pid(&new);
    rt.ok(&["kill", "--all", &old, "KILL"]);
    rt.ok(&["delete", &old]);
    assert!(!rt.dir(&old).exists());
    assert_eq!(rt.status(&new), "running");
    assert!(alive(pid));
    assert_eq!(cg_procs("pids", &cg), vec![pid]);
    rt.ok(&["delete", "--force", &new]);
    assert_gone(&rt, &bundle, &new, &cg);
}

#[test]
fn pids_limit_is_enforced() {
    require_root!();
    let rt = Rt::new("pids");
    let id = unique_id("lt-pids");
    let bundle = sh_bundle(
        &id,
        "n=0; for i in 1 2 3 4 5 6 7 8; do sleep 1 & if [ $? -eq 0 ]; then n=$((n+1)); fi; done; echo started $(ls /proc | grep -c '^[0-9]')",
        |c| c["linux"]["resources"] = json!({"pids": {"limit": 4}}),
    );
    let out = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
    assert!(
        out.stderr_str().contains("fork") || out.stderr_str().contains("Resource"),
        "{out}"
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn events_stats_is_one_json_object() {
    require_root!();
    let rt = Rt::new("stats");
    let id = unique_id("lt-stats");
    let bundle = sh_bundle(&id, "sleep 600 & sleep 601", |c| {
        c["linux"]["resources"] = json!({"pids": {"limit": 9}, "memory": {"limit": 67108864}})
    });
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    let cg = format!("/sprout/{id}");
    assert!(wait_for(10, || cg_procs("pids", &cg).len() == 2));
    let text = rt.ok(&["events", "--stats", &id]);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("{\"type\":\"stats\",\"id\":"),
        "runc's field order: {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    let d = &v["data"];
    assert_eq!(d["pids"]["current"], 2, "{d}");
    assert_eq!(d["pids"]["limit"], 9, "{d}");
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{d}");
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(d["memory"]["usage"]["limit"], 67108864, "{d}");
    // Stopped: refused, as runc does (the stream form too).
    rt.ok(&["kill", &id, "KILL"]);
    assert!(wait_for(10, || rt.status(&id) == "stopped"));
    for args in [&["events", "--stats", &id][..], &["events", &id][..]] {
        let out = rt.sprout(args);
        assert_eq!(out.code(), Some(1), "{out}");
        assert_eq!(
            out.stderr_str(),
            format!("sprout: container \"{id}\" is not running\n"),
            "{args:?}"
        );
    }
    rt.ok(&["delete", "--force", &id]);
    let out = rt.sprout(&["events", "--stats", &id]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(
        out.stderr_str(),
        format!("sprout: container \"{id}\" does not exist\n")
    );
    let out = rt.sprout(&["events", "--interval", "soon", &id]);
    common::assert_one_line_error(&out, &["--interval"]);
}

#[test]
fn events_stream_reports_oom_and_ends_with_the_container() {
    require_root!();
    let rt = Rt::new("oom");
    let id = unique_id("lt-oom");
    let bundle = sh_bundle(&id, "sleep 1; tail /dev/zero; sleep 1", |c| {
        c["linux"]["resources"] = json!({"memory": {"limit": 16777216, "swap": 16777216}});
    });
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    let out = sprout_systests::output_with_timeout(
        &mut rt.cmd(&["events", "--interval", "200ms", &id]),
        Duration::from_secs(30),
    );
    assert!(
        out.success(),
        "events ends (exit 0) when the container stops:\n{out}"
    );
    let events: Vec<Value> = out
        .stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e == &json!({"type": "oom", "id": id})),
        "{out}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "stats" && e["data"]["memory"].is_object()),
        "{out}"
    );
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

#[test]
fn block_io_throttles_and_kernel_tcp_are_read_back() {
    require_root!();
    // A block device of this host (major:minor from /sys/dev/block).
    let Some(dev) = fs::read_dir("/sys/dev/block").ok().and_then(|rd| {
        rd.flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .min()
    }) else {
        eprintln!("!!!!! SKIPPED: no block device on this host");
        return;
    };
    let (major, minor) = dev.split_once(':').unwrap();
    let (major, minor): (u64, u64) = (major.parse().unwrap(), minor.parse().unwrap());
    let rt = Rt::new("blkio");
    let id = unique_id("lt-blkio");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["resources"] = json!({
            "blockIO": {
                "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 2097152}],
                "throttleReadIOPSDevice": [{"major": major, "minor": minor, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 200}]
            },
            "memory": {"kernelTCP": 8388608}
        });
    });
    rt.create_ok(&bundle, &id);
    let cg = format!("/sprout/{id}");
    for (file, rate) in [
        ("blkio.throttle.read_bps_device", 1048576),
        ("blkio.throttle.write_bps_device", 2097152),
        ("blkio.throttle.read_iops_device", 100),
        ("blkio.throttle.write_iops_device", 200),
    ] {
        assert_eq!(
            cg_read("blkio", &cg, file),
            format!("{dev} {rate}"),
            "{file}"
        );
    }
    assert_eq!(
        cg_read("memory", &cg, "memory.kmem.tcp.limit_in_bytes"),
        "8388608"
    );
    rt.ok(&["delete", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
}

#[test]
fn resources_this_host_cannot_honour_fail_cleanly() {
    require_root!();
    let rt = Rt::new("unsup");
    for (i, (res, needle)) in [
        (
            json!({"unified": {"memory.max": "1000000"}}),
            "linux.resources.unified",
        ),
        (
            json!({"network": {"classID": 1}}),
            "linux.resources.network",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let id = unique_id(&format!("lt-unsup{i}"));
        let bundle = sh_bundle(&id, "true", |c| c["linux"]["resources"] = res);
        let out = rt.create(&bundle, &id, &[]);
        common::assert_one_line_error(&out, &[needle]);
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
}

/// A limit that passes every check but is refused by the kernel when
/// written (a real-time CPU budget under `/sprout`, whose own budget is 0)
/// fails while the stub is already starting (the cgroup is made while the
/// stub makes its namespaces): one line naming the field, and nothing left
/// behind, not the cgroup2 directory the stub was born in, not the stub.
/// The same with `create` and `run`.
#[test]
fn a_limit_refused_while_the_stub_starts_leaves_nothing() {
    require_root!();
    let rt = Rt::new("late-cg");
    for cmd in ["create", "run"] {
        let id = unique_id(&format!("lt-late{cmd}"));
        let bundle = sh_bundle(&id, "sleep 600", |c| {
            c["linux"]["resources"] =
                json!({"cpu": {"realtimeRuntime": 1000, "realtimePeriod": 1000000}});
        });
        let b = bundle.dir().to_string_lossy().into_owned();
        let out = rt.sprout(&[cmd, "--bundle", &b, &id]);
        common::assert_one_line_error(&out, &["linux.resources.cpu"]);
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
}

/// A memory limit too small for sprout-init to set the container up (4
/// KiB): the kernel's OOM killer kills the stub in the container's cgroup
/// before the container process runs. `create` and `run` say so in one line
/// that names the field, rather than an exit status that looks like the
/// container process's own (137), and leave nothing behind.
#[test]
fn a_memory_limit_too_small_to_start_is_named() {
    require_root!();
    let rt = Rt::new("oom-start");
    for cmd in ["create", "run"] {
        let id = unique_id(&format!("lt-oom{cmd}"));
        let bundle = sh_bundle(&id, "true", |c| {
            c["linux"]["resources"] = json!({"memory": {"limit": 4096}})
        });
        let b = bundle.dir().to_string_lossy().into_owned();
        let out = rt.sprout(&[cmd, "--bundle", &b, &id]);
        common::assert_one_line_error(&out, &["linux.resources.memory.limit 4096", "OOM"]);
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
}

/// A config without device rules (or with allow rules only) still starts
/// from deny-all, as runc's device emulator does: /dev/null (runc's
/// defaults) works, a node for /dev/kmsg made in the container does not,
/// and the cgroup's list has no `a *:* rwm`.
#[test]
fn no_device_rules_still_deny_by_default() {
    require_root!();
    let rt = Rt::new("dev-none");
    for (n, devices) in [
        (0, None),
        (
            1,
            Some(json!([{"allow": true, "type": "c", "major": 4, "minor": 64, "access": "r"}])),
        ),
    ] {
        let id = unique_id(&format!("lt-devnone{n}"));
        let bundle = sh_bundle(
            &id,
            "echo x > /dev/null && echo null-ok; grep -c 'a \\*:\\* rwm' /sys/fs/cgroup/devices/devices.list; mknod /tmp/kmsg c 1 11 && (cat /tmp/kmsg >/dev/null 2>&1 && echo kmsg-open || echo kmsg-denied)",
            |c| {
                match &devices {
                    None => {
                        c["linux"].as_object_mut().unwrap().remove("resources");
                    }
                    Some(d) => c["linux"]["resources"] = json!({"devices": d}),
                }
                common::add_cap(c, "CAP_MKNOD");
            },
        );
        let out = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
        assert_eq!(out.stdout_str(), "null-ok\n0\nkmsg-denied\n", "{out}");
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
}

/// A parent that someone else made (here only in the memory hierarchy,
/// with a limit) survives the container: only what sprout made in every
/// hierarchy is removed (runc never removes parents).
#[test]
fn a_parent_made_by_someone_else_survives() {
    require_root!();
    let rt = Rt::new("cg-adm");
    let id = unique_id("lt-adm");
    let adm = unique_id("lt-admparent");
    let mem = format!("/sys/fs/cgroup/memory/{adm}");
    fs::create_dir(&mem).unwrap();
    fs::write(format!("{mem}/memory.limit_in_bytes"), "1073741824").unwrap();
    let bundle = sh_bundle(&id, "exit 0", |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{adm}/{id}"))
    });
    let out = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
    assert_eq!(out.code(), Some(0), "{out}");
    let kept = fs::read_to_string(format!("{mem}/memory.limit_in_bytes"));
    for d in cgroup_dirs(&format!("/{adm}")) {
        let _ = fs::remove_dir(d);
    }
    assert_eq!(
        kept.unwrap().trim(),
        "1073741824",
        "the admin's parent (and its limit) must stay"
    );
}

/// A cpuset parent with cpus but no mems (no cgroup.clone_children): the
/// container's cpuset is filled from its parents before the stub joins it
/// (an empty one refuses tasks with ENOSPC).
#[test]
fn cpuset_parent_without_mems() {
    require_root!();
    let rt = Rt::new("cg-mems");
    let id = unique_id("lt-mems");
    let adm = unique_id("lt-memsparent");
    let dir = format!("/sys/fs/cgroup/cpuset/{adm}");
    fs::create_dir(&dir).unwrap();
    fs::write(format!("{dir}/cgroup.clone_children"), "0").unwrap();
    let cpus = fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap();
    fs::write(format!("{dir}/cpuset.cpus"), cpus.trim()).unwrap();
    let bundle = sh_bundle(&id, "exit 0", |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{adm}/{id}"))
    });
    let out = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
    for d in cgroup_dirs(&format!("/{adm}")) {
        let _ = fs::remove_dir(d);
    }
    assert_eq!(out.code(), Some(0), "{out}");
}

/// A device rule that punches a hole in a wildcard rule (the kernel would
/// ignore it) is refused with one line naming it, as runc does; nothing is
/// left behind.
#[test]
fn device_rule_punching_a_wildcard_hole_is_refused() {
    require_root!();
    let rt = Rt::new("dev-hole");
    let id = unique_id("lt-devhole");
    let bundle = sh_bundle(&id, "exit 0", |c| {
        c["linux"]["resources"] = json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "access": "rw"},
            {"allow": false, "type": "b", "major": 8, "minor": 1, "access": "w"}
        ]});
    });
    let out = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
    assert_ne!(out.code(), Some(0), "{out}");
    let err = out.stderr_str();
    assert_eq!(err.lines().count(), 1, "{out}");
    assert!(
        err.contains("linux.resources.devices[2]") && err.contains("hole"),
        "{out}"
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// `delete` of a container that stopped by itself, with a pid namespace of
/// its own, leaves alone what another runtime put in its cgroup since (a
/// shared `linux.cgroupsPath`): runc 1.1 kills a cgroup's processes on
/// delete only without a private pid namespace. The state goes, a warning
/// says why the cgroup stays. (Before: the other process was SIGKILLed.)
#[test]
fn delete_of_a_stopped_container_spares_foreign_processes() {
    require_root!();
    let rt = Rt::new("cgforeign");
    let id = unique_id("lt-cgfor");
    let cg = format!("/{}", unique_id("lt-cgfor"));
    let bundle = sh_bundle(&id, "true", |c| c["linux"]["cgroupsPath"] = json!(cg));
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    // Another runtime's process joins the (still existing) cgroup.
    let mut other = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let pid = other.id() as i32;
    fs::write(
        format!("/sys/fs/cgroup/pids{cg}/cgroup.procs"),
        pid.to_string(),
    )
    .unwrap();
    let out = rt.sprout(&["delete", &id]);
    assert!(out.success(), "{out}");
    assert!(out.stderr_str().contains("left in place"), "{out}");
    assert!(!rt.dir(&id).exists(), "the state goes");
    assert!(alive(pid), "the other process was killed");
    assert_eq!(cg_procs("pids", &cg), vec![pid]);
    // Only the hierarchy holding it stays: every other one was tried and
    // removed (before, those after the first busy one were left).
    assert_eq!(
        cgroup_dirs(&cg),
        vec![std::path::Path::new("/sys/fs/cgroup/pids").join(cg.trim_start_matches('/'))]
    );
    let _ = other.kill();
    let _ = other.wait();
    for d in cgroup_dirs(&cg).into_iter().rev() {
        let _ = fs::remove_dir(&d);
    }
    assert!(cgroup_dirs(&cg).is_empty());
}

/// A busybox bundle like [`sh_bundle`] whose `/sys/fs/cgroup` (the
/// `cgroup` mount of `sprout spec`) is mounted read-write, so that the
/// container can make sub-cgroups of its own cgroup, as systemd,
/// Docker-in-Docker and kind do.
fn rw_cgroup_bundle(id: &str, script: &str) -> sprout_systests::Bundle {
    sh_bundle(id, script, |c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/sys/fs/cgroup" {
                m["options"].as_array_mut().unwrap().retain(|o| o != "ro");
            }
        }
    })
}

/// A container that made sub-cgroups (nested, in every hierarchy it sees)
/// and then stopped by itself leaves nothing:
/// `delete`, `delete --force` and the end of a foreground `run` remove its
/// cgroup with the sub-cgroups in every hierarchy, without a warning.
/// Before, `delete` took the sub-cgroups for another runtime's processes
/// ("still has processes that are not the container's: left in place")
/// and left the cgroup in the first hierarchy with one and every later
/// one (podman's `libpod-<id>` in memory, devices, ..., unified).
#[test]
fn sub_cgroups_of_a_container_that_stopped_by_itself_go() {
    require_root!();
    let rt = Rt::new("cgsub");
    let script = "n=0; for d in /sys/fs/cgroup/*/; do mkdir -p ${d}sub/inner && n=$((n+1)); done; echo made $n";
    for how in ["delete", "delete --force", "run"] {
        let id = unique_id("lt-cgsub");
        let cg = format!("/sprout/{id}");
        let bundle = rw_cgroup_bundle(&id, script);
        if how == "run" {
            let out = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
            assert_eq!(out.code(), Some(0), "{out}");
            assert_eq!(out.stderr_str(), "", "{out}");
            let made = out.stdout_str();
            assert!(made.starts_with("made ") && made != "made 0\n", "{out}");
        } else {
            rt.create_ok(&bundle, &id);
            rt.ok(&["start", &id]);
            rt.wait_status(&id, "stopped");
            // The v1 hierarchies: the container sees those (runc's layout:
            // no cgroup2 under /sys/fs/cgroup/unified inside).
            let v1 = |dirs: Vec<std::path::PathBuf>| {
                dirs.into_iter()
                    .filter(|d| !d.starts_with("/sys/fs/cgroup/unified"))
                    .count()
            };
            let hierarchies = v1(cgroup_dirs(&cg));
            assert!(hierarchies >= 2, "{:?}", cgroup_dirs(&cg));
            assert_eq!(
                v1(cgroup_dirs(&format!("{cg}/sub/inner"))),
                hierarchies,
                "the container made no sub-cgroup in every hierarchy"
            );
            let mut args: Vec<&str> = how.split(' ').collect();
            args.push(&id);
            let out = rt.sprout(&args);
            assert!(out.success(), "{how}: {out}");
            assert_eq!(out.stderr_str(), "", "{how}: {out}");
        }
        assert_gone(&rt, &bundle, &id, &cg);
    }
}

/// A container whose processes sit in sub-cgroups it made (its shell in
/// the pids and memory ones, a child one level deeper), killed as
/// `podman stop` does (`kill KILL`, then `delete` once
/// stopped), or removed with `delete --force` while it runs: every
/// process and every cgroup directory goes, without a warning.
#[test]
fn processes_in_sub_cgroups_of_a_killed_container_go() {
    require_root!();
    let rt = Rt::new("cgsubp");
    let script = "set -e; c=/sys/fs/cgroup
        mkdir -p $c/pids/child/deeper $c/memory/child
        echo $$ > $c/pids/child/cgroup.procs; echo $$ > $c/memory/child/cgroup.procs
        sleep 100 & echo $! > $c/pids/child/deeper/cgroup.procs
        touch /ready; wait";
    for how in ["kill", "delete --force"] {
        let id = unique_id("lt-cgsubp");
        let cg = format!("/sprout/{id}");
        let bundle = rw_cgroup_bundle(&id, script);
        rt.create_ok(&bundle, &id);
        rt.ok(&["start", &id]);
        let ready = bundle.rootfs().join("ready");
        assert!(
            wait_for(10, || ready.exists()),
            "the container did not get ready"
        );
        let deeper = cg_procs("pids", &format!("{cg}/child/deeper"));
        assert_eq!(deeper.len(), 1, "{deeper:?}");
        assert_eq!(cg_procs("pids", &format!("{cg}/child")).len(), 1);
        assert!(cg_procs("pids", &cg).is_empty());
        let mut args = vec!["delete", "--force", id.as_str()];
        if how == "kill" {
            rt.ok(&["kill", &id, "KILL"]);
            rt.wait_status(&id, "stopped");
            args = vec!["delete", id.as_str()];
        }
        let out = rt.sprout(&args);
        assert!(out.success(), "{how}: {out}");
        assert_eq!(out.stderr_str(), "", "{how}: {out}");
        assert!(
            !alive(deeper[0]),
            "{how}: the process in the sub-cgroup lives on"
        );
        assert_gone(&rt, &bundle, &id, &cg);
    }
}

/// `delete` leaves a cgroup alone while a `create` is adopting it (its
/// claim, an exclusive flock on `cgroup.procs`, is held): removing it under
/// the create made that create fail with ENODEV/ENOENT on the vanished
/// files, 10 times in 40 in a stress loop. The claim is held here by the
/// test itself, on every v1 hierarchy's `cgroup.procs`.
#[test]
fn delete_leaves_a_cgroup_a_create_is_adopting() {
    require_root!();
    let rt = Rt::new("cgadopt");
    let id = unique_id("lt-cgadopt");
    let cg = format!("/{}", unique_id("lt-cgadopt"));
    let bundle = sh_bundle(&id, "true", |c| c["linux"]["cgroupsPath"] = json!(cg));
    rt.create_ok(&bundle, &id);
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    let dirs = cgroup_dirs(&cg);
    let held: Vec<fs::File> = dirs
        .iter()
        .filter_map(|d| fs::File::open(d.join("cgroup.procs")).ok())
        .filter(|f| {
            // (nix's `Flock` guard owns the file; the lock must stay with
            // `held` until the delete below.)
            #[allow(deprecated)]
            nix::fcntl::flock(
                std::os::fd::AsRawFd::as_raw_fd(f),
                nix::fcntl::FlockArg::LockExclusiveNonblock,
            )
            .is_ok()
        })
        .collect();
    assert!(!held.is_empty());
    rt.ok(&["delete", &id]);
    assert!(!rt.dir(&id).exists(), "the state goes");
    assert_eq!(
        cgroup_dirs(&cg),
        dirs,
        "the cgroup stays for the create adopting it"
    );
    drop(held);
    for d in cgroup_dirs(&cg).into_iter().rev() {
        let _ = fs::remove_dir(&d);
    }
    assert!(cgroup_dirs(&cg).is_empty());
}

/// A SIGTERM sent to a foreground `run` at any moment of its start leaves
/// nothing behind: before the state directory or the cgroup exists it
/// kills `sprout` (nothing made yet); from then on it is held and
/// forwarded to the container once it runs, and `run` cleans up as
/// usual. Swept over the first 4 ms (the start of `run` takes about 3),
/// with a container that exits by itself.
#[test]
fn sigterm_during_the_start_of_run_leaves_nothing() {
    require_root!();
    let rt = Rt::new("term-start");
    let id = unique_id("lt-termstart");
    let bundle = sh_bundle(&id, "true", |_| {});
    let b = bundle.dir().to_string_lossy().into_owned();
    for step in 0..40u64 {
        let mut child = rt
            .cmd(&["run", "--bundle", &b, &id])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn sprout run");
        std::thread::sleep(Duration::from_micros(100 * step));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let status = child.wait().expect("wait sprout run");
        assert!(
            status.code().is_some()
                || std::os::unix::process::ExitStatusExt::signal(&status) == Some(15),
            "step {step}: `run` ended by {status:?}"
        );
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
}

/// A SIGTERM that reaches a foreground `run` while the container is being
/// set up (here during a 0.4 s createRuntime hook) is held and forwarded to
/// the container process once it runs, not to sprout-init: without a pid
/// namespace the container's `sh` dies of it (143) or runs its trap (7);
/// sent to the stub it killed it ("sprout-init ended before it executed
/// the container process", exit 1). Nothing is left either way.
#[test]
fn sigterm_during_setup_reaches_the_container() {
    require_root!();
    let rt = Rt::new("term-setup");
    let id = unique_id("lt-termsetup");
    let bundle = sh_bundle(&id, "trap 'exit 7' TERM; sleep 5 & wait", |c| {
        crate::common::drop_namespace(c, "pid");
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "0.4"]}]});
    });
    let b = bundle.dir().to_string_lossy().into_owned();
    let child = rt
        .cmd(&["run", "--bundle", &b, &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sprout run");
    std::thread::sleep(Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("kill");
    let out = child.wait_with_output().expect("wait sprout run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(143) | Some(7)),
        "`run` ended by {:?}: {stderr}",
        out.status
    );
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// The block devices of this host as (major, minor, active I/O scheduler),
/// from /sys/block (devices without a queue scheduler file are left out).
fn block_devices() -> Vec<(u64, u64, String)> {
    let mut out = Vec::new();
    for e in fs::read_dir("/sys/block").into_iter().flatten().flatten() {
        let p = e.path();
        let (Ok(dev), Ok(sched)) = (
            fs::read_to_string(p.join("dev")),
            fs::read_to_string(p.join("queue/scheduler")),
        ) else {
            continue;
        };
        let Some((ma, mi)) = dev.trim().split_once(':') else {
            continue;
        };
        let active = sched
            .split_whitespace()
            .find(|s| s.starts_with('['))
            .unwrap_or("")
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        out.push((ma.parse().unwrap(), mi.parse().unwrap(), active));
    }
    out.sort();
    out
}

/// Resource fields that were accepted and then not applied (exit 0, no
/// trace in the cgroup): runc 1.1.5 refuses the first three on this kind
/// of host. Each is one line naming the field, with nothing left behind;
/// `update -r FILE` refuses them the same way (naming the file's field)
/// and changes nothing.
/// - `rdma` without an rdma controller (none on this host);
/// - `blockIO.leafWeight` without `blkio.leaf_weight` (no CFQ);
/// - `blockIO.weightDevice` for a device whose scheduler is not BFQ: the
///   kernel refuses `blkio.bfq.weight_device` (EOPNOTSUPP); for a device
///   on BFQ (a loop device here) the weight is written.
#[test]
fn resource_fields_not_applicable_here_are_refused() {
    require_root!();
    let rdma_mounted = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.ends_with(",rdma"));
    let leaf = fs::read_dir("/sys/fs/cgroup/blkio")
        .map(|_| std::path::Path::new("/sys/fs/cgroup/blkio/blkio.leaf_weight").exists())
        .unwrap_or(true);
    let devs = block_devices();
    let non_bfq = devs.iter().find(|d| d.2 != "bfq");
    let rt = Rt::new("cg-unapplied");
    let mut cases = Vec::new();
    if !rdma_mounted {
        cases.push((
            json!({"rdma": {"mlx5_0": {"hcaHandles": 3}}}),
            "linux.resources.rdma",
            "rdma",
        ));
    }
    if !leaf {
        cases.push((
            json!({"blockIO": {"leafWeight": 500}}),
            "linux.resources.blockIO.leafWeight",
            "blockIO.leafWeight",
        ));
    }
    if let Some((ma, mi, _)) = non_bfq {
        cases.push((
            json!({"blockIO": {"weightDevice": [{"major": ma, "minor": mi, "weight": 500}]}}),
            "linux.resources.blockIO.weightDevice[0]",
            "blockIO.weightDevice[0]",
        ));
    }
    assert!(!cases.is_empty(), "nothing to check on this host");
    for (i, (res, field, _)) in cases.iter().enumerate() {
        let id = unique_id(&format!("lt-unapp{i}"));
        let bundle = sh_bundle(&id, "sleep 600", |c| c["linux"]["resources"] = res.clone());
        let out = rt.create(&bundle, &id, &[]);
        if out.success() {
            let _ = rt.sprout(&["delete", "--force", &id]);
        }
        common::assert_one_line_error(&out, &[field]);
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    }
    // `update -r FILE` of a running container: the same refusal.
    let id = unique_id("lt-unapp-upd");
    let bundle = sh_bundle(&id, "sleep 600", |_| {});
    rt.create_ok(&bundle, &id);
    let cg = format!("/sprout/{id}");
    let file = bundle.dir().join("res.json");
    for (res, _, field) in &cases {
        fs::write(&file, res.to_string()).unwrap();
        let out = rt.sprout(&["update", "-r", file.to_str().unwrap(), &id]);
        common::assert_one_line_error(&out, &["-r", field]);
    }
    if let Some((ma, mi, _)) = non_bfq {
        assert!(
            !cg_read("blkio", &cg, "blkio.bfq.weight_device").contains(&format!("{ma}:{mi}")),
            "a refused weight must not be there"
        );
    }
    // A device on BFQ takes its weight, at create and at update.
    if let Some((ma, mi, _)) = devs.iter().find(|d| d.2 == "bfq") {
        fs::write(
            &file,
            json!({"blockIO": {"weightDevice": [{"major": ma, "minor": mi, "weight": 300}]}})
                .to_string(),
        )
        .unwrap();
        rt.ok(&["update", "-r", file.to_str().unwrap(), &id]);
        let wd = cg_read("blkio", &cg, "blkio.bfq.weight_device");
        assert!(wd.contains(&format!("{ma}:{mi} 300")), "{wd}");
        let id2 = unique_id("lt-unapp-bfq");
        let b2 = sh_bundle(
            &id2,
            "sleep 600",
            |c| {
                c["linux"]["resources"] = json!({"blockIO": {"weightDevice": [{"major": ma, "minor": mi, "weight": 400}]}})
            },
        );
        rt.create_ok(&b2, &id2);
        let wd = cg_read(
            "blkio",
            &format!("/sprout/{id2}"),
            "blkio.bfq.weight_device",
        );
        rt.ok(&["delete", "--force", &id2]);
        assert!(wd.contains(&format!("{ma}:{mi} 400")), "{wd}");
    }
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
}

/// `cpu.burst` alone (no other cpu field) is written, at create and at
/// update, as runc writes it whenever it is set (it was dropped: the rule
/// copied from libcgroups wrote it only next to another cpu field).
#[test]
fn cpu_burst_alone_is_applied() {
    require_root!();
    if !std::path::Path::new("/sys/fs/cgroup/cpu/cpu.cfs_burst_us").exists() {
        eprintln!("!!!!! SKIPPED: this kernel has no cpu.cfs_burst_us");
        return;
    }
    let rt = Rt::new("cg-burst");
    let id = unique_id("lt-burst");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["resources"] = json!({"cpu": {"burst": 10000}})
    });
    rt.create_ok(&bundle, &id);
    let cg = format!("/sprout/{id}");
    assert_eq!(cg_read("cpu", &cg, "cpu.cfs_burst_us"), "10000");
    let file = bundle.dir().join("res.json");
    fs::write(&file, r#"{"cpu": {"burst": 3000}}"#).unwrap();
    rt.ok(&["update", "-r", file.to_str().unwrap(), &id]);
    assert_eq!(cg_read("cpu", &cg, "cpu.cfs_burst_us"), "3000");
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &cg);
}

/// `memory.kernel` is ignored, as runc ignores it, but not silently: one
/// warning line naming the field (runc: "Kernel memory settings are
/// ignored and will be removed"); the container runs. `update -r` warns
/// the same way.
#[test]
fn kernel_memory_is_ignored_with_a_warning() {
    require_root!();
    let rt = Rt::new("cg-kmem");
    let id = unique_id("lt-kmem");
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["resources"] = json!({"memory": {"kernel": 50000000}})
    });
    let out = rt.create(&bundle, &id, &[]);
    assert!(out.success(), "{out}");
    let err = out.stderr_str();
    assert_eq!(err.lines().count(), 1, "{out}");
    assert!(
        err.starts_with("sprout: warning: linux.resources.memory.kernel: ignored"),
        "{out}"
    );
    rt.ok(&["start", &id]);
    assert_eq!(rt.status(&id), "running");
    let file = bundle.dir().join("res.json");
    fs::write(&file, r#"{"memory": {"kernel": 60000000}}"#).unwrap();
    let out = rt.sprout(&["update", "-r", file.to_str().unwrap(), &id]);
    assert!(out.success(), "{out}");
    let err = out.stderr_str();
    assert_eq!(err.lines().count(), 1, "{out}");
    assert!(
        err.starts_with("sprout: warning: -r ") && err.contains("memory.kernel: ignored"),
        "{out}"
    );
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
}

/// Real-time cpu limits in a cgroup of their own (`linux.cgroupsPath`),
/// with a runtime above the kernel's default 1 s period: the period is
/// written first, as runc does (the runtime first was refused with a
/// bare EINVAL). Under the default parent `/sprout`, whose own real-time
/// budget is 0 (and stays so), any runtime is refused: one line naming
/// `linux.resources.cpu.realtimeRuntime` and the parent's too small
/// `cpu.rt_runtime_us`, nothing left behind.
#[test]
fn realtime_period_is_written_before_the_runtime() {
    require_root!();
    let root_rt: i64 = cg_read("cpu", "/", "cpu.rt_runtime_us").parse().unwrap();
    let root_period: i64 = cg_read("cpu", "/", "cpu.rt_period_us").parse().unwrap();
    let rt = Rt::new("cg-rt");
    if root_rt < 0 || root_rt * 4 >= root_period * 3 {
        let id = unique_id("lt-rt");
        let path = format!("/{}", unique_id("lt-rtcg"));
        let bundle = sh_bundle(&id, "sleep 600", |c| {
            c["linux"]["cgroupsPath"] = json!(path);
            c["linux"]["resources"] =
                json!({"cpu": {"realtimeRuntime": 1500000, "realtimePeriod": 2000000}});
        });
        let out = rt.create(&bundle, &id, &[]);
        assert!(out.success(), "{out}");
        let period = cg_read("cpu", &path, "cpu.rt_period_us");
        let runtime = cg_read("cpu", &path, "cpu.rt_runtime_us");
        rt.ok(&["delete", "--force", &id]);
        assert_eq!((period.as_str(), runtime.as_str()), ("2000000", "1500000"));
        assert_gone(&rt, &bundle, &id, &path);
    } else {
        eprintln!("!!!!! SKIPPED (custom path): the root's real-time budget is below 75%");
    }
    // (A /sprout not made yet comes up with a budget of 0 too.)
    let budget = fs::read_to_string("/sys/fs/cgroup/cpu/sprout/cpu.rt_runtime_us")
        .unwrap_or_else(|_| "0".into());
    if budget.trim() == "0" {
        let id = unique_id("lt-rt0");
        let bundle = sh_bundle(&id, "sleep 600", |c| {
            c["linux"]["resources"] =
                json!({"cpu": {"realtimeRuntime": 1500, "realtimePeriod": 2000000}});
        });
        let out = rt.create(&bundle, &id, &[]);
        common::assert_one_line_error(
            &out,
            &[
                "linux.resources.cpu.realtimeRuntime",
                "/sprout's cpu.rt_runtime_us is too small (0 µs",
            ],
        );
        assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
        assert_eq!(cg_read("cpu", "/sprout", "cpu.rt_runtime_us"), "0");
    }
    // A runtime above the period is that, not the parent's budget.
    let id = unique_id("lt-rtp");
    let path = format!("/{}", unique_id("lt-rtpcg"));
    let bundle = sh_bundle(&id, "sleep 600", |c| {
        c["linux"]["cgroupsPath"] = json!(path);
        c["linux"]["resources"] =
            json!({"cpu": {"realtimeRuntime": 2000000, "realtimePeriod": 1000000}});
    });
    let out = rt.create(&bundle, &id, &[]);
    common::assert_one_line_error(
        &out,
        &["linux.resources.cpu.realtimeRuntime: 2000000 µs is above the period, 1000000 µs"],
    );
    assert_gone(&rt, &bundle, &id, &path);
}

/// A cgroup the test made in one hierarchy (and a process it put there),
/// removed on drop, whatever the test's outcome; so are the directories
/// of its (unique) name in the other hierarchies, which a runtime that
/// leaves them behind made.
struct ForeignCgroup {
    dir: std::path::PathBuf,
    path: String,
    child: Option<std::process::Child>,
}

impl Drop for ForeignCgroup {
    fn drop(&mut self) {
        for d in cgroup_dirs(&self.path) {
            if d != self.dir {
                let _ = fs::remove_dir(d);
            }
        }
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = fs::write(self.dir.join("freezer.state"), "THAWED");
        assert!(
            wait_for(5, || fs::remove_dir(&self.dir).is_ok()
                || !self.dir.exists()),
            "removing {}",
            self.dir.display()
        );
    }
}

/// A `linux.cgroupsPath` that exists in one hierarchy only, with a process
/// in it (pids) or frozen (freezer), is refused (one line, as before), and
/// the directories the create made in the other hierarchies go again
/// (they were left behind, all eight): only the one that was there stays,
/// with its process untouched.
#[test]
fn a_busy_or_frozen_cgroups_path_leaves_only_what_was_there() {
    require_root!();
    let rt = Rt::new("cg-busy");
    for (ctrl, needle) in [
        ("pids", "is not empty: 1 process(es)"),
        ("freezer", "is frozen"),
    ] {
        let name = unique_id(&format!("lt-busy{ctrl}"));
        let dir = std::path::Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(&name);
        fs::create_dir(&dir).unwrap();
        let path = format!("/{name}");
        let mut foreign = ForeignCgroup {
            dir: dir.clone(),
            path: path.clone(),
            child: None,
        };
        let pid = if ctrl == "pids" {
            let child = std::process::Command::new("sleep")
                .arg("600")
                .spawn()
                .unwrap();
            let pid = child.id() as i32;
            foreign.child = Some(child);
            fs::write(dir.join("cgroup.procs"), pid.to_string()).unwrap();
            Some(pid)
        } else {
            fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
            None
        };
        let id = unique_id("lt-busy");
        let bundle = sh_bundle(&id, "sleep 600", |c| {
            c["linux"]["cgroupsPath"] = json!(path)
        });
        let out = rt.create(&bundle, &id, &[]);
        common::assert_one_line_error(&out, &["linux.cgroupsPath", needle]);
        assert_eq!(cgroup_dirs(&path), vec![dir.clone()], "only {ctrl}'s stays");
        match pid {
            Some(pid) => {
                assert_eq!(cg_procs(ctrl, &path), vec![pid]);
                assert!(alive(pid));
            }
            None => assert_eq!(cg_read(ctrl, &path, "freezer.state"), "FROZEN"),
        }
        assert!(!rt.dir(&id).exists());
        drop(foreign);
        assert_gone(&rt, &bundle, &id, &path);
    }
}

/// The same too small memory limit in a `linux.cgroupsPath` whose parent
/// is new: the cgroup is then made before the stub's clone and the stub
/// joins it before its exec, as a vfork child the kernel's OOM killer
/// passes over, so the exec fails with ENOMEM (no OOM kill). That too is
/// one line naming the field (it was the bare ENOMEM of the exec), and
/// nothing is left, not the parent sprout made either.
#[test]
fn a_memory_limit_too_small_in_a_new_cgroups_path_is_named() {
    require_root!();
    let rt = Rt::new("oom-path");
    // 16384: the exec fails with E2BIG there (a page for the arguments it
    // could not get), not ENOMEM.
    for (cmd, limit) in [("create", 4096), ("run", 4096), ("create", 16384)] {
        let id = unique_id(&format!("lt-oomp{cmd}"));
        let parent = format!("/{}", unique_id("lt-oompg"));
        let path = format!("{parent}/ctr");
        let bundle = sh_bundle(&id, "true", |c| {
            c["linux"]["cgroupsPath"] = json!(path);
            c["linux"]["resources"] = json!({"memory": {"limit": limit}});
        });
        let b = bundle.dir().to_string_lossy().into_owned();
        let out = rt.sprout(&[cmd, "--bundle", &b, &id]);
        common::assert_one_line_error(
            &out,
            &[
                &format!("linux.resources.memory.limit {limit}: too small"),
                "OOM",
            ],
        );
        assert_gone(&rt, &bundle, &id, &path);
        assert_eq!(cgroup_dirs(&parent), Vec::<std::path::PathBuf>::new());
    }
}
