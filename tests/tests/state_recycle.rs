//! System tests of the recycled state directories (controller/src/state.rs:
//! `<root>/.creating~` stays, retired state directories are parked in
//! `<root>/.spare~` and reused by later creates, saves swap the two state
//! files): what is left in a root after runs, that a finished container is
//! gone for every command, that a created and deleted id can be created
//! again (its start socket bound anew in a reused directory), that leftovers
//! of killed creates are still cleaned up, and concurrent runs in one root.

mod common;
mod lifecycle_util;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use lifecycle_util::*;
use sprout_systests::serde_json::json;
use sprout_systests::{require_root, unique_id};

/// The entries of `dir`, sorted (none if it is missing).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The spare state directories of `rt`'s root.
fn spares(rt: &Rt) -> Vec<String> {
    names(&rt.root.join(".spare~"))
}

/// Foreground runs one after another: each succeeds, and afterwards the
/// root holds only the bookkeeping, with the one state directory all of
/// them used parked; `list` is empty and `state` of any of them says it
/// does not exist.
#[test]
fn sequential_runs_leave_only_bookkeeping() {
    require_root!();
    let rt = Rt::new("rec-seq");
    let id = unique_id("rec-seq");
    let bundle = sh_bundle(&id, "echo hi", |_| {});
    let ids: Vec<String> = (0..6).map(|i| format!("{id}-{i}")).collect();
    for (i, c) in ids.iter().enumerate() {
        let out = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), c]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout_str(), "hi\n", "{out}");
        assert_eq!(
            names(&rt.root),
            vec![".creating~", ".spare~"],
            "after run {i}"
        );
        assert_eq!(
            spares(&rt).len(),
            1,
            "one directory, recycled: {:?}",
            spares(&rt)
        );
    }
    assert_eq!(root_containers(&rt.root), Vec::<String>::new());
    assert_eq!(rt.ok(&["list", "-q"]), "");
    assert_eq!(rt.ok(&["list", "--format", "json"]).trim(), "[]");
    for c in &ids {
        let out = rt.sprout(&["state", c]);
        assert_eq!(
            out.stderr_str(),
            format!("sprout: container \"{c}\" does not exist\n"),
            "{out}"
        );
        let out = rt.sprout(&["delete", c]);
        assert_eq!(
            out.stderr_str(),
            format!("sprout: container \"{c}\" does not exist\n"),
            "{out}"
        );
        assert!(rt.sprout(&["delete", "--force", c]).success());
    }
    assert!(!rt.root.join(format!("{id}-0")).exists());
}

/// A created, then deleted container's id can be created again: the new
/// container gets the parked directory (same inode), binds its start
/// socket in it and runs; the bookkeeping never shows up as a container.
#[test]
fn created_and_deleted_id_is_reused() {
    require_root!();
    let rt = Rt::new("rec-reuse");
    let id = unique_id("rec-reuse");
    let bundle = sh_bundle(&id, "echo started > /tmp/ready; exec sleep 600", |_| {});
    rt.create_ok(&bundle, &id);
    let first = rt.state(&id);
    assert_eq!(first["status"], "created", "{first}");
    let dir_ino = fs::metadata(rt.dir(&id)).unwrap().ino();
    assert!(rt.dir(&id).join("start.sock").exists());
    rt.ok(&["delete", &id]);
    assert!(!rt.dir(&id).exists());
    assert_eq!(
        spares(&rt),
        vec![dir_ino.to_string()],
        "the directory is parked, under its inode number"
    );
    let parked = names(&rt.root.join(".spare~").join(dir_ino.to_string()));
    assert_eq!(
        parked,
        vec![".state.json.tmp", "state.json"],
        "start.sock removed"
    );
    assert_eq!(rt.ok(&["list", "-q"]), "");

    rt.create_ok(&bundle, &id);
    assert_eq!(
        fs::metadata(rt.dir(&id)).unwrap().ino(),
        dir_ino,
        "the parked directory is reused"
    );
    assert_eq!(spares(&rt), Vec::<String>::new());
    let second = rt.state(&id);
    assert_eq!(second["status"], "created", "{second}");
    assert_ne!(second["pid"], first["pid"], "a new container: {second}");
    assert_eq!(rt.ok(&["list", "-q"]), format!("{id}\n"));
    rt.ok(&["start", &id]);
    wait_file(&bundle.rootfs().join("tmp/ready"), 10);
    assert_eq!(rt.status(&id), "running");
    let out = rt.sprout(&["create", "--bundle", bundle.dir().to_str().unwrap(), &id]);
    assert_eq!(
        out.stderr_str(),
        format!("sprout: container \"{id}\" already exists\n"),
        "{out}"
    );
    assert_eq!(
        rt.status(&id),
        "running",
        "a failed create of the id leaves the running one alone"
    );
    rt.ok(&["delete", "--force", &id]);
    assert_gone(&rt, &bundle, &id, &format!("/sprout/{id}"));
    assert_eq!(root_containers(&rt.root), Vec::<String>::new());
}

/// What killed creates leave is still cleaned up: a half-made state
/// directory (no state file) goes with `delete --force`; a staging
/// directory of a dead process goes with the next create.
#[test]
fn leftovers_of_killed_creates_are_cleaned_up() {
    require_root!();
    let rt = Rt::new("rec-left");
    let id = unique_id("rec-left");
    let bundle = sh_bundle(&id, "exit 0", |_| {});
    // A first run makes the bookkeeping.
    let out = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
    assert!(out.success(), "{out}");
    let half = rt.dir(&format!("{id}-half"));
    fs::create_dir(&half).unwrap();
    let out = rt.sprout(&["delete", "--force", &format!("{id}-half")]);
    assert!(out.success(), "{out}");
    assert!(!half.exists());
    // pid_max is at most 2^22: no process has this id.
    let stale = rt.root.join(".creating~/99999999");
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join("state.json"), "{\"half\":").unwrap();
    let odd = rt.root.join(".creating~/99999998");
    fs::create_dir_all(odd.join("rootfs")).unwrap();
    let out = rt.sprout(&["run", "--bundle", bundle.dir().to_str().unwrap(), &id]);
    assert!(out.success(), "{out}");
    assert!(!stale.exists() && !odd.exists());
    assert_eq!(root_containers(&rt.root), Vec::<String>::new());
    assert_eq!(rt.ok(&["list", "-q"]), "");
}

/// 16 foreground runs at once in one root, twice (the second round takes
/// the spares the first left): every one succeeds, and only the
/// bookkeeping is left, with at most one spare per concurrent run.
#[test]
fn concurrent_runs_in_one_root() {
    require_root!();
    let rt = Rt::new("rec-conc");
    let id = unique_id("rec-conc");
    let bundle = sh_bundle(&id, "exit 3", |_| {});
    for round in 0..2 {
        let ids: Vec<String> = (0..16).map(|i| format!("{id}-{round}-{i}")).collect();
        let outs = run_concurrently(&rt, &bundle, &ids);
        for o in &outs {
            assert_eq!(o.code(), Some(3), "{o}");
            assert_eq!(o.stderr_str(), "", "{o}");
        }
        assert_eq!(
            root_containers(&rt.root),
            Vec::<String>::new(),
            "round {round}"
        );
        let n = spares(&rt).len();
        assert!(
            (1..=16).contains(&n),
            "round {round}: {n} spares: {:?}",
            spares(&rt)
        );
        assert_eq!(rt.ok(&["list", "-q"]), "");
    }
}

/// A `.creating~` and a `.spare~` that are symlinks to directories holding
/// other things: runs, create and delete work, replace them by real
/// directories and leave the targets alone. Before, the first run removed
/// every subdirectory of the `.creating~` target (taken for stale staging
/// directories) and a create took a subdirectory of the `.spare~` target
/// as its state directory, which the delete then removed, contents and all.
#[test]
fn symlinked_bookkeeping_is_not_followed() {
    require_root!();
    let rt = Rt::new("rec-sym");
    let id = unique_id("rec-sym");
    let bundle = sh_bundle(&id, "exec sleep 600", |_| {});
    // On the root's file system: renames into the targets would work.
    let victim = rt.root.with_extension("victim");
    for (d, file) in [
        ("staging/keep/deep", "file"),
        ("staging/empty", ""),
        ("pool/keep/deep", "file"),
        ("pool/empty", ""),
    ] {
        fs::create_dir_all(victim.join(d)).unwrap();
        if !file.is_empty() {
            fs::write(victim.join(d).join(file), "precious").unwrap();
        }
    }
    let listing = || host_sh(&format!("cd {} && find . | sort", victim.display())).stdout_str();
    let before = listing();
    fs::create_dir_all(&rt.root).unwrap();
    std::os::unix::fs::symlink(victim.join("staging"), rt.root.join(".creating~")).unwrap();
    std::os::unix::fs::symlink(victim.join("pool"), rt.root.join(".spare~")).unwrap();
    rt.create_ok(&bundle, &id);
    assert_eq!(rt.status(&id), "created");
    rt.ok(&["delete", &id]);
    rt.create_ok(&bundle, &format!("{id}-2"));
    rt.ok(&["delete", "--force", &format!("{id}-2")]);
    assert_eq!(listing(), before, "the symlinks' targets are untouched");
    for d in [".creating~", ".spare~"] {
        assert!(
            fs::symlink_metadata(rt.root.join(d)).unwrap().is_dir(),
            "{d} is a directory now"
        );
    }
    assert_eq!(root_containers(&rt.root), Vec::<String>::new());
    fs::remove_dir_all(&victim).unwrap();
}

/// `run -d` starts the container it created, never another one: a
/// `delete --force` and a new `create` of its ID while it is between its
/// create and its start (held there with strace: its flock(2) before the
/// one that locks the state file to load it for the start, delayed by a
/// second) wait for it, and the new container is left `created` for its
/// own `start`. Before, `run -d` let go of the lock between create and
/// start (and took it again there), and started the new container (its
/// recycled directory passed the lock's check).
#[test]
fn run_detached_starts_only_its_own_container() {
    require_root!();
    if host_sh("command -v strace").code() != Some(0) {
        eprintln!("SKIPPED: strace is not installed");
        return;
    }
    let rt = Rt::new("rec-rund");
    let id = unique_id("rec-rund");
    let first = sh_bundle(&id, "exec sleep 600", |c| {
        c["annotations"] = json!({"who": "first"})
    });
    let second = sh_bundle(&format!("{id}-2"), "exec sleep 600", |c| {
        c["annotations"] = json!({"who": "second"})
    });
    // A probe: which flock is the one before the last before the start's
    // connect(2). (Not -f: the stub, which stays, is not traced.)
    let probe = format!("{id}-probe");
    let mut c = Command::new("strace");
    c.args(["-e", "trace=flock,connect", "-o", "/dev/stdout"])
        .arg(sprout_systests::sprout_bin());
    c.args(["--root", &rt.root_str(), "run", "-d", "--bundle"])
        .arg(first.dir())
        .arg(&probe);
    let trace = run_files(&mut c);
    assert!(trace.success(), "{trace}");
    rt.ok(&["delete", "--force", &probe]);
    let text = trace.stdout_str();
    let before_connect = text.split("connect(").next().unwrap_or_default();
    let n = before_connect.matches("flock(").count();
    assert!(n >= 2, "{trace}");
    let mut c = Command::new("strace");
    c.args(["-o", "/dev/null", "-e", "trace=flock", "-e"])
        .arg(format!("inject=flock:delay_enter=1000000:when={}", n - 1))
        .arg(sprout_systests::sprout_bin());
    c.args(["--root", &rt.root_str(), "run", "-d", "--bundle"])
        .arg(first.dir())
        .arg(&id);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut run = c.spawn().unwrap();
    assert!(
        wait_for(10, || rt.sprout(&["state", &id]).success()),
        "run -d never created {id}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    rt.ok(&["delete", "--force", &id]);
    rt.create_ok(&second, &id);
    assert!(run.wait().unwrap().success());
    let now = rt.state(&id);
    assert_eq!(now["annotations"]["who"], "second", "{now}");
    assert_eq!(
        now["status"], "created",
        "run -d started the other container: {now}"
    );
    rt.ok(&["start", &id]);
    assert_eq!(rt.status(&id), "running");
}
