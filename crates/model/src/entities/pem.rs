//! PEM certificate and key handling for the `certificate`/`key` typedefs and the certificate entities:
//! parsing (Kong uses `resty.openssl`; the OpenSSL error text cannot be reproduced, so details differ),
//! key/certificate matching and key-type comparison.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Whether a referenceable field holds a vault reference (`{vault://...}`), which skips validation.
pub fn is_vault_reference(s: &str) -> bool {
    s.starts_with("{vault://") && s.ends_with('}')
}

/// The DER of the first certificate in a PEM string, checked to be a parseable X.509 certificate.
pub fn parse_certificate(pem: &str) -> Result<CertificateDer<'static>, String> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("x509.new: {e}"))?;
    x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| format!("x509.new: {e}"))?;
    Ok(der)
}

/// A private key (PKCS#1, PKCS#8 or SEC1 PEM). Keys the ring provider cannot sign with but OpenSSL loads
/// (RSA below 2048 bits, which Kong accepts) are accepted too; the TLS listener skips them with a warning.
pub fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("pkey.new: {e}"))?;
    if let Err(error) = rustls::crypto::ring::sign::any_supported_type(&der) {
        x509_parser::der_parser::parse_der(der.secret_der()).map_err(|_| format!("pkey.new: {error}"))?;
    }
    Ok(der)
}

/// Whether the certificate's public key belongs to the private key. Unparseable input counts as a match
/// (the field validators report it).
pub fn cert_matches_key(cert_pem: &str, key_pem: &str) -> bool {
    let (Ok(cert), Ok(key)) = (parse_certificate(cert_pem), parse_key(key_pem)) else {
        return true;
    };
    let Ok(signing_key) = rustls::crypto::ring::sign::any_supported_type(&key) else {
        return true;
    };
    rustls::sign::CertifiedKey::new(vec![cert], signing_key).keys_match().is_ok()
}

/// The public key algorithm OID of a certificate (RSA, EC, Ed25519, ...), as a dotted string.
pub fn cert_key_type(cert_pem: &str) -> Option<String> {
    let der = parse_certificate(cert_pem).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(cert.public_key().algorithm.algorithm.to_id_string())
}

/// Lower-case hex SHA-256 of the first certificate's DER (`ca_certificates.cert_digest`).
pub fn cert_digest(cert_pem: &str) -> Option<String> {
    use sha2::Digest;
    let der = parse_certificate(cert_pem).ok()?;
    Some(hex::encode(sha2::Sha256::digest(der.as_ref())))
}

/// Kong's three CA certificate checks, in order, returning the first failure.
pub fn check_ca_certificate(cert_pem: &str, now_unix: i64) -> Result<(), String> {
    if cert_pem.matches("-----BEGIN CERTIFICATE-----").count() > 1 {
        return Err("please submit only one certificate at a time".to_string());
    }
    let Ok(der) = parse_certificate(cert_pem) else {
        return Ok(());
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return Ok(());
    };
    if cert.validity().not_after.timestamp() < now_unix {
        return Err("certificate expired, \"Not After\" time is in the past".to_string());
    }
    let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    if !is_ca {
        return Err(
            "certificate does not appear to be a CA because it is missing the \"CA\" basic constraint".to_string()
        );
    }
    Ok(())
}

/// Whether `pem` holds a public key OpenSSL would load (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`), as
/// the jwt plugin requires of `rsa_public_key`.
pub fn is_public_key(pem: &str) -> bool {
    let Ok((_, block)) = x509_parser::pem::parse_x509_pem(pem.trim().as_bytes()) else { return false };
    match block.label.as_str() {
        "PUBLIC KEY" => {
            use x509_parser::prelude::FromDer;
            x509_parser::x509::SubjectPublicKeyInfo::from_der(&block.contents).is_ok()
        }
        "RSA PUBLIC KEY" => x509_parser::der_parser::parse_der(&block.contents).is_ok(),
        _ => false,
    }
}
