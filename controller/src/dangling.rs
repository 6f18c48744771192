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
/// symlinks of the rootfs, or `None` when its last component is not a
/// symlink there (or its directory is missing, made by the stub later).
///
/// `root` is the rootfs directory (an `O_PATH` fd), and `covered` says
/// whether a rootfs-relative path is equal to or below a mount the plan
/// makes earlier. Only the last component may be a symlink: the
/// directories on the way are opened without following any
/// (`RESOLVE_NO_SYMLINKS`), so that the path as spelled is the path looked
/// up, and none of them may be covered (a symlink is read only from the
/// rootfs itself). A path through a symlinked directory is left to the
/// stub. Each symlink's content is joined to its directory (absolute
/// content to the rootfs), with `..` applied lexically and never above
/// the rootfs, as `SecureJoin` does. A link to the rootfs itself gives
/// `"."`, which the caller refuses (the mount would cover the container's
/// root; runc refuses it too).
pub fn follow(
    root: BorrowedFd<'_>,
    target: &str,
    covered: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut path = target.to_string();
    let mut moved = false;
    for _ in 0..MAX_HOPS {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        // Every directory the lookup passes is a prefix of `parent` as
        // spelled (no symlink followed on the way): none may be covered by
        // an earlier mount, whose contents the rootfs does not show.
        if !parent.is_empty() && covered(parent) {
            break;
        }
        let dir: Option<OwnedFd> = if parent.is_empty() {
            None
        } else {
            let resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS;
            match sys::openat2(
                &root,
                Path::new(parent),
                OFlag::O_PATH | OFlag::O_DIRECTORY,
                resolve,
            ) {
                Ok(fd) => Some(fd),
                Err(_) => break,
            }
        };
        let dir_fd = dir.as_ref().map_or(root.as_raw_fd(), |d| d.as_raw_fd());
        // Not a symlink (EINVAL) or missing (ENOENT): resolved.
        let Ok(content) = nix::fcntl::readlinkat(Some(dir_fd), name) else {
            break;
        };
        let content = content.to_string_lossy();
        let next = if content.starts_with('/') {
            rootfs_relative(&content)
        } else {
            rootfs_relative(&format!("{parent}/{content}"))
        };
        if next == "." {
            return Some(next);
        }
        path = next;
        moved = true;
        if covered(&path) {
            break;
        }
    }
    moved.then_some(path)
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
        // A path through a symlinked directory is left to the stub.
        assert_eq!(run(&d, "lnk/sub/rel", &[]), None);
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
        assert_eq!(run(&d, "loop", &[]).as_deref(), Some("loop"));
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
        // (`b -> /a/sub`, `/a` mounted earlier; the attack pass's case).
        std::fs::create_dir_all(d.join("a/sub")).unwrap();
        symlink("/elsewhere", d.join("a/sub/x")).unwrap();
        symlink("/a/sub", d.join("b")).unwrap();
        assert_eq!(run(&d, "b/x/y", &["a"]), None);
        assert_eq!(run(&d, "a/sub/x/y", &["a"]), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
