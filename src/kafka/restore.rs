//! Restoring a partition's state from its changelog partition, before any input is processed.
//!
//! Order matters: first wait until the group's committed offsets for the partition are stable
//! (no transaction of a previous owner still pending — librdkafka asks the broker for stable
//! offsets under read_committed, KIP-447), then read the changelog up to its *high watermark*
//! with a read_committed reader. A committed transaction's markers are written to each partition
//! asynchronously, after the producer's commit returned: the last stable offset of the changelog
//! may still lag behind a transaction whose offsets are already stable. Reading up to the high
//! watermark makes the reader wait until every transaction appended so far is decided, so the
//! restored state is exactly the state at the committed offsets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::backoff::Backoff;
use super::group::ConsumerGroup;
use crate::domain::snapshot;
use crate::domain::{PartitionState, Policy};
use crate::telemetry::Metrics;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const UNDECIDED_TRANSACTION_WAIT: Duration = Duration::from_secs(180);

/// Why a partition's state could not be restored (after retrying for several minutes).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("reading changelog {topic} [{partition}] failed: {error}")]
    Kafka { topic: String, partition: i32, error: KafkaError },
    #[error(
        "changelog {topic} [{partition}] made no progress for {waited:?} at offset {position} of {high} (a transaction that is never decided?)"
    )]
    Stalled { topic: String, partition: i32, position: i64, high: i64, waited: Duration },
}

/// Brings back a partition's state before its input is processed. A trait so that the pipeline
/// can be tested without a broker.
pub trait StateRestore: Send + Sync {
    /// Blocks until the state of `partition` is restored; errors mean it could not be, for
    /// longer than a broker outage may last.
    fn restore(&self, partition: i32, policy: Policy) -> Result<Restored, RestoreError>;
}

/// Restores from the changelog topic with a read_committed consumer.
pub struct Restorer {
    pub client: ClientConfig,
    pub changelog_topic: String,
    pub input_topics: [String; 2],
    pub group: Arc<dyn ConsumerGroup>,
    pub metrics: Arc<Metrics>,
}

/// A restored partition and what it took.
pub struct Restored {
    pub state: PartitionState,
    pub records: u64,
    pub elapsed: Duration,
}

impl StateRestore for Restorer {
    /// Retries with backoff on errors: a just-created changelog may not have a leader yet; the
    /// broker may be briefly away.
    fn restore(&self, partition: i32, policy: Policy) -> Result<Restored, RestoreError> {
        let mut backoff = Backoff::new(UNDECIDED_TRANSACTION_WAIT);
        loop {
            let error = match self.restore_once(partition, policy.clone()) {
                Ok(restored) => return Ok(restored),
                Err(error) => error,
            };
            let Some(delay) = backoff.next_delay() else { return Err(error) };
            tracing::warn!(partition, %error, retry_in = ?delay, "Restore failed; retrying");
            std::thread::sleep(delay);
        }
    }
}

impl Restorer {
    fn restore_once(&self, partition: i32, policy: Policy) -> Result<Restored, RestoreError> {
        let started = Instant::now();
        let kafka = |error| RestoreError::Kafka { topic: self.changelog_topic.clone(), partition, error };
        self.wait_for_stable_offsets(partition).map_err(kafka)?;
        let consumer: BaseConsumer = self.client.create().map_err(kafka)?;
        let mut uncommitted = self.client.clone();
        let watermarks: BaseConsumer =
            uncommitted.set("isolation.level", "read_uncommitted").create().map_err(kafka)?;
        let (low, high) =
            watermarks.fetch_watermarks(&self.changelog_topic, partition, REQUEST_TIMEOUT).map_err(kafka)?;
        let mut state = PartitionState::new(policy);
        let mut records = 0u64;
        if high > low {
            let mut assignment = TopicPartitionList::new();
            assignment.add_partition_offset(&self.changelog_topic, partition, Offset::Beginning).map_err(kafka)?;
            consumer.assign(&assignment).map_err(kafka)?;
            // An undecided transaction of a crashed owner holds the reader back until the broker
            // aborts it (transaction.timeout.ms plus the broker's cleanup interval): give up only
            // after this long without progress.
            let mut deadline = Instant::now() + UNDECIDED_TRANSACTION_WAIT;
            loop {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(message)) => {
                        records += 1;
                        deadline = Instant::now() + UNDECIDED_TRANSACTION_WAIT;
                        self.apply(&mut state, &message);
                        if message.offset() + 1 >= high {
                            break;
                        }
                    }
                    Some(Err(error)) => return Err(kafka(error)),
                    None => {
                        // Control records (transaction markers) end the log without a message:
                        // the position tells when the end was passed.
                        let position = position(&consumer, &self.changelog_topic, partition).map_err(kafka)?;
                        if position >= high {
                            break;
                        }
                        if Instant::now() >= deadline {
                            return Err(RestoreError::Stalled {
                                topic: self.changelog_topic.clone(),
                                partition,
                                position,
                                high,
                                waited: UNDECIDED_TRANSACTION_WAIT,
                            });
                        }
                    }
                }
            }
        }
        self.metrics.records_restored.inc_by(records);
        Ok(Restored { state, records, elapsed: started.elapsed() })
    }

    fn apply(&self, state: &mut PartitionState, message: &rdkafka::message::BorrowedMessage<'_>) {
        let Some(Ok(id)) = message.key().map(std::str::from_utf8) else {
            tracing::warn!(offset = message.offset(), "Skipping changelog record without a UTF-8 key");
            return;
        };
        match message.payload().map(snapshot::decode) {
            None => state.restore(id, None),
            Some(Ok(entry)) => state.restore(id, Some(entry)),
            Some(Err(error)) => {
                tracing::warn!(offset = message.offset(), %error, "Skipping unreadable changelog record")
            }
        }
    }

    fn wait_for_stable_offsets(&self, partition: i32) -> Result<(), KafkaError> {
        let mut inputs = TopicPartitionList::new();
        for topic in &self.input_topics {
            inputs.add_partition(topic, partition);
        }
        self.group.committed_offsets(inputs, REQUEST_TIMEOUT).map(|_| ())
    }
}

fn position(consumer: &BaseConsumer, topic: &str, partition: i32) -> Result<i64, KafkaError> {
    let position = consumer.position()?;
    Ok(match position.find_partition(topic, partition).map(|e| e.offset()) {
        Some(Offset::Offset(offset)) => offset,
        _ => -1,
    })
}
