//! The `sms-tracker` binary: parse configuration and run until SIGTERM or SIGINT.

use clap::Parser;
use sms_tracker::config::Config;
use sms_tracker::faults::Faults;

/// mimalloc instead of glibc's allocator: allocation and free were a quarter of the tracker's CPU
/// profile (many small, short-lived buffers crossing threads); see docs/BENCHMARKS.md and
/// [`sms_tracker::allocator`].
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sms_tracker::cli::main(Config::parse(), Faults::none())
}
