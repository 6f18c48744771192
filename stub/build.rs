//! Link the `sprout-init` binary as a static, non-PIE executable with our
//! own `_start` (stub-build.md §2: `-nostartfiles -static -no-pie`; `-no-pie`
//! also guards against a global `+crt-static` making a broken static-pie).
//! `rustc-link-arg-bins` keeps these flags away from the tests and the
//! other workspace crates.
fn main() {
    for arg in [
        "-nostartfiles",
        "-static",
        "-no-pie",
        "-Wl,--no-eh-frame-hdr",
        "-Wl,-z,norelro",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    let script =
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("stub.ld");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=stub.ld");
}
