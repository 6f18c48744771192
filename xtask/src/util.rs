//! Small shared helpers: the error type, running commands, paths.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// An xtask failure: a human-readable message, printed once by `main`.
#[derive(Debug)]
pub struct Error(pub String);

/// Result type used throughout xtask.
pub type Result<T = ()> = std::result::Result<T, Error>;

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Self {
        Error(e.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Attach a description of what was being done to an error.
pub trait Context<T> {
    /// Prefix the error with `what` (e.g. "reading foo.json").
    fn ctx(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
}

/// Return early with a formatted [`Error`].
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::util::Error(format!($($arg)*))) };
}

/// Print a progress line, prefixed with `xtask:`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { eprintln!("xtask: {}", format!($($arg)*)) };
}

/// The workspace root (the parent of the xtask crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// The workspace's `target/` directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// The cargo that runs us (same toolchain), falling back to `cargo` on PATH.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    cmd
}

/// Short printable form of a command: program and arguments.
fn describe(cmd: &Command) -> String {
    let mut s = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        s.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$;|&".contains(c)) {
            s.push('\'');
            s.push_str(&a.replace('\'', r"'\''"));
            s.push('\'');
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Run a command with inherited stdio, echoing it first; fail unless it succeeds.
pub fn run(cmd: &mut Command) -> Result {
    let status = status(cmd)?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Run a command with inherited stdio, echoing it first; return its exit status.
pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    say!("$ {}", describe(cmd));
    cmd.status().ctx(format!("running `{}`", describe(cmd)))
}

/// Run a command quietly and return its stdout; fail (showing stderr) unless it succeeds.
pub fn capture(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .ctx(format!("running `{}`", describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}):\n{}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the effective uid is 0, read from the `Uid:` line of /proc/self/status.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Decode the octal escapes (`\040` etc.) used for paths in /proc/self/mountinfo.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = (b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)))
        .then(|| {
            b[i + 1..i + 4]
                .iter()
                .fold(0u32, |n, c| n * 8 + u32::from(c - b'0'))
        })
        .and_then(|n| u8::try_from(n).ok());
        if let Some(byte) = code {
            out.push(byte);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points (from /proc/self/mountinfo) at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(&dir))
        .collect()
}

/// Remove a directory tree, refusing if anything is still mounted below it
/// (removing through a leftover bind mount could delete host files).
pub fn remove_tree(dir: &Path) -> Result {
    if fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    let mounts = mounts_under(dir);
    if !mounts.is_empty() {
        bail!(
            "refusing to remove {}: still mounted below it: {:?} (unmount them first)",
            dir.display(),
            mounts
        );
    }
    fs::remove_dir_all(dir).ctx(format!("removing {}", dir.display()))
}

/// Copy a file, replacing (not writing through) any existing destination,
/// so hard links such as cargo's uplifted binaries are left untouched.
pub fn copy_replace(from: &Path, to: &Path) -> Result {
    let tmp = to.with_extension("xtask-tmp");
    let _ = fs::remove_file(&tmp);
    fs::copy(from, &tmp).ctx(format!("copying {} to {}", from.display(), tmp.display()))?;
    fs::rename(&tmp, to).ctx(format!("renaming {} to {}", tmp.display(), to.display()))
}

/// Find an executable by name on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape_mountinfo(r"/a\040b"), "/a b");
        assert_eq!(unescape_mountinfo(r"/plain"), "/plain");
        assert_eq!(unescape_mountinfo(r"/tail\04"), r"/tail\04");
        assert_eq!(unescape_mountinfo(r"/x\134y"), r"/x\y");
    }

    #[test]
    fn root_mount_is_under_root() {
        assert!(!mounts_under(Path::new("/")).is_empty());
    }
}
