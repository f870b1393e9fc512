//! The tracker with fault injection, for the tests that need it. Built only with the
//! `fault-injection` cargo feature, never shipped: the release binary and the chart have no
//! fault options.

use clap::Parser;
use sms_tracker::config::Config;
use sms_tracker::faults::Faults;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The tracker's options plus the faults to inject.
#[derive(Debug, Parser)]
#[command(name = "sms-tracker-faults")]
struct Args {
    #[command(flatten)]
    config: Config,
    #[command(flatten)]
    faults: Faults,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    sms_tracker::cli::main(args.config, args.faults)
}
