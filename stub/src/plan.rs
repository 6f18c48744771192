//! Reading and decoding the plan into the static buffer.

use sprout_protocol::{DecodeError, HEADER_LEN, Msg, Plan, Step, flags, plan_len};

use crate::Mode;
use crate::fail::{Fail, Line};
use crate::sync::Sync;
use crate::sys::{self, Errno, RawFd, abi};

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
const CONTROLLER_ONLY: u32 =
    flags::SYNC | flags::SETUP_ROOTFS | flags::WAIT_START | flags::TERMINAL | flags::HOOKS_BEFORE_PIVOT;

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..) {
        if rest.is_empty() {
            break;
        }
        match sys::read(fd, rest) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Reads one plan: the header, then exactly `plan_len(header)` bytes.
fn read_plan(fd: RawFd, buf: &mut [u8]) -> Result<usize, LoadError> {
    let hdr = buf.get_mut(..HEADER_LEN).ok_or(LoadError::Truncated)?;
    if read_full(fd, hdr).map_err(LoadError::Io)? < HEADER_LEN {
        return Err(LoadError::Truncated);
    }
    let len = plan_len(hdr).map_err(LoadError::Decode)?;
    let body = buf
        .get_mut(HEADER_LEN..len)
        .ok_or(LoadError::Decode(DecodeError::BadLength))?;
    if read_full(fd, body).map_err(LoadError::Io)? < body.len() {
        return Err(LoadError::Truncated);
    }
    Ok(len)
}

/// Loads and decodes the plan: from `PLANFD` (then closed) in controller
/// mode, from the plan file in image mode. Failures are reported as
/// `Failed{ReadPlan|DecodePlan}` (errno 0 when no syscall failed: a
/// truncated plan or a decode error; the sender's version in `arg` for an
/// unsupported version) and always also as a line on stderr; the stub then
/// exits 1. In image mode the line names the plan file and the exit code
/// is 126, as tini's for a command that cannot be run; a plan with
/// controller-only flags or namespaces is refused there too.
pub fn load(mode: &Mode, buf: &'static mut [u8], sync: &Sync) -> Plan<'static> {
    let read = match *mode {
        Mode::Controller { plan_fd, .. } => {
            let r = read_plan(sys::fd(plan_fd), buf);
            sys::close(plan_fd);
            r
        }
        Mode::Image { plan, .. } => match sys::open(plan, abi::O_RDONLY | abi::O_CLOEXEC, 0) {
            // A file must hold exactly one plan: bytes after it are an error.
            Ok(f) => read_plan(f.raw(), buf).and_then(|len| match read_full(f.raw(), &mut [0u8; 1]) {
                Ok(0) => Ok(len),
                Ok(_) => Err(LoadError::Decode(DecodeError::BadLength)),
                Err(e) => Err(LoadError::Io(e)),
            }),
            Err(e) => Err(LoadError::Io(e)),
        },
    };
    let err = match read {
        Ok(len) => match Plan::decode(buf.get(..len).unwrap_or(&[])) {
            Ok(plan) => match mode {
                Mode::Image { .. } if plan.flags & CONTROLLER_ONLY != 0 || !plan.namespaces.is_empty() => {
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
            line.push(b"made for the sprout controller, not an image plan (use `sprout plan --rootfs`)");
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
