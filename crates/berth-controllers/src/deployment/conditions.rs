//! The Deployment's conditions, pure (kube-controller-manager's condition helpers and the
//! decisions of its `progress.go`): Progressing says a new ReplicaSet was found or created,
//! the rollout moved, it completed, it is paused or resumed, or it made no progress for
//! `progressDeadlineSeconds` (which is what makes `kubectl rollout status` give up);
//! Available says whether the minimum availability holds. A condition's transition time
//! moves only when its status changes. Every function takes the time it judges at.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::arithmetic::{is_complete, max_unavailable, Counts};
use super::replicas_of;

/// The condition type of the rollout's progress.
pub const PROGRESSING: &str = "Progressing";
/// The condition type of minimum availability.
pub const AVAILABLE: &str = "Available";
const REPLICA_FAILURE: &str = "ReplicaFailure";
/// Progressing's reason once the new ReplicaSet is complete.
const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Progressing's reason once the deadline passed without progress.
const TIMED_OUT: &str = "ProgressDeadlineExceeded";
const PAUSED: &str = "DeploymentPaused";
/// What the deadline is when the spec has none but progress is still judged.
const DEFAULT_DEADLINE_SECONDS: i32 = 600;

/// A condition that changed at `now`.
pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Kubernetes' `SetDeploymentCondition`: replace the condition of the same type, keeping
/// its transition time when the status did not change, and nothing at all when status and
/// reason are the same.
pub fn set_condition(conditions: &mut Vec<DeploymentCondition>, mut c: DeploymentCondition) {
    if let Some(i) = conditions.iter().position(|x| x.type_ == c.type_) {
        let old = &conditions[i];
        if old.status == c.status && old.reason == c.reason {
            return;
        }
        if old.status == c.status {
            c.last_transition_time = old.last_transition_time.clone();
        }
        conditions.remove(i);
    }
    conditions.push(c);
}

/// The condition of `type_`, if there is one.
pub fn get_condition<'a>(
    conditions: &'a [DeploymentCondition],
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether progress is judged at all: a `progressDeadlineSeconds` below "forever".
pub fn has_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|s| s < i32::MAX)
}

/// Pausing and resuming: a paused Deployment's progress is Unknown (time does not count
/// against its deadline), and resuming says so once.
pub fn pause(
    conditions: &mut Vec<DeploymentCondition>,
    d: &Deployment,
    paused: bool,
    now: Timestamp,
) {
    if !has_deadline(d) {
        return;
    }
    let reason = get_condition(conditions, PROGRESSING).and_then(|c| c.reason.clone());
    if paused && reason.as_deref() != Some(PAUSED) {
        let c = condition(
            PROGRESSING,
            "Unknown",
            PAUSED,
            "Deployment is paused".into(),
            now,
        );
        set_condition(conditions, c);
    } else if !paused && reason.as_deref() == Some(PAUSED) {
        let message = "Deployment is resumed".into();
        let c = condition(PROGRESSING, "Unknown", "DeploymentResumed", message, now);
        set_condition(conditions, c);
    }
}

/// The current template's ReplicaSet `name` was there already: the first thing progress is
/// measured from, when nothing else is.
pub fn found_new(
    conditions: &mut Vec<DeploymentCondition>,
    d: &Deployment,
    name: &str,
    now: Timestamp,
) {
    if has_deadline(d) && get_condition(conditions, PROGRESSING).is_none() {
        let message = format!("Found new replica set {name:?}");
        let c = condition(PROGRESSING, "True", "FoundNewReplicaSet", message, now);
        set_condition(conditions, c);
    }
}

/// The current template's ReplicaSet `name` was created: progress.
pub fn created_new(
    conditions: &mut Vec<DeploymentCondition>,
    d: &Deployment,
    name: &str,
    now: Timestamp,
) {
    if has_deadline(d) {
        let message = format!("Created new replica set {name:?}");
        let c = condition(PROGRESSING, "True", "NewReplicaSetCreated", message, now);
        set_condition(conditions, c);
    }
}

/// Creating the new ReplicaSet failed with `message`.
pub fn create_failed(
    conditions: &mut Vec<DeploymentCondition>,
    d: &Deployment,
    message: String,
    now: Timestamp,
) {
    if has_deadline(d) {
        let c = condition(REPLICA_FAILURE, "True", "FailedCreate", message, now);
        set_condition(conditions, c);
    }
}

/// The rollout moved since the stored status (`DeploymentProgressing`): more pods updated,
/// ready or available, or fewer old ones.
pub fn is_progressing(old: &DeploymentStatus, c: &Counts) -> bool {
    let old_old = old
        .replicas
        .unwrap_or(0)
        .saturating_sub(old.updated_replicas.unwrap_or(0));
    let new_old = c.replicas.saturating_sub(c.updated);
    c.updated > old.updated_replicas.unwrap_or(0)
        || new_old < old_old
        || c.ready > old.ready_replicas.unwrap_or(0)
        || c.available > old.available_replicas.unwrap_or(0)
}

/// `syncRolloutStatus`'s Progressing: complete, progressing (which moves its update time,
/// the start of the deadline), or timed out once the deadline passed since the last update.
/// Without a deadline there is no Progressing condition. Returns when to look again for the
/// deadline (`requeueStuckDeployment`). `counts` are the status this pass computed, `new`
/// the current ReplicaSet's name.
pub fn progress(
    conditions: &mut Vec<DeploymentCondition>,
    d: &Deployment,
    counts: &Counts,
    new: &str,
    now: Timestamp,
) -> Option<Duration> {
    if !has_deadline(d) {
        conditions.retain(|c| c.type_ != PROGRESSING);
        return None;
    }
    let current = get_condition(conditions, PROGRESSING).cloned();
    // A finished rollout is not judged again until the template changes.
    let complete_before = counts.replicas == counts.updated
        && current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    if complete_before {
        return None;
    }
    if is_complete(d, counts) {
        let message = format!("ReplicaSet {new:?} has successfully progressed.");
        set_condition(
            conditions,
            condition(PROGRESSING, "True", NEW_RS_AVAILABLE, message, now),
        );
        return None;
    }
    let old_status = d.status.clone().unwrap_or_default();
    if is_progressing(&old_status, counts) {
        // Unlike `set_condition`, the same reason again still moves the update time.
        let message = format!("ReplicaSet {new:?} is progressing.");
        let mut c = condition(PROGRESSING, "True", "ReplicaSetUpdated", message, now);
        if let Some(cur) = current.as_ref().filter(|c| c.status == "True") {
            c.last_transition_time = cur.last_transition_time.clone();
        }
        conditions.retain(|c| c.type_ != PROGRESSING);
        conditions.push(c);
        return None;
    }
    let c = current?;
    if matches!(c.reason.as_deref(), Some(NEW_RS_AVAILABLE | TIMED_OUT)) {
        return None;
    }
    let deadline = d
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(DEFAULT_DEADLINE_SECONDS);
    let from = c.last_update_time.as_ref().map_or(now, |t| t.0);
    // A stored time near the end of time cannot time out.
    let at = from
        .checked_add(SignedDuration::from_secs(i64::from(deadline)))
        .ok()?;
    if now > at {
        let message = format!("ReplicaSet {new:?} has timed out progressing.");
        set_condition(
            conditions,
            condition(PROGRESSING, "False", TIMED_OUT, message, now),
        );
        return None;
    }
    let left = at.duration_since(now).as_secs().max(0).saturating_add(1);
    Some(Duration::from_secs(u64::try_from(left).unwrap_or(1)))
}

/// `calculateStatus`'s Available: at least `replicas - maxUnavailable` pods are available.
pub fn availability(d: &Deployment, counts: &Counts, now: Timestamp) -> DeploymentCondition {
    let min_available = replicas_of(d).saturating_sub(max_unavailable(d));
    if counts.available >= min_available {
        let message = "Deployment has minimum availability.".into();
        condition(AVAILABLE, "True", "MinimumReplicasAvailable", message, now)
    } else {
        let message = "Deployment does not have minimum availability.".into();
        condition(
            AVAILABLE,
            "False",
            "MinimumReplicasUnavailable",
            message,
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn deployment(deadline: Option<i32>, status: Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "generation": 2},
            "spec": {
                "replicas": 3,
                "progressDeadlineSeconds": deadline,
                "strategy": {"type": "RollingUpdate"},
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}
            },
            "status": status,
        }))
        .unwrap()
    }

    fn progressing(
        status: &str,
        reason: &str,
        updated: i64,
        transition: i64,
    ) -> DeploymentCondition {
        DeploymentCondition {
            last_update_time: Some(Time(at(updated))),
            last_transition_time: Some(Time(at(transition))),
            ..condition(PROGRESSING, status, reason, String::new(), at(0))
        }
    }

    fn counts(replicas: i32, updated: i32, available: i32) -> Counts {
        Counts {
            replicas,
            updated,
            ready: available,
            available,
            unavailable: 3 - available,
            observed_generation: Some(2),
        }
    }

    #[test]
    fn conditions_keep_their_transition_time() {
        let mut conditions = Vec::new();
        set_condition(
            &mut conditions,
            progressing("True", "NewReplicaSetCreated", 0, 0),
        );
        set_condition(
            &mut conditions,
            condition(PROGRESSING, "True", NEW_RS_AVAILABLE, "y".into(), at(50)),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].reason.as_deref(), Some(NEW_RS_AVAILABLE));
        assert_eq!(conditions[0].last_transition_time, Some(Time(at(0))));
        assert_eq!(conditions[0].last_update_time, Some(Time(at(50))));
        // The same status and reason again: nothing moves.
        set_condition(
            &mut conditions,
            condition(PROGRESSING, "True", NEW_RS_AVAILABLE, "z".into(), at(60)),
        );
        assert_eq!(conditions[0].last_update_time, Some(Time(at(50))));
        set_condition(
            &mut conditions,
            condition(PROGRESSING, "False", TIMED_OUT, "z".into(), at(70)),
        );
        assert_eq!(conditions[0].last_transition_time, Some(Time(at(70))));
    }

    #[test]
    fn progress_transitions() {
        let moving = json!({"replicas": 4, "updatedReplicas": 1, "readyReplicas": 3,
                            "availableReplicas": 3});
        // (name, deadline, stored status, conditions before, counts, now)
        //   -> (Progressing (status, reason, update time) after, recheck)
        type Case = (
            &'static str,
            Option<i32>,
            Value,
            Vec<DeploymentCondition>,
            Counts,
            i64,
            Option<(&'static str, &'static str, i64)>,
            Option<u64>,
        );
        let cases: Vec<Case> = vec![
            (
                "no deadline: no Progressing condition",
                None,
                moving.clone(),
                vec![progressing("True", "ReplicaSetUpdated", 0, 0)],
                counts(4, 2, 3),
                100,
                None,
                None,
            ),
            (
                "complete",
                Some(600),
                moving.clone(),
                vec![progressing("True", "ReplicaSetUpdated", 0, 0)],
                counts(3, 3, 3),
                100,
                Some(("True", NEW_RS_AVAILABLE, 100)),
                None,
            ),
            (
                "complete before stays so while a pod is missing",
                Some(600),
                moving.clone(),
                vec![progressing("True", NEW_RS_AVAILABLE, 5, 0)],
                counts(3, 3, 2),
                10_000,
                Some(("True", NEW_RS_AVAILABLE, 5)),
                None,
            ),
            (
                "progress moves the update time",
                Some(600),
                moving.clone(),
                vec![progressing("True", "ReplicaSetUpdated", 0, 0)],
                counts(4, 2, 3),
                100,
                Some(("True", "ReplicaSetUpdated", 100)),
                None,
            ),
            (
                "no progress within the deadline: look again when it passes",
                Some(600),
                moving.clone(),
                vec![progressing("True", "ReplicaSetUpdated", 0, 0)],
                counts(4, 1, 3),
                100,
                Some(("True", "ReplicaSetUpdated", 0)),
                Some(501),
            ),
            (
                "no progress past the deadline: timed out",
                Some(600),
                moving.clone(),
                vec![progressing("True", "ReplicaSetUpdated", 0, 0)],
                counts(4, 1, 3),
                601,
                Some(("False", TIMED_OUT, 601)),
                None,
            ),
            (
                "exactly at the deadline is not past it",
                Some(600),
                moving.clone(),
                vec![progressing("True", "ReplicaSetUpdated", 0, 0)],
                counts(4, 1, 3),
                600,
                Some(("True", "ReplicaSetUpdated", 0)),
                Some(1),
            ),
            (
                "timed out stays timed out",
                Some(600),
                moving.clone(),
                vec![progressing("False", TIMED_OUT, 601, 601)],
                counts(4, 1, 3),
                5_000,
                Some(("False", TIMED_OUT, 601)),
                None,
            ),
            (
                "nothing to measure from",
                Some(600),
                moving.clone(),
                vec![],
                counts(4, 1, 3),
                5_000,
                None,
                None,
            ),
            (
                "a stored time at the end of time never times out",
                Some(600),
                moving.clone(),
                vec![progressing(
                    "True",
                    "ReplicaSetUpdated",
                    Timestamp::MAX.as_second(),
                    0,
                )],
                counts(4, 1, 3),
                5_000,
                Some(("True", "ReplicaSetUpdated", Timestamp::MAX.as_second())),
                None,
            ),
        ];
        for (name, deadline, status, mut conditions, counts, now, want, recheck) in cases {
            let d = deployment(deadline, status);
            let got = progress(&mut conditions, &d, &counts, "web-abc", at(now));
            assert_eq!(got, recheck.map(Duration::from_secs), "{name}: recheck");
            let after = get_condition(&conditions, PROGRESSING).map(|c| {
                (
                    c.status.as_str(),
                    c.reason.as_deref().unwrap_or(""),
                    c.last_update_time
                        .as_ref()
                        .map(|t| t.0.as_second())
                        .unwrap_or(0),
                )
            });
            assert_eq!(after, want, "{name}: condition");
        }
    }

    #[test]
    fn progress_keeps_the_transition_time_of_a_true_condition() {
        let d = deployment(Some(600), json!({"replicas": 4, "updatedReplicas": 1}));
        let mut conditions = vec![progressing("True", "NewReplicaSetCreated", 10, 10)];
        progress(&mut conditions, &d, &counts(4, 2, 3), "web-abc", at(100));
        assert_eq!(conditions[0].last_transition_time, Some(Time(at(10))));
        let mut conditions = vec![progressing("Unknown", "DeploymentResumed", 10, 10)];
        progress(&mut conditions, &d, &counts(4, 2, 3), "web-abc", at(100));
        assert_eq!(conditions[0].last_transition_time, Some(Time(at(100))));
    }

    #[test]
    fn pausing_and_resuming() {
        let d = deployment(Some(600), Value::Null);
        let reason = |c: &[DeploymentCondition]| {
            get_condition(c, PROGRESSING).and_then(|c| c.reason.clone())
        };
        let mut conditions = vec![progressing("True", "ReplicaSetUpdated", 0, 0)];
        pause(&mut conditions, &d, true, at(10));
        assert_eq!(reason(&conditions).as_deref(), Some(PAUSED));
        assert_eq!(conditions[0].status, "Unknown");
        pause(&mut conditions, &d, true, at(20));
        assert_eq!(
            conditions[0].last_update_time,
            Some(Time(at(10))),
            "said once"
        );
        pause(&mut conditions, &d, false, at(30));
        assert_eq!(reason(&conditions).as_deref(), Some("DeploymentResumed"));
        pause(&mut conditions, &d, false, at(40));
        assert_eq!(
            conditions[0].last_update_time,
            Some(Time(at(30))),
            "said once"
        );
        // Without a deadline there is nothing to pause.
        let mut conditions = Vec::new();
        pause(
            &mut conditions,
            &deployment(None, Value::Null),
            true,
            at(10),
        );
        assert!(conditions.is_empty());
    }

    #[test]
    fn the_new_replicaset_found_or_created() {
        let d = deployment(Some(600), Value::Null);
        let mut conditions = Vec::new();
        found_new(&mut conditions, &d, "web-abc", at(1));
        assert_eq!(conditions[0].reason.as_deref(), Some("FoundNewReplicaSet"));
        // Found again: the condition already says something, it stays.
        let mut rolled = vec![progressing("True", "ReplicaSetUpdated", 0, 0)];
        found_new(&mut rolled, &d, "web-abc", at(1));
        assert_eq!(rolled[0].reason.as_deref(), Some("ReplicaSetUpdated"));
        created_new(&mut rolled, &d, "web-def", at(2));
        assert_eq!(rolled[0].reason.as_deref(), Some("NewReplicaSetCreated"));
        assert_eq!(
            rolled[0].message.as_deref(),
            Some("Created new replica set \"web-def\"")
        );
        create_failed(&mut rolled, &d, "quota".into(), at(3));
        let failure = get_condition(&rolled, REPLICA_FAILURE).unwrap();
        assert_eq!(failure.message.as_deref(), Some("quota"));
        // No deadline: none of it.
        let mut none = Vec::new();
        let no_deadline = deployment(None, Value::Null);
        found_new(&mut none, &no_deadline, "a", at(1));
        created_new(&mut none, &no_deadline, "a", at(1));
        create_failed(&mut none, &no_deadline, "x".into(), at(1));
        assert!(none.is_empty());
    }

    #[test]
    fn availability_is_replicas_less_max_unavailable() {
        // 3 replicas, 25% unavailable rounds down to 0: all 3 must be available.
        let d = deployment(Some(600), Value::Null);
        let cases = [(3, "True"), (2, "False"), (4, "True")];
        for (available, want) in cases {
            let c = availability(&d, &counts(3, 3, available), at(0));
            assert_eq!(c.status, want, "{available} available");
        }
        let mut d = deployment(Some(600), Value::Null);
        d.spec.as_mut().unwrap().strategy = serde_json::from_value(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
        )
        .unwrap();
        assert_eq!(availability(&d, &counts(3, 3, 2), at(0)).status, "True");
    }
}
