//! The process's credentials and attributes, in runc's order
//! (`standard_init_linux.go` `Init` + `finalizeNamespace` + `setupUser`).

use core::ffi::CStr;

use sprout_protocol::{Plan, Step, UNSET, flags};

use crate::exec::{self, PATH_MAX};
use crate::fail::{At, Fail, Res};
use crate::sync::Sync;
use crate::sys::{self, Errno, abi};

/// Runs every step from the session keyring to the PATH lookup of `arg0`
/// and the seccomp load; returns the resolved executable, stored in
/// `path`.
///
/// Order: session keyring → personality → umask →
/// no_new_privs → fds ≥ 3+preserve_fds CLOEXEC → chdir (as root: early
/// errors such as ENOENT; EPERM/EACCES wait for the user switch) → bounding
/// set → keepcaps → stdio ownership → setgroups → setresgid → setresuid →
/// chdir again (as the container user, without effective capabilities, so
/// a cwd the user may not enter fails with EACCES instead of leaving the
/// process in it) → capset (+CAP_SYS_ADMIN with SECCOMP_EARLY) → ambient →
/// PATH lookup (in `envp`'s PATH) → seccomp. A cwd of `.` (an image plan
/// without `--cwd`) skips both chdirs: the working directory stays as it
/// is, as with gosu and su-exec.
///
/// Image mode (no controller, `sync` not connected) differs where a
/// gosu/su-exec-style tool would: inherited fds are left alone (no
/// CLOEXEC sweep: tini and catatonit pass them on) and stdio is not
/// chowned (it belongs to whoever started the image, possibly the host's
/// terminal). `UNSET` ids leave the id as it is (`setresuid(-1, -1, -1)`
/// changes nothing, setresuid(2)); `cap_last_cap` `UNSET` leaves every
/// capability set alone, so a switch away from uid 0 clears them as the
/// kernel does without keepcaps (capabilities(7), what gosu does).
pub fn finalize<'p>(
    plan: &Plan<'static>,
    sync: &Sync,
    arg0: Option<&CStr>,
    envp: &sys::CStrVec,
    gids: &mut [u32],
    path: &'p mut [u8; PATH_MAX],
) -> Res<&'p CStr> {
    let controller = sync.is_connected();
    let caps = plan.cap_last_cap != UNSET;
    // The filter is loaded last, after every privileged step, so that a
    // profile may deny what the stub itself did before (setresuid, capset,
    // chdir ...). Without no_new_privs that needs CAP_SYS_ADMIN: with
    // SECCOMP_EARLY it stays effective (and permitted) until execve, which
    // then computes the container process's sets from the inheritable,
    // bounding and ambient sets and the file alone (capabilities(7),
    // "Transformation of capabilities during execve()"), so nothing of it
    // reaches the container. Without capability handling (`caps` false,
    // image mode) the filter is loaded first, while still root.
    let seccomp = !plan.seccomp.is_empty();
    let early = seccomp && plan.has(flags::SECCOMP_EARLY) && !caps;
    if early {
        exec::load_seccomp(plan, sync)?;
    }
    if plan.has(flags::NEW_KEYRING) {
        match sys::join_new_session_keyring() {
            Err(Errno::NOSYS) => {}
            r => r.at(Step::Keyring, 0)?,
        }
    }
    if plan.personality != UNSET {
        sys::personality(plan.personality).at(Step::Personality, 0)?;
    }
    if plan.umask != UNSET {
        sys::umask(plan.umask);
    }
    if plan.has(flags::NO_NEW_PRIVS) {
        sys::set_no_new_privs().at(Step::NoNewPrivs, 0)?;
    }
    // runc's CloseExecFrom: the sync, start and listener fds are CLOEXEC
    // already and stay usable until execve.
    if controller {
        sys::cloexec_from(plan.preserve_fds.saturating_add(3)).at(Step::CloseRange, 0)?;
    }
    // A cwd of "." (image mode without `--cwd`) leaves the working
    // directory as it is: no chdir at all, as gosu and su-exec, so that a
    // directory the new user may not search is no error.
    let stay = plan.cwd.to_bytes() == b".";
    // runc's order: the chdir as root first, final when it works (the
    // user may then sit in a directory it could not enter itself); only
    // a refused one is tried again as the user, below. (As uid 0 the one
    // below gives the same result: skip this one.)
    let mut in_cwd = stay;
    if plan.uid != 0 && !stay {
        match sys::chdir(plan.cwd) {
            Ok(()) => in_cwd = true,
            Err(Errno::PERM | Errno::ACCESS) => {}
            r => r.at(Step::Chdir, 0)?,
        }
    }
    if caps {
        for cap in 0..=plan.cap_last_cap.min(63) {
            if plan.caps.bounding & (1 << cap) == 0 {
                match sys::capbset_drop(cap) {
                    // A capability this kernel does not know (an image plan
                    // says 40, the highest sprout knows), or one already
                    // gone (no CAP_SETPCAP needed to keep it out).
                    Err(Errno::INVAL) => {}
                    Err(Errno::PERM) if !sys::capbset_has(cap) => {}
                    r => r.at(Step::Bounding, cap)?,
                }
            }
        }
        // Only a switch away from uid 0 clears the permitted set
        // (capabilities(7)); as uid 0 (or keeping the uid) there is none.
        if plan.uid != 0 && plan.uid != UNSET {
            sys::set_keepcaps(true).at(Step::KeepCaps, 0)?;
        }
    }
    if controller {
        chown_stdio(plan.uid)?;
    }
    if !plan.has(flags::SKIP_SETGROUPS) {
        let n = plan.additional_gids.len();
        let buf = gids
            .get_mut(..n)
            .ok_or(Fail::new(Step::Setgroups, Errno::TOOBIG, 0))?;
        for (slot, g) in buf.iter_mut().zip(plan.additional_gids.iter()) {
            *slot = g;
        }
        sys::setgroups(buf).at(Step::Setgroups, 0)?;
    }
    sys::setresgid(plan.gid).at(Step::Setresgid, 0)?;
    sys::setresuid(plan.uid).at(Step::Setresuid, 0)?;
    if !in_cwd {
        sys::chdir(plan.cwd).at(Step::Chdir, 0)?;
    }
    // "/" is the root itself: nothing to check.
    if !stay && plan.cwd.to_bytes() != b"/" {
        cwd_inside_root(path).at(Step::Chdir, 0)?;
    }
    if caps {
        let c = plan.caps;
        let admin = if plan.has(flags::SECCOMP_EARLY) {
            1 << abi::CAP_SYS_ADMIN
        } else {
            0
        };
        sys::capset(c.effective | admin, c.permitted | admin, c.inheritable).at(Step::Capset, 0)?;
        // capset leaves only ambient capabilities that are both permitted
        // and inheritable (capabilities(7)): with none such, the inherited
        // ambient set is empty now.
        if c.permitted & c.inheritable != 0 {
            sys::ambient_clear().at(Step::Ambient, 0)?;
        }
        for cap in 0..64 {
            if c.ambient & (1 << cap) != 0 {
                sys::ambient_raise(cap).at(Step::Ambient, cap)?;
            }
        }
        // keepcaps stays on: execve clears it (prctl(2) PR_SET_KEEPCAPS).
    }
    let exe = exec::resolve(arg0, envp, controller, path).at(Step::ResolveExec, 0)?;
    // The credentials are final: the parent-death signal is set again
    // now, before the filter (which may deny `prctl`).
    crate::rearm_pdeathsig(plan, sync)?;
    if seccomp && !early {
        exec::load_seccomp(plan, sync)?;
    }
    Ok(exe)
}

/// CVE-2024-21626: the working directory must be inside the container's
/// root. A `process.cwd` of `/proc/self/fd/N` naming a directory fd from
/// outside it (one the caller preserved on purpose, or leaked) would
/// otherwise leave the container in a host directory; getcwd(2) then
/// reports it as `(unreachable)...` (Linux 2.6.36+), refused as `EXDEV`.
fn cwd_inside_root(buf: &mut [u8]) -> Result<(), Errno> {
    sys::getcwd(buf)?;
    if buf.first() == Some(&b'/') {
        Ok(())
    } else {
        Err(Errno::XDEV)
    }
}

/// runc's `fixStdioPermissions`, done while still root: make fds 0-2 owned
/// by the container user so it can use them (e.g. the pty, a pipe), except
/// `/dev/null` (char 1:3, shared with the host) and fds already owned.
/// Only the owner changes (`fchown(fd, uid, -1)`, as runc): a terminal
/// keeps its `tty` group. EPERM/EINVAL/EROFS are ignored (a file we may
/// not chown, an unmapped id, a read-only fs), as runc does; a closed fd
/// is skipped.
fn chown_stdio(uid: u32) -> Res<()> {
    for fd in 0..3u32 {
        let st = match sys::fstat(sys::fd(fd)) {
            Ok(st) => st,
            Err(Errno::BADF) => continue,
            Err(e) => return Err(Fail::new(Step::ChownStdio, e, fd)),
        };
        let null = st.file_type() == abi::S_IFCHR && st.rdev == sys::makedev(1, 3);
        if null || st.uid == uid {
            continue;
        }
        match sys::fchown(sys::fd(fd), uid, u32::MAX) {
            Ok(()) | Err(Errno::PERM | Errno::INVAL | Errno::ROFS) => {}
            Err(e) => return Err(Fail::new(Step::ChownStdio, e, fd)),
        }
    }
    Ok(())
}
