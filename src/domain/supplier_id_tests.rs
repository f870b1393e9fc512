//! Unit and property tests of supplier id comparison, re-keying and partitioning.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

use IdFormat::{HexInReport, HexInResponse, Same};

/// Both sides of a supplier's id meet when their canonical forms are equal.
fn matches(format: IdFormat, response: &str, report: &str) -> bool {
    canonical_response_id(format, response) == canonical_report_id(format, report)
}

// IdFormat and IdFormats

#[test]
fn id_formats_parse_from_their_flag_spelling() {
    for format in [Same, HexInResponse, HexInReport] {
        assert_eq!(format.as_str().parse::<IdFormat>(), Ok(format));
        assert_eq!(format!(" {} ", format.as_str().to_uppercase()).parse::<IdFormat>(), Ok(format));
    }
    let e = "hex".parse::<IdFormat>().unwrap_err();
    assert!(e.contains("\"hex\"") && e.contains("hex-in-response"), "{e}");
}

#[test]
fn entries_split_at_the_last_equals_sign_and_allow_an_empty_supplier() {
    assert_eq!(IdFormats::parse_entry("supplier-a=hex-in-response"), Ok(("supplier-a".into(), HexInResponse)));
    assert_eq!(IdFormats::parse_entry("=hex-in-report"), Ok((String::new(), HexInReport)));
    assert_eq!(IdFormats::parse_entry("a=b=same"), Ok(("a=b".into(), Same)));
    assert_eq!(IdFormats::parse_entry(" spaced =same"), Ok((" spaced ".into(), Same)), "names are exact");
    for bad in ["supplier-a", "", "a=", "a=decimal"] {
        let e = IdFormats::parse_entry(bad).unwrap_err();
        assert!(e.contains(&format!("{bad:?}")), "{e}");
    }
}

#[test]
fn unlisted_suppliers_use_the_same_format_and_the_last_entry_wins() {
    let mut formats = IdFormats::default();
    assert_eq!(formats.get("anyone"), Same);
    formats.insert("a", HexInResponse);
    formats.insert("", HexInReport);
    formats.insert("a", HexInReport);
    assert_eq!((formats.get("a"), formats.get(""), formats.get("A")), (HexInReport, HexInReport, Same));
}

// Canonical ids

#[test]
fn canonical_ids_ignore_surrounding_space_case_and_leading_zeros() {
    for format in [Same, HexInResponse, HexInReport] {
        assert!(matches(format, " 00ab-Cd9 ", "AB-cd9"), "{format:?}: not hexadecimal, so compared plainly");
    }
    assert_eq!(canonical_report_id(Same, " 000Ab12 "), "AB12");
    assert_eq!(canonical_report_id(Same, "0000"), "0");
    assert_eq!(canonical_report_id(Same, ""), "");
    assert!(matches(Same, "007", "7"));
    assert!(!matches(Same, "1F", "31"), "same means no base conversion");
}

#[test]
fn hex_in_response_converts_the_response_id() {
    assert_eq!(canonical_response_id(HexInResponse, "1f"), "31");
    assert_eq!(canonical_report_id(HexInResponse, "0031"), "31");
    assert!(matches(HexInResponse, "0x001F", "31"));
    assert!(matches(HexInResponse, "0", "000"));
    assert!(!matches(HexInResponse, "31", "31"));
}

#[test]
fn hex_in_report_converts_the_report_id() {
    assert_eq!(canonical_report_id(HexInReport, "0A"), "10");
    assert_eq!(canonical_response_id(HexInReport, "010"), "10");
    assert!(matches(HexInReport, "3735928559", "deadBEEF"));
    assert!(!matches(HexInReport, "DEADBEEF", "DEADBEEF"));
}

#[test]
fn conversion_has_no_width_limit() {
    let two_to_128 = format!("1{}", "0".repeat(32));
    assert_eq!(canonical_response_id(HexInResponse, &two_to_128), "340282366920938463463374607431768211456");
    let wide = "DEADBEEF".repeat(10);
    let decimal = "1857964082390221516713692394135852492255842605597925296167269106114184850461601384590811457240815";
    assert_eq!(canonical_report_id(HexInReport, &wide), decimal);
    // 16^4096 - 1, checked with Python's integers.
    let longest = canonical_response_id(HexInResponse, &"f".repeat(MAX_CONVERTED_LEN));
    assert_eq!(longest.len(), 4933);
    assert!(longest.starts_with("11897314953572317650") && longest.ends_with("47027290669964066815"));
}

#[test]
fn ids_that_are_not_in_the_expected_base_fall_back_to_the_plain_form() {
    assert_eq!(canonical_response_id(HexInResponse, " 0xyz-12 "), "XYZ-12");
    assert_eq!(canonical_report_id(HexInReport, "g1"), "G1");
    assert_eq!(canonical_response_id(HexInResponse, "0x"), "X");
    let too_long = "1".repeat(MAX_CONVERTED_LEN + 1);
    assert_eq!(canonical_response_id(HexInResponse, &too_long), too_long, "not converted beyond the limit");
    // A fallback keeps its letters, so it cannot meet a converted id (all digits) by accident.
    assert!(!matches(HexInResponse, "1G", "1"));
}

// Keys and partitions

/// Reads a key back, proving that a key determines its (supplier, id).
fn split_key(key: &str) -> (&str, &str) {
    let (len, rest) = key.split_once(':').unwrap();
    let (supplier, id) = rest.split_at(len.parse().unwrap());
    (supplier, id.strip_prefix(':').unwrap())
}

#[test]
fn receipt_keys_never_collide_even_with_colons_in_suppliers() {
    let words = ["", ":", "a", "a:", ":a", "1", "1:", "a:1", "1:a", "::", "é:", "2:a"];
    let mut seen = HashMap::new();
    for supplier in words {
        for id in words {
            let key = receipt_key(supplier, id);
            assert_eq!(split_key(&key), (supplier, id));
            if let Some(other) = seen.insert(key.clone(), (supplier, id)) {
                panic!("{key:?} is the key of both {other:?} and {:?}", (supplier, id));
            }
        }
    }
    assert_eq!(receipt_key("supplier-a", "31"), "10:supplier-a:31");
}

#[test]
fn murmur2_matches_kafkas_own_test_vectors() {
    // org.apache.kafka.common.utils.UtilsTest#testMurmur2
    let vectors: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        (b"abc", 479_470_107),
    ];
    for (key, hash) in vectors {
        assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
        for partitions in [1, 3, 12, 100] {
            assert_eq!(partition_for(key, partitions), (hash & 0x7fff_ffff) % partitions);
        }
    }
}

#[test]
fn a_negative_hash_is_masked_not_negated() {
    // Java's toPositive clears the sign bit; abs() would pick another partition.
    assert_eq!(partition_for(b"21", 7), (-973_932_308i32 & 0x7fff_ffff) % 7);
    assert_ne!(partition_for(b"21", 7), 973_932_308 % 7);
}

#[test]
#[should_panic(expected = "at least one partition")]
fn zero_partitions_is_a_bug() {
    partition_for(b"k", 0);
}

// Properties

/// An independent oracle: decimal digits to hexadecimal by repeated long division by 16.
fn decimal_to_hex(decimal: &str) -> String {
    let mut digits: Vec<u32> = decimal.bytes().map(|b| u32::from(b - b'0')).collect();
    let mut hex = Vec::new();
    while digits.iter().any(|&d| d != 0) {
        let mut remainder = 0;
        for d in digits.iter_mut() {
            let value = remainder * 10 + *d;
            *d = value / 16;
            remainder = value % 16;
        }
        hex.push(char::from_digit(remainder, 16).unwrap());
    }
    if hex.is_empty() { "0".to_owned() } else { hex.iter().rev().collect() }
}

/// Random case, so that the comparison is shown to ignore it.
fn recase(s: &str, upper: &[bool]) -> String {
    s.chars().zip(upper.iter().cycle()).map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c }).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn hex_and_decimal_forms_of_any_number_meet(
        decimal in "[1-9][0-9]{0,150}",
        zeros in (0usize..4, 0usize..4),
        upper in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let hex = recase(&format!("{}{}", "0".repeat(zeros.0), decimal_to_hex(&decimal)), &upper);
        let padded = format!("{}{decimal}", "0".repeat(zeros.1));
        prop_assert_eq!(canonical_response_id(HexInResponse, &hex), decimal.clone());
        prop_assert_eq!(canonical_report_id(HexInResponse, &padded), decimal.clone());
        prop_assert_eq!(canonical_report_id(HexInReport, &hex), decimal.clone());
        prop_assert_eq!(canonical_response_id(HexInReport, &padded), decimal);
    }

    #[test]
    fn conversion_agrees_with_the_standard_library_within_u128(n in any::<u128>()) {
        prop_assert_eq!(canonical_response_id(HexInResponse, &format!("{n:X}")), n.to_string());
        prop_assert_eq!(canonical_report_id(HexInReport, &format!("{n:#034x}")), n.to_string());
    }

    #[test]
    fn equal_keys_mean_equal_pairs(a in "[a:1]{0,4}", b in "[a:1]{0,4}", c in "[a:1]{0,4}", d in "[a:1]{0,4}") {
        prop_assert_eq!(receipt_key(&a, &b) == receipt_key(&c, &d), (a, b) == (c, d));
    }

    #[test]
    fn every_key_lands_on_an_existing_partition(key in prop::collection::vec(any::<u8>(), 0..64), partitions in 1i32..1000) {
        prop_assert!((0..partitions).contains(&partition_for(&key, partitions)));
    }
}
