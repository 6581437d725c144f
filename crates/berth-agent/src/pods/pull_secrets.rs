//! A pod's `imagePullSecrets` as registry credentials for its pulls: Secrets of type
//! `kubernetes.io/dockerconfigjson` (key `.dockerconfigjson`) or `kubernetes.io/dockercfg`
//! (key `.dockercfg`), tried before the node's own credentials.

use berth_runtime::image::registries::Registries;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::Api;

/// The registry settings for a pod's pulls, and the pull secrets that could not be used.
pub(crate) struct PullCredentials {
    pub registries: Registries,
    pub unusable: Vec<String>,
}

pub(crate) async fn resolve(client: &kube::Client, pod: &Pod, node: Registries) -> PullCredentials {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let names: Vec<String> = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())
        .map(|refs| {
            refs.iter()
                .map(|r| r.name.clone())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut out = PullCredentials {
        registries: node,
        unusable: Vec::new(),
    };
    if names.is_empty() {
        return out;
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for name in names {
        let secret = match api.get_opt(&name).await {
            Ok(Some(s)) => s,
            Ok(None) | Err(_) => {
                out.unusable.push(name);
                continue;
            }
        };
        let source = format!("image pull secret {namespace}/{name}");
        let applied = docker_config(&secret)
            .and_then(|text| out.registries.with_docker_config(&text, &source).ok());
        match applied {
            Some(r) => out.registries = r,
            None => out.unusable.push(name),
        }
    }
    out
}

/// The Docker config a pull secret carries, by its type.
fn docker_config(secret: &Secret) -> Option<String> {
    let key = match secret.type_.as_deref() {
        Some("kubernetes.io/dockerconfigjson") => ".dockerconfigjson",
        Some("kubernetes.io/dockercfg") => ".dockercfg",
        _ => return None,
    };
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(kind: &str, key: &str, value: &str) -> Secret {
        Secret {
            type_: Some(kind.into()),
            data: Some([(key.to_string(), ByteString(value.as_bytes().to_vec()))].into()),
            ..Default::default()
        }
    }

    #[test]
    fn only_docker_config_secrets_count() {
        let json = r#"{"auths":{}}"#;
        assert_eq!(
            docker_config(&secret(
                "kubernetes.io/dockerconfigjson",
                ".dockerconfigjson",
                json
            ))
            .as_deref(),
            Some(json)
        );
        assert!(docker_config(&secret("kubernetes.io/dockercfg", ".dockercfg", "{}")).is_some());
        assert!(docker_config(&secret("Opaque", ".dockerconfigjson", json)).is_none());
        assert!(docker_config(&secret("kubernetes.io/dockerconfigjson", "x", json)).is_none());
    }
}
