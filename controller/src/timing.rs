//! `--debug` per-phase timings: `<phase>: <ms> ms`, one line per phase as
//! the phase ends, through [`crate::error::debug`] (stderr as `sprout:
//! debug: ...`, or the `--log` file).

use std::time::Instant;

/// Measures consecutive phases; prints nothing unless enabled.
pub struct Timer {
    enabled: bool,
    start: Instant,
    last: Instant,
}

impl Timer {
    /// A timer that prints when `enabled` (`--debug`).
    pub fn new(enabled: bool) -> Timer {
        let now = Instant::now();
        Timer {
            enabled,
            start: now,
            last: now,
        }
    }

    /// Ends the current phase, named `phase`, and starts the next one.
    pub fn phase(&mut self, phase: &str) {
        let now = Instant::now();
        if self.enabled {
            let ms = (now - self.last).as_secs_f64() * 1e3;
            crate::error::debug(format_args!("{phase}: {ms:.3} ms"));
        }
        self.last = now;
    }

    /// Prints the total since the timer was made.
    pub fn total(&self, what: &str) {
        if self.enabled {
            let ms = self.start.elapsed().as_secs_f64() * 1e3;
            crate::error::debug(format_args!("{what}: {ms:.3} ms total"));
        }
    }
}
