//! A stand-in for a wrong `$SPROUT_INIT` in the system tests: reads the
//! pipe on fd 3 (where sprout-init finds its plan) to end of file, then
//! exits 0 without executing anything.

#![forbid(unsafe_code)]

use std::io::Read;

fn main() {
    // Reopened by path: the same pipe, without taking over a raw fd.
    let mut buf = Vec::new();
    if let Ok(mut plan) = std::fs::File::open("/proc/self/fd/3") {
        let _ = plan.read_to_end(&mut buf);
    }
}
