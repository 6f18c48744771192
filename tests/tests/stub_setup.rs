//! What the stub's shortened setup paths produce, read back inside real
//! containers: `lo` brought up with one ioctl, the v1 cgroup hierarchies
//! (cloned with their attributes by open_tree_attr where the kernel has
//! it) read-only, nosuid, nodev, noexec and private, like any other
//! read-only bind, in a writable tmpfs without the hybrid host's cgroup2,
//! as runc has them; mount targets created below a fresh tmpfs; and the
//! stub's footprint while it waits in `created` (issue 6: at most 64 KiB
//! resident).

mod common;
mod lifecycle_util;

use common::{busybox, run, run_ok, sh};
use lifecycle_util::{Rt, sh_bundle};
use sprout_systests::serde_json::json;
use sprout_systests::{output, require_root, sprout_init_bin, unique_id};

#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    require_root!();
    let id = unique_id("loup");
    let b = busybox(&id, |c| {
        sh(c, "cat /sys/class/net/lo/flags /sys/class/net/lo/operstate")
    });
    // IFF_UP | IFF_LOOPBACK; the loopback device reports "unknown".
    assert_eq!(run_ok(&b, &id), "0x9\nunknown\n");
}

/// Whether this host lacks a cgroup v1 memory hierarchy (the tests of the
/// v1 `cgroup` mount are skipped then, loudly).
fn no_v1_memory() -> bool {
    let none = !std::path::Path::new("/sys/fs/cgroup/memory").is_dir();
    if none {
        eprintln!("!!!!! SKIPPED: no cgroup v1 memory hierarchy on this host");
    }
    none
}

/// A busybox bundle running `script`, with `sprout spec`'s `cgroup` mount,
/// which is read-only (as runc's spec: checked here).
fn ro_cgroup_bundle(id: &str, script: &str) -> sprout_systests::Bundle {
    busybox(id, |c| {
        let m = c["mounts"].as_array().unwrap();
        assert!(
            m.iter().any(|m| m["type"] == "cgroup"
                && m["options"].as_array().unwrap().contains(&json!("ro")))
        );
        sh(c, script);
    })
}

#[test]
fn cgroup_hierarchies_are_read_only_private_binds() {
    require_root!();
    if no_v1_memory() {
        return;
    }
    let id = unique_id("cgro");
    let b = ro_cgroup_bundle(
        &id,
        "grep ' /sys/fs/cgroup/memory ' /proc/self/mountinfo | cut -d' ' -f6,7; \
             touch /sys/fs/cgroup/memory/x 2>/dev/null || echo read-only; \
             test -r /sys/fs/cgroup/memory/memory.limit_in_bytes && echo readable",
    );
    // Field 7 is the first optional field or the "-" separator: no
    // "shared:"/"master:" tag, the bind is private.
    assert_eq!(
        run_ok(&b, &id),
        "ro,nosuid,nodev,noexec,relatime -\nread-only\nreadable\n"
    );
}

/// The v1 hierarchies under the container's `/sys/fs/cgroup` are its own
/// cgroups (the memory limit of the config reads back, the cgroup
/// namespace shows them as `/`), read-only, nosuid, nodev and noexec,
/// with the propagation of rootfsPropagation: a slave of the host's mount
/// (`master:N`) when that one is shared and the propagation is the default
/// `rslave` or `rshared`, private with `rprivate`. These binds are cloned by the
/// controller once the cgroup exists (`CGROUP_TREE`), except with `shared`
/// (and in a user namespace), where the stub clones them: both ways must
/// read the same. The host side runs in a private mount namespace whose
/// memory hierarchy is made shared first (`unshare -m`), so that the
/// slave relation is visible.
#[test]
fn cgroup_binds_are_the_containers_own_with_the_rootfs_propagation() {
    require_root!();
    if no_v1_memory() {
        return;
    }
    for (prop, tag) in [
        (None, "master:"),
        (Some("rslave"), "master:"),
        (Some("rprivate"), "-"),
        (Some("private"), "-"),
        // Under a shared root a slave of the host's, never its peer (see
        // linux_mounts' cgroup_binds_are_not_the_hosts_peers_under_a_shared_root).
        (Some("rshared"), "master:"),
    ] {
        let id = unique_id("cgtree");
        let b = busybox(&id, |c| {
            if let Some(p) = prop {
                c["linux"]["rootfsPropagation"] = json!(p);
            }
            c["linux"]["resources"]["memory"] = json!({"limit": 50331648});
            sh(
                c,
                "grep ' /sys/fs/cgroup/memory ' /proc/self/mountinfo | cut -d' ' -f4,6,7; \
                 cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                 touch /sys/fs/cgroup/memory/x 2>/dev/null || echo read-only",
            );
        });
        let out = output(
            std::process::Command::new("unshare")
                .args(["-m", "sh", "-c"])
                .arg("mount --make-shared /sys/fs/cgroup/memory && exec \"$0\" \"$@\"")
                .arg(sprout_systests::sprout_bin())
                .args(["run", "--bundle"])
                .arg(b.dir())
                .arg(&id)
                .stdin(std::process::Stdio::null()),
        );
        assert_eq!(out.code(), Some(0), "{prop:?}: {out}");
        let text = out.stdout_str();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{prop:?}: {text}");
        let fields: Vec<&str> = lines[0].split(' ').collect();
        assert_eq!(
            fields[..2],
            ["/", "ro,nosuid,nodev,noexec,relatime"],
            "{prop:?}: {text}"
        );
        assert!(fields[2].starts_with(tag), "{prop:?}: {text}");
        assert_eq!(lines[1..], ["50331648", "read-only"], "{prop:?}: {text}");
    }
}

/// The container's mount table lists the `/sys/fs/cgroup` tmpfs before
/// the hierarchies bound into it (the kernel lists mounts in the order
/// they were made, and the controller clones those binds: it waits for
/// the stub to have made the tmpfs), so an unmount in the reverse order
/// of /proc/mounts, as shutdown scripts do, takes them all. Ten runs: the
/// order once depended on timing.
#[test]
fn the_cgroup_tmpfs_is_listed_before_its_binds() {
    require_root!();
    if no_v1_memory() {
        return;
    }
    for round in 0..10 {
        let id = unique_id("cgorder");
        let b = busybox(&id, |c| {
            let caps = json!(["CAP_SYS_ADMIN"]);
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set] = caps.clone();
            }
            sh(
                c,
                "grep ' /sys/fs/cgroup' /proc/mounts | cut -d' ' -f2 | head -2; \
                 tac /proc/mounts | grep ' /sys/fs/cgroup' | while read s t r; do \
                 umount $t || echo FAIL $t; done; grep -c ' /sys/fs/cgroup' /proc/mounts",
            );
        });
        let out = run(&b, &id);
        let text = out.stdout_str();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "round {round}: {out}");
        assert_eq!(lines[0], "/sys/fs/cgroup", "round {round}: {out}");
        assert!(
            lines[1].starts_with("/sys/fs/cgroup/"),
            "round {round}: {out}"
        );
        assert_eq!(lines[2], "0", "round {round}: {out}");
    }
}

/// A mount below a read-only `cgroup` mount (a tmpfs at
/// `/sys/fs/cgroup/foo`, after it in the list): its mount point is made in
/// the cgroup tmpfs (sprout used to remount that tmpfs read-only before
/// the later mounts and failed with EROFS). The tmpfs stays writable, as
/// runc 1.1.5 and crun leave it (this test asserted the read-only remount
/// sprout made after the later mounts, until that remount was dropped to
/// match runc: systemd as the container's init makes symlinks there).
#[test]
fn a_mount_below_the_read_only_cgroup_tmpfs() {
    require_root!();
    if no_v1_memory() {
        return;
    }
    let id = unique_id("cgbelow");
    let b = busybox(&id, |c| {
        let m = c["mounts"].as_array_mut().unwrap();
        let cg = m
            .iter()
            .find(|m| m["destination"] == "/sys/fs/cgroup")
            .expect("the default config mounts /sys/fs/cgroup");
        assert!(cg["options"].as_array().unwrap().contains(&json!("ro")));
        m.push(json!({"destination": "/sys/fs/cgroup/foo", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        sh(
            c,
            "grep -E ' /sys/fs/cgroup(/foo)? ' /proc/self/mountinfo | cut -d' ' -f5,6; \
             touch /sys/fs/cgroup/foo/x && echo foo-rw; \
             mkdir /sys/fs/cgroup/y && echo cgroup-rw",
        );
    });
    let out = run_ok(&b, &id);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("/sys/fs/cgroup rw,"), "{out}");
    assert!(lines[1].starts_with("/sys/fs/cgroup/foo rw,"), "{out}");
    assert_eq!(&lines[2..], ["foo-rw", "cgroup-rw"], "{out}");
}

/// A later mount that reaches the cgroup tmpfs through a symlink of the
/// rootfs (`/cgl` -> `/sys/fs/cgroup`) covers it with its own options, as
/// in runc. (Attack pass: it used to get sprout's held-back read-only
/// remount of the cgroup tmpfs instead. That remount is gone: runc 1.1.5
/// leaves the tmpfs writable, `ro` or not, so the first line, the cgroup
/// tmpfs of the default `ro` entry, now reads `rw`.)
#[test]
fn a_mount_through_a_symlink_to_the_cgroup_tmpfs() {
    require_root!();
    if no_v1_memory() {
        return;
    }
    let id = unique_id("cgsym");
    let b = busybox(&id, |c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/cgl", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        sh(
            c,
            "grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f6,10,11",
        );
    });
    std::os::unix::fs::symlink("/sys/fs/cgroup", b.rootfs().join("cgl")).unwrap();
    let out = run_ok(&b, &id);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("rw,") && lines[0].contains("mode=755"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("rw,") && lines[1].contains("size=1024k"),
        "{out}"
    );
}

/// The v1 `cgroup` mount of the default config (`ro`) as systemd, the
/// container's init under podman's `--systemd`, needs it on a hybrid host:
/// no cgroup2 mount (sprout used to bind the host's `unified` read-only
/// there too, where runc binds only the v1 hierarchies; systemd then took
/// the layout for a hybrid one and failed to make its `init.scope`), and
/// a writable tmpfs (sprout used to remount it read-only with `ro`, where
/// runc 1.1.5 leaves it writable; systemd makes its `net_cls`-style
/// controller symlinks there). The hierarchies themselves stay read-only.
#[test]
fn the_v1_cgroup_mount_has_no_cgroup2_and_a_writable_tmpfs() {
    require_root!();
    if no_v1_memory() {
        return;
    }
    let id = unique_id("cgsd");
    let b = ro_cgroup_bundle(
        &id,
        "grep -c ' - cgroup2 ' /proc/self/mountinfo; \
             test -e /sys/fs/cgroup/unified || echo no-unified; \
             grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1; \
             ln -s net_cls,net_prio /sys/fs/cgroup/net_cls && echo symlink-made; \
             touch /sys/fs/cgroup/memory/x 2>/dev/null || echo memory-read-only",
    );
    assert_eq!(
        run_ok(&b, &id),
        "0\nno-unified\nrw\nsymlink-made\nmemory-read-only\n"
    );
}

/// Whether `prog` is found in PATH.
fn have(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// The container's `/sys/fs/cgroup*` mounts (mount point, its options and
/// the filesystem type: mountinfo fields 5, 6 and the one after `-`; the
/// optional fields between differ with the propagation) are runc's, side by
/// side on this host, for `sprout spec`'s default `cgroup` entry (`ro`)
/// and for one with `rw`: the same targets (no cgroup2 `unified` on a
/// hybrid host), the same read-only binds and the same writable tmpfs.
/// Skips loudly without runc.
#[test]
fn the_cgroup_mount_matches_runcs() {
    require_root!();
    if !have("runc") {
        eprintln!("!!!!! SKIPPED: no runc in PATH to compare with");
        return;
    }
    for perm in ["ro", "rw"] {
        let id = unique_id("cgrunc");
        let b = busybox(&id, |c| {
            let m = c["mounts"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|m| m["type"] == "cgroup")
                .expect("the default config has a cgroup mount");
            let opts = m["options"].as_array_mut().unwrap();
            opts.retain(|o| o != "ro" && o != "rw");
            opts.push(json!(perm));
            sh(
                c,
                "awk '$5 ~ \"^/sys/fs/cgroup\" { i = 7; while ($i != \"-\") i++; print $5, $6, $(i + 1) }' \
                 /proc/self/mountinfo",
            );
        });
        let ours = run_ok(&b, &id);
        let root = b.dir().join("runc-root");
        let theirs = output(
            std::process::Command::new("runc")
                .arg("--root")
                .arg(&root)
                .args(["run", "--bundle"])
                .arg(b.dir())
                .arg(format!("{id}-runc"))
                .stdin(std::process::Stdio::null()),
        );
        assert_eq!(theirs.code(), Some(0), "runc, {perm}: {theirs}");
        assert!(ours.contains("/sys/fs/cgroup "), "{perm}: {ours}");
        assert_eq!(ours, theirs.stdout_str(), "{perm}: sprout, then runc");
    }
}

/// An explicit `cgroup2` mount on this v1/hybrid host is a cgroup2
/// filesystem (runc's generic mount), not the v1 tmpfs and binds of type
/// `cgroup`; in the container's cgroup namespace its root is the
/// container's own cgroup2 directory.
#[test]
fn an_explicit_cgroup2_mount_on_a_hybrid_host() {
    require_root!();
    if !std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").is_file() {
        eprintln!("!!!!! SKIPPED: not a hybrid host (no /sys/fs/cgroup/unified)");
        return;
    }
    let id = unique_id("cg2");
    let b = busybox(&id, |c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/sys/fs/cgroup/u2", "type": "cgroup2", "source": "cgroup2", "options": ["nosuid", "nodev", "noexec"]}));
        sh(
            c,
            "grep ' /sys/fs/cgroup/u2 ' /proc/self/mountinfo | cut -d' ' -f4,5,9; \
             read p < /sys/fs/cgroup/u2/cgroup.procs && echo procs",
        );
    });
    let out = run_ok(&b, &id);
    assert_eq!(out, "/ /sys/fs/cgroup/u2 cgroup2\nprocs\n", "{out}");
}

#[test]
fn targets_below_a_fresh_tmpfs_are_created() {
    require_root!();
    let id = unique_id("fresh");
    let src = tempfile_dir(&id);
    let b = busybox(&id, |c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]}));
        m.push(json!({"destination": "/data/q", "type": "mqueue", "source": "mqueue"}));
        m.push(json!({"destination": "/data/ro", "type": "bind", "source": src, "options": ["bind", "ro"]}));
        m.push(
            json!({"destination": "/data/rw", "type": "bind", "source": src, "options": ["bind"]}),
        );
        sh(
            c,
            "for d in q ro rw; do grep \" /data/$d \" /proc/self/mountinfo | cut -d' ' -f6; done; \
             cat /data/ro/f /data/rw/f; touch /data/ro/x 2>/dev/null || echo ro-refused; \
             touch /data/rw/y && echo rw-ok",
        );
    });
    let out = run_ok(&b, &id);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("rw,"), "{out}");
    assert!(lines[1].starts_with("ro,"), "{out}");
    assert!(lines[2].starts_with("rw,"), "{out}");
    assert_eq!(&lines[3..], ["in", "in", "ro-refused", "rw-ok"], "{out}");
    assert!(std::path::Path::new(&src).join("y").exists());
    let _ = std::fs::remove_dir_all(&src);
}

/// A host directory with a file `f` ("in"), for bind sources.
fn tempfile_dir(id: &str) -> String {
    let dir = std::env::temp_dir().join(format!("sprout-src-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("f"), "in\n").unwrap();
    dir.to_string_lossy().into_owned()
}

/// The stub waiting in `created` (runc's default spec, a sleeping
/// command) has at most 64 KiB resident (VmRSS, and Pss: its text is a
/// private memfd copy): text, the page(s) of the plan and its stack.
#[test]
fn created_stub_stays_below_64_kib_resident() {
    require_root!();
    let rt = Rt::new("rss");
    let id = unique_id("rss");
    let bundle = sh_bundle(&id, "sleep 60", |_| {});
    // The stub under test (the small one of the `stub` profile), whatever
    // sits next to the controller.
    let mut create = rt.cmd(&["create", "--bundle"]);
    create
        .arg(bundle.dir())
        .arg(&id)
        .env("SPROUT_INIT", sprout_init_bin());
    let out = output(&mut create);
    assert!(out.success(), "create failed:\n{out}");
    let pid = rt.pid(&id);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rt.ok(&["delete", "--force", &id]);
    let kb = |text: &str, key: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in\n{text}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let (rss, pss) = (kb(&status, "VmRSS:"), kb(&rollup, "Pss:"));
    eprintln!("stub in created: VmRSS {rss} kB, Pss {pss} kB");
    assert!(
        rss <= 64 && pss <= 64,
        "VmRSS {rss} kB, Pss {pss} kB:\n{status}"
    );
}
