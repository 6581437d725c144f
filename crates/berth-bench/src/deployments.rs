//! `berth-bench deployments`: the controllers and the scheduler at scale, on simulated
//! nodes. A control-plane `berth server` (API server, store, scheduler, controllers; no node
//! agent) gets 50 Node objects, and this process plays their agents: it marks every pod bound
//! to them Running and Ready at once, completes deletions, and renews the node Leases. Then:
//! a Deployment of 1,000 replicas (time until all pods exist, are bound, are available), and
//! a rolling update of it (maxSurge and maxUnavailable 25 %), whose length should be set by
//! those bounds rather than by controller latency.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_testkit::BerthServer;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use tokio::sync::Semaphore;

const NODES: usize = 50;

async fn client(server: &BerthServer) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(server.kubeconfig())?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

async fn register_nodes(client: &kube::Client) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    for i in 0..NODES {
        let name = format!("sim-{i}");
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        }))?;
        nodes.create(&PostParams::default(), &node).await?;
        let status = json!({"status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
            "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
        }});
        nodes
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
    }
    Ok(())
}

/// The simulated agents: Running and Ready as soon as bound, deletions completed at once,
/// Leases renewed. Runs until aborted.
async fn play_nodes(client: kube::Client) -> anyhow::Result<()> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let renew = {
        let leases = leases.clone();
        async move {
            loop {
                for i in 0..NODES {
                    let name = format!("sim-{i}");
                    let lease: Lease = serde_json::from_value(json!({
                        "metadata": {"name": name},
                        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                                 "renewTime": jiff::Timestamp::now().to_string()},
                    }))?;
                    let params = PatchParams::apply("sim-node").force();
                    leases.patch(&name, &params, &Patch::Apply(&lease)).await?;
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            #[allow(unreachable_code)]
            anyhow::Ok(())
        }
    };
    let pods: Api<Pod> = Api::all(client.clone());
    let limit = Arc::new(Semaphore::new(32));
    let work = async move {
        let mut events = watcher::watcher(pods, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            let pod = match event {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
                Ok(_) => continue,
                Err(_) => continue,
            };
            let Some(ns) = pod.metadata.namespace.clone() else {
                continue;
            };
            let Some(name) = pod.metadata.name.clone() else {
                continue;
            };
            let bound = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .is_some();
            let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
            let deleting = pod.metadata.deletion_timestamp.is_some();
            if !bound || (running && !deleting) {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let permit = limit.clone().acquire_owned().await?;
            tokio::spawn(async move {
                let _permit = permit;
                let result = if deleting {
                    let grace = DeleteParams {
                        grace_period_seconds: Some(0),
                        ..DeleteParams::default()
                    };
                    api.delete(&name, &grace).await.map(|_| ())
                } else {
                    let t = now();
                    let status = json!({"status": {
                        "phase": "Running", "startTime": t,
                        "conditions": [
                            {"type": "Ready", "status": "True", "lastTransitionTime": t},
                            {"type": "ContainersReady", "status": "True", "lastTransitionTime": t},
                        ],
                    }});
                    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                        .await
                        .map(|_| ())
                };
                if let Err(e) = result {
                    if !matches!(&e, kube::Error::Api(s) if s.code == 404 || s.code == 409) {
                        eprintln!("simulated node: {name}: {e}");
                    }
                }
            });
        }
        anyhow::Ok(())
    };
    tokio::try_join!(renew, work)?;
    Ok(())
}

fn deployment(replicas: i32, generation: &str) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": "big"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "big"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "big"}},
                "spec": {"containers": [{
                    "name": "app", "image": "registry.k8s.io/pause:3.10",
                    "env": [{"name": "GENERATION", "value": generation}],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }]},
            },
        },
    }))?)
}

type Marks = Vec<(&'static str, Duration)>;

/// Watches of the pods and the Deployment, established (initial lists done) before the
/// step they measure starts.
struct Observer {
    pods: futures::stream::BoxStream<'static, Result<watcher::Event<Pod>, watcher::Error>>,
    deployments:
        futures::stream::BoxStream<'static, Result<watcher::Event<Deployment>, watcher::Error>>,
    seen: HashMap<String, Pod>,
    deployment: Option<Deployment>,
}

impl Observer {
    async fn new(client: &kube::Client) -> anyhow::Result<Observer> {
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
        let mut o = Observer {
            pods: watcher::watcher(pods, watcher::Config::default()).boxed(),
            deployments: watcher::watcher(deployments, watcher::Config::default()).boxed(),
            seen: HashMap::new(),
            deployment: None,
        };
        while let Some(e) = o.pods.next().await {
            if matches!(e?, watcher::Event::InitDone) {
                break;
            }
        }
        while let Some(e) = o.deployments.next().await {
            match e? {
                watcher::Event::InitDone => break,
                watcher::Event::InitApply(d) => o.deployment = Some(d),
                _ => {}
            }
        }
        Ok(o)
    }

    /// Follow the watches until `done` says so, from `start`; returns the milestones.
    async fn until(
        &mut self,
        start: Instant,
        deadline: Duration,
        mut done: impl FnMut(&HashMap<String, Pod>, Option<&Deployment>, &mut Marks, Instant) -> bool,
    ) -> anyhow::Result<Marks> {
        let mut marks = Vec::new();
        let until = tokio::time::Instant::now() + deadline;
        loop {
            tokio::select! {
                e = self.pods.next() => match e {
                    Some(Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p))) => {
                        if let Some(n) = p.metadata.name.clone() { self.seen.insert(n, p); }
                    }
                    Some(Ok(watcher::Event::Delete(p))) => {
                        if let Some(n) = &p.metadata.name { self.seen.remove(n); }
                    }
                    Some(_) => {}
                    None => anyhow::bail!("pod watch ended"),
                },
                e = self.deployments.next() => match e {
                    Some(Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d))) => {
                        self.deployment = Some(d);
                    }
                    Some(_) => {}
                    None => anyhow::bail!("deployment watch ended"),
                },
                () = tokio::time::sleep_until(until) => {
                    anyhow::bail!("not done within {deadline:?}: reached {marks:?}");
                }
            }
            if done(&self.seen, self.deployment.as_ref(), &mut marks, start) {
                return Ok(marks);
            }
        }
    }
}

fn mark(marks: &mut Marks, what: &'static str, start: Instant) {
    if !marks.iter().any(|(w, _)| *w == what) {
        marks.push((what, start.elapsed()));
    }
}

pub async fn run(berth: &Path, quick: bool) -> anyhow::Result<()> {
    let replicas: i32 = if quick { 300 } else { 1000 };
    let berth = berth
        .to_str()
        .context("the berth binary path is not UTF-8")?;
    let server = BerthServer::start(berth, &[]).map_err(anyhow::Error::msg)?;
    let client = client(&server).await?;
    register_nodes(&client).await?;
    let player = tokio::spawn(play_nodes(client.clone()));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");

    // 1. Create.
    let n = replicas as usize;
    let mut observer = Observer::new(&client).await?;
    let start = Instant::now();
    deployments
        .create(&PostParams::default(), &deployment(replicas, "1")?)
        .await?;
    let marks = observer
        .until(
            start,
            Duration::from_secs(300),
            |pods, dep, marks, start| {
                let bound = pods
                    .values()
                    .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
                    .count();
                if pods.len() >= n {
                    mark(marks, "pods created", start);
                }
                if bound >= n {
                    mark(marks, "pods bound", start);
                }
                let available = dep
                    .and_then(|d| d.status.as_ref())
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0);
                if available >= replicas {
                    mark(marks, "deployment available", start);
                }
                marks.len() == 3
            },
        )
        .await?;
    println!(
        "## berth-bench deployments{}\n",
        if quick { " (--quick)" } else { "" }
    );
    println!(
        "`berth server` (API server, embedded store, scheduler, controllers) with {NODES} simulated \
         nodes whose pods become Running and Ready as soon as they are bound.\n"
    );
    println!("| step | {replicas} replicas | goal |");
    println!("|---|---:|---|");
    for (what, at) in &marks {
        let goal = if *what == "pods bound" { "< 5 s" } else { "" };
        println!("| create: {what} | {:.2} s | {goal} |", at.as_secs_f64());
    }

    // 2. Rolling update.
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "GENERATION", "value": "2"}]}
    ]}}}});
    let start = Instant::now();
    deployments
        .patch("big", &PatchParams::default(), &Patch::Strategic(&patch))
        .await?;
    let generation_target = 2;
    let marks = observer
        .until(start, Duration::from_secs(300), |_, dep, marks, start| {
            let Some(d) = dep else { return false };
            let st = d.status.clone().unwrap_or_default();
            let complete = st.observed_generation.unwrap_or(0) >= generation_target
                && st.updated_replicas.unwrap_or(0) >= replicas
                && st.available_replicas.unwrap_or(0) >= replicas
                && st.replicas.unwrap_or(0) == replicas;
            if complete {
                mark(marks, "rollout complete", start);
            }
            complete
        })
        .await?;
    let rollout = marks.first().map(|(_, at)| *at).unwrap_or_default();
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = sets.list(&ListParams::default()).await?;
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let scalings = events
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("ScalingReplicaSet"))
        .map(|e| e.count.unwrap_or(1))
        .sum::<i32>();
    println!(
        "| rolling update (maxSurge 25 %, maxUnavailable 25 %): complete | {:.2} s | bounded by the surge/unavailable steps |",
        rollout.as_secs_f64()
    );
    println!(
        "\n{} ReplicaSets; {scalings} ScalingReplicaSet events for the create and the rollout \
         (each is one step of at most maxSurge up or maxUnavailable down).",
        rs.items.len()
    );
    player.abort();
    drop(server);
    Ok(())
}
