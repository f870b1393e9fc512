//! One actor per assigned partition of the gateway's `delivery-reports`: validates each receipt
//! and re-keys it by (supplier, canonical supplier id) to the receipt join's partition, in the
//! same transaction as its offset. Stateless: the receipt key alone decides where it goes.

use actix::prelude::*;

use super::context::StageContext;
use super::messages::{Process, SinkBatch, Stop};
use super::rate_limit::RateLimitedWarning;
use crate::domain::receipt::parse_delivery_report;
use crate::domain::receipt_join::{OriginalRecord, encode_by_id};
use crate::domain::supplier_id::{canonical_report_id, partition_for, receipt_key};
use crate::domain::{InputTopic, RecordError, RecordErrorKind};
use crate::kafka::records::{Destination, InputRecord, OutputRecord};

pub struct ReceiptIntake {
    partition: i32,
    shared: StageContext,
    bad_records: RateLimitedWarning,
    consumed: prometheus::IntCounter,
}

impl ReceiptIntake {
    pub fn new(partition: i32, shared: StageContext) -> Self {
        let topic = shared.topics.input(InputTopic::DeliveryReports).to_owned();
        let consumed = shared.metrics.records_consumed(&topic, partition);
        Self { partition, shared, bad_records: RateLimitedWarning::new(std::time::Duration::from_secs(10)), consumed }
    }

    fn process(&mut self, records: Vec<InputRecord>) -> SinkBatch {
        let mut next_offsets = [None; InputTopic::COUNT];
        let mut outputs = Vec::with_capacity(records.len());
        let wall = self.shared.clock.wall_ms();
        for record in records {
            self.consumed.inc();
            next_offsets[InputTopic::DeliveryReports.index()] = Some(record.offset + 1);
            let output = match self.re_key(&record, wall) {
                Ok(output) => output,
                Err(error) => self.dead_letter(record, error),
            };
            outputs.push(output);
        }
        SinkBatch {
            partition: self.partition,
            outputs,
            changelog: Vec::new(),
            changelog_topic: Destination::Changelog,
            next_offsets,
            completions: Vec::new(),
            delivery_completions: Vec::new(),
            unmatched_suppliers: Vec::new(),
        }
    }

    fn re_key(&self, record: &InputRecord, wall: i64) -> Result<OutputRecord, RecordError> {
        let receipt = parse_delivery_report(record.key.as_deref(), record.value.as_deref())?;
        let format = self.shared.id_formats.get(&receipt.supplier);
        let key = receipt_key(&receipt.supplier, &canonical_report_id(format, &receipt.supplier_message_id));
        let original = OriginalRecord {
            key: record.key.clone(),
            value: record.value.clone().unwrap_or_default(),
            topic: self.shared.topics.input(InputTopic::DeliveryReports).to_owned(),
            partition: self.partition,
            offset: record.offset,
        };
        let value = encode_by_id(&original, record.timestamp_ms.unwrap_or(wall))
            .ok_or_else(|| RecordError::new(RecordErrorKind::NotJson, "value is not JSON"))?;
        Ok(OutputRecord {
            destination: Destination::ReceiptById,
            partition: partition_for(key.as_bytes(), self.shared.partitions),
            key: Some(key.into_bytes()),
            value: Some(value),
            headers: Vec::new(),
            sent_at_ms: None,
            timestamp_ms: record.timestamp_ms,
        })
    }

    fn dead_letter(&mut self, record: InputRecord, error: RecordError) -> OutputRecord {
        let topic = self.shared.topics.input(InputTopic::DeliveryReports).to_owned();
        if let Some(suppressed) = self.bad_records.ready() {
            tracing::warn!(topic, partition = self.partition, offset = record.offset, reason = %error, suppressed, "Dead-lettering invalid delivery report");
        }
        OutputRecord {
            destination: Destination::DeadLetter(error.kind),
            // The dead-letter topic has the inputs' partition count, which delivery-reports
            // need not share.
            partition: self.partition.rem_euclid(self.shared.partitions),
            sent_at_ms: None,
            timestamp_ms: None,
            headers: super::partition::origin_headers(error.reason, topic, self.partition, record.offset),
            key: record.key,
            value: record.value,
        }
    }
}

impl Actor for ReceiptIntake {
    type Context = Context<Self>;
}

impl Handler<Process> for ReceiptIntake {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, Process(records): Process, _ctx: &mut Self::Context) -> Self::Result {
        let batch = self.process(records);
        // Enqueued now, inside the handler, so the sink sees batches in processing order.
        let delivered = self.shared.sink.send(batch);
        Box::pin(async move {
            let _ = delivered.await;
        })
    }
}

impl Handler<Stop> for ReceiptIntake {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
