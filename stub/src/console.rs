//! `process.terminal`: a pty created inside the container (runc's
//! `setupConsole`), whose master goes to the controller.

use sprout_protocol::{Msg, Plan, Step, flags};

use crate::fail::{At, Res};
use crate::sync::Sync;
use crate::sys::{self, Errno, RawFd, abi};

/// Opens `/dev/ptmx` of the container (its own devpts instance),
/// unlocks it and opens the peer with `TIOCGPTPEER` (no path lookup, so
/// no /dev/pts race; ioctl_tty(2)), applies `consoleSize`, binds the peer
/// over `/dev/console` when the stub set up the rootfs, makes it the
/// controlling terminal of a new session (`setsid`, `TIOCSCTTY`) and stdio,
/// then sends the master as `Console` + SCM_RIGHTS and closes it.
pub fn setup(plan: &Plan<'_>, sync: &Sync) -> Res<()> {
    let flags = abi::O_RDWR | abi::O_NOCTTY | abi::O_CLOEXEC;
    // Both fds above 2 (stdio might have been closed), so that installing
    // the peer as stdio below cannot clobber them.
    let master = sys::open(c"/dev/ptmx", flags, 0)
        .and_then(sys::above_stdio)
        .at(Step::Console, 0)?;
    sys::unlockpt(master.raw()).at(Step::Console, 0)?;
    let peer = sys::pty_peer(master.raw(), flags)
        .and_then(sys::above_stdio)
        .at(Step::Console, 0)?;
    let size = plan.console;
    if size.rows != 0 || size.cols != 0 {
        sys::set_winsize(peer.raw(), size.rows, size.cols).at(Step::Console, 0)?;
    }
    if plan.has(flags::SETUP_ROOTFS) {
        bind_console(peer.raw()).at(Step::Console, 0)?;
    }
    sys::setsid().at(Step::Console, 0)?;
    sys::set_ctty(peer.raw()).at(Step::Console, 0)?;
    for stdio in 0..3 {
        sys::dup_onto(peer.raw(), stdio).at(Step::Console, 0)?;
    }
    drop(peer);
    sync.send_fd(Msg::Console, master.raw())
}

/// runc's `mountConsole`: create `/dev/console` (mode 0666) if missing and
/// bind the pty over it. The bind is `open_tree(OPEN_TREE_CLONE)` then
/// `move_mount(2)` of the peer fd, so it needs neither a path to the pty
/// nor /proc in the container.
fn bind_console(peer: RawFd) -> Result<(), Errno> {
    match sys::mknodat(sys::CWD, c"/dev/console", abi::S_IFREG | 0o666, 0) {
        Ok(()) => sys::chmod(c"/dev/console", 0o666)?,
        Err(Errno::EXIST) => {}
        Err(e) => return Err(e),
    }
    let tree = sys::open_tree_clone(peer)?;
    sys::move_mount(tree.raw(), c"/dev/console")
}
