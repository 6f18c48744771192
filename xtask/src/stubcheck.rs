//! Checks on the built `sprout-init` stub: static, allocator-free, small.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::util::{Context, Result, capture, cargo, copy_replace, run, target_dir};
use crate::{bail, say};

/// Largest acceptable stripped stub, in bytes.
pub const MAX_STRIPPED: u64 = 32 * 1024;

/// Symbols (substrings of symbol names) that betray an allocator in the stub.
const ALLOC_SYMBOLS: &[&str] = &[
    "__rust_alloc",
    "__rg_alloc",
    "__rust_no_alloc_shim",
    "malloc",
];

/// Check the stub at `stub` (built with the `stub` profile):
/// ELF type EXEC, no PT_INTERP, no dynamic section, no allocator symbols
/// (checked on an unstripped build of the same profile under
/// `target/stub-syms/`, since the profile strips), and a stripped copy
/// (`target/sprout-init.stripped`) of at most [`MAX_STRIPPED`] bytes.
pub fn check(stub: &Path) -> Result {
    let mut problems = Vec::new();

    let header = capture(Command::new("readelf").arg("-hW").arg(stub))?;
    let ty = header
        .lines()
        .find_map(|l| l.trim().strip_prefix("Type:"))
        .map(str::trim)
        .unwrap_or("?")
        .to_string();
    if !ty.starts_with("EXEC") {
        problems.push(format!(
            "ELF type is `{ty}`, want EXEC (a non-PIE static executable)"
        ));
    }
    let phdrs = capture(Command::new("readelf").arg("-lW").arg(stub))?;
    if phdrs.contains("INTERP") {
        problems.push("has a PT_INTERP program header (dynamically linked)".into());
    }
    let dynamic = capture(Command::new("readelf").arg("-dW").arg(stub))?;
    if dynamic.contains("Dynamic section") {
        problems.push("has a dynamic section".into());
    }

    // The stub profile strips symbols (also through the inherited
    // `profile.release.package.sprout-init` override); build an unstripped
    // twin in its own target dir to look at them.
    let syms_dir = target_dir().join("stub-syms");
    run(cargo()
        .args(["build", "--quiet", "-p", "sprout-init", "--profile", "stub"])
        .args(["--config", "profile.stub.strip=false"])
        .args(["--config", "profile.stub.package.sprout-init.strip=false"])
        .arg("--target-dir")
        .arg(&syms_dir))?;
    let unstripped = syms_dir.join("stub/sprout-init");
    let nm = Command::new("nm")
        .arg(&unstripped)
        .output()
        .ctx("running nm")?;
    let symbols = String::from_utf8_lossy(&nm.stdout);
    let nm_err = String::from_utf8_lossy(&nm.stderr);
    if !nm.status.success() && !nm_err.contains("no symbols") {
        bail!("nm {} failed: {}", unstripped.display(), nm_err.trim());
    }
    if symbols.lines().count() == 0 {
        bail!(
            "{} has no symbols to check for an allocator",
            unstripped.display()
        );
    }
    let found: Vec<&str> = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| ALLOC_SYMBOLS.iter().any(|a| s.contains(a)))
        .collect();
    if !found.is_empty() {
        problems.push(format!("links an allocator: {}", found.join(", ")));
    }

    let stripped = target_dir().join("sprout-init.stripped");
    copy_replace(stub, &stripped)?;
    run(Command::new("strip").arg("--strip-all").arg(&stripped))?;
    let size = fs::metadata(&stripped)?.len();
    let built = fs::metadata(stub)?.len();
    say!(
        "stub {}: {built} bytes; stripped copy {}: {size} bytes (limit {MAX_STRIPPED}); ELF type {ty}",
        stub.display(),
        stripped.display()
    );
    if size > MAX_STRIPPED {
        problems.push(format!("stripped size {size} bytes exceeds {MAX_STRIPPED}"));
    }

    if !problems.is_empty() {
        bail!(
            "stub check failed for {}:\n  - {}",
            stub.display(),
            problems.join("\n  - ")
        );
    }
    say!("stub check passed: static, no allocator symbols, {size} bytes stripped");
    Ok(())
}
