//! The container's filesystem and namespaces, checked from inside busybox
//! containers run with `sprout run` (and from the host afterwards): /proc,
//! /dev, /sys, masked and read-only paths, the read-only rootfs, bind
//! mounts, mount targets through symlinks (no escape to the host), user
//! namespaces, and the stub binary (static, started from a sealed memfd).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{busybox, run, run_ok, section, sh};
use sprout_systests::serde_json::{Value, json};
use sprout_systests::{Bundle, output, require_root, sprout_bin, sprout_init_bin, unique_id};

/// Mount point -> (fstype, per-mount options) from mountinfo text.
fn mount_table(mountinfo: &str) -> HashMap<String, (String, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            Some((
                f.get(4)?.to_string(),
                (f.get(sep + 1)?.to_string(), f.get(5)?.to_string()),
            ))
        })
        .collect()
}

fn push_mount(c: &mut Value, m: Value) {
    c["mounts"]
        .as_array_mut()
        .expect("mounts is a list")
        .push(m);
}

#[test]
fn proc_shows_the_containers_pid_namespace() {
    require_root!();
    let id = unique_id("pidns");
    let bundle = busybox(&id, |c| {
        sh(
            c,
            "echo $$; tr '\\0' ' ' </proc/1/cmdline; echo; ps -o pid,comm; readlink /proc/self/ns/pid",
        );
    });
    let out = run_ok(&bundle, &id);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "{out}");
    assert!(lines[1].starts_with("sh -c echo $$;"), "{out}");
    // ps sees only the container: sh (pid 1) and ps itself.
    let pids: Vec<&str> = lines[3..lines.len() - 1]
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(lines[2].split_whitespace().next(), Some("PID"), "{out}");
    assert_eq!(pids.len(), 2, "{out}");
    assert_eq!(pids[0], "1", "{out}");
    let host = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_ne!(
        lines[lines.len() - 1],
        host.to_str().unwrap(),
        "same pid namespace as the host:\n{out}"
    );
}

#[test]
fn dev_has_the_default_devices_and_symlinks() {
    require_root!();
    let id = unique_id("dev");
    let bundle = busybox(&id, |c| {
        sh(
            c,
            "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; \
             for l in fd stdin stdout stderr ptmx; do echo \"/dev/$l -> $(readlink /dev/$l)\"; done; \
             head -c 3 /dev/zero | wc -c; head -c 16 /dev/urandom | wc -c; echo gone > /dev/null && echo null-ok; \
             echo x 2>/dev/null > /dev/full || echo full-enospc",
        );
    });
    assert_eq!(
        run_ok(&bundle, &id),
        "/dev/null character special file 1:3 666\n\
         /dev/zero character special file 1:5 666\n\
         /dev/full character special file 1:7 666\n\
         /dev/random character special file 1:8 666\n\
         /dev/urandom character special file 1:9 666\n\
         /dev/tty character special file 5:0 666\n\
         /dev/fd -> /proc/self/fd\n\
         /dev/stdin -> /proc/self/fd/0\n\
         /dev/stdout -> /proc/self/fd/1\n\
         /dev/stderr -> /proc/self/fd/2\n\
         /dev/ptmx -> pts/ptmx\n\
         3\n16\nnull-ok\nfull-enospc\n"
    );
}

/// The default spec's mounts: proc, /dev tmpfs with devpts, shm and mqueue,
/// a read-only sysfs.
#[test]
fn default_mounts_have_the_right_types_and_flags() {
    require_root!();
    let id = unique_id("mounts");
    let bundle = busybox(&id, |c| {
        sh(
            c,
            "cat /proc/self/mountinfo; echo ==touch-sys; touch /sys/x 2>&1; \
             echo ==shm; echo data > /dev/shm/f && cat /dev/shm/f; echo ==pts; ls /dev/pts",
        );
    });
    let out = run_ok(&bundle, &id);
    let table = mount_table(&out);
    let want = [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ];
    for (mp, fstype) in want {
        let (t, _) = table
            .get(mp)
            .unwrap_or_else(|| panic!("{mp} is not mounted:\n{out}"));
        assert_eq!(t, fstype, "{mp}:\n{out}");
    }
    let opts = |mp: &str| table[mp].1.split(',').map(String::from).collect::<Vec<_>>();
    assert!(
        opts("/sys").contains(&"ro".to_string()),
        "/sys not read-only:\n{out}"
    );
    for o in ["nosuid", "noexec", "nodev"] {
        assert!(
            opts("/sys").contains(&o.to_string()),
            "/sys without {o}:\n{out}"
        );
        assert!(
            opts("/dev/shm").contains(&o.to_string()),
            "/dev/shm without {o}:\n{out}"
        );
    }
    assert!(opts("/dev").contains(&"nosuid".to_string()), "{out}");
    assert_eq!(
        section(&out, "==touch-sys"),
        "touch: /sys/x: Read-only file system\n",
        "{out}"
    );
    assert_eq!(section(&out, "==shm"), "data\n", "{out}");
    assert_eq!(section(&out, "==pts"), "ptmx\n", "{out}");
}

/// maskedPaths: a file becomes /dev/null (char 1:3, empty), a directory
/// an empty read-only tmpfs; both for /proc entries of the default spec
/// (those this host has) and for rootfs paths added here.
#[test]
fn masked_paths_hide_files_and_directories() {
    require_root!();
    let id = unique_id("masked");
    let bundle = busybox(&id, |c| {
        let masked = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        masked.push(json!("/etc/group"));
        masked.push(json!("/home"));
        masked.push(json!("/does/not/exist"));
        c["root"]["readonly"] = json!(false);
        sh(
            c,
            "for f in /etc/group /proc/kcore /proc/keys /proc/timer_list; do \
               [ -e $f ] || { echo $f absent; continue; }; \
               echo $f $(stat -c '%F %t:%T' $f) $(wc -c < $f); done; \
             for d in /home /proc/acpi /sys/firmware; do \
               [ -e $d ] || { echo $d absent; continue; }; \
               echo $d $(ls -A $d | wc -l) $(touch $d/x 2>&1); done",
        );
    });
    let out = run_ok(&bundle, &id);
    let mut want = String::new();
    let null = "character special file 1:3 0";
    want += &format!("/etc/group {null}\n");
    for f in ["/proc/kcore", "/proc/keys", "/proc/timer_list"] {
        if Path::new(f).exists() {
            want += &format!("{f} {null}\n");
        } else {
            want += &format!("{f} absent\n");
        }
    }
    for d in ["/home", "/proc/acpi", "/sys/firmware"] {
        if d == "/home" || Path::new(d).exists() {
            want += &format!("{d} 0 touch: {d}/x: Read-only file system\n");
        } else {
            want += &format!("{d} absent\n");
        }
    }
    assert_eq!(out, want);
    // The host's files are untouched.
    assert!(
        std::fs::read_to_string(bundle.rootfs().join("etc/group"))
            .unwrap()
            .contains("extra:x:2000:demo")
    );
    assert!(bundle.rootfs().join("home/demo").is_dir());
}

/// readonlyPaths: /proc/sys (default spec) cannot be written; a rootfs
/// directory added here is read-only while the rest of the rootfs is not.
#[test]
fn readonly_paths() {
    require_root!();
    let id = unique_id("ropaths");
    let bundle = busybox(&id, |c| {
        c["linux"]["readonlyPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/home"));
        c["root"]["readonly"] = json!(false);
        sh(
            c,
            "echo other > /proc/sys/kernel/hostname; hostname; \
             touch /home/demo/x; touch /rootfs-is-writable && echo rootfs-ok",
        );
    });
    let out = run(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "sprout\nrootfs-ok\n", "{out}");
    assert_eq!(
        out.stderr_str(),
        "sh: can't create /proc/sys/kernel/hostname: Read-only file system\n\
         touch: /home/demo/x: Read-only file system\n",
        "{out}"
    );
    assert!(bundle.rootfs().join("rootfs-is-writable").is_file());
    assert!(!bundle.rootfs().join("home/demo/x").exists());
}

#[test]
fn readonly_rootfs() {
    require_root!();
    for (readonly, want_out, want_err) in [
        (true, "", "touch: /x: Read-only file system\n"),
        (false, "created\n", ""),
    ] {
        let id = unique_id("rorootfs");
        let bundle = busybox(&id, |c| {
            c["root"]["readonly"] = json!(readonly);
            sh(c, "touch /x && echo created");
        });
        let out = run(&bundle, &id);
        assert_eq!(out.stdout_str(), want_out, "readonly {readonly}:\n{out}");
        assert_eq!(out.stderr_str(), want_err, "readonly {readonly}:\n{out}");
        assert_eq!(out.code(), Some(if readonly { 1 } else { 0 }), "{out}");
        assert_eq!(bundle.rootfs().join("x").exists(), !readonly);
    }
}

/// Bind mounts of a directory (rw, relative source) and a file (ro,
/// absolute source) from the bundle, plus a read-only directory; the
/// mount points are created in the rootfs.
#[test]
fn bind_mounts_from_the_bundle() {
    require_root!();
    let id = unique_id("bind");
    let bundle = busybox(&id, |_| {});
    let dir = bundle.dir().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("in-dir"), "dir content\n").unwrap();
    let file = bundle.dir().join("file.txt");
    std::fs::write(&file, "file content\n").unwrap();
    let rodir = bundle.dir().join("rodata");
    std::fs::create_dir(&rodir).unwrap();
    std::fs::write(rodir.join("r"), "ro content\n").unwrap();
    bundle.config_mut(|c| {
        push_mount(c, json!({"destination": "/mnt/dir", "type": "bind", "source": "data", "options": ["rbind", "rw"]}));
        push_mount(
            c,
            json!({"destination": "/etc/file.txt", "type": "bind", "source": file, "options": ["bind", "ro"]}),
        );
        push_mount(c, json!({"destination": "/srv/ro", "type": "none", "source": rodir, "options": ["rbind", "ro"]}));
        sh(
            c,
            "cat /mnt/dir/in-dir /etc/file.txt /srv/ro/r; echo from-container > /mnt/dir/new && echo dir-rw; \
             echo x >> /etc/file.txt; touch /srv/ro/x",
        );
    });
    let out = run(&bundle, &id);
    assert_eq!(out.code(), Some(1), "{out}");
    assert_eq!(
        out.stdout_str(),
        "dir content\nfile content\nro content\ndir-rw\n",
        "{out}"
    );
    assert_eq!(
        out.stderr_str(),
        "sh: can't create /etc/file.txt: Read-only file system\ntouch: /srv/ro/x: Read-only file system\n",
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("new")).unwrap(),
        "from-container\n"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "file content\n");
    assert!(!rodir.join("x").exists());
}

/// A mount whose destination goes through a symlink in the rootfs that
/// points at `/` (or climbs with `..`) is resolved inside the rootfs:
/// nothing is created or mounted on the host's /tmp.
#[test]
fn mount_targets_through_symlinks_stay_in_the_rootfs() {
    require_root!();
    let id = unique_id("escape");
    let names: Vec<String> = ["abs", "dotdot", "dotdot-dest"]
        .iter()
        .map(|s| format!("sprout-escape-{id}-{s}"))
        .collect();
    let bundle = busybox(&id, |_| {});
    std::os::unix::fs::symlink("/", bundle.rootfs().join("evil")).unwrap();
    std::os::unix::fs::symlink("../../..", bundle.rootfs().join("evil2")).unwrap();
    let src = bundle.dir().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("marker"), "bound\n").unwrap();
    bundle.config_mut(|c| {
        push_mount(c, json!({"destination": format!("/evil/tmp/{}", names[0]), "type": "tmpfs", "source": "tmpfs"}));
        push_mount(
            c,
            json!({"destination": format!("/evil2/tmp/{}", names[1]), "type": "bind", "source": src, "options": ["bind"]}),
        );
        push_mount(
            c,
            json!({"destination": format!("/tmp/../../../tmp/{}", names[2]), "type": "tmpfs", "source": "tmpfs"}),
        );
        sh(c, "cat /proc/self/mountinfo; echo ==marker; cat /tmp/*-dotdot/marker");
    });
    let host_tmp = |n: &str| common::host_tmp_path(n);
    let out = run(&bundle, &id);
    let host_info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for n in &names {
        assert!(
            !host_tmp(n).exists(),
            "{} was created on the host:\n{out}",
            host_tmp(n).display()
        );
        assert!(
            !host_info.contains(n.as_str()),
            "{n} is mounted on the host"
        );
    }
    assert_eq!(out.code(), Some(0), "{out}");
    // Inside, the mounts are on the container's /tmp (the bind mount shows
    // the bundle's src/) ...
    let table = mount_table(&out.stdout_str());
    for n in &names {
        let mp = format!("/tmp/{n}");
        assert!(
            table.contains_key(&mp),
            "{mp} not mounted in the container:\n{out}"
        );
    }
    assert_eq!(table[&format!("/tmp/{}", names[0])].0, "tmpfs", "{out}");
    assert_eq!(table[&format!("/tmp/{}", names[2])].0, "tmpfs", "{out}");
    assert_eq!(section(&out.stdout_str(), "==marker"), "bound\n", "{out}");
    // ... which is the rootfs's /tmp.
    for n in &names {
        assert!(
            bundle.rootfs().join("tmp").join(n).is_dir(),
            "{n} not created in the rootfs"
        );
    }
}

fn userns(c: &mut Value, maps: Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = maps.clone();
    c["linux"]["gidMappings"] = maps;
}

/// In a user namespace, a bind whose source the container's root (an
/// unprivileged host uid) cannot reach, under a `0700` directory of host
/// root, still mounts: the controller clones it before the namespace, as
/// runc 1.1 opens the sources first (runc's userns.bats "userns with
/// simple mount"). sprout failed with EACCES.
#[test]
fn user_namespace_bind_of_a_source_only_root_can_reach() {
    require_root!();
    let id = unique_id("usernsbind");
    let bundle = busybox(&id, |_| {});
    let private = bundle.dir().join("private");
    let src = private.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "hello\n").unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::create_dir(bundle.rootfs().join("mnt1")).unwrap();
    bundle.config_mut(|c| {
        userns(c, json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
        push_mount(c, json!({"destination": "/mnt1", "type": "bind", "source": src, "options": ["bind", "ro"]}));
        sh(c, "cat /mnt1/f; touch /mnt1/g 2>/dev/null || echo ro");
    });
    assert_eq!(run_ok(&bundle, &id), "hello\nro\n");
}

/// In a user namespace, a bind of a host mount that the host made
/// read-only stays read-only for the container's root, even with
/// CAP_SYS_ADMIN there: the stub binds it from its locked copy (the
/// kernel locks such flags in a less privileged namespace); a clone made
/// by the controller on the host would not be locked (the attack pass on
/// the change above remounted it read-write and wrote through it).
#[test]
fn user_namespace_bind_keeps_the_hosts_read_only() {
    require_root!();
    let id = unique_id("usernsrolock");
    let bundle = busybox(&id, |_| {});
    // Outside the bundle (no mount may be left under it).
    let host = common::host_tmp_path(&id);
    let src = host.join("src");
    let ro = host.join("ro");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(src.join("f"), "orig\n").unwrap();
    std::fs::set_permissions(
        src.join("f"),
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let sh_ok = |cmd: &str| {
        let o = output(Command::new("sh").arg("-c").arg(cmd));
        assert!(o.success(), "{cmd}: {o}");
    };
    sh_ok(&format!(
        "mount --bind {s} {r} && mount -o remount,bind,ro {r}",
        s = src.display(),
        r = ro.display()
    ));
    std::fs::create_dir(bundle.rootfs().join("m")).unwrap();
    bundle.config_mut(|c| {
        userns(c, json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
        for set in ["bounding", "permitted", "effective"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
        push_mount(c, json!({"destination": "/m", "type": "bind", "source": ro, "options": ["bind"]}));
        sh(c, "mount -o remount,bind,rw /m 2>/dev/null && echo remounted; echo x 2>/dev/null > /m/f && echo wrote; echo done");
    });
    let out = run(&bundle, &id);
    let _ = output(Command::new("umount").arg(&ro));
    let f = std::fs::read_to_string(src.join("f")).unwrap();
    let _ = std::fs::remove_dir_all(&host);
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout_str(), "done\n", "{out}");
    assert_eq!(f, "orig\n");
}

/// A user namespace mapping container 0..65535 to host 100000..165535:
/// the maps are visible inside, and a file the container's root creates on
/// a bind mount is owned by host uid 100000.
#[test]
fn user_namespace_with_a_shifted_mapping() {
    require_root!();
    let id = unique_id("userns");
    let bundle = busybox(&id, |_| {});
    let shared = bundle.dir().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    // The rootfs belongs to host root, unmapped in the container: its root
    // cannot create the mount point itself (as with runc).
    std::fs::create_dir(bundle.rootfs().join("shared")).unwrap();
    bundle.config_mut(|c| {
        userns(c, json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
        push_mount(c, json!({"destination": "/shared", "type": "bind", "source": shared, "options": ["bind"]}));
        sh(c, "cat /proc/self/uid_map /proc/self/gid_map; id; touch /shared/f; stat -c %u:%g /bin/busybox");
    });
    let out = run_ok(&bundle, &id);
    let norm: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    // Host root (the owner of the rootfs files) is unmapped: the overflow id.
    assert_eq!(
        norm,
        [
            "0 100000 65536",
            "0 100000 65536",
            "uid=0(root) gid=0(root)",
            "65534:65534"
        ],
        "{out}"
    );
    let meta = std::fs::metadata(shared.join("f")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (100000, 100000));
}

/// Limits in a user namespace. Lowered ones are set by the stub itself,
/// without the `Ready` round trip (`--debug` shows no "until Ready"
/// phase), and read back from /proc/self/limits; a hard limit above the
/// caller's keeps the round trip, since only the controller's `prlimit`
/// may raise it (CAP_SYS_RESOURCE counts in the initial user namespace).
#[test]
fn user_namespace_rlimits() {
    require_root!();
    let own = common::own_limit("Max open files").1;
    let id = unique_id("usernslim");
    let bundle = busybox(&id, |c| {
        userns(
            c,
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        );
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 64, "hard": 128},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
        ]);
        c["process"]["args"] = json!(["cat", "/proc/self/limits"]);
    });
    let out = output(
        sprout_systests::sprout(&["--debug", "run", "--bundle"])
            .arg(bundle.dir())
            .arg(&id),
    );
    common::assert_clean(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    let limits = out.stdout_str();
    let row = |label: &str| -> Vec<String> {
        let line = limits
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label}:\n{out}"));
        line[label.len()..]
            .split_whitespace()
            .take(2)
            .map(String::from)
            .collect()
    };
    assert_eq!(row("Max open files"), ["64", "128"], "{out}");
    assert_eq!(row("Max core file size"), ["0", "4096"], "{out}");
    assert!(
        !out.stderr_str().contains("until Ready"),
        "lowered limits took the round trip:\n{out}"
    );

    // Above the caller's hard limit: the controller's prlimit at `Ready`.
    let Some(hard) = own else {
        eprintln!("!!!!! SKIPPED the raising half: the open-files hard limit is unlimited here");
        return;
    };
    let id = unique_id("usernsraise");
    let bundle = busybox(&id, |c| {
        userns(
            c,
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        );
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 64, "hard": hard + 1}]);
        c["process"]["args"] = json!(["true"]);
    });
    let out = output(
        sprout_systests::sprout(&["--debug", "run", "--bundle"])
            .arg(bundle.dir())
            .arg(&id),
    );
    common::assert_clean(&bundle, &id);
    if common::have_cap(24) {
        assert_eq!(out.code(), Some(0), "{out}");
        assert!(out.stderr_str().contains("until Ready"), "{out}");
    } else {
        assert_ne!(out.code(), Some(0), "{out}");
        assert!(
            out.stderr_str().contains(&format!(
                "process.rlimits[0] RLIMIT_NOFILE: prlimit (hard limit {} is above sprout's own {hard}; raising it needs CAP_SYS_RESOURCE)",
                hard + 1
            )),
            "{out}"
        );
    }
}

/// The identity mapping of the first 65536 ids, with uid 1000 inside.
#[test]
fn user_namespace_identity_mapping() {
    require_root!();
    let id = unique_id("userns0");
    let bundle = busybox(&id, |c| {
        userns(c, json!([{"containerID": 0, "hostID": 0, "size": 65536}]));
        common::demo_user(c);
        sh(c, "cat /proc/self/uid_map; id; readlink /proc/self/ns/user");
    });
    let out = run_ok(&bundle, &id);
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines[..2],
        [
            "0 0 65536",
            "uid=1000(demo) gid=1000(demo) groups=2000(extra)"
        ],
        "{out}"
    );
    let host = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert_ne!(lines[2], host.to_str().unwrap(), "{out}");
}

/// A foreground `run` with a new user namespace starts its stub before
/// the plan is computed, as without one (`--debug` names the phase): the
/// child is cloned into the user and pid namespaces, gets its id maps
/// at once, and the stub makes the mount, uts, ipc and network
/// namespaces as their owner while the controller computes the plan. So
/// the container's root may set its hostname and mount a tmpfs (both need
/// CAP_SYS_ADMIN in the namespace's owner), and `lo` is up.
#[test]
fn user_namespace_run_starts_the_stub_before_the_plan() {
    require_root!();
    let id = unique_id("usernsearly");
    let bundle = busybox(&id, |c| {
        common::add_user_namespace(c);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
        sh(
            c,
            "cat /proc/self/uid_map /proc/self/gid_map; id; hostname renamed && hostname; \
             mount -t tmpfs t /tmp && echo mounted; cat /sys/class/net/lo/operstate 2>/dev/null \
             || ip link show lo | grep -c UP",
        );
    });
    let out = output(
        sprout_systests::sprout(&["--debug", "run", "--bundle"])
            .arg(bundle.dir())
            .arg(&id),
    );
    common::assert_clean(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    let lines: Vec<String> = out
        .stdout_str()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines[..5],
        [
            "0 100000 65536",
            "0 100000 65536",
            "uid=0(root) gid=0(root)",
            "renamed",
            "mounted"
        ],
        "{out}"
    );
    assert!(
        matches!(
            lines.get(5).map(String::as_str),
            Some("unknown" | "up" | "1")
        ),
        "{out}"
    );
    assert!(
        out.stderr_str()
            .contains("compute plan (while the stub makes its namespaces)"),
        "the plan was computed before the clone:\n{out}"
    );
}

/// Id maps the kernel would refuse with a bare EINVAL (two ranges
/// overlapping in the container's ids, or in the host's) fail the `run`
/// with one line naming both entries, before anything is started (the
/// early start writes the maps before the plan exists: these are checked
/// first), and leave nothing behind. They gave `linux.uidMappings:
/// writing /proc/PID/uid_map: Invalid argument (EINVAL)`.
#[test]
fn user_namespace_overlapping_id_maps_are_refused() {
    require_root!();
    let id = unique_id("usernsoverlap");
    let bundle = busybox(&id, |c| {
        common::add_user_namespace(c);
        c["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": 100000, "size": 65536},
            {"containerID": 10, "hostID": 300000, "size": 10}
        ]);
        c["process"]["args"] = json!(["true"]);
    });
    let fails = |want: &str| {
        let out = output(
            sprout_systests::sprout(&["run", "--bundle"])
                .arg(bundle.dir())
                .arg(&id),
        );
        common::assert_clean(&bundle, &id);
        assert_eq!(out.code(), Some(1), "{out}");
        assert_eq!(out.stderr_str(), format!("sprout: {want}\n"), "{out}");
    };
    fails("linux.uidMappings[1]: container ids 10-19 overlap linux.uidMappings[0] (0-65535)");
    bundle.config_mut(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([
            {"containerID": 0, "hostID": 100000, "size": 65536},
            {"containerID": 70000, "hostID": 165535, "size": 10}
        ]);
    });
    fails(
        "linux.gidMappings[1]: host ids 165535-165544 overlap linux.gidMappings[0] (100000-165535)",
    );
}

/// The stub is a static executable: no interpreter, no dynamic section.
#[test]
fn stub_is_static() {
    let stub = sprout_init_bin();
    if !stub.is_file() {
        eprintln!(
            "!!!!! SKIPPED stub_is_static: no stub at {}",
            stub.display()
        );
        return;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(readelf) = std::env::split_paths(&path)
        .map(|d| d.join("readelf"))
        .find(|p| p.is_file())
    else {
        eprintln!("!!!!! SKIPPED stub_is_static: no readelf in PATH (apt-get install binutils)");
        return;
    };
    let readelf = |flag: &str| output(Command::new(&readelf).arg(flag).arg(&stub));
    let h = readelf("-h");
    assert!(h.success(), "{h}");
    let ty = h
        .stdout_str()
        .lines()
        .find(|l| l.trim_start().starts_with("Type:"))
        .unwrap_or_default()
        .to_string();
    assert!(ty.contains("EXEC"), "not a static EXEC: {ty}");
    let l = readelf("-l");
    assert!(l.success() && !l.stdout_str().contains("INTERP"), "{l}");
    let d = readelf("-d");
    assert!(
        d.stdout_str().contains("There is no dynamic section"),
        "{d}"
    );
}

/// CVE-2019-5736: the container cannot write to the host's stub binary
/// (it is started from a sealed memfd); writes through /proc/1/exe and
/// /proc/self/exe, and an interpreter of `#!/proc/self/exe`, leave both the
/// stub next to `sprout` and `SPROUT_INIT_BIN` unchanged.
#[test]
fn container_cannot_overwrite_the_stub() {
    require_root!();
    let stubs = [
        sprout_bin().with_file_name("sprout-init"),
        sprout_init_bin(),
    ];
    let before: Vec<String> = stubs
        .iter()
        .filter(|s| s.is_file())
        .map(|s| common::sha256(s))
        .collect();
    assert!(!before.is_empty(), "no stub binary found");
    // A full copy of the rootfs: the container may try to write its files.
    let bundle = Bundle::busybox();
    let id = unique_id("cve");
    bundle.config_mut(|c| {
        c["root"]["readonly"] = json!(false);
        common::push_env(c, &format!("{}={id}", common::MARKER));
        sh(
            c,
            "for f in /proc/1/exe /proc/self/exe; do echo evil >> $f; echo evil > $f; done 2>/dev/null; \
             /evil.sh; exit 0",
        );
    });
    std::fs::write(bundle.rootfs().join("evil.sh"), "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(
        bundle.rootfs().join("evil.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = run(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    let after: Vec<String> = stubs
        .iter()
        .filter(|s| s.is_file())
        .map(|s| common::sha256(s))
        .collect();
    assert_eq!(before, after, "the stub binary changed:\n{out}");
    // Also run the script as the container process itself: the stub execs
    // it, and the kernel's `/proc/self/exe` is then the stub's memfd.
    let id = unique_id("cve");
    bundle.config_mut(|c| {
        c["process"]["env"] = json!([format!("{}={id}", common::MARKER)]);
        c["process"]["args"] = json!(["/evil.sh"]);
    });
    let out = run(&bundle, &id);
    // The interpreter really was the stub (which then finds no plan).
    assert!(out.stderr_str().contains("sprout-init"), "{out}");
    let after: Vec<String> = stubs
        .iter()
        .filter(|s| s.is_file())
        .map(|s| common::sha256(s))
        .collect();
    assert_eq!(before, after, "the stub binary changed:\n{out}");
    // The busybox the container ran is still intact too.
    assert!(
        bundle
            .rootfs()
            .join("bin/busybox")
            .metadata()
            .unwrap()
            .len()
            > 100_000
    );
}

/// A new cgroup namespace is rooted at the container's own cgroup: the
/// controller joins the stub to the cgroup first and only then unshares
/// CLONE_NEWCGROUP (runc's order), so every hierarchy reads "/" inside
/// while the host sees the stub under the container's cgroup path.
#[test]
fn cgroup_namespace_is_rooted_at_the_containers_cgroup() {
    require_root!();
    let id = unique_id("cgns");
    let bundle = busybox(&id, |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        if !ns.iter().any(|n| n["type"] == "cgroup") {
            ns.push(json!({"type": "cgroup"}));
        }
        sh(c, "cat /proc/self/cgroup");
    });
    let out = run_ok(&bundle, &id);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 2, "{out}");
    for l in &lines {
        assert!(
            l.ends_with(":/"),
            "not rooted at the container's cgroup: {l}\n{out}"
        );
    }
}

/// `--debug` lines go where the log goes, as runc's: with `--log FILE
/// --log-format json`, as `{"level":"debug",...}` lines in FILE and none
/// on stderr (sprout printed them on stderr and left the log without
/// them); without `--log`, on stderr. The ambient capabilities `runc spec`
/// lists without inheritable ones are dropped silently, as runc's are
/// (a warning came with every run of such a config, on the container's
/// stderr), and named among the debug lines.
#[test]
fn debug_lines_follow_the_log_and_ambient_is_quiet() {
    require_root!();
    let id = unique_id("dbglog");
    let bundle = busybox(&id, |c| {
        c["process"]["capabilities"]["ambient"] = json!(["CAP_KILL", "CAP_AUDIT_WRITE"]);
        c["process"]["capabilities"]["inheritable"] = json!([]);
        c["process"]["args"] = json!(["true"]);
    });
    let out = output(
        sprout_systests::sprout(&["run", "--bundle"])
            .arg(bundle.dir())
            .arg(&id),
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stderr_str(), "", "no warning for runc's ambient set");
    let log = bundle.dir().join("log.json");
    let id = unique_id("dbglog");
    let out = output(
        sprout_systests::sprout(&["--debug", "--log"])
            .arg(&log)
            .args(["--log-format", "json", "run", "--bundle"])
            .arg(bundle.dir())
            .arg(&id),
    );
    common::assert_clean(&bundle, &id);
    assert!(out.success(), "{out}");
    assert!(!out.stderr_str().contains("debug"), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| sprout_systests::serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["level"] == "debug"), "{text}");
    assert!(
        lines.iter().any(|l| l["msg"]
            .as_str()
            .is_some_and(|m| m.contains("ambient") && m.contains("CAP_KILL"))),
        "{text}"
    );
    let id = unique_id("dbglog");
    let out = output(
        sprout_systests::sprout(&["--debug", "run", "--bundle"])
            .arg(bundle.dir())
            .arg(&id),
    );
    assert!(out.success(), "{out}");
    assert!(out.stderr_str().contains("sprout: debug: "), "{out}");
}
