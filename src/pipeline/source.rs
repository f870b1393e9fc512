//! The source: polls both input topics on a dedicated OS thread (librdkafka's poll and rebalance
//! callbacks block), puts each partition's gateway inputs in timestamp order ([`InputOrder`]),
//! batches records and hands them to the router with bounded in-flight batches, so a slow
//! pipeline slows consumption instead of filling memory. Its inbox takes [`SourceCommand`]s: a
//! rewind from the sink, a stop from `run`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix::Addr;
use futures::FutureExt;
use futures::executor::block_on;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};

use super::failure::PipelineError;
use super::input_order::{InputEnds, InputOrder, TopicPartition};
use super::messages::{Assign, Assignment, Dispatch, RevokeAll, SinkError, SourceCommand};
use crate::domain::InputTopic;

use super::router::Router;
use crate::health::Health;
use crate::kafka::authorization::{MissingPermission, Operation, Resource};
use crate::kafka::backoff::{BROKER_OUTAGE_LIMIT, Backoff};
use crate::kafka::records::InputRecord;
use crate::kafka::topics::TopicNames;
use crate::kafka::watermarks::{self, Positions};
use crate::telemetry::Metrics;

/// The group consumer of both inputs.
pub type GroupConsumer = BaseConsumer<RebalanceHandler>;

/// How many dispatched batches may be in the pipeline at once.
const MAX_IN_FLIGHT_BATCHES: usize = 3;

/// Reacts to rebalances on the source thread, inside `poll`, before librdkafka changes the
/// assignment: on revoke everything processed is committed first; on assign the partition actors
/// exist before the first record of their partition arrives. A failure here cannot be returned
/// from librdkafka's callback: it is kept until `poll` returns, and the source then ends.
pub struct RebalanceHandler {
    router: OnceLock<Addr<Router>>,
    topics: Arc<TopicNames>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    failure: Mutex<Option<PipelineError>>,
    /// Counts assignment changes, so that the source drops records it held from before one.
    generation: AtomicU64,
}

impl RebalanceHandler {
    pub fn new(topics: Arc<TopicNames>, metrics: Arc<Metrics>, health: Arc<Health>) -> Self {
        let generation = AtomicU64::new(0);
        Self { router: OnceLock::new(), topics, metrics, health, failure: Mutex::new(None), generation }
    }

    /// Connects the handler to the router; called once, before the first poll.
    pub fn set_router(&self, router: Addr<Router>) {
        let _ = self.router.set(router);
    }

    fn fail(&self, error: PipelineError) {
        self.failure.lock().expect("failure lock").get_or_insert(error);
    }

    fn take_failure(&self) -> Option<PipelineError> {
        self.failure.lock().expect("failure lock").take()
    }

    fn assign(&self, assignment: &TopicPartitionList) -> Result<(), PipelineError> {
        let assignment = co_partitioned(assignment, &self.topics)?;
        tracing::info!(partitions = ?assignment.partitions, delivery_reports = ?assignment.delivery_reports, "Partitions assigned");
        let router = self.router.get().ok_or(PipelineError::StageStopped("router"))?;
        block_on(router.send(Assign(assignment))).map_err(|_| PipelineError::StageStopped("router"))
    }
}

impl ClientContext for RebalanceHandler {
    /// Consumer lag per assigned input partition, from librdkafka's statistics. librdkafka's own
    /// `consumer_lag` counts from the consumer's committed offset, which never moves here
    /// (offsets are committed by the producer's transactions), so lag is computed from the
    /// position instead.
    fn stats(&self, statistics: Statistics) {
        let mut lags = Vec::new();
        for topic in self.topics.subscribed() {
            let Some(stats) = statistics.topics.get(topic) else { continue };
            for partition in stats.partitions.values().filter(|p| p.partition >= 0 && p.desired) {
                let end = if partition.ls_offset >= 0 { partition.ls_offset } else { partition.hi_offset };
                if end >= 0 && partition.app_offset >= 0 {
                    lags.push((topic, partition.partition, (end - partition.app_offset).max(0)));
                }
            }
        }
        self.metrics.set_consumer_lag(&lags);
        self.health.set_input_lag(
            lags.iter().filter_map(|(topic, partition, lag)| Some((self.topics.input_of(topic)?, *partition, *lag))),
        );
    }

    /// librdkafka reports every lost connection as an error, though it reconnects by itself. A
    /// fatal one also reaches `poll`, which ends the source.
    fn error(&self, error: KafkaError, reason: &str) {
        if is_fatal(&error) {
            tracing::error!(%error, reason, "Fatal consumer error");
        } else {
            tracing::warn!(%error, reason, "Kafka client error; librdkafka retries on its own");
        }
    }
}

impl ConsumerContext for RebalanceHandler {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        match rebalance {
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = partitions.count(), "Partitions revoked: committing before giving them up");
                if let Some(router) = self.router.get()
                    && let Err(error) = revoke_all(router)
                {
                    self.fail(error);
                }
            }
            Rebalance::Assign(assignment) => {
                self.metrics.rebalances.inc();
                if let Err(error) = self.assign(assignment) {
                    self.fail(error);
                }
            }
            Rebalance::Error(error) => tracing::error!(%error, "Rebalance failed"),
        }
    }
}

/// Drains, commits and stops every partition actor. An aborted final transaction loses nothing:
/// whoever owns the partitions next resumes from the last commit.
fn revoke_all(router: &Addr<Router>) -> Result<(), PipelineError> {
    match block_on(router.send(RevokeAll { commit: true })) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(SinkError::Aborted(error))) => {
            tracing::warn!(%error, "Final transaction before revoking aborted; the next owner reprocesses it");
            Ok(())
        }
        Ok(Err(error)) => Err(PipelineError::CommitBeforeRevoke(error)),
        Err(_) => Err(PipelineError::StageStopped("router")),
    }
}

/// The partitions of an assignment, which must be the same for every co-partitioned input (the
/// gateway's two, and with receipt tracking the three internal ones); delivery-reports apart.
fn co_partitioned(assignment: &TopicPartitionList, topics: &TopicNames) -> Result<Assignment, PipelineError> {
    let of = |topic: &str| {
        let mut partitions: Vec<i32> =
            assignment.elements().iter().filter(|e| e.topic() == topic).map(|e| e.partition()).collect();
        partitions.sort_unstable();
        partitions
    };
    let sent = of(&topics.sent);
    let mut co_partitioned = vec![InputTopic::SubmitResponses];
    if topics.receipts_on() {
        co_partitioned.extend([InputTopic::MatchedReceipts, InputTopic::ReceiptIndex, InputTopic::ReceiptsById]);
    }
    for input in co_partitioned {
        let other = of(topics.input(input));
        if other != sent {
            return Err(PipelineError::NotCoPartitioned {
                sent_topic: topics.sent.clone(),
                sent,
                other_topic: topics.input(input).to_owned(),
                other,
            });
        }
    }
    let delivery_reports = topics.delivery_reports.as_deref().map(of).unwrap_or_default();
    Ok(Assignment { partitions: sent, delivery_reports })
}

/// The source thread's inputs and outputs.
pub struct Source {
    pub consumer: Arc<GroupConsumer>,
    pub router: Addr<Router>,
    pub topics: Arc<TopicNames>,
    /// The consumer group's id, for errors that concern it.
    pub group: String,
    pub max_batch: usize,
    /// How long one gateway input's records wait for the other's (see [`InputOrder`]).
    pub max_input_idle: Duration,
    /// Bytes of records held back for timestamp order before their partitions are paused.
    pub order_buffer_bytes: usize,
    pub inbox: Receiver<SourceCommand>,
    /// Told whether dispatched records wait to be processed (the watchdog).
    pub health: Arc<Health>,
}

/// A dispatched batch, until the partition actors have processed it.
type InFlight = Pin<Box<actix::prelude::Request<Router, Dispatch>>>;

/// What the source thread keeps between polls.
struct Held {
    order: InputOrder,
    /// The rebalance generation the held records were fetched in.
    generation: u64,
    /// Released records are waiting beyond the batch limit: poll without waiting.
    more_ready: bool,
}

impl Source {
    /// Polls until told to stop or until something fails; either way it then commits what was
    /// processed and leaves the group, as a graceful shutdown does.
    pub fn run(self) -> Result<(), PipelineError> {
        let mut in_flight = VecDeque::new();
        let mut held = Held {
            order: InputOrder::new(self.max_input_idle, self.order_buffer_bytes),
            generation: 0,
            more_ready: false,
        };
        // Records still held at the end were never processed, so no commit covers them: dropping
        // them loses nothing.
        let result = self.consume(&mut in_flight, &mut held);
        tracing::info!("Source stopping: committing processed records and leaving the group");
        for batch in in_flight {
            let _ = block_on(batch);
        }
        if let Err(error) = revoke_all(&self.router) {
            tracing::warn!(%error, "Final commit failed; the next owner resumes from the last commit");
        }
        leave_group(&self.consumer);
        result
    }

    fn consume(&self, in_flight: &mut VecDeque<InFlight>, held: &mut Held) -> Result<(), PipelineError> {
        self.consumer.subscribe(&self.topics.subscribed()).map_err(PipelineError::Consumer)?;
        loop {
            match self.inbox.try_recv() {
                Ok(SourceCommand::Stop) | Err(TryRecvError::Disconnected) => return Ok(()),
                Ok(SourceCommand::Rewind) => {
                    for batch in in_flight.drain(..) {
                        let _ = block_on(batch);
                    }
                    self.resume(held.order.clear());
                    self.rewind_to_committed()?;
                    continue;
                }
                Err(TryRecvError::Empty) => {}
            }
            let batch = self.poll_batch(held);
            if let Some(failure) = self.consumer.context().take_failure() {
                return Err(failure);
            }
            let batch = batch?;
            if !batch.is_empty() {
                in_flight.push_back(Box::pin(self.router.send(Dispatch(batch))));
                self.health.set_dispatched(true);
            }
            while in_flight.len() >= MAX_IN_FLIGHT_BATCHES {
                if let Some(oldest) = in_flight.pop_front() {
                    let _ = block_on(oldest);
                }
            }
            in_flight.retain_mut(|batch| batch.as_mut().now_or_never().is_none());
            self.health.set_dispatched(!in_flight.is_empty());
        }
    }

    /// Waits briefly for the first record (no longer than a held record's idle limit), takes what
    /// is already fetched, up to `max_batch`, and returns what may be processed now: the
    /// receipt inputs in arrival order, then the gateway inputs released by [`InputOrder`].
    fn poll_batch(&self, held: &mut Held) -> Result<Vec<InputRecord>, PipelineError> {
        let mut batch = Vec::new();
        let mut timeout = Duration::from_millis(100);
        if held.more_ready {
            timeout = Duration::ZERO;
        } else if let Some(deadline) = held.order.next_deadline() {
            timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
        }
        let mut polled = 0;
        while polled < self.max_batch {
            let message = self.consumer.poll(timeout);
            self.drop_held_after_rebalance(held, &mut batch);
            match message {
                None => break,
                Some(Ok(message)) => match self.topics.input_of(message.topic()) {
                    Some(input) if InputOrder::orders(input) => {
                        held.order.push(InputRecord::from_message(input, &message))
                    }
                    Some(input) => batch.push(InputRecord::from_message(input, &message)),
                    None => tracing::warn!(topic = message.topic(), "Record of a topic the tracker does not read"),
                },
                Some(Err(error)) => {
                    if let Some(missing) = refused(&error, &self.group, &self.topics) {
                        return Err(PipelineError::NotAuthorized(missing));
                    }
                    if is_fatal(&error) {
                        return Err(PipelineError::Consumer(error));
                    }
                    tracing::warn!(%error, "Consumer error; librdkafka retries on its own");
                }
            }
            polled += 1;
            timeout = Duration::ZERO;
        }
        let mut ends = ConsumerEnds { source: self, positions: None };
        let limit = self.max_batch.saturating_sub(batch.len()).max(1);
        held.more_ready = held.order.release(Instant::now(), &mut ends, limit, &mut batch);
        let changes = held.order.flow_changes();
        let metrics = &self.consumer.context().metrics;
        metrics.input_pauses.inc_by(changes.pause.len() as u64);
        metrics.order_buffer_bytes.set(i64::try_from(held.order.held_bytes()).unwrap_or(i64::MAX));
        self.set_paused(&changes.pause, true);
        self.resume(changes.resume);
        Ok(batch)
    }

    /// A rebalance ran inside the last poll: records polled before it belong to the old
    /// assignment and are fetched again from the committed offsets by whoever owns them now.
    fn drop_held_after_rebalance(&self, held: &mut Held, batch: &mut Vec<InputRecord>) {
        let generation = self.consumer.context().generation.load(Ordering::SeqCst);
        if generation == held.generation {
            return;
        }
        held.generation = generation;
        let dropped = held.order.held() + batch.len();
        if dropped > 0 {
            tracing::info!(records = dropped, "Dropping records fetched before the rebalance");
        }
        batch.clear();
        held.more_ready = false;
        self.resume(held.order.clear());
    }

    fn resume(&self, partitions: Vec<TopicPartition>) {
        self.set_paused(&partitions, false);
    }

    /// Pauses or resumes fetching input partitions. A failure only costs memory (a pause) or
    /// latency until the next assignment (a resume), so it is logged, not fatal.
    fn set_paused(&self, partitions: &[TopicPartition], pause: bool) {
        if partitions.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (input, partition) in partitions {
            list.add_partition(self.topics.input(*input), *partition);
        }
        let result = if pause { self.consumer.pause(&list) } else { self.consumer.resume(&list) };
        match result {
            Ok(()) => tracing::debug!(?partitions, pause, "Input partitions paused or resumed for timestamp order"),
            Err(error) => tracing::warn!(%error, ?partitions, pause, "Could not pause or resume input partitions"),
        }
    }

    /// After an aborted transaction: drop every partition's state (it includes aborted changes),
    /// move the input positions back to the committed offsets and restore state from the
    /// changelog. The abort usually comes from a broker outage, which may not be over: fetching
    /// the committed offsets and seeking are retried with backoff, and only a broker gone for
    /// [`BROKER_OUTAGE_LIMIT`] ends the process.
    fn rewind_to_committed(&self) -> Result<(), PipelineError> {
        // Without a commit nothing can fail but the router itself.
        let _nothing_committed = block_on(self.router.send(RevokeAll { commit: false }))
            .map_err(|_| PipelineError::StageStopped("router"))?;
        let mut backoff = Backoff::new(BROKER_OUTAGE_LIMIT);
        let partitions = loop {
            let error = match seek_to_committed(&self.consumer) {
                Ok(partitions) => break partitions,
                Err(error) => error,
            };
            let Some(delay) = backoff.next_delay() else { return Err(PipelineError::Rewind(error)) };
            tracing::warn!(%error, retry_in = ?delay, "Rewind to the committed offsets failed; retrying");
            std::thread::sleep(delay);
        };
        if partitions.count() == 0 {
            // Mid-rebalance: the next assignment starts from the committed offsets anyway.
            return Ok(());
        }
        let assignment = co_partitioned(&partitions, &self.topics)?;
        tracing::info!(partitions = ?assignment.partitions, "Rewound to committed offsets; restoring state");
        block_on(self.router.send(Assign(assignment))).map_err(|_| PipelineError::StageStopped("router"))
    }
}

/// The consumer's view of where its inputs end, for [`InputOrder`].
struct ConsumerEnds<'a> {
    source: &'a Source,
    /// Read only when a partition waits for an input: most releases never ask.
    positions: Option<Positions>,
}

impl ConsumerEnds<'_> {
    fn positions(&mut self) -> &Positions {
        self.positions.get_or_insert_with(|| Positions::of(&self.source.consumer))
    }
}

impl InputEnds for ConsumerEnds<'_> {
    fn caught_up(&mut self, input: InputTopic, partition: i32) -> bool {
        let source = self.source;
        watermarks::caught_up(&source.consumer, self.positions(), source.topics.input(input), partition)
    }

    fn committed_ahead(&mut self, input: InputTopic, partition: i32) -> bool {
        let source = self.source;
        watermarks::committed_ahead(&source.consumer, self.positions(), source.topics.input(input), partition)
    }
}

/// Closes the consumer so it leaves the group now: otherwise the group waits a whole session
/// timeout for this member before a restarted or other instance gets its partitions. (Dropping
/// the consumer would close it too, but other components still hold it when the process ends.)
fn leave_group(consumer: &GroupConsumer) {
    if let Err(error) = consumer.close_queue() {
        tracing::warn!(%error, "Could not close the consumer; the group notices after the session timeout");
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    // Closing runs through the poll queue (it may call the rebalance handler once more).
    while !consumer.closed() && Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(100));
    }
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

/// The permission a consumer error says is missing. librdkafka would retry such an error forever;
/// a refused fetch does not say which topic it was, so every subscribed one is named.
fn refused(error: &KafkaError, group: &str, topics: &TopicNames) -> Option<MissingPermission> {
    let subscribed = || Resource::OneTopicOf(topics.subscribed().into_iter().map(str::to_owned).collect());
    MissingPermission::of(error, &[Operation::Read], Resource::Group(group.to_owned()))
        .or_else(|| MissingPermission::of(error, &[Operation::Read], subscribed()))
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
    fn a_refused_group_or_fetch_names_what_the_consumer_needs() {
        let topics = crate::pipeline::test_kit::topics();
        let group = KafkaError::MessageConsumption(RDKafkaErrorCode::GroupAuthorizationFailed);
        let missing = refused(&group, "app", &topics).unwrap().to_string();
        assert!(missing.contains("needs READ on Group 'app'"), "{missing}");
        let fetch = KafkaError::MessageConsumption(RDKafkaErrorCode::TopicAuthorizationFailed);
        let missing = refused(&fetch, "app", &topics).unwrap().to_string();
        assert!(missing.contains(&format!("needs READ on one of the Topics '{}'", topics.sent)), "{missing}");
        let outage = KafkaError::MessageConsumption(RDKafkaErrorCode::AllBrokersDown);
        assert!(refused(&outage, "app", &topics).is_none());
    }

    #[test]
    fn an_assignment_must_hold_the_same_partitions_of_both_inputs() {
        let topics = crate::pipeline::test_kit::topics();
        let topics = TopicNames { sent: "s".into(), responses: "r".into(), ..(*topics).clone() };
        let mut tpl = TopicPartitionList::new();
        for p in [1, 0] {
            tpl.add_partition("s", p);
            tpl.add_partition("r", p);
        }
        assert_eq!(co_partitioned(&tpl, &topics).unwrap().partitions, vec![0, 1]);
        tpl.add_partition("s", 2);
        let error = co_partitioned(&tpl, &topics).unwrap_err().to_string();
        assert!(error.contains("not co-partitioned"), "{error}");
    }
}
