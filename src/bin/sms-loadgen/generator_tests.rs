use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::*;
use crate::records::contract;

fn settings(seed: u64) -> Settings {
    Settings {
        seed,
        id_prefix: "t1-".into(),
        max_parts: 4,
        duplicate_share: 0.02,
        retryable_share: 0.05,
        invalid_share: 0.01,
        start_epoch_ms: 1_764_064_800_000,
        receipts: None,
    }
}

fn plan(settings: Settings, windows: &[usize]) -> Vec<PlannedRecord> {
    let mut generator = Generator::new(settings);
    windows.iter().flat_map(|&n| generator.window(n)).collect()
}

fn json(record: &PlannedRecord) -> Value {
    serde_json::from_slice(&record.value).expect("valid records are JSON")
}

/// Valid records grouped by key, in production order.
fn valid_by_key(records: &[PlannedRecord]) -> HashMap<&str, Vec<&PlannedRecord>> {
    let mut by_key: HashMap<&str, Vec<&PlannedRecord>> = HashMap::new();
    for r in records.iter().filter(|r| !matches!(r.kind, RecordKind::Invalid(_))) {
        by_key.entry(r.key.as_deref().expect("valid records have keys")).or_default().push(r);
    }
    by_key
}

#[test]
fn the_same_seed_plans_the_same_records() {
    assert_eq!(plan(settings(42), &[500, 500]), plan(settings(42), &[500, 500]));
    assert_ne!(plan(settings(42), &[500]), plan(settings(43), &[500]));
}

#[test]
fn every_part_of_every_message_succeeds_exactly_once() {
    let records = plan(settings(1), &[1000, 1000, 333]);
    let by_key = valid_by_key(&records);
    assert_eq!(by_key.len(), 2333);
    for (key, records) in by_key {
        assert!(key.starts_with("t1-") && key.len() == 3 + 16, "{key}");
        let messages: Vec<_> = records.iter().filter(|r| r.topic == Topic::Sent).collect();
        assert_eq!(messages.len(), 1, "{key}: one WholeMessage");
        assert_eq!(json(messages[0])["id"], key);
        let parts: Vec<Value> = records.iter().filter(|r| r.topic == Topic::Responses).map(|r| json(r)).collect();
        let total = parts[0]["totalParts"].as_u64().unwrap();
        assert!((1..=4).contains(&total));
        let mut successes = vec![0; total as usize];
        for (record, part) in records.iter().filter(|r| r.topic == Topic::Responses).zip(&parts) {
            assert_eq!(part["totalParts"], total, "{key}: one totalParts");
            let number = part["partNumber"].as_u64().unwrap() as usize;
            match record.kind {
                RecordKind::Success => successes[number - 1] += 1,
                RecordKind::Duplicate => assert_eq!(part["commandStatus"], 0),
                RecordKind::Retryable => {
                    assert_eq!(part["commandStatus"], ESME_RTHROTTLED);
                    assert!(part.get("supplierMessageId").is_none());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(successes.iter().all(|&n| n == 1), "{key}: {successes:?}");
    }
}

#[test]
fn within_a_part_throttled_precedes_success_precedes_duplicates() {
    let records = plan(Settings { duplicate_share: 0.5, retryable_share: 0.5, ..settings(2) }, &[1000]);
    let mut last_rank: HashMap<(String, u64), u8> = HashMap::new();
    let mut responses_before_message = 0;
    let mut seen_messages = HashSet::new();
    for r in records.iter().filter(|r| !matches!(r.kind, RecordKind::Invalid(_))) {
        let key = r.key.clone().unwrap();
        let rank = match r.kind {
            RecordKind::Message => {
                seen_messages.insert(key);
                continue;
            }
            RecordKind::Retryable => 0,
            RecordKind::Success => 1,
            _ => 2,
        };
        responses_before_message += usize::from(!seen_messages.contains(&key));
        let part = json(r)["partNumber"].as_u64().unwrap();
        let previous = last_rank.insert((key, part), rank);
        assert!(previous.is_none_or(|p| p <= rank), "{:?} after rank {previous:?}", r.kind);
    }
    assert!(responses_before_message > 100, "shuffling lets responses overtake messages");
}

#[test]
fn every_valid_record_is_valid_and_every_invalid_one_is_not() {
    let records = plan(Settings { invalid_share: 0.2, ..settings(3) }, &[1000, 1000]);
    let mut kinds = HashSet::new();
    for r in &records {
        let verdict = contract::check(r.topic, r.key.as_deref(), &r.value);
        match r.kind {
            RecordKind::Invalid(kind) => {
                kinds.insert(kind);
                assert!(verdict.is_err(), "{kind:?} accepted: {}", String::from_utf8_lossy(&r.value));
            }
            _ => assert_eq!(verdict, Ok(()), "{:?}", r.kind),
        }
    }
    assert_eq!(kinds.len(), InvalidKind::ALL.len(), "all kinds occur");
}

#[test]
fn invalid_records_never_touch_a_valid_message() {
    let records = plan(Settings { invalid_share: 0.3, ..settings(4) }, &[1000, 1000]);
    let valid: HashSet<&str> = valid_by_key(&records).into_keys().collect();
    for r in records.iter().filter(|r| matches!(r.kind, RecordKind::Invalid(_))) {
        if let Some(key) = &r.key {
            assert!(!valid.contains(key.as_str()), "key {key}");
            assert!(key.starts_with("t1-bad-"));
        }
        // Nor may a value name one (id-mismatch, null-key, ...).
        if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&r.value) {
            for field in ["id", "messageId"] {
                if let Some(Value::String(id)) = fields.get(field) {
                    assert!(!valid.contains(id.as_str()), "{field} {id}");
                }
            }
        }
    }
}

#[test]
fn shares_and_part_skew_are_roughly_as_configured() {
    let records = plan(settings(5), &[1000; 20]);
    let count = |kind: RecordKind| records.iter().filter(|r| r.kind == kind).count() as f64;
    let invalid = records.iter().filter(|r| matches!(r.kind, RecordKind::Invalid(_))).count() as f64;
    let (messages, successes) = (count(RecordKind::Message), count(RecordKind::Success));
    assert_eq!(messages, 20_000.0);
    let duplicates = count(RecordKind::Duplicate) / successes;
    let retryables = count(RecordKind::Retryable) / successes;
    let invalid_share = invalid / (records.len() as f64 - invalid);
    assert!((0.015..0.025).contains(&duplicates), "{duplicates}");
    assert!((0.04..0.06).contains(&retryables), "{retryables}");
    assert!((0.008..0.012).contains(&invalid_share), "{invalid_share}");
    let mut by_parts = [0usize; 5];
    for r in records.iter().filter(|r| r.kind == RecordKind::Success && json(r)["partNumber"] == 1) {
        by_parts[json(r)["totalParts"].as_u64().unwrap() as usize] += 1;
    }
    assert!(by_parts[1] > by_parts[2] && by_parts[2] > by_parts[3] && by_parts[3] > by_parts[4], "{by_parts:?}");
    assert!(by_parts[4] > 0);
}

#[test]
fn max_parts_one_and_zero_shares_give_plain_single_part_traffic() {
    let s = Settings { max_parts: 1, duplicate_share: 0.0, retryable_share: 0.0, invalid_share: 0.0, ..settings(6) };
    let records = plan(s, &[700]);
    assert_eq!(records.len(), 1400);
    assert!(records.iter().all(|r| matches!(r.kind, RecordKind::Message | RecordKind::Success)));
}

#[test]
fn ids_stay_unique_across_windows() {
    let records = plan(Settings { id_prefix: String::new(), ..settings(7) }, &[1000; 10]);
    let messages: Vec<_> = records.iter().filter(|r| r.kind == RecordKind::Message).collect();
    let ids: HashSet<_> = messages.iter().map(|r| r.key.as_deref().unwrap()).collect();
    assert_eq!(ids.len(), 10_000);
    assert!(ids.iter().all(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())));
}
