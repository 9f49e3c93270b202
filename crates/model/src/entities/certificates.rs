//! Certificates, CA certificates and SNIs (`certificates.lua`, `ca_certificates.lua`, `snis.lua`).
//! Certificate parsing and key matching use rustls (ring provider) instead of OpenSSL, so the details of
//! `invalid certificate: ...` / `invalid key: ...` differ from Kong's, and keys ring cannot load (RSA
//! below 2048 bits, P-521) are rejected as invalid.

use super::pem;
use crate::schema::{EntityCheck, Field, Kind, OnDelete, Schema};
use crate::{typedefs, FieldErrors};
use serde_json::{Map, Value};

pub fn certificates() -> Schema {
    let mut fields = typedefs::common_fields();
    fields.extend([
        typedefs::certificate("cert").required(),
        typedefs::key("key").required(),
        typedefs::certificate("cert_alt"),
        typedefs::key("key_alt"),
        typedefs::tags(),
        Field::array(
            "snis",
            Field::element(Kind::String)
                .required()
                .check(crate::schema::Check::Custom(typedefs::validate_wildcard_host)),
        )
        .annotate("transient", Value::Bool(true)),
    ]);
    Schema {
        name: "certificates",
        admin_api_name: None,
        endpoint_key: None,
        cache_key: &[],
        fields,
        entity_checks: vec![EntityCheck::MutuallyRequired(&["cert_alt", "key_alt"]), EntityCheck::Custom(key_checks)],
        shorthand: None,
        transform: None,
        indexed: &[],
        ttl: false,
    }
}

fn pem_field<'a>(entity: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    entity.get(key).and_then(Value::as_str).filter(|s| !pem::is_vault_reference(s))
}

/// The three custom checks: cert/key match, alternative cert/key match, different key types.
fn key_checks(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    if let (Some(cert), Some(key)) = (pem_field(entity, "cert"), pem_field(entity, "key")) {
        if !pem::cert_matches_key(cert, key) {
            errors.entity("certificate does not match key");
        }
    }
    if let (Some(cert), Some(key)) = (pem_field(entity, "cert_alt"), pem_field(entity, "key_alt")) {
        if !pem::cert_matches_key(cert, key) {
            errors.entity("alternative certificate does not match key");
        }
    }
    if let (Some(cert), Some(alt)) = (pem_field(entity, "cert"), pem_field(entity, "cert_alt")) {
        let (a, b) = (pem::cert_key_type(cert), pem::cert_key_type(alt));
        if a.is_some() && a == b {
            errors.entity(
                "certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), \
                 the provided certificates were both of the same type",
            );
        }
    }
}

pub fn ca_certificates() -> Schema {
    let mut fields = typedefs::common_fields();
    fields.extend([typedefs::certificate("cert").required(), Field::string("cert_digest").unique(), typedefs::tags()]);
    Schema {
        name: "ca_certificates",
        admin_api_name: None,
        endpoint_key: None,
        cache_key: &[],
        fields,
        entity_checks: vec![EntityCheck::Custom(ca_checks)],
        shorthand: None,
        transform: Some(ca_digest),
        indexed: &[],
        ttl: false,
    }
}

fn ca_checks(entity: &Map<String, Value>, errors: &mut FieldErrors) {
    let Some(cert) = pem_field(entity, "cert") else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    if let Err(e) = pem::check_ca_certificate(cert, now) {
        errors.entity(e);
    }
}

/// `cert_digest` = lower-case hex SHA-256 of the certificate's DER. An unparseable certificate is left to
/// validation (`invalid certificate: ...`), which Kong runs before this transformation.
fn ca_digest(entity: &mut Map<String, Value>) -> Result<(), FieldErrors> {
    if let Some(digest) = pem_field(entity, "cert").and_then(pem::cert_digest) {
        entity.insert("cert_digest".into(), Value::String(digest));
    }
    Ok(())
}

pub fn snis() -> Schema {
    let fields = vec![
        typedefs::id(),
        typedefs::wildcard_host("name").required().unique(),
        typedefs::timestamp("created_at"),
        typedefs::timestamp("updated_at"),
        typedefs::tags(),
        Field::foreign("certificate", "certificates", OnDelete::Cascade).required(),
    ];
    Schema {
        name: "snis",
        admin_api_name: None,
        endpoint_key: Some("name"),
        cache_key: &[],
        fields,
        entity_checks: Vec::new(),
        shorthand: None,
        transform: None,
        indexed: &[],
        ttl: false,
    }
}

#[cfg(test)]
#[path = "certificates_tests.rs"]
mod tests;
