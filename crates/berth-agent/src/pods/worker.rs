//! One worker per pod: it drives the engine from the pod's spec to running containers and
//! reports what it sees. Each pass of [`Worker::sync`] makes the pod's sandbox and files
//! ready ([`super::sandbox`], [`super::sources`]), observes the engine's containers of the
//! pod, asks the pure [`plan`] what to do, carries that out ([`super::lifecycle`]) and plans
//! again while it changed something, then reports the status ([`super::status`]). It runs
//! again when the pod changes, a container exits, a back-off ends, or every minute.
//! Deletion stops the containers with the pod's grace period, releases everything and
//! completes the API-side graceful delete.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_events::{EventType, Recorder};
use berth_runtime::container::{ContainerInfo, Containers, State};
use berth_runtime::sandbox::{Sandbox, Sandboxes};
use k8s_openapi::api::core::v1::{ConfigMap, Container, ObjectReference, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use tokio::sync::{mpsc, watch};

use super::backoff::Backoff;
use super::container_config::PodContext;
use super::names::{self, PodKey};
use super::plan::{self, Phase, Plan, Seen};
use super::probe;
use super::status::{self, Observed, Probed, Waiting};
use crate::AgentConfig;

/// How often a pod is looked at when nothing happens: the kubelet's default `syncFrequency`.
/// Everything a pod waits for wakes its worker (pod changes, container exits, probe results,
/// back-off expiry, its ConfigMaps and Secrets), so this is a safety net; it also paces token
/// renewal (due after 80 % of a lifetime of at least 10 minutes). At 10 s, 200 idle pods
/// cost the node about 1 % of a core.
const RESYNC: Duration = Duration::from_secs(60);
/// Retry delay after an error talking to the API server or setting up the sandbox.
pub(super) const RETRY: Duration = Duration::from_secs(2);

/// What every worker shares.
pub struct Shared {
    /// The agent's client of the API server.
    pub client: kube::Client,
    /// The engine's containers.
    pub containers: Arc<Containers>,
    /// The engine's pod sandboxes (network, IPC and UTS namespaces with the pod's address).
    pub sandboxes: Sandboxes,
    /// Records the pods' Events (pulled, started, killing, back-off).
    pub recorder: Recorder,
    /// The agent's configuration.
    pub config: AgentConfig,
    /// Where the pods' directories are (`<data-dir>/pods/<uid>`: volumes and `/etc` files).
    pub pods_dir: PathBuf,
    /// The Linux bridge pod sandboxes attach to ([`crate::BRIDGE`]).
    pub bridge: String,
    /// Node allocatable CPU in millicores, for `resourceFieldRef`.
    pub node_cpu_milli: i128,
    /// Node allocatable memory in bytes, for `resourceFieldRef`.
    pub node_memory: i128,
    /// The node's resolv.conf, read once.
    pub host_resolv: String,
    /// This executable, for `berth exec` (exec probes and hooks).
    pub berth: PathBuf,
    /// The cluster's Services, for the service environment variables.
    pub services: kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Service>,
    /// The ConfigMaps the pods use, followed by watches.
    pub config_maps: super::objects::ObjectCache<ConfigMap>,
    /// The Secrets the pods use, likewise followed by watches.
    pub secrets: super::objects::ObjectCache<k8s_openapi::api::core::v1::Secret>,
    /// Why this node cannot run pods (its cgroups failed the start-up check): every
    /// sandbox is refused with it, so each pod's events say so.
    pub unusable: Option<String>,
}

/// What the engine shows of the pod's containers, by Kubernetes container name.
pub(super) type Observations = BTreeMap<String, Observed>;

/// The worker of one pod, and what it keeps between passes.
pub struct Worker {
    pub(super) shared: Arc<Shared>,
    pub(super) key: PodKey,
    rx: watch::Receiver<Option<Arc<Pod>>>,
    pub(super) wake_tx: mpsc::UnboundedSender<()>,
    wake_rx: mpsc::UnboundedReceiver<()>,
    /// Engine containers of this pod by Kubernetes container name: (attempt, id), oldest
    /// first.
    pub(super) engine: BTreeMap<String, Vec<(u32, String)>>,
    /// Why containers are not running, where the engine cannot tell (pulling, back-off,
    /// failed creation).
    pub(super) waiting: HashMap<String, Waiting>,
    pub(super) backoff: Backoff,
    /// Pull back-off per image: the delay in force and when it ends.
    pub(super) image_backoff: HashMap<String, (Duration, Instant)>,
    watched: HashSet<String>,
    /// The last status reported, as the JSON sent (a quarter of the parsed value's size).
    last_status: Option<Vec<u8>>,
    start_time: Time,
    next_wake: Option<Instant>,
    pub(super) probes: Arc<probe::Context>,
    /// Probe tasks by engine container id.
    probe_tasks: HashMap<String, Vec<tokio::task::JoinHandle<()>>>,
    /// The phase the pod ended in (Succeeded or Failed): nothing runs any more.
    finished: Option<Phase>,
    /// Service account tokens of its projected volumes.
    pub(super) tokens: super::tokens::TokenCache,
}

impl Worker {
    /// A worker for pod `key` that follows the pod through `rx` and carries on with the
    /// containers the engine already has of it (`adopted`).
    pub fn new(
        shared: Arc<Shared>,
        key: PodKey,
        rx: watch::Receiver<Option<Arc<Pod>>>,
        adopted: Vec<ContainerInfo>,
    ) -> Worker {
        let (wake_tx, wake_rx) = mpsc::unbounded_channel();
        let mut engine: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
        let mut earliest: Option<String> = None;
        for info in &adopted {
            if let Some((name, attempt)) = names::container_of(info) {
                engine
                    .entry(name.to_string())
                    .or_default()
                    .push((attempt, info.record.id.clone()));
            }
            if earliest
                .as_ref()
                .is_none_or(|e| info.record.created_at < *e)
            {
                earliest = Some(info.record.created_at.clone());
            }
        }
        for list in engine.values_mut() {
            list.sort();
        }
        let mut object =
            berth_events::reference("v1", "Pod", Some(&key.namespace), &key.name, Some(&key.uid));
        object.field_path = None;
        let probes = Arc::new(probe::Context {
            shared: Arc::default(),
            wake: wake_tx.clone(),
            recorder: shared.recorder.clone(),
            object,
            berth: shared.berth.clone(),
            data_dir: shared.config.data_dir.clone(),
        });
        let start_time = earliest
            .as_deref()
            .and_then(status::time)
            .unwrap_or_else(|| Time(jiff::Timestamp::now()));
        Worker {
            shared,
            key,
            rx,
            wake_tx,
            wake_rx,
            engine,
            waiting: HashMap::new(),
            backoff: Backoff::default(),
            image_backoff: HashMap::new(),
            watched: Default::default(),
            last_status: None,
            start_time,
            next_wake: None,
            finished: None,
            probes,
            probe_tasks: HashMap::new(),
            tokens: Default::default(),
        }
    }

    /// Run until the pod is gone (then everything of it is released) or the agent stops
    /// (then its containers keep running for the next agent to find).
    pub async fn run(mut self) {
        // Containers adopted from a previous agent need exit watchers too.
        let ids: Vec<String> = self
            .engine
            .values()
            .flat_map(|l| l.iter().map(|(_, id)| id.clone()))
            .collect();
        for id in ids {
            self.watch_exit(&id);
        }
        let mut terminated = false;
        loop {
            let pod = self.rx.borrow_and_update().clone();
            self.next_wake = None;
            match pod {
                // The steps are boxed: the worker then waits between them as a small future
                // (unboxed, every pod's idle task held the largest step's state, ~16 KiB).
                None => {
                    Box::pin(self.release(Duration::from_secs(2))).await;
                    return;
                }
                Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
                    if !terminated {
                        let grace = pod
                            .metadata
                            .deletion_grace_period_seconds
                            .unwrap_or(30)
                            .max(0) as u64;
                        Box::pin(self.stop_all(&pod, Duration::from_secs(grace))).await;
                        Box::pin(self.release(Duration::ZERO)).await;
                        terminated = true;
                    }
                    if !Box::pin(self.finish_delete(&pod)).await {
                        self.next_wake = Some(Instant::now() + RETRY);
                    }
                }
                Some(pod) => Box::pin(self.sync(&pod)).await,
            }
            let deadline = self.next_wake.unwrap_or_else(|| Instant::now() + RESYNC);
            tokio::select! {
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        // The agent is stopping: leave the containers running.
                        return;
                    }
                }
                _ = self.wake_rx.recv() => {}
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
        }
    }

    /// One pass: sandbox and files, then observe, plan and carry out, then report.
    async fn sync(&mut self, pod: &Pod) {
        let Some(spec) = pod.spec.as_ref() else {
            return;
        };
        // Succeeded and Failed are final: a pod the API already has in one (reported by an
        // earlier agent) is not started again.
        if self.finished.is_none() {
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if let Some(p) = phase.and_then(Phase::parse).filter(|p| p.is_terminal()) {
                self.finished = Some(p);
                self.last_status = Some(Vec::new());
            }
        }
        if let Some(phase) = self.finished {
            // Reported once; a failed report is retried. The pod object may be older than
            // the report, so its phase is never read back.
            if self.last_status.is_none() {
                let observed = self.observe_all(spec);
                self.report(pod, &observed, None, true, phase).await;
            }
            return;
        }
        let Some(sandbox) = self.sandbox(pod).await else {
            return;
        };
        let Some(ready) = self.prepare(pod, &sandbox).await else {
            return;
        };
        let key = self.key.clone();
        let ctx = ready.context(pod, &key, &sandbox);
        let mut observed = self.observe_all(spec);
        let plan = self.carry_out(&ctx, spec, &mut observed).await;
        if plan.phase.is_terminal() {
            // Sidecars and anything left stop once the pod is done; the address goes back.
            self.stop_all(pod, plan::grace_period(spec)).await;
            let _ = self.shared.sandboxes.remove(&self.key.uid).await;
            self.finished = Some(plan.phase);
            observed = self.observe_all(spec);
        }
        self.follow_probes(spec, &observed, ctx.facts.pod_ip.as_deref().unwrap_or(""));
        self.report(pod, &observed, Some(&sandbox), plan.initialized, plan.phase)
            .await;
    }

    /// Plan and carry the plan out until that changes nothing more in the engine; the last
    /// plan says where the pod stands.
    async fn carry_out(
        &mut self,
        ctx: &PodContext<'_>,
        spec: &PodSpec,
        observed: &mut Observations,
    ) -> Plan {
        let mut tried = BTreeSet::new();
        // Every round that changes something starts a container not tried before or kills
        // one, so this ends; the bound only guards against a container that keeps coming
        // back up condemned.
        let rounds = 2 * observed.len() + 2;
        let mut round = 0;
        loop {
            let now = Instant::now();
            let seen = self.seen(observed, now);
            let plan = plan::plan(spec, &seen, &self.backoff, &tried, now);
            round += 1;
            let changed = self
                .execute(ctx, spec, &plan.actions, observed, &mut tried)
                .await;
            if !changed || round >= rounds {
                return plan;
            }
        }
    }

    /// What the plan sees of `observed` at `now`, with the probes' verdicts.
    fn seen(&self, observed: &Observations, now: Instant) -> BTreeMap<String, Seen> {
        let wall = jiff::Timestamp::now();
        observed
            .iter()
            .map(|(name, obs)| {
                let kill = obs
                    .current
                    .as_ref()
                    .filter(|c| c.state == State::Running)
                    .and_then(|c| probe::results(&self.probes.shared, &c.record.id))
                    .and_then(|r| r.kill);
                (name.clone(), Seen::of(obs, kill, now, wall))
            })
            .collect()
    }

    /// Every container of `spec` as the engine shows it.
    pub(super) fn observe_all(&mut self, spec: &PodSpec) -> Observations {
        spec.init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .map(|c| (c.name.clone(), self.observe(&c.name)))
            .collect()
    }

    /// The latest two attempts of `name`; older ones are removed (the kubelet keeps one
    /// dead container per name for `logs --previous`).
    pub(super) fn observe(&mut self, name: &str) -> Observed {
        let Some(list) = self.engine.get_mut(name) else {
            return Observed::default();
        };
        while list.len() > 2 {
            let (_, old) = list.remove(0);
            let containers = self.shared.containers.clone();
            tokio::spawn(async move {
                let _ = containers.delete(&old, true).await;
            });
        }
        let inspect = |id: &String| self.shared.containers.inspect(id).ok();
        let current = list.last().and_then(|(_, id)| inspect(id));
        let previous = if list.len() == 2 {
            list.first().and_then(|(_, id)| inspect(id))
        } else {
            None
        };
        Observed { current, previous }
    }

    pub(super) fn next_attempt(&self, name: &str) -> u32 {
        self.engine
            .get(name)
            .and_then(|l| l.last())
            .map_or(0, |(a, _)| a + 1)
    }

    /// Probes for exactly the running containers: started for one that has none yet (a new
    /// container, or one adopted from an earlier agent), stopped for an attempt that exited
    /// or was replaced.
    fn follow_probes(&mut self, spec: &PodSpec, observed: &Observations, pod_ip: &str) {
        let running: Vec<(&Container, &str)> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .filter_map(|c| {
                let current = observed.get(&c.name)?.current.as_ref()?;
                (current.state == State::Running).then_some((c, current.record.id.as_str()))
            })
            .collect();
        let gone: Vec<String> = self
            .probe_tasks
            .keys()
            .filter(|id| !running.iter().any(|(_, r)| r == id))
            .cloned()
            .collect();
        for id in gone {
            self.stop_probes(&id);
        }
        for (c, id) in running {
            if !self.probe_tasks.contains_key(id) {
                let tasks = probe::start(&self.probes, c, id, pod_ip);
                self.probe_tasks.insert(id.to_string(), tasks);
            }
        }
    }

    pub(super) fn stop_probes(&mut self, id: &str) {
        if let Some(tasks) = self.probe_tasks.remove(id) {
            for t in tasks {
                t.abort();
            }
        }
        if let Ok(mut m) = self.probes.shared.lock() {
            m.remove(id);
        }
    }

    fn probed(&self, c: &Container) -> Probed {
        let id = self
            .engine
            .get(&c.name)
            .and_then(|l| l.last())
            .map(|(_, id)| id);
        match id.and_then(|id| probe::results(&self.probes.shared, id)) {
            Some(r) => Probed {
                started: r.started,
                ready: r.ready,
            },
            // Before its probes run, a container with a readiness (startup) probe is not
            // ready (started) yet: only one without is, from the moment it runs.
            None => Probed {
                started: c.startup_probe.is_none(),
                ready: c.readiness_probe.is_none(),
            },
        }
    }

    pub(super) fn watch_exit(&mut self, id: &str) {
        if !self.watched.insert(id.to_string()) {
            return;
        }
        let containers = self.shared.containers.clone();
        let wake = self.wake_tx.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let _ = containers.wait(&id).await;
            let _ = wake.send(());
        });
    }

    pub(super) fn wake_at(&mut self, at: Instant) {
        self.next_wake = Some(self.next_wake.map_or(at, |w| w.min(at)));
    }

    /// The pod, or one of its containers, as an event's object.
    pub(super) fn object_ref(&self, pod: Option<&Pod>, container: Option<&str>) -> ObjectReference {
        let mut r = berth_events::reference(
            "v1",
            "Pod",
            Some(&self.key.namespace),
            &self.key.name,
            Some(&self.key.uid),
        );
        r.resource_version = pod.and_then(|p| p.metadata.resource_version.clone());
        r.field_path = container.map(|c| format!("spec.containers{{{c}}}"));
        r
    }

    pub(super) async fn event(
        &self,
        pod: &Pod,
        container: Option<&str>,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        let r = self.object_ref(Some(pod), container);
        self.shared
            .recorder
            .publish(&r, kind, reason, message)
            .await;
    }

    pub(super) fn pod_dir(&self) -> PathBuf {
        self.shared.pods_dir.join(&self.key.uid)
    }

    /// Complete the graceful delete: the object goes once its containers are gone.
    async fn finish_delete(&self, pod: &Pod) -> bool {
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), &self.key.namespace);
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&self.key.name, &params).await {
            Ok(_) => true,
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => true,
            Err(e) => {
                tracing::warn!(pod = %self.key.name, error = %e, "completing the pod's deletion");
                false
            }
        }
    }

    /// Patch the pod's status when it differs from what was last reported.
    pub(super) async fn report(
        &mut self,
        pod: &Pod,
        observed: &Observations,
        sandbox: Option<&Sandbox>,
        initialized: bool,
        phase: Phase,
    ) {
        let Some(spec) = &pod.spec else {
            return;
        };
        let none = Observed::default();
        let container_status = |c: &Container| {
            status::container_status(
                &c.name,
                c.image.as_deref().unwrap_or(""),
                observed.get(&c.name).unwrap_or(&none),
                self.waiting.get(&c.name),
                self.probed(c),
            )
        };
        let report = status::Report {
            phase,
            initialized,
            has_sandbox: sandbox.is_some(),
            pod_ip: sandbox.and_then(|s| s.ip).map(|ip| ip.to_string()),
            host_ip: &self.shared.config.address,
            start_time: &self.start_time,
            containers: spec.containers.iter().map(container_status).collect(),
            init_containers: spec
                .init_containers
                .iter()
                .flatten()
                .map(container_status)
                .collect(),
        };
        let status = status::pod_status(pod, report, &Time(jiff::Timestamp::now()));
        let sent = serde_json::to_vec(&status).unwrap_or_default();
        if self.last_status.as_ref() == Some(&sent) {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), &self.key.namespace);
        let patch = serde_json::json!({"status": status});
        match api
            .patch_status(
                &self.key.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => self.last_status = Some(sent),
            Err(e) => {
                tracing::debug!(pod = %self.key.name, error = %e, "reporting the pod status");
                self.wake_at(Instant::now() + RETRY);
            }
        }
    }
}
