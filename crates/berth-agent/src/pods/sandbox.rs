//! The pod's place on the node: its sandbox (network, IPC and UTS namespaces with an address,
//! and its cgroup under the node's `/kubepods` tree, limited to what the pod may use), the
//! `/etc/hosts`, `resolv.conf` and hostname files its containers mount, and the release of
//! all of it with the pod's containers and volumes when the pod goes.

use std::time::{Duration, Instant};

use berth_events::EventType;
use berth_runtime::sandbox::{NetworkConfig, Sandbox, SandboxConfig};
use k8s_openapi::api::core::v1::Pod;

use super::container_config;
use super::plan::Phase;
use super::resources;
use super::volumes;
use super::worker::{Worker, RETRY};

impl Worker {
    /// The pod's sandbox, created when it does not exist. A failure is reported (a
    /// FailedCreatePodSandBox event, the pod Pending) and tried again soon.
    pub(super) async fn sandbox(&mut self, pod: &Pod) -> Option<Sandbox> {
        let e = match self.ensure_sandbox(pod).await {
            Ok(s) => return Some(s),
            Err(e) => e,
        };
        self.event(
            pod,
            None,
            EventType::Warning,
            "FailedCreatePodSandBox",
            &format!("Failed to create pod sandbox: {e}"),
        )
        .await;
        self.wake_at(Instant::now() + RETRY);
        let observed = match &pod.spec {
            Some(spec) => self.observe_all(spec),
            None => Default::default(),
        };
        self.report(pod, &observed, None, false, Phase::Pending)
            .await;
        None
    }

    async fn ensure_sandbox(&mut self, pod: &Pod) -> Result<Sandbox, String> {
        if let Ok(Some(s)) = self.shared.sandboxes.get(&self.key.uid) {
            return Ok(s);
        }
        if let Some(why) = &self.shared.unusable {
            return Err(why.clone());
        }
        let t0 = Instant::now();
        let cgroup_parent = resources::pod_cgroup_parent(pod, &self.key.uid);
        // Set up at start; again only if it went (`berth reset` of another data dir
        // removes an empty tree), which its last-made child tells.
        if !resources::kubepods_exists() {
            let memory = u64::try_from(self.shared.node_memory).unwrap_or(u64::MAX);
            if let Err(e) = resources::setup_kubepods(self.shared.node_cpu_milli, memory) {
                return Err(format!("setting up the pod cgroups: {e}"));
            }
        }
        // The pod's own cgroup first, so its limits hold from its first container on.
        if let Err(e) =
            berth_runtime::sandbox::set_parent_limits(&cgroup_parent, &resources::pod_limits(pod))
        {
            return Err(format!("setting up the pod cgroup: {e}"));
        }
        let config = SandboxConfig {
            id: self.key.uid.clone(),
            hostname: hostname(pod),
            network: Some(NetworkConfig {
                bridge: self.shared.bridge.clone(),
                subnet: self.shared.config.pod_cidr.clone(),
                mtu: None,
            }),
            cgroup_parent: Some(cgroup_parent),
        };
        let created = self
            .shared
            .sandboxes
            .create(&config)
            .await
            .map_err(|e| e.to_string());
        tracing::debug!(pod = %self.key.name, ms = t0.elapsed().as_millis() as u64, "sandbox created");
        created
    }

    /// The files every container of the pod mounts, rewritten only when they change.
    pub(super) fn write_pod_files(&self, pod: &Pod, sandbox: &Sandbox) -> std::io::Result<()> {
        let dir = self.pod_dir();
        std::fs::create_dir_all(&dir)?;
        let host = hostname(pod);
        let ip = sandbox.ip.map(|ip| ip.to_string());
        let config = &self.shared.config;
        let files = [
            (
                "etc-hosts",
                container_config::hosts_file(pod, &host, ip.as_deref()),
            ),
            (
                "resolv.conf",
                container_config::resolv_conf(
                    pod,
                    &self.shared.host_resolv,
                    config
                        .cluster_dns
                        .map(|server| container_config::ClusterDns {
                            server,
                            domain: &config.cluster_domain,
                        }),
                ),
            ),
            ("hostname", format!("{host}\n")),
        ];
        for (name, content) in files {
            let path = dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
                let tmp = dir.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, content)?;
                std::fs::rename(&tmp, &path)?;
            }
        }
        Ok(())
    }

    /// Remove everything of the pod from the node: containers (stopped first, with `grace`),
    /// sandbox, volumes and files.
    pub(super) async fn release(&mut self, grace: Duration) {
        let nothing = std::collections::HashSet::new();
        self.shared
            .config_maps
            .keep_only(&self.key.uid, &self.key.namespace, &nothing);
        self.shared
            .secrets
            .keep_only(&self.key.uid, &self.key.namespace, &nothing);
        let ids: Vec<String> = self
            .engine
            .values()
            .flat_map(|l| l.iter().map(|(_, id)| id.clone()))
            .collect();
        let stops = ids.iter().map(|id| {
            let containers = self.shared.containers.clone();
            async move {
                let _ = containers.stop(id, grace).await;
                if let Err(e) = containers.delete(id, true).await {
                    tracing::warn!(container = %id, error = %e, "removing a pod's container");
                }
            }
        });
        futures::future::join_all(stops).await;
        self.engine.clear();
        if let Err(e) = self.shared.sandboxes.remove(&self.key.uid).await {
            tracing::warn!(pod = %self.key.name, error = %e, "removing the pod sandbox");
        }
        if let Err(e) = volumes::teardown(&self.pod_dir()) {
            tracing::warn!(pod = %self.key.name, error = %e, "removing the pod's volumes");
        }
    }
}

/// The pod's hostname: `spec.hostname`, else the pod name, cut to 63 characters.
pub fn hostname(pod: &Pod) -> String {
    let name = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_else(|| "pod".into());
    let mut h: String = name.chars().take(63).collect();
    while h.ends_with(['-', '.']) {
        h.pop();
    }
    h
}
