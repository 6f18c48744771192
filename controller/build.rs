//! Build script: the git commit for `sprout --version` (`SPROUT_COMMIT`),
//! when the source is a git checkout with `git` available.
//!
//! It asks git where HEAD and the refs live (`--git-path`, so a linked
//! worktree's own HEAD and the shared refs are found) and watches only
//! files that exist: a watched path that is missing makes cargo rerun the
//! script and rebuild sprout on every build.

use std::path::Path;
use std::process::Command;

/// `git ARGS` in the crate's directory: its trimmed stdout, if it succeeded.
fn git(args: &[&str]) -> Option<String> {
    let o = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (o.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The shipped build (`cargo xtask`, which checks the linker is
    // rust-lld) places the functions the common commands run first:
    // `controller/hot-functions.txt` from `cargo xtask hotlist`.
    println!("cargo:rerun-if-env-changed=SPROUT_LINK_ORDER");
    if let Some(order) = std::env::var_os("SPROUT_LINK_ORDER").filter(|p| Path::new(p).is_file()) {
        let order = order.to_string_lossy();
        println!("cargo:rerun-if-changed={order}");
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={order}");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    if let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=SPROUT_COMMIT={commit}");
    }
    for p in ["HEAD", "refs/heads", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", p])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
