//! Measures the heap bytes of tracker state per message, with a counting allocator:
//! `cargo run --release --example state_memory -- 200000`.
//!
//! The shapes measured: pending messages (WholeMessage known, 1 of 2 parts answered), responses
//! awaiting their message, terminal markers (after SENT), and with receipt tracking messages
//! awaiting their receipts (SENT, 1 or 2 parts, an intermediate receipt) and the receipt join's
//! index entries (one per accepted part). The WholeMessage JSON is kept verbatim while pending
//! and while awaiting receipts, so its length is reported separately.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use sms_tracker::domain::receipt_join::{IndexEntry, JoinPolicy, JoinState};
use sms_tracker::domain::supplier_id::receipt_key;
use sms_tracker::domain::{
    DeliveryPolicy, Input, MatchedReceipt, PartReceipt, PartResponse, PartitionState, Policy, ReceiptParts, RecordMeta,
};

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn message_json(id: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{id}","status":"PENDING","sender":"ACME","recipient":"+385911234567","text":"Your verification code is 123456. It expires in 10 minutes.","createdAt":"2026-11-25T10:00:00.000Z"}}"#
    )
    .into_bytes()
}

fn part(id: &str, n: u8, total: u8) -> Input {
    Input::Part(PartResponse {
        message_id: id.to_owned(),
        part_number: n,
        total_parts: total,
        command_status: 0,
        supplier_message_id: Some(format!("{:016X}", n as u64 * 7919)),
        supplier: Some("supplier-a".into()),
    })
}

fn receipts_on() -> Policy {
    let delivery = DeliveryPolicy { timeout_ms: 172_800_000, parts: ReceiptParts::All };
    Policy { delivery: Some(delivery), ..Policy::default() }
}

fn enroute(id: &str, n: u8) -> Input {
    let receipt = PartReceipt { stat: "ENROUTE".into(), err: None, done_date: Some("2611251000".into()) };
    Input::Receipt(MatchedReceipt { message_id: id.to_owned(), part_number: n, receipt })
}

fn measure_join(n: usize) {
    let before = ALLOCATED.load(Ordering::Relaxed);
    let mut join =
        JoinState::new(JoinPolicy { unmatched_after_ms: 300_000, keep_index_ms: 180_000_000, retention_ms: 3_600_000 });
    for i in 0..n {
        let key = receipt_key("supplier-a", &format!("{:016X}", i as u64 * 7919));
        let index = IndexEntry { message_id: format!("5d1f0c9e-{i:08x}"), message_partition: 3, part_number: 1 };
        join.apply_index(&key, index, 1_764_064_800_000);
    }
    join.take_changes();
    let bytes = ALLOCATED.load(Ordering::Relaxed) - before;
    println!(
        "| receipt join index entry (one per accepted part) | {n} | {} | {:.0} |",
        join.len(),
        bytes as f64 / n as f64
    );
}

fn measure(n: usize, label: &str, policy: Policy, fill: impl Fn(&mut PartitionState, &str)) -> usize {
    let before = ALLOCATED.load(Ordering::Relaxed);
    let mut state = PartitionState::new(policy);
    for i in 0..n {
        fill(&mut state, &format!("5d1f0c9e-{i:08x}"));
    }
    state.take_changes();
    let bytes = ALLOCATED.load(Ordering::Relaxed) - before;
    println!("| {label} | {n} | {} | {:.0} |", state.len(), bytes as f64 / n as f64);
    bytes
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let meta = RecordMeta { timestamp_ms: 1_764_064_800_000, offset: 0 };
    let json_len = message_json("5d1f0c9e-00000000").len();
    println!("WholeMessage JSON used: {json_len} bytes; ids are 17 bytes.\n");
    println!("| state shape | messages | entries | heap bytes per message |");
    println!("|---|---|---|---|");
    measure(n, "pending (message + 1 of 2 parts)", Policy::default(), |state, id| {
        state.apply(Input::Message { id: id.to_owned(), json: message_json(id) }, meta);
        state.apply(part(id, 1, 2), meta);
    });
    measure(n, "awaiting message (1 of 2 parts)", Policy::default(), |state, id| {
        state.apply(part(id, 1, 2), meta);
    });
    measure(n, "terminal marker (after SENT)", Policy::default(), |state, id| {
        state.apply(Input::Message { id: id.to_owned(), json: message_json(id) }, meta);
        state.apply(part(id, 1, 1), meta);
    });
    measure(n, "awaiting receipts (SENT, 1 part, ENROUTE receipt)", receipts_on(), |state, id| {
        state.apply(Input::Message { id: id.to_owned(), json: message_json(id) }, meta);
        state.apply(part(id, 1, 1), meta);
        state.apply(enroute(id, 1), meta);
        state.take_accepted();
    });
    measure(n, "awaiting receipts (SENT, 2 parts, 1 ENROUTE)", receipts_on(), |state, id| {
        state.apply(Input::Message { id: id.to_owned(), json: message_json(id) }, meta);
        state.apply(part(id, 1, 2), meta);
        state.apply(part(id, 2, 2), meta);
        state.apply(enroute(id, 1), meta);
        state.take_accepted();
    });
    measure_join(n);
}
