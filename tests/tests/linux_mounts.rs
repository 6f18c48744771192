//! Mount options beyond run_rootfs: recursive attributes (`rro`,
//! `rnosuid`, ... through mount_setattr(2) on a detached tree), idmapped
//! bind mounts (`uidMappings`/`gidMappings` on a mount, `idmap`/`ridmap`),
//! `linux.rootfsPropagation`, and `linux.devices` (mknod, and bind from the
//! host in a user namespace).

mod common;
mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_one_line_error, busybox, run, run_ok, sh};
use sprout_systests::serde_json::{Value, json};
use sprout_systests::{Bundle, output, require_root, unique_id};

fn push_mount(c: &mut Value, m: Value) {
    c["mounts"].as_array_mut().unwrap().push(m);
}

/// A tmpfs mounted on the host at `path` for the test's duration.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(path: &Path) -> HostMount {
        std::fs::create_dir_all(path).unwrap();
        let out = output(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=1m", "sprout-test"])
                .arg(path),
        );
        assert!(out.success(), "{out}");
        HostMount(path.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = output(Command::new("umount").arg(&self.0));
    }
}

/// `src/` with a file, and a tmpfs submount `src/sub` with a file.
fn source_with_submount(owner: &Bundle) -> (PathBuf, HostMount) {
    let src = owner.dir().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("top"), "top\n").unwrap();
    let m = HostMount::tmpfs(&src.join("sub"));
    std::fs::write(src.join("sub/inner"), "inner\n").unwrap();
    (src, m)
}

const WRITES: &str = "for f in /data/w /data/sub/w; do if touch $f 2>/dev/null; then echo \"$f writable\"; \
                      else echo \"$f read-only\"; fi; done; grep ' /data' /proc/self/mountinfo | cut -d' ' -f5,6";

/// A foreground `run` starts its stub before the plan is computed; a plan
/// that needs a detached mount tree (`rro`) cannot use that stub, which is
/// then killed for a start the usual way (without that restart the bind
/// would fail: the tree's fd is not in the first stub). Either way the
/// container process runs in namespaces of its own and with no signal
/// blocked (the controller blocks the ones it forwards; the stub clears
/// its mask before the exec).
#[test]
fn early_and_restarted_runs_block_no_signal() {
    require_root!();
    let owner = Bundle::empty();
    let (src, _m) = source_with_submount(&owner);
    let script = "grep -E '^SigBlk' /proc/self/status; readlink /proc/self/ns/net; readlink /proc/self/ns/mnt";
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    for options in [json!(["rbind", "ro"]), json!(["rbind", "rro"])] {
        let id = unique_id("sigmask");
        let b = busybox(&id, |c| {
            push_mount(
                c,
                json!({"destination": "/data", "type": "bind", "source": src, "options": options}),
            );
            sh(c, script);
        });
        let out = run_ok(&b, &id);
        assert!(
            out.contains("SigBlk:\t0000000000000000\n"),
            "{options}:\n{out}"
        );
        assert!(
            !out.contains(&*host_net.to_string_lossy()),
            "{options}: host network namespace:\n{out}"
        );
        assert!(
            !out.contains(&*host_mnt.to_string_lossy()),
            "{options}: host mount namespace:\n{out}"
        );
    }
}

/// `rbind` + `rro`: the bind and its submount are read-only; with plain
/// `ro` only the top mount is (the submount stays writable); `rnosuid`
/// and `rnodev` reach the submount too.
#[test]
fn recursive_read_only() {
    require_root!();
    let owner = Bundle::empty();
    let (src, _m) = source_with_submount(&owner);
    for (options, want) in [
        (
            json!(["rbind", "rro"]),
            "/data/w read-only\n/data/sub/w read-only\n",
        ),
        (
            json!(["rbind", "ro"]),
            "/data/w read-only\n/data/sub/w writable\n",
        ),
        (
            json!(["rbind", "rro", "rrw"]),
            "/data/w writable\n/data/sub/w writable\n",
        ),
    ] {
        let id = unique_id("rro");
        let b = busybox(&id, |c| {
            push_mount(
                c,
                json!({"destination": "/data", "type": "bind", "source": src, "options": options}),
            );
            sh(c, WRITES);
        });
        let out = run_ok(&b, &id);
        assert!(out.starts_with(want), "{options}:\n{out}");
        let _ = std::fs::remove_file(src.join("w"));
        let _ = std::fs::remove_file(src.join("sub/w"));
    }
    let id = unique_id("rnosuid");
    let b = busybox(&id, |c| {
        push_mount(
            c,
            json!({"destination": "/data", "type": "bind", "source": src,
                             "options": ["rbind", "rnosuid", "rnodev", "rnoexec"]}),
        );
        sh(c, "grep ' /data/sub ' /proc/self/mountinfo | cut -d' ' -f6");
    });
    let out = run_ok(&b, &id);
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(
            out.trim().split(',').any(|x| x == o),
            "/data/sub without {o}: {out}"
        );
    }
    // `sprout plan` shows the detached tree.
    let plan = output(sprout_systests::sprout(&["plan", "--bundle"]).arg(b.dir()));
    assert!(plan.stdout_str().contains("MOVE_FD"), "{plan}");
}

/// On a fresh (non-bind) mount a recursive attribute is the plain flag.
#[test]
fn recursive_options_on_a_tmpfs() {
    require_root!();
    let out = {
        let id = unique_id("rrotmpfs");
        let b = busybox(&id, |c| {
            push_mount(
                c,
                json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["rro", "rnoexec"]}),
            );
            sh(c, "grep ' /data ' /proc/self/mountinfo | cut -d' ' -f6");
        });
        run_ok(&b, &id)
    };
    let opts: Vec<&str> = out.trim().split(',').collect();
    assert!(opts.contains(&"ro") && opts.contains(&"noexec"), "{out}");
}

/// A relative mount destination, as runc 1.1: mounted below the
/// container's `/` (`data` = `/data`), with one warning line naming the
/// field (sprout used to say nothing).
#[test]
fn relative_destination_warns_and_is_taken_from_root() {
    require_root!();
    let id = unique_id("reldest");
    let b = busybox(&id, |c| {
        push_mount(
            c,
            json!({"destination": "data/x", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
        );
        sh(c, "grep ' /data/x ' /proc/self/mountinfo | cut -d' ' -f5,9");
    });
    let out = run(&b, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "/data/x tmpfs\n", "{out}");
    let n = b.config()["mounts"].as_array().unwrap().len() - 1;
    assert_eq!(
        out.stderr_str(),
        format!(
            "sprout: warning: mounts[{n}].destination \"data/x\": not absolute; treated as \"/data/x\" (relative to the container's /)\n"
        ),
        "{out}"
    );
}

/// A mount destination that the image links to a missing path, as
/// systemd images link `/etc/resolv.conf` to
/// `../run/systemd/resolve/stub-resolv.conf`: as runc (SecureJoin, then
/// MkdirAll or an empty file), what the link names is made inside the
/// rootfs, or inside a tmpfs mounted there earlier, and mounted on; the
/// link itself stays; also through a dangling symlinked directory
/// (`/lnkdir -> /tmp/x`, a mount at `/lnkdir/sub/x`). sprout failed with
/// `mount target: ENOENT` (`ELOOP` for the directory).
#[test]
fn dangling_symlink_destination_is_made_where_it_leads() {
    require_root!();
    let id = unique_id("dangling");
    let b = busybox(&id, |c| {
        c["root"]["readonly"] = json!(false);
        push_mount(
            c,
            json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs"}),
        );
        push_mount(
            c,
            json!({"destination": "/etc/resolv.conf", "type": "bind", "source": "hostfile", "options": ["bind", "ro"]}),
        );
        push_mount(
            c,
            json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs"}),
        );
        push_mount(
            c,
            json!({"destination": "/etc/up", "type": "tmpfs", "source": "tmpfs"}),
        );
        push_mount(
            c,
            json!({"destination": "/lnkdir/sub/x", "type": "tmpfs", "source": "tmpfs"}),
        );
        sh(
            c,
            "cat /etc/resolv.conf; for l in /etc/resolv.conf /data /etc/up; do readlink $l; done; \
             for p in /run/systemd/resolve/stub-resolv.conf /srv/deep/data /outside /tmp/x/sub/x; do \
             grep -c \" $p \" /proc/self/mountinfo; done",
        );
    });
    std::fs::write(b.dir().join("hostfile"), "nameserver 192.0.2.1\n").unwrap();
    let rootfs = b.rootfs();
    let _ = std::fs::remove_file(rootfs.join("etc/resolv.conf"));
    std::os::unix::fs::symlink(
        "../run/systemd/resolve/stub-resolv.conf",
        rootfs.join("etc/resolv.conf"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/srv/deep/data", rootfs.join("data")).unwrap();
    // `..` stops at the rootfs.
    std::os::unix::fs::symlink("../../../../outside", rootfs.join("etc/up")).unwrap();
    // A dangling symlinked directory on the way (ELOOP before).
    std::os::unix::fs::symlink("/tmp/x", rootfs.join("lnkdir")).unwrap();
    let out = run(&b, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(
        out.stdout_str(),
        "nameserver 192.0.2.1\n\
         ../run/systemd/resolve/stub-resolv.conf\n/srv/deep/data\n../../../../outside\n\
         1\n1\n1\n1\n",
        "{out}"
    );
    // Made in the rootfs where no mount covered it; under /run, in the tmpfs.
    assert!(rootfs.join("srv/deep/data").is_dir());
    assert!(rootfs.join("tmp/x/sub/x").is_dir());
    assert!(rootfs.join("outside").is_dir());
    assert!(!rootfs.join("run/systemd").exists());
}

/// A mount destination that the image links to the rootfs itself
/// (`/etc/toroot -> /`) is refused with the field, as runc refuses it:
/// sprout stacked a tmpfs on the container's root.
#[test]
fn destination_linked_to_the_root_is_refused() {
    require_root!();
    let id = unique_id("toroot");
    let b = busybox(&id, |c| {
        push_mount(
            c,
            json!({"destination": "/etc/toroot", "type": "tmpfs", "source": "tmpfs"}),
        );
        sh(c, "true");
    });
    let index = b.config()["mounts"].as_array().unwrap().len() - 1;
    std::os::unix::fs::symlink("/", b.rootfs().join("etc/toroot")).unwrap();
    let out = run(&b, &id);
    let msg = assert_one_line_error(&out, &[]);
    assert_eq!(
        msg,
        format!(
            "mounts[{index}] \"/etc/toroot\": a symlink in the rootfs leads to the container's root /"
        )
    );
}

/// A relative path in a mount's data (overlayfs's `upperdir=`), which
/// mount(2) resolves against the working directory, resolves against the
/// caller's (here the bundle), never against the mount target inside the
/// rootfs: there the image's own symlinks (`merged/up -> <host dir>`)
/// would lead the container's writes to any host directory.
#[test]
fn relative_overlay_dirs_do_not_resolve_in_the_target() {
    require_root!();
    let id = unique_id("relovl");
    let b = busybox(&id, |c| {
        push_mount(
            c,
            json!({"destination": "/merged", "type": "overlay", "source": "overlay",
                   "options": ["lowerdir=low,upperdir=up,workdir=work"]}),
        );
        sh(
            c,
            "echo from-container > /merged/written && cat /merged/low-file",
        );
    });
    let dir = b.dir().to_path_buf();
    for d in ["low", "up", "work", "decoy-up", "decoy-work"] {
        std::fs::create_dir(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("low/low-file"), "lower\n").unwrap();
    // The image: the target with symlinks of the same names to host paths.
    let merged = b.rootfs().join("merged");
    std::fs::create_dir(&merged).unwrap();
    std::fs::create_dir(merged.join("low")).unwrap();
    std::os::unix::fs::symlink(dir.join("decoy-up"), merged.join("up")).unwrap();
    std::os::unix::fs::symlink(dir.join("decoy-work"), merged.join("work")).unwrap();
    let out = output(
        sprout_systests::sprout(&["run", "--bundle"])
            .arg(&dir)
            .arg(&id)
            .current_dir(&dir),
    );
    common::assert_clean(&b, &id);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout_str(), "lower\n", "{out}");
    assert!(
        std::fs::read_dir(dir.join("decoy-up"))
            .unwrap()
            .next()
            .is_none(),
        "the image's symlink took the overlay's upperdir: {out}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("up/written")).unwrap_or_default(),
        "from-container\n"
    );
}

/// The files of the idmap tests: `file0` owned by 0:0 and `file1234` by
/// 1234:1234, in a fresh directory.
fn idmap_source(owner: &Bundle) -> PathBuf {
    let src = owner.dir().join("idsrc");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("file0"), "0\n").unwrap();
    std::fs::write(src.join("file1234"), "1234\n").unwrap();
    std::os::unix::fs::chown(src.join("file1234"), Some(1234), Some(1234)).unwrap();
    std::fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    src
}

const MAP: &str = r#"[{"containerID": 0, "hostID": 100000, "size": 65536}]"#;

/// `uidMappings`/`gidMappings` on a bind mount: files appear shifted by
/// the mapping (on-disk 1234 -> 101234) in a container without a user
/// namespace.
#[test]
fn idmapped_bind_mount() {
    require_root!();
    let owner = Bundle::empty();
    let src = idmap_source(&owner);
    let id = unique_id("idmap");
    let map: Value = sprout_systests::serde_json::from_str(MAP).unwrap();
    let b = busybox(&id, |c| {
        push_mount(
            c,
            json!({"destination": "/data", "type": "bind", "source": src, "options": ["bind"],
                             "uidMappings": map, "gidMappings": map}),
        );
        sh(
            c,
            "stat -c '%n %u:%g' /data/file0 /data/file1234; grep ' /data ' /proc/self/mountinfo | cut -d' ' -f6",
        );
    });
    let out = run_ok(&b, &id);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..2],
        ["/data/file0 100000:100000", "/data/file1234 101234:101234"],
        "{out}"
    );
    assert!(lines[2].split(',').any(|o| o == "idmapped"), "{out}");
    // The host's view is unchanged.
    assert_eq!(std::fs::metadata(src.join("file1234")).unwrap().uid(), 1234);
}

/// The usual case: a container with a user namespace (0 -> 100000) and an
/// `idmap` bind mount using the container's own mappings: the on-disk
/// owners show unshifted inside, and a file the container's root creates
/// is owned by root on disk.
#[test]
fn idmap_option_with_the_containers_user_namespace() {
    require_root!();
    let owner = Bundle::empty();
    let src = idmap_source(&owner);
    let id = unique_id("idmapns");
    let map: Value = sprout_systests::serde_json::from_str(MAP).unwrap();
    let b = busybox(&id, |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map.clone();
        push_mount(
            c,
            json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "idmap"]}),
        );
        sh(
            c,
            "stat -c '%n %u:%g' /data/file0 /data/file1234; touch /data/new && stat -c '%u' /data/new",
        );
    });
    // The container's root must be able to create the mount point.
    std::fs::create_dir(b.rootfs().join("data")).unwrap();
    let out = run_ok(&b, &id);
    assert_eq!(
        out, "/data/file0 0:0\n/data/file1234 1234:1234\n0\n",
        "{out}"
    );
    let meta = std::fs::metadata(src.join("new")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (0, 0),
        "the new file's owner on disk"
    );
}

#[test]
fn idmap_errors() {
    require_root!();
    let owner = Bundle::empty();
    let src = idmap_source(&owner);
    let map: Value = sprout_systests::serde_json::from_str(MAP).unwrap();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "uidMappings": map, "gidMappings": map}),
            "mounts[7] \"/data\": an idmapped mount (uidMappings/gidMappings, idmap) must be a bind mount",
        ),
        (
            json!({"destination": "/data", "type": "bind", "source": src, "options": ["bind"], "uidMappings": map}),
            "mounts[7] \"/data\": uidMappings and gidMappings must be given together",
        ),
        (
            json!({"destination": "/data", "type": "bind", "source": src, "options": ["bind", "idmap"]}),
            "needs the container's user namespace mappings",
        ),
        (
            json!({"destination": "/data", "type": "bind", "source": src, "options": ["bind"],
                   "uidMappings": [{"containerID": 0, "hostID": 0, "size": 0}], "gidMappings": map}),
            "mounts[7] \"/data\": uidMappings[0]: invalid range",
        ),
    ];
    for (m, needle) in cases {
        let id = unique_id("idmaperr");
        let b = busybox(&id, |c| {
            assert_eq!(
                c["mounts"].as_array().unwrap().len(),
                7,
                "the default spec's mounts changed"
            );
            push_mount(c, m.clone());
        });
        let out = run(&b, &id);
        assert_one_line_error(&out, &[needle]);
    }
}

/// `linux.rootfsPropagation`: the root mount's peer group inside
/// (mountinfo optional fields: `shared:N`, `master:N`, none).
/// (A slave of a host mount that is itself private has no master: it
/// shows as private.)
#[test]
fn rootfs_propagation() {
    require_root!();
    // Is the host mount holding the bundles in a peer group?
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let here = sprout_systests::workspace_root().join("target");
    let host_line = info
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| here.starts_with(m)))
        .max_by_key(|l| l.split(' ').nth(4).map_or(0, str::len))
        .unwrap_or_default();
    let slave = if host_line
        .split(" - ")
        .next()
        .unwrap_or_default()
        .contains("shared:")
    {
        "slave"
    } else {
        "private"
    };
    for (prop, want) in [
        (Some("rprivate"), "private"),
        (Some("private"), "private"),
        (Some("rslave"), slave),
        (Some("slave"), slave),
        (Some("rshared"), "shared"),
        (Some("shared"), "shared"),
        (None, slave),
    ] {
        let id = unique_id("rprop");
        let b = busybox(&id, |c| {
            if let Some(p) = prop {
                c["linux"]["rootfsPropagation"] = json!(p);
            }
            sh(c, "awk '$5 == \"/\"' /proc/self/mountinfo");
        });
        let out = run_ok(&b, &id);
        let fields: Vec<&str> = out
            .split(" - ")
            .next()
            .unwrap()
            .split_whitespace()
            .skip(6)
            .collect();
        let got = if fields.iter().any(|f| f.starts_with("shared:")) {
            "shared"
        } else if fields.iter().any(|f| f.starts_with("master:")) {
            "slave"
        } else {
            "private"
        };
        assert_eq!(got, want, "rootfsPropagation {prop:?}: {out}");
    }
    // The value is the root mount's: the container's own mounts keep
    // theirs (runc's container has them private too), and a bind's own
    // `rprivate` stays private under `rshared` (it was made shared again).
    // `unbindable` and `runbindable` run, and the root shows it.
    for (prop, want) in [
        ("shared", "private"),
        ("rshared", "private"),
        ("unbindable", "unbindable"),
        ("runbindable", "unbindable"),
    ] {
        let id = unique_id("rpropsub");
        let owner = Bundle::empty();
        let src = owner.dir().to_str().unwrap().to_string();
        let b = busybox(&id, |c| {
            c["linux"]["rootfsPropagation"] = json!(prop);
            push_mount(
                c,
                json!({"destination": "/m2", "type": "bind", "source": src, "options": ["rbind", "rprivate"]}),
            );
            sh(
                c,
                "awk '$5 == \"/proc\" || $5 == \"/m2\" || $5 == \"/\" { print $5, $7 }' /proc/self/mountinfo",
            );
        });
        let out = run_ok(&b, &id);
        let tag = |m: &str| {
            let line = out
                .lines()
                .find(|l| l.split(' ').next() == Some(m))
                .unwrap_or_else(|| panic!("no {m} in {out}"));
            match line.split(' ').nth(1).unwrap_or("-") {
                t if t.starts_with("shared:") => "shared",
                t if t.starts_with("master:") => "slave",
                "unbindable" => "unbindable",
                _ => "private",
            }
        };
        assert_eq!(tag("/proc"), "private", "rootfsPropagation {prop}: {out}");
        assert_eq!(tag("/m2"), "private", "rootfsPropagation {prop}: {out}");
        if want == "unbindable" {
            assert_eq!(tag("/"), "unbindable", "rootfsPropagation {prop}: {out}");
        }
    }
    let id = unique_id("rproperr");
    let b = busybox(&id, |c| c["linux"]["rootfsPropagation"] = json!("sideways"));
    assert_one_line_error(
        &run(&b, &id),
        &["linux.rootfsPropagation \"sideways\": unknown propagation"],
    );
}

/// A mount's own `shared`/`rshared` option survives the pivot: with
/// `rootfsPropagation: rshared` (what containerd sets for Kubernetes'
/// Bidirectional mounts) a bind of a shared host directory stays the host
/// mount's peer, so a mount made under it in the container appears on the
/// host (runc's `pivotRoot` makes only the old root a slave). The host side
/// is a private mount namespace (`unshare -m`) holding a shared bind of
/// the test's directory, gone with it. Before, the stub made the whole new
/// root a slave after pivot_root: `/m1` lost its peer and the host saw
/// nothing; with the default `rslave`, `/m1` showed no `shared:` tag.
#[test]
fn a_mounts_shared_propagation_survives_the_pivot() {
    require_root!();
    let make = |id: &str, root_prop: Option<&str>, src: &Path| {
        let src = src.to_str().unwrap().to_string();
        busybox(id, |c| {
            if let Some(p) = root_prop {
                c["linux"]["rootfsPropagation"] = json!(p);
            }
            common::add_cap(c, "CAP_SYS_ADMIN");
            push_mount(
                c,
                json!({"destination": "/m1", "type": "bind", "source": src, "options": ["rbind", "rshared"]}),
            );
            sh(
                c,
                "mount -t tmpfs bidir /m1/sub && awk '$5 == \"/m1\"' /proc/self/mountinfo",
            );
        })
    };
    // The default rootfsPropagation (rslave): `/m1` is shared in the
    // container (and a slave of nothing here: the source is private).
    let id = unique_id("mshared");
    let owner = Bundle::empty();
    let src = owner.dir().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let b = make(&id, None, &src);
    let out = run_ok(&b, &id);
    assert!(out.contains(" shared:"), "/m1 is not shared: {out}");
    // Bidirectional: the container's tmpfs shows on the host side.
    let id = unique_id("mbidir");
    let b = make(&id, Some("rshared"), &src);
    let d = src.to_str().unwrap();
    let script = format!(
        "mount --bind {d} {d} && mount --make-shared {d} && \"$0\" run --bundle \"$1\" \"$2\" && \
         echo host: && awk '$5 == \"{d}/sub\" {{ print $5, $9, $10 }}' /proc/self/mountinfo"
    );
    let out = output(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .arg(sprout_systests::sprout_bin())
            .arg(b.dir())
            .arg(&id)
            .stdin(std::process::Stdio::null()),
    );
    assert_eq!(out.code(), Some(0), "{out}");
    let host = out.stdout_str();
    let host = host.split("host:").nth(1).unwrap_or_default();
    assert_eq!(
        host.trim(),
        format!("{d}/sub tmpfs bidir"),
        "the container's mount did not reach the host: {out}"
    );
    common::assert_clean(&b, &id);
}

/// Runs `script` in a new mount namespace whose mounts are all shared
/// (`unshare -m --propagation shared`: a systemd host's layout, without
/// touching the real host), with `$SPROUT` set; returns its output.
fn in_shared_host(script: &str) -> sprout_systests::Output {
    output(
        Command::new("unshare")
            .args(["-m", "--propagation", "shared", "sh", "-c", script])
            .env("SPROUT", sprout_systests::sprout_bin())
            .stdin(std::process::Stdio::null()),
    )
}

/// With a shared `rootfsPropagation` the copied host tree keeps the host's
/// peer groups (for Bidirectional binds); the binds of the host's cgroup
/// hierarchies must not: a container with CAP_SYS_ADMIN that mounts under
/// its `/sys/fs/cgroup/<h>` put a mount into the host's cgroup tree (and
/// `delete` then failed on the busy cgroup). They are slaves now.
#[test]
fn cgroup_binds_are_not_the_hosts_peers_under_a_shared_root() {
    require_root!();
    for prop in ["shared", "rshared"] {
        let id = unique_id("cgpeer");
        let b = busybox(&id, |c| {
            c["linux"]["rootfsPropagation"] = json!(prop);
            c["root"]["readonly"] = json!(false);
            common::add_cap(c, "CAP_SYS_ADMIN");
            sh(
                c,
                "awk '$5 == \"/sys/fs/cgroup/memory\" { print \"tag\", $7 }' /proc/self/mountinfo; \
                 mount -o remount,rw,bind /sys/fs/cgroup/memory && mkdir /sys/fs/cgroup/memory/leak && \
                 mount -t tmpfs cgpeer /sys/fs/cgroup/memory/leak && echo mounted",
            );
        });
        let out = in_shared_host(&format!(
            "\"$SPROUT\" run --bundle {} {id}; echo rc=$?; grep -c ' cgpeer ' /proc/self/mountinfo",
            b.dir().display()
        ));
        let text = out.stdout_str();
        assert!(text.contains("mounted\nrc=0\n"), "{prop}: {out}");
        assert!(
            text.ends_with("\n0\n"),
            "{prop}: the tmpfs reached the host: {out}"
        );
        let tag = text
            .lines()
            .find_map(|l| l.strip_prefix("tag "))
            .unwrap_or_default();
        assert!(!tag.starts_with("shared:"), "{prop}: {out}");
        common::assert_clean(&b, &id);
    }
}

/// `private`, `slave` and `unbindable` (the non-`r` forms) cut the whole
/// copied tree from the host, as the `r` forms do: with runc's reading
/// ("/" alone) a tmpfs of the config mounted under a host mount inside the
/// rootfs (a peer of the host's) appeared on the host and stayed after the
/// container was gone.
#[test]
fn non_recursive_root_propagation_leaks_no_mount_to_the_host() {
    require_root!();
    for prop in ["private", "slave", "unbindable"] {
        let id = unique_id("nrprop");
        let b = busybox(&id, |c| {
            c["linux"]["rootfsPropagation"] = json!(prop);
            push_mount(
                c,
                json!({"destination": "/data/x", "type": "tmpfs", "source": "nrleak"}),
            );
            sh(c, "grep -c ' nrleak ' /proc/self/mountinfo");
        });
        let data = b.rootfs().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let out = in_shared_host(&format!(
            "mount -t tmpfs hostdata {d} && mkdir {d}/x && \"$SPROUT\" run --bundle {b} {id}; \
             echo rc=$?; grep -c ' nrleak ' /proc/self/mountinfo; umount {d}",
            d = data.display(),
            b = b.dir().display()
        ));
        assert_eq!(out.stdout_str(), "1\nrc=0\n0\n", "{prop}: {out}");
        common::assert_clean(&b, &id);
    }
}

/// `--no-pivot` with a shared root propagation would move the rootfs onto
/// the host's "/" (a shared mount: the move propagates there), and with a
/// private one pin the host's mounts (runc refuses private): one line
/// naming the field; the default and `slave` run.
#[test]
fn no_pivot_refuses_shared_and_private_root_propagation() {
    require_root!();
    for prop in ["shared", "rshared", "private", "rprivate"] {
        let id = unique_id("nopivprop");
        let b = busybox(&id, |c| c["linux"]["rootfsPropagation"] = json!(prop));
        let out = output(
            sprout_systests::sprout(&["run", "--no-pivot", "--bundle"])
                .arg(b.dir())
                .arg(&id),
        );
        assert_one_line_error(
            &out,
            &[&format!(
                "linux.rootfsPropagation \"{prop}\": not safe with --no-pivot"
            )],
        );
        common::assert_clean(&b, &id);
    }
    for prop in ["slave", "rslave"] {
        let id = unique_id("nopivok");
        let b = busybox(&id, |c| {
            c["linux"]["rootfsPropagation"] = json!(prop);
            sh(c, "echo ran");
        });
        let out = output(
            sprout_systests::sprout(&["run", "--no-pivot", "--bundle"])
                .arg(b.dir())
                .arg(&id),
        );
        assert_eq!(out.stdout_str(), "ran\n", "{prop}: {out}");
    }
}

/// A read-only /dev tmpfs (`"ro"` among its options) is filled first and
/// made read-only last, as runc's `finalizeRootfs` does (runc's
/// mounts.bats "ro /dev mount"): sprout mounted it read-only at once and
/// failed on its devpts target (EROFS).
#[test]
fn a_read_only_dev_is_filled_first() {
    require_root!();
    let id = unique_id("rodev");
    let b = busybox(&id, |c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
        sh(
            c,
            "grep ' /dev ' /proc/self/mountinfo | grep -q ' ro,' && echo dev-ro; \
             grep -q ' /dev/pts ' /proc/self/mountinfo && echo pts; \
             echo x > /dev/null && [ -c /dev/zero ] && [ -L /dev/fd ] && echo nodes; \
             touch /dev/x 2>/dev/null || echo no-write",
        );
    });
    assert_eq!(run_ok(&b, &id), "dev-ro\npts\nnodes\nno-write\n");
    common::assert_clean(&b, &id);
    // With a terminal: /dev/console is made before the remount (the
    // console's bind then failed with EROFS).
    let id = unique_id("rodevtty");
    b.config_mut(|c| {
        c["process"]["terminal"] = json!(true);
        sh(
            c,
            "[ -c /dev/console ] && echo console; touch /dev/x 2>/dev/null || echo no-write",
        );
    });
    let (out, tty) = common::output_on_a_terminal(
        sprout_systests::sprout(&["run", "--bundle"])
            .arg(b.dir())
            .arg(&id),
    );
    assert!(out.success(), "{out}\n{tty}");
    // The pty's output is relayed to the controller's stdout.
    let text = format!("{}{tty}", out.stdout_str());
    assert!(
        text.contains("console") && text.contains("no-write"),
        "{out}\n{tty}"
    );
    common::assert_clean(&b, &id);
}

/// A host mount point whose name is not UTF-8 (mountinfo shows the raw
/// bytes) does not stop containers: every `run` and `delete` failed with
/// "linux.cgroupsPath: cgroup /: read /proc/self/mountinfo: I/O error"
/// (found by a run of runc's suite while another test had such a mount).
#[test]
fn a_host_mount_with_a_non_utf8_name_is_no_obstacle() {
    require_root!();
    let id = unique_id("nonutf8");
    let b = busybox(&id, |c| sh(c, "echo ran"));
    let dir = b.dir().join("m");
    std::fs::create_dir(&dir).unwrap();
    // In a private mount namespace, so that the host never sees it.
    let script = "mkdir \"$1/$(printf 'd\\377')\" && mount -t tmpfs t \"$1/$(printf 'd\\377')\" && \
         grep -c \"$(printf '\\377')\" /proc/self/mountinfo >/dev/null && \
         \"$2\" run --bundle \"$3\" \"$4\"";
    let out = output(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
            .arg(&dir)
            .arg(sprout_systests::sprout_bin())
            .arg(b.dir())
            .arg(&id),
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout_str(), "ran\n", "{out}");
    common::assert_clean(&b, &id);
}

/// `--no-pivot` leaves the host's mounts in the container's mount
/// namespace (under the moved rootfs): its procfs and sysfs are covered
/// first, so that a container process with a user namespace of its own
/// cannot mount a fresh procfs without the masked paths (runc 1.1.5's
/// `no_pivot.bats`; the kernel allows a new procfs only where one is
/// fully visible). sprout let the mount through. The container's own
/// /proc, /sys and masks are as without `--no-pivot`.
#[test]
fn no_pivot_leaves_no_visible_host_proc() {
    require_root!();
    let id = unique_id("nopivproc");
    let b = busybox(&id, |c| {
        for set in ["bounding", "permitted", "effective"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SETFCAP"));
        }
        sh(
            c,
            "head -c 1 /proc/kcore >/dev/null 2>&1 && echo kcore-read; \
             ls /sys/kernel >/dev/null && echo sys; \
             unshare -mrpf sh -c 'mount -t proc none /proc' 2>/dev/null && echo mounted || echo refused",
        );
    });
    // A createContainer hook (in the container's mount namespace, before
    // the move) still sees the host's /proc and /sys, as with runc: they
    // are covered after it.
    let seen = b.dir().join("hook-saw");
    b.config_mut(|c| {
        c["hooks"] = json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
            format!("[ -r /proc/self/mountinfo ] && [ -d /sys/kernel ] && echo yes > {}", seen.display())]}]});
    });
    let out = output(
        sprout_systests::sprout(&["run", "--no-pivot", "--bundle"])
            .arg(b.dir())
            .arg(&id),
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout_str(), "sys\nrefused\n", "{out}");
    assert_eq!(std::fs::read_to_string(&seen).unwrap_or_default(), "yes\n");
    common::assert_clean(&b, &id);
    // The host's /proc and /sys are untouched.
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !info
            .lines()
            .any(|l| l.contains(" /proc ") && l.contains(" - tmpfs ")),
        "{info}"
    );
}

/// `linux.devices`: a character device with its mode and owner, a FIFO;
/// in a user namespace the host's device is bound instead of mknod'ed.
/// A loop device with an ext4 holding `hello`, detached on drop.
struct Loop(String);

impl Loop {
    fn ext4(dir: &Path) -> Option<Loop> {
        let img = dir.join("ext4.img");
        let ok = |c: &mut Command| output(c).success();
        if !ok(Command::new("truncate").arg("-s8M").arg(&img))
            || !ok(Command::new("mkfs.ext4").arg("-q").arg(&img))
        {
            return None;
        }
        let out = output(Command::new("losetup").args(["-f", "--show"]).arg(&img));
        if !out.success() {
            return None;
        }
        let dev = Loop(out.stdout_str().trim().to_string());
        let m = dir.join("m");
        std::fs::create_dir_all(&m).unwrap();
        assert!(ok(Command::new("mount").arg(&dev.0).arg(&m)));
        std::fs::write(m.join("hello"), "from ext4\n").unwrap();
        assert!(ok(Command::new("umount").arg(&m)));
        Some(dev)
    }

    /// `(major, minor)` of the device.
    fn numbers(&self) -> (u64, u64) {
        let rdev = std::fs::metadata(&self.0).unwrap().rdev();
        (libc_major(rdev), libc_minor(rdev))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = output(Command::new("losetup").arg("-d").arg(&self.0));
    }
}

fn libc_major(d: u64) -> u64 {
    ((d >> 32) & 0xffff_f000) | ((d >> 8) & 0xfff)
}

fn libc_minor(d: u64) -> u64 {
    ((d >> 12) & 0xffff_ff00) | (d & 0xff)
}

/// Mounting a filesystem opens its block device, which the container's
/// devices cgroup checks: refused under runc's default rules (deny all)
/// wherever the mount is in the list (the stub joins its cgroup before
/// such a mount, also when it comes before `/sys/fs/cgroup`), allowed with
/// a rule for the device.
#[test]
fn block_device_mount_obeys_the_device_rules() {
    require_root!();
    let id = unique_id("blkdev");
    let scratch = Bundle::empty();
    let Some(dev) = Loop::ext4(scratch.dir()) else {
        eprintln!("!!!!! SKIPPED: no loop device or mkfs.ext4 !!!!!");
        return;
    };
    let (major, minor) = dev.numbers();
    let ext4 = json!({"destination": "/mnt", "type": "ext4", "source": dev.0});
    for at in [1usize, usize::MAX] {
        let b = busybox(&id, |c| {
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.insert(at.min(mounts.len()), ext4.clone());
            sh(c, "cat /mnt/hello");
        });
        let out = run(&b, &id);
        let index = if at == 1 {
            1
        } else {
            b.config()["mounts"].as_array().unwrap().len() - 1
        };
        assert_one_line_error(&out, &[&format!("mounts[{index}] \"/mnt\""), "EPERM"]);
    }
    let b = busybox(&id, |c| {
        c["mounts"].as_array_mut().unwrap().insert(1, ext4.clone());
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(
                json!({"allow": true, "type": "b", "major": major, "minor": minor, "access": "rw"}),
            );
        sh(c, "cat /mnt/hello");
    });
    assert_eq!(run_ok(&b, &id), "from ext4\n");
}

#[test]
fn devices() {
    require_root!();
    let devs = json!([
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 2000},
        {"path": "/dev/sub/myzero", "type": "c", "major": 1, "minor": 5},
        {"path": "/dev/myfifo", "type": "p"}
    ]);
    let script = "stat -c '%n %F %t:%T %a %u:%g' /dev/mynull /dev/sub/myzero; stat -c '%n %F' /dev/myfifo; \
                  head -c 2 /dev/sub/myzero | wc -c";
    let id = unique_id("devices");
    let b = busybox(&id, |c| {
        c["linux"]["devices"] = devs.clone();
        sh(c, script);
    });
    let out = run_ok(&b, &id);
    assert_eq!(
        out,
        "/dev/mynull character special file 1:3 640 1000:2000\n\
         /dev/sub/myzero character special file 1:5 666 0:0\n\
         /dev/myfifo fifo\n2\n",
        "{out}"
    );
    // In a user namespace: the host's /dev/null and /dev/zero bound (mknod
    // is not allowed there); the FIFO is still made.
    let id = unique_id("devicesns");
    let map: Value = sprout_systests::serde_json::from_str(
        r#"[{"containerID": 0, "hostID": 0, "size": 65536}]"#,
    )
    .unwrap();
    let b = busybox(&id, |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map;
        c["linux"]["devices"] = json!([
            {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3},
            {"path": "/dev/myfifo", "type": "p"}
        ]);
        sh(
            c,
            "stat -c '%n %F %t:%T' /dev/mynull; stat -c '%n %F' /dev/myfifo; echo x > /dev/mynull && echo ok",
        );
    });
    let out = run_ok(&b, &id);
    assert_eq!(
        out, "/dev/mynull character special file 1:3\n/dev/myfifo fifo\nok\n",
        "{out}"
    );
}
