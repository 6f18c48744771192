//! The sync socket: fixed 16-byte [`Msg`] records on the `SOCK_SEQPACKET`
//! socket `SYNCFD` (see the message-sequence diagram in sprout-protocol).

use sprout_protocol::{MSG_LEN, Msg, Step};

use crate::fail::{At, Fail, Res};
use crate::sys::{self, Errno, RawFd};

/// The controller connection; absent in image mode.
pub struct Sync {
    fd: Option<RawFd>,
}

impl Sync {
    /// A connection over `fd`, or none.
    pub fn new(fd: Option<RawFd>) -> Self {
        Sync { fd }
    }

    /// True when a controller listens (controller mode).
    pub fn is_connected(&self) -> bool {
        self.fd.is_some()
    }

    /// True when the controller has closed its end (it died: it keeps
    /// the socket open until the stub's exec closes ours). False without
    /// a controller, or while anything else is the case.
    pub fn peer_gone(&self) -> bool {
        let Some(sock) = self.fd else { return false };
        let mut byte = [0u8; 1];
        loop {
            match sys::recv(sock, &mut byte, sys::abi::MSG_PEEK | sys::abi::MSG_DONTWAIT) {
                Err(Errno::INTR) => {}
                r => return r == Ok(0),
            }
        }
    }

    /// Sends `msg`; a no-op without a controller. A vanished controller is
    /// `EPIPE` (MSG_NOSIGNAL), not a fatal SIGPIPE.
    pub fn send(&self, msg: Msg) -> Res<()> {
        self.send_with(msg, None)
    }

    /// Sends `msg` with `fd` attached as `SCM_RIGHTS` (unix(7)), as the
    /// protocol requires for `Console` and `SeccompListener`.
    pub fn send_fd(&self, msg: Msg, fd: RawFd) -> Res<()> {
        self.send_with(msg, Some(fd))
    }

    fn send_with(&self, msg: Msg, fd: Option<RawFd>) -> Res<()> {
        let Some(sock) = self.fd else { return Ok(()) };
        let bytes = msg.encode();
        loop {
            match sys::send_record(sock, &bytes, fd) {
                Err(Errno::INTR) => {}
                r => return r.map(drop).at(Step::Sync, 0),
            }
        }
    }

    /// Receives one message and requires it to be `want` (the controller
    /// only ever answers with argument-less messages, so its 16 bytes are
    /// compared whole: no decoder in the stub). EOF (the controller went
    /// away) is `EPIPE`, any other record `EPROTO`; both are `Step::Sync`
    /// failures.
    pub fn expect(&self, want: Msg) -> Res<()> {
        let sock = self.fd.ok_or(Errno::NOTCONN).at(Step::Sync, 0)?;
        // One byte more than a message: a longer record shows up as too long
        // (SEQPACKET truncates to the buffer, stub-build.md pitfall 8).
        let mut buf = [0u8; MSG_LEN + 1];
        let n = loop {
            match sys::recv(sock, &mut buf, 0) {
                Err(Errno::INTR) => {}
                r => break r.at(Step::Sync, 0)?,
            }
        };
        if n == 0 {
            return Err(Fail::new(Step::Sync, Errno::PIPE, 0));
        }
        if buf.get(..n) != Some(&want.encode()[..]) {
            return Err(Fail::new(Step::Sync, Errno::PROTO, 0));
        }
        Ok(())
    }

    /// Receives one message with the fds that ride along (`SCM_RIGHTS`,
    /// close-on-exec) into `fds`; returns the decoded message and the
    /// number of fds. EOF (the controller went away) is `EPIPE`, a record
    /// that is not a valid message `EPROTO` (its fds closed); both are
    /// `Step::Sync` failures.
    pub fn recv_fds(&self, fds: &mut [RawFd; sys::MAX_RECV_FDS]) -> Res<(Msg, usize)> {
        let sock = self.fd.ok_or(Errno::NOTCONN).at(Step::Sync, 0)?;
        let mut buf = [0u8; MSG_LEN + 1];
        let (len, n) = loop {
            match sys::recv_fds(sock, &mut buf, fds) {
                Err(Errno::INTR) => {}
                r => break r.at(Step::Sync, 0)?,
            }
        };
        if len == 0 && n == 0 {
            return Err(Fail::new(Step::Sync, Errno::PIPE, 0));
        }
        match buf.get(..len).map(Msg::decode) {
            Some(Ok(msg)) => Ok((msg, n)),
            _ => {
                for fd in fds.get(..n).unwrap_or(&[]) {
                    sys::close(*fd as u32);
                }
                Err(Fail::new(Step::Sync, Errno::PROTO, 0))
            }
        }
    }
}
