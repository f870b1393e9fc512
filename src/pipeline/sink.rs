//! The sink: collects the partition actors' outputs into the open transaction and commits it with
//! the consumed offsets every commit interval. The protocol itself is [`Transactions`]; this actor
//! decides what goes into a transaction, when it commits, and what a failure means for the
//! pipeline: an abort rewinds it, a fatal producer error replaces the producer (a few times), and
//! anything else is reported as a [`PipelineError`].
//!
//! It runs on its own arbiter (thread) because librdkafka's transaction calls block.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use rdkafka::error::KafkaError;

use super::failure::{Failures, PipelineError};
use super::messages::{Commit, Reset, SinkBatch, SinkError, SourceCommand};
use crate::domain::{InputTopic, RecordErrorKind, Status};
use crate::health::Health;
use crate::kafka::records::{Destination, OutputRecord};
use crate::kafka::topics::TopicNames;
use crate::kafka::transaction::{ConsumedOffset, TransactionError, Transactions};
use crate::telemetry::Metrics;

/// A producer failing fatally this often is not the victim of an outage: most likely another
/// live instance uses the same transactional id. The tracker exits then rather than fence that
/// instance back and forth. (One fencing can take more than one replacement: a producer that
/// fences ours while our transaction is open bumps the epoch twice, once to abort it.)
pub const MAX_REPLACEMENTS: usize = 3;
pub const REPLACEMENT_WINDOW: Duration = Duration::from_secs(300);

/// What the sink shares with the rest of the pipeline.
pub struct SinkContext {
    pub topics: Arc<TopicNames>,
    pub metrics: Arc<Metrics>,
    pub commit_interval: Duration,
    /// Told when consumed input waits in an open transaction and when it commits (the watchdog).
    pub health: Arc<Health>,
    /// Where a rewind is requested after an abort.
    pub source: Sender<SourceCommand>,
    pub failures: Failures,
}

/// What the open transaction holds.
#[derive(Default)]
struct OpenTransaction {
    offsets: HashMap<(InputTopic, i32), i64>,
    /// Latest encoded entry per changelog, partition and key; produced at commit, so each key
    /// is written once.
    changelog: HashMap<(Destination, i32, String), Option<Vec<u8>>>,
    statuses: HashMap<Status, u64>,
    completions: Vec<i64>,
    delivery_completions: Vec<(Status, i64)>,
    unmatched_suppliers: Vec<String>,
    dead_letters: HashMap<RecordErrorKind, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Running,
    /// After an abort, until [`Reset`]: batches computed from state that included the aborted
    /// transaction are dropped; their input is consumed again after the rewind.
    Rewinding,
    /// After a failure reported to `run`: everything is dropped until the process ends.
    Failed,
}

pub struct Sink {
    transactions: Box<dyn Transactions>,
    shared: SinkContext,
    open: Option<OpenTransaction>,
    mode: Mode,
    /// When the producer was replaced, within the last [`REPLACEMENT_WINDOW`].
    replacements: VecDeque<Instant>,
}

impl Sink {
    pub fn new(transactions: Box<dyn Transactions>, shared: SinkContext) -> Self {
        Self { transactions, shared, open: None, mode: Mode::Running, replacements: VecDeque::new() }
    }

    fn produce(&mut self, batch: SinkBatch) -> Result<(), TransactionError> {
        if self.open.is_none() {
            self.transactions.begin()?;
            self.open = Some(OpenTransaction::default());
            self.shared.health.set_uncommitted(true);
        }
        for output in &batch.outputs {
            self.transactions.send(self.shared.topics.output(output.destination), output)?;
        }
        self.transactions.serve();
        let open = self.open.as_mut().expect("opened above");
        for output in &batch.outputs {
            match output.destination {
                Destination::Status(status) => *open.statuses.entry(status).or_default() += 1,
                Destination::DeadLetter(kind) => *open.dead_letters.entry(kind).or_default() += 1,
                _ => {}
            }
        }
        for input in InputTopic::ALL {
            if let Some(next) = batch.next_offsets[input.index()] {
                open.offsets.insert((input, batch.partition), next);
            }
        }
        for (key, entry) in batch.changelog {
            open.changelog.insert((batch.changelog_topic, batch.partition, key), entry);
        }
        open.completions.extend(batch.completions);
        open.delivery_completions.extend(batch.delivery_completions);
        open.unmatched_suppliers.extend(batch.unmatched_suppliers);
        Ok(())
    }

    /// Commits the open transaction with its changelog writes and consumed offsets, if there is one.
    fn commit(&mut self) -> Result<(), TransactionError> {
        let Some(mut open) = self.open.take() else {
            return Ok(());
        };
        let started = Instant::now();
        for ((destination, partition, key), entry) in std::mem::take(&mut open.changelog) {
            let record = OutputRecord {
                destination,
                partition,
                key: Some(key.into_bytes()),
                value: entry,
                headers: Vec::new(),
                sent_at_ms: None,
                timestamp_ms: None,
            };
            self.transactions.send(self.shared.topics.output(destination), &record)?;
        }
        // A transaction of sweeps alone (expiries, orphans, purges) consumed nothing.
        let offsets: Vec<ConsumedOffset> = open
            .offsets
            .iter()
            .map(|((input, partition), next)| ConsumedOffset {
                topic: self.shared.topics.input(*input).to_owned(),
                partition: *partition,
                next: *next,
            })
            .collect();
        self.transactions.send_offsets(&offsets)?;
        self.transactions.commit()?;
        self.shared.health.committed();
        self.record_commit(open, started.elapsed());
        Ok(())
    }

    fn record_commit(&self, open: OpenTransaction, took: Duration) {
        let metrics = &self.shared.metrics;
        metrics.transaction_commit_seconds.observe(took.as_secs_f64());
        tracing::debug!(?took, statuses = open.statuses.values().sum::<u64>(), "Transaction committed");
        metrics.transactions_committed.inc();
        for (status, n) in open.statuses {
            metrics.status(status).inc_by(n);
        }
        for (kind, n) in open.dead_letters {
            metrics.dead_letter(kind).inc_by(n);
        }
        for supplier in &open.unmatched_suppliers {
            metrics.unmatched_receipt(supplier);
        }
        let committed_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let seconds_since = |at_ms: i64| (committed_at - at_ms).max(0) as f64 / 1000.0;
        for sent_at in open.completions {
            metrics.completion_latency_seconds.observe(seconds_since(sent_at));
        }
        for (outcome, sent_status_at) in open.delivery_completions {
            if let Some(histogram) = metrics.delivery_latency(outcome) {
                histogram.observe(seconds_since(sent_status_at));
            }
        }
    }

    /// What a failed transaction means: an abort, or a fatal producer error once the producer is
    /// replaced, is repaired by rewinding; anything else cannot be repaired in place.
    fn recover(&mut self, error: TransactionError) -> SinkError {
        self.discard_open();
        let cause = match error {
            TransactionError::Aborted(cause) => return SinkError::Aborted(cause),
            TransactionError::Fatal(cause) => cause,
            other => return SinkError::Transaction(other),
        };
        self.replacements.retain(|at| at.elapsed() < REPLACEMENT_WINDOW);
        if self.replacements.len() >= MAX_REPLACEMENTS {
            return SinkError::ReplacedTooOften { max: MAX_REPLACEMENTS, window: REPLACEMENT_WINDOW, cause };
        }
        // The usual cause is a broker outage longer than `transaction.timeout.ms`: the coordinator
        // aborts the open transaction itself when it comes back and fences the producer's epoch.
        tracing::warn!(error = %cause, "Producer failed fatally; replacing it (same transactional id)");
        if let Err(error) = self.transactions.replace() {
            return SinkError::Replacement(error);
        }
        self.replacements.push_back(Instant::now());
        self.shared.metrics.producer_replacements.inc();
        SinkError::Aborted(cause)
    }

    /// The open transaction's input will be consumed again (after a rewind) or by another owner.
    fn discard_open(&mut self) {
        self.open = None;
        self.shared.health.set_uncommitted(false);
    }

    /// Rewinds the pipeline after an abort; reports anything worse.
    fn on_error(&mut self, error: TransactionError) {
        match self.recover(error) {
            SinkError::Aborted(cause) => {
                tracing::warn!(error = %cause, "Transaction aborted; rewinding to the last committed offsets");
                self.mode = Mode::Rewinding;
                if self.shared.source.send(SourceCommand::Rewind).is_err() {
                    self.fail(SinkError::Stopped);
                }
            }
            other => self.fail(other),
        }
    }

    fn fail(&mut self, error: SinkError) {
        self.mode = Mode::Failed;
        self.discard_open();
        self.shared.failures.report(PipelineError::Sink(error));
    }
}

impl Actor for Sink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.shared.commit_interval, |sink, _ctx| {
            sink.transactions.serve();
            if sink.mode != Mode::Running {
                return;
            }
            if let Err(error) = sink.commit() {
                sink.on_error(error);
            }
        });
    }
}

impl Handler<SinkBatch> for Sink {
    type Result = ();

    fn handle(&mut self, batch: SinkBatch, _ctx: &mut Self::Context) {
        if self.mode != Mode::Running {
            return;
        }
        if let Err(error) = self.produce(batch) {
            self.on_error(error);
        }
    }
}

impl Handler<Commit> for Sink {
    type Result = Result<(), SinkError>;

    /// An abort here is reported to the caller (a revoke or shutdown), which gives the
    /// partitions up: whoever owns them next resumes from the last commit.
    fn handle(&mut self, _: Commit, _ctx: &mut Self::Context) -> Self::Result {
        match self.mode {
            Mode::Failed => return Err(SinkError::Failed),
            Mode::Rewinding => return Ok(()),
            Mode::Running => {}
        }
        let consumed = self.open.as_ref().is_some_and(|open| !open.offsets.is_empty());
        let error = match self.commit() {
            Ok(()) => {
                if consumed {
                    self.shared.metrics.revoke_commits.inc();
                }
                return Ok(());
            }
            Err(error) => self.recover(error),
        };
        if !matches!(error, SinkError::Aborted(_)) {
            self.mode = Mode::Failed;
        }
        Err(error)
    }
}

impl Handler<Reset> for Sink {
    type Result = ();

    fn handle(&mut self, _: Reset, _ctx: &mut Self::Context) {
        if self.mode == Mode::Failed {
            return;
        }
        self.mode = Mode::Running;
        if self.open.take().is_some() {
            tracing::info!("Aborting the open transaction: the state it was computed from is gone");
            let aborted = self.transactions.abort(KafkaError::Canceled);
            match self.recover(aborted) {
                SinkError::Aborted(_) => {}
                other => self.fail(other),
            }
        }
    }
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
