//! `process.terminal`: a pty created inside the container (runc's
//! `setupConsole`), whose master goes to the controller.

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{CWD, FileType, Mode};
use rustix::io::Errno;
use rustix::mount::{MoveMountFlags, OpenTreeFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;
use sprout_protocol::{Msg, Plan, Step, flags};

use crate::fail::{At, Res};
use crate::sync::Sync;

/// Opens `/dev/ptmx` of the container (its own devpts instance),
/// unlocks it and opens the peer with `TIOCGPTPEER` (no path lookup, so
/// no /dev/pts race; ioctl_tty(2)), applies `consoleSize`, binds the peer
/// over `/dev/console` when the stub set up the rootfs, makes it the
/// controlling terminal of a new session (`setsid`, `TIOCSCTTY`) and stdio,
/// then sends the master as `Console` + SCM_RIGHTS and closes it.
pub fn setup(plan: &Plan<'_>, sync: &Sync) -> Res<()> {
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = rustix::pty::openpt(flags).at(Step::Console, 0)?;
    rustix::pty::unlockpt(&master).at(Step::Console, 0)?;
    let peer = rustix::pty::ioctl_tiocgptpeer(&master, flags).at(Step::Console, 0)?;
    let size = plan.console;
    if size.rows != 0 || size.cols != 0 {
        let ws = Winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
        rustix::termios::tcsetwinsize(&peer, ws).at(Step::Console, 0)?;
    }
    if plan.has(flags::SETUP_ROOTFS) {
        bind_console(peer.as_fd()).at(Step::Console, 0)?;
    }
    rustix::process::setsid().at(Step::Console, 0)?;
    rustix::process::ioctl_tiocsctty(&peer).at(Step::Console, 0)?;
    rustix::stdio::dup2_stdin(&peer).at(Step::Console, 0)?;
    rustix::stdio::dup2_stdout(&peer).at(Step::Console, 0)?;
    rustix::stdio::dup2_stderr(&peer).at(Step::Console, 0)?;
    drop(peer);
    sync.send_fd(Msg::Console, master.as_fd())
}

/// runc's `mountConsole`: create `/dev/console` (mode 0666) if missing and
/// bind the pty over it. The bind is `open_tree(OPEN_TREE_CLONE)` then
/// `move_mount(2)` of the peer fd, so it needs neither a path to the pty
/// nor /proc in the container.
fn bind_console(peer: BorrowedFd<'_>) -> Result<(), Errno> {
    match rustix::fs::mknodat(CWD, c"/dev/console", FileType::RegularFile, Mode::from_raw_mode(0o666), 0) {
        Ok(()) => rustix::fs::chmod(c"/dev/console", Mode::from_raw_mode(0o666))?,
        Err(Errno::EXIST) => {}
        Err(e) => return Err(e),
    }
    let tree = rustix::mount::open_tree(
        peer,
        c"",
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC | OpenTreeFlags::AT_EMPTY_PATH,
    )?;
    rustix::mount::move_mount(tree.as_fd(), c"", CWD, c"/dev/console", MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
}
