//! One actor per assigned input partition: validates records, applies them to the partition's
//! state and turns outcomes into output records for the sink.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;

use super::TopicNames;
use super::sink::{Sink, SinkBatch};
use crate::domain::output::render_status;
use crate::domain::wire::{parse_sent_message, parse_submit_response};
use crate::domain::{Outcome, PartitionState, RecordError, snapshot};
use crate::health::Health;
use crate::kafka::records::{Destination, InputRecord, OutputRecord, Source};
use crate::kafka::restore::Restorer;
use crate::telemetry::{Metrics, PartitionMetrics};

/// Records of this actor's partition, in offset order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Process(pub Vec<InputRecord>);

/// Stop after everything queued before this message was handled.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// What a partition actor shares with the rest of the pipeline.
#[derive(Clone)]
pub struct PartitionContext {
    pub sink: Addr<Sink>,
    pub topics: Arc<TopicNames>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub restorer: Arc<Restorer>,
}

pub struct PartitionActor {
    partition: i32,
    state: PartitionState,
    shared: PartitionContext,
    partition_metrics: PartitionMetrics,
    bad_records: RateLimitedWarning,
}

impl PartitionActor {
    pub fn new(partition: i32, shared: PartitionContext) -> Self {
        let partition_metrics =
            shared.metrics.for_partition(partition, [&shared.topics.sent, &shared.topics.responses]);
        Self {
            partition,
            state: PartitionState::new(),
            shared,
            partition_metrics,
            bad_records: RateLimitedWarning::new(Duration::from_secs(10)),
        }
    }

    /// Restores the partition's state from the changelog; the mailbox waits meanwhile, so no
    /// input of this partition is processed before its state is back.
    fn restore(&mut self, ctx: &mut Context<Self>) {
        let partition = self.partition;
        let restorer = self.shared.restorer.clone();
        self.shared.metrics.partitions_restoring.inc();
        let restoring = async move { actix_rt::task::spawn_blocking(move || restorer.restore(partition)).await };
        ctx.wait(restoring.into_actor(self).map(move |result, actor, _ctx| {
            actor.shared.metrics.partitions_restoring.dec();
            match result {
                Ok(Ok(restored)) => {
                    tracing::info!(
                        partition,
                        records = restored.records,
                        entries = restored.state.len(),
                        seconds = restored.elapsed.as_secs_f64(),
                        "Partition state restored"
                    );
                    actor.shared.metrics.restore_seconds.observe(restored.elapsed.as_secs_f64());
                    actor.state = restored.state;
                    actor.partition_metrics.set_state(actor.state.counts());
                    actor.shared.health.set_partition_ready(partition);
                }
                Ok(Err(error)) => crate::app::fail(&format!("cannot restore partition {partition}: {error}")),
                Err(error) => crate::app::fail(&format!("restore of partition {partition} panicked: {error}")),
            }
        }));
    }

    fn process(&mut self, records: Vec<InputRecord>) -> SinkBatch {
        let mut outputs = Vec::new();
        let mut next_offsets = [None; 2];
        for record in records {
            self.partition_metrics.consumed[record.source.index()].inc();
            next_offsets[record.source.index()] = Some(record.offset + 1);
            let key = record.key.as_deref();
            let value = record.value.as_deref();
            let parsed = match record.source {
                Source::SentMessages => parse_sent_message(key, value),
                Source::SubmitResponses => parse_submit_response(key, value),
            };
            let outcome = match parsed {
                Ok(input) => self.state.apply(input),
                Err(error) => Outcome::Rejected(error),
            };
            match outcome {
                Outcome::Publish(change) => outputs.push(OutputRecord {
                    destination: Destination::Status(change.status),
                    partition: self.partition,
                    key: Some(change.id.clone().into_bytes()),
                    value: Some(render_status(&change, SystemTime::now())),
                    headers: Vec::new(),
                }),
                Outcome::Rejected(error) => outputs.push(self.dead_letter(record, error)),
                Outcome::Ignored(reason) => self.shared.metrics.ignored(reason).inc(),
                Outcome::Recorded | Outcome::Cancelled => {}
            }
        }
        self.partition_metrics.set_state(self.state.counts());
        let changelog =
            self.state.take_changes().into_iter().map(|(id, entry)| (id, entry.map(snapshot::encode))).collect();
        SinkBatch { partition: self.partition, outputs, changelog, next_offsets }
    }

    fn dead_letter(&mut self, record: InputRecord, error: RecordError) -> OutputRecord {
        let topic = self.shared.topics.input(record.source).to_owned();
        if let Some(suppressed) = self.bad_records.ready() {
            tracing::warn!(
                topic,
                partition = self.partition,
                offset = record.offset,
                reason = %error,
                suppressed,
                "Dead-lettering invalid record"
            );
        }
        OutputRecord {
            destination: Destination::DeadLetter(error.kind),
            partition: self.partition,
            headers: vec![
                ("error.reason", error.reason.into_bytes()),
                ("source.topic", topic.into_bytes()),
                ("source.partition", self.partition.to_string().into_bytes()),
                ("source.offset", record.offset.to_string().into_bytes()),
            ],
            key: record.key,
            value: record.value,
        }
    }
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(partition = self.partition, "Partition actor started; restoring state");
        self.restore(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.shared.metrics.forget_partition(self.partition);
        tracing::info!(partition = self.partition, entries = self.state.len(), "Partition actor stopped");
    }
}

impl Handler<Process> for PartitionActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, Process(records): Process, _ctx: &mut Self::Context) -> Self::Result {
        let batch = self.process(records);
        // Enqueued now, inside the handler, so the sink sees batches in processing order.
        let delivered = self.shared.sink.send(batch);
        Box::pin(async move {
            if delivered.await.is_err() {
                tracing::error!("Sink stopped while partitions were still processing");
            }
        })
    }
}

impl Handler<Stop> for PartitionActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Logs at most once per interval, and says how many occurrences it left out.
struct RateLimitedWarning {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedWarning {
    fn new(interval: Duration) -> Self {
        Self { interval, last: None, suppressed: 0 }
    }

    /// `Some(suppressed since the last log)` if a line may be logged now.
    fn ready(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}
