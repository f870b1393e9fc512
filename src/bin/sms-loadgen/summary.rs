//! The run's figures: what was produced, by kind, so that tests can compare them with what a
//! consumer (or the tracker) saw. Counted from the records actually enqueued, not from the plan,
//! so an interrupted run still reports the truth.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::content::SUPPLIERS;
use crate::receipts::Outcome;
use crate::records::{InvalidKind, PlannedRecord, ReceiptRole, RecordKind, Topic};

/// Up to this many `--messages`, the summary lists the ids of each expected delivery outcome;
/// beyond it only counts, to keep the summary small (ids can be told apart by `--id-prefix`).
pub const ID_LISTS_UP_TO: u64 = 200_000;

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
    /// Only with `--delivery-reports-topic`; flattened, so that without it the JSON is unchanged.
    #[serde(flatten)]
    pub receipts: Option<ReceiptSummary>,
    /// Every valid message's id, so that a test can compare the exact set of statuses; only up to
    /// [`ID_LISTS_UP_TO`] messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_ids: Option<Vec<String>>,
}

/// The delivery-receipt figures. Invalid receipts are also in `invalid_records` and
/// `invalid_by_kind` (kinds `receipt_*`), since the tracker dead-letters them like the others.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptSummary {
    /// All records written to the delivery-reports topic, invalid ones included.
    pub delivery_report_records: u64,
    /// One per part with a final state (DELIVRD, UNDELIV, REJECTD, EXPIRED); duplicates excluded.
    pub final_receipts: u64,
    /// ENROUTE and ACCEPTD receipts.
    pub intermediate_receipts: u64,
    /// Exact copies of final receipts.
    pub duplicate_receipts: u64,
    /// Valid receipts in raw `shortMessage` form, duplicates included.
    pub text_receipts: u64,
    /// Valid receipts written before their part's successful submit response.
    pub receipts_before_response: u64,
    /// Invalid records on the delivery-reports topic.
    pub invalid_receipts: u64,
    /// Valid receipts per supplier; every supplier is present.
    pub receipts_by_supplier: BTreeMap<&'static str, u64>,
    /// The id format of every supplier, as the tracker must be configured (`--delivery-id-format`).
    pub supplier_id_formats: BTreeMap<&'static str, &'static str>,
    /// Messages whose every part is finally DELIVRD.
    pub expected_delivered: u64,
    /// Messages with one part finally not delivered.
    pub expected_undelivered: u64,
    /// Messages with a part that never gets a final receipt: DELIVERY_UNKNOWN after the timeout.
    pub expected_delivery_unknown: u64,
    /// The ids behind the three counts, in planning order; only up to [`ID_LISTS_UP_TO`] messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_delivered_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_undelivered_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_delivery_unknown_ids: Option<Vec<String>>,
}

impl ReceiptSummary {
    fn new(supplier_id_formats: BTreeMap<&'static str, &'static str>, id_lists: bool) -> Self {
        let list = || id_lists.then(Vec::new);
        Self {
            delivery_report_records: 0,
            final_receipts: 0,
            intermediate_receipts: 0,
            duplicate_receipts: 0,
            text_receipts: 0,
            receipts_before_response: 0,
            invalid_receipts: 0,
            receipts_by_supplier: SUPPLIERS.iter().map(|s| (*s, 0)).collect(),
            supplier_id_formats,
            expected_delivered: 0,
            expected_undelivered: 0,
            expected_delivery_unknown: 0,
            expected_delivered_ids: list(),
            expected_undelivered_ids: list(),
            expected_delivery_unknown_ids: list(),
        }
    }
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
            receipts: None,
            message_ids: None,
        }
    }

    /// Turns the receipt figures on, with the suppliers' id formats and, if `id_lists`, the ids
    /// of each expected outcome.
    pub fn with_receipts(mut self, supplier_id_formats: BTreeMap<&'static str, &'static str>, id_lists: bool) -> Self {
        for kind in InvalidKind::RECEIPTS {
            self.invalid_by_kind.insert(kind.as_str(), 0);
        }
        self.receipts = Some(ReceiptSummary::new(supplier_id_formats, id_lists));
        self
    }

    /// Records the expected outcomes of messages whose window went out: the plan's, since each
    /// such message's receipts are all written by the end of the run (tail ones included).
    pub fn expect(&mut self, outcomes: Vec<(String, Outcome)>) {
        let Some(r) = self.receipts.as_mut() else { return };
        for (id, outcome) in outcomes {
            let (count, ids) = match outcome {
                Outcome::Delivered => (&mut r.expected_delivered, &mut r.expected_delivered_ids),
                Outcome::Undelivered => (&mut r.expected_undelivered, &mut r.expected_undelivered_ids),
                Outcome::Unknown => (&mut r.expected_delivery_unknown, &mut r.expected_delivery_unknown_ids),
            };
            *count += 1;
            if let Some(ids) = ids {
                ids.push(id);
            }
        }
    }

    /// Counts one enqueued record.
    pub fn count(&mut self, record: &PlannedRecord) {
        match record.topic {
            Topic::Sent => self.sent_records += 1,
            Topic::Responses => self.response_records += 1,
            Topic::DeliveryReports => {
                if let Some(r) = self.receipts.as_mut() {
                    r.delivery_report_records += 1;
                    r.invalid_receipts += u64::from(matches!(record.kind, RecordKind::Invalid(_)));
                }
            }
        }
        match record.kind {
            RecordKind::Message => {
                self.messages += 1;
                if let (Some(ids), Some(id)) = (self.message_ids.as_mut(), &record.key) {
                    ids.push(id.clone());
                }
            }
            RecordKind::Success => {}
            RecordKind::Duplicate => self.duplicate_responses += 1,
            RecordKind::Retryable => self.retryable_responses += 1,
            RecordKind::Receipt(kind) => {
                if let Some(r) = self.receipts.as_mut() {
                    match kind.role {
                        ReceiptRole::Intermediate => r.intermediate_receipts += 1,
                        ReceiptRole::Final => r.final_receipts += 1,
                        ReceiptRole::Duplicate => r.duplicate_receipts += 1,
                    }
                    r.text_receipts += u64::from(kind.text);
                    r.receipts_before_response += u64::from(kind.before_response);
                    *r.receipts_by_supplier.entry(kind.supplier).or_default() += 1;
                }
            }
            RecordKind::Invalid(kind) => {
                self.invalid_records += 1;
                *self.invalid_by_kind.entry(kind.as_str()).or_default() += 1;
            }
        }
    }

    pub fn records(&self) -> u64 {
        self.sent_records + self.response_records + self.receipts.as_ref().map_or(0, |r| r.delivery_report_records)
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
        if let Some(r) = &self.receipts {
            let lines: [(&str, &dyn fmt::Display); 10] = [
                ("delivery-reports records:", &r.delivery_report_records),
                ("final receipts:", &r.final_receipts),
                ("intermediate receipts:", &r.intermediate_receipts),
                ("duplicate receipts:", &r.duplicate_receipts),
                ("text receipts:", &r.text_receipts),
                ("receipts before response:", &r.receipts_before_response),
                ("invalid receipts:", &r.invalid_receipts),
                ("expected delivered:", &r.expected_delivered),
                ("expected undelivered:", &r.expected_undelivered),
                ("expected delivery unknown:", &r.expected_delivery_unknown),
            ];
            for (label, value) in lines {
                writeln!(f, "  {label:<27}{value}")?;
            }
            writeln!(f, "  receipts by supplier (id format):")?;
            for (supplier, count) in &r.receipts_by_supplier {
                let format = r.supplier_id_formats.get(supplier).copied().unwrap_or("same");
                writeln!(f, "    {supplier:<25}{count} ({format})")?;
            }
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
    fn without_receipts_the_json_has_no_receipt_keys() {
        let value: Value = serde_json::to_value(sample()).unwrap();
        assert!(value.get("delivery_report_records").is_none() && value.get("expected_delivered").is_none());
    }

    fn receipt(role: ReceiptRole, text: bool, before_response: bool) -> PlannedRecord {
        let kind = crate::records::ReceiptKind { role, supplier: "supplier-b", text, before_response };
        record(Topic::DeliveryReports, RecordKind::Receipt(kind))
    }

    #[test]
    fn counts_receipts_and_expected_outcomes() {
        let formats = [("supplier-a", "hex-in-response")].into_iter().collect();
        let mut s = Summary::new(7).with_receipts(formats, true);
        s.count(&receipt(ReceiptRole::Intermediate, true, false));
        s.count(&receipt(ReceiptRole::Final, false, true));
        s.count(&receipt(ReceiptRole::Duplicate, false, false));
        s.count(&record(Topic::DeliveryReports, RecordKind::Invalid(InvalidKind::ReceiptUnknownStat)));
        s.expect(vec![("m1".into(), Outcome::Delivered), ("m2".into(), Outcome::Unknown)]);
        s.finish(Duration::from_secs(1), 0, false);
        assert_eq!((s.records(), s.invalid_records), (4, 1));
        let value: Value = serde_json::to_value(&s).unwrap();
        let expected = json!({
            "delivery_report_records": 4, "final_receipts": 1, "intermediate_receipts": 1, "duplicate_receipts": 1,
            "text_receipts": 1, "receipts_before_response": 1, "invalid_receipts": 1,
            "receipts_by_supplier": {"supplier-a": 0, "supplier-b": 3, "supplier-c": 0},
            "supplier_id_formats": {"supplier-a": "hex-in-response"},
            "expected_delivered": 1, "expected_undelivered": 0, "expected_delivery_unknown": 1,
            "expected_delivered_ids": ["m1"], "expected_undelivered_ids": [], "expected_delivery_unknown_ids": ["m2"],
        });
        for (key, want) in expected.as_object().unwrap() {
            assert_eq!(&value[key], want, "{key}");
        }
        assert_eq!(value["invalid_by_kind"]["receipt_unknown_stat"], 1);
        assert_eq!(value["invalid_by_kind"]["receipt_not_json"], 0);
        let text = s.to_string();
        assert!(text.contains("expected delivery unknown:") && text.contains("supplier-a"), "{text}");
    }

    #[test]
    fn large_runs_list_no_ids() {
        let mut s = Summary::new(7).with_receipts(BTreeMap::new(), false);
        s.expect(vec![("m1".into(), Outcome::Undelivered)]);
        let value: Value = serde_json::to_value(&s).unwrap();
        assert_eq!(value["expected_undelivered"], 1);
        assert!(value.get("expected_undelivered_ids").is_none());
    }

    #[test]
    fn human_summary_names_every_figure() {
        let text = sample().to_string();
        for needle in ["seed:", "messages (valid):", "sent-messages", "submit-responses", "null_key", "records/s:"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
