//! Pods run for real through the embedded node agent: a `berth server` inside a network
//! namespace the test creates (so bridges and pod addresses never touch the machine's
//! network), the busybox test image imported into its data directory, the real kubectl.
//! Pods are bound with `spec.nodeName`, so these tests do not depend on the scheduler.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use berth_testkit::{wait_for, BerthServer};
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const NODE: &str = "berth-node";
const IMAGE: &str = "busybox:pods-test";

/// A server with its node agent and the test image; `None` when not root.
fn node() -> Option<BerthServer> {
    berth_testkit::node_with_busybox(BERTH, NODE, IMAGE)
}

fn apply(server: &BerthServer, yaml: &str) {
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(yaml));
    assert!(out.ok, "kubectl apply: {}\n{yaml}", out.stderr);
}

fn pod(server: &BerthServer, name: &str) -> Option<Value> {
    let out = server.kubectl(&["get", "pod", name, "-o", "json"]);
    out.ok
        .then(|| serde_json::from_str(&out.stdout).ok())
        .flatten()
}

/// Poll the pod until `check` says yes; on timeout, fail with the pod and the server log.
fn wait_pod(
    server: &BerthServer,
    name: &str,
    secs: u64,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let got = wait_for(Duration::from_secs(secs), || {
        pod(server, name).filter(|p| check(p))
    });
    match got {
        Some(p) => p,
        None => {
            let describe = server.kubectl(&["describe", "pod", name]);
            panic!(
                "pod {name}: {what} not reached in {secs}s\n{}\n{}\n--- server log ---\n{}",
                serde_json::to_string_pretty(&pod(server, name)).unwrap_or_default(),
                describe.stdout,
                tail(&server.log_text(), 40)
            )
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn phase(p: &Value) -> &str {
    p["status"]["phase"].as_str().unwrap_or("")
}

fn container_status<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["status"]["containerStatuses"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

fn pod_yaml(name: &str, restart: &str, script: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  nodeName: {NODE}
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", {script:?}]
"#
    )
}

/// The engine id of a pod's container, from its status.
fn engine_id(status: &Value) -> String {
    status["containerID"]
        .as_str()
        .and_then(|s| s.strip_prefix("berth://"))
        .expect("containerID")
        .to_string()
}

#[test]
fn pod_runs_to_completion_with_its_identity_and_logs() {
    let Some(server) = node() else { return };
    apply(
        &server,
        &pod_yaml(
            "hello",
            "Never",
            "echo hello from $(hostname); cat /etc/hosts | grep -c hello",
        ),
    );
    let p = wait_pod(&server, "hello", 60, "Succeeded", |p| {
        phase(p) == "Succeeded"
    });
    let c = container_status(&p, "main");
    assert_eq!(c["state"]["terminated"]["exitCode"], 0, "{c}");
    assert_eq!(c["state"]["terminated"]["reason"], "Completed", "{c}");
    assert_eq!(c["restartCount"], 0);
    assert!(
        c["imageID"]
            .as_str()
            .is_some_and(|i| i.contains("@sha256:")),
        "{c}"
    );
    let ip = p["status"]["podIP"].as_str().expect("podIP");
    assert!(ip.starts_with("10.42.0."), "{ip}");
    assert_eq!(p["status"]["qosClass"], "BestEffort");
    let conditions = p["status"]["conditions"].as_array().expect("conditions");
    let ready = conditions
        .iter()
        .find(|c| c["type"] == "Ready")
        .expect("Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "PodCompleted");
    let logs = server.berth(&["logs", &engine_id(c)]);
    assert!(logs.ok, "{}", logs.stderr);
    assert_eq!(logs.stdout, "hello from hello\n1\n", "{}", logs.stdout);
    let events = server.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=hello",
        "-o",
        "json",
    ]);
    let events: Value = serde_json::from_str(&events.stdout).expect("events");
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for want in ["Pulled", "Created", "Started"] {
        assert!(reasons.contains(&want), "no {want} event in {reasons:?}");
    }
}

#[test]
fn restart_policies_and_crash_loop_back_off() {
    let Some(server) = node() else { return };
    apply(
        &server,
        &pod_yaml("crasher", "Always", "echo crash; exit 3"),
    );
    apply(&server, &pod_yaml("once", "OnFailure", "exit 0"));
    apply(&server, &pod_yaml("failer", "Never", "exit 2"));
    let p = wait_pod(&server, "crasher", 60, "CrashLoopBackOff", |p| {
        let c = container_status(p, "main");
        c["restartCount"].as_i64().unwrap_or(0) >= 1
            && c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    });
    let c = container_status(&p, "main");
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 3, "{c}");
    assert_eq!(c["lastState"]["terminated"]["reason"], "Error", "{c}");
    assert!(
        c["state"]["waiting"]["message"]
            .as_str()
            .is_some_and(|m| m
                .starts_with("back-off 10s restarting failed container=main pod=crasher_default(")),
        "{c}"
    );
    assert_eq!(phase(&p), "Running");
    wait_pod(&server, "once", 60, "Succeeded", |p| {
        phase(p) == "Succeeded"
    });
    let f = wait_pod(&server, "failer", 60, "Failed", |p| phase(p) == "Failed");
    assert_eq!(
        container_status(&f, "main")["state"]["terminated"]["exitCode"],
        2
    );
    let events = server.kubectl(&["describe", "pod", "crasher"]);
    assert!(events.stdout.contains("BackOff"), "{}", events.stdout);
}

#[test]
fn env_init_containers_and_volumes() {
    let Some(server) = node() else { return };
    apply(
        &server,
        &format!(
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
  file.txt: version-1
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: s3cret
---
apiVersion: v1
kind: Pod
metadata:
  name: configured
  labels:
    app: demo
spec:
  nodeName: {NODE}
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: prepare
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo prepared > /work/init.txt"]
    volumeMounts:
    - {{name: work, mountPath: /work}}
  containers:
  - name: main
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo $(GREETING)-$(POD) > /work/args.txt; sleep 3600"]
    env:
    - {{name: GREETING, valueFrom: {{configMapKeyRef: {{name: settings, key: greeting}}}}}}
    - {{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}}}
    - {{name: POD, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
    - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
    - {{name: COMBINED, value: "$(GREETING)/$(POD)"}}
    volumeMounts:
    - {{name: work, mountPath: /work}}
    - {{name: cfg, mountPath: /etc/cfg}}
    - {{name: secret, mountPath: /etc/secret}}
    - {{name: info, mountPath: /etc/info}}
    - {{name: mem, mountPath: /mem}}
  volumes:
  - {{name: work, emptyDir: {{}}}}
  - {{name: mem, emptyDir: {{medium: Memory, sizeLimit: 8Mi}}}}
  - {{name: cfg, configMap: {{name: settings}}}}
  - name: secret
    secret:
      secretName: creds
      defaultMode: 0400
  - name: info
    downwardAPI:
      items:
      - {{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}
      - {{path: name, fieldRef: {{fieldPath: metadata.name}}}}
"#
        ),
    );
    let p = wait_pod(&server, "configured", 60, "Running and Ready", |p| {
        phase(p) == "Running" && container_status(p, "main")["ready"] == true
    });
    let init = &p["status"]["initContainerStatuses"][0];
    assert_eq!(init["state"]["terminated"]["exitCode"], 0, "{init}");
    let id = engine_id(container_status(&p, "main"));
    let exec = |cmd: &str| {
        let out = server.berth(&["exec", &id, "sh", "-c", cmd]);
        assert!(out.ok, "{cmd}: {}", out.stderr);
        out.stdout
    };
    assert_eq!(exec("cat /work/init.txt"), "prepared\n");
    assert_eq!(exec("cat /work/args.txt"), "hello-configured\n");
    let ip = p["status"]["podIP"].as_str().expect("podIP");
    assert_eq!(
        exec("echo $GREETING $PASSWORD $POD $POD_IP $COMBINED"),
        format!("hello s3cret configured {ip} hello/configured\n")
    );
    assert_eq!(
        exec("cat /etc/cfg/greeting /etc/secret/password"),
        "hellos3cret"
    );
    assert_eq!(exec("stat -c %a /etc/secret/..data/password"), "400\n");
    assert_eq!(
        exec("cat /etc/info/labels; echo; cat /etc/info/name"),
        "app=\"demo\"\nconfigured"
    );
    assert!(exec("grep ' /mem ' /proc/mounts").contains("tmpfs"));
    // Secrets stay in memory, as the kubelet keeps them.
    assert!(exec("grep ' /etc/secret ' /proc/mounts").contains("tmpfs"));
    assert!(exec("touch /etc/cfg/x 2>&1 || echo refused").contains("refused"));
    // A ConfigMap update reaches the mounted file: at once (the agent watches the
    // ConfigMap), not at the next resync.
    apply(
        &server,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: hello\n  file.txt: version-2\n",
    );
    let updated = wait_for(Duration::from_secs(5), || {
        (exec("cat /etc/cfg/file.txt") == "version-2").then_some(())
    });
    assert!(
        updated.is_some(),
        "the ConfigMap update never reached the volume"
    );
}

#[test]
fn deletion_stops_gracefully_and_releases_everything() {
    let Some(server) = node() else { return };
    apply(
        &server,
        &pod_yaml(
            "graceful",
            "Always",
            "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.2; done",
        ),
    );
    let p = wait_pod(&server, "graceful", 60, "Running", |p| {
        phase(p) == "Running"
    });
    let id = engine_id(container_status(&p, "main"));
    let uid = p["metadata"]["uid"].as_str().expect("uid").to_string();
    let out = server.kubectl(&["delete", "pod", "graceful", "--wait=true", "--timeout=60s"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(pod(&server, "graceful").is_none(), "pod still there");
    let data = server.data_dir();
    assert!(
        !data.join("sandboxes").join(&uid).exists(),
        "sandbox left behind"
    );
    assert!(
        !data.join("pods").join(&uid).exists(),
        "pod directory left behind"
    );
    let ps = server.berth(&["ps", "-a", "-q"]);
    assert!(
        !ps.stdout.contains(&id[..12]),
        "container left behind: {}",
        ps.stdout
    );
}

#[test]
fn bad_input_is_reported_and_harms_nothing_else() {
    let Some(server) = node() else { return };
    apply(&server, &pod_yaml("healthy", "Always", "sleep 3600"));
    let never = pod_yaml("never", "Always", "true")
        .replace(IMAGE, "absent:1")
        .replace("IfNotPresent", "Never");
    apply(&server, &never);
    let unreachable =
        pod_yaml("unpullable", "Always", "true").replace(IMAGE, "127.0.0.1:1/nothing:1");
    apply(&server, &unreachable);
    let missing_key = pod_yaml("missingkey", "Always", "true").replace(
        "    command:",
        "    env:\n    - {name: X, valueFrom: {configMapKeyRef: {name: nothing, key: k}}}\n    command:",
    );
    apply(&server, &missing_key);
    let no_command = pod_yaml("nocommand", "Never", "x").replace(
        r#"command: ["sh", "-c", "x"]"#,
        r#"command: ["/no/such/program"]"#,
    );
    apply(&server, &no_command);
    let waiting = |name: &str, reasons: &[&str]| {
        wait_pod(&server, name, 60, &format!("{reasons:?}"), |p| {
            let c = container_status(p, "main");
            let r = c["state"]["waiting"]["reason"]
                .as_str()
                .or(c["state"]["terminated"]["reason"].as_str())
                .unwrap_or("");
            reasons.contains(&r)
        })
    };
    waiting("never", &["ErrImageNeverPull"]);
    let p = waiting("unpullable", &["ErrImagePull", "ImagePullBackOff"]);
    let msg = container_status(&p, "main")["state"]["waiting"]["message"].to_string();
    assert!(msg.contains("127.0.0.1:1/nothing:1"), "{msg}");
    let p = waiting("missingkey", &["CreateContainerConfigError"]);
    let msg = container_status(&p, "main")["state"]["waiting"]["message"].to_string();
    assert!(msg.contains("configmap \\\"nothing\\\" not found"), "{msg}");
    let p = wait_pod(&server, "nocommand", 60, "failed start", |p| {
        let c = container_status(p, "main");
        phase(p) == "Failed"
            || c["state"]["waiting"]["reason"] == "RunContainerError"
            || c["state"]["waiting"]["reason"] == "CreateContainerError"
    });
    let describe = server.kubectl(&["describe", "pod", "nocommand"]);
    assert!(
        describe.stdout.contains("/no/such/program"),
        "{}\n{p}",
        describe.stdout
    );
    // The healthy pod and the node are unaffected.
    wait_pod(&server, "healthy", 60, "Running", |p| phase(p) == "Running");
    let node = server.kubectl(&[
        "get",
        "node",
        NODE,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    assert_eq!(node.stdout, "True", "{}", node.stderr);
}

#[test]
fn agent_restart_keeps_containers_and_pods_reach_each_other() {
    let Some(mut server) = node() else { return };
    apply(
        &server,
        &pod_yaml(
            "web",
            "Always",
            "echo pong > /tmp/index.html; httpd -f -p 8080 -h /tmp",
        ),
    );
    apply(&server, &pod_yaml("client", "Always", "sleep 3600"));
    let web = wait_pod(&server, "web", 60, "Running", |p| phase(p) == "Running");
    let client = wait_pod(&server, "client", 60, "Running", |p| phase(p) == "Running");
    let web_ip = web["status"]["podIP"].as_str().expect("podIP").to_string();
    let client_id = engine_id(container_status(&client, "main"));
    // busybox-static's wget crashes (static glibc and NSS), so HTTP by hand over nc.
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {web_ip} 8080 | tail -n 1");
    let fetch = |server: &BerthServer| server.berth(&["exec", &client_id, "sh", "-c", &script]);
    let got = wait_for(Duration::from_secs(20), || {
        let out = fetch(&server);
        (out.ok && out.stdout == "pong\n").then_some(())
    });
    assert!(
        got.is_some(),
        "pod-to-pod HTTP failed: {:?}",
        fetch(&server)
    );
    let web_id = engine_id(container_status(&web, "main"));
    let status = server.terminate().expect("server exits");
    assert!(status.success(), "{status:?}");
    server.restart().expect("server restarts");
    // The same containers carry on: no restart, and the status is reported again.
    let p = wait_pod(&server, "web", 60, "Running after restart", |p| {
        phase(p) == "Running"
    });
    let c = container_status(&p, "main");
    assert_eq!(engine_id(c), web_id);
    assert_eq!(c["restartCount"], 0);
    assert_eq!(fetch(&server).stdout, "pong\n");
    // And a new pod still starts.
    apply(&server, &pod_yaml("after", "Never", "true"));
    wait_pod(&server, "after", 60, "Succeeded", |p| {
        phase(p) == "Succeeded"
    });
}

fn events_of(server: &BerthServer, name: &str) -> Vec<(String, String)> {
    let out = server.kubectl(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or("").to_string(),
                e["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn probes_drive_readiness_and_restarts() {
    let Some(server) = node() else { return };
    apply(
        &server,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  nodeName: {NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir /www; (sleep 3; echo ok > /www/ready) & httpd -f -p 8080 -h /www"]
    ports: [{{name: http, containerPort: 8080}}]
    startupProbe:
      tcpSocket: {{port: http}}
      periodSeconds: 1
      failureThreshold: 30
    readinessProbe:
      httpGet: {{port: http, path: /ready}}
      periodSeconds: 1
  - name: liveness
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "touch /tmp/alive; sleep 2; rm /tmp/alive; sleep 3600"]
    livenessProbe:
      exec: {{command: ["test", "-f", "/tmp/alive"]}}
      periodSeconds: 1
      failureThreshold: 1
  - name: nowhere
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    readinessProbe:
      grpc: {{port: 9999}}
      periodSeconds: 1
"#
        ),
    );
    // Not ready before the file exists, ready after; the gRPC probe never passes.
    // The path appears 3 s after start: the container is seen started but not ready first.
    wait_pod(&server, "probed", 60, "web started, not ready", |p| {
        let web = container_status(p, "web");
        web["started"] == true && web["ready"] == false
    });
    let p = wait_pod(&server, "probed", 60, "web ready", |p| {
        container_status(p, "web")["ready"] == true
    });
    assert_eq!(container_status(&p, "nowhere")["ready"], false);
    let ready = p["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
        .expect("Ready condition");
    assert_eq!(
        ready["status"], "False",
        "a container is not ready: {ready}"
    );
    // The liveness probe fails once /tmp/alive is gone: killed and restarted.
    wait_pod(&server, "probed", 60, "liveness restart", |p| {
        container_status(p, "liveness")["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    });
    let events = events_of(&server, "probed");
    let has =
        |reason: &str, text: &str| events.iter().any(|(r, m)| r == reason && m.contains(text));
    assert!(has("Unhealthy", "Liveness probe failed"), "{events:?}");
    assert!(
        has("Killing", "failed liveness probe, will be restarted"),
        "{events:?}"
    );
    assert!(has("Unhealthy", "Readiness probe failed"), "{events:?}");
}

#[test]
fn lifecycle_hooks_run_around_the_container() {
    let Some(server) = node() else { return };
    let shared = tempfile::tempdir().expect("tempdir");
    let host_dir = shared.path().display().to_string();
    apply(
        &server,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: hooked
spec:
  nodeName: {NODE}
  terminationGracePeriodSeconds: 10
  containers:
  - name: main
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'echo term >> /out/log; exit 0' TERM; while true; do sleep 0.2; done"]
    lifecycle:
      postStart:
        exec: {{command: ["sh", "-c", "echo poststart >> /out/log"]}}
      preStop:
        exec: {{command: ["sh", "-c", "echo prestop >> /out/log"]}}
    volumeMounts: [{{name: out, mountPath: /out}}]
  volumes:
  - name: out
    hostPath: {{path: {host_dir}}}
"#
        ),
    );
    wait_pod(&server, "hooked", 60, "Running", |p| phase(p) == "Running");
    let log = shared.path().join("log");
    let started = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|l| l.contains("poststart"))
    });
    assert!(started.is_some(), "postStart did not run");
    let out = server.kubectl(&["delete", "pod", "hooked", "--timeout=60s"]);
    assert!(out.ok, "{}", out.stderr);
    let log = std::fs::read_to_string(&log).expect("log");
    assert_eq!(log, "poststart\nprestop\nterm\n", "hooks ran out of order");
}

#[test]
fn limits_reach_cgroups_and_oom_kills_are_reported() {
    let Some(server) = node() else { return };
    apply(
        &server,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: hungry
spec:
  nodeName: {NODE}
  restartPolicy: Never
  containers:
  - name: main
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"]
    resources:
      limits: {{memory: 32Mi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: guaranteed
spec:
  nodeName: {NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources:
      limits: {{memory: 64Mi, cpu: 500m}}
"#
        ),
    );
    let p = wait_pod(&server, "hungry", 60, "Failed", |p| phase(p) == "Failed");
    let t = &container_status(&p, "main")["state"]["terminated"];
    assert_eq!(t["reason"], "OOMKilled", "{t}");
    assert_eq!(t["exitCode"], 137, "{t}");
    assert_eq!(p["status"]["qosClass"], "Burstable");
    let p = wait_pod(&server, "guaranteed", 60, "Running", |p| {
        phase(p) == "Running"
    });
    assert_eq!(p["status"]["qosClass"], "Guaranteed");
    // The limits are the container's cgroup limits (v1 or v2, whichever the node has).
    let id = engine_id(container_status(&p, "main"));
    let out = server.berth(&["exec", &id, "sh", "-c",
        "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    assert_eq!(
        out.stdout.trim(),
        (64 * 1024 * 1024).to_string(),
        "{}",
        out.stderr
    );
    let stats = server.berth(&["inspect", &id]);
    let info: Value = serde_json::from_str(&stats.stdout).expect("inspect json");
    let info = if info.is_array() {
        info[0].clone()
    } else {
        info
    };
    assert_eq!(info["config"]["resources"]["cpuQuota"], 50_000, "{info}");
    // The kubelet's cgroup tree: the pod's own cgroup (Guaranteed: right under /kubepods)
    // carries the pod's limit, and /kubepods the node's allocatable memory.
    let uid = p["metadata"]["uid"].as_str().expect("uid");
    let memory_limit = |relative: &str| {
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let file = if v2 {
            format!("/sys/fs/cgroup/{relative}/memory.max")
        } else {
            format!("/sys/fs/cgroup/memory/{relative}/memory.limit_in_bytes")
        };
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .trim()
            .to_string()
    };
    assert_eq!(
        memory_limit(&format!("kubepods/pod{uid}")),
        (64 * 1024 * 1024).to_string()
    );
    let node = server.kubectl(&["get", "node", NODE, "-o", "json"]);
    let node: Value = serde_json::from_str(&node.stdout).expect("node json");
    let allocatable_kib: u64 = node["status"]["allocatable"]["memory"]
        .as_str()
        .and_then(|m| m.strip_suffix("Ki"))
        .and_then(|m| m.parse().ok())
        .expect("allocatable memory in Ki");
    let kubepods: u64 = memory_limit("kubepods").parse().expect("a number");
    // The kernel rounds limits down to whole pages.
    assert!(
        kubepods.abs_diff(allocatable_kib * 1024) < 4096,
        "{kubepods} vs {allocatable_kib}Ki"
    );
}

#[test]
fn kubectl_run_is_scheduled_and_selectors_wait_for_a_matching_node() {
    let Some(server) = node() else { return };
    let out = server.kubectl(&[
        "run",
        "scheduled",
        "--image",
        IMAGE,
        "--image-pull-policy",
        "IfNotPresent",
        "--restart",
        "Never",
        "--",
        "sh",
        "-c",
        "echo hi",
    ]);
    assert!(out.ok, "{}", out.stderr);
    let p = wait_pod(&server, "scheduled", 60, "Succeeded", |p| {
        phase(p) == "Succeeded"
    });
    assert_eq!(p["spec"]["nodeName"], NODE);
    let events = events_of(&server, "scheduled");
    assert!(
        events.iter().any(|(r, m)| r == "Scheduled"
            && m == &format!("Successfully assigned default/scheduled to {NODE}")),
        "{events:?}"
    );
    // No node has the label: Unschedulable, with the scheduler's message, until one does.
    apply(
        &server,
        &pod_yaml("picky", "Never", "true").replace(
            &format!("  nodeName: {NODE}\n"),
            "  nodeSelector: {disk: ssd}\n",
        ),
    );
    let p = wait_pod(&server, "picky", 60, "Unschedulable", |p| {
        p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
        })
    });
    let cond = p["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled").cloned())
        .expect("PodScheduled");
    assert!(
        cond["message"].as_str().is_some_and(|m| m.starts_with(
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
        )),
        "{cond}"
    );
    assert!(events_of(&server, "picky")
        .iter()
        .any(|(r, _)| r == "FailedScheduling"));
    let out = server.kubectl(&["label", "node", NODE, "disk=ssd"]);
    assert!(out.ok, "{}", out.stderr);
    let p = wait_pod(&server, "picky", 60, "Succeeded after labelling", |p| {
        phase(p) == "Succeeded"
    });
    assert_eq!(p["spec"]["nodeName"], NODE);
    // Required anti-affinity over hostnames: one replica per node, so the second waits for
    // the first to go.
    let solo = |name: &str| {
        pod_yaml(name, "Always", "sleep 3600")
            .replace(&format!("  nodeName: {NODE}\n"), "")
            .replace(
                &format!("  name: {name}\n"),
                &format!("  name: {name}\n  labels: {{app: solo}}\n"),
            )
            .replace(
                "  containers:\n",
                "  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: solo}}\n        topologyKey: kubernetes.io/hostname\n  containers:\n",
            )
    };
    apply(&server, &solo("solo-1"));
    wait_pod(&server, "solo-1", 60, "Running", |p| phase(p) == "Running");
    apply(&server, &solo("solo-2"));
    let p = wait_pod(&server, "solo-2", 60, "Unschedulable", |p| {
        p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
        })
    });
    let message = p["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled").cloned())
        .map(|c| c["message"].to_string())
        .unwrap_or_default();
    assert!(
        message
            .contains("0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."),
        "{message}"
    );
    let out = server.kubectl(&["delete", "pod", "solo-1", "--wait=false"]);
    assert!(out.ok, "{}", out.stderr);
    wait_pod(&server, "solo-2", 90, "Running once solo-1 is gone", |p| {
        phase(p) == "Running"
    });
}

#[test]
fn kubectl_logs_through_the_api_server() {
    let Some(server) = node() else { return };
    apply(
        &server,
        &pod_yaml(
            "talker",
            "Always",
            "for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; sleep 0.5; exit 1",
        ),
    );
    apply(
        &server,
        &pod_yaml(
            "ticker",
            "Always",
            "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done",
        ),
    );
    wait_pod(&server, "talker", 60, "restarted", |p| {
        container_status(p, "main")["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    });
    let logs = server.kubectl(&["logs", "talker", "--previous"]);
    assert!(logs.ok, "{}", logs.stderr);
    assert_eq!(
        logs.stdout,
        "line 1\nline 2\nline 3\nline 4\nline 5\noops\n"
    );
    let tail = server.kubectl(&["logs", "talker", "--previous", "--tail", "2"]);
    assert_eq!(tail.stdout, "line 5\noops\n", "{}", tail.stderr);
    let stamped = server.kubectl(&[
        "logs",
        "talker",
        "--previous",
        "--timestamps",
        "--limit-bytes",
        "40",
    ]);
    assert!(
        stamped.stdout.starts_with("20") && stamped.stdout.len() <= 40,
        "{:?}",
        stamped.stdout
    );
    // -f follows a running container until kubectl is stopped.
    wait_pod(&server, "ticker", 60, "Running", |p| phase(p) == "Running");
    let follow = run_for(&server, Duration::from_secs(2), &["logs", "-f", "ticker"]);
    let ticks = follow.lines().filter(|l| l.starts_with("tick ")).count();
    assert!(ticks >= 5, "followed only {ticks} lines: {follow:?}");
    // Errors name the problem.
    let bad = server.kubectl(&["logs", "ticker", "-c", "nope"]);
    assert!(
        !bad.ok
            && bad
                .stderr
                .contains("container nope is not valid for pod ticker"),
        "{}",
        bad.stderr
    );
    let missing = server.kubectl(&["logs", "ghost"]);
    assert!(
        !missing.ok && missing.stderr.contains("not found"),
        "{}",
        missing.stderr
    );
}

/// Run kubectl for `limit`, then stop it (SIGTERM by pid) and return what it printed.
fn run_for(server: &BerthServer, limit: Duration, args: &[&str]) -> String {
    let out = server
        .command("timeout")
        .arg(format!("{}", limit.as_secs_f64()))
        .arg("kubectl")
        .args(args)
        .env("KUBECONFIG", server.kubeconfig())
        .output()
        .expect("kubectl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The kubectl binaries streaming is tried with: the current one (WebSocket, and for
/// port-forward SPDY tunnelled in a WebSocket) and, where installed, 1.27 (SPDY only).
fn kubectls() -> Vec<&'static str> {
    let mut v = vec!["kubectl"];
    let old = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
    if std::path::Path::new(old).exists() {
        v.push(old);
    } else {
        eprintln!("{old} not installed: SPDY streaming not tried");
    }
    v
}

#[test]
fn kubectl_exec_over_websocket_and_spdy() {
    let Some(server) = node() else { return };
    apply(&server, &pod_yaml("shell", "Always", "sleep 3600"));
    wait_pod(&server, "shell", 60, "Running", |p| phase(p) == "Running");
    for kubectl in kubectls() {
        let run = |args: &[&str], stdin: Option<&str>| server.kubectl_with(kubectl, args, stdin);
        let out = run(
            &[
                "exec",
                "shell",
                "--",
                "sh",
                "-c",
                "echo out; echo err >&2; hostname",
            ],
            None,
        );
        assert!(out.ok, "{kubectl}: {}", out.stderr);
        assert_eq!(out.stdout, "out\nshell\n", "{kubectl}");
        assert_eq!(out.stderr, "err\n", "{kubectl}");
        // Exit codes propagate.
        let out = run(&["exec", "shell", "--", "sh", "-c", "exit 7"], None);
        assert!(!out.ok, "{kubectl}");
        assert!(
            out.stderr.contains("command terminated with exit code 7"),
            "{kubectl}: {}",
            out.stderr
        );
        // stdin reaches the command and its end closes it.
        let out = run(
            &["exec", "-i", "shell", "--", "sh", "-c", "tr a-z A-Z"],
            Some("piped input\n"),
        );
        assert!(out.ok, "{kubectl}: {}", out.stderr);
        assert_eq!(out.stdout, "PIPED INPUT\n", "{kubectl}");
        // A terminal (kubectl gets one from `script`): the command sees one, of kubectl's size.
        let line = format!(
            "stty cols 91 rows 37; {kubectl} exec -i -t shell -- sh -c 'test -t 0 && echo tty; stty size'"
        );
        let out = server
            .command("script")
            .args(["-qec", &line, "/dev/null"])
            .env("KUBECONFIG", server.kubeconfig())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("tty") && text.contains("37 91"),
            "{kubectl}: {text:?}"
        );
        // Errors name the problem.
        let out = run(&["exec", "shell", "-c", "nope", "--", "true"], None);
        assert!(
            !out.ok
                && out
                    .stderr
                    .contains("container nope is not valid for pod shell"),
            "{kubectl}: {}",
            out.stderr
        );
    }
}

/// A running `kubectl port-forward`, stopped (by its PID) when dropped.
struct PortForward {
    child: std::process::Child,
    local: u16,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl PortForward {
    fn start(server: &BerthServer, kubectl: &str, target: &str) -> PortForward {
        use std::io::BufRead;
        let mut child = server
            .command(kubectl)
            .args(["port-forward", "pod/web", target])
            .env("KUBECONFIG", server.kubeconfig())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl port-forward");
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let (etx, stderr) = std::sync::mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        let mut forward = PortForward {
            child,
            local: 0,
            stderr,
        };
        // "Forwarding from 127.0.0.1:NNNNN -> PORT"
        let deadline = Instant::now() + Duration::from_secs(30);
        while forward.local == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{kubectl} port-forward did not start"));
            if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
                forward.local = rest
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
            }
        }
        forward
    }

    fn get(&self, server: &BerthServer) -> berth_testkit::CmdOutput {
        let url = format!("http://127.0.0.1:{}/index.html", self.local);
        berth_testkit::run(
            server
                .command("curl")
                .args(["-s", "--max-time", "10", &url]),
        )
    }

    /// What kubectl reported on stderr, waiting up to `limit` for a line containing `text`.
    fn stderr_containing(&self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let mut all = String::new();
        while let Ok(line) = self
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            all.push_str(&line);
            all.push('\n');
            if line.contains(text) {
                break;
            }
        }
        all
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn port_forward_reaches_loopback_ports_over_every_protocol() {
    let Some(server) = node() else { return };
    // httpd listens on the pod's loopback only: only a forward from inside the pod's network
    // namespace reaches it.
    apply(
        &server,
        &pod_yaml(
            "web",
            "Always",
            "echo pong > /tmp/index.html; httpd -f -p 127.0.0.1:8080 -h /tmp",
        ),
    );
    wait_pod(&server, "web", 60, "Running", |p| phase(p) == "Running");
    for kubectl in kubectls() {
        let forward = PortForward::start(&server, kubectl, ":8080");
        // Each request is a connection of its own over the one forwarding session.
        for _ in 0..3 {
            let out = forward.get(&server);
            assert_eq!(out.stdout.trim(), "pong", "{kubectl}: {}", out.stderr);
        }
        drop(forward);
        // A port nothing listens on: the request fails and kubectl says why.
        let forward = PortForward::start(&server, kubectl, ":9999");
        let out = forward.get(&server);
        assert_ne!(out.stdout.trim(), "pong");
        let said = forward.stderr_containing("9999", Duration::from_secs(10));
        assert!(
            said.contains("failed to connect to localhost:9999"),
            "{kubectl}: {said}"
        );
    }
    // The Python client's WebSocket channel protocol.
    if !python_client() {
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/portforward_client.py"
    );
    for (port, expected) in [
        ("8080", "pong"),
        ("9999", "failed to connect to localhost:9999"),
    ] {
        let out = berth_testkit::run(
            server
                .command("python3")
                .args([script, "web", port])
                .env("KUBECONFIG", server.kubeconfig()),
        );
        assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains(expected), "{port}: {}", out.stdout);
    }
}

/// Whether the Python Kubernetes client is there (it must be in CI).
fn python_client() -> bool {
    let have = std::process::Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        assert!(
            !berth_testkit::required(),
            "the python kubernetes client is required in CI"
        );
        eprintln!("python kubernetes client not installed: skipping");
    }
    have
}

#[test]
fn python_client_exec() {
    if !python_client() {
        return;
    }
    let Some(server) = node() else { return };
    apply(&server, &pod_yaml("pyexec", "Always", "sleep 3600"));
    wait_pod(&server, "pyexec", 60, "Running", |p| phase(p) == "Running");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/exec_client.py"
    );
    let out = server
        .command("python3")
        .args([script, "pyexec"])
        .env("KUBECONFIG", server.kubeconfig())
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text, "from-python\n3\n");
}

#[test]
fn kubectl_attach_reaches_the_container_stdio() {
    let Some(server) = node() else { return };
    apply(
        &server,
        &pod_yaml(
            "clock",
            "Always",
            "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done",
        ),
    );
    for (i, kubectl) in kubectls().into_iter().enumerate() {
        let name = format!("reader-{i}");
        apply(
            &server,
            &pod_yaml(&name, "Never", "read line; echo got $line; exit 4").replace(
                "    imagePullPolicy: IfNotPresent\n",
                "    imagePullPolicy: IfNotPresent\n    stdin: true\n    stdinOnce: true\n",
            ),
        );
        wait_pod(&server, &name, 60, "Running", |p| phase(p) == "Running");
        let out = server.kubectl_with(kubectl, &["attach", "-i", &name], Some("hello\n"));
        assert!(
            out.stdout.contains("got hello"),
            "{kubectl}: {:?} {}",
            out.stdout,
            out.stderr
        );
        assert!(
            !out.ok && out.stderr.contains("exit code 4"),
            "{kubectl}: {}",
            out.stderr
        );
        wait_pod(&server, &name, 60, "Failed", |p| phase(p) == "Failed");
    }
    // Without stdin: the running output streams until kubectl stops.
    wait_pod(&server, "clock", 60, "Running", |p| phase(p) == "Running");
    let seen = run_for(&server, Duration::from_secs(2), &["attach", "clock"]);
    assert!(
        seen.lines().filter(|l| l.starts_with("tick ")).count() >= 3,
        "{seen:?}"
    );
}

#[test]
fn image_pull_secrets_authenticate_pulls() {
    let Some(server) = node() else { return };
    let registry = match berth_testkit::auth_registry::AuthRegistry::start_in(
        server.netns(),
        "puller",
        "pull-pass",
        false,
    ) {
        Ok(Some(r)) => r,
        Ok(None) => {
            eprintln!("docker-registry or skopeo not installed: skipping");
            return;
        }
        Err(e) => panic!("starting the registry: {e}"),
    };
    registry
        .push_busybox("private/busybox:1")
        .expect("pushing the image");
    let image = format!("{}/private/busybox:1", registry.addr);
    let out = server.kubectl(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={}", registry.addr),
        "--docker-username=puller",
        "--docker-password=pull-pass",
    ]);
    assert!(out.ok, "{}", out.stderr);
    let private = |name: &str, secret: &str| {
        pod_yaml(name, "Never", "echo pulled")
            .replace(IMAGE, &image)
            .replace(
                "  containers:\n",
                &format!("  imagePullSecrets:\n  - name: {secret}\n  containers:\n"),
            )
    };
    // With the secret the pull authenticates and the pod runs.
    apply(&server, &private("with-secret", "regcred"));
    wait_pod(&server, "with-secret", 60, "Succeeded", |p| {
        phase(p) == "Succeeded"
    });
    let logs = server.kubectl(&["logs", "with-secret"]);
    assert_eq!(logs.stdout, "pulled\n");
    // A missing secret is reported, and the pull goes on without it, and fails: the
    // registry's refusal shows in the waiting reason.
    let wrong = pod_yaml("no-secret", "Never", "echo pulled")
        .replace(IMAGE, &image)
        .replace("IfNotPresent", "Always")
        .replace(
            "  containers:\n",
            "  imagePullSecrets:\n  - name: absent\n  containers:\n",
        );
    apply(&server, &wrong);
    wait_pod(&server, "no-secret", 60, "ErrImagePull", |p| {
        matches!(
            container_status(p, "main")["state"]["waiting"]["reason"].as_str(),
            Some("ErrImagePull" | "ImagePullBackOff")
        )
    });
    let events = events_of(&server, "no-secret");
    assert!(
        events
            .iter()
            .any(|(r, m)| r == "FailedToRetrieveImagePullSecret" && m.contains("absent")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|(r, m)| r == "Failed"
            && m.contains("Failed to pull image")
            && (m.contains("credentials") || m.contains("401") || m.contains("nauthorized"))),
        "{events:?}"
    );
}

#[test]
fn service_account_token_is_mounted_and_authenticates() {
    let Some(server) = node() else { return };
    apply(&server, &pod_yaml("sa-user", "Always", "sleep 3600"));
    wait_pod(&server, "sa-user", 60, "Running", |p| phase(p) == "Running");
    let dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    let read = |file: &str| {
        let out = server.kubectl(&["exec", "sa-user", "--", "cat", &format!("{dir}/{file}")]);
        assert!(out.ok, "{file}: {}", out.stderr);
        out.stdout
    };
    assert_eq!(read("namespace"), "default");
    assert!(read("ca.crt").starts_with("-----BEGIN CERTIFICATE-----"));
    let token = read("token");
    // The token is the pod's service account, bound to the pod.
    let ca = server.data_dir().join("tls").join("ca.crt");
    let out = berth_testkit::run(server.command("kubectl").args([
        "--kubeconfig=/dev/null",
        "--server",
        &server.url(),
        &format!("--certificate-authority={}", ca.display()),
        "--token",
        &token,
        "auth",
        "whoami",
        "-o",
        "json",
    ]));
    assert!(out.ok, "{}", out.stderr);
    let me: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let user = &me["status"]["userInfo"];
    assert_eq!(user["username"], "system:serviceaccount:default:default");
    assert_eq!(
        user["extra"]["authentication.kubernetes.io/pod-name"][0],
        "sa-user"
    );
    // Opting out leaves the path empty.
    apply(
        &server,
        &pod_yaml(
            "no-sa",
            "Never",
            &format!("test -e {dir} && exit 3; exit 0"),
        )
        .replace(
            "  restartPolicy: Never\n",
            "  restartPolicy: Never\n  automountServiceAccountToken: false\n",
        ),
    );
    wait_pod(&server, "no-sa", 60, "Succeeded", |p| {
        phase(p) == "Succeeded"
    });
}

#[test]
fn service_environment_variables_reach_containers() {
    let Some(server) = node() else { return };
    // The API server's own Service exists from the start.
    let out = server.kubectl(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP} {.spec.ports[0].port}",
    ]);
    assert_eq!(out.stdout, "10.43.0.1 443", "{}", out.stderr);
    let port = server.url().rsplit(':').next().unwrap_or("").to_string();
    let out = server.kubectl(&[
        "get",
        "endpoints",
        "kubernetes",
        "-o",
        "jsonpath={.subsets[0].ports[0].port}",
    ]);
    assert_eq!(out.stdout, port);
    // A Service that exists before the pod starts is in its environment.
    let out = server.kubectl(&["create", "service", "clusterip", "my-db", "--tcp=5432:5432"]);
    assert!(out.ok, "{}", out.stderr);
    let ip = server
        .kubectl(&["get", "svc", "my-db", "-o", "jsonpath={.spec.clusterIP}"])
        .stdout;
    apply(&server, &pod_yaml("env-reader", "Never", "env | sort"));
    wait_pod(&server, "env-reader", 60, "Succeeded", |p| {
        phase(p) == "Succeeded"
    });
    let logs = server.kubectl(&["logs", "env-reader"]).stdout;
    for expected in [
        "KUBERNETES_SERVICE_HOST=10.43.0.1".to_string(),
        "KUBERNETES_SERVICE_PORT=443".to_string(),
        "KUBERNETES_PORT=tcp://10.43.0.1:443".to_string(),
        format!("MY_DB_SERVICE_HOST={ip}"),
        format!("MY_DB_PORT_5432_TCP=tcp://{ip}:5432"),
    ] {
        assert!(
            logs.lines().any(|l| l == expected),
            "{expected} missing:\n{logs}"
        );
    }
}
