//! The process's credentials and attributes, in runc's order
//! (`standard_init_linux.go` `Init` + `finalizeNamespace` + `setupUser`).

use core::ffi::CStr;

use rustix::fs::{FileType, Mode};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};
use sprout_protocol::{Plan, Step, UNSET, flags};

use crate::exec::{self, PATH_MAX};
use crate::fail::{At, Fail, Res};
use crate::sync::Sync;
use crate::sys;

/// Runs every step from the seccomp-early load to the PATH lookup of
/// `arg0` (and the late seccomp load); returns the resolved executable,
/// stored in `path`.
///
/// Order: seccomp (early, when `noNewPrivileges` is false: needs
/// CAP_SYS_ADMIN) → session keyring → personality → umask →
/// no_new_privs → fds ≥ 3+preserve_fds CLOEXEC → chdir (retried after the
/// user switch on EPERM/EACCES) → bounding set → keepcaps → stdio
/// ownership → setgroups → setresgid → setresuid → capset → ambient →
/// keepcaps off → PATH lookup → seccomp (late).
pub fn finalize<'p>(
    plan: &Plan<'static>,
    sync: &Sync,
    arg0: Option<&CStr>,
    gids: &mut [u32],
    path: &'p mut [u8; PATH_MAX],
) -> Res<&'p CStr> {
    let seccomp = !plan.seccomp.is_empty();
    if seccomp && plan.has(flags::SECCOMP_EARLY) {
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
        rustix::process::umask(Mode::from_raw_mode(plan.umask & 0o777));
    }
    if plan.has(flags::NO_NEW_PRIVS) {
        rustix::thread::set_no_new_privs(true).at(Step::NoNewPrivs, 0)?;
    }
    // runc's CloseExecFrom: the sync, start and listener fds are CLOEXEC
    // already and stay usable until execve.
    sys::cloexec_from(plan.preserve_fds.saturating_add(3)).at(Step::CloseRange, 0)?;
    let chdir_later = match rustix::process::chdir(plan.cwd) {
        Err(Errno::PERM | Errno::ACCESS) => true,
        r => r.map(|_| false).at(Step::Chdir, 0)?,
    };
    for cap in 0..=plan.cap_last_cap.min(63) {
        if plan.caps.bounding & (1 << cap) == 0 {
            rustix::thread::remove_capability_from_bounding_set(CapabilitySet::from_bits_retain(1 << cap))
                .at(Step::Bounding, cap)?;
        }
    }
    rustix::thread::set_keep_capabilities(true).at(Step::KeepCaps, 0)?;
    chown_stdio(plan.uid, plan.gid)?;
    if !plan.has(flags::SKIP_SETGROUPS) {
        let n = plan.additional_gids.len();
        let buf = gids.get_mut(..n).ok_or(Fail::new(Step::Setgroups, Errno::TOOBIG, 0))?;
        for (slot, g) in buf.iter_mut().zip(plan.additional_gids.iter()) {
            *slot = g;
        }
        sys::setgroups(buf).at(Step::Setgroups, 0)?;
    }
    let gid = Gid::from_raw_unchecked(plan.gid);
    rustix::thread::set_thread_res_gid(gid, gid, gid).at(Step::Setresgid, 0)?;
    let uid = Uid::from_raw_unchecked(plan.uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid).at(Step::Setresuid, 0)?;
    if chdir_later {
        rustix::process::chdir(plan.cwd).at(Step::Chdir, 0)?;
    }
    let c = plan.caps;
    let sets = CapabilitySets {
        effective: CapabilitySet::from_bits_retain(c.effective),
        permitted: CapabilitySet::from_bits_retain(c.permitted),
        inheritable: CapabilitySet::from_bits_retain(c.inheritable),
    };
    rustix::thread::set_capabilities(None, sets).at(Step::Capset, 0)?;
    rustix::thread::clear_ambient_capability_set().at(Step::Ambient, 0)?;
    for cap in 0..64 {
        if c.ambient & (1 << cap) != 0 {
            rustix::thread::configure_capability_in_ambient_set(CapabilitySet::from_bits_retain(1 << cap), true)
                .at(Step::Ambient, cap)?;
        }
    }
    rustix::thread::set_keep_capabilities(false).at(Step::KeepCaps, 0)?;
    let exe = exec::resolve(arg0, plan, path).at(Step::ResolveExec, 0)?;
    if seccomp && !plan.has(flags::SECCOMP_EARLY) {
        exec::load_seccomp(plan, sync)?;
    }
    Ok(exe)
}

/// runc's `fixStdioPermissions`, done while still root: make fds 0-2 owned
/// by the container user so it can use them (e.g. the pty, a pipe), except
/// `/dev/null` (char 1:3, shared with the host) and fds already owned.
/// EPERM/EINVAL/EROFS are ignored (a file we may not chown, an unmapped
/// id, a read-only fs), as runc does; a closed fd is skipped.
fn chown_stdio(uid: u32, gid: u32) -> Res<()> {
    for fd in 0..3u32 {
        let st = match rustix::fs::fstat(sys::fd(fd)) {
            Ok(st) => st,
            Err(Errno::BADF) => continue,
            Err(e) => return Err(Fail::new(Step::ChownStdio, e, fd)),
        };
        let null = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
            && st.st_rdev == rustix::fs::makedev(1, 3);
        if null || (st.st_uid == uid && st.st_gid == gid) {
            continue;
        }
        let owner = (Some(Uid::from_raw_unchecked(uid)), Some(Gid::from_raw_unchecked(gid)));
        match rustix::fs::fchown(sys::fd(fd), owner.0, owner.1) {
            Ok(()) | Err(Errno::PERM | Errno::INVAL | Errno::ROFS) => {}
            Err(e) => return Err(Fail::new(Step::ChownStdio, e, fd)),
        }
    }
    Ok(())
}
