//! The root filesystem, in runc's `prepareRootfs` order: propagation, bind
//! of the rootfs on itself, the plan's mounts/devices/symlinks (targets
//! resolved inside the rootfs), createContainer hooks, `pivot_root`; then
//! masked paths, read-only paths, sysctl writes and the read-only root.

use core::ffi::CStr;

use sprout_protocol::{MountKind, MountOp, Msg, Plan, Step, flags, mount_opts};

use crate::fail::{At, Res};
use crate::sync::Sync;
use crate::sys::abi::*;
use crate::sys::{self, Errno, Fd, RawFd};

/// Longest path the stub builds (`PATH_MAX`, including the NUL).
pub const PATH_MAX: usize = 4096;

/// `statfs(2)` `f_flags` bits (ST_NOSUID, ST_NODEV, ST_NOEXEC, ST_NOATIME,
/// ST_NODIRATIME, ST_RELATIME) that equal their `MS_*` counterparts and
/// must be repeated in a bind remount, or a locked mount refuses it (EPERM).
const KEEP_ON_REMOUNT: u64 = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME;

/// Resolution for paths inside the rootfs (openat2(2)): `..` and absolute
/// symlinks stay inside the root, and `/proc/*/fd`-style magic links are
/// refused, so no target can point out of it.
const IN_ROOT: u64 = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

/// `/proc/self/fd/N` of an fd: a path `mount(2)` follows to exactly the
/// file the fd refers to (runc's `WithProcfd`). /proc is the host's until
/// pivot_root.
struct FdPath {
    buf: [u8; 32],
}

impl FdPath {
    fn new(fd: RawFd) -> Self {
        let mut buf = [0u8; 32];
        let prefix = b"/proc/self/fd/";
        buf[..prefix.len()].copy_from_slice(prefix);
        // Digits backwards from a fixed end, then shifted into place.
        let mut digits = [0u8; 10];
        let mut n = fd as u32;
        let mut d = digits.len();
        while let Some(slot) = d.checked_sub(1).and_then(|j| digits.get_mut(j)) {
            *slot = b'0' + (n % 10) as u8;
            d -= 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for (dst, src) in buf[prefix.len()..].iter_mut().zip(digits.get(d..).unwrap_or(&[])) {
            *dst = *src;
        }
        FdPath { buf }
    }

    fn get(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/")
    }
}

/// A NUL-terminated copy of `src[..len]` on the stack (`"/"` when empty).
struct PathCopy {
    buf: [u8; PATH_MAX],
}

impl PathCopy {
    fn new(src: &[u8]) -> Result<Self, Errno> {
        let src = if src.is_empty() { b"/" } else { src };
        if src.len() >= PATH_MAX {
            return Err(Errno::NAMETOOLONG);
        }
        let mut buf = [0u8; PATH_MAX];
        buf.get_mut(..src.len()).ok_or(Errno::NAMETOOLONG)?.copy_from_slice(src);
        Ok(PathCopy { buf })
    }

    /// The string up to (not including) byte `end`.
    fn prefix(&mut self, end: usize) -> Result<&CStr, Errno> {
        *self.buf.get_mut(end).ok_or(Errno::NAMETOOLONG)? = 0;
        CStr::from_bytes_until_nul(&self.buf).map_err(|_| Errno::INVAL)
    }
}

/// Opens `path` inside `root` as an `O_PATH` fd (openat2 with RESOLVE_IN_ROOT).
fn open_in(root: RawFd, path: &CStr, dir: bool) -> Result<Fd, Errno> {
    let fl = O_PATH | O_CLOEXEC | if dir { O_DIRECTORY } else { 0 };
    loop {
        match sys::openat2(root, path, fl, IN_ROOT) {
            // EAGAIN: a concurrent rename raced the scoped lookup; retry.
            Err(Errno::AGAIN | Errno::INTR) => {}
            r => return r,
        }
    }
}

/// Creates each missing component of `path` inside `root` (`mkdir -p`, 0755
/// under umask 0), the last one as an empty regular file when `file`. Each
/// component is created relative to its parent's fd, which was itself
/// resolved inside the root, so a symlink can never redirect creation out.
fn create(root: RawFd, path: &CStr, file: bool) -> Result<(), Errno> {
    let src = path.to_bytes();
    let mut copy = PathCopy::new(src)?;
    let mut parent: Option<Fd> = None;
    let mut start = 0;
    while let Some(rest) = src.get(start..) {
        let Some(skip) = rest.iter().position(|&c| c != b'/') else {
            break;
        };
        start += skip;
        let rest = src.get(start..).unwrap_or(&[]);
        let end = start + rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
        let last = src.get(end..).unwrap_or(&[]).iter().all(|&c| c == b'/');
        let fd = {
            let prefix = copy.prefix(end)?;
            match open_in(root, prefix, false) {
                Err(Errno::NOENT) => {
                    let name = prefix
                        .to_bytes_with_nul()
                        .get(start..)
                        .and_then(|n| CStr::from_bytes_with_nul(n).ok())
                        .ok_or(Errno::INVAL)?;
                    let at = parent.as_ref().map_or(root, Fd::raw);
                    let made = if last && file {
                        sys::mknodat(at, name, S_IFREG | 0o644, 0)
                    } else {
                        sys::mkdirat(at, name, 0o755)
                    };
                    match made {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e),
                    }
                    open_in(root, prefix, false)?
                }
                r => r?,
            }
        };
        if let Some(b) = copy.buf.get_mut(end) {
            *b = b'/';
        }
        parent = Some(fd);
        start = end;
    }
    Ok(())
}

/// Resolves a mount target inside `root`, creating it first when it is
/// missing and the op says CREATE_TARGET (a file for TARGET_FILE).
fn resolve(root: RawFd, op: &MountOp<'_>) -> Result<Fd, Errno> {
    match open_in(root, op.target, false) {
        Err(Errno::NOENT) if op.opts & mount_opts::CREATE_TARGET != 0 => {
            create(root, op.target, op.opts & mount_opts::TARGET_FILE != 0)?;
            open_in(root, op.target, false)
        }
        r => r,
    }
}

/// Resolves the parent directory of `op.target` inside `root` (created if
/// missing with CREATE_TARGET) and returns it with the last component, for
/// the `*at` calls that create the final entry without following it.
fn resolve_parent<'a>(root: RawFd, op: &MountOp<'a>) -> Result<(Fd, &'a CStr), Errno> {
    let full = op.target.to_bytes_with_nul();
    let slash = full.iter().rposition(|&c| c == b'/');
    let name = full.get(slash.map_or(0, |s| s + 1)..).unwrap_or(&[]);
    let name = CStr::from_bytes_with_nul(name).map_err(|_| Errno::INVAL)?;
    if matches!(name.to_bytes(), b"" | b"." | b"..") {
        return Err(Errno::INVAL);
    }
    let mut copy = PathCopy::new(full.get(..slash.unwrap_or(0)).unwrap_or(&[]))?;
    let len = match slash {
        Some(0) | None => 1,
        Some(s) => s,
    };
    let parent = copy.prefix(len)?;
    let dir = match open_in(root, parent, true) {
        Err(Errno::NOENT) if op.opts & mount_opts::CREATE_TARGET != 0 => {
            create(root, parent, false)?;
            open_in(root, parent, true)
        }
        r => r,
    }?;
    Ok((dir, name))
}

/// A `Mount` op: resolve (or create) the target inside the rootfs, mount
/// onto its `/proc/self/fd` path (or, with MOVE_FD, attach the detached
/// tree the controller prepared onto the fd), then the optional bind-remount and
/// propagation change on the new mount (re-resolved: the old fd refers to
/// what is now underneath).
fn mount_op(root: RawFd, op: &MountOp<'_>, i: u32) -> Res<()> {
    let mut target = resolve(root, op).at(Step::MountTarget, i)?;
    if op.opts & mount_opts::NO_SYMLINKS != 0 {
        // ELOOP if any component (created or not) is a symlink.
        let fl = O_PATH | O_CLOEXEC;
        target = sys::openat2(root, op.target, fl, IN_ROOT | RESOLVE_NO_SYMLINKS).at(Step::MountTarget, i)?;
    }
    if op.opts & mount_opts::MOVE_FD != 0 {
        sys::move_mount_onto(sys::fd(op.major), target.raw()).at(Step::Mount, i)?;
        sys::close(op.major);
    } else {
        sys::mount(op.source, FdPath::new(target.raw()).get(), op.fstype, op.flags, op.data).at(Step::Mount, i)?;
    }
    if op.remount_flags != 0 || op.propagation != 0 {
        let target = open_in(root, op.target, false).at(Step::MountTarget, i)?;
        let path = FdPath::new(target.raw());
        if op.remount_flags != 0 {
            sys::mount(None, path.get(), None, MS_REMOUNT | MS_BIND | op.remount_flags, None).at(Step::Mount, i)?;
        }
        if op.propagation != 0 {
            sys::mount(None, path.get(), None, op.propagation, None).at(Step::Mount, i)?;
        }
    }
    Ok(())
}

/// A `Device` op, as runc's `createDeviceNode`: `mknod` with the exact mode
/// (umask is 0 here) then `chown`; an existing node is left alone. With
/// BIND_DEVICE (user namespaces, where mknod is refused), an empty file is
/// created and the host's `source` device bound over it.
fn device_op(root: RawFd, op: &MountOp<'_>, i: u32) -> Res<()> {
    let (dir, name) = resolve_parent(root, op).at(Step::MountTarget, i)?;
    if op.opts & mount_opts::BIND_DEVICE != 0 {
        match sys::mknodat(dir.raw(), name, S_IFREG | 0o644, 0) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e).at(Step::Device, i),
        }
        let target = sys::openat(dir.raw(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0).at(Step::MountTarget, i)?;
        return sys::mount(op.source, FdPath::new(target.raw()).get(), None, MS_BIND, None).at(Step::Device, i);
    }
    match sys::mknodat(dir.raw(), name, op.mode, sys::makedev(op.major, op.minor)) {
        Err(Errno::EXIST) => return Ok(()),
        r => r.at(Step::Device, i)?,
    }
    sys::fchownat(dir.raw(), name, op.uid, op.gid, AT_SYMLINK_NOFOLLOW).at(Step::Device, i)
}

/// A `Symlink` op: `symlinkat(source, parent, name)`; an existing entry is
/// left alone (runc's `setupDevSymlinks`).
fn symlink_op(root: RawFd, op: &MountOp<'_>, i: u32) -> Res<()> {
    let (dir, name) = resolve_parent(root, op).at(Step::MountTarget, i)?;
    let source = op.source.ok_or(Errno::INVAL).at(Step::Symlink, i)?;
    match sys::symlinkat(source, dir.raw(), name) {
        Err(Errno::EXIST) => Ok(()),
        r => r.at(Step::Symlink, i),
    }
}

/// With a shared root propagation the rootfs's parent
/// mount may still be shared, which makes pivot_root fail (EINVAL) and
/// would leak our mounts to the host: make it private, like runc's
/// `rootfsParentMountPrivate`. The parent mount is the deepest ancestor of
/// the rootfs (itself included) that is a mount point: MS_PRIVATE on a
/// non-mount-point fails with EINVAL, so walk up until it succeeds.
fn parent_mount_private(rootfs: &CStr) -> Result<(), Errno> {
    let bytes = rootfs.to_bytes();
    let mut copy = PathCopy::new(bytes)?;
    let mut end = bytes.len();
    loop {
        let dir = copy.prefix(end.max(1))?;
        match sys::mount(None, dir, None, MS_PRIVATE, None) {
            Err(Errno::INVAL) if end > 1 => {}
            r => return r,
        }
        end = bytes
            .get(..end)
            .and_then(|b| b.iter().rposition(|&c| c == b'/'))
            .unwrap_or(0);
    }
}

/// Everything up to and including `pivot_root(2)`: first the propagation
/// of the whole tree, recursively (`MS_REC` | `rootfsPropagation`, default
/// `MS_SLAVE`, as runc's `prepareRoot`), then the rootfs bound on itself so
/// that it is a mount point pivot_root accepts.
pub fn prepare(plan: &Plan<'_>, sync: &Sync) -> Res<()> {
    let prop = match plan.rootfs_propagation {
        0 => MS_SLAVE,
        p => p,
    } | MS_REC;
    sys::mount(None, c"/", None, prop, None).at(Step::RootfsPropagation, 0)?;
    if prop & MS_SHARED != 0 {
        parent_mount_private(plan.rootfs).at(Step::RootfsPropagation, 0)?;
    }
    sys::mount(Some(plan.rootfs), plan.rootfs, None, MS_BIND | MS_REC, None).at(Step::BindRootfs, 0)?;
    let root = sys::open(plan.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC, 0).at(Step::BindRootfs, 0)?;
    // Device and directory modes exactly as planned (runc: umask 0 while
    // creating devices).
    let old_umask = sys::umask(0);
    for (i, op) in plan.mounts.iter().enumerate() {
        let i = i as u32;
        let r = match op.kind {
            MountKind::Mount => mount_op(root.raw(), &op, i),
            MountKind::Device => device_op(root.raw(), &op, i),
            MountKind::Symlink => symlink_op(root.raw(), &op, i),
            _ => Ok(()),
        };
        match r {
            Err(f) if f.errno == ENOENT && op.opts & mount_opts::OPTIONAL != 0 => {}
            r => r?,
        }
    }
    sys::umask(old_umask);
    if plan.has(flags::HOOKS_BEFORE_PIVOT) {
        sync.send(Msg::Hooks)?;
        sync.expect(Msg::HooksDone)?;
    }
    pivot(plan, root.raw()).at(Step::PivotRoot, 0)?;
    // The bind of the rootfs copied its private parent's propagation:
    // a shared rootfsPropagation is applied to the new root itself.
    if prop & MS_SHARED != 0 {
        sys::mount(None, c"/", None, prop, None).at(Step::RootfsPropagation, 0)?;
    }
    Ok(())
}

/// runc's `pivotRoot`: `pivot_root(".", ".")` stacks the old root on top of
/// the new one; make it a slave (no unmount events reach the host) and
/// detach it. With NO_PIVOT, runc's `msMoveRoot`: move the rootfs over "/"
/// and chroot into it.
fn pivot(plan: &Plan<'_>, root: RawFd) -> Result<(), Errno> {
    sys::fchdir(root)?;
    if plan.has(flags::NO_PIVOT) {
        sys::mount(Some(c"."), c"/", None, MS_MOVE, None)?;
        sys::chroot(c".")?;
    } else {
        sys::pivot_root(c".", c".")?;
        sys::mount(None, c".", None, MS_SLAVE | MS_REC, None)?;
        sys::umount_detach(c".")?;
    }
    sys::chdir(c"/")
}

/// Bind-remounts `path` read-only, repeating the flags `statfs(2)` reports
/// (runc's `readonlyPath`/`setReadonly`: dropping a locked nosuid/nodev/
/// noexec/atime flag would be refused in a user namespace).
fn remount_ro(path: &CStr) -> Result<(), Errno> {
    let keep = sys::statfs_flags(path)? & KEEP_ON_REMOUNT;
    sys::mount(None, path, None, keep | MS_BIND | MS_REMOUNT | MS_RDONLY, None)
}

/// runc's `maskPath`: bind /dev/null over a file; over a directory
/// (ENOTDIR) mount a read-only tmpfs.
fn mask(path: &CStr) -> Result<(), Errno> {
    match sys::mount(Some(c"/dev/null"), path, None, MS_BIND, None) {
        Err(Errno::NOTDIR) => sys::mount(Some(c"tmpfs"), path, Some(c"tmpfs"), MS_RDONLY, None),
        r => r,
    }
}

/// runc's `readonlyPath`: recursive bind on itself, then read-only remount.
fn readonly(path: &CStr) -> Result<(), Errno> {
    sys::mount(Some(path), path, None, MS_BIND | MS_REC, None)?;
    remount_ro(path)
}

/// Writes `data` to an existing file (sysctl under /proc/sys).
fn write_file(path: &CStr, data: Option<&CStr>) -> Result<(), Errno> {
    let f = sys::open(path, O_WRONLY | O_TRUNC | O_CLOEXEC, 0)?;
    let mut rest = data.map_or(&[][..], CStr::to_bytes);
    while !rest.is_empty() {
        match sys::write(f.raw(), rest) {
            Ok(n) => rest = rest.get(n..).unwrap_or(&[]),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// After pivot_root (and the console): the post-pivot ops in plan order
/// (absolute paths in the new root; a missing path is skipped for masked
/// and read-only paths, and for OPTIONAL writes), then the read-only root.
pub fn finish(plan: &Plan<'_>) -> Res<()> {
    for (i, op) in plan.mounts.iter().enumerate() {
        let (r, step) = match op.kind {
            MountKind::Mask => (mask(op.target), Step::Mask),
            MountKind::ReadonlyPath => (readonly(op.target), Step::ReadonlyPath),
            MountKind::WriteFile => (write_file(op.target, op.data), Step::WriteFile),
            _ => continue,
        };
        let skip = op.kind != MountKind::WriteFile || op.opts & mount_opts::OPTIONAL != 0;
        match r {
            Err(Errno::NOENT) if skip => {}
            r => r.at(step, i as u32)?,
        }
    }
    if plan.has(flags::READONLY_ROOTFS) {
        remount_ro(c"/").at(Step::ReadonlyRootfs, 0)?;
    }
    Ok(())
}
