//! `rate-limiting` (`kong/plugins/rate-limiting/handler.lua`): the configured limits with their window
//! lengths (`expiration.lua`), the policy and what requests are counted by.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

impl Period {
    pub const ALL: [Period; 6] =
        [Period::Second, Period::Minute, Period::Hour, Period::Day, Period::Month, Period::Year];

    pub fn name(self) -> &'static str {
        ["second", "minute", "hour", "day", "month", "year"][self as usize]
    }

    /// The window length Kong's `EXPIRATION` table gives (a month is 30 days, a year 365).
    pub fn seconds(self) -> u64 {
        [1, 60, 3600, 86_400, 2_592_000, 31_536_000][self as usize]
    }

    /// `X-RateLimit-Limit-<Period>`.
    pub fn limit_header(self) -> &'static str {
        [
            "X-RateLimit-Limit-Second",
            "X-RateLimit-Limit-Minute",
            "X-RateLimit-Limit-Hour",
            "X-RateLimit-Limit-Day",
            "X-RateLimit-Limit-Month",
            "X-RateLimit-Limit-Year",
        ][self as usize]
    }

    /// `X-RateLimit-Remaining-<Period>`.
    pub fn remaining_header(self) -> &'static str {
        [
            "X-RateLimit-Remaining-Second",
            "X-RateLimit-Remaining-Minute",
            "X-RateLimit-Remaining-Hour",
            "X-RateLimit-Remaining-Day",
            "X-RateLimit-Remaining-Month",
            "X-RateLimit-Remaining-Year",
        ][self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub period: Period,
    pub limit: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Local,
    Cluster,
    Redis,
}

/// What requests are counted by (`get_identifier`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitBy {
    Consumer,
    Credential,
    Ip,
    Service,
    /// The value of this request header.
    Header(String),
    /// Requests to exactly this path.
    Path(String),
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Redis {
    pub host: Option<String>,
    /// Required (with `host` and `timeout`) by the `redis` policy, nullable otherwise.
    pub port: Option<u16>,
    /// Milliseconds.
    pub timeout: Option<u64>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub database: Option<i64>,
    pub ssl: Option<bool>,
    pub ssl_verify: Option<bool>,
    pub server_name: Option<String>,
}

#[derive(Debug)]
pub struct Config {
    /// The configured limits, shortest period first.
    pub limits: Vec<Limit>,
    pub limit_by: LimitBy,
    pub policy: Policy,
    pub fault_tolerant: bool,
    pub redis: Redis,
    pub hide_client_headers: bool,
    pub error_code: u16,
    pub error_message: String,
    /// Seconds between syncs with Redis; `None` for the synchronous `-1`.
    pub sync_rate: Option<f64>,
}

#[derive(Deserialize)]
struct Raw {
    second: Option<f64>,
    minute: Option<f64>,
    hour: Option<f64>,
    day: Option<f64>,
    month: Option<f64>,
    year: Option<f64>,
    limit_by: Option<String>,
    header_name: Option<String>,
    path: Option<String>,
    policy: Option<String>,
    fault_tolerant: bool,
    redis: Redis,
    hide_client_headers: bool,
    error_code: Option<f64>,
    error_message: Option<String>,
    sync_rate: f64,
}

pub fn compile(config: &Value) -> Result<Config, String> {
    let raw = Raw::deserialize(config).map_err(|e| format!("invalid rate-limiting config: {e}"))?;
    let values = [raw.second, raw.minute, raw.hour, raw.day, raw.month, raw.year];
    let limits: Vec<Limit> =
        Period::ALL.iter().zip(values).filter_map(|(p, v)| v.map(|limit| Limit { period: *p, limit })).collect();
    if limits.is_empty() {
        return Err("no limit configured".into());
    }
    let required = |v: Option<String>, what: &str| v.ok_or_else(|| format!("limit_by {what} needs {what}_name"));
    let limit_by = match raw.limit_by.as_deref().unwrap_or("consumer") {
        "consumer" => LimitBy::Consumer,
        "credential" => LimitBy::Credential,
        "ip" => LimitBy::Ip,
        "service" => LimitBy::Service,
        "header" => LimitBy::Header(required(raw.header_name, "header")?),
        "path" => LimitBy::Path(raw.path.ok_or("limit_by path needs a path")?),
        other => return Err(format!("unknown limit_by: {other}")),
    };
    let policy = match raw.policy.as_deref().unwrap_or("local") {
        "local" => Policy::Local,
        "cluster" => Policy::Cluster,
        "redis" => Policy::Redis,
        other => return Err(format!("unknown policy: {other}")),
    };
    if policy == Policy::Redis && (raw.redis.host.is_none() || raw.redis.port.is_none() || raw.redis.timeout.is_none())
    {
        return Err("the redis policy needs redis.host, redis.port and redis.timeout".into());
    }
    let code = raw.error_code.unwrap_or(429.0);
    if code.fract() != 0.0 || !(100.0..=999.0).contains(&code) {
        return Err(format!("invalid error_code: {code}"));
    }
    Ok(Config {
        limits,
        limit_by,
        policy,
        fault_tolerant: raw.fault_tolerant,
        redis: raw.redis,
        hide_client_headers: raw.hide_client_headers,
        error_code: code as u16,
        error_message: raw.error_message.unwrap_or_else(|| "API rate limit exceeded".into()),
        sync_rate: (raw.sync_rate != -1.0).then_some(raw.sync_rate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::validated;
    use serde_json::json;

    fn compiled(config: Value) -> Result<Config, String> {
        compile(&validated("rate-limiting", config))
    }

    /// A config the schema rejects: `config` valid, then `field` set to `value`.
    fn invalid(config: Value, field: &str, value: Value) -> Result<Config, String> {
        let mut c = validated("rate-limiting", config);
        c[field] = value;
        compile(&c)
    }

    #[test]
    fn limits_in_period_order() {
        let c = compiled(json!({"hour": 100, "second": 5, "year": 1e6})).unwrap();
        let got: Vec<(&str, u64, f64)> =
            c.limits.iter().map(|l| (l.period.name(), l.period.seconds(), l.limit)).collect();
        assert_eq!(got, vec![("second", 1, 5.0), ("hour", 3600, 100.0), ("year", 31_536_000, 1e6)]);
        assert_eq!(c.limits[1].period.limit_header(), "X-RateLimit-Limit-Hour");
        assert_eq!(c.limits[1].period.remaining_header(), "X-RateLimit-Remaining-Hour");
        assert_eq!(
            (c.policy, c.limit_by.clone(), c.error_code, c.sync_rate),
            (Policy::Local, LimitBy::Consumer, 429, None)
        );
        assert_eq!(c.error_message, "API rate limit exceeded");
        assert!(c.fault_tolerant && !c.hide_client_headers);
        assert_eq!(Period::Month.seconds(), 2_592_000);
        assert!(invalid(json!({"minute": 1}), "minute", Value::Null).is_err());
    }

    #[test]
    fn limit_by_and_policy() {
        let c = compiled(json!({"minute": 1, "limit_by": "header", "header_name": "X-App"})).unwrap();
        assert_eq!(c.limit_by, LimitBy::Header("X-App".into()));
        let c = compiled(json!({"minute": 1, "limit_by": "path", "path": "/p"})).unwrap();
        assert_eq!(c.limit_by, LimitBy::Path("/p".into()));
        assert!(invalid(json!({"minute": 1}), "limit_by", json!("header")).is_err());
        let redis = json!({"host": "r.test", "port": 6380, "timeout": 100, "password": "pw", "database": 2,
                           "ssl": true, "server_name": "sni.test"});
        let c = compiled(json!({"minute": 1, "policy": "redis", "redis": redis, "sync_rate": 0.5})).unwrap();
        assert_eq!((c.policy, c.sync_rate), (Policy::Redis, Some(0.5)));
        assert_eq!((c.redis.host.as_deref(), c.redis.port, c.redis.database), (Some("r.test"), Some(6380), Some(2)));
        assert!(invalid(json!({"minute": 1}), "policy", json!("redis")).is_err());
        let c = compiled(json!({"minute": 1, "policy": "cluster", "limit_by": "ip"})).unwrap();
        assert_eq!((c.policy, c.limit_by), (Policy::Cluster, LimitBy::Ip));
        assert!(compiled(json!({"minute": 1, "error_code": 42.5})).is_err());
        assert_eq!(compiled(json!({"minute": 1, "error_code": 503})).unwrap().error_code, 503);
    }
}
