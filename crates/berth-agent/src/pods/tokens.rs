//! Service account tokens for projected volumes, as the kubelet provides them: requested from
//! the API server (TokenRequest on the pod's ServiceAccount, bound to the pod), one per
//! (audience, lifetime) the pod's volumes ask for, and renewed once 80 % of the lifetime (at
//! most 24 h) has passed; the volume's atomic writer then swaps the file.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, ServiceAccount, ServiceAccountTokenProjection};
use kube::api::{Api, PostParams};
use serde_json::{json, Value};

/// What a token is for: audience (empty for the API server) and lifetime in seconds.
pub type TokenKey = (String, i64);

/// The kubelet's default lifetime of a projected token.
const DEFAULT_SECONDS: i64 = 3600;
/// Tokens are renewed no later than this after they were issued.
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The key of a projection.
pub fn key_of(p: &ServiceAccountTokenProjection) -> TokenKey {
    (
        p.audience.clone().unwrap_or_default(),
        p.expiration_seconds.unwrap_or(DEFAULT_SECONDS),
    )
}

/// The tokens the pod's projected volumes need.
pub fn wanted(pod: &Pod) -> Vec<TokenKey> {
    let mut keys: Vec<TokenKey> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .flat_map(|v| v.projected.iter().flat_map(|p| p.sources.iter().flatten()))
        .filter_map(|s| s.service_account_token.as_ref())
        .map(key_of)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The tokens of one pod, with when each is due for renewal.
#[derive(Debug, Default)]
pub struct TokenCache {
    issued: HashMap<TokenKey, (String, Instant)>,
}

impl TokenCache {
    /// The current token for every key `pod` needs, requesting new ones as due. A failure
    /// is kept per key (the volume reports it as FailedMount).
    pub async fn fetch(
        &mut self,
        client: &kube::Client,
        pod: &Pod,
    ) -> HashMap<TokenKey, Result<String, String>> {
        let keys = wanted(pod);
        self.issued.retain(|k, _| keys.contains(k));
        let mut out = HashMap::new();
        for key in keys {
            let now = Instant::now();
            if let Some((token, due)) = self.issued.get(&key) {
                if now < *due {
                    out.insert(key, Ok(token.clone()));
                    continue;
                }
            }
            match request(client, pod, &key).await {
                Ok(token) => {
                    let lifetime = Duration::from_secs(u64::try_from(key.1).unwrap_or(0));
                    let due = now + (lifetime.mul_f64(0.8)).min(MAX_AGE);
                    self.issued.insert(key.clone(), (token.clone(), due));
                    out.insert(key, Ok(token));
                }
                // A token that is not due yet stays usable while renewal fails.
                Err(e) => match self.issued.get(&key) {
                    Some((token, _)) => {
                        tracing::warn!(error = %e, "renewing a service account token");
                        out.insert(key, Ok(token.clone()));
                    }
                    None => {
                        out.insert(key, Err(e));
                    }
                },
            }
        }
        out
    }
}

async fn request(client: &kube::Client, pod: &Pod, key: &TokenKey) -> Result<String, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    let mut spec = json!({
        "expirationSeconds": key.1,
        "boundObjectRef": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod.metadata.name,
            "uid": pod.metadata.uid,
        },
    });
    if !key.0.is_empty() {
        spec["audiences"] = json!([key.0]);
    }
    let body =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let answer: Value = api
        .create_subresource("token", account, &PostParams::default(), &body)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) => s.message,
            other => other.to_string(),
        })?;
    answer["status"]["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "the API server answered without a token".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_projected_sources_once_each() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "volumes": [
                {"name": "a", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                    {"serviceAccountToken": {"path": "vault", "audience": "vault"}}]}},
                {"name": "b", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "again", "expirationSeconds": 3607}}]}},
                {"name": "c", "emptyDir": {}}]}
        }))
        .unwrap_or_default();
        assert_eq!(
            wanted(&pod),
            vec![(String::new(), 3607), ("vault".to_string(), 3600)]
        );
    }
}
