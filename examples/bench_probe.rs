//! Measuring helper of `bench/compare.sh` and `bench/latency.sh`. Every subcommand prints one JSON
//! object on stdout.
//!
//! - `create-topics --partitions P T…` — creates topics (existing ones are fine).
//! - `wait-committed --group G --topics A,B --started-at-ms T` — the end offsets of the input
//!   topics are fixed (preloaded); polls the group's committed offsets every `--interval-ms` (100)
//!   until they reach the end of every input partition. Under exactly-once the offsets commit in
//!   the same transaction as the outputs, so that is the moment every output is visible to
//!   read_committed consumers. Reports seconds since T of the first commit and of completion.
//! - `wait-drained --group G --topics X,Y --started-at-ms T` — for a group whose external inputs
//!   are committed: polls its committed offsets on topics written in transactions while it runs
//!   (the tracker's internal topics) until each reaches the partition's last stable offset less
//!   one (the last committed transaction's commit marker, which is never consumed). Committed
//!   offsets are read before the ends, so a transaction committed in between only makes the check
//!   stricter. Reports seconds since T of that moment (`drained_s`).
//! - `count --topic O` — reads O read_committed from the beginning to its end and counts records,
//!   tombstones, `"status":"SENT"` records, distinct keys with SENT and the duplicates, and the
//!   bytes of all keys and values (uncompressed). With
//!   `--by-status` also records per status and, for the delivery outcomes (DELIVERED,
//!   UNDELIVERED, DELIVERY_UNKNOWN), distinct keys per outcome, duplicate outcome records, keys
//!   with more than one outcome and keys whose first outcome came before their SENT (a key's
//!   records are in one partition, so its order there is the order it was published in).
//! - `wait-outcomes --topic O --expect N --started-at-ms T` — consumes O read_committed from the
//!   beginning, live, until N distinct keys have a delivery outcome or `--timeout-seconds` passed
//!   (that is reported, not an error). Reports seconds since T at which the Nth key arrived.
//! - `latency --output-topic O --sent-topic S --responses-topic R --expect N` — consumes O live
//!   (read_committed) and stamps the wall clock when each key's first SENT arrives; stops at N
//!   distinct keys, or `--idle-seconds` after the last output, or at `--timeout-seconds`. Then reads
//!   the inputs and takes, per message, the CreateTime of the last record it needed (its
//!   sent-messages record and the first response of each part; duplicates are not needed) and
//!   reports percentiles of arrival − that time. A SENT that arrives before that time was emitted
//!   without a record it needed: it is counted as premature and left out of the percentiles.
//!   Percentiles are given for the whole run and, under `steady`, without the messages completed
//!   in the first `--warmup-seconds` (fresh topics make the first writes slow), plus `by_second`.
//!   With `--from-end` the output is read from its end, so SENTs an earlier run of the system
//!   wrote there (`bench/latency.sh` with `RESTART`) are not taken for this run's.
//!
//! `cargo run --release --example bench_probe -- count --topic message-status`

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Timestamp;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::Deserialize;
use serde_json::json;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(name = "bench_probe")]
struct Args {
    #[arg(long, global = true, env = "BENCH_BOOTSTRAP_SERVERS", default_value = "localhost:9092")]
    bootstrap_servers: String,
    #[command(subcommand)]
    command: Command,
}

/// What both waits for a consumer group's committed offsets take.
#[derive(Debug, clap::Args)]
struct WaitArgs {
    #[arg(long)]
    group: String,
    /// Comma-separated topics.
    #[arg(long, value_delimiter = ',')]
    topics: Vec<String>,
    /// Epoch ms the measured process was started at.
    #[arg(long)]
    started_at_ms: u64,
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    #[arg(long, default_value_t = 1800)]
    timeout_seconds: u64,
    /// Fail as soon as this process is gone.
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum Command {
    CreateTopics {
        #[arg(long)]
        partitions: i32,
        topics: Vec<String>,
    },
    /// Until the group's committed offsets reach the end the input topics had at the start.
    WaitCommitted(WaitArgs),
    /// Until the group's committed offsets reach the live end of topics written in transactions
    /// (the tracker's internal topics).
    WaitDrained(WaitArgs),
    Count {
        #[arg(long)]
        topic: String,
        /// Also count records per status and the delivery outcomes per key.
        #[arg(long)]
        by_status: bool,
    },
    WaitOutcomes {
        #[arg(long)]
        topic: String,
        /// Distinct keys with a delivery outcome to wait for.
        #[arg(long)]
        expect: usize,
        /// Epoch ms the measured process was started at.
        #[arg(long)]
        started_at_ms: u64,
        #[arg(long, default_value_t = 300)]
        timeout_seconds: u64,
    },
    Latency {
        #[arg(long)]
        output_topic: String,
        #[arg(long)]
        sent_topic: String,
        #[arg(long)]
        responses_topic: String,
        /// Distinct message ids expected.
        #[arg(long)]
        expect: usize,
        #[arg(long, default_value_t = 15)]
        idle_seconds: u64,
        #[arg(long, default_value_t = 600)]
        timeout_seconds: u64,
        #[arg(long, default_value_t = 0)]
        warmup_seconds: u64,
        /// Read the output from its end instead of its beginning.
        #[arg(long)]
        from_end: bool,
    },
}

fn main() -> Result<()> {
    let args = Args::parse();
    let result = match &args.command {
        Command::CreateTopics { partitions, topics } => create_topics(&args.bootstrap_servers, *partitions, topics)?,
        Command::WaitCommitted(WaitArgs { group, topics, started_at_ms, interval_ms, timeout_seconds, pid }) => {
            wait_committed(
                &args.bootstrap_servers,
                group,
                topics,
                *started_at_ms,
                Duration::from_millis(*interval_ms),
                Duration::from_secs(*timeout_seconds),
                *pid,
            )?
        }
        Command::WaitDrained(WaitArgs { group, topics, started_at_ms, interval_ms, timeout_seconds, pid }) => {
            wait_drained(
                &args.bootstrap_servers,
                group,
                topics,
                *started_at_ms,
                Duration::from_millis(*interval_ms),
                Duration::from_secs(*timeout_seconds),
                *pid,
            )?
        }
        Command::Count { topic, by_status: false } => count(&args.bootstrap_servers, topic)?,
        Command::Count { topic, by_status: true } => count_by_status(&args.bootstrap_servers, topic)?,
        Command::WaitOutcomes { topic, expect, started_at_ms, timeout_seconds } => wait_outcomes(
            &args.bootstrap_servers,
            topic,
            *expect,
            *started_at_ms,
            Duration::from_secs(*timeout_seconds),
        )?,
        Command::Latency {
            output_topic,
            sent_topic,
            responses_topic,
            expect,
            idle_seconds,
            timeout_seconds,
            warmup_seconds,
            from_end,
        } => latency(
            &args.bootstrap_servers,
            LatencyTopics { output: output_topic, sent: sent_topic, responses: responses_topic },
            *expect,
            LatencyWindow {
                idle: Duration::from_secs(*idle_seconds),
                timeout: Duration::from_secs(*timeout_seconds),
                warmup_seconds: *warmup_seconds as i64,
                from_end: *from_end,
            },
        )?,
    };
    println!("{result}");
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn create_topics(bootstrap: &str, partitions: i32, topics: &[String]) -> Result<serde_json::Value> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().context("admin client")?;
    let new: Vec<NewTopic<'_>> =
        topics.iter().map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1))).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in runtime.block_on(admin.create_topics(&new, &options))? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("creating {name}: {code}"),
        }
    }
    Ok(json!({ "created": topics, "partitions": partitions }))
}

fn partitions_of(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let partitions: Vec<i32> = metadata.topics()[0].partitions().iter().map(|p| p.id()).collect();
    if partitions.is_empty() {
        bail!("topic {topic} does not exist");
    }
    Ok(partitions)
}

fn plain_consumer(bootstrap: &str, group: &str) -> Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        .create()
        .context("creating a consumer")
}

fn wait_committed(
    bootstrap: &str,
    group: &str,
    topics: &[String],
    started_at_ms: u64,
    interval: Duration,
    timeout: Duration,
    pid: Option<u32>,
) -> Result<serde_json::Value> {
    // Never subscribes: OffsetFetch for the group only, without joining it.
    let consumer = plain_consumer(bootstrap, group)?;
    let mut ends = HashMap::new();
    let mut list = TopicPartitionList::new();
    let mut input_records = 0;
    for topic in topics {
        for partition in partitions_of(&consumer, topic)? {
            let (low, high) = consumer.fetch_watermarks(topic, partition, METADATA_TIMEOUT)?;
            input_records += high - low;
            ends.insert((topic.clone(), partition), high);
            list.add_partition(topic, partition);
        }
    }
    let deadline = Instant::now() + timeout;
    let mut first_commit_ms = None;
    loop {
        let polled_at = now_ms();
        let committed = match consumer.committed_offsets(list.clone(), METADATA_TIMEOUT) {
            Ok(committed) => committed,
            // A loaded machine can make one request time out; only the overall deadline counts.
            Err(error) if Instant::now() < deadline => {
                eprintln!("bench_probe: fetching committed offsets failed, retrying: {error}");
                std::thread::sleep(interval);
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        let mut done = true;
        let mut any = false;
        for element in committed.elements() {
            let end = ends[&(element.topic().to_owned(), element.partition())];
            match element.offset() {
                Offset::Offset(at) => {
                    any = true;
                    done &= at >= end;
                }
                _ => done &= end == 0,
            }
        }
        if any && first_commit_ms.is_none() {
            first_commit_ms = Some(polled_at);
        }
        if done {
            let seconds = |ms: u64| ms.saturating_sub(started_at_ms) as f64 / 1000.0;
            return Ok(json!({
                "first_commit_s": first_commit_ms.map(seconds),
                "done_s": seconds(polled_at),
                "input_records": input_records,
            }));
        }
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            bail!("process {pid} exited before committing the end of its input");
        }
        if Instant::now() >= deadline {
            bail!("group {group} did not commit the end of its input within {timeout:?}");
        }
        std::thread::sleep(interval);
    }
}

fn wait_drained(
    bootstrap: &str,
    group: &str,
    topics: &[String],
    started_at_ms: u64,
    interval: Duration,
    timeout: Duration,
    pid: Option<u32>,
) -> Result<serde_json::Value> {
    let consumer = plain_consumer(bootstrap, group)?;
    let mut list = TopicPartitionList::new();
    for topic in topics {
        for partition in partitions_of(&consumer, topic)? {
            list.add_partition(topic, partition);
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        let polled_at = now_ms();
        // Committed offsets first, then the ends: ends only grow, so reading them later is stricter.
        let drained = consumer.committed_offsets(list.clone(), METADATA_TIMEOUT).and_then(|committed| {
            for element in committed.elements() {
                let (_, end) = consumer.fetch_watermarks(element.topic(), element.partition(), METADATA_TIMEOUT)?;
                let consumed_to = match element.offset() {
                    Offset::Offset(at) => at,
                    _ => 0,
                };
                // Below a last stable offset lies the commit marker of the last transaction.
                if end > 0 && consumed_to < end - 1 {
                    return Ok(false);
                }
            }
            Ok(true)
        });
        match drained {
            Ok(true) => {
                let seconds = polled_at.saturating_sub(started_at_ms) as f64 / 1000.0;
                return Ok(json!({ "drained_s": seconds }));
            }
            Ok(false) => {}
            // A loaded machine can make one request time out; only the overall deadline counts.
            Err(error) if Instant::now() < deadline => {
                eprintln!("bench_probe: fetching offsets failed, retrying: {error}");
            }
            Err(error) => return Err(error.into()),
        }
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            bail!("process {pid} exited before its internal topics were drained");
        }
        if Instant::now() >= deadline {
            bail!("group {group} did not drain its internal topics within {timeout:?}");
        }
        std::thread::sleep(interval);
    }
}

#[derive(Deserialize)]
struct StatusOnly<'a> {
    #[serde(borrow)]
    status: Option<std::borrow::Cow<'a, str>>,
}

fn is_sent(payload: &[u8]) -> bool {
    serde_json::from_slice::<StatusOnly<'_>>(payload).is_ok_and(|v| v.status.as_deref() == Some("SENT"))
}

/// Assigns every partition of `topics` from the beginning; returns the high watermarks to read to.
fn assign_all(consumer: &BaseConsumer, topics: &[&str]) -> Result<HashMap<(String, i32), i64>> {
    let mut list = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for topic in topics {
        for partition in partitions_of(consumer, topic)? {
            list.add_partition_offset(topic, partition, Offset::Beginning)?;
            // Watermarks of this read_committed client are last stable offsets.
            let (_, high) = consumer.fetch_watermarks(topic, partition, METADATA_TIMEOUT)?;
            ends.insert(((*topic).to_owned(), partition), high);
        }
    }
    consumer.assign(&list)?;
    Ok(ends)
}

/// Polls until every assigned partition's position reached its end offset.
fn read_to_end(
    consumer: &BaseConsumer,
    ends: &HashMap<(String, i32), i64>,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        while let Some(message) = consumer.poll(Duration::from_millis(100)) {
            each(&message.context("consuming")?);
        }
        let position = consumer.position()?;
        let reached = ends.iter().all(|((topic, partition), end)| {
            *end == 0
                || matches!(position.find_partition(topic, *partition).map(|e| e.offset()), Some(Offset::Offset(p)) if p >= *end)
        });
        if reached {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("could not read to the end within 600 s");
        }
    }
}

fn count(bootstrap: &str, topic: &str) -> Result<serde_json::Value> {
    let consumer = plain_consumer(bootstrap, "bench-probe")?;
    let ends = assign_all(&consumer, &[topic])?;
    let (mut records, mut tombstones, mut sent, mut other) = (0u64, 0u64, 0u64, 0u64);
    let (mut key_bytes, mut value_bytes) = (0u64, 0u64);
    let mut sent_per_key: HashMap<Vec<u8>, u32> = HashMap::new();
    read_to_end(&consumer, &ends, |message| {
        records += 1;
        key_bytes += message.key().map_or(0, |k| k.len() as u64);
        value_bytes += message.payload().map_or(0, |v| v.len() as u64);
        match message.payload() {
            None => tombstones += 1,
            Some(value) if is_sent(value) => {
                sent += 1;
                *sent_per_key.entry(message.key().unwrap_or_default().to_vec()).or_default() += 1;
            }
            Some(_) => other += 1,
        }
    })?;
    let distinct = sent_per_key.len() as u64;
    Ok(json!({
        "topic": topic,
        "records": records,
        "sent_records": sent,
        "tombstones": tombstones,
        "other_records": other,
        "distinct_sent_keys": distinct,
        "duplicate_sent_records": sent - distinct,
        "keys_with_duplicates": sent_per_key.values().filter(|n| **n > 1).count(),
        "key_bytes": key_bytes,
        "value_bytes": value_bytes,
    }))
}

/// The delivery outcomes that follow SENT when receipts are tracked.
const OUTCOMES: [&str; 3] = ["DELIVERED", "UNDELIVERED", "DELIVERY_UNKNOWN"];

fn status_of(payload: &[u8]) -> Option<String> {
    serde_json::from_slice::<StatusOnly<'_>>(payload).ok().and_then(|v| v.status.map(|s| s.into_owned()))
}

/// What one key's records were, in the order they were published.
#[derive(Default)]
struct KeyStatuses {
    sent: u32,
    outcomes: u32,
    outcome_before_sent: bool,
}

fn count_by_status(bootstrap: &str, topic: &str) -> Result<serde_json::Value> {
    let consumer = plain_consumer(bootstrap, "bench-probe")?;
    let ends = assign_all(&consumer, &[topic])?;
    let (mut records, mut tombstones) = (0u64, 0u64);
    let mut by_status: std::collections::BTreeMap<String, u64> = Default::default();
    let mut per_key: HashMap<Vec<u8>, KeyStatuses> = HashMap::new();
    // Distinct keys per outcome status (a key counted under each outcome it got).
    let mut outcome_keys: std::collections::BTreeMap<&'static str, u64> = OUTCOMES.iter().map(|o| (*o, 0)).collect();
    read_to_end(&consumer, &ends, |message| {
        records += 1;
        let Some(value) = message.payload() else {
            tombstones += 1;
            return;
        };
        let status = status_of(value).unwrap_or_else(|| "(none)".to_owned());
        *by_status.entry(status.clone()).or_default() += 1;
        let entry = per_key.entry(message.key().unwrap_or_default().to_vec()).or_default();
        if status == "SENT" {
            entry.sent += 1;
        } else if let Some(outcome) = OUTCOMES.iter().find(|o| **o == status) {
            if entry.outcomes == 0 {
                *outcome_keys.entry(*outcome).or_default() += 1;
                entry.outcome_before_sent = entry.sent == 0;
            }
            entry.outcomes += 1;
        }
    })?;
    for outcome in OUTCOMES {
        by_status.entry(outcome.to_owned()).or_default();
    }
    let sent: u64 = by_status.get("SENT").copied().unwrap_or(0);
    let distinct_sent = per_key.values().filter(|k| k.sent > 0).count() as u64;
    let outcome_records: u64 = OUTCOMES.iter().map(|o| by_status[*o]).sum();
    let distinct_outcome = per_key.values().filter(|k| k.outcomes > 0).count() as u64;
    let other = records - tombstones - sent;
    Ok(json!({
        "topic": topic,
        "records": records,
        "sent_records": sent,
        "tombstones": tombstones,
        "other_records": other,
        "distinct_sent_keys": distinct_sent,
        "duplicate_sent_records": sent - distinct_sent,
        "keys_with_duplicates": per_key.values().filter(|k| k.sent > 1).count(),
        "records_by_status": by_status,
        "outcome_records": outcome_records,
        "distinct_outcome_keys": distinct_outcome,
        "first_outcome_keys": outcome_keys,
        "duplicate_outcome_records": outcome_records - distinct_outcome,
        "keys_with_several_outcomes": per_key.values().filter(|k| k.outcomes > 1).count(),
        "outcome_before_sent": per_key.values().filter(|k| k.outcome_before_sent).count(),
        "outcome_without_sent": per_key.values().filter(|k| k.outcomes > 0 && k.sent == 0).count(),
    }))
}

fn wait_outcomes(
    bootstrap: &str,
    topic: &str,
    expect: usize,
    started_at_ms: u64,
    timeout: Duration,
) -> Result<serde_json::Value> {
    let consumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-probe-outcomes")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        .create::<BaseConsumer>()?;
    let mut list = TopicPartitionList::new();
    for partition in partitions_of(&consumer, topic)? {
        list.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let deadline = Instant::now() + timeout;
    let mut keys: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::with_capacity(expect);
    let mut last_ms = None;
    while keys.len() < expect && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else { continue };
        let message = message.context("consuming the output")?;
        let is_outcome = message.payload().and_then(status_of).is_some_and(|s| OUTCOMES.contains(&s.as_str()));
        if is_outcome && keys.insert(message.key().unwrap_or_default().to_vec()) {
            last_ms = Some(now_ms());
        }
    }
    let seconds = |ms: u64| ms.saturating_sub(started_at_ms) as f64 / 1000.0;
    Ok(json!({
        "outcomes_expected": expect,
        "outcomes_seen": keys.len(),
        "outcomes_complete": keys.len() >= expect,
        "outcomes_done_s": last_ms.filter(|_| keys.len() >= expect).map(seconds),
    }))
}

#[derive(Deserialize)]
struct PartNumberOnly {
    #[serde(rename = "partNumber")]
    part_number: Option<u32>,
}

/// The topics of one latency measurement.
struct LatencyTopics<'a> {
    output: &'a str,
    sent: &'a str,
    responses: &'a str,
}

/// When a latency measurement stops, what it leaves out, and where it starts reading the output.
struct LatencyWindow {
    idle: Duration,
    timeout: Duration,
    warmup_seconds: i64,
    from_end: bool,
}

fn latency(
    bootstrap: &str,
    topics: LatencyTopics<'_>,
    expect: usize,
    window: LatencyWindow,
) -> Result<serde_json::Value> {
    let LatencyTopics { output: output_topic, sent: sent_topic, responses: responses_topic } = topics;
    let LatencyWindow { idle, timeout, warmup_seconds, from_end } = window;
    // Live: the wall clock at which each key's first SENT becomes visible to read_committed.
    let consumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-probe-latency")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        // Short fetch waits, so a fetch never sits on already visible records.
        .set("fetch.wait.max.ms", "20")
        .create::<BaseConsumer>()?;
    let mut list = TopicPartitionList::new();
    for partition in partitions_of(&consumer, output_topic)? {
        // The end is read now, not left to the first fetch: output may follow at once.
        let from = if from_end {
            Offset::Offset(consumer.fetch_watermarks(output_topic, partition, METADATA_TIMEOUT)?.1)
        } else {
            Offset::Beginning
        };
        list.add_partition_offset(output_topic, partition, from)?;
    }
    consumer.assign(&list)?;
    let started = Instant::now();
    let mut last_output = None;
    let mut arrived: HashMap<Vec<u8>, u64> = HashMap::with_capacity(expect);
    let (mut output_records, mut sent_records) = (0u64, 0u64);
    while arrived.len() < expect
        && started.elapsed() < timeout
        && last_output.is_none_or(|t: Instant| t.elapsed() < idle)
    {
        let Some(message) = consumer.poll(Duration::from_millis(50)) else { continue };
        let message = message.context("consuming the output")?;
        let at = now_ms();
        last_output = Some(Instant::now());
        output_records += 1;
        if message.payload().is_some_and(is_sent) {
            sent_records += 1;
            arrived.entry(message.key().unwrap_or_default().to_vec()).or_insert(at);
        }
    }
    drop(consumer);

    // Afterwards: when the last needed input record of each message was produced (CreateTime).
    let inputs = plain_consumer(bootstrap, "bench-probe-latency")?;
    let ends = assign_all(&inputs, &[sent_topic, responses_topic])?;
    let mut needed: HashMap<Vec<u8>, i64> = HashMap::new();
    let mut first_parts: std::collections::HashSet<(Vec<u8>, u32)> = Default::default();
    read_to_end(&inputs, &ends, |message| {
        let Timestamp::CreateTime(ts) = message.timestamp() else { return };
        let key = message.key().unwrap_or_default().to_vec();
        let is_needed = if message.topic() == sent_topic {
            true
        } else {
            let part = message.payload().and_then(|p| serde_json::from_slice::<PartNumberOnly>(p).ok());
            part.and_then(|p| p.part_number).is_some_and(|n| first_parts.insert((key.clone(), n)))
        };
        if is_needed {
            let entry = needed.entry(key).or_insert(ts);
            *entry = (*entry).max(ts);
        }
    })?;
    let timed: Vec<(i64, i64)> =
        arrived.iter().filter_map(|(key, at)| needed.get(key).map(|ts| (*ts, *at as i64 - ts))).collect();
    let by_second = latency_by_second(&timed);
    // A SENT visible before the last record the message needed was even produced was emitted
    // without it (e.g. a duplicate response counted as a missing part): wrong, not fast.
    let premature = timed.iter().filter(|(_, latency)| *latency < 0).count();
    let first_input = timed.iter().map(|(ts, _)| *ts).min().unwrap_or(0);
    let steady_from = first_input + warmup_seconds * 1000;
    let whole = percentiles(timed.iter().map(|(_, latency)| *latency));
    let steady = percentiles(timed.iter().filter(|(ts, _)| *ts >= steady_from).map(|(_, latency)| *latency));
    let mut report = json!({
        "output_topic": output_topic,
        "expected": expect,
        "messages_in_input": needed.len(),
        "messages_with_sent": arrived.len(),
        "missing": expect.saturating_sub(arrived.len()),
        "premature_sent": premature,
        "output_records": output_records,
        "sent_records": sent_records,
        "warmup_seconds": warmup_seconds,
        "steady": steady,
        "by_second": by_second,
    });
    if let (Some(report), Some(whole)) = (report.as_object_mut(), whole.as_object()) {
        report.extend(whole.clone());
    }
    Ok(report)
}

/// Percentiles of the non-negative latencies (ms), and how many there were.
fn percentiles(latencies: impl Iterator<Item = i64>) -> serde_json::Value {
    let mut latencies: Vec<i64> = latencies.filter(|l| *l >= 0).collect();
    latencies.sort_unstable();
    let pct = |q: f64| percentile(&latencies, q);
    let mean = latencies.iter().sum::<i64>() as f64 / latencies.len().max(1) as f64;
    json!({
        "messages": latencies.len(),
        "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
        "max_ms": latencies.last(), "min_ms": latencies.first(), "mean_ms": mean.round(),
    })
}

/// The nearest-rank `q` quantile of sorted values.
fn percentile(sorted: &[i64], q: f64) -> Option<i64> {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

/// Where the tail is in time: `[second of the run, messages, p50, p99, max]` per second of the
/// messages' last needed input (a stall shows as a few bad seconds, queueing as a slope).
fn latency_by_second(timed: &[(i64, i64)]) -> Vec<[i64; 5]> {
    let Some(start) = timed.iter().map(|(ts, _)| *ts).min() else { return Vec::new() };
    let mut seconds: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (ts, latency) in timed.iter().filter(|(_, latency)| *latency >= 0) {
        seconds.entry((ts - start) / 1000).or_default().push(*latency);
    }
    seconds
        .into_iter()
        .map(|(second, mut latencies)| {
            latencies.sort_unstable();
            let at = |q: f64| percentile(&latencies, q).unwrap_or(0);
            [second, latencies.len() as i64, at(0.5), at(0.99), at(1.0)]
        })
        .collect()
}
