//! End-to-end: `berth agent --server URL --token T` as its own process joins a control-plane
//! `berth server` (no embedded agent), both inside one test network namespace: wrong tokens
//! are refused with a message naming the problem and register nothing; the right one buys a
//! node identity (`system:node:NAME` in `system:nodes`), the node goes Ready without the
//! control-plane role, a pod runs on it and `kubectl logs` and `exec` reach it through the
//! agent's CA-signed endpoint; a restarted agent reuses its credentials and keeps the pod.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use berth_testkit::{busybox_archive, run, wait_for, BerthServer, ChildGuard, CmdOutput};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const IMAGE: &str = "test.local/busybox:join";
const NODE: &str = "joined-1";

/// A `berth agent` process in the server's namespace; on drop it stops and its data
/// directory is reset (its containers outlive it by design).
struct Agent<'a> {
    server: &'a BerthServer,
    dir: &'a Path,
    child: Option<ChildGuard>,
}

impl<'a> Agent<'a> {
    fn args(server: &BerthServer, dir: &Path, token_file: &Path) -> Vec<String> {
        vec![
            "agent".into(),
            "--server".into(),
            server.url(),
            "--token-file".into(),
            token_file.display().to_string(),
            "--data-dir".into(),
            dir.display().to_string(),
            "--node-name".into(),
            NODE.into(),
            "--eviction-hard".into(),
            "memory.available<1Mi".into(),
        ]
    }

    fn start(server: &'a BerthServer, dir: &'a Path, token_file: &Path) -> Agent<'a> {
        let log = std::fs::File::create(dir.join("agent.log")).expect("agent log");
        let child = server
            .command(BERTH)
            .args(Agent::args(server, dir, token_file))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting berth agent");
        Agent {
            server,
            dir,
            child: Some(ChildGuard(child)),
        }
    }

    fn stop(&mut self) {
        if let Some(guard) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &guard.pid().to_string()])
                .status();
            let mut guard = guard;
            let exited = wait_for(Duration::from_secs(20), || {
                guard.0.try_wait().ok().flatten()
            });
            assert!(exited.is_some(), "the agent did not stop on SIGTERM");
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }
}

impl Drop for Agent<'_> {
    fn drop(&mut self) {
        self.child = None;
        let _ = self
            .server
            .command(BERTH)
            .args(["reset", "--data-dir"])
            .arg(self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `berth agent` with `token` expected to fail at once.
fn refused(server: &BerthServer, dir: &Path, token: &str) -> CmdOutput {
    let file = dir.join("bad-token");
    std::fs::write(&file, token).expect("writing the token");
    let mut cmd = server.command(BERTH);
    cmd.args(Agent::args(server, dir, &file));
    let out = run(&mut cmd);
    assert!(!out.ok, "a bad token joined: {out:?}");
    out
}

fn pod_json(server: &BerthServer, pod: &str) -> Option<serde_json::Value> {
    let out = server.kubectl(&["get", "pod", pod, "-o", "json"]);
    out.ok
        .then(|| serde_json::from_str(&out.stdout).ok())
        .flatten()
}

#[test]
fn an_agent_joins_with_the_node_token_and_runs_pods() {
    if !berth_testkit::require_root("an_agent_joins_with_the_node_token_and_runs_pods") {
        return;
    }
    let archive = busybox_archive().expect("building the busybox image");
    let server = BerthServer::start_node(BERTH, &["--disable-agent"]).expect("server starts");
    let token_file = server.data_dir().join("node-token");
    let token = std::fs::read_to_string(&token_file).expect("the server wrote its node token");
    assert!(token.starts_with("K10"), "{token}");
    let dir = tempfile::tempdir().expect("tempdir");

    // Refused tokens: the message names the problem and nothing joins.
    let (hash, _) = token
        .trim()
        .split_once("::")
        .expect("K10<hash>::server:<secret>");
    let out = refused(
        &server,
        dir.path(),
        &format!("{hash}::server:not-the-secret"),
    );
    assert!(
        out.stderr.contains("refused the node token"),
        "{}",
        out.stderr
    );
    let other_ca = format!("K10{}::server:whatever", "0".repeat(64));
    let out = refused(&server, dir.path(), &other_ca);
    assert!(out.stderr.contains("not the token's"), "{}", out.stderr);
    let out = refused(&server, dir.path(), "just-a-secret");
    assert!(out.stderr.contains("full token"), "{}", out.stderr);
    let out = refused(&server, dir.path(), "K10zz::server");
    assert!(out.stderr.contains("not in the form"), "{}", out.stderr);
    let nodes = server.kubectl(&["get", "nodes", "-o", "name"]);
    assert!(nodes.ok && nodes.stdout.trim().is_empty(), "{nodes:?}");

    let import = run(server
        .command(BERTH)
        .args([
            "image",
            "import",
            &archive.to_string_lossy(),
            "--tag",
            IMAGE,
        ])
        .arg("--data-dir")
        .arg(dir.path()));
    assert!(import.ok, "{}", import.stderr);

    let mut agent = Agent::start(&server, dir.path(), &token_file);
    let ready = wait_for(Duration::from_secs(30), || {
        let out = server.kubectl(&["get", "node", NODE, "--no-headers"]);
        (out.ok && out.stdout.split_whitespace().nth(1) == Some("Ready")).then_some(out.stdout)
    });
    let row = ready.unwrap_or_else(|| panic!("the joined node is not Ready: {}", agent.log()));
    assert_eq!(
        row.split_whitespace().nth(2),
        Some("<none>"),
        "no control-plane role: {row}"
    );

    // The node's identity, through the kubeconfig the agent keeps.
    let kubeconfig = dir.path().join("agent").join("kubeconfig.yaml");
    let whoami = run(server
        .command("kubectl")
        .args(["auth", "whoami", "-o", "json", "--kubeconfig"])
        .arg(&kubeconfig));
    assert!(whoami.ok, "{}", whoami.stderr);
    let review: serde_json::Value = serde_json::from_str(&whoami.stdout).expect("JSON");
    let user = &review["status"]["userInfo"];
    assert_eq!(user["username"], format!("system:node:{NODE}"), "{review}");
    assert!(
        user["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == "system:nodes")),
        "{review}"
    );

    let created = server.kubectl(&[
        "run",
        "hello",
        "--image",
        IMAGE,
        "--image-pull-policy",
        "Never",
        "--restart",
        "Never",
        "--",
        "sh",
        "-c",
        "echo hello from the joined node; exec sleep 3600",
    ]);
    assert!(created.ok, "{}", created.stderr);
    let running = wait_for(Duration::from_secs(30), || {
        pod_json(&server, "hello").filter(|p| p["status"]["phase"] == "Running")
    })
    .unwrap_or_else(|| {
        panic!(
            "the pod is not Running: {:?} {}",
            pod_json(&server, "hello"),
            agent.log()
        )
    });
    assert_eq!(running["spec"]["nodeName"], NODE);
    let container_id = running["status"]["containerStatuses"][0]["containerID"].clone();
    let logs = wait_for(Duration::from_secs(10), || {
        let out = server.kubectl(&["logs", "hello"]);
        out.stdout
            .contains("hello from the joined node")
            .then_some(out)
    });
    assert!(
        logs.is_some(),
        "kubectl logs through the agent: {:?}",
        server.kubectl(&["logs", "hello"])
    );
    let exec = server.kubectl(&["exec", "hello", "--", "hostname"]);
    assert!(exec.ok, "{}", exec.stderr);
    assert_eq!(exec.stdout.trim(), "hello");

    // A restart reuses the stored credentials and adopts the running container.
    let stored =
        std::fs::read(dir.path().join("agent").join("credentials.json")).expect("credentials kept");
    agent.stop();
    let mut agent = Agent::start(&server, dir.path(), &token_file);
    let log_says_joined = |agent: &Agent| agent.log().contains("joined the cluster");
    let kept = wait_for(Duration::from_secs(20), || {
        let out = server.kubectl(&["exec", "hello", "--", "true"]);
        out.ok.then_some(())
    });
    assert!(
        kept.is_some(),
        "the restarted agent serves the pod: {}",
        agent.log()
    );
    assert!(
        !log_says_joined(&agent),
        "the restarted agent joined again: {}",
        agent.log()
    );
    assert_eq!(
        std::fs::read(dir.path().join("agent").join("credentials.json")).expect("credentials kept"),
        stored
    );
    let pod = pod_json(&server, "hello").expect("the pod");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["containerID"],
        container_id
    );
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
    agent.stop();
}
