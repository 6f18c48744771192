//! `sprout`: the controller of the sprout OCI runtime.
//!
//! It reads an OCI bundle, validates it and computes everything ahead of
//! time into a binary plan ([`sprout_protocol::PlanSpec`]), then launches
//! the tiny static stub `sprout-init` inside the new namespaces and talks
//! to it over a sync socket (see the `sprout_protocol` crate docs for the
//! message sequence and the launch contract).
//!
//! Modules: [`cli`] (command line), [`config`] (load + validate the
//! bundle), [`plan`] (compute the plan) with [`user`], [`env`], [`caps`],
//! [`rlimit`], [`mounts`], [`seccomp`]; [`launch`] (clone, memfd, sync
//! loop) with [`console`] and [`failure`] (stub errors in words); [`sys`]
//! is the only module with `unsafe`.
//!
//! Errors are one line on stderr, `sprout: <message>`, naming the config
//! field, and exit code 1; `run` otherwise exits with the container's
//! status (128+N when it died of signal N).
#![deny(unsafe_code)]
// The process starts at `sys::main` (libc calls it), not at std's
// runtime: see there.
#![cfg_attr(not(test), no_main)]

/// The heap of the shipped (musl) build: dlmalloc, shared with the C
/// code's `malloc` (`sys::heap`). musl's own allocator maps and unmaps
/// memory on nearly every allocation (71 system calls for `--version`, 11
/// with dlmalloc).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: sys::heap::Heap = sys::heap::Heap;

mod caps;
#[allow(dead_code)]
mod cgroups;
mod cli;
mod config;
mod console;
mod copyup;
mod dangling;
mod env;
mod error;
mod exec;
mod failure;
mod hooks;
mod imageplan;
mod launch;
mod lifecycle;
mod mounts;
mod plan;
mod procattr;
mod query;
mod rlimit;
mod seccomp;
mod spec;
mod state;
#[allow(unsafe_code)]
mod sys;
mod timing;
mod user;

use std::io::Write;

use clap::Parser;

/// `--log FILE` and `--log-format` from the raw arguments, for errors
/// found before the command line could be parsed.
fn raw_log_flags() -> Option<(std::path::PathBuf, cli::LogFormat)> {
    let args: Vec<String> = sys::args()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let value = |name: &str| {
        args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&format!("{name}="))
                .map(str::to_string)
                .or_else(|| (a == name).then(|| args.get(i + 1).cloned()).flatten())
        })
    };
    let log = value("--log")?;
    let format = if value("--log-format").as_deref() == Some("json") {
        cli::LogFormat::Json
    } else {
        cli::LogFormat::Text
    };
    Some((log.into(), format))
}

/// The controller's `main` (entered from `sys::main`): parses the
/// command line, runs the command, and exits with its code (never
/// returns).
#[cfg_attr(test, allow(dead_code))]
fn sprout_main() -> ! {
    let argv = sys::args();
    cli::narrow_to_invoked(&argv);
    let cli = match cli::Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit()
            }
            // A usage error: one line, exit status 1 (as runc's).
            let msg = cli::usage_error_line(&e.to_string());
            error::stderr_line(&format!("sprout: {msg}"));
            if let Some((log, format)) = raw_log_flags() {
                cli::log_error(&log, format, &msg);
            }
            std::process::exit(1)
        }
    };
    sys::release_free_heap();
    let code = match cli::run(&cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = e.to_string();
            error::stderr_line(&format!("sprout: {msg}"));
            if let Some(log) = &cli.log {
                cli::log_error(log, cli.log_format, &msg);
            }
            1
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}
