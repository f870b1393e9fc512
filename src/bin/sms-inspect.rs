//! `sms-inspect`: reads the tracker's output topics as a consumer would (read_committed) and
//! reports what is there: statuses by kind, distinct message ids, duplicates, dead letters; with
//! receipt tracking (`--delivery-reports-topic`), the delivery outcomes per message and the
//! receipts' dead letters. The demo uses it to show what happened; it exits non-zero if
//! expectations are not met.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sms_tracker::domain::Status;

/// Summarises the status and dead-letter topics.
#[derive(Debug, Parser)]
#[command(name = "sms-inspect")]
struct Args {
    #[arg(long, env = "SMS_TRACKER_BOOTSTRAP_SERVERS", default_value = "localhost:9092")]
    bootstrap_servers: String,
    #[arg(long, env = "SMS_TRACKER_STATUS_TOPIC", default_value = "message-status")]
    status_topic: String,
    #[arg(long, env = "SMS_TRACKER_DEAD_LETTER_TOPIC", default_value = "message-status-dead-letters")]
    dead_letter_topic: String,
    /// Wait until this many status records are visible (then read to the end and check).
    #[arg(long)]
    expect_statuses: Option<usize>,
    /// Wait until this many dead letters are visible.
    #[arg(long)]
    expect_dead_letters: Option<usize>,
    /// Give up waiting for the expected counts after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_seconds: u64,
    /// Receipt tracking is on, with this input topic: a message id may have SENT and then one
    /// delivery outcome (instead of one status record), and dead letters from this topic are
    /// reported as the receipts' (unmatched and invalid).
    #[arg(long, env = "SMS_TRACKER_DELIVERY_REPORTS_TOPIC")]
    delivery_reports_topic: Option<String>,
    /// STATUS=N (repeatable or comma-separated): wait until N records of this status are visible;
    /// fail if there are not exactly N.
    #[arg(long, value_delimiter = ',', value_parser = parse_expected_status)]
    expect_status: Vec<(Status, usize)>,
    /// With --delivery-reports-topic: wait until this many dead letters from the delivery-reports
    /// topic are visible; fail if there are not exactly this many.
    #[arg(long, requires = "delivery_reports_topic")]
    expect_receipt_dead_letters: Option<usize>,
    /// With --delivery-reports-topic: the load generator's `--summary-json`; every message id it
    /// lists under `expected_delivered_ids`, `expected_undelivered_ids` and
    /// `expected_delivery_unknown_ids` must have that delivery outcome (not only the right counts).
    #[arg(long, requires = "delivery_reports_topic", value_name = "LOADGEN_SUMMARY_JSON")]
    expect_outcomes_from: Option<PathBuf>,
}

fn parse_expected_status(s: &str) -> Result<(Status, usize), String> {
    let (status, count) = s.split_once('=').ok_or_else(|| format!("expected STATUS=N, got {s:?}"))?;
    let names = || Status::ALL.map(Status::as_str).join(", ");
    let status =
        Status::parse(status.trim()).ok_or_else(|| format!("unknown status {status:?} (one of {})", names()))?;
    let count = count.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    Ok((status, count))
}

/// Per message id, the delivery outcome the load generator planned (its `--summary-json` lists the
/// ids of each outcome for runs up to 200,000 messages).
fn planned_outcomes(path: &Path) -> anyhow::Result<HashMap<Vec<u8>, Status>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let summary: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut planned = HashMap::new();
    for (key, status) in [
        ("expected_delivered_ids", Status::Delivered),
        ("expected_undelivered_ids", Status::Undelivered),
        ("expected_delivery_unknown_ids", Status::DeliveryUnknown),
    ] {
        let ids = summary[key].as_array().with_context(|| {
            format!(
                "{} has no {key} (the load generator lists ids only for runs up to 200,000 messages)",
                path.display()
            )
        })?;
        for id in ids {
            let id = id.as_str().with_context(|| format!("{key} holds a non-string"))?;
            planned.insert(id.as_bytes().to_vec(), status);
        }
    }
    Ok(planned)
}

/// A delivery outcome: what follows SENT when receipt tracking is on.
fn is_outcome(status: &str) -> bool {
    matches!(Status::parse(status), Some(Status::Delivered | Status::Undelivered | Status::DeliveryUnknown))
}

/// What one message id's status records were, in the order published (a key's records are in
/// one partition, so read order is publication order).
#[derive(Default)]
struct History {
    records: u32,
    /// SENT, FAILED, EXPIRED (and anything unreadable).
    submit_statuses: u32,
    outcomes: u32,
    sent: bool,
    /// A delivery outcome with no SENT before it.
    outcome_without_sent: bool,
    /// The first delivery outcome.
    outcome: Option<Status>,
}

#[derive(Default)]
struct Summary {
    statuses: BTreeMap<String, usize>,
    per_id: HashMap<Vec<u8>, History>,
    dead_letters: usize,
    dead_letter_reasons: BTreeMap<String, usize>,
    /// Dead letters whose source.topic is the delivery-reports topic, by reason.
    receipt_dead_letters: BTreeMap<String, usize>,
    /// unmatched_delivery_report dead letters by the supplier their reason names.
    unmatched_by_supplier: BTreeMap<String, usize>,
}

impl Summary {
    fn status(&mut self, key: &[u8], status: String) {
        let history = self.per_id.entry(key.to_vec()).or_default();
        history.records += 1;
        if is_outcome(&status) {
            history.outcomes += 1;
            history.outcome_without_sent |= !history.sent;
            history.outcome = history.outcome.or(Status::parse(&status));
        } else {
            history.submit_statuses += 1;
            history.sent |= status == Status::Sent.as_str();
        }
        *self.statuses.entry(status).or_default() += 1;
    }

    fn count(&self, status: Status) -> usize {
        self.statuses.get(status.as_str()).copied().unwrap_or_default()
    }

    fn ids_where(&self, predicate: impl Fn(&History) -> bool) -> usize {
        self.per_id.values().filter(|h| predicate(h)).count()
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let deadline = Instant::now() + Duration::from_secs(args.timeout_seconds);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("group.id", "sms-inspect")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for topic in [&args.status_topic, &args.dead_letter_topic] {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        for partition in metadata.topics()[0].partitions() {
            assignment.add_partition_offset(topic, partition.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&assignment)?;
    // Watermarks from a read_uncommitted client are the high watermarks, beyond any open
    // transaction: reaching them means every transaction was decided and read.
    let watermarks: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("isolation.level", "read_uncommitted")
        .create()?;
    let mut summary = Summary::default();
    loop {
        while let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.context("consume")?;
            if message.topic() == args.status_topic {
                let status = message
                    .payload()
                    .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok())
                    .and_then(|v| v["status"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "<unreadable>".into());
                summary.status(message.key().unwrap_or_default(), status);
            } else {
                summary.dead_letters += 1;
                let reason = reason_of(&message);
                if args.delivery_reports_topic.as_deref().is_some_and(|t| header(&message, "source.topic") == t) {
                    if reason == "unmatched_delivery_report" {
                        *summary.unmatched_by_supplier.entry(unmatched_supplier(&message)).or_default() += 1;
                    }
                    *summary.receipt_dead_letters.entry(reason.clone()).or_default() += 1;
                }
                *summary.dead_letter_reasons.entry(reason).or_default() += 1;
            }
        }
        let statuses: usize = summary.statuses.values().sum();
        let receipt_dead_letters: usize = summary.receipt_dead_letters.values().sum();
        let reached = args.expect_statuses.is_none_or(|n| statuses >= n)
            && args.expect_dead_letters.is_none_or(|n| summary.dead_letters >= n)
            && args.expect_status.iter().all(|(status, n)| summary.count(*status) >= *n)
            && args.expect_receipt_dead_letters.is_none_or(|n| receipt_dead_letters >= n);
        if (reached && at_end(&consumer, &watermarks, &assignment)?) || Instant::now() >= deadline {
            break;
        }
    }
    report(&args, &summary)
}

fn header(message: &BorrowedMessage<'_>, key: &str) -> String {
    message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == key).and_then(|h| h.value))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

/// The supplier an `unmatched_delivery_report` reason names: `… of supplier "NAME" with id …`.
fn unmatched_supplier(message: &BorrowedMessage<'_>) -> String {
    let reason = header(message, "error.reason");
    reason
        .split_once("supplier ")
        .and_then(|(_, rest)| rest.split_once(" with id"))
        .map(|(quoted, _)| serde_json::from_str::<String>(quoted).unwrap_or_else(|_| quoted.to_owned()))
        .unwrap_or_else(|| "<unknown>".into())
}

/// The reason header up to its first detail (a colon or a number), to group dead letters by cause.
fn reason_of(message: &BorrowedMessage<'_>) -> String {
    let reason = header(message, "error.reason");
    // Up to ": " (not a bare colon: receipt reasons quote `stat:`), with quoted values elided.
    let head = reason.split(": ").next().unwrap_or_default();
    let elided: Vec<&str> =
        head.split('"').enumerate().map(|(i, piece)| if i % 2 == 1 { "…" } else { piece }).collect();
    elided.join("\"").split(|c: char| c.is_ascii_digit() || c == '(').next().unwrap_or_default().trim().to_owned()
}

fn at_end(consumer: &BaseConsumer, watermarks: &BaseConsumer, assignment: &TopicPartitionList) -> anyhow::Result<bool> {
    let position = consumer.position()?;
    for element in assignment.elements() {
        let (_, high) = watermarks.fetch_watermarks(element.topic(), element.partition(), Duration::from_secs(10))?;
        let at = position.find_partition(element.topic(), element.partition()).map(|e| e.offset());
        if high > 0 && !matches!(at, Some(Offset::Offset(p)) if p >= high) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn report(args: &Args, summary: &Summary) -> anyhow::Result<()> {
    let statuses: usize = summary.statuses.values().sum();
    let receipts = args.delivery_reports_topic.is_some();
    let expected: BTreeMap<&str, usize> = args.expect_status.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    println!("status topic {}: {statuses} records, {} distinct message ids", args.status_topic, summary.per_id.len());
    let mut shown: Vec<&str> = summary.statuses.keys().map(String::as_str).collect();
    shown.extend(expected.keys().filter(|s| !summary.statuses.contains_key(**s)));
    shown.sort_unstable();
    for status in shown {
        let n = summary.statuses.get(status).copied().unwrap_or_default();
        match expected.get(status) {
            Some(want) => println!("  {status:<16} {n:>8}  (expected {want})"),
            None => println!("  {status:<16} {n:>8}"),
        }
    }
    let mut problems = Vec::new();
    if receipts {
        let several_submit = summary.ids_where(|h| h.submit_statuses > 1);
        let several_outcomes = summary.ids_where(|h| h.outcomes > 1);
        let without_sent = summary.ids_where(|h| h.outcome_without_sent);
        let waiting = summary.ids_where(|h| h.sent && h.outcomes == 0);
        println!("  message ids with more than one SENT/FAILED/EXPIRED: {several_submit}");
        println!("  message ids with more than one delivery outcome: {several_outcomes}");
        println!("  delivery outcomes without SENT before them: {without_sent}");
        println!("  SENT without a delivery outcome (yet): {waiting}");
        if let Some(path) = &args.expect_outcomes_from {
            let planned = planned_outcomes(path)?;
            let mut differing: Vec<(String, &str, &str)> = planned
                .iter()
                .filter_map(|(id, want)| {
                    let got = summary.per_id.get(id).and_then(|h| h.outcome);
                    (got != Some(*want)).then(|| {
                        (String::from_utf8_lossy(id).into_owned(), want.as_str(), got.map_or("none", Status::as_str))
                    })
                })
                .collect();
            differing.sort_unstable();
            let unplanned =
                summary.per_id.iter().filter(|(id, h)| h.outcome.is_some() && !planned.contains_key(*id)).count();
            println!(
                "  message ids whose outcome is not the load generator's plan: {} of {} planned{}",
                differing.len(),
                planned.len(),
                if unplanned > 0 { format!("; {unplanned} outcomes for ids it did not plan") } else { String::new() }
            );
            for (id, want, got) in differing.iter().take(5) {
                println!("    {id}: planned {want}, published {got}");
            }
            if !differing.is_empty() {
                problems.push(format!("{} message ids do not have the planned delivery outcome", differing.len()));
            }
            if unplanned > 0 {
                problems.push(format!("{unplanned} delivery outcomes for message ids the load generator did not plan"));
            }
        }
        for (n, what) in [
            (several_submit, "message ids have more than one SENT/FAILED/EXPIRED record"),
            (several_outcomes, "message ids have more than one delivery outcome"),
            (without_sent, "message ids have a delivery outcome without SENT before it"),
        ] {
            if n > 0 {
                problems.push(format!("{n} {what}"));
            }
        }
    } else {
        let duplicated_ids = summary.ids_where(|h| h.records > 1);
        println!("  message ids with more than one status record: {duplicated_ids}");
        if duplicated_ids > 0 {
            let hint = if summary.ids_where(|h| h.outcomes > 0) > 0 {
                " (delivery outcomes present: is receipt tracking on? give --delivery-reports-topic)"
            } else {
                ""
            };
            problems.push(format!("{duplicated_ids} message ids have more than one status record{hint}"));
        }
    }
    println!("dead-letter topic {}: {} records", args.dead_letter_topic, summary.dead_letters);
    for (reason, n) in &summary.dead_letter_reasons {
        println!("  {n:>8}  {reason}");
    }
    let receipt_dead_letters: usize = summary.receipt_dead_letters.values().sum();
    if let Some(topic) = &args.delivery_reports_topic {
        let unmatched = summary.receipt_dead_letters.get("unmatched_delivery_report").copied().unwrap_or_default();
        let expectation = args.expect_receipt_dead_letters.map(|n| format!(" (expected {n})")).unwrap_or_default();
        println!(
            "  from {topic}: {receipt_dead_letters}{expectation}, of which unmatched_delivery_report {unmatched}, invalid {}",
            receipt_dead_letters - unmatched
        );
        for (supplier, n) in &summary.unmatched_by_supplier {
            println!("  {n:>8}  unmatched from supplier {supplier:?} (check --delivery-id-format)");
        }
    }
    for (status, want) in &args.expect_status {
        let found = summary.count(*status);
        if found != *want {
            problems.push(format!("expected {want} {} records, found {found}", status.as_str()));
        }
    }
    if let Some(expected) = args.expect_statuses
        && statuses != expected
    {
        problems.push(format!("expected {expected} status records, found {statuses}"));
    }
    if let Some(expected) = args.expect_dead_letters
        && summary.dead_letters != expected
    {
        problems.push(format!("expected {expected} dead letters, found {}", summary.dead_letters));
    }
    if let Some(expected) = args.expect_receipt_dead_letters
        && receipt_dead_letters != expected
    {
        problems.push(format!(
            "expected {expected} dead letters from the delivery-reports topic, found {receipt_dead_letters}"
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!("{}", problems.join("; "))
}
