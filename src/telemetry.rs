//! Every metric of the tracker, defined once.
//!
//! Names follow the Prometheus guide: prefix `sms_tracker_`, counters end in `_total`, base units.
//! Label values are bounded (topic, partition, status, reason, kind). Hot paths use the cached
//! children in [`PartitionMetrics`] and the arrays below, never a label lookup per record.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::{EntryCounts, Ignored, RecordErrorKind, Status};
use crate::kafka::records::Source;

/// All metrics, registered in their own registry.
pub struct Metrics {
    registry: Registry,
    records_consumed: IntCounterVec,
    state_entries: IntGaugeVec,
    pub statuses_published: Vec<(Status, IntCounter)>,
    pub dead_letters: Vec<(RecordErrorKind, IntCounter)>,
    pub ignored_records: Vec<(Ignored, IntCounter)>,
    pub transactions_committed: IntCounter,
    pub transactions_aborted: IntCounter,
    pub transaction_commit_seconds: Histogram,
    pub producer_replacements: IntCounter,
    pub assigned_partitions: IntGauge,
    pub rebalances: IntCounter,
    pub records_restored: IntCounter,
    pub partitions_restoring: IntGauge,
    pub restore_seconds: Histogram,
    pub completion_latency_seconds: Histogram,
    pub processing_lag_seconds: Histogram,
    pub consumer_lag_records: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let records_consumed = IntCounterVec::new(
            Opts::new("sms_tracker_records_consumed_total", "Input records consumed, by topic and partition."),
            &["topic", "partition"],
        )
        .expect("valid metric");
        let state_entries = IntGaugeVec::new(
            Opts::new("sms_tracker_state_entries", "Message ids held in state, by partition and kind."),
            &["partition", "kind"],
        )
        .expect("valid metric");
        let statuses = IntCounterVec::new(
            Opts::new("sms_tracker_statuses_published_total", "Status changes published (committed), by status."),
            &["status"],
        )
        .expect("valid metric");
        let dead_letters = IntCounterVec::new(
            Opts::new("sms_tracker_dead_letters_total", "Input records sent to the dead-letter topic, by reason."),
            &["reason"],
        )
        .expect("valid metric");
        let ignored = IntCounterVec::new(
            Opts::new("sms_tracker_ignored_records_total", "Valid input records that changed nothing, by reason."),
            &["reason"],
        )
        .expect("valid metric");
        let transactions = IntCounterVec::new(
            Opts::new("sms_tracker_transactions_total", "Kafka transactions ended, by result."),
            &["result"],
        )
        .expect("valid metric");
        let transaction_commit_seconds = Histogram::with_opts(
            HistogramOpts::new("sms_tracker_transaction_commit_duration_seconds", "Time to commit one transaction.")
                .buckets(vec![0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )
        .expect("valid metric");
        let producer_replacements = IntCounter::new(
            "sms_tracker_producer_replacements_total",
            "Transactional producers replaced after a fatal error (e.g. fenced after a broker outage \
             longer than the transaction timeout).",
        )
        .expect("valid metric");
        let assigned_partitions =
            IntGauge::new("sms_tracker_assigned_partitions", "Input partitions assigned to this instance.")
                .expect("valid metric");
        let rebalances =
            IntCounter::new("sms_tracker_rebalances_total", "Consumer group rebalances (assignments) seen.")
                .expect("valid metric");
        let records_restored =
            IntCounter::new("sms_tracker_restored_records_total", "Changelog records replayed to restore state.")
                .expect("valid metric");
        let partitions_restoring =
            IntGauge::new("sms_tracker_partitions_restoring", "Assigned partitions still restoring their state.")
                .expect("valid metric");
        let restore_seconds = Histogram::with_opts(
            HistogramOpts::new("sms_tracker_restore_duration_seconds", "Time to restore one partition's state.")
                .buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]),
        )
        .expect("valid metric");
        let completion_latency_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "sms_tracker_completion_latency_seconds",
                "From a message's sent-messages record timestamp to its status being committed.",
            )
            .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0]),
        )
        .expect("valid metric");
        let processing_lag_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "sms_tracker_processing_lag_seconds",
                "From an input record's timestamp to its processing by the tracker.",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0]),
        )
        .expect("valid metric");
        let consumer_lag_records = IntGaugeVec::new(
            Opts::new(
                "sms_tracker_consumer_lag_records",
                "Records not yet consumed, per assigned input partition (last stable offset minus position).",
            ),
            &["topic", "partition"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(records_consumed.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(state_entries.clone()),
            Box::new(statuses.clone()),
            Box::new(dead_letters.clone()),
            Box::new(ignored.clone()),
            Box::new(transactions.clone()),
            Box::new(transaction_commit_seconds.clone()),
            Box::new(producer_replacements.clone()),
            Box::new(assigned_partitions.clone()),
            Box::new(rebalances.clone()),
            Box::new(records_restored.clone()),
            Box::new(partitions_restoring.clone()),
            Box::new(restore_seconds.clone()),
            Box::new(completion_latency_seconds.clone()),
            Box::new(processing_lag_seconds.clone()),
            Box::new(consumer_lag_records.clone()),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry.register(collector).expect("metric registered once");
        }
        Self {
            statuses_published: Status::ALL.iter().map(|s| (*s, statuses.with_label_values(&[s.as_str()]))).collect(),
            dead_letters: RecordErrorKind::ALL
                .iter()
                .map(|k| (*k, dead_letters.with_label_values(&[k.as_str()])))
                .collect(),
            ignored_records: Ignored::ALL.iter().map(|k| (*k, ignored.with_label_values(&[k.as_str()]))).collect(),
            transactions_committed: transactions.with_label_values(&["committed"]),
            transactions_aborted: transactions.with_label_values(&["aborted"]),
            registry,
            records_consumed,
            state_entries,
            transaction_commit_seconds,
            producer_replacements,
            assigned_partitions,
            rebalances,
            records_restored,
            partitions_restoring,
            restore_seconds,
            completion_latency_seconds,
            processing_lag_seconds,
            consumer_lag_records,
        }
    }

    pub fn status(&self, status: Status) -> &IntCounter {
        &self.statuses_published.iter().find(|(s, _)| *s == status).expect("every status registered").1
    }

    pub fn dead_letter(&self, kind: RecordErrorKind) -> &IntCounter {
        &self.dead_letters.iter().find(|(k, _)| *k == kind).expect("every reason registered").1
    }

    pub fn ignored(&self, reason: Ignored) -> &IntCounter {
        &self.ignored_records.iter().find(|(k, _)| *k == reason).expect("every reason registered").1
    }

    /// The cached children of one partition, made when its actor starts.
    pub fn for_partition(&self, partition: i32, topics: [&str; 2]) -> PartitionMetrics {
        let p = partition.to_string();
        PartitionMetrics {
            consumed: Source::ALL.map(|s| self.records_consumed.with_label_values(&[topics[s.index()], &p])),
            pending: self.state_entries.with_label_values(&[&p, "pending"]),
            awaiting_message: self.state_entries.with_label_values(&[&p, "awaiting_message"]),
            markers: self.state_entries.with_label_values(&[&p, "terminal_marker"]),
        }
    }

    /// Drops a revoked partition's gauges so another instance's values are not double counted.
    pub fn forget_partition(&self, partition: i32) {
        let p = partition.to_string();
        for kind in ["pending", "awaiting_message", "terminal_marker"] {
            let _ = self.state_entries.remove_label_values(&[&p, kind]);
        }
    }

    /// Replaces the consumer lag series with librdkafka's latest view of the assigned partitions
    /// (a revoked partition's series disappears).
    pub fn set_consumer_lag(&self, lags: &[(&str, i32, i64)]) {
        self.consumer_lag_records.reset();
        for (topic, partition, lag) in lags {
            self.consumer_lag_records.with_label_values(&[*topic, partition.to_string().as_str()]).set(*lag);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer).expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Label children of one partition, cached by its actor.
pub struct PartitionMetrics {
    pub consumed: [IntCounter; 2],
    pub pending: IntGauge,
    pub awaiting_message: IntGauge,
    pub markers: IntGauge,
}

impl PartitionMetrics {
    pub fn set_state(&self, counts: EntryCounts) {
        self.pending.set(counts.pending as i64);
        self.awaiting_message.set(counts.awaiting_message as i64);
        self.markers.set(counts.markers as i64);
    }
}
