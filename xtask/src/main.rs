//! `cargo xtask <command>`: project automation for sprout.
//!
//! * `demo`  — build the shipped pair (see [`build_sprout`]), make a busybox
//!   bundle, run it as uid 1000 with dropped caps.
//! * `test`  — build everything, check the stub (static, allocator-free, small),
//!   build the shipped pair, prepare the busybox rootfs template and run
//!   `cargo test --workspace` with the system tests on the shipped pair.
//! * `fuzz --seconds N` — run the cargo-fuzz targets for N seconds each.
//! * `clients` — build the shipped pair and drive it through podman and
//!   containerd with the `clients.sh` harness (see `clients.rs`).
//! * `bench [--quick] [--variants]` — time sprout side by side with
//!   crun/runc and the kernel floor, also with variants of the bundle;
//!   footprint and scaling (see BENCHMARKS.md).
//! * `hotlist` — the link order of the shipped controller (see `hotlist.rs`).

mod bench;
mod clients;
mod deps;
mod hotlist;
mod rootfs;
mod stubcheck;
mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde_json::{Value, json};
use util::{
    Context, Error, Result, cargo, copy_replace, is_root, remove_tree, run, status, target_dir,
};

/// Usage text for `cargo xtask help` and bad invocations.
const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo               build sprout (static) and the stub, make a busybox bundle, run it as uid 1000 with dropped caps
  test               all tests: unit, protocol, stub checks, system tests (need root)
  fuzz [--seconds N] run the fuzz targets decode_plan and decode_sync for N seconds each (default 60)
  clients [--only RE] [--skip RE] [--show-logs] [--trace] [--list]
                     build sprout (static) and run the podman + containerd harness on it (root)
  bench [--quick] [--variants]
                     time sprout against crun/runc (if installed) and the kernel floor, also with
                     other bundles (no netns, seccomp, terminal, userns); footprint
  hotlist            trace which controller functions the common commands run (root); writes
                     controller/hot-functions.txt (-gnu.txt for a glibc build), the link order
";

/// Fuzz targets run by `cargo xtask fuzz`, in order.
const FUZZ_TARGETS: &[&str] = &["decode_plan", "decode_sync"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") if args.len() == 1 => demo(),
        Some("test") if args.len() == 1 => test(),
        Some("fuzz") => parse_seconds(&args[1..]).and_then(fuzz),
        Some("bench") => bench::main(&args[1..]),
        Some("clients") => clients::main(&args[1..]),
        Some("hotlist") => hotlist::main(&args[1..]),
        Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            match other {
                Some(c @ ("demo" | "test")) => {
                    eprintln!("xtask: error: unknown argument `{}` for {c}", args[1])
                }
                Some(c) => eprintln!("xtask: error: unknown command `{c}`"),
                None => eprintln!("xtask: error: no command given"),
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parse `--seconds N` / `--seconds=N` (default 60).
fn parse_seconds(args: &[String]) -> Result<u64> {
    let mut seconds = 60;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match a.strip_prefix("--seconds") {
            Some("") => it.next().cloned(),
            Some(v) if v.starts_with('=') => Some(v[1..].to_string()),
            _ => bail!("unknown argument `{a}` for fuzz\n{USAGE}"),
        };
        seconds = match value.as_deref().map(str::parse::<u64>) {
            Some(Ok(n)) if n > 0 => n,
            _ => bail!("--seconds needs a positive whole number"),
        };
    }
    Ok(seconds)
}

/// Print a loud multi-line banner to stderr.
fn banner(lines: &[&str]) {
    let bar = "!".repeat(72);
    eprintln!("{bar}");
    for l in lines {
        eprintln!("!!! {l}");
    }
    eprintln!("{bar}");
}

/// Map a child's exit status to ours (128+signal for a signal death).
fn exit_code_of(st: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let code = st
        .code()
        .or_else(|| st.signal().map(|s| 128 + s))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Absolute path of a file under the target dir.
fn target(rel: &str) -> PathBuf {
    target_dir().join(rel)
}

/// `cargo build -p sprout-init --profile stub`; returns target/stub/sprout-init.
fn build_stub() -> Result<PathBuf> {
    run(cargo().args(["build", "-p", "sprout-init", "--profile", "stub"]))?;
    let stub = target("stub/sprout-init");
    if !stub.is_file() {
        bail!("the stub build produced no {}", stub.display());
    }
    Ok(stub)
}

/// Where [`build_sprout`] puts the shipped pair (`sprout`, `sprout-init`),
/// relative to the target dir.
pub const DIST: &str = "dist";

/// The host's target triple (`host:` of `rustc -vV`).
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = util::capture(Command::new(rustc).arg("-vV"))?;
    match out.lines().find_map(|l| l.strip_prefix("host: ")) {
        Some(h) => Ok(h.trim().to_string()),
        None => bail!("`rustc -vV` printed no `host:` line"),
    }
}

/// The directory holding `libseccomp.a`: `pkg-config --variable=libdir
/// libseccomp`, else the usual Debian multiarch directory.
fn libseccomp_libdir() -> PathBuf {
    let dir = util::capture(Command::new("pkg-config").args(["--variable=libdir", "libseccomp"]))
        .ok()
        .map(|s| PathBuf::from(s.trim()))
        .filter(|d| d.join("libseccomp.a").is_file());
    dir.unwrap_or_else(|| PathBuf::from("/usr/lib/x86_64-linux-gnu"))
}

/// Build the shipped controller and the stub, and put both in
/// `target/dist/` (sprout finds `sprout-init` next to itself); returns
/// `target/dist/sprout`.
///
/// The controller is built with the `ship` profile (fat LTO, one codegen
/// unit, opt-level "s", stripped) for the host triple given explicitly
/// with `--target`, with `-C target-feature=+crt-static -C
/// relocation-model=static` and libseccomp linked from `libseccomp.a`
/// (libseccomp-dev): a static non-PIE executable with no interpreter, so
/// no dynamic loader, no shared libraries and no relocations at start-up
/// (`--version` 2.0 ms instead of 4.1 ms, BENCHMARKS.md). Passing
/// `--target` keeps these flags off build scripts and proc-macros, which
/// cannot be linked static. Any `RUSTFLAGS` already set are kept.
/// sprout uses nothing of glibc that needs NSS or `dlopen` at run time
/// (it reads the container's `/etc/passwd` and `/etc/group` itself).
///
/// With rust-lld (rustc 1.90 and later link with it), the functions in
/// `controller/hot-functions.txt` (`cargo xtask hotlist`) are placed
/// first, together: see `hotlist.rs`.
pub fn build_sprout() -> Result<PathBuf> {
    let built = build_ship()?;
    static_check(&built)?;
    hot_list_coverage(&built);
    let stub = build_stub()?;
    let dist = target(DIST);
    std::fs::create_dir_all(&dist).ctx(format!("creating {}", dist.display()))?;
    let sprout = dist.join("sprout");
    // The profile keeps the symbols (for `hotlist`); the shipped copy has none.
    let tmp = dist.join("sprout.xtask-tmp");
    run(Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&tmp)
        .arg(&built))?;
    std::fs::rename(&tmp, &sprout).ctx(format!(
        "renaming {} to {}",
        tmp.display(),
        sprout.display()
    ))?;
    drop_cached_pages(&sprout);
    // The stub profile strips already; `strip` also drops the padding
    // before the section names (248 bytes): the shipped stub is the
    // stripped size `cargo xtask test` checks.
    let stub_tmp = dist.join("sprout-init.xtask-tmp");
    run(Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&stub_tmp)
        .arg(&stub))?;
    std::fs::rename(&stub_tmp, dist.join("sprout-init")).ctx(format!(
        "renaming {} into {}",
        stub_tmp.display(),
        dist.display()
    ))?;
    Ok(sprout)
}

/// Writes `file` out and drops its pages from the page cache, so that its
/// first exec reads it the way an installed binary is read (readahead),
/// not from the page cache `strip` left behind: how the cached pages were
/// made decides how much text the kernel maps around each fault, and the
/// freshly written copy measured ~250 KiB more peak RSS (2048 against
/// 1800 KiB during `run`) for the same bytes. Best effort.
fn drop_cached_pages(file: &Path) {
    use std::os::fd::AsRawFd;
    let Ok(f) = std::fs::File::open(file) else {
        return;
    };
    let _ = f.sync_all();
    // SAFETY: a valid open fd; advice only, no memory is touched.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

/// The `ship` build of `sprout` (see [`build_sprout`]), unstripped;
/// returns the binary's path.
///
/// On x86_64 it targets musl (`x86_64-unknown-linux-musl`, its std added
/// with `rustup target add` when missing; the C runtime and libc come with
/// that std, no musl-tools needed), linked by rust-lld: glibc's start-up
/// probes the CPU with about 80 `cpuid` instructions, each a VM exit on a
/// virtual machine (0.28 ms of every command here, `perf`), and musl's has
/// none. The heap is dlmalloc's (controller/src/main.rs). When the musl std
/// cannot be had (no rustup, offline), it says so and builds for the host
/// triple (static glibc) instead.
pub fn build_ship() -> Result<PathBuf> {
    let target_dir = target_dir();
    let host = host_triple()?;
    let sysroot = util::capture(Command::new(rustc()).args(["--print", "sysroot"]))?;
    let gcc_ld = PathBuf::from(sysroot.trim())
        .join("lib/rustlib")
        .join(&host)
        .join("bin/gcc-ld");
    let musl = host == "x86_64-unknown-linux-gnu" && gcc_ld.join("ld.lld").is_file() && musl_std();
    let triple = if musl { MUSL.to_string() } else { host };
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    flags.push_str(" -C target-feature=+crt-static -C relocation-model=static");
    if musl {
        // rustc links its gnu host target with rust-lld, but not musl: ask
        // for it the way rustc does (the `ld.lld` wrapper it ships).
        flags.push_str(&format!(
            " -C link-arg=-B{} -C link-arg=-fuse-ld=lld",
            gcc_ld.display()
        ));
    }
    // A directory holding only libseccomp.a: the system library directory
    // would also offer glibc's libc.a to a musl link.
    let seccomp_dir = target_dir.join("xtask-libseccomp");
    std::fs::create_dir_all(&seccomp_dir).ctx(format!("creating {}", seccomp_dir.display()))?;
    let seccomp_a = libseccomp_libdir().join("libseccomp.a");
    copy_replace(&seccomp_a, &seccomp_dir.join("libseccomp.a"))?;
    let mut cmd = cargo();
    cmd.args([
        "build",
        "-p",
        "sprout",
        "--profile",
        "ship",
        "--target",
        &triple,
    ])
    .env("RUSTFLAGS", flags.trim())
    .env_remove("CARGO_ENCODED_RUSTFLAGS")
    .env("LIBSECCOMP_LINK_TYPE", "static")
    .env("LIBSECCOMP_LIB_PATH", &seccomp_dir);
    let order = util::workspace_root().join(hotlist::order_file(&triple));
    if order.is_file() && (musl || links_with_lld()?) {
        // Read by controller/build.rs, which passes it to the linker.
        cmd.env("SPROUT_LINK_ORDER", &order);
    } else {
        cmd.env_remove("SPROUT_LINK_ORDER");
    }
    run(&mut cmd)?;
    let built = target_dir.join(&triple).join("ship/sprout");
    if !built.is_file() {
        bail!("the ship build produced no {}", built.display());
    }
    Ok(built)
}

/// The musl target the shipped controller is built for on x86_64.
const MUSL: &str = "x86_64-unknown-linux-musl";

/// `rustc`, or `$RUSTC`.
fn rustc() -> std::ffi::OsString {
    std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())
}

/// Whether rustc has the std of [`MUSL`]; when it has not, tries
/// `rustup target add` (saying so, and rustup's error in one line). False
/// when that fails; a failure is remembered in
/// `target/xtask-no-musl-std` for a day, so that an offline machine does
/// not wait on the network at every build.
fn musl_std() -> bool {
    let has = || {
        util::capture(Command::new(rustc()).args(["--print", "target-libdir", "--target", MUSL]))
            .ok()
            .and_then(|d| std::fs::read_dir(d.trim()).ok())
            .is_some_and(|mut entries| {
                entries.any(|e| {
                    e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
                })
            })
    };
    if has() {
        return true;
    }
    // After a failed attempt (offline), the next builds of the day do not
    // try again: each attempt can wait on the network.
    let marker = target_dir().join("xtask-no-musl-std");
    let recent = std::fs::metadata(&marker)
        .and_then(|m| m.modified())
        .is_ok_and(|t| {
            t.elapsed()
                .is_ok_and(|age| age < std::time::Duration::from_secs(24 * 3600))
        });
    if !recent {
        say!("adding rust's {MUSL} std (rustup target add {MUSL}) for the shipped controller");
        match Command::new("rustup")
            .args(["target", "add", MUSL])
            .output()
        {
            Ok(out) if out.status.success() && has() => {
                let _ = std::fs::remove_file(&marker);
                return true;
            }
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let line = err
                    .lines()
                    .map(str::trim)
                    .find(|l| l.starts_with("error"))
                    .unwrap_or("failed");
                say!("rustup target add {MUSL}: {line}");
            }
            Err(e) => say!("rustup target add {MUSL}: {e}"),
        }
        let _ = std::fs::create_dir_all(target_dir());
        let _ = std::fs::write(
            &marker,
            "rustup target add failed; remove this file to try again\n",
        );
    }
    say!(
        "no {MUSL} std: building the shipped controller with static glibc (slower start-up); \
         not retried for a day unless {} is removed",
        marker.display()
    );
    false
}

/// Says how much of the build's link order ([`hotlist::order_file`]:
/// `controller/hot-functions.txt` for musl) names functions of the
/// build `bin` (unstripped), and loudly when much of it is stale: new or
/// renamed functions, or other symbol hashes after a dependency, flag or
/// profile change, are left out of the link order, and the controller's
/// peak RSS grows back towards the whole text (`cargo xtask hotlist`).
fn hot_list_coverage(bin: &Path) {
    let file = hotlist::order_file(&hotlist::ship_triple(bin));
    let order = util::workspace_root().join(file);
    let Ok(list) = std::fs::read_to_string(&order) else {
        return;
    };
    let Ok(nm) = util::capture(Command::new("nm").arg("--defined-only").arg(bin)) else {
        return;
    };
    let defined: std::collections::HashSet<&str> = nm
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let names: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
    let found = names.iter().filter(|n| defined.contains(**n)).count();
    if found * 10 < names.len() * 9 {
        banner(&[
            &format!(
                "{file}: only {found} of {} functions are in this build",
                names.len()
            ),
            "the link order is stale: run `cargo xtask hotlist` (as root) and commit the file",
        ]);
    } else {
        say!(
            "link order: {found} of {} listed functions ({file}) are in this build",
            names.len()
        );
    }
}

/// Whether rustc links with rust-lld by default (x86_64 Linux, rustc
/// 1.90 and later), which takes `--symbol-ordering-file`.
fn links_with_lld() -> Result<bool> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = util::capture(Command::new(rustc).arg("-vV"))?;
    let minor = out
        .lines()
        .find_map(|l| l.strip_prefix("release: 1."))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    Ok(minor.is_some_and(|m| m >= 90) && out.contains("host: x86_64-unknown-linux-gnu"))
}

/// Fail unless `bin` is a static non-PIE executable: ELF type EXEC, no
/// PT_INTERP program header, no dynamic section (`readelf`, binutils).
fn static_check(bin: &Path) -> Result {
    let header = util::capture(Command::new("readelf").arg("-hlW").arg(bin))?;
    let is_exec = header
        .lines()
        .find_map(|l| l.trim().strip_prefix("Type:"))
        .is_some_and(|t| t.trim().starts_with("EXEC"));
    let interp = header.contains("INTERP");
    let dynamic = util::capture(Command::new("readelf").arg("-dW").arg(bin))?;
    if !is_exec || interp || dynamic.contains("Dynamic section") {
        bail!(
            "{} is not a static non-PIE executable (EXEC: {is_exec}, PT_INTERP: {interp}); \
             is libseccomp-dev's libseccomp.a installed?",
            bin.display()
        );
    }
    Ok(())
}

/// `cargo xtask demo`.
fn demo() -> Result<ExitCode> {
    deps::ensure()?;
    if !is_root() {
        banner(&[
            "not root: the demo container will most likely fail to start (sprout needs root for now)",
        ]);
    }
    say!("building sprout (static, ship profile) and the sprout-init stub");
    let sprout = build_sprout()?;

    let bundle = target("demo/bundle");
    say!("preparing the demo bundle at {}", bundle.display());
    remove_tree(&bundle)?;
    std::fs::create_dir_all(&bundle).ctx(format!("creating {}", bundle.display()))?;
    rootfs::make(&rootfs::find_busybox()?, &bundle.join("rootfs"))?;
    run(Command::new(&sprout)
        .arg("spec")
        .arg("--bundle")
        .arg(&bundle))?;
    edit_config(&bundle.join("config.json"), demo_config)?;

    let id = format!("sprout-demo-{}", std::process::id());
    say!(
        "running container {id} as uid 1000 with bounding CAP_CHOWN+CAP_NET_BIND_SERVICE, ambient CAP_NET_BIND_SERVICE"
    );
    let st = status(
        Command::new(&sprout)
            .arg("run")
            .arg("--bundle")
            .arg(&bundle)
            .arg(&id),
    )?;
    say!("container {id} exited: {st}");
    Ok(exit_code_of(st))
}

/// Read, edit and rewrite an OCI config.json.
fn edit_config(path: &Path, edit: impl FnOnce(&mut Value) -> Result) -> Result {
    let text = std::fs::read_to_string(path).ctx(format!("reading {}", path.display()))?;
    let mut config: Value =
        serde_json::from_str(&text).ctx(format!("parsing {}", path.display()))?;
    edit(&mut config)?;
    let text = serde_json::to_string_pretty(&config)? + "\n";
    std::fs::write(path, text).ctx(format!("writing {}", path.display()))
}

/// The demo's edits to the default spec: uid/gid 1000 with extra group 2000,
/// two capabilities, RLIMIT_NOFILE 512/1024, cwd /tmp, FOO=bar, no terminal.
fn demo_config(config: &mut Value) -> Result {
    let Some(process) = config.get_mut("process").and_then(Value::as_object_mut) else {
        bail!("config.json from `sprout spec` has no process object");
    };
    let path = process
        .get("env")
        .and_then(Value::as_array)
        .and_then(|env| {
            env.iter()
                .filter_map(Value::as_str)
                .find(|e| e.starts_with("PATH="))
        })
        .unwrap_or("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    let both = json!(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
    let bind = json!(["CAP_NET_BIND_SERVICE"]);
    process.insert("terminal".into(), json!(false));
    process.insert(
        "user".into(),
        json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]}),
    );
    process.insert(
        "args".into(),
        json!([
            "sh",
            "-c",
            "id; grep Cap /proc/self/status; ulimit -n; pwd; echo HOME=$HOME FOO=$FOO"
        ]),
    );
    process.insert("env".into(), json!([path, "FOO=bar"]));
    process.insert("cwd".into(), json!("/tmp"));
    process.insert(
        "capabilities".into(),
        json!({
            "bounding": both,
            "effective": both,
            "permitted": both,
            "inheritable": bind,
            "ambient": bind,
        }),
    );
    process.insert(
        "rlimits".into(),
        json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]),
    );
    Ok(())
}

/// `cargo xtask test`.
fn test() -> Result<ExitCode> {
    deps::ensure()?;
    let root = is_root();
    if !root {
        banner(&[
            "NOT ROOT: the system tests (real containers) will be SKIPPED.",
            "Run `cargo xtask test` as root to run them.",
        ]);
    }
    run(cargo().args(["build", "--workspace"]))?;
    let stub = build_stub()?;
    let stub_check = stubcheck::check(&stub);
    if let Err(e) = &stub_check {
        say!("{e}");
        say!("(continuing with the tests; the run will fail at the end)");
    }

    // The system tests run the shipped artifact: static, ship profile.
    let sprout = build_sprout()?;

    let template = target("busybox-rootfs");
    rootfs::make(&rootfs::find_busybox()?, &template)?;

    let debug_stub = target("debug/sprout-init");
    // The stripped copy next to the shipped controller: what ships.
    let shipped_stub = sprout.with_file_name("sprout-init");
    let with_env = |cmd: &mut Command| {
        cmd.env("SPROUT_BIN", &sprout)
            .env("SPROUT_INIT_BIN", &shipped_stub)
            .env("SPROUT_BUSYBOX_ROOTFS", &template);
    };
    // The stub's own end-to-end tests (stub/tests/e2e.rs) first: building
    // them re-links the debug-profile stub into target/debug. Then put the
    // small stub next to the debug controller too (for running
    // target/debug/sprout by hand) and leave the stub package out of the
    // workspace run, so nothing re-links over the copy.
    let mut stub_tests = cargo();
    stub_tests.args(["test", "-p", "sprout-init", "--no-fail-fast"]);
    with_env(&mut stub_tests);
    let stub_tests_ok = status(&mut stub_tests)?.success();
    copy_replace(&stub, &debug_stub)?;
    say!(
        "SPROUT_BIN={} SPROUT_INIT_BIN={} SPROUT_BUSYBOX_ROOTFS={}",
        sprout.display(),
        shipped_stub.display(),
        template.display()
    );
    let mut tests = cargo();
    tests.args([
        "test",
        "--workspace",
        "--exclude",
        "sprout-init",
        "--no-fail-fast",
    ]);
    with_env(&mut tests);
    let tests_ok = status(&mut tests)?.success() && stub_tests_ok;

    if !root {
        banner(&["NOT ROOT: the system tests were SKIPPED."]);
    }
    match (stub_check, tests_ok) {
        (Ok(()), true) => {
            say!("all tests passed");
            Ok(ExitCode::SUCCESS)
        }
        (Ok(()), false) => Err(Error("cargo test --workspace failed".into())),
        (Err(e), true) => Err(e),
        (Err(e), false) => Err(Error(format!("{e}\nand cargo test --workspace failed"))),
    }
}

/// The rustup `cargo` proxy (needed for `+nightly`), not the toolchain's cargo.
fn cargo_proxy() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    home.map(|h| h.join("bin/cargo"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "cargo".into())
}

/// `cargo xtask fuzz --seconds N`.
fn fuzz(seconds: u64) -> Result<ExitCode> {
    let fuzz_dir = util::workspace_root().join("fuzz");
    if !fuzz_dir.join("Cargo.toml").is_file() {
        bail!("no fuzz/Cargo.toml: the fuzz targets are not there yet");
    }
    let proxy = cargo_proxy();
    let has_cargo_fuzz = util::which("cargo-fuzz").is_some()
        || proxy
            .parent()
            .is_some_and(|d| d.join("cargo-fuzz").is_file());
    if !has_cargo_fuzz {
        say!("installing cargo-fuzz");
        run(cargo().args(["install", "cargo-fuzz"]))?;
    }
    for t in FUZZ_TARGETS {
        say!("fuzzing {t} for {seconds} s (seeds: fuzz/seeds/{t})");
        // The working corpus (git-ignored) first: libFuzzer writes new
        // inputs there; the checked-in seeds are read as well.
        let corpus = format!("corpus/{t}");
        std::fs::create_dir_all(fuzz_dir.join(&corpus)).ctx("creating the fuzz corpus dir")?;
        let mut cmd = Command::new(&proxy);
        cmd.current_dir(&fuzz_dir)
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .args([
                "+nightly",
                "fuzz",
                "run",
                t,
                &corpus,
                &format!("seeds/{t}"),
                "--",
            ])
            .arg(format!("-max_total_time={seconds}"));
        let st = status(&mut cmd)?;
        if !st.success() {
            say!("fuzz target {t} failed: {st}");
            return Ok(exit_code_of(st));
        }
    }
    say!(
        "fuzzing done: {} targets, {seconds} s each",
        FUZZ_TARGETS.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_edits_the_default_spec() {
        let mut c = json!({
            "ociVersion": "1.2.1",
            "process": {
                "terminal": true,
                "user": {"uid": 0, "gid": 0},
                "args": ["sh"],
                "env": ["PATH=/bin:/usr/bin", "TERM=xterm"],
                "cwd": "/",
            },
            "root": {"path": "rootfs"},
        });
        demo_config(&mut c).ok().unwrap();
        let p = &c["process"];
        assert_eq!(p["terminal"], false);
        assert_eq!(
            p["user"],
            json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]})
        );
        assert_eq!(p["env"], json!(["PATH=/bin:/usr/bin", "FOO=bar"]));
        assert_eq!(p["cwd"], "/tmp");
        assert_eq!(
            p["capabilities"]["ambient"],
            json!(["CAP_NET_BIND_SERVICE"])
        );
        assert_eq!(
            p["capabilities"]["bounding"],
            json!(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"])
        );
        assert_eq!(p["rlimits"][0]["soft"], 512);
        assert_eq!(p["args"][0], "sh");
        assert_eq!(c["root"]["path"], "rootfs");
    }

    #[test]
    fn parses_seconds() {
        let a =
            |v: &[&str]| parse_seconds(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).ok();
        assert_eq!(a(&[]), Some(60));
        assert_eq!(a(&["--seconds", "5"]), Some(5));
        assert_eq!(a(&["--seconds=7"]), Some(7));
        assert_eq!(a(&["--seconds"]), None);
        assert_eq!(a(&["--seconds", "0"]), None);
        assert_eq!(a(&["--bogus"]), None);
    }
}
