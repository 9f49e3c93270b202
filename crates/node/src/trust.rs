//! `lua_ssl_trusted_certificate`: the CA certificates the node's own TLS clients trust (active `https`
//! health checks), loaded once at start as Kong does, from any mix of `system`, file paths, PEM text and
//! base64-encoded PEM.

use anyhow::{bail, Context};
use base64::Engine;
use rustls::pki_types::CertificateDer;

/// Kong's error prefix, so a broken setting reads the same as in Kong's logs.
const SETTING: &str = "lua_ssl_trusted_certificate";

/// Every certificate the entries name. `system` loads the operating system's bundle (a missing bundle is
/// logged, not fatal, like Kong); any other entry that cannot be read or holds no certificate is an error.
pub fn load(entries: &[String]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let mut trusted = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        if entry == "system" {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                tracing::info!("{SETTING}: unable to locate system bundle ({} errors)", found.errors.len());
            }
            trusted.extend(found.certs);
            continue;
        }
        let pem = if entry.starts_with("-----BEGIN") {
            entry.to_string()
        } else if std::path::Path::new(entry).is_absolute() {
            std::fs::read_to_string(entry)
                .with_context(|| format!("{SETTING}: failed loading certificate from {entry}"))?
        } else {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(entry)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            match decoded {
                Some(pem) => pem,
                None => bail!("{SETTING}: path not found or not a certificate: {entry}"),
            }
        };
        let certificates = gatehouse_proxy::tls::parse_certificates(&pem)
            .with_context(|| format!("{SETTING}: failed loading certificate from {}", shorten(entry)))?;
        trusted.extend(certificates);
    }
    Ok(trusted)
}

/// An entry as it can appear in an error: paths whole, inline certificates cut short.
fn shorten(entry: &str) -> &str {
    entry.get(..48).unwrap_or(entry)
}

#[cfg(test)]
mod tests {
    use super::load;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBfTCCASOgAwIBAgIUPfzL\n-----END CERTIFICATE-----\n";

    #[test]
    fn entries_that_name_nothing_are_errors() {
        let missing = load(&["/nonexistent/ca.pem".into()]).unwrap_err();
        assert!(missing.to_string().contains("failed loading certificate from /nonexistent/ca.pem"));
        assert!(load(&["not-a-certificate".into()]).is_err());
        assert!(load(&[PEM.replace("MIIB", "!!")]).is_err());
        assert!(load(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_certificate_loads_from_a_path_its_text_or_base64() {
        use base64::Engine;
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = rcgen::CertificateParams::new(vec!["ca.test".into()]).unwrap().self_signed(&key).unwrap().pem();
        let path = std::env::temp_dir().join(format!("gatehouse-trust-{}.pem", std::process::id()));
        std::fs::write(&path, &pem).unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&pem);
        let loaded = load(&[path.display().to_string(), pem.clone(), encoded]).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(loaded.len(), 3);
        assert!(loaded.iter().all(|c| c == &loaded[0]));
    }
}
