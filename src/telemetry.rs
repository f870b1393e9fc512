//! Every metric of the tracker, defined once.
//!
//! Names follow the Prometheus guide: prefix `sms_tracker_`, counters end in `_total`, base units.
//! Label values are bounded (topic, partition, status, reason, kind). Hot paths use the cached
//! children in [`PartitionMetrics`] and the arrays below, never a label lookup per record.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::domain::InputTopic;
use crate::domain::{EntryCounts, Ignored, RecordErrorKind, Status};

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
    pub revoke_commits: IntCounter,
    pub assigned_partitions: IntGauge,
    pub rebalances: IntCounter,
    pub input_pauses: IntCounter,
    pub order_buffer_bytes: IntGauge,
    pub records_restored: IntCounter,
    pub changelog_unreadable_records: IntCounter,
    pub partitions_failed_closed: IntGauge,
    pub partitions_restoring: IntGauge,
    pub stalled_seconds: IntGauge,
    pub restore_seconds: Histogram,
    pub completion_latency_seconds: Histogram,
    /// Per delivery outcome ([`Status::DELIVERY_OUTCOMES`]).
    pub delivery_latency_seconds: Vec<(Status, Histogram)>,
    pub processing_lag_seconds: Histogram,
    pub consumer_lag_records: IntGaugeVec,
    unmatched_delivery_reports: IntCounterVec,
    api_requests: IntCounterVec,
    api_request_seconds: HistogramVec,
    api_forwards: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = Registrar(registry.clone());
        let statuses = r.counter_vec(
            "sms_tracker_statuses_published_total",
            "Status changes published (committed), by status.",
            &["status"],
        );
        let dead_letters = r.counter_vec(
            "sms_tracker_dead_letters_total",
            "Input records sent to the dead-letter topic, by reason.",
            &["reason"],
        );
        let ignored = r.counter_vec(
            "sms_tracker_ignored_records_total",
            "Valid input records that changed nothing, by reason.",
            &["reason"],
        );
        let transactions =
            r.counter_vec("sms_tracker_transactions_total", "Kafka transactions ended, by result.", &["result"]);
        let delivery_latency = r.histogram_vec(
            "sms_tracker_delivery_latency_seconds",
            "From a message's SENT (the timestamp of the record that completed it) to its delivery outcome being \
             committed, by outcome status (DELIVERY_UNKNOWN: the delivery timeout).",
            &["status"],
            &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 43200.0, 86400.0, 259200.0],
        );
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("registered once");
        Self {
            records_consumed: r.counter_vec(
                "sms_tracker_records_consumed_total",
                "Input records consumed, by topic and partition.",
                &["topic", "partition"],
            ),
            state_entries: r.gauge_vec(
                "sms_tracker_state_entries",
                "Message ids held in state, by partition and kind.",
                &["partition", "kind"],
            ),
            statuses_published: Status::ALL.iter().map(|s| (*s, statuses.with_label_values(&[s.as_str()]))).collect(),
            dead_letters: RecordErrorKind::ALL
                .iter()
                .map(|k| (*k, dead_letters.with_label_values(&[k.as_str()])))
                .collect(),
            ignored_records: Ignored::ALL.iter().map(|k| (*k, ignored.with_label_values(&[k.as_str()]))).collect(),
            transactions_committed: transactions.with_label_values(&["committed"]),
            transactions_aborted: transactions.with_label_values(&["aborted"]),
            transaction_commit_seconds: r.histogram(
                "sms_tracker_transaction_commit_duration_seconds",
                "Time to commit one transaction.",
                &[0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            ),
            producer_replacements: r.counter(
                "sms_tracker_producer_replacements_total",
                "Transactional producers replaced after a fatal error (e.g. fenced after a broker outage \
                 longer than the transaction timeout).",
            ),
            revoke_commits: r.counter(
                "sms_tracker_revoke_commits_total",
                "Transactions with consumed input committed because partitions were given up (a \
                 rebalance or shutdown), not at the commit interval.",
            ),
            assigned_partitions: r
                .gauge("sms_tracker_assigned_partitions", "Input partitions assigned to this instance."),
            rebalances: r.counter("sms_tracker_rebalances_total", "Consumer group rebalances (assignments) seen."),
            input_pauses: r.counter(
                "sms_tracker_input_partition_pauses_total",
                "Input partitions paused because the records held back for timestamp order reached --order-buffer-mib.",
            ),
            order_buffer_bytes: r.gauge(
                "sms_tracker_order_buffer_bytes",
                "Bytes of input records held back for timestamp order (bounded by --order-buffer-mib).",
            ),
            records_restored: r
                .counter("sms_tracker_restored_records_total", "Changelog records replayed to restore state."),
            changelog_unreadable_records: r.counter(
                "sms_tracker_changelog_unreadable_records_total",
                "Changelog records that could not be read back while restoring; their partition is not restored.",
            ),
            partitions_failed_closed: r.gauge(
                "sms_tracker_partitions_failed_closed",
                "Assigned partitions (or their receipt joins) whose state is unreadable: they process nothing \
                 and this instance is not ready until an operator repairs the changelog.",
            ),
            partitions_restoring: r
                .gauge("sms_tracker_partitions_restoring", "Assigned partitions still restoring their state."),
            stalled_seconds: r.gauge(
                "sms_tracker_stalled_seconds",
                "How long input has waited with no transaction committed, once past the stall timeout \
                 (0 otherwise); /healthz fails meanwhile.",
            ),
            restore_seconds: r.histogram(
                "sms_tracker_restore_duration_seconds",
                "Time to restore one partition's state.",
                &[0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0],
            ),
            completion_latency_seconds: r.histogram(
                "sms_tracker_completion_latency_seconds",
                "From a message's sent-messages record timestamp to its status being committed.",
                &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0],
            ),
            delivery_latency_seconds: Status::DELIVERY_OUTCOMES
                .iter()
                .map(|s| (*s, delivery_latency.with_label_values(&[s.as_str()])))
                .collect(),
            processing_lag_seconds: r.histogram(
                "sms_tracker_processing_lag_seconds",
                "From an input record's timestamp to its processing by the tracker.",
                &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0],
            ),
            consumer_lag_records: r.gauge_vec(
                "sms_tracker_consumer_lag_records",
                "Records not yet consumed, per assigned input partition (last stable offset minus position).",
                &["topic", "partition"],
            ),
            unmatched_delivery_reports: r.counter_vec(
                "sms_tracker_unmatched_delivery_reports_total",
                "Delivery receipts dead-lettered because no submit response with their supplier id arrived in \
                 time, by supplier (a wrong --delivery-id-format is the usual cause).",
                &["supplier"],
            ),
            api_requests: r.counter_vec(
                "sms_tracker_api_requests_total",
                "Requests to the lookup API (--api-listen), by route and HTTP status code.",
                &["route", "code"],
            ),
            api_request_seconds: r.histogram_vec(
                "sms_tracker_api_request_duration_seconds",
                "Time to answer a request to the lookup API, by route.",
                &["route"],
                &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0],
            ),
            api_forwards: r.counter_vec(
                "sms_tracker_api_forwards_total",
                "Lookups forwarded to the instance owning their partition, by result (answered: the owner \
                 answered, whatever its status; unreachable: it did not).",
                &["result"],
            ),
            registry,
        }
    }

    pub fn status(&self, status: Status) -> &IntCounter {
        &self.statuses_published.iter().find(|(s, _)| *s == status).expect("every status registered").1
    }

    pub fn dead_letter(&self, kind: RecordErrorKind) -> &IntCounter {
        &self.dead_letters.iter().find(|(k, _)| *k == kind).expect("every reason registered").1
    }

    /// The delivery latency histogram of a delivery outcome; `None` for any other status.
    pub fn delivery_latency(&self, outcome: Status) -> Option<&Histogram> {
        self.delivery_latency_seconds.iter().find(|(s, _)| *s == outcome).map(|(_, h)| h)
    }

    pub fn ignored(&self, reason: Ignored) -> &IntCounter {
        &self.ignored_records.iter().find(|(k, _)| *k == reason).expect("every reason registered").1
    }

    /// The cached children of one partition's stage, made when its actor starts: a consumed
    /// counter for each of `inputs` (named by `topic`), and the state gauges.
    pub fn for_partition(
        &self,
        partition: i32,
        inputs: &[InputTopic],
        topic: impl Fn(InputTopic) -> String,
    ) -> PartitionMetrics {
        let p = partition.to_string();
        let consumed = InputTopic::ALL.map(|input| {
            inputs.contains(&input).then(|| self.records_consumed.with_label_values(&[&topic(input), &p]))
        });
        let gauge = |kind: &str| self.state_entries.with_label_values(&[&p, kind]);
        PartitionMetrics {
            consumed,
            pending: gauge("pending"),
            awaiting_message: gauge("awaiting_message"),
            awaiting_receipts: gauge("awaiting_receipts"),
            markers: gauge("terminal_marker"),
        }
    }

    /// Records consumed from one input partition.
    pub fn records_consumed(&self, topic: &str, partition: i32) -> IntCounter {
        self.records_consumed.with_label_values(&[topic, &partition.to_string()])
    }

    /// The receipt join's gauges of one partition.
    pub fn for_join(&self, partition: i32) -> [IntGauge; 2] {
        let p = partition.to_string();
        ["join_index", "join_waiting_receipts"].map(|kind| self.state_entries.with_label_values(&[&p, kind]))
    }

    /// Drops a revoked partition's gauges so another instance's values are not double counted.
    pub fn forget_partition(&self, partition: i32) {
        let p = partition.to_string();
        for kind in ["pending", "awaiting_message", "awaiting_receipts", "terminal_marker"] {
            let _ = self.state_entries.remove_label_values(&[&p, kind]);
        }
    }

    /// Drops a revoked partition's receipt join gauges.
    pub fn forget_join(&self, partition: i32) {
        let p = partition.to_string();
        for kind in ["join_index", "join_waiting_receipts"] {
            let _ = self.state_entries.remove_label_values(&[&p, kind]);
        }
    }

    /// A receipt that never matched a submit response, by supplier: a rising count for one
    /// supplier usually means its id format is configured wrong.
    pub fn unmatched_receipt(&self, supplier: &str) {
        self.unmatched_delivery_reports.with_label_values(&[supplier]).inc();
    }

    /// One answered API request. `route` is one of a fixed few names, never the path: the path
    /// holds message ids.
    pub fn api_request(&self, route: &str, code: u16, seconds: f64) {
        self.api_requests.with_label_values(&[route, code.to_string().as_str()]).inc();
        self.api_request_seconds.with_label_values(&[route]).observe(seconds);
    }

    /// One lookup forwarded to its partition's owner.
    pub fn api_forwarded(&self, answered: bool) {
        self.api_forwards.with_label_values(&[if answered { "answered" } else { "unreachable" }]).inc();
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
    /// Per input (by [`InputTopic::index`]), for the inputs of the actor's stage.
    pub consumed: [Option<IntCounter>; InputTopic::COUNT],
    pub pending: IntGauge,
    pub awaiting_message: IntGauge,
    pub awaiting_receipts: IntGauge,
    pub markers: IntGauge,
}

impl PartitionMetrics {
    pub fn set_state(&self, counts: EntryCounts) {
        self.pending.set(counts.pending as i64);
        self.awaiting_message.set(counts.awaiting_message as i64);
        self.awaiting_receipts.set(counts.awaiting_receipts as i64);
        self.markers.set(counts.markers as i64);
    }
}

/// Creates each metric and registers it in one step, so its name is written once.
struct Registrar(Registry);

impl Registrar {
    fn register<M: prometheus::core::Collector + Clone + 'static>(&self, metric: M) -> M {
        self.0.register(Box::new(metric.clone())).expect("metric registered once");
        metric
    }

    fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.register(IntCounter::new(name, help).expect("valid metric"))
    }

    fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.register(IntGauge::new(name, help).expect("valid metric"))
    }

    fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.register(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        self.register(
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid metric"),
        )
    }

    fn histogram_vec(&self, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
        self.register(
            HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels).expect("valid metric"),
        )
    }
}
