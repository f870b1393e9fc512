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
use super::consumer::GroupConsumer;
use crate::domain::snapshot;
use crate::domain::{PartitionState, Policy};
use crate::telemetry::Metrics;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const UNDECIDED_TRANSACTION_WAIT: Duration = Duration::from_secs(180);

/// Everything a partition actor needs to restore its state.
pub struct Restorer {
    pub client: ClientConfig,
    pub changelog_topic: String,
    pub input_topics: [String; 2],
    pub group_consumer: Arc<GroupConsumer>,
    pub metrics: Arc<Metrics>,
}

/// A restored partition and what it took.
pub struct Restored {
    pub state: PartitionState,
    pub records: u64,
    pub elapsed: Duration,
}

impl Restorer {
    /// Blocks until the state of `partition` is restored, retrying with backoff on errors (a
    /// just-created changelog may not have a leader yet; the broker may be briefly away). Errors
    /// mean the broker could not be reached for several minutes.
    pub fn restore(&self, partition: i32, policy: Policy) -> Result<Restored, KafkaError> {
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

    fn restore_once(&self, partition: i32, policy: Policy) -> Result<Restored, KafkaError> {
        let started = Instant::now();
        self.wait_for_stable_offsets(partition)?;
        let consumer: BaseConsumer = self.client.create()?;
        let mut uncommitted = self.client.clone();
        let watermarks: BaseConsumer = uncommitted.set("isolation.level", "read_uncommitted").create()?;
        let (low, high) = watermarks.fetch_watermarks(&self.changelog_topic, partition, REQUEST_TIMEOUT)?;
        let mut state = PartitionState::new(policy);
        let mut records = 0u64;
        if high > low {
            let mut assignment = TopicPartitionList::new();
            assignment.add_partition_offset(&self.changelog_topic, partition, Offset::Beginning)?;
            consumer.assign(&assignment)?;
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
                    Some(Err(error)) => return Err(error),
                    // Control records (transaction markers) end the log without a message: the
                    // position tells when the end was passed.
                    None if position(&consumer, &self.changelog_topic, partition)? >= high => break,
                    None if Instant::now() >= deadline => return Err(KafkaError::PartitionEOF(partition)),
                    None => {}
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
        self.group_consumer.committed_offsets(inputs, REQUEST_TIMEOUT).map(|_| ())
    }
}

fn position(consumer: &BaseConsumer, topic: &str, partition: i32) -> Result<i64, KafkaError> {
    let position = consumer.position()?;
    Ok(match position.find_partition(topic, partition).map(|e| e.offset()) {
        Some(Offset::Offset(offset)) => offset,
        _ => -1,
    })
}
