//! `cargo xtask hotlist`: which functions of the shipped controller run
//! for its common commands, in the order they first run, written to
//! `controller/hot-functions.txt` (the musl build) or
//! `controller/hot-functions-gnu.txt` (the static glibc fallback): the
//! linker's symbol ordering file for the shipped build (see
//! [`crate::build_sprout`], [`order_file`]).
//!
//! Why: the controller's resident memory follows the code it maps, not the
//! code it runs. Each page fault on the text maps up to 16 pages around it
//! (the kernel's fault-around), and the functions a command runs are spread
//! over the whole 3.5 MB of text, so nearly all of it became resident
//! (`--version` ran 620 KB of distinct pages, 1.9 MB resident). With the
//! functions that run placed first and next to each other, the rest of the
//! text is never touched.
//!
//! How (on a hybrid host, the cgroup scenarios again with the cgroup2
//! controller list masked, as `cargo xtask bench` measures): the shipped
//! build before stripping (the `ship` profile keeps the
//! symbols; an unstripped twin built with other settings would have other
//! symbol hashes) runs `--version`, `spec`, `run`, `create`,
//! `state`, `exec`, `start`, `list`, `kill` and `delete` on a busybox
//! bundle under a ptrace tracer that puts a one-shot breakpoint (`int3`)
//! on the first byte of every function: the first hit records the function
//! and restores the byte. Children of the controller (its vfork'd clone)
//! are traced too, each process until it executes something else (the
//! stub). Needs root (containers).
//!
//! The list goes stale gracefully: a function missing from it (new, or
//! renamed) is only placed after the listed ones. Re-run after larger
//! changes of the controller.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use serde_json::{Value, json};

use crate::util::{
    Context, Result, capture, copy_replace, is_root, run, target_dir, workspace_root,
};
use crate::{bail, say};

/// The ordering file of the shipped musl build, relative to the workspace.
pub const ORDER_FILE: &str = "controller/hot-functions.txt";
/// The ordering file of the static glibc build (the fallback when the musl
/// std cannot be had), relative to the workspace.
pub const ORDER_FILE_GNU: &str = "controller/hot-functions-gnu.txt";

/// The ordering file (relative to the workspace) for a ship build for
/// `triple`: one per C library, because the mangled names' hashes differ
/// between targets: of the 909 functions of the musl list, about 90 are
/// in a glibc build, which linked with it peaked at 3860 KiB during `run`
/// (VmHWM) instead of 2228 KiB with a glibc list.
pub fn order_file(triple: &str) -> &'static str {
    if triple.ends_with("-musl") {
        ORDER_FILE
    } else {
        ORDER_FILE_GNU
    }
}

/// The target triple of a ship build at `bin` (`target/TRIPLE/ship/sprout`,
/// what [`crate::build_ship`] returns); empty when the path has no such
/// component.
pub fn ship_triple(bin: &Path) -> String {
    bin.parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `cargo xtask hotlist`.
pub fn main(args: &[String]) -> Result<ExitCode> {
    if !args.is_empty() {
        bail!("usage: cargo xtask hotlist");
    }
    if !is_root() {
        bail!("`cargo xtask hotlist` runs containers: it needs root");
    }
    crate::deps::ensure()?;
    let dir = target_dir().join("hotlist");
    say!("building the shipped controller (its unstripped build)");
    let bin = crate::build_ship()?;
    copy_replace(&crate::build_stub()?, &bin.with_file_name("sprout-init"))?;
    let functions = Functions::of(&bin)?;
    say!("{} functions", functions.addrs.len());

    let work = dir.join("work");
    crate::util::remove_tree(&work)?;
    fs::create_dir_all(&work).ctx(format!("creating {}", work.display()))?;
    let busybox = crate::rootfs::find_busybox()?;
    let bundle = |name: &str, args: &[&str]| -> Result<PathBuf> {
        let b = work.join(name);
        fs::create_dir_all(&b).ctx(format!("creating {}", b.display()))?;
        crate::rootfs::make(&busybox, &b.join("rootfs"))?;
        run(Command::new(&bin).arg("spec").arg("--bundle").arg(&b))?;
        crate::edit_config(&b.join("config.json"), |c: &mut Value| {
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(args);
            Ok(())
        })?;
        Ok(b)
    };
    let one = bundle("true", &["/bin/true"])?;
    let sleep = bundle("sleep", &["/bin/sleep", "3600"])?;
    let root = work.join("root");
    let (r, o, s) = (
        root.to_string_lossy(),
        one.to_string_lossy(),
        sleep.to_string_lossy(),
    );
    let spec_dir = work.join("spec");
    fs::create_dir_all(&spec_dir)?;
    let id = format!("hot{}", std::process::id());
    let c = format!("{id}c");
    let scenarios: Vec<Vec<&str>> = vec![
        vec!["--version"],
        vec!["--root", &r, "run", "--bundle", &o, &id],
        vec!["--root", &r, "create", "--bundle", &s, &c],
        vec!["--root", &r, "state", &c],
        vec!["--root", &r, "exec", &c, "/bin/true"],
        vec!["--root", &r, "start", &c],
        vec!["--root", &r, "list"],
        vec!["--root", &r, "kill", &c, "KILL"],
        vec!["--root", &r, "delete", "--force", &c],
        vec!["spec", "--bundle", &spec_dir.to_str().unwrap_or(".")],
    ];
    let mut tracer = Tracer::new(&functions);
    for args in &scenarios {
        let before = tracer.order.len();
        let code = tracer.run(&bin, args)?;
        say!(
            "sprout {}: exit {code}, {} new functions",
            args.join(" "),
            tracer.order.len() - before
        );
    }
    // The cgroup code takes another path when the cgroup2 mount lists no
    // controllers (as under `cargo xtask bench`'s mask, and on v1 hosts):
    // run again under that mask, so both paths are placed first.
    if crate::bench::mask_unified_controllers(&dir)?.is_some() {
        let again = format!("{id}m");
        for args in [
            vec!["--root", &*r, "run", "--bundle", &*o, &*again],
            vec!["--root", &*r, "create", "--bundle", &*s, &*again],
            vec!["--root", &*r, "exec", &*again, "/bin/true"],
            vec!["--root", &*r, "delete", "--force", &*again],
        ] {
            let before = tracer.order.len();
            let code = tracer.run(&bin, &args)?;
            say!(
                "(masked) sprout {}: exit {code}, {} new functions",
                args.join(" "),
                tracer.order.len() - before
            );
        }
    }
    let mut text = String::new();
    let mut bytes = 0;
    for &i in &tracer.order {
        for name in &functions.names[i] {
            text.push_str(name);
            text.push('\n');
        }
        bytes += functions.sizes[i];
    }
    let out = workspace_root().join(order_file(&ship_triple(&bin)));
    fs::write(&out, text).ctx(format!("writing {}", out.display()))?;
    say!(
        "{}: {} functions, {} KiB of code (of {} KiB)",
        out.display(),
        tracer.order.len(),
        bytes / 1024,
        functions.sizes.iter().sum::<u64>() / 1024
    );
    let _ = crate::util::remove_tree(&work);
    Ok(ExitCode::SUCCESS)
}

/// The function symbols of an unstripped ELF executable (`nm`).
struct Functions {
    /// Entry address → index into `names` and `sizes`.
    addrs: BTreeMap<u64, usize>,
    /// The symbol names at each entry (aliases share an entry).
    names: Vec<Vec<String>>,
    /// Size in bytes of the function at each entry.
    sizes: Vec<u64>,
    /// The file offset and address of the executable segment, and its size.
    text: (u64, u64, u64),
}

impl Functions {
    fn of(bin: &Path) -> Result<Functions> {
        let nm = capture(Command::new("nm").args(["--defined-only", "-S"]).arg(bin))?;
        let mut addrs = BTreeMap::new();
        let mut names: Vec<Vec<String>> = Vec::new();
        let mut sizes = Vec::new();
        for line in nm.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [addr, size, kind, name] = f[..] else {
                continue;
            };
            if !matches!(kind, "t" | "T" | "W" | "w") {
                continue;
            }
            let (Ok(addr), Ok(size)) =
                (u64::from_str_radix(addr, 16), u64::from_str_radix(size, 16))
            else {
                continue;
            };
            if size == 0 {
                continue;
            }
            let i = *addrs.entry(addr).or_insert_with(|| {
                names.push(Vec::new());
                sizes.push(size);
                names.len() - 1
            });
            names[i].push(name.to_string());
        }
        // The R E PT_LOAD: `LOAD 0xOFF 0xVADDR 0xPADDR 0xFILESZ 0xMEMSZ R E 0x1000`.
        let ph = capture(Command::new("readelf").arg("-lW").arg(bin))?;
        let text = ph
            .lines()
            .filter(|l| l.trim_start().starts_with("LOAD") && l.contains(" R E "))
            .find_map(|l| {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .filter_map(|w| {
                        w.strip_prefix("0x")
                            .and_then(|h| u64::from_str_radix(h, 16).ok())
                    })
                    .collect();
                (f.len() >= 4).then(|| (f[0], f[1], f[3]))
            });
        let Some(text) = text else {
            bail!("{}: no executable segment", bin.display())
        };
        if addrs.is_empty() {
            bail!("{}: no function symbols (stripped?)", bin.display());
        }
        Ok(Functions {
            addrs,
            names,
            sizes,
            text,
        })
    }
}

/// One-shot breakpoints on every function, across the traced processes.
struct Tracer<'a> {
    functions: &'a Functions,
    /// Indices into `functions`, in the order they first ran.
    order: Vec<usize>,
    seen: HashSet<usize>,
}

/// `ptrace(2)` with the request's usual argument types.
fn ptrace(req: libc::c_uint, pid: i32, addr: usize, data: usize) -> i64 {
    // SAFETY: the requests used here take integers or a pointer to a
    // properly sized, live `user_regs_struct` as `data`.
    unsafe {
        libc::ptrace(
            req,
            pid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    }
}

impl<'a> Tracer<'a> {
    fn new(functions: &'a Functions) -> Tracer<'a> {
        Tracer {
            functions,
            order: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Runs `bin args` traced; returns its exit code.
    fn run(&mut self, bin: &Path, args: &[&str]) -> Result<i32> {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::ptrace(
                    libc::PTRACE_TRACEME,
                    0,
                    std::ptr::null_mut::<libc::c_void>(),
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        let child = cmd.spawn().ctx(format!("running {}", bin.display()))?;
        let root = child.id() as i32;
        let mut status = 0;
        // SAFETY: waiting for our own child.
        if unsafe { libc::waitpid(root, &mut status, libc::__WALL) } != root
            || !libc::WIFSTOPPED(status)
        {
            bail!("the traced controller did not stop at its exec");
        }
        let opts = libc::PTRACE_O_TRACECLONE
            | libc::PTRACE_O_TRACEFORK
            | libc::PTRACE_O_TRACEVFORK
            | libc::PTRACE_O_TRACEEXEC
            | libc::PTRACE_O_EXITKILL;
        ptrace(libc::PTRACE_SETOPTIONS, root, 0, opts as usize);
        // Every function's first byte becomes int3, except the ones seen.
        let (off, vaddr, size) = self.functions.text;
        let mem = File::options()
            .read(true)
            .write(true)
            .open(format!("/proc/{root}/mem"))?;
        let mut orig = vec![0u8; size as usize];
        mem.read_exact_at(&mut orig, vaddr)
            .ctx("reading the traced text")?;
        let _ = off;
        let mut patched = orig.clone();
        for (&addr, &i) in &self.functions.addrs {
            if !self.seen.contains(&i) && addr >= vaddr && addr < vaddr + size {
                patched[(addr - vaddr) as usize] = 0xcc;
            }
        }
        mem.write_all_at(&patched, vaddr)
            .ctx("writing breakpoints")?;
        drop(mem);
        let mut mems: HashMap<i32, File> = HashMap::new();
        let mut code = -1;
        ptrace(libc::PTRACE_CONT, root, 0, 0);
        loop {
            // SAFETY: plain wait for any traced child.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
            if pid < 0 {
                break; // ECHILD: nothing traced is left
            }
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                mems.remove(&pid);
                if pid == root {
                    code = if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128 + libc::WTERMSIG(status)
                    };
                }
                continue;
            }
            if !libc::WIFSTOPPED(status) {
                continue;
            }
            let sig = libc::WSTOPSIG(status);
            let event = status >> 16;
            if sig == libc::SIGTRAP && event == libc::PTRACE_EVENT_EXEC && pid != root {
                // The stub (or whatever the child runs): not ours.
                mems.remove(&pid);
                ptrace(libc::PTRACE_DETACH, pid, 0, 0);
                continue;
            }
            if sig == libc::SIGTRAP && event == 0 {
                // SAFETY: user_regs_struct is plain integers; all zeroes is valid.
                let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
                ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs as *mut _ as usize);
                let addr = regs.rip.wrapping_sub(1);
                if let Some(&i) = self.functions.addrs.get(&addr)
                    && addr >= vaddr
                    && addr < vaddr + size
                {
                    if self.seen.insert(i) {
                        self.order.push(i);
                    }
                    let mem = match mems.get(&pid) {
                        Some(m) => m,
                        None => {
                            let m = File::options()
                                .read(true)
                                .write(true)
                                .open(format!("/proc/{pid}/mem"))?;
                            mems.entry(pid).or_insert(m)
                        }
                    };
                    let byte = orig[(addr - vaddr) as usize];
                    mem.write_all_at(&[byte], addr)
                        .ctx("restoring a breakpoint")?;
                    regs.rip = addr;
                    ptrace(libc::PTRACE_SETREGS, pid, 0, &regs as *const _ as usize);
                }
                ptrace(libc::PTRACE_CONT, pid, 0, 0);
                continue;
            }
            // Events (clone, fork, vfork, exec of the root), the initial
            // SIGSTOP of a new child: go on; any other signal: deliver it.
            let deliver = if sig == libc::SIGTRAP || sig == libc::SIGSTOP {
                0
            } else {
                sig as usize
            };
            ptrace(libc::PTRACE_CONT, pid, 0, deliver);
        }
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_file_names_are_symbols() {
        // The checked-in lists, if any, are one mangled name per line.
        for file in [ORDER_FILE, ORDER_FILE_GNU] {
            if let Ok(text) = fs::read_to_string(workspace_root().join(file)) {
                assert!(
                    text.lines()
                        .all(|l| !l.is_empty() && !l.contains(char::is_whitespace)),
                    "{file}"
                );
            }
        }
    }

    #[test]
    fn each_c_library_has_its_order_file() {
        assert_eq!(order_file("x86_64-unknown-linux-musl"), ORDER_FILE);
        assert_eq!(order_file("x86_64-unknown-linux-gnu"), ORDER_FILE_GNU);
        let bin = Path::new("/w/target/x86_64-unknown-linux-gnu/ship/sprout");
        assert_eq!(ship_triple(bin), "x86_64-unknown-linux-gnu");
        assert_eq!(
            order_file(&ship_triple(Path::new("sprout"))),
            ORDER_FILE_GNU
        );
    }
}
