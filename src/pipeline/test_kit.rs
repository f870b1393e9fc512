//! In-memory stand-ins for the broker, for the stages' unit tests: a [`Transactions`] that keeps
//! what was committed, a [`StateRestore`] that hands back a prepared state, and builders for
//! input records and contexts. The real-broker tests in `tests/` stay as they are.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::mpsc::UnboundedReceiver;

use super::clock::{Clock, ManualClock};
use super::context::StageContext;
use super::failure::{Failures, PipelineError};
use super::messages::SourceCommand;
use super::sink::{Sink, SinkContext};
use crate::domain::receipt_join::{JoinPolicy, JoinState};
use crate::domain::supplier_id::IdFormats;
use crate::domain::{InputTopic, PartitionState, Policy};
use crate::health::Health;
use crate::kafka::records::{InputRecord, OutputRecord};
use crate::kafka::restore::{RestoreError, Restored, StateRestore};
use crate::kafka::topics::TopicNames;
use crate::kafka::transaction::{ConsumedOffset, TransactionError, Transactions};
use crate::telemetry::Metrics;

pub const START_MS: i64 = 1_800_000_000_000;

/// How the next commit (or replacement) of [`FakeTransactions`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Abort,
    Fatal,
}

/// A committed transaction: `(topic, record)` in production order, and its offsets.
#[derive(Debug, Default, Clone)]
pub struct Committed {
    pub records: Vec<(String, OutputRecord)>,
    pub offsets: Vec<ConsumedOffset>,
}

#[derive(Debug, Default)]
pub struct Ledger {
    pub committed: Vec<Committed>,
    pub open: Option<Committed>,
    pub aborts: u32,
    pub replacements: u32,
    /// Failures of the next commits, first first; `fail_always` repeats one forever.
    pub fail_commits: Vec<Failure>,
    pub fail_always: Option<Failure>,
    pub refuse_replacement: bool,
}

impl Ledger {
    /// Every committed record of `topic`.
    pub fn records(&self, topic: &str) -> Vec<OutputRecord> {
        self.committed.iter().flat_map(|c| &c.records).filter(|(t, _)| t == topic).map(|(_, r)| r.clone()).collect()
    }

    pub fn offsets(&self) -> HashMap<(String, i32), i64> {
        self.committed.iter().flat_map(|c| &c.offsets).map(|o| ((o.topic.clone(), o.partition), o.next)).collect()
    }
}

/// [`Transactions`] that keeps everything in a shared [`Ledger`].
pub struct FakeTransactions(pub Arc<Mutex<Ledger>>);

impl FakeTransactions {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.0.lock().unwrap()
    }
}

impl Transactions for FakeTransactions {
    fn begin(&mut self) -> Result<(), TransactionError> {
        let mut ledger = self.ledger();
        assert!(ledger.open.is_none(), "begin with a transaction open");
        ledger.open = Some(Committed::default());
        Ok(())
    }

    fn send(&mut self, topic: &str, record: &OutputRecord) -> Result<(), TransactionError> {
        let mut ledger = self.ledger();
        let open = ledger.open.as_mut().expect("send outside a transaction");
        open.records.push((topic.to_owned(), record.clone()));
        Ok(())
    }

    fn send_offsets(&mut self, offsets: &[ConsumedOffset]) -> Result<(), TransactionError> {
        let mut ledger = self.ledger();
        ledger.open.as_mut().expect("offsets outside a transaction").offsets.extend_from_slice(offsets);
        Ok(())
    }

    fn commit(&mut self) -> Result<(), TransactionError> {
        let mut ledger = self.ledger();
        let failure =
            if ledger.fail_commits.is_empty() { ledger.fail_always } else { Some(ledger.fail_commits.remove(0)) };
        let open = ledger.open.take().expect("commit outside a transaction");
        match failure {
            None => {
                ledger.committed.push(open);
                Ok(())
            }
            Some(Failure::Abort) => {
                ledger.aborts += 1;
                Err(TransactionError::Aborted(KafkaError::MessageProduction(RDKafkaErrorCode::Fail)))
            }
            Some(Failure::Fatal) => {
                Err(TransactionError::Fatal(KafkaError::MessageProduction(RDKafkaErrorCode::Fenced)))
            }
        }
    }

    fn abort(&mut self, cause: KafkaError) -> TransactionError {
        let mut ledger = self.ledger();
        ledger.open = None;
        ledger.aborts += 1;
        TransactionError::Aborted(cause)
    }

    fn replace(&mut self) -> Result<(), TransactionError> {
        let mut ledger = self.ledger();
        if ledger.refuse_replacement {
            return Err(TransactionError::Fatal(KafkaError::MessageProduction(RDKafkaErrorCode::Fenced)));
        }
        ledger.open = None;
        ledger.replacements += 1;
        Ok(())
    }

    fn serve(&mut self) {}
}

/// A restorer that hands back a prepared state per partition (empty if none), or fails.
#[derive(Default)]
pub struct FakeRestorer {
    pub states: Mutex<HashMap<i32, PartitionState>>,
    pub fail: bool,
    /// Answer as for an unreadable changelog record.
    pub corrupt: bool,
}

impl StateRestore for FakeRestorer {
    fn restore_join(&self, _partition: i32, policy: JoinPolicy) -> Result<Restored<JoinState>, RestoreError> {
        Ok(Restored { state: JoinState::new(policy), records: 0, elapsed: Duration::ZERO })
    }

    fn restore(&self, partition: i32, policy: Policy) -> Result<Restored<PartitionState>, RestoreError> {
        if self.corrupt {
            let reason = "unreadable changelog value".into();
            return Err(RestoreError::Corrupt { topic: "changelog".into(), partition, offset: 7, reason });
        }
        if self.fail {
            return Err(RestoreError::Stalled {
                topic: "changelog".into(),
                partition,
                position: 0,
                high: 1,
                waited: Duration::ZERO,
            });
        }
        let state = self.states.lock().unwrap().remove(&partition).unwrap_or_else(|| PartitionState::new(policy));
        Ok(Restored { state, records: 0, elapsed: Duration::ZERO })
    }
}

pub fn topics() -> Arc<TopicNames> {
    Arc::new(TopicNames {
        sent: "sent".into(),
        responses: "responses".into(),
        status: "status".into(),
        dead_letter: "dlq".into(),
        changelog: "changelog".into(),
        delivery_reports: None,
        receipt_index: "receipt-index".into(),
        receipts_by_id: "receipts-by-id".into(),
        matched_receipts: "receipts-matched".into(),
        join_changelog: "join-changelog".into(),
    })
}

pub fn policy() -> Policy {
    Policy { submit_timeout_ms: 1_000, retention_ms: 60_000, retryable: vec![0x58], delivery: None }
}

/// A sink over [`FakeTransactions`], and what it reports.
pub struct TestSink {
    pub addr: Addr<Sink>,
    pub ledger: Arc<Mutex<Ledger>>,
    pub source: Receiver<SourceCommand>,
    pub failures: Failures,
    pub failed: UnboundedReceiver<PipelineError>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl TestSink {
    /// Starts the sink in the current actix system; it commits on its own every `commit_interval`.
    pub fn start(ledger: Ledger, commit_interval: Duration) -> Self {
        let ledger = Arc::new(Mutex::new(ledger));
        let (source_tx, source) = channel();
        let (failures, failed) = Failures::channel();
        let metrics = Arc::new(Metrics::new());
        // A watchdog that sees any waiting work as a stall, so tests can see what the sink reports.
        let health = Arc::new(Health::new(Duration::ZERO));
        let context = SinkContext {
            topics: topics(),
            metrics: metrics.clone(),
            commit_interval,
            health: health.clone(),
            source: source_tx,
            failures: failures.clone(),
        };
        let transactions = Box::new(FakeTransactions(ledger.clone()));
        let addr = Sink::create(|ctx| {
            ctx.set_mailbox_capacity(super::UNBOUNDED_MAILBOX);
            Sink::new(transactions, context)
        });
        Self { addr, ledger, source, failures, failed, metrics, health }
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap()
    }
}

/// The context of partition actors feeding `sink`, with a hand-moved clock.
pub fn partition_context(sink: &TestSink, restorer: FakeRestorer, clock: Arc<ManualClock>) -> StageContext {
    StageContext {
        sink: sink.addr.clone(),
        topics: topics(),
        metrics: sink.metrics.clone(),
        health: Arc::new(Health::new(Duration::from_secs(120))),
        restorer: Arc::new(restorer),
        clock: clock as Arc<dyn Clock>,
        failures: sink.failures.clone(),
        policy: policy(),
        sweep_interval: Duration::from_millis(10),
        partitions: 8,
        id_formats: Arc::new(IdFormats::default()),
        join_policy: JoinPolicy { unmatched_after_ms: 1_000, keep_index_ms: 60_000, retention_ms: 60_000 },
    }
}

pub fn sent(partition: i32, offset: i64, id: &str, timestamp_ms: i64) -> InputRecord {
    record(
        InputTopic::SentMessages,
        partition,
        offset,
        id,
        format!(r#"{{"id":"{id}","status":"PENDING"}}"#),
        timestamp_ms,
    )
}

pub fn part(partition: i32, offset: i64, id: &str, number: u32, total: u32, timestamp_ms: i64) -> InputRecord {
    let value = format!(
        r#"{{"messageId":"{id}","partNumber":{number},"totalParts":{total},"commandStatus":0,"supplierMessageId":"S-{id}-{number}","supplier":"sup"}}"#
    );
    record(InputTopic::SubmitResponses, partition, offset, id, value, timestamp_ms)
}

pub fn garbage(partition: i32, offset: i64) -> InputRecord {
    record(InputTopic::SubmitResponses, partition, offset, "x", "not json".into(), START_MS)
}

fn record(source: InputTopic, partition: i32, offset: i64, key: &str, value: String, timestamp_ms: i64) -> InputRecord {
    InputRecord {
        source,
        partition,
        offset,
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.into_bytes()),
        timestamp_ms: Some(timestamp_ms),
    }
}

/// The `status` field of each status record, by message id.
pub fn statuses(records: &[OutputRecord]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| {
            let value: serde_json::Value = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
            (String::from_utf8(r.key.clone().unwrap()).unwrap(), value["status"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Waits (yielding to the actors) until `condition` holds, or panics after 10 s.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
