//! End-to-end: the real kubectl (1.33 through the dispatcher, and 1.27 and 1.32 called directly)
//! drives a real `berth server` through the workflows kubectl users rely on.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use berth_testkit::{wait_for, BerthServer, CmdOutput};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn kubectl_path(minor: Option<u32>) -> Option<String> {
    let path = match minor {
        None => "kubectl".to_string(),
        Some(m) => format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{m}"),
    };
    let found = minor.is_none() && berth_testkit::which("kubectl").is_some()
        || std::path::Path::new(&path).exists();
    if !found {
        assert!(!berth_testkit::required(), "{path} is required in CI");
        return None;
    }
    Some(path)
}

struct K<'a> {
    server: &'a BerthServer,
    bin: String,
}

impl K<'_> {
    fn run(&self, args: &[&str]) -> CmdOutput {
        self.server.kubectl_with(&self.bin, args, None)
    }
    fn stdin(&self, args: &[&str], input: &str) -> CmdOutput {
        self.server.kubectl_with(&self.bin, args, Some(input))
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.ok,
            "kubectl {args:?} failed: {}\n{}",
            out.stderr,
            self.server.log_text()
        );
        out.stdout
    }
    fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        let out = self.stdin(args, input);
        assert!(out.ok, "kubectl {args:?} failed: {}", out.stderr);
        out.stdout
    }
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        args: ["httpd", "-f"]
        ports:
        - containerPort: 80
"#;

const CONFIGMAP_V1: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  key: v1\n";
const CONFIGMAP_V2: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  key: v2\n  extra: yes-please\n";

fn workflow(minor: Option<u32>) {
    workflow_with(minor, &[]);
}

fn workflow_with(minor: Option<u32>, server_args: &[&str]) {
    let Some(bin) = kubectl_path(minor) else {
        return;
    };
    let server = BerthServer::start(BERTH, server_args).expect("server starts");
    let k = K {
        server: &server,
        bin,
    };
    let ns = "e2e";

    let version = k.ok(&["version", "-o", "json"]);
    assert!(version.contains("\"minor\": \"33\""), "{version}");

    let resources = k.ok(&["api-resources"]);
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("deployments") && l.contains("deploy") && l.contains("apps/v1")),
        "{resources}"
    );

    assert!(k
        .ok(&["create", "namespace", ns])
        .contains("namespace/e2e created"));
    assert_eq!(
        k.ok(&["get", "ns", ns, "-o", "jsonpath={.status.phase}"]),
        "Active"
    );

    // create -f with strict validation, then the printed columns.
    assert!(k
        .ok_stdin(&["create", "-n", ns, "-f", "-"], DEPLOYMENT)
        .contains("deployment.apps/web created"));
    let table = k.ok(&["get", "deploy", "-n", ns]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("web") && l.contains("0/2")),
        "{table}"
    );
    let wide = k.ok(&["get", "deploy", "web", "-n", ns, "-o", "wide"]);
    assert!(
        wide.contains("busybox:1.36") && wide.contains("app=web"),
        "{wide}"
    );

    // Unknown fields are rejected under strict validation.
    let bad = k.stdin(
        &["create", "-n", ns, "-f", "-"],
        &CONFIGMAP_V1.replace("data:", "bogus: 1\ndata:"),
    );
    assert!(
        !bad.ok && bad.stderr.contains("unknown field"),
        "{}",
        bad.stderr
    );

    // apply: created, unchanged, configured.
    assert!(k
        .ok_stdin(&["apply", "-n", ns, "-f", "-"], CONFIGMAP_V1)
        .contains("configmap/cfg created"));
    assert!(k
        .ok_stdin(&["apply", "-n", ns, "-f", "-"], CONFIGMAP_V1)
        .contains("configmap/cfg unchanged"));
    let diff = k.stdin(&["diff", "-n", ns, "-f", "-"], CONFIGMAP_V2);
    assert!(
        !diff.ok && diff.stdout.contains("+  key: v2"),
        "diff: {} {}",
        diff.stdout,
        diff.stderr
    );
    assert!(k
        .ok_stdin(&["apply", "-n", ns, "-f", "-"], CONFIGMAP_V2)
        .contains("configmap/cfg configured"));
    assert_eq!(
        k.ok(&["get", "cm", "cfg", "-n", ns, "-o", "jsonpath={.data.key}"]),
        "v2"
    );

    // edit through an editor that is a sed command.
    let edit = Command::new(&k.bin)
        .env("KUBECONFIG", server.kubeconfig())
        .env("KUBE_EDITOR", "sed -i s/yes-please/edited/")
        .args(["edit", "cm", "cfg", "-n", ns])
        .output()
        .expect("kubectl edit runs");
    assert!(
        edit.status.success(),
        "{}",
        String::from_utf8_lossy(&edit.stderr)
    );
    assert_eq!(
        k.ok(&["get", "cm", "cfg", "-n", ns, "-o", "jsonpath={.data.extra}"]),
        "edited"
    );

    // The three patch types.
    k.ok(&["patch", "deploy", "web", "-n", ns, "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"A","value":"1"}]}]}}}}"#]);
    let containers = k.ok(&["get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].name}"]);
    assert_eq!(
        containers, "busybox:1.36 A",
        "strategic merge keeps the container and adds env"
    );
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        ns,
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"tier":"front"}}}"#,
    ]);
    k.ok(&["patch", "deploy", "web", "-n", ns, "--type=json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":2},{"op":"replace","path":"/spec/replicas","value":3}]"#]);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            ns,
            "-o",
            "jsonpath={.metadata.labels.tier} {.spec.replicas}"
        ]),
        "front 3"
    );
    let failed_test = k.run(&[
        "patch",
        "deploy",
        "web",
        "-n",
        ns,
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":99}]"#,
    ]);
    assert!(!failed_test.ok, "a failing test op must fail the patch");
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            ns,
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "3"
    );

    // label, annotate, scale.
    k.ok(&["label", "deploy", "web", "-n", ns, "env=prod"]);
    k.ok(&["annotate", "deploy", "web", "-n", ns, "owner=team-a"]);
    assert!(k
        .ok(&["scale", "deploy", "web", "-n", ns, "--replicas=5"])
        .contains("scaled"));
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            ns,
            "-o",
            "jsonpath={.metadata.labels.env} {.metadata.annotations.owner} {.spec.replicas}"
        ]),
        "prod team-a 5"
    );
    assert_eq!(
        k.ok(&["get", "deploy", "-n", ns, "-l", "env=prod", "-o", "name"])
            .trim(),
        "deployment.apps/web"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "-n",
            ns,
            "-l",
            "env in (dev)",
            "-o",
            "name"
        ])
        .trim(),
        ""
    );

    // Imperative creates (protobuf bodies from kubectl 1.32+).
    assert!(k
        .ok(&[
            "create",
            "deployment",
            "d2",
            "-n",
            ns,
            "--image=busybox",
            "--replicas=2"
        ])
        .contains("created"));
    assert!(k
        .ok(&["create", "configmap", "c2", "-n", ns, "--from-literal=a=b"])
        .contains("created"));
    assert!(k
        .ok(&[
            "create",
            "secret",
            "generic",
            "s2",
            "-n",
            ns,
            "--from-literal=p=q"
        ])
        .contains("created"));
    assert_eq!(
        k.ok(&["get", "cm", "c2", "-n", ns, "-o", "jsonpath={.data.a}"]),
        "b"
    );
    assert_eq!(
        k.ok(&["get", "secret", "s2", "-n", ns, "-o", "jsonpath={.data.p}"]),
        "cQ=="
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "d2",
            "-n",
            ns,
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"
        ]),
        "2 busybox"
    );

    // Server-side apply: create, update, conflict with another manager, forced takeover.
    let ssa = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  owner: first\n";
    let out = k.ok_stdin(&["apply", "--server-side", "-n", ns, "-f", "-"], ssa);
    assert!(out.contains("configmap/ssa serverside-applied"), "{out}");
    let other = ssa.replace("first", "second");
    let conflict = k.stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-n",
            ns,
            "-f",
            "-",
        ],
        &other,
    );
    assert!(
        !conflict.ok && conflict.stderr.contains("conflict"),
        "{}",
        conflict.stderr
    );
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-n",
            ns,
            "-f",
            "-",
        ],
        &other,
    );
    assert_eq!(
        k.ok(&["get", "cm", "ssa", "-n", ns, "-o", "jsonpath={.data.owner}"]),
        "second"
    );

    // describe and explain.
    let describe = k.ok(&["describe", "deploy", "web", "-n", ns]);
    assert!(
        describe.contains("Name:") && describe.contains("web") && describe.contains("Replicas:"),
        "{describe}"
    );
    let explain = k.ok(&["explain", "deployment.spec.replicas"]);
    assert!(
        explain.contains("replicas") && explain.contains("integer"),
        "{explain}"
    );

    // get -w sees a new object.
    let mut watch = Command::new(&k.bin)
        .env("KUBECONFIG", server.kubeconfig())
        .args(["get", "cm", "-n", ns, "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w starts");
    let (tx, rx) = mpsc::channel();
    let stdout = watch.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The initial list arrives first; then create and expect the event.
    let first = rx.recv_timeout(Duration::from_secs(20));
    assert!(first.is_ok(), "kubectl get -w printed nothing");
    k.ok(&[
        "create",
        "configmap",
        "watched",
        "-n",
        ns,
        "--from-literal=x=y",
    ]);
    let seen = wait_for(Duration::from_secs(20), || {
        rx.try_iter().find(|l| l.contains("configmap/watched"))
    });
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        seen.is_some(),
        "kubectl get -w did not show the new configmap"
    );

    // delete, then it is gone; deleting the namespace completes.
    assert!(k
        .ok(&["delete", "deploy", "web", "-n", ns])
        .contains("deleted"));
    let gone = k.run(&["get", "deploy", "web", "-n", ns]);
    assert!(
        !gone.ok && gone.stderr.contains("NotFound"),
        "{}",
        gone.stderr
    );
    assert!(k
        .ok(&["delete", "namespace", ns, "--timeout=60s"])
        .contains("deleted"));
    let gone = k.run(&["get", "cm", "c2", "-n", ns]);
    assert!(!gone.ok, "objects of a deleted namespace are gone");
}

#[test]
fn kubectl_1_33_through_the_dispatcher() {
    workflow(None);
}

#[test]
fn kubectl_1_32() {
    workflow(Some(32));
}

#[test]
fn kubectl_1_27() {
    workflow(Some(27));
}

#[test]
fn kubectl_on_the_etcd_store() {
    let etcd = match berth_testkit::Etcd::start() {
        Ok(Some(etcd)) => etcd,
        Ok(None) => return,
        Err(e) => panic!("{e}"),
    };
    let url = format!("etcd://{}", etcd.endpoint.trim_start_matches("http://"));
    workflow_with(None, &["--store", &url]);
}
