//! Scheduling throughput, in process: how many pods per second the scheduling loop places
//! on 500 and 5,000 nodes, with plain pods and with node constraints.
//!
//! Each iteration is what the scheduler loop (`lib.rs`, `run` and `schedule_next`) does per
//! pod: `Queue::flush_events` and `Queue::promote`, `Queue::pop`, `Algorithm::schedule`
//! with the default profile, the chosen node's name looked up, `Cache::assume`, and, standing
//! in for a binding that succeeds at once, `Queue::remove` (what `bind_finished` does then).
//! Binding through the API, the Scheduled Event and the watch confirming the binding are
//! NOT included; neither is enqueueing the pods (`PodInfo::new` + `Queue::upsert`, which
//! the watch handler does), which is timed separately and printed below the table.
//!
//! The "constrained" case covers nodeSelector, required node affinity and taints and
//! tolerations; the "spread" case a topology spread constraint over zones (DoNotSchedule)
//! with a preferred pod anti-affinity over hostnames, which makes every cycle count the
//! matching pods across the whole cluster, as kube-scheduler's PreFilter does.
//!
//! Run: `cargo bench -p berth-scheduler --bench throughput` (add `-- --quick` for 2,000
//! pods per case instead of 10,000).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use berth_scheduler::cache::Cache;
use berth_scheduler::cycle::Algorithm;
use berth_scheduler::framework::{NodeInfo, PodInfo};
use berth_scheduler::plugins::default_profile;
use berth_scheduler::queue::Queue;
use k8s_openapi::api::core::v1::{
    Affinity, Container, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, NodeSpec, NodeStatus, Pod, PodAffinityTerm, PodAntiAffinity, PodSpec,
    ResourceRequirements, Taint, Toleration, TopologySpreadConstraint, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

/// The goal for plain pods at 5,000 nodes, in pods/s.
const GOAL_PODS_PER_S: f64 = 2_000.0;
/// kube-scheduler's scheduler_perf CI floor for the same shape, in pods/s.
const KUBE_FLOOR_PODS_PER_S: f64 = 810.0;

/// Pods per case, full and `--quick`.
const PODS: usize = 10_000;
const QUICK_PODS: usize = 2_000;

/// The taint the constrained pods tolerate (on every fifth node).
const TOLERATED_TAINT: (&str, &str, &str) = ("dedicated", "batch", "NoSchedule");
/// A soft taint the constrained pods do not tolerate: such nodes score lower.
const SOFT_TAINT: (&str, &str, &str) = ("spot", "true", "PreferNoSchedule");
/// A hard taint the constrained pods do not tolerate: such nodes are filtered out.
const HARD_TAINT: (&str, &str, &str) = ("gpu", "true", "NoSchedule");

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Constrained,
    Spread,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Constrained => "constrained",
            Kind::Spread => "spread",
        }
    }
}

struct Outcome {
    wall: Duration,
    enqueue: Duration,
    eligible_nodes: usize,
    max_pods_on_a_node: i64,
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

/// Node `i`. Constrained clusters vary labels and taints with `i`:
/// `disk=ssd` on even nodes (half), `zone` a, b, c in turn, and by `i % 5` the tolerated
/// NoSchedule taint (0), the untolerated PreferNoSchedule taint (1), the untolerated
/// NoSchedule taint (2), or none (3, 4).
fn node(i: usize, kind: Kind) -> Node {
    let mut labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), format!("node-{i}")),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
    ]);
    let mut taints = Vec::new();
    if kind == Kind::Spread {
        labels.insert("zone".to_string(), ["a", "b", "c"][i % 3].to_string());
    }
    if kind == Kind::Constrained {
        labels.insert("zone".to_string(), ["a", "b", "c"][i % 3].to_string());
        if i % 2 == 0 {
            labels.insert("disk".to_string(), "ssd".to_string());
        }
        let taint = match i % 5 {
            0 => Some(TOLERATED_TAINT),
            1 => Some(SOFT_TAINT),
            2 => Some(HARD_TAINT),
            _ => None,
        };
        if let Some((key, value, effect)) = taint {
            taints.push(Taint {
                key: key.to_string(),
                value: Some(value.to_string()),
                effect: effect.to_string(),
                time_added: None,
            });
        }
    }
    let allocatable = quantities(&[("cpu", "32"), ("memory", "128Gi"), ("pods", "110")]);
    Node {
        metadata: ObjectMeta {
            name: Some(format!("node-{i}")),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: (!taints.is_empty()).then_some(taints),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            capacity: Some(allocatable.clone()),
            allocatable: Some(allocatable),
            ..NodeStatus::default()
        }),
    }
}

/// Whether a constrained pod may go on `node`, decided independently of the plugins.
fn eligible(node: &NodeInfo) -> bool {
    let label = |k: &str| node.labels.get(k).map(String::as_str);
    label("disk") == Some("ssd")
        && matches!(label("zone"), Some("a" | "b"))
        && node
            .taints
            .iter()
            .all(|t| t.effect == "PreferNoSchedule" || t.key == TOLERATED_TAINT.0)
}

/// Pending pod `i`: one container requesting 100m cpu and 128Mi. Constrained pods add a
/// nodeSelector `disk=ssd`, a required node affinity `zone In [a, b]` and a toleration of
/// the `dedicated=batch:NoSchedule` taint.
fn pod(i: usize, kind: Kind) -> Pod {
    let mut spec = PodSpec {
        containers: vec![Container {
            name: "app".to_string(),
            image: Some("registry.k8s.io/pause:3.10".to_string()),
            resources: Some(ResourceRequirements {
                requests: Some(quantities(&[("cpu", "100m"), ("memory", "128Mi")])),
                ..ResourceRequirements::default()
            }),
            ..Container::default()
        }],
        scheduler_name: Some("default-scheduler".to_string()),
        ..PodSpec::default()
    };
    let mut labels = None;
    if kind == Kind::Spread {
        let app = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let selector = LabelSelector {
            match_labels: Some(app.clone()),
            ..LabelSelector::default()
        };
        labels = Some(app);
        spec.topology_spread_constraints = Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "zone".to_string(),
            when_unsatisfiable: "DoNotSchedule".to_string(),
            label_selector: Some(selector.clone()),
            ..TopologySpreadConstraint::default()
        }]);
        spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 100,
                        pod_affinity_term: PodAffinityTerm {
                            label_selector: Some(selector),
                            topology_key: "kubernetes.io/hostname".to_string(),
                            ..PodAffinityTerm::default()
                        },
                    },
                ]),
                ..PodAntiAffinity::default()
            }),
            ..Affinity::default()
        });
    }
    if kind == Kind::Constrained {
        spec.node_selector = Some(BTreeMap::from([("disk".to_string(), "ssd".to_string())]));
        spec.affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "zone".to_string(),
                            operator: "In".to_string(),
                            values: Some(vec!["a".to_string(), "b".to_string()]),
                        }]),
                        match_fields: None,
                    }],
                }),
                ..NodeAffinity::default()
            }),
            ..Affinity::default()
        });
        let (key, value, effect) = TOLERATED_TAINT;
        spec.tolerations = Some(vec![Toleration {
            key: Some(key.to_string()),
            operator: Some("Equal".to_string()),
            value: Some(value.to_string()),
            effect: Some(effect.to_string()),
            toleration_seconds: None,
        }]);
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("pod-{i}")),
            namespace: Some("bench".to_string()),
            uid: Some(format!("uid-{i}")),
            labels,
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

fn run_case(nodes: usize, pods: usize, kind: Kind) -> Result<Outcome, String> {
    let what = format!("{} case, {pods} pods on {nodes} nodes", kind.label());

    // The cluster as the node watch builds it.
    let mut cache = Cache::new();
    for i in 0..nodes {
        cache.apply_node(&node(i, kind));
    }
    let eligible_nodes = (0..cache.slots())
        .filter_map(|i| cache.node_at(i))
        .filter(|n| kind != Kind::Constrained || eligible(n))
        .count();
    let room = eligible_nodes * 110;
    if room < pods {
        return Err(format!(
            "{what}: only {eligible_nodes} nodes can take the pods ({room} pods of room)"
        ));
    }

    // The pending pods as the pod watch queues them (timed apart from scheduling).
    let objects: Vec<Pod> = (0..pods).map(|i| pod(i, kind)).collect();
    let mut queue = Queue::new();
    let enqueue_start = Instant::now();
    for p in &objects {
        queue.upsert(PodInfo::new(p), None);
    }
    let enqueue = enqueue_start.elapsed();
    drop(objects);

    let mut algorithm = Algorithm::new(default_profile());
    let mut placed = 0usize;

    // The scheduling loop, as `run` and `schedule_next` do it, minus the binding.
    let start = Instant::now();
    loop {
        let now = Instant::now();
        queue.flush_events(now);
        queue.promote(now);
        if queue.active_len() == 0 {
            break;
        }
        let Some(pod) = queue.pop(Instant::now()) else {
            break;
        };
        match algorithm.schedule(&pod, &cache) {
            Ok(slot) => {
                let Some(node) = cache.node_at(slot).map(|n| n.name.clone()) else {
                    return Err(format!("{what}: pod {} sent to an empty slot", pod.name));
                };
                cache.assume(&pod, slot);
                // Binding (not measured) would start here; its success drops the pod.
                queue.remove(&pod.uid);
                placed += 1;
                std::hint::black_box(node);
            }
            Err(fit) => {
                return Err(format!(
                    "{what}: pod {} was not placed after {placed} others: {}",
                    pod.name,
                    fit.message(pod.preemption_never)
                ));
            }
        }
    }
    let wall = start.elapsed();

    // Every pod placed, once, on a node it may go to, and no node over its allocatable.
    if placed != pods || !queue.is_empty() {
        return Err(format!(
            "{what}: placed {placed} pods, {} still queued",
            queue.len()
        ));
    }
    if let Some(i) = (0..pods).find(|i| !cache.is_assumed(&format!("uid-{i}"))) {
        return Err(format!("{what}: pod-{i} is not counted on any node"));
    }
    let mut counted = 0;
    let mut max_pods_on_a_node = 0;
    for n in (0..cache.slots()).filter_map(|i| cache.node_at(i)) {
        counted += n.pod_count;
        max_pods_on_a_node = max_pods_on_a_node.max(n.pod_count);
        let over = n.pod_count > n.allowed_pods
            || n.requested.milli_cpu > n.allocatable.milli_cpu
            || n.requested.memory > n.allocatable.memory;
        if over {
            return Err(format!(
                "{what}: node {} is over its allocatable: {} pods of {}, {}m cpu of {}m, \
                 {} bytes of memory of {}",
                n.name,
                n.pod_count,
                n.allowed_pods,
                n.requested.milli_cpu,
                n.allocatable.milli_cpu,
                n.requested.memory,
                n.allocatable.memory
            ));
        }
        if n.pod_count > 0 && kind == Kind::Constrained && !eligible(n) {
            return Err(format!(
                "{what}: {} pods on node {}, which violates their constraints",
                n.pod_count, n.name
            ));
        }
    }
    if kind == Kind::Spread {
        let mut zones = BTreeMap::<String, i64>::new();
        for n in (0..cache.slots()).filter_map(|i| cache.node_at(i)) {
            if let Some(z) = n.labels.get("zone") {
                *zones.entry(z.clone()).or_default() += n.pod_count;
            }
        }
        let most = zones.values().max().copied().unwrap_or(0);
        let least = zones.values().min().copied().unwrap_or(0);
        if most - least > 1 {
            return Err(format!("{what}: zones hold {zones:?}, a skew over 1"));
        }
    }
    if counted != pods as i64 {
        return Err(format!(
            "{what}: nodes count {counted} pods, expected {pods}"
        ));
    }

    Ok(Outcome {
        wall,
        enqueue,
        eligible_nodes,
        max_pods_on_a_node,
    })
}

fn per_second(pods: usize, wall: Duration) -> f64 {
    pods as f64 / wall.as_secs_f64().max(1e-9)
}

/// `12345.6` as `12,346`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() -> ExitCode {
    // `cargo bench` also passes `--bench`; only `--quick` means something here.
    let quick = std::env::args().skip(1).any(|a| a == "--quick");
    let pods = if quick { QUICK_PODS } else { PODS };
    let cases = [
        (500, Kind::Plain),
        (5_000, Kind::Plain),
        (500, Kind::Constrained),
        (5_000, Kind::Constrained),
        (500, Kind::Spread),
        (5_000, Kind::Spread),
    ];

    println!(
        "## berth-scheduler throughput{}\n",
        if quick { " (--quick)" } else { "" }
    );
    println!("| nodes | pods | case | pods/s | wall |");
    println!("|------:|-----:|------|-------:|-----:|");
    let mut notes = Vec::new();
    let mut goal = None;
    for (nodes, kind) in cases {
        let outcome = match run_case(nodes, pods, kind) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("benchmark failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        let rate = per_second(pods, outcome.wall);
        println!(
            "| {} | {} | {} | {} | {:.1} ms |",
            thousands(nodes as f64),
            thousands(pods as f64),
            kind.label(),
            thousands(rate),
            outcome.wall.as_secs_f64() * 1e3
        );
        notes.push(format!(
            "- {} nodes, {}: {} nodes eligible, at most {} pods on one node; \
             enqueueing the pods (PodInfo::new + Queue::upsert, not in pods/s) took {:.1} ms",
            thousands(nodes as f64),
            kind.label(),
            thousands(outcome.eligible_nodes as f64),
            outcome.max_pods_on_a_node,
            outcome.enqueue.as_secs_f64() * 1e3
        ));
        if nodes == 5_000 && kind == Kind::Plain {
            goal = Some(rate);
        }
    }

    println!();
    println!(
        "Measured per pod, as the scheduler loop does it: Queue flush_events/promote/pop, \
         Algorithm::schedule (default profile: filter until enough feasible nodes, score, \
         select), Cache::assume, then Queue::remove as for a binding that succeeded at once. \
         Binding through the API is NOT included (nor the Scheduled Event or the watch \
         confirming the binding)."
    );
    println!(
        "\"constrained\" = nodeSelector `disk=ssd` (half the nodes) + required node affinity \
         `zone In [a, b]` + a toleration of `dedicated=batch:NoSchedule`, against nodes \
         tainted NoSchedule (tolerated or not) or PreferNoSchedule. \"spread\" = a topology \
         spread constraint over 3 zones (maxSkew 1, DoNotSchedule) + a preferred pod \
         anti-affinity over hostnames (weight 100), all pods of one app: every cycle counts \
         the matching pods over the whole cluster; the zones end at most 1 pod apart."
    );
    println!();
    for note in &notes {
        println!("{note}");
    }
    println!();
    let goal = goal.unwrap_or(0.0);
    println!(
        "Goal: >= {} pods/s plain at 5,000 nodes (kube-scheduler's CI floor there is ~{} \
         pods/s): {} ({} pods/s).",
        thousands(GOAL_PODS_PER_S),
        thousands(KUBE_FLOOR_PODS_PER_S),
        if goal >= GOAL_PODS_PER_S {
            "met"
        } else {
            "NOT met"
        },
        thousands(goal)
    );
    ExitCode::SUCCESS
}
