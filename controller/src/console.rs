//! The foreground side of `process.terminal`: the stub creates the pty in
//! the container and sends its master (`Console` + `SCM_RIGHTS`); `sprout
//! run` relays it to its own stdio, like `runc run` without
//! `--console-socket`.
//!
//! - stdin is a tty: it is put in raw mode for the run (restored on drop),
//!   its window size is copied to the pty at start and on `SIGWINCH`;
//! - stdin is not a tty: bytes are relayed as they are, and at end of input
//!   one `VEOF` (`^D`) is written so that a shell reading the pty sees end
//!   of file instead of waiting forever;
//! - pty output goes to stdout until the pty reports `EIO` (all slave ends
//!   closed, e.g. the container's pid 1 exited).
//!
//! Input runs on its own thread (a blocking `read(0)` that the process exit
//! ends); output runs in the controller's poll loop.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::termios::{self, SetArg, Termios};
use sprout_protocol::WinSize;

use crate::sys;

/// Raw mode on stdin, restored when dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin (a tty) into raw mode (`cfmakeraw(3)`); `None` when stdin
    /// is not a tty or its attributes cannot be changed.
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Whether stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    nix::unistd::isatty(std::io::stdin().as_raw_fd()).unwrap_or(false)
}

/// The window size of the controller's terminal on stdin, if it is one.
pub fn stdin_size() -> Option<WinSize> {
    if !stdin_is_tty() {
        return None;
    }
    let (rows, cols) = sys::window_size(&std::io::stdin()).ok()?;
    Some(WinSize { rows, cols })
}

/// Copies the controller's terminal size to the pty master (start and
/// `SIGWINCH`); nothing when stdin is not a tty.
pub fn sync_size(master: &impl AsRawFd) {
    if let Some(ws) = stdin_size() {
        let _ = sys::set_window_size(master, ws.rows, ws.cols);
    }
}

/// Starts the stdin → pty thread.
pub fn spawn_input(master: &OwnedFd, stdin_tty: bool) -> std::io::Result<()> {
    let mut out = File::from(master.try_clone()?);
    std::thread::Builder::new().name("stdin-relay".into()).spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => {
                    if !stdin_tty {
                        let _ = out.write_all(&[0x04]);
                    }
                    return;
                }
                Ok(n) => {
                    if out.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    })?;
    Ok(())
}

/// Copies what the pty master has to stdout (one read). Returns false when
/// the pty is finished (`EIO`/EOF: no slave end is open any more).
pub fn pump_output(master: &OwnedFd) -> bool {
    let mut buf = [0u8; 32 * 1024];
    match nix::unistd::read(master.as_raw_fd(), &mut buf) {
        Ok(0) | Err(nix::errno::Errno::EIO) => false,
        Ok(n) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
            true
        }
        Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => true,
        Err(_) => false,
    }
}
