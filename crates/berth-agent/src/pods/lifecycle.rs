//! Carrying out a plan's actions on the engine: starting a container (its image, config,
//! create, start and postStart hook, with the kubelet's events and waiting reasons),
//! restarting one past its back-off, noting a back-off (CrashLoopBackOff), replacing a
//! container left half-made, killing one a probe condemned, and stopping the pod's
//! containers in order with their preStop hooks.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use berth_events::EventType;
use berth_runtime::container::State;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};

use super::action;
use super::container_config::{self, PodContext};
use super::plan::{self, Action};
use super::status::{Observed, Waiting};
use super::worker::{Observations, Worker, RETRY};

/// How long a postStart hook may run.
const POST_START_TIMEOUT: Duration = Duration::from_secs(120);

impl Worker {
    /// Carry out `actions` in order, keeping `observed` up to date and noting in `tried`
    /// the containers given an attempt. Whether the engine changed (a container came up or
    /// was killed), so that a new plan can go further.
    pub(super) async fn execute(
        &mut self,
        ctx: &PodContext<'_>,
        spec: &PodSpec,
        actions: &[Action],
        observed: &mut Observations,
        tried: &mut BTreeSet<String>,
    ) -> bool {
        let mut changed = false;
        for action in actions {
            let name = action.container();
            let Some(c) = find(spec, name) else {
                continue;
            };
            match action {
                Action::Finished(_) => {
                    self.waiting.remove(name);
                    continue;
                }
                Action::BackOff { delay, until, .. } => {
                    tried.insert(name.to_string());
                    self.back_off(ctx.pod, name, *delay, *until).await;
                    continue;
                }
                Action::Kill { reason, grace, .. } => {
                    self.kill(ctx, c, reason, *grace, observed.get(name)).await;
                    changed = true;
                }
                Action::Start(_) => {
                    tried.insert(name.to_string());
                    self.start(ctx, c).await;
                }
                Action::Restart { forgive, .. } => {
                    tried.insert(name.to_string());
                    if *forgive {
                        self.backoff.forget(name);
                    }
                    self.backoff.restarted(name, Instant::now());
                    self.start(ctx, c).await;
                }
                Action::Recreate(_) => {
                    tried.insert(name.to_string());
                    self.recreate(ctx, c, observed.get(name)).await;
                }
            }
            let now = self.observe(name);
            changed |= now
                .current
                .as_ref()
                .is_some_and(|i| i.state == State::Running);
            observed.insert(name.to_string(), now);
        }
        changed
    }

    /// An exited container waits out its back-off: CrashLoopBackOff, and a BackOff event.
    async fn back_off(&mut self, pod: &Pod, name: &str, delay: Duration, until: Instant) {
        let pod_desc = format!("{}_{}({})", self.key.name, self.key.namespace, self.key.uid);
        self.waiting.insert(
            name.to_string(),
            Waiting::new(
                "CrashLoopBackOff",
                Some(format!(
                    "back-off {} restarting failed container={name} pod={pod_desc}",
                    go_duration(delay),
                )),
            ),
        );
        self.event(
            pod,
            Some(name),
            EventType::Warning,
            "BackOff",
            &format!("Back-off restarting failed container {name} in pod {pod_desc}"),
        )
        .await;
        self.wake_at(until);
    }

    /// A container left half-created (the agent stopped between create and start): start
    /// it, or remove it and start a fresh attempt.
    async fn recreate(&mut self, ctx: &PodContext<'_>, c: &Container, obs: Option<&Observed>) {
        if let Some(cur) = obs.and_then(|o| o.current.as_ref()) {
            if cur.state == State::Created
                && self.shared.containers.start(&cur.record.id).await.is_ok()
            {
                self.watch_exit(&cur.record.id.clone());
                return;
            }
            let _ = self.shared.containers.delete(&cur.record.id, true).await;
            if let Some(list) = self.engine.get_mut(&c.name) {
                list.retain(|(_, id)| *id != cur.record.id);
            }
        }
        self.start(ctx, c).await;
    }

    /// Kill a container a liveness or startup probe condemned: its preStop hook, then the
    /// stop, within `grace`.
    async fn kill(
        &mut self,
        ctx: &PodContext<'_>,
        c: &Container,
        reason: &str,
        grace: Duration,
        obs: Option<&Observed>,
    ) {
        let Some(id) = obs
            .and_then(|o| o.current.as_ref())
            .map(|i| i.record.id.clone())
        else {
            return;
        };
        self.event(ctx.pod, Some(&c.name), EventType::Normal, "Killing", reason)
            .await;
        self.stop_probes(&id);
        let pod_ip = ctx.facts.pod_ip.clone().unwrap_or_default();
        self.pre_stop_and_stop(c, &id, &pod_ip, grace).await;
    }

    /// Pull if needed, create and start a new attempt of `c`; failures become the
    /// container's waiting reason.
    async fn start(&mut self, ctx: &PodContext<'_>, c: &Container) {
        let pod = ctx.pod;
        if let Err(w) = self.ensure_image(pod, c).await {
            self.waiting.insert(c.name.clone(), w);
            return;
        }
        let attempt = self.next_attempt(&c.name);
        let config = match container_config::build(ctx, c, attempt) {
            Ok(cfg) => cfg,
            Err(e) => {
                self.failed_start(pod, &c.name, "CreateContainerConfigError", e.0)
                    .await;
                return;
            }
        };
        let t0 = Instant::now();
        let info = match self.shared.containers.create(config).await {
            Ok(info) => info,
            Err(e) => {
                self.failed_start(pod, &c.name, "CreateContainerError", e.to_string())
                    .await;
                return;
            }
        };
        let id = info.record.id.clone();
        self.engine
            .entry(c.name.clone())
            .or_default()
            .push((attempt, id.clone()));
        self.event(
            pod,
            Some(&c.name),
            EventType::Normal,
            "Created",
            &format!("Created container: {}", c.name),
        )
        .await;
        let t1 = Instant::now();
        let started = self.shared.containers.start(&id).await;
        tracing::debug!(
            pod = %self.key.name,
            container = %c.name,
            create_ms = (t1 - t0).as_millis() as u64,
            start_ms = t1.elapsed().as_millis() as u64,
            "container started"
        );
        self.watch_exit(&id);
        if let Err(e) = started {
            self.failed_start(pod, &c.name, "RunContainerError", e.to_string())
                .await;
            return;
        }
        self.waiting.remove(&c.name);
        self.event(
            pod,
            Some(&c.name),
            EventType::Normal,
            "Started",
            &format!("Started container {}", c.name),
        )
        .await;
        self.post_start(ctx, c, &id).await;
    }

    /// Run the container's postStart hook; the kubelet kills a container whose hook fails
    /// (it then restarts per the pod's policy).
    async fn post_start(&mut self, ctx: &PodContext<'_>, c: &Container, id: &str) {
        let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) else {
            return;
        };
        let pod_ip = ctx.facts.pod_ip.clone().unwrap_or_default();
        let result = match action::of_handler(hook, c, &pod_ip) {
            Ok(a) => {
                action::run(
                    &a,
                    &self.shared.berth,
                    &self.shared.config.data_dir,
                    id,
                    POST_START_TIMEOUT,
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.event(
                ctx.pod,
                Some(&c.name),
                EventType::Warning,
                "FailedPostStartHook",
                &format!("PostStartHook failed: {e}"),
            )
            .await;
            let _ = self.shared.containers.stop(id, Duration::ZERO).await;
        }
    }

    /// A container could not be created or started: a Failed event, the waiting reason
    /// kubectl shows, and another try soon.
    async fn failed_start(&mut self, pod: &Pod, name: &str, reason: &str, message: String) {
        self.event(
            pod,
            Some(name),
            EventType::Warning,
            "Failed",
            &format!("Error: {message}"),
        )
        .await;
        self.waiting
            .insert(name.to_string(), Waiting::new(reason, Some(message)));
        self.wake_at(Instant::now() + RETRY);
    }

    /// Stop every running container of the pod in [`plan::stop_order`], each group
    /// together, each container with `grace` for its preStop hook and SIGTERM.
    pub(super) async fn stop_all(&mut self, pod: &Pod, grace: Duration) {
        let spec = pod.spec.clone().unwrap_or_default();
        let groups = plan::stop_order(&spec, self.engine.keys().map(String::as_str));
        let pod_ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .unwrap_or_default();
        for group in groups {
            let mut stops = Vec::new();
            for name in group {
                let Some((_, id)) = self.engine.get(&name).and_then(|l| l.last()).cloned() else {
                    continue;
                };
                let running = self
                    .shared
                    .containers
                    .inspect(&id)
                    .is_ok_and(|i| i.state == State::Running);
                if !running {
                    continue;
                }
                self.event(
                    pod,
                    Some(&name),
                    EventType::Normal,
                    "Killing",
                    &format!("Stopping container {name}"),
                )
                .await;
                self.stop_probes(&id);
                stops.push((find(&spec, &name).cloned(), id));
            }
            let this = &*self;
            let runs = stops.iter().map(|(c, id)| {
                let pod_ip = &pod_ip;
                async move {
                    match c {
                        Some(c) => this.pre_stop_and_stop(c, id, pod_ip, grace).await,
                        None => {
                            let _ = this.shared.containers.stop(id, grace).await;
                        }
                    }
                }
            });
            futures::future::join_all(runs).await;
        }
    }

    /// Run the container's preStop hook (within `grace`), then stop it with what is left.
    async fn pre_stop_and_stop(&self, c: &Container, id: &str, pod_ip: &str, grace: Duration) {
        let started = Instant::now();
        let hook = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref());
        if let Some(hook) = hook {
            let result = match action::of_handler(hook, c, pod_ip) {
                Ok(a) => {
                    action::run(
                        &a,
                        &self.shared.berth,
                        &self.shared.config.data_dir,
                        id,
                        grace,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                let r = self.object_ref(None, Some(&c.name));
                self.shared
                    .recorder
                    .publish(
                        &r,
                        EventType::Warning,
                        "FailedPreStopHook",
                        &format!("PreStopHook failed: {e}"),
                    )
                    .await;
            }
        }
        let left = grace.saturating_sub(started.elapsed());
        let _ = self.shared.containers.stop(id, left).await;
    }
}

/// The init or app container `name` of `spec`.
fn find<'a>(spec: &'a PodSpec, name: &str) -> Option<&'a Container> {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

/// A duration as Go prints it (`10s`, `1m20s`, `5m0s`), as kubectl users read back-offs.
fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }
}
