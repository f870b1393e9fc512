//! One run: check topics, plan and produce window after window, wait for deliveries, report.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use rand::Rng;
use tracing::{error, warn};

use crate::cli::Args;
use crate::content::SUPPLIERS;
use crate::generator::{Generator, Settings};
use crate::holdback::Holdback;
use crate::pacing::Pacer;
use crate::producer::Sender;
use crate::receipts::ReceiptSettings;
use crate::records::PlannedRecord;
use crate::summary::{ID_LISTS_UP_TO, Summary};
use crate::topics::{self, Creation};

/// Exit code of a run stopped by Ctrl-C, as shells report SIGINT.
const INTERRUPTED: u8 = 130;

pub fn run(args: Args) -> Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    if !args.quiet {
        eprintln!("sms-loadgen: seed {seed}");
    }
    let receipts = args.delivery_reports_topic.as_ref().map(|_| receipt_settings(&args));
    if let Some(receipts) = &receipts {
        receipts.validate().map_err(|e| anyhow!(e))?;
    }
    let creation = args
        .create_topics
        .then_some(Creation { partitions: args.partitions, replication_factor: args.replication_factor });
    topics::ensure(&args.base_client(), &[&args.sent_topic, &args.responses_topic], creation)?;
    if let Some(topic) = &args.delivery_reports_topic {
        // Checked on its own: receipts need no co-partitioning with the other inputs.
        topics::ensure(&args.base_client(), &[topic.as_str()], creation)?;
    }
    let sender = Sender::new(args.base_client(), &args.sent_topic, &args.responses_topic)?
        .with_delivery_reports(args.delivery_reports_topic.as_deref());
    sender.wait_for_producer_id();
    let start_epoch_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut summary = Summary::new(seed);
    if args.messages <= ID_LISTS_UP_TO {
        summary.message_ids = Some(Vec::new());
    }
    if let Some(receipts) = &receipts {
        let formats = SUPPLIERS.iter().map(|s| (*s, receipts.id_format(s).as_str())).collect();
        summary = summary.with_receipts(formats, args.messages <= ID_LISTS_UP_TO);
    }
    let mut generator = Generator::new(Settings {
        seed,
        id_prefix: args.id_prefix.clone(),
        max_parts: args.max_parts,
        duplicate_share: args.duplicate_share,
        retryable_share: args.retryable_share,
        invalid_share: args.invalid_share,
        start_epoch_ms,
        receipts,
    });
    let interrupted = interrupt_flag();
    let started = Instant::now();
    let mut output = Output {
        sender,
        summary,
        pacer: Pacer::new(args.rate, started),
        progress: Progress::new(args.quiet, started),
        holdback: Holdback::new(Duration::from_millis(args.receipt_delay_ms)),
        interrupted: Arc::clone(&interrupted),
    };
    let mut remaining = args.messages;
    // On Ctrl-C the current window is still completed, unpaced, so that every message sent has
    // all its parts answered; only then does the run stop.
    while remaining > 0 && !interrupted.load(Ordering::Relaxed) {
        let messages = remaining.min(args.window);
        remaining -= messages;
        for record in generator.window(messages as usize) {
            output.emit(record)?;
        }
        // Each message's receipts are planned with it (tail ones are written by the end at the
        // latest), so its expected outcome holds once its window is out.
        output.summary.expect(generator.take_outcomes());
    }
    // Tail receipts whose window never came, and held-back receipts, also after Ctrl-C: a message
    // that was sent gets all its receipts, or its expected outcome would be wrong.
    for record in generator.take_deferred() {
        output.emit(record)?;
    }
    output.drain()?;
    let Output { sender, mut summary, .. } = output;
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

fn receipt_settings(args: &Args) -> ReceiptSettings {
    ReceiptSettings {
        delivered_share: args.delivered_share,
        undelivered_share: args.undelivered_share,
        enroute_share: args.enroute_share,
        duplicate_share: args.receipt_duplicate_share,
        before_response_share: args.receipt_before_response_share,
        text_share: args.receipt_text_share,
        id_formats: args.supplier_id_format.clone(),
    }
}

/// Where planned records go: paced, held back if they are delayed receipts, counted.
struct Output {
    sender: Sender,
    summary: Summary,
    pacer: Option<Pacer>,
    progress: Progress,
    holdback: Holdback,
    interrupted: Arc<AtomicBool>,
}

impl Output {
    fn emit(&mut self, record: PlannedRecord) -> Result<()> {
        if let Some(record) = self.holdback.hold(record, Instant::now()) {
            self.send(&record)?;
        }
        while let Some(record) = self.holdback.due(Instant::now()) {
            self.send(&record)?;
        }
        Ok(())
    }

    /// Writes the held-back receipts as they fall due, or at once after Ctrl-C.
    fn drain(&mut self) -> Result<()> {
        while let Some(due) = self.holdback.next_due() {
            let now = Instant::now();
            if due > now && !self.interrupted.load(Ordering::Relaxed) {
                std::thread::sleep((due - now).min(Duration::from_millis(100)));
                continue;
            }
            if let Some(record) = self.holdback.due(due) {
                self.send(&record)?;
            }
        }
        Ok(())
    }

    fn send(&mut self, record: &PlannedRecord) -> Result<()> {
        if let Some(pacer) = self.pacer.as_mut().filter(|_| !self.interrupted.load(Ordering::Relaxed)) {
            pacer.wait();
        }
        self.sender.send(record)?;
        self.summary.count(record);
        self.progress.tick(self.sender.enqueued(), self.sender.delivered());
        Ok(())
    }
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
