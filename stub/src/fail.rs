//! Failures: which [`Step`] failed, with which errno, on which plan item;
//! and how they are reported (a `Failed` message on the sync socket, or a
//! line on stderr in image mode).
//!
//! `errno` is the failing syscall's, or 0 when no syscall failed (a
//! truncated or undecodable plan). `arg` is the index into the plan list
//! the step works on: `mounts` (MountTarget, Mount, Device, Symlink, Mask,
//! ReadonlyPath, WriteFile), `namespaces` (Setns), `rlimits` (Rlimit), the
//! capability number (Bounding, Ambient), the stdio fd (ChownStdio), the
//! sender's protocol version (DecodePlan of an unsupported version); else 0.

use sprout_protocol::{Msg, Step};

use crate::sync::Sync;
use crate::sys::{self, Errno};

/// A failed step, reported as `Msg::Failed { step, errno, arg }`.
#[derive(Clone, Copy)]
pub struct Fail {
    /// The step that failed.
    pub step: Step,
    /// Positive errno value (0 if none applies).
    pub errno: u32,
    /// Index into the plan list the step works on (mount op, namespace,
    /// rlimit, capability number, stdio fd), else 0.
    pub arg: u32,
}

/// Result of a step.
pub type Res<T> = Result<T, Fail>;

impl Fail {
    /// A failure of `step` with `errno` on item `arg`.
    pub fn new(step: Step, errno: Errno, arg: u32) -> Self {
        Fail {
            step,
            errno: errno.0,
            arg,
        }
    }
}

/// Attaches the step (and item) to a syscall error.
pub trait At<T> {
    /// `Err(errno)` becomes `Fail { step, errno, arg }`.
    fn at(self, step: Step, arg: u32) -> Res<T>;
}

impl<T> At<T> for Result<T, Errno> {
    #[inline]
    fn at(self, step: Step, arg: u32) -> Res<T> {
        self.map_err(|e| Fail::new(step, e, arg))
    }
}

/// A fixed-size line for stderr (no core::fmt in the stub).
pub struct Line {
    buf: [u8; 160],
    len: usize,
}

impl Line {
    /// A line starting with `sprout-init: `.
    pub fn new() -> Self {
        let mut l = Line {
            buf: [0; 160],
            len: 0,
        };
        l.push(b"sprout-init: ");
        l
    }

    /// Appends bytes (silently truncated at the capacity).
    pub fn push(&mut self, s: &[u8]) -> &mut Self {
        for &b in s {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        self
    }

    /// Appends `n` in decimal.
    pub fn num(&mut self, mut n: u32) -> &mut Self {
        let mut d = [0u8; 10];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.push(d.get(i..).unwrap_or(&[]))
    }

    /// Appends `errno N (ENAME)`; the name only for the errors an image's
    /// user is likely to meet (the table is kept short: stub size).
    pub fn errno(&mut self, e: u32) -> &mut Self {
        self.push(b"errno ").num(e);
        // Each errno byte (all below b'0') is followed by its name (upper case
        // letters and digits).
        const NAMES: &[u8] = b"\x01EPERM\x02ENOENT\x03ESRCH\x07E2BIG\x08ENOEXEC\x09EBADF\x0bEAGAIN\x0cENOMEM\x0dEACCES\x14ENOTDIR\x15EISDIR\x16EINVAL\x18EMFILE\x1aETXTBSY\x1eEROFS\x24ENAMETOOLONG\x26ENOSYS\x28ELOOP";
        let mut it = NAMES.split(|&c| c < b'0');
        it.next();
        let mut codes = NAMES.iter().filter(|&&c| c < b'0');
        if let Some(name) = it
            .zip(&mut codes)
            .find_map(|(n, &c)| (c as u32 == e).then_some(n))
        {
            self.push(b" (").push(name).push(b")");
        }
        self
    }

    /// Writes the line and a newline to stderr (the newline written on its
    /// own: a line cut at the capacity still ends with it).
    pub fn emit(&mut self) {
        sys::write_stderr(&[self.buf.get(..self.len).unwrap_or(&[]), b"\n"]);
    }
}

/// Reports `f` and exits: `Failed` on the sync socket (exit 1), or, without
/// a controller (image mode) or if sending fails, `sprout-init: <step>:
/// errno N (ENAME)` on stderr and exit 127 when the command was not found (as
/// sh(1)/runc), 126 for any other failure.
pub fn die(sync: &Sync, f: Fail) -> ! {
    let msg = Msg::Failed {
        step: f.step,
        errno: f.errno,
        arg: f.arg,
    };
    if sync.is_connected() {
        if sync.send(msg).is_err() {
            Line::new()
                .push(f.step.name().as_bytes())
                .push(b": ")
                .errno(f.errno)
                .emit();
        }
        sys::exit(1)
    }
    Line::new()
        .push(f.step.name().as_bytes())
        .push(b": ")
        .errno(f.errno)
        .emit();
    let not_found = f.errno == Errno::NOENT.0 && matches!(f.step, Step::ResolveExec | Step::Execve);
    sys::exit(if not_found { 127 } else { 126 })
}
