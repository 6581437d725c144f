//! End-to-end: the node agent embedded in `berth server` registers its node (Ready, with
//! capacity, addresses and system info) and its Lease, as kubectl shows them; the node
//! survives a server restart as the same object; `--disable-agent` runs no node.

use std::time::Duration;

use berth_testkit::{wait_for, BerthServer};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn node_json(server: &BerthServer) -> Option<serde_json::Value> {
    let out = server.kubectl(&["get", "node", "berth-test-node", "-o", "json"]);
    out.ok
        .then(|| serde_json::from_str(&out.stdout).ok())
        .flatten()
}

#[test]
fn server_registers_a_ready_node_with_a_lease() {
    let mut server = BerthServer::start_node(
        BERTH,
        &["--node-name", "berth-test-node", "--max-pods", "50"],
    )
    .expect("server starts");
    let node = wait_for(Duration::from_secs(15), || node_json(&server)).expect("node registered");
    let status = &node["status"];
    let ready = status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Ready")
        .expect("a Ready condition");
    assert_eq!(ready["status"], "True", "{node}");
    assert_eq!(status["capacity"]["pods"], "50");
    assert!(status["capacity"]["cpu"].as_str().is_some_and(|c| c != "0"));
    assert_eq!(status["nodeInfo"]["operatingSystem"], "linux");
    assert_eq!(node["spec"]["podCIDR"], "10.42.0.0/24");
    assert_eq!(
        node["metadata"]["labels"]["kubernetes.io/hostname"],
        "berth-test-node"
    );

    let wide = server.kubectl(&["get", "nodes", "-o", "wide"]);
    assert!(wide.ok, "{}", wide.stderr);
    let row = wide
        .stdout
        .lines()
        .find(|l| l.starts_with("berth-test-node"))
        .expect("a row for the node");
    assert!(
        row.contains(" Ready ") && row.contains("control-plane"),
        "{row}"
    );

    let lease = wait_for(Duration::from_secs(15), || {
        let out = server.kubectl(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            "berth-test-node",
            "-o",
            "json",
        ]);
        out.ok
            .then(|| serde_json::from_str::<serde_json::Value>(&out.stdout).ok())
            .flatten()
    })
    .expect("lease created");
    assert_eq!(lease["spec"]["holderIdentity"], "berth-test-node");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    assert_eq!(
        lease["metadata"]["ownerReferences"][0]["uid"],
        node["metadata"]["uid"]
    );

    // After a restart the agent finds its node again: same object, still Ready.
    let uid = node["metadata"]["uid"].clone();
    server.restart().expect("restart");
    let again = wait_for(Duration::from_secs(15), || node_json(&server)).expect("node");
    assert_eq!(again["metadata"]["uid"], uid);
    let nodes = server.kubectl(&["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.stdout.trim(), "node/berth-test-node");
}

#[test]
fn disable_agent_runs_only_the_control_plane() {
    let without = BerthServer::start(BERTH, &[]).expect("server starts");
    // A server with its agent, started later, registers its node: by then the first one
    // would have too.
    let with = BerthServer::start_node(BERTH, &["--node-name", "berth-test-node"]).expect("server");
    wait_for(Duration::from_secs(15), || node_json(&with)).expect("node registered");
    let out = without.kubectl(&["get", "nodes", "-o", "name"]);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "");
}

fn condition(node: &serde_json::Value, kind: &str) -> serde_json::Value {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn eviction_thresholds_drive_the_pressure_conditions() {
    // Every byte of the disk must stay free: that is pressure on any machine; memory is not
    // watched at all.
    let server = BerthServer::start_node(
        BERTH,
        &[
            "--node-name",
            "berth-test-node",
            "--eviction-hard",
            "nodefs.available<100%",
        ],
    )
    .expect("server starts");
    let node = wait_for(Duration::from_secs(15), || {
        node_json(&server).filter(|n| condition(n, "DiskPressure")["status"] == "True")
    })
    .expect("DiskPressure reported");
    let disk = condition(&node, "DiskPressure");
    assert_eq!(disk["reason"], "KubeletHasDiskPressure", "{disk}");
    assert_eq!(condition(&node, "MemoryPressure")["status"], "False");
    assert_eq!(condition(&node, "Ready")["status"], "True");
    let described = server.kubectl(&["describe", "node", "berth-test-node"]);
    assert!(
        described.stdout.contains("kubelet has disk pressure"),
        "{}",
        described.stdout
    );
    // Bad thresholds are refused before anything starts, naming the problem.
    let out = server.berth(&["server", "--eviction-hard", "disk.full<1"]);
    assert!(!out.ok);
    assert!(
        out.stderr.contains("unknown eviction signal \"disk.full\""),
        "{}",
        out.stderr
    );
}

/// Runs the rest of a command line in a mount namespace of its own in which an empty tmpfs
/// hides the machine's cgroup hierarchies, as in a container not given them.
const WITHOUT_CGROUPS: [&str; 7] = [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    "mount -t tmpfs berth-test-no-cgroups /sys/fs/cgroup && exec \"$0\" \"$@\"",
];

#[test]
fn a_node_without_usable_cgroups_is_not_ready_and_says_why() {
    let server = BerthServer::start_node_wrapped(
        BERTH,
        &["--node-name", "berth-test-node"],
        &WITHOUT_CGROUPS,
    )
    .expect("server starts");
    // The control plane serves; the node registers NotReady with what is missing and how
    // to fix it.
    let node = wait_for(Duration::from_secs(15), || node_json(&server)).expect("node registered");
    let ready = condition(&node, "Ready");
    assert_eq!(ready["status"], "False", "{node}");
    assert_eq!(ready["reason"], "KubeletNotReady", "{ready}");
    let message = ready["message"].as_str().unwrap_or_default();
    for said in [
        "cgroups unusable: no cgroup file system is visible at /sys/fs/cgroup",
        "another mount hides them",
        "unmount what covers them",
    ] {
        assert!(message.contains(said), "{said:?} not in {message:?}");
    }
    let row = server.kubectl(&["get", "node", "berth-test-node"]);
    assert!(row.stdout.contains(" NotReady "), "{}", row.stdout);
    let described = server.kubectl(&["describe", "node", "berth-test-node"]);
    assert!(
        described.stdout.contains("cgroups unusable"),
        "{}",
        described.stdout
    );
    assert!(
        server
            .log_text()
            .contains("this node cannot run pods: cgroups unusable"),
        "{}",
        server.log_text()
    );

    // A pod bound to the node anyway is told why it cannot start, not left waiting.
    let pod = r#"apiVersion: v1
kind: Pod
metadata:
  name: stuck
spec:
  nodeName: berth-test-node
  containers:
  - name: c
    image: busybox:cgroups-test
    imagePullPolicy: Never
"#;
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(pod));
    assert!(out.ok, "{}", out.stderr);
    let events = wait_for(Duration::from_secs(20), || {
        let out = server.kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=stuck,reason=FailedCreatePodSandBox",
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        (out.ok && out.stdout.contains("cgroups unusable")).then_some(out.stdout)
    })
    .unwrap_or_else(|| {
        panic!(
            "no FailedCreatePodSandBox event naming the cgroups:\n{}",
            server.kubectl(&["describe", "pod", "stuck"]).stdout
        )
    });
    assert!(
        events.contains("Failed to create pod sandbox: cgroups unusable"),
        "{events}"
    );
    let described = server.kubectl(&["describe", "pod", "stuck"]);
    assert!(
        described.stdout.contains("FailedCreatePodSandBox"),
        "{}",
        described.stdout
    );

    // `berth agent`, a node and nothing else, refuses to start there, saying why; it stops
    // before it would reach for a server.
    let data = tempfile::tempdir().expect("a data directory");
    let mut agent = std::process::Command::new(WITHOUT_CGROUPS[0]);
    agent
        .args(&WITHOUT_CGROUPS[1..])
        .arg(BERTH)
        .args(["agent", "--server", "https://127.0.0.1:1", "--token"])
        .arg("K10abc::server:secret")
        .arg("--data-dir")
        .arg(data.path());
    let out = berth_testkit::run(&mut agent);
    assert!(!out.ok, "berth agent started: {}", out.stdout);
    assert!(
        out.stderr
            .contains("this machine cannot run pods: cgroups unusable: no cgroup file system"),
        "{}",
        out.stderr
    );
}
