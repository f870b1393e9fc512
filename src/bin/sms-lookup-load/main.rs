//! `sms-lookup-load`: the load driver of `bench/lookup.sh` (issue 14). It learns the ids of live
//! messages by consuming the run's `sent-messages` topic and sends `GET /v1/messages/{id}` to one
//! tracker's API **open-loop**: request *i* is due at start + i / rate whatever the answers do, and
//! its latency is measured from that due time, so time spent waiting for a free connection (or for
//! the driver itself) counts as latency instead of being hidden. Answers carrying
//! `X-Sms-Tracker-Forwarded-By` were forwarded to the owning instance; the others were answered
//! locally. Writes the results as JSON (`--json`) and prints a table. Bench-only: not part of the
//! tracker.

mod client;
mod ids;
mod report;
mod schedule;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

/// Sends lookups at a fixed rate to a tracker's API for ids read from `sent-messages`.
#[derive(Debug, Clone, Parser)]
#[command(name = "sms-lookup-load", version)]
pub struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "localhost:9092")]
    pub bootstrap_servers: String,
    /// The topic whose record keys are the ids to look up.
    #[arg(long)]
    pub sent_topic: String,
    /// Read the topic from its beginning (a preloaded backlog) instead of from its end.
    #[arg(long)]
    pub from_beginning: bool,
    /// The tracker API to ask, host:port.
    #[arg(long)]
    pub target: String,
    /// File holding the API's bearer token, if it needs one.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Lookups per second (the fixed schedule).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// How long to send, from the first id old enough; SIGTERM or SIGINT ends the run earlier.
    #[arg(long, default_value_t = 60)]
    pub duration_seconds: u64,
    /// Lookups due in the first seconds are sent but left out of the results.
    #[arg(long, default_value_t = 5)]
    pub warmup_seconds: u64,
    /// Only ids seen on the topic at least this long ago are looked up (so most are known).
    #[arg(long, default_value_t = 1000)]
    pub min_age_ms: u64,
    /// Ids are drawn at random from the last this many eligible ones; 0 draws from all seen.
    #[arg(long, default_value_t = 10_000)]
    pub pick_window: usize,
    /// Keep-alive connections opened at the start: a slow answer holds one of them, not the schedule.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub connections: u64,
    /// More are opened while every connection is busy when a lookup is due, up to this many.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_connections: u64,
    /// One lookup's limit (connect, send, whole answer); beyond it the lookup counts as an error.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
    /// How long to wait for the first id before giving up.
    #[arg(long, default_value_t = 60)]
    pub wait_ids_seconds: u64,
    /// Seed of the id choice.
    #[arg(long, default_value_t = 14)]
    pub seed: u64,
    /// Where to write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sms-lookup-load: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?.trim().to_owned(),
        ),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let pool = Arc::new(ids::Pool::new(Duration::from_millis(args.min_age_ms), args.pick_window));
    let consumer = ids::spawn_consumer(args, Arc::clone(&pool), Arc::clone(&stop))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(schedule::run(args, token, Arc::clone(&pool), Arc::clone(&stop)));
    stop.store(true, Ordering::Relaxed);
    let ids_seen = consumer.join().map_err(|_| anyhow::anyhow!("the id consumer panicked"))??;
    let run = result?;
    let summary = report::summarize(args, &run, ids_seen);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    print!("{}", report::table(&summary));
    Ok(())
}
