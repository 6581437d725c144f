//! Pod priority and preemption through the real kubectl, on a control-plane server with a
//! simulated node (`berth_testkit::play_node`): PriorityClasses resolve into pods'
//! priorities at admission, a pod that fits nowhere removes a lower-priority pod to get in,
//! `preemptionPolicy: Never` waits instead, and bad priorities are refused.

use std::time::Duration;

use berth_testkit::play_node::{play, register_node};
use berth_testkit::{wait_for, BerthServer};
use serde_json::{json, Value};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn apply(server: &BerthServer, yaml: &str) -> berth_testkit::CmdOutput {
    server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(yaml))
}

fn pod(name: &str, class: &str, cpu: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  priorityClassName: {class}\n{extra}  containers:\n  - name: c\n    image: busybox\n    resources:\n      requests: {{cpu: \"{cpu}\"}}\n"
    )
}

fn get(server: &BerthServer, name: &str) -> Option<Value> {
    let out = server.kubectl(&["get", "pod", name, "-o", "json"]);
    out.ok
        .then(|| serde_json::from_str(&out.stdout).ok())
        .flatten()
}

#[test]
fn higher_priority_pods_preempt_lower_ones() {
    let server = BerthServer::start(BERTH, &[]).expect("server starts");
    // The two system classes exist from the start.
    let classes = server.kubectl(&["get", "priorityclasses"]);
    assert!(
        classes.stdout.contains("system-node-critical")
            && classes.stdout.contains("system-cluster-critical"),
        "{}",
        classes.stdout
    );
    for (name, value) in [("low", 10), ("high", 1000)] {
        let out = apply(
            &server,
            &format!("apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: {name}\nvalue: {value}\n"),
        );
        assert!(out.ok, "{}", out.stderr);
    }
    register_node(&server, "sim-1", &[], json!([]));

    // A low-priority pod takes most of the node.
    assert!(apply(&server, &pod("filler", "low", "3", "")).ok);
    wait_for(Duration::from_secs(30), || {
        play(&server, "sim-1");
        let p = get(&server, "filler")?;
        (p["status"]["phase"] == "Running").then_some(())
    })
    .expect("filler runs");
    let filler = get(&server, "filler").unwrap_or(Value::Null);
    assert_eq!(filler["spec"]["priority"], 10);
    assert_eq!(filler["spec"]["preemptionPolicy"], "PreemptLowerPriority");

    // A pod that must not preempt waits, and says why.
    let never = pod("patient", "high", "2", "  preemptionPolicy: Never\n");
    assert!(apply(&server, &never).ok);
    let message = wait_for(Duration::from_secs(30), || {
        let p = get(&server, "patient")?;
        let conditions = p["status"]["conditions"].as_array()?;
        conditions
            .iter()
            .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
            .and_then(|c| c["message"].as_str().map(str::to_string))
    })
    .expect("patient is reported unschedulable");
    assert!(
        message.contains("1 Insufficient cpu")
            && message.contains("preemption: not eligible due to preemptionPolicy=Never"),
        "{message}"
    );
    assert!(
        server
            .kubectl(&["delete", "pod", "patient", "--wait=false"])
            .ok
    );

    // A high-priority pod that does not fit removes the filler and takes its place.
    assert!(apply(&server, &pod("vip", "high", "2", "")).ok);
    let vip = wait_for(Duration::from_secs(60), || {
        play(&server, "sim-1");
        let p = get(&server, "vip")?;
        (p["spec"]["nodeName"] == "sim-1").then_some(p)
    })
    .unwrap_or_else(|| {
        let describe = server.kubectl(&["describe", "pods"]);
        panic!("vip was not placed\n{}", describe.stdout)
    });
    assert_eq!(vip["spec"]["priority"], 1000);
    assert_eq!(vip["status"]["nominatedNodeName"], "sim-1");
    assert!(get(&server, "filler").is_none(), "the victim is gone");
    let events = server.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "reason=Preempted",
        "-o",
        "json",
    ]);
    let events: Value = serde_json::from_str(&events.stdout).unwrap_or(Value::Null);
    let preempted = events["items"].as_array().and_then(|items| {
        items
            .iter()
            .find(|e| e["involvedObject"]["name"] == "filler")
            .and_then(|e| e["message"].as_str().map(str::to_string))
    });
    assert_eq!(
        preempted,
        Some(format!(
            "Preempted by pod {} on node sim-1",
            vip["metadata"]["uid"].as_str().unwrap_or("")
        ))
    );

    // Bad priorities are refused at admission.
    let unknown = apply(&server, &pod("lost", "nope", "1", ""));
    assert!(
        !unknown.ok
            && unknown
                .stderr
                .contains("no PriorityClass with name nope was found"),
        "{}",
        unknown.stderr
    );
    let forged = apply(&server, &pod("forged", "low", "1", "  priority: 5000\n"));
    assert!(
        !forged.ok && forged.stderr.contains("must not be provided in pod spec"),
        "{}",
        forged.stderr
    );
}
