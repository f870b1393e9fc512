//! Unit and property tests of delivery-report parsing, one behaviour each.

use proptest::prelude::*;

use super::*;

const APPENDIX_B: &str =
    "id:0123456789 sub:001 dlvrd:001 submit date:2511251000 done date:2511251001 stat:DELIVRD err:000 text:Hello";

fn report(key: Option<&str>, value: &str) -> Result<Receipt, RecordError> {
    parse_delivery_report(key.map(str::as_bytes), Some(value.as_bytes()))
}

fn rejected(key: Option<&str>, value: &str) -> RecordError {
    report(key, value).expect_err("record should be rejected")
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

// ReceiptState

#[test]
fn every_state_round_trips_through_its_seven_character_stat() {
    for state in ReceiptState::ALL {
        assert_eq!(state.stat().len(), 7, "{state}");
        assert_eq!(ReceiptState::from_stat(state.stat()), Some(state));
        assert_eq!(ReceiptState::from_stat(&format!("  {}\t", state.stat().to_lowercase())), Some(state));
        assert_eq!(state.to_string(), state.stat());
    }
    let distinct: std::collections::HashSet<_> = ReceiptState::ALL.iter().map(|s| s.stat()).collect();
    assert_eq!(distinct.len(), ReceiptState::ALL.len());
}

#[test]
fn long_spellings_are_accepted_and_nonsense_is_not() {
    use ReceiptState::*;
    let cases = [
        ("DELIVERED", Delivered),
        ("Undeliverable", Undeliverable),
        ("UNDELIVERED", Undeliverable),
        ("accepted", Accepted),
        ("REJECTED", Rejected),
        ("EN_ROUTE", Enroute),
        ("en route", Enroute),
        ("enroute", Enroute),
    ];
    for (text, state) in cases {
        assert_eq!(ReceiptState::from_stat(text), Some(state), "{text}");
    }
    for text in ["", "DELIV", "DELIVRDX", "2", "ACKED", "D E L I V R D"] {
        assert_eq!(ReceiptState::from_stat(text), None, "{text}");
    }
}

#[test]
fn message_state_numbers_follow_smpp() {
    let expected = ["ENROUTE", "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "SKIPPED"];
    for (n, stat) in (1u64..).zip(expected) {
        assert_eq!(ReceiptState::from_message_state(n).map(ReceiptState::stat), Some(stat), "{n}");
    }
    for n in [0, 10, 255, u64::MAX] {
        assert_eq!(ReceiptState::from_message_state(n), None, "{n}");
    }
}

#[test]
fn only_accepted_and_enroute_are_intermediate_and_only_delivrd_is_delivered() {
    for state in ReceiptState::ALL {
        let intermediate = matches!(state, ReceiptState::Accepted | ReceiptState::Enroute);
        assert_eq!(state.is_final(), !intermediate, "{state}");
        assert_eq!(state.is_delivered(), state == ReceiptState::Delivered, "{state}");
    }
}

// parse_receipt_text

#[test]
fn reads_the_appendix_b_text() {
    assert_eq!(
        parse_receipt_text(APPENDIX_B),
        ReceiptText {
            id: some("0123456789"),
            sub: some("001"),
            dlvrd: some("001"),
            submit_date: some("2511251000"),
            done_date: some("2511251001"),
            stat: some("DELIVRD"),
            err: some("000"),
            text: some("Hello"),
        }
    );
}

#[test]
fn reads_fields_in_any_order_with_missing_ones_and_any_case() {
    let parsed = parse_receipt_text("Stat:undeliv ERR:001 Done Date:2511251001 ID:a1b2-C3D4-e5f6");
    assert_eq!(parsed.id, some("a1b2-C3D4-e5f6"));
    assert_eq!(parsed.stat, some("undeliv"));
    assert_eq!(parsed.err, some("001"));
    assert_eq!(parsed.done_date, some("2511251001"));
    assert_eq!((parsed.sub, parsed.dlvrd, parsed.submit_date, parsed.text), (None, None, None, None));
}

#[test]
fn reads_twelve_digit_dates_and_dates_with_a_time() {
    let parsed = parse_receipt_text("id:7 submit date:251125100001 done date:2025-11-25 10:00:02 stat:DELIVRD");
    assert_eq!(parsed.submit_date, some("251125100001"));
    assert_eq!(parsed.done_date, some("2025-11-25 10:00:02"));
    assert_eq!(parsed.stat, some("DELIVRD"));
}

#[test]
fn text_swallows_the_rest_even_when_it_looks_like_fields() {
    let parsed = parse_receipt_text("id:1 stat:DELIVRD text:Meet at 10:30 stat:UNDELIV id:2  ");
    assert_eq!(parsed.id, some("1"));
    assert_eq!(parsed.stat, some("DELIVRD"));
    assert_eq!(parsed.text, some("Meet at 10:30 stat:UNDELIV id:2"));
    assert_eq!(parse_receipt_text("id:1 Text:").text, None);
}

#[test]
fn tolerates_extra_fields_repeated_separators_and_tabs() {
    let parsed = parse_receipt_text("  id:42   smsc:alpha\tsub:1  foo:bar:baz   stat:EXPIRED\t\terr:5 ");
    assert_eq!(parsed.id, some("42"));
    assert_eq!(parsed.sub, some("1"));
    assert_eq!(parsed.stat, some("EXPIRED"));
    assert_eq!(parsed.err, some("5"));
}

#[test]
fn commas_and_semicolons_separate_fields_too() {
    let parsed = parse_receipt_text("id:42,stat:DELIVRD;err:000, done_date:2511251001");
    assert_eq!((parsed.id, parsed.stat, parsed.err), (some("42"), some("DELIVRD"), some("000")));
    assert_eq!(parsed.done_date, some("2511251001"));
}

#[test]
fn a_value_is_one_token_and_empty_values_are_absent() {
    let parsed = parse_receipt_text("id: 77 trailing words stat: err:");
    assert_eq!(parsed.id, some("77"), "a space after the colon is allowed; stray words are not the id");
    assert_eq!((parsed.stat, parsed.err), (None, None));
}

#[test]
fn the_first_non_empty_occurrence_of_a_field_wins() {
    let parsed = parse_receipt_text("id: stat:ENROUTE id:first stat:DELIVRD id:second");
    assert_eq!((parsed.id, parsed.stat), (some("first"), some("ENROUTE")));
}

#[test]
fn names_inside_values_or_words_are_not_fields() {
    // `x:` follows `-` inside the id; `msgid:` and `substat:` only end with a field's name.
    let parsed = parse_receipt_text("id:abc-x:1 msgid:9 substat:UNDELIV stat:DELIVRD 1err:5 date:2511251001");
    assert_eq!(parsed.id, some("abc-x:1"));
    assert_eq!(parsed.stat, some("DELIVRD"));
    assert_eq!((parsed.err, parsed.done_date, parsed.submit_date), (None, None, None));
}

#[test]
fn texts_without_fields_yield_nothing() {
    for text in ["", "   ", "hello world", ":::", "é: ü:", "id", "stat DELIVRD"] {
        assert_eq!(parse_receipt_text(text), ReceiptText::default(), "{text:?}");
    }
}

#[test]
fn multibyte_characters_around_fields_are_fine() {
    let parsed = parse_receipt_text("ünïcödé id:Ω-1 stat:DELIVRD text:привет: мир");
    assert_eq!((parsed.id, parsed.stat, parsed.text), (some("Ω-1"), some("DELIVRD"), some("привет: мир")));
}

// parse_delivery_report

#[test]
fn accepts_structured_fields() {
    let json = r#"{"supplier":"supplier-a","supplierMessageId":" 0A1B2C3D ","stat":"DELIVRD","err":"000",
        "doneDate":"2511251001","receivedAt":"2025-11-25T10:00:02.000Z","extra":{"x":[1,{"y":null}]}}"#;
    assert_eq!(
        report(Some("ignored-key"), json),
        Ok(Receipt {
            supplier: "supplier-a".into(),
            supplier_message_id: "0A1B2C3D".into(),
            state: ReceiptState::Delivered,
            err: some("000"),
            done_date: some("2511251001"),
            received_at: some("2025-11-25T10:00:02.000Z"),
        })
    );
}

#[test]
fn accepts_the_raw_receipt_text() {
    let json = format!(r#"{{"supplier":"","shortMessage":"{APPENDIX_B}"}}"#);
    let receipt = report(None, &json).unwrap();
    assert_eq!(receipt.supplier, "", "an empty supplier is a supplier");
    assert_eq!(receipt.supplier_message_id, "0123456789");
    assert_eq!(receipt.state, ReceiptState::Delivered);
    assert_eq!((receipt.err, receipt.done_date, receipt.received_at), (some("000"), some("2511251001"), None));
}

#[test]
fn structured_fields_win_field_by_field() {
    let text = "id:text-id stat:UNDELIV err:001 done date:2511251001";
    let both = format!(r#"{{"supplier":"s","shortMessage":"{text}","supplierMessageId":"field-id","err":"002"}}"#);
    let receipt = report(Some("key-id"), &both).unwrap();
    assert_eq!(receipt.supplier_message_id, "field-id");
    assert_eq!(receipt.state, ReceiptState::Undeliverable, "from the text: no `stat` field");
    assert_eq!(receipt.err, some("002"));
    assert_eq!(receipt.done_date, some("2511251001"));
    let stat = format!(r#"{{"supplier":"s","shortMessage":"{text}","stat":2,"doneDate":"x"}}"#);
    let receipt = report(None, &stat).unwrap();
    assert_eq!((receipt.supplier_message_id.as_str(), receipt.state), ("text-id", ReceiptState::Delivered));
    assert_eq!((receipt.err, receipt.done_date), (some("001"), some("x")));
}

#[test]
fn blank_or_null_structured_fields_leave_room_for_the_text() {
    let json =
        r#"{"supplier":"s","supplierMessageId":"  ","stat":null,"err":"","shortMessage":"id:t stat:EXPIRED err:9"}"#;
    let receipt = report(None, json).unwrap();
    assert_eq!((receipt.supplier_message_id.as_str(), receipt.state), ("t", ReceiptState::Expired));
    assert_eq!(receipt.err, some("9"));
}

#[test]
fn the_key_is_the_id_only_when_the_value_has_none() {
    let no_id = r#"{"supplier":"s","stat":"ACCEPTD"}"#;
    assert_eq!(report(Some(" 5F3A "), no_id).unwrap().supplier_message_id, "5F3A");
    let text_id = r#"{"supplier":"s","shortMessage":"id:9 stat:ACCEPTD"}"#;
    assert_eq!(report(Some("5F3A"), text_id).unwrap().supplier_message_id, "9");
    for key in [None, Some(&b""[..]), Some(&b"  "[..]), Some(&[0xff, 0xfe][..])] {
        let e = parse_delivery_report(key, Some(no_id.as_bytes())).unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::NoReceiptId, "{key:?}");
        assert!(e.reason.contains("supplierMessageId"), "{}", e.reason);
    }
}

#[test]
fn stat_may_be_an_smpp_message_state_number() {
    let with = |stat: &str| report(Some("k"), &format!(r#"{{"supplier":"s","stat":{stat}}}"#));
    assert_eq!(with("2").unwrap().state, ReceiptState::Delivered);
    assert_eq!(with("9").unwrap().state, ReceiptState::Skipped);
    assert_eq!(with(r#""en_route""#).unwrap().state, ReceiptState::Enroute);
    for bad in ["0", "10", "-1", "2.5", "1e3", "18446744073709551615"] {
        let e = with(bad).unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::UnknownStat, "{bad}");
        assert!(e.reason.contains("message_state"), "{}", e.reason);
    }
}

#[test]
fn err_may_be_a_number_and_reads_like_the_text_form() {
    let with = |err: &str| report(Some("k"), &format!(r#"{{"supplier":"s","stat":"UNDELIV","err":{err}}}"#));
    assert_eq!(with("1").unwrap().err, some("001"));
    assert_eq!(with("1234").unwrap().err, some("1234"));
    assert_eq!(with("-1").unwrap().err, some("-1"));
    assert_eq!(with(r#""0a""#).unwrap().err, some("0a"));
    assert_eq!(with("null").unwrap().err, None);
    assert_eq!(with("true").unwrap_err().kind, RecordErrorKind::InvalidField);
}

#[test]
fn escaped_strings_are_unescaped() {
    let receipt = report(None, r#"{"supplier":"a\"b\u00e9","supplierMessageId":"x\ty","stat":"DELIVRD"}"#).unwrap();
    assert_eq!((receipt.supplier.as_str(), receipt.supplier_message_id.as_str()), ("a\"bé", "x\ty"));
}

#[test]
fn rejects_a_tombstone_and_values_that_are_not_json_objects() {
    let e = parse_delivery_report(Some(b"k"), None).unwrap_err();
    assert_eq!(e.kind, RecordErrorKind::NotJson);
    assert!(e.reason.contains("tombstone"), "{}", e.reason);
    for value in ["", "not json", r#"["s","DELIVRD"]"#, r#"{"supplier":"s""#, "\"s\"", "null", "7"] {
        assert_eq!(rejected(Some("k"), value).kind, RecordErrorKind::NotJson, "{value:?}");
    }
}

#[test]
fn rejects_a_missing_or_ill_typed_supplier_naming_the_field() {
    for value in [r#"{"stat":"DELIVRD"}"#, r#"{"supplier":null,"stat":"DELIVRD"}"#] {
        let e = rejected(Some("k"), value);
        assert_eq!(e.kind, RecordErrorKind::InvalidField);
        assert!(e.reason.contains("`supplier` is missing"), "{}", e.reason);
    }
    for (supplier, kind) in [("7", "a number"), ("true", "a boolean"), ("[]", "an array"), ("{}", "an object")] {
        let e = rejected(Some("k"), &format!(r#"{{"supplier":{supplier},"stat":"DELIVRD"}}"#));
        assert_eq!(e.kind, RecordErrorKind::InvalidField);
        assert_eq!(e.reason, format!("field `supplier` must be a string, got {kind}"));
    }
}

#[test]
fn rejects_ill_typed_optional_fields_naming_the_field() {
    for field in ["supplierMessageId", "stat", "doneDate", "receivedAt", "shortMessage"] {
        let e = rejected(Some("k"), &format!(r#"{{"supplier":"s","stat":"DELIVRD","{field}":{{"a":1}}}}"#));
        assert_eq!(e.kind, RecordErrorKind::InvalidField, "{field}");
        assert!(e.reason.contains(&format!("`{field}`")), "{}", e.reason);
    }
    let e = rejected(Some("k"), r#"{"supplier":"s","stat":"DELIVRD","stat":"UNDELIV"}"#);
    assert_eq!(e.kind, RecordErrorKind::InvalidField, "a duplicate field is ambiguous: {}", e.reason);
}

#[test]
fn rejects_a_report_without_a_state() {
    for value in [r#"{"supplier":"s"}"#, r#"{"supplier":"s","stat":" ","shortMessage":"id:1 err:000"}"#] {
        let e = rejected(Some("k"), value);
        assert_eq!(e.kind, RecordErrorKind::NoReceiptStat, "{value}");
        assert!(e.reason.contains("stat"), "{}", e.reason);
    }
}

#[test]
fn rejects_an_unknown_stat_saying_what_is_known() {
    let e = rejected(Some("k"), r#"{"supplier":"s","stat":"ACKED"}"#);
    assert_eq!(e.kind, RecordErrorKind::UnknownStat);
    assert!(e.reason.contains("\"ACKED\"") && e.reason.contains("DELIVRD, EXPIRED"), "{}", e.reason);
    let e = rejected(Some("k"), r#"{"supplier":"s","shortMessage":"id:1 stat:BUFFRED"}"#);
    assert_eq!(e.kind, RecordErrorKind::UnknownStat);
    assert!(e.reason.contains("shortMessage") && e.reason.contains("BUFFRED"), "{}", e.reason);
    let e = rejected(Some("k"), r#"{"supplier":"s","stat":"nope","shortMessage":"id:1 stat:DELIVRD"}"#);
    assert_eq!(e.kind, RecordErrorKind::UnknownStat, "the structured field wins, even when it is wrong");
}

// Properties

/// Pieces of receipt texts, so that random strings reach the parser's interesting paths.
fn receipt_like_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("id:"),
        Just("stat:"),
        Just("submit"),
        Just("done"),
        Just("date:"),
        Just("text:"),
        Just("err:"),
        Just(":"),
        Just(" "),
        Just(","),
        Just("\t"),
        Just("DELIVRD"),
        Just("0"),
        Just("é"),
        Just("x_1"),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

fn field_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9-]{1,20}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parsing_never_panics_on_arbitrary_bytes(
        key in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        value in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
    ) {
        let _ = parse_delivery_report(key.as_deref(), value.as_deref());
    }

    #[test]
    fn parsing_never_panics_on_arbitrary_text(text in any::<String>(), pieces in receipt_like_text()) {
        let _ = parse_receipt_text(&text);
        let _ = parse_receipt_text(&pieces);
        for text in [text, pieces] {
            let json = serde_json::json!({"supplier": "s", "shortMessage": text}).to_string();
            let _ = parse_delivery_report(Some(b"k"), Some(json.as_bytes()));
        }
    }

    #[test]
    fn a_well_formed_text_in_any_order_reads_back(
        id in field_value(),
        state in prop::sample::select(ReceiptState::ALL.to_vec()),
        err in "[0-9]{3}",
        done in "[0-9]{10}|[0-9]{12}",
        message in ".*",
        order in Just((0..4).collect::<Vec<_>>()).prop_shuffle(),
        gap in " {1,3}",
    ) {
        let fields = [format!("id:{id}"), format!("stat:{}", state.stat()), format!("err:{err}"), format!("done date:{done}")];
        let mut text: Vec<String> = order.iter().map(|&i| fields[i].clone()).collect();
        text.push(format!("text:{message}"));
        let parsed = parse_receipt_text(&text.join(&gap));
        prop_assert_eq!(parsed.id, Some(id));
        prop_assert_eq!(parsed.stat.as_deref(), Some(state.stat()));
        prop_assert_eq!(parsed.err, Some(err));
        prop_assert_eq!(parsed.done_date, Some(done));
        prop_assert_eq!(parsed.text, Some(message.trim().to_owned()).filter(|m| !m.is_empty()));
    }
}
