//! Kubernetes `Status` errors (`metav1.Status` with `status: Failure`) as the API server returns them.

use serde_json::{json, Map, Value};

/// An API error: an HTTP code, a `reason` and a message, rendered as a `Status` object.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `details` as the API server fills it: the object name, the group and the resource (plural).
pub fn details(group: &str, plural: &str, name: &str) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(plural));
    Value::Object(d)
}

/// `ingresses.networking.k8s.io`, or `services` for the core group.
pub fn group_resource(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into(), details: None }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn not_found(group: &str, plural: &str, name: &str) -> ApiError {
        let gr = group_resource(group, plural);
        ApiError::new(404, "NotFound", format!("{gr} \"{name}\" not found")).with_details(details(group, plural, name))
    }

    /// The error for paths that match no served resource.
    pub fn no_route() -> ApiError {
        ApiError::new(404, "NotFound", "the server could not find the requested resource")
            .with_details(json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}))
    }

    pub fn already_exists(group: &str, plural: &str, name: &str) -> ApiError {
        let gr = group_resource(group, plural);
        ApiError::new(409, "AlreadyExists", format!("{gr} \"{name}\" already exists"))
            .with_details(details(group, plural, name))
    }

    /// The optimistic-concurrency failure for a stale `metadata.resourceVersion`.
    pub fn conflict(group: &str, plural: &str, name: &str) -> ApiError {
        ApiError::conflict_because(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn conflict_because(group: &str, plural: &str, name: &str, why: &str) -> ApiError {
        let gr = group_resource(group, plural);
        ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on {gr} \"{name}\": {why}"))
            .with_details(details(group, plural, name))
    }

    /// A validation failure (422 `Invalid`) on one field.
    pub fn invalid(kind: &str, group: &str, name: &str, field: &str, problem: &str) -> ApiError {
        let qualified = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
        let mut d = details(group, kind, name);
        d["causes"] = json!([{"reason": "FieldValueInvalid", "message": problem, "field": field}]);
        ApiError::new(422, "Invalid", format!("{qualified} \"{name}\" is invalid: {field}: {problem}")).with_details(d)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format: {content_type}"),
        )
    }

    /// `410 Gone` for a resourceVersion older than the retained history (reason `Expired`, as for watches).
    pub fn expired(requested: u64, oldest: u64) -> ApiError {
        ApiError::new(410, "Expired", format!("too old resource version: {requested} ({oldest})"))
    }

    pub fn unavailable() -> ApiError {
        ApiError::new(503, "ServiceUnavailable", "the server is currently unable to handle the request")
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "InternalError", message)
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}
