//! The tracker's per-record work without Kafka or actors, on one thread: parse and validate each
//! record, apply it to a partition's state, render every published status, and encode the
//! changed entries for the changelog once per batch — what a partition actor does. It measures
//! where the domain code spends its time, separately from librdkafka and the broker:
//!
//! ```sh
//! cargo run --release --example hot_path -- 1000000          # ns per record
//! valgrind --tool=callgrind --toggle-collect=hot_path::process target/release/examples/hot_path 30000
//! ```
//!
//! Records look like the load generator's (1–3 parts, 3 % duplicate responses), interleaved the
//! way they arrive: a message, then its parts' responses.

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use sms_tracker::domain::output::render_status;
use sms_tracker::domain::snapshot;
use sms_tracker::domain::wire::{parse_sent_message, parse_submit_response};
use sms_tracker::domain::{Outcome, PartitionState, Policy, RecordMeta};

/// The tracker's allocator, so that the comparison measures the same thing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Records between two changelog encodings (the tracker's default batch size).
const BATCH: usize = 2000;

struct Record {
    sent: bool,
    key: Vec<u8>,
    value: Vec<u8>,
}

fn records(messages: usize) -> Vec<Record> {
    let mut records = Vec::with_capacity(messages * 3);
    for i in 0..messages {
        let id = format!("msg-{i:012}");
        let total = 1 + i % 3;
        let message = serde_json::json!({
            "id": id, "status": "PENDING", "sender": "ACME", "recipient": format!("+38591{:07}", i % 10_000_000),
            "text": "Your verification code is 123456. It expires in 10 minutes.".repeat(total),
            "supplier": "supplier-a", "createdAt": "2026-11-25T10:00:00.000Z",
        });
        records.push(Record { sent: true, key: id.clone().into_bytes(), value: serde_json::to_vec(&message).unwrap() });
        for part in 1..=total {
            let response = serde_json::json!({
                "messageId": id, "partNumber": part, "totalParts": total,
                "supplierMessageId": format!("{i:x}-{part}"), "commandStatus": 0,
                "supplier": "supplier-a", "receivedAt": "2026-11-25T10:00:01.000Z",
            });
            let value = serde_json::to_vec(&response).unwrap();
            if i % 33 == 0 {
                records.push(Record { sent: false, key: id.clone().into_bytes(), value: value.clone() });
            }
            records.push(Record { sent: false, key: id.clone().into_bytes(), value });
        }
    }
    records
}

fn main() {
    let messages: usize = std::env::args().nth(1).map_or(200_000, |n| n.parse().expect("a number of messages"));
    let records = records(messages);
    process(&records, messages);
}

/// The measured part (callgrind: `--toggle-collect=hot_path::process`).
#[inline(never)]
fn process(records: &[Record], messages: usize) {
    let mut state = PartitionState::new(Policy::default());
    let (mut published, mut output_bytes, mut changelog_bytes) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    // The slowest batch shows stalls (e.g. a table growing) that the mean hides.
    let mut slowest = (std::time::Duration::ZERO, 0usize);
    let report_stalls = std::env::var_os("HOT_PATH_STALLS").is_some();
    for (offset, chunk) in records.chunks(BATCH).enumerate() {
        let batch_started = Instant::now();
        for (i, record) in chunk.iter().enumerate() {
            let meta = RecordMeta { timestamp_ms: 1_764_064_800_000, offset: (offset * BATCH + i) as i64 };
            let parsed = if record.sent {
                parse_sent_message(Some(&record.key), Some(&record.value))
            } else {
                parse_submit_response(Some(&record.key), Some(&record.value))
            };
            if let Outcome::Publish(change) = state.apply(parsed.expect("valid records"), meta) {
                published += 1;
                output_bytes += black_box(render_status(&change, SystemTime::now())).len();
            }
        }
        for (id, entry) in state.take_changes() {
            changelog_bytes += id.len() + entry.map_or(0, |entry| black_box(snapshot::encode(entry)).len());
        }
        slowest = slowest.max((batch_started.elapsed(), state.len()));
        if report_stalls && batch_started.elapsed().as_millis() >= 5 {
            eprintln!("stall {:?} at {} entries", batch_started.elapsed(), state.len());
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(published, messages, "every message is published once");
    println!(
        "{} records ({messages} messages) in {:.3} s: {:.0} ns/record; {:.0} B output and {:.0} B changelog per message",
        records.len(),
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / records.len() as f64,
        output_bytes as f64 / messages as f64,
        changelog_bytes as f64 / messages as f64,
    );
    println!(
        "slowest batch of {BATCH} records: {:.1} ms, with {} entries in state after it",
        slowest.0.as_secs_f64() * 1000.0,
        slowest.1
    );
}
