//! Bearer tokens (`--api-token-file`): every /v1 request carries `Authorization: Bearer <token>`.

use std::path::Path;

/// The token requests must present. Its bytes never reach a log or a response.
#[derive(Clone)]
pub struct Token(Box<[u8]>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer …` header at all.
    Missing,
    /// A bearer token that is not this instance's.
    Invalid,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the API token file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the API token file {path} is empty: every request would need an empty token")]
    Empty { path: String },
    #[error("the API token in {path} is not a valid HTTP header value (visible ASCII only)")]
    NotVisibleAscii { path: String },
}

impl Token {
    /// Reads the token from a file (a mounted Kubernetes Secret ends it with a newline or not, so
    /// surrounding whitespace is not part of it).
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| TokenError::Read { path: shown.clone(), source })?;
        Self::new(bytes.trim_ascii()).map_err(|e| match e {
            TokenError::Empty { .. } => TokenError::Empty { path: shown },
            _ => TokenError::NotVisibleAscii { path: shown },
        })
    }

    pub fn new(token: &[u8]) -> Result<Self, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Empty { path: String::new() });
        }
        // What a client can send in a header (RFC 9110 field-value without spaces).
        if !token.iter().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotVisibleAscii { path: String::new() });
        }
        Ok(Self(token.into()))
    }

    /// Checks an `Authorization` header value. The scheme is case-insensitive (RFC 9110 §11.1);
    /// the token is compared in constant time.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), Refusal> {
        let presented = authorization.and_then(bearer).ok_or(Refusal::Missing)?;
        if constant_time_eq(presented, &self.0) { Ok(()) } else { Err(Refusal::Invalid) }
    }
}

fn bearer(header: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    let scheme = header.get(..SCHEME.len())?;
    scheme.eq_ignore_ascii_case(SCHEME).then(|| header[SCHEME.len()..].trim_ascii())
}

/// Whether `presented` equals `expected`, in a time that depends only on `expected`'s length, so
/// that response times do not tell an attacker how many leading bytes of a guess were right.
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut difference = u8::from(presented.len() != expected.len());
    for (i, byte) in expected.iter().enumerate() {
        // Missing bytes compare against the expected byte's complement: always a difference.
        let other = presented.get(i).copied().unwrap_or(!*byte);
        difference |= std::hint::black_box(other ^ byte);
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_every_byte_and_the_length_match() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3creT", b"s3cret"));
        assert!(!constant_time_eq(b"s3cre", b"s3cret"), "a prefix");
        assert!(!constant_time_eq(b"s3crets", b"s3cret"), "longer");
        assert!(!constant_time_eq(b"", b"s3cret"));
        assert!(!constant_time_eq(b"\xff\xff", b"\x00\x00"));
    }

    #[test]
    fn only_the_right_bearer_token_passes() {
        let token = Token::new(b"s3cret").unwrap();
        assert_eq!(token.check(Some(b"Bearer s3cret")), Ok(()));
        assert_eq!(token.check(Some(b"bearer s3cret")), Ok(()), "the scheme is case-insensitive");
        assert_eq!(token.check(Some(b"BEARER  s3cret ")), Ok(()));
        assert_eq!(token.check(Some(b"Bearer s3creT")), Err(Refusal::Invalid));
        assert_eq!(token.check(Some(b"Bearer ")), Err(Refusal::Invalid));
        assert_eq!(token.check(None), Err(Refusal::Missing));
        assert_eq!(token.check(Some(b"Basic czNjcmV0")), Err(Refusal::Missing));
        assert_eq!(token.check(Some(b"s3cret")), Err(Refusal::Missing));
    }

    #[test]
    fn a_token_file_is_trimmed_and_must_hold_a_usable_token() {
        let dir = std::env::temp_dir().join(format!("sms-tracker-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "  s3cret\n").unwrap();
        assert_eq!(Token::from_file(&file).unwrap().check(Some(b"Bearer s3cret")), Ok(()));
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(Token::from_file(&file), Err(TokenError::Empty { .. })));
        std::fs::write(&file, "two words").unwrap();
        assert!(matches!(Token::from_file(&file), Err(TokenError::NotVisibleAscii { .. })));
        assert!(matches!(Token::from_file(&dir.join("missing")), Err(TokenError::Read { .. })));
        assert_eq!(format!("{:?}", Token::new(b"s3cret").unwrap()), "Token(..)", "never printed");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
