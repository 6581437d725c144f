//! Request bodies in (JSON, YAML, Kubernetes protobuf) and the response form a client asked
//! for (plain JSON, YAML, a `Table` for `kubectl get`, or metadata only).

use std::cell::RefCell;
use std::fmt;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::status::ApiError;

/// Largest request body accepted, as Kubernetes does.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// A decoded body plus the fields that appeared twice (reported under strict validation).
pub struct Decoded {
    /// The body decoded into JSON, whatever format it came in.
    pub value: Value,
    /// Paths of fields that appeared more than once (`spec.replicas`), for strict validation.
    pub duplicates: Vec<String>,
}

/// The request's Content-Type without parameters, lower-cased (empty when absent).
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Decode an object body by its Content-Type (none means JSON, as the Python client sends).
pub fn decode_object(headers: &HeaderMap, body: &[u8]) -> Result<Decoded, ApiError> {
    let ct = media_type(headers);
    match ct.as_str() {
        "" | "application/json" | "*/*" => decode_json(body),
        "application/yaml" | "application/x-yaml" | "text/yaml" => decode_yaml(body),
        "application/vnd.kubernetes.protobuf" => berth_api::protobuf::decode_object(body)
            .map(|value| Decoded {
                value,
                duplicates: Vec::new(),
            })
            .map_err(|e| ApiError::bad_request(format!("error decoding protobuf body: {e}"))),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

pub(crate) fn decode_json(body: &[u8]) -> Result<Decoded, ApiError> {
    let dups = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = DupSeed {
        path: String::new(),
        dups: &dups,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v))
    .map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))?;
    Ok(Decoded {
        value,
        duplicates: dups.into_inner(),
    })
}

pub(crate) fn decode_yaml(body: &[u8]) -> Result<Decoded, ApiError> {
    let value: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))?;
    Ok(Decoded {
        value,
        duplicates: Vec::new(),
    })
}

/// Builds a `Value` like serde_json does, noting keys that appear twice in one object.
struct DupSeed<'a> {
    path: String,
    dups: &'a RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for DupSeed<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DupSeed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(DupSeed {
            path: format!("{}[{}]", self.path, out.len()),
            dups: self.dups,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let v = map.next_value_seed(DupSeed {
                path: path.clone(),
                dups: self.dups,
            })?;
            if out.insert(key, v).is_some() {
                self.dups.borrow_mut().push(path);
            }
        }
        Ok(Value::Object(out))
    }
}

/// The representation a client asked for in its Accept header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Plain JSON (`application/json`, also for `*/*` and no Accept header).
    Json,
    /// YAML (`application/yaml`).
    Yaml,
    /// A `meta.k8s.io` Table, in version v1 or v1beta1.
    Table(&'static str),
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata(&'static str),
}

/// Choose the first acceptable representation in the client's order of preference.
pub fn negotiate(headers: &HeaderMap) -> Result<Output, ApiError> {
    let Some(accept) = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Output::Json);
    };
    if accept.trim().is_empty() {
        return Ok(Output::Json);
    }
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let mt = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut as_ = "";
        let mut g = "";
        let mut v = "";
        for p in parts {
            if let Some((k, val)) = p.split_once('=') {
                match k.trim() {
                    "as" => as_ = val.trim(),
                    "g" => g = val.trim(),
                    "v" => v = val.trim(),
                    _ => {}
                }
            }
        }
        let json_like = matches!(mt.as_str(), "application/json" | "*/*" | "application/*");
        if !as_.is_empty() {
            if !json_like || g != "meta.k8s.io" {
                continue;
            }
            let version = match v {
                "v1" => "v1",
                "v1beta1" => "v1beta1",
                _ => continue,
            };
            match as_ {
                "Table" => return Ok(Output::Table(version)),
                "PartialObjectMetadata" | "PartialObjectMetadataList" => {
                    return Ok(Output::Metadata(version))
                }
                _ => continue,
            }
        }
        if json_like {
            return Ok(Output::Json);
        }
        if matches!(mt.as_str(), "application/yaml" | "text/yaml") {
            return Ok(Output::Yaml);
        }
    }
    Err(ApiError::new(
        406,
        "NotAcceptable",
        format!("only the following media types are accepted: application/json, application/yaml (asked for {accept:?})"),
    ))
}

/// A response with a JSON body already serialised.
pub fn raw_json(code: u16, body: Vec<u8>) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    (
        code,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A response with `v` serialised as its JSON body and status `code`.
pub fn json(code: u16, v: &Value) -> Response {
    raw_json(code, serde_json::to_vec(v).unwrap_or_default())
}

/// A value in the negotiated plain form (JSON or YAML).
pub fn respond(code: u16, v: &Value, out: Output) -> Response {
    if out == Output::Yaml {
        let body = serde_yaml::to_string(v).unwrap_or_default();
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
        return (
            code,
            [(http::header::CONTENT_TYPE, "application/yaml")],
            body,
        )
            .into_response();
    }
    json(code, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicate_fields() {
        let d = decode_json(br#"{"a":1,"b":{"c":1,"c":2},"l":[{"x":1,"x":1}]}"#).unwrap();
        assert_eq!(d.duplicates, ["b.c", "l[0].x"]);
        assert_eq!(d.value["b"]["c"], 2);
        assert!(decode_json(b"{\"a\":").is_err());
        assert!(decode_json(b"{} x").is_err());
    }

    #[test]
    fn negotiates_like_kubectl() {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json".parse().unwrap());
        assert_eq!(negotiate(&h).unwrap(), Output::Table("v1"));
        h.insert(
            http::header::ACCEPT,
            "application/vnd.kubernetes.protobuf, */*".parse().unwrap(),
        );
        assert_eq!(negotiate(&h).unwrap(), Output::Json);
        h.insert(
            http::header::ACCEPT,
            "application/vnd.kubernetes.protobuf".parse().unwrap(),
        );
        assert_eq!(negotiate(&h).unwrap_err().code, 406);
    }
}
