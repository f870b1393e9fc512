//! The raw pipe of `bench/compare.sh`: the practical ceiling of a consume → produce → commit loop
//! that writes what the tracker writes, with the tracker's Kafka settings, and no state and almost
//! no logic.
//!
//! It consumes both input topics in one consumer group and, by default (`--work equal`), writes
//! what the tracker writes on the benchmark's input (docs/BENCHMARKS.md compares the bytes):
//!
//! - for every `sent-messages` record, a status record rendered by the tracker's own
//!   `render_status` (the WholeMessage passed through with `status`, `statusDescription`, `parts`
//!   and `statusUpdatedAt` set) to the output topic, same key and partition number. Without state
//!   the pipe cannot know a message's parts, so `parts` names one accepted part, where the
//!   tracker's name every part: the pipe writes a little less, never more;
//! - for every message, a changelog record to a compacted changelog topic (`--changelog-topic`,
//!   created like the tracker's), the way the tracker's sink writes its changelog: the latest
//!   value per key per transaction, produced at commit, before the offsets. The value is the
//!   tracker's terminal marker for a SENT message, encoded by its `snapshot::encode`, because that
//!   is what the tracker writes there: it processes each partition's two inputs in timestamp
//!   order, so a message and its responses almost always change its entry within one
//!   transaction, which then writes only the final marker. The pipe does not order its inputs, so
//!   a message and its responses rarely fall into one of its transactions, and a record per
//!   changed key would write about twice what the tracker does: it writes the record for the
//!   message's `sent-messages` record and none for responses.
//!
//! `--work minimal` is the pipe as it was before issue #13: a `{"id":…,"status":"SENT"}` record per
//! message and no changelog (responses consumed and committed, not parsed), to show what the bytes
//! cost.
//!
//! Kafka settings: the tracker's own, from `sms_tracker::kafka::settings` (group consumer: range
//! assignor, read_committed, no auto commit, earliest, fetch.min.bytes 64 KiB / fetch.wait.max.ms
//! 5; producer: linger.ms 5, lz4, retry.backoff.ms 10, transaction.timeout.ms 10000, idempotence,
//! acks=all). One transactional producer commits every `--commit-interval-ms` (100) a transaction
//! holding the outputs and the consumed offsets (`send_offsets_to_transaction` with the consumer
//! group metadata, KIP-447).
//!
//! Like the tracker it is pipelined: a consumer thread polls and builds outputs in batches of
//! `--batch-records` while the main thread produces them and commits; up to
//! `--batches-in-flight` batches wait while a commit blocks. The defaults are raised far past what
//! the pipe uses on the benchmark's input, so that the in-flight limit is not what bounds it
//! (docs/BENCHMARKS.md names what does). (A single loop that stops consuming while it commits
//! reached only about half the throughput.)
//!
//! The producer is a `BaseProducer` polled by the main thread, and like the tracker's sink the pipe
//! waits for outstanding deliveries itself (1 ms poll slices) before `commit_transaction`: rdkafka's
//! flush inside it polls in 100 ms slices that run to their end, so every commit took ≥100 ms.
//!
//! It is meant for one instance: a rebalance is not handled beyond what Kafka enforces (a commit
//! after losing partitions fails and the pipe exits non-zero). It stops after `--exit-after`
//! outputs are committed, or on SIGTERM/SIGINT (committing what it processed first), and prints a
//! summary on stderr: records, transactions, time spent committing, and CPU seconds per thread.
//!
//! ```sh
//! cargo run --release --example raw_pipe -- --sent-topic s --responses-topic r --output-topic o \
//!     --group-id raw-pipe-1 --exit-after 100000
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use sms_tracker::config::Config;
use sms_tracker::domain::output::render_status;
use sms_tracker::domain::snapshot;
use sms_tracker::domain::wire::parse_sent_message;
use sms_tracker::domain::{Closed, Entry, Input, PartView, Status, StatusChange};
use sms_tracker::kafka::settings;

/// The tracker's allocator, so that the comparison measures the same thing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Parser)]
#[command(name = "raw_pipe", about = "Consume both inputs, write what the tracker writes, transactional; no state")]
struct Args {
    #[arg(long, env = "RAW_PIPE_BOOTSTRAP_SERVERS", default_value = "localhost:9092")]
    bootstrap_servers: String,
    #[arg(long, env = "RAW_PIPE_SENT_TOPIC", default_value = "sent-messages")]
    sent_topic: String,
    #[arg(long, env = "RAW_PIPE_RESPONSES_TOPIC", default_value = "submit-responses")]
    responses_topic: String,
    #[arg(long, env = "RAW_PIPE_OUTPUT_TOPIC", default_value = "raw-pipe-output")]
    output_topic: String,
    /// The changelog-like topic (`--work equal`); `<group-id>-state-changelog` if not given, as the
    /// tracker names its changelog. Created compacted with the inputs' partition count if missing.
    #[arg(long, env = "RAW_PIPE_CHANGELOG_TOPIC")]
    changelog_topic: Option<String>,
    /// Consumer group id (the tracker's application id).
    #[arg(long, env = "RAW_PIPE_GROUP_ID", default_value = "raw-pipe")]
    group_id: String,
    /// Transaction commit interval.
    #[arg(long, env = "RAW_PIPE_COMMIT_INTERVAL_MS", default_value_t = 100)]
    commit_interval_ms: u64,
    /// What to write: `equal` (the tracker's bytes) or `minimal` (a 40-byte status, no changelog).
    #[arg(long, env = "RAW_PIPE_WORK", value_enum, default_value_t = Work::Equal)]
    work: Work,
    /// Records per batch handed from the consumer thread to the producing thread.
    #[arg(long, env = "RAW_PIPE_BATCH_RECORDS", default_value_t = 2000)]
    batch_records: usize,
    /// Batches that may wait for the producing thread (while it commits, say).
    #[arg(long, env = "RAW_PIPE_BATCHES_IN_FLIGHT", default_value_t = 1024)]
    batches_in_flight: usize,
    /// Extra librdkafka properties for both clients, `k=v,k=v` (as the tracker's --kafka-property).
    #[arg(long, env = "RAW_PIPE_KAFKA_PROPERTY")]
    kafka_property: Vec<String>,
    /// Exit once this many outputs are committed.
    #[arg(long, env = "RAW_PIPE_EXIT_AFTER")]
    exit_after: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Work {
    Equal,
    Minimal,
}

/// The only field the minimal pipe reads from a whole message.
#[derive(Deserialize)]
struct WholeMessageId<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

#[derive(Serialize)]
struct MinimalStatus<'a> {
    id: &'a str,
    status: &'static str,
}

/// One record to produce: (partition, key, value).
type Output = (i32, Vec<u8>, Vec<u8>);

/// What the consumer thread hands to the producer: outputs and the offsets they consumed.
#[derive(Default)]
struct Batch {
    consumed: u64,
    outputs: Vec<Output>,
    /// The changelog record of each message, in input order.
    changelog: Vec<Output>,
    /// Next offset per (topic index: 0 sent, 1 responses; partition).
    offsets: HashMap<(usize, i32), i64>,
}

#[derive(Default)]
struct Totals {
    consumed: u64,
    outputs_committed: u64,
    changelog_records: u64,
    transactions: u64,
    committing: Duration,
    /// Time the producing thread waited for the consumer thread's next batch.
    starved: Duration,
}

fn main() -> Result<()> {
    sms_tracker::allocator::return_freed_memory_promptly();
    let args = Args::parse();
    // The tracker's own settings, built from its own configuration type: same consumer and
    // producer properties, same transactional id scheme.
    let mut flags = vec![
        "raw_pipe".to_owned(),
        "--bootstrap-servers".to_owned(),
        args.bootstrap_servers.clone(),
        "--application-id".to_owned(),
        args.group_id.clone(),
        "--instance-id".to_owned(),
        "raw-pipe".to_owned(),
    ];
    for property in &args.kafka_property {
        flags.extend(["--kafka-property".to_owned(), property.clone()]);
    }
    let config = Config::try_parse_from(flags).context("building the tracker's configuration")?;
    let changelog_topic = args.changelog_topic.clone().unwrap_or_else(|| format!("{}-state-changelog", args.group_id));
    let consumer: Arc<BaseConsumer> = Arc::new(settings::consumer(&config).create().context("creating the consumer")?);
    if args.work == Work::Equal {
        create_changelog(&config, &consumer, &args.sent_topic, &changelog_topic)?;
    }
    let producer: BaseProducer<DefaultProducerContext> =
        settings::producer(&config).create().context("creating the transactional producer")?;
    producer.init_transactions(Duration::from_secs(60)).context("initialising transactions")?;
    consumer.subscribe(&[&args.sent_topic, &args.responses_topic]).context("subscribing")?;

    let stop = stop_flag();
    let (batches, incoming) = std::sync::mpsc::sync_channel::<Batch>(args.batches_in_flight);
    let consuming = {
        let (consumer, stop) = (Arc::clone(&consumer), Arc::clone(&stop));
        let (sent_topic, work, batch_records) = (args.sent_topic.clone(), args.work, args.batch_records);
        std::thread::Builder::new()
            .name("consumer".into())
            .spawn(move || consume(&consumer, &stop, &sent_topic, work, batch_records, &batches))?
    };

    let interval = Duration::from_millis(args.commit_interval_ms);
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut offsets: HashMap<(usize, i32), i64> = HashMap::new();
    // The transaction's changelog: latest value per (partition, key), produced at commit.
    let mut changelog: HashMap<(i32, Vec<u8>), Vec<u8>> = HashMap::new();
    let mut pending_outputs = 0u64;
    let mut open = false;
    let mut next_commit = Instant::now() + interval;
    let mut disconnected = false;
    while !disconnected {
        let now = Instant::now();
        if now >= next_commit {
            if !offsets.is_empty() {
                totals.changelog_records += changelog.len() as u64;
                produce(&producer, &changelog_topic, changelog.drain().map(|((p, k), v)| (p, k, v)))?;
                commit(&args, &consumer, &producer, &mut offsets)?;
                totals.transactions += 1;
                totals.outputs_committed += std::mem::take(&mut pending_outputs);
                totals.committing += now.elapsed();
                open = false;
            }
            next_commit = Instant::now() + interval;
            if args.exit_after.is_some_and(|n| totals.outputs_committed >= n) {
                stop.store(true, Ordering::Relaxed);
            }
        }
        let waiting = Instant::now();
        let received = incoming.recv_timeout(next_commit.saturating_duration_since(waiting));
        totals.starved += waiting.elapsed();
        let batch = match received {
            Ok(batch) => batch,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            // The consumer thread stopped (SIGTERM, --exit-after or an error): commit and end.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                disconnected = true;
                Batch::default()
            }
        };
        if !open && !batch.offsets.is_empty() {
            producer.begin_transaction().context("beginning a transaction")?;
            open = true;
        }
        totals.consumed += batch.consumed;
        offsets.extend(batch.offsets);
        pending_outputs += batch.outputs.len() as u64;
        produce(&producer, &args.output_topic, batch.outputs)?;
        changelog.extend(batch.changelog.into_iter().map(|(p, k, v)| ((p, k), v)));
        producer.poll(Duration::ZERO);
    }
    if !offsets.is_empty() {
        totals.changelog_records += changelog.len() as u64;
        produce(&producer, &changelog_topic, changelog.drain().map(|((p, k), v)| (p, k, v)))?;
        commit(&args, &consumer, &producer, &mut offsets)?;
        totals.transactions += 1;
        totals.outputs_committed += std::mem::take(&mut pending_outputs);
    }
    let (consumer_cpu, blocked) = consuming.join().map_err(|_| anyhow::anyhow!("the consumer thread panicked"))??;
    // Before the consumer is dropped: librdkafka's threads end with it.
    let threads = thread_cpu();
    drop(consumer);
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "raw_pipe: consumed {} records, committed {} outputs and {} changelog records in {} transactions \
         ({:.2} s committing, {:.2} s waiting for input; the consumer thread waited {:.2} s for room in \
         flight), {:.2} s, {:.0} input records/s",
        totals.consumed,
        totals.outputs_committed,
        totals.changelog_records,
        totals.transactions,
        totals.committing.as_secs_f64(),
        totals.starved.as_secs_f64(),
        blocked.as_secs_f64(),
        elapsed,
        totals.consumed as f64 / elapsed.max(1e-9)
    );
    eprintln!("raw_pipe: CPU seconds per thread: consumer {consumer_cpu:.2}, {threads}");
    Ok(())
}

/// Creates the changelog-like topic as the tracker creates its changelog: compacted, with the
/// inputs' partition count.
fn create_changelog(config: &Config, consumer: &BaseConsumer, sent_topic: &str, topic: &str) -> Result<()> {
    let metadata = consumer.fetch_metadata(Some(sent_topic), Duration::from_secs(10)).context("input metadata")?;
    let partitions = metadata.topics().first().map_or(0, |t| t.partitions().len()) as i32;
    if partitions == 0 {
        bail!("{sent_topic} has no partitions");
    }
    let admin: AdminClient<DefaultClientContext> =
        settings::admin(config).create().context("creating the admin client")?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let results = runtime.block_on(admin.create_topics(&[new], &AdminOptions::new()))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("creating {name}: {code}"),
        }
    }
    Ok(())
}

fn produce(
    producer: &BaseProducer<DefaultProducerContext>,
    topic: &str,
    records: impl IntoIterator<Item = Output>,
) -> Result<()> {
    for (partition, key, value) in records {
        let mut record: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(topic).partition(partition).key(key.as_slice()).payload(value.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => bail!("producing to {topic}: {error}"),
            }
        }
    }
    Ok(())
}

/// The consumer thread: polls, turns records into outputs and changelog records, hands batches
/// over. Returns its own CPU seconds (a thread's are gone from /proc once it ended) and how long
/// it waited for room in flight: if that is ~0, the in-flight limit is not what bounds the pipe.
fn consume(
    consumer: &BaseConsumer,
    stop: &AtomicBool,
    sent_topic: &str,
    work: Work,
    batch_records: usize,
    batches: &std::sync::mpsc::SyncSender<Batch>,
) -> Result<(f64, Duration)> {
    let mut blocked = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let mut batch = Batch::default();
        let mut timeout = Duration::from_millis(100);
        while batch.consumed < batch_records as u64 {
            let Some(message) = consumer.poll(timeout) else { break };
            timeout = Duration::ZERO;
            let message = message.context("consuming")?;
            batch.consumed += 1;
            let source = usize::from(message.topic() != sent_topic);
            let partition = message.partition();
            batch.offsets.insert((source, partition), message.offset() + 1);
            let (key, value) = (message.key(), message.payload());
            match work {
                Work::Minimal => {
                    if source == 0
                        && let Some(id) = value.and_then(|v| serde_json::from_slice::<WholeMessageId<'_>>(v).ok())
                    {
                        let status = serde_json::to_vec(&MinimalStatus { id: &id.id, status: "SENT" })?;
                        batch.outputs.push((partition, key.unwrap_or_default().to_vec(), status));
                    }
                }
                Work::Equal => {
                    // Responses: consumed and committed, not parsed (see the module comment).
                    let (0, Some(key)) = (source, key) else { continue };
                    // The tracker's validation of a message: its key, its JSON's id and status.
                    let Ok(Input::Message { id, json }) = parse_sent_message(Some(key), value) else { continue };
                    batch.outputs.push((partition, key.to_vec(), sent_status(&id, &json)));
                    let at_ms = message.timestamp().to_millis().unwrap_or_default();
                    let marker = Entry::Closed { outcome: Closed::Published(Status::Sent), at_ms };
                    batch.changelog.push((partition, key.to_vec(), snapshot::encode(&marker)));
                }
            }
        }
        if batch.consumed > 0 {
            let sending = Instant::now();
            let sent = batches.send(batch);
            blocked += sending.elapsed();
            if sent.is_err() {
                break;
            }
        }
    }
    Ok((own_cpu_seconds(), blocked))
}

/// The tracker's SENT status for a message, rendered by the tracker's own function. One part:
/// without state the pipe does not know how many the message has.
fn sent_status(id: &str, json: &[u8]) -> Vec<u8> {
    let change = StatusChange {
        id: id.into(),
        status: Status::Sent,
        description: "Sent successfully".to_owned(),
        message: json.into(),
        parts: vec![PartView {
            number: 1,
            command_status: Some(0),
            supplier_message_id: Some("00000000".into()),
            receipt: None,
        }],
        sent_at_ms: 0,
        status_sent_at_ms: None,
    };
    render_status(&change, SystemTime::now())
}

/// Sends the consumed offsets into the open transaction and commits it.
fn commit(
    args: &Args,
    consumer: &BaseConsumer,
    producer: &BaseProducer<DefaultProducerContext>,
    offsets: &mut HashMap<(usize, i32), i64>,
) -> Result<()> {
    let mut list = TopicPartitionList::with_capacity(offsets.len());
    for ((source, partition), next) in offsets.drain() {
        let topic = if source == 0 { &args.sent_topic } else { &args.responses_topic };
        list.add_partition_offset(topic, partition, Offset::Offset(next))?;
    }
    let group = consumer.group_metadata().context("no consumer group metadata")?;
    producer.send_offsets_to_transaction(&list, &group, TRANSACTION_TIMEOUT).context("sending offsets")?;
    sms_tracker::kafka::delivery::await_deliveries(producer, TRANSACTION_TIMEOUT).context("awaiting deliveries")?;
    producer.commit_transaction(TRANSACTION_TIMEOUT).context("committing")?;
    Ok(())
}

/// USER_HZ, the unit of /proc's CPU times: 100 on every Linux the benchmark runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// A thread's name and CPU seconds (user + system) from its /proc `stat` file.
fn task_cpu(stat: &str) -> Option<(String, f64)> {
    let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((name.to_owned(), ticks / TICKS_PER_SECOND))
}

fn own_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/stat").ok().and_then(|stat| task_cpu(&stat)).map_or(0.0, |(_, s)| s)
}

/// CPU seconds of each live thread of this process, busiest first, e.g. `raw_pipe 1.20,
/// rdk:broker1 0.60`: whether one thread is the bottleneck.
fn thread_cpu() -> String {
    let mut threads: Vec<(String, f64)> = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| task_cpu(&std::fs::read_to_string(task.path().join("stat")).ok()?))
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    // librdkafka keeps a few idle threads; they would only clutter the line.
    threads
        .iter()
        .filter(|(_, cpu)| *cpu > 0.0)
        .map(|(name, cpu)| format!("{name} {cpu:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Set on SIGTERM or SIGINT.
fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&flag);
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        runtime.block_on(async {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        });
        setter.store(true, Ordering::Relaxed);
    });
    flag
}
