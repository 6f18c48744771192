//! Mount targets that are symlinks in the rootfs, resolved ahead of time.
//!
//! runc joins a mount's destination to the rootfs with
//! `securejoin.SecureJoin` (every symlink followed, inside the rootfs; a
//! missing rest kept as it is) and then creates what that names
//! (`MkdirAll`, or an empty file for the bind of a file). So a destination
//! `/etc/resolv.conf` that the image links to the missing
//! `../run/systemd/resolve/stub-resolv.conf` gets that file made and
//! mounted on. The stub resolves targets inside the rootfs too
//! (`openat2(RESOLVE_IN_ROOT)`), but a dangling symlink there is `ENOENT`.
//!
//! The plan therefore names the place the symlink leads to, read from the
//! rootfs before anything is mounted: [`follow`]. Only what the rootfs
//! itself holds is read. A path equal to or below an earlier mount of the
//! plan is left for the stub to resolve at mount time, where that mount is
//! in place. The stub still resolves the rewritten target inside the
//! rootfs, so a rootfs changed in between can misdirect a mount only
//! within the container.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, ResolveFlag};

use crate::mounts::rootfs_relative;
use crate::sys;

/// The kernel's limit of symlinks followed in one lookup (`MAXSYMLINKS`,
/// path_resolution(7)); a longer chain is left to the stub (`ELOOP`).
const MAX_HOPS: usize = 40;

/// The rootfs-relative path (`"run/x"`) that the mount target `target`
/// (rootfs-relative, as [`rootfs_relative`] makes it) leads to through
/// symlinks of the rootfs, or `None` when no component of it is a symlink
/// there (the stub then makes and mounts the path as spelled).
///
/// `root` is the rootfs directory (an `O_PATH` fd), and `covered` says
/// whether a rootfs-relative path is equal to or below a mount the plan
/// makes earlier. The path is walked one component at a time, as
/// `SecureJoin` walks it: a component that is a symlink in the rootfs is
/// replaced by its content, joined to the directory it is in (absolute
/// content to the rootfs), with `..` applied lexically and never above
/// the rootfs; a missing component ends the reading (what follows is made
/// by the stub). Each directory is opened without following any symlink
/// (`RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS`: the walk itself follows
/// them), and a prefix equal to or below an earlier mount stops it: the
/// rest is left, as it stands, to the stub, which resolves it at mount
/// time, when that mount shows its own contents (the rootfs's are hidden
/// there). More than [`MAX_HOPS`] links give `None` (the stub's `ELOOP`).
/// A link to the rootfs itself gives `"."`, which the caller refuses (the
/// mount would cover the container's root; runc refuses it too).
pub fn follow(
    root: BorrowedFd<'_>,
    target: &str,
    covered: impl Fn(&str) -> bool,
) -> Option<String> {
    // Still to walk, in reverse (the next component last).
    let mut rest: Vec<String> = target.rsplit('/').map(str::to_string).collect();
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = rest.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let dir = done.join("/");
        done.push(c);
        if covered(&done.join("/")) {
            break;
        }
        let dir_fd: Option<OwnedFd> = if dir.is_empty() {
            None
        } else {
            let resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS;
            match sys::openat2(
                &root,
                Path::new(&dir),
                OFlag::O_PATH | OFlag::O_DIRECTORY,
                resolve,
            ) {
                Ok(fd) => Some(fd),
                Err(_) => break, // missing (or not a directory): made by the stub
            }
        };
        let at = dir_fd.as_ref().map_or(root.as_raw_fd(), |d| d.as_raw_fd());
        // Not a symlink (EINVAL) or missing (ENOENT): taken as it is.
        let Ok(content) = nix::fcntl::readlinkat(Some(at), done.last().map_or("", |c| c.as_str()))
        else {
            continue;
        };
        hops += 1;
        if hops > MAX_HOPS {
            return None;
        }
        done.pop();
        let content = content.to_string_lossy();
        if content.starts_with('/') {
            done.clear();
        }
        rest.extend(content.rsplit('/').map(str::to_string));
    }
    if hops == 0 {
        return None;
    }
    let walked: Vec<String> = done.into_iter().chain(rest.into_iter().rev()).collect();
    Some(rootfs_relative(&walked.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    fn rootfs(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sprout-dangling-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        symlink("real", d.join("lnk")).unwrap();
        d.canonicalize().unwrap()
    }

    fn run(d: &Path, target: &str, covered: &[&str]) -> Option<String> {
        let root = crate::copyup::open_dir_path(d).unwrap();
        follow(root.as_fd(), target, |p| {
            covered
                .iter()
                .any(|c| p == *c || p.starts_with(&format!("{c}/")))
        })
    }

    #[test]
    fn follows_dangling_links_inside_the_rootfs() {
        let d = rootfs("follow");
        symlink(
            "../run/systemd/resolve/stub-resolv.conf",
            d.join("etc/resolv.conf"),
        )
        .unwrap();
        symlink("/nonexist/deeper", d.join("abs")).unwrap();
        symlink("../../../../../outside", d.join("etc/up")).unwrap();
        symlink("../x", d.join("real/sub/rel")).unwrap();
        symlink("hop2", d.join("etc/hop1")).unwrap();
        symlink("/etc/resolv.conf", d.join("etc/hop2")).unwrap();
        symlink("/", d.join("toroot")).unwrap();
        symlink("loop", d.join("loop")).unwrap();
        // Relative to the link's directory; absolute from the rootfs.
        assert_eq!(
            run(&d, "etc/resolv.conf", &[]).as_deref(),
            Some("run/systemd/resolve/stub-resolv.conf")
        );
        assert_eq!(run(&d, "abs", &[]).as_deref(), Some("nonexist/deeper"));
        // `..` never above the rootfs.
        assert_eq!(run(&d, "etc/up", &[]).as_deref(), Some("outside"));
        // Symlinked directories on the way, dangling ones too (runc makes
        // `tmp/x/sub/x` for `dangl -> /tmp/x`).
        assert_eq!(run(&d, "lnk/sub/rel", &[]).as_deref(), Some("real/x"));
        symlink("/tmp/x", d.join("dangl")).unwrap();
        assert_eq!(run(&d, "dangl/sub/x", &[]).as_deref(), Some("tmp/x/sub/x"));
        assert_eq!(run(&d, "lnk/sub", &[]).as_deref(), Some("real/sub"));
        // Chains.
        assert_eq!(
            run(&d, "etc/hop1", &[]).as_deref(),
            Some("run/systemd/resolve/stub-resolv.conf")
        );
        // Plain entries, missing ones, the root, loops.
        assert_eq!(run(&d, "etc", &[]), None);
        assert_eq!(run(&d, "etc/missing", &[]), None);
        assert_eq!(run(&d, "nodir/missing", &[]), None);
        assert_eq!(run(&d, "toroot", &[]).as_deref(), Some("."));
        assert_eq!(run(&d, "loop", &[]), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn stops_at_earlier_mounts() {
        let d = rootfs("covered");
        symlink("../run/a", d.join("etc/l")).unwrap();
        std::fs::create_dir_all(d.join("run")).unwrap();
        symlink("/elsewhere", d.join("run/a")).unwrap();
        // /run is mounted earlier: its link in the rootfs is not read.
        assert_eq!(run(&d, "etc/l", &["run"]).as_deref(), Some("run/a"));
        assert_eq!(run(&d, "etc/l", &[]).as_deref(), Some("elsewhere"));
        // A link in a directory mounted earlier is not read at all.
        assert_eq!(run(&d, "etc/l", &["etc"]), None);
        // Nor one reached through a directory mounted earlier
        // (`b -> /a/sub`, `/a` mounted earlier; the attack pass's case):
        // the rest goes to the stub as it stands, resolved in that mount.
        std::fs::create_dir_all(d.join("a/sub")).unwrap();
        symlink("/elsewhere", d.join("a/sub/x")).unwrap();
        symlink("/a/sub", d.join("b")).unwrap();
        assert_eq!(run(&d, "b/x/y", &["a"]).as_deref(), Some("a/sub/x/y"));
        assert_eq!(run(&d, "a/sub/x/y", &["a"]), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
