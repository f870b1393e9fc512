//! Personal data in what a lookup shows: the WholeMessage's `text` and `recipient` are masked
//! unless the operator chose to reveal them (`--api-reveal-content`). Support staff can still tell
//! a message by its recipient's country and network prefix and last digits; they never see the
//! text.

use serde_json::{Map, Value};

/// The top-level WholeMessage fields that hold personal data (README "Wire contract").
pub const PERSONAL_FIELDS: [&str; 2] = ["text", "recipient"];

/// Everything of the text, whatever its length: its length could tell which template was sent.
pub const MASK: &str = "***";

/// Characters of a recipient always starred: with fewer than this many plus the last two, the
/// whole value is [`MASK`].
const HIDDEN_AT_LEAST: usize = 6;
const SHOWN_PREFIX_MAX: usize = 5;
const SHOWN_SUFFIX: usize = 2;

/// The WholeMessage's top-level fields in their order, personal ones masked unless `reveal`.
/// `None` if it is not a JSON object (the wire parser let only objects in).
pub fn message_fields(json: &[u8], reveal: bool) -> Option<Map<String, Value>> {
    let mut fields: Map<String, Value> = serde_json::from_slice(json).ok()?;
    if !reveal {
        for field in PERSONAL_FIELDS {
            if let Some(value) = fields.get_mut(field) {
                *value = Value::String(mask(field, value));
            }
        }
    }
    Some(fields)
}

fn mask(field: &str, value: &Value) -> String {
    match (field, value) {
        ("recipient", Value::String(recipient)) => mask_recipient(recipient),
        _ => MASK.to_owned(),
    }
}

/// `+385911234567` → `+3859******67`: the first up to five characters (country and network code)
/// and the last two stay, at least six in between are starred; shorter values become [`MASK`].
pub fn mask_recipient(recipient: &str) -> String {
    let chars: Vec<char> = recipient.chars().collect();
    let Some(prefix) = chars.len().checked_sub(HIDDEN_AT_LEAST + SHOWN_SUFFIX).map(|room| room.min(SHOWN_PREFIX_MAX))
    else {
        return MASK.to_owned();
    };
    if prefix == 0 {
        return MASK.to_owned();
    }
    let hidden = chars.len() - prefix - SHOWN_SUFFIX;
    let mut masked: String = chars[..prefix].iter().collect();
    masked.extend(std::iter::repeat_n('*', hidden));
    masked.extend(&chars[chars.len() - SHOWN_SUFFIX..]);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_keeps_its_prefix_and_last_two_characters() {
        assert_eq!(mask_recipient("+385911234567"), "+3859******67");
        assert_eq!(mask_recipient("+447912345612"), "+4479******12");
        assert_eq!(mask_recipient("+4479123456123"), "+4479*******23");
    }

    #[test]
    fn short_recipients_hide_at_least_six_characters_or_everything() {
        assert_eq!(mask_recipient("0912345678"), "09******78");
        assert_eq!(mask_recipient("091234567"), "0******67");
        for short in ["", "1", "12345678", "ACME"] {
            assert_eq!(mask_recipient(short), MASK, "{short:?}");
        }
        for n in 0..40 {
            let value: String = "+4412345678901234567890123456789012345678".chars().take(n).collect();
            let masked = mask_recipient(&value);
            let hidden = masked.chars().filter(|c| *c == '*').count();
            assert!(masked == MASK || hidden >= HIDDEN_AT_LEAST, "{value:?} → {masked:?}");
        }
    }

    #[test]
    fn multibyte_recipients_are_masked_by_character() {
        assert_eq!(mask_recipient("ÄÖÜäöüßÄÖÜäö"), "ÄÖÜä******äö");
    }

    #[test]
    fn text_and_recipient_are_masked_and_everything_else_kept_in_order() {
        let json =
            br#"{"id":"m1","status":"PENDING","recipient":"+385911234567","text":"Your code is 1234","sender":"ACME"}"#;
        let masked = message_fields(json, false).unwrap();
        assert_eq!(
            serde_json::to_string(&masked).unwrap(),
            r#"{"id":"m1","status":"PENDING","recipient":"+3859******67","text":"***","sender":"ACME"}"#
        );
        let revealed = message_fields(json, true).unwrap();
        assert_eq!(revealed["text"], "Your code is 1234");
        assert_eq!(revealed["recipient"], "+385911234567");
    }

    #[test]
    fn personal_fields_of_any_type_are_masked_whole() {
        let json = br#"{"id":"m1","recipient":385911234567,"text":{"parts":["a","b"]}}"#;
        let masked = message_fields(json, false).unwrap();
        assert_eq!(masked["recipient"], MASK);
        assert_eq!(masked["text"], MASK);
        assert!(message_fields(b"[1]", false).is_none());
    }
}
