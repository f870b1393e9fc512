//! The message id of a request path: percent-decoded by hand, because an id is any non-empty UTF-8
//! Kafka key (README "Wire contract"), `/`, `%` and `?` included, and a bad one must get a clear
//! 400 rather than a 404 from the router.

/// Longest id a lookup accepts, in bytes. The wire contract sets no limit, but gateway ids are
/// short (a UUID is 36 bytes), and a limit keeps each request's memory small; an id the tracker
/// tracks but that is longer than this cannot be looked up (README "Looking up a message").
pub const MAX_ID_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadId {
    #[error("the message id is empty: ask for /v1/messages/{{id}}")]
    Empty,
    #[error("the message id is longer than {MAX_ID_BYTES} bytes")]
    TooLong,
    #[error("the message id has a malformed percent-escape (a % must be followed by two hex digits)")]
    BadEscape,
    #[error("the message id is not UTF-8 once percent-decoded (message ids are UTF-8 Kafka keys)")]
    NotUtf8,
}

/// The id in `path` after `prefix` (the path as sent, still percent-encoded).
pub fn from_path(path: &str, prefix: &str) -> Result<String, BadId> {
    let encoded = path.strip_prefix(prefix).unwrap_or_default();
    // Three encoded bytes per id byte at most: longer is too long whatever it decodes to.
    if encoded.len() > 3 * MAX_ID_BYTES {
        return Err(BadId::TooLong);
    }
    let bytes = percent_decode(encoded.as_bytes())?;
    if bytes.is_empty() {
        return Err(BadId::Empty);
    }
    if bytes.len() > MAX_ID_BYTES {
        return Err(BadId::TooLong);
    }
    String::from_utf8(bytes).map_err(|_| BadId::NotUtf8)
}

fn percent_decode(encoded: &[u8]) -> Result<Vec<u8>, BadId> {
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let (high, low) = match tail {
                [high, low, ..] => (hex(*high)?, hex(*low)?),
                _ => return Err(BadId::BadEscape),
            };
            decoded.push(high << 4 | low);
            rest = &tail[2..];
        } else {
            decoded.push(byte);
            rest = tail;
        }
    }
    Ok(decoded)
}

fn hex(digit: u8) -> Result<u8, BadId> {
    char::from(digit).to_digit(16).map(|d| d as u8).ok_or(BadId::BadEscape)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "/v1/messages/";

    fn id(path: &str) -> Result<String, BadId> {
        from_path(path, PREFIX)
    }

    #[test]
    fn ids_are_percent_decoded_whatever_they_contain() {
        assert_eq!(id("/v1/messages/5d1f0c9e").as_deref(), Ok("5d1f0c9e"));
        assert_eq!(id("/v1/messages/a%2Fb%20c%25").as_deref(), Ok("a/b c%"));
        assert_eq!(id("/v1/messages/a/b").as_deref(), Ok("a/b"), "a slash needs no escape");
        assert_eq!(id("/v1/messages/a+b").as_deref(), Ok("a+b"), "+ is no space in a path");
        assert_eq!(id("/v1/messages/%C3%A9t%C3%A9").as_deref(), Ok("été"));
    }

    #[test]
    fn bad_ids_say_what_is_wrong() {
        assert_eq!(id("/v1/messages/"), Err(BadId::Empty));
        assert_eq!(id("/v1/messages/%zz"), Err(BadId::BadEscape));
        assert_eq!(id("/v1/messages/abc%4"), Err(BadId::BadEscape));
        assert_eq!(id("/v1/messages/%FF%FE"), Err(BadId::NotUtf8));
        let longest = "x".repeat(MAX_ID_BYTES);
        assert_eq!(id(&format!("{PREFIX}{longest}")).as_deref(), Ok(longest.as_str()));
        assert_eq!(id(&format!("{PREFIX}{longest}x")), Err(BadId::TooLong));
        assert_eq!(id(&format!("{PREFIX}{}", "%41".repeat(MAX_ID_BYTES + 1))), Err(BadId::TooLong));
        assert_eq!(id(&format!("{PREFIX}{}", "x".repeat(10 * MAX_ID_BYTES))), Err(BadId::TooLong));
    }
}
