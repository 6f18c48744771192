//! The controller's error type: every failure becomes one line on stderr,
//! `sprout: <message>`, where the message names the config field, the value,
//! the operation and the errno (`process.cwd "/data": chdir: Permission
//! denied (EACCES)`).

use std::fmt;
use std::io;

use nix::errno::Errno;

/// A controller error. `Display` gives the whole one-line message (without
/// the `sprout: ` prefix, which `main` adds).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid input (config, bundle, command line): the message names the
    /// field and the value.
    #[error("{0}")]
    Invalid(String),
    /// A system call failed: `context: strerror (ENAME)`.
    #[error("{context}: {}", errno_text(*.errno))]
    Sys {
        /// What was being done, naming the config field when there is one.
        context: String,
        /// The kernel's error number.
        errno: Errno,
    },
    /// The container failed during setup (a `Failed` message from the stub,
    /// already turned into words by [`crate::failure`]).
    #[error("{0}")]
    Container(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Invalid`] from anything printable.
    pub fn invalid(msg: impl fmt::Display) -> Error {
        Error::Invalid(msg.to_string())
    }

    /// An [`Error::Sys`] from an `io::Error` (non-OS errors become `EIO`
    /// with their text appended to the context).
    pub fn io(context: impl fmt::Display, e: &io::Error) -> Error {
        match e.raw_os_error() {
            Some(n) => Error::Sys {
                context: context.to_string(),
                errno: Errno::from_raw(n),
            },
            None => Error::Invalid(format!("{context}: {e}")),
        }
    }
}

/// `"Permission denied (EACCES)"`: the C library's text for an errno plus
/// its symbolic name, as used in every message. 0 gives `"unknown error"`.
pub fn errno_text(errno: Errno) -> String {
    if errno == Errno::UnknownErrno {
        return "unknown error".to_string();
    }
    format!("{} ({errno:?})", errno.desc())
}

/// [`errno_text`] for a raw positive errno value (from the wire).
pub fn raw_errno_text(errno: u32) -> String {
    errno_text(Errno::from_raw(errno as i32))
}

/// Adds context to a failing system call: `.ctx(|| format!("writing {path}"))`.
pub trait Context<T> {
    /// Maps the error to [`Error::Sys`] with the context.
    fn ctx<S: fmt::Display>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, Errno> {
    fn ctx<S: fmt::Display>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|errno| Error::Sys {
            context: f().to_string(),
            errno,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, io::Error> {
    fn ctx<S: fmt::Display>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::io(f(), &e))
    }
}

/// Returns early with an [`Error::Invalid`] built like `format!`.
#[macro_export]
macro_rules! bail {
    ($($t:tt)*) => {
        return Err($crate::error::Error::Invalid(format!($($t)*)))
    };
}

/// Writes `line` and a newline to stderr, ignoring a failed write.
///
/// Every line the controller prints on stderr goes through here, never
/// `eprintln!`: that panics when the write fails (a client that closed its
/// end of the stderr pipe: `EPIPE`, as SIGPIPE is ignored), and a panic
/// aborts the process (`panic = "abort"`), which would turn an error's exit
/// code 1 into 134, lose the `--log` line written after it, and stop a
/// command halfway at a warning, skipping its clean-up.
///
/// Control characters in `line` are escaped ([`one_line`]): a config value
/// holding a newline (`process.cwd`, `linux.cgroupsPath`) still gives one
/// line, and a value cannot drive the operator's terminal.
pub fn stderr_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(io::stderr().lock(), "{}", one_line(line));
}

/// `text` with its control characters escaped: `\n`, `\r`, `\t`, others
/// as `\xNN` (Unicode ones as `\u{NNNN}`); borrowed when there is none.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out.into()
}

/// Whether `--debug` was given ([`set_debug`]).
static DEBUG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns [`debug`] lines on (`--debug`).
pub fn set_debug(on: bool) {
    DEBUG.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// With `--debug`, one line of detail: to the `--log` file at level
/// `debug` when there is one (in its `--log-format`), else on stderr as
/// `sprout: debug: <message>` (runc's `--debug` goes where its log goes).
/// Nothing without `--debug`.
pub fn debug(msg: impl fmt::Display) {
    if !DEBUG.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let msg = msg.to_string();
    if !crate::cli::log_line("debug", &msg) {
        stderr_line(&format!("sprout: debug: {msg}"));
    }
}

/// Prints a one-line warning on stderr: `sprout: warning: <message>`
/// (and to the `--log` file, if any, at level `warning`).
pub fn warn(msg: impl fmt::Display) {
    let msg = msg.to_string();
    stderr_line(&format!("sprout: warning: {msg}"));
    crate::cli::log_line("warning", &msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_control_characters() {
        assert_eq!(one_line("plain \"text\""), "plain \"text\"");
        assert_eq!(
            one_line("process.cwd \"/a\nb\": chdir\r\t\x1b[2J\u{85}"),
            "process.cwd \"/a\\nb\": chdir\\r\\t\\x1b[2J\\x85"
        );
    }

    #[test]
    fn errno_text_has_description_and_name() {
        assert_eq!(errno_text(Errno::EACCES), "Permission denied (EACCES)");
        assert_eq!(raw_errno_text(2), "No such file or directory (ENOENT)");
        assert_eq!(raw_errno_text(0), "unknown error");
    }

    #[test]
    fn sys_error_display() {
        let e: Result<()> = Err(Errno::EPERM).ctx(|| "process.rlimits[0] RLIMIT_NOFILE: prlimit");
        assert_eq!(
            e.unwrap_err().to_string(),
            "process.rlimits[0] RLIMIT_NOFILE: prlimit: Operation not permitted (EPERM)"
        );
    }
}
