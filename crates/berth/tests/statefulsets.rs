//! StatefulSets end to end through the real kubectl, with real pods on the embedded node
//! agent (a `berth server` in a network namespace the test creates): ordered creation that
//! waits for readiness, stable names, hostnames and storage, ordered scale-down, a rolling
//! update from the highest ordinal, `kubectl rollout status|history|undo`.

use std::collections::BTreeSet;
use std::time::Duration;

use berth_testkit::{wait_for, BerthServer};
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const IMAGE: &str = "busybox:sts-test";

/// Ready once the test (or a previous incarnation, through the claim) said so.
const MANIFEST: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: None
  selector: {app: web}
  ports:
  - {port: 80}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:sts-test
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "[ -f /data/ok ] && touch /tmp/ready; trap 'exit 0' TERM; sleep 3600 & wait"]
        readinessProbe:
          exec: {command: ["cat", "/tmp/ready"]}
          periodSeconds: 1
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;

fn kubectl_ok(server: &BerthServer, args: &[&str]) -> String {
    let out = server.kubectl(args);
    assert!(out.ok, "kubectl {}: {}", args.join(" "), out.stderr);
    out.stdout
}

/// The set's live pods: name -> (ready, revision).
fn pods(server: &BerthServer) -> Vec<(String, bool, String)> {
    let out = server.kubectl(&["get", "pods", "-l", "app=web", "-o", "json"]);
    let list: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let mut v: Vec<(String, bool, String)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let ready = p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            (
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                ready,
                p["metadata"]["labels"]["controller-revision-hash"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn names(server: &BerthServer) -> BTreeSet<String> {
    pods(server).into_iter().map(|p| p.0).collect()
}

fn wait(server: &BerthServer, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    if wait_for(Duration::from_secs(secs), || f().then_some(())).is_none() {
        panic!(
            "timed out waiting for {what}: {:?}\n{}",
            pods(server),
            server.kubectl(&["describe", "sts", "web"]).stdout
        );
    }
}

/// A child process killed (by its PID) and reaped when the test is done with it, even when
/// the test fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Make pod `name` ready (and remember it in its claim, for its next incarnation).
fn make_ready(server: &BerthServer, name: &str) {
    wait(server, 60, &format!("{name} running"), || {
        server
            .kubectl(&["exec", name, "--", "touch", "/data/ok", "/tmp/ready"])
            .ok
    });
}

#[test]
fn statefulsets_create_in_order_keep_identity_and_roll_from_the_top() {
    let Some(server) = berth_testkit::node_with_busybox(BERTH, "sts-node", IMAGE) else {
        return;
    };
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(MANIFEST));
    assert!(out.ok, "{}", out.stderr);

    // web-0 first; web-1 only once web-0 is ready; then web-2.
    wait(&server, 60, "web-0", || names(&server).contains("web-0"));
    // For a couple of seconds while web-0 is not ready, nothing else appears.
    let early = wait_for(Duration::from_secs(2), || {
        (names(&server).len() > 1).then_some(())
    });
    assert!(
        early.is_none(),
        "web-1 came before web-0 was ready: {:?}\n{}\n{}",
        pods(&server),
        server
            .kubectl(&["get", "events", "--sort-by=.lastTimestamp"])
            .stdout,
        server.kubectl(&["get", "pods", "-o", "yaml"]).stdout
    );
    make_ready(&server, "web-0");
    wait(&server, 60, "web-1", || names(&server).contains("web-1"));
    assert!(!names(&server).contains("web-2"));
    make_ready(&server, "web-1");
    wait(&server, 60, "web-2", || names(&server).contains("web-2"));
    make_ready(&server, "web-2");
    wait(&server, 60, "three ready pods", || {
        let p = pods(&server);
        p.len() == 3 && p.iter().all(|p| p.1)
    });
    kubectl_ok(&server, &["rollout", "status", "sts/web", "--timeout=60s"]);

    // Identity: hostname and claims.
    assert_eq!(
        kubectl_ok(&server, &["exec", "web-1", "--", "hostname"]).trim(),
        "web-1"
    );
    let claims = kubectl_ok(
        &server,
        &["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"],
    );
    let claims: BTreeSet<&str> = claims.split_whitespace().collect();
    assert_eq!(
        claims,
        BTreeSet::from(["data-web-0", "data-web-1", "data-web-2"])
    );
    // Storage outlives the pod: a deleted web-0 comes back with its data (and so ready).
    kubectl_ok(
        &server,
        &["exec", "web-0", "--", "sh", "-c", "echo kept > /data/file"],
    );
    kubectl_ok(&server, &["delete", "pod", "web-0", "--wait=false"]);
    wait(&server, 60, "web-0 back and ready", || {
        pods(&server).iter().any(|p| p.0 == "web-0" && p.1)
            && server
                .kubectl(&["exec", "web-0", "--", "cat", "/data/file"])
                .stdout
                == "kept\n"
    });

    // A template change rolls from web-2 down; the pods come back ready through their claims.
    // The order comes from a watch: polling can miss a step when one rolls faster than a
    // `kubectl get` (then two new pods show up in one listing, in name order).
    let first = pods(&server)[0].2.clone();
    let mut watch = KillOnDrop(
        server
            .command("kubectl")
            .env("KUBECONFIG", server.kubeconfig())
            .args([
                "get",
                "pods",
                "-l",
                "app=web",
                "--watch",
                "-o",
                "jsonpath={.metadata.name} {.metadata.labels.controller-revision-hash}{\"\\n\"}",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting kubectl get --watch"),
    );
    let lines = watch.0.stdout.take().expect("the watch's stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(lines)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The watch lists the three pods first; changes made after that are all reported.
    for _ in 0..3 {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the watch lists the current pods");
    }
    kubectl_ok(&server, &["set", "env", "sts/web", "VERSION=2"]);
    let mut order: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while order.len() < 3 && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            let mut parts = line.split_whitespace();
            if let (Some(name), Some(rev)) = (parts.next(), parts.next()) {
                if rev != first && !order.iter().any(|n| n == name) {
                    order.push(name.to_string());
                }
            }
        }
    }
    drop(watch);
    assert_eq!(order, ["web-2", "web-1", "web-0"], "update order");
    kubectl_ok(&server, &["rollout", "status", "sts/web", "--timeout=60s"]);
    let history = kubectl_ok(&server, &["rollout", "history", "sts/web"]);
    let numbers: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(numbers, ["1", "2"], "{history}");
    kubectl_ok(&server, &["rollout", "undo", "sts/web"]);
    wait(&server, 120, "the rollback", || {
        let p = pods(&server);
        p.len() == 3 && p.iter().all(|p| p.1 && p.2 == first)
    });

    // Scaling down removes web-2 before web-1.
    kubectl_ok(&server, &["scale", "sts", "web", "--replicas=1"]);
    let mut gone = Vec::new();
    wait(&server, 60, "scale down to one", || {
        let now = names(&server);
        for n in ["web-2", "web-1"] {
            if !now.contains(n) && !gone.contains(&n) {
                gone.push(n);
            }
        }
        now.len() == 1
    });
    assert_eq!(gone, ["web-2", "web-1"], "scale-down order");
}
