//! The sync socket: fixed 16-byte [`Msg`] records on the `SOCK_SEQPACKET`
//! socket `SYNCFD` (see the message-sequence diagram in sprout-protocol).

use core::mem::MaybeUninit;

use rustix::fd::BorrowedFd;
use rustix::io::{Errno, IoSlice};
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use sprout_protocol::{MSG_LEN, Msg, Step};

use crate::fail::{At, Fail, Res};

/// The controller connection; absent in image mode.
pub struct Sync {
    fd: Option<BorrowedFd<'static>>,
}

impl Sync {
    /// A connection over `fd`, or none.
    pub fn new(fd: Option<BorrowedFd<'static>>) -> Self {
        Sync { fd }
    }

    /// True when a controller listens (controller mode).
    pub fn is_connected(&self) -> bool {
        self.fd.is_some()
    }

    /// Sends `msg`; a no-op without a controller. `MSG_NOSIGNAL`: a vanished
    /// controller yields `EPIPE`, not a fatal SIGPIPE.
    pub fn send(&self, msg: Msg) -> Res<()> {
        self.send_with(msg, None)
    }

    /// Sends `msg` with `fd` attached as `SCM_RIGHTS` (unix(7)), as the
    /// protocol requires for `Console` and `SeccompListener`.
    pub fn send_fd(&self, msg: Msg, fd: BorrowedFd<'_>) -> Res<()> {
        self.send_with(msg, Some(fd))
    }

    fn send_with(&self, msg: Msg, fd: Option<BorrowedFd<'_>>) -> Res<()> {
        let Some(sock) = self.fd else { return Ok(()) };
        let bytes = msg.encode();
        let iov = [IoSlice::new(&bytes)];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut cmsg = SendAncillaryBuffer::new(&mut space);
        let fds;
        if let Some(fd) = fd {
            fds = [fd];
            cmsg.push(SendAncillaryMessage::ScmRights(&fds));
        }
        loop {
            match rustix::net::sendmsg(sock, &iov, &mut cmsg, SendFlags::NOSIGNAL) {
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Fail::new(Step::Sync, e, 0)),
                Ok(_) => return Ok(()),
            }
        }
    }

    /// Receives one message. EOF (the controller went away) is `EPIPE`, a
    /// malformed record `EPROTO`; both are `Step::Sync` failures.
    pub fn recv(&self) -> Res<Msg> {
        let Some(sock) = self.fd else { return Err(Fail::new(Step::Sync, Errno::NOTCONN, 0)) };
        // One byte more than a message: a longer record shows up as too long
        // (SEQPACKET truncates to the buffer, stub-build.md pitfall 8).
        let mut buf = [0u8; MSG_LEN + 1];
        let n = loop {
            match rustix::net::recv(sock, &mut buf, RecvFlags::empty()) {
                Err(Errno::INTR) => continue,
                r => break r.at(Step::Sync, 0)?.0,
            }
        };
        if n == 0 {
            return Err(Fail::new(Step::Sync, Errno::PIPE, 0));
        }
        Msg::decode(buf.get(..n).unwrap_or(&[])).map_err(|_| Fail::new(Step::Sync, Errno::PROTO, 0))
    }

    /// Receives one message and requires it to be `want`.
    pub fn expect(&self, want: Msg) -> Res<()> {
        if self.recv()? != want {
            return Err(Fail::new(Step::Sync, Errno::PROTO, 0));
        }
        Ok(())
    }
}
