//! Joining namespaces by fd, and the per-namespace identity (hostname,
//! domainname, loopback).

use sprout_protocol::{MountKind, Msg, Plan, Step, UNSET, flags};

use crate::fail::{At, Fail, Res};
use crate::sync::Sync;
use crate::sys::{self, Errno, abi};

/// `setns(2)` into each of `plan.namespaces` in order (an fd is a namespace
/// file, or a pidfd with several `CLONE_NEW*` bits for `exec`; the controller puts
/// the user namespace first, as runc's nsexec does), closing each fd after
/// use, or `unshare(2)` of an entry without fd. Joining (or unsharing) a
/// pid namespace only affects children (pid_namespaces(7)), so then the
/// stub forks: the parent sends `Pid{child}` — its fork return
/// value is the pid in the controller's pid namespace — and exits 0 (the
/// controller, a child subreaper, reaps the child); the child carries on.
pub fn join(plan: &Plan<'_>, sync: &Sync) -> Res<()> {
    let mut pid_ns = false;
    let mut user_ns = false;
    for (i, ns) in plan.namespaces.iter().enumerate() {
        if ns.fd == UNSET {
            // New namespaces of our own (the controller cloned us with
            // only the pid namespace): made here while it makes the cgroup.
            // After a joined user namespace (cloned with none), the pid
            // namespace too, owned by it: then fork into it, as below.
            sys::unshare(ns.nstype).at(Step::Unshare, i as u32)?;
            pid_ns |= ns.nstype & abi::CLONE_NEWPID != 0;
            continue;
        }
        sys::setns(sys::fd(ns.fd), ns.nstype).at(Step::Setns, i as u32)?;
        sys::close(ns.fd);
        pid_ns |= ns.nstype & abi::CLONE_NEWPID != 0;
        user_ns |= ns.nstype & abi::CLONE_NEWUSER != 0;
    }
    if plan.has(flags::JOIN_CGROUP) && !joins_at_mount(plan) {
        join_cgroup(sync)?;
    }
    if user_ns {
        // Become the joined user namespace's root, as runc's nsexec does,
        // so that what we create from here on (the pty of `exec -t`) is
        // owned by an id mapped there. Best-effort: without a mapping for
        // 0 we stay as we are (full capabilities in the namespace anyway).
        if sys::setresgid(0).is_ok() {
            let _ = sys::setresuid(0);
        }
    }
    if !pid_ns {
        return Ok(());
    }
    // The child must not talk before the parent's `Pid` is on the socket:
    // it waits for one byte on this pipe (EOF: the parent failed).
    let (rd, wr) = sys::pipe().at(Step::Fork, 0)?;
    let pid = sys::fork().at(Step::Fork, 0)?;
    if pid == 0 {
        drop(wr);
        let mut b = [0u8; 1];
        loop {
            match sys::read(rd.raw(), &mut b) {
                Err(Errno::INTR) => {}
                Ok(1) => return Ok(()),
                _ => sys::exit(1), // the parent reports the failure
            }
        }
    }
    drop(rd);
    sync.send(Msg::Pid { pid })?;
    let _ = sys::write(wr.raw(), b"1");
    sys::exit(0)
}

/// Whether the cgroup is joined at the plan's `MountKind::JoinCgroup` op
/// ([`join_at_mount`], from `rootfs::prepare`) rather than right after the
/// namespaces: `flags::JOIN_CGROUP` and `flags::SETUP_ROOTFS` with such an
/// op among the mounts.
pub fn joins_at_mount(plan: &Plan<'_>) -> bool {
    plan.has(flags::JOIN_CGROUP)
        && plan.has(flags::SETUP_ROOTFS)
        && plan.mounts.iter().any(|m| m.kind == MountKind::JoinCgroup)
}

/// The `MountKind::JoinCgroup` op: [`join_cgroup`], then the new cgroup
/// namespace of `flags::NEW_CGROUPNS` (which [`identity`] left for now),
/// so that the namespace's root is the container's cgroup.
pub fn join_at_mount(plan: &Plan<'_>, sync: &Sync) -> Res<()> {
    join_cgroup(sync)?;
    if plan.has(flags::NEW_CGROUPNS) {
        sys::unshare(abi::CLONE_NEWCGROUP).at(Step::CgroupNamespace, 0)?;
    }
    Ok(())
}

/// `flags::JOIN_CGROUP`: waits for `Msg::Cgroup` and writes `0` (the
/// calling thread, which is the whole single-threaded stub) to each v1
/// `tasks` file it carries, in order, closing each. Moving itself this
/// way skips the kernel's global threadgroup lock (cgroups(7); see the
/// controller's `cgroups/join.rs`). A refused write is
/// `Failed{JoinCgroup, errno, i}` unless bit `i` of `optional` is set.
fn join_cgroup(sync: &Sync) -> Res<()> {
    let mut fds = [-1; sys::MAX_RECV_FDS];
    let (msg, n) = sync.recv_fds(&mut fds)?;
    let Msg::Cgroup { count, optional } = msg else {
        return Err(Fail::new(Step::Sync, Errno::PROTO, 0));
    };
    if count as usize != n {
        return Err(Fail::new(Step::Sync, Errno::PROTO, 1));
    }
    for (i, fd) in fds.get(..n).unwrap_or(&[]).iter().enumerate() {
        let r = sys::write(*fd, b"0");
        sys::close(*fd as u32);
        match r {
            Ok(_) => {}
            Err(_) if optional >> i & 1 == 1 => {}
            Err(e) => return Err(Fail::new(Step::JoinCgroup, e, i as u32)),
        }
    }
    Ok(())
}

/// A new cgroup namespace (the stub is in the container's cgroup by
/// now: joined before its exec, or by `join_cgroup` above; with
/// [`joins_at_mount`] it comes later, in [`join_at_mount`]), a new time namespace (after any fork into a joined pid namespace, so
/// that nothing enters it before its offsets are written), then
/// `sethostname(2)`, `setdomainname(2)`, and `lo` up in a new network
/// namespace (runc: `setupNetwork` brings up the loopback interface).
pub fn identity(plan: &Plan<'_>) -> Res<()> {
    if plan.has(flags::NEW_CGROUPNS) && !joins_at_mount(plan) {
        sys::unshare(abi::CLONE_NEWCGROUP).at(Step::CgroupNamespace, 0)?;
    }
    if plan.has(flags::NEW_TIMENS) {
        sys::unshare(abi::CLONE_NEWTIME).at(Step::TimeNamespace, 0)?;
    }
    if let Some(h) = plan.hostname {
        sys::sethostname(h.to_bytes()).at(Step::Hostname, 0)?;
    }
    if let Some(d) = plan.domainname {
        sys::setdomainname(d.to_bytes()).at(Step::Domainname, 0)?;
    }
    if plan.has(flags::LOOPBACK) {
        // The socket is CLOEXEC: execve closes it (no close(2) needed).
        let sock = sys::socket_inet_dgram().at(Step::Loopback, 0)?.into_raw();
        sys::loopback_up(sock).at(Step::Loopback, 0)?;
    }
    Ok(())
}
