//! Debian packages the build and the checks need, installed on demand.

use std::process::{Command, Stdio};

use crate::util::{Result, is_root, run};
use crate::{bail, say};

/// Packages the build needs: libseccomp for the controller, pkg-config to
/// find it, binutils (readelf, nm, strip) and file for the stub checks;
/// and what the image-mode system tests compare with or run under: tini
/// (`tini-static`) and catatonit, podman with runc (crun 1.8 refuses hybrid
/// cgroup hosts); strace, which holds a process at one system call in the
/// state-recycling tests. Those tests skip loudly when these are missing.
pub const PACKAGES: &[&str] = &[
    "libseccomp-dev",
    "pkg-config",
    "binutils",
    "file",
    "strace",
    "tini",
    "catatonit",
    "podman",
    "runc",
];

/// Whether `dpkg -s` reports the package as installed.
pub fn installed(pkg: &str) -> bool {
    Command::new("dpkg")
        .args(["-s", pkg])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.trim() == "Status: install ok installed")
        })
        .unwrap_or(false)
}

/// Install whichever of [`PACKAGES`] are missing (as root), or fail saying what to install.
pub fn ensure() -> Result {
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        bail!(
            "missing Debian packages: {list}\n  install them with: sudo apt-get install -y {list}"
        );
    }
    say!("installing missing Debian packages: {list}");
    apt_update()?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// `apt-get update`.
pub fn apt_update() -> Result {
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))
}
