//! Keyset pagination as Kong does it: rows ordered by primary key, the offset token is base64 of a JSON
//! array holding the last row's key, and one extra row is fetched to know whether there is a next page.

use base64::Engine;
use gatehouse_model::{ErrorCode, KongError};

/// `?tags=` filtering: `a,b` needs all tags, `a/b` any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    All(Vec<String>),
    Any(Vec<String>),
}

impl TagFilter {
    pub fn tags(&self) -> &[String] {
        match self {
            TagFilter::All(t) | TagFilter::Any(t) => t,
        }
    }
}

/// One page request against a collection, optionally restricted to the children of one parent.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub size: usize,
    /// The raw offset token from the client.
    pub offset: Option<String>,
    pub tags: Option<TagFilter>,
    /// Restrict to rows whose foreign field points at this id: `(field, id)`.
    pub parent: Option<(String, String)>,
}

/// A page of entities and the token for the next one. Entities stay the JSON text the database returned:
/// a page is passed through to the client without being parsed and re-serialised.
#[derive(Debug, Clone)]
pub struct Page {
    pub data: Vec<String>,
    pub offset: Option<String>,
}

pub(crate) fn encode_offset(key: &[&str]) -> String {
    let json = serde_json::to_string(key).unwrap_or_default();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(json)
}

/// Decodes an offset token into the key parts it holds, with Kong's error messages.
pub(crate) fn decode_offset(token: &str) -> Result<Vec<String>, KongError> {
    let trimmed = token.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
        .map_err(|_| invalid(token, "bad base64 encoding"))?;
    let parts: Vec<serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| invalid(token, "bad json encoding"))?;
    parts
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(invalid(token, "bad json encoding")),
        })
        .collect()
}

fn invalid(token: &str, why: &str) -> KongError {
    KongError::new(ErrorCode::InvalidOffset, format!("'{token}' is not a valid offset: {why}"))
        .with_fields(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_reject_garbage() {
        let token = encode_offset(&["3b0f2c55-7d60-4a8b-9e0c-3f6c2e2c1d10"]);
        assert_eq!(decode_offset(&token).ok(), Some(vec!["3b0f2c55-7d60-4a8b-9e0c-3f6c2e2c1d10".to_string()]));
        let err = decode_offset("!!!").unwrap_err();
        assert_eq!(err.message, "'!!!' is not a valid offset: bad base64 encoding");
        let not_json = base64::engine::general_purpose::STANDARD_NO_PAD.encode("nope");
        assert!(decode_offset(&not_json).unwrap_err().message.ends_with("bad json encoding"));
    }
}
