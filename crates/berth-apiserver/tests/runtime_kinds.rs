//! A kind registered while the server runs is served like a built-in one, through the real
//! kubectl: discovery, create/get/patch/delete, watch, and the Table its strategy prints; and
//! it goes away again when unregistered. This is what CustomResourceDefinitions build on.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use berth_api::registry::{KindInfo, Unstructured, STANDARD_VERBS};
use berth_api::strategy::{Custom, Strategy};
use berth_api::table::{Column, Printer};
use berth_apiserver::service_alloc::Ranges;
use berth_apiserver::{Server, ServerConfig};
use berth_testkit::{required, run, wait_for, ChildGuard, CmdOutput};
use jiff::Timestamp;
use serde_json::{json, Value};

/// Widgets print their size and can be selected by it.
struct WidgetStrategy;

const WIDGET_COLUMNS: &[Column] = &[
    Column {
        name: "Name",
        ty: "string",
        format: "name",
        priority: 0,
        description: "The widget's name.",
    },
    Column {
        name: "Size",
        ty: "integer",
        format: "",
        priority: 0,
        description: "How big the widget is.",
    },
];

fn widget_cells(obj: &Value, _now: Timestamp) -> Vec<Value> {
    vec![
        obj["metadata"]["name"].clone(),
        json!(obj["spec"]["size"].as_i64().unwrap_or(0)),
    ]
}

const WIDGET_PRINTER: Printer = Printer {
    columns: WIDGET_COLUMNS,
    cells: widget_cells,
};

impl Strategy for WidgetStrategy {
    fn name_rule(&self) -> berth_api::validation::NameRule {
        Custom.name_rule()
    }

    fn is_builtin(&self) -> bool {
        false
    }

    fn printer(&self) -> &Printer {
        &WIDGET_PRINTER
    }

    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        (name == "spec.size").then(|| obj["spec"]["size"].to_string())
    }
}

fn widget_kind() -> KindInfo {
    KindInfo {
        group: "example.com".into(),
        version: "v1".into(),
        kind: "Widget".into(),
        list_kind: "WidgetList".into(),
        resource: "widgets".into(),
        singular: "widget".into(),
        namespaced: true,
        short_names: vec!["wd".into()],
        categories: vec![],
        subresources: vec![],
        verbs: STANDARD_VERBS,
        model: Arc::new(Unstructured::new("com.example.v1.Widget")),
        strategy: Arc::new(WidgetStrategy),
    }
}

/// A real API server on the embedded store, served on its own runtime thread.
struct Running {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    cache: PathBuf,
    registry: Arc<berth_api::registry::Registry>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start() -> Running {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().to_path_buf();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let store = berth_store::open("embedded", &data).await.expect("store");
                let config = ServerConfig {
                    data_dir: data.clone(),
                    bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    port: 0,
                    service_ranges: Ranges::parse("10.43.0.0/16", "30000-32767").expect("ranges"),
                    advertise: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    cluster_dns: None,
                };
                let server = Server::bind(&config, store).await.expect("server");
                let _ = ready_tx.send((server.kubeconfig.clone(), server.registry()));
                server
                    .serve(
                        async move {
                            let _ = stopped.await;
                        },
                        Duration::from_secs(1),
                    )
                    .await;
            });
        });
        let (kubeconfig, registry) = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server ready");
        let cache = dir.path().join("kube-cache");
        Running {
            _dir: dir,
            kubeconfig,
            cache,
            registry,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        cmd
    }

    fn kubectl(&self, args: &[&str]) -> CmdOutput {
        run(&mut self.kubectl_command(args))
    }

    fn kubectl_in(&self, args: &[&str], stdin: &str) -> CmdOutput {
        use std::io::Write;
        let mut child = self
            .kubectl_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl");
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.as_bytes()).expect("stdin");
        }
        let out = child.wait_with_output().expect("kubectl output");
        CmdOutput {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn kubectl_present() -> bool {
    let found = berth_testkit::which("kubectl").is_some();
    assert!(found || !required(), "kubectl is required in CI");
    found
}

fn ok(out: &CmdOutput, what: &str) -> String {
    assert!(out.ok, "{what}: {}{}", out.stdout, out.stderr);
    out.stdout.clone()
}

#[test]
fn a_kind_registered_at_run_time_is_served_and_unregistered() {
    if !kubectl_present() {
        return;
    }
    let server = Running::start();
    // Not served yet.
    let before = server.kubectl(&["get", "--raw", "/apis/example.com/v1"]);
    assert!(!before.ok, "served before registration: {}", before.stdout);

    server
        .registry
        .register(widget_kind())
        .expect("registering Widget");

    // Discovery, legacy and aggregated (kubectl api-resources reads the aggregated form).
    let list = ok(
        &server.kubectl(&["get", "--raw", "/apis/example.com/v1"]),
        "resource list",
    );
    let list: Value = serde_json::from_str(&list).expect("APIResourceList");
    assert_eq!(list["resources"][0]["name"], "widgets");
    assert_eq!(list["resources"][0]["shortNames"], json!(["wd"]));
    let resources = ok(
        &server.kubectl(&["api-resources", "--api-group=example.com", "--no-headers"]),
        "api-resources",
    );
    assert!(
        resources.contains("widgets") && resources.contains("Widget"),
        "{resources}"
    );

    // A watch from now on, in the background, printing each event's object name and size.
    let mut watch = ChildGuard(
        server
            .kubectl_command(&[
                "get",
                "widgets",
                "-n",
                "default",
                "--watch-only",
                "-o",
                "custom-columns=NAME:.metadata.name,SIZE:.spec.size",
                "--no-headers",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl watch"),
    );
    let lines = watch.0.stdout.take().expect("watch output");
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(lines).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                return;
            }
        }
    });

    // CRUD through kubectl: create (apply), get, patch, Table, field selector.
    let manifest = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: default\nspec:\n  size: 3\n  colour: blue\n";
    // The watch may start after the first write; re-apply until the watch has seen w1.
    let mut seen = Vec::new();
    let created = wait_for(Duration::from_secs(20), || {
        ok(&server.kubectl_in(&["apply", "-f", "-"], manifest), "apply");
        while let Ok(line) = line_rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
        seen.iter().any(|l| l.starts_with("w1 ")).then_some(())
    });
    assert!(created.is_some(), "the watch never saw w1: {seen:?}");
    let got = ok(
        &server.kubectl(&["get", "widget", "w1", "-n", "default", "-o", "json"]),
        "get",
    );
    let got: Value = serde_json::from_str(&got).expect("widget JSON");
    assert_eq!(got["spec"], json!({"size": 3, "colour": "blue"}));
    assert!(got["metadata"]["uid"]
        .as_str()
        .is_some_and(|u| !u.is_empty()));
    ok(
        &server.kubectl(&[
            "patch",
            "widget",
            "w1",
            "-n",
            "default",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":7}}"#,
        ]),
        "patch",
    );
    let table = ok(
        &server.kubectl(&["get", "wd", "-n", "default"]),
        "get table",
    );
    let mut rows = table.lines();
    let header: Vec<&str> = rows.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAME", "SIZE"], "{table}");
    let row: Vec<&str> = rows.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(row, ["w1", "7"], "{table}");
    let selected = ok(
        &server.kubectl(&[
            "get",
            "widgets",
            "-n",
            "default",
            "--field-selector",
            "spec.size=7",
            "-o",
            "name",
        ]),
        "field selector",
    );
    assert_eq!(selected.trim(), "widget.example.com/w1");
    let refused = server.kubectl(&["get", "widgets", "--field-selector", "spec.colour=blue"]);
    assert!(
        !refused.ok
            && refused
                .stderr
                .contains("field label not supported: spec.colour"),
        "{}",
        refused.stderr
    );
    ok(
        &server.kubectl(&["delete", "widget", "w1", "-n", "default"]),
        "delete",
    );

    // The watch saw the update (size 7) after the create; delete shows as the last state.
    let updated = wait_for(Duration::from_secs(20), || {
        while let Ok(line) = line_rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(line);
        }
        let sizes: Vec<&str> = seen
            .iter()
            .filter(|l| l.starts_with("w1 "))
            .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
            .collect();
        // ADDED (3), MODIFIED (7), DELETED (7).
        (sizes.first() == Some(&"3") && sizes.iter().filter(|s| **s == "7").count() >= 2)
            .then_some(())
    });
    assert!(updated.is_some(), "watch events: {seen:?}");
    drop(watch);

    // Unregistered: gone from discovery and from the URL space.
    assert_eq!(
        server.registry.unregister("example.com", "v1", "widgets"),
        Ok(true)
    );
    let after = server.kubectl(&[
        "get",
        "--raw",
        "/apis/example.com/v1/namespaces/default/widgets",
    ]);
    assert!(
        !after.ok && after.stderr.contains("NotFound"),
        "{}",
        after.stderr
    );
    let groups = ok(&server.kubectl(&["get", "--raw", "/apis"]), "groups");
    assert!(!groups.contains("example.com"), "{groups}");
}
