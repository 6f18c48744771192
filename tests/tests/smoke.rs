//! Smoke tests of the system-test helpers themselves.

use std::collections::HashSet;

use sprout_systests::{
    Bundle, assert_nothing_left, busybox_rootfs, is_root, mounts_under, require_root, sprout_bin,
    unique_id,
};

#[test]
fn unique_ids_differ() {
    let ids: HashSet<String> = (0..100).map(|_| unique_id("smoke")).collect();
    assert_eq!(ids.len(), 100);
    assert!(ids.iter().all(|id| id.starts_with("smoke-")));
}

#[test]
fn is_root_agrees_with_proc_status() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    assert_eq!(is_root(), euid == "0");
}

#[test]
fn sprout_bin_is_absolute() {
    assert!(sprout_bin().is_absolute(), "{}", sprout_bin().display());
}

#[test]
fn root_is_a_mount_point() {
    assert!(
        mounts_under("/")
            .iter()
            .any(|m| m == std::path::Path::new("/"))
    );
}

#[test]
fn rootfs_only_bundle_is_copied_and_removed() {
    require_root!();
    let bundle = Bundle::busybox_rootfs_only();
    let dir = bundle.dir().to_path_buf();
    let rootfs = bundle.rootfs();
    assert!(rootfs.join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_link(rootfs.join("bin/sh")).unwrap(),
        std::path::Path::new("busybox")
    );
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains("demo:x:1000:1000:"), "{passwd}");
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap();
    assert!(group.contains("extra:x:2000:demo"), "{group}");
    assert_ne!(rootfs, busybox_rootfs());
    assert_nothing_left(&dir);
    drop(bundle);
    assert!(!dir.exists(), "{} survived the drop", dir.display());
}

#[test]
fn busybox_bundle_has_an_editable_config() {
    require_root!();
    let bundle = Bundle::busybox();
    assert_eq!(bundle.config()["process"]["terminal"], false);
    bundle.config_mut(|c| c["hostname"] = "smoke".into());
    bundle.set_args(&["echo", "hi"]);
    let config = bundle.config();
    assert_eq!(config["hostname"], "smoke");
    assert_eq!(config["process"]["args"], serde_json::json!(["echo", "hi"]));
}

#[test]
fn busybox_container_runs() {
    require_root!();
    let bundle = Bundle::busybox();
    bundle.set_args(&["echo", "hello from busybox"]);
    let out = bundle.run(&unique_id("smoke"));
    out.assert_success();
    assert_eq!(out.stdout_str(), "hello from busybox\n", "{out}");
    assert_nothing_left(bundle.dir());
}
