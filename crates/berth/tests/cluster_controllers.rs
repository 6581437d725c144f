//! End-to-end: the cluster-level controllers of `berth server` through the real kubectl, on
//! a control-plane-only server (nodes are plain API objects here, so a node can be made to
//! go silent): node lifecycle (Unknown conditions, taints, eviction after the toleration
//! time), pod garbage collection of pods on deleted nodes, and each namespace's `default`
//! ServiceAccount and `kube-root-ca.crt` ConfigMap.

use std::time::Duration;

use berth_testkit::{wait_for, BerthServer};
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn get(server: &BerthServer, args: &[&str]) -> Option<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = server.kubectl(&all);
    out.ok
        .then(|| serde_json::from_str(&out.stdout).ok())
        .flatten()
}

fn apply(server: &BerthServer, yaml: &str) {
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(yaml));
    assert!(out.ok, "kubectl apply: {}\n{yaml}", out.stderr);
}

fn condition<'a>(obj: &'a Value, kind: &str) -> &'a Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

fn has_taint(node: &Value, key: &str, effect: &str) -> bool {
    node["spec"]["taints"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["key"] == key && t["effect"] == effect))
}

/// A node object that looks Ready right now, with no agent behind it.
fn register_node(server: &BerthServer, name: &str) {
    berth_testkit::play_node::register_node(server, name, &[], serde_json::json!([]));
}

fn pod_on(name: &str, node: &str, tolerations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {node}\n{tolerations}  containers:\n  - name: c\n    image: busybox\n"
    )
}

#[test]
fn silent_nodes_go_unknown_are_tainted_and_lose_their_pods_after_the_toleration() {
    let server =
        BerthServer::start(BERTH, &["--node-monitor-grace-period", "3s"]).expect("server starts");
    register_node(&server, "silent");
    // One pod tolerates the loss for 2 s, one forever; one gets the 300 s default.
    apply(
        &server,
        &pod_on(
            "brief",
            "silent",
            "  tolerations:\n  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}\n",
        ),
    );
    apply(
        &server,
        &pod_on(
            "forever",
            "silent",
            "  tolerations:\n  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute}\n",
        ),
    );
    apply(&server, &pod_on("defaulted", "silent", ""));
    let defaulted = get(&server, &["pod", "defaulted"]).expect("pod");
    let tolerations = defaulted["spec"]["tolerations"].to_string();
    assert!(
        tolerations.contains("node.kubernetes.io/not-ready")
            && tolerations.contains("\"tolerationSeconds\":300"),
        "{tolerations}"
    );
    // Nothing heartbeats for the node: Unknown and tainted after the grace period.
    let node = wait_for(Duration::from_secs(30), || {
        get(&server, &["node", "silent"]).filter(|n| condition(n, "Ready")["status"] == "Unknown")
    })
    .expect("the node goes Unknown");
    assert_eq!(condition(&node, "Ready")["reason"], "NodeStatusUnknown");
    assert_eq!(
        condition(&node, "Ready")["message"],
        "Kubelet stopped posting node status."
    );
    let node = wait_for(Duration::from_secs(20), || {
        get(&server, &["node", "silent"])
            .filter(|n| has_taint(n, "node.kubernetes.io/unreachable", "NoExecute"))
    })
    .expect("unreachable taint");
    assert!(has_taint(
        &node,
        "node.kubernetes.io/unreachable",
        "NoSchedule"
    ));
    // The pod tolerating 2 s is marked for deletion; the others stay.
    let brief = wait_for(Duration::from_secs(30), || {
        get(&server, &["pod", "brief"]).filter(|p| !p["metadata"]["deletionTimestamp"].is_null())
    });
    assert!(brief.is_some(), "the 2 s pod was not evicted");
    for name in ["forever", "defaulted"] {
        let p = get(&server, &["pod", name]).expect("pod stays");
        assert!(p["metadata"]["deletionTimestamp"].is_null(), "{name}: {p}");
    }
    let events = server.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "reason=TaintManagerEviction",
    ]);
    assert!(
        events
            .stdout
            .contains("Marking for deletion Pod default/brief"),
        "{}",
        events.stdout
    );
    // The node comes back (its agent posts Ready again): the taints go.
    register_node(&server, "silent");
    let back = wait_for(Duration::from_secs(30), || {
        get(&server, &["node", "silent"]).filter(|n| {
            condition(n, "Ready")["status"] == "True"
                && !has_taint(n, "node.kubernetes.io/unreachable", "NoExecute")
        })
    });
    assert!(
        back.is_some(),
        "taints not removed after the node came back"
    );
}

#[test]
fn pods_of_deleted_nodes_are_collected_and_namespaces_get_their_defaults() {
    let server = BerthServer::start(BERTH, &["--pod-gc-period", "1s"]).expect("server starts");
    register_node(&server, "doomed");
    apply(&server, &pod_on("stranded", "doomed", ""));
    let out = server.kubectl(&["delete", "node", "doomed"]);
    assert!(out.ok, "{}", out.stderr);
    let gone = wait_for(Duration::from_secs(30), || {
        (!server.kubectl(&["get", "pod", "stranded"]).ok).then_some(())
    });
    assert!(
        gone.is_some(),
        "the pod of the deleted node was not collected"
    );

    let out = server.kubectl(&["create", "namespace", "team-a"]);
    assert!(out.ok, "{}", out.stderr);
    let sa = wait_for(Duration::from_secs(15), || {
        get(&server, &["serviceaccount", "default", "-n", "team-a"])
    });
    assert!(sa.is_some(), "no default ServiceAccount");
    let cm = wait_for(Duration::from_secs(15), || {
        get(&server, &["configmap", "kube-root-ca.crt", "-n", "team-a"])
    })
    .expect("no kube-root-ca.crt");
    let ca = std::fs::read_to_string(server.data_dir().join("tls/ca.crt")).expect("ca.crt");
    assert_eq!(cm["data"]["ca.crt"].as_str(), Some(ca.as_str()));
    // Deleted, it comes back.
    let out = server.kubectl(&["delete", "serviceaccount", "default", "-n", "team-a"]);
    assert!(out.ok, "{}", out.stderr);
    let back = wait_for(Duration::from_secs(15), || {
        get(&server, &["serviceaccount", "default", "-n", "team-a"]).filter(|s| {
            s["metadata"]["uid"]
                != sa
                    .as_ref()
                    .map_or(Value::Null, |s| s["metadata"]["uid"].clone())
        })
    });
    assert!(back.is_some(), "default ServiceAccount not restored");
    // The system namespaces have theirs too.
    assert!(get(&server, &["serviceaccount", "default", "-n", "kube-system"]).is_some());
}

fn ready_pod(server: &BerthServer, name: &str, node: &str) {
    apply(
        server,
        &format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: db}}\nspec:\n  nodeName: {node}\n  containers:\n  - name: c\n    image: busybox\n"),
    );
    assert!(berth_testkit::play_node::set_pod(
        server, "default", name, "Running", true
    ));
}

fn evict(server: &BerthServer, pod: &str) -> berth_testkit::CmdOutput {
    let body = format!(
        "{{\"apiVersion\": \"policy/v1\", \"kind\": \"Eviction\", \"metadata\": {{\"name\": \"{pod}\", \"namespace\": \"default\"}}}}"
    );
    server.kubectl_with(
        "kubectl",
        &[
            "create",
            "--raw",
            &format!("/api/v1/namespaces/default/pods/{pod}/eviction"),
            "-f",
            "-",
        ],
        Some(&body),
    )
}

#[test]
fn evictions_honour_pod_disruption_budgets() {
    let server = BerthServer::start(BERTH, &[]).expect("server starts");
    register_node(&server, "n1");
    for i in 0..3 {
        ready_pod(&server, &format!("db-{i}"), "n1");
    }
    apply(
        &server,
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: db\nspec:\n  minAvailable: 2\n  selector:\n    matchLabels: {app: db}\n",
    );
    let pdb = wait_for(Duration::from_secs(20), || {
        get(&server, &["pdb", "db"]).filter(|p| p["status"]["disruptionsAllowed"] == 1)
    })
    .expect("the budget allows one disruption");
    assert_eq!(pdb["status"]["currentHealthy"], 3);
    assert_eq!(pdb["status"]["desiredHealthy"], 2);
    assert_eq!(pdb["status"]["expectedPods"], 3);
    assert_eq!(
        condition(&pdb, "DisruptionAllowed")["reason"],
        "SufficientPods"
    );
    // One eviction is allowed and spends the disruption...
    let out = evict(&server, "db-0");
    assert!(out.ok, "{}", out.stderr);
    let deleting = get(&server, &["pod", "db-0"])
        .is_none_or(|p| !p["metadata"]["deletionTimestamp"].is_null());
    assert!(deleting, "db-0 not deleted");
    // ...so the next is refused with 429 and the budget's numbers.
    let out = evict(&server, "db-1");
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("Cannot evict pod as it would violate the pod's disruption budget")
            || out.stderr.contains("TooManyRequests")
            || out.stderr.contains("429"),
        "{}",
        out.stderr
    );
    let pdb = get(&server, &["pdb", "db"]).expect("pdb");
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0, "{pdb}");
    assert!(get(&server, &["pod", "db-1"])
        .is_some_and(|p| p["metadata"]["deletionTimestamp"].is_null()));
}
