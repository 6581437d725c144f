//! One worker per pod: it drives the engine from the pod's spec to running containers and
//! reports what it sees. Each pass of [`Worker::sync`] looks at the engine's containers of
//! the pod and takes the next steps (sandbox, volumes, init containers in order, native
//! sidecars, app containers, restarts with back-off), then reports the status; it runs again
//! when the pod changes, a container exits, a back-off ends, or every few seconds.
//! Deletion stops the containers with the pod's grace period, releases everything and
//! completes the API-side graceful delete.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_events::{EventType, Recorder};
use berth_runtime::container::{ContainerInfo, Containers, SandboxRef, State};
use berth_runtime::sandbox::{NetworkConfig, Sandbox, SandboxConfig, Sandboxes};
use k8s_openapi::api::core::v1::{ConfigMap, Container, ObjectReference, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use tokio::sync::{mpsc, watch};

use super::action;
use super::backoff::{Backoff, Verdict};
use super::container_config::{self, PodContext};
use super::env::{PodFacts, Sources};
use super::names::{self, PodKey};
use super::probe;
use super::status::{self, Observed, Probed, Waiting};
use super::volumes;
use crate::AgentConfig;

/// How often a pod is looked at when nothing happens: the kubelet's default `syncFrequency`.
/// Everything a pod waits for wakes its worker (pod changes, container exits, probe results,
/// back-off expiry, its ConfigMaps and Secrets), so this is a safety net; it also paces token
/// renewal (due after 80 % of a lifetime of at least 10 minutes). At 10 s, 200 idle pods
/// cost the node about 1 % of a core.
const RESYNC: Duration = Duration::from_secs(60);
/// How long a postStart hook may run.
const POST_START_TIMEOUT: Duration = Duration::from_secs(120);
/// Retry delay after an error talking to the API server or setting up the sandbox.
const RETRY: Duration = Duration::from_secs(2);

/// What every worker shares.
pub struct Shared {
    pub client: kube::Client,
    pub containers: Arc<Containers>,
    pub sandboxes: Sandboxes,
    pub recorder: Recorder,
    pub config: AgentConfig,
    pub pods_dir: PathBuf,
    pub bridge: String,
    /// Node allocatable CPU (millicores) and memory (bytes), for resourceFieldRef.
    pub node_cpu_milli: i128,
    pub node_memory: i128,
    /// The node's resolv.conf, read once.
    pub host_resolv: String,
    /// This executable, for `berth exec` (exec probes and hooks).
    pub berth: PathBuf,
    /// The cluster's Services, for the service environment variables.
    pub services: kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Service>,
    /// The ConfigMaps and Secrets the pods use, followed by watches.
    pub config_maps: super::objects::ObjectCache<ConfigMap>,
    pub secrets: super::objects::ObjectCache<Secret>,
}

/// What became of an app container, for the phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    NotStarted,
    Running,
    Restarting,
    Done(i32),
}

pub struct Worker {
    shared: Arc<Shared>,
    key: PodKey,
    rx: watch::Receiver<Option<Arc<Pod>>>,
    wake_tx: mpsc::UnboundedSender<()>,
    wake_rx: mpsc::UnboundedReceiver<()>,
    /// Engine containers of this pod by Kubernetes container name: (attempt, id), oldest
    /// first.
    engine: BTreeMap<String, Vec<(u32, String)>>,
    waiting: HashMap<String, Waiting>,
    backoff: Backoff,
    image_backoff: HashMap<String, (Duration, Instant)>,
    watched: std::collections::HashSet<String>,
    /// The last status reported, as the JSON sent (a quarter of the parsed value's size).
    last_status: Option<Vec<u8>>,
    start_time: Time,
    next_wake: Option<Instant>,
    probes: Arc<probe::Context>,
    /// Probe tasks by engine container id.
    probe_tasks: HashMap<String, Vec<tokio::task::JoinHandle<()>>>,
    /// The phase the pod ended in (Succeeded or Failed): nothing runs any more.
    finished: Option<&'static str>,
    /// Service account tokens of its projected volumes.
    tokens: super::tokens::TokenCache,
}

impl Worker {
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

    fn wake_at(&mut self, at: Instant) {
        self.next_wake = Some(self.next_wake.map_or(at, |w| w.min(at)));
    }

    fn object_ref(&self, pod: &Pod, container: Option<&str>) -> ObjectReference {
        let mut r = berth_events::reference(
            "v1",
            "Pod",
            Some(&self.key.namespace),
            &self.key.name,
            Some(&self.key.uid),
        );
        r.resource_version = pod.metadata.resource_version.clone();
        r.field_path = container.map(|c| format!("spec.containers{{{c}}}"));
        r
    }

    async fn event(
        &self,
        pod: &Pod,
        container: Option<&str>,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        let r = self.object_ref(pod, container);
        self.shared
            .recorder
            .publish(&r, kind, reason, message)
            .await;
    }

    fn pod_dir(&self) -> PathBuf {
        self.shared.pods_dir.join(&self.key.uid)
    }

    fn watch_exit(&mut self, id: &str) {
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

    /// The latest two attempts of `name`; older ones are removed (the kubelet keeps one
    /// dead container per name for `logs --previous`).
    fn observe(&mut self, name: &str) -> Observed {
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

    fn next_attempt(&self, name: &str) -> u32 {
        self.engine
            .get(name)
            .and_then(|l| l.last())
            .map_or(0, |(a, _)| a + 1)
    }

    async fn ensure_sandbox(&mut self, pod: &Pod) -> Result<Sandbox, String> {
        if let Ok(Some(s)) = self.shared.sandboxes.get(&self.key.uid) {
            return Ok(s);
        }
        let t0 = Instant::now();
        let cgroup_parent = super::resources::pod_cgroup_parent(pod, &self.key.uid);
        // Set up at start; again only if it went (`berth reset` of another data dir
        // removes an empty tree), which its last-made child tells.
        if !super::resources::kubepods_exists() {
            let memory = u64::try_from(self.shared.node_memory).unwrap_or(u64::MAX);
            if let Err(e) = super::resources::setup_kubepods(self.shared.node_cpu_milli, memory) {
                return Err(format!("setting up the pod cgroups: {e}"));
            }
        }
        // The pod's own cgroup first, so its limits hold from its first container on.
        if let Err(e) = berth_runtime::sandbox::set_parent_limits(
            &cgroup_parent,
            &super::resources::pod_limits(pod),
        ) {
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

    /// ConfigMaps and Secrets the pod refers to, from the API server, and the service
    /// account tokens of its projected volumes.
    async fn fetch_sources(&mut self, pod: &Pod) -> Result<Sources, kube::Error> {
        let (cms, secrets) = referenced(pod);
        let mut out = Sources::default();
        let (ns, uid) = (self.key.namespace.as_str(), self.key.uid.as_str());
        let shared = &self.shared;
        shared
            .config_maps
            .keep_only(uid, ns, &cms.iter().cloned().collect());
        shared
            .secrets
            .keep_only(uid, ns, &secrets.iter().cloned().collect());
        for name in cms {
            let got = shared
                .config_maps
                .get(ns, &name, uid, &self.wake_tx)
                .await?;
            out.config_maps.insert(name, got);
        }
        for name in secrets {
            let got = shared.secrets.get(ns, &name, uid, &self.wake_tx).await?;
            out.secrets.insert(name, got);
        }
        // Renewals are due minutes apart: the periodic resync comes by often enough.
        out.tokens = self.tokens.fetch(&self.shared.client, pod).await;
        // As the kubelet: no container starts before the Services were listed once, or it
        // would miss their variables (bounded, so a slow API server cannot hold pods).
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.shared.services.wait_until_ready(),
        )
        .await;
        out.services = super::service_env::relevant(&self.shared.services.state(), pod);
        Ok(out)
    }

    fn write_pod_files(&self, pod: &Pod, sandbox: &Sandbox) -> std::io::Result<()> {
        let dir = self.pod_dir();
        std::fs::create_dir_all(&dir)?;
        let host = hostname(pod);
        let ip = sandbox.ip.map(|ip| ip.to_string());
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
                    self.shared
                        .config
                        .cluster_dns
                        .map(|server| container_config::ClusterDns {
                            server,
                            domain: &self.shared.config.cluster_domain,
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

    async fn sync(&mut self, pod: &Pod) {
        let Some(spec) = pod.spec.clone() else {
            return;
        };
        // Succeeded and Failed are final: a pod the API already has in one (reported by an
        // earlier agent) is not started again.
        if self.finished.is_none() {
            match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
                Some("Succeeded") => self.finished = Some("Succeeded"),
                Some("Failed") => self.finished = Some("Failed"),
                _ => {}
            }
            if self.finished.is_some() {
                self.last_status = Some(Vec::new());
            }
        }
        if let Some(phase) = self.finished {
            // Reported once; a failed report is retried. The pod object may be older than
            // the report, so its phase is never read back.
            if self.last_status.is_none() {
                self.report_phase(pod, None, true, phase).await;
            }
            return;
        }
        let sandbox = match self.ensure_sandbox(pod).await {
            Ok(s) => s,
            Err(e) => {
                self.event(
                    pod,
                    None,
                    EventType::Warning,
                    "FailedCreatePodSandBox",
                    &format!("Failed to create pod sandbox: {e}"),
                )
                .await;
                self.wake_at(Instant::now() + RETRY);
                self.report_phase(pod, None, false, "Pending").await;
                return;
            }
        };
        let facts = PodFacts {
            pod_ip: sandbox.ip.map(|ip| ip.to_string()),
            host_ip: self.shared.config.address.clone(),
            node_cpu_milli: self.shared.node_cpu_milli,
            node_memory: self.shared.node_memory,
        };
        let sources = match self.fetch_sources(pod).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(pod = %self.key.name, error = %e, "reading the pod's ConfigMaps and Secrets");
                self.wake_at(Instant::now() + RETRY);
                return;
            }
        };
        if let Err(e) = self.write_pod_files(pod, &sandbox) {
            tracing::warn!(pod = %self.key.name, error = %e, "writing the pod's files");
            self.wake_at(Instant::now() + RETRY);
            return;
        }
        let pod_dir = self.pod_dir();
        let prepared = match volumes::prepare(pod, &pod_dir, &sources, &facts) {
            Ok(v) => v,
            Err(e) => {
                self.event(
                    pod,
                    None,
                    EventType::Warning,
                    "FailedMount",
                    &format!("MountVolume.SetUp failed: {e}"),
                )
                .await;
                self.wake_at(Instant::now() + RETRY);
                self.report_phase(pod, Some(&sandbox), false, "Pending")
                    .await;
                return;
            }
        };
        let ctx = PodContext {
            pod,
            key: &self.key.clone(),
            sources: &sources,
            facts: &facts,
            volumes: &prepared,
            pod_dir: &pod_dir,
            sandbox: SandboxRef::from(&sandbox),
            hostname: hostname(pod),
        };
        let policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());

        let pod_ip = facts.pod_ip.clone().unwrap_or_default();
        let grace =
            Duration::from_secs(spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64);
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
        {
            self.check_probes(pod, c, &pod_ip, grace).await;
        }

        // Init containers, one at a time; native sidecars start in their turn and keep running.
        let mut initialized = true;
        let mut init_failed = false;
        for c in spec.init_containers.iter().flatten() {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            let obs = self.observe(&c.name);
            let state = obs.current.as_ref().map(|i| i.state);
            match state {
                None => {
                    self.start(&ctx, c).await;
                    if !sidecar || !self.is_running(&c.name) {
                        initialized = false;
                        break;
                    }
                }
                Some(State::Running) if sidecar => {}
                Some(State::Running) => {
                    initialized = false;
                    break;
                }
                Some(State::Exited) => {
                    let code = obs
                        .current
                        .as_ref()
                        .and_then(|i| i.exit.as_ref())
                        .map_or(0, |e| e.exit_code);
                    if sidecar {
                        self.restart(&ctx, c, &obs).await;
                        if !self.is_running(&c.name) {
                            initialized = false;
                            break;
                        }
                    } else if code == 0 {
                        continue;
                    } else if policy == "Never" {
                        init_failed = true;
                        initialized = false;
                        break;
                    } else {
                        self.restart(&ctx, c, &obs).await;
                        initialized = false;
                        break;
                    }
                }
                Some(State::Created | State::Unknown) => {
                    self.recreate(&ctx, c, &obs).await;
                    initialized = false;
                    break;
                }
            }
        }

        let mut outcomes = Vec::new();
        if initialized {
            for c in &spec.containers {
                let obs = self.observe(&c.name);
                let outcome = match obs.current.as_ref().map(|i| (i.state, i.exit.clone())) {
                    None => {
                        self.start(&ctx, c).await;
                        if self.is_running(&c.name) {
                            Outcome::Running
                        } else {
                            Outcome::NotStarted
                        }
                    }
                    Some((State::Running, _)) => Outcome::Running,
                    Some((State::Exited, exit)) => {
                        let code = exit.map_or(0, |e| e.exit_code);
                        let again = match policy.as_str() {
                            "Never" => false,
                            "OnFailure" => code != 0,
                            _ => true,
                        };
                        if again {
                            self.restart(&ctx, c, &obs).await;
                            Outcome::Restarting
                        } else {
                            self.waiting.remove(&c.name);
                            Outcome::Done(code)
                        }
                    }
                    Some((State::Created | State::Unknown, _)) => {
                        self.recreate(&ctx, c, &obs).await;
                        Outcome::Restarting
                    }
                };
                outcomes.push(outcome);
            }
        }
        let phase = if init_failed {
            "Failed"
        } else if !initialized || outcomes.contains(&Outcome::NotStarted) {
            "Pending"
        } else if !outcomes.is_empty() && outcomes.iter().all(|o| matches!(o, Outcome::Done(_))) {
            if outcomes.iter().all(|o| *o == Outcome::Done(0)) {
                "Succeeded"
            } else {
                "Failed"
            }
        } else {
            "Running"
        };
        let terminal = matches!(phase, "Succeeded" | "Failed");
        if terminal {
            // Sidecars and anything left stop once the pod is done; the address goes back.
            self.stop_all(
                pod,
                Duration::from_secs(
                    spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64
                ),
            )
            .await;
            let _ = self.shared.sandboxes.remove(&self.key.uid).await;
            self.finished = Some(if phase == "Succeeded" {
                "Succeeded"
            } else {
                "Failed"
            });
        }
        self.report_phase(pod, Some(&sandbox), initialized, phase)
            .await;
    }

    fn is_running(&self, name: &str) -> bool {
        self.engine
            .get(name)
            .and_then(|l| l.last())
            .and_then(|(_, id)| self.shared.containers.inspect(id).ok())
            .is_some_and(|i| i.state == State::Running)
    }

    /// Start the probes of a running container that has none yet (a new container, or one
    /// adopted from an earlier agent), stop them for one that exited, and kill a container
    /// whose liveness or startup probe failed.
    async fn check_probes(&mut self, pod: &Pod, c: &Container, pod_ip: &str, grace: Duration) {
        let Some((_, id)) = self.engine.get(&c.name).and_then(|l| l.last()).cloned() else {
            return;
        };
        let running = self
            .shared
            .containers
            .inspect(&id)
            .is_ok_and(|i| i.state == State::Running);
        if !running {
            self.stop_probes(&id);
            return;
        }
        if !self.probe_tasks.contains_key(&id) {
            let tasks = probe::start(&self.probes, c, &id, pod_ip);
            self.probe_tasks.insert(id.clone(), tasks);
        }
        let kill = probe::results(&self.probes.shared, &id).and_then(|r| r.kill);
        if let Some(why) = kill {
            self.event(pod, Some(&c.name), EventType::Normal, "Killing", &why)
                .await;
            let probe_grace = [&c.liveness_probe, &c.startup_probe]
                .into_iter()
                .flatten()
                .find_map(|p| p.termination_grace_period_seconds)
                .map(|s| Duration::from_secs(s.max(0) as u64));
            let grace = probe_grace.unwrap_or(grace);
            self.stop_probes(&id);
            self.pre_stop_and_stop(c, &id, pod_ip, grace).await;
        }
    }

    fn stop_probes(&mut self, id: &str) {
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
                let r = self.object_ref_named(&c.name);
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

    fn object_ref_named(&self, container: &str) -> ObjectReference {
        let mut r = berth_events::reference(
            "v1",
            "Pod",
            Some(&self.key.namespace),
            &self.key.name,
            Some(&self.key.uid),
        );
        r.field_path = Some(format!("spec.containers{{{container}}}"));
        r
    }

    /// Restart an exited container, unless it is in back-off.
    async fn restart(&mut self, ctx: &PodContext<'_>, c: &Container, obs: &Observed) {
        let Some(current) = &obs.current else {
            self.start(ctx, c).await;
            return;
        };
        let now = Instant::now();
        let wall_now = jiff::Timestamp::now();
        let ago = |ts: Option<&str>| {
            ts.and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .and_then(|t| Duration::try_from(wall_now.duration_since(t)).ok())
                .unwrap_or(Duration::ZERO)
        };
        let finished_ago = ago(current.exit.as_ref().map(|e| e.finished_at.as_str()));
        let started_ago = ago(current.record.started_at.as_deref());
        let finished = now.checked_sub(finished_ago).unwrap_or(now);
        let ran = started_ago.saturating_sub(finished_ago);
        match self.backoff.check(&c.name, finished, ran, now) {
            Verdict::Go => {
                self.backoff.restarted(&c.name, now);
                self.start(ctx, c).await;
            }
            Verdict::Wait(delay, until) => {
                let pod_desc =
                    format!("{}_{}({})", self.key.name, self.key.namespace, self.key.uid);
                self.waiting.insert(
                    c.name.clone(),
                    Waiting::new(
                        "CrashLoopBackOff",
                        Some(format!(
                            "back-off {} restarting failed container={} pod={pod_desc}",
                            go_duration(delay),
                            c.name
                        )),
                    ),
                );
                self.event(
                    ctx.pod,
                    Some(&c.name),
                    EventType::Warning,
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {} in pod {pod_desc}",
                        c.name
                    ),
                )
                .await;
                self.wake_at(until);
            }
        }
    }

    /// A container left half-created (the agent stopped between create and start): remove
    /// it and start a fresh attempt.
    async fn recreate(&mut self, ctx: &PodContext<'_>, c: &Container, obs: &Observed) {
        if let Some(cur) = &obs.current {
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
        if let Err(e) = started {
            self.watch_exit(&id);
            self.failed_start(pod, &c.name, "RunContainerError", e.to_string())
                .await;
            return;
        }
        self.waiting.remove(&c.name);
        self.watch_exit(&id);
        self.event(
            pod,
            Some(&c.name),
            EventType::Normal,
            "Started",
            &format!("Started container {}", c.name),
        )
        .await;
        let hook = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref());
        if let Some(hook) = hook {
            let pod_ip = ctx.facts.pod_ip.clone().unwrap_or_default();
            let result = match action::of_handler(hook, c, &pod_ip) {
                Ok(a) => {
                    action::run(
                        &a,
                        &self.shared.berth,
                        &self.shared.config.data_dir,
                        &id,
                        POST_START_TIMEOUT,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                // The kubelet kills a container whose postStart hook fails; it restarts per
                // the pod's policy.
                self.event(
                    pod,
                    Some(&c.name),
                    EventType::Warning,
                    "FailedPostStartHook",
                    &format!("PostStartHook failed: {e}"),
                )
                .await;
                let _ = self.shared.containers.stop(&id, Duration::ZERO).await;
            }
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

    /// Make the container's image present according to its pull policy.
    async fn ensure_image(&mut self, pod: &Pod, c: &Container) -> Result<(), Waiting> {
        let image = c.image.clone().unwrap_or_default();
        let policy = c
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| default_pull_policy(&image).to_string());
        let images = self.shared.containers.images();
        let present = matches!(images.get(&image), Ok(Some(_)));
        let name = Some(c.name.as_str());
        if policy == "Never" {
            if present {
                return Ok(());
            }
            let msg =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            self.event(pod, name, EventType::Warning, "ErrImageNeverPull", &msg)
                .await;
            return Err(Waiting::new("ErrImageNeverPull", Some(msg)));
        }
        if policy != "Always" && present {
            self.event(
                pod,
                name,
                EventType::Normal,
                "Pulled",
                &format!("Container image \"{image}\" already present on machine"),
            )
            .await;
            return Ok(());
        }
        let now = Instant::now();
        if let Some((delay, until)) = self.image_backoff.get(&image).copied() {
            if now < until {
                let msg = format!("Back-off pulling image \"{image}\"");
                self.event(pod, name, EventType::Normal, "BackOff", &msg)
                    .await;
                self.wake_at(until);
                let _ = delay;
                return Err(Waiting::new("ImagePullBackOff", Some(msg)));
            }
        }
        self.event(
            pod,
            name,
            EventType::Normal,
            "Pulling",
            &format!("Pulling image \"{image}\""),
        )
        .await;
        let started = Instant::now();
        let node_registries = match images.registries() {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("Failed to pull image \"{image}\": {e}");
                self.event(pod, name, EventType::Warning, "Failed", &msg)
                    .await;
                return Err(Waiting::new("ErrImagePull", Some(msg)));
            }
        };
        let credentials =
            super::pull_secrets::resolve(&self.shared.client, pod, node_registries).await;
        if !credentials.unusable.is_empty() {
            let msg = format!(
                "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                credentials.unusable.join(", ")
            );
            self.event(
                pod,
                None,
                EventType::Warning,
                "FailedToRetrieveImagePullSecret",
                &msg,
            )
            .await;
        }
        match images
            .pull_using(&image, &credentials.registries, &|_| {})
            .await
        {
            Ok(img) => {
                self.image_backoff.remove(&image);
                let took = started.elapsed();
                self.event(
                    pod,
                    name,
                    EventType::Normal,
                    "Pulled",
                    &format!(
                        "Successfully pulled image \"{image}\" in {} ({} including waiting). Image size: {} bytes.",
                        go_duration_ms(took),
                        go_duration_ms(took),
                        img.size
                    ),
                )
                .await;
                Ok(())
            }
            Err(e) => {
                let delay = self
                    .image_backoff
                    .get(&image)
                    .map_or(super::backoff::INITIAL, |(d, _)| {
                        (*d * 2).min(super::backoff::MAX)
                    });
                self.image_backoff
                    .insert(image.clone(), (delay, now + delay));
                self.wake_at(now + delay);
                let msg = format!("Failed to pull image \"{image}\": {e}");
                self.event(pod, name, EventType::Warning, "Failed", &msg)
                    .await;
                self.event(
                    pod,
                    name,
                    EventType::Warning,
                    "Failed",
                    "Error: ErrImagePull",
                )
                .await;
                Err(Waiting::new("ErrImagePull", Some(msg)))
            }
        }
    }

    /// Stop every running container of the pod: app containers together, then sidecars
    /// in reverse order, each with `grace` before SIGKILL.
    async fn stop_all(&mut self, pod: &Pod, grace: Duration) {
        let spec = pod.spec.clone().unwrap_or_default();
        let sidecars: Vec<String> = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"))
            .map(|c| c.name.clone())
            .rev()
            .collect();
        let mut groups: Vec<Vec<String>> = vec![self
            .engine
            .keys()
            .filter(|n| !sidecars.contains(n))
            .cloned()
            .collect()];
        groups.extend(sidecars.into_iter().map(|s| vec![s]));
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
                let spec_container = spec
                    .containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten())
                    .find(|c| c.name == name)
                    .cloned();
                self.stop_probes(&id);
                stops.push((spec_container, id));
            }
            let pod_ip = pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .unwrap_or_default();
            let this = &*self;
            let runs = stops.iter().map(|(c, id)| {
                let pod_ip = pod_ip.clone();
                async move {
                    match c {
                        Some(c) => this.pre_stop_and_stop(c, id, &pod_ip, grace).await,
                        None => {
                            let _ = this.shared.containers.stop(id, grace).await;
                        }
                    }
                }
            });
            futures::future::join_all(runs).await;
        }
    }

    /// Remove everything of the pod from the node: containers (stopped first, with `grace`),
    /// sandbox, volumes and files.
    async fn release(&mut self, grace: Duration) {
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

    fn container_status(&mut self, c: &Container) -> k8s_openapi::api::core::v1::ContainerStatus {
        let obs = self.observe(&c.name);
        status::container_status(
            &c.name,
            c.image.as_deref().unwrap_or(""),
            &obs,
            self.waiting.get(&c.name),
            self.probed(c),
        )
    }

    /// Patch the pod's status when it differs from what was last reported.
    async fn report_phase(
        &mut self,
        pod: &Pod,
        sandbox: Option<&Sandbox>,
        initialized: bool,
        phase: &str,
    ) {
        let Some(spec) = &pod.spec else {
            return;
        };
        let now = Time(jiff::Timestamp::now());
        let statuses: Vec<_> = spec
            .containers
            .iter()
            .map(|c| self.container_status(c))
            .collect();
        let init_statuses: Vec<_> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| self.container_status(c))
            .collect();
        let terminal = matches!(phase, "Succeeded" | "Failed");
        let containers_ready = !terminal && statuses.iter().all(|s| s.ready);
        let old = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let not_ready = if terminal {
            Some("PodCompleted")
        } else {
            Some("ContainersNotReady")
        };
        let ready_reason = if containers_ready { None } else { not_ready };
        let init_reason = if initialized || terminal {
            None
        } else {
            Some("ContainersNotInitialized")
        };
        let sandbox_ready = sandbox.is_some() && !terminal;
        let conditions = status::conditions(
            &old,
            &[
                ("PodReadyToStartContainers", sandbox_ready, None),
                ("Initialized", initialized || terminal, init_reason),
                ("Ready", containers_ready, ready_reason),
                ("ContainersReady", containers_ready, ready_reason),
            ],
            &now,
        );
        let pod_ip = sandbox
            .and_then(|s| s.ip)
            .map(|ip| ip.to_string())
            .or_else(|| pod.status.as_ref().and_then(|s| s.pod_ip.clone()));
        let mut status = serde_json::json!({
            "phase": phase,
            "conditions": conditions,
            "hostIP": self.shared.config.address,
            "hostIPs": [{"ip": self.shared.config.address}],
            "startTime": self.start_time,
            "qosClass": super::resources::qos_class(pod),
            "containerStatuses": statuses,
        });
        if !init_statuses.is_empty() {
            status["initContainerStatuses"] = serde_json::json!(init_statuses);
        }
        if let Some(ip) = pod_ip {
            status["podIP"] = serde_json::json!(ip);
            status["podIPs"] = serde_json::json!([{"ip": ip}]);
        }
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

/// Always for `:latest` or untagged images, IfNotPresent otherwise (the API's default).
fn default_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        "IfNotPresent"
    } else {
        match last.rsplit_once(':') {
            Some((_, "latest")) | None => "Always",
            Some(_) => "IfNotPresent",
        }
    }
}

/// ConfigMaps and Secrets the pod refers to (env, envFrom, volumes).
fn referenced(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let mut cms = std::collections::BTreeSet::new();
    let mut secrets = std::collections::BTreeSet::new();
    let Some(spec) = &pod.spec else {
        return (Vec::new(), Vec::new());
    };
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for e in c.env_from.iter().flatten() {
            if let Some(r) = &e.config_map_ref {
                cms.insert(r.name.clone());
            }
            if let Some(r) = &e.secret_ref {
                secrets.insert(r.name.clone());
            }
        }
        for e in c.env.iter().flatten() {
            if let Some(f) = &e.value_from {
                if let Some(r) = &f.config_map_key_ref {
                    cms.insert(r.name.clone());
                }
                if let Some(r) = &f.secret_key_ref {
                    secrets.insert(r.name.clone());
                }
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            cms.insert(cm.name.clone());
        }
        if let Some(s) = &v.secret {
            secrets.insert(s.secret_name.clone().unwrap_or_default());
        }
        for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &p.config_map {
                cms.insert(cm.name.clone());
            }
            if let Some(s) = &p.secret {
                secrets.insert(s.name.clone());
            }
        }
    }
    (cms.into_iter().collect(), secrets.into_iter().collect())
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

fn go_duration_ms(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 {
        format!("{:.3}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_defaults() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:latest"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/busybox:1.36"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }
}
