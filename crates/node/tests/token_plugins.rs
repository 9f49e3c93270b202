//! jwt and hmac-auth end to end: tokens and signatures made here, independently of the node, and checked
//! by a real node in front of an echo upstream.

#[allow(dead_code)]
mod plugin_common;

use base64::Engine;
use hmac::{Hmac, Mac};
use plugin_common::{call, Setup};
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

fn hs256(secret: &[u8], claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).expect("token")
}

#[tokio::test]
async fn jwt_verifies_tokens_claims_and_algorithms() {
    let s = Setup::start().await;
    s.service_with_routes("echo", &[("jwt", "/jwt"), ("strict", "/strict")]).await;
    s.node.create("/routes/jwt/plugins", json!({"name": "jwt"})).await;
    s.node
        .create(
            "/routes/strict/plugins",
            json!({"name": "jwt", "config": {"claims_to_verify": ["exp"], "maximum_expiration": 600,
                   "cookie_names": ["session"], "secret_is_base64": true}}),
        )
        .await;
    let ivy = s.node.create("/consumers", json!({"username": "ivy"})).await;
    s.node.create("/consumers/ivy/jwt", json!({"key": "ivy-iss", "secret": "ivy-secret"})).await;
    let b64_secret = base64::engine::general_purpose::STANDARD.encode(b"raw secret bytes");
    s.node.create("/consumers/ivy/jwt", json!({"key": "ivy-b64", "secret": b64_secret})).await;
    let ec_key = rcgen::KeyPair::generate().expect("P-256 key");
    s.node
        .create(
            "/consumers/ivy/jwt",
            json!({"key": "ivy-es", "algorithm": "ES256", "rsa_public_key": ec_key.public_key_pem()}),
        )
        .await;

    let (status, headers, body) = call(s.get("/jwt")).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("Unauthorized")));
    assert_eq!(headers["www-authenticate"], "Bearer");

    let token = hs256(b"ivy-secret", json!({"iss": "ivy-iss"}));
    let (status, _, echoed) = call(s.get("/jwt").bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(echoed["headers"]["x-consumer-id"], ivy["id"]);
    assert_eq!(echoed["headers"]["x-credential-identifier"], "ivy-iss");
    let (status, _, _) = call(s.get(&format!("/jwt?jwt={token}"))).await;
    assert_eq!(status, 200);

    let forged = hs256(b"not-the-secret", json!({"iss": "ivy-iss"}));
    let (status, headers, body) = call(s.get("/jwt").bearer_auth(&forged)).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("Invalid signature")));
    assert_eq!(headers["www-authenticate"], "Bearer error=\"invalid_token\"");
    let (_, _, body) = call(s.get("/jwt").bearer_auth(hs256(b"x", json!({"iss": "nobody"})))).await;
    assert_eq!(body["message"], "No credentials found for given 'iss'");
    let (_, _, body) = call(s.get("/jwt").bearer_auth(hs256(b"x", json!({"sub": "x"})))).await;
    assert_eq!(body["message"], "No mandatory 'iss' in claims");
    let (_, _, body) = call(s.get("/jwt").bearer_auth("not.a.token")).await;
    assert_eq!(body["message"], "Bad token; invalid JSON");
    let (_, _, body) = call(s.get(&format!("/jwt?jwt={forged}")).bearer_auth(&token)).await;
    assert_eq!(body["message"], "Multiple tokens provided");

    let es_claims = json!({"iss": "ivy-es"});
    let es_key = jsonwebtoken::EncodingKey::from_ec_pem(ec_key.serialize_pem().as_bytes()).expect("ec key");
    let es =
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256), &es_claims, &es_key).unwrap();
    assert_eq!(call(s.get("/jwt").bearer_auth(&es)).await.0, 200);
    let (_, _, body) = call(s.get("/jwt").bearer_auth(hs256(b"ivy-secret", json!({"iss": "ivy-es"})))).await;
    assert_eq!(body["message"], "Invalid algorithm");

    // claims_to_verify, maximum_expiration, cookies and base64 secrets.
    let b64 = |claims| hs256(b"raw secret bytes", claims);
    let fresh = b64(json!({"iss": "ivy-b64", "exp": now() + 60}));
    let (status, _, _) = call(s.get("/strict").header("cookie", format!("session={fresh}"))).await;
    assert_eq!(status, 200);
    let (status, _, body) = call(s.get("/strict").bearer_auth(b64(json!({"iss": "ivy-b64", "exp": now() - 10})))).await;
    assert_eq!((status, body), (401, json!({"exp": "token expired"})));
    let (_, _, body) = call(s.get("/strict").bearer_auth(b64(json!({"iss": "ivy-b64", "exp": now() + 3600})))).await;
    assert_eq!(body, json!({"exp": "exceeds maximum allowed expiration"}));
    let (_, _, body) = call(s.get("/strict").bearer_auth(b64(json!({"iss": "ivy-b64"})))).await;
    assert_eq!(body, json!({"exp": "must be a number"}));
}

fn hmac_sha256(secret: &str, data: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn hmac_auth_checks_signature_clock_skew_and_body_digest() {
    let s = Setup::start().await;
    s.service_with_routes("echo", &[("signed", "/signed"), ("digest", "/digest")]).await;
    s.node.create("/routes/signed/plugins", json!({"name": "hmac-auth", "config": {"hide_credentials": true}})).await;
    s.node
        .create(
            "/routes/digest/plugins",
            json!({"name": "hmac-auth", "config": {"validate_request_body": true, "enforce_headers": ["date"]}}),
        )
        .await;
    let jay = s.node.create("/consumers", json!({"username": "jay"})).await;
    s.node.create("/consumers/jay/hmac-auth", json!({"username": "jay-hmac", "secret": "jay-secret"})).await;

    let date = httpdate::fmt_http_date(SystemTime::now());
    let signature = hmac_sha256("jay-secret", &format!("date: {date}\nGET /signed HTTP/1.1"));
    let authorization = format!(
        "hmac username=\"jay-hmac\", algorithm=\"hmac-sha256\", headers=\"date request-line\", signature=\"{signature}\""
    );
    let (status, _, echoed) =
        call(s.get("/signed").header("date", &date).header("authorization", &authorization)).await;
    assert_eq!(status, 200, "{echoed}");
    assert_eq!(echoed["headers"]["x-consumer-id"], jay["id"]);
    assert_eq!(echoed["headers"]["x-credential-identifier"], "jay-hmac");
    assert!(echoed["headers"].get("authorization").is_none(), "hide_credentials");

    let (status, headers, body) = call(s.get("/signed")).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("Unauthorized")));
    assert_eq!(headers["www-authenticate"], "hmac");
    let stale = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(3600));
    let (_, _, body) = call(s.get("/signed").header("date", stale).header("authorization", &authorization)).await;
    assert_eq!(
        body["message"],
        "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"
    );
    let wrong = authorization.replace(&signature, &hmac_sha256("other", "x"));
    let (_, _, body) = call(s.get("/signed").header("date", &date).header("authorization", wrong)).await;
    assert_eq!(body["message"], "HMAC signature does not match");

    // The body digest is checked against the body actually sent.
    let body_text = r#"{"a":1}"#;
    let digest = format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(<sha2::Sha256 as sha2::Digest>::digest(body_text))
    );
    let signature = hmac_sha256("jay-secret", &format!("date: {date}\ndigest: {digest}"));
    let authorization = format!(
        "hmac username=\"jay-hmac\", algorithm=\"hmac-sha256\", headers=\"date digest\", signature=\"{signature}\""
    );
    let post = |body: &'static str| {
        s.client
            .post(format!("{}/digest", s.node.proxy_url()))
            .header("date", &date)
            .header("digest", &digest)
            .header("authorization", &authorization)
            .body(body)
    };
    let (status, _, echoed) = call(post(r#"{"a":1}"#)).await;
    assert_eq!(status, 200);
    assert_eq!(echoed["body"], body_text);
    let (status, _, body) = call(post(r#"{"a":2}"#)).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("HMAC signature does not match")));
}
