//! Same input, same statuses: the gateway inputs of a partition are processed in record timestamp
//! order (README "Semantics"), so a backlog, live input and a backlog interrupted by SIGKILL
//! publish the same statuses.
//!
//! The input is crafted so that fetch order and timestamp order differ in a backlog: every
//! `sent-messages` record (messages and tombstones) is written before any `submit-responses`
//! record, and responses are padded so that a (small) fetch of the responses covers far fewer
//! messages than one of `sent-messages`. A tracker taking records in fetch order would see many tombstones
//! before the (earlier) responses that complete their messages, and cancel messages that live
//! processing publishes as SENT.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sms_tracker::kafka::watermarks::{self, Positions};
use support::{DEADLINE, Scenario, Tracker, bootstrap, end_offsets, json, key, wait_for};

/// Messages per block of input, and blocks.
const BLOCK: usize = 60;
const BLOCKS: usize = 60;

/// How each message's records are ordered in time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Message, then its response: SENT.
    Completed,
    /// Message, response, then a tombstone: SENT (the tombstone comes after completion).
    TombstoneAfterResponse,
    /// Message, tombstone, then the response: cancelled, no status.
    TombstoneBeforeResponse,
}

const KINDS: [Kind; 3] = [Kind::Completed, Kind::TombstoneAfterResponse, Kind::TombstoneBeforeResponse];

/// One input record with its explicit timestamp.
struct Record {
    sent_topic: bool,
    key: String,
    value: Option<String>,
    timestamp_ms: i64,
}

/// The whole input, in timestamp order, and the statuses timestamp order gives. Each block of
/// messages has three phases, one input at a time (so live input needs few acknowledged
/// switches): the messages and the tombstones that precede their response, the responses, then
/// the tombstones that follow theirs.
fn input(base_ms: i64) -> (Vec<Record>, BTreeSet<(String, String)>) {
    let padding = "x".repeat(2000);
    // Long enough that the held `sent-messages` records outgrow a 1 MiB order buffer with room to
    // spare (with 500 bytes, one run of many under `make test` never paused).
    let text = "t".repeat(1000);
    let mut records = Vec::new();
    let mut expected = BTreeSet::new();
    let mut t = base_ms;
    let mut record = |sent_topic, id: &str, value: Option<String>| {
        t += 1;
        records.push(Record { sent_topic, key: id.to_owned(), value, timestamp_ms: t });
    };
    for block in 0..BLOCKS {
        let ids: Vec<(String, Kind)> =
            (block * BLOCK..(block + 1) * BLOCK).map(|i| (format!("m{i}"), KINDS[i % KINDS.len()])).collect();
        for (id, _) in &ids {
            record(true, id, Some(format!(r#"{{"id":"{id}","status":"PENDING","text":"{text}"}}"#)));
        }
        for (id, _) in ids.iter().filter(|(_, kind)| *kind == Kind::TombstoneBeforeResponse) {
            record(true, id, None);
        }
        for (id, _) in &ids {
            let response = format!(
                r#"{{"messageId":"{id}","partNumber":1,"totalParts":1,"supplierMessageId":"S-{id}","commandStatus":0,"padding":"{padding}"}}"#
            );
            record(false, id, Some(response));
        }
        for (id, _) in ids.iter().filter(|(_, kind)| *kind == Kind::TombstoneAfterResponse) {
            record(true, id, None);
        }
        for (id, kind) in ids {
            if kind != Kind::TombstoneBeforeResponse {
                expected.insert((id, "SENT".to_owned()));
            }
        }
    }
    (records, expected)
}

/// Small fetches: a backlog's `sent-messages` are fetched far ahead of the (padded) responses.
const TRACKER_ARGS: &[&str] = &["--kafka-property", "max.partition.fetch.bytes=65536"];

fn producer() -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        // As the Java client (and the gateway) partitions: both inputs co-partitioned by key.
        .set("partitioner", "murmur2_random")
        // Live input is sent one acknowledged record at a time: no waiting for a batch to fill.
        .set("linger.ms", "0")
        .create()
        .expect("producer")
}

fn send(producer: &BaseProducer, s: &Scenario, record: &Record) {
    let topic = if record.sent_topic { &s.sent } else { &s.responses };
    let mut kafka_record: BaseRecord<'_, str, str> =
        BaseRecord::to(topic).key(record.key.as_str()).timestamp(record.timestamp_ms);
    if let Some(value) = &record.value {
        kafka_record = kafka_record.payload(value.as_str());
    }
    let mut kafka_record = Some(kafka_record);
    while let Some(pending) = kafka_record.take() {
        if let Err((error, returned)) = producer.send(pending) {
            assert!(
                matches!(error.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::QueueFull)),
                "enqueue test record: {error}"
            );
            producer.poll(Duration::from_millis(10));
            kafka_record = Some(returned);
        }
    }
}

/// Every `sent-messages` record, then every response: fetch order is not timestamp order.
fn write_backlog(s: &Scenario, records: &[Record]) {
    let producer = producer();
    for sent_topic in [true, false] {
        for record in records.iter().filter(|r| r.sent_topic == sent_topic) {
            send(&producer, s, record);
        }
        producer.flush(Duration::from_secs(60)).expect("deliver backlog");
    }
}

/// The statuses committed for the whole input: `(message id, status)`, asserted to be one per
/// message.
fn settled_statuses(s: &Scenario) -> BTreeSet<(String, String)> {
    let outputs = s.settled_output(&s.status);
    let statuses: BTreeSet<(String, String)> =
        outputs.iter().map(|r| (key(r), json(r)["status"].as_str().unwrap_or_default().to_owned())).collect();
    assert_eq!(statuses.len(), outputs.len(), "one status per message");
    assert!(support::read_to_end(&s.dead_letters).is_empty(), "no dead letters");
    statuses
}

fn assert_same(got: &BTreeSet<(String, String)>, expected: &BTreeSet<(String, String)>, run: &str) {
    let missing: Vec<_> = expected.difference(got).take(5).collect();
    let extra: Vec<_> = got.difference(expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{run}: {} statuses, expected {}; missing {missing:?}, unexpected {extra:?}",
        got.len(),
        expected.len()
    );
}

fn scenario(name: &str) -> Scenario {
    let s = Scenario::new(name);
    s.create_inputs(2, 2);
    s
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The whole input written before the tracker starts.
#[test]
fn a_backlog_gives_the_statuses_of_timestamp_order() {
    let s = scenario("order-backlog");
    let (records, expected) = input(now_ms());
    write_backlog(&s, &records);
    let _tracker = Tracker::start(&s, TRACKER_ARGS);
    assert_same(&settled_statuses(&s), &expected, "backlog");
}

/// The backlog with the smallest order buffer: the records held for timestamp order outgrow it,
/// their input partitions are paused (librdkafka drops what it prefetched for them) and resumed
/// (fetched again) — the statuses stay those of timestamp order.
#[test]
fn a_backlog_paused_for_memory_gives_the_same_statuses() {
    let s = scenario("order-paused");
    let (records, expected) = input(now_ms());
    write_backlog(&s, &records);
    let args = [TRACKER_ARGS, &["--order-buffer-mib", "1"]].concat();
    let tracker = Tracker::start(&s, &args);
    assert_same(&settled_statuses(&s), &expected, "backlog paused for memory");
    let pauses = tracker.metric("sms_tracker_input_partition_pauses_total").expect("the tracker's pause count");
    eprintln!("input partitions paused {pauses} times");
    assert!(pauses > 0.0, "the order buffer never filled: no input partition was paused");
}

/// The same input written while the tracker runs, in timestamp order (as a gateway writing as
/// it goes).
#[test]
fn live_input_gives_the_same_statuses() {
    let s = scenario("order-live");
    let (records, expected) = input(now_ms());
    let _tracker = Tracker::start(&s, TRACKER_ARGS);
    let producer = producer();
    for (i, record) in records.iter().enumerate() {
        // Acknowledged before the other input is written to: a later fetch of either input
        // finds everything before it in time.
        if i > 0 && records[i - 1].sent_topic != record.sent_topic {
            producer.flush(Duration::from_secs(60)).expect("deliver live records");
        }
        send(&producer, &s, record);
    }
    producer.flush(Duration::from_secs(60)).expect("deliver live records");
    assert_same(&settled_statuses(&s), &expected, "live");
}

/// The backlog again, with the tracker killed once some statuses were committed and before all
/// input was, then restarted: the replay from the committed offsets publishes the rest.
#[test]
fn a_backlog_interrupted_by_sigkill_gives_the_same_statuses() {
    let s = scenario("order-kill");
    let (records, expected) = input(now_ms());
    write_backlog(&s, &records);
    let first = Tracker::start_instance(&s, "pod-0", TRACKER_ARGS);
    let sent_series = r#"sms_tracker_statuses_published_total{status="SENT"}"#;
    wait_for("the first committed statuses", DEADLINE, || {
        (first.metric(sent_series).unwrap_or(0.0) > 0.0).then_some(())
    });
    first.sigkill();
    let (committed, total) = committed_input(&s);
    eprintln!("killed with {committed} of {total} input records committed");
    assert!(
        committed > 0 && committed < total,
        "the kill landed with input left uncommitted: {committed} of {total} input records committed"
    );
    // Same instance id: the restart fences the killed instance's open transaction at once.
    let _second = Tracker::start_instance(&s, "pod-0", TRACKER_ARGS);
    assert_same(&settled_statuses(&s), &expected, "backlog with SIGKILL");
}

/// Input records covered by the group's committed offsets, and all input records.
fn committed_input(s: &Scenario) -> (i64, i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", &s.app_id)
        .create()
        .expect("consumer");
    let mut ends = BTreeMap::new();
    let mut wanted = TopicPartitionList::new();
    for topic in [&s.sent, &s.responses] {
        for (partition, end) in end_offsets(topic) {
            ends.insert((topic.clone(), partition), end);
            wanted.add_partition(topic, partition);
        }
    }
    let committed = wait_for("the group's committed offsets", DEADLINE, || {
        consumer.committed_offsets(wanted.clone(), Duration::from_secs(10)).ok()
    });
    let done: i64 = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(offset) => offset,
            _ => 0,
        })
        .sum();
    (done, ends.values().sum())
}

/// What "caught up" rests on, against the broker: after the last record of a (non-transactional)
/// partition is consumed, the consumer's position equals the high watermark librdkafka cached
/// from its fetch; before that it is below; an empty partition is caught up from its first fetch.
#[test]
fn a_consumer_is_caught_up_exactly_when_it_consumed_the_last_record() {
    let topic = support::unique("order-watermarks");
    support::create_topic(&topic, 2);
    let producer = producer();
    for i in 0..5 {
        let value = format!("v{i}");
        producer.send(BaseRecord::<str, str>::to(&topic).partition(0).key("k").payload(&value)).expect("enqueue");
    }
    producer.flush(Duration::from_secs(30)).expect("deliver");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", support::unique("order-watermarks-reader"))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in [0, 1] {
        assignment.add_partition_offset(&topic, partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let caught_up = |partition| watermarks::caught_up(&consumer, &Positions::of(&consumer), &topic, partition);
    let mut consumed = 0;
    wait_for("the five records", DEADLINE, || {
        assert!(!caught_up(0), "caught up after {consumed} of 5 records");
        if let Some(record) = consumer.poll(Duration::from_millis(100)) {
            record.expect("consume");
            consumed += 1;
        }
        (consumed == 5).then_some(())
    });
    assert!(caught_up(0), "the position reached the cached high watermark");
    wait_for("the empty partition to be known empty", DEADLINE, || caught_up(1).then_some(()));
}
