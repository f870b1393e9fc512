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

use super::authorization::{self, MissingPermission, Operation, Resource};
use super::backoff::Backoff;
use super::group::ConsumerGroup;
use super::topics::TopicNames;
use crate::domain::receipt_join::{self, JoinPolicy, JoinState};
use crate::domain::snapshot;
use crate::domain::{InputTopic, PartitionState, Policy};
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
    /// A record that cannot be read back. Skipping it could forget a terminal marker and let a
    /// late record publish a second status, so the partition is not restored at all.
    #[error("changelog {topic} [{partition}] offset {offset} is unreadable: {reason}")]
    Corrupt { topic: String, partition: i32, offset: i64, reason: String },
    #[error(transparent)]
    NotAuthorized(MissingPermission),
}

/// Brings back a partition's state before its input is processed. A trait so that the pipeline
/// can be tested without a broker.
pub trait StateRestore: Send + Sync {
    /// Blocks until the message state of `partition` is restored; errors mean it could not be,
    /// for longer than a broker outage may last.
    fn restore(&self, partition: i32, policy: Policy) -> Result<Restored<PartitionState>, RestoreError>;

    /// The same for the receipt join's table of `partition`.
    fn restore_join(&self, partition: i32, policy: JoinPolicy) -> Result<Restored<JoinState>, RestoreError>;
}

/// Restores from the changelog topics with a read_committed consumer.
pub struct Restorer {
    client: ClientConfig,
    topics: Arc<TopicNames>,
    group: Arc<dyn ConsumerGroup>,
    metrics: Arc<Metrics>,
}

/// A restored state and what it took.
pub struct Restored<S> {
    pub state: S,
    pub records: u64,
    pub elapsed: Duration,
}

impl StateRestore for Restorer {
    fn restore(&self, partition: i32, policy: Policy) -> Result<Restored<PartitionState>, RestoreError> {
        let inputs = InputTopic::MESSAGE_INPUTS.map(|input| self.topics.input(input));
        let new = || PartitionState::new(policy.clone());
        self.retrying(partition, &self.topics.changelog, &inputs, new, |state, key, value| {
            let entry = value.map(snapshot::decode).transpose().map_err(|e| e.to_string())?;
            state.restore(key, entry);
            Ok(())
        })
    }

    fn restore_join(&self, partition: i32, policy: JoinPolicy) -> Result<Restored<JoinState>, RestoreError> {
        let inputs = InputTopic::JOIN_INPUTS.map(|input| self.topics.input(input));
        let new = || JoinState::new(policy);
        self.retrying(partition, &self.topics.join_changelog, &inputs, new, |state, key, value| {
            let entry = value.map(receipt_join::decode).transpose().map_err(|e| e.to_string())?;
            state.restore(key, entry);
            Ok(())
        })
    }
}

impl Restorer {
    /// `client` configures the read_committed reader of the changelogs.
    pub fn new(
        client: ClientConfig,
        topics: Arc<TopicNames>,
        group: Arc<dyn ConsumerGroup>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { client, topics, group, metrics }
    }

    /// Retries with backoff on errors: a just-created changelog may not have a leader yet; the
    /// broker may be briefly away. Each attempt starts from an empty state.
    fn retrying<S>(
        &self,
        partition: i32,
        changelog: &str,
        inputs: &[&str],
        new: impl Fn() -> S,
        apply: impl Fn(&mut S, &str, Option<&[u8]>) -> Result<(), String>,
    ) -> Result<Restored<S>, RestoreError> {
        let mut backoff = Backoff::new(UNDECIDED_TRANSACTION_WAIT);
        loop {
            let started = Instant::now();
            let mut state = new();
            let replayed = self.replay(partition, changelog, inputs, |key, value| apply(&mut state, key, value));
            let error = match replayed {
                Ok(records) => {
                    self.metrics.records_restored.inc_by(records);
                    return Ok(Restored { state, records, elapsed: started.elapsed() });
                }
                // Reading it again gives the same bytes.
                Err(error @ RestoreError::Corrupt { .. }) => {
                    self.metrics.changelog_unreadable_records.inc();
                    return Err(error);
                }
                // Retrying cannot grant a permission.
                Err(RestoreError::Kafka { error, topic, partition }) if authorization::is_denied(&error) => {
                    let resource = Resource::Topic(changelog.to_owned());
                    return Err(match MissingPermission::of(&error, &[Operation::Read], resource) {
                        Some(missing) => RestoreError::NotAuthorized(missing),
                        None => RestoreError::Kafka { error, topic, partition },
                    });
                }
                Err(error) => error,
            };
            let Some(delay) = backoff.next_delay() else { return Err(error) };
            tracing::warn!(partition, changelog, %error, retry_in = ?delay, "Restore failed; retrying");
            std::thread::sleep(delay);
        }
    }

    /// Feeds every record of `changelog`'s `partition` to `apply`; returns how many.
    fn replay(
        &self,
        partition: i32,
        changelog: &str,
        inputs: &[&str],
        mut apply: impl FnMut(&str, Option<&[u8]>) -> Result<(), String>,
    ) -> Result<u64, RestoreError> {
        let kafka = |error| RestoreError::Kafka { topic: changelog.to_owned(), partition, error };
        self.wait_for_stable_offsets(partition, inputs).map_err(kafka)?;
        // Read uncommitted: the high watermark, past any transaction still open. A client of its
        // own per attempt, so that a retry after a leader change starts from fresh metadata.
        let mut uncommitted = self.client.clone();
        let watermarks =
            ClosedInBackground::new(uncommitted.set("isolation.level", "read_uncommitted").create()).map_err(kafka)?;
        let (low, high) = watermarks.get().fetch_watermarks(changelog, partition, REQUEST_TIMEOUT).map_err(kafka)?;
        if high <= low {
            return Ok(0);
        }
        let consumer = ClosedInBackground::new(self.client.create()).map_err(kafka)?;
        let consumer = consumer.get();
        let mut records = 0u64;
        let mut assignment = TopicPartitionList::new();
        // From the low watermark just read, not `Offset::Beginning`: librdkafka resolves a logical
        // offset with a query to the partition's leader, and a client this new does not know the
        // leader yet; it then retries the query only after 500 ms, which was most of a restore.
        assignment.add_partition_offset(changelog, partition, Offset::Offset(low)).map_err(kafka)?;
        consumer.assign(&assignment).map_err(kafka)?;
        // An undecided transaction of a crashed owner holds the reader back until the broker
        // aborts it (transaction.timeout.ms plus the broker's cleanup interval): give up only
        // after this long without progress.
        let mut deadline = Instant::now() + UNDECIDED_TRANSACTION_WAIT;
        loop {
            // Short polls: the log ends with a transaction marker, not a message, so the end is
            // seen only by the position once a poll comes back empty.
            match consumer.poll(Duration::from_millis(10)) {
                Some(Ok(message)) => {
                    records += 1;
                    deadline = Instant::now() + UNDECIDED_TRANSACTION_WAIT;
                    let corrupt = |reason: String| RestoreError::Corrupt {
                        topic: changelog.to_owned(),
                        partition,
                        offset: message.offset(),
                        reason,
                    };
                    match message.key().map(std::str::from_utf8) {
                        Some(Ok(key)) => apply(key, message.payload()).map_err(corrupt)?,
                        _ => return Err(corrupt("the key is missing or not UTF-8".into())),
                    }
                    if message.offset() + 1 >= high {
                        return Ok(records);
                    }
                }
                Some(Err(error)) => return Err(kafka(error)),
                None => {
                    // Control records (transaction markers) end the log without a message: the
                    // position tells when the end was passed.
                    let position = position(consumer, changelog, partition).map_err(kafka)?;
                    if position >= high {
                        return Ok(records);
                    }
                    if Instant::now() >= deadline {
                        return Err(RestoreError::Stalled {
                            topic: changelog.to_owned(),
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

    fn wait_for_stable_offsets(&self, partition: i32, inputs: &[&str]) -> Result<(), KafkaError> {
        let mut list = TopicPartitionList::new();
        for topic in inputs {
            list.add_partition(topic, partition);
        }
        self.group.committed_offsets(list, REQUEST_TIMEOUT).map(|_| ())
    }
}

/// A changelog client whose closing (about 100 ms in librdkafka) runs on a thread of its own: the
/// partition's input waits for its restore, not for its clients to close.
struct ClosedInBackground(Option<BaseConsumer>);

impl ClosedInBackground {
    fn new(created: Result<BaseConsumer, KafkaError>) -> Result<Self, KafkaError> {
        created.map(|consumer| Self(Some(consumer)))
    }

    fn get(&self) -> &BaseConsumer {
        self.0.as_ref().expect("held until dropped")
    }
}

impl Drop for ClosedInBackground {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            // Should the thread not start, the closure is dropped here and the reader with it.
            let _ = std::thread::Builder::new().name("restore-close".into()).spawn(move || drop(consumer));
        }
    }
}

fn position(consumer: &BaseConsumer, topic: &str, partition: i32) -> Result<i64, KafkaError> {
    let position = consumer.position()?;
    Ok(match position.find_partition(topic, partition).map(|e| e.offset()) {
        Some(Offset::Offset(offset)) => offset,
        _ => -1,
    })
}
