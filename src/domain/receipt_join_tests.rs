//! The receipt join on its own: both orders, duplicates, unmatched receipts, expiry, restart.

use super::*;

const POLICY: JoinPolicy = JoinPolicy { unmatched_after_ms: 300_000, keep_index_ms: 3_600_000, retention_ms: 60_000 };
const T0: i64 = 1_000_000;

fn index(message: &str, part: u8) -> IndexEntry {
    IndexEntry { message_id: message.into(), message_partition: 3, part_number: part }
}

fn receipt(stat: &str, at_ms: i64) -> WaitingReceipt {
    WaitingReceipt {
        receipt: PartReceipt { stat: stat.into(), err: None, done_date: None },
        supplier: "supplier-a".into(),
        supplier_message_id: "0A1B".into(),
        at_ms,
        original: OriginalRecord {
            key: Some(b"0A1B".to_vec()),
            value: br#"{"supplier":"supplier-a","supplierMessageId":"0A1B","stat":"DELIVRD"}"#.to_vec(),
            topic: "delivery-reports".into(),
            partition: 0,
            offset: 7,
        },
    }
}

fn stats(output: &JoinOutput) -> Vec<(String, u8, String)> {
    output
        .joined
        .iter()
        .map(|j| (j.index.message_id.clone(), j.index.part_number, j.receipt.stat.to_string()))
        .collect()
}

#[test]
fn a_receipt_after_its_index_entry_is_joined_at_once() {
    let mut join = JoinState::new(POLICY);
    assert!(join.apply_index("k", index("m", 2), T0).joined.is_empty());
    let output = join.apply_receipt("k", receipt("DELIVRD", T0 + 1));
    assert_eq!(stats(&output), [("m".into(), 2, "DELIVRD".into())]);
    assert_eq!(output.joined[0].index.message_partition, 3);
}

#[test]
fn receipts_before_their_index_entry_wait_and_are_released_in_order() {
    let mut join = JoinState::new(POLICY);
    assert_eq!(join.apply_receipt("k", receipt("ENROUTE", T0)), JoinOutput::default());
    join.apply_receipt("k", receipt("DELIVRD", T0 + 1));
    assert_eq!(join.waiting(), 2);
    let output = join.apply_index("k", index("m", 1), T0 + 2);
    assert_eq!(stats(&output), [("m".into(), 1, "ENROUTE".into()), ("m".into(), 1, "DELIVRD".into())]);
    assert_eq!(join.waiting(), 0);
}

#[test]
fn duplicates_after_the_join_are_joined_again_for_the_message_to_ignore() {
    let mut join = JoinState::new(POLICY);
    join.apply_index("k", index("m", 1), T0);
    join.apply_receipt("k", receipt("DELIVRD", T0 + 1));
    assert_eq!(join.apply_receipt("k", receipt("DELIVRD", T0 + 2)).joined.len(), 1);
}

#[test]
fn a_receipt_whose_index_never_comes_is_unmatched_after_the_submit_timeout() {
    let mut join = JoinState::new(POLICY);
    join.apply_receipt("k", receipt("DELIVRD", T0));
    assert_eq!(join.sweep(T0 + POLICY.unmatched_after_ms - 1), JoinOutput::default());
    let output = join.sweep(T0 + POLICY.unmatched_after_ms);
    assert_eq!(output.unmatched.len(), 1);
    assert_eq!(output.unmatched[0].original.offset, 7, "kept to dead-letter the original record");
    assert!(join.is_empty());
}

#[test]
fn an_index_entry_is_forgotten_after_its_time() {
    let mut join = JoinState::new(POLICY);
    join.apply_index("k", index("m", 1), T0);
    assert!(join.sweep(T0 + POLICY.keep_index_ms).unmatched.is_empty());
    assert!(join.is_empty());
    join.apply_receipt("k", receipt("DELIVRD", T0 + POLICY.keep_index_ms + 1));
    assert_eq!(join.waiting(), 1, "a receipt after that waits like any unknown one");
}

#[test]
fn the_table_survives_a_restart_from_its_changelog() {
    let mut join = JoinState::new(POLICY);
    join.apply_receipt("early", receipt("DELIVRD", T0));
    join.apply_index("indexed", index("m", 1), T0);
    let mut restored = JoinState::new(POLICY);
    for (key, entry) in join.take_changes() {
        restored.restore(&key, entry.map(encode).map(|bytes| decode(&bytes).unwrap()));
    }
    assert_eq!(stats(&restored.apply_index("early", index("e", 2), T0 + 1)), [("e".into(), 2, "DELIVRD".into())]);
    assert_eq!(restored.apply_receipt("indexed", receipt("UNDELIV", T0 + 2)).joined.len(), 1);
    assert_eq!(restored.sweep(T0 + POLICY.unmatched_after_ms).unmatched.len(), 0);
}

#[test]
fn a_matched_receipt_reads_back_as_written() {
    let receipt = PartReceipt { stat: "UNDELIV".into(), err: Some("001".into()), done_date: None };
    let input = parse_matched_receipt(Some(&encode_matched("m\"1", 2, &receipt))).unwrap();
    assert_eq!(input, Input::Receipt(MatchedReceipt { message_id: "m\"1".into(), part_number: 2, receipt }));
    assert!(parse_matched_receipt(Some(b"{}")).is_err());
    assert!(parse_matched_receipt(None).is_err());
}

#[test]
fn a_re_keyed_receipt_keeps_its_original_record() {
    let original = receipt("DELIVRD", T0).original;
    let (decoded, timestamp) = decode_by_id(&encode_by_id(&original, T0).unwrap()).unwrap();
    assert_eq!((decoded, timestamp), (original, T0));
    let not_json = OriginalRecord { value: b"nope".to_vec(), ..receipt("DELIVRD", T0).original };
    assert_eq!(encode_by_id(&not_json, T0), None);
}

#[test]
fn after_the_final_receipt_an_index_entry_is_kept_only_for_the_retention() {
    let mut join = JoinState::new(POLICY);
    join.apply_index("k", index("m", 1), T0);
    join.apply_receipt("k", receipt("ENROUTE", T0 + 1));
    join.apply_receipt("k", receipt("DELIVRD", T0 + 2));
    join.apply_receipt("k", receipt("DELIVRD", T0 + 3));
    join.sweep(T0 + 2 + POLICY.retention_ms - 1);
    assert_eq!(join.len(), 1, "duplicates within the retention still find it");
    join.sweep(T0 + 2 + POLICY.retention_ms);
    assert!(join.is_empty(), "forgotten long before keep_index_ms");
}
