//! The "variants" table of `cargo xtask bench`: `run` of /bin/true with
//! bundles that differ from the bench's in one way each, timed side by side
//! for every runtime with the method of the main table (hyperfine rounds,
//! the order rotated each round; medians of the round medians, p25-p75 of
//! all runs, the median over rounds of each round's ratio to crun). They
//! show whether sprout's lead holds beyond the bench's own bundle.
//!
//! Every variant's config.json is the bench bundle's (`sprout spec`,
//! `terminal: false`, args `/bin/true`) with `root.path` made absolute (all
//! variants share the bench's read-only busybox rootfs) and one change:
//!
//! - `no-netns`: the `network` entry removed from `linux.namespaces`.
//! - `seccomp`: `linux.seccomp` = podman's default profile converted to OCI
//!   form (see [`super::seccomp`]), or the built-in one where podman's is not
//!   installed (or `SPROUT_BENCH_SECCOMP=builtin`). An extra row times
//!   sprout with `SPROUT_SECCOMP_CACHE=off`, compiling the profile on every
//!   start as crun and runc do (the plain row uses sprout's cache of
//!   compiled programs, filled by the probe run). The rules the conversion
//!   left out are listed, with why, in
//!   `target/bench/variant-seccomp/seccomp-conversion.txt`.
//! - `terminal`: `process.terminal: true`. The harness opens a pty
//!   (`openpty(3)`), keeps both ends open and drains the master; each timed
//!   `run` gets the slave as stdin, stdout and stderr from the same
//!   `/bin/sh` wrapper (which opens it by path, without becoming its
//!   session leader), so every runtime finds a terminal to put in raw mode
//!   and to copy the container's console to, and no `script` start-up is in
//!   the figures.
//! - `userns`: a `user` namespace added, with `uidMappings` and
//!   `gidMappings` 0 -> 100000, 65536 ids (the rootfs stays owned by host
//!   root, seen as nobody inside; /bin/true only needs o+rx).
//!
//! Each runtime is first probed with one run of the variant; one that fails
//! is left out of that variant with its error (printed), and the others are
//! timed. The variants never make the bench fail.

use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{
    Cfg, Hyperfine, Paths, Rows, Rt, TestRes, ms, outcome, p, ratio, row_stats, run_timeout,
    seccomp, sh_words, table,
};
use crate::util::{Context, Result};
use crate::{bail, say};

/// First host id of the `userns` variant's maps.
const USERNS_HOST_ID: u64 = 100_000;
/// Ids the `userns` variant maps.
const USERNS_SIZE: u64 = 65_536;

/// One measured variant.
pub(super) struct Variant {
    /// Short name, the table's first column.
    pub key: &'static str,
    /// What differs from the bench bundle, exactly.
    pub what: String,
    /// The timed rows and the runtimes that could not run it.
    pub res: TestRes,
}

/// The variants table's content.
pub(super) struct Variants {
    pub list: Vec<Variant>,
    /// Where the `seccomp` variant's profile came from.
    pub seccomp: String,
}

/// How a variant's runs get their stdio.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Io {
    /// /dev/null, as in the main table.
    Null,
    /// The harness's pty.
    Tty,
}

// ------------------------------------------------------------------ config edits

/// The bench config with `root.path` absolute (`rootfs`), the base of every variant.
pub(super) fn based_on(bench: &Value, rootfs: &Path) -> Result<Value> {
    let mut c = bench.clone();
    let Some(root) = c.get_mut("root").and_then(Value::as_object_mut) else {
        bail!("bench config.json has no root object");
    };
    root.insert("path".into(), json!(rootfs.display().to_string()));
    Ok(c)
}

fn linux(c: &mut Value) -> Result<&mut serde_json::Map<String, Value>> {
    match c.get_mut("linux").and_then(Value::as_object_mut) {
        Some(l) => Ok(l),
        None => bail!("bench config.json has no linux object"),
    }
}

fn namespaces(c: &mut Value) -> Result<&mut Vec<Value>> {
    match linux(c)?
        .get_mut("namespaces")
        .and_then(Value::as_array_mut)
    {
        Some(n) => Ok(n),
        None => bail!("bench config.json has no linux.namespaces array"),
    }
}

/// `no-netns`: removes `{"type": "network"}` from `linux.namespaces`.
pub(super) fn without_netns(c: &mut Value) -> Result {
    let ns = namespaces(c)?;
    let before = ns.len();
    ns.retain(|n| n.get("type").and_then(Value::as_str) != Some("network"));
    if ns.len() == before {
        bail!("bench config.json: linux.namespaces has no network namespace to remove");
    }
    Ok(())
}

/// `terminal`: `process.terminal: true`.
pub(super) fn with_terminal(c: &mut Value) -> Result {
    let Some(process) = c.get_mut("process").and_then(Value::as_object_mut) else {
        bail!("bench config.json has no process object");
    };
    process.insert("terminal".into(), json!(true));
    Ok(())
}

/// `userns`: a `user` namespace with uid and gid maps 0 -> `host`, `size` ids.
pub(super) fn with_userns(c: &mut Value, host: u64, size: u64) -> Result {
    let ns = namespaces(c)?;
    if ns
        .iter()
        .any(|n| n.get("type").and_then(Value::as_str) == Some("user"))
    {
        bail!("bench config.json: linux.namespaces already has a user namespace");
    }
    ns.push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": host, "size": size}]);
    let l = linux(c)?;
    l.insert("uidMappings".into(), map.clone());
    l.insert("gidMappings".into(), map);
    Ok(())
}

/// `seccomp`: `linux.seccomp` = `profile`.
pub(super) fn with_seccomp(c: &mut Value, profile: Value) -> Result {
    linux(c)?.insert("seccomp".into(), profile);
    Ok(())
}

/// `process.capabilities.bounding` of a config.
pub(super) fn bounding_caps(c: &Value) -> Vec<String> {
    c.pointer("/process/capabilities/bounding")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------------ the pty

/// A pty for the `terminal` variant: the slave's path and an open slave
/// (so that the pty stays up between runs); a thread drains the master
/// until the last slave is closed.
struct Pty {
    path: PathBuf,
    _slave: fs::File,
}

fn open_pty() -> Result<Pty> {
    let (mut master, mut slave) = (-1, -1);
    let mut name = [0 as libc::c_char; 128];
    let ws = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty(3) writes two fds and a NUL-terminated name of at
    // most a few dozen bytes into the buffers we own; termp NULL means
    // default settings.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            name.as_mut_ptr(),
            std::ptr::null(),
            &ws,
        )
    };
    if rc != 0 {
        bail!("openpty: {}", std::io::Error::last_os_error());
    }
    // SAFETY: openpty returned two fresh fds that nothing else owns.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // SAFETY: openpty wrote a NUL-terminated string into `name`.
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    for fd in [&master, &slave] {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl(2) on an fd we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    let mut master = fs::File::from(master);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        while matches!(master.read(&mut buf), Ok(n) if n > 0) {}
    });
    Ok(Pty {
        path: PathBuf::from(path),
        _slave: fs::File::from(slave),
    })
}

// ------------------------------------------------------------------ measuring

/// The command line of one `run` of `bundle` by `rt` through the wrappers.
fn run_cmd(paths: &Paths, rt: &Rt, bundle: &Path, io: Io, env: Option<&str>) -> Vec<String> {
    let mut w = match (io, env) {
        (Io::Tty, _) => vec![paths.w("run1tty.sh")],
        (Io::Null, Some(e)) => vec![paths.w("run1env.sh"), e.to_string()],
        (Io::Null, None) => vec![paths.w("run1.sh")],
    };
    w.extend([p(&rt.bin), p(&rt.root), p(bundle)]);
    w
}

/// One run through the wrapper: `Ok` or the error's last line.
fn probe(paths: &Paths, words: &[String], tty: Option<&Path>) -> std::result::Result<(), String> {
    let err = paths.dir.join("probe-variant.err");
    let _ = fs::remove_file(&err);
    let mut c = Command::new(&words[0]);
    if let Some(t) = tty {
        c.arg(t);
    }
    c.args(&words[1..])
        .env("BENCH_PFX", &paths.pfx)
        .env("BENCH_STDERR", &err);
    let limit = Duration::from_secs(30);
    let r = run_timeout(&mut c, limit);
    outcome(r, &fs::read_to_string(&err).unwrap_or_default(), limit)
}

/// Times every variant for every runtime in `rts` (see the module docs).
pub(super) fn measure(
    cfg: &Cfg,
    rts: &[Rt],
    paths: &Paths,
    hf: &Hyperfine,
    started: Instant,
) -> Variants {
    let cfg_path = paths.bundle.join("config.json");
    let bench = fs::read_to_string(&cfg_path)
        .ctx(format!("reading {}", cfg_path.display()))
        .and_then(|t| {
            serde_json::from_str::<Value>(&t).ctx(format!("parsing {}", cfg_path.display()))
        });
    let (profile, seccomp_how) =
        seccomp::load(bench.as_ref().map(bounding_caps).unwrap_or_default());
    let mut list = Vec::new();
    let variants: [(&'static str, String, Io); 4] = [
        (
            "no-netns",
            "linux.namespaces without `network` (the container shares the host's network)".into(),
            Io::Null,
        ),
        (
            "seccomp",
            format!(
                "linux.seccomp: {} rules, {} syscall names (source below)",
                profile.rules, profile.names
            ),
            Io::Null,
        ),
        (
            "terminal",
            "process.terminal: true; stdin/stdout/stderr on a pty the harness holds (no `script`)"
                .into(),
            Io::Tty,
        ),
        (
            "userns",
            format!("a user namespace, uid/gid maps 0 -> {USERNS_HOST_ID} ({USERNS_SIZE} ids)"),
            Io::Null,
        ),
    ];
    for (key, what, io) in variants {
        let all_na = |why: &str| {
            rts.iter()
                .map(|rt| (rt.name.to_string(), format!("n/a ({why})")))
                .collect::<Rows>()
        };
        let bundle = paths.dir.join(format!("variant-{key}"));
        let made = bench.as_ref().map_err(|e| e.to_string()).and_then(|b| {
            let mut c = based_on(b, &paths.bundle.join("rootfs")).map_err(|e| e.to_string())?;
            match key {
                "no-netns" => without_netns(&mut c),
                "seccomp" => with_seccomp(&mut c, profile.profile.clone()),
                "terminal" => with_terminal(&mut c),
                _ => with_userns(&mut c, USERNS_HOST_ID, USERNS_SIZE),
            }
            .map_err(|e| e.to_string())?;
            fs::create_dir_all(&bundle).map_err(|e| e.to_string())?;
            if key == "seccomp" {
                let mut notes = format!("{seccomp_how}\nrules left out:\n");
                for d in &profile.dropped {
                    notes += &format!("  {d}\n");
                }
                fs::write(bundle.join("seccomp-conversion.txt"), notes)
                    .map_err(|e| e.to_string())?;
            }
            let text = serde_json::to_string_pretty(&c).map_err(|e| e.to_string())? + "\n";
            fs::write(bundle.join("config.json"), text).map_err(|e| e.to_string())
        });
        if let Err(e) = made {
            say!("variant {key}: cannot make its bundle: {e}");
            list.push(Variant {
                key,
                what,
                res: TestRes::empty(key, all_na(&format!("no bundle: {e}"))),
            });
            continue;
        }
        let pty = if io == Io::Tty {
            match open_pty() {
                Ok(p) => Some(p),
                Err(e) => {
                    say!("variant {key}: {e}");
                    list.push(Variant {
                        key,
                        what,
                        res: TestRes::empty(key, all_na(&format!("no pty: {e}"))),
                    });
                    continue;
                }
            }
        } else {
            None
        };
        let tty = pty.as_ref().map(|p| p.path.clone());
        let mut cands: Vec<(String, Vec<String>)> = Vec::new();
        for rt in rts {
            cands.push((rt.name.to_string(), run_cmd(paths, rt, &bundle, io, None)));
            if key == "seccomp" && rt.name == "sprout" {
                cands.push((
                    "sprout, cache off".into(),
                    run_cmd(paths, rt, &bundle, io, Some("SPROUT_SECCOMP_CACHE=off")),
                ));
            }
        }
        let mut rows: Rows = Vec::new();
        let mut notes: Rows = Vec::new();
        for (name, words) in cands {
            match probe(paths, &words, tty.as_deref()) {
                Ok(()) => {
                    let mut w: Vec<&str> = vec![&words[0]];
                    let t = tty.as_ref().map(|t| p(t));
                    if let Some(t) = &t {
                        w.push(t);
                    }
                    w.extend(words[1..].iter().map(String::as_str));
                    rows.push((name, sh_words(&w)));
                }
                Err(e) => {
                    say!("variant {key}: {name} cannot run it, leaving it out: {e}");
                    notes.push((name, format!("n/a (failed: {e})")));
                }
            }
        }
        let res = if rows.is_empty() {
            TestRes::empty(key, notes)
        } else {
            say!(
                "[{:>3.0} s] timing variant {key}: `run` of /bin/true ({} rounds x {} runs)",
                started.elapsed().as_secs_f64(),
                cfg.rounds,
                cfg.runs
            );
            hf.test(key, &rows, cfg.rounds, cfg.runs, cfg.warmup, notes)
        };
        drop(pty);
        list.push(Variant { key, what, res });
    }
    Variants {
        list,
        seccomp: seccomp_how,
    }
}

// ------------------------------------------------------------------ report

/// The variants table, its legend and the seccomp profile's source.
pub(super) fn render(o: &mut String, cfg: &Cfg, v: &Variants) {
    use std::fmt::Write as _;
    let _ = writeln!(
        o,
        "\n-- variants: `run` of /bin/true with other bundles (ms; {} rounds x {} runs, +{} warm-up) --",
        cfg.rounds, cfg.runs, cfg.warmup
    );
    let mut rows = vec![
        [
            "variant",
            "runtime",
            "median",
            "p25-p75",
            "round medians",
            "x crun",
            "cpu",
            "errors",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for var in &v.list {
        for key in &var.res.order {
            let Some(s) = row_stats(&var.res, key) else {
                continue;
            };
            rows.push(vec![
                var.key.to_string(),
                key.clone(),
                ms(s.med * 1e3),
                format!("{}-{}", ms(s.p25 * 1e3), ms(s.p75 * 1e3)),
                format!("{}-{}", ms(s.rmin * 1e3), ms(s.rmax * 1e3)),
                ratio(s.x_crun),
                ms(s.cpu * 1e3),
                format!("{}/{}", s.fails, s.runs),
            ]);
        }
        for (k, why) in &var.res.notes {
            rows.push(vec![var.key.to_string(), k.clone(), why.clone()]);
        }
    }
    table(o, &rows);
    let _ = writeln!(
        o,
        "  each variant = the bench bundle (root.path made absolute) with one change:"
    );
    for var in &v.list {
        let _ = writeln!(o, "    {:<9} {}", var.key, var.what);
    }
    let _ = writeln!(o, "  seccomp profile: {}", v.seccomp);
    let _ = writeln!(
        o,
        "  (the rules left out, with why: target/bench/variant-seccomp/seccomp-conversion.txt)"
    );
    let _ = writeln!(
        o,
        "  sprout, cache off: SPROUT_SECCOMP_CACHE=off, compiling the profile on every start as crun and runc do."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench_config() -> Value {
        json!({
            "process": {
                "terminal": false,
                "args": ["/bin/true"],
                "capabilities": {"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]}
            },
            "root": {"path": "rootfs", "readonly": true},
            "linux": {
                "namespaces": [
                    {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                    {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
                ]
            }
        })
    }

    fn ns_types(c: &Value) -> Vec<String> {
        c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn base_has_an_absolute_root_and_nothing_else_changes() {
        let b = bench_config();
        let c = based_on(&b, Path::new("/x/bundle/rootfs")).unwrap();
        assert_eq!(c["root"]["path"], "/x/bundle/rootfs");
        assert_eq!(c["root"]["readonly"], true);
        let mut back = c.clone();
        back["root"]["path"] = json!("rootfs");
        assert_eq!(back, b);
        assert!(based_on(&json!({}), Path::new("/r")).is_err());
    }

    #[test]
    fn no_netns_removes_only_the_network_namespace() {
        let mut c = bench_config();
        without_netns(&mut c).unwrap();
        assert_eq!(ns_types(&c), ["pid", "ipc", "uts", "mount", "cgroup"]);
        assert!(without_netns(&mut c).is_err(), "nothing left to remove");
    }

    #[test]
    fn terminal_sets_process_terminal() {
        let mut c = bench_config();
        with_terminal(&mut c).unwrap();
        assert_eq!(c["process"]["terminal"], true);
        assert_eq!(c["process"]["args"], json!(["/bin/true"]));
    }

    #[test]
    fn userns_adds_the_namespace_and_both_maps() {
        let mut c = bench_config();
        with_userns(&mut c, 100_000, 65_536).unwrap();
        assert_eq!(ns_types(&c).last().unwrap(), "user");
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        assert_eq!(c["linux"]["uidMappings"], map);
        assert_eq!(c["linux"]["gidMappings"], map);
        assert!(
            with_userns(&mut c, 1, 1).is_err(),
            "a second user namespace"
        );
    }

    #[test]
    fn seccomp_goes_into_linux() {
        let mut c = bench_config();
        let prof = seccomp::builtin().profile;
        with_seccomp(&mut c, prof.clone()).unwrap();
        assert_eq!(c["linux"]["seccomp"], prof);
        assert_eq!(
            bounding_caps(&c),
            ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        );
        assert!(with_seccomp(&mut json!({}), json!({})).is_err());
    }
}
