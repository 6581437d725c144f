//! DaemonSets end to end through the real kubectl: one real node (a `berth server` with its
//! agent, inside a network namespace the test creates) running a real daemon pod, plus
//! simulated nodes whose kubelet the test plays (`berth_testkit::play_node`), so placement,
//! rolling updates, rollback and node churn are checked across several nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use berth_testkit::play_node::{play, register_node};
use berth_testkit::{wait_for, BerthServer};
use serde_json::{json, Value};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const REAL_NODE: &str = "real-node";
const IMAGE: &str = "busybox:daemonset-test";

fn kubectl_ok(server: &BerthServer, args: &[&str]) -> String {
    let out = server.kubectl(args);
    assert!(out.ok, "kubectl {}: {}", args.join(" "), out.stderr);
    out.stdout
}

fn get_json(server: &BerthServer, args: &[&str]) -> Option<Value> {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    let out = server.kubectl(&full);
    out.ok
        .then(|| serde_json::from_str(&out.stdout).ok())
        .flatten()
}

fn poll<T>(server: &BerthServer, secs: u64, what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_for(Duration::from_secs(secs), f).unwrap_or_else(|| {
        let pods = server.kubectl(&["get", "pods", "-o", "wide", "--show-labels"]);
        let ds = server.kubectl(&["describe", "ds"]);
        panic!(
            "timed out waiting for {what}\n{}\n{}",
            pods.stdout, ds.stdout
        )
    })
}

/// A daemon pod as the test looks at it.
#[derive(Debug)]
struct Daemon {
    hash: String,
    ready: bool,
    deleting: bool,
}

/// The daemon pods by node.
fn pods_by_node(server: &BerthServer) -> Option<BTreeMap<String, Vec<Daemon>>> {
    let list = get_json(server, &["pods", "-l", "app=agent"])?;
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for p in list["items"].as_array()? {
        let node = p["spec"]["nodeName"].as_str().unwrap_or("").to_string();
        let ready = p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        out.entry(node).or_default().push(Daemon {
            hash: p["metadata"]["labels"]["controller-revision-hash"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            ready,
            deleting: !p["metadata"]["deletionTimestamp"].is_null(),
        });
    }
    Some(out)
}

fn daemonset(server: &BerthServer) -> Value {
    get_json(server, &["ds", "agent"]).unwrap_or(Value::Null)
}

/// Whether the DaemonSet reports every desired node updated and available.
fn rolled_out(ds: &Value, desired: i64) -> bool {
    let s = &ds["status"];
    s["observedGeneration"] == ds["metadata"]["generation"]
        && s["desiredNumberScheduled"] == desired
        && s["updatedNumberScheduled"] == desired
        && s["numberAvailable"] == desired
}

fn play_all(server: &BerthServer, nodes: &[&str]) {
    for n in nodes {
        play(server, n);
    }
}

#[test]
fn daemonsets_place_roll_update_roll_back_and_follow_nodes() {
    let Some(server) = berth_testkit::node_with_busybox(BERTH, REAL_NODE, IMAGE) else {
        return;
    };
    register_node(&server, "sim-1", &[], json!([]));
    register_node(&server, "sim-2", &[], json!([]));
    register_node(
        &server,
        "sim-tainted",
        &[],
        json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    );
    let mut sims = vec!["sim-1", "sim-2"];
    let manifest = format!(
        r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {{app: agent}}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {{maxUnavailable: 1}}
  template:
    metadata:
      labels: {{app: agent}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: agent
        image: {IMAGE}
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"#
    );
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(&manifest));
    assert!(out.ok, "{}", out.stderr);

    // One pod on each node it tolerates, the real one really running.
    let placed = poll(&server, 90, "one ready pod per eligible node", || {
        play_all(&server, &sims);
        let by_node = pods_by_node(&server)?;
        let ready = by_node.values().all(|p| p.len() == 1 && p[0].ready);
        (ready && by_node.len() == 3).then_some(by_node)
    });
    let nodes: BTreeSet<&str> = placed.keys().map(String::as_str).collect();
    assert_eq!(nodes, BTreeSet::from(["real-node", "sim-1", "sim-2"]));
    poll(&server, 30, "status of 3 ready", || {
        let ds = daemonset(&server);
        (rolled_out(&ds, 3) && ds["status"]["numberReady"] == 3).then_some(())
    });
    kubectl_ok(&server, &["rollout", "status", "ds/agent", "--timeout=30s"]);
    let first_hash = placed["real-node"][0].hash.clone();

    // A node that joins gets its daemon.
    register_node(&server, "sim-3", &[], json!([]));
    sims.push("sim-3");
    poll(&server, 30, "a pod on the new node", || {
        play_all(&server, &sims);
        let by_node = pods_by_node(&server)?;
        by_node
            .get("sim-3")
            .filter(|p| p.len() == 1 && p[0].ready)
            .map(|_| ())
    });

    // A template change rolls node by node: never more than one node without a ready pod.
    kubectl_ok(&server, &["set", "env", "ds/agent", "VERSION=2"]);
    let mut second_hash = String::new();
    poll(&server, 120, "the rolling update", || {
        play_all(&server, &sims);
        let by_node = pods_by_node(&server)?;
        let all_nodes = ["real-node", "sim-1", "sim-2", "sim-3"];
        let down = all_nodes
            .iter()
            .filter(|n| {
                !by_node
                    .get(**n)
                    .is_some_and(|p| p.iter().any(|d| d.ready && !d.deleting))
            })
            .count();
        assert!(
            down <= 1,
            "{down} nodes without a ready daemon: {by_node:?}"
        );
        let ds = daemonset(&server);
        if !rolled_out(&ds, 4) {
            return None;
        }
        let hashes: BTreeSet<&str> = by_node
            .values()
            .flatten()
            .filter(|d| !d.deleting)
            .map(|d| d.hash.as_str())
            .collect();
        (hashes.len() == 1 && !hashes.contains(first_hash.as_str())).then(|| {
            second_hash = hashes.into_iter().next().unwrap_or("").to_string();
        })
    });
    let history = kubectl_ok(&server, &["rollout", "history", "ds/agent"]);
    let numbers: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(numbers, ["1", "2"], "{history}");

    // Undo brings the first template back (its revision renumbered to 3).
    kubectl_ok(&server, &["rollout", "undo", "ds/agent"]);
    poll(&server, 120, "the rollback", || {
        play_all(&server, &sims);
        let by_node = pods_by_node(&server)?;
        let ds = daemonset(&server);
        let back = by_node
            .values()
            .flatten()
            .filter(|d| !d.deleting)
            .all(|d| d.hash == first_hash);
        (rolled_out(&ds, 4) && back).then_some(())
    });
    let env = kubectl_ok(
        &server,
        &[
            "get",
            "ds",
            "agent",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].env}",
        ],
    );
    assert!(!env.contains("VERSION"), "{env}");
    let history = kubectl_ok(&server, &["rollout", "history", "ds/agent"]);
    assert!(
        history.lines().any(|l| l.starts_with('3')) && !history.lines().any(|l| l.starts_with('1')),
        "{history}"
    );
    assert_ne!(first_hash, second_hash);

    // A node that goes takes its daemon pod with it; a node that no longer matches loses it.
    kubectl_ok(&server, &["delete", "node", "sim-3"]);
    sims.retain(|n| *n != "sim-3");
    kubectl_ok(
        &server,
        &["taint", "node", "sim-2", "dedicated=db:NoExecute"],
    );
    poll(&server, 60, "pods leaving sim-2 and sim-3", || {
        play_all(&server, &["sim-1", "sim-2"]);
        let by_node = pods_by_node(&server)?;
        (!by_node.contains_key("sim-3") && !by_node.contains_key("sim-2")).then_some(())
    });
    poll(&server, 30, "status of 2 desired", || {
        let ds = daemonset(&server);
        (ds["status"]["desiredNumberScheduled"] == 2 && ds["status"]["numberMisscheduled"] == 0)
            .then_some(())
    });

    // Deleting the DaemonSet removes its pods.
    kubectl_ok(&server, &["delete", "ds", "agent", "--wait=false"]);
    poll(&server, 60, "the daemon pods to go", || {
        play_all(&server, &sims);
        pods_by_node(&server).filter(|p| p.is_empty()).map(|_| ())
    });
}
