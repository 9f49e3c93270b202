//! A client of the Kong Admin API (as Gatehouse and Kong serve it): one or more node URLs of which the
//! first reachable is used (DB-mode nodes share the database, so writing through one is enough), the
//! `Kong-Admin-Token` header, optional TLS verification skip, paginated listing, and Gatehouse's
//! propagation wait (`/clustering/propagation/{seq}`).

use super::SyncError;
use reqwest::{Method, StatusCode, Url};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An error and its causes (reqwest's own message leaves out why, e.g. an untrusted certificate).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// The header Gatehouse answers writes with: the change-log sequence number of the write.
pub const SEQ_HEADER: &str = "x-gatehouse-change-seq";

/// Header carrying `--kong-admin-token`.
pub const TOKEN_HEADER: &str = "Kong-Admin-Token";

/// Most pages followed for one listing (a guard against a gateway that keeps answering with `next`).
const MAX_PAGES: usize = 100_000;

/// How to reach the gateway's Admin API.
#[derive(Debug, Clone)]
pub struct AdminClientConfig {
    /// `--kong-admin-url`: one or more node URLs; the first reachable one is used.
    pub urls: Vec<String>,
    /// `--kong-admin-token`, sent as `Kong-Admin-Token`.
    pub token: Option<String>,
    /// `--kong-admin-tls-skip-verify`.
    pub tls_skip_verify: bool,
    /// Timeout of each request.
    pub timeout: Duration,
}

impl AdminClientConfig {
    pub fn new(urls: impl IntoIterator<Item = impl Into<String>>) -> AdminClientConfig {
        AdminClientConfig {
            urls: urls.into_iter().map(Into::into).collect(),
            token: None,
            tls_skip_verify: false,
            timeout: Duration::from_secs(30),
        }
    }
}

/// An Admin API answer other than a 5xx.
#[derive(Debug, Clone)]
pub struct AdminReply {
    pub status: StatusCode,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
    /// The `X-Gatehouse-Change-Seq` header, on writes to Gatehouse.
    pub seq: Option<i64>,
}

impl AdminReply {
    /// Kong's error message (`{"message": ...}`), or the status text.
    pub fn message(&self) -> String {
        match self.body.get("message").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None if self.body.is_null() => self.status.to_string(),
            None => self.body.to_string(),
        }
    }
}

/// The Admin API client.
pub struct AdminClient {
    http: reqwest::Client,
    urls: Vec<Url>,
    active: AtomicUsize,
    schemas: Mutex<HashMap<String, Option<Arc<Value>>>>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient").field("urls", &self.urls).finish_non_exhaustive()
    }
}

impl AdminClient {
    pub fn new(config: AdminClientConfig) -> Result<AdminClient, SyncError> {
        let mut urls = Vec::new();
        for raw in &config.urls {
            let trimmed = raw.trim().trim_end_matches('/');
            let url = Url::parse(&format!("{trimmed}/"))
                .map_err(|e| SyncError::Config(format!("invalid Admin API URL '{raw}': {e}")))?;
            urls.push(url);
        }
        if urls.is_empty() {
            return Err(SyncError::Config("no Admin API URL given".into()));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &config.token {
            let value = reqwest::header::HeaderValue::from_str(token)
                .map_err(|_| SyncError::Config("the Admin API token is not a valid header value".into()))?;
            headers.insert(TOKEN_HEADER, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .danger_accept_invalid_certs(config.tls_skip_verify)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| SyncError::Config(format!("building the HTTP client: {e}")))?;
        Ok(AdminClient { http, urls, active: AtomicUsize::new(0), schemas: Mutex::new(HashMap::new()) })
    }

    /// A client of one node, with default settings.
    pub fn from_url(url: &str) -> Result<AdminClient, SyncError> {
        AdminClient::new(AdminClientConfig::new([url]))
    }

    /// The node URL requests currently go to.
    pub fn active_url(&self) -> String {
        let url = &self.urls[self.active.load(Ordering::Relaxed) % self.urls.len()];
        url.as_str().trim_end_matches('/').to_string()
    }

    fn url(&self, base: &Url, path: &str) -> Result<Url, SyncError> {
        base.join(path.trim_start_matches('/')).map_err(|e| SyncError::Config(format!("bad path '{path}': {e}")))
    }

    /// Sends a request to the first reachable node, whatever the answer's status.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<AdminReply, SyncError> {
        let start = self.active.load(Ordering::Relaxed);
        let mut last_error = String::new();
        for attempt in 0..self.urls.len() {
            let index = (start + attempt) % self.urls.len();
            let url = self.url(&self.urls[index], path)?;
            let mut request = self.http.request(method.clone(), url);
            if let Some(body) = body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) => {
                    if index != start {
                        self.active.store(index, Ordering::Relaxed);
                        tracing::info!(url = %self.urls[index], "switched to another Admin API URL");
                    }
                    let status = response.status();
                    let seq = response
                        .headers()
                        .get(SEQ_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse().ok());
                    let bytes = response.bytes().await.map_err(|e| {
                        SyncError::Unreachable(format!("{method} {path}: reading the answer failed: {e}"))
                    })?;
                    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    return Ok(AdminReply { status, body, seq });
                }
                // Only failures to connect move on to the next node: anything else may have been applied.
                Err(e) if e.is_connect() && attempt + 1 < self.urls.len() => {
                    last_error = format!("{}: {}", self.urls[index], with_causes(&e));
                }
                Err(e) => {
                    last_error = format!("{}: {}", self.urls[index], with_causes(&e));
                    break;
                }
            }
        }
        Err(SyncError::Unreachable(format!("{method} {path}: {last_error}")))
    }

    /// Sends a request; a 5xx answer is an error (the gateway or its database is in trouble).
    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Result<AdminReply, SyncError> {
        let reply = self.send(method.clone(), path, body).await?;
        if reply.status.is_server_error() {
            return Err(SyncError::Server {
                status: reply.status.as_u16(),
                request: format!("{method} {path}"),
                message: reply.message(),
            });
        }
        Ok(reply)
    }

    /// Lists a collection (`/services?tags=...`) following pagination. `Ok(None)`: the gateway has no
    /// such collection (404).
    pub async fn list(&self, path: &str) -> Result<Option<Vec<Map<String, Value>>>, SyncError> {
        let mut items = Vec::new();
        let mut next = path.to_string();
        for _ in 0..MAX_PAGES {
            let reply = self.request(Method::GET, &next, None).await?;
            if reply.status == StatusCode::NOT_FOUND && items.is_empty() {
                return Ok(None);
            }
            if !reply.status.is_success() {
                return Err(SyncError::Protocol(format!("GET {next}: {} {}", reply.status, reply.message())));
            }
            let Some(data) = reply.body.get("data").and_then(Value::as_array) else {
                return Err(SyncError::Protocol(format!("GET {next}: no 'data' list in the answer")));
            };
            items.extend(data.iter().filter_map(|v| v.as_object().cloned()));
            next = match (reply.body.get("offset").and_then(Value::as_str), reply.body.get("next")) {
                (Some(offset), _) => with_offset(path, offset),
                (None, Some(Value::String(n))) if !n.is_empty() => n.clone(),
                _ => return Ok(Some(items)),
            };
        }
        Err(SyncError::Protocol(format!("GET {path}: more than {MAX_PAGES} pages")))
    }

    /// The newest change-log sequence number of the cluster (Gatehouse's `/clustering/status`); `None`
    /// when the gateway does not report one (Kong).
    pub async fn latest_change_seq(&self) -> Result<Option<i64>, SyncError> {
        let reply = self.request(Method::GET, "/clustering/status", None).await?;
        if !reply.status.is_success() {
            return Ok(None);
        }
        Ok(reply.body.get("latest_seq").and_then(Value::as_i64))
    }

    /// Waits until every live node has applied the change `seq` (the highest `X-Gatehouse-Change-Seq` of a
    /// sync, [`super::SyncReport::max_seq`]). `Ok(false)`: still pending after `timeout`. A gateway without
    /// the endpoint (Kong) cannot tell; it counts as propagated.
    pub async fn wait_propagated(&self, seq: i64, timeout: Duration) -> Result<bool, SyncError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // The gateway caps one wait at 60 s; ask for slices and keep going until the deadline.
            let slice = left.min(Duration::from_secs(30)).as_millis();
            let reply = self.send(Method::GET, &format!("/clustering/propagation/{seq}?timeout={slice}"), None).await?;
            match reply.status {
                StatusCode::OK => return Ok(reply.body.get("propagated").and_then(Value::as_bool).unwrap_or(true)),
                StatusCode::GATEWAY_TIMEOUT => {}
                StatusCode::NOT_FOUND => {
                    tracing::debug!("the gateway has no propagation endpoint; not waiting");
                    return Ok(true);
                }
                status if status.is_server_error() => {
                    return Err(SyncError::Server {
                        status: status.as_u16(),
                        request: format!("GET /clustering/propagation/{seq}"),
                        message: reply.message(),
                    })
                }
                status => {
                    return Err(SyncError::Protocol(format!("propagation of {seq}: {status} {}", reply.message())))
                }
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            // A 504 that came back early (the node was not waiting): do not spin.
            tokio::time::sleep(Duration::from_millis(50).min(left)).await;
        }
    }

    /// `GET /schemas/{entity}`, cached; `None` when the gateway does not know the entity.
    pub async fn entity_schema(&self, name: &str) -> Result<Option<Arc<Value>>, SyncError> {
        self.cached_schema(format!("/schemas/{name}")).await
    }

    /// `GET /schemas/plugins/{name}`, cached; `None` when the plugin is unknown or not enabled.
    pub async fn plugin_schema(&self, name: &str) -> Result<Option<Arc<Value>>, SyncError> {
        self.cached_schema(format!("/schemas/plugins/{}", name.replace('/', "%2F"))).await
    }

    async fn cached_schema(&self, path: String) -> Result<Option<Arc<Value>>, SyncError> {
        if let Some(found) = self.schemas.lock().unwrap_or_else(|e| e.into_inner()).get(&path) {
            return Ok(found.clone());
        }
        let reply = self.request(Method::GET, &path, None).await?;
        let schema = reply.status.is_success().then(|| Arc::new(reply.body));
        // A plugin that is not enabled yet may be enabled later: only remember schemas that were found.
        if schema.is_some() {
            self.schemas.lock().unwrap_or_else(|e| e.into_inner()).insert(path, schema.clone());
        }
        Ok(schema)
    }

    /// Forgets the cached schemas (after the gateway was upgraded).
    pub fn clear_schema_cache(&self) {
        self.schemas.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// `path` with `offset=` set (replacing any offset already in it).
fn with_offset(path: &str, offset: &str) -> String {
    let Ok(mut url) = Url::parse(&format!("http://x{path}")) else { return path.to_string() };
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().filter(|(k, _)| k != "offset").collect();
    url.query_pairs_mut().clear().extend_pairs(pairs).append_pair("offset", offset);
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_are_appended_and_replaced() {
        assert_eq!(super::with_offset("/services?tags=a&size=1000", "a b"), "/services?tags=a&size=1000&offset=a+b");
        assert_eq!(super::with_offset("/routes?offset=x", "y"), "/routes?offset=y");
    }
}
