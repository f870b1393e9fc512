//! The transactional producer protocol (KIP-447): records produced into an open transaction, the
//! consumed offsets sent to it with the group's metadata, then one commit — so outputs, changelog
//! writes and offsets become visible together or not at all.
//!
//! [`Transactions`] is what the pipeline's sink drives; [`TransactionalProducer`] implements it
//! over librdkafka. Every failing call leaves the producer without an open transaction: it either
//! aborted it ([`TransactionError::Aborted`]: repair by rewinding to the committed offsets) or
//! the producer is unusable ([`TransactionError::Fatal`]: replace it, or end the process).
//!
//! The producer is a `BaseProducer` served by the calling thread alone, which waits for
//! outstanding deliveries itself before committing: rdkafka's `commit_transaction` flushes
//! first, and that flush polls in 100 ms slices that always run to their end, so every commit
//! took at least 100 ms (docs/BENCHMARKS.md).

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, PurgeConfig};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::authorization::{MissingPermission, Operation, Resource};
use super::backoff::{BROKER_OUTAGE_LIMIT, Backoff};
use super::delivery::RefusedTopics;
use super::group::ConsumerGroup;
use super::records::OutputRecord;
use crate::health::Health;
use crate::telemetry::Metrics;

/// How long one transactional call may block before it counts as failed.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `send_offsets_to_transaction` may block before the producer is taken to be stuck.
const SEND_OFFSETS_STUCK_AFTER: Duration = Duration::from_secs(45);

/// How long a fenced producer's replacement waits before it takes the transactional id back.
/// Whoever fenced it may still be initialising: its init waits while the coordinator aborts our
/// open transaction, and librdkafka retries it only every 500 ms. Taken back at once, the id goes
/// to us again, our next transaction is aborted by that retry, and so on (seen in
/// tests/recovery.rs once restores took 0.1 s instead of 0.6 s): waiting out one retry first
/// lets the other init finish, and ours then fences it for good.
const REPLACEMENT_PAUSE: Duration = Duration::from_secs(1);

/// Why a transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub enum TransactionError {
    #[error("transaction failed and was aborted: {0}")]
    Aborted(KafkaError),
    #[error("producer is fatally failed (e.g. fenced by a newer instance with the same transactional id): {0}")]
    Fatal(KafkaError),
    #[error("consumer has no group metadata (not a group member); the transaction was aborted")]
    NoGroupMetadata,
    /// Kafka refused the producer a permission: no retry or replacement can repair that.
    #[error(transparent)]
    NotAuthorized(MissingPermission),
    #[error("cannot initialise transactions: {0}")]
    Init(KafkaError),
}

/// The next offset to consume of one input partition, committed with the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedOffset {
    pub topic: String,
    pub partition: i32,
    pub next: i64,
}

/// One transaction at a time: `begin`, any number of `send`, `send_offsets`, then `commit`.
pub trait Transactions: Send {
    fn begin(&mut self) -> Result<(), TransactionError>;
    /// Produces `record` to `topic` inside the open transaction.
    fn send(&mut self, topic: &str, record: &OutputRecord) -> Result<(), TransactionError>;
    /// Adds the consumed offsets to the open transaction (nothing to do when empty).
    fn send_offsets(&mut self, offsets: &[ConsumedOffset]) -> Result<(), TransactionError>;
    /// Waits for every record's delivery, then commits.
    fn commit(&mut self) -> Result<(), TransactionError>;
    /// Aborts the open transaction after `cause`.
    fn abort(&mut self, cause: KafkaError) -> TransactionError;
    /// Replaces a fatally failed producer with a new one under the same transactional id, as a
    /// restarted process would: initialising it bumps the epoch, which aborts whatever the old
    /// one left open.
    fn replace(&mut self) -> Result<(), TransactionError>;
    /// Serves delivery reports and client events; nothing else polls the producer.
    fn serve(&mut self);
}

/// [`Transactions`] over librdkafka's transactional producer.
pub struct TransactionalProducer {
    /// Shared only with a call that may never return (see [`Self::send_offsets_bounded`]).
    producer: Arc<BaseProducer<RefusedTopics>>,
    /// Settings to create a replacement with.
    config: ClientConfig,
    /// Topics written in the open transaction: what a refusal may be about.
    written: std::collections::BTreeSet<String>,
    group: Arc<dyn ConsumerGroup>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
}

impl TransactionalProducer {
    /// Creates the producer and initialises transactions; blocks (run it off the actor threads).
    pub fn init(
        config: ClientConfig,
        group: Arc<dyn ConsumerGroup>,
        health: Arc<Health>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, TransactionError> {
        let producer = Arc::new(config.create_with_context(RefusedTopics::default()).map_err(TransactionError::Init)?);
        let written = Default::default();
        let this = Self { producer, config, written, group, health, metrics };
        let initialised = this.retrying("init transactions", || this.producer.init_transactions(TRANSACTION_TIMEOUT));
        match initialised {
            Ok(()) => Ok(this),
            Err(error) => {
                Err(this.refused(&error).map_or(TransactionError::Init(error), TransactionError::NotAuthorized))
            }
        }
    }

    /// The permission `error` says the producer lacks, if it is an authorization error. Once
    /// Kafka refused a topic, every transaction fails (each one may write it), whatever error
    /// the failed call itself returned.
    fn refused(&self, error: &KafkaError) -> Option<MissingPermission> {
        let transactional_id = self.config.get("transactional.id").unwrap_or_default().to_owned();
        let refused_topic = self.producer.context().first();
        if let Some(topic) = &refused_topic {
            let code = rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed;
            let cause = format!("Topic authorization failed adding {topic} to the transaction (then: {error})");
            return MissingPermission::of_code(code, &cause, &[Operation::Write], Resource::Topic(topic.clone()));
        }
        let topic = Resource::OneTopicOf(self.written.iter().cloned().collect());
        MissingPermission::of(error, &[Operation::Write], Resource::TransactionalId(transactional_id))
            .or_else(|| MissingPermission::of(error, &[Operation::Write], topic))
            // Only an idempotent producer without a transactional id needs this; kept in case a
            // broker asks for it anyway.
            .or_else(|| MissingPermission::of(error, &[Operation::IdempotentWrite], Resource::Cluster))
    }

    /// librdkafka's `send_offsets_to_transaction` can block far past its timeout while the group
    /// coordinator is away (librdkafka issue 5456, open in 2.14; seen here as a tracker that
    /// stalled for good in tests/broker_restart.rs). So it runs on a thread of its own, and a call
    /// that has not returned in time (`None`) counts as a fatally failed producer: the sink
    /// replaces it, which fences the stuck one, and rewinds. The stuck thread keeps the old
    /// producer alive until librdkafka lets the call return.
    fn send_offsets_bounded(
        &self,
        offsets: &TopicPartitionList,
        group: &Arc<ConsumerGroupMetadata>,
    ) -> Option<KafkaResult<()>> {
        let (sender, receiver) = mpsc::channel();
        let (producer, offsets, group) = (self.producer.clone(), offsets.clone(), group.clone());
        let spawned = std::thread::Builder::new().name("send-offsets".into()).spawn(move || {
            let _ = sender.send(producer.send_offsets_to_transaction(&offsets, &group, TRANSACTION_TIMEOUT));
        });
        if spawned.is_err() {
            return Some(Err(KafkaError::MessageProduction(RDKafkaErrorCode::Fail)));
        }
        receiver.recv_timeout(SEND_OFFSETS_STUCK_AFTER).ok()
    }

    fn await_deliveries(&self) -> KafkaResult<()> {
        super::delivery::await_deliveries(&self.producer, TRANSACTION_TIMEOUT)
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
                self.health.set_broker_unavailable(false);
                return result;
            };
            if let Err(error) = &result {
                tracing::warn!(call, %error, retry_in = ?delay, "Transactional call failed; retrying");
            }
            self.health.set_broker_unavailable(true);
            std::thread::sleep(delay);
        }
    }
}

impl Transactions for TransactionalProducer {
    fn begin(&mut self) -> Result<(), TransactionError> {
        self.written.clear();
        self.producer.begin_transaction().map_err(classify)
    }

    fn send(&mut self, topic: &str, output: &OutputRecord) -> Result<(), TransactionError> {
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
        if let Some(timestamp_ms) = output.timestamp_ms {
            record = record.timestamp(timestamp_ms);
        }
        if !self.written.contains(topic) {
            self.written.insert(topic.to_owned());
        }
        let mut full_since: Option<Instant> = None;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    // librdkafka's queue is full: serve deliveries until it drains (backpressure).
                    // Records that cannot be delivered time out and drain it too, so a queue that
                    // stays full means the producer is stuck: abort rather than wait forever
                    // without a word.
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

    fn send_offsets(&mut self, offsets: &[ConsumedOffset]) -> Result<(), TransactionError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::with_capacity(offsets.len());
        for offset in offsets {
            if let Err(error) = list.add_partition_offset(&offset.topic, offset.partition, Offset::Offset(offset.next))
            {
                return Err(self.abort(error));
            }
        }
        let Some(group) = self.group.group_metadata() else {
            let _ = self.abort(KafkaError::MessageProduction(RDKafkaErrorCode::Fail));
            return Err(TransactionError::NoGroupMetadata);
        };
        let group = Arc::new(group);
        let mut stuck = false;
        let sent = self.retrying("send offsets", || {
            self.send_offsets_bounded(&list, &group).unwrap_or_else(|| {
                stuck = true;
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::OperationTimedOut))
            })
        });
        if stuck {
            tracing::error!(waited = ?SEND_OFFSETS_STUCK_AFTER, "send_offsets_to_transaction did not return; giving the producer up");
            return Err(TransactionError::Fatal(KafkaError::MessageProduction(RDKafkaErrorCode::OperationTimedOut)));
        }
        sent.map_err(|error| self.abort(error))
    }

    fn commit(&mut self) -> Result<(), TransactionError> {
        if let Err(error) = self.await_deliveries() {
            return Err(self.abort(error));
        }
        let producer = &self.producer;
        let committed = self.retrying("commit", || producer.commit_transaction(TRANSACTION_TIMEOUT));
        committed.map_err(|error| self.abort(error))
    }

    /// Does not abort when the producer is fatally failed: it can do nothing any more. A refused
    /// permission is reported as such, after the abort: retrying could never succeed.
    fn abort(&mut self, cause: KafkaError) -> TransactionError {
        if let TransactionError::Fatal(e) = classify(cause.clone()) {
            return self.refused(&e).map_or(TransactionError::Fatal(e), TransactionError::NotAuthorized);
        }
        self.metrics.transactions_aborted.inc();
        // abort_transaction waits until no delivery is outstanding, and only this thread serves
        // delivery reports: drop what is still queued and serve the rest first, or the abort
        // would wait for itself (seen when the broker went away mid-transaction).
        self.producer.purge(PurgeConfig::default().queue());
        if let Err(error) = self.await_deliveries() {
            tracing::warn!(%error, "Outstanding deliveries before the abort did not finish");
        }
        let refused = self.refused(&cause);
        let producer = &self.producer;
        let aborted = self.retrying("abort", || producer.abort_transaction(TRANSACTION_TIMEOUT));
        match (refused, aborted) {
            (Some(missing), _) => TransactionError::NotAuthorized(missing),
            (None, Err(abort_error)) => TransactionError::Fatal(abort_error),
            (None, Ok(())) => TransactionError::Aborted(cause),
        }
    }

    fn replace(&mut self) -> Result<(), TransactionError> {
        std::thread::sleep(REPLACEMENT_PAUSE);
        let producer: BaseProducer<RefusedTopics> =
            self.config.create_with_context(RefusedTopics::default()).map_err(TransactionError::Fatal)?;
        self.retrying("init transactions", || producer.init_transactions(TRANSACTION_TIMEOUT)).map_err(|error| {
            self.refused(&error).map_or(TransactionError::Fatal(error), TransactionError::NotAuthorized)
        })?;
        // Dropping the old producer purges what it still held; none of it was committed.
        self.producer = Arc::new(producer);
        Ok(())
    }

    fn serve(&mut self) {
        self.producer.poll(Duration::ZERO);
    }
}

fn classify(error: KafkaError) -> TransactionError {
    match &error {
        KafkaError::Transaction(e) if e.is_fatal() => TransactionError::Fatal(error),
        _ => TransactionError::Aborted(error),
    }
}
