//! A parent that reaps only its own child, for the system tests: it is a
//! child subreaper (`PR_SET_CHILD_SUBREAPER`, so orphans of what it runs
//! come to it) and never waits for those orphans, as an application run
//! as a container's pid 1 or a supervisor that waits for its own child
//! only. Runs `argv[1..]`, waits for that child alone and exits with its
//! status (128+N for signal N).

#![forbid(unsafe_code)]

use std::os::unix::process::ExitStatusExt;

fn main() {
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    let mut args = std::env::args_os().skip(1);
    let program = args.next().expect("usage: lazy-reaper PROGRAM [ARGS...]");
    let status = std::process::Command::new(program)
        .args(args)
        .status()
        .expect("spawning the program");
    std::process::exit(
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
    );
}
