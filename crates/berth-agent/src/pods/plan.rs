//! The pod worker's decisions as pure functions: from the pod's spec, what the engine shows
//! of its containers, their restart back-off and the time, to the actions that move the pod
//! on and the phase it is in (the kubelet's `computePodActions`). The worker observes, asks
//! [`plan`], carries the actions out in order, and plans again while that changed the
//! engine, so one pass goes as far as it can (a sidecar that came up lets the next init
//! container start at once; started app containers make the pod Running).
//!
//! - Init containers run one at a time, in order; each must exit 0 before the next starts.
//!   A failed one is restarted (with back-off), unless the pod's restartPolicy is Never:
//!   then the pod has failed.
//! - Sidecars (init containers with restartPolicy Always) start in their turn and must be
//!   running before the next init container starts; they are restarted whenever they exit,
//!   whatever the pod's policy, and are stopped after the app containers ([`stop_order`]).
//! - App containers start together once the pod is initialized and are restarted per the
//!   pod's restartPolicy (Always; OnFailure: after a non-zero exit; Never: not at all).
//! - Restarts wait out the container's back-off ([`Backoff`]): CrashLoopBackOff.
//! - A container whose liveness or startup probe failed is killed first, alone: the next
//!   plan sees it exited and restarts it by the rules above.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use berth_runtime::container::State;
use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::backoff::{Backoff, Verdict, RESET_AFTER};
use super::status::Observed;

/// The pod's phase, as `status.phase` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Accepted, but not every container has been created and started yet.
    Pending,
    /// Every container has been created and at least one runs or is restarting.
    Running,
    /// Every container exited with status 0, and none will be restarted.
    Succeeded,
    /// Every container has stopped, at least one failed, and none will be restarted.
    Failed,
}

impl Phase {
    /// The phase as `status.phase` names it (`Running`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }

    /// The phase `status.phase` names, if it is one.
    pub fn parse(phase: &str) -> Option<Phase> {
        match phase {
            "Pending" => Some(Phase::Pending),
            "Running" => Some(Phase::Running),
            "Succeeded" => Some(Phase::Succeeded),
            "Failed" => Some(Phase::Failed),
            _ => None,
        }
    }

    /// Succeeded and Failed are final: nothing of the pod runs again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// What the engine shows of a container's latest attempt, as far as the plan cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// No attempt yet.
    Absent,
    /// Created but never started (the agent stopped in between), or half-made.
    Stuck,
    /// Running: left alone unless a probe says it must go.
    Running {
        /// Why it must go, when a liveness or startup probe failed.
        kill: Option<String>,
    },
    /// Exited: what the restart policy and back-off decide on.
    Exited {
        /// Its exit code.
        code: i32,
        /// When it exited.
        finished: Instant,
        /// How long it had run.
        ran: Duration,
    },
}

impl Seen {
    /// What `observed` shows at `now` (`wall` is the same moment by the clock the engine's
    /// timestamps use); `kill` is the probes' verdict on the running attempt.
    pub fn of(
        observed: &Observed,
        kill: Option<String>,
        now: Instant,
        wall: jiff::Timestamp,
    ) -> Seen {
        let Some(current) = &observed.current else {
            return Seen::Absent;
        };
        match current.state {
            State::Running => Seen::Running { kill },
            State::Created | State::Unknown => Seen::Stuck,
            State::Exited => {
                let ago = |ts: Option<&str>| {
                    ts.and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .and_then(|t| Duration::try_from(wall.duration_since(t)).ok())
                        .unwrap_or(Duration::ZERO)
                };
                let finished_ago = ago(current.exit.as_ref().map(|e| e.finished_at.as_str()));
                let started_ago = ago(current.record.started_at.as_deref());
                Seen::Exited {
                    code: current.exit.as_ref().map_or(0, |e| e.exit_code),
                    finished: now.checked_sub(finished_ago).unwrap_or(now),
                    ran: started_ago.saturating_sub(finished_ago),
                }
            }
        }
    }
}

/// One step of a plan, on the container it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Stop a running container whose probe failed (`reason`, for the Killing event), its
    /// preStop hook and SIGTERM given `grace`.
    Kill {
        /// The container to stop.
        container: String,
        /// Why, for the Killing event.
        reason: String,
        /// How long the preStop hook and SIGTERM get before SIGKILL.
        grace: Duration,
    },
    /// Start the container's first attempt.
    Start(String),
    /// Start a new attempt of an exited container.
    Restart {
        /// The container to restart.
        container: String,
        /// The last attempt ran long enough that earlier crashes no longer count towards
        /// the back-off.
        forgive: bool,
    },
    /// An exited container waits out its back-off: CrashLoopBackOff.
    BackOff {
        /// The waiting container.
        container: String,
        /// The back-off delay in force.
        delay: Duration,
        /// When it may restart.
        until: Instant,
    },
    /// Start a created-but-not-started container, or replace it.
    Recreate(String),
    /// An app container exited for good: what it waited for before no longer applies.
    Finished(String),
}

impl Action {
    /// The container the action is about.
    pub fn container(&self) -> &str {
        match self {
            Action::Kill { container, .. }
            | Action::Restart { container, .. }
            | Action::BackOff { container, .. } => container,
            Action::Start(c) | Action::Recreate(c) | Action::Finished(c) => c,
        }
    }
}

/// What one look at the pod decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// In the order they are to be carried out.
    pub actions: Vec<Action>,
    /// Every init container has done its part (the Initialized condition).
    pub initialized: bool,
    /// The phase the pod is in.
    pub phase: Phase,
}

/// The pod's restartPolicy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    fn of(spec: &PodSpec) -> RestartPolicy {
        match spec.restart_policy.as_deref() {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether an app container that exited with `code` runs again.
    fn restarts(self, code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// What became of an app container, for the phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    NotStarted,
    Running,
    Restarting,
    Done(i32),
}

/// A sidecar: an init container that keeps running (restartPolicy Always).
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The pod's termination grace period.
pub fn grace_period(spec: &PodSpec) -> Duration {
    Duration::from_secs(spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64)
}

/// Decide the next steps for a pod with `spec` whose containers the engine shows as `seen`
/// (by name; a missing name is [`Seen::Absent`]). Containers in `tried` already had an
/// attempt started (or a back-off noted) in this pass: they get no other until the next,
/// so a failing start is retried on the worker's schedule, not in a loop.
pub fn plan(
    spec: &PodSpec,
    seen: &BTreeMap<String, Seen>,
    backoff: &Backoff,
    tried: &BTreeSet<String>,
    now: Instant,
) -> Plan {
    let policy = RestartPolicy::of(spec);
    let absent = Seen::Absent;
    let seen_of = |name: &str| seen.get(name).unwrap_or(&absent);
    let mut actions = Vec::new();
    let attempt = |actions: &mut Vec<Action>, name: &str, s: &Seen| {
        if !tried.contains(name) {
            actions.extend(next_attempt(name, s, backoff, now));
        }
    };

    let mut initialized = true;
    let mut init_failed = false;
    for c in spec.init_containers.iter().flatten() {
        let s = seen_of(&c.name);
        let done = match s {
            Seen::Running { .. } => is_sidecar(c),
            Seen::Exited { code: 0, .. } if !is_sidecar(c) => true,
            Seen::Exited { .. } if !is_sidecar(c) && policy == RestartPolicy::Never => {
                init_failed = true;
                false
            }
            _ => {
                attempt(&mut actions, &c.name, s);
                false
            }
        };
        if !done {
            initialized = false;
            break;
        }
    }

    let mut outcomes = Vec::new();
    if initialized {
        for c in &spec.containers {
            let s = seen_of(&c.name);
            let outcome = match s {
                Seen::Absent => {
                    attempt(&mut actions, &c.name, s);
                    Outcome::NotStarted
                }
                Seen::Running { .. } => Outcome::Running,
                Seen::Exited { code, .. } if !policy.restarts(*code) => {
                    actions.push(Action::Finished(c.name.clone()));
                    Outcome::Done(*code)
                }
                Seen::Exited { .. } | Seen::Stuck => {
                    attempt(&mut actions, &c.name, s);
                    Outcome::Restarting
                }
            };
            outcomes.push(outcome);
        }
    }

    let phase = if init_failed {
        Phase::Failed
    } else if !initialized || outcomes.contains(&Outcome::NotStarted) {
        Phase::Pending
    } else if !outcomes.is_empty() && outcomes.iter().all(|o| matches!(o, Outcome::Done(_))) {
        if outcomes.iter().all(|o| *o == Outcome::Done(0)) {
            Phase::Succeeded
        } else {
            Phase::Failed
        }
    } else {
        Phase::Running
    };

    let kills = kills(spec, &seen_of);
    Plan {
        actions: if kills.is_empty() { actions } else { kills },
        initialized,
        phase,
    }
}

/// The next attempt of a container that is not running: its first start, the replacement
/// of a stuck one, or a restart once its back-off allows.
fn next_attempt(name: &str, seen: &Seen, backoff: &Backoff, now: Instant) -> Option<Action> {
    match seen {
        Seen::Absent => Some(Action::Start(name.to_string())),
        Seen::Stuck => Some(Action::Recreate(name.to_string())),
        Seen::Running { .. } => None,
        Seen::Exited { finished, ran, .. } => {
            Some(match backoff.verdict(name, *finished, *ran, now) {
                Verdict::Go => Action::Restart {
                    container: name.to_string(),
                    forgive: *ran >= RESET_AFTER,
                },
                Verdict::Wait(delay, until) => Action::BackOff {
                    container: name.to_string(),
                    delay,
                    until,
                },
            })
        }
    }
}

/// Running containers a failed liveness or startup probe condemned, with the grace the
/// probe sets (`terminationGracePeriodSeconds`) or the pod's.
fn kills<'a>(spec: &PodSpec, seen_of: &impl Fn(&str) -> &'a Seen) -> Vec<Action> {
    let pod_grace = grace_period(spec);
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .filter_map(|c| match seen_of(&c.name) {
            Seen::Running { kill: Some(why) } => {
                let probe_grace = [&c.liveness_probe, &c.startup_probe]
                    .into_iter()
                    .flatten()
                    .find_map(|p| p.termination_grace_period_seconds)
                    .map(|s| Duration::from_secs(s.max(0) as u64));
                Some(Action::Kill {
                    container: c.name.clone(),
                    reason: why.clone(),
                    grace: probe_grace.unwrap_or(pod_grace),
                })
            }
            _ => None,
        })
        .collect()
}

/// The order the containers named in `present` are stopped in when the pod goes: the app
/// containers (and anything else that is not a sidecar) together, then the sidecars one at
/// a time, the last started first, so what the app containers rely on outlives them.
pub fn stop_order<'a>(
    spec: &PodSpec,
    present: impl IntoIterator<Item = &'a str>,
) -> Vec<Vec<String>> {
    let present: Vec<&str> = present.into_iter().collect();
    let sidecars: Vec<&str> = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| is_sidecar(c))
        .map(|c| c.name.as_str())
        .rev()
        .collect();
    let mut groups = vec![present
        .iter()
        .filter(|n| !sidecars.contains(n))
        .map(|n| n.to_string())
        .collect::<Vec<_>>()];
    groups.extend(
        sidecars
            .into_iter()
            .filter(|s| present.contains(s))
            .map(|s| vec![s.to_string()]),
    );
    groups
}

#[cfg(test)]
mod tests;
