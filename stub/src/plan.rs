//! Reading and decoding the plan into the static buffer.

use sprout_protocol::{DecodeError, HEADER_LEN, MAX_PLAN_LEN, Msg, Plan, Step, flags, plan_len};

use crate::Mode;
use crate::fail::{Fail, Line};
use crate::sync::Sync;
use crate::sys::{self, Arena, Errno, RawFd, abi};

/// Why the plan could not be had.
enum LoadError {
    /// A syscall failed (open, read).
    Io(Errno),
    /// The stream ended before the header's length.
    Truncated,
    /// `plan_len`/`Plan::decode` refused it.
    Decode(DecodeError),
    /// Image mode: a plan made for a controller (sync socket, rootfs
    /// set-up, start socket, pty or namespaces to join).
    NotImage,
}

/// Flags an image-mode plan must not have: they need a controller.
const CONTROLLER_ONLY: u32 = flags::SYNC
    | flags::SETUP_ROOTFS
    | flags::WAIT_START
    | flags::TERMINAL
    | flags::HOOKS_BEFORE_PIVOT;

/// Reads one plan from `fd` into `buf` with as few `read(2)`s as the
/// stream allows (usually one: the controller writes the whole plan before
/// the stub runs): until the header's length has arrived, then stops.
/// Returns the length; bytes read beyond it (a plan file longer than its
/// plan, or a stream carrying more than one) are `BadLength`.
fn read_plan(fd: RawFd, buf: &mut [u8]) -> Result<usize, LoadError> {
    // One byte more than the largest plan, so that a longer file shows.
    let buf = buf
        .get_mut(..MAX_PLAN_LEN + 1)
        .ok_or(LoadError::Decode(DecodeError::BadLength))?;
    let mut done = 0;
    let mut want = HEADER_LEN;
    // Twice: the header, then the rest up to its length (which may be the
    // header's own: the decoder then says what is missing).
    for header in [true, false] {
        while done < want {
            let rest = buf.get_mut(done..).unwrap_or(&mut []);
            match sys::read(fd, rest) {
                Ok(0) => return Err(LoadError::Truncated),
                Ok(n) => done += n,
                Err(Errno::INTR) => {}
                Err(e) => return Err(LoadError::Io(e)),
            }
        }
        if header {
            want = plan_len(buf.get(..HEADER_LEN).unwrap_or(&[])).map_err(LoadError::Decode)?;
        }
    }
    if done > want {
        return Err(LoadError::Decode(DecodeError::BadLength));
    }
    Ok(want)
}

/// Loads and decodes the plan: from `PLANFD` (left open: it is CLOEXEC) in controller
/// mode, from the plan file in image mode. Failures are reported as
/// `Failed{ReadPlan|DecodePlan}` (errno 0 when no syscall failed: a
/// truncated plan or a decode error; the sender's version in `arg` for an
/// unsupported version) and always also as a line on stderr; the stub then
/// exits 1. In image mode the line names the plan file and the exit code
/// is 126, as tini's for a command that cannot be run; a plan with
/// controller-only flags or namespaces is refused there too.
pub fn load(mode: &Mode, arena: &mut Arena, sync: &Sync) -> Plan<'static> {
    let read = match *mode {
        // PLANFD is CLOEXEC: execve closes it (no close(2) needed).
        Mode::Controller { plan_fd, .. } => read_plan(sys::fd(plan_fd), arena.bytes()),
        Mode::Image { plan, .. } => match sys::open(plan, abi::O_RDONLY | abi::O_CLOEXEC, 0) {
            // A file must hold exactly one plan: bytes after it are an
            // error. A short read of a regular file is its end, but a
            // file may also be a pipe: read on until EOF after the plan.
            Ok(f) => read_plan(f.raw(), arena.bytes()).and_then(|len| {
                match sys::read(f.raw(), &mut [0u8; 1]) {
                    Ok(0) => Ok(len),
                    Ok(_) => Err(LoadError::Decode(DecodeError::BadLength)),
                    Err(e) => Err(LoadError::Io(e)),
                }
            }),
            Err(e) => Err(LoadError::Io(e)),
        },
    };
    let err = match read {
        Ok(len) => match Plan::decode(arena.take(len)) {
            Ok(plan) => match mode {
                Mode::Image { .. }
                    if plan.flags & CONTROLLER_ONLY != 0 || !plan.namespaces.is_empty() =>
                {
                    LoadError::NotImage
                }
                _ => return plan,
            },
            Err(e) => LoadError::Decode(e),
        },
        Err(e) => e,
    };
    let mut line = Line::new();
    line.push(b"plan");
    if let Mode::Image { plan, .. } = mode {
        line.push(b" ").push(plan.to_bytes());
    }
    line.push(b": ");
    let fail = match err {
        LoadError::Io(e) => {
            line.push(b"read: ").errno(e.0);
            Fail::new(Step::ReadPlan, e, 0)
        }
        LoadError::NotImage => {
            line.push(
                b"made for the sprout controller, not an image plan (use `sprout plan --rootfs`)",
            );
            Fail {
                step: Step::DecodePlan,
                errno: 0,
                arg: 0,
            }
        }
        LoadError::Truncated => {
            line.push(b"truncated");
            Fail {
                step: Step::ReadPlan,
                errno: 0,
                arg: 0,
            }
        }
        LoadError::Decode(e) => {
            line.push(e.as_str().as_bytes());
            let mut f = Fail {
                step: Step::DecodePlan,
                errno: 0,
                arg: 0,
            };
            if let DecodeError::UnsupportedVersion(v) = e {
                line.push(b" ").num(v as u32);
                f.arg = v as u32;
            }
            f
        }
    };
    line.emit();
    if let Mode::Image { .. } = mode {
        sys::exit(126)
    }
    let _ = sync.send(Msg::Failed {
        step: fail.step,
        errno: fail.errno,
        arg: fail.arg,
    });
    sys::exit(1)
}
