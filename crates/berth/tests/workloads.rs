//! Workload controllers end to end, through the real kubectl: Deployments roll out,
//! scale, update, roll back and restart with real pods on the embedded node agent (a
//! `berth server` inside a network namespace the test creates), and the garbage collector
//! removes or orphans what deleted owners leave behind. ReplicaSet adoption and the
//! deletion policies are checked on a control-plane-only server, where pods stay Pending.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use berth_testkit::BerthServer;
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const NODE: &str = "berth-node";
const IMAGE: &str = "busybox:workloads-test";
/// A container that runs until told to stop, and stops at once on SIGTERM (a bare `sleep`
/// as pid 1 ignores it and would hold every deletion for the whole grace period).
const SCRIPT: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

/// A server with its node agent and the test image; `None` when not root.
fn node() -> Option<BerthServer> {
    berth_testkit::node_with_busybox(BERTH, NODE, IMAGE)
}

fn apply(server: &BerthServer, yaml: &str) {
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(yaml));
    assert!(out.ok, "kubectl apply: {}\n{yaml}", out.stderr);
}

fn kubectl_ok(server: &BerthServer, args: &[&str]) -> String {
    let out = server.kubectl(args);
    assert!(
        out.ok,
        "kubectl {}: {}\n--- server log ---\n{}",
        args.join(" "),
        out.stderr,
        tail(&server.log_text(), 40)
    );
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

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Pods with label selector `selector` that are not being deleted.
fn live_pods(server: &BerthServer, selector: &str) -> Option<Vec<Value>> {
    let list = get_json(server, &["pods", "-l", selector])?;
    Some(
        items(&list)
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect(),
    )
}

fn replicasets(server: &BerthServer, selector: &str) -> Vec<Value> {
    get_json(server, &["replicasets", "-l", selector])
        .map(|l| items(&l))
        .unwrap_or_default()
}

fn name(obj: &Value) -> String {
    obj["metadata"]["name"].as_str().unwrap_or("").to_string()
}

fn revision(obj: &Value) -> &str {
    obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .unwrap_or("")
}

fn phase(p: &Value) -> &str {
    p["status"]["phase"].as_str().unwrap_or("")
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Poll `f` until it returns `Some`, or fail with `what`, the state and the server log.
fn poll<T>(server: &BerthServer, secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            let state = server.kubectl(&["get", "deploy,rs,pods", "-o", "wide"]);
            panic!(
                "{what}: not reached in {secs}s\n{}\n--- server log ---\n{}",
                state.stdout,
                tail(&server.log_text(), 60)
            );
        }
        // kubectl is a process per poll: a short pause keeps polling from eating the CPU
        // the server under test needs.
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Exactly `n` running pods for `selector`, and no others left.
fn wait_running(server: &BerthServer, selector: &str, n: usize) -> Vec<Value> {
    poll(server, 90, &format!("{n} running pods {selector}"), || {
        let all = get_json(server, &["pods", "-l", selector]).map(|l| items(&l))?;
        (all.len() == n && all.iter().all(|p| phase(p) == "Running")).then_some(all)
    })
}

fn rollout_status(server: &BerthServer, deployment: &str) {
    kubectl_ok(server, &["rollout", "status", deployment, "--timeout=90s"]);
}

fn env_of(pod: &Value) -> Vec<String> {
    pod["spec"]["containers"][0]["env"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|v| {
                    format!(
                        "{}={}",
                        v["name"].as_str().unwrap_or(""),
                        v["value"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn deployment_rolls_out_scales_updates_rolls_back_and_is_collected() {
    let Some(server) = node() else { return };
    kubectl_ok(
        &server,
        &[
            "create",
            "deployment",
            "web",
            "--image",
            IMAGE,
            "--replicas=3",
            "--",
            "sh",
            "-c",
            SCRIPT,
        ],
    );
    let pods = wait_running(&server, "app=web", 3);
    rollout_status(&server, "deployment/web");
    assert_eq!(
        pods[0]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );

    // One ReplicaSet, named by the template hash, revision 1, owned by the Deployment.
    let sets = replicasets(&server, "app=web");
    assert_eq!(sets.len(), 1, "{sets:?}");
    let first = &sets[0];
    let hash = first["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .expect("pod-template-hash label")
        .to_string();
    assert_eq!(name(first), format!("web-{hash}"));
    assert_eq!(revision(first), "1");
    assert_eq!(
        first["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash.as_str()
    );
    let owner = &first["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Deployment");
    assert_eq!(owner["controller"], true);
    assert_eq!(owner["blockOwnerDeletion"], true);
    for p in &pods {
        assert!(name(p).starts_with(&format!("web-{hash}-")), "{}", name(p));
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash.as_str());
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    }
    let d = get_json(&server, &["deployment", "web"]).expect("deployment");
    assert_eq!(revision(&d), "1");
    assert_eq!(d["status"]["availableReplicas"], 3);
    assert_eq!(d["status"]["updatedReplicas"], 3);
    let conditions = d["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let reason = |t: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == t)
            .map(|c| c["reason"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        reason("Available").as_deref(),
        Some("MinimumReplicasAvailable")
    );
    assert_eq!(
        reason("Progressing").as_deref(),
        Some("NewReplicaSetAvailable")
    );
    let events = kubectl_ok(&server, &["get", "events"]);
    assert!(
        events.contains(&format!("Scaled up replica set web-{hash} from 0 to 3")),
        "{events}"
    );
    assert!(events.contains("SuccessfulCreate"), "{events}");

    // A deleted pod is replaced.
    let victim = name(&pods[0]);
    kubectl_ok(&server, &["delete", "pod", &victim, "--wait=false"]);
    poll(&server, 60, "a replacement pod", || {
        let live = live_pods(&server, "app=web")?;
        (live.len() == 3
            && live
                .iter()
                .all(|p| name(p) != victim && phase(p) == "Running"))
        .then_some(())
    });

    // Scaling down removes pods; up again adds them.
    kubectl_ok(&server, &["scale", "deployment/web", "--replicas=1"]);
    wait_running(&server, "app=web", 1);
    rollout_status(&server, "deployment/web");
    kubectl_ok(&server, &["scale", "deployment/web", "--replicas=2"]);
    wait_running(&server, "app=web", 2);
    rollout_status(&server, "deployment/web");

    // A template change rolls out through a second ReplicaSet.
    kubectl_ok(&server, &["set", "env", "deployment/web", "X=1"]);
    rollout_status(&server, "deployment/web");
    let pods = wait_running(&server, "app=web", 2);
    assert!(pods.iter().all(|p| env_of(p) == ["X=1"]), "{pods:?}");
    let sets = replicasets(&server, "app=web");
    assert_eq!(sets.len(), 2);
    let second = sets
        .iter()
        .find(|s| name(s) != name(first))
        .expect("new rs");
    assert_eq!(revision(second), "2");
    let history = kubectl_ok(&server, &["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");

    // Undo brings revision 1's template back, as revision 3, in its old ReplicaSet.
    kubectl_ok(&server, &["rollout", "undo", "deployment/web"]);
    rollout_status(&server, "deployment/web");
    let pods = wait_running(&server, "app=web", 2);
    assert!(pods.iter().all(|p| env_of(p).is_empty()), "{pods:?}");
    assert!(pods
        .iter()
        .all(|p| p["metadata"]["labels"]["pod-template-hash"] == hash.as_str()));
    let back = get_json(&server, &["rs", &name(first)]).expect("first rs");
    assert_eq!(revision(&back), "3");
    assert_eq!(back["spec"]["replicas"], 2);
    let d = get_json(&server, &["deployment", "web"]).expect("deployment");
    assert_eq!(revision(&d), "3");

    // Restart replaces every pod.
    let before: Vec<String> = pods.iter().map(name).collect();
    kubectl_ok(&server, &["rollout", "restart", "deployment/web"]);
    rollout_status(&server, "deployment/web");
    let pods = wait_running(&server, "app=web", 2);
    assert!(pods.iter().all(|p| !before.contains(&name(p))), "{pods:?}");
    assert_eq!(replicasets(&server, "app=web").len(), 3);

    // Paused: template changes wait for resume.
    kubectl_ok(&server, &["rollout", "pause", "deployment/web"]);
    kubectl_ok(&server, &["set", "env", "deployment/web", "Y=2"]);
    poll(&server, 30, "paused deployment observed", || {
        let d = get_json(&server, &["deployment", "web"])?;
        (d["status"]["observedGeneration"] == d["metadata"]["generation"]).then_some(())
    });
    assert_eq!(
        replicasets(&server, "app=web").len(),
        3,
        "no rollout while paused"
    );
    kubectl_ok(&server, &["rollout", "resume", "deployment/web"]);
    rollout_status(&server, "deployment/web");
    let pods = wait_running(&server, "app=web", 2);
    assert!(pods.iter().all(|p| env_of(p) == ["Y=2"]), "{pods:?}");

    // Deleting the Deployment removes its ReplicaSets and pods.
    kubectl_ok(&server, &["delete", "deployment", "web", "--wait=false"]);
    poll(&server, 60, "replicasets and pods collected", || {
        let sets = replicasets(&server, "app=web");
        let pods = get_json(&server, &["pods", "-l", "app=web"]).map(|l| items(&l))?;
        (sets.is_empty() && pods.is_empty()).then_some(())
    });
}

#[test]
fn recreate_replaces_all_pods_and_orphaning_keeps_them() {
    let Some(server) = node() else { return };
    let yaml = |env: &str| {
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: rec
spec:
  replicas: 2
  strategy:
    type: Recreate
  selector:
    matchLabels: {{app: rec}}
  template:
    metadata:
      labels: {{app: rec}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: main
        image: {IMAGE}
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", {SCRIPT:?}]
        env: [{{name: V, value: "{env}"}}]
"#
        )
    };
    apply(&server, &yaml("1"));
    wait_running(&server, "app=rec", 2);
    rollout_status(&server, "deployment/rec");
    let old: Vec<String> = replicasets(&server, "app=rec").iter().map(name).collect();

    apply(&server, &yaml("2"));
    // Recreate: the old pods are all gone before any new one exists.
    let mut saw_mixed = false;
    poll(&server, 90, "recreated pods", || {
        let pods = get_json(&server, &["pods", "-l", "app=rec"]).map(|l| items(&l))?;
        let new = pods.iter().filter(|p| env_of(p) == ["V=2"]).count();
        saw_mixed |= new > 0 && new < pods.len();
        (new == 2 && pods.len() == 2 && pods.iter().all(|p| phase(p) == "Running")).then_some(())
    });
    assert!(!saw_mixed, "old and new pods existed at once");
    rollout_status(&server, "deployment/rec");
    let sets = replicasets(&server, "app=rec");
    assert_eq!(sets.len(), 2);
    for s in &sets {
        let want = if old.contains(&name(s)) { 0 } else { 2 };
        assert_eq!(s["spec"]["replicas"], want, "{}", name(s));
    }

    // Orphaning: the Deployment goes, its ReplicaSets and pods stay, released.
    kubectl_ok(
        &server,
        &["delete", "deployment", "rec", "--cascade=orphan"],
    );
    poll(&server, 30, "deployment gone", || {
        let out = server.kubectl(&["get", "deployment", "rec"]);
        (!out.ok).then_some(())
    });
    let sets = replicasets(&server, "app=rec");
    assert_eq!(sets.len(), 2, "{sets:?}");
    for s in &sets {
        assert!(
            s["metadata"]["ownerReferences"]
                .as_array()
                .is_none_or(|r| r.is_empty()),
            "{s}"
        );
    }
    let pods: Vec<String> = live_pods(&server, "app=rec")
        .unwrap_or_default()
        .iter()
        .map(name)
        .collect();
    assert_eq!(pods.len(), 2);

    // Applied again, the Deployment adopts its old ReplicaSets: the current one serves
    // the template, so nothing is created or restarted.
    apply(&server, &yaml("2"));
    poll(&server, 30, "replicasets adopted", || {
        let sets = replicasets(&server, "app=rec");
        (sets.len() == 2
            && sets
                .iter()
                .all(|s| s["metadata"]["ownerReferences"][0]["name"] == "rec"))
        .then_some(())
    });
    rollout_status(&server, "deployment/rec");
    let after: Vec<String> = live_pods(&server, "app=rec")
        .unwrap_or_default()
        .iter()
        .map(name)
        .collect();
    assert_eq!(after, pods);

    // Foreground: the Deployment goes only after its ReplicaSets and their pods (which
    // stop within a second here, so the wait itself is checked with ReplicaSets below).
    kubectl_ok(
        &server,
        &[
            "delete",
            "deployment",
            "rec",
            "--cascade=foreground",
            "--wait=false",
        ],
    );
    poll(&server, 60, "foreground deletion done", || {
        let d_gone = !server.kubectl(&["get", "deployment", "rec"]).ok;
        let sets = replicasets(&server, "app=rec");
        let pods = get_json(&server, &["pods", "-l", "app=rec"]).map(|l| items(&l))?;
        if d_gone {
            assert!(sets.is_empty() && pods.is_empty(), "owner went first");
            return Some(());
        }
        None
    });
}

/// A control-plane-only server: pods are never scheduled, so they stay Pending.
fn control_plane() -> BerthServer {
    BerthServer::start(BERTH, &[]).expect("server starts")
}

#[test]
fn replicasets_adopt_release_and_are_collected_by_policy() {
    let server = control_plane();
    // An orphan that matches is adopted instead of a pod being created for it.
    apply(
        &server,
        r#"apiVersion: v1
kind: Pod
metadata:
  name: stray
  labels: {app: rs}
spec:
  containers: [{name: c, image: busybox}]
"#,
    );
    let rs = r#"apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: rs
spec:
  replicas: 3
  selector:
    matchLabels: {app: rs}
  template:
    metadata:
      labels: {app: rs}
    spec:
      containers: [{name: c, image: busybox}]
"#;
    apply(&server, rs);
    let pods = poll(&server, 30, "3 pods", || {
        let pods = live_pods(&server, "app=rs")?;
        (pods.len() == 3
            && pods
                .iter()
                .all(|p| p["metadata"]["ownerReferences"][0]["name"] == "rs"))
        .then_some(pods)
    });
    assert!(pods.iter().any(|p| name(p) == "stray"), "adopted");
    let rs_obj = poll(&server, 30, "rs status", || {
        let rs = get_json(&server, &["rs", "rs"])?;
        (rs["status"]["replicas"] == 3 && rs["status"]["fullyLabeledReplicas"] == 3).then_some(rs)
    });
    assert_eq!(rs_obj["status"]["observedGeneration"], 1);
    assert_eq!(rs_obj["status"]["readyReplicas"].as_i64().unwrap_or(0), 0);

    // A pod relabelled out of the selector is released and replaced.
    kubectl_ok(
        &server,
        &["label", "pod", "stray", "app=other", "--overwrite"],
    );
    poll(&server, 30, "stray released and replaced", || {
        let stray = get_json(&server, &["pod", "stray"])?;
        let released = stray["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(|r| r.is_empty());
        let pods = live_pods(&server, "app=rs")?;
        (released && pods.len() == 3).then_some(())
    });

    // Scale down: the surplus goes.
    kubectl_ok(&server, &["scale", "rs/rs", "--replicas=1"]);
    poll(&server, 30, "1 pod", || {
        (live_pods(&server, "app=rs")?.len() == 1).then_some(())
    });

    // Foreground: the ReplicaSet waits for its pods, then goes. A finalizer of the test's
    // holds the pod, so the waiting can be seen.
    let held = name(&live_pods(&server, "app=rs").unwrap_or_default()[0]);
    kubectl_ok(
        &server,
        &[
            "patch",
            "pod",
            &held,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["test.berth.dev/hold"]}}"#,
        ],
    );
    kubectl_ok(
        &server,
        &["delete", "rs", "rs", "--cascade=foreground", "--wait=false"],
    );
    poll(&server, 30, "pod deleted, replicaset waiting", || {
        let rs = get_json(&server, &["rs", "rs"])?;
        let pod = get_json(&server, &["pod", &held])?;
        (!pod["metadata"]["deletionTimestamp"].is_null()).then_some(())?;
        assert!(!rs["metadata"]["deletionTimestamp"].is_null());
        assert_eq!(rs["metadata"]["finalizers"][0], "foregroundDeletion");
        Some(())
    });
    kubectl_ok(
        &server,
        &[
            "patch",
            "pod",
            &held,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    );
    poll(&server, 30, "foreground deletion", || {
        let gone = !server.kubectl(&["get", "rs", "rs"]).ok;
        let pods = get_json(&server, &["pods", "-l", "app=rs"]).map(|l| items(&l))?;
        (gone && pods.is_empty()).then_some(())
    });

    // Background: the ReplicaSet goes at once, the collector removes its pods.
    apply(&server, rs);
    poll(&server, 30, "3 pods again", || {
        (live_pods(&server, "app=rs")?.len() == 3).then_some(())
    });
    kubectl_ok(&server, &["delete", "rs", "rs"]);
    poll(&server, 30, "pods collected", || {
        let pods = get_json(&server, &["pods", "-l", "app=rs"]).map(|l| items(&l))?;
        pods.is_empty().then_some(())
    });
    // The released pod was never the ReplicaSet's to collect.
    assert!(server.kubectl(&["get", "pod", "stray"]).ok);
}

#[test]
fn bad_deployments_are_rejected_with_field_paths() {
    let server = control_plane();
    let deployment = |selector: &str, replicas: i32, surge: &str, unavailable: &str| {
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  replicas: {replicas}
  strategy:
    rollingUpdate: {{maxSurge: {surge}, maxUnavailable: {unavailable}}}
  selector:
    matchLabels: {{app: {selector}}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers: [{{name: c, image: busybox}}]
"#
        )
    };
    let cases = [
        (
            deployment("other", 1, "1", "0"),
            "spec.template.metadata.labels",
        ),
        (deployment("web", -1, "1", "0"), "spec.replicas"),
        (
            deployment("web", 1, "0", "0"),
            "spec.strategy.rollingUpdate.maxUnavailable",
        ),
    ];
    for (yaml, field) in cases {
        let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(&yaml));
        assert!(!out.ok, "accepted:\n{yaml}");
        assert!(
            out.stderr.contains("Invalid") && out.stderr.contains(field),
            "{field}: {}",
            out.stderr
        );
    }
    assert!(!server.kubectl(&["get", "deployment", "bad"]).ok);
}

#[test]
fn a_stuck_rollout_exceeds_its_progress_deadline() {
    // No node: the pods are never scheduled, so never available.
    let server = control_plane();
    apply(
        &server,
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: stuck
spec:
  replicas: 2
  progressDeadlineSeconds: 2
  selector:
    matchLabels: {app: stuck}
  template:
    metadata:
      labels: {app: stuck}
    spec:
      containers: [{name: c, image: busybox}]
"#,
    );
    let out = server.kubectl(&["rollout", "status", "deployment/stuck", "--timeout=30s"]);
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stderr.contains("exceeded its progress deadline"),
        "{}",
        out.stderr
    );
    // The counts may catch up after the deadline (on a busy machine the ReplicaSet's
    // status can lag), which counts as progress and restarts the clock: poll for the
    // final state.
    poll(
        &server,
        30,
        "deadline exceeded with all pods counted",
        || {
            let d = get_json(&server, &["deployment", "stuck"])?;
            let conditions = d["status"]["conditions"].as_array()?.clone();
            let find = |t: &str| conditions.iter().find(|c| c["type"] == t).cloned();
            let progressing = find("Progressing")?;
            let available = find("Available")?;
            (progressing["status"] == "False"
                && progressing["reason"] == "ProgressDeadlineExceeded"
                && available["status"] == "False"
                && available["reason"] == "MinimumReplicasUnavailable"
                && d["status"]["replicas"] == 2
                && d["status"]["unavailableReplicas"] == 2)
                .then_some(())
        },
    );
}

#[test]
fn scaling_during_a_stuck_rollout_is_proportional() {
    // No node: no pod ever becomes available, so the rollout stops where maxSurge and
    // maxUnavailable stop it, at sizes the test can predict.
    let server = control_plane();
    let yaml = |env: &str| {
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: prop
spec:
  replicas: 4
  strategy:
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 1}}
  selector:
    matchLabels: {{app: prop}}
  template:
    metadata:
      labels: {{app: prop}}
    spec:
      containers: [{{name: c, image: busybox, env: [{{name: V, value: "{env}"}}]}}]
"#
        )
    };
    apply(&server, &yaml("1"));
    let first = poll(&server, 30, "first replicaset at 4", || {
        let sets = replicasets(&server, "app=prop");
        (sets.len() == 1 && sets[0]["status"]["replicas"] == 4).then(|| name(&sets[0]))
    });
    apply(&server, &yaml("2"));
    // Surge 1 and one unavailable pod allowed: old 4 -> 3, new 0 -> 1 -> 2, then stuck.
    let sizes = |server: &BerthServer| -> Option<(i64, i64)> {
        let sets = replicasets(server, "app=prop");
        let size = |s: &Value| s["spec"]["replicas"].as_i64().unwrap_or(-1);
        let old = sets.iter().find(|s| name(s) == first).map(size)?;
        let new = sets.iter().find(|s| name(s) != first).map(size)?;
        Some((old, new))
    };
    poll(&server, 30, "rollout stuck at 3 old + 2 new", || {
        (sizes(&server)? == (3, 2)).then_some(())
    });
    // Scaled to 8: 9 pods allowed (surge 1), 4 more, shared by the sizes the two
    // ReplicaSets were last scaled for (max-replicas 5 each): 3 * 9/5 = 5.4 -> 5 and
    // 2 * 9/5 = 3.6 -> 4.
    kubectl_ok(&server, &["scale", "deployment/prop", "--replicas=8"]);
    poll(
        &server,
        30,
        "proportional scale-up to 5 old + 4 new",
        || (sizes(&server)? == (5, 4)).then_some(()),
    );
    for s in replicasets(&server, "app=prop") {
        let annotations = &s["metadata"]["annotations"];
        assert_eq!(
            annotations["deployment.kubernetes.io/desired-replicas"],
            "8"
        );
        assert_eq!(annotations["deployment.kubernetes.io/max-replicas"], "9");
    }
}
