//! The root filesystem, in runc's `prepareRootfs` order: propagation, bind
//! of the rootfs on itself, the plan's mounts/devices/symlinks (targets
//! resolved inside the rootfs), createContainer hooks, `pivot_root`; then
//! masked paths, read-only paths, sysctl writes and the read-only root.

use core::ffi::CStr;

use sprout_protocol::{MountKind, MountOp, Msg, Plan, Step, flags, mount_opts};

use crate::fail::{At, Fail, Res};
use crate::sync::Sync;
use crate::sys::abi::*;
use crate::sys::{self, CWD, Errno, Fd, PATH_MAX, RawFd};

/// `statfs(2)` `f_flags` bits (ST_NOSUID, ST_NODEV, ST_NOEXEC, ST_NOATIME,
/// ST_NODIRATIME, ST_RELATIME) that equal their `MS_*` counterparts and
/// must be repeated in a bind remount, or a locked mount refuses it (EPERM).
const KEEP_ON_REMOUNT: u64 =
    MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME;

/// Resolution for paths inside the rootfs (openat2(2)): `..` and absolute
/// symlinks stay inside the root, and `/proc/*/fd`-style magic links are
/// refused, so no target can point out of it.
const IN_ROOT: u64 = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

/// Resolution of one plain name in a directory already resolved inside
/// the rootfs: no symlink at all (`ELOOP`), nothing above the directory.
const ENTRY: u64 = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

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
        for (dst, src) in buf[prefix.len()..]
            .iter_mut()
            .zip(digits.get(d..).unwrap_or(&[]))
        {
            *dst = *src;
        }
        FdPath { buf }
    }

    fn get(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/")
    }
}

/// `bytes` NUL-terminated in `buf` (`"/"` when empty).
fn copy<'b>(buf: &'b mut [u8; PATH_MAX], bytes: &[u8]) -> Result<&'b CStr, Errno> {
    let bytes = if bytes.is_empty() { b"/" } else { bytes };
    if bytes.len() >= PATH_MAX {
        return Err(Errno::NAMETOOLONG);
    }
    buf.get_mut(..bytes.len())
        .ok_or(Errno::NAMETOOLONG)?
        .copy_from_slice(bytes);
    *buf.get_mut(bytes.len()).ok_or(Errno::NAMETOOLONG)? = 0;
    CStr::from_bytes_until_nul(buf).map_err(|_| Errno::INVAL)
}

/// `openat2(2)` with `O_PATH | O_CLOEXEC | extra`, retried on `EAGAIN` (a
/// concurrent rename raced a scoped lookup) and `EINTR`.
fn open_at(dir: RawFd, path: &CStr, extra: u32, resolve: u64) -> Result<Fd, Errno> {
    loop {
        match sys::openat2(dir, path, O_PATH | O_CLOEXEC | extra, resolve) {
            Err(Errno::AGAIN | Errno::INTR) => {}
            r => return r,
        }
    }
}

/// A plan path split into its parent directory (empty: the rootfs itself)
/// and its last component, when that is a plain name (not empty, `.` or
/// `..`, no trailing `/`).
fn split(path: &CStr) -> Option<(&[u8], &CStr)> {
    let full = path.to_bytes_with_nul();
    let slash = path.to_bytes().iter().rposition(|&c| c == b'/');
    let name = CStr::from_bytes_with_nul(full.get(slash.map_or(0, |s| s + 1)..)?).ok()?;
    if matches!(name.to_bytes(), b"" | b"." | b"..") {
        return None;
    }
    Some((full.get(..slash.unwrap_or(0))?, name))
}

/// Creates `name` in `dir` (an empty regular file when `file`, else a
/// directory; mode 0644/0755 under umask 0); an existing entry is fine.
fn make(dir: RawFd, name: &CStr, file: bool) -> Result<(), Errno> {
    let made = if file {
        sys::mknodat(dir, name, S_IFREG | 0o644, 0)
    } else {
        sys::mkdirat(dir, name, 0o755)
    };
    match made {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A plain entry (no symlink at its name) of a directory: the directory's
/// fd and the name.
type Entry<'a> = (RawFd, &'a CStr);

/// The fds [`Walk`] opens: kept open (all are `O_CLOEXEC`) until
/// [`Owned::close_from`] closes them with one `close_range(2)` per run of
/// consecutive numbers, instead of one `close(2)` each.
struct Owned {
    fds: [RawFd; Owned::CAP],
    len: usize,
}

impl Owned {
    const CAP: usize = 64;

    /// Takes ownership of `fd`; returns its number. Past the capacity the
    /// fd is left to execve to close (never reached: see `prepare`).
    fn keep(&mut self, fd: Fd) -> RawFd {
        let n = fd.into_raw();
        if let Some(slot) = self.fds.get_mut(self.len) {
            *slot = n;
            self.len += 1;
        }
        n
    }

    /// Closes every kept fd from index `from` on (`prepare` keeps the
    /// rootfs at index 0 until the end).
    fn close_from(&mut self, from: usize) {
        let fds = self.fds.get(from..self.len).unwrap_or(&[]);
        let mut i = 0;
        while let Some(&first) = fds.get(i) {
            let mut last = first;
            i += 1;
            while fds.get(i) == Some(&(last + 1)) {
                last += 1;
                i += 1;
            }
            let _ = sys::close_range(first, last);
        }
        self.len = self.len.min(from);
    }
}

/// The detached cgroup trees of [`Msg::CgroupTrees`]
/// ([`mount_opts::CGROUP_TREE`]), received at the first op that wants
/// one: slot `k` holds tree number `k`, or -1 (taken, or not sent).
struct Trees {
    received: bool,
    fds: [RawFd; sys::MAX_RECV_FDS],
}

impl Trees {
    /// Tree number `k` (taken: the caller owns it), receiving the message
    /// first if it has not come yet. -1 when the controller sent no trees
    /// (all or none come). Errors: the sync socket; another message, or
    /// another count of fds (`Step::Sync`, `EPROTO`). Trees no op takes
    /// (only when the stub fails) close at its exit.
    fn take(&mut self, sync: &Sync, k: u32) -> Res<RawFd> {
        if !self.received {
            self.received = true;
            let (msg, n) = sync.recv_fds(&mut self.fds)?;
            if msg != (Msg::CgroupTrees { count: n as u32 }) {
                return Err(Fail::new(Step::Sync, Errno::PROTO, 2));
            }
        }
        Ok(match self.fds.get_mut(k as usize) {
            Some(slot) => core::mem::replace(slot, -1),
            None => -1,
        })
    }
}

/// The state of the pre-pivot ops: targets are resolved inside the
/// rootfs `root`, and the directory that the previous op's target was in
/// is remembered, so that ops on siblings (`dev/*`, `sys/fs/cgroup/*`)
/// resolve only their last component.
struct Walk<'a, 'p> {
    root: RawFd,
    path: &'p mut [u8; PATH_MAX],
    owned: Owned,
    /// The last parent directory resolved: its path as the plan spells it,
    /// whether it was resolved without symlinks, and its fd. Valid as long
    /// as nothing was mounted over it or over one of its ancestors; a
    /// mount onto a plain entry of it (see [`Walk::target`]) is neither.
    parent: Option<(&'a [u8], bool, RawFd)>,
}

impl<'a> Walk<'a, '_> {
    /// The fd of the directory `dir` (empty: the rootfs), from the last
    /// op or resolved inside the rootfs (without symlinks when `nosym`),
    /// created first (`mkdir -p`) when missing and `create`.
    fn dir(&mut self, dir: &'a [u8], nosym: bool, create: bool) -> Result<RawFd, Errno> {
        if dir.is_empty() {
            return Ok(self.root);
        }
        if let Some((p, n, fd)) = self.parent
            && p == dir
            && n == nosym
        {
            return Ok(fd);
        }
        let resolve = IN_ROOT | if nosym { RESOLVE_NO_SYMLINKS } else { 0 };
        let opened = open_at(self.root, copy(self.path, dir)?, O_DIRECTORY, resolve);
        let fd = match opened {
            Err(Errno::NOENT) if create => self.mkdir_p(dir, resolve)?,
            r => r?,
        };
        let fd = self.owned.keep(fd);
        self.parent = Some((dir, nosym, fd));
        Ok(fd)
    }

    /// `mkdir -p dir` inside the rootfs (0755 under umask 0). The
    /// existing prefixes are resolved from the rootfs (`resolve`:
    /// symlinks followed inside it); from the first missing component on,
    /// each is created in its parent's fd and opened from it without
    /// following anything, so nothing can redirect the creation out.
    fn mkdir_p(&mut self, dir: &[u8], resolve: u64) -> Result<Fd, Errno> {
        let mut cur: Option<Fd> = None;
        let mut missing = false;
        let mut start = 0;
        while let Some(rest) = dir.get(start..) {
            let Some(skip) = rest.iter().position(|&c| c != b'/') else {
                break;
            };
            start += skip;
            let rest = dir.get(start..).unwrap_or(&[]);
            let end = start + rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
            if !missing {
                match open_at(
                    self.root,
                    copy(self.path, dir.get(..end).unwrap_or(&[]))?,
                    O_DIRECTORY,
                    resolve,
                ) {
                    Err(Errno::NOENT) => missing = true,
                    r => cur = Some(r?),
                }
            }
            if missing {
                let at = cur.as_ref().map_or(self.root, Fd::raw);
                let name = copy(self.path, dir.get(start..end).unwrap_or(&[]))?;
                make(at, name, false)?;
                cur = Some(open_at(at, name, O_DIRECTORY, ENTRY)?);
            }
            start = end;
        }
        cur.ok_or(Errno::INVAL)
    }

    /// Resolves the target of a Mount op inside the rootfs (without any
    /// symlink with NO_SYMLINKS), creating it first when missing and the op
    /// says CREATE_TARGET (a file with TARGET_FILE; before the lookup with
    /// FRESH_PARENT). Returns the target's fd and, when it is a plain
    /// entry of a directory (no symlink at its name), that directory's fd
    /// and the name.
    fn target(&mut self, op: &MountOp<'a>) -> Result<(RawFd, Option<Entry<'a>>), Errno> {
        let nosym = op.opts & mount_opts::NO_SYMLINKS != 0;
        let create = op.opts & mount_opts::CREATE_TARGET != 0;
        let file = op.opts & mount_opts::TARGET_FILE != 0;
        if let Some((parent, name)) = split(op.target) {
            let dir = self.dir(parent, nosym, create)?;
            if parent.is_empty() {
                // A mount on a top-level entry may cover the directory of
                // the previous op.
                self.parent = None;
            }
            let mut made = create && op.opts & mount_opts::FRESH_PARENT != 0;
            if made {
                make(dir, name, file)?;
            }
            loop {
                match open_at(dir, name, 0, ENTRY) {
                    Ok(fd) => return Ok((self.owned.keep(fd), Some((dir, name)))),
                    Err(Errno::NOENT) if create && !made => {
                        make(dir, name, file)?;
                        made = true;
                    }
                    // A symlink at the name: resolved below, inside the root.
                    Err(Errno::LOOP) if !nosym => break,
                    Err(e) => return Err(e),
                }
            }
        }
        let resolve = IN_ROOT | if nosym { RESOLVE_NO_SYMLINKS } else { 0 };
        let fd = open_at(self.root, op.target, 0, resolve)?;
        // The mount may land anywhere the symlink pointed: forget the
        // directory of the previous op.
        self.parent = None;
        Ok((self.owned.keep(fd), None))
    }

    /// The parent directory of a Device or Symlink op's target (created if
    /// missing with CREATE_TARGET) and the last component, for the `*at`
    /// calls that create the final entry without following it.
    fn entry(&mut self, op: &MountOp<'a>) -> Result<Entry<'a>, Errno> {
        let (parent, name) = split(op.target).ok_or(Errno::INVAL)?;
        let dir = self.dir(parent, false, op.opts & mount_opts::CREATE_TARGET != 0)?;
        if parent.is_empty() {
            // (A bound device there may cover the previous op's directory.)
            self.parent = None;
        }
        Ok((dir, name))
    }
}

/// `MS_REMOUNT | MS_BIND` flags as `mount_setattr(2)` (set, clear): the
/// same result as the remount, which sets exactly the given per-mount
/// flags (and keeps the atime mode when none is given). `None` for flags
/// it cannot express.
fn remount_attrs(flags: u64) -> Option<(u64, u64)> {
    const MAP: [(u64, u64); 6] = [
        (MS_RDONLY, MOUNT_ATTR_RDONLY),
        (MS_NOSUID, MOUNT_ATTR_NOSUID),
        (MS_NODEV, MOUNT_ATTR_NODEV),
        (MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
        (MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
    ];
    const ATIME: u64 = MS_NOATIME | MS_RELATIME | MS_STRICTATIME;
    let mut known = MS_REMOUNT | MS_BIND | ATIME;
    let (mut set, mut clear) = (0, 0);
    for (ms, attr) in MAP {
        known |= ms;
        if flags & ms != 0 {
            set |= attr;
        } else {
            clear |= attr;
        }
    }
    if flags & !known != 0 {
        return None;
    }
    if flags & ATIME != 0 {
        clear |= MOUNT_ATTR__ATIME;
        set |= if flags & MS_STRICTATIME != 0 {
            MOUNT_ATTR_STRICTATIME
        } else if flags & MS_NOATIME != 0 {
            MOUNT_ATTR_NOATIME
        } else {
            MOUNT_ATTR_RELATIME
        };
    }
    Some((set, clear))
}

/// The remount and propagation change of a Mount op on the mount now at
/// `name` in `dir`, with `mount_setattr(2)` (no symlink followed at the
/// name; the lookup enters the new mount). `ENOSYS` (before Linux 5.12)
/// or flags it cannot express: `Err(NOSYS)`, for the caller's fallback.
fn setattr_entry(dir: RawFd, name: &CStr, remount: u64, propagation: u64) -> Result<(), Errno> {
    let (set, clear) = if remount != 0 {
        remount_attrs(remount).ok_or(Errno::NOSYS)?
    } else {
        (0, 0)
    };
    let kind = propagation & !MS_REC;
    if !matches!(kind, 0 | MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE) {
        return Err(Errno::NOSYS);
    }
    let rec = propagation & MS_REC != 0;
    if remount != 0 && (rec || kind == 0) {
        // Remount flags apply to this mount only; a recursive propagation
        // change needs a second call.
        sys::mount_setattr(dir, name, AT_SYMLINK_NOFOLLOW, set, clear, 0)?;
        if kind == 0 {
            return Ok(());
        }
        return sys::mount_setattr(dir, name, AT_SYMLINK_NOFOLLOW | AT_RECURSIVE, 0, 0, kind);
    }
    let flags = AT_SYMLINK_NOFOLLOW | if rec { AT_RECURSIVE } else { 0 };
    sys::mount_setattr(dir, name, flags, set, clear, kind)
}

/// A `Mount` op: resolve (or create) the target inside the rootfs, mount
/// onto it (as the working directory, or by its `/proc/self/fd` path; or, with MOVE_FD, attach the detached
/// tree the controller prepared onto the fd), then the optional
/// bind-remount and propagation change on the new mount: with
/// `mount_setattr(2)` by name in the target's directory, else on the
/// target re-resolved (the old fd refers to what is now underneath).
fn mount_op<'a>(w: &mut Walk<'a, '_>, op: &MountOp<'a>, i: u32, tree: RawFd) -> Res<()> {
    match fresh_bind(w, op, tree) {
        Some(Ok(())) => return Ok(()),
        Some(Err((step, e))) => return Err(e).at(step, i),
        None => {}
    }
    let (target, entry) = w.target(op).at(Step::MountTarget, i)?;
    if op.opts & mount_opts::MOVE_FD != 0 {
        sys::move_mount_onto(sys::fd(op.major), target).at(Step::Mount, i)?;
        sys::close(op.major);
    } else {
        // Onto the fd itself: as the working directory when it is one
        // and the op allows it (AT_CWD: no relative path to resolve from
        // the caller's working directory, now or later; pivot ends this
        // phase with its own chdir), which spares a walk of
        // /proc/self/fd/N (a few µs a mount); else (a file, a directory
        // not searchable here, or no AT_CWD) by that path.
        let at = if op.opts & mount_opts::AT_CWD != 0 && sys::fchdir(target).is_ok() {
            None
        } else {
            Some(FdPath::new(target))
        };
        let path = at.as_ref().map_or(c".", FdPath::get);
        sys::mount(op.source, path, op.fstype, op.flags, op.data).at(Step::Mount, i)?;
    }
    if op.remount_flags == 0 && op.propagation == 0 {
        return Ok(());
    }
    if let Some((dir, name)) = entry {
        match setattr_entry(dir, name, op.remount_flags, op.propagation) {
            Err(Errno::NOSYS) => {}
            r => return r.at(Step::Mount, i),
        }
    }
    let resolve = IN_ROOT
        | if op.opts & mount_opts::NO_SYMLINKS != 0 {
            RESOLVE_NO_SYMLINKS
        } else {
            0
        };
    let target = open_at(w.root, op.target, 0, resolve).at(Step::MountTarget, i)?;
    let path = FdPath::new(target.raw());
    if op.remount_flags != 0 {
        sys::mount(
            None,
            path.get(),
            None,
            MS_REMOUNT | MS_BIND | op.remount_flags,
            None,
        )
        .at(Step::Mount, i)?;
    }
    if op.propagation != 0 {
        sys::mount(None, path.get(), None, op.propagation, None).at(Step::Mount, i)?;
    }
    Ok(())
}

/// A read-only (or otherwise remounted) non-recursive bind mount onto a
/// new entry of a fresh parent (FRESH_PARENT: the v1 cgroup hierarchies
/// under the /sys/fs/cgroup tmpfs) in two calls instead of four: create
/// the target, then `open_tree_attr(2)` clones the source with the
/// remount's attributes already set and `move_mount(2)` attaches it by
/// name in the parent (no symlink followed there; the target is the entry
/// just created). `None` (the general way) when the op is not such a
/// bind, the entry existed already, or the kernel lacks open_tree_attr
/// (before 6.15; the target is made by then, which the general way
/// accepts). With a `tree` (not -1: a [`mount_opts::CGROUP_TREE`] op
/// whose tree the controller sent, cloned with the same attributes, and
/// owned by `w`) that tree is attached instead of a clone of the source.
fn fresh_bind<'a>(
    w: &mut Walk<'a, '_>,
    op: &MountOp<'a>,
    tree: RawFd,
) -> Option<Result<(), (Step, Errno)>> {
    let want = mount_opts::FRESH_PARENT | mount_opts::CREATE_TARGET;
    let other = mount_opts::MOVE_FD | mount_opts::NO_SYMLINKS;
    if op.opts & (want | other) != want
        || op.flags & (MS_BIND | MS_REC | MS_REMOUNT | MS_MOVE) != MS_BIND
    {
        return None;
    }
    if op.propagation != 0 || op.remount_flags == 0 {
        return None;
    }
    let (set, clear) = remount_attrs(op.remount_flags)?;
    let source = op.source?;
    let (parent, name) = split(op.target)?;
    let dir = match w.dir(parent, false, true) {
        Ok(d) => d,
        Err(e) => return Some(Err((Step::MountTarget, e))),
    };
    if parent.is_empty() {
        w.parent = None;
    }
    let made = if op.opts & mount_opts::TARGET_FILE != 0 {
        sys::mknodat(dir, name, S_IFREG | 0o644, 0)
    } else {
        sys::mkdirat(dir, name, 0o755)
    };
    match made {
        Ok(()) => {}
        Err(Errno::EXIST) => return None,
        Err(e) => return Some(Err((Step::MountTarget, e))),
    }
    let tree = match tree {
        -1 => match sys::open_tree_attr(source, set, clear) {
            Ok(t) => w.owned.keep(t),
            Err(Errno::NOSYS) => return None,
            Err(e) => return Some(Err((Step::Mount, e))),
        },
        t => t,
    };
    Some(sys::move_mount_to(tree, dir, name).map_err(|e| (Step::Mount, e)))
}

/// A `Device` op, as runc's `createDeviceNode`: `mknod` with the exact mode
/// (umask is 0 here) then `chown` (unless OWNER_OK); an existing node is
/// left alone. With
/// BIND_DEVICE (user namespaces, where mknod is refused), an empty file is
/// created and the host's `source` device bound over it.
fn device_op<'a>(w: &mut Walk<'a, '_>, op: &MountOp<'a>, i: u32) -> Res<()> {
    let (dir, name) = w.entry(op).at(Step::MountTarget, i)?;
    if op.opts & mount_opts::BIND_DEVICE != 0 {
        match sys::mknodat(dir, name, S_IFREG | 0o644, 0) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e).at(Step::Device, i),
        }
        let target = open_at(
            dir,
            name,
            O_NOFOLLOW,
            RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        )
        .at(Step::MountTarget, i)?;
        let target = w.owned.keep(target);
        return sys::mount(op.source, FdPath::new(target).get(), None, MS_BIND, None)
            .at(Step::Device, i);
    }
    match sys::mknodat(dir, name, op.mode, sys::makedev(op.major, op.minor)) {
        Err(Errno::EXIST) => return Ok(()),
        r => r.at(Step::Device, i)?,
    }
    if op.opts & mount_opts::OWNER_OK != 0 {
        return Ok(());
    }
    sys::fchownat(dir, name, op.uid, op.gid, AT_SYMLINK_NOFOLLOW).at(Step::Device, i)
}

/// A `Symlink` op: `symlinkat(source, parent, name)`; an existing entry is
/// left alone (runc's `setupDevSymlinks`).
fn symlink_op<'a>(w: &mut Walk<'a, '_>, op: &MountOp<'a>, i: u32) -> Res<()> {
    let (dir, name) = w.entry(op).at(Step::MountTarget, i)?;
    let source = op.source.ok_or(Errno::INVAL).at(Step::Symlink, i)?;
    match sys::symlinkat(source, dir, name) {
        Err(Errno::EXIST) => Ok(()),
        r => r.at(Step::Symlink, i),
    }
}

/// With a shared root propagation the rootfs's parent mount may still be
/// shared, which makes pivot_root fail (EINVAL) and would leak our mounts
/// to the host: make it private, like runc's `rootfsParentMountPrivate`.
/// The parent mount is the deepest ancestor of the rootfs (itself
/// included) that is a mount point: MS_PRIVATE on a non-mount-point fails
/// with EINVAL, so walk up until it succeeds.
fn parent_mount_private(rootfs: &CStr, buf: &mut [u8; PATH_MAX]) -> Result<(), Errno> {
    let bytes = rootfs.to_bytes();
    let mut end = bytes.len();
    loop {
        let dir = copy(buf, bytes.get(..end.max(1)).unwrap_or(b"/"))?;
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
/// of the copied host tree, then the rootfs bound on itself so that it is
/// a mount point pivot_root accepts, then the ops in plan order (the
/// cgroup joined at a `JoinCgroup` op, [`crate::ns::join_at_mount`]).
///
/// The copied tree is cut from the host, recursively, so that nothing the
/// runtime or the container mounts reaches the host: `MS_SLAVE | MS_REC`
/// (the default, as runc's `prepareRoot`, and for `slave`, `unbindable`),
/// `MS_PRIVATE | MS_REC` for `private`. runc applies the non-`r` forms to
/// "/" alone, which leaves every other copied mount the host's peer (a
/// tmpfs mounted under the rootfs then appears on the host). Only a shared
/// `rootfsPropagation` keeps the host's peer groups, as given (so that a
/// bind of a shared host directory stays its peer: Kubernetes'
/// Bidirectional mounts); the rootfs's parent mount is then made private
/// (the rootfs's own submounts stay the host's peers then, as with runc).
/// After pivot_root a shared or unbindable value is applied to the new
/// root alone.
pub fn prepare<'a>(plan: &Plan<'a>, sync: &Sync, path: &mut [u8; PATH_MAX]) -> Res<()> {
    let given = plan.rootfs_propagation;
    let prop = match given & !MS_REC {
        MS_SHARED => given,
        MS_PRIVATE => MS_PRIVATE | MS_REC,
        _ => MS_SLAVE | MS_REC,
    };
    sys::mount(None, c"/", None, prop, None).at(Step::RootfsPropagation, 0)?;
    let shared = prop & MS_SHARED != 0;
    if shared {
        parent_mount_private(plan.rootfs, path).at(Step::RootfsPropagation, 0)?;
    }
    sys::mount(Some(plan.rootfs), plan.rootfs, None, MS_BIND | MS_REC, None)
        .at(Step::BindRootfs, 0)?;
    let root =
        sys::open(plan.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC, 0).at(Step::BindRootfs, 0)?;
    let mut owned = Owned {
        fds: [0; Owned::CAP],
        len: 0,
    };
    let mut w = Walk {
        root: owned.keep(root),
        path,
        owned,
        parent: None,
    };
    // Device and directory modes exactly as planned (runc: umask 0 while
    // creating devices).
    let old_umask = sys::umask(0);
    let mut joined = false;
    let mut trees = Trees {
        received: false,
        fds: [-1; sys::MAX_RECV_FDS],
    };
    for (i, op) in plan.mounts.iter().enumerate() {
        if w.owned.len > Owned::CAP - 8 {
            // An op keeps at most a few fds: make room (and forget the
            // directory, whose fd is among them).
            w.owned.close_from(1);
            w.parent = None;
        }
        let i = i as u32;
        let r = match op.kind {
            MountKind::Mount => {
                // The controller sends the trees only after the cgroup it
                // sent for the JoinCgroup op.
                let mut tree = -1;
                if op.opts & mount_opts::CGROUP_TREE != 0 && joined {
                    tree = trees.take(sync, op.major)?;
                    if tree >= 0 {
                        tree = w.owned.keep(Fd::own(tree));
                    }
                }
                let r = mount_op(&mut w, &op, i, tree);
                let goes_on = match &r {
                    Ok(()) => true,
                    Err(f) => f.errno == ENOENT && op.opts & mount_opts::OPTIONAL != 0,
                };
                if goes_on
                    && op.opts & mount_opts::CGROUP_TREE_PARENT != 0
                    && plan.has(flags::JOIN_CGROUP)
                {
                    // The controller clones the binds that go into it now.
                    // (Not when this op fails: the `Failed` alone tells it.)
                    sync.send(Msg::CgroupTreeParent)?;
                }
                r
            }
            MountKind::Device => device_op(&mut w, &op, i),
            MountKind::Symlink => symlink_op(&mut w, &op, i),
            // Best-effort: the chdir reports what is wrong (a file in the
            // way, a magic link such as /proc/self/fd/N).
            MountKind::Mkdir => {
                let _ = w.dir(op.target.to_bytes(), false, true);
                Ok(())
            }
            // Once: a second op would wait for a second `Msg::Cgroup`.
            MountKind::JoinCgroup if plan.has(flags::JOIN_CGROUP) && !joined => {
                joined = true;
                crate::ns::join_at_mount(plan, sync)
            }
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
    let old_root = sys::open(c"/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0).at(Step::PivotRoot, 0)?;
    let old_root = w.owned.keep(old_root);
    let pivoted = pivot(plan, w.root, old_root);
    // Every fd of this phase (the rootfs first), in one close_range(2).
    w.owned.close_from(0);
    pivoted.at(Step::PivotRoot, 0)?;
    // The bind of the rootfs copied its private parent's (or the tree's)
    // propagation: a shared or unbindable rootfsPropagation is applied to
    // the new root itself (alone: the mounts keep their own options).
    if given & (MS_SHARED | MS_UNBINDABLE) != 0 {
        sys::mount(None, c"/", None, given & !MS_REC, None).at(Step::RootfsPropagation, 0)?;
    }
    Ok(())
}

/// runc's `pivotRoot`: `pivot_root(".", ".")` stacks the old root on top of
/// the new one, and detaching it unmounts the host's copied tree: it is
/// made a slave first (with a `shared` root propagation it is still the
/// host's peer; no unmount event may reach the host), from `old_root`, an
/// fd of it opened before ("." after pivot_root is the new root, whose
/// mounts keep their propagation: a shared bind stays the host's peer).
/// With
/// NO_PIVOT, runc's `msMoveRoot`: move the rootfs over "/" and chroot into
/// it (the controller refuses it with a shared or private propagation, as
/// runc refuses private: the move onto a shared "/" reaches the host).
fn pivot(plan: &Plan<'_>, root: RawFd, old_root: RawFd) -> Result<(), Errno> {
    sys::fchdir(root)?;
    if plan.has(flags::NO_PIVOT) {
        sys::mount(Some(c"."), c"/", None, MS_MOVE, None)?;
        sys::chroot(c".")?;
    } else {
        sys::pivot_root(c".", c".")?;
        sys::fchdir(old_root)?;
        sys::mount(None, c".", None, MS_SLAVE | MS_REC, None)?;
        sys::umount_detach(c".")?;
    }
    sys::chdir(c"/")
}

/// Bind-remounts `path` read-only, repeating the flags `statfs(2)` reports
/// (runc's `readonlyPath`/`setReadonly`: dropping a locked nosuid/nodev/
/// noexec/atime flag would be refused in a user namespace).
fn remount_ro(path: &CStr) -> Result<(), Errno> {
    // mount_setattr(2) sets read-only and keeps the other flags (one call);
    // before Linux 5.12, statfs and a remount repeating them.
    match sys::mount_setattr(CWD, path, 0, MOUNT_ATTR_RDONLY, 0, 0) {
        Err(Errno::NOSYS) => {}
        r => return r,
    }
    let keep = sys::statfs_flags(path)? & KEEP_ON_REMOUNT;
    sys::mount(
        None,
        path,
        None,
        keep | MS_BIND | MS_REMOUNT | MS_RDONLY,
        None,
    )
}

/// runc's `maskPath`: bind /dev/null over a file; over a directory
/// (ENOTDIR) mount a read-only tmpfs. With `dir` (MASK_DIR) the tmpfs is
/// tried first, and /dev/null bound if the path is not a directory.
fn mask(path: &CStr, dir: bool) -> Result<(), Errno> {
    let mut tmpfs = dir;
    loop {
        let r = if tmpfs {
            sys::mount(Some(c"tmpfs"), path, Some(c"tmpfs"), MS_RDONLY, None)
        } else {
            sys::mount(Some(c"/dev/null"), path, None, MS_BIND, None)
        };
        match r {
            Err(Errno::NOTDIR) if tmpfs == dir => tmpfs = !dir,
            r => return r,
        }
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
            MountKind::Mask => (
                mask(op.target, op.opts & mount_opts::MASK_DIR != 0),
                Step::Mask,
            ),
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
