//! `cargo xtask bench [--quick]`: sprout timed side by side with crun and
//! runc (whichever are installed) and with the kernel floor, its footprint,
//! and how its cost grows with the number of held containers.
//!
//! Method (see BENCHMARKS.md):
//! - One bundle for every runtime: a busybox rootfs and `sprout spec`'s
//!   config with `terminal: false` and args `/bin/true` (a second one with
//!   `/bin/sleep 3600` for `exec`); each runtime keeps its state in its own
//!   `--root`.
//! - On a hybrid cgroup host whose cgroup2 mount lists controllers, crun
//!   refuses to run; the whole measurement then runs in a private mount
//!   namespace where an empty file is bind-mounted over
//!   `/sys/fs/cgroup/unified/cgroup.controllers`, the same for every runtime.
//! - Every timed command goes through the same kind of `/bin/sh` wrapper
//!   (one `sh` that `exec`s the command with stdio on /dev/null and a
//!   unique container id), timed by hyperfine (`-N`, no shell) in rounds;
//!   the order of the commands rotates from round to round so that drifting
//!   machine load hits every runtime alike. Figures: median of the per-round
//!   medians, p25-p75 of all runs, the range of the round medians, and the
//!   median over rounds of each round's ratio to crun and to the floor.
//! - Footprint: the stub's stripped size and static/allocator checks, the
//!   resident memory of a container waiting in `created` (VmRSS, Pss), the
//!   controller's own peak RSS (VmHWM read while the container runs) and
//!   `wait4`'s `ru_maxrss`, and the syscalls of one `run` (`strace -f -c`).
//! - Scaling: N = 1, 8, 32, 128 containers created one after the other and
//!   held in `created`: time per create and Pss per held container.
//! - Variants (`variants.rs`): `run` of /bin/true with the bundle changed
//!   in one way each (no network namespace; podman's default seccomp
//!   profile; `process.terminal: true` on a pty the harness holds; a user
//!   namespace), every runtime side by side, the same method as `run`.
//!
//! Exits nonzero only when it could not measure at all (not root, no
//! hyperfine, sprout does not build or cannot `run` the bundle).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Context, Result, is_root, run, target_dir, which};
use crate::{bail, deps, rootfs, say, stubcheck};

mod seccomp;
mod variants;

/// `cargo xtask bench` usage.
pub const USAGE: &str = "usage: cargo xtask bench [--quick] [--variants]
  --quick     fewer rounds and runs
  --variants  only `run` and the variants table (other bundles), not the rest
";

/// The kernel floor: the namespaces of the bundle, a fresh /proc, chroot, exec.
const FLOOR: &[&str] = &[
    "unshare",
    "--fork",
    "--pid",
    "--mount",
    "--uts",
    "--ipc",
    "--net",
    "--mount-proc",
    "chroot",
];

/// The cgroup2 file crun checks on a hybrid host.
const UNIFIED_CONTROLLERS: &str = "/sys/fs/cgroup/unified/cgroup.controllers";

/// Ratio targets of the issue: every timed test at most this times crun.
const TARGET_RATIO: f64 = 0.5;

/// How much to measure.
struct Cfg {
    quick: bool,
    /// Rounds, runs per round and warm-up runs for `run`, csd and `exec`.
    rounds: usize,
    runs: usize,
    warmup: usize,
    /// The same for the 100-sequential and 32-concurrent tests.
    batch_rounds: usize,
    batch_runs: usize,
    batch_warmup: usize,
    seq_n: usize,
    conc_n: usize,
    /// Held-container counts for the scaling test.
    scale: &'static [usize],
    /// Repetitions of the memory, strace-free and `--debug` measurements.
    reps: usize,
    phase_runs: usize,
}

/// `n` and `word`, plural unless `n` is 1 (`1 round`, `5 runs`).
pub fn count(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl Cfg {
    fn new(quick: bool) -> Cfg {
        if quick {
            Cfg {
                quick,
                rounds: 2,
                runs: 5,
                warmup: 1,
                batch_rounds: 1,
                batch_runs: 1,
                batch_warmup: 0,
                seq_n: 100,
                conc_n: 32,
                scale: &[1, 8, 32],
                reps: 1,
                phase_runs: 10,
            }
        } else {
            Cfg {
                quick,
                rounds: 5,
                runs: 20,
                warmup: 3,
                batch_rounds: 5,
                batch_runs: 1,
                batch_warmup: 0,
                seq_n: 100,
                conc_n: 32,
                scale: &[1, 8, 32, 128],
                reps: 3,
                phase_runs: 30,
            }
        }
    }
}

/// A measurement, or why there is none.
type Measured<T> = std::result::Result<T, String>;

/// (row key, command line) pairs of a timed test.
type Rows = Vec<(String, String)>;

/// Whether a runtime supports a command (and if not, why).
#[derive(Clone, Debug)]
enum Avail {
    Yes,
    No(String),
}

impl Avail {
    fn ok(&self) -> bool {
        matches!(self, Avail::Yes)
    }
    fn why(&self) -> &str {
        match self {
            Avail::Yes => "",
            Avail::No(w) => w,
        }
    }
}

/// One runtime under test.
struct Rt {
    name: &'static str,
    bin: PathBuf,
    /// Its own state directory (`--root`).
    root: PathBuf,
    version: String,
    create: Avail,
    exec: Avail,
}

impl Rt {
    /// `RT --root ROOT`.
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c
    }
}

/// Where things live for one bench run.
struct Paths {
    /// target/bench
    dir: PathBuf,
    /// The /bin/true bundle.
    bundle: PathBuf,
    /// The /bin/sleep 3600 bundle (for `exec` and memory while running).
    sleep: PathBuf,
    /// The wrappers.
    wrap: PathBuf,
    /// Per-test error counts written by the batch wrappers.
    inner: PathBuf,
    /// hyperfine's JSON exports.
    json: PathBuf,
    /// Container id prefix (`sb<pid>`).
    pfx: String,
}

impl Paths {
    fn w(&self, name: &str) -> String {
        self.wrap.join(name).display().to_string()
    }
}

/// `cargo xtask bench [--quick]`.
pub fn main(args: &[String]) -> Result<ExitCode> {
    let mut quick = false;
    let mut only_variants = false;
    for a in args {
        match a.as_str() {
            "--quick" => quick = true,
            "--variants" => only_variants = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            _ => bail!("unknown argument `{a}` for bench\n{USAGE}"),
        }
    }
    let cfg = Cfg::new(quick);
    let started = Instant::now();
    if !is_root() {
        bail!(
            "`cargo xtask bench` needs root (containers are started as root); nothing was measured"
        );
    }
    deps::ensure()?;
    ensure_tools()?;

    // ---- build ----
    say!("building sprout (static, ship profile) and the sprout-init stub");
    let sprout = crate::build_sprout()?;
    let stub = target_dir().join(crate::DIST).join("sprout-init");
    let stub_check = stubcheck::check(&stub).map_err(|e| e.to_string());
    let stub_stripped = fs::metadata(target_dir().join("sprout-init.stripped"))
        .map(|m| m.len())
        .ok();
    // `cargo run` (the xtask alias) sets LD_LIBRARY_PATH to cargo's own
    // library dirs; inherited, it makes every dynamically linked runtime
    // search them first (~90 failed openat/stat calls in sprout's loader).
    if std::env::var_os("LD_LIBRARY_PATH").is_some() {
        // SAFETY: xtask is single-threaded; nothing reads the environment concurrently.
        unsafe { std::env::remove_var("LD_LIBRARY_PATH") };
    }

    // ---- bundles and wrappers ----
    let dir = target_dir().join("bench");
    let paths = Paths {
        bundle: dir.join("bundle"),
        sleep: dir.join("bundle-sleep"),
        wrap: dir.join("wrap"),
        inner: dir.join("inner"),
        json: dir.join("json"),
        pfx: format!("sb{}", std::process::id()),
        dir,
    };
    for d in [&paths.wrap, &paths.inner, &paths.json] {
        let _ = fs::remove_dir_all(d);
        fs::create_dir_all(d).ctx(format!("creating {}", d.display()))?;
    }
    let busybox = rootfs::find_busybox()?;
    make_bundle(&sprout, &busybox, &paths.bundle, &["/bin/true"])?;
    make_bundle(&sprout, &busybox, &paths.sleep, &["/bin/sleep", "3600"])?;
    write_wrappers(&paths.wrap)?;
    let rootfs = paths.bundle.join("rootfs");

    // ---- runtimes ----
    let state = PathBuf::from(format!("/run/sprout-bench.{}", std::process::id()));
    let mut rts = vec![Rt {
        name: "sprout",
        version: version_of(&sprout),
        bin: sprout.clone(),
        root: state.join("sprout"),
        create: Avail::Yes,
        exec: Avail::Yes,
    }];
    for name in ["crun", "runc"] {
        match which(name) {
            Some(bin) => rts.push(Rt {
                name,
                version: version_of(&bin),
                bin,
                root: state.join(name),
                create: Avail::Yes,
                exec: Avail::Yes,
            }),
            None => say!(
                "{name} is not installed: sprout is timed without it (apt-get install {name} to compare)"
            ),
        }
    }
    for rt in &rts {
        fs::create_dir_all(&rt.root).ctx(format!("creating {}", rt.root.display()))?;
    }
    let _cleanup = Cleanup {
        state: state.clone(),
        pfx: paths.pfx.clone(),
        rts: rts
            .iter()
            .map(|r| (r.bin.clone(), r.root.clone()))
            .collect(),
    };

    // ---- the cgroup2 mask, alike for every runtime ----
    let masked = mask_unified_controllers(&paths.dir)?;

    // ---- can each runtime run the bundle at all? ----
    let mut kept = Vec::new();
    for rt in rts {
        let err = paths.dir.join("probe.err");
        let mut c = Command::new(paths.w("run1.sh"));
        c.arg(&rt.bin)
            .arg(&rt.root)
            .arg(&paths.bundle)
            .env("BENCH_PFX", &paths.pfx)
            .env("BENCH_STDERR", &err);
        let ok =
            matches!(run_timeout(&mut c, Duration::from_secs(30)), Ok(Some(st)) if st.success());
        if ok {
            kept.push(rt);
        } else {
            let msg = fs::read_to_string(&err).unwrap_or_default();
            if rt.name == "sprout" {
                bail!(
                    "`sprout run` of the bench bundle failed, nothing to measure:\n{}",
                    msg.trim_end()
                );
            }
            say!(
                "{} cannot run the bench bundle; leaving it out: {}",
                rt.name,
                msg.trim_end()
            );
        }
    }
    let mut rts = kept;
    for rt in &mut rts {
        rt.create = probe_csd(rt, &paths);
        if !rt.create.ok() {
            say!(
                "{}: create+start+wait+delete: n/a ({})",
                rt.name,
                rt.create.why()
            );
        }
    }

    let env = |c: &mut Command| {
        c.env("BENCH_PFX", &paths.pfx).env("BENCH_DIR", &paths.dir);
    };
    let hf = Hyperfine {
        paths: &paths,
        env: &env,
    };
    let mut tests: Vec<TestRes> = Vec::new();

    // ---- run ----
    say!(
        "[{:>3.0} s] timing `run` of /bin/true ({} rounds x {} runs)",
        started.elapsed().as_secs_f64(),
        cfg.rounds,
        cfg.runs
    );
    let mut rows: Vec<(String, String)> = rts
        .iter()
        .map(|rt| {
            (
                rt.name.to_string(),
                sh_words(&[
                    &paths.w("run1.sh"),
                    &p(&rt.bin),
                    &p(&rt.root),
                    &p(&paths.bundle),
                ]),
            )
        })
        .collect();
    let mut floor_cmd = vec![paths.w("w.sh")];
    floor_cmd.extend(FLOOR.iter().map(|s| s.to_string()));
    floor_cmd.push(p(&rootfs));
    floor_cmd.push("/bin/true".into());
    rows.push((
        "floor".into(),
        sh_words(&floor_cmd.iter().map(String::as_str).collect::<Vec<_>>()),
    ));
    tests.push(hf.test("run", &rows, cfg.rounds, cfg.runs, cfg.warmup, Vec::new()));

    if only_variants {
        let variants = variants::measure(&cfg, &rts, &paths, &hf, started);
        let report = render_head(&cfg, &rts, masked, &tests, &variants, started.elapsed());
        print!("{report}");
        let out = paths.dir.join("report-variants.txt");
        fs::write(&out, &report).ctx(format!("writing {}", out.display()))?;
        say!(
            "report also written to {} ({:.0} s in all)",
            out.display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }

    // ---- create + start + wait + delete ----
    let (rows, notes) = split_avail(
        &rts,
        |rt| &rt.create,
        |rt| {
            sh_words(&[
                &paths.w("csd.sh"),
                &p(&rt.bin),
                &p(&rt.root),
                &p(&paths.bundle),
            ])
        },
    );
    if rows.is_empty() {
        tests.push(TestRes::empty("csd", notes));
    } else {
        say!(
            "[{:>3.0} s] timing create+start+wait+delete",
            started.elapsed().as_secs_f64()
        );
        tests.push(hf.test("csd", &rows, cfg.rounds, cfg.runs, cfg.warmup, notes));
    }

    // ---- exec into a running container ----
    let mut running: Vec<(usize, String, i32)> = Vec::new();
    for (i, rt) in rts.iter_mut().enumerate() {
        if !rt.create.ok() {
            rt.exec = Avail::No(format!("needs create: {}", rt.create.why()));
            continue;
        }
        let id = format!("{}-x{}", paths.pfx, rt.name);
        match create(rt, &paths.sleep, &id, true) {
            Ok(pid) => {
                rt.exec = probe_exec(rt, &id);
                running.push((i, id, pid));
            }
            Err(e) => rt.exec = Avail::No(format!("could not start a container: {e}")),
        }
    }
    let (mut rows, notes) = split_avail(
        &rts,
        |rt| &rt.exec,
        |rt| {
            let id = format!("{}-x{}", paths.pfx, rt.name);
            sh_words(&[
                &paths.w("w.sh"),
                &p(&rt.bin),
                "--root",
                &p(&rt.root),
                "exec",
                &id,
                "/bin/true",
            ])
        },
    );
    if let Some((_, _, pid)) = running.iter().find(|(i, _, _)| rts[*i].exec.ok()) {
        let pid = pid.to_string();
        rows.push((
            "floor".into(),
            sh_words(&[
                &paths.w("w.sh"),
                "nsenter",
                "-t",
                &pid,
                "-a",
                "-r",
                "-w",
                "/bin/true",
            ]),
        ));
    }
    if rows.iter().any(|(k, _)| k != "floor") {
        say!(
            "[{:>3.0} s] timing `exec` of /bin/true into a running container",
            started.elapsed().as_secs_f64()
        );
        tests.push(hf.test("exec", &rows, cfg.rounds, cfg.runs, cfg.warmup, notes));
    } else {
        tests.push(TestRes::empty("exec", notes));
    }
    for (i, id, pid) in &running {
        remove_container(&rts[*i], id, Some(*pid));
    }

    // ---- 100 sequential, 32 concurrent ----
    for (test, title, wrapper, n) in [
        (
            "seq",
            format!("{} sequential `run`s", cfg.seq_n),
            "seq.sh",
            cfg.seq_n,
        ),
        (
            "conc",
            format!("{} concurrent `run`s", cfg.conc_n),
            "conc.sh",
            cfg.conc_n,
        ),
    ] {
        let n_s = n.to_string();
        let mut rows: Vec<(String, String)> = rts
            .iter()
            .map(|rt| {
                let label = format!("{test}-{}", rt.name);
                (
                    rt.name.to_string(),
                    sh_words(&[
                        &paths.w(wrapper),
                        &label,
                        &n_s,
                        &p(&rt.bin),
                        &p(&rt.root),
                        &p(&paths.bundle),
                    ]),
                )
            })
            .collect();
        rows.push((
            "floor".into(),
            sh_words(&[
                &paths.w(wrapper),
                &format!("{test}-floor"),
                &n_s,
                "floor",
                "-",
                &p(&rootfs),
            ]),
        ));
        say!(
            "[{:>3.0} s] timing {title} ({} x {})",
            started.elapsed().as_secs_f64(),
            count(cfg.batch_rounds, "round"),
            count(cfg.batch_runs, "run")
        );
        let mut t = hf.test(
            test,
            &rows,
            cfg.batch_rounds,
            cfg.batch_runs,
            cfg.batch_warmup,
            Vec::new(),
        );
        t.inner = read_inner(&paths.inner, test);
        tests.push(t);
    }

    // ---- variants of the bundle ----
    let variants = variants::measure(&cfg, &rts, &paths, &hf, started);

    // ---- footprint ----
    say!(
        "[{:>3.0} s] measuring the footprint",
        started.elapsed().as_secs_f64()
    );
    let foot = Footprint {
        stub_check,
        stub_stripped,
        created: rts
            .iter()
            .map(|rt| (rt.name, created_memory(rt, &paths, cfg.reps)))
            .collect(),
        controller: rts
            .iter()
            .map(|rt| (rt.name, controller_memory(rt, &paths, cfg.reps)))
            .collect(),
        maxrss_true: rts
            .iter()
            .map(|rt| (rt.name, maxrss_true(rt, &paths, cfg.reps.max(3))))
            .collect(),
        syscalls: rts
            .iter()
            .map(|rt| (rt.name, syscalls(rt, &paths)))
            .collect(),
        binaries: rts
            .iter()
            .map(|rt| (rt.name, binary_info(&rt.bin)))
            .collect(),
    };

    // ---- scaling ----
    let mut scaling = Vec::new();
    for rt in &rts {
        if !rt.create.ok() {
            scaling.push((rt.name, Err(format!("n/a ({})", rt.create.why()))));
            continue;
        }
        say!(
            "[{:>3.0} s] scaling: {} containers held in `created` ({})",
            started.elapsed().as_secs_f64(),
            fmt_list(cfg.scale),
            rt.name
        );
        scaling.push((
            rt.name,
            Ok(cfg
                .scale
                .iter()
                .map(|&n| scale_step(rt, &paths, n))
                .collect::<Vec<_>>()),
        ));
    }

    // ---- sprout's phases ----
    say!(
        "[{:>3.0} s] sprout --debug run x{} (per-phase timings)",
        started.elapsed().as_secs_f64(),
        cfg.phase_runs
    );
    let phases = phase_timings(&rts[0], &paths, cfg.phase_runs);

    // ---- report ----
    let report = render(
        &cfg,
        &rts,
        masked,
        &tests,
        &variants,
        &foot,
        &scaling,
        &phases,
        started.elapsed(),
    );
    print!("{report}");
    let out = paths.dir.join(if cfg.quick {
        "report-quick.txt"
    } else {
        "report.txt"
    });
    fs::write(&out, &report).ctx(format!("writing {}", out.display()))?;
    say!(
        "report also written to {} ({:.0} s in all)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ setup

/// hyperfine and strace, installed with apt-get when missing (saying so).
fn ensure_tools() -> Result {
    let missing: Vec<&str> = [
        ("hyperfine", "hyperfine"),
        ("strace", "strace"),
        ("nsenter", "util-linux"),
    ]
    .into_iter()
    .filter(|(bin, _)| which(bin).is_none())
    .map(|(_, pkg)| pkg)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    say!(
        "installing missing tools for the bench: apt-get install -y {}",
        missing.join(" ")
    );
    let install = || {
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    if install().is_err() {
        deps::apt_update()?;
        install()?;
    }
    if which("hyperfine").is_none() {
        bail!("hyperfine is still not on PATH; nothing was measured");
    }
    Ok(())
}

/// First line of `BIN --version`, with the `commit:` line's value when
/// there is one (sprout and runc print it): which build was measured.
fn version_of(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let first = text.lines().next()?.to_string();
            match text.lines().find_map(|l| l.strip_prefix("commit: ")) {
                Some(c) => Some(format!("{first}, commit {}", c.trim())),
                None => Some(first),
            }
        })
        .unwrap_or_else(|| "?".into())
}

/// A bundle at `dir`: a fresh busybox rootfs and `sprout spec`'s config
/// with `terminal: false` and `args`.
fn make_bundle(sprout: &Path, busybox: &Path, dir: &Path, args: &[&str]) -> Result {
    fs::create_dir_all(dir).ctx(format!("creating {}", dir.display()))?;
    rootfs::make(busybox, &dir.join("rootfs"))?;
    let _ = fs::remove_file(dir.join("config.json"));
    run(Command::new(sprout).arg("spec").arg("--bundle").arg(dir))?;
    crate::edit_config(&dir.join("config.json"), |c| {
        let Some(process) = c.get_mut("process").and_then(Value::as_object_mut) else {
            bail!("config.json from `sprout spec` has no process object");
        };
        process.insert("terminal".into(), json!(false));
        process.insert("args".into(), json!(args));
        Ok(())
    })
}

/// The shell wrappers every timed command goes through.
const WRAPPERS: &[(&str, &str)] = &[
    (
        "w.sh",
        r#"#!/bin/sh
# w.sh CMD...: run CMD with stdio on /dev/null (stderr to $BENCH_STDERR if set)
exec "$@" </dev/null >/dev/null 2>"${BENCH_STDERR:-/dev/null}"
"#,
    ),
    (
        "run1.sh",
        r#"#!/bin/sh
# run1.sh RT ROOT BUNDLE: one `run` with a unique id, stdio on /dev/null
exec "$1" --root "$2" run --bundle "$3" "${BENCH_PFX}-r$$" </dev/null >/dev/null 2>"${BENCH_STDERR:-/dev/null}"
"#,
    ),
    (
        "run1env.sh",
        r#"#!/bin/sh
# run1env.sh VAR=VALUE RT ROOT BUNDLE: run1.sh with VAR set (by the shell's
# export, no extra exec)
export "$1"
shift
exec "$1" --root "$2" run --bundle "$3" "${BENCH_PFX}-r$$" </dev/null >/dev/null 2>"${BENCH_STDERR:-/dev/null}"
"#,
    ),
    (
        "run1tty.sh",
        r#"#!/bin/sh
# run1tty.sh TTY RT ROOT BUNDLE: one `run` with a unique id and stdin,
# stdout and stderr on the terminal TTY (a pty slave the harness holds open;
# opened by path here, not made this shell's controlling terminal)
t=$1
shift
exec "$1" --root "$2" run --bundle "$3" "${BENCH_PFX}-r$$" <"$t" >"$t" 2>"${BENCH_STDERR:-$t}"
"#,
    ),
    (
        "csd.sh",
        r#"#!/bin/sh
# csd.sh RT ROOT BUNDLE: create; start; wait for the container process to
# exit; delete. The wait: the container's stdout is a pipe whose other
# writers (create, start) have exited, so cat sees EOF when the process
# exits; then a builtin-only poll of /proc/PID/stat until it is a zombie or
# gone (exit closes files a moment before the task becomes a zombie).
rt=$1 root=$2 b=$3 id="${BENCH_PFX}-c$$" pf="$BENCH_DIR/pid.$$" bad="$BENCH_DIR/bad.$$"
exec </dev/null 2>"${BENCH_STDERR:-/dev/null}"
rm -f "$bad"
{
  if "$rt" --root "$root" create --pid-file "$pf" --bundle "$b" "$id"; then
    "$rt" --root "$root" start "$id" >/dev/null || : > "$bad"
  else
    : > "$bad"
  fi
} | cat >/dev/null
if [ -e "$bad" ]; then
  rm -f "$bad" "$pf"
  "$rt" --root "$root" delete -f "$id" >/dev/null 2>&1
  exit 1
fi
pid=
read -r pid < "$pf" || [ -n "$pid" ] || exit 3
rm -f "$pf"
while { read -r st < "/proc/$pid/stat"; } 2>/dev/null; do
  case $st in *") Z "*|*") X "*) break ;; esac
done
exec "$rt" --root "$root" delete "$id" >/dev/null
"#,
    ),
    (
        "seq.sh",
        r#"#!/bin/sh
# seq.sh LABEL N RT ROOT BUNDLE: N `run`s one after the other; appends
# "failures N" to $BENCH_DIR/inner/LABEL. RT "floor": BUNDLE is a rootfs,
# run with unshare+chroot.
l=$1 n=$2 rt=$3 root=$4 b=$5 i=0 f=0
exec </dev/null >/dev/null 2>"${BENCH_STDERR:-/dev/null}"
one() {
  if [ "$rt" = floor ]; then
    unshare --fork --pid --mount --uts --ipc --net --mount-proc chroot "$b" /bin/true
  else
    "$rt" --root "$root" run --bundle "$b" "$1"
  fi
}
while [ "$i" -lt "$n" ]; do
  one "${BENCH_PFX}-s$$-$i" || f=$((f + 1))
  i=$((i + 1))
done
echo "$f $n" >> "$BENCH_DIR/inner/$l"
[ "$f" = 0 ]
"#,
    ),
    (
        "conc.sh",
        r#"#!/bin/sh
# conc.sh LABEL N RT ROOT BUNDLE: N `run`s at once, then wait for all;
# appends "failures N" to $BENCH_DIR/inner/LABEL (RT "floor" as in seq.sh).
l=$1 n=$2 rt=$3 root=$4 b=$5 i=0 f=0 pids=
exec </dev/null >/dev/null 2>"${BENCH_STDERR:-/dev/null}"
# Each `run` is one fork and exec of the shell: a background function
# call would fork a subshell that forks again (dash), two forks per run
# whose cost, under 32 at once, is the harness's and not the runtime's.
while [ "$i" -lt "$n" ]; do
  if [ "$rt" = floor ]; then
    unshare --fork --pid --mount --uts --ipc --net --mount-proc chroot "$b" /bin/true &
  else
    "$rt" --root "$root" run --bundle "$b" "${BENCH_PFX}-p$$-$i" &
  fi
  pids="$pids $!"
  i=$((i + 1))
done
for p in $pids; do wait "$p" || f=$((f + 1)); done
echo "$f $n" >> "$BENCH_DIR/inner/$l"
[ "$f" = 0 ]
"#,
    ),
];

fn write_wrappers(dir: &Path) -> Result {
    for (name, text) in WRAPPERS {
        let path = dir.join(name);
        fs::write(&path, text).ctx(format!("writing {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// On a hybrid host whose cgroup2 mount lists controllers (crun refuses to
/// run there), move this process into a private mount namespace and
/// bind-mount an empty file over that list; every runtime and the floor
/// then run under the same mask. Returns the masked list, if any.
pub(crate) fn mask_unified_controllers(dir: &Path) -> Result<Option<String>> {
    let listed = fs::read_to_string(UNIFIED_CONTROLLERS).unwrap_or_default();
    let listed = listed.trim();
    if listed.is_empty() {
        return Ok(None);
    }
    let empty = dir.join("empty");
    fs::write(&empty, "").ctx(format!("writing {}", empty.display()))?;
    let cstr = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("no NUL in paths")
    };
    let (empty_c, target_c) = (cstr(&empty), cstr(Path::new(UNIFIED_CONTROLLERS)));
    // SAFETY: plain system calls on NUL-terminated strings that outlive
    // them; xtask is single-threaded here (required by CLONE_NEWNS).
    let err = unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            Some("unshare(CLONE_NEWNS)")
        } else if libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            Some("making / private")
        } else if libc::mount(
            empty_c.as_ptr(),
            target_c.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            Some("bind-mounting an empty file over the cgroup2 controller list")
        } else {
            None
        }
    };
    if let Some(what) = err {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    say!(
        "{UNIFIED_CONTROLLERS} lists `{listed}`: measuring in a private mount namespace with it masked (every runtime alike)"
    );
    Ok(Some(listed.to_string()))
}

/// Removes what the bench left behind: containers with our prefix, the
/// runtimes' state directories.
struct Cleanup {
    state: PathBuf,
    pfx: String,
    rts: Vec<(PathBuf, PathBuf)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (bin, root) in &self.rts {
            let list = Command::new(bin)
                .arg("--root")
                .arg(root)
                .args(["list", "-q"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output();
            let Ok(list) = list else { continue };
            for id in String::from_utf8_lossy(&list.stdout)
                .lines()
                .filter(|l| l.starts_with(&self.pfx))
            {
                say!("removing leftover container {id}");
                let _ = Command::new(bin)
                    .arg("--root")
                    .arg(root)
                    .args(["delete", "-f", id])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = fs::remove_dir_all(&self.state);
    }
}

// ------------------------------------------------------------------ running things

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Joins words into one command line for hyperfine (`-N` splits it like a shell).
fn sh_words(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c))
            {
                w.to_string()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` (stdio on /dev/null unless set) in its own process group;
/// kills the group after `limit`. `Ok(None)`: timed out.
fn run_timeout(cmd: &mut Command, limit: Duration) -> Result<Option<ExitStatus>> {
    let mut child = cmd
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .ctx("spawning a command")?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if Instant::now() > deadline {
            // SAFETY: kill(2) of the process group we created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A quiet command with a time limit: success, or the reason (stderr's last line).
fn quiet(cmd: &mut Command, limit: Duration) -> Measured<()> {
    let err = tempfile("err");
    let f = fs::File::create(&err).map_err(|e| e.to_string())?;
    cmd.stdout(Stdio::null()).stderr(f);
    let r = run_timeout(cmd, limit);
    let text = fs::read_to_string(&err).unwrap_or_default();
    let _ = fs::remove_file(&err);
    outcome(r, &text, limit)
}

/// What [`run_timeout`] ended with: `Ok`, or why not: the last non-empty
/// line of the command's stderr `text` (else its exit status), or the
/// time limit it ran into.
fn outcome(
    r: Result<Option<std::process::ExitStatus>>,
    text: &str,
    limit: Duration,
) -> Measured<()> {
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    match r {
        Ok(Some(st)) if st.success() => Ok(()),
        Ok(Some(st)) => Err(if last.is_empty() {
            st.to_string()
        } else {
            last
        }),
        Ok(None) => Err(format!("timed out after {} s", limit.as_secs())),
        Err(e) => Err(e.to_string()),
    }
}

fn tempfile(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    target_dir()
        .join("bench")
        .join(format!("tmp.{what}.{}", N.fetch_add(1, Ordering::Relaxed)))
}

/// Whether `RT SUBCOMMAND --help` works (sprout's command line says
/// whether a command exists yet).
fn has_command(rt: &Rt, sub: &str) -> bool {
    Command::new(&rt.bin)
        .args([sub, "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One create+start+wait+delete through the timed wrapper.
fn probe_csd(rt: &Rt, paths: &Paths) -> Avail {
    if !has_command(rt, "create") || !has_command(rt, "start") || !has_command(rt, "delete") {
        return Avail::No("not implemented".into());
    }
    let err = paths.dir.join("probe.err");
    let mut c = Command::new(paths.w("csd.sh"));
    c.arg(&rt.bin)
        .arg(&rt.root)
        .arg(&paths.bundle)
        .env("BENCH_PFX", &paths.pfx)
        .env("BENCH_DIR", &paths.dir)
        .env("BENCH_STDERR", &err);
    match run_timeout(&mut c, Duration::from_secs(20)) {
        Ok(Some(st)) if st.success() => Avail::Yes,
        Ok(Some(st)) => {
            let text = fs::read_to_string(&err).unwrap_or_default();
            Avail::No(format!(
                "failed: {}",
                text.lines().last().unwrap_or(&st.to_string())
            ))
        }
        Ok(None) => Avail::No("timed out".into()),
        Err(e) => Avail::No(e.to_string()),
    }
}

/// `RT create --pid-file` (+ `start` when `start`) of `bundle` as `id`;
/// returns the container process's pid.
fn create(rt: &Rt, bundle: &Path, id: &str, start: bool) -> Measured<i32> {
    let pf = tempfile("pid");
    let _ = fs::remove_file(&pf);
    let mut c = rt.cmd();
    c.arg("create")
        .arg("--pid-file")
        .arg(&pf)
        .arg("--bundle")
        .arg(bundle)
        .arg(id);
    quiet(&mut c, Duration::from_secs(20)).map_err(|e| format!("create: {e}"))?;
    let pid = fs::read_to_string(&pf)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .or_else(|| state_pid(rt, id));
    let _ = fs::remove_file(&pf);
    let Some(pid) = pid else {
        remove_container(rt, id, None);
        return Err("create wrote no pid file and `state` shows no pid".into());
    };
    if start {
        let mut c = rt.cmd();
        c.arg("start").arg(id);
        if let Err(e) = quiet(&mut c, Duration::from_secs(20)) {
            remove_container(rt, id, Some(pid));
            return Err(format!("start: {e}"));
        }
    }
    Ok(pid)
}

/// The pid in `RT state ID`.
fn state_pid(rt: &Rt, id: &str) -> Option<i32> {
    let out = rt
        .cmd()
        .arg("state")
        .arg(id)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v.get("pid")
        .and_then(Value::as_i64)
        .map(|p| p as i32)
        .filter(|&p| p > 0)
}

/// Whether `RT exec ID /bin/true` works in the running container `id`.
fn probe_exec(rt: &Rt, id: &str) -> Avail {
    if !has_command(rt, "exec") {
        return Avail::No("not implemented".into());
    }
    let mut c = rt.cmd();
    c.arg("exec").arg(id).arg("/bin/true");
    match quiet(&mut c, Duration::from_secs(20)) {
        Ok(()) => Avail::Yes,
        Err(e) => Avail::No(format!("failed: {e}")),
    }
}

/// `RT delete -f ID`; if that fails, kill the container process.
fn remove_container(rt: &Rt, id: &str, pid: Option<i32>) {
    let t0 = pid.and_then(start_time);
    let mut c = rt.cmd();
    c.args(["delete", "-f", id]);
    if quiet(&mut c, Duration::from_secs(20)).is_err()
        && let Some(pid) = pid
        && t0.is_some()
        && start_time(pid) == t0
    {
        // SAFETY: kill(2) of a container process we created.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Rows for the runtimes where `avail` says yes; "n/a" notes for the rest.
fn split_avail(
    rts: &[Rt],
    avail: impl Fn(&Rt) -> &Avail,
    cmd: impl Fn(&Rt) -> String,
) -> (Rows, Rows) {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for rt in rts {
        match avail(rt) {
            Avail::Yes => rows.push((rt.name.to_string(), cmd(rt))),
            Avail::No(why) => notes.push((rt.name.to_string(), format!("n/a ({why})"))),
        }
    }
    (rows, notes)
}

// ------------------------------------------------------------------ timing

/// One timed run of one command in one round.
#[derive(Clone, Debug, Default)]
struct Sample {
    median: f64,
    times: Vec<f64>,
    /// Mean user+system seconds (hyperfine's; the whole waited-for tree).
    cpu: f64,
    fails: usize,
}

/// A timed test: per row, per round.
struct TestRes {
    test: &'static str,
    order: Vec<String>,
    samples: BTreeMap<String, Vec<Sample>>,
    /// Rows that could not be timed, with why.
    notes: Vec<(String, String)>,
    /// Failures and total inner runs of the batch tests, per row.
    inner: BTreeMap<String, (u64, u64)>,
}

impl TestRes {
    fn empty(test: &'static str, notes: Vec<(String, String)>) -> TestRes {
        TestRes {
            test,
            order: Vec::new(),
            samples: BTreeMap::new(),
            notes,
            inner: BTreeMap::new(),
        }
    }
}

struct Hyperfine<'a> {
    paths: &'a Paths,
    env: &'a dyn Fn(&mut Command),
}

impl Hyperfine<'_> {
    /// [`Self::rounds`], or on failure an untimed test whose rows say why
    /// (a failed test does not stop the others).
    fn test(
        &self,
        test: &'static str,
        rows: &[(String, String)],
        rounds: usize,
        runs: usize,
        warmup: usize,
        mut notes: Vec<(String, String)>,
    ) -> TestRes {
        match self.rounds(test, rows, rounds, runs, warmup, notes.clone()) {
            Ok(t) => t,
            Err(e) => {
                say!("{e}");
                let first = e.to_string().lines().next().unwrap_or("").to_string();
                notes.extend(
                    rows.iter()
                        .map(|(k, _)| (k.clone(), format!("n/a ({first})"))),
                );
                TestRes::empty(test, notes)
            }
        }
    }

    /// `rounds` hyperfine rounds over `rows` (key, command), the order
    /// rotated by one each round.
    fn rounds(
        &self,
        test: &'static str,
        rows: &[(String, String)],
        rounds: usize,
        runs: usize,
        warmup: usize,
        notes: Vec<(String, String)>,
    ) -> Result<TestRes> {
        let mut res = TestRes::empty(test, notes);
        res.order = rows.iter().map(|(k, _)| k.clone()).collect();
        for r in 0..rounds {
            let out = self.paths.json.join(format!("{test}-{r}.json"));
            let err = self.paths.json.join(format!("{test}-{r}.err"));
            let mut c = Command::new("hyperfine");
            c.args(["-N", "-i", "--style", "none"])
                .args(["--warmup", &warmup.to_string(), "--runs", &runs.to_string()])
                .arg("--export-json")
                .arg(&out);
            for j in 0..rows.len() {
                let (k, cmd) = &rows[(r + j) % rows.len()];
                c.arg("-n").arg(k).arg(cmd);
            }
            (self.env)(&mut c);
            c.stdout(Stdio::null()).stderr(fs::File::create(&err)?);
            // Generous: 32 concurrent runc runs take ~2 s each on this kind of host.
            let limit = Duration::from_secs(600);
            match run_timeout(&mut c, limit)? {
                Some(st) if st.success() => {}
                other => {
                    let text = fs::read_to_string(&err).unwrap_or_default();
                    bail!(
                        "hyperfine failed in test {test}, round {} ({}):\n{}",
                        r + 1,
                        other.map_or("timed out".into(), |s| s.to_string()),
                        text.trim_end()
                    );
                }
            }
            let v: Value = serde_json::from_str(&fs::read_to_string(&out)?)
                .ctx(format!("parsing {}", out.display()))?;
            for row in v["results"].as_array().into_iter().flatten() {
                let key = row["command"].as_str().unwrap_or("?").to_string();
                let times: Vec<f64> = row["times"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_f64)
                    .collect();
                let fails = row["exit_codes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c.as_i64() != Some(0))
                    .count();
                let s = Sample {
                    median: row["median"].as_f64().unwrap_or(f64::NAN),
                    cpu: row["user"].as_f64().unwrap_or(0.0)
                        + row["system"].as_f64().unwrap_or(0.0),
                    times,
                    fails,
                };
                res.samples.entry(key).or_default().push(s);
            }
        }
        Ok(res)
    }
}

/// Sums the "failures total" lines the batch wrappers appended, per row.
fn read_inner(dir: &Path, test: &str) -> BTreeMap<String, (u64, u64)> {
    let mut m = BTreeMap::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(key) = name.strip_prefix(&format!("{test}-")) else {
            continue;
        };
        let text = fs::read_to_string(e.path()).unwrap_or_default();
        let (mut f, mut n) = (0, 0);
        for l in text.lines() {
            let mut it = l.split_whitespace().filter_map(|w| w.parse::<u64>().ok());
            f += it.next().unwrap_or(0);
            n += it.next().unwrap_or(0);
        }
        m.insert(key.to_string(), (f, n));
    }
    m
}

fn median(v: &[f64]) -> f64 {
    quantile(v, 0.5)
}

/// Linear-interpolated quantile (NaN for an empty slice).
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let pos = q * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// Figures of one row of a timed test.
struct RowStats {
    med: f64,
    p25: f64,
    p75: f64,
    rmin: f64,
    rmax: f64,
    x_crun: Option<f64>,
    x_floor: Option<f64>,
    cpu: f64,
    fails: usize,
    runs: usize,
}

fn row_stats(t: &TestRes, key: &str) -> Option<RowStats> {
    let s = t.samples.get(key)?;
    let meds: Vec<f64> = s.iter().map(|x| x.median).collect();
    let all: Vec<f64> = s.iter().flat_map(|x| x.times.iter().copied()).collect();
    let ratio = |base: &str| -> Option<f64> {
        let b = t.samples.get(base)?;
        let r: Vec<f64> = s.iter().zip(b).map(|(x, y)| x.median / y.median).collect();
        Some(median(&r))
    };
    Some(RowStats {
        med: median(&meds),
        p25: quantile(&all, 0.25),
        p75: quantile(&all, 0.75),
        rmin: meds.iter().copied().fold(f64::INFINITY, f64::min),
        rmax: meds.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        x_crun: if key == "crun" { None } else { ratio("crun") },
        x_floor: if key == "floor" { None } else { ratio("floor") },
        cpu: median(&s.iter().map(|x| x.cpu).collect::<Vec<_>>()),
        fails: s.iter().map(|x| x.fails).sum(),
        runs: all.len(),
    })
}

// ------------------------------------------------------------------ /proc

/// A `Key:   123 kB` value from a /proc file, in KiB.
fn proc_kb(path: &str, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Memory of one process: VmRSS, VmHWM, Pss (KiB).
#[derive(Clone, Copy, Debug, Default)]
struct Mem {
    rss: u64,
    hwm: u64,
    pss: u64,
}

fn mem_of(pid: i32) -> Option<Mem> {
    let status = format!("/proc/{pid}/status");
    Some(Mem {
        rss: proc_kb(&status, "VmRSS")?,
        hwm: proc_kb(&status, "VmHWM").unwrap_or(0),
        pss: proc_kb(&format!("/proc/{pid}/smaps_rollup"), "Pss").unwrap_or(0),
    })
}

/// Children of `pid` (all its threads).
fn children(pid: i32) -> Vec<i32> {
    let mut v = Vec::new();
    for t in fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = fs::read_to_string(t.path().join("children")).unwrap_or_default();
        v.extend(
            text.split_whitespace()
                .filter_map(|w| w.parse::<i32>().ok()),
        );
    }
    v
}

/// `pid` and all its descendants.
fn tree(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let c = children(out[i]);
        out.extend(c);
        i += 1;
    }
    out
}

fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Field 22 of /proc/PID/stat: tells a process from a later one with the same pid.
fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn ppid(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn all_pids() -> BTreeSet<i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// `wait4` on a spawned child: its exit status and `ru_maxrss` (KiB).
fn wait4(pid: i32) -> Option<(i32, u64)> {
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return Some((status, ru.ru_maxrss as u64));
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}

// ------------------------------------------------------------------ footprint

struct Footprint {
    stub_check: Measured<()>,
    stub_stripped: Option<u64>,
    /// Container process waiting in `created`: its memory.
    created: Vec<(&'static str, Measured<Mem>)>,
    /// The runtime process of a `run` while its container runs: its own
    /// memory (VmHWM is its peak so far), and wait4's ru_maxrss at the end.
    controller: Vec<(&'static str, Measured<(Mem, u64)>)>,
    /// ru_maxrss of `run` /bin/true.
    maxrss_true: Vec<(&'static str, Measured<u64>)>,
    syscalls: Vec<(&'static str, Measured<Syscalls>)>,
    binaries: Vec<(&'static str, BinInfo)>,
}

fn median_u64(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn median_mem(v: &mut [Mem]) -> Mem {
    Mem {
        rss: median_u64(&mut v.iter().map(|m| m.rss).collect::<Vec<_>>()),
        hwm: median_u64(&mut v.iter().map(|m| m.hwm).collect::<Vec<_>>()),
        pss: median_u64(&mut v.iter().map(|m| m.pss).collect::<Vec<_>>()),
    }
}

/// VmRSS and Pss of the container process waiting in `created` (median of `reps`).
fn created_memory(rt: &Rt, paths: &Paths, reps: usize) -> Measured<Mem> {
    if !rt.create.ok() {
        return Err(format!("n/a ({})", rt.create.why()));
    }
    let mut v = Vec::new();
    for i in 0..reps {
        let id = format!("{}-m{}{i}", paths.pfx, rt.name);
        let pid = create(rt, &paths.sleep, &id, false)?;
        std::thread::sleep(Duration::from_millis(50));
        let m = mem_of(pid);
        remove_container(rt, &id, Some(pid));
        v.push(m.ok_or("the container process vanished")?);
    }
    Ok(median_mem(&mut v))
}

/// The runtime's own memory during a `run` of `sleep 3600`: read once the
/// container process runs `sleep` (the runtime is then idle, waiting), then
/// the container is killed and wait4 gives ru_maxrss.
fn controller_memory(rt: &Rt, paths: &Paths, reps: usize) -> Measured<(Mem, u64)> {
    let mut mems = Vec::new();
    let mut maxrss = Vec::new();
    for i in 0..reps {
        let id = format!("{}-h{}{i}", paths.pfx, rt.name);
        let child = rt
            .cmd()
            .arg("run")
            .arg("--bundle")
            .arg(&paths.sleep)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let pid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut sleeper = None;
        while Instant::now() < deadline && sleeper.is_none() {
            sleeper = tree(pid).into_iter().skip(1).find(|&c| comm(c) == "sleep");
            std::thread::sleep(Duration::from_millis(5));
        }
        let m = mem_of(pid);
        if let Some(s) = sleeper {
            // SAFETY: kill(2) of the container process we started.
            unsafe { libc::kill(s, libc::SIGKILL) };
        } else {
            // SAFETY: kill(2) of our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let w = wait4(pid);
        let mut c = rt.cmd();
        let _ = quiet(c.args(["delete", "-f", &id]), Duration::from_secs(10));
        if sleeper.is_none() {
            return Err("the container never ran `sleep`".into());
        }
        mems.push(m.ok_or("the runtime process vanished")?);
        maxrss.push(w.map(|w| w.1).ok_or("wait4 failed")?);
    }
    Ok((median_mem(&mut mems), median_u64(&mut maxrss)))
}

/// ru_maxrss (wait4) of `RT run` of /bin/true: the maximum over the runtime
/// process and the children it reaped (see BENCHMARKS.md).
fn maxrss_true(rt: &Rt, paths: &Paths, reps: usize) -> Measured<u64> {
    let mut v = Vec::new();
    for i in 0..reps {
        let id = format!("{}-t{}{i}", paths.pfx, rt.name);
        let child = rt
            .cmd()
            .arg("run")
            .arg("--bundle")
            .arg(&paths.bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let (st, rss) = wait4(child.id() as i32).ok_or("wait4 failed")?;
        if st != 0 {
            return Err(format!("run failed (wait status {st})"));
        }
        v.push(rss);
    }
    Ok(median_u64(&mut v))
}

/// Syscalls of one `run` of /bin/true across all its processes.
struct Syscalls {
    /// From `strace -f -c`.
    calls: u64,
    errors: u64,
    /// The most frequent syscalls (name, calls).
    top: Vec<(String, u64)>,
    /// From `strace -ff`: per task (in pid order) what it executed and how many calls it made.
    tasks: Vec<(String, u64)>,
}

fn syscalls(rt: &Rt, paths: &Paths) -> Measured<Syscalls> {
    let out = paths.dir.join(format!("strace-{}.txt", rt.name));
    let mut c = Command::new("strace");
    c.args(["-f", "-c", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&rt.bin)
        .arg("--root")
        .arg(&rt.root)
        .arg("run")
        .arg("--bundle")
        .arg(&paths.bundle)
        .arg(format!("{}-st{}", paths.pfx, rt.name));
    quiet(&mut c, Duration::from_secs(60))?;
    let text = fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let (mut calls, mut errors) = (0, 0);
    let mut top = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 5 || f[0].starts_with('%') || f[0].starts_with('-') {
            continue;
        }
        let n: u64 = f[3].parse().unwrap_or(0);
        let e: u64 = if f.len() >= 6 {
            f[4].parse().unwrap_or(0)
        } else {
            0
        };
        if f[f.len() - 1] == "total" {
            calls = n;
            errors = e;
        } else {
            top.push((f[f.len() - 1].to_string(), n));
        }
    }
    if calls == 0 {
        return Err(format!("no total in {}", out.display()));
    }
    top.sort_by_key(|t| std::cmp::Reverse(t.1));
    top.truncate(8);

    // Per task: strace -ff writes one file per task.
    let ffdir = paths.dir.join(format!("strace-ff-{}", rt.name));
    let _ = fs::remove_dir_all(&ffdir);
    fs::create_dir_all(&ffdir).map_err(|e| e.to_string())?;
    let mut c = Command::new("strace");
    c.args(["-ff", "-qq", "-o"])
        .arg(ffdir.join("t"))
        .arg("--")
        .arg(&rt.bin)
        .arg("--root")
        .arg(&rt.root)
        .arg("run")
        .arg("--bundle")
        .arg(&paths.bundle)
        .arg(format!("{}-sf{}", paths.pfx, rt.name));
    let mut tasks = Vec::new();
    if quiet(&mut c, Duration::from_secs(60)).is_ok() {
        let mut files: Vec<(i32, PathBuf)> = fs::read_dir(&ffdir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid = e.file_name().to_str()?.strip_prefix("t.")?.parse().ok()?;
                Some((pid, e.path()))
            })
            .collect();
        files.sort();
        for (_, f) in files {
            let text = fs::read_to_string(&f).unwrap_or_default();
            let mut n = 0;
            let mut execs = Vec::new();
            for l in text.lines() {
                let Some((name, rest)) = l.split_once('(') else {
                    continue;
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    continue;
                }
                n += 1;
                if name == "execve" && l.contains(") = 0") {
                    let prog = rest.split('"').nth(1).unwrap_or("?");
                    execs.push(
                        Path::new(prog)
                            .file_name()
                            .map_or(prog.to_string(), |s| s.to_string_lossy().into_owned()),
                    );
                } else if name == "execveat" && l.contains(") = 0") {
                    execs.push("execveat(memfd)".into());
                }
            }
            let what = if execs.is_empty() {
                "(no exec)".to_string()
            } else {
                execs.join(" > ")
            };
            tasks.push((what, n));
        }
    }
    Ok(Syscalls {
        calls,
        errors,
        top,
        tasks,
    })
}

/// Size and linking of a binary.
struct BinInfo {
    size: u64,
    needed: Vec<String>,
}

fn binary_info(bin: &Path) -> BinInfo {
    let size = fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
    let dynamic = Command::new("readelf")
        .arg("-dW")
        .arg(bin)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let needed = dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next().map(str::to_string))
        .collect();
    BinInfo { size, needed }
}

// ------------------------------------------------------------------ scaling

/// One N of the scaling test.
struct Scale {
    n: usize,
    /// Median and 90th percentile of the create times (ms).
    create_med: f64,
    create_p90: f64,
    /// Median create time of the last quarter (ms): creeping cost shows here.
    create_last: f64,
    /// Pss and RSS per held container (KiB): every process of the container
    /// (and any new ancestor of it, e.g. a per-container monitor).
    pss: f64,
    rss: f64,
    errors: usize,
}

fn scale_step(rt: &Rt, paths: &Paths, n: usize) -> Measured<Scale> {
    let before = all_pids();
    let mut held: Vec<(String, i32)> = Vec::new();
    let mut times = Vec::new();
    let mut errors = 0;
    let mut first_err = None;
    for i in 0..n {
        let id = format!("{}-n{}-{n}-{i}", paths.pfx, rt.name);
        let t = Instant::now();
        match create(rt, &paths.bundle, &id, false) {
            Ok(pid) => {
                times.push(t.elapsed().as_secs_f64() * 1e3);
                held.push((id, pid));
            }
            Err(e) => {
                errors += 1;
                first_err.get_or_insert(e);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut pids = BTreeSet::new();
    for (_, pid) in &held {
        pids.extend(tree(*pid));
        // New ancestors (a monitor process per container, say) count too.
        let mut a = *pid;
        while let Some(pp) = ppid(a) {
            if pp <= 1 || before.contains(&pp) {
                break;
            }
            pids.insert(pp);
            a = pp;
        }
    }
    let (mut pss, mut rss) = (0u64, 0u64);
    for pid in &pids {
        if let Some(m) = mem_of(*pid) {
            pss += m.pss;
            rss += m.rss;
        }
    }
    let starts: Vec<(i32, u64)> = held
        .iter()
        .filter_map(|(_, pid)| Some((*pid, start_time(*pid)?)))
        .collect();
    // Delete in parallel batches.
    for chunk in held.chunks(16) {
        let mut kids = Vec::new();
        for (id, _) in chunk {
            let mut c = rt.cmd();
            c.args(["delete", "-f", id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Ok(k) = c.spawn() {
                kids.push(k);
            }
        }
        for mut k in kids {
            let _ = k.wait();
        }
    }
    for (pid, t0) in &starts {
        if start_time(*pid) == Some(*t0) {
            // delete -f did not remove it (same pid, same start time).
            // SAFETY: kill(2) of a container process we created.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
    if held.is_empty() {
        return Err(first_err.unwrap_or_else(|| "no container created".into()));
    }
    let k = held.len() as f64;
    let last: Vec<f64> = times[times.len() - times.len().div_ceil(4)..].to_vec();
    Ok(Scale {
        n,
        create_med: median(&times),
        create_p90: quantile(&times, 0.9),
        create_last: median(&last),
        pss: pss as f64 / k,
        rss: rss as f64 / k,
        errors,
    })
}

// ------------------------------------------------------------------ phases

/// Median per phase of `sprout --debug run` (ms), in order, plus the whole
/// process's wall time and the part outside sprout's own timer.
struct Phases {
    rows: Vec<(String, f64)>,
    total: f64,
    wall: f64,
    runs: usize,
    /// The last error line of each failed run.
    failures: Vec<String>,
}

fn phase_timings(rt: &Rt, paths: &Paths, runs: usize) -> Measured<Phases> {
    let mut order: Vec<String> = Vec::new();
    let mut vals: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut totals = Vec::new();
    let mut walls = Vec::new();
    let mut failures = Vec::new();
    for i in 0..runs {
        let id = format!("{}-d{i}", paths.pfx);
        let t = Instant::now();
        let out = rt
            .cmd()
            .arg("--debug")
            .arg("run")
            .arg("--bundle")
            .arg(&paths.bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rfind(|l| !l.starts_with("sprout: debug: "))
                .unwrap_or("")
                .to_string();
            failures.push(last);
            continue;
        }
        walls.push(t.elapsed().as_secs_f64() * 1e3);
        for l in String::from_utf8_lossy(&out.stderr).lines() {
            let Some(rest) = l.strip_prefix("sprout: debug: ") else {
                continue;
            };
            let Some((name, val)) = rest.rsplit_once(": ") else {
                continue;
            };
            let Some(ms) = val
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
            else {
                continue;
            };
            if val.ends_with("ms total") {
                totals.push(ms);
                continue;
            }
            if !vals.contains_key(name) {
                order.push(name.to_string());
            }
            vals.entry(name.to_string()).or_default().push(ms);
        }
    }
    if totals.is_empty() {
        return Err(match failures.first() {
            Some(f) => format!("`sprout --debug run` failed {} times: {f}", failures.len()),
            None => "`sprout --debug run` printed no phase timings".into(),
        });
    }
    Ok(Phases {
        rows: order
            .into_iter()
            .map(|n| (n.clone(), median(&vals[&n])))
            .collect(),
        total: median(&totals),
        wall: median(&walls),
        runs: totals.len(),
        failures,
    })
}

// ------------------------------------------------------------------ report

fn fmt_list(v: &[usize]) -> String {
    v.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn ms(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn ratio(x: Option<f64>) -> String {
    x.filter(|x| x.is_finite())
        .map_or("-".into(), |x| format!("{x:.2}x"))
}

fn kib(k: u64) -> String {
    if k >= 10 * 1024 {
        format!("{:.1} MiB", k as f64 / 1024.0)
    } else {
        format!("{k} KiB")
    }
}

/// Left-aligns the first two columns, right-aligns the rest.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let ncol = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..ncol)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let w = width[c];
            if c < 2 {
                let _ = write!(line, "{cell:<w$}  ");
            } else {
                let _ = write!(line, "{cell:>w$}  ");
            }
        }
        let _ = writeln!(out, "  {}", line.trim_end());
    }
}

/// The report's header, the time table and the variants table.
fn render_head(
    cfg: &Cfg,
    rts: &[Rt],
    masked: Option<String>,
    tests: &[TestRes],
    variants: &variants::Variants,
    took: Duration,
) -> String {
    let mut o = String::new();
    let uname = Command::new("uname")
        .arg("-sr")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let date = Command::new("date")
        .args(["-u", "+%FT%TZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        o,
        "\n== cargo xtask bench{}: {uname}, {cpus} cpus, {date}, {:.0} s",
        if cfg.quick { " --quick" } else { "" },
        took.as_secs_f64()
    );
    for rt in rts {
        let _ = writeln!(
            o,
            "   {:<7} {}  ({})",
            rt.name,
            rt.version,
            rt.bin.display()
        );
    }
    let _ = writeln!(
        o,
        "   bundle: busybox rootfs, `sprout spec` config, terminal false, args /bin/true; the same for every runtime"
    );
    if let Some(m) = masked {
        let _ = writeln!(
            o,
            "   cgroup2 controllers (`{m}`) masked in a private mount namespace, for every runtime alike"
        );
    }
    let _ = writeln!(
        o,
        "   run/csd/exec: {} x {} (+{} warm-up); seq/conc: {} x {}; command order rotated each round",
        count(cfg.rounds, "round"),
        count(cfg.runs, "run"),
        cfg.warmup,
        count(cfg.batch_rounds, "round"),
        count(cfg.batch_runs, "run")
    );

    let _ = writeln!(o, "\n-- time (ms) --");
    let mut rows = vec![
        [
            "test",
            "command",
            "median",
            "p25-p75",
            "round medians",
            "x crun",
            "x floor",
            "cpu",
            "errors",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for t in tests {
        for key in &t.order {
            let Some(s) = row_stats(t, key) else { continue };
            let label = if key == "floor" {
                match t.test {
                    "exec" => "floor: nsenter -a".to_string(),
                    _ => "floor: unshare+chroot".to_string(),
                }
            } else {
                key.clone()
            };
            let errors = match t.inner.get(key) {
                Some((f, n)) => format!("{f}/{n}"),
                None => format!("{}/{}", s.fails, s.runs),
            };
            rows.push(vec![
                t.test.to_string(),
                label,
                ms(s.med * 1e3),
                format!("{}-{}", ms(s.p25 * 1e3), ms(s.p75 * 1e3)),
                format!("{}-{}", ms(s.rmin * 1e3), ms(s.rmax * 1e3)),
                ratio(s.x_crun),
                ratio(s.x_floor),
                ms(s.cpu * 1e3),
                errors,
            ]);
        }
        for (k, why) in &t.notes {
            rows.push(vec![t.test.to_string(), k.clone(), why.clone()]);
        }
    }
    table(&mut o, &rows);
    let _ = writeln!(
        o,
        "  tests: run = `run` of /bin/true; csd = create+start+wait+delete; exec = `exec` /bin/true into a running"
    );
    let _ = writeln!(
        o,
        "  container; seq = {} `run`s one after the other; conc = {} `run`s at once (time until all are done).",
        cfg.seq_n, cfg.conc_n
    );
    let _ = writeln!(
        o,
        "  median: of the per-round medians; p25-p75: of all runs; x crun, x floor: median over rounds of the"
    );
    let _ = writeln!(
        o,
        "  round's ratio; cpu: user+system of the whole process tree; errors: failed/all (inner runs for seq, conc)."
    );
    variants::render(&mut o, cfg, variants);
    o
}

/// The whole report: [`render_head`], footprint, scaling, phases, targets.
#[allow(clippy::too_many_arguments)]
fn render(
    cfg: &Cfg,
    rts: &[Rt],
    masked: Option<String>,
    tests: &[TestRes],
    variants: &variants::Variants,
    foot: &Footprint,
    scaling: &[(&str, Measured<Vec<Measured<Scale>>>)],
    phases: &Measured<Phases>,
    took: Duration,
) -> String {
    let mut o = render_head(cfg, rts, masked, tests, variants, took);

    // ---- footprint ----
    let _ = writeln!(o, "\n-- footprint --");
    match (&foot.stub_check, foot.stub_stripped) {
        (Ok(()), Some(sz)) => {
            let _ = writeln!(
                o,
                "  sprout-init: {sz} bytes stripped (target <= 32768); static EXEC, no interpreter, no dynamic section, no allocator symbols"
            );
        }
        (Err(e), sz) => {
            let _ = writeln!(
                o,
                "  sprout-init: {} bytes stripped; CHECK FAILED: {}",
                sz.map_or("?".into(), |s| s.to_string()),
                e.replace('\n', " ")
            );
        }
        (Ok(()), None) => {
            let _ = writeln!(o, "  sprout-init: checks passed; stripped size unknown");
        }
    }
    let _ = writeln!(o, "  binaries:");
    for (name, b) in &foot.binaries {
        let libs = if b.needed.is_empty() {
            "static".to_string()
        } else {
            format!(
                "{} shared libraries: {}",
                b.needed.len(),
                b.needed.join(" ")
            )
        };
        let _ = writeln!(o, "    {name:<7} {:>10} bytes, {libs}", b.size);
    }
    let mut rows = vec![
        [
            "memory (KiB)",
            "runtime",
            "VmRSS",
            "Pss",
            "VmHWM",
            "ru_maxrss",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (name, r) in &foot.created {
        match r {
            Ok(m) => rows.push(vec![
                "waiting in `created`".into(),
                name.to_string(),
                m.rss.to_string(),
                m.pss.to_string(),
                m.hwm.to_string(),
                "".into(),
            ]),
            Err(e) => rows.push(vec![
                "waiting in `created`".into(),
                name.to_string(),
                e.clone(),
            ]),
        }
    }
    for (name, r) in &foot.controller {
        match r {
            Ok((m, maxrss)) => rows.push(vec![
                "runtime process of `run`".into(),
                name.to_string(),
                m.rss.to_string(),
                m.pss.to_string(),
                m.hwm.to_string(),
                maxrss.to_string(),
            ]),
            Err(e) => rows.push(vec![
                "runtime process of `run`".into(),
                name.to_string(),
                e.clone(),
            ]),
        }
    }
    for (name, r) in &foot.maxrss_true {
        match r {
            Ok(x) => rows.push(vec![
                "`run` /bin/true, wait4".into(),
                name.to_string(),
                "".into(),
                "".into(),
                "".into(),
                x.to_string(),
            ]),
            Err(e) => rows.push(vec![
                "`run` /bin/true, wait4".into(),
                name.to_string(),
                e.clone(),
            ]),
        }
    }
    table(&mut o, &rows);
    let _ = writeln!(
        o,
        "  `created`: the container's process (the stub for sprout, `runc init`, crun's init) before start."
    );
    let _ = writeln!(
        o,
        "  runtime process of `run`: the `RT run` process itself, read while its container runs `sleep`"
    );
    let _ = writeln!(
        o,
        "  (VmHWM: its own peak RSS so far); ru_maxrss (wait4): max over that process and the children it"
    );
    let _ = writeln!(
        o,
        "  reaped, so it also covers the forked child before its exec (a copy of the runtime) and the container."
    );

    let _ = writeln!(
        o,
        "  syscalls of one `run` /bin/true, all processes (strace -f -c):"
    );
    let crun_calls = foot
        .syscalls
        .iter()
        .find(|(n, _)| *n == "crun")
        .and_then(|(_, r)| r.as_ref().ok())
        .map(|s| s.calls);
    for (name, r) in &foot.syscalls {
        match r {
            Ok(s) => {
                let x = crun_calls
                    .filter(|_| *name != "crun")
                    .map_or(String::new(), |c| {
                        format!(" ({:.2}x crun)", s.calls as f64 / c as f64)
                    });
                let _ = writeln!(
                    o,
                    "    {name:<7} {:>5} calls, {} errors{x}, {} tasks",
                    s.calls,
                    s.errors,
                    s.tasks.len()
                );
                let mut tasks: Vec<String> = s
                    .tasks
                    .iter()
                    .filter(|(w, _)| w != "(no exec)")
                    .map(|(w, n)| format!("{w}: {n}"))
                    .collect();
                let other: Vec<u64> = s
                    .tasks
                    .iter()
                    .filter(|(w, _)| w == "(no exec)")
                    .map(|(_, n)| *n)
                    .collect();
                if !other.is_empty() {
                    tasks.push(format!(
                        "{} more tasks or threads that exec nothing: {}",
                        other.len(),
                        other.iter().sum::<u64>()
                    ));
                }
                let _ = writeln!(o, "            per task: {}", tasks.join("; "));
                let top: Vec<String> = s.top.iter().map(|(w, n)| format!("{w} {n}")).collect();
                let _ = writeln!(o, "            most: {}", top.join(", "));
            }
            Err(e) => {
                let _ = writeln!(o, "    {name:<7} {e}");
            }
        }
    }

    // ---- scaling ----
    let _ = writeln!(o, "\n-- containers held in `created` --");
    let mut rows = vec![
        [
            "runtime",
            "N",
            "create median ms",
            "p90",
            "last quarter",
            "Pss/ctr KiB",
            "RSS/ctr KiB",
            "errors",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (name, r) in scaling {
        match r {
            Err(e) => rows.push(vec![name.to_string(), "".into(), e.clone()]),
            Ok(steps) => {
                for s in steps {
                    match s {
                        Ok(s) => rows.push(vec![
                            name.to_string(),
                            s.n.to_string(),
                            ms(s.create_med),
                            ms(s.create_p90),
                            ms(s.create_last),
                            format!("{:.0}", s.pss),
                            format!("{:.0}", s.rss),
                            format!("{}/{}", s.errors, s.n),
                        ]),
                        Err(e) => rows.push(vec![name.to_string(), "".into(), e.clone()]),
                    }
                }
            }
        }
    }
    table(&mut o, &rows);

    // ---- phases ----
    let _ = writeln!(o, "\n-- sprout --debug run: median per phase --");
    match phases {
        Ok(ph) => {
            let mut rows = Vec::new();
            for (n, v) in &ph.rows {
                rows.push(vec![n.clone(), String::new(), format!("{v:.3} ms")]);
            }
            rows.push(vec![
                "total inside sprout (its timer)".into(),
                String::new(),
                format!("{:.3} ms", ph.total),
            ]);
            rows.push(vec![
                "process wall time (spawn to reaped)".into(),
                String::new(),
                format!("{:.3} ms", ph.wall),
            ]);
            rows.push(vec![
                "outside the timer: exec, loader, main, exit".into(),
                String::new(),
                format!("{:.3} ms", ph.wall - ph.total),
            ]);
            table(&mut o, &rows);
            let _ = writeln!(
                o,
                "  ({} runs; phase medians do not add up to the total exactly)",
                ph.runs
            );
            if let Some(f) = ph.failures.first() {
                let _ = writeln!(o, "  {} more runs FAILED, e.g.: {f}", ph.failures.len());
            }
        }
        Err(e) => {
            let _ = writeln!(o, "  {e}");
        }
    }

    // ---- targets ----
    let _ = writeln!(o, "\n-- targets (issue 6) --");
    if cfg.quick {
        let _ = writeln!(
            o,
            "  (--quick: 2 rounds of 5 runs, seq and conc once, phases from 10 runs; on a busy machine these verdicts can flip, use the full run)"
        );
    }
    let find = |test: &str| tests.iter().find(|t| t.test == test);
    let has_crun = rts.iter().any(|r| r.name == "crun");
    for (test, what) in [
        ("run", "`run` <= 0.5x crun"),
        ("csd", "create+start+wait+delete <= 0.5x crun"),
        ("exec", "`exec` <= 0.5x crun"),
        ("seq", "100 sequential runs <= 0.5x crun"),
    ] {
        let line = match find(test).and_then(|t| row_stats(t, "sprout")) {
            _ if !has_crun => "n/a (crun not installed)".to_string(),
            Some(s) => verdict(s.x_crun, |x| x <= TARGET_RATIO, |x| format!("{x:.2}x")),
            None => "n/a (sprout not measured)".into(),
        };
        let _ = writeln!(o, "  {what:<46} {line}");
    }
    let conc = find("conc");
    let line = match conc
        .and_then(|t| row_stats(t, "sprout").map(|s| (s, t.inner.get("sprout").copied())))
    {
        _ if !has_crun => "n/a (crun not installed)".to_string(),
        Some((s, inner)) => {
            let errs = inner.map_or(s.fails as u64, |i| i.0);
            let ok = errs == 0 && s.x_crun.is_some_and(|x| x <= TARGET_RATIO);
            format!(
                "{} ({} errors, {})",
                if ok { "met" } else { "MISSED" },
                errs,
                ratio(s.x_crun)
            )
        }
        None => "n/a".into(),
    };
    let _ = writeln!(
        o,
        "  {:<46} {line}",
        "32 concurrent: no error, <= 0.5x crun"
    );
    let stub = match foot.stub_stripped {
        Some(sz) => format!(
            "{} ({sz} bytes)",
            if sz <= 32 * 1024 && foot.stub_check.is_ok() {
                "met"
            } else {
                "MISSED"
            }
        ),
        None => "n/a".into(),
    };
    let _ = writeln!(
        o,
        "  {:<46} {stub}",
        "stub <= 32 KiB stripped, static, no allocator"
    );
    let line = match foot
        .created
        .iter()
        .find(|(n, _)| *n == "sprout")
        .map(|(_, r)| r)
    {
        Some(Ok(m)) => format!(
            "{} (VmRSS {} KiB, Pss {} KiB)",
            if m.rss <= 64 { "met" } else { "MISSED" },
            m.rss,
            m.pss
        ),
        Some(Err(e)) => e.clone(),
        None => "n/a".into(),
    };
    let _ = writeln!(o, "  {:<46} {line}", "stub <= 64 KiB resident in `created`");
    let line = match foot
        .controller
        .iter()
        .find(|(n, _)| *n == "sprout")
        .map(|(_, r)| r)
    {
        Some(Ok((m, _))) => format!(
            "{} (VmHWM {})",
            if m.hwm <= 2048 { "met" } else { "MISSED" },
            kib(m.hwm)
        ),
        Some(Err(e)) => e.clone(),
        None => "n/a".into(),
    };
    let _ = writeln!(o, "  {:<46} {line}", "controller peak RSS <= 2 MiB");
    let sc = |n: &str| {
        foot.syscalls
            .iter()
            .find(|(x, _)| *x == n)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(|s| s.calls)
    };
    let line = match (sc("sprout"), sc("crun")) {
        (Some(s), Some(c)) => format!(
            "{} ({s} vs crun {c}: {:.2}x)",
            if s * 2 <= c { "met" } else { "MISSED" },
            s as f64 / c as f64
        ),
        (Some(s), None) => format!("n/a ({s} calls; no crun to compare)"),
        _ => "n/a".into(),
    };
    let _ = writeln!(o, "  {:<46} {line}", "syscalls per `run` <= half of crun's");
    o
}

fn verdict(x: Option<f64>, ok: impl Fn(f64) -> bool, show: impl Fn(f64) -> String) -> String {
    match x.filter(|x| x.is_finite()) {
        Some(x) => format!("{} ({})", if ok(x) { "met" } else { "MISSED" }, show(x)),
        None => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.25), 2.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn words_are_quoted_for_hyperfine() {
        assert_eq!(
            sh_words(&["/a/b.sh", "x y", "it's", ""]),
            r#"/a/b.sh 'x y' 'it'\''s' ''"#
        );
    }

    #[test]
    fn ratios_are_per_round() {
        let s = |m: f64| Sample {
            median: m,
            times: vec![m],
            cpu: 0.0,
            fails: 0,
        };
        let mut t = TestRes::empty("run", Vec::new());
        t.order = vec!["sprout".into(), "crun".into(), "floor".into()];
        t.samples
            .insert("sprout".into(), vec![s(2.0), s(4.0), s(3.0)]);
        t.samples
            .insert("crun".into(), vec![s(8.0), s(8.0), s(12.0)]);
        t.samples
            .insert("floor".into(), vec![s(1.0), s(2.0), s(2.0)]);
        let r = row_stats(&t, "sprout").unwrap();
        assert_eq!(r.med, 3.0);
        assert_eq!(r.x_crun, Some(0.25));
        assert_eq!(r.x_floor, Some(2.0));
        assert!(row_stats(&t, "crun").unwrap().x_crun.is_none());
    }
}
