//! The last steps: PATH lookup, seccomp, waiting for `start`, execve.

use core::ffi::CStr;

use sprout_protocol::{Msg, Plan, Step, flags};

use crate::fail::{At, Fail, Res};
use crate::sync::Sync;
pub use crate::sys::PATH_MAX;
use crate::sys::{self, CStrVec, Errno, abi};

/// The `PATH` used when `process.env` has none (runc's default, as
/// `os/exec.LookPath` sees it after runc sets it).
const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds the executable for `arg0` as runc does (Go's `exec.LookPath`,
/// execvp(3) semantics): a name containing `/` is used as is (with
/// `check_path`, only if it is an executable regular file: its stat error,
/// else `EACCES`, as runc's `create` fails before `start`); otherwise
/// each entry of the `PATH=` in the command's environment `envp`
/// (`process.env`; in image mode the merged one) is tried (an empty entry
/// is `.`) and the first regular file we may execute wins. `ENOENT` when
/// nothing is found, `EACCES` when only non-executable files were; an
/// absent `args[0]` is `EINVAL`. The result is written into `buf`.
pub fn resolve<'b>(
    arg0: Option<&CStr>,
    envp: &CStrVec,
    check_path: bool,
    buf: &'b mut [u8; PATH_MAX],
) -> Result<&'b CStr, Errno> {
    let name = arg0.ok_or(Errno::INVAL)?.to_bytes();
    if name.is_empty() {
        return Err(Errno::NOENT);
    }
    if name.contains(&b'/') {
        if !check_path {
            return join(buf, b"", name);
        }
        // Go's findExecutable: `create` fails with ENOENT/EACCES (podman's
        // 127/126) instead of the execve after `start`.
        let cand = join(buf, b"", name)?;
        if sys::stat(cand)?.file_type() != abi::S_IFREG {
            return Err(Errno::ACCESS);
        }
        sys::access_exec(cand).map_err(|_| Errno::ACCESS)?;
        return join(buf, b"", name);
    }
    let path = envp.value(b"PATH=").unwrap_or(DEFAULT_PATH);
    let mut err = Errno::NOENT;
    for dir in path.split(|&c| c == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let Ok(cand) = join(buf, dir, name) else {
            continue;
        };
        if !sys::stat(cand).is_ok_and(|st| st.file_type() == abi::S_IFREG) {
            continue;
        }
        match sys::access_exec(cand) {
            Ok(()) => return join(buf, dir, name),
            Err(_) => err = Errno::ACCESS,
        }
    }
    Err(err)
}

/// `dir/name` (or `name` when `dir` is empty) as a C string in `buf`.
fn join<'b>(buf: &'b mut [u8; PATH_MAX], dir: &[u8], name: &[u8]) -> Result<&'b CStr, Errno> {
    let mut len = 0;
    let sep: &[u8] = if dir.is_empty() { b"" } else { b"/" };
    for part in [dir, sep, name] {
        let end = len + part.len();
        buf.get_mut(len..end)
            .ok_or(Errno::NAMETOOLONG)?
            .copy_from_slice(part);
        len = end;
    }
    *buf.get_mut(len).ok_or(Errno::NAMETOOLONG)? = 0;
    CStr::from_bytes_until_nul(buf).map_err(|_| Errno::INVAL)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, seccomp_flags, prog)`. With
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` the listener fd is sent to the
/// controller (`SeccompListener` + SCM_RIGHTS) and the stub waits for
/// `SeccompDone` before closing it (in image mode it is just closed).
pub fn load_seccomp(plan: &Plan<'_>, sync: &Sync) -> Res<()> {
    let listener = sys::seccomp_filter(plan.seccomp_flags, plan.seccomp).at(Step::Seccomp, 0)?;
    if let Some(fd) = listener
        && sync.is_connected()
    {
        sync.send_fd(Msg::SeccompListener, fd.raw())?;
        sync.expect(Msg::SeccompDone)?;
    }
    Ok(())
}

/// `create`: send `Created` (a vanished `create` controller is fine), then
/// block in `accept(2)` on the listening start socket until `sprout start`
/// connects; answer one byte `1`, close the listening socket and return
/// the connection, which the caller keeps open until its `execve` closes
/// it (`SOCK_CLOEXEC`): the EOF tells `start` that the container process
/// runs, so that its poststart hooks come after it (runtime.md,
/// "Lifecycle"). A missing start socket (`start_fd` UNSET or not open)
/// fails with `EBADF`.
pub fn wait_start(plan: &Plan<'_>, sync: &Sync) -> Res<Option<sys::Fd>> {
    if !plan.has(flags::WAIT_START) {
        return Ok(None);
    }
    let _ = sync.send(Msg::Created);
    let listener = sys::fd(plan.start_fd);
    let conn = loop {
        match sys::accept(listener) {
            Err(Errno::INTR) => {}
            r => break r.at(Step::StartWait, 0)?,
        }
    };
    let _ = sys::send(conn.raw(), b"1");
    sys::close(plan.start_fd);
    Ok(Some(conn))
}

/// Clears the signal mask (it survives execve) and execs; returns the
/// failure (`Execve` with execve's errno).
pub fn exec(path: &CStr, argv: &CStrVec, envp: &CStrVec) -> Fail {
    if let Err(e) = sys::unblock_all_signals() {
        return Fail::new(Step::Execve, e, 0);
    }
    Fail::new(Step::Execve, sys::execve(path, argv, envp), 0)
}
