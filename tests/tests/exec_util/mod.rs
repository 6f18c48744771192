//! Helpers for the `exec_*` system tests: a started busybox container
//! under a private `--root` (deleted with `delete --force` on drop), `sprout
//! exec` runs against it, and a test console-socket receiver.
#![allow(dead_code)]

use std::fs;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sprout_systests::serde_json::{Value, json};
use sprout_systests::{Bundle, Output, output, sprout, sprout_bin};

use crate::common::busybox;

/// The `--root` of every exec test container: short (the start socket
/// lives below it and AF_UNIX paths are limited to 108 bytes) and apart
/// from the default `/run/sprout`.
pub const ROOT: &str = "/run/sprout-systest-exec";

/// Whether the controller has the lifecycle commands these tests need
/// (`create`, `start`, `state`, `delete`).
pub fn have_lifecycle() -> bool {
    ["create", "start", "state", "delete"]
        .iter()
        .all(|c| output(&mut sprout(&[c, "--help"])).success())
}

/// Skip the calling test (loudly) unless the controller has the lifecycle
/// commands ([`have_lifecycle`]).
macro_rules! require_lifecycle {
    () => {
        if !$crate::exec_util::have_lifecycle() {
            eprintln!(
                "!!!!! SKIPPED (no create/start/state/delete in this sprout): {} at {}:{}",
                module_path!(),
                file!(),
                line!()
            );
            return;
        }
    };
}

/// `sprout --root ROOT <args>`, stdin closed, output captured.
pub fn sprout_root(args: &[&str]) -> Output {
    output(sprout(&["--root", ROOT]).args(args))
}

/// A busybox container created (and by default started) under [`ROOT`],
/// whose process is `sleep 600` unless changed; `delete --force` on drop.
pub struct Container {
    /// Its bundle (removed after the container).
    pub bundle: Bundle,
    /// Container id.
    pub id: String,
}

impl Container {
    /// Creates and starts a container of `id` whose config is the busybox
    /// default (no terminal) with `process.args = ["sleep", "600"]`, then
    /// changed by `edit`.
    #[track_caller]
    pub fn started(id: &str, edit: impl FnOnce(&mut Value)) -> Container {
        let c = Container::created(id, edit);
        let out = sprout_root(&["start", id]);
        assert!(out.success(), "sprout start failed:\n{out}");
        c
    }

    /// Like [`Container::started`] but only `create`d: the stub waits for
    /// `start`.
    #[track_caller]
    pub fn created(id: &str, edit: impl FnOnce(&mut Value)) -> Container {
        let bundle = busybox(id, |c| {
            c["process"]["args"] = json!(["sleep", "600"]);
            edit(c)
        });
        // The container's stdio is create's (as with runc): files, not
        // pipes, or reading create's output would wait for the container.
        let out = create_with_files(bundle.dir(), id);
        let c = Container {
            bundle,
            id: id.to_string(),
        };
        assert!(out.0, "sprout create failed:\n{}", out.1);
        c
    }

    /// `sprout --root ROOT exec <flags...> ID <cmd...>`.
    pub fn exec(&self, flags: &[&str], cmd: &[&str]) -> Output {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.push(&self.id);
        args.extend_from_slice(cmd);
        sprout_root(&args)
    }

    /// `sprout exec -d <flags...> ID <cmd...>` run in `cwd` with stdout and
    /// stderr going to files (the detached process keeps them: pipes
    /// would not see EOF until it ends); waits at most 30 s for `sprout`.
    /// Returns (exit code, stdout + stderr of sprout and the process so far).
    pub fn exec_detached(&self, cwd: &Path, flags: &[&str], cmd: &[&str]) -> (Option<i32>, String) {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = self
            .bundle
            .dir()
            .join(format!("detached-{}-{n}", std::process::id()));
        let out = fs::File::create(base.with_extension("out")).expect("creating the output file");
        let err = out.try_clone().expect("dup of the output file");
        let mut args = vec!["--root", ROOT, "exec", "--detach"];
        args.extend_from_slice(flags);
        args.push(&self.id);
        args.extend_from_slice(cmd);
        let mut child = sprout(&args)
            .current_dir(cwd)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawning sprout exec -d");
        let start = Instant::now();
        let code = loop {
            if let Some(st) = child.try_wait().expect("waiting for sprout exec -d") {
                break st.code();
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        (
            code,
            fs::read_to_string(base.with_extension("out")).unwrap_or_default(),
        )
    }

    /// [`Container::exec`] expecting exit 0 and an empty stderr; its stdout.
    #[track_caller]
    pub fn exec_ok(&self, flags: &[&str], cmd: &[&str]) -> String {
        let out = self.exec(flags, cmd);
        assert_eq!(out.code(), Some(0), "{out}");
        assert_eq!(out.stderr_str(), "", "unexpected stderr:\n{out}");
        out.stdout_str()
    }

    /// The `state` JSON.
    #[track_caller]
    pub fn state(&self) -> Value {
        let out = sprout_root(&["state", &self.id]);
        assert!(out.success(), "sprout state failed:\n{out}");
        sprout_systests::serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("state JSON: {e}\n{out}"))
    }

    /// The host pid of the container's process (from `state`).
    #[track_caller]
    pub fn pid(&self) -> i32 {
        let st = self.state();
        st["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no pid in {st}")) as i32
    }

    /// Waits (at most 10 s) until `state` reports `status`.
    #[track_caller]
    pub fn wait_status(&self, status: &str) {
        let start = Instant::now();
        loop {
            let st = self.state();
            if st["status"] == status {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "still not {status} after 10 s: {st}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let out = sprout_root(&["delete", "--force", &self.id]);
        if !out.success() && !std::thread::panicking() {
            panic!("delete --force failed:\n{out}");
        }
    }
}

/// `sprout --root ROOT create --bundle DIR ID` with stdout and stderr
/// going to `DIR/container.out` and `DIR/container.err` (the container
/// keeps them); waits at most 30 s. Returns (success, description).
fn create_with_files(dir: &Path, id: &str) -> (bool, String) {
    let out = fs::File::create(dir.join("container.out")).expect("creating container.out");
    let err = fs::File::create(dir.join("container.err")).expect("creating container.err");
    let mut child = sprout(&["--root", ROOT, "create", "--bundle"])
        .arg(dir)
        .arg(id)
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawning sprout create");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for sprout create") {
            break Some(st);
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let err = fs::read_to_string(dir.join("container.err")).unwrap_or_default();
    let ok = status.is_some_and(|s| s.success());
    (ok, format!("status {status:?}\n--- stderr ---\n{err}"))
}

/// `sh -c 'exec <redirections>; exec sprout --root ROOT <args>'`: the
/// controller gets the shell's extra fds without `FD_CLOEXEC`
/// (`3</etc/hostname` ...).
pub fn sprout_root_with_fds(redirections: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "exec {redirections}; exec \"$0\" --root {ROOT} \"$@\""
        ))
        .arg(sprout_bin())
        .args(args);
    output(cmd.stdin(std::process::Stdio::null()))
}

/// The `Name:` field of /proc/PID/status text.
#[track_caller]
pub fn status_field(text: &str, name: &str) -> String {
    crate::common::status_field(text, name)
}

/// A test `--console-socket` receiver: listens on a socket in a fresh
/// directory; [`ConsoleReceiver::receive`] accepts one connection, takes
/// the message (data + one fd by SCM_RIGHTS), then reads everything the
/// pty master gives until EIO (every slave end closed) or the deadline.
pub struct ConsoleReceiver {
    dir: PathBuf,
    listener: UnixListener,
}

/// What the receiver got.
#[derive(Debug)]
pub struct Received {
    /// The message data (runc sends the master's file name, `/dev/ptmx`).
    pub name: Vec<u8>,
    /// How many fds came with it.
    pub fds: usize,
    /// Everything read from the pty master.
    pub output: String,
}

impl ConsoleReceiver {
    /// A listening socket at `<tmp dir>/c.sock`.
    pub fn new(tag: &str) -> ConsoleReceiver {
        let dir = std::env::temp_dir().join(sprout_systests::unique_id(&format!("cons-{tag}")));
        fs::create_dir_all(&dir).expect("creating the console socket dir");
        let listener = UnixListener::bind(dir.join("c.sock")).expect("binding the console socket");
        ConsoleReceiver { dir, listener }
    }

    /// The socket path.
    pub fn path(&self) -> PathBuf {
        self.dir.join("c.sock")
    }

    /// The path as a `&str` for command lines.
    pub fn path_str(&self) -> String {
        self.path().to_string_lossy().into_owned()
    }

    /// Receives the master (at most `secs` seconds in all) and reads it dry.
    /// Panics if nothing connects in time.
    pub fn receive(&self, secs: u64) -> Received {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
        let deadline = Instant::now() + Duration::from_secs(secs);
        self.listener.set_nonblocking(true).unwrap();
        let conn = loop {
            match self.listener.accept() {
                Ok((c, _)) => break c,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("console socket: nothing connected: {e}"),
            }
        };
        conn.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 4]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .expect("recvmsg on the console socket");
        let mut fds: Vec<RawFd> = Vec::new();
        for c in msg.cmsgs().expect("control messages") {
            if let ControlMessageOwned::ScmRights(v) = c {
                fds.extend(v);
            }
        }
        let n = msg.bytes;
        let name = buf[..n].to_vec();
        let Some(&master) = fds.first() else {
            return Received {
                name,
                fds: 0,
                output: String::new(),
            };
        };
        let output = read_master(master, deadline);
        for fd in &fds {
            let _ = nix::unistd::close(*fd);
        }
        Received {
            name,
            fds: fds.len(),
            output,
        }
    }
}

impl Drop for ConsoleReceiver {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Reads a pty master until EIO/EOF (every slave end closed) or
/// `deadline` (non-blocking reads, polled every 10 ms: the fd is a raw
/// number from SCM_RIGHTS, read with nix's RawFd calls).
fn read_master(fd: RawFd, deadline: Instant) -> String {
    use nix::errno::Errno;
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = fcntl(fd, FcntlArg::F_GETFL).expect("F_GETFL on the pty master");
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .expect("F_SETFL on the pty master");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) | Err(Errno::EIO) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EAGAIN) => std::thread::sleep(Duration::from_millis(10)),
            Err(Errno::EINTR) => {}
            Err(e) => panic!("reading the pty master: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path of `p` as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
