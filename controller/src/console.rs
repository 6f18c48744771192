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
//!
//! A detached container (`create`, `exec -d`) or any command given
//! `--console-socket PATH` instead hands the master to whoever listens at
//! PATH ([`send_to_socket`]), as runc does: the caller (conmon, the
//! containerd shim, a test) then owns the terminal.

use std::fs::File;
use std::io::{IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::termios::{self, SetArg, Termios};
use sprout_protocol::WinSize;

use crate::error::{Context, Error, Result};
use crate::sys;

/// The bytes sent with the master fd on a console socket: the name of the
/// file the master was opened as (runc sends its pty master's file name,
/// `/dev/ptmx`; receivers such as conmon and containerd use only the fd).
pub const CONSOLE_SOCKET_NAME: &[u8] = b"/dev/ptmx";

/// Hands the pty master to the `--console-socket` listener, in runc's
/// message shape: [`connect_socket`] then [`send_master`].
///
/// Errors: see those two.
#[cfg_attr(not(test), allow(dead_code))] // create and exec connect first (runc's order)
pub fn send_to_socket(path: &Path, master: OwnedFd) -> Result<()> {
    send_master(path, &connect_socket(path)?, master)
}

/// Connects a `SOCK_STREAM` `AF_UNIX` socket to the `--console-socket`
/// listener at `path` (relative to the current directory, or absolute).
/// runc connects before it starts anything, so that a missing listener
/// fails the command before the process runs; so do `exec` and `create`.
///
/// Errors: `--console-socket "PATH": connect: ...` (no listener, not a
/// socket, permission).
pub fn connect_socket(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).map_err(|e| {
        Error::io(
            format!("--console-socket \"{}\": connect", path.display()),
            &e,
        )
    })
}

/// Sends the pty master on a connected console socket as runc does: one
/// message whose data is [`CONSOLE_SOCKET_NAME`] and whose control data is
/// `SCM_RIGHTS` carrying `master`. `master` is consumed (closed here once
/// sent; the receiver holds its own copy); `path` is for messages only.
/// The connection is left to the caller to close (dropping it).
///
/// Errors: `--console-socket "PATH": sendmsg: ...`.
pub fn send_master(path: &Path, conn: &UnixStream, master: OwnedFd) -> Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let fds = [master.as_raw_fd()];
    let iov = [IoSlice::new(CONSOLE_SOCKET_NAME)];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<()>(conn.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => {
                r.ctx(|| format!("--console-socket \"{}\": sendmsg", path.display()))?;
                break;
            }
        }
    }
    drop(master);
    Ok(())
}

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
    std::thread::Builder::new()
        .name("stdin-relay".into())
        .spawn(move || {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn console_socket_gets_the_fd_and_the_name() {
        let dir = std::env::temp_dir().join(format!("sprout-console-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path).unwrap();
        // Any fd will do: send the write end of a pipe and write through
        // the received copy.
        let (r, w) = nix::unistd::pipe().unwrap();
        let receiver = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            let rec = sys::recv_record(&conn, &mut buf).unwrap();
            (buf[..rec.len].to_vec(), rec.fds)
        });
        send_to_socket(&path, w).unwrap();
        let (name, mut fds) = receiver.join().unwrap();
        assert_eq!(name, CONSOLE_SOCKET_NAME);
        assert_eq!(fds.len(), 1);
        File::from(fds.pop().unwrap()).write_all(b"hi").unwrap();
        let mut got = [0u8; 2];
        File::from(r).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");

        let e = send_to_socket(
            &dir.join("nobody.sock"),
            File::open("/dev/null").unwrap().into(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("nobody.sock\": connect: No such file or directory (ENOENT)"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
