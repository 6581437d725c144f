//! What the pod's containers are made from besides their images, gathered before each
//! plan: the ConfigMaps and Secrets it refers to (from the watched caches), the service
//! account tokens of its projected volumes, the Services for its environment, and its
//! volumes and files prepared from them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_events::EventType;
use berth_runtime::container::SandboxRef;
use berth_runtime::sandbox::Sandbox;
use k8s_openapi::api::core::v1::Pod;

use super::container_config::PodContext;
use super::env::{PodFacts, Sources};
use super::names::PodKey;
use super::plan::Phase;
use super::sandbox::hostname;
use super::volumes::{self, Prepared};
use super::worker::{Worker, RETRY};

/// Everything a container of the pod is built from, once the pod is prepared.
pub(super) struct Ready {
    pub sources: Sources,
    pub facts: PodFacts,
    pub volumes: BTreeMap<String, Prepared>,
    pub pod_dir: PathBuf,
}

impl Ready {
    pub fn context<'a>(
        &'a self,
        pod: &'a Pod,
        key: &'a PodKey,
        sandbox: &Sandbox,
    ) -> PodContext<'a> {
        PodContext {
            pod,
            key,
            sources: &self.sources,
            facts: &self.facts,
            volumes: &self.volumes,
            pod_dir: &self.pod_dir,
            sandbox: SandboxRef::from(sandbox),
            hostname: hostname(pod),
        }
    }
}

impl Worker {
    /// Gather the pod's sources and prepare its files and volumes in `sandbox`. A failure
    /// is tried again soon; a volume that cannot be set up is reported (FailedMount, the
    /// pod Pending).
    pub(super) async fn prepare(&mut self, pod: &Pod, sandbox: &Sandbox) -> Option<Ready> {
        let facts = PodFacts {
            pod_ip: sandbox.ip.map(|ip| ip.to_string()),
            host_ip: self.shared.config.address.clone(),
            node_cpu_milli: self.shared.node_cpu_milli,
            node_memory: self.shared.node_memory,
        };
        let sources = match self.fetch_sources(pod).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(pod = %self.key.name, error = %e, "reading the pod's ConfigMaps and Secrets");
                self.wake_at(Instant::now() + RETRY);
                return None;
            }
        };
        if let Err(e) = self.write_pod_files(pod, sandbox) {
            tracing::warn!(pod = %self.key.name, error = %e, "writing the pod's files");
            self.wake_at(Instant::now() + RETRY);
            return None;
        }
        let pod_dir = self.pod_dir();
        match volumes::prepare(pod, &pod_dir, &sources, &facts) {
            Ok(volumes) => Some(Ready {
                sources,
                facts,
                volumes,
                pod_dir,
            }),
            Err(e) => {
                self.event(
                    pod,
                    None,
                    EventType::Warning,
                    "FailedMount",
                    &format!("MountVolume.SetUp failed: {e}"),
                )
                .await;
                self.wake_at(Instant::now() + RETRY);
                let observed = match &pod.spec {
                    Some(spec) => self.observe_all(spec),
                    None => Default::default(),
                };
                self.report(pod, &observed, Some(sandbox), false, Phase::Pending)
                    .await;
                None
            }
        }
    }

    /// ConfigMaps and Secrets the pod refers to, from the API server, and the service
    /// account tokens of its projected volumes.
    async fn fetch_sources(&mut self, pod: &Pod) -> Result<Sources, kube::Error> {
        let (cms, secrets) = referenced(pod);
        let mut out = Sources::default();
        let (ns, uid) = (self.key.namespace.as_str(), self.key.uid.as_str());
        let shared = &self.shared;
        shared
            .config_maps
            .keep_only(uid, ns, &cms.iter().cloned().collect());
        shared
            .secrets
            .keep_only(uid, ns, &secrets.iter().cloned().collect());
        for name in cms {
            let got = shared
                .config_maps
                .get(ns, &name, uid, &self.wake_tx)
                .await?;
            out.config_maps.insert(name, got);
        }
        for name in secrets {
            let got = shared.secrets.get(ns, &name, uid, &self.wake_tx).await?;
            out.secrets.insert(name, got);
        }
        // Renewals are due minutes apart: the periodic resync comes by often enough.
        out.tokens = self.tokens.fetch(&self.shared.client, pod).await;
        // As the kubelet: no container starts before the Services were listed once, or it
        // would miss their variables (bounded, so a slow API server cannot hold pods).
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.shared.services.wait_until_ready(),
        )
        .await;
        out.services = super::service_env::relevant(&self.shared.services.state(), pod);
        Ok(out)
    }
}

/// ConfigMaps and Secrets the pod refers to (env, envFrom, volumes).
fn referenced(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let mut cms = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let Some(spec) = &pod.spec else {
        return (Vec::new(), Vec::new());
    };
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for e in c.env_from.iter().flatten() {
            if let Some(r) = &e.config_map_ref {
                cms.insert(r.name.clone());
            }
            if let Some(r) = &e.secret_ref {
                secrets.insert(r.name.clone());
            }
        }
        for e in c.env.iter().flatten() {
            if let Some(f) = &e.value_from {
                if let Some(r) = &f.config_map_key_ref {
                    cms.insert(r.name.clone());
                }
                if let Some(r) = &f.secret_key_ref {
                    secrets.insert(r.name.clone());
                }
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            cms.insert(cm.name.clone());
        }
        if let Some(s) = &v.secret {
            secrets.insert(s.secret_name.clone().unwrap_or_default());
        }
        for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &p.config_map {
                cms.insert(cm.name.clone());
            }
            if let Some(s) = &p.secret {
                secrets.insert(s.name.clone());
            }
        }
    }
    (cms.into_iter().collect(), secrets.into_iter().collect())
}
