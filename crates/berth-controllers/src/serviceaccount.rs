//! Per-namespace defaults, as kube-controller-manager's serviceaccount controller and
//! root-ca-cert-publisher: every active namespace has a `default` ServiceAccount and a
//! `kube-root-ca.crt` ConfigMap holding the cluster CA (what in-cluster clients verify the
//! API server with). Deleting either brings it back; a changed ConfigMap is put right.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use tokio::sync::mpsc;

use crate::Error;

const ROOT_CA: &str = "kube-root-ca.crt";

/// Keep every namespace's defaults until `shutdown` resolves. `ca_pem` is the cluster CA
/// (without it no ConfigMap is published).
pub async fn run(
    client: kube::Client,
    ca_pem: Option<String>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let (tx, mut rx) = mpsc::channel::<String>(256);
    // Namespaces, and the two objects per namespace: any change names the namespace to look
    // at again.
    let namespaces = watch_names(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
        tx.clone(),
        |ns: &Namespace| ns.metadata.name.clone(),
    );
    let accounts = watch_names(
        Api::<ServiceAccount>::all(client.clone()),
        watcher::Config::default().fields("metadata.name=default"),
        tx.clone(),
        |sa: &ServiceAccount| sa.metadata.namespace.clone(),
    );
    let maps = watch_names(
        Api::<ConfigMap>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={ROOT_CA}")),
        tx,
        |cm: &ConfigMap| cm.metadata.namespace.clone(),
    );
    let watches = futures::future::join3(namespaces, accounts, maps);
    tokio::pin!(watches);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = &mut watches => return,
            Some(ns) = rx.recv() => {
                if let Err(e) = reconcile(&client, ca_pem.as_deref(), &ns).await {
                    tracing::warn!(namespace = %ns, error = %e, "namespace defaults");
                }
            }
        }
    }
}

/// Send the namespace `name_of` gives for every object the watch reports (deletions too).
async fn watch_names<K>(
    api: Api<K>,
    config: watcher::Config,
    tx: mpsc::Sender<String>,
    name_of: impl Fn(&K) -> Option<String>,
) where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::de::DeserializeOwned
        + Send
        + 'static,
{
    let mut events = watcher(api, config).boxed();
    while let Some(event) = events.next().await {
        let objects: Vec<K> = match event {
            Ok(
                watcher::Event::Apply(o) | watcher::Event::Delete(o) | watcher::Event::InitApply(o),
            ) => {
                vec![o]
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "namespace defaults watch");
                continue;
            }
        };
        for o in objects {
            if let Some(ns) = name_of(&o) {
                if tx.send(ns).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn reconcile(
    client: &kube::Client,
    ca_pem: Option<&str>,
    namespace: &str,
) -> Result<(), Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let Some(ns) = namespaces
        .get_opt(namespace)
        .await
        .map_err(|e| Error::api(format!("reading namespace {namespace}"), e))?
    else {
        return Ok(());
    };
    let terminating = ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
    if terminating {
        return Ok(());
    }
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let present = accounts
        .get_opt("default")
        .await
        .map_err(|e| Error::api(format!("reading {namespace}/default"), e))?;
    if present.is_none() {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some("default".into()),
                namespace: Some(namespace.into()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        create(&accounts, &sa, namespace, "default ServiceAccount").await?;
    }
    let Some(ca_pem) = ca_pem else {
        return Ok(());
    };
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let wanted: BTreeMap<String, String> = [("ca.crt".to_string(), ca_pem.to_string())].into();
    match maps
        .get_opt(ROOT_CA)
        .await
        .map_err(|e| Error::api(format!("reading {namespace}/{ROOT_CA}"), e))?
    {
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(ROOT_CA.into()),
                    namespace: Some(namespace.into()),
                    annotations: Some(
                        [(
                            "kubernetes.io/description".to_string(),
                            "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.".to_string(),
                        )]
                        .into(),
                    ),
                    ..ObjectMeta::default()
                },
                data: Some(wanted),
                ..ConfigMap::default()
            };
            create(&maps, &cm, namespace, ROOT_CA).await?;
        }
        Some(mut cm) if cm.data.as_ref() != Some(&wanted) => {
            cm.data = Some(wanted);
            maps.replace(ROOT_CA, &PostParams::default(), &cm)
                .await
                .map_err(|e| Error::api(format!("restoring {namespace}/{ROOT_CA}"), e))?;
        }
        Some(_) => {}
    }
    Ok(())
}

async fn create<K>(api: &Api<K>, object: &K, namespace: &str, what: &str) -> Result<(), Error>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::Serialize
        + k8s_openapi::serde::de::DeserializeOwned,
{
    match api.create(&PostParams::default(), object).await {
        Ok(_) => Ok(()),
        // Created meanwhile, or the namespace began terminating: nothing to do.
        Err(e) if crate::is_conflict(&e) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
        Err(e) => Err(Error::api(format!("creating {what} in {namespace}"), e)),
    }
}
