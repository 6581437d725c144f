//! `/openapi/v2`: kubectl 1.27–1.29 load it (as gnostic protobuf) before they will validate or
//! apply anything. Berth publishes its schemas through OpenAPI v3; the v2 document carries only
//! the header, so those kubectls find no models in it and use server-side field validation
//! (advertised in v3) and their compiled-in types for strategic merge patches.

use axum::response::{IntoResponse, Response};
use http::HeaderMap;

fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
    // Wire type 2 (length-delimited); our payloads are short, so the length is one varint byte.
    out.push((number << 3) | 2);
    out.push(u8::try_from(bytes.len()).unwrap_or(0));
    out.extend_from_slice(bytes);
}

/// gnostic `openapi.v2.Document { swagger = 1; info = 2 { title = 1; version = 2 } }`.
fn protobuf_document(version: &str) -> Vec<u8> {
    let mut info = Vec::new();
    field(&mut info, 1, b"Kubernetes");
    field(&mut info, 2, version.as_bytes());
    let mut doc = Vec::new();
    field(&mut doc, 1, b"2.0");
    field(&mut doc, 2, &info);
    doc
}

/// The `/openapi/v2` document (header only), as gnostic protobuf when the Accept header
/// asks for it, else as JSON.
pub fn document(headers: &HeaderMap) -> Response {
    let version = format!("v1.{}.0", crate::app::KUBE_MINOR);
    let wants_protobuf = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("com.github.proto-openapi.spec.v2"));
    if wants_protobuf {
        // Go clients cannot parse the `@` of the request media type, so answer as plain bytes.
        return (
            [(http::header::CONTENT_TYPE, "application/octet-stream")],
            protobuf_document(&version),
        )
            .into_response();
    }
    crate::codec::json(
        200,
        &serde_json::json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": version}, "paths": {}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_header_fields() {
        let doc = protobuf_document("v1.33.0");
        assert_eq!(&doc[..5], b"\x0a\x032.0");
        assert_eq!(doc[5], 0x12);
        assert_eq!(usize::from(doc[6]), doc.len() - 7);
        assert!(doc.windows(7).any(|w| w == b"v1.33.0"));
    }
}
