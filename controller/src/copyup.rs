//! `tmpcopyup`, the runc mount extension podman uses for `--read-only`
//! (tmpfs on `/run`, `/tmp`, `/var/tmp`): a `tmpfs` mount that starts with
//! a copy of what the image has at its destination (runc's
//! `fileutils.CopyDirectory` into the new tmpfs, then the tmpfs root gets
//! the mode of the directory it covers).
//!
//! The stub mounts the tmpfs like any other mount; the copy is made here,
//! in the controller, while the stub waits before `pivot_root` (the
//! `Hooks` pause, [`sprout_protocol::flags::HOOKS_BEFORE_PIVOT`]):
//!
//! - the source is the destination inside the rootfs as the *host* sees
//!   it: the container's mounts do not propagate back, so the host still
//!   sees the image's directory under the tmpfs. It is resolved with
//!   `openat2(RESOLVE_IN_ROOT)`, so a symlink in the image cannot point it
//!   at a host directory; a missing source means an empty tmpfs.
//! - the destination is the same path in the container's mount namespace,
//!   through `/proc/PID/root` of the waiting stub (also `RESOLVE_IN_ROOT`),
//!   and must be a tmpfs.
//!
//! Directories, regular files, symlinks, FIFOs and device nodes are copied
//! with owner, mode and times; sockets are skipped. Nothing is followed:
//! symlinks are copied as symlinks, every entry is opened `O_NOFOLLOW`
//! relative to its parent's fd. An entry the stub already created for a
//! later mount (a mount point inside the tmpfs) is left alone (a directory
//! there on the tmpfs itself, a mount target's parent, gets the image's
//! owner, mode and times), and no directory on another filesystem is
//! entered, so the copy cannot write into a bind mount.
//!
//! With a user namespace the tmpfs belongs to it, and the kernel refuses
//! (`EOVERFLOW`) to create files for an owner it does not map: the copy
//! then runs with the filesystem ids of the container's root (the host ids
//! that `/proc/PID/uid_map` and `gid_map` give for 0, see
//! [`crate::sys::with_fs_ids`]), and each entry is then given its owner.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, ResolveFlag};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fstat, fstatat, mkdirat, mknodat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::Mount;

use crate::error::{Error, Result};
use crate::mounts::rootfs_relative;
use crate::sys;

/// `TMPFS_MAGIC` (`<linux/magic.h>`).
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// Deepest directory nesting copied (deeper is `ELOOP`).
const MAX_DEPTH: usize = 128;

/// One `tmpfs` mount with `tmpcopyup`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyUp {
    /// Index in `mounts`.
    pub index: usize,
    /// `mounts[index].destination` as given.
    pub destination: String,
    /// The destination relative to the rootfs (`run`, `var/tmp`).
    pub target: String,
    /// Whether the image has a directory there (checked before the stub
    /// runs: it creates missing mount targets). Without one the tmpfs is
    /// left as mounted, as runc leaves it.
    pub source_exists: bool,
}

/// The `tmpfs` entries of `mounts` with the `tmpcopyup` option (runc
/// ignores the option on other types, and so do we), for the rootfs at
/// `rootfs`; call before the container is started.
pub fn targets(rootfs: &Path, mounts: &[Mount]) -> Vec<CopyUp> {
    let root = open_dir_path(rootfs).ok();
    let is_dir = |target: &str| {
        let resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
        root.as_ref().is_some_and(|r| {
            sys::openat2(
                r,
                Path::new(target),
                OFlag::O_PATH | OFlag::O_DIRECTORY,
                resolve,
            )
            .is_ok()
        })
    };
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| m.typ().as_deref() == Some("tmpfs"))
        .filter(|(_, m)| m.options().iter().flatten().any(|o| o == "tmpcopyup"))
        .map(|(index, m)| {
            let destination = m.destination().to_string_lossy().into_owned();
            let target = rootfs_relative(&destination);
            CopyUp {
                index,
                source_exists: is_dir(&target),
                target,
                destination,
            }
        })
        .collect()
}

/// Copies each entry's source into its tmpfs; `rootfs` is the rootfs path
/// (the same on both sides: the stub bound it on itself), `pid` a process
/// in the container's mount namespace that has not pivoted yet.
pub fn run(rootfs: &Path, pid: i32, list: &[CopyUp]) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let ids = root_ids(pid)?;
    for c in list.iter().filter(|c| c.source_exists) {
        let copied = match ids {
            (0, 0) => copy_one(rootfs, pid, c),
            (uid, gid) => {
                sys::with_fs_ids(uid, gid, || copy_one(rootfs, pid, c)).map_err(|e| Error::Sys {
                    context: "tmpcopyup: setting the filesystem ids".into(),
                    errno: e,
                })?
            }
        };
        copied.map_err(|(what, path, errno)| Error::Sys {
            context: format!(
                "mounts[{}] \"{}\": tmpcopyup: {what}{}",
                c.index,
                c.destination,
                if path.as_os_str().is_empty() {
                    String::new()
                } else {
                    format!(" \"{}\"", path.display())
                }
            ),
            errno,
        })?;
    }
    Ok(())
}

/// The host uid and gid of the container's root (0 of its user namespace,
/// from `/proc/PID/uid_map` and `gid_map`; the first mapped id when 0 is not
/// mapped). `(0, 0)` without a user namespace.
fn root_ids(pid: i32) -> Result<(u32, u32)> {
    let read = |name: &str| -> Result<u32> {
        let path = format!("/proc/{pid}/{name}");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("tmpcopyup: reading {path}"), &e))?;
        Ok(host_id_of_root(&text))
    };
    Ok((read("uid_map")?, read("gid_map")?))
}

/// The outside id of inside id 0 in an id map's text (`inside outside
/// count` lines), else the first outside id; 0 for an empty map.
fn host_id_of_root(map: &str) -> u32 {
    let lines: Vec<Vec<u32>> = map
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .collect();
    let zero = lines.iter().find(|f| f.len() == 3 && f[0] == 0 && f[2] > 0);
    zero.or(lines.first())
        .and_then(|f| f.get(1))
        .copied()
        .unwrap_or(0)
}

/// A failure: what was done, on which path (relative to the mount), errno.
type Fail = (&'static str, PathBuf, Errno);

fn at<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> Fail + 'a {
    move |e| (what, path.to_path_buf(), e)
}

pub(crate) fn open_dir_path(path: &Path) -> std::result::Result<OwnedFd, Errno> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

fn copy_one(rootfs: &Path, pid: i32, c: &CopyUp) -> std::result::Result<(), Fail> {
    let none = Path::new("");
    let resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
    let host_root = open_dir_path(rootfs).map_err(at("opening the rootfs", rootfs))?;
    let src = match sys::openat2(&host_root, Path::new(&c.target), dir_flags, resolve) {
        Ok(fd) => fd,
        // Nothing in the image there: the tmpfs stays empty.
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(("opening the image's directory", none.to_path_buf(), e)),
    };
    let ns_root =
        PathBuf::from(format!("/proc/{pid}/root")).join(rootfs.strip_prefix("/").unwrap_or(rootfs));
    let ns_root = open_dir_path(&ns_root).map_err(at("opening the container's rootfs", none))?;
    let dst = sys::openat2(&ns_root, Path::new(&c.target), dir_flags, resolve)
        .map_err(at("opening the tmpfs", none))?;
    let fs = nix::sys::statfs::fstatfs(&dst).map_err(at("statfs of the tmpfs", none))?;
    if fs.filesystem_type().0 as i64 != TMPFS_MAGIC {
        return Err((
            "the mounted destination is not a tmpfs",
            none.to_path_buf(),
            Errno::EINVAL,
        ));
    }
    let dev = fstat(dst.as_raw_fd())
        .map_err(at("stat of the tmpfs", none))?
        .st_dev;
    copy_dir(&src, &dst, dev, Path::new(""), 0)?;
    // runc: the tmpfs root gets the mode of the directory it covers.
    let st = fstat(src.as_raw_fd()).map_err(at("stat", none))?;
    nix::sys::stat::fchmod(
        dst.as_raw_fd(),
        Mode::from_bits_truncate(st.st_mode & 0o7777),
    )
    .map_err(at("chmod of the tmpfs", none))
}

/// The names in the directory `dir` (read through `/proc/self/fd`).
fn names(dir: &OwnedFd) -> std::result::Result<Vec<Vec<u8>>, Errno> {
    let errno = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd())).map_err(errno)? {
        out.push(e.map_err(errno)?.file_name().as_bytes().to_vec());
    }
    Ok(out)
}

fn times(st: &nix::sys::stat::FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

fn owner(st: &nix::sys::stat::FileStat) -> (Option<Uid>, Option<Gid>) {
    (
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
}

/// Copies the entries of `src` into `dst` (on the device `dev`); `rel` is
/// the path of `src` below the mount, for errors.
fn copy_dir(
    src: &OwnedFd,
    dst: &OwnedFd,
    dev: u64,
    rel: &Path,
    depth: usize,
) -> std::result::Result<(), Fail> {
    if depth > MAX_DEPTH {
        return Err((
            "copying (too deeply nested)",
            rel.to_path_buf(),
            Errno::ELOOP,
        ));
    }
    let (s, d) = (src.as_raw_fd(), dst.as_raw_fd());
    for name in names(src).map_err(at("reading the directory", rel))? {
        let name = OsStr::from_bytes(&name);
        let path = rel.join(name);
        let st = fstatat(Some(s), name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(at("stat", &path))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let (atime, mtime) = times(&st);
        let (uid, gid) = owner(&st);
        let nofollow = OFlag::O_NOFOLLOW;
        match kind {
            SFlag::S_IFDIR => {
                let created = match mkdirat(Some(d), name, Mode::from_bits_truncate(0o700)) {
                    Ok(()) => true,
                    Err(Errno::EEXIST) => false,
                    Err(e) => return Err(("mkdir", path, e)),
                };
                let sub_dst = match sys::openat(
                    dst,
                    Path::new(name),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                    0,
                ) {
                    Ok(fd) => fd,
                    // An existing non-directory (a mount point file): leave it.
                    Err(Errno::ENOTDIR | Errno::ELOOP) if !created => continue,
                    Err(e) => return Err(("open", path, e)),
                };
                if !created
                    && fstat(sub_dst.as_raw_fd())
                        .map_err(at("stat", &path))?
                        .st_dev
                        != dev
                {
                    continue;
                }
                let sub_src = sys::openat(
                    src,
                    Path::new(name),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                    0,
                )
                .map_err(at("open", &path))?;
                copy_dir(&sub_src, &sub_dst, dev, &path, depth + 1)?;
                // Also when it was there: then the stub made it, in the
                // tmpfs, as the parent of a later mount's target.
                let f = sub_dst.as_raw_fd();
                nix::unistd::fchown(f, uid, gid).map_err(at("chown", &path))?;
                nix::sys::stat::fchmod(f, mode).map_err(at("chmod", &path))?;
                nix::sys::stat::futimens(f, &atime, &mtime).map_err(at("utimens", &path))?;
            }
            SFlag::S_IFREG => {
                let out = match sys::openat(
                    dst,
                    Path::new(name),
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | nofollow,
                    0o600,
                ) {
                    Ok(fd) => File::from(fd),
                    Err(Errno::EEXIST) => continue,
                    Err(e) => return Err(("create", path, e)),
                };
                let mut input = File::from(
                    sys::openat(
                        src,
                        Path::new(name),
                        OFlag::O_RDONLY | OFlag::O_NONBLOCK | nofollow,
                        0,
                    )
                    .map_err(at("open", &path))?,
                );
                let mut writer = &out;
                std::io::copy(&mut input, &mut writer).map_err(|e| {
                    (
                        "copy",
                        path.clone(),
                        Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                    )
                })?;
                let f = out.as_raw_fd();
                nix::unistd::fchown(f, uid, gid).map_err(at("chown", &path))?;
                nix::sys::stat::fchmod(f, mode).map_err(at("chmod", &path))?;
                nix::sys::stat::futimens(f, &atime, &mtime).map_err(at("utimens", &path))?;
            }
            SFlag::S_IFLNK => {
                let target =
                    nix::fcntl::readlinkat(Some(s), name).map_err(at("readlink", &path))?;
                match nix::unistd::symlinkat(target.as_os_str(), Some(d), name) {
                    Ok(()) => {}
                    Err(Errno::EEXIST) => continue,
                    Err(e) => return Err(("symlink", path, e)),
                }
                nix::unistd::fchownat(Some(d), name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(at("chown", &path))?;
                nix::sys::stat::utimensat(
                    Some(d),
                    name,
                    &atime,
                    &mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(at("utimens", &path))?;
            }
            SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK => {
                match mknodat(
                    Some(d),
                    name,
                    kind,
                    Mode::from_bits_truncate(0o600),
                    st.st_rdev,
                ) {
                    Ok(()) => {}
                    Err(Errno::EEXIST) => continue,
                    Err(e) => return Err(("mknod", path, e)),
                }
                // Just created by us, and nothing runs in the container yet:
                // the name is the node.
                nix::unistd::fchownat(Some(d), name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(at("chown", &path))?;
                nix::sys::stat::fchmodat(Some(d), name, mode, FchmodatFlags::FollowSymlink)
                    .map_err(at("chmod", &path))?;
                nix::sys::stat::utimensat(
                    Some(d),
                    name,
                    &atime,
                    &mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(at("utimens", &path))?;
            }
            // Sockets (and anything else) are not copied, as runc.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::MountBuilder;

    #[test]
    fn root_of_id_maps() {
        assert_eq!(host_id_of_root("         0          0 4294967295\n"), 0);
        assert_eq!(
            host_id_of_root("         0     100000      65536\n"),
            100000
        );
        assert_eq!(
            host_id_of_root(
                "      1000       5000          1\n         0     100000        1000\n"
            ),
            100000
        );
        assert_eq!(host_id_of_root("      1000       5000          1\n"), 5000);
        assert_eq!(host_id_of_root(""), 0);
    }

    #[test]
    fn only_tmpfs_with_the_option() {
        let m = |dest: &str, typ: &str, opts: &[&str]| {
            MountBuilder::default()
                .destination(dest)
                .typ(typ)
                .source(typ)
                .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .build()
                .unwrap()
        };
        let mounts = [
            m("/proc", "proc", &[]),
            m("/run", "tmpfs", &["rw", "tmpcopyup"]),
            m("/tmp", "tmpfs", &["rw"]),
            m("/data", "bind", &["bind", "tmpcopyup"]),
            m("/var//tmp/", "tmpfs", &["tmpcopyup", "nosuid"]),
        ];
        let dir = std::env::temp_dir().join(format!("sprout-copyup-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("var/tmp")).unwrap();
        let t = targets(&dir, &mounts);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            t,
            vec![
                CopyUp {
                    index: 1,
                    destination: "/run".into(),
                    target: "run".into(),
                    source_exists: false
                },
                CopyUp {
                    index: 4,
                    destination: "/var//tmp/".into(),
                    target: "var/tmp".into(),
                    source_exists: true
                },
            ]
        );
    }
}
