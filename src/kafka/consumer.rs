//! The consumer thread: polls both input topics on a dedicated OS thread (librdkafka's poll and
//! rebalance callbacks block), batches records and hands them to the router with bounded
//! in-flight batches, so a slow pipeline slows consumption instead of filling memory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::Addr;
use futures::executor::block_on;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};

use crate::actors::TopicNames;
use crate::actors::router::{Assign, Dispatch, RevokeAll, Router};
use crate::actors::sink::{Resume, Sink, SinkError};
use crate::kafka::backoff::{BROKER_OUTAGE_LIMIT, Backoff};
use crate::kafka::records::{InputRecord, Source};
use crate::telemetry::Metrics;

/// The group consumer of both inputs.
pub type GroupConsumer = BaseConsumer<RebalanceHandler>;

/// How many dispatched batches may be in the pipeline at once.
const MAX_IN_FLIGHT_BATCHES: usize = 3;

/// Reacts to rebalances on the consumer thread, inside `poll`, before librdkafka changes the
/// assignment: on revoke everything processed is committed first; on assign the partition actors
/// exist before the first record of their partition arrives.
pub struct RebalanceHandler {
    router: OnceLock<Addr<Router>>,
    topics: Arc<TopicNames>,
    metrics: Arc<Metrics>,
}

impl RebalanceHandler {
    pub fn new(topics: Arc<TopicNames>, metrics: Arc<Metrics>) -> Self {
        Self { router: OnceLock::new(), topics, metrics }
    }

    /// Connects the handler to the router; called once, before the first poll.
    pub fn set_router(&self, router: Addr<Router>) {
        let _ = self.router.set(router);
    }

    fn router(&self) -> &Addr<Router> {
        self.router.get().expect("router is set before the first poll")
    }
}

impl ClientContext for RebalanceHandler {
    /// Consumer lag per assigned input partition, from librdkafka's statistics. librdkafka's own
    /// `consumer_lag` counts from the consumer's committed offset, which never moves here
    /// (offsets are committed by the producer's transactions), so lag is computed from the
    /// position instead.
    fn stats(&self, statistics: Statistics) {
        let mut lags = Vec::new();
        for topic in [&self.topics.sent, &self.topics.responses] {
            let Some(stats) = statistics.topics.get(topic.as_str()) else { continue };
            for partition in stats.partitions.values().filter(|p| p.partition >= 0 && p.desired) {
                let end = if partition.ls_offset >= 0 { partition.ls_offset } else { partition.hi_offset };
                if end >= 0 && partition.app_offset >= 0 {
                    lags.push((topic.as_str(), partition.partition, (end - partition.app_offset).max(0)));
                }
            }
        }
        self.metrics.set_consumer_lag(&lags);
    }

    /// librdkafka reports every lost connection as an error, though it reconnects by itself.
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "Kafka client error; librdkafka retries on its own");
    }
}

impl ConsumerContext for RebalanceHandler {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = partitions.count(), "Partitions revoked: committing before giving them up");
                revoke_all(self.router());
            }
            Rebalance::Assign(assignment) => {
                self.metrics.rebalances.inc();
                match co_partitioned(assignment, &self.topics) {
                    Ok(partitions) => {
                        tracing::info!(?partitions, "Partitions assigned");
                        if block_on(self.router().send(Assign(partitions))).is_err() {
                            crate::app::fail("router stopped during assignment");
                        }
                    }
                    Err(reason) => crate::app::fail(&reason),
                }
            }
            Rebalance::Error(error) => tracing::error!(%error, "Rebalance failed"),
        }
    }
}

/// Drains, commits and stops every partition actor. An aborted final transaction loses nothing:
/// whoever owns the partitions next resumes from the last commit. Anything worse ends the process.
pub fn revoke_all(router: &Addr<Router>) {
    match block_on(router.send(RevokeAll { commit: true })) {
        Ok(Ok(())) => {}
        Ok(Err(SinkError::Aborted(error))) => {
            tracing::warn!(%error, "Final transaction before revoking aborted; the next owner reprocesses it");
        }
        Ok(Err(error)) => crate::app::fail(&format!("commit before revoking partitions failed: {error}")),
        Err(_) => crate::app::fail("router stopped while revoking partitions"),
    }
}

/// The partitions of an assignment, which must be the same for both input topics.
fn co_partitioned(assignment: &TopicPartitionList, topics: &TopicNames) -> Result<Vec<i32>, String> {
    let of = |topic: &str| {
        let mut partitions: Vec<i32> =
            assignment.elements().iter().filter(|e| e.topic() == topic).map(|e| e.partition()).collect();
        partitions.sort_unstable();
        partitions
    };
    let (sent, responses) = (of(&topics.sent), of(&topics.responses));
    if sent != responses {
        return Err(format!(
            "assignment is not co-partitioned: {} {sent:?} vs {} {responses:?} (partition counts changed?)",
            topics.sent, topics.responses
        ));
    }
    Ok(sent)
}

/// What the consumer thread drives.
pub struct Pipeline {
    pub consumer: Arc<GroupConsumer>,
    pub router: Addr<Router>,
    pub sink: Addr<Sink>,
    pub topics: Arc<TopicNames>,
    pub max_batch: usize,
    /// Set by the sink when a transaction aborted: rewind before consuming further.
    pub rewind: Arc<AtomicBool>,
}

/// Polls until `shutdown` is set, then commits what was processed and leaves the group.
pub fn run(pipeline: Pipeline, shutdown: Arc<AtomicBool>) -> Result<(), KafkaError> {
    let Pipeline { consumer, router, sink, topics, max_batch, rewind } = pipeline;
    consumer.subscribe(&[&topics.sent, &topics.responses])?;
    let mut in_flight = VecDeque::new();
    while !shutdown.load(Ordering::Acquire) {
        if rewind.load(Ordering::Acquire) {
            for batch in in_flight.drain(..) {
                let _ = block_on(batch);
            }
            rewind_to_committed(&consumer, &router, &topics)?;
            let _ = block_on(sink.send(Resume));
            continue;
        }
        let batch = poll_batch(&consumer, &topics, max_batch)?;
        if batch.is_empty() {
            continue;
        }
        in_flight.push_back(router.send(Dispatch(batch)));
        while in_flight.len() >= MAX_IN_FLIGHT_BATCHES {
            if let Some(oldest) = in_flight.pop_front() {
                let _ = block_on(oldest);
            }
        }
    }
    tracing::info!("Shutting down: committing processed records and leaving the group");
    for batch in in_flight {
        let _ = block_on(batch);
    }
    revoke_all(&router);
    leave_group(&consumer);
    Ok(())
}

/// Closes the consumer so it leaves the group now: otherwise the group waits a whole session
/// timeout for this member before a restarted or other instance gets its partitions. (Dropping
/// the consumer would close it too, but other components still hold it when the process ends.)
fn leave_group(consumer: &GroupConsumer) {
    if let Err(error) = consumer.close_queue() {
        tracing::warn!(%error, "Could not close the consumer; the group notices after the session timeout");
        return;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // Closing runs through the poll queue (it may call the rebalance handler once more).
    while !consumer.closed() && std::time::Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(100));
    }
}

/// Waits briefly for the first record, then takes what is already fetched, up to `max_batch`.
fn poll_batch(consumer: &GroupConsumer, topics: &TopicNames, max_batch: usize) -> Result<Vec<InputRecord>, KafkaError> {
    let mut batch = Vec::new();
    let mut timeout = Duration::from_millis(100);
    while batch.len() < max_batch {
        match consumer.poll(timeout) {
            None => break,
            Some(Ok(message)) => {
                let source =
                    if message.topic() == topics.sent { Source::SentMessages } else { Source::SubmitResponses };
                batch.push(InputRecord::from_message(source, &message));
            }
            Some(Err(error)) => {
                if is_fatal(&error) {
                    return Err(error);
                }
                tracing::warn!(%error, "Consumer error; librdkafka retries on its own");
            }
        }
        timeout = Duration::ZERO;
    }
    Ok(batch)
}

/// After an aborted transaction: drop every partition's state (it includes aborted changes),
/// move the input positions back to the committed offsets and restore state from the changelog.
/// The abort usually comes from a broker outage, which may not be over: fetching the committed
/// offsets and seeking are retried with backoff, and only a broker gone for
/// [`BROKER_OUTAGE_LIMIT`] ends the process.
fn rewind_to_committed(consumer: &GroupConsumer, router: &Addr<Router>, topics: &TopicNames) -> Result<(), KafkaError> {
    if block_on(router.send(RevokeAll { commit: false })).is_err() {
        crate::app::fail("router stopped while rewinding");
    }
    let mut backoff = Backoff::new(BROKER_OUTAGE_LIMIT);
    let partitions = loop {
        let error = match seek_to_committed(consumer) {
            Ok(partitions) => break partitions,
            Err(error) => error,
        };
        let Some(delay) = backoff.next_delay() else { return Err(error) };
        tracing::warn!(%error, retry_in = ?delay, "Rewind to the committed offsets failed; retrying");
        std::thread::sleep(delay);
    };
    if partitions.count() == 0 {
        // Mid-rebalance: the next assignment starts from the committed offsets anyway.
        return Ok(());
    }
    let partitions = co_partitioned(&partitions, topics).unwrap_or_else(|reason| crate::app::fail(&reason));
    tracing::info!(?partitions, "Rewound to committed offsets; restoring state");
    if block_on(router.send(Assign(partitions))).is_err() {
        crate::app::fail("router stopped while rewinding");
    }
    Ok(())
}

/// Seeks every assigned input partition to its committed offset; returns the assignment.
fn seek_to_committed(consumer: &GroupConsumer) -> Result<TopicPartitionList, KafkaError> {
    let assignment = consumer.assignment()?;
    if assignment.count() == 0 {
        return Ok(assignment);
    }
    let committed = consumer.committed_offsets(assignment.clone(), Duration::from_secs(30))?;
    let mut positions = TopicPartitionList::new();
    for element in committed.elements() {
        // No committed offset yet: start over from the beginning, as auto.offset.reset does.
        let offset = match element.offset() {
            Offset::Offset(offset) => Offset::Offset(offset),
            _ => Offset::Beginning,
        };
        positions.add_partition_offset(element.topic(), element.partition(), offset)?;
    }
    if positions.count() != assignment.count() {
        return Err(KafkaError::Seek(format!(
            "committed offsets for {} of {} assigned partitions",
            positions.count(),
            assignment.count()
        )));
    }
    let positions = consumer.seek_partitions(positions, Duration::from_secs(30))?;
    if let Some(failed) = positions.elements().iter().find(|e| e.error().is_err()) {
        return Err(KafkaError::Seek(format!("{} [{}]: {:?}", failed.topic(), failed.partition(), failed.error())));
    }
    Ok(assignment)
}

/// A fatal consumer error (e.g. a static member fenced by another with its `group.instance.id`)
/// leaves the consumer unusable: the process must restart.
fn is_fatal(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode;
    matches!(error, KafkaError::MessageConsumptionFatal(_))
        || matches!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::Fatal | RDKafkaErrorCode::Fenced))
}

#[cfg(test)]
mod tests {
    use rdkafka::types::RDKafkaErrorCode;

    use super::*;

    #[test]
    fn a_fenced_static_member_is_fatal_but_a_broker_outage_is_not() {
        assert!(is_fatal(&KafkaError::MessageConsumptionFatal(RDKafkaErrorCode::FencedInstanceId)));
        assert!(!is_fatal(&KafkaError::MessageConsumption(RDKafkaErrorCode::BrokerTransportFailure)));
        assert!(!is_fatal(&KafkaError::MessageConsumption(RDKafkaErrorCode::AllBrokersDown)));
    }

    #[test]
    fn an_assignment_must_hold_the_same_partitions_of_both_inputs() {
        let topics =
            TopicNames { sent: "s".into(), responses: "r".into(), status: "o".into(), dead_letter: "d".into() };
        let mut tpl = TopicPartitionList::new();
        for p in [1, 0] {
            tpl.add_partition("s", p);
            tpl.add_partition("r", p);
        }
        assert_eq!(co_partitioned(&tpl, &topics), Ok(vec![0, 1]));
        tpl.add_partition("s", 2);
        assert!(co_partitioned(&tpl, &topics).unwrap_err().contains("not co-partitioned"));
    }
}
