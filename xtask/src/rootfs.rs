//! A minimal busybox root filesystem for the demo and the system tests.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Context, Result, capture, is_root, remove_tree, run, target_dir};
use crate::{bail, deps, say};

/// `/etc/passwd` of the rootfs.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      demo:x:1000:1000:demo:/home/demo:/bin/sh\n";

/// `/etc/group` of the rootfs: `demo` is also in the supplementary group `extra`.
const GROUP: &str = "root:x:0:\n\
                     demo:x:1000:\n\
                     extra:x:2000:demo\n";

/// Whether `path` is an ELF file without a PT_INTERP program header.
fn is_static_elf(path: &Path) -> bool {
    match capture(Command::new("readelf").args(["-lW"]).arg(path)) {
        Ok(out) => !out.contains("INTERP"),
        Err(_) => false,
    }
}

/// A static busybox binary: the host's if it has one, else one unpacked from
/// the `busybox-static` Debian package under `target/busybox-deb/` (no global install).
pub fn find_busybox() -> Result<PathBuf> {
    for host in ["/bin/busybox", "/usr/bin/busybox"] {
        let host = Path::new(host);
        if host.is_file() && is_static_elf(host) {
            return Ok(host.to_path_buf());
        }
    }
    let dir = target_dir().join("busybox-deb");
    let root = dir.join("root");
    let unpacked = || {
        ["bin/busybox", "usr/bin/busybox"]
            .iter()
            .map(|p| root.join(p))
            .find(|p| p.is_file())
    };
    if let Some(bb) = unpacked() {
        return Ok(bb);
    }

    say!(
        "no static busybox on the host; downloading busybox-static into {}",
        dir.display()
    );
    fs::create_dir_all(&dir).ctx(format!("creating {}", dir.display()))?;
    let download = || {
        let mut cmd = Command::new("apt-get");
        cmd.current_dir(&dir).args(["download", "busybox-static"]);
        if is_root() {
            // Avoid the "download is performed unsandboxed as root" warning.
            cmd.args(["-o", "APT::Sandbox::User=root"]);
        }
        run(&mut cmd)
    };
    if download().is_err() {
        if !is_root() {
            bail!("`apt-get download busybox-static` failed; run `sudo apt-get update` and retry");
        }
        deps::apt_update()?;
        download()?;
    }
    let deb = fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.extension().is_some_and(|e| e == "deb")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("busybox-static_"))
        })
        .ok_or_else(|| {
            crate::util::Error(format!("no busybox-static .deb in {}", dir.display()))
        })?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    let bb = unpacked().ok_or_else(|| {
        crate::util::Error(format!(
            "busybox not found in the unpacked {}",
            deb.display()
        ))
    })?;
    if !is_static_elf(&bb) {
        bail!("{} is not a static ELF executable", bb.display());
    }
    Ok(bb)
}

/// Build a fresh busybox rootfs at `dest` (replacing any old one): `/bin` with
/// busybox and a symlink per applet, `/etc/passwd` and `/etc/group` with root,
/// `demo` (1000:1000) and group `extra` (2000, containing demo), and empty
/// `/proc /sys /dev /tmp /root /home/demo`.
pub fn make(busybox: &Path, dest: &Path) -> Result {
    remove_tree(dest)?;
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/demo",
    ] {
        fs::create_dir_all(dest.join(d)).ctx(format!("creating {}", dest.join(d).display()))?;
    }
    let bin = dest.join("bin");
    let bb = bin.join("busybox");
    fs::copy(busybox, &bb).ctx(format!("copying {}", busybox.display()))?;
    fs::set_permissions(&bb, fs::Permissions::from_mode(0o755))?;

    let applets = capture(Command::new(&bb).arg("--list"))?;
    let mut n = 0;
    for applet in applets.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", bin.join(applet)).ctx(format!("linking applet {applet}"))?;
        n += 1;
    }
    if n == 0 {
        bail!("`{} --list` listed no applets", bb.display());
    }

    fs::write(dest.join("etc/passwd"), PASSWD)?;
    fs::write(dest.join("etc/group"), GROUP)?;
    fs::set_permissions(dest.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(dest.join("root"), fs::Permissions::from_mode(0o700))?;
    if is_root() {
        std::os::unix::fs::chown(dest.join("home/demo"), Some(1000), Some(1000))
            .ctx("chown /home/demo")?;
    }
    say!("busybox rootfs with {n} applets at {}", dest.display());
    Ok(())
}
