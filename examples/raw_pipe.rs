//! The raw pipe of `bench/compare.sh`: the practical ceiling of a consume → produce → commit loop
//! with the tracker's Kafka settings, and no state and almost no logic.
//!
//! It consumes both input topics in one consumer group (range assignor, read_committed, no auto
//! commit, earliest), and for every `sent-messages` record whose JSON value has an `"id"` produces
//! `{"id":…,"status":"SENT"}` to the output topic, same key and partition number. Records of
//! `submit-responses` are consumed (and their offsets committed) but not parsed. Like the tracker
//! it has one transactional producer and commits every `--commit-interval-ms` (100) a transaction
//! holding the outputs and the consumed offsets (`send_offsets_to_transaction` with the consumer
//! group metadata, KIP-447), with the tracker's producer defaults (linger.ms 5, lz4, retry.backoff.ms 10,
//! transaction.timeout.ms 10000, idempotence, acks=all).
//!
//! Like the tracker it is pipelined: a consumer thread polls and builds outputs in batches of 500
//! records while the main thread produces them and commits; up to 64 batches wait while a commit
//! blocks. (A single loop that stops consuming while it commits reached only about half the
//! throughput: a commit of 100 ms worth of records takes tens of ms on a small machine.)
//!
//! The producer is a `BaseProducer` polled by the main thread, and like the tracker's sink the pipe
//! waits for outstanding deliveries itself (1 ms poll slices) before `commit_transaction`: rdkafka's
//! flush inside it polls in 100 ms slices that run to their end, so every commit took ≥100 ms.
//!
//! It is meant for one instance: a rebalance is not handled beyond what Kafka enforces (a commit
//! after losing partitions fails and the pipe exits non-zero). It stops after `--exit-after`
//! outputs are committed, or on SIGTERM/SIGINT (committing what it processed first), and prints a
//! summary line on stderr.
//!
//! ```sh
//! cargo run --release --example raw_pipe -- --sent-topic s --responses-topic r --output-topic o \
//!     --group-id raw-pipe-1 --exit-after 100000
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

/// The tracker's allocator, so that the comparison measures the same thing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Parser)]
#[command(name = "raw_pipe", about = "Consume both inputs, one output per whole message, transactional; no state")]
struct Args {
    #[arg(long, env = "RAW_PIPE_BOOTSTRAP_SERVERS", default_value = "localhost:9092")]
    bootstrap_servers: String,
    #[arg(long, env = "RAW_PIPE_SENT_TOPIC", default_value = "sent-messages")]
    sent_topic: String,
    #[arg(long, env = "RAW_PIPE_RESPONSES_TOPIC", default_value = "submit-responses")]
    responses_topic: String,
    #[arg(long, env = "RAW_PIPE_OUTPUT_TOPIC", default_value = "raw-pipe-output")]
    output_topic: String,
    /// Consumer group id.
    #[arg(long, env = "RAW_PIPE_GROUP_ID", default_value = "raw-pipe")]
    group_id: String,
    /// Transactional id of the producer; `<group-id>-0` if not given.
    #[arg(long, env = "RAW_PIPE_TRANSACTIONAL_ID")]
    transactional_id: Option<String>,
    /// Transaction commit interval.
    #[arg(long, env = "RAW_PIPE_COMMIT_INTERVAL_MS", default_value_t = 100)]
    commit_interval_ms: u64,
    /// Exit once this many outputs are committed.
    #[arg(long, env = "RAW_PIPE_EXIT_AFTER")]
    exit_after: Option<u64>,
}

/// The only field the pipe reads from a whole message.
#[derive(Deserialize)]
struct WholeMessageId<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

#[derive(Serialize)]
struct Status<'a> {
    id: &'a str,
    status: &'static str,
}

/// What the consumer thread hands to the producer: outputs and the offsets they consumed.
#[derive(Default)]
struct Batch {
    consumed: u64,
    /// (partition, key, value) of each output.
    outputs: Vec<(i32, Option<Vec<u8>>, Vec<u8>)>,
    /// Next offset per (topic index: 0 sent, 1 responses; partition).
    offsets: HashMap<(usize, i32), i64>,
}

/// Records per batch handed over; like the tracker, the consumer thread keeps fetching and parsing
/// while the producer thread is blocked committing a transaction.
const BATCH_RECORDS: usize = 500;
/// Batches in flight between the threads (the tracker's sink mailbox holds 64).
const BATCHES_IN_FLIGHT: usize = 64;

#[derive(Default)]
struct Totals {
    consumed: u64,
    outputs_committed: u64,
    transactions: u64,
    committing: Duration,
}

fn main() -> Result<()> {
    sms_tracker::allocator::return_freed_memory_promptly();
    let args = Args::parse();
    let transactional_id = args.transactional_id.clone().unwrap_or_else(|| format!("{}-0", args.group_id));
    let consumer: Arc<BaseConsumer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &args.bootstrap_servers)
            .set("client.id", format!("{}-raw-pipe", args.group_id))
            .set("group.id", &args.group_id)
            .set("group.protocol", "classic")
            .set("partition.assignment.strategy", "range")
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .create()
            .context("creating the consumer")?,
    );
    let producer: BaseProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("client.id", format!("{}-raw-pipe", args.group_id))
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("retry.backoff.ms", "10")
        .set("transaction.timeout.ms", "10000")
        .set("transactional.id", &transactional_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .context("creating the transactional producer")?;
    producer.init_transactions(Duration::from_secs(60)).context("initialising transactions")?;
    consumer.subscribe(&[&args.sent_topic, &args.responses_topic]).context("subscribing")?;

    let stop = stop_flag();
    let (batches, incoming) = std::sync::mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
    let consuming = {
        let (consumer, stop, sent_topic) = (Arc::clone(&consumer), Arc::clone(&stop), args.sent_topic.clone());
        std::thread::Builder::new()
            .name("consumer".into())
            .spawn(move || consume(&consumer, &stop, &sent_topic, &batches))?
    };

    let interval = Duration::from_millis(args.commit_interval_ms);
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut offsets: HashMap<(usize, i32), i64> = HashMap::new();
    let mut pending_outputs = 0u64;
    let mut open = false;
    let mut next_commit = Instant::now() + interval;
    let mut disconnected = false;
    while !disconnected {
        let now = Instant::now();
        if now >= next_commit {
            if !offsets.is_empty() {
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
        let batch = match incoming.recv_timeout(next_commit.saturating_duration_since(Instant::now())) {
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
        for (partition, key, value) in &batch.outputs {
            let mut record: BaseRecord<'_, [u8], [u8]> =
                BaseRecord::to(&args.output_topic).partition(*partition).payload(value);
            if let Some(key) = key {
                record = record.key(key);
            }
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        record = returned;
                        producer.poll(Duration::from_millis(10));
                    }
                    Err((error, _)) => bail!("producing to {}: {error}", args.output_topic),
                }
            }
        }
        pending_outputs += batch.outputs.len() as u64;
        producer.poll(Duration::ZERO);
    }
    if !offsets.is_empty() {
        commit(&args, &consumer, &producer, &mut offsets)?;
        totals.transactions += 1;
        totals.outputs_committed += std::mem::take(&mut pending_outputs);
    }
    consuming.join().map_err(|_| anyhow::anyhow!("the consumer thread panicked"))??;
    drop(consumer);
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "raw_pipe: consumed {} records, committed {} outputs in {} transactions ({:.2} s committing), {:.2} s, {:.0} input records/s",
        totals.consumed,
        totals.outputs_committed,
        totals.transactions,
        totals.committing.as_secs_f64(),
        elapsed,
        totals.consumed as f64 / elapsed.max(1e-9)
    );
    Ok(())
}

/// The consumer thread: polls, turns every whole message into its output, hands batches over.
fn consume(
    consumer: &BaseConsumer,
    stop: &AtomicBool,
    sent_topic: &str,
    batches: &std::sync::mpsc::SyncSender<Batch>,
) -> Result<()> {
    let mut value = Vec::with_capacity(64);
    while !stop.load(Ordering::Relaxed) {
        let mut batch = Batch::default();
        let mut timeout = Duration::from_millis(100);
        while batch.consumed < BATCH_RECORDS as u64 {
            let Some(message) = consumer.poll(timeout) else { break };
            timeout = Duration::ZERO;
            let message = message.context("consuming")?;
            batch.consumed += 1;
            let source = usize::from(message.topic() != sent_topic);
            batch.offsets.insert((source, message.partition()), message.offset() + 1);
            if source != 0 {
                continue;
            }
            let Some(id) = message.payload().and_then(|p| serde_json::from_slice::<WholeMessageId<'_>>(p).ok()) else {
                continue;
            };
            value.clear();
            serde_json::to_writer(&mut value, &Status { id: &id.id, status: "SENT" })?;
            batch.outputs.push((message.partition(), message.key().map(<[u8]>::to_vec), value.clone()));
        }
        if batch.consumed > 0 && batches.send(batch).is_err() {
            break;
        }
    }
    Ok(())
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
