//! The node's Lease in `kube-node-lease`: renewed every few seconds, it is the cheap
//! heartbeat the node lifecycle controller reads (a full node status is much larger).

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::{api, AgentConfig, Result};

/// How long the lease is valid without renewal (kubelet: 40 s).
pub const LEASE_DURATION_SECONDS: i32 = 40;

fn micro_now() -> String {
    let ts = jiff::Timestamp::now();
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond() / 1000
    )
}

/// Renew the lease of the node, creating it (owned by the node `node_uid`) when missing.
pub async fn renew(client: &kube::Client, config: &AgentConfig, node_uid: &str) -> Result<()> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let now = micro_now();
    let patch = json!({"spec": {"holderIdentity": config.node_name, "renewTime": now}});
    match leases
        .patch(
            &config.node_name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let lease: Lease = serde_json::from_value(json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": config.node_name,
                    "namespace": "kube-node-lease",
                    "ownerReferences": [{
                        "apiVersion": "v1", "kind": "Node",
                        "name": config.node_name, "uid": node_uid,
                    }],
                },
                "spec": {
                    "holderIdentity": config.node_name,
                    "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                    "renewTime": now,
                },
            }))
            .map_err(|e| crate::Error::Api {
                context: "building the lease".into(),
                source: Box::new(kube::Error::SerdeError(e)),
            })?;
            match leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                Err(e) => Err(api("creating the node lease")(e)),
            }
        }
        Err(e) => Err(api("renewing the node lease")(e)),
    }
}
