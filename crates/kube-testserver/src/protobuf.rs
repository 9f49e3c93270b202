//! Decoding of Kubernetes protobuf request bodies for the few kinds kubectl's imperative commands send
//! that way (`kubectl create namespace|configmap|secret`). Responses are always JSON, which clients accept.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::status::{ApiError, ApiResult};

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bytes,
    Bool,
    Int,
    Time,
    Msg(&'static [F]),
    RepStr,
    RepMsg(&'static [F]),
    MapStr,
    MapBytes,
}

/// A field: number, JSON name, kind.
struct F(u64, &'static str, Kind);

const OWNER_REFERENCE: &[F] = &[
    F(1, "kind", Kind::Str),
    F(3, "name", Kind::Str),
    F(4, "uid", Kind::Str),
    F(5, "apiVersion", Kind::Str),
    F(6, "controller", Kind::Bool),
    F(7, "blockOwnerDeletion", Kind::Bool),
];

const OBJECT_META: &[F] = &[
    F(1, "name", Kind::Str),
    F(2, "generateName", Kind::Str),
    F(3, "namespace", Kind::Str),
    F(5, "uid", Kind::Str),
    F(6, "resourceVersion", Kind::Str),
    F(7, "generation", Kind::Int),
    F(8, "creationTimestamp", Kind::Time),
    F(11, "labels", Kind::MapStr),
    F(12, "annotations", Kind::MapStr),
    F(13, "ownerReferences", Kind::RepMsg(OWNER_REFERENCE)),
    F(14, "finalizers", Kind::RepStr),
];

const CONFIG_MAP: &[F] = &[
    F(1, "metadata", Kind::Msg(OBJECT_META)),
    F(2, "data", Kind::MapStr),
    F(3, "binaryData", Kind::MapBytes),
    F(4, "immutable", Kind::Bool),
];

const SECRET: &[F] = &[
    F(1, "metadata", Kind::Msg(OBJECT_META)),
    F(2, "data", Kind::MapBytes),
    F(3, "type", Kind::Str),
    F(4, "stringData", Kind::MapStr),
    F(5, "immutable", Kind::Bool),
];

const NAMESPACE: &[F] =
    &[F(1, "metadata", Kind::Msg(OBJECT_META)), F(2, "spec", Kind::Msg(&[F(1, "finalizers", Kind::RepStr)]))];

/// The `runtime.Unknown` envelope: typeMeta = 1 (apiVersion = 1, kind = 2), raw = 2.
const UNKNOWN: &[F] =
    &[F(1, "typeMeta", Kind::Msg(&[F(1, "apiVersion", Kind::Str), F(2, "kind", Kind::Str)])), F(2, "raw", Kind::Bytes)];

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

fn b64(bytes: &[u8]) -> Value {
    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Decodes one message into a JSON object, ignoring unknown fields.
fn message(bytes: &[u8], fields: &[F]) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let mut r = Reader(bytes);
    while !r.0.is_empty() {
        let tag = r.varint()?;
        let (number, wire) = (tag >> 3, tag & 7);
        let payload: Result<u64, &[u8]> = match wire {
            0 => Ok(r.varint()?),
            1 => Ok(u64::from_le_bytes(r.take(8)?.try_into().ok()?)),
            2 => {
                let n = usize::try_from(r.varint()?).ok()?;
                Err(r.take(n)?)
            }
            5 => Ok(u64::from(u32::from_le_bytes(r.take(4)?.try_into().ok()?))),
            _ => return None,
        };
        let Some(F(_, name, kind)) = fields.iter().find(|f| f.0 == number) else { continue };
        let name = name.to_string();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match (*kind, payload) {
            // Empty strings, zero numbers and times are how protobuf writes unset optional fields.
            (Kind::Str, Err(b)) => {
                if !b.is_empty() {
                    out.insert(name, json!(text(b)));
                }
            }
            (Kind::Bytes, Err(b)) => {
                out.insert(name, b64(b));
            }
            (Kind::Bool, Ok(v)) => {
                out.insert(name, json!(v != 0));
            }
            (Kind::Int, Ok(v)) => {
                if v != 0 {
                    out.insert(name, json!(v as i64));
                }
            }
            (Kind::Time, Err(b)) => {
                let t = message(b, &[F(1, "seconds", Kind::Int)])?;
                if let Some(secs) = t.get("seconds").and_then(Value::as_i64) {
                    out.insert(name, json!(crate::util::format_rfc3339(secs)));
                }
            }
            (Kind::Msg(inner), Err(b)) => {
                out.insert(name, Value::Object(message(b, inner)?));
            }
            (Kind::RepStr, Err(b)) => {
                let list = out.entry(name).or_insert_with(|| json!([]));
                list.as_array_mut()?.push(json!(text(b)));
            }
            (Kind::RepMsg(inner), Err(b)) => {
                let item = Value::Object(message(b, inner)?);
                out.entry(name).or_insert_with(|| json!([])).as_array_mut()?.push(item);
            }
            (Kind::MapStr | Kind::MapBytes, Err(b)) => {
                let value_kind = if matches!(kind, Kind::MapStr) { Kind::Str } else { Kind::Bytes };
                let entry = message(b, &[F(1, "key", Kind::Str), F(2, "value", value_kind)])?;
                let key = entry.get("key").and_then(Value::as_str).unwrap_or("").to_string();
                let value = entry.get("value").cloned().unwrap_or_else(|| {
                    if matches!(kind, Kind::MapStr) {
                        json!("")
                    } else {
                        b64(b"")
                    }
                });
                out.entry(name).or_insert_with(|| json!({})).as_object_mut()?.insert(key, value);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Decodes a `k8s\0`-prefixed protobuf body of a Namespace, ConfigMap or Secret into JSON.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let unsupported =
        |what: &str| ApiError::unsupported_media_type(&format!("application/vnd.kubernetes.protobuf ({what})"));
    let envelope = body.strip_prefix(b"k8s\0").ok_or_else(|| unsupported("missing k8s envelope"))?;
    let unknown = message(envelope, UNKNOWN).ok_or_else(|| ApiError::bad_request("malformed protobuf envelope"))?;
    let s = |p: &str| unknown.get("typeMeta").and_then(|t| t.get(p)).and_then(Value::as_str).unwrap_or("").to_string();
    let (api_version, kind) = (s("apiVersion"), s("kind"));
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "Namespace") => NAMESPACE,
        _ => return Err(unsupported(&format!("{api_version} {kind}; send JSON"))),
    };
    let raw = unknown.get("raw").and_then(Value::as_str).unwrap_or("");
    let raw = base64::engine::general_purpose::STANDARD.decode(raw).unwrap_or_default();
    let mut obj = message(&raw, schema).ok_or_else(|| ApiError::bad_request(format!("malformed protobuf {kind}")))?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
        out.push(number << 3 | 2);
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }

    #[test]
    fn decodes_a_config_map() {
        let mut meta = Vec::new();
        field(&mut meta, 1, b"cm");
        field(&mut meta, 2, b"");
        field(&mut meta, 3, b"default");
        let mut entry = Vec::new();
        field(&mut entry, 1, b"k");
        field(&mut entry, 2, b"v");
        let mut cm = Vec::new();
        field(&mut cm, 1, &meta);
        field(&mut cm, 2, &entry);
        cm.extend([4 << 3, 1]);
        let mut type_meta = Vec::new();
        field(&mut type_meta, 1, b"v1");
        field(&mut type_meta, 2, b"ConfigMap");
        let mut body = b"k8s\0".to_vec();
        field(&mut body, 1, &type_meta);
        field(&mut body, 2, &cm);
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"},
                   "data": {"k": "v"}, "immutable": true})
        );
        assert_eq!(decode(b"k8s\0\x0a\x0c\x0a\x02v1\x12\x06Lease!").unwrap_err().code, 415);
    }
}
