//! One actor per assigned partition of the receipt join's two co-partitioned inputs (the index
//! of accepted parts and the re-keyed receipts): joins them in a [`JoinState`] restored from its
//! own changelog, sends each joined receipt to its message's partition, and dead-letters
//! receipts whose submit response never came.

use std::time::Duration;

use actix::prelude::*;
use prometheus::IntGauge;

use super::context::StageContext;
use super::messages::{Process, SinkBatch, Stop};
use super::partition::origin_headers;
use super::rate_limit::RateLimitedWarning;
use super::restoring::{self, RestoreEnd};
use super::stream_clock::StreamClock;
use crate::domain::receipt::parse_delivery_report;
use crate::domain::receipt_join::{
    IndexEntry, JoinOutput, JoinState, Joined, OriginalRecord, WaitingReceipt, decode_by_id, encode, encode_matched,
};
use crate::domain::{InputTopic, PartReceipt, RecordError, RecordErrorKind};
use crate::kafka::records::{Destination, InputRecord, OutputRecord};

pub struct ReceiptJoinActor {
    partition: i32,
    state: JoinState,
    shared: StageContext,
    restored: bool,
    /// The state could not be read back: nothing of this partition is processed.
    failed_closed: bool,
    clock: StreamClock,
    consumed: [prometheus::IntCounter; 2],
    /// Index entries and waiting receipts held.
    gauges: [IntGauge; 2],
    bad_records: RateLimitedWarning,
    /// Suppliers of the unmatched receipts of the batch being built (counted at commit).
    unmatched_suppliers: Vec<String>,
}

impl ReceiptJoinActor {
    pub fn new(partition: i32, shared: StageContext) -> Self {
        let consumed =
            InputTopic::JOIN_INPUTS.map(|input| shared.metrics.records_consumed(shared.topics.input(input), partition));
        Self {
            partition,
            state: JoinState::new(shared.join_policy),
            restored: false,
            failed_closed: false,
            clock: StreamClock::new(&InputTopic::JOIN_INPUTS, &*shared.clock),
            consumed,
            gauges: shared.metrics.for_join(partition),
            bad_records: RateLimitedWarning::new(Duration::from_secs(10)),
            unmatched_suppliers: Vec::new(),
            shared,
        }
    }

    /// As the partition actor does: nothing is processed before the table is back.
    fn restore(&mut self, ctx: &mut Context<Self>) {
        let (partition, restorer, policy) = (self.partition, self.shared.restorer.clone(), self.shared.join_policy);
        let restoring = restoring::run(&self.shared, move || restorer.restore_join(partition, policy));
        ctx.wait(restoring.into_actor(self).map(move |result, actor, ctx| {
            match restoring::finish(partition, "receipt join", result, &actor.shared) {
                RestoreEnd::Restored(restored) => {
                    actor.state = restored.state;
                    actor.restored = true;
                    actor.clock.restart(&*actor.shared.clock);
                }
                RestoreEnd::FailedClosed => actor.failed_closed = true,
                RestoreEnd::Failed => ctx.stop(),
            }
        }));
    }

    fn process(&mut self, records: Vec<InputRecord>) -> SinkBatch {
        let mut next_offsets = [None; InputTopic::COUNT];
        let mut outputs = Vec::new();
        let (wall, monotonic) = (self.shared.clock.wall_ms(), self.shared.clock.monotonic());
        for record in records {
            next_offsets[record.source.index()] = Some(record.offset + 1);
            let timestamp_ms = record.timestamp_ms.unwrap_or(wall);
            self.clock.record(record.source, timestamp_ms, monotonic);
            let applied = match record.source {
                InputTopic::ReceiptIndex => {
                    self.consumed[0].inc();
                    self.apply_index(&record, timestamp_ms)
                }
                _ => {
                    self.consumed[1].inc();
                    self.apply_receipt(&record)
                }
            };
            match applied {
                Ok(output) => self.collect(output, &mut outputs),
                Err(error) => outputs.push(self.dead_letter(record, error)),
            }
        }
        self.batch(outputs, next_offsets)
    }

    fn apply_index(&mut self, record: &InputRecord, timestamp_ms: i64) -> Result<JoinOutput, RecordError> {
        let key = utf8_key(record)?;
        let index: IndexEntry = serde_json::from_slice(record.value.as_deref().unwrap_or_default())
            .map_err(|e| RecordError::new(RecordErrorKind::InvalidField, format!("invalid index record: {e}")))?;
        Ok(self.state.apply_index(key, index, timestamp_ms))
    }

    fn apply_receipt(&mut self, record: &InputRecord) -> Result<JoinOutput, RecordError> {
        let key = utf8_key(record)?;
        let (original, at_ms) = decode_by_id(record.value.as_deref().unwrap_or_default())?;
        let receipt = parse_delivery_report(original.key.as_deref(), Some(&original.value))?;
        let waiting = WaitingReceipt {
            receipt: PartReceipt {
                stat: receipt.state.stat().into(),
                err: receipt.err.map(Into::into),
                done_date: receipt.done_date.map(Into::into),
            },
            supplier: receipt.supplier,
            supplier_message_id: receipt.supplier_message_id,
            at_ms,
            original,
        };
        Ok(self.state.apply_receipt(key, waiting))
    }

    fn sweep(&mut self) -> Option<SinkBatch> {
        if !self.restored {
            return None;
        }
        let mut outputs = Vec::new();
        let output = self.state.sweep(self.clock.now_ms(&*self.shared.clock));
        self.collect(output, &mut outputs);
        let batch = self.batch(outputs, [None; InputTopic::COUNT]);
        (!batch.outputs.is_empty() || !batch.changelog.is_empty()).then_some(batch)
    }

    fn collect(&mut self, output: JoinOutput, outputs: &mut Vec<OutputRecord>) {
        outputs.extend(output.joined.into_iter().map(matched_record));
        for unmatched in output.unmatched {
            outputs.push(self.unmatched_letter(unmatched));
        }
    }

    fn batch(&mut self, outputs: Vec<OutputRecord>, next_offsets: [Option<i64>; InputTopic::COUNT]) -> SinkBatch {
        self.gauges[0].set(self.state.len() as i64);
        self.gauges[1].set(self.state.waiting() as i64);
        let changelog = self.state.take_changes().into_iter().map(|(key, entry)| (key, entry.map(encode))).collect();
        SinkBatch {
            partition: self.partition,
            outputs,
            changelog,
            changelog_topic: Destination::JoinChangelog,
            next_offsets,
            completions: Vec::new(),
            delivery_completions: Vec::new(),
            unmatched_suppliers: std::mem::take(&mut self.unmatched_suppliers),
        }
    }

    /// The most common cause is a supplier whose ids differ in format between its submit
    /// responses and its receipts: the reason says which supplier and which flag to check.
    fn unmatched_letter(&mut self, unmatched: WaitingReceipt) -> OutputRecord {
        let seconds = self.shared.join_policy.unmatched_after_ms / 1000;
        let supplier = &unmatched.supplier;
        let reason = format!(
            "unmatched_delivery_report: no submit response of supplier {supplier:?} with id {:?} within {seconds} s \
             (check --delivery-id-format for this supplier)",
            unmatched.supplier_message_id
        );
        self.unmatched_suppliers.push(supplier.clone());
        if let Some(suppressed) = self.bad_records.ready() {
            tracing::warn!(
                supplier,
                id = unmatched.supplier_message_id,
                suppressed,
                "Delivery report matched no submit response"
            );
        }
        let OriginalRecord { key, value, topic, partition, offset } = unmatched.original;
        OutputRecord {
            destination: Destination::DeadLetter(RecordErrorKind::UnmatchedDeliveryReport),
            partition: self.partition,
            sent_at_ms: None,
            timestamp_ms: None,
            headers: origin_headers(reason, topic, partition, offset),
            key,
            value: Some(value),
        }
    }

    fn dead_letter(&mut self, record: InputRecord, error: RecordError) -> OutputRecord {
        let topic = self.shared.topics.input(record.source).to_owned();
        tracing::error!(topic, partition = self.partition, offset = record.offset, reason = %error, "Unreadable internal record");
        OutputRecord {
            destination: Destination::DeadLetter(error.kind),
            partition: self.partition,
            sent_at_ms: None,
            timestamp_ms: None,
            headers: origin_headers(error.reason, topic, self.partition, record.offset),
            key: record.key,
            value: record.value,
        }
    }
}

fn utf8_key(record: &InputRecord) -> Result<&str, RecordError> {
    record
        .key
        .as_deref()
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or_else(|| RecordError::new(RecordErrorKind::KeyNotUtf8, "receipt key is missing or not UTF-8"))
}

fn matched_record(joined: Joined) -> OutputRecord {
    let Joined { index, receipt, at_ms } = joined;
    OutputRecord {
        destination: Destination::MatchedReceipt,
        partition: index.message_partition,
        value: Some(encode_matched(&index.message_id, index.part_number, &receipt)),
        key: Some(index.message_id.into_bytes()),
        headers: Vec::new(),
        sent_at_ms: None,
        // The receipt's time: the message's partition clock then follows receipt time while
        // receipts flow, and does not run ahead of a receipt backlog upstream.
        timestamp_ms: Some(at_ms),
    }
}

impl Actor for ReceiptJoinActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.restore(ctx);
        ctx.run_interval(self.shared.sweep_interval, |actor, _ctx| {
            if let Some(batch) = actor.sweep() {
                actor.shared.sink.do_send(batch);
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.shared.metrics.forget_join(self.partition);
        if self.failed_closed {
            self.shared.metrics.partitions_failed_closed.dec();
        }
    }
}

impl Handler<Process> for ReceiptJoinActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, Process(records): Process, _ctx: &mut Self::Context) -> Self::Result {
        if self.failed_closed {
            return Box::pin(async {});
        }
        let batch = self.process(records);
        // Enqueued now, inside the handler, so the sink sees batches in processing order.
        let delivered = self.shared.sink.send(batch);
        Box::pin(async move {
            let _ = delivered.await;
        })
    }
}

impl Handler<Stop> for ReceiptJoinActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
