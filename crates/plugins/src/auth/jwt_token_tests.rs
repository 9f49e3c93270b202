//! Tests of [`super`]: tokens are made with `jsonwebtoken::encode` or by hand.

use super::*;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

const NOW: i64 = 1_700_000_000;

// Test-only keys, generated with `openssl genpkey` (RSA 2048, P-256, P-384, Ed25519).
const RSA_PRIVATE: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCtLUYFvKCpLIxb\n\
q9810VrSP+uGKES3oZmK5gTNtWleGsP4XnrHEqoE0cmv6YdcqkxHwz5wanatzizh\n\
kbkFFpssSJHslVE1vKPoPSXoiQECIhU+dBBKES8hUg8hzQHpzQGx7G6OJzFSzhah\n\
blNeVt0IS9vVcFMGPks07TReCca5SodhkTsB65juVPbTof+4iJ1n8Qqj+JGh8Zc6\n\
9uvKBRZMU8OfFw9k4LgBsYpYqxz3S4DeAgQl8NDoB3viKEfJMdRI8WYfGVILQVgu\n\
kvLmzTdslLHNLlHoyHXizTPWFruDhWQKAYkRveudzHXfq/HiKo/9xa8ya5rce653\n\
dMklrX9pAgMBAAECggEAApxYHeYGFgbR5t/kcY9Ca0EDb/ZTcuFAy1NEZ0WA3SZS\n\
JgBmoXGqloADJl/C5qa6l6pd2pwARgaBrrTfsS/yDuzZJlPp8YFyhyHE3IiUN1AE\n\
OfjN9g/kQgBWsg/BI6EvkVsbH5F/sNvig3SCVT3B/0oFemZDGij+QUICNBi5ojlz\n\
BqvUHtWFm+j9lugvyQSTMRZajqX7MErmRlMSccwbDCJsvVEPsLQgR6tPF4FCBeKR\n\
uvsp7xnDQm8F0OI0l8iWfkPUR49eTpIoXtKzcRZkNJqZGecJhou7K2xUMcHyxG0S\n\
HenJjheaSKd6odYHGSy8jLJWzHWCF84jJ4glne+aAQKBgQDqHDRxFjGSrVpgcEsT\n\
LXbDCU9Q48D663hjGkWIZqUdgKzk3eBmo7VK3Irru2oKYiXEdJLGECYdGCi3Wxzn\n\
z3jGyeLlMabTGZX8/dWMVI3FNjIGxqQ2v/mXvQTIh9jFwiaRN1rXlmsKm32NDJdQ\n\
nc77PHaLwcIUDLb6skfoAOZqEQKBgQC9Xoih2KUuTcdp2Qh+XmjcAwZaI5NbC/Tp\n\
L+P5ckK7lWAqe048gf6azSkDdL4V6ftXecks6lcL27dRgdtQ8zLDK4o3f60WzDy7\n\
Uy7SamNi7Ru/n+V19KkcjY56T8J86dVa3AEASD0ELmsUA59FOxKVa5KjO7lyx2rN\n\
P6fq9+Un2QKBgHzl10SN5pyuR40z25m7o6SiDuLE32v+vBeDKJ2AxY5b2+GuTc30\n\
gQATcToanpQzkJqi5rssWmkjPnWz8lPp6DGF+7rzJmFxQQfcFFXttkUEiOP8jhd3\n\
jB1cBnVFpGy9C/5lXd2uriTWl8Dser3Ts11uAIDHOlegAO72tk4cTNFBAoGBAI7r\n\
qAcucQxPW2+Bg62MJ2vVRJgHPZF7pq3PnSmImODmThwBz/xOyA+hQ5D+LPBxFWbh\n\
3Xluq5+hheuYLCQeSHOQitJ0I/iO0E846p+X98aT2Vt4nD+4FWIdXCjnxYttF79p\n\
R8AkxRhAyEPkr/IaMV5gP92+l6oO44ZgwqTNzz+RAoGAX7ZqaLLLDyqoiPvrZpua\n\
mozSAOvLEATpeHZ9FLa4myrIgq/4uVwXIEG4M6e5el7hs5WMvEyPDK81u6MFIgh2\n\
o3hqJA5bOZrE+FgNZMyqcOBNuqO+TxxKom8loE+PvunilMsAL7mjc80ZSsv3ncjD\n\
sOSTkJ7FTjLN/idf/MYZPBE=\n\
-----END PRIVATE KEY-----\n";
const RSA_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArS1GBbygqSyMW6vfNdFa\n\
0j/rhihEt6GZiuYEzbVpXhrD+F56xxKqBNHJr+mHXKpMR8M+cGp2rc4s4ZG5BRab\n\
LEiR7JVRNbyj6D0l6IkBAiIVPnQQShEvIVIPIc0B6c0BsexujicxUs4WoW5TXlbd\n\
CEvb1XBTBj5LNO00XgnGuUqHYZE7AeuY7lT206H/uIidZ/EKo/iRofGXOvbrygUW\n\
TFPDnxcPZOC4AbGKWKsc90uA3gIEJfDQ6Ad74ihHyTHUSPFmHxlSC0FYLpLy5s03\n\
bJSxzS5R6Mh14s0z1ha7g4VkCgGJEb3rncx136vx4iqP/cWvMmua3Huud3TJJa1/\n\
aQIDAQAB\n\
-----END PUBLIC KEY-----\n";
const RSA_PUBLIC_PKCS1: &str = "\
-----BEGIN RSA PUBLIC KEY-----\n\
MIIBCgKCAQEArS1GBbygqSyMW6vfNdFa0j/rhihEt6GZiuYEzbVpXhrD+F56xxKq\n\
BNHJr+mHXKpMR8M+cGp2rc4s4ZG5BRabLEiR7JVRNbyj6D0l6IkBAiIVPnQQShEv\n\
IVIPIc0B6c0BsexujicxUs4WoW5TXlbdCEvb1XBTBj5LNO00XgnGuUqHYZE7AeuY\n\
7lT206H/uIidZ/EKo/iRofGXOvbrygUWTFPDnxcPZOC4AbGKWKsc90uA3gIEJfDQ\n\
6Ad74ihHyTHUSPFmHxlSC0FYLpLy5s03bJSxzS5R6Mh14s0z1ha7g4VkCgGJEb3r\n\
ncx136vx4iqP/cWvMmua3Huud3TJJa1/aQIDAQAB\n\
-----END RSA PUBLIC KEY-----\n";
const OTHER_RSA_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAol7eLuYW675ENATDEAz4\n\
QcXHn6Z6wvKfIi84gUVrjaquFskVWHIAOOXTun7aBN5d5ufu08H/dRiqZtGVFVHq\n\
a0GUi8y/Swa0L3ru/+iiYPU3KyJVZ6KpFGt8YwJbnt6k2m2zvXNtrVFDCtebusHK\n\
/k9RcvErWFilgdFcir3y/4MkPK7SBNZcRHKngC+ALj2rv+B366FwrMxItDgZBIfX\n\
SjOwzEoam8c0iU7Ck5mEYBncX4tt2UoJzwDgfTkswtzNFV/242jOyLGX6aHDsSSb\n\
aMacbJECgb0rp3unNqwo2YUfWDGIitZPRgINycvMjMMENgcedrW5TGFQNRPsSilh\n\
IwIDAQAB\n\
-----END PUBLIC KEY-----\n";
const EC256_PRIVATE: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgT3px1g3Da/SRTA2A\n\
RIDRpUozsKjX+Kdgk9gPqETk3v+hRANCAAS5GdokdAm2x6qU6Wc3gGYvXKTzmLBH\n\
AkHShEC5jiB4CvNv2eTTiajrd1bmzI5qcZuzOn+3AhyDjhR+4QHi8ei4\n\
-----END PRIVATE KEY-----\n";
const EC256_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEuRnaJHQJtseqlOlnN4BmL1yk85iw\n\
RwJB0oRAuY4geArzb9nk04mo63dW5syOanGbszp/twIcg44UfuEB4vHouA==\n\
-----END PUBLIC KEY-----\n";
const EC384_PRIVATE: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDPfholpo0wnsLPGoFV\n\
5oFDK9NiNAKsRxojTw3qtHtfieWW5LPH/HZ97c3SQVfjgG+hZANiAARVyKyY3ZD6\n\
6+PncL8pUgzFVd3DrOqTRkvqIYNLLwVAQuH8OIKFfO5hoJK8kOAaK3WIgG+2eXw7\n\
cE/U0FXSvhtDotymF0WoZchzr65+YDKLQVkpt0MINFRWtXED61j7bzI=\n\
-----END PRIVATE KEY-----\n";
const EC384_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEVcismN2Q+uvj53C/KVIMxVXdw6zqk0ZL\n\
6iGDSy8FQELh/DiChXzuYaCSvJDgGit1iIBvtnl8O3BP1NBV0r4bQ6LcphdFqGXI\n\
c6+ufmAyi0FZKbdDCDRUVrVxA+tY+28y\n\
-----END PUBLIC KEY-----\n";
const ED25519_PRIVATE: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MC4CAQAwBQYDK2VwBCIEIDcmi9HKhGjjtbUlEeKORULLHPqxcw/b+ZRyKe1A1wvX\n\
-----END PRIVATE KEY-----\n";
const ED25519_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MCowBQYDK2VwAyEAdy/toXrwrAA7YVmjkef/0xxAuG8/D2EET/sZoSxZYaw=\n\
-----END PUBLIC KEY-----\n";

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// A token from raw header/claims JSON text and signature bytes.
fn raw_token(header: &str, claims: &str, signature: &[u8]) -> String {
    format!("{}.{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()), b64(signature))
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    encode(&Header::new(alg), claims, key).expect("encode")
}

fn claims() -> Value {
    json!({"iss": "key-1", "sub": "1234567890", "admin": true})
}

fn key(alg: &str, secret: Option<&str>, public_key: Option<&str>) -> VerifyKey {
    VerifyKey::new(alg, secret, public_key, false)
}

fn verify(key: &VerifyKey, token: &str) -> Result<(), JwtError> {
    key.verify(&parse(token)?)
}

#[test]
fn parses_header_claims_signature_and_signing_input() {
    let token = sign(Algorithm::HS256, &EncodingKey::from_secret(b"secret"), &claims());
    let parsed = parse(&token).unwrap();
    assert_eq!(parsed.alg, JwtAlgorithm::HS256);
    assert_eq!(parsed.typ.as_deref(), Some("JWT"));
    assert_eq!(parsed.header["alg"], "HS256");
    assert_eq!(parsed.claims["sub"], "1234567890");
    assert_eq!(parsed.as_str(), token);
    let (input, signature) = token.rsplit_once('.').unwrap();
    assert_eq!(parsed.signing_input(), input);
    assert_eq!(b64(&parsed.signature), signature);
}

#[test]
fn typ_is_optional_and_unchecked() {
    let token = raw_token(r#"{"alg":"RS256"}"#, r#"{"sub":"1234"}"#, b"sig");
    assert_eq!(parse(&token).unwrap().typ, None);
    let token = raw_token(r#"{"alg":"RS256","typ":"jwt"}"#, r#"{"sub":"1234"}"#, b"sig");
    assert_eq!(parse(&token).unwrap().typ.as_deref(), Some("jwt"));
}

#[test]
fn parse_failures_use_kong_messages() {
    let bad = |token: &str| parse(token).unwrap_err().to_string();
    let valid = sign(Algorithm::HS256, &EncodingKey::from_secret(b"secret"), &claims());
    let (header_64, rest) = valid.split_once('.').unwrap();
    let claims_64 = rest.split('.').next().unwrap();

    // Missing segments, undecodable base64 or JSON.
    assert_eq!(bad("abc"), "Bad token; invalid JSON");
    assert_eq!(bad(&format!("{header_64}.{claims_64}")), "Bad token; invalid JSON");
    assert_eq!(bad(""), "Bad token; invalid JSON");
    assert_eq!(bad(&format!("no-way-this-works{valid}")), "Bad token; invalid JSON");
    assert_eq!(bad(&format!("{header_64}.a.sig")), "Bad token; invalid JSON");
    assert_eq!(bad(&format!("{header_64}.{}.sig", b64(b"not json"))), "Bad token; invalid JSON");
    assert_eq!(bad(&format!("{header_64}.{claims_64}+.sig")), "Bad token; invalid JSON");

    // Header alg.
    assert_eq!(bad(&raw_token(r#"{"typ":"JWT","alg":"foo"}"#, "{}", b"s")), "Bad token; invalid alg");
    assert_eq!(bad(&raw_token(r#"{"typ":"JWT"}"#, "{}", b"s")), "Bad token; invalid alg");
    assert_eq!(bad(&raw_token(r#"{"alg":256}"#, "{}", b"s")), "Bad token; invalid alg");
    assert_eq!(bad(&raw_token(r#"{"alg":"hs256"}"#, "{}", b"s")), "Bad token; invalid alg");
    assert_eq!(bad(&raw_token(r#"["HS256"]"#, "{}", b"s")), "Bad token; invalid alg");

    // Claims `false`; other non-object payloads.
    assert_eq!(bad(&raw_token(r#"{"alg":"HS256"}"#, "false", b"s")), "Bad token; invalid claims");
    assert!(parse(&raw_token(r#"{"alg":"HS256"}"#, "[1,2]", b"s")).unwrap().claims.is_empty());
    let err = parse(&raw_token(r#"{"alg":"HS256"}"#, "42", b"s")).unwrap_err();
    assert_eq!(err.status(), 500);
    assert_eq!(parse(&raw_token("null", "{}", b"s")).unwrap_err().status(), 500);

    // Signature segment.
    let unsigned = format!("{header_64}.{claims_64}");
    assert_eq!(bad(&format!("{unsigned}.a.b")), "Bad token; invalid signature");
    assert_eq!(bad(&format!("{unsigned}.ab+c")), "Bad token; invalid signature");
    assert_eq!(bad(&format!("{unsigned}.abcde")), "Bad token; invalid signature");
    // An empty signature decodes (and later fails verification).
    assert!(parse(&format!("{unsigned}.")).unwrap().signature.is_empty());
}

#[test]
fn base64url_decoding_is_as_lax_as_nginx() {
    assert_eq!(base64url_decode("YWJj").unwrap(), b"abc");
    assert_eq!(base64url_decode("YWI").unwrap(), b"ab");
    assert_eq!(base64url_decode("YWI=").unwrap(), b"ab");
    assert_eq!(base64url_decode("YWI=garbage!").unwrap(), b"ab");
    assert_eq!(base64url_decode("YWJ").unwrap(), b"ab"); // non-zero trailing bits
    assert_eq!(base64url_decode("-_8").unwrap(), [0xfb, 0xff]);
    assert!(base64url_decode("+/8").is_none());
    assert!(base64url_decode("YWJjZ").is_none());
    // Padded segments are accepted in tokens.
    let token = sign(Algorithm::HS256, &EncodingKey::from_secret(b"secret"), &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let padded = format!("{}==.{}.{}", parts[0], parts[1], parts[2]);
    assert!(parse(&padded).is_ok());
}

#[test]
fn error_bodies_and_www_authenticate() {
    assert_eq!(JwtError::NoToken.body(), json!({"message": "Unauthorized"}));
    assert_eq!(JwtError::NoToken.www_authenticate(None).unwrap(), "Bearer");
    assert_eq!(JwtError::MultipleTokens.body(), json!({"message": "Multiple tokens provided"}));
    assert_eq!(
        JwtError::InvalidSignature.www_authenticate(Some("test-jwt")).unwrap(),
        r#"Bearer realm="test-jwt" error="invalid_token""#
    );
    assert_eq!(JwtError::InvalidAlgorithm.www_authenticate(None).unwrap(), r#"Bearer error="invalid_token""#);
    assert_eq!(JwtError::MissingKeyClaim("iss".into()).to_string(), "No mandatory 'iss' in claims");
    assert_eq!(JwtError::EmptyKeyClaim("iss".into()).to_string(), "Invalid 'iss' in claims");
    assert_eq!(JwtError::NoCredentials("iss".into()).to_string(), "No credentials found for given 'iss'");
    assert_eq!(JwtError::InvalidKeySecret.body(), json!({"message": "Invalid key/secret"}));
    let internal = JwtError::Internal("boom".into());
    assert_eq!((internal.status(), internal.body()), (500, json!({"message": "An unexpected error occurred"})));
    assert_eq!(internal.www_authenticate(Some("x")), None);
}

#[test]
fn key_claim_reads_claims_then_header() {
    let token = parse(&raw_token(r#"{"alg":"HS256","kid":"from-header"}"#, r#"{"iss":"from-claims"}"#, b"")).unwrap();
    assert_eq!(token.key_claim("iss").unwrap(), "from-claims");
    assert_eq!(token.key_claim("kid").unwrap(), "from-header");
    assert_eq!(token.key_claim("aud").unwrap_err(), JwtError::MissingKeyClaim("aud".into()));
    let claims = r#"{"iss":"","kid":false,"n":42,"f":1.5,"t":true,"o":{},"z":null}"#;
    let token = parse(&raw_token(r#"{"alg":"HS256","kid":"header-kid"}"#, claims, b"")).unwrap();
    assert_eq!(token.key_claim("iss").unwrap_err(), JwtError::EmptyKeyClaim("iss".into()));
    assert_eq!(token.key_claim("kid").unwrap(), "header-kid");
    for non_string in ["n", "f", "t", "o", "z"] {
        assert_eq!(token.key_claim(non_string).unwrap_err().status(), 500, "{non_string}");
    }
}

#[test]
fn hmac_algorithms_verify() {
    for (name, alg) in [("HS256", Algorithm::HS256), ("HS384", Algorithm::HS384), ("HS512", Algorithm::HS512)] {
        let token = sign(alg, &EncodingKey::from_secret(b"secret"), &claims());
        assert_eq!(verify(&key(name, Some("secret"), None), &token), Ok(()), "{name}");
        assert!(key(name, Some("secret"), None).verify_signature(&parse(&token).unwrap()));
        assert_eq!(verify(&key(name, Some("invalid"), None), &token), Err(JwtError::InvalidSignature));
        // Tampered claims and signature.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], b64(br#"{"iss":"key-1","admin":false}"#), parts[2]);
        assert_eq!(verify(&key(name, Some("secret"), None), &forged), Err(JwtError::InvalidSignature));
        let mut signature = base64url_decode(parts[2]).unwrap();
        signature[0] ^= 1;
        let forged = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
        assert_eq!(verify(&key(name, Some("secret"), None), &forged), Err(JwtError::InvalidSignature));
        let truncated = format!("{}.{}.{}", parts[0], parts[1], b64(&signature[..10]));
        assert_eq!(verify(&key(name, Some("secret"), None), &truncated), Err(JwtError::InvalidSignature));
    }
}

#[test]
fn base64_secrets() {
    let raw_secret = b"\xfb\xff binary secret \x00\xfe";
    let token = sign(Algorithm::HS256, &EncodingKey::from_secret(raw_secret), &claims());
    let url_safe = b64(raw_secret);
    assert!(url_safe.contains('-') || url_safe.contains('_'));
    let padded = base64::engine::general_purpose::URL_SAFE.encode(raw_secret);
    for secret in [url_safe.as_str(), padded.as_str()] {
        assert_eq!(verify(&VerifyKey::new("HS256", Some(secret), None, true), &token), Ok(()));
        // Without secret_is_base64 the encoded text itself is the key.
        assert_eq!(
            verify(&VerifyKey::new("HS256", Some(secret), None, false), &token),
            Err(JwtError::InvalidSignature)
        );
    }
    // Kong decodes with the URL-safe alphabet only: '+' and '/' make the secret unusable.
    let standard = base64::engine::general_purpose::STANDARD.encode(raw_secret);
    assert!(standard.contains('+') || standard.contains('/'));
    let k = VerifyKey::new("HS256", Some(&standard), None, true);
    assert_eq!(k.key_error(), Some(&JwtError::InvalidKeySecret));
    assert_eq!(verify(&k, &token), Err(JwtError::InvalidKeySecret));
    // The flag does not apply to asymmetric algorithms.
    let token = sign(Algorithm::RS256, &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(), &claims());
    assert_eq!(verify(&VerifyKey::new("RS256", Some("c2VjcmV0"), Some(RSA_PUBLIC), true), &token), Ok(()));
}

#[test]
fn algorithm_is_checked_before_the_key() {
    let token = sign(Algorithm::HS256, &EncodingKey::from_secret(b"secret"), &claims());
    assert_eq!(verify(&key("HS512", Some("secret"), None), &token), Err(JwtError::InvalidAlgorithm));
    assert_eq!(verify(&key("RS256", None, None), &token), Err(JwtError::InvalidAlgorithm));
    assert_eq!(verify(&key("RS256", None, Some("not a pem")), &token), Err(JwtError::InvalidAlgorithm));
    assert_eq!(verify(&key("hs256", Some("secret"), None), &token), Err(JwtError::InvalidAlgorithm));
    assert_eq!(key("nope", None, None).algorithm(), None);
    assert_eq!(verify(&key("HS256", None, None), &token), Err(JwtError::InvalidKeySecret));
    let rsa = sign(Algorithm::RS256, &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(), &claims());
    assert_eq!(verify(&key("RS256", Some("secret"), None), &rsa), Err(JwtError::InvalidKeySecret));
    let k = key("RS256", None, Some("not a pem"));
    assert_eq!(verify(&k, &rsa).unwrap_err().status(), 500);
    assert!(!k.verify_signature(&parse(&rsa).unwrap()));
    assert!(format!("{k:?}").contains("Consumer Public Key is Invalid"));
}

#[test]
fn rsa_algorithms_verify() {
    let private = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    for (name, alg) in [
        ("RS256", Algorithm::RS256),
        ("RS384", Algorithm::RS384),
        ("RS512", Algorithm::RS512),
        ("PS256", Algorithm::PS256),
        ("PS384", Algorithm::PS384),
        ("PS512", Algorithm::PS512),
    ] {
        let token = sign(alg, &private, &claims());
        assert_eq!(verify(&key(name, None, Some(RSA_PUBLIC)), &token), Ok(()), "{name}");
        assert_eq!(verify(&key(name, None, Some(RSA_PUBLIC_PKCS1)), &token), Ok(()), "{name} pkcs1");
        assert_eq!(verify(&key(name, None, Some(OTHER_RSA_PUBLIC)), &token), Err(JwtError::InvalidSignature));
        // A valid key of another type never verifies.
        assert_eq!(verify(&key(name, None, Some(EC256_PUBLIC)), &token), Err(JwtError::InvalidSignature));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut signature = base64url_decode(&parts[2]).unwrap();
        signature[17] ^= 0x40;
        parts[2] = b64(&signature);
        assert_eq!(verify(&key(name, None, Some(RSA_PUBLIC)), &parts.join(".")), Err(JwtError::InvalidSignature));
    }
    // PS* signatures must be 256 bytes (a Lua assertion in Kong); RS* just fail.
    let token = raw_token(r#"{"alg":"PS256"}"#, "{}", &[1; 255]);
    assert_eq!(verify(&key("PS256", None, Some(RSA_PUBLIC)), &token).unwrap_err().status(), 500);
    let token = raw_token(r#"{"alg":"RS256"}"#, "{}", &[1; 255]);
    assert_eq!(verify(&key("RS256", None, Some(RSA_PUBLIC)), &token), Err(JwtError::InvalidSignature));
}

#[test]
fn ecdsa_and_eddsa_verify() {
    let cases = [
        ("ES256", Algorithm::ES256, EC256_PRIVATE, EC256_PUBLIC, EC384_PUBLIC, Some(64)),
        ("ES384", Algorithm::ES384, EC384_PRIVATE, EC384_PUBLIC, EC256_PUBLIC, Some(96)),
        ("EdDSA", Algorithm::EdDSA, ED25519_PRIVATE, ED25519_PUBLIC, EC256_PUBLIC, None),
    ];
    for (name, alg, private, public, wrong, asserted_len) in cases {
        let encoding = match alg {
            Algorithm::EdDSA => EncodingKey::from_ed_pem(private.as_bytes()),
            _ => EncodingKey::from_ec_pem(private.as_bytes()),
        };
        for _ in 0..20 {
            let token = sign(alg, encoding.as_ref().unwrap(), &claims());
            assert_eq!(verify(&key(name, None, Some(public)), &token), Ok(()), "{name}");
            assert_eq!(verify(&key(name, None, Some(wrong)), &token), Err(JwtError::InvalidSignature));
        }
        let token = sign(alg, encoding.as_ref().unwrap(), &claims());
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut signature = base64url_decode(signature).unwrap();
        signature[3] ^= 1;
        let tampered = format!("{input}.{}", b64(&signature));
        assert_eq!(verify(&key(name, None, Some(public)), &tampered), Err(JwtError::InvalidSignature));
        let short = format!("{input}.{}", b64(&signature[1..]));
        let expected_status = if asserted_len.is_some() { 500 } else { 401 };
        assert_eq!(verify(&key(name, None, Some(public)), &short).unwrap_err().status(), expected_status);
    }
}

#[test]
fn es512_is_reported_unsupported() {
    let k = key("ES512", None, Some(EC256_PUBLIC));
    assert_eq!(k.algorithm(), Some(JwtAlgorithm::ES512));
    assert_eq!(k.key_error().map(JwtError::status), Some(500));
    let token = raw_token(r#"{"alg":"ES512"}"#, "{}", &[0; 132]);
    assert_eq!(verify(&k, &token).unwrap_err().status(), 500);
    // Still "Invalid algorithm" first, and "Invalid key/secret" without a key.
    let token = raw_token(r#"{"alg":"ES384"}"#, "{}", &[0; 96]);
    assert_eq!(verify(&k, &token), Err(JwtError::InvalidAlgorithm));
    assert_eq!(verify(&key("ES384", None, None), &token), Err(JwtError::InvalidKeySecret));
}

#[test]
fn algorithm_names_round_trip() {
    for alg in JwtAlgorithm::ALL {
        assert_eq!(JwtAlgorithm::from_name(alg.as_str()), Some(alg));
        assert_eq!(alg.is_symmetric(), alg.to_string().starts_with("HS"));
    }
    assert_eq!(JwtAlgorithm::from_name("none"), None);
}

fn claims_token(claims: &str) -> Token {
    parse(&raw_token(r#"{"alg":"HS256"}"#, claims, b"")).unwrap()
}

fn claim_errors(result: Result<(), JwtError>) -> String {
    match result {
        Err(err @ JwtError::Claims(_)) => {
            assert_eq!(err.status(), 401);
            assert_eq!(err.www_authenticate(None).unwrap(), r#"Bearer error="invalid_token""#);
            err.body().to_string()
        }
        other => panic!("expected claim errors, got {other:?}"),
    }
}

#[test]
fn registered_claims() {
    let both = ["exp", "nbf"];
    let check = |claims: &str| claims_token(claims).verify_registered_claims(&both, NOW);
    assert_eq!(check(&format!(r#"{{"exp":{},"nbf":{}}}"#, NOW + 1, NOW)), Ok(()));
    assert_eq!(check(&format!(r#"{{"exp":{}.5,"nbf":{}.5}}"#, NOW, NOW - 1)), Ok(()));
    assert_eq!(claim_errors(check(&format!(r#"{{"exp":{NOW},"nbf":{NOW}}}"#))), r#"{"exp":"token expired"}"#);
    let past = format!(r#"{{"exp":{},"nbf":{}}}"#, NOW - 10, NOW - 10);
    assert_eq!(claim_errors(check(&past)), r#"{"exp":"token expired"}"#);
    let early = format!(r#"{{"exp":{},"nbf":{}}}"#, NOW + 10, NOW + 5);
    assert_eq!(claim_errors(check(&early)), r#"{"nbf":"token not valid yet"}"#);
    let both_bad = format!(r#"{{"exp":{},"nbf":{}}}"#, NOW - 1, NOW + 1);
    assert_eq!(claim_errors(check(&both_bad)), r#"{"exp":"token expired","nbf":"token not valid yet"}"#);
    assert_eq!(claim_errors(check(r#"{"iss":"x"}"#)), r#"{"exp":"must be a number","nbf":"must be a number"}"#);
    let wrong_types = format!(r#"{{"exp":"{}","nbf":null}}"#, NOW + 100);
    assert_eq!(claim_errors(check(&wrong_types)), r#"{"exp":"must be a number","nbf":"must be a number"}"#);
    // Order follows claims_to_verify; nothing to verify is fine; duplicates become lists.
    let reversed = claims_token("{}").verify_registered_claims(&["nbf", "exp"], NOW);
    assert_eq!(claim_errors(reversed), r#"{"nbf":"must be a number","exp":"must be a number"}"#);
    assert_eq!(claims_token("{}").verify_registered_claims::<&str>(&[], NOW), Ok(()));
    let twice = claims_token("{}").verify_registered_claims(&["exp".to_owned(), "exp".to_owned()], NOW);
    assert_eq!(claim_errors(twice), r#"{"exp":["must be a number","must be a number"]}"#);
}

#[test]
fn maximum_expiration() {
    let token = claims_token(&format!(r#"{{"exp":{}}}"#, NOW + 100));
    assert_eq!(token.check_maximum_expiration(0.0, NOW), Ok(()));
    assert_eq!(token.check_maximum_expiration(100.0, NOW), Ok(()));
    assert_eq!(token.check_maximum_expiration(1000.0, NOW), Ok(()));
    let exceeded = r#"{"exp":"exceeds maximum allowed expiration"}"#;
    assert_eq!(claim_errors(token.check_maximum_expiration(99.0, NOW)), exceeded);
    assert_eq!(claim_errors(claims_token("{}").check_maximum_expiration(100.0, NOW)), exceeded);
    assert_eq!(claims_token("{}").check_maximum_expiration(0.0, NOW), Ok(()));
    let expired = claims_token(&format!(r#"{{"exp":{}}}"#, NOW - 100));
    assert_eq!(expired.check_maximum_expiration(1.0, NOW), Ok(()));
    let string_exp = claims_token(&format!(r#"{{"exp":"{}"}}"#, NOW + 5));
    assert_eq!(string_exp.check_maximum_expiration(10.0, NOW), Ok(()));
}
