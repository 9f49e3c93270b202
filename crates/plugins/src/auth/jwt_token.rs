//! Credential checks of Kong's `jwt` plugin, without I/O.
//!
//! Mirrors `kong/plugins/jwt/jwt_parser.lua` (token decoding, signature and registered claims
//! verification) and the checks `kong/plugins/jwt/handler.lua` performs once the credential is
//! known. Every failure is a [`JwtError`] that renders Kong's exact status, body and
//! `WWW-Authenticate` header.

use std::borrow::Cow;
use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use sha2::{Sha256, Sha384, Sha512};

/// Body Kong sends with a 500 when the Lua code raises an error.
pub const UNEXPECTED_ERROR: &str = "An unexpected error occurred";

/// `ngx.base64.decode_base64url`: URL-safe alphabet, padding optional, input ends at the first `=`,
/// non-zero trailing bits accepted.
const NGX_BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes base64url the way Kong's `jwt_parser.base64_decode` does (`None` where Kong gets `nil`).
pub fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let end = input.find('=').unwrap_or(input.len());
    NGX_BASE64URL.decode(&input.as_bytes()[..end]).ok()
}

/// The algorithms a Kong `jwt_secrets` credential (and a token's `alg` header) may name.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    ES256,
    ES384,
    ES512,
    PS256,
    PS384,
    PS512,
    EdDSA,
}

impl JwtAlgorithm {
    /// Every algorithm, in the order of Kong's schema.
    pub const ALL: [JwtAlgorithm; 13] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::ES256,
        Self::ES384,
        Self::ES512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::EdDSA,
    ];

    /// Parses an algorithm name (case-sensitive, as Kong compares them).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// The name used in tokens and credentials.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Whether the key is the credential's `secret` (HS*) rather than its `rsa_public_key`.
    pub fn is_symmetric(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// The jsonwebtoken equivalent; `None` for ES512 (P-521), which ring cannot verify.
    fn to_jsonwebtoken(self) -> Option<Algorithm> {
        Some(match self {
            Self::HS256 => Algorithm::HS256,
            Self::HS384 => Algorithm::HS384,
            Self::HS512 => Algorithm::HS512,
            Self::RS256 => Algorithm::RS256,
            Self::RS384 => Algorithm::RS384,
            Self::RS512 => Algorithm::RS512,
            Self::ES256 => Algorithm::ES256,
            Self::ES384 => Algorithm::ES384,
            Self::ES512 => return None,
            Self::PS256 => Algorithm::PS256,
            Self::PS384 => Algorithm::PS384,
            Self::PS512 => Algorithm::PS512,
            Self::EdDSA => Algorithm::EdDSA,
        })
    }

    /// The signature length `jwt_parser.lua` asserts (a Lua error, so a 500, when it differs).
    fn asserted_signature_len(self) -> Option<usize> {
        match self {
            Self::ES256 => Some(64),
            Self::ES384 => Some(96),
            Self::ES512 => Some(132),
            Self::PS256 | Self::PS384 | Self::PS512 => Some(256),
            _ => None,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the jwt plugin rejects a request; `Display` is Kong's `message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JwtError {
    /// No token in the request.
    #[error("Unauthorized")]
    NoToken,
    /// Several distinct tokens in the request.
    #[error("Multiple tokens provided")]
    MultipleTokens,
    /// The parser's error: `invalid JSON`, `invalid alg`, `invalid claims` or `invalid signature`.
    #[error("Bad token; {0}")]
    BadToken(&'static str),
    /// Neither the claims nor the header carry `key_claim_name`.
    #[error("No mandatory '{0}' in claims")]
    MissingKeyClaim(String),
    /// The `key_claim_name` value is the empty string.
    #[error("Invalid '{0}' in claims")]
    EmptyKeyClaim(String),
    /// No credential has the key named by the token.
    #[error("No credentials found for given '{0}'")]
    NoCredentials(String),
    /// The token's `alg` differs from the credential's algorithm.
    #[error("Invalid algorithm")]
    InvalidAlgorithm,
    /// The credential lacks its secret / public key, or the base64 secret does not decode.
    #[error("Invalid key/secret")]
    InvalidKeySecret,
    /// The signature does not verify.
    #[error("Invalid signature")]
    InvalidSignature,
    /// Registered claims failed; the body is this errors table (e.g. `{"exp":"token expired"}`).
    #[error("claims verification failed")]
    Claims(Map<String, Value>),
    /// Kong raises a Lua error here (bad public key, wrong signature size, ...): a 500.
    #[error("{0}")]
    Internal(String),
}

impl JwtError {
    /// HTTP status Kong answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Internal(_) => 500,
            _ => 401,
        }
    }

    /// JSON body Kong answers with.
    pub fn body(&self) -> Value {
        let message = match self {
            Self::Claims(errors) => return Value::Object(errors.clone()),
            Self::Internal(_) => UNEXPECTED_ERROR.to_owned(),
            other => other.to_string(),
        };
        let mut body = Map::new();
        body.insert("message".to_owned(), Value::String(message));
        Value::Object(body)
    }

    /// `WWW-Authenticate` value Kong sends (none with a 500).
    pub fn www_authenticate(&self, realm: Option<&str>) -> Option<String> {
        match self {
            Self::Internal(_) => None,
            Self::NoToken => Some(www_authenticate(realm, false)),
            _ => Some(www_authenticate(realm, true)),
        }
    }
}

/// `Bearer`, `Bearer realm="<realm>"`, followed by ` error="invalid_token"` when `invalid_token`.
pub fn www_authenticate(realm: Option<&str>, invalid_token: bool) -> String {
    let mut value = match realm {
        Some(realm) => format!("Bearer realm=\"{realm}\""),
        None => "Bearer".to_owned(),
    };
    if invalid_token {
        value.push_str(" error=\"invalid_token\"");
    }
    value
}

/// A decoded compact JWS (`jwt_parser:new`).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    raw: String,
    signing_input_len: usize,
    /// The header's `alg`, always one Kong knows.
    pub alg: JwtAlgorithm,
    /// The header's `typ` when it is a string (Kong does not check it).
    pub typ: Option<String>,
    /// The decoded header.
    pub header: Map<String, Value>,
    /// The decoded claims (empty when the payload is a JSON array or string, as Lua sees no keys).
    pub claims: Map<String, Value>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

const INVALID_JSON: JwtError = JwtError::BadToken("invalid JSON");

fn decode_json(segment: &str) -> Result<Value, JwtError> {
    let bytes = base64url_decode(segment).ok_or(INVALID_JSON)?;
    serde_json::from_slice(&bytes).map_err(|_| INVALID_JSON)
}

fn lua_index_error(what: &str, value: &Value) -> JwtError {
    let kind = match value {
        Value::Null => "userdata",
        Value::Bool(_) => "boolean",
        _ => "number",
    };
    JwtError::Internal(format!("attempt to index {what} (a {kind} value)"))
}

/// Parses a token with Kong's failure modes; errors render as `Bad token; <reason>`.
pub fn parse(token: &str) -> Result<Token, JwtError> {
    // tokenize(token, ".", 3): the third part keeps any further dots (and then fails to decode).
    let mut parts = token.splitn(3, '.');
    let header_64 = parts.next().unwrap_or_default();
    let (Some(claims_64), Some(signature_64)) = (parts.next(), parts.next()) else {
        return Err(INVALID_JSON);
    };
    let header = decode_json(header_64)?;
    let claims = decode_json(claims_64)?;
    let signature = base64url_decode(signature_64);

    let header = match header {
        Value::Object(map) => map,
        Value::Array(_) | Value::String(_) => return Err(JwtError::BadToken("invalid alg")),
        other => return Err(lua_index_error("local 'header'", &other)),
    };
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(JwtAlgorithm::from_name)
        .ok_or(JwtError::BadToken("invalid alg"))?;
    let claims = match claims {
        Value::Object(map) => map,
        Value::Bool(false) => return Err(JwtError::BadToken("invalid claims")),
        Value::Array(_) | Value::String(_) => Map::new(),
        // Kong accepts these and fails when the handler indexes the claims.
        other => return Err(lua_index_error("local 'claims'", &other)),
    };
    let signature = signature.ok_or(JwtError::BadToken("invalid signature"))?;
    let typ = header.get("typ").and_then(Value::as_str).map(str::to_owned);
    Ok(Token {
        raw: token.to_owned(),
        signing_input_len: header_64.len() + 1 + claims_64.len(),
        alg,
        typ,
        header,
        claims,
        signature,
    })
}

impl Token {
    /// The token as received (what Kong stores in `kong.ctx.shared.authenticated_jwt_token`).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// `base64(header) "." base64(claims)`, the signed bytes.
    pub fn signing_input(&self) -> &str {
        &self.raw[..self.signing_input_len]
    }

    /// The credential key named by `key_claim_name` (`claims[name] or header[name]`), with the
    /// handler's `No mandatory ...` / `Invalid ...` errors. A non-string value (number, `true`,
    /// object, array, `null`) makes Kong's credential lookup raise a Lua error: a 500.
    pub fn key_claim(&self, name: &str) -> Result<&str, JwtError> {
        fn lookup<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
            map.get(name).filter(|v| **v != Value::Bool(false))
        }
        match lookup(&self.claims, name).or_else(|| lookup(&self.header, name)) {
            None => Err(JwtError::MissingKeyClaim(name.to_owned())),
            Some(Value::String(s)) if s.is_empty() => Err(JwtError::EmptyKeyClaim(name.to_owned())),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(JwtError::Internal(format!("'{name}' must be a string"))),
        }
    }

    /// `jwt:verify_registered_claims`: `exp` and `nbf` must be numbers, `exp > now`, `nbf <= now`.
    /// The error is Kong's errors table (see [`JwtError::Claims`]); unknown names are skipped (the
    /// plugin schema only allows `exp` and `nbf`).
    pub fn verify_registered_claims<S: AsRef<str>>(&self, claims_to_verify: &[S], now: i64) -> Result<(), JwtError> {
        let now = now as f64;
        let mut errors = Map::new();
        for name in claims_to_verify {
            let name = name.as_ref();
            let check: fn(f64, f64) -> Option<&'static str> = match name {
                "nbf" => |nbf, now| (nbf > now).then_some("token not valid yet"),
                "exp" => |exp, now| (exp <= now).then_some("token expired"),
                _ => continue,
            };
            let message = match self.claims.get(name).and_then(Value::as_f64) {
                None => Some("must be a number"),
                Some(value) => check(value, now),
            };
            if let Some(message) = message {
                add_error(&mut errors, name, message);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(JwtError::Claims(errors))
        }
    }

    /// `jwt:check_maximum_expiration`: with `maximum_expiration > 0`, `exp` must exist and be at
    /// most that many seconds ahead of `now`, else `{"exp":"exceeds maximum allowed expiration"}`.
    pub fn check_maximum_expiration(&self, maximum_expiration: f64, now: i64) -> Result<(), JwtError> {
        if maximum_expiration <= 0.0 {
            return Ok(());
        }
        // Lua coerces numeric strings in arithmetic; anything else is treated as missing.
        let exp = match self.claims.get("exp") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match exp {
            Some(exp) if exp - now as f64 <= maximum_expiration => Ok(()),
            _ => {
                let mut errors = Map::new();
                add_error(&mut errors, "exp", "exceeds maximum allowed expiration");
                Err(JwtError::Claims(errors))
            }
        }
    }
}

/// `add_error`: a second message for the same claim turns the entry into a list.
fn add_error(errors: &mut Map<String, Value>, name: &str, message: &str) {
    match errors.get_mut(name) {
        Some(Value::Array(list)) => list.push(message.into()),
        Some(existing) => *existing = Value::Array(vec![existing.take(), message.into()]),
        None => {
            errors.insert(name.to_owned(), message.into());
        }
    }
}

#[derive(Clone)]
enum KeyMaterial {
    Hs256(Hmac<Sha256>),
    Hs384(Hmac<Sha384>),
    Hs512(Hmac<Sha512>),
    Asymmetric(DecodingKey, Algorithm),
    /// A valid key of another family than the algorithm's: never verifies (OpenSSL just fails).
    Mismatched,
}

fn hmac_key<M: Mac + hmac::digest::KeyInit>(secret: &[u8]) -> M {
    <M as hmac::digest::KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

fn decoding_key(alg: JwtAlgorithm, pem: &[u8]) -> Result<DecodingKey, jsonwebtoken::errors::Error> {
    match alg {
        JwtAlgorithm::ES256 | JwtAlgorithm::ES384 | JwtAlgorithm::ES512 => DecodingKey::from_ec_pem(pem),
        JwtAlgorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        _ => DecodingKey::from_rsa_pem(pem),
    }
}

/// A credential's verification key, compiled once when the credential is loaded.
///
/// Building never fails: problems Kong only notices while handling a request (missing key,
/// undecodable base64 secret, unusable public key) are kept and reported by [`VerifyKey::verify`]
/// in Kong's order, after the algorithm check.
#[derive(Clone)]
pub struct VerifyKey {
    algorithm: Option<JwtAlgorithm>,
    key: Result<KeyMaterial, JwtError>,
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("algorithm", &self.algorithm)
            .field("key_error", &self.key_error())
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// Compiles a `jwt_secrets` credential: `algorithm` (Kong's default is `HS256`), its `secret`
    /// (HS*, base64url-decoded first when the plugin's `secret_is_base64` is set) or its
    /// `rsa_public_key` PEM (every other algorithm, EC and Ed25519 keys included).
    pub fn new(algorithm: &str, secret: Option<&str>, rsa_public_key: Option<&str>, secret_is_base64: bool) -> Self {
        let Some(alg) = JwtAlgorithm::from_name(algorithm) else {
            // No token alg can equal it, so every token fails with "Invalid algorithm".
            return VerifyKey { algorithm: None, key: Err(JwtError::InvalidAlgorithm) };
        };
        VerifyKey { algorithm: Some(alg), key: Self::compile(alg, secret, rsa_public_key, secret_is_base64) }
    }

    fn compile(
        alg: JwtAlgorithm,
        secret: Option<&str>,
        rsa_public_key: Option<&str>,
        secret_is_base64: bool,
    ) -> Result<KeyMaterial, JwtError> {
        if alg.is_symmetric() {
            let secret = secret.ok_or(JwtError::InvalidKeySecret)?;
            let secret = match secret_is_base64 {
                true => Cow::Owned(base64url_decode(secret).ok_or(JwtError::InvalidKeySecret)?),
                false => Cow::Borrowed(secret.as_bytes()),
            };
            return Ok(match alg {
                JwtAlgorithm::HS256 => KeyMaterial::Hs256(hmac_key(&secret)),
                JwtAlgorithm::HS384 => KeyMaterial::Hs384(hmac_key(&secret)),
                _ => KeyMaterial::Hs512(hmac_key(&secret)),
            });
        }
        let pem = rsa_public_key.ok_or(JwtError::InvalidKeySecret)?.as_bytes();
        let invalid = || JwtError::Internal("Consumer Public Key is Invalid".to_owned());
        let Some(jwt_alg) = alg.to_jsonwebtoken() else {
            return Err(JwtError::Internal(format!("{alg} is not supported")));
        };
        match decoding_key(alg, pem) {
            Ok(key) => Ok(KeyMaterial::Asymmetric(key, jwt_alg)),
            Err(_) => {
                let other_family = [JwtAlgorithm::RS256, JwtAlgorithm::ES256, JwtAlgorithm::EdDSA]
                    .into_iter()
                    .any(|family| decoding_key(family, pem).is_ok());
                if other_family {
                    Ok(KeyMaterial::Mismatched)
                } else {
                    Err(invalid())
                }
            }
        }
    }

    /// The credential's algorithm (`None` when it names no known algorithm).
    pub fn algorithm(&self) -> Option<JwtAlgorithm> {
        self.algorithm
    }

    /// The problem that will fail every token, if any (useful for logging at load time).
    pub fn key_error(&self) -> Option<&JwtError> {
        self.key.as_ref().err()
    }

    /// The handler's `Invalid algorithm` check: the token's `alg` must be the credential's.
    pub fn check_algorithm(&self, token: &Token) -> Result<(), JwtError> {
        if self.algorithm == Some(token.alg) {
            Ok(())
        } else {
            Err(JwtError::InvalidAlgorithm)
        }
    }

    /// Whether the token's signature verifies with this key (any failure is `false`).
    pub fn verify_signature(&self, token: &Token) -> bool {
        let Ok(key) = &self.key else { return false };
        let input = token.signing_input().as_bytes();
        match key {
            KeyMaterial::Hs256(mac) => mac.clone().chain_update(input).verify_slice(&token.signature).is_ok(),
            KeyMaterial::Hs384(mac) => mac.clone().chain_update(input).verify_slice(&token.signature).is_ok(),
            KeyMaterial::Hs512(mac) => mac.clone().chain_update(input).verify_slice(&token.signature).is_ok(),
            KeyMaterial::Asymmetric(key, alg) => {
                // Re-encode canonically: Kong's decoder is laxer than jsonwebtoken's.
                let signature = URL_SAFE_NO_PAD.encode(&token.signature);
                jsonwebtoken::crypto::verify(&signature, input, key, *alg).unwrap_or(false)
            }
            KeyMaterial::Mismatched => false,
        }
    }

    /// The handler's sequence once the credential is found: `Invalid algorithm`, then
    /// `Invalid key/secret`, Kong's Lua assertions (500), then `Invalid signature`.
    pub fn verify(&self, token: &Token) -> Result<(), JwtError> {
        self.check_algorithm(token)?;
        if let Err(err) = &self.key {
            return Err(err.clone());
        }
        if let Some(len) = token.alg.asserted_signature_len() {
            if token.signature.len() != len {
                return Err(JwtError::Internal(format!("Signature must be {len} bytes")));
            }
        }
        if self.verify_signature(token) {
            Ok(())
        } else {
            Err(JwtError::InvalidSignature)
        }
    }
}

#[cfg(test)]
#[path = "jwt_token_tests.rs"]
mod tests;
