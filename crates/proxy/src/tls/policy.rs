//! What kong.conf's `ssl_cipher_suite`, `ssl_protocols`, `ssl_ciphers` and `ssl_prefer_server_ciphers` allow
//! on TLS listeners. As in Kong (`kong/conf_loader/parse.lua`), a named suite decides the protocols and
//! ciphers and the other three apply only with `ssl_cipher_suite = custom`: `modern` is TLS 1.3 alone,
//! `intermediate` (the default) TLS 1.2 and 1.3 with ECDHE and AEAD ciphers, `fips` TLS 1.2 with AES-GCM.
//! rustls has no TLS 1.0/1.1, no DHE and no CBC ciphers, so `old` (and custom lists naming them) get what
//! is left of them, with a warning.

use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, SupportedCipherSuite, SupportedProtocolVersion};

/// The TLS 1.2 suites rustls offers, by their OpenSSL names (the ones `ssl_ciphers` uses).
const OPENSSL_NAMES: [(&str, CipherSuite); 6] = [
    ("ECDHE-ECDSA-AES128-GCM-SHA256", CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ("ECDHE-RSA-AES128-GCM-SHA256", CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ("ECDHE-RSA-AES256-GCM-SHA384", CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ("ECDHE-RSA-CHACHA20-POLY1305", CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
];

/// Kong's `intermediate` list (its DHE entries have no rustls counterpart).
const INTERMEDIATE: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
/// The FIPS-approved ones of them (AES-GCM), for Kong's `fips` suite (`TLSv1.2+FIPS:kRSA+FIPS`).
const FIPS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
ECDHE-RSA-AES256-GCM-SHA384";

/// The protocols and TLS 1.2 ciphers TLS listeners accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPolicy {
    pub tls12: bool,
    pub tls13: bool,
    /// TLS 1.2 suites allowed (TLS 1.3's are all allowed, as `ssl_ciphers` leaves them to OpenSSL's
    /// defaults in nginx).
    pub tls12_suites: Vec<CipherSuite>,
    /// `ssl_prefer_server_ciphers`: the server's order of suites wins over the client's.
    pub prefer_server_ciphers: bool,
    /// `ssl_session_tickets`: resumption by tickets (keys rotate every 6 hours, tickets live 12: rustls's
    /// fixed figures, which `ssl_session_timeout` cannot change).
    pub session_tickets: bool,
    /// Sessions the listener's cache keeps for resumption by id (`ssl_session_cache_size`, about 4,000 a
    /// megabyte as nginx counts); 0 keeps none.
    pub session_cache: usize,
}

impl Default for TlsPolicy {
    /// Kong's default, `ssl_cipher_suite = intermediate`.
    fn default() -> Self {
        let suites = OPENSSL_NAMES.iter().map(|&(_, suite)| suite).collect();
        TlsPolicy {
            tls12: true,
            tls13: true,
            tls12_suites: suites,
            prefer_server_ciphers: false,
            session_tickets: true,
            session_cache: 40_000,
        }
    }
}

impl TlsPolicy {
    /// The policy of kong.conf's settings, and warnings for what rustls cannot offer. Errors name the
    /// setting at fault.
    pub fn from_settings(
        suite: &str,
        protocols: &str,
        ciphers: Option<&str>,
        prefer_server_ciphers: bool,
    ) -> Result<(TlsPolicy, Vec<String>), String> {
        let (protocols, ciphers, prefer) = match suite {
            "modern" => ("TLSv1.3", None, false),
            "intermediate" => ("TLSv1.2 TLSv1.3", Some(INTERMEDIATE), false),
            "old" => ("TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", Some(INTERMEDIATE), true),
            "fips" => ("TLSv1.2", Some(FIPS), true),
            "custom" => (protocols, ciphers, prefer_server_ciphers),
            other => return Err(format!("Undefined cipher suite {other}")),
        };
        let mut warnings = Vec::new();
        let (mut tls12, mut tls13) = (false, false);
        for word in protocols.split_whitespace() {
            match word {
                "TLSv1.2" => tls12 = true,
                "TLSv1.3" => tls13 = true,
                "TLSv1" | "TLSv1.1" => warnings.push(format!("ssl_protocols: {word} is not supported; skipped")),
                other => return Err(format!("ssl_protocols: invalid protocol '{other}'")),
            }
        }
        let tls12_suites = match ciphers {
            None => OPENSSL_NAMES.iter().map(|&(_, suite)| suite).collect(),
            Some(list) => {
                let mut suites = Vec::new();
                for name in list.split([':', ',', ' ']).filter(|n| !n.is_empty()) {
                    match OPENSSL_NAMES.iter().find(|(known, _)| known.eq_ignore_ascii_case(name)) {
                        Some(&(_, suite)) if !suites.contains(&suite) => suites.push(suite),
                        Some(_) => {}
                        None if suite == "custom" => {
                            warnings.push(format!("ssl_ciphers: {name} is not supported; skipped"));
                        }
                        None => {}
                    }
                }
                suites
            }
        };
        if tls12 && tls12_suites.is_empty() {
            warnings.push("ssl_ciphers: no supported TLS 1.2 cipher; TLS 1.2 is off".to_owned());
            tls12 = false;
        }
        if !tls12 && !tls13 {
            return Err("ssl_protocols: no supported protocol (TLSv1.2, TLSv1.3) is enabled".to_owned());
        }
        if suite == "old" {
            warnings.push("ssl_cipher_suite old: TLSv1, TLSv1.1 and CBC ciphers are not supported".to_owned());
        }
        let defaults = TlsPolicy::default();
        let policy = TlsPolicy { tls12, tls13, tls12_suites, prefer_server_ciphers: prefer, ..defaults };
        Ok((policy, warnings))
    }

    /// The protocol versions for rustls's builder.
    pub(crate) fn versions(&self) -> Vec<&'static SupportedProtocolVersion> {
        let mut versions = Vec::new();
        if self.tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if self.tls12 {
            versions.push(&rustls::version::TLS12);
        }
        versions
    }

    /// `provider` keeping only the allowed TLS 1.2 suites, in the policy's order (the server's
    /// preference when `prefer_server_ciphers`); TLS 1.3 suites first, as rustls lists them.
    pub(crate) fn provider(&self, provider: &CryptoProvider) -> CryptoProvider {
        let is_tls13 = |s: &SupportedCipherSuite| matches!(s, SupportedCipherSuite::Tls13(_));
        let mut cipher_suites: Vec<SupportedCipherSuite> =
            provider.cipher_suites.iter().copied().filter(is_tls13).collect();
        for wanted in &self.tls12_suites {
            cipher_suites
                .extend(provider.cipher_suites.iter().copied().filter(|s| !is_tls13(s) && s.suite() == *wanted));
        }
        CryptoProvider { cipher_suites, ..provider.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_suites_decide_protocols_as_in_kong() {
        let policy = |suite, protocols, ciphers| TlsPolicy::from_settings(suite, protocols, ciphers, true);
        let (modern, _) = policy("modern", "TLSv1.2", None).expect("modern");
        assert!((modern.tls13, modern.tls12) == (true, false), "ssl_protocols is ignored unless custom");
        let (intermediate, warnings) = policy("intermediate", "", None).expect("intermediate");
        assert!(intermediate.tls12 && intermediate.tls13 && warnings.is_empty());
        assert_eq!(intermediate.tls12_suites.len(), 6);
        assert_eq!(intermediate, TlsPolicy::default());
        let (fips, _) = policy("fips", "", None).expect("fips");
        assert!(fips.tls12 && !fips.tls13 && fips.tls12_suites.len() == 4);
        let (old, warnings) = policy("old", "", None).expect("old");
        assert!(old.tls12 && old.tls13 && !warnings.is_empty());
        assert_eq!(policy("strong", "", None).map(|_| ()), Err("Undefined cipher suite strong".into()));
    }

    #[test]
    fn custom_reads_protocols_and_openssl_cipher_names() {
        let custom = |protocols, ciphers| TlsPolicy::from_settings("custom", protocols, ciphers, true);
        let (policy, warnings) =
            custom("TLSv1.2", Some("ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256")).expect("custom");
        assert!(policy.tls12 && !policy.tls13 && policy.prefer_server_ciphers);
        assert_eq!(policy.tls12_suites, vec![CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]);
        assert_eq!(warnings, vec!["ssl_ciphers: DHE-RSA-AES128-GCM-SHA256 is not supported; skipped".to_owned()]);
        let (policy, _) = custom("TLSv1.2 TLSv1.3", Some("AES128-SHA")).expect("TLS 1.3 still on");
        assert!(!policy.tls12 && policy.tls13);
        assert!(custom("TLSv1.2", Some("AES128-SHA")).is_err());
        assert_eq!(custom("SSLv3", None).map(|_| ()), Err("ssl_protocols: invalid protocol 'SSLv3'".into()));
        let provider = rustls::crypto::ring::default_provider();
        let (policy, _) = custom("TLSv1.2 TLSv1.3", Some("ECDHE-RSA-CHACHA20-POLY1305")).expect("custom");
        let suites: Vec<CipherSuite> = policy.provider(&provider).cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(suites.last(), Some(&CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256));
        assert_eq!(suites.len(), 4, "three TLS 1.3 suites and the one TLS 1.2 suite: {suites:?}");
    }
}
