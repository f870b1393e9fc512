//! `sms-inspect`: reads the tracker's output topics as a consumer would (read_committed) and
//! reports what is there: statuses by kind, distinct message ids, duplicates, dead letters.
//! The demo uses it to show what happened; it exits non-zero if expectations are not met.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

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
}

#[derive(Default)]
struct Summary {
    statuses: BTreeMap<String, usize>,
    records_per_id: HashMap<Vec<u8>, usize>,
    dead_letters: usize,
    dead_letter_reasons: BTreeMap<String, usize>,
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
                *summary.statuses.entry(status).or_default() += 1;
                *summary.records_per_id.entry(message.key().unwrap_or_default().to_vec()).or_default() += 1;
            } else {
                summary.dead_letters += 1;
                *summary.dead_letter_reasons.entry(reason_of(&message)).or_default() += 1;
            }
        }
        let statuses: usize = summary.statuses.values().sum();
        let reached = args.expect_statuses.is_none_or(|n| statuses >= n)
            && args.expect_dead_letters.is_none_or(|n| summary.dead_letters >= n);
        if (reached && at_end(&consumer, &watermarks, &assignment)?) || Instant::now() >= deadline {
            break;
        }
    }
    report(&args, &summary)
}

/// The reason header up to its first detail (a colon or a number), to group dead letters by cause.
fn reason_of(message: &BorrowedMessage<'_>) -> String {
    let reason = message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == "error.reason").and_then(|h| h.value))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let head = reason.split(':').next().unwrap_or_default();
    head.split(|c: char| c.is_ascii_digit() || c == '(').next().unwrap_or_default().trim().to_owned()
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
    let duplicated_ids = summary.records_per_id.values().filter(|n| **n > 1).count();
    println!(
        "status topic {}: {statuses} records, {} distinct message ids",
        args.status_topic,
        summary.records_per_id.len()
    );
    for (status, n) in &summary.statuses {
        println!("  {status:<10} {n}");
    }
    println!("  message ids with more than one status record: {duplicated_ids}");
    println!("dead-letter topic {}: {} records", args.dead_letter_topic, summary.dead_letters);
    for (reason, n) in &summary.dead_letter_reasons {
        println!("  {n:>8}  {reason}");
    }
    if let Some(expected) = args.expect_statuses
        && statuses != expected
    {
        bail!("expected {expected} status records, found {statuses}");
    }
    if let Some(expected) = args.expect_dead_letters
        && summary.dead_letters != expected
    {
        bail!("expected {expected} dead letters, found {}", summary.dead_letters);
    }
    if duplicated_ids > 0 {
        bail!("{duplicated_ids} message ids have more than one status record");
    }
    Ok(())
}
