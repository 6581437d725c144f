//! The pod status the agent reports: container statuses from what the engine recorded,
//! conditions that keep their transition times while unchanged, and the whole status from
//! the plan's phase ([`pod_status`]).

use berth_runtime::container::{ContainerInfo, State};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::plan::Phase;

/// The engine's containers for one Kubernetes container: the latest attempt and the one
/// before it (kept for `kubectl logs --previous` and `lastState`).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The latest attempt; `None` before the first is created.
    pub current: Option<ContainerInfo>,
    /// The attempt before it, while the engine still has it.
    pub previous: Option<ContainerInfo>,
}

/// Why a container is not running, as `kubectl get pods` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The kubelet's reason (`ContainerCreating`, `ErrImagePull`, `CrashLoopBackOff`).
    pub reason: String,
    /// What went wrong, when there is more to say (the pull error, the back-off).
    pub message: Option<String>,
}

impl Waiting {
    /// A waiting state with `reason` and an optional `message`.
    pub fn new(reason: &str, message: Option<String>) -> Waiting {
        Waiting {
            reason: reason.to_string(),
            message,
        }
    }
}

/// An engine timestamp (RFC 3339) as a Kubernetes `Time`; `None` if it does not parse.
pub fn time(rfc3339: &str) -> Option<Time> {
    rfc3339.parse::<jiff::Timestamp>().ok().map(Time)
}

/// The `containerID` reported for an engine container: `berth://<engine id>`.
pub fn container_id(info: &ContainerInfo) -> String {
    format!("berth://{}", info.record.id)
}

/// `repo@sha256:...`, the form `imageID` has under containerd.
pub fn image_id(info: &ContainerInfo) -> String {
    let repo = info
        .record
        .image
        .split('@')
        .next()
        .unwrap_or(&info.record.image);
    // Strip a tag but not a registry port.
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    format!("{repo}@{}", info.record.image_digest)
}

/// The terminated state of an exited container.
pub fn terminated(info: &ContainerInfo) -> Option<ContainerStateTerminated> {
    let exit = info.exit.as_ref()?;
    let reason = if exit.oom_killed {
        "OOMKilled"
    } else if exit.exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    Some(ContainerStateTerminated {
        exit_code: exit.exit_code,
        signal: exit.signal,
        reason: Some(reason.to_string()),
        message: exit.reason.clone(),
        started_at: info.record.started_at.as_deref().and_then(time),
        finished_at: time(&exit.finished_at),
        container_id: Some(container_id(info)),
    })
}

/// What the probes say of a running container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probed {
    /// The startup probe passed (or there is none).
    pub started: bool,
    /// The readiness probe passes (or there is none).
    pub ready: bool,
}

/// The status of one container. `waiting` overrides the engine's view (the container is
/// being pulled, is in back-off, or could not be created).
pub fn container_status(
    name: &str,
    image: &str,
    observed: &Observed,
    waiting: Option<&Waiting>,
    probed: Probed,
) -> ContainerStatus {
    let current = observed.current.as_ref();
    let restart_count = current
        .and_then(|c| super::names::container_of(c).map(|(_, a)| a as i32))
        .unwrap_or(0);
    let waiting_state = |w: &Waiting| ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(w.reason.clone()),
            message: w.message.clone(),
        }),
        ..ContainerState::default()
    };
    let (state, last_state, started) = match (current, waiting) {
        (Some(c), Some(w)) if c.state == State::Exited => {
            // Exited and waiting to restart: the exit is the last state.
            let last = terminated(c).map(|t| ContainerState {
                terminated: Some(t),
                ..ContainerState::default()
            });
            (waiting_state(w), last, false)
        }
        (_, Some(w)) => (waiting_state(w), previous_state(observed), false),
        (Some(c), None) => match c.state {
            State::Running => (
                ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: c.record.started_at.as_deref().and_then(time),
                    }),
                    ..ContainerState::default()
                },
                previous_state(observed),
                true,
            ),
            State::Exited => (
                ContainerState {
                    terminated: terminated(c),
                    ..ContainerState::default()
                },
                previous_state(observed),
                false,
            ),
            State::Created | State::Unknown => (
                waiting_state(&Waiting::new("ContainerCreating", None)),
                previous_state(observed),
                false,
            ),
        },
        (None, None) => (
            waiting_state(&Waiting::new("ContainerCreating", None)),
            None,
            false,
        ),
    };
    ContainerStatus {
        name: name.to_string(),
        image: image.to_string(),
        image_id: current.map(image_id).unwrap_or_default(),
        container_id: current.map(container_id),
        restart_count,
        ready: probed.ready && probed.started && started,
        started: Some(started && probed.started),
        state: Some(state),
        last_state: Some(last_state.unwrap_or_default()),
        ..ContainerStatus::default()
    }
}

fn previous_state(observed: &Observed) -> Option<ContainerState> {
    let t = terminated(observed.previous.as_ref()?)?;
    Some(ContainerState {
        terminated: Some(t),
        ..ContainerState::default()
    })
}

/// Conditions from `(type, status, reason)`, keeping the transition time of a condition
/// whose status did not change; conditions of other types (e.g. the scheduler's) stay.
pub fn conditions(
    old: &[PodCondition],
    new: &[(&str, bool, Option<&str>)],
    now: &Time,
) -> Vec<PodCondition> {
    let mut out: Vec<PodCondition> = old
        .iter()
        .filter(|c| !new.iter().any(|(t, _, _)| *t == c.type_))
        .cloned()
        .collect();
    for (kind, status, reason) in new {
        let status = if *status { "True" } else { "False" };
        let previous = old.iter().find(|c| c.type_ == *kind);
        let transition = match previous {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => Some(now.clone()),
        };
        out.push(PodCondition {
            type_: kind.to_string(),
            status: status.to_string(),
            reason: reason.map(str::to_string),
            last_transition_time: transition,
            ..PodCondition::default()
        });
    }
    // A stable order keeps repeated reports byte-identical.
    let rank = |t: &str| match t {
        "PodReadyToStartContainers" => 0,
        "Initialized" => 1,
        "Ready" => 2,
        "ContainersReady" => 3,
        "PodScheduled" => 4,
        _ => 5,
    };
    out.sort_by_key(|c| rank(&c.type_));
    out
}

/// What a pod's status is made of.
pub struct Report<'a> {
    /// The phase the plan decided.
    pub phase: Phase,
    /// Every init container has done its part.
    pub initialized: bool,
    /// The pod has its sandbox (its containers can start).
    pub has_sandbox: bool,
    /// The sandbox's address; the one reported before stays when there is none.
    pub pod_ip: Option<String>,
    /// The node's address (`status.hostIP`).
    pub host_ip: &'a str,
    /// When the agent took the pod on: its oldest container's creation, else first sight.
    pub start_time: &'a Time,
    /// The status of each app container, in spec order.
    pub containers: Vec<ContainerStatus>,
    /// The status of each init container, in spec order.
    pub init_containers: Vec<ContainerStatus>,
}

/// The status of `pod` (for its earlier conditions and address) from `report`, at `now`.
pub fn pod_status(pod: &Pod, report: Report<'_>, now: &Time) -> serde_json::Value {
    let terminal = report.phase.is_terminal();
    let containers_ready = !terminal && report.containers.iter().all(|s| s.ready);
    let old = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let not_ready = if terminal {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    };
    let ready_reason = (!containers_ready).then_some(not_ready);
    let initialized = report.initialized || terminal;
    let init_reason = (!initialized).then_some("ContainersNotInitialized");
    let conditions = conditions(
        &old,
        &[
            (
                "PodReadyToStartContainers",
                report.has_sandbox && !terminal,
                None,
            ),
            ("Initialized", initialized, init_reason),
            ("Ready", containers_ready, ready_reason),
            ("ContainersReady", containers_ready, ready_reason),
        ],
        now,
    );
    let pod_ip = report
        .pod_ip
        .or_else(|| pod.status.as_ref().and_then(|s| s.pod_ip.clone()));
    let mut status = serde_json::json!({
        "phase": report.phase.as_str(),
        "conditions": conditions,
        "hostIP": report.host_ip,
        "hostIPs": [{"ip": report.host_ip}],
        "startTime": report.start_time,
        "qosClass": super::resources::qos_class(pod),
        "containerStatuses": report.containers,
    });
    if !report.init_containers.is_empty() {
        status["initContainerStatuses"] = serde_json::json!(report.init_containers);
    }
    if let Some(ip) = pod_ip {
        status["podIP"] = serde_json::json!(ip);
        status["podIPs"] = serde_json::json!([{"ip": ip}]);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let t0 = Time("2026-01-01T00:00:00Z".parse().unwrap());
        let t1 = Time("2026-01-01T00:01:00Z".parse().unwrap());
        let first = conditions(&[], &[("Ready", false, None)], &t0);
        let same = conditions(&first, &[("Ready", false, None)], &t1);
        assert_eq!(same[0].last_transition_time, Some(t0.clone()));
        let flipped = conditions(&same, &[("Ready", true, None)], &t1);
        assert_eq!(flipped[0].last_transition_time, Some(t1));
    }

    #[test]
    fn scheduler_condition_is_kept() {
        let t0 = Time("2026-01-01T00:00:00Z".parse().unwrap());
        let old = vec![PodCondition {
            type_: "PodScheduled".into(),
            status: "True".into(),
            ..PodCondition::default()
        }];
        let out = conditions(&old, &[("Ready", true, None)], &t0);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].type_, "PodScheduled");
    }

    #[test]
    fn a_finished_pod_is_initialized_and_not_ready_with_its_address_kept() {
        let t0 = Time("2026-01-01T00:00:00Z".parse().unwrap());
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {"containers": [{"name": "c"}]},
            "status": {"podIP": "10.42.0.7"},
        }))
        .unwrap();
        let ready = ContainerStatus {
            name: "c".into(),
            ready: true,
            ..ContainerStatus::default()
        };
        let report = |phase, initialized, has_sandbox| Report {
            phase,
            initialized,
            has_sandbox,
            pod_ip: None,
            host_ip: "10.0.0.1",
            start_time: &t0,
            containers: vec![ready.clone()],
            init_containers: vec![],
        };
        let condition = |status: &serde_json::Value, kind: &str| {
            status["conditions"]
                .as_array()
                .and_then(|l| l.iter().find(|c| c["type"] == kind).cloned())
                .unwrap_or_default()
        };
        let done = pod_status(&pod, report(Phase::Succeeded, false, false), &t0);
        assert_eq!(done["phase"], "Succeeded");
        assert_eq!(done["podIP"], "10.42.0.7");
        assert_eq!(condition(&done, "Initialized")["status"], "True");
        assert_eq!(condition(&done, "Ready")["reason"], "PodCompleted");
        let running = pod_status(&pod, report(Phase::Running, true, true), &t0);
        assert_eq!(condition(&running, "Ready")["status"], "True");
        assert_eq!(
            condition(&running, "PodReadyToStartContainers")["status"],
            "True"
        );
        let pending = pod_status(&pod, report(Phase::Pending, false, true), &t0);
        assert_eq!(
            condition(&pending, "Initialized")["reason"],
            "ContainersNotInitialized"
        );
        assert!(pending.get("initContainerStatuses").is_none());
    }
}
