//! The input parsers under arbitrary bytes (issue 12, "parsers under fuzz"): whatever a producer
//! writes, parsing returns a value or a rejection and never panics; plus a corpus of real-world
//! oddities with the outcome each must have. The receipt parser has its own in receipt_tests.rs.

use proptest::prelude::*;

use super::*;

/// Inputs that broke or confused JSON handling elsewhere: huge numbers, deep nesting, invalid
/// UTF-8, duplicate keys, escapes, surrogates, BOMs, NaN-like tokens, trailing garbage.
fn oddities() -> Vec<Vec<u8>> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!(r#"{{"id":"m","status":"P","x":{}{}}}"#, "[".repeat(200), "]".repeat(200));
    [
        r#"{"id":"m","status":"PENDING","n":1e400}"#.as_bytes().to_vec(),
        br#"{"messageId":"m","partNumber":18446744073709551616,"totalParts":1,"commandStatus":0,"supplierMessageId":"S"}"#.to_vec(),
        br#"{"messageId":"m","partNumber":1,"totalParts":1,"commandStatus":-1,"supplierMessageId":"S"}"#.to_vec(),
        br#"{"messageId":"m","partNumber":1.5,"totalParts":1,"commandStatus":0,"supplierMessageId":"S"}"#.to_vec(),
        br#"{"messageId":"m","partNumber":1,"totalParts":1,"commandStatus":4294967296,"supplierMessageId":"S"}"#.to_vec(),
        br#"{"id":"m","id":"other","status":"PENDING"}"#.to_vec(),
        br#"{"messageId":"m","messageId":"m","partNumber":1,"totalParts":1,"commandStatus":0,"supplierMessageId":"S"}"#.to_vec(),
        deep.into_bytes(),
        deep_object.into_bytes(),
        b"{\"id\":\"m\xff\",\"status\":\"PENDING\"}".to_vec(),
        br#"{"id":"\ud800","status":"PENDING"}"#.to_vec(),
        "\u{feff}{\"id\":\"m\",\"status\":\"PENDING\"}".as_bytes().to_vec(),
        br#"{"id":"m","status":"PENDING"} trailing"#.to_vec(),
        br#"{"id":"m","status":NaN}"#.to_vec(),
        br#"{"id":"m\u0000","status":"PENDING"}"#.to_vec(),
        b"".to_vec(),
        b"null".to_vec(),
        b"\"just a string\"".to_vec(),
        br#"[{"id":"m","status":"PENDING"}]"#.to_vec(),
    ]
    .into_iter()
    .collect()
}

#[test]
fn the_oddities_are_rejected_or_accepted_but_never_panic() {
    for value in oddities() {
        for key in [Some(&b"m"[..]), Some(&b"\xff"[..]), None] {
            let sent = parse_sent_message(key, Some(&value));
            let part = parse_submit_response(key, Some(&value));
            // Only a valid object whose id equals the key may pass.
            if let Ok(Input::Message { id, .. }) = &sent {
                assert_eq!(Some(id.as_bytes()), key, "{}", String::from_utf8_lossy(&value));
            }
            if let Ok(Input::Part(part)) = &part {
                assert!((1..=part.total_parts).contains(&part.part_number));
            }
            let _ = registered_delivery(&value);
        }
    }
}

#[test]
fn a_duplicate_id_field_is_rejected_not_resolved_silently() {
    // Whichever value would win, one of them differs from the key: the record is dead-lettered.
    for value in
        [&br#"{"id":"m","id":"other","status":"PENDING"}"#[..], br#"{"id":"other","id":"m","status":"PENDING"}"#]
    {
        let error = parse_sent_message(Some(b"m"), Some(value)).unwrap_err();
        assert!(matches!(error.kind, RecordErrorKind::InvalidField | RecordErrorKind::IdMismatch), "{error}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(key in prop::option::of(prop::collection::vec(any::<u8>(), 0..24)),
                                   value in prop::option::of(prop::collection::vec(any::<u8>(), 0..256))) {
        let _ = parse_sent_message(key.as_deref(), value.as_deref());
        let _ = parse_submit_response(key.as_deref(), value.as_deref());
        if let Some(value) = &value {
            let _ = registered_delivery(value);
        }
    }

    /// Near-valid records: JSON objects with the contract's fields and random values of any type.
    #[test]
    fn near_valid_records_never_panic(
        fields in prop::collection::vec(
            (prop::sample::select(vec!["id", "status", "messageId", "partNumber", "totalParts",
                                       "commandStatus", "supplierMessageId", "supplier", "registeredDelivery"]),
             prop_oneof![
                 any::<i64>().prop_map(|n| n.to_string()),
                 any::<f64>().prop_map(|f| if f.is_finite() { f.to_string() } else { "0".into() }),
                 "[a-zA-Z0-9 ]{0,12}".prop_map(|s| format!("{s:?}")),
                 Just("null".to_owned()), Just("true".to_owned()), Just("[]".to_owned()), Just("{}".to_owned()),
             ]),
            0..9),
    ) {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
        let value = format!("{{{}}}", body.join(","));
        let _ = parse_sent_message(Some(b"m"), Some(value.as_bytes()));
        let _ = parse_submit_response(Some(b"m"), Some(value.as_bytes()));
        let _ = registered_delivery(value.as_bytes());
    }
}
