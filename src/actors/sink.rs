//! The sink: owns the process's one transactional producer (KIP-447), produces every output of
//! the partition actors into the open transaction, and commits it with the consumed offsets every
//! commit interval — so outputs, dead letters and offsets become visible together or not at all.
//!
//! It runs on its own arbiter (thread) because librdkafka's transaction calls block. The producer
//! is a `BaseProducer` served by this thread alone, and the sink waits for outstanding deliveries
//! itself before committing: rdkafka's `commit_transaction` flushes first, and that flush polls in
//! 100 ms slices that always run to their end, so every commit took at least 100 ms (measured;
//! it capped throughput and set the latency floor).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer, PurgeConfig};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::TopicNames;
use crate::domain::{RecordErrorKind, Status};
use crate::health::Health;
use crate::kafka::backoff::{BROKER_OUTAGE_LIMIT, Backoff};
use crate::kafka::consumer::GroupConsumer;
use crate::kafka::records::{Destination, OutputRecord, Source};
use crate::telemetry::Metrics;

/// How long one transactional call may block before it counts as failed.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A producer failing fatally this often is not the victim of an outage: most likely another
/// live instance uses the same transactional id. The tracker exits then rather than fence that
/// instance back and forth. (One fencing can take more than one replacement: a producer that
/// fences ours while our transaction is open bumps the epoch twice, once to abort it.)
const MAX_REPLACEMENTS: usize = 3;
const REPLACEMENT_WINDOW: Duration = Duration::from_secs(300);

/// Outputs of one processed batch of a partition, and the input offsets they account for.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SinkBatch {
    pub partition: i32,
    pub outputs: Vec<OutputRecord>,
    /// Changed state entries of the partition: `(message id, encoded entry or None when purged)`.
    pub changelog: Vec<(String, Option<Vec<u8>>)>,
    /// Next offset to consume per [`Source`] index, if the batch had records of that source.
    pub next_offsets: [Option<i64>; 2],
    /// `sent-messages` timestamps of the messages whose status is in `outputs`, for latency.
    pub completions: Vec<i64>,
}

/// Commit the open transaction now (before partitions are given up, or at shutdown).
#[derive(Message)]
#[rtype(result = "Result<(), SinkError>")]
pub struct Commit;

/// The pipeline has rewound to the committed offsets and restored state: accept batches again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resume;

/// Why the sink could not commit. `Aborted` is repaired in place by rewinding the pipeline, and
/// so is `Fatal` once the producer has been replaced; the others end the process (the broker
/// aborts what was open; a restart resumes from the commit).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("transaction failed and was aborted: {0}")]
    Aborted(KafkaError),
    #[error("producer is fatally failed (e.g. fenced by a newer instance with the same transactional id): {0}")]
    Fatal(KafkaError),
    #[error("consumer has no group metadata (not a group member)")]
    NoGroupMetadata,
    #[error("the sink actor has stopped")]
    Stopped,
}

/// What the open transaction holds.
#[derive(Default)]
struct OpenTransaction {
    offsets: HashMap<(Source, i32), i64>,
    /// Latest encoded entry per changed key; produced at commit, so each key is written once.
    changelog: HashMap<(i32, String), Option<Vec<u8>>>,
    statuses: HashMap<Status, u64>,
    completions: Vec<i64>,
    dead_letters: HashMap<RecordErrorKind, u64>,
}

/// What the sink shares with the rest of the pipeline.
pub struct SinkContext {
    pub topics: Arc<TopicNames>,
    /// Settings of the transactional producer, to replace it after a fatal error.
    pub producer_config: ClientConfig,
    pub changelog_topic: String,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// Set after an abort until [`Resume`]: batches computed from state that included the
    /// aborted transaction are dropped; their input is consumed again after the rewind.
    pub rewind: Arc<AtomicBool>,
    pub commit_interval: Duration,
    /// Test-only fault injection: abort every Nth transaction instead of committing it.
    pub fault_abort_every: Option<u64>,
}

pub struct Sink {
    producer: BaseProducer<DefaultProducerContext>,
    consumer: Arc<GroupConsumer>,
    shared: SinkContext,
    open: Option<OpenTransaction>,
    /// Transactions ended so far (for fault injection).
    ended: u64,
    /// When the producer was replaced, within the last [`REPLACEMENT_WINDOW`].
    replacements: VecDeque<Instant>,
}

impl Sink {
    pub fn new(
        producer: BaseProducer<DefaultProducerContext>,
        consumer: Arc<GroupConsumer>,
        shared: SinkContext,
    ) -> Self {
        Self { producer, consumer, shared, open: None, ended: 0, replacements: VecDeque::new() }
    }

    fn rewinding(&self) -> bool {
        self.shared.rewind.load(Ordering::Acquire)
    }

    /// Handles a failed transaction: rewind on abort, and after a fatal error once the producer
    /// is replaced; anything else ends the process.
    fn on_error(&mut self, error: SinkError) {
        match self.recover(error) {
            SinkError::Aborted(cause) => {
                tracing::warn!(error = %cause, "Transaction aborted; rewinding to the last committed offsets");
                self.shared.rewind.store(true, Ordering::Release);
            }
            other => crate::app::fail(&other.to_string()),
        }
    }

    /// Turns a fatal producer error into an abort by replacing the producer, if it can.
    fn recover(&mut self, error: SinkError) -> SinkError {
        let SinkError::Fatal(cause) = error else { return error };
        match self.replace_producer(&cause) {
            Ok(()) => SinkError::Aborted(cause),
            Err(reason) => {
                tracing::error!(%reason, "Cannot replace the failed producer");
                SinkError::Fatal(cause)
            }
        }
    }

    /// Replaces a fatally failed producer with a new one under the same transactional id, as a
    /// restart of the process would, but keeping the partitions: `init_transactions` bumps the
    /// epoch, which aborts whatever the old producer left open, and the pipeline then rewinds to
    /// the committed offsets. The usual cause is a broker outage longer than
    /// `transaction.timeout.ms`: the coordinator aborts the open transaction itself when it comes
    /// back and fences the producer's epoch.
    fn replace_producer(&mut self, cause: &KafkaError) -> Result<(), String> {
        self.replacements.retain(|at| at.elapsed() < REPLACEMENT_WINDOW);
        if self.replacements.len() >= MAX_REPLACEMENTS {
            return Err(format!(
                "the producer was already replaced {MAX_REPLACEMENTS} times in {REPLACEMENT_WINDOW:?}"
            ));
        }
        tracing::warn!(error = %cause, "Producer failed fatally; replacing it (same transactional id)");
        self.open = None;
        let producer: BaseProducer<DefaultProducerContext> =
            self.shared.producer_config.create().map_err(|e| format!("cannot create a producer: {e}"))?;
        self.retrying("init transactions", || producer.init_transactions(TRANSACTION_TIMEOUT))
            .map_err(|e| format!("cannot initialise transactions: {e}"))?;
        // Dropping the old producer purges what it still held; none of it was committed.
        self.producer = producer;
        self.replacements.push_back(Instant::now());
        self.shared.metrics.producer_replacements.inc();
        tracing::info!("Producer replaced; rewinding to the last committed offsets");
        Ok(())
    }

    fn produce(&mut self, batch: SinkBatch) -> Result<(), SinkError> {
        if self.open.is_none() {
            self.producer.begin_transaction().map_err(classify)?;
            self.open = Some(OpenTransaction::default());
        }
        for output in &batch.outputs {
            self.send(output)?;
        }
        // Serve delivery reports and client events; nothing else polls this producer.
        self.producer.poll(Duration::ZERO);
        let open = self.open.as_mut().expect("opened above");
        for output in batch.outputs {
            match output.destination {
                Destination::Status(status) => *open.statuses.entry(status).or_default() += 1,
                Destination::DeadLetter(kind) => *open.dead_letters.entry(kind).or_default() += 1,
                Destination::Changelog => {}
            }
        }
        for source in Source::ALL {
            if let Some(next) = batch.next_offsets[source.index()] {
                open.offsets.insert((source, batch.partition), next);
            }
        }
        for (id, entry) in batch.changelog {
            open.changelog.insert((batch.partition, id), entry);
        }
        open.completions.extend(batch.completions);
        Ok(())
    }

    fn send_changelog(&mut self, changelog: HashMap<(i32, String), Option<Vec<u8>>>) -> Result<(), SinkError> {
        for ((partition, id), entry) in changelog {
            let record = OutputRecord {
                destination: Destination::Changelog,
                partition,
                key: Some(id.into_bytes()),
                value: entry,
                headers: Vec::new(),
                sent_at_ms: None,
            };
            self.send(&record)?;
        }
        Ok(())
    }

    fn send(&mut self, output: &OutputRecord) -> Result<(), SinkError> {
        let topic = match output.destination {
            Destination::Status(_) => &self.shared.topics.status,
            Destination::DeadLetter(_) => &self.shared.topics.dead_letter,
            Destination::Changelog => &self.shared.changelog_topic,
        };
        let mut headers = OwnedHeaders::new_with_capacity(output.headers.len());
        for (key, value) in &output.headers {
            headers = headers.insert(Header { key, value: Some(value) });
        }
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).partition(output.partition).headers(headers);
        if let Some(key) = &output.key {
            record = record.key(key);
        }
        if let Some(value) = &output.value {
            record = record.payload(value);
        }
        let mut full_since: Option<Instant> = None;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    // librdkafka's queue is full: serve deliveries until it drains (backpressure).
                    // Records that cannot be delivered time out and drain it too, so a queue that
                    // stays full means the producer is stuck: abort and rewind rather than wait
                    // forever without a word.
                    let since = *full_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= TRANSACTION_TIMEOUT {
                        tracing::warn!(waited = ?since.elapsed(), "Producer queue stayed full; aborting");
                        return Err(self.abort(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)));
                    }
                    record = returned;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => return Err(self.abort(error)),
            }
        }
    }

    /// Commits the open transaction with the consumed offsets, if there is one.
    fn commit(&mut self) -> Result<(), SinkError> {
        let Some(mut open) = self.open.take() else {
            return Ok(());
        };
        self.ended += 1;
        let started = Instant::now();
        self.send_changelog(std::mem::take(&mut open.changelog))?;
        let mut offsets = TopicPartitionList::with_capacity(open.offsets.len());
        for ((source, partition), next) in &open.offsets {
            offsets
                .add_partition_offset(self.shared.topics.input(*source), *partition, Offset::Offset(*next))
                .map_err(|e| self.abort(e))?;
        }
        let producer = &self.producer;
        // A transaction of sweeps alone (expiries, orphans, purges) consumed nothing.
        if offsets.count() > 0 {
            let Some(group) = self.consumer.group_metadata() else {
                let _ = self.abort(KafkaError::MessageProduction(RDKafkaErrorCode::Fail));
                return Err(SinkError::NoGroupMetadata);
            };
            let sent = self.retrying("send offsets", || {
                producer.send_offsets_to_transaction(&offsets, &group, TRANSACTION_TIMEOUT)
            });
            if let Err(error) = sent {
                return Err(self.abort(error));
            }
        }
        if self.shared.fault_abort_every.is_some_and(|n| n > 0 && self.ended.is_multiple_of(n)) {
            // At the last moment: outputs delivered and offsets sent, only the commit missing.
            tracing::warn!("Fault injection: aborting this transaction instead of committing it");
            return Err(self.abort(KafkaError::MessageProduction(RDKafkaErrorCode::Fail)));
        }
        if let Err(error) = self.await_deliveries() {
            return Err(self.abort(error));
        }
        if let Err(error) = self.retrying("commit", || producer.commit_transaction(TRANSACTION_TIMEOUT)) {
            return Err(self.abort(error));
        }
        let took = started.elapsed();
        self.shared.metrics.transaction_commit_seconds.observe(took.as_secs_f64());
        tracing::debug!(?took, statuses = open.statuses.values().sum::<u64>(), "Transaction committed");
        self.shared.metrics.transactions_committed.inc();
        for (status, n) in open.statuses {
            self.shared.metrics.status(status).inc_by(n);
        }
        for (kind, n) in open.dead_letters {
            self.shared.metrics.dead_letter(kind).inc_by(n);
        }
        let committed_at =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        for sent_at in open.completions {
            self.shared.metrics.completion_latency_seconds.observe((committed_at - sent_at).max(0) as f64 / 1000.0);
        }
        Ok(())
    }

    fn await_deliveries(&self) -> KafkaResult<()> {
        crate::kafka::delivery::await_deliveries(&self.producer, TRANSACTION_TIMEOUT)
    }

    /// Aborts the open transaction after `error`, unless the producer is fatally failed.
    fn abort(&mut self, error: KafkaError) -> SinkError {
        self.open = None;
        if let SinkError::Fatal(e) = classify(error.clone()) {
            return SinkError::Fatal(e);
        }
        self.shared.metrics.transactions_aborted.inc();
        // abort_transaction waits until no delivery is outstanding, and only this thread serves
        // delivery reports: drop what is still queued and serve the rest first, or the abort
        // would wait for itself (seen when the broker went away mid-transaction).
        self.producer.purge(PurgeConfig::default().queue());
        if let Err(error) = self.await_deliveries() {
            tracing::warn!(%error, "Outstanding deliveries before the abort did not finish");
        }
        let producer = &self.producer;
        if let Err(abort_error) = self.retrying("abort", || producer.abort_transaction(TRANSACTION_TIMEOUT)) {
            return SinkError::Fatal(abort_error);
        }
        SinkError::Aborted(error)
    }

    /// Runs a transactional call again while librdkafka calls its error retriable (typically the
    /// broker being briefly unavailable), with exponential backoff, for up to
    /// [`BROKER_OUTAGE_LIMIT`]; `/readyz` reports the outage meanwhile. The transaction stays
    /// open, so nothing is lost or doubled by waiting.
    fn retrying(&self, call: &str, mut attempt: impl FnMut() -> KafkaResult<()>) -> KafkaResult<()> {
        let mut backoff = Backoff::new(BROKER_OUTAGE_LIMIT);
        loop {
            let result = attempt();
            let retry_in = match &result {
                Err(KafkaError::Transaction(error)) if error.is_retriable() => backoff.next_delay(),
                _ => None,
            };
            let Some(delay) = retry_in else {
                self.shared.health.set_broker_unavailable(false);
                return result;
            };
            if let Err(error) = &result {
                tracing::warn!(call, %error, retry_in = ?delay, "Transactional call failed; retrying");
            }
            self.shared.health.set_broker_unavailable(true);
            std::thread::sleep(delay);
        }
    }
}

fn classify(error: KafkaError) -> SinkError {
    match &error {
        KafkaError::Transaction(e) if e.is_fatal() => SinkError::Fatal(error),
        _ => SinkError::Aborted(error),
    }
}

impl Actor for Sink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.shared.commit_interval, |sink, _ctx| {
            sink.producer.poll(Duration::ZERO);
            if let Err(error) = sink.commit() {
                sink.on_error(error);
            }
        });
    }
}

impl Handler<SinkBatch> for Sink {
    type Result = ();

    fn handle(&mut self, batch: SinkBatch, _ctx: &mut Self::Context) {
        if self.rewinding() {
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
        if self.rewinding() {
            return Ok(());
        }
        self.commit().map_err(|error| self.recover(error))
    }
}

impl Handler<Resume> for Sink {
    type Result = ();

    fn handle(&mut self, _: Resume, _ctx: &mut Self::Context) {
        self.shared.rewind.store(false, Ordering::Release);
    }
}
