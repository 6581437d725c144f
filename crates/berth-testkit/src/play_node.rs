//! Playing the node: Node objects with no agent behind them, and a stand-in for the
//! kubelet that moves the pods bound to them through their lifecycle. Controller tests use
//! it to run against the real API server, scheduler and controllers without containers, so
//! they are fast and deterministic (a pod is Ready exactly when the test says so).

use serde_json::{json, Value};

use crate::BerthServer;

/// Register a Node named `name` that is Ready now, with `labels` and `taints` (JSON arrays
/// of `{key, value, effect}` objects).
pub fn register_node(server: &BerthServer, name: &str, labels: &[(&str, &str)], taints: Value) {
    let mut all_labels = serde_json::Map::new();
    all_labels.insert("kubernetes.io/hostname".into(), name.into());
    for (k, v) in labels {
        all_labels.insert((*k).into(), (*v).into());
    }
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": all_labels},
        "spec": {"taints": taints}});
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(&node.to_string()));
    assert!(out.ok, "registering node {name}: {}", out.stderr);
    let now = jiff::Timestamp::now().to_string();
    let status = json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
    }});
    let out = patch_status(server, "node", name, None, &status);
    assert!(out.ok, "setting node {name} Ready: {}", out.stderr);
}

/// Set a pod's status as the kubelet would: `Running` and Ready (or not), or a terminal
/// phase (`Succeeded`/`Failed`). False when the pod is gone (a race the caller may expect).
pub fn set_pod(server: &BerthServer, namespace: &str, pod: &str, phase: &str, ready: bool) -> bool {
    let now = jiff::Timestamp::now().to_string();
    let ready = if ready { "True" } else { "False" };
    let status = json!({"status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": ready, "lastTransitionTime": now},
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": now}]}});
    let out = patch_status(server, "pod", pod, Some(namespace), &status);
    assert!(
        out.ok || out.stderr.contains("NotFound") || out.stderr.contains("not found"),
        "setting pod {namespace}/{pod}: {}",
        out.stderr
    );
    out.ok
}

/// One pass of the stand-in kubelet for `node`: every pod bound to it that is not yet
/// Running becomes Running and Ready, every pod being deleted is removed for good. Returns
/// the names of the pods it left running.
pub fn play(server: &BerthServer, node: &str) -> Vec<String> {
    let selector = format!("spec.nodeName={node}");
    let out = server.kubectl(&[
        "get",
        "pods",
        "-A",
        "--field-selector",
        &selector,
        "-o",
        "json",
    ]);
    assert!(out.ok, "listing pods of {node}: {}", out.stderr);
    let list: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let mut running = Vec::new();
    for pod in list["items"].as_array().into_iter().flatten() {
        let name = pod["metadata"]["name"].as_str().unwrap_or("");
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
        if !pod["metadata"]["deletionTimestamp"].is_null() {
            // Already gone is fine: someone else may have finished it.
            server.kubectl(&[
                "delete",
                "pod",
                name,
                "-n",
                ns,
                "--grace-period=0",
                "--force",
                "--wait=false",
            ]);
            continue;
        }
        match pod["status"]["phase"].as_str() {
            Some("Succeeded" | "Failed") => {}
            Some("Running") => running.push(name.to_string()),
            _ => {
                if set_pod(server, ns, name, "Running", true) {
                    running.push(name.to_string());
                }
            }
        }
    }
    running
}

fn patch_status(
    server: &BerthServer,
    kind: &str,
    name: &str,
    ns: Option<&str>,
    body: &Value,
) -> crate::CmdOutput {
    let mut args = vec![
        "patch",
        kind,
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
    ];
    let body = body.to_string();
    args.push(&body);
    if let Some(ns) = ns {
        args.extend_from_slice(&["-n", ns]);
    }
    server.kubectl(&args)
}
