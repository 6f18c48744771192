//! Tests against the real cgroupfs: root only (skipped loudly otherwise).
//! Each test works under its own `/sprout-test-<pid>-<n>` and a guard
//! removes it, and kills its processes, even when the test fails.
//! Run with `cargo test -p sprout cgroups -- --test-threads=1`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use super::*;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!(
                "!!!!! SKIPPED {}: needs root and a writable /sys/fs/cgroup !!!!!",
                module_path!()
            );
            return;
        }
    };
}

/// A unique top-level test path, removed (with its processes) on drop.
struct Guard {
    top: PathBuf,
    children: Vec<Child>,
}

impl Guard {
    fn new() -> Guard {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        Guard {
            top: PathBuf::from(format!("/sprout-test-{}-{n}", std::process::id())),
            children: Vec::new(),
        }
    }
    fn path(&self, sub: &str) -> PathBuf {
        if sub.is_empty() {
            self.top.clone()
        } else {
            self.top.join(sub)
        }
    }
    fn spawn(&mut self, script: &str) -> i32 {
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = child.id() as i32;
        self.children.push(child);
        pid
    }
    /// Every directory named like our top, in every hierarchy.
    fn leftovers(&self) -> Vec<PathBuf> {
        all_mounts()
            .into_iter()
            .map(|m| m.join(rel(&self.top)))
            .filter(|d| d.exists())
            .collect()
    }
}

/// `cg` with its create's claim released (dropped and opened again, with
/// the same created ancestor), as once the creating `sprout` is done.
fn unclaimed(cg: Cgroup) -> Cgroup {
    let ancestor = cg.created_ancestor().map(Path::to_path_buf);
    let path = cg.path().to_path_buf();
    drop(cg);
    Cgroup::open(&path)
        .unwrap()
        .with_created_ancestor(ancestor.as_deref())
}

/// `create` of a cgroup whose claim was just let go: a child another test
/// thread forks meanwhile holds a copy of the claim's fd (and so its
/// flock) until its exec closes it, so "being set up by another
/// container" is retried for up to half a second.
fn adopt<T>(mut create: impl FnMut() -> Result<T>) -> Result<T> {
    for _ in 0..50 {
        match create() {
            Err(e) if e.to_string().contains("being set up") => {
                std::thread::sleep(Duration::from_millis(10))
            }
            r => return r,
        }
    }
    create()
}

/// `cg.remove()`, retried for up to half a second while its claim is held
/// by a child another test thread forked meanwhile (see [`adopt`]): the
/// remove then leaves the cgroup to whoever holds the claim.
fn remove_settled(cg: &Cgroup) {
    for _ in 0..50 {
        if cg.remove_unless(|| false).unwrap() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{}: still claimed", cg.path().display());
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Thaw and kill whatever is left, then remove bottom-up everywhere.
        for m in all_mounts() {
            let top = m.join(rel(&self.top));
            if !top.exists() {
                continue;
            }
            let mut dirs = Vec::new();
            subdirs_deepest_first(&top, &mut dirs);
            dirs.push(top.clone());
            for d in &dirs {
                let _ = write_file(&d.join("freezer.state"), "THAWED");
                let mut pids = Vec::new();
                let _ = procs_recursive(d, &mut pids);
                for p in pids {
                    let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
                }
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            for d in &dirs {
                let _ = rmdir_retry(d, deadline);
            }
        }
    }
}

fn all_mounts() -> Vec<PathBuf> {
    let (v1, v2) = discover_mounts().expect("mounts");
    v1.into_iter().map(|(_, m)| m).chain(v2).collect()
}

fn read(p: impl AsRef<Path>) -> String {
    fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

fn v1_file(path: &Path, ctrl: &str, file: &str) -> PathBuf {
    Path::new(CGROUP_ROOT).join(ctrl).join(rel(path)).join(file)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn resources() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(32 * 1024 * 1024)
                .reservation(16 * 1024 * 1024)
                .swappiness(10u64)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(5)
                .access("r")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap()
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(|l| l.trim().to_string()).collect();
    v.sort();
    v
}

/// `begin`'s two statfs(2) calls name the cgroup2 mount that mountinfo
/// gives (on this Hybrid host), or nothing where the host is not Hybrid;
/// and a `begin` made that way completes in `finish` to the same cgroup
/// as one made from mountinfo.
#[test]
fn quick_hybrid_agrees_with_mountinfo() {
    require_root!();
    let full = read_layout().unwrap();
    match full.setup {
        CgroupSetup::Hybrid => assert_eq!(quick_hybrid(), full.v2),
        _ => assert_eq!(quick_hybrid(), None),
    }
    if full.setup != CgroupSetup::Hybrid {
        return;
    }
    let g = Guard::new();
    let path = g.path("");
    let (mut cg, into) = Cgroup::begin(&path, &LinuxResources::default())
        .unwrap()
        .expect("a Hybrid host begins");
    assert!(cg.partial && cg.v1.is_empty() && into.is_some());
    let fds = cg.finish(&LinuxResources::default()).unwrap();
    assert!(!cg.partial && !fds.tasks.is_empty());
    let made = Cgroup::new(&path).unwrap();
    let dirs = |c: &Cgroup| c.v1.iter().map(|d| d.dir.clone()).collect::<Vec<_>>();
    assert_eq!((dirs(&cg), &cg.unified), (dirs(&made), &made.unified));
    assert!(dirs(&cg).iter().all(|d| d.is_dir()));
    drop((fds, into));
    remove_settled(&unclaimed(cg));
    assert!(g.leftovers().is_empty(), "{:?}", g.leftovers());
}

#[test]
fn path_resolution() {
    assert_eq!(Cgroup::path_for(None, "abc"), PathBuf::from("/sprout/abc"));
    assert_eq!(
        Cgroup::path_for(Some(Path::new("")), "abc"),
        PathBuf::from("/sprout/abc")
    );
    assert_eq!(
        Cgroup::path_for(Some(Path::new("/a/b")), "x"),
        PathBuf::from("/a/b")
    );
    assert_eq!(
        Cgroup::path_for(Some(Path::new("a/b")), "x"),
        PathBuf::from("/a/b")
    );
    assert_eq!(
        Cgroup::path_for(Some(Path::new("../../etc/./x")), "x"),
        PathBuf::from("/etc/x")
    );
    assert_eq!(
        Cgroup::path_for(Some(Path::new("/a/../b/")), "x"),
        PathBuf::from("/b")
    );
}

#[test]
fn validation_names_fields() {
    let setup = CgroupSetup::Hybrid;
    let bad_period = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().period(500u64).build().unwrap())
        .build()
        .unwrap();
    let e = validate(&bad_period, setup).unwrap_err().to_string();
    assert_eq!(
        e,
        "linux.resources.cpu.period: 500 is out of range 1000-1000000 (microseconds)"
    );
    let bad_swappiness = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .swappiness(150u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = validate(&bad_swappiness, setup).unwrap_err().to_string();
    assert!(e.starts_with("linux.resources.memory.swappiness: "), "{e}");
    let mut unified = LinuxResources::default();
    unified.set_unified(Some([("memory.high".to_string(), "1M".to_string())].into()));
    let e = validate(&unified, setup).unwrap_err().to_string();
    assert_eq!(
        e,
        "linux.resources.unified: needs a cgroup v2 host; this host is hybrid"
    );
    let bad_cpus = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().cpus("0-x").build().unwrap())
        .build()
        .unwrap();
    assert!(
        validate(&bad_cpus, setup)
            .unwrap_err()
            .to_string()
            .starts_with("linux.resources.cpu.cpus: ")
    );
    assert!(validate(&resources(), setup).is_ok());
    assert_eq!(
        field_for_file("memory.limit_in_bytes"),
        "linux.resources.memory.limit"
    );
    assert_eq!(
        field_for_file("memory.high"),
        "linux.resources.unified[\"memory.high\"]"
    );
}

#[test]
fn setup_is_detected() {
    require_root!();
    let s = setup().expect("setup");
    eprintln!("cgroup setup: {s}");
}

#[test]
fn create_add_apply_readback_update_remove() {
    require_root!();
    let mut g = Guard::new();
    let path = g.path("ctr");
    let unified_root_ctl = fs::read_to_string("/sys/fs/cgroup/unified/cgroup.subtree_control").ok();

    let cg = Cgroup::create(&path).expect("create");
    assert_eq!(cg.created_ancestor(), Some(g.top.as_path()));
    for d in cg.dirs() {
        assert!(d.is_dir(), "{} missing", d.display());
    }
    let pid = g.spawn("exec sleep 100");
    cg.add_task(pid).expect("add_task");
    cg.apply(&resources()).expect("apply");

    let p = &path;
    assert_eq!(
        read(v1_file(p, "memory", "memory.limit_in_bytes")),
        "33554432"
    );
    assert_eq!(
        read(v1_file(p, "memory", "memory.soft_limit_in_bytes")),
        "16777216"
    );
    assert_eq!(read(v1_file(p, "memory", "memory.swappiness")), "10");
    assert_eq!(read(v1_file(p, "pids", "pids.max")), "10");
    assert_eq!(read(v1_file(p, "cpu", "cpu.shares")), "512");
    assert_eq!(read(v1_file(p, "cpu", "cpu.cfs_quota_us")), "50000");
    assert_eq!(read(v1_file(p, "cpu", "cpu.cfs_period_us")), "100000");
    assert_eq!(read(v1_file(p, "cpuset", "cpuset.cpus")), "0");
    assert_eq!(read(v1_file(p, "cpuset", "cpuset.mems")), "0");
    // Exactly the rules given: libcgroups' default allow-list is gone.
    assert_eq!(
        sorted_lines(&read(v1_file(p, "devices", "devices.list"))),
        vec!["c 1:3 rwm", "c 1:5 r"]
    );

    // The task is in every hierarchy, the unified one included.
    let own = read(format!("/proc/{pid}/cgroup"));
    for line in own.lines() {
        let cgpath = line.splitn(3, ':').nth(2).unwrap();
        assert_eq!(cgpath, path.to_str().unwrap(), "{line}");
    }
    assert!(own.lines().any(|l| l.starts_with("0::")), "{own}");
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    // The unified root's subtree_control is untouched.
    assert_eq!(
        fs::read_to_string("/sys/fs/cgroup/unified/cgroup.subtree_control").ok(),
        unified_root_ctl
    );

    // update: memory only; devices must stay exact (libcgroups re-adds its
    // defaults on every apply, and they must be trimmed again).
    let upd = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 * 1024 * 1024)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let reopened = Cgroup::open(&path).unwrap();
    reopened.apply(&upd).expect("update");
    assert_eq!(
        read(v1_file(p, "memory", "memory.limit_in_bytes")),
        "67108864"
    );
    assert_eq!(
        sorted_lines(&read(v1_file(p, "devices", "devices.list"))),
        vec!["c 1:3 rwm", "c 1:5 r"]
    );
    // update devices: take away 1:5, add 1:9.
    let devs = LinuxResourcesBuilder::default()
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(9)
                .access("rw")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    reopened.apply(&devs).expect("update devices");
    assert_eq!(
        sorted_lines(&read(v1_file(p, "devices", "devices.list"))),
        vec!["c 1:3 rwm", "c 1:9 rw"]
    );

    // remove kills the sleeper and deletes every directory, parents we made too.
    cg.remove().expect("remove");
    let st = g.children[0].wait().unwrap();
    assert!(!st.success());
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());
    cg.remove().expect("second remove is a no-op");
}

#[test]
fn device_rules_are_enforced() {
    require_root!();
    let mut g = Guard::new();
    let path = g.path("");
    let cg = Cgroup::create(&path).expect("create");
    let r = LinuxResourcesBuilder::default()
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .access("rw")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    cg.apply(&r).expect("apply");
    // /dev/null works, /dev/zero (libcgroups would have allowed it) does not.
    let out_path = std::env::temp_dir().join(format!("sprout-dev-{}", std::process::id()));
    let script = format!(
        "read x; (echo hi > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied) > {}",
        out_path.display()
    );
    let pid = g.spawn(&script);
    cg.add_task(pid).unwrap();
    let child = g.children.last_mut().unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    child.wait().unwrap();
    let out = read(&out_path);
    let _ = fs::remove_file(&out_path);
    assert_eq!(out, "null-ok\nzero-denied");
    remove_settled(&cg);
    assert!(g.leftovers().is_empty());
}

/// The device rules `create_with` writes on a directory it just made (the
/// reset path: no read of the inherited list) and on an adopted one (the
/// diff path) come out the same and exact, in deny-all and allow-all mode.
#[test]
fn create_with_device_rules_are_exact_fresh_or_adopted() {
    require_root!();
    let g = Guard::new();
    let dev = |allow: bool,
               typ: Option<LinuxDeviceType>,
               major: Option<i64>,
               minor: Option<i64>,
               access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default();
        b = b.allow(allow).access(access);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    };
    // What the lifecycle passes for `runc spec`: deny all, then runc's list.
    let mut deny_all = vec![dev(false, None, None, None, "rwm")];
    deny_all.extend(default_device_rules());
    deny_all.push(dev(false, Some(LinuxDeviceType::C), Some(1), Some(3), "w"));
    let deny_all = LinuxResourcesBuilder::default()
        .devices(deny_all)
        .build()
        .unwrap();
    let want_deny = vec![
        "b *:* m",
        "c *:* m",
        "c 10:200 rwm",
        "c 136:* rwm",
        "c 1:3 rm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:2 rwm",
    ];
    // Allow all but writing /dev/null.
    let allow_all = LinuxResourcesBuilder::default()
        .devices(vec![
            dev(false, None, None, None, "rwm"),
            dev(true, Some(LinuxDeviceType::A), None, None, "rwm"),
            dev(false, Some(LinuxDeviceType::C), Some(1), Some(3), "w"),
        ])
        .build()
        .unwrap();
    for (res, want) in [
        (&deny_all, want_deny.clone()),
        (&allow_all, vec!["a *:* rwm"]),
    ] {
        let path = g.path("fresh");
        let cg = Cgroup::create_with(&path, res).expect("create_with fresh");
        assert!(cg.devices_fresh);
        assert_eq!(
            sorted_lines(&read(v1_file(&path, "devices", "devices.list"))),
            want
        );
        remove_settled(&cg);
        // Adopted: an existing empty directory, first set to something else.
        // (`adopt`: a test thread forking meanwhile may hold the claim a moment.)
        let pre = unclaimed(adopt(|| Cgroup::create(&path)).unwrap());
        write_file(&v1_file(&path, "devices", "devices.deny"), "c 1:5 w").unwrap();
        let cg = adopt(|| Cgroup::create_with(&path, res)).expect("create_with adopted");
        assert!(!cg.devices_fresh);
        assert_eq!(
            sorted_lines(&read(v1_file(&path, "devices", "devices.list"))),
            want
        );
        // (A held claim keeps a cgroup from removal: the adopter lets go.)
        drop(cg);
        remove_settled(&pre);
    }
    // The allow-all rules are enforced: /dev/null reads but cannot be written.
    let path = g.path("enforce");
    let cg = Cgroup::create_with(&path, &allow_all).unwrap();
    let out_path = std::env::temp_dir().join(format!("sprout-dev2-{}", std::process::id()));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "read x; (head -c1 /dev/null && echo read-ok; echo x > /dev/null 2>/dev/null && echo write-ok || echo write-denied) > {}",
            out_path.display()
        ))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    cg.add_task(child.id() as i32).unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    child.wait().unwrap();
    let out = read(&out_path);
    let _ = fs::remove_file(&out_path);
    assert_eq!(out, "read-ok\nwrite-denied");
    remove_settled(&cg);
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());
}

/// A pids limit alone is written without libcgroups' manager (podman's
/// usual resources), and 0 means unlimited as in libcgroups.
#[test]
fn pids_limit_alone_skips_libcgroups() {
    require_root!();
    let g = Guard::new();
    let path = g.path("pids");
    let r = |limit: i64| {
        LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(limit).build().unwrap())
            .build()
            .unwrap()
    };
    let cg = Cgroup::create_with(&path, &r(7)).unwrap();
    assert_eq!(read(v1_file(&path, "pids", "pids.max")), "7");
    assert!(cg.manager.get().is_none(), "libcgroups' manager was built");
    cg.apply(&r(0)).unwrap();
    assert_eq!(read(v1_file(&path, "pids", "pids.max")), "max");
    cg.apply(&r(12)).unwrap();
    assert_eq!(read(v1_file(&path, "pids", "pids.max")), "12");
    assert!(cg.manager.get().is_none());
    remove_settled(&cg);
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());
}

/// cpu, cpuset, memory and pids are written without libcgroups' manager,
/// with libcgroups' order for memory and memory+swap: growing both at once
/// writes memsw first, and -1 makes both unlimited.
#[test]
fn usual_sections_skip_libcgroups() {
    require_root!();
    let g = Guard::new();
    let path = g.path("direct");
    let cg = Cgroup::create_with(&path, &resources()).unwrap();
    assert!(cg.manager.get().is_none(), "libcgroups' manager was built");
    assert_eq!(read(v1_file(&path, "cpu", "cpu.shares")), "512");
    assert_eq!(
        read(v1_file(&path, "memory", "memory.limit_in_bytes")),
        "33554432"
    );
    assert_eq!(
        read(v1_file(&path, "memory", "memory.oom_control"))
            .lines()
            .next(),
        Some("oom_kill_disable 0")
    );
    let mem = |limit: i64, swap: Option<i64>, disable_oom: bool| {
        let mut m = LinuxMemoryBuilder::default()
            .limit(limit)
            .disable_oom_killer(disable_oom);
        if let Some(s) = swap {
            m = m.swap(s);
        }
        LinuxResourcesBuilder::default()
            .memory(m.build().unwrap())
            .build()
            .unwrap()
    };
    if v1_file(&path, "memory", "memory.memsw.limit_in_bytes").exists() {
        cg.apply(&mem(32 << 20, Some(64 << 20), false)).unwrap();
        assert_eq!(
            read(v1_file(&path, "memory", "memory.memsw.limit_in_bytes")),
            (64 << 20).to_string()
        );
        // Both above the old memsw: memsw must go first.
        cg.apply(&mem(128 << 20, Some(256 << 20), true)).unwrap();
        assert_eq!(
            read(v1_file(&path, "memory", "memory.limit_in_bytes")),
            (128 << 20).to_string()
        );
        assert_eq!(
            read(v1_file(&path, "memory", "memory.memsw.limit_in_bytes")),
            (256 << 20).to_string()
        );
        assert_eq!(
            read(v1_file(&path, "memory", "memory.oom_control"))
                .lines()
                .next(),
            Some("oom_kill_disable 1")
        );
        cg.apply(&mem(-1, None, false)).unwrap();
        let unlimited = read(v1_file(&path, "memory", "memory.limit_in_bytes"));
        assert!(unlimited.parse::<u64>().unwrap() > 1 << 60, "{unlimited}");
        assert_eq!(
            read(v1_file(&path, "memory", "memory.memsw.limit_in_bytes")),
            unlimited
        );
    }
    // blockIO is written here too (as runc's blkio.go).
    let blkio = LinuxResourcesBuilder::default()
        .block_io(
            oci_spec::runtime::LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    match cg.apply(&blkio) {
        Ok(()) => {
            let f = ["blkio.weight", "blkio.bfq.weight"]
                .map(|f| v1_file(&path, "blkio", f))
                .into_iter()
                .find(|f| f.exists())
                .expect("a blkio weight file");
            assert!(read(f).ends_with("500"));
        }
        // Hosts without a weight-capable scheduler refuse it.
        Err(e) => assert!(e.to_string().starts_with("linux.resources.blockIO"), "{e}"),
    }
    assert!(cg.manager.get().is_none());
    // network still goes through libcgroups (refused where net_cls is
    // not mounted, by libcgroups).
    let net = LinuxResourcesBuilder::default()
        .network(
            oci_spec::runtime::LinuxNetworkBuilder::default()
                .class_id(1u32)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let _ = cg.apply(&net);
    assert!(cg.manager.get().is_some());
    remove_settled(&cg);
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());
}

/// Under a parent made elsewhere (in every hierarchy; its cpuset filled,
/// but without cgroup.clone_children) a new leaf's cpuset is empty: add_task fills it
/// on ENOSPC, join_fds before opening the tasks files.
#[test]
fn empty_cpuset_is_filled_on_join() {
    require_root!();
    let mut g = Guard::new();
    let cpuset = Path::new(CGROUP_ROOT).join("cpuset");
    let top = cpuset.join(rel(&g.top));
    for m in all_mounts() {
        fs::create_dir(m.join(rel(&g.top))).unwrap();
    }
    for f in ["cpuset.cpus", "cpuset.mems"] {
        write_file(&top.join(f), &read(cpuset.join(f))).unwrap();
    }
    assert_eq!(read(top.join("cgroup.clone_children")), "0");
    for (i, use_join_fds) in [false, true].into_iter().enumerate() {
        let path = g.path(&format!("leaf{i}"));
        let cg = Cgroup::create(&path).unwrap();
        assert_eq!(read(v1_file(&path, "cpuset", "cpuset.cpus")), "");
        if use_join_fds {
            let fds = cg.join_fds().unwrap();
            assert!(!fds.tasks.is_empty());
        } else {
            let pid = g.spawn("exec sleep 100");
            cg.add_task(pid).unwrap();
            assert_eq!(cg.pids().unwrap(), vec![pid]);
        }
        assert_eq!(
            read(v1_file(&path, "cpuset", "cpuset.cpus")),
            read(cpuset.join("cpuset.cpus"))
        );
        remove_settled(&cg);
    }
    // The parent was not ours: left for the guard, and not modified.
    assert_eq!(read(top.join("cgroup.clone_children")), "0");
}

/// The direct v1 statistics equal libcgroups' for the same cgroup (a
/// sleeping task: nothing moves between the two reads; retried if
/// something did).
#[test]
fn v1_stats_match_libcgroups() {
    require_root!();
    let mut g = Guard::new();
    let path = g.path("stats");
    let cg = Cgroup::create_with(&path, &resources()).unwrap();
    if cg.setup() == CgroupSetup::Unified {
        return;
    }
    let pid = g.spawn("read x; head -c 10000000 /dev/zero | cat >/dev/null; exec sleep 100");
    cg.add_task(pid).unwrap();
    let child = g.children.last_mut().unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    wait_until("the workload to settle", Duration::from_secs(10), || {
        read(format!("/proc/{pid}/comm")) == "sleep"
    });
    std::thread::sleep(Duration::from_millis(50));
    let Manager::V1(m) = cg.manager().unwrap() else {
        panic!("not a v1 manager")
    };
    let mut last = String::new();
    for _ in 0..5 {
        let ours = serde_json::to_value(cg.v1_stats().unwrap()).unwrap();
        let theirs = serde_json::to_value(m.stats().unwrap()).unwrap();
        if ours == theirs {
            assert!(ours["cpu"]["usage"]["usage_total"].as_u64().unwrap() > 0);
            remove_settled(&cg);
            return;
        }
        last = format!("ours: {ours}\ntheirs: {theirs}");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("stats differ:\n{last}");
}

#[test]
fn freeze_thaw() {
    require_root!();
    let mut g = Guard::new();
    let path = g.path("");
    let cg = Cgroup::create(&path).unwrap();
    let pid = g.spawn("exec sleep 100");
    cg.add_task(pid).unwrap();
    assert!(!cg.is_frozen().unwrap());
    cg.freeze().unwrap();
    assert_eq!(read(v1_file(&path, "freezer", "freezer.state")), "FROZEN");
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert_eq!(read(v1_file(&path, "freezer", "freezer.state")), "THAWED");
    assert!(!cg.is_frozen().unwrap());
    // remove while frozen: thaws first, then kills and deletes.
    cg.freeze().unwrap();
    cg.remove().expect("remove while frozen");
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());
}

fn kill_all_with(sig: Signal) {
    let mut g = Guard::new();
    let path = g.path("");
    let cg = Cgroup::create(&path).unwrap();
    let pid = g.spawn("read x; sleep 100 & sleep 100 & wait");
    cg.add_task(pid).unwrap();
    g.children[0]
        .stdin
        .take()
        .unwrap()
        .write_all(b"\n")
        .unwrap();
    wait_until("3 processes", Duration::from_secs(5), || {
        cg.pids().unwrap().len() == 3
    });
    if cg.setup() == CgroupSetup::Hybrid {
        // All three are in the unified hierarchy too, so SIGKILL is one
        // cgroup.kill write with no stragglers.
        let mut in_unified = Vec::new();
        procs_recursive(&cg.unified.as_ref().unwrap().1, &mut in_unified).unwrap();
        assert_eq!(in_unified.len(), 3);
    }
    cg.kill_all(sig as i32).expect("kill_all");
    let st = g.children[0].wait().unwrap();
    assert!(!st.success());
    wait_until("empty cgroup", Duration::from_secs(5), || {
        cg.pids().unwrap().is_empty()
    });
    assert_eq!(read(v1_file(&path, "freezer", "freezer.state")), "THAWED");
    remove_settled(&cg);
    assert!(g.leftovers().is_empty());
}

#[test]
fn kill_all_term_freezes_signals_thaws() {
    require_root!();
    kill_all_with(Signal::SIGTERM);
}

#[test]
fn kill_all_kill_uses_cgroup_kill() {
    require_root!();
    kill_all_with(Signal::SIGKILL);
}

#[test]
fn kill_all_on_frozen_cgroup_thaws() {
    require_root!();
    let mut g = Guard::new();
    let path = g.path("");
    let cg = Cgroup::create(&path).unwrap();
    let pid = g.spawn("exec sleep 100");
    cg.add_task(pid).unwrap();
    cg.freeze().unwrap();
    cg.kill_all(Signal::SIGTERM as i32).unwrap();
    assert!(!cg.is_frozen().unwrap());
    g.children[0].wait().unwrap();
    remove_settled(&cg);
}

#[test]
fn stats_shape() {
    require_root!();
    let mut g = Guard::new();
    let path = g.path("");
    let cg = Cgroup::create_with(&path, &resources()).unwrap();
    let pid = g.spawn("read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 100");
    cg.add_task(pid).unwrap();
    g.children[0]
        .stdin
        .take()
        .unwrap()
        .write_all(b"\n")
        .unwrap();
    wait_until("cpu use", Duration::from_secs(10), || {
        read(format!("/proc/{pid}/comm")) == "sleep"
    });
    let s = cg.stats().expect("stats");
    eprintln!("{s}");
    assert!(
        s["cpu"]["usage"]["total"].as_u64().unwrap() > 1_000_000,
        "{s}"
    );
    assert!(s["cpu"]["usage"]["user"].as_u64().is_some());
    assert_eq!(
        s["memory"]["usage"]["limit"].as_u64(),
        Some(32 * 1024 * 1024)
    );
    assert!(s["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert_eq!(s["pids"]["current"].as_u64(), Some(1));
    assert_eq!(s["pids"]["limit"].as_u64(), Some(10));
    remove_settled(&cg);
}

#[test]
fn oom_kill_is_counted() {
    require_root!();
    let mut g = Guard::new();
    let path = g.path("");
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(16 * 1024 * 1024)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let cg = Cgroup::create_with(&path, &r).unwrap();
    assert_eq!(cg.oom_kill_count().unwrap(), 0);
    let pid = g.spawn("read x; x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo survived");
    cg.add_task(pid).unwrap();
    g.children[0]
        .stdin
        .take()
        .unwrap()
        .write_all(b"\n")
        .unwrap();
    let _ = g.children[0].wait().unwrap();
    wait_until("oom_kill", Duration::from_secs(5), || {
        cg.oom_kill_count().unwrap() >= 1
    });
    remove_settled(&cg);
    assert!(g.leftovers().is_empty());
}

#[test]
fn invalid_values_leave_nothing_behind() {
    require_root!();
    let g = Guard::new();
    let path = g.path("a/b");
    // Caught before any mkdir.
    let bad = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().period(500u64).build().unwrap())
        .build()
        .unwrap();
    let e = Cgroup::create_with(&path, &bad).unwrap_err();
    assert!(
        e.to_string().starts_with("linux.resources.cpu.period: "),
        "{e}"
    );
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());
    // Rejected by the kernel (no such cpu): error names field and file.
    let bad = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().cpus("0-4095").build().unwrap())
        .build()
        .unwrap();
    let e = Cgroup::create_with(&path, &bad).unwrap_err();
    // (6.x answers ERANGE for a cpu number above nr_cpu_ids, EINVAL for others.)
    assert!(
        e.to_string()
            .starts_with("linux.resources.cpu.cpus: write \"0-4095\" to cpuset.cpus: "),
        "{e}"
    );
    assert!(e.errno().is_some());
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());
    // A memory limit the kernel refuses.
    let bad = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .reservation(-5)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = Cgroup::create_with(&path, &bad).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.memory.reservation: "),
        "{e}"
    );
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());
}

#[test]
fn existing_cgroup_exclusivity() {
    require_root!();
    let mut g = Guard::new();
    let path = g.path("x");
    let cg = Cgroup::create(&path).unwrap();
    // While a create holds its claim, another one on the path is refused
    // and removes nothing.
    let e = Cgroup::create(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "linux.cgroupsPath: cgroup {} is being set up by another container",
            path.display()
        )
    );
    assert!(cg.exists());
    // Once released, an existing empty cgroup can be adopted.
    let cg = unclaimed(cg);
    let again = adopt(|| Cgroup::create(&path)).expect("adopt empty");
    assert_eq!(again.created_ancestor(), None);
    drop(again);
    let pid = g.spawn("exec sleep 100");
    cg.add_task(pid).unwrap();
    // (`again`'s claim may still be held by a child forked meanwhile.)
    let e = adopt(|| Cgroup::create(&path)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "linux.cgroupsPath: cgroup {} is not empty: 1 process(es) found",
            path.display()
        )
    );
    // The failed create did not remove the other container's cgroup.
    assert!(cg.exists());
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    remove_settled(&cg);
    assert!(g.leftovers().is_empty());
}

#[test]
fn nested_and_shared_parents() {
    require_root!();
    let mut g = Guard::new();
    let a = Cgroup::create(&g.path("p/a")).unwrap();
    assert_eq!(a.created_ancestor(), Some(g.top.as_path()));
    let b = Cgroup::create(&g.path("p/b")).unwrap();
    // Only the leaf was new: b owns no parent.
    assert_eq!(b.created_ancestor(), Some(g.path("p/b").as_path()));
    let pid = g.spawn("exec sleep 100");
    b.add_task(pid).unwrap();
    // A sub-cgroup made inside the container is removed with it.
    for m in all_mounts() {
        fs::create_dir(m.join(rel(&g.path("p/a/inner")))).unwrap();
    }
    let top = g.top.clone();
    let pids_dir = |sub: &str| {
        Path::new(CGROUP_ROOT)
            .join("pids")
            .join(rel(&top.join(sub)))
    };
    remove_settled(&a);
    // The shared parent stays while b lives.
    assert!(!pids_dir("p/a").exists());
    assert!(pids_dir("p").is_dir());
    remove_settled(&b);
    let _ = g.children[0].wait();
    // b did not create p: it stays.
    assert!(!pids_dir("p/b").exists());
    assert!(pids_dir("p").is_dir());
    // With the ancestor record restored (as saved in a container state),
    // the now-empty parents go.
    Cgroup::open(&g.path("p/gone"))
        .unwrap()
        .with_created_ancestor(Some(&g.top))
        .remove()
        .unwrap();
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());
}

/// Sub-cgroups made below the cgroup (as a container's systemd or docker
/// does), nested and in every hierarchy, are removed with it, and being
/// empty they are not taken for processes: `in_use_elsewhere` is not
/// asked. With someone else's process in one hierarchy's sub-cgroup, that
/// hierarchy stays and every other one is removed (before, the first busy
/// hierarchy stopped the removal of all later ones).
#[test]
fn remove_takes_sub_cgroups_in_every_hierarchy() {
    require_root!();
    let mut g = Guard::new();
    let make = |g: &Guard| {
        let cg = unclaimed(Cgroup::create(&g.path("c")).unwrap());
        for m in all_mounts() {
            fs::create_dir_all(m.join(rel(&g.path("c/sub/inner")))).unwrap();
        }
        cg
    };
    let cg = make(&g);
    assert!(
        cg.remove_unless(|| panic!("asked with no process in the tree"))
            .unwrap()
    );
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());

    let cg = make(&g);
    let pid = g.spawn("exec sleep 100");
    let held = all_mounts().remove(0);
    let inner = held.join(rel(&g.path("c/sub/inner")));
    write_file(&inner.join("cgroup.procs"), &pid.to_string()).unwrap();
    assert!(!cg.remove_unless(|| true).unwrap());
    assert!(g.children[0].try_wait().unwrap().is_none(), "killed");
    assert_eq!(g.leftovers(), vec![held.join(rel(&g.top))]);
    assert!(inner.is_dir());
    let _ = g.children[0].kill();
    let _ = g.children[0].wait();
    remove_settled(&cg);
    assert!(g.leftovers().is_empty(), "left: {:?}", g.leftovers());
}

#[test]
fn default_parent_stays_and_children_inherit_cpuset() {
    require_root!();
    // Uses the real /sprout parent; only touches our own leaf under it.
    let id = format!(
        "test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let path = Cgroup::path_for(None, &id);
    let _g = Guard {
        top: path.clone(),
        children: Vec::new(),
    };
    let cg = unclaimed(Cgroup::create(&path).unwrap());
    // The shared parent is never ours: only the leaf is recorded.
    assert_eq!(cg.created_ancestor(), Some(path.as_path()));
    let opened = Cgroup::open(&path)
        .unwrap()
        .with_created_ancestor(Some(Path::new(DEFAULT_PARENT)));
    assert_eq!(opened.created_ancestor(), None);
    // A task can join: the leaf's cpuset has cpus and mems (inherited
    // through cgroup.clone_children, or filled on ENOSPC).
    let mut child = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = child.id() as i32;
    opened.add_task(pid).unwrap();
    assert!(!read(v1_file(&path, "cpuset", "cpuset.cpus")).is_empty());
    assert!(!read(v1_file(&path, "cpuset", "cpuset.mems")).is_empty());
    assert_eq!(opened.pids().unwrap(), vec![pid]);
    // /sprout is set up so that children inherit cpus and mems (checked
    // while our leaf keeps it: an older sprout running in parallel may
    // remove it when it is empty).
    let parent = Path::new(CGROUP_ROOT).join("cpuset").join("sprout");
    assert_eq!(read(parent.join("cgroup.clone_children")), "1");
    // remove with a live task takes the kill path.
    remove_settled(&opened);
    let _ = child.wait();
    assert!(!cg.exists());
}

#[test]
fn setup_matches_libcgroups() {
    use libcgroups::common::CgroupSetup as L;
    let ours = setup().unwrap();
    let theirs = match libcgroups::common::get_cgroup_setup().unwrap() {
        L::Legacy => CgroupSetup::Legacy,
        L::Hybrid => CgroupSetup::Hybrid,
        L::Unified => CgroupSetup::Unified,
    };
    assert_eq!(ours, theirs);
}

#[test]
fn mountinfo_unescape() {
    assert_eq!(
        unescape_mount("/sys/fs/cgroup/a\\040b"),
        "/sys/fs/cgroup/a b"
    );
    assert_eq!(unescape_mount("/x\\é12"), "/x\\é12");
    assert_eq!(unescape_mount("/x\\04"), "/x\\04");
}

/// The layout parser reads only mounts at or below /sys/fs/cgroup (not
/// `/sys/fs/cgroupx`), unescapes mount points (`\040` is a space), takes
/// the controllers from the super options (named hierarchies as
/// `name=...`; release_agent and the flags left out) and tells a Hybrid
/// host by the tmpfs root and the cgroup2 `unified`.
#[test]
fn layout_from_mountinfo_text() {
    let info = "\
22 1 0:21 / /proc rw,relatime - proc proc rw
30 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpuacct,cpu
34 30 0:30 / /sys/fs/cgroup/my\\040pids rw,nosuid shared:15 - cgroup cgroup rw,pids,clone_children
35 30 0:31 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd,release_agent=/x
36 1 0:32 / /sys/fs/cgroupx rw - cgroup cgroup rw,memory
37 30 0:29 / /sys/fs/cgroup/cpu rw shared:14 - cgroup cgroup rw,cpu,cpuacct
";
    let l = layout_from(info).unwrap();
    assert!(l.setup == CgroupSetup::Hybrid);
    assert_eq!(l.v2, Some(PathBuf::from("/sys/fs/cgroup/unified")));
    let v1: Vec<(Vec<&str>, &str)> =
        l.v1.iter()
            .map(|(c, p)| (c.iter().map(String::as_str).collect(), p.to_str().unwrap()))
            .collect();
    assert_eq!(
        v1,
        vec![
            (vec!["cpu", "cpuacct"], "/sys/fs/cgroup/cpu,cpuacct"),
            (vec!["pids"], "/sys/fs/cgroup/my pids"),
            (vec!["name=systemd"], "/sys/fs/cgroup/systemd"),
        ]
    );
    let unified = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    assert!(layout_from(unified).unwrap().setup == CgroupSetup::Unified);
    assert!(layout_from("22 1 0:21 / /proc rw - proc proc rw\n").is_err());
}

/// A hook joins the cgroups another process is in: each `/proc/PID/cgroup`
/// line maps to its hierarchy's mount (controllers compared as sets),
/// `tasks` in v1, `cgroup.procs` in cgroup2; named hierarchies and a
/// Hybrid host's cgroup2 are optional; unmounted hierarchies are passed
/// over; paths are cleaned (`..` cannot climb out of a mount).
#[test]
fn join_paths_map_proc_cgroup_lines_to_mounts() {
    let info = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpuacct,cpu
35 30 0:31 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd
";
    let text = "\
12:net_cls:/elsewhere
11:name=systemd:/sprout/c1
4:cpu,cpuacct:/sprout/c1
3:cpuacct,cpu:/a:b/../../../x
0::/sprout/c1
";
    let got = join::join_paths(text, &layout_from(info).unwrap());
    let want = [
        ("/sprout/c1", "/sys/fs/cgroup/systemd/sprout/c1/tasks", true),
        (
            "/sprout/c1",
            "/sys/fs/cgroup/cpu,cpuacct/sprout/c1/tasks",
            false,
        ),
        ("/x", "/sys/fs/cgroup/cpu,cpuacct/x/tasks", false),
        (
            "/sprout/c1",
            "/sys/fs/cgroup/unified/sprout/c1/cgroup.procs",
            true,
        ),
    ];
    let got: Vec<(&str, &str, bool)> = got
        .iter()
        .map(|(c, f, o)| (c.to_str().unwrap(), f.to_str().unwrap(), *o))
        .collect();
    assert_eq!(got, want);
    // Unified: only the cgroup2 line, and it is required.
    let unified = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    let got = join::join_paths(text, &layout_from(unified).unwrap());
    assert_eq!(
        got,
        vec![(
            PathBuf::from("/sprout/c1"),
            PathBuf::from("/sys/fs/cgroup/sprout/c1/cgroup.procs"),
            false
        )]
    );
}

/// The join files of this test process are the cgroups it is in.
#[test]
fn join_files_of_self_open() {
    let files = join_files_of(std::process::id() as i32).unwrap();
    assert!(!files.is_empty());
    for f in &files {
        assert!(
            f.path.ends_with("tasks") && f.dir.is_none()
                || f.path.ends_with("cgroup.procs") && f.dir.is_some(),
            "{f:?}"
        );
    }
}
