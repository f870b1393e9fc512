//! The generator with receipts on: the receipts are what the expected outcomes claim, reach only
//! accepted parts, carry ids a correctly configured tracker can match, and race the responses.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::*;
use crate::records::{ReceiptKind, contract};
use crate::supplier_ids::{IdFormat, SupplierIdFormat};

fn receipt_settings() -> ReceiptSettings {
    ReceiptSettings {
        delivered_share: 0.9,
        undelivered_share: 0.05,
        enroute_share: 0.2,
        duplicate_share: 0.02,
        before_response_share: 0.1,
        text_share: 0.3,
        id_formats: vec![
            SupplierIdFormat { supplier: "supplier-a", format: IdFormat::HexInResponse },
            SupplierIdFormat { supplier: "supplier-b", format: IdFormat::HexInReport },
        ],
    }
}

fn settings(seed: u64) -> Settings {
    Settings {
        seed,
        id_prefix: "r-".into(),
        max_parts: 4,
        duplicate_share: 0.02,
        retryable_share: 0.05,
        invalid_share: 0.01,
        start_epoch_ms: 1_764_064_800_000,
        receipts: Some(receipt_settings()),
    }
}

/// Every record of a run (tail receipts included, as the run writes them) and every outcome.
fn plan(settings: Settings, windows: &[usize]) -> (Vec<PlannedRecord>, Vec<(String, Outcome)>) {
    let (records, outcomes, _) = plan_windows(settings, windows);
    (records, outcomes)
}

/// Like [`plan`], plus the window each record was written in (the last for leftover tail ones).
fn plan_windows(settings: Settings, windows: &[usize]) -> (Vec<PlannedRecord>, Vec<(String, Outcome)>, Vec<usize>) {
    let mut generator = Generator::new(settings);
    let (mut records, mut outcomes, mut window_of) = (Vec::new(), Vec::new(), Vec::new());
    for (window, &n) in windows.iter().enumerate() {
        records.extend(generator.window(n));
        outcomes.extend(generator.take_outcomes());
        window_of.resize(records.len(), window);
    }
    records.extend(generator.take_deferred());
    window_of.resize(records.len(), windows.len());
    (records, outcomes, window_of)
}

fn json(record: &PlannedRecord) -> Value {
    serde_json::from_slice(&record.value).expect("valid records are JSON")
}

/// The base a supplier writes its ids in: (submit response, receipt), as `receipt_settings` says.
fn radixes(supplier: &str) -> (u32, u32) {
    match supplier {
        "supplier-a" => (16, 10),
        "supplier-b" => (10, 16),
        _ => (16, 16),
    }
}

fn number(id: &str, radix: u32) -> u128 {
    u128::from_str_radix(id, radix).unwrap_or_else(|e| panic!("{id:?} in base {radix}: {e}"))
}

/// A valid receipt as the tracker reads it.
struct Receipt {
    supplier: String,
    id: String,
    stat: String,
    kind: ReceiptKind,
}

fn read(record: &PlannedRecord) -> Option<Receipt> {
    let RecordKind::Receipt(kind) = record.kind else { return None };
    let value = json(record);
    let supplier = value["supplier"].as_str().unwrap().to_owned();
    let (id, stat) = match value.get("shortMessage").and_then(Value::as_str) {
        Some(text) => {
            let field = |name: &str| {
                let token = text.split_whitespace().find(|t| t.to_lowercase().starts_with(name)).unwrap();
                token[name.len()..].to_owned()
            };
            (field("id:"), field("stat:").to_uppercase())
        }
        None => {
            let stat = match &value["stat"] {
                Value::Number(n) => ["", "ENROUTE", "DELIVRD", "EXPIRED", "", "UNDELIV", "ACCEPTD", "", "REJECTD"]
                    [n.as_u64().unwrap() as usize]
                    .to_owned(),
                other => other.as_str().unwrap().to_owned(),
            };
            (value["supplierMessageId"].as_str().unwrap().to_owned(), stat)
        }
    };
    assert_eq!(record.key.as_deref(), Some(id.as_str()), "keyed by the id as written");
    Some(Receipt { supplier, id, stat, kind })
}

/// (supplier, id number) → (message id, part number), from the parts' successful responses.
fn accepted_parts(records: &[PlannedRecord]) -> HashMap<(String, u128), (String, u64)> {
    let mut parts = HashMap::new();
    for r in records.iter().filter(|r| r.kind == RecordKind::Success) {
        let v = json(r);
        let supplier = v["supplier"].as_str().unwrap().to_owned();
        let id = number(v["supplierMessageId"].as_str().unwrap(), radixes(&supplier).0);
        let part = (v["messageId"].as_str().unwrap().to_owned(), v["partNumber"].as_u64().unwrap());
        assert!(parts.insert((supplier, id), part).is_none(), "supplier ids are unique");
    }
    parts
}

/// Each accepted part's receipts, in production order, with their positions.
fn receipts_by_part(records: &[PlannedRecord]) -> HashMap<(String, u64), Vec<(usize, Receipt)>> {
    let parts = accepted_parts(records);
    let mut by_part: HashMap<(String, u64), Vec<(usize, Receipt)>> = HashMap::new();
    for (position, receipt) in records.iter().enumerate().filter_map(|(i, r)| read(r).map(|x| (i, x))) {
        let id = number(&receipt.id, radixes(&receipt.supplier).1);
        let part = parts.get(&(receipt.supplier.clone(), id)).unwrap_or_else(|| panic!("no part for {}", receipt.id));
        by_part.entry(part.clone()).or_default().push((position, receipt));
    }
    by_part
}

const NOT_DELIVERED: [&str; 3] = ["UNDELIV", "REJECTD", "EXPIRED"];

#[test]
fn the_same_seed_plans_the_same_receipts_and_outcomes() {
    assert_eq!(plan(settings(42), &[500, 500]), plan(settings(42), &[500, 500]));
    assert_ne!(plan(settings(42), &[500]).0, plan(settings(43), &[500]).0);
}

#[test]
fn receipts_reach_only_accepted_parts_with_ids_in_each_suppliers_bases() {
    let (records, _) = plan(settings(1), &[1000, 1000]);
    let by_part = receipts_by_part(&records);
    assert!(by_part.len() > 2000);
    // The bases really differ: a hex-in-response supplier's responses carry letters, its receipts
    // only digits, so a tracker comparing strings would match nothing.
    let responses = records.iter().filter(|r| r.kind == RecordKind::Success).map(json);
    let lettered = responses
        .filter(|v| v["supplier"] == "supplier-a")
        .filter(|v| v["supplierMessageId"].as_str().unwrap().bytes().any(|b| b.is_ascii_alphabetic()))
        .count();
    assert!(lettered > 300, "{lettered}");
    for (_, receipt) in by_part.values().flatten() {
        if receipt.supplier == "supplier-a" {
            assert!(receipt.id.bytes().all(|b| b.is_ascii_digit()), "{}", receipt.id);
        }
    }
}

#[test]
fn expected_outcomes_partition_the_messages_and_match_their_receipts() {
    let (records, outcomes) = plan(settings(2), &[1000, 1000, 500]);
    let messages: HashSet<&str> =
        records.iter().filter(|r| r.kind == RecordKind::Message).map(|r| r.key.as_deref().unwrap()).collect();
    let outcome: HashMap<&str, Outcome> = outcomes.iter().map(|(id, o)| (id.as_str(), *o)).collect();
    assert_eq!((outcomes.len(), outcome.len()), (2500, 2500), "one outcome per message");
    assert_eq!(outcome.keys().copied().collect::<HashSet<_>>(), messages);
    let totals: HashMap<String, u64> = records
        .iter()
        .filter(|r| r.kind == RecordKind::Success)
        .map(json)
        .map(|v| (v["messageId"].as_str().unwrap().to_owned(), v["totalParts"].as_u64().unwrap()))
        .collect();
    let by_part = receipts_by_part(&records);
    let mut finals: HashMap<&str, Vec<String>> = HashMap::new();
    for ((message, _), receipts) in &by_part {
        let last: Vec<_> = receipts.iter().filter(|(_, r)| r.kind.role == ReceiptRole::Final).collect();
        assert!(last.len() <= 1, "one final receipt per part");
        finals.entry(message).or_default().extend(last.iter().map(|(_, r)| r.stat.clone()));
    }
    for (id, expected) in &outcome {
        let stats = finals.remove(id).unwrap_or_default();
        let not_delivered = stats.iter().filter(|s| NOT_DELIVERED.contains(&s.as_str())).count();
        let delivered = stats.iter().filter(|s| *s == "DELIVRD").count() as u64;
        match expected {
            Outcome::Delivered => assert_eq!(delivered, totals[*id], "{id}: every part delivered"),
            Outcome::Undelivered => assert_eq!(not_delivered, 1, "{id}: one part not delivered"),
            Outcome::Unknown => assert!(not_delivered == 0 && delivered < totals[*id], "{id}: a part unreported"),
        }
    }
}

#[test]
fn shares_are_roughly_as_configured() {
    let (records, outcomes) = plan(settings(3), &[1000; 20]);
    let share = |o: Outcome| outcomes.iter().filter(|(_, x)| *x == o).count() as f64 / outcomes.len() as f64;
    let (delivered, undelivered, unknown) =
        (share(Outcome::Delivered), share(Outcome::Undelivered), share(Outcome::Unknown));
    assert!((0.89..0.91).contains(&delivered), "{delivered}");
    assert!((0.044..0.056).contains(&undelivered) && (0.044..0.056).contains(&unknown), "{undelivered} {unknown}");
    let receipts: Vec<ReceiptKind> =
        records.iter().filter_map(|r| if let RecordKind::Receipt(k) = r.kind { Some(k) } else { None }).collect();
    let count = |f: &dyn Fn(&ReceiptKind) -> bool| receipts.iter().filter(|k| f(k)).count() as f64;
    let parts = records.iter().filter(|r| r.kind == RecordKind::Success).count() as f64;
    let finals = count(&|k| k.role == ReceiptRole::Final);
    let enroute = count(&|k| k.role == ReceiptRole::Intermediate) / parts;
    let duplicates = count(&|k| k.role == ReceiptRole::Duplicate) / finals;
    let originals = count(&|k| k.role != ReceiptRole::Duplicate);
    let text = count(&|k| k.text && k.role != ReceiptRole::Duplicate) / originals;
    assert!((0.19..0.21).contains(&enroute), "{enroute}");
    assert!((0.015..0.025).contains(&duplicates), "{duplicates}");
    assert!((0.29..0.31).contains(&text), "{text}");
    let by_part = receipts_by_part(&records);
    let before = by_part.values().filter(|r| r[0].1.kind.before_response).count() as f64 / by_part.len() as f64;
    assert!((0.09..0.11).contains(&before), "{before}");
    let suppliers: HashSet<&str> = receipts.iter().map(|k| k.supplier).collect();
    assert_eq!(suppliers.len(), 3);
    let invalid =
        records.iter().filter(|r| r.topic == Topic::DeliveryReports && !matches!(r.kind, RecordKind::Receipt(_)));
    let invalid = invalid.count() as f64 / receipts.len() as f64;
    assert!((0.008..0.012).contains(&invalid), "{invalid}");
}

#[test]
fn receipts_follow_their_response_unless_placed_before_it_and_keep_their_own_order() {
    let (records, _, window_of) = plan_windows(settings(4), &[500; 6]);
    let mut success_at = HashMap::new();
    for (i, r) in records.iter().enumerate().filter(|(_, r)| r.kind == RecordKind::Success) {
        let v = json(r);
        success_at.insert((v["messageId"].as_str().unwrap().to_owned(), v["partNumber"].as_u64().unwrap()), i);
    }
    let (mut before, mut later_window) = (0, 0);
    for (part, receipts) in receipts_by_part(&records) {
        let roles: Vec<ReceiptRole> = receipts.iter().map(|(_, r)| r.kind.role).collect();
        let mut sorted = roles.clone();
        sorted.sort_by_key(|r| {
            [ReceiptRole::Intermediate, ReceiptRole::Final, ReceiptRole::Duplicate].iter().position(|x| x == r)
        });
        assert_eq!(roles, sorted, "{part:?}: intermediate, final, duplicate");
        let response = success_at[&part];
        let (first, last_position) = (&receipts[0], receipts[receipts.len() - 1].0);
        if first.1.kind.before_response {
            before += 1;
            let last = receipts.iter().find(|(_, r)| r.kind.role == ReceiptRole::Final).unwrap_or(first);
            assert!(last.0 < response, "{part:?}: final receipt before the response");
        } else {
            assert!(first.0 > response, "{part:?}: receipts after the response");
            later_window += usize::from(window_of[last_position] > window_of[response]);
        }
    }
    assert!(before > 300, "{before} parts with receipts before the response");
    // ~5% of the parts with a final receipt written after their response.
    assert!((100..250).contains(&later_window), "{later_window} tail receipts");
}

#[test]
fn valid_receipts_meet_the_contract_and_invalid_ones_do_not_touch_any_part() {
    let (records, _) = plan(Settings { invalid_share: 0.2, ..settings(5) }, &[1000, 1000]);
    let supplier_ids: HashSet<String> =
        records.iter().filter(|r| r.topic == Topic::DeliveryReports).filter_map(|r| read(r).map(|x| x.id)).collect();
    let (mut kinds, mut dialects) = (HashSet::new(), HashSet::new());
    for r in records.iter().filter(|r| r.topic == Topic::DeliveryReports) {
        let verdict = contract::check(r.topic, r.key.as_deref(), &r.value);
        match r.kind {
            RecordKind::Invalid(kind) => {
                kinds.insert(kind);
                assert!(verdict.is_err(), "{kind:?} accepted: {}", String::from_utf8_lossy(&r.value));
                let key = r.key.as_deref().unwrap();
                assert!(key.starts_with("r-bad-") && !supplier_ids.contains(key), "{key}");
            }
            _ => {
                assert_eq!(verdict, Ok(()), "{}", String::from_utf8_lossy(&r.value));
                if let Some(text) = json(r).get("shortMessage").and_then(Value::as_str) {
                    let stat = text.split_whitespace().find(|t| t.starts_with("stat:")).unwrap();
                    let seconds = text.split_whitespace().any(|t| t.starts_with("date:") && t.len() == 5 + 12);
                    for (dialect, seen) in [
                        ("without sub", !text.contains("sub:")),
                        ("reordered", !text.starts_with("id:")),
                        ("lower case", stat.bytes().skip(5).all(|b| b.is_ascii_lowercase())),
                        ("seconds", seconds),
                        ("without text", !text.contains("text:")),
                    ] {
                        if seen {
                            dialects.insert(dialect);
                        }
                    }
                }
            }
        }
    }
    assert_eq!(kinds, InvalidKind::RECEIPTS.into_iter().collect(), "all invalid receipt kinds occur");
    assert_eq!(dialects.len(), 5, "text dialects vary: {dialects:?}");
}

#[test]
fn without_receipt_settings_nothing_about_receipts_is_planned() {
    let mut generator = Generator::new(Settings { receipts: None, ..settings(6) });
    let records = generator.window(1000);
    assert!(records.iter().all(|r| r.topic != Topic::DeliveryReports));
    assert!(generator.take_outcomes().is_empty() && generator.take_deferred().is_empty());
    // Supplier ids are the classic 8 hex digits, not the unique receipt-mode ones.
    let success = records.iter().find(|r| r.kind == RecordKind::Success).map(json).unwrap();
    assert_eq!(success["supplierMessageId"].as_str().unwrap().len(), 8);
}
