//! `request-size-limiting`: the allowed payload as a byte limit (`kong/plugins/request-size-limiting/handler.lua`).

use serde::Deserialize;
use serde_json::Value;

/// The handler's `size_units` and their `unit_multiplication_factor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SizeUnit {
    Megabytes,
    Kilobytes,
    Bytes,
}

impl SizeUnit {
    pub fn factor(self) -> i64 {
        match self {
            SizeUnit::Megabytes => 1_048_576,
            SizeUnit::Kilobytes => 1024,
            SizeUnit::Bytes => 1,
        }
    }
}

#[derive(Debug)]
pub struct Config {
    /// `allowed_payload_size * factor(size_unit)`. `None` when `allowed_payload_size` is null: Kong's
    /// arithmetic on nil raises, so every request that reaches the size check fails with a 500.
    pub limit_bytes: Option<i64>,
    pub size_unit: SizeUnit,
    /// Without a numeric `Content-Length` (and not chunked), answer 411.
    pub require_content_length: bool,
}

impl Config {
    /// Kong's `length > allowed_bytes_size`; `None` when there is no limit to compare with (see `limit_bytes`).
    pub fn exceeds(&self, length: u64) -> Option<bool> {
        self.limit_bytes.map(|limit| i128::from(length) > i128::from(limit))
    }
}

#[derive(Deserialize)]
struct Raw {
    allowed_payload_size: Option<f64>,
    size_unit: SizeUnit,
    require_content_length: bool,
}

pub fn compile(config: &Value) -> Result<Config, String> {
    let raw = Raw::deserialize(config).map_err(|e| format!("invalid request-size-limiting config: {e}"))?;
    let limit_bytes = match raw.allowed_payload_size {
        None => None,
        Some(n) if n.fract() == 0.0 && n.is_finite() => Some((n as i64).saturating_mul(raw.size_unit.factor())),
        Some(n) => return Err(format!("allowed_payload_size: expected an integer, got {n}")),
    };
    Ok(Config { limit_bytes, size_unit: raw.size_unit, require_content_length: raw.require_content_length })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::validated;
    use serde_json::json;

    fn limit(size: Value, unit: &str) -> Option<i64> {
        compile(&validated("request-size-limiting", json!({"allowed_payload_size": size, "size_unit": unit})))
            .unwrap()
            .limit_bytes
    }

    #[test]
    fn converts_units() {
        assert_eq!(limit(json!(128), "megabytes"), Some(134_217_728));
        assert_eq!(limit(json!(10), "kilobytes"), Some(10_240));
        assert_eq!(limit(json!(10), "bytes"), Some(10));
        assert_eq!(limit(json!(2.0), "kilobytes"), Some(2048));
        assert_eq!(limit(json!(null), "bytes"), None);
        assert_eq!(limit(json!(i64::MAX), "megabytes"), Some(i64::MAX));
    }

    #[test]
    fn compares_like_kong() {
        let c = compile(&validated(
            "request-size-limiting",
            json!({"allowed_payload_size": 10, "size_unit": "bytes", "require_content_length": true}),
        ))
        .unwrap();
        assert!(c.require_content_length);
        assert_eq!(c.size_unit, SizeUnit::Bytes);
        assert_eq!(c.exceeds(10), Some(false));
        assert_eq!(c.exceeds(11), Some(true));
        let zero = compile(&validated("request-size-limiting", json!({"allowed_payload_size": 0}))).unwrap();
        assert_eq!((zero.size_unit, zero.require_content_length), (SizeUnit::Megabytes, false));
        assert_eq!(zero.exceeds(0), Some(false));
        assert_eq!(zero.exceeds(1), Some(true));
    }

    #[test]
    fn rejects_malformed() {
        // Configs the schema rejects.
        let mut bad = validated("request-size-limiting", json!({}));
        bad["size_unit"] = json!("gigabytes");
        assert!(compile(&bad).is_err());
        bad["size_unit"] = json!("bytes");
        bad["allowed_payload_size"] = json!(1.5);
        assert!(compile(&bad).is_err());
        bad["allowed_payload_size"] = json!(1);
        bad.as_object_mut().unwrap().remove("require_content_length");
        assert!(compile(&bad).is_err());
    }
}
