//! `correlation-id`: the header to read and set, and how a missing id is generated
//! (`kong/plugins/correlation-id/handler.lua`).

use http::HeaderName;
use serde::Deserialize;
use serde_json::Value;

/// Kong's `generators`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Generator {
    /// A random UUID per request.
    #[serde(rename = "uuid")]
    Uuid,
    /// A per-worker UUID followed by `#` and a per-worker counter.
    #[serde(rename = "uuid#counter")]
    UuidCounter,
    /// `server_addr-server_port-pid-connection-connection_requests-time`.
    #[serde(rename = "tracker")]
    Tracker,
}

#[derive(Debug)]
pub struct Config {
    /// The header as configured (the case Kong sends it with); `None` when set to null, which makes Kong's
    /// `kong.request.get_header(nil)` raise, so every request fails with a 500.
    pub header_name: Option<String>,
    /// `header_name` parsed once for lookups.
    pub header: Option<HeaderName>,
    pub generator: Generator,
    pub echo_downstream: bool,
}

#[derive(Deserialize)]
struct Raw {
    header_name: Option<String>,
    generator: Generator,
    echo_downstream: bool,
}

pub fn compile(config: &Value) -> Result<Config, String> {
    let raw = Raw::deserialize(config).map_err(|e| format!("invalid correlation-id config: {e}"))?;
    let header = match &raw.header_name {
        Some(name) => {
            Some(HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name '{name}'"))?)
        }
        None => None,
    };
    Ok(Config { header_name: raw.header_name, header, generator: raw.generator, echo_downstream: raw.echo_downstream })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::validated;
    use serde_json::json;

    #[test]
    fn compiles_defaults() {
        let c = compile(&validated("correlation-id", json!({}))).unwrap();
        assert_eq!(c.header_name.as_deref(), Some("Kong-Request-ID"));
        assert_eq!(c.header.unwrap().as_str(), "kong-request-id");
        assert_eq!(c.generator, Generator::UuidCounter);
        assert!(!c.echo_downstream);
    }

    #[test]
    fn generators_and_null_header() {
        for (name, g) in [("uuid", Generator::Uuid), ("tracker", Generator::Tracker)] {
            let c = compile(&validated(
                "correlation-id",
                json!({"header_name": null, "generator": name, "echo_downstream": true}),
            ))
            .unwrap();
            assert_eq!(c.generator, g);
            assert!(c.header.is_none() && c.echo_downstream);
        }
    }

    #[test]
    fn rejects_what_cannot_be_used() {
        assert!(compile(&validated("correlation-id", json!({"header_name": "a b"}))).is_err());
        // Configs the schema rejects.
        let mut bad = validated("correlation-id", json!({}));
        bad["generator"] = json!("nope");
        assert!(compile(&bad).is_err());
        bad.as_object_mut().unwrap().remove("echo_downstream");
        bad["generator"] = json!("uuid");
        assert!(compile(&bad).is_err());
    }
}
