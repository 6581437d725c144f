//! The Node object: registration with labels, capacity and allocatable, addresses, system
//! info, the pod CIDR and the conditions kubectl shows (`Ready`, False with the reason when
//! the node cannot run pods, and the pressure conditions from [`crate::pressure`]).

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use crate::host::HostFacts;
use crate::pressure::Pressure;
use crate::{api, AgentConfig, Result};

/// The kubelet version the node reports: the API version Berth serves, marked as Berth's.
pub const KUBELET_VERSION: &str = "v1.33.0-berth";

/// The node as first registered.
pub fn node_object(config: &AgentConfig, facts: &HostFacts) -> Value {
    let mut node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": config.node_name,
            "labels": {
                "kubernetes.io/hostname": config.node_name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": facts.architecture,
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": facts.architecture,
            },
        },
        "spec": {"podCIDR": config.pod_cidr, "podCIDRs": [config.pod_cidr]},
    });
    if config.control_plane {
        node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = json!("true");
    }
    node
}

/// The status the agent reports, with heartbeat times `now`; `not_ready` says why the node
/// cannot run pods, when it cannot.
pub fn status(
    config: &AgentConfig,
    facts: &HostFacts,
    now: &str,
    pressure: Pressure,
    not_ready: Option<&str>,
) -> Value {
    let resources = json!({
        "cpu": facts.cpus.to_string(),
        "memory": format!("{}Ki", facts.memory_bytes / 1024),
        "ephemeral-storage": format!("{}Ki", facts.storage_bytes / 1024),
        "pods": config.max_pods.to_string(),
    });
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now,
        })
    };
    json!({
        "capacity": resources,
        "allocatable": resources,
        "addresses": [
            {"type": "InternalIP", "address": config.address},
            {"type": "Hostname", "address": config.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": if config.serving.is_some() { config.port } else { 0 }}},
        "nodeInfo": {
            "machineID": facts.machine_id,
            "systemUUID": facts.machine_id,
            "bootID": facts.boot_id,
            "kernelVersion": facts.kernel,
            "osImage": facts.os_image,
            "containerRuntimeVersion": format!("berth://{}", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": facts.architecture,
        },
        "conditions": [
            if pressure.memory {
                condition("MemoryPressure", "True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
            } else {
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available")
            },
            if pressure.disk {
                condition("DiskPressure", "True", "KubeletHasDiskPressure", "kubelet has disk pressure")
            } else {
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure")
            },
            if pressure.pid {
                condition("PIDPressure", "True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available")
            } else {
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available")
            },
            match not_ready {
                Some(why) => condition("Ready", "False", "KubeletNotReady", why),
                None => condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            },
        ],
    })
}

/// A condition's `lastTransitionTime` moves only when its status changes, as kubelet does.
fn keep_transition_times(status: &mut Value, current: Option<&Node>) {
    let Some(existing) = current
        .and_then(|n| n.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
    else {
        return;
    };
    let Some(conditions) = status["conditions"].as_array_mut() else {
        return;
    };
    for c in conditions {
        let same = existing.iter().find(|e| {
            c["type"].as_str() == Some(e.type_.as_str())
                && c["status"].as_str() == Some(e.status.as_str())
        });
        if let Some(t) = same.and_then(|e| e.last_transition_time.as_ref()) {
            c["lastTransitionTime"] = json!(t.0.to_string());
        }
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| jiff::Timestamp::now().to_string())
}

/// Create the node if it does not exist, then report its status; returns its uid.
pub async fn register(
    client: &kube::Client,
    config: &AgentConfig,
    facts: &HostFacts,
    not_ready: Option<&str>,
) -> Result<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let existing = nodes
        .get_opt(&config.node_name)
        .await
        .map_err(api(format!("reading node {}", config.node_name)))?;
    if existing.is_none() {
        let node: Node =
            serde_json::from_value(node_object(config, facts)).map_err(|e| crate::Error::Api {
                context: "building the node".into(),
                source: Box::new(kube::Error::SerdeError(e)),
            })?;
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            // Created meanwhile (another start of this agent): use it.
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(api(format!("creating node {}", config.node_name))(e)),
        }
    }
    let pressure = crate::pressure::evaluate(
        &crate::pressure::sample(&config.data_dir),
        &config.eviction_hard,
    );
    let reported = report_status(client, config, facts, pressure, not_ready).await?;
    Ok(reported.metadata.uid.unwrap_or_default())
}

/// Replace the node's status with the current one.
pub async fn report_status(
    client: &kube::Client,
    config: &AgentConfig,
    facts: &HostFacts,
    pressure: Pressure,
    not_ready: Option<&str>,
) -> Result<Node> {
    let nodes: Api<Node> = Api::all(client.clone());
    let current = nodes
        .get_opt(&config.node_name)
        .await
        .map_err(api(format!("reading node {}", config.node_name)))?;
    let mut status = status(config, facts, &now(), pressure, not_ready);
    keep_transition_times(&mut status, current.as_ref());
    let patch = json!({"status": status});
    nodes
        .patch_status(
            &config.node_name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(api(format!(
            "reporting the status of node {}",
            config.node_name
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AgentConfig {
        AgentConfig {
            node_name: "n1".into(),
            address: "10.0.0.5".into(),
            max_pods: 110,
            pod_cidr: "10.42.0.0/24".into(),
            data_dir: "/".into(),
            lease_interval: std::time::Duration::from_secs(10),
            port: 10250,
            serving: None,
            status_interval: std::time::Duration::from_secs(60),
            eviction_hard: Default::default(),
            control_plane: true,
            cluster_dns: None,
            cluster_domain: "cluster.local".into(),
            resolv_conf: "/etc/resolv.conf".into(),
            router: None,
        }
    }

    #[test]
    fn node_and_status_are_valid_objects() {
        let facts = HostFacts {
            cpus: 2,
            memory_bytes: 4 << 30,
            storage_bytes: 100 << 30,
            architecture: "amd64".into(),
            ..Default::default()
        };
        let mut node = node_object(&config(), &facts);
        node["status"] = status(
            &config(),
            &facts,
            "2026-01-01T00:00:00Z",
            Pressure::default(),
            None,
        );
        let node: Node = serde_json::from_value(node).unwrap();
        let status = node.status.unwrap();
        let cap = status.capacity.unwrap();
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(cap["memory"].0, "4194304Ki");
        assert_eq!(cap["pods"].0, "110");
        let ready = status
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(node.spec.unwrap().pod_cidr.as_deref(), Some("10.42.0.0/24"));
    }

    #[test]
    fn transition_times_stay_while_status_holds() {
        let facts = HostFacts::default();
        let mut node = node_object(&config(), &facts);
        node["status"] = status(
            &config(),
            &facts,
            "2026-01-01T00:00:00Z",
            Pressure::default(),
            None,
        );
        let node: Node = serde_json::from_value(node).unwrap();
        let mut next = status(
            &config(),
            &facts,
            "2026-01-01T00:05:00Z",
            Pressure::default(),
            None,
        );
        keep_transition_times(&mut next, Some(&node));
        let ready = next["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()
            .clone();
        assert_eq!(ready["lastTransitionTime"], "2026-01-01T00:00:00Z");
        assert_eq!(ready["lastHeartbeatTime"], "2026-01-01T00:05:00Z");
    }

    #[test]
    fn a_node_that_cannot_run_pods_is_not_ready_and_says_why() {
        let facts = HostFacts::default();
        let why = "cgroups unusable: no cgroup file system is visible at /sys/fs/cgroup";
        let status = status(
            &config(),
            &facts,
            "2026-01-01T00:00:00Z",
            Pressure::default(),
            Some(why),
        );
        let ready = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap()
            .clone();
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "KubeletNotReady");
        assert_eq!(ready["message"], why);
    }
}
