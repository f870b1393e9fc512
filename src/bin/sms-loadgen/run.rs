//! One run: check topics, plan and produce window after window, wait for deliveries, report.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rand::Rng;
use tracing::{error, warn};

use crate::cli::Args;
use crate::generator::{Generator, Settings};
use crate::pacing::Pacer;
use crate::producer::Sender;
use crate::summary::Summary;
use crate::topics::{self, Creation};

/// Exit code of a run stopped by Ctrl-C, as shells report SIGINT.
const INTERRUPTED: u8 = 130;

pub fn run(args: Args) -> Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    if !args.quiet {
        eprintln!("sms-loadgen: seed {seed}");
    }
    let creation = args
        .create_topics
        .then_some(Creation { partitions: args.partitions, replication_factor: args.replication_factor });
    topics::ensure(&args.bootstrap_servers, &[&args.sent_topic, &args.responses_topic], creation)?;
    let mut sender = Sender::new(&args.bootstrap_servers, &args.sent_topic, &args.responses_topic)?;
    let start_epoch_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut generator = Generator::new(Settings {
        seed,
        id_prefix: args.id_prefix.clone(),
        max_parts: args.max_parts,
        duplicate_share: args.duplicate_share,
        retryable_share: args.retryable_share,
        invalid_share: args.invalid_share,
        start_epoch_ms,
    });
    let interrupted = interrupt_flag();
    let started = Instant::now();
    let mut pacer = Pacer::new(args.rate, started);
    let mut progress = Progress::new(args.quiet, started);
    let mut summary = Summary::new(seed);
    let mut remaining = args.messages;
    // On Ctrl-C the current window is still completed, unpaced, so that every message sent has
    // all its parts answered; only then does the run stop.
    while remaining > 0 && !interrupted.load(Ordering::Relaxed) {
        let messages = remaining.min(args.window);
        remaining -= messages;
        for record in generator.window(messages as usize) {
            if let Some(pacer) = pacer.as_mut().filter(|_| !interrupted.load(Ordering::Relaxed)) {
                pacer.wait();
            }
            sender.send(&record)?;
            summary.count(&record);
            progress.tick(sender.enqueued(), sender.delivered());
        }
    }
    let report = sender.finish()?;
    summary.finish(started.elapsed(), report.failed, interrupted.load(Ordering::Relaxed));
    if let Some(first) = &report.first_error {
        error!(failed = report.failed, first_error = %first, "some records were not delivered");
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{summary}").context("writing the summary")?;
    if let Some(path) = &args.summary_json {
        summary.write_json(path)?;
    }
    Ok(match (report.failed, summary.interrupted) {
        (0, false) => ExitCode::SUCCESS,
        (0, true) => ExitCode::from(INTERRUPTED),
        _ => ExitCode::FAILURE,
    })
}

/// Set on Ctrl-C, so the run can stop early yet still complete its window, flush and report.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&flag);
    let spawned = std::thread::Builder::new().name("ctrl-c".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        match runtime {
            Ok(runtime) => {
                if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
                    setter.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => warn!("Ctrl-C will not stop the run gracefully: {e}"),
        }
    });
    if let Err(e) = spawned {
        warn!("Ctrl-C will not stop the run gracefully: {e}");
    }
    flag
}

/// About once a second, a progress line on stderr.
struct Progress {
    quiet: bool,
    started: Instant,
    last: Instant,
    last_enqueued: u64,
}

impl Progress {
    fn new(quiet: bool, now: Instant) -> Self {
        Self { quiet, started: now, last: now, last_enqueued: 0 }
    }

    fn tick(&mut self, enqueued: u64, delivered: u64) {
        if self.quiet {
            return;
        }
        let now = Instant::now();
        let since = now.duration_since(self.last);
        if since < Duration::from_secs(1) {
            return;
        }
        let rate = (enqueued - self.last_enqueued) as f64 / since.as_secs_f64();
        let elapsed = now.duration_since(self.started).as_secs_f64();
        eprintln!("sms-loadgen: {enqueued} records sent, {delivered} delivered, {rate:.0} records/s, {elapsed:.0}s");
        (self.last, self.last_enqueued) = (now, enqueued);
    }
}
