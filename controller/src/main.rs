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

mod caps;
#[allow(dead_code)]
mod cgroups;
mod cli;
mod config;
mod console;
mod env;
mod error;
mod exec;
mod failure;
mod imageplan;
mod launch;
mod mounts;
mod plan;
mod rlimit;
mod seccomp;
mod spec;
#[allow(dead_code)]
mod state;
#[allow(unsafe_code)]
mod sys;
mod timing;
mod user;

use std::io::Write;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let code = match cli::run(&cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = e.to_string();
            eprintln!("sprout: {msg}");
            if let Some(log) = &cli.log {
                cli::log_error(log, cli.log_format, &msg);
            }
            1
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}
