//! One actor per assigned input partition: validates records, applies them to the partition's
//! state, sweeps deadlines, and turns outcomes into output records for the sink.

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, SystemTime};

use actix::prelude::*;

use super::context::StageContext;
use super::lookups::{Phase, SharedPartition};
use super::messages::{Process, SinkBatch, Stop};
use super::rate_limit::RateLimitedWarning;
use super::restoring::{self, RestoreEnd};
use super::stream_clock::StreamClock;
use crate::domain::output::render_status;
use crate::domain::receipt_join::{IndexEntry, parse_matched_receipt};
use crate::domain::supplier_id::{canonical_response_id, partition_for, receipt_key};
use crate::domain::wire::{parse_sent_message, parse_submit_response};
use crate::domain::{
    AcceptedPart, InputTopic, OrphanPart, Outcome, PartitionState, RecordError, RecordErrorKind, RecordMeta, Status,
    StatusChange, snapshot,
};
use crate::kafka::records::{Destination, InputRecord, OutputRecord};
use crate::kafka::topics::TopicNames;
use crate::telemetry::PartitionMetrics;

pub struct PartitionActor {
    partition: i32,
    /// Shared with lookups, which read it between two records; its phase (restoring, serving,
    /// failed closed, stopped) is the actor's own as well.
    state: Arc<SharedPartition>,
    shared: StageContext,
    partition_metrics: PartitionMetrics,
    bad_records: RateLimitedWarning,
    clock: StreamClock,
    /// Delivery outcomes collected for the next batch, with their messages' SENT time.
    delivery_completions: Vec<(Status, i64)>,
}

impl PartitionActor {
    /// `state` is what lookups will read: empty until restored.
    pub fn new(partition: i32, shared: StageContext, state: Arc<SharedPartition>) -> Self {
        let inputs = Self::inputs(&shared.topics);
        let partition_metrics =
            shared.metrics.for_partition(partition, inputs, |input| shared.topics.input(input).to_owned());
        Self {
            partition,
            state,
            partition_metrics,
            bad_records: RateLimitedWarning::new(Duration::from_secs(10)),
            clock: StreamClock::new(inputs, &*shared.clock),
            delivery_completions: Vec::new(),
            shared,
        }
    }

    /// Held for one record, one sweep or one batch's changelog encoding at a time: a lookup waits
    /// meanwhile.
    fn state(&self) -> MutexGuard<'_, PartitionState> {
        self.state.lock()
    }

    fn inputs(topics: &TopicNames) -> &'static [InputTopic] {
        if topics.receipts_on() { &InputTopic::MESSAGE_INPUTS } else { &InputTopic::MESSAGE_INPUTS[..2] }
    }

    /// Restores the partition's state from the changelog; the mailbox waits meanwhile, so no
    /// input of this partition is processed (and no deadline fires) before its state is back. If
    /// it cannot be restored the actor reports the failure and stops: its records are then
    /// dropped by the router, and its offsets never committed.
    fn restore(&mut self, ctx: &mut Context<Self>) {
        let (partition, restorer, policy) = (self.partition, self.shared.restorer.clone(), self.shared.policy.clone());
        let restoring = restoring::run(&self.shared, move || restorer.restore(partition, policy));
        ctx.wait(restoring.into_actor(self).map(move |result, actor, ctx| {
            match restoring::finish(partition, "messages", result, &actor.shared) {
                RestoreEnd::Restored(restored) => {
                    *actor.state() = restored.state;
                    actor.partition_metrics.set_state(actor.state().counts());
                    actor.state.set_phase(Phase::Serving);
                    actor.clock.restart(&*actor.shared.clock);
                }
                // The state could not be read back: nothing of this partition is processed.
                RestoreEnd::FailedClosed => actor.state.set_phase(Phase::FailedClosed),
                RestoreEnd::Failed => ctx.stop(),
            }
        }));
    }

    fn process(&mut self, records: Vec<InputRecord>) -> SinkBatch {
        let mut outputs = Vec::new();
        let mut next_offsets = [None; InputTopic::COUNT];
        let wall = self.shared.clock.wall_ms();
        let monotonic = self.shared.clock.monotonic();
        for record in records {
            if let Some(consumed) = &self.partition_metrics.consumed[record.source.index()] {
                consumed.inc();
            }
            next_offsets[record.source.index()] = Some(record.offset + 1);
            let meta = RecordMeta { timestamp_ms: record.timestamp_ms.unwrap_or(wall), offset: record.offset };
            self.clock.record(record.source, meta.timestamp_ms, monotonic);
            self.shared.metrics.processing_lag_seconds.observe((wall - meta.timestamp_ms).max(0) as f64 / 1000.0);
            let key = record.key.as_deref();
            let value = record.value.as_deref();
            let parsed = match record.source {
                InputTopic::SentMessages => parse_sent_message(key, value),
                InputTopic::SubmitResponses => parse_submit_response(key, value),
                InputTopic::MatchedReceipts => parse_matched_receipt(value),
                other => Err(RecordError::new(
                    RecordErrorKind::InvalidField,
                    format!("{other:?} is not an input of a message partition"),
                )),
            };
            let outcome = match parsed {
                Ok(input) => self.state().apply(input, meta),
                Err(error) => Outcome::Rejected(error),
            };
            match outcome {
                Outcome::Rejected(error) => outputs.push(self.dead_letter(record, error)),
                other => self.collect(other, &mut outputs),
            }
        }
        self.batch(outputs, next_offsets)
    }

    /// Ends what is due by the partition's clock (expiries, orphans, purges).
    fn sweep(&mut self) -> Option<SinkBatch> {
        if self.state.phase() != Phase::Serving {
            return None;
        }
        let mut outputs = Vec::new();
        let outcomes = self.state().sweep(self.clock());
        for outcome in outcomes {
            self.collect(outcome, &mut outputs);
        }
        let batch = self.batch(outputs, [None; InputTopic::COUNT]);
        (!batch.outputs.is_empty() || !batch.changelog.is_empty()).then_some(batch)
    }

    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.shared.clock.wall_ms().max(0) as u64)
    }

    /// See [`StreamClock`]: record time while input flows, wall time once caught up.
    fn clock(&self) -> i64 {
        self.clock.now_ms(&*self.shared.clock)
    }

    fn collect(&mut self, outcome: Outcome, outputs: &mut Vec<OutputRecord>) {
        match outcome {
            Outcome::Publish(change) => self.publish(&change, outputs),
            Outcome::PublishBoth(changes) => changes.iter().for_each(|change| self.publish(change, outputs)),
            Outcome::Orphaned(parts) => outputs.extend(parts.into_iter().map(|part| self.orphan_letter(part))),
            Outcome::Rejected(error) => tracing::error!(%error, "Rejection without its record; this is a bug"),
            Outcome::Ignored(reason) => self.shared.metrics.ignored(reason).inc(),
            Outcome::Recorded | Outcome::Cancelled | Outcome::Purged => {}
        }
    }

    fn publish(&mut self, change: &StatusChange, outputs: &mut Vec<OutputRecord>) {
        if let Some(sent_status_at) = change.status_sent_at_ms {
            self.delivery_completions.push((change.status, sent_status_at));
        }
        outputs.push(self.status_record(change));
    }

    fn status_record(&self, change: &StatusChange) -> OutputRecord {
        // Completion latency is about the submit; delivery outcomes come hours later.
        let submit_status = matches!(change.status, Status::Sent | Status::Failed | Status::Expired);
        OutputRecord {
            sent_at_ms: submit_status.then_some(change.sent_at_ms),
            timestamp_ms: None,
            destination: Destination::Status(change.status),
            partition: self.partition,
            key: Some(change.id.as_bytes().to_vec()),
            value: Some(render_status(change, self.now())),
            headers: Vec::new(),
        }
    }

    fn batch(&mut self, mut outputs: Vec<OutputRecord>, next_offsets: [Option<i64>; InputTopic::COUNT]) -> SinkBatch {
        let (accepted, changelog): (_, Vec<_>) = {
            let mut state = self.state();
            self.partition_metrics.set_state(state.counts());
            let changelog = state
                .take_changes()
                .into_iter()
                .map(|(id, entry)| (id.to_string(), entry.map(snapshot::encode)))
                .collect();
            (state.take_accepted(), changelog)
        };
        for accepted in accepted {
            outputs.push(self.index_record(accepted));
        }
        let completions = outputs.iter().filter_map(|o| o.sent_at_ms).collect();
        SinkBatch {
            partition: self.partition,
            outputs,
            changelog,
            changelog_topic: Destination::Changelog,
            next_offsets,
            completions,
            delivery_completions: std::mem::take(&mut self.delivery_completions),
            unmatched_suppliers: Vec::new(),
        }
    }

    /// Tells the receipt join where the receipts of an accepted part must go. The key is what the
    /// part's receipts will be re-keyed to: (supplier, the supplier's id in canonical form).
    fn index_record(&self, accepted: AcceptedPart) -> OutputRecord {
        let supplier = accepted.supplier.as_deref().unwrap_or_default();
        let canonical = canonical_response_id(self.shared.id_formats.get(supplier), &accepted.supplier_message_id);
        let key = receipt_key(supplier, &canonical);
        let index = IndexEntry {
            message_id: accepted.message_id.to_string(),
            message_partition: self.partition,
            part_number: accepted.part_number,
        };
        OutputRecord {
            destination: Destination::ReceiptIndex,
            partition: partition_for(key.as_bytes(), self.shared.partitions),
            key: Some(key.into_bytes()),
            value: Some(serde_json::to_vec(&index).expect("an index entry serialises")),
            headers: Vec::new(),
            sent_at_ms: None,
            timestamp_ms: None,
        }
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
        let headers = self.headers(error.reason, topic, record.offset);
        OutputRecord {
            destination: Destination::DeadLetter(error.kind),
            partition: self.partition,
            sent_at_ms: None,
            timestamp_ms: None,
            headers,
            key: record.key,
            value: record.value,
        }
    }

    /// A dead letter for a response whose message never came. The original bytes are not kept
    /// in state, so the value is the response rebuilt from what the tracker knew of it.
    fn orphan_letter(&self, part: OrphanPart) -> OutputRecord {
        let mut value = serde_json::json!({
            "messageId": &*part.message_id,
            "partNumber": part.part_number,
            "totalParts": part.total_parts,
            "commandStatus": part.command_status,
        });
        if let Some(id) = &part.supplier_message_id {
            value["supplierMessageId"] = serde_json::json!(&**id);
        }
        if let Some(supplier) = &part.supplier {
            value["supplier"] = serde_json::json!(&**supplier);
        }
        OutputRecord {
            destination: Destination::DeadLetter(RecordErrorKind::Orphan),
            partition: self.partition,
            sent_at_ms: None,
            timestamp_ms: None,
            headers: self.headers(part.reason, self.shared.topics.responses.clone(), part.offset),
            key: Some(part.message_id.as_bytes().to_vec()),
            value: Some(serde_json::to_vec(&value).unwrap_or_default()),
        }
    }

    fn headers(&self, reason: String, topic: String, offset: i64) -> Vec<(&'static str, Vec<u8>)> {
        origin_headers(reason, topic, self.partition, offset)
    }
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(partition = self.partition, "Partition actor started; restoring state");
        self.restore(ctx);
        ctx.run_interval(self.shared.sweep_interval, |actor, _ctx| {
            if let Some(batch) = actor.sweep() {
                // Enqueued in order with the batches of processed records.
                actor.shared.sink.do_send(batch);
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if self.state.phase() == Phase::FailedClosed {
            self.shared.metrics.partitions_failed_closed.dec();
        }
        self.state.set_phase(Phase::Stopped);
        self.shared.metrics.forget_partition(self.partition);
        tracing::info!(partition = self.partition, entries = self.state().len(), "Partition actor stopped");
    }
}

impl Handler<Process> for PartitionActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, Process(records): Process, _ctx: &mut Self::Context) -> Self::Result {
        if self.state.phase() == Phase::FailedClosed {
            return Box::pin(async {});
        }
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

/// The headers of a dead letter: why, and where the record came from.
pub fn origin_headers(reason: String, topic: String, partition: i32, offset: i64) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("error.reason", reason.into_bytes()),
        ("source.topic", topic.into_bytes()),
        ("source.partition", partition.to_string().into_bytes()),
        ("source.offset", offset.to_string().into_bytes()),
    ]
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
