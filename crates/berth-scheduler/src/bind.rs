//! What the scheduler writes to the API server: the Binding that assigns a pod, the
//! PodScheduled condition of a pod that fits nowhere, preemption (the preemptor's
//! `nominatedNodeName`, the victims' `DisruptionTarget` condition and deletion), and the
//! `Scheduled`, `FailedScheduling` and `Preempted` Events.
//!
//! Bindings are the scheduler's output and run as separate tasks, many at once. Conditions
//! and Events are reports: they go through a few bounded lanes, each with its own Recorder,
//! so they never hold up scheduling. A pod always uses the same lane, which keeps its
//! reports in order; when a lane is full, the report is dropped (as client-go's event
//! broadcaster does) and, for a failure, retried at the pod's next attempt.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use berth_events::{EventType, Recorder};
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::framework::PodInfo;
use crate::preemption::Candidate;
use crate::Error;

/// The component name on Events, as kube-scheduler's.
pub const COMPONENT: &str = "default-scheduler";

const LANES: usize = 8;
const LANE_CAPACITY: usize = 1024;

/// Assign `pod` to `node` with a `pods/binding` POST.
pub async fn bind(client: &kube::Client, pod: &PodInfo, node: &str) -> Result<(), Error> {
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(pod.name.clone()),
            namespace: Some(pod.namespace.clone()),
            // Guards against binding a re-created pod of the same name.
            uid: Some(pod.uid.clone()).filter(|u| !u.is_empty()),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("Node".to_string()),
            name: Some(node.to_string()),
            ..ObjectReference::default()
        },
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    api.create_subresource::<_, serde_json::Value>(
        "binding",
        &pod.name,
        &PostParams::default(),
        &binding,
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Bind {
        pod: format!("{}/{}", pod.namespace, pod.name),
        node: node.to_string(),
        source: Box::new(source),
    })
}

/// Set the PodScheduled condition to False/Unschedulable with `message`. A strategic merge
/// patch merges conditions by type, so the pod's other conditions stay as they are.
/// `transition` is false when the condition already was False, so its
/// `lastTransitionTime` is kept.
pub async fn mark_unschedulable(
    client: &kube::Client,
    pod: &PodInfo,
    message: &str,
    transition: bool,
) -> Result<(), Error> {
    let mut condition = json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": null,
    });
    if transition {
        condition["lastTransitionTime"] = json!(Time(jiff::Timestamp::now()));
    }
    let patch = json!({"status": {"conditions": [condition]}});
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    api.patch_status(
        &pod.name,
        &PatchParams::default(),
        &Patch::Strategic(&patch),
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Status {
        pod: format!("{}/{}", pod.namespace, pod.name),
        source: Box::new(source),
    })
}

enum Report {
    Preempt {
        pod: Arc<PodInfo>,
        candidate: Candidate,
    },
    Scheduled {
        pod: Arc<PodInfo>,
        node: Arc<str>,
    },
    Unschedulable {
        pod: Arc<PodInfo>,
        message: String,
        transition: bool,
    },
}

/// Sends reports to the lane workers.
#[derive(Clone)]
pub struct Reporter {
    lanes: Arc<[mpsc::Sender<Report>]>,
}

impl Reporter {
    /// Start the lane workers in `tasks`.
    pub fn start(client: &kube::Client, tasks: &mut JoinSet<()>) -> Reporter {
        let mut lanes = Vec::with_capacity(LANES);
        for _ in 0..LANES {
            let (tx, rx) = mpsc::channel(LANE_CAPACITY);
            let recorder = Recorder::new(client.clone(), COMPONENT, None);
            tasks.spawn(lane(client.clone(), recorder, rx));
            lanes.push(tx);
        }
        Reporter {
            lanes: lanes.into(),
        }
    }

    /// Report a successful binding. Returns false if the report was dropped.
    pub fn scheduled(&self, pod: Arc<PodInfo>, node: Arc<str>) -> bool {
        let lane = self.lane(&pod.uid);
        lane.try_send(Report::Scheduled { pod, node }).is_ok()
    }

    /// Carry out a preemption: nominate the node for `pod` and remove the victims.
    /// Returns false if it was dropped (the pod's next attempt tries again).
    pub fn preempt(&self, pod: Arc<PodInfo>, candidate: Candidate) -> bool {
        let lane = self.lane(&pod.uid);
        lane.try_send(Report::Preempt { pod, candidate }).is_ok()
    }

    /// Report that `pod` fits nowhere. Returns false if the report was dropped.
    pub fn unschedulable(&self, pod: Arc<PodInfo>, message: String, transition: bool) -> bool {
        let lane = self.lane(&pod.uid);
        lane.try_send(Report::Unschedulable {
            pod,
            message,
            transition,
        })
        .is_ok()
    }

    fn lane(&self, uid: &str) -> &mpsc::Sender<Report> {
        let mut h = DefaultHasher::new();
        uid.hash(&mut h);
        &self.lanes[(h.finish() % self.lanes.len() as u64) as usize]
    }
}

fn pod_reference(pod: &PodInfo) -> ObjectReference {
    berth_events::reference(
        "v1",
        "Pod",
        Some(&pod.namespace),
        &pod.name,
        Some(&pod.uid).filter(|u| !u.is_empty()).map(String::as_str),
    )
}

async fn lane(client: kube::Client, recorder: Recorder, mut rx: mpsc::Receiver<Report>) {
    while let Some(report) = rx.recv().await {
        match report {
            Report::Preempt { pod, candidate } => {
                preempt(&client, &recorder, &pod, &candidate).await;
            }
            Report::Scheduled { pod, node } => {
                let message = format!(
                    "Successfully assigned {}/{} to {}",
                    pod.namespace, pod.name, node
                );
                recorder
                    .publish(
                        &pod_reference(&pod),
                        EventType::Normal,
                        "Scheduled",
                        &message,
                    )
                    .await;
            }
            Report::Unschedulable {
                pod,
                message,
                transition,
            } => {
                if let Err(e) = mark_unschedulable(&client, &pod, &message, transition).await {
                    tracing::debug!(error = %e, "updating the PodScheduled condition");
                }
                recorder
                    .publish(
                        &pod_reference(&pod),
                        EventType::Warning,
                        "FailedScheduling",
                        &message,
                    )
                    .await;
            }
        }
    }
}

/// Nominate `candidate.node` for `pod`, then mark and delete each victim (with its uid as
/// precondition, so a re-created pod of the same name is left alone). Failures are logged:
/// the preemptor retries when room appears or at its next attempt.
async fn preempt(client: &kube::Client, recorder: &Recorder, pod: &PodInfo, candidate: &Candidate) {
    let node = &*candidate.node;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    let nominate = json!({"status": {"nominatedNodeName": node}});
    if let Err(e) = pods
        .patch_status(&pod.name, &PatchParams::default(), &Patch::Merge(&nominate))
        .await
    {
        tracing::debug!(pod = %pod.name, error = %e, "nominating a node");
    }
    for victim in &candidate.victims {
        let api: Api<Pod> = Api::namespaced(client.clone(), &victim.namespace);
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": format!("{COMPONENT}: preempting to accommodate a higher priority pod"),
            "lastTransitionTime": Time(jiff::Timestamp::now()),
        }]}});
        if let Err(e) = api
            .patch_status(
                &victim.name,
                &PatchParams::default(),
                &Patch::Strategic(&condition),
            )
            .await
        {
            tracing::debug!(pod = %victim.name, error = %e, "marking a preemption victim");
        }
        let params = kube::api::DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: Some(victim.uid.clone()),
                resource_version: None,
            }),
            ..kube::api::DeleteParams::default()
        };
        match api.delete(&victim.name, &params).await {
            Ok(_) => {
                tracing::info!(victim = %victim.name, preemptor = %pod.name, %node, "preempted");
                let reference = berth_events::reference(
                    "v1",
                    "Pod",
                    Some(&victim.namespace),
                    &victim.name,
                    Some(&victim.uid),
                );
                recorder
                    .publish(
                        &reference,
                        EventType::Normal,
                        "Preempted",
                        &format!("Preempted by pod {} on node {node}", pod.uid),
                    )
                    .await;
            }
            Err(e) => {
                tracing::debug!(pod = %victim.name, error = %e, "deleting a preemption victim")
            }
        }
    }
}
