//! Liveness, readiness and startup probes, as documented for the kubelet: each probe of a
//! running container is a task that waits `initialDelaySeconds`, then runs every
//! `periodSeconds` with `timeoutSeconds`, and flips its result after `successThreshold`
//! successes or `failureThreshold` failures. Liveness and readiness wait until the startup
//! probe (if any) has succeeded. A failed liveness or startup probe asks the pod worker to
//! kill the container, which then restarts per the pod's restart policy.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_events::{EventType, Recorder};
use k8s_openapi::api::core::v1::{Container, ObjectReference, Probe};
use tokio::sync::mpsc;

use super::action::{self, Action};

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// What the probes of one container (by engine id) have found so far.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// The startup probe succeeded (or there is none).
    pub started: bool,
    /// The readiness probe's verdict (true when there is none).
    pub ready: bool,
    /// Set when a liveness or startup probe failed: why the container must be killed.
    pub kill: Option<String>,
}

/// Probe results of a pod's containers, shared between the probe tasks and the worker.
pub type Shared = Arc<Mutex<HashMap<String, Results>>>;

/// Read a container's results.
pub fn results(shared: &Shared, id: &str) -> Option<Results> {
    shared.lock().ok().and_then(|m| m.get(id).cloned())
}

fn update(shared: &Shared, id: &str, f: impl FnOnce(&mut Results)) {
    if let Ok(mut m) = shared.lock() {
        if let Some(r) = m.get_mut(id) {
            f(r);
        }
    }
}

/// Everything a probe task needs.
pub struct Context {
    /// Each container's results, which the pod's worker reads.
    pub shared: Shared,
    /// Wakes the pod's worker when a result changes.
    pub wake: mpsc::UnboundedSender<()>,
    /// Records an `Unhealthy` Event for each failed probe.
    pub recorder: Recorder,
    /// The pod, as the Events' involved object.
    pub object: ObjectReference,
    /// This executable, which runs exec probes (`berth exec`).
    pub berth: PathBuf,
    /// The engine's data directory, for `berth exec`.
    pub data_dir: PathBuf,
}

/// Start the probes of a freshly started container `id`; returns their tasks (abort them
/// when the container goes).
pub fn start(
    ctx: &Arc<Context>,
    container: &Container,
    id: &str,
    pod_ip: &str,
) -> Vec<tokio::task::JoinHandle<()>> {
    let probes = [
        (Kind::Startup, container.startup_probe.as_ref()),
        (Kind::Liveness, container.liveness_probe.as_ref()),
        (Kind::Readiness, container.readiness_probe.as_ref()),
    ];
    let initial = Results {
        started: container.startup_probe.is_none(),
        ready: container.readiness_probe.is_none(),
        kill: None,
    };
    if let Ok(mut m) = ctx.shared.lock() {
        m.insert(id.to_string(), initial);
    }
    let mut tasks = Vec::new();
    for (kind, probe) in probes {
        let Some(probe) = probe else { continue };
        let resolved = action::of_probe(probe, container, pod_ip);
        let ctx = ctx.clone();
        let id = id.to_string();
        let name = container.name.clone();
        let probe = probe.clone();
        tasks.push(tokio::spawn(async move {
            run(ctx, kind, probe, resolved, id, name).await;
        }));
    }
    tasks
}

fn secs(v: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(v.unwrap_or(default).max(0) as u64)
}

async fn run(
    ctx: Arc<Context>,
    kind: Kind,
    probe: Probe,
    resolved: Result<Action, String>,
    id: String,
    name: String,
) {
    let period = secs(probe.period_seconds, 10).max(Duration::from_secs(1));
    let timeout = secs(probe.timeout_seconds, 1).max(Duration::from_secs(1));
    let success_needed = probe.success_threshold.unwrap_or(1).max(1);
    let failure_needed = probe.failure_threshold.unwrap_or(3).max(1);
    tokio::time::sleep(secs(probe.initial_delay_seconds, 0)).await;
    let mut successes = 0;
    let mut failures = 0;
    let mut object = ctx.object.clone();
    object.field_path = Some(format!("spec.containers{{{name}}}"));
    loop {
        let started = results(&ctx.shared, &id).is_some_and(|r| r.started);
        if kind == Kind::Startup || started {
            let outcome = match &resolved {
                Ok(a) => action::run(a, &ctx.berth, &ctx.data_dir, &id, timeout).await,
                Err(e) => Err(e.clone()),
            };
            match outcome {
                Ok(_) => {
                    failures = 0;
                    successes += 1;
                    if successes >= success_needed {
                        let mut changed = false;
                        update(&ctx.shared, &id, |r| match kind {
                            Kind::Startup => {
                                changed = !r.started;
                                r.started = true;
                            }
                            Kind::Readiness => {
                                changed = !r.ready;
                                r.ready = true;
                            }
                            Kind::Liveness => {}
                        });
                        if changed {
                            let _ = ctx.wake.send(());
                        }
                        if kind == Kind::Startup {
                            return;
                        }
                    }
                }
                Err(message) => {
                    successes = 0;
                    failures += 1;
                    ctx.recorder
                        .publish(
                            &object,
                            EventType::Warning,
                            "Unhealthy",
                            &format!("{} probe failed: {message}", kind.label()),
                        )
                        .await;
                    if failures >= failure_needed {
                        match kind {
                            Kind::Readiness => {
                                let mut changed = false;
                                update(&ctx.shared, &id, |r| {
                                    changed = r.ready;
                                    r.ready = false;
                                });
                                if changed {
                                    let _ = ctx.wake.send(());
                                }
                            }
                            Kind::Liveness | Kind::Startup => {
                                let why = format!(
                                    "Container {name} failed {} probe, will be restarted",
                                    kind.label().to_lowercase()
                                );
                                update(&ctx.shared, &id, |r| r.kill = Some(why));
                                let _ = ctx.wake.send(());
                                return;
                            }
                        }
                    }
                }
            }
        }
        tokio::time::sleep(period).await;
    }
}
