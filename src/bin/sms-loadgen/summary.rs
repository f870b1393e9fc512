//! The run's figures: what was produced, by kind, so that tests can compare them with what a
//! consumer (or the tracker) saw. Counted from the records actually enqueued, not from the plan,
//! so an interrupted run still reports the truth.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::records::{InvalidKind, PlannedRecord, RecordKind, Topic};

/// Field names are a stable interface (`--summary-json`); only add to them.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub seed: u64,
    /// Valid whole messages (each with all its parts answered).
    pub messages: u64,
    /// All records written to the sent-messages topic, invalid ones included.
    pub sent_records: u64,
    /// All records written to the submit-responses topic: successes, duplicates, throttled and
    /// invalid ones.
    pub response_records: u64,
    pub duplicate_responses: u64,
    pub retryable_responses: u64,
    pub invalid_records: u64,
    /// Every kind is present, zero or not, so consumers need no defaulting.
    pub invalid_by_kind: BTreeMap<&'static str, u64>,
    pub delivery_errors: u64,
    /// True if Ctrl-C stopped the run (after completing its current window) before all messages.
    pub interrupted: bool,
    pub elapsed_seconds: f64,
    pub records_per_second: f64,
}

impl Summary {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            messages: 0,
            sent_records: 0,
            response_records: 0,
            duplicate_responses: 0,
            retryable_responses: 0,
            invalid_records: 0,
            invalid_by_kind: InvalidKind::ALL.iter().map(|k| (k.as_str(), 0)).collect(),
            delivery_errors: 0,
            interrupted: false,
            elapsed_seconds: 0.0,
            records_per_second: 0.0,
        }
    }

    /// Counts one enqueued record.
    pub fn count(&mut self, record: &PlannedRecord) {
        match record.topic {
            Topic::Sent => self.sent_records += 1,
            Topic::Responses => self.response_records += 1,
        }
        match record.kind {
            RecordKind::Message => self.messages += 1,
            RecordKind::Success => {}
            RecordKind::Duplicate => self.duplicate_responses += 1,
            RecordKind::Retryable => self.retryable_responses += 1,
            RecordKind::Invalid(kind) => {
                self.invalid_records += 1;
                *self.invalid_by_kind.entry(kind.as_str()).or_default() += 1;
            }
        }
    }

    pub fn records(&self) -> u64 {
        self.sent_records + self.response_records
    }

    pub fn finish(&mut self, elapsed: Duration, delivery_errors: u64, interrupted: bool) {
        self.elapsed_seconds = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
        self.records_per_second = (self.records() as f64 / elapsed.as_secs_f64().max(1e-9)).round();
        self.delivery_errors = delivery_errors;
        self.interrupted = interrupted;
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).context("serialising the summary")?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing the summary to {}", path.display()))
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sms-loadgen summary{}", if self.interrupted { " (interrupted)" } else { "" })?;
        let lines: [(&str, &dyn fmt::Display); 7] = [
            ("seed:", &self.seed),
            ("messages (valid):", &self.messages),
            ("sent-messages records:", &self.sent_records),
            ("submit-responses records:", &self.response_records),
            ("duplicate responses:", &self.duplicate_responses),
            ("retryable responses:", &self.retryable_responses),
            ("invalid records:", &self.invalid_records),
        ];
        for (label, value) in lines {
            writeln!(f, "  {label:<27}{value}")?;
        }
        for (kind, count) in &self.invalid_by_kind {
            writeln!(f, "    {kind:<25}{count}")?;
        }
        writeln!(f, "  {:<27}{}", "delivery errors:", self.delivery_errors)?;
        writeln!(f, "  {:<27}{:.3}", "elapsed seconds:", self.elapsed_seconds)?;
        write!(f, "  {:<27}{:.0}", "records/s:", self.records_per_second)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn record(topic: Topic, kind: RecordKind) -> PlannedRecord {
        PlannedRecord { topic, key: Some("k".into()), value: b"{}".to_vec(), kind }
    }

    fn sample() -> Summary {
        let mut summary = Summary::new(7);
        summary.count(&record(Topic::Sent, RecordKind::Message));
        summary.count(&record(Topic::Responses, RecordKind::Success));
        summary.count(&record(Topic::Responses, RecordKind::Duplicate));
        summary.count(&record(Topic::Responses, RecordKind::Retryable));
        summary.count(&record(Topic::Sent, RecordKind::Invalid(InvalidKind::NullKey)));
        summary.count(&record(Topic::Responses, RecordKind::Invalid(InvalidKind::PartOutOfRange)));
        summary.finish(Duration::from_millis(2000), 0, false);
        summary
    }

    #[test]
    fn counts_records_by_topic_and_kind() {
        let s = sample();
        assert_eq!((s.messages, s.sent_records, s.response_records), (1, 2, 4));
        assert_eq!((s.duplicate_responses, s.retryable_responses, s.invalid_records), (1, 1, 2));
        assert_eq!((s.records(), s.records_per_second), (6, 3.0));
    }

    #[test]
    fn json_has_the_stable_snake_case_keys() {
        let value: Value = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            value["invalid_by_kind"],
            json!({"id_mismatch":0,"missing_field":0,"not_json":0,"null_key":1,"part_out_of_range":1,
                   "total_parts_out_of_range":0,"wrong_type":0})
        );
        for key in [
            "seed",
            "messages",
            "sent_records",
            "response_records",
            "duplicate_responses",
            "retryable_responses",
            "invalid_records",
            "elapsed_seconds",
        ] {
            assert!(value.get(key).is_some(), "{key}");
        }
        assert_eq!(value["elapsed_seconds"], 2.0);
    }

    #[test]
    fn human_summary_names_every_figure() {
        let text = sample().to_string();
        for needle in ["seed:", "messages (valid):", "sent-messages", "submit-responses", "null_key", "records/s:"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
