//! Durability of `berth server` on the embedded store: a clean restart keeps every object with
//! its resourceVersion, and `kill -9` in the middle of a write loop loses no acknowledged write.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_testkit::{wait_for, BerthServer};
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn configmap(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"k":"{name}"}}}}"#
    )
}

fn list_versions(server: &BerthServer) -> Vec<(String, String)> {
    let (code, body) = server
        .curl("GET", "/api/v1/namespaces/default/configmaps", "", None)
        .http();
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("list is JSON");
    v["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        i["metadata"]["name"].as_str().unwrap_or("").to_string(),
                        i["metadata"]["resourceVersion"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn restart_keeps_objects_and_resource_versions() {
    let mut server =
        BerthServer::start(BERTH, &["--disable-controller-manager"]).expect("server starts");
    for i in 0..50 {
        let (code, body) = server
            .curl(
                "POST",
                "/api/v1/namespaces/default/configmaps",
                "application/json",
                Some(configmap(&format!("cm-{i:03}")).as_bytes()),
            )
            .http();
        assert_eq!(code, 201, "{body}");
    }
    let before = list_versions(&server);
    assert_eq!(before.len(), 50);
    let status = server.terminate().expect("server exits on SIGTERM");
    assert!(
        status.success(),
        "clean shutdown: {status:?}\n{}",
        server.log_text()
    );
    server.restart().expect("server restarts");
    assert_eq!(list_versions(&server), before);
}

/// Writes in one curl process (one connection, many requests), killed with the server halfway.
#[test]
fn kill_9_during_writes_loses_no_acknowledged_write() {
    let mut server =
        BerthServer::start(BERTH, &["--disable-controller-manager"]).expect("server starts");
    let tls = server.data_dir().join("tls");
    for round in 0..3 {
        let mut config = String::new();
        for i in 0..3000 {
            let name = format!("r{round}-{i:05}");
            if i > 0 {
                config.push_str("next\n");
            }
            // `next` resets every option, so each request carries its own credentials.
            config.push_str(&format!(
                "url = \"{}/api/v1/namespaces/default/configmaps\"\nrequest = \"POST\"\nheader = \"Content-Type: application/json\"\ndata = {:?}\nwrite-out = \"\\n%{{http_code}}\\n\"\ncacert = {:?}\ncert = {:?}\nkey = {:?}\nsilent\n",
                server.url(),
                configmap(&name),
                tls.join("ca.crt"),
                tls.join("admin.crt"),
                tls.join("admin.key"),
            ));
        }
        let responses = server.data_dir().join(format!("responses-{round}.txt"));
        let mut curl = Command::new("curl")
            .args(["-K", "-"])
            .stdin(Stdio::piped())
            // A file, not a pipe: nobody reads until the end, and a full pipe would stall curl.
            .stdout(std::fs::File::create(&responses).expect("responses file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("curl starts");
        if let Some(mut stdin) = curl.stdin.take() {
            stdin.write_all(config.as_bytes()).expect("config written");
        }
        // Let some writes be acknowledged, then pull the plug.
        let count_before = list_versions(&server).len();
        let progressed = wait_for(Duration::from_secs(30), || {
            (list_versions(&server).len() >= count_before + 200).then_some(())
        });
        assert!(progressed.is_some(), "writes did not progress");
        server.kill9();
        let _ = curl.wait();
        let text = std::fs::read_to_string(&responses).unwrap_or_default();
        // Every 201 response is an acknowledged create; its body names the object.
        let mut acked = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.windows(2) {
            if pair[1].trim() == "201" {
                if let Ok(v) = serde_json::from_str::<Value>(pair[0]) {
                    acked.push(v["metadata"]["name"].as_str().unwrap_or("").to_string());
                }
            }
        }
        assert!(
            acked.len() >= 100,
            "round {round}: only {} acknowledged writes",
            acked.len()
        );
        server.restart().expect("server restarts after kill -9");
        let stored: std::collections::HashSet<String> =
            list_versions(&server).into_iter().map(|(n, _)| n).collect();
        let lost: Vec<&String> = acked.iter().filter(|n| !stored.contains(*n)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: lost acknowledged writes: {lost:?}"
        );
    }
}
