//! Paths in the config that would put a mount or a device node where it
//! does not belong (findings of an attack pass): a mount destination that
//! is the container's root itself (`..` are applied lexically and stop at
//! the root, as runc's `filepath.Clean`: `/../etc` is `/etc`), and a
//! `linux.devices` path outside `/dev` (which would `mknod` a node into
//! the persistent rootfs of the image). Each is refused before anything
//! runs: exit code 1, one line naming the field, nothing left behind, and
//! nothing created in the rootfs. A device whose path already exists is
//! left alone, as runc does (`mknod` fails with `EEXIST`, which runc's
//! `createDeviceNode` ignores).

mod common;

use common::{busybox, expect_error, run_ok, sh};
use sprout_systests::serde_json::{Value, json};
use sprout_systests::{require_root, unique_id};

/// Appends a mount to `mounts`.
fn push_mount(c: &mut Value, m: Value) {
    c["mounts"]
        .as_array_mut()
        .expect("mounts is a list")
        .push(m);
}

/// Appends a character device 1:3 (`/dev/null`'s numbers) at `path`,
/// owned by 0:0.
fn push_device(c: &mut Value, path: &str) {
    push_device_owned(c, path, 0);
}

/// Appends a character device 1:3 at `path` owned by `id`:`id`.
fn push_device_owned(c: &mut Value, path: &str, id: u32) {
    let devices = c["linux"]
        .as_object_mut()
        .expect("linux is an object")
        .entry("devices")
        .or_insert_with(|| json!([]));
    devices
        .as_array_mut()
        .expect("linux.devices is a list")
        .push(json!({
        "path": path, "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": id, "gid": id}));
}

#[test]
fn mount_destinations_that_are_the_root_are_refused() {
    require_root!();
    for (n, dest) in ["/", ".", "..", "/..", "/tmp/..", "//", "/tmp/../../.."]
        .iter()
        .enumerate()
    {
        let id = unique_id(&format!("dest{n}"));
        let b = busybox(&id, |c| {
            push_mount(
                c,
                json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}),
            );
            c["process"]["args"] = json!(["true"]);
        });
        let index = b.config()["mounts"].as_array().unwrap().len() - 1;
        let field = format!("mounts[{index}].destination \"{dest}\"");
        let msg = expect_error(&b, &id, &[&field]);
        eprintln!("{dest:?}: {msg}");
        // The rootfs is untouched: no tmpfs was mounted over it, no
        // directory made for the mount.
        assert!(b.rootfs().join("bin/busybox").is_file());
    }
}

#[test]
fn a_destination_with_dotdot_inside_the_root_is_cleaned() {
    require_root!();
    let id = unique_id("destclean");
    let b = busybox(&id, |c| {
        push_mount(
            c,
            json!({"destination": "/../tmp/../mnt/x/../data", "type": "tmpfs", "source": "tmpfs"}),
        );
        sh(c, "grep ' /mnt/data ' /proc/self/mountinfo | cut -d' ' -f5");
    });
    assert_eq!(run_ok(&b, &id), "/mnt/data\n");
}

#[test]
fn devices_outside_dev_are_refused() {
    require_root!();
    for (n, path) in [
        "/etc/evil",
        "/evil",
        "/dev",
        "/dev/../etc/evil",
        "/devx/evil",
    ]
    .iter()
    .enumerate()
    {
        let id = unique_id(&format!("devpath{n}"));
        let b = busybox(&id, |c| {
            push_device(c, path);
            c["process"]["args"] = json!(["true"]);
        });
        let msg = expect_error(
            &b,
            &id,
            &[&format!("linux.devices[0].path \"{path}\""), "below /dev"],
        );
        eprintln!("{path:?}: {msg}");
        assert!(
            !b.rootfs().join("etc/evil").exists(),
            "a node was made in the rootfs's /etc"
        );
        assert!(!b.rootfs().join("evil").exists() && !b.rootfs().join("devx").exists());
    }
}

#[test]
fn a_device_below_dev_is_created_and_an_existing_entry_left_alone() {
    require_root!();
    let id = unique_id("devok");
    let b = busybox(&id, |c| {
        push_device(c, "/dev/sub/mynull");
        push_device_owned(c, "/dev/mine", 1000);
        sh(
            c,
            "ls -l /dev/sub/mynull | cut -c1; echo x > /dev/sub/mynull && echo written; \
             stat -c '%u:%g %a' /dev/null /dev/sub/mynull /dev/mine",
        );
    });
    assert_eq!(
        run_ok(&b, &id),
        "c\nwritten\n0:0 666\n0:0 666\n1000:1000 666\n",
        "default devices and 0:0 ones keep mknod's owner, others are chowned"
    );

    // Without a /dev tmpfs the node would go into the image's /dev: an
    // existing regular file there stays as it is (runc ignores EEXIST).
    let id = unique_id("devexist");
    let b = busybox(&id, |c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev");
        push_device(c, "/dev/present");
        sh(c, "cat /dev/present");
    });
    std::fs::write(b.rootfs().join("dev/present"), "image file\n").unwrap();
    assert_eq!(run_ok(&b, &id), "image file\n");
    let meta = std::fs::symlink_metadata(b.rootfs().join("dev/present")).unwrap();
    assert!(meta.file_type().is_file(), "the image's file was replaced");
}
