//! Build script: the git commit for `sprout --version` (`SPROUT_COMMIT`),
//! when the source is a git checkout with `git` available.

fn main() {
    let out = std::process::Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output();
    if let Ok(o) = out
        && o.status.success()
    {
        let commit = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if !commit.is_empty() {
            println!("cargo:rustc-env=SPROUT_COMMIT={commit}");
        }
    }
    for p in ["../.git/HEAD", "../.git/refs/heads", "../.git/packed-refs"] {
        println!("cargo:rerun-if-changed={p}");
    }
}
