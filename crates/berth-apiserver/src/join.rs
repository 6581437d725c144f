//! The join endpoints (`berth_pki::join`): `GET /cacerts` for anyone, and node credentials
//! for the holder of the node token.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use berth_pki::join::{CredentialsRequest, CACERTS_PATH, CREDENTIALS_PATH};
use http::HeaderMap;

use crate::context::AppState;
use crate::status::ApiError;

/// Whether `path` is one of the join endpoints, which authenticate by the node token
/// themselves.
pub fn is_join_path(path: &str) -> bool {
    path == CACERTS_PATH || path == CREDENTIALS_PATH
}

/// `GET /cacerts`: the cluster CA certificate.
pub async fn cacerts(State(state): State<Arc<AppState>>) -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/x-pem-file")],
        state.join.ca().to_string(),
    )
        .into_response()
}

/// `POST /berth/v1/node-credentials`: node certificates for the holder of the node token.
pub async fn credentials(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !state.join.admits(authorization) {
        return ApiError::unauthorized().into_response();
    }
    let request: CredentialsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::bad_request(format!("the node credentials request: {e}"))
                .into_response()
        }
    };
    if let Err(e) = berth_api::validation::is_dns1123_subdomain(&request.node_name) {
        return ApiError::bad_request(format!("nodeName {:?}: {e}", request.node_name))
            .into_response();
    }
    match state.join.issue(&request) {
        Ok(creds) => {
            tracing::info!(node = %request.node_name, "issued node credentials");
            axum::Json(creds).into_response()
        }
        Err(e) => ApiError::internal(format!("issuing node credentials: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use berth_pki::join::{CredentialsRequest, NodeJoin};
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn node_credentials_authenticate_as_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let pki = berth_pki::ca::Pki::load_or_create(&dir.path().join("tls"), &[]).unwrap();
        let join = NodeJoin::load_or_create(dir.path(), &pki.ca_cert).unwrap();
        let creds = join
            .issue(&CredentialsRequest {
                node_name: "n1".into(),
                addresses: vec!["10.0.0.5".into()],
            })
            .unwrap();
        let der = rustls_pki_types::CertificateDer::from_pem_slice(creds.client_cert.as_bytes());
        let user = crate::authn::CertUser::of(&der.unwrap()).unwrap();
        assert_eq!(user.name, "system:node:n1");
        assert_eq!(user.groups, vec!["system:nodes".to_string()]);
    }
}
