//! `sms-loadgen`: simulates an SMS gateway and its SMPP suppliers on Kafka, to load and test the
//! tracker with realistic, reproducible traffic (see `--help`).

mod cli;
mod content;
mod generator;
mod holdback;
mod invalid;
mod pacing;
mod producer;
mod receipts;
mod records;
mod run;
mod summary;
mod supplier_ids;
mod topics;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    // Logs go to stderr; stdout carries only the summary, so it can be piped.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sms-loadgen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
