//! Kubernetes API semantics over raw HTTP (curl with the admin client certificate) against a real
//! `berth server`: generateName, dry runs, generation, resourceVersion rules, paging, selectors,
//! watches, finalizers, graceful pod deletion, server-side printing, discovery, the scale
//! subresource, patch directives, server-side apply, namespace termination, metrics and
//! authentication. Kubernetes' documented behaviour is the specification.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use berth_testkit::{wait_for, BerthServer, ChildGuard};
use serde_json::{json, Value};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const CMS: &str = "/api/v1/namespaces/default/configmaps";
const PODS: &str = "/api/v1/namespaces/default/pods";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";
const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";
/// How long to wait for something asynchronous (a watch event, namespace cleanup).
const DEADLINE: Duration = Duration::from_secs(30);

fn start() -> BerthServer {
    BerthServer::start(BERTH, &["--disable-controller-manager"]).expect("server starts")
}

/// One request; the body parsed as JSON (or kept as a string when it is not JSON).
fn call(
    server: &BerthServer,
    method: &str,
    path: &str,
    ct: &str,
    body: Option<&[u8]>,
) -> (u16, Value) {
    let (code, text) = server.curl(method, path, ct, body).http();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, v)
}

fn get(server: &BerthServer, path: &str) -> (u16, Value) {
    call(server, "GET", path, "", None)
}

fn send(server: &BerthServer, method: &str, path: &str, ct: &str, body: &Value) -> (u16, Value) {
    call(server, method, path, ct, Some(body.to_string().as_bytes()))
}

fn post(server: &BerthServer, path: &str, body: &Value) -> (u16, Value) {
    send(server, "POST", path, JSON, body)
}

fn put(server: &BerthServer, path: &str, body: &Value) -> (u16, Value) {
    send(server, "PUT", path, JSON, body)
}

fn delete(server: &BerthServer, path: &str) -> (u16, Value) {
    call(server, "DELETE", path, "", None)
}

/// GET with an Accept header; also returns the response's Content-Type.
fn get_accept(server: &BerthServer, path: &str, accept: &str) -> (u16, String, Value) {
    let header = format!("Accept: {accept}");
    let out = server.curl_with(&["-H", &header, "-D", "/dev/stderr"], "GET", path, "", None);
    let (code, text) = out.http();
    let content_type = out
        .stderr
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, content_type, v)
}

/// Create and return the stored object, failing the test on anything but 201.
fn create(server: &BerthServer, path: &str, body: &Value) -> Value {
    let (code, v) = post(server, path, body);
    assert_eq!(code, 201, "POST {path}: {v}");
    v
}

fn configmap(name: &str, labels: Value, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "labels": labels}, "data": data})
}

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})
}

fn deployment(name: &str, replicas: i64, containers: &[(&str, &str)]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|(n, image)| json!({"name": n, "image": image}))
        .collect();
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": "x"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}},
                         "spec": {"containers": containers}},
        },
    })
}

fn bind(server: &BerthServer, pod: &str, node: &str) -> (u16, Value) {
    post(
        server,
        &format!("{PODS}/{pod}/binding"),
        &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
                "target": {"kind": "Node", "name": node}}),
    )
}

fn rv(v: &Value) -> i64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no numeric resourceVersion in {v}"))
}

fn generation(v: &Value) -> i64 {
    v["metadata"]["generation"]
        .as_i64()
        .unwrap_or_else(|| panic!("no generation in {v}"))
}

/// Item names of a list, sorted.
fn names(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    out.sort();
    out
}

/// Percent-encode a query parameter value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// List `path` with a query; the sorted item names, failing on anything but 200.
fn list_names(server: &BerthServer, path: &str, query: &str) -> Vec<String> {
    let (code, v) = get(server, &format!("{path}?{query}"));
    assert_eq!(code, 200, "GET {path}?{query}: {v}");
    names(&v)
}

/// A watch streamed by curl; events arrive on a channel, curl is killed on drop.
struct Watch {
    _curl: ChildGuard,
    lines: mpsc::Receiver<String>,
}

impl Watch {
    fn start(server: &BerthServer, path: &str) -> Watch {
        let tls = server.data_dir().join("tls");
        let mut child = Command::new("curl")
            .args(["-sS", "-N", "--max-time", "60"])
            .arg("--cacert")
            .arg(tls.join("ca.crt"))
            .arg("--cert")
            .arg(tls.join("admin.crt"))
            .arg("--key")
            .arg(tls.join("admin.key"))
            .arg(format!("{}{path}", server.url()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("curl starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let guard = ChildGuard(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch {
            _curl: guard,
            lines: rx,
        }
    }

    /// The next event (a `{"type", "object"}` value), failing after the deadline.
    fn next(&self) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(DEADLINE)
                .expect("a watch event within the deadline");
            if line.trim().is_empty() {
                continue;
            }
            return serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("watch line is not JSON ({e}): {line}"));
        }
    }

    /// The next event as (type, name, resourceVersion).
    fn next_brief(&self) -> (String, String, i64) {
        let ev = self.next();
        let kind = ev["type"].as_str().unwrap_or("").to_string();
        let name = ev["object"]["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        (kind, name, rv(&ev["object"]))
    }
}

// 1. generateName

#[test]
fn generate_name_gives_distinct_generated_names() {
    let server = start();
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"generateName": "web-"}, "data": {"a": "1"}});
    let first = create(&server, CMS, &body);
    let second = create(&server, CMS, &body);
    let mut seen = Vec::new();
    for obj in [&first, &second] {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        assert!(name.starts_with("web-"), "{obj}");
        assert_eq!(name.len(), "web-".len() + 5, "{obj}");
        assert!(
            name[4..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{name}"
        );
        assert_eq!(obj["metadata"]["generateName"], "web-", "{obj}");
        let (code, stored) = get(&server, &format!("{CMS}/{name}"));
        assert_eq!(code, 200, "{stored}");
        assert_eq!(stored["metadata"]["uid"], obj["metadata"]["uid"]);
        seen.push(name);
    }
    assert_ne!(seen[0], seen[1]);
    assert_eq!(list_names(&server, CMS, ""), {
        let mut s = seen.clone();
        s.sort();
        s
    });
}

// 2. dryRun=All

#[test]
fn dry_run_changes_nothing() {
    let server = start();
    // create
    let (code, v) = post(
        &server,
        &format!("{CMS}?dryRun=All"),
        &configmap("ghost", json!({}), json!({"a": "1"})),
    );
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["metadata"]["name"], "ghost", "{v}");
    assert_eq!(v["data"]["a"], "1", "{v}");
    assert!(v["metadata"]["uid"].is_string(), "{v}");
    assert_eq!(get(&server, &format!("{CMS}/ghost")).0, 404);
    assert!(list_names(&server, CMS, "").is_empty());

    let real = create(
        &server,
        CMS,
        &configmap("real", json!({}), json!({"a": "1"})),
    );
    let rv0 = rv(&real);
    let path = format!("{CMS}/real");
    let unchanged = |server: &BerthServer| {
        let (code, now) = get(server, &path);
        assert_eq!(code, 200, "{now}");
        assert_eq!(rv(&now), rv0, "{now}");
        assert_eq!(now["data"], json!({"a": "1"}), "{now}");
        assert!(now["metadata"].get("deletionTimestamp").is_none(), "{now}");
    };

    // update
    let mut changed = real.clone();
    changed["data"]["a"] = json!("2");
    let (code, v) = put(&server, &format!("{path}?dryRun=All"), &changed);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["a"], "2", "{v}");
    unchanged(&server);

    // patch
    let (code, v) = send(
        &server,
        "PATCH",
        &format!("{path}?dryRun=All"),
        MERGE,
        &json!({"data": {"b": "3"}}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"], json!({"a": "1", "b": "3"}), "{v}");
    unchanged(&server);

    // delete
    let (code, v) = delete(&server, &format!("{path}?dryRun=All"));
    assert_eq!(code, 200, "{v}");
    unchanged(&server);
    assert_eq!(list_names(&server, CMS, ""), ["real"]);
}

#[test]
fn dry_run_create_checks_for_an_existing_name() {
    // Dry run goes through every stage but persisting, so a name clash is still a 409.
    let server = start();
    create(
        &server,
        CMS,
        &configmap("taken", json!({}), json!({"a": "1"})),
    );
    let (code, v) = post(
        &server,
        &format!("{CMS}?dryRun=All"),
        &configmap("taken", json!({}), json!({"a": "2"})),
    );
    assert_eq!((code, &v["reason"]), (409, &json!("AlreadyExists")), "{v}");
}

// 3. generation

#[test]
fn generation_follows_spec_changes_only() {
    let server = start();
    let path = format!("{DEPLOYS}/gen");
    let d = create(&server, DEPLOYS, &deployment("gen", 1, &[("app", "nginx")]));
    assert_eq!(generation(&d), 1, "{d}");

    // A spec change bumps it.
    let (code, v) = send(
        &server,
        "PATCH",
        &path,
        MERGE,
        &json!({"spec": {"replicas": 2}}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(generation(&v), 2, "{v}");

    // A metadata change does not.
    let (code, v) = send(
        &server,
        "PATCH",
        &path,
        MERGE,
        &json!({"metadata": {"labels": {"extra": "yes"}, "annotations": {"a": "b"}}}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(generation(&v), 2, "{v}");
    assert_eq!(v["metadata"]["labels"]["extra"], "yes", "{v}");

    // PUT /status changes status only (the spec change in the body is ignored).
    let mut body = v.clone();
    body["spec"]["replicas"] = json!(9);
    body["status"] = json!({"replicas": 3, "observedGeneration": 2});
    let (code, s) = put(&server, &format!("{path}/status"), &body);
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["status"]["replicas"], 3, "{s}");
    assert_eq!(s["spec"]["replicas"], 2, "{s}");
    assert_eq!(generation(&s), 2, "{s}");
    let (_, stored) = get(&server, &path);
    assert_eq!(stored["spec"]["replicas"], 2, "{stored}");
    assert_eq!(stored["status"]["replicas"], 3, "{stored}");
    assert_eq!(stored["status"]["observedGeneration"], 2, "{stored}");
    assert_eq!(generation(&stored), 2, "{stored}");

    // A main-resource PUT that carries a status leaves the stored status alone.
    let mut body = stored.clone();
    body["status"] = json!({"replicas": 99, "observedGeneration": 7});
    body["metadata"]["labels"]["second"] = json!("yes");
    let (code, v) = put(&server, &path, &body);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"]["replicas"], 3, "{v}");
    assert_eq!(v["metadata"]["labels"]["second"], "yes", "{v}");
    assert_eq!(generation(&v), 2, "{v}");
    let (_, stored) = get(&server, &path);
    assert_eq!(stored["status"]["replicas"], 3, "{stored}");
    assert_eq!(stored["status"]["observedGeneration"], 2, "{stored}");

    // And a spec change through PUT bumps it again.
    let mut body = stored.clone();
    body["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    let (code, v) = put(&server, &path, &body);
    assert_eq!(code, 200, "{v}");
    assert_eq!(generation(&v), 3, "{v}");
}

// 4. resourceVersion

#[test]
fn resource_version_semantics() {
    let server = start();
    for n in ["a", "b", "c"] {
        create(&server, CMS, &configmap(n, json!({}), json!({"v": "1"})));
    }
    let (code, list) = get(&server, CMS);
    assert_eq!(code, 200, "{list}");
    let list_rv = rv(&list);
    for item in list["items"].as_array().expect("items") {
        assert!(list_rv >= rv(item), "list rv {list_rv} < item {item}");
    }

    // Change b; the old list is still readable at its exact resourceVersion.
    let (_, b) = get(&server, &format!("{CMS}/b"));
    let mut changed = b.clone();
    changed["data"]["v"] = json!("2");
    let (code, updated) = put(&server, &format!("{CMS}/b"), &changed);
    assert_eq!(code, 200, "{updated}");
    assert!(rv(&updated) > rv(&b), "{updated}");
    let (code, old) = get(
        &server,
        &format!("{CMS}?resourceVersion={list_rv}&resourceVersionMatch=Exact"),
    );
    assert_eq!(code, 200, "{old}");
    assert_eq!(rv(&old), list_rv, "{old}");
    let old_b = old["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["metadata"]["name"] == "b"))
        .unwrap_or_else(|| panic!("b in {old}"));
    assert_eq!(old_b["data"]["v"], "1", "{old_b}");
    assert_eq!(rv(old_b), rv(&b), "{old_b}");
    let (_, now) = get(&server, CMS);
    assert!(rv(&now) >= rv(&updated), "{now}");

    // A write with a stale resourceVersion is a conflict and changes nothing.
    let mut stale = b.clone();
    stale["data"]["v"] = json!("3");
    let (code, v) = put(&server, &format!("{CMS}/b"), &stale);
    assert_eq!((code, &v["reason"]), (409, &json!("Conflict")), "{v}");
    let (_, cur) = get(&server, &format!("{CMS}/b"));
    assert_eq!(cur["data"]["v"], "2", "{cur}");
    assert_eq!(rv(&cur), rv(&updated), "{cur}");

    // An unchanged PUT is a no-op: the resourceVersion stays.
    let (code, same) = put(&server, &format!("{CMS}/b"), &cur);
    assert_eq!(code, 200, "{same}");
    assert_eq!(rv(&same), rv(&cur), "{same}");
    let (_, after) = get(&server, &format!("{CMS}/b"));
    assert_eq!(rv(&after), rv(&cur), "{after}");
}

// 5. paging

#[test]
fn paging_with_limit_and_continue() {
    let server = start();
    let names_in: Vec<String> = (1..=5).map(|i| format!("cm-{i}")).collect();
    for n in &names_in {
        create(&server, CMS, &configmap(n, json!({}), json!({})));
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    let mut first_rv = None;
    loop {
        let path = match &token {
            None => format!("{CMS}?limit=2"),
            Some(t) => format!("{CMS}?limit=2&continue={}", enc(t)),
        };
        let (code, page) = get(&server, &path);
        assert_eq!(code, 200, "{page}");
        pages += 1;
        let items = page["items"].as_array().expect("items").len();
        assert!(items <= 2, "{page}");
        seen.extend(names(&page));
        // Every page is served from the first page's snapshot.
        let page_rv = rv(&page);
        assert_eq!(*first_rv.get_or_insert(page_rv), page_rv, "{page}");
        if pages == 1 {
            // Created after the first page: not part of this list.
            create(&server, CMS, &configmap("cm-9", json!({}), json!({})));
        }
        token = page["metadata"]["continue"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if pages < 3 {
            assert_eq!(items, 2, "{page}");
            assert!(token.is_some(), "page {pages} has a continue token: {page}");
        }
        if token.is_none() {
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    seen.sort();
    assert_eq!(seen, names_in, "each object exactly once");

    let (code, v) = get(&server, &format!("{CMS}?limit=2&continue=garbled!!"));
    assert_eq!((code, &v["reason"]), (400, &json!("BadRequest")), "{v}");
    let (code, v) = get(&server, &format!("{CMS}?limit=2&continue=eyJ2IjoxfQ%3D%3D"));
    assert_eq!(code, 400, "{v}");
}

// 6. selectors

#[test]
fn label_and_field_selectors() {
    let server = start();
    create(
        &server,
        CMS,
        &configmap("a", json!({"env": "prod", "tier": "web"}), json!({})),
    );
    create(
        &server,
        CMS,
        &configmap("b", json!({"env": "dev", "tier": "web"}), json!({})),
    );
    create(
        &server,
        CMS,
        &configmap("c", json!({"env": "test"}), json!({})),
    );
    create(&server, CMS, &configmap("d", json!({}), json!({})));
    let labels = |sel: &str| list_names(&server, CMS, &format!("labelSelector={}", enc(sel)));
    assert_eq!(labels("env=prod"), ["a"]);
    assert_eq!(labels("env==prod"), ["a"]);
    assert_eq!(labels("env!=prod"), ["b", "c", "d"]);
    assert_eq!(labels("env in (prod,dev)"), ["a", "b"]);
    assert_eq!(labels("env notin (prod,dev)"), ["c", "d"]);
    assert_eq!(labels("!env"), ["d"]);
    assert_eq!(labels("tier"), ["a", "b"]);
    assert_eq!(labels("tier=web,env!=dev"), ["a"]);
    assert_eq!(labels("env=none"), Vec::<String>::new());
    let fields = |sel: &str| list_names(&server, CMS, &format!("fieldSelector={}", enc(sel)));
    assert_eq!(fields("metadata.name=b"), ["b"]);
    assert_eq!(fields("metadata.name!=b"), ["a", "c", "d"]);
    assert_eq!(
        list_names(
            &server,
            CMS,
            &format!(
                "labelSelector={}&fieldSelector={}",
                enc("tier=web"),
                enc("metadata.name=b")
            )
        ),
        ["b"]
    );

    // Pods: status.phase and spec.nodeName, with binding.
    create(&server, PODS, &pod("p1"));
    create(&server, PODS, &pod("p2"));
    let pods = |sel: &str| list_names(&server, PODS, &format!("fieldSelector={}", enc(sel)));
    assert_eq!(pods("status.phase=Pending"), ["p1", "p2"]);
    assert_eq!(pods("status.phase=Running"), Vec::<String>::new());
    let (code, v) = bind(&server, "p1", "n1");
    assert_eq!(code, 201, "{v}");
    let (_, p1) = get(&server, &format!("{PODS}/p1"));
    assert_eq!(p1["spec"]["nodeName"], "n1", "{p1}");
    assert_eq!(pods("spec.nodeName=n1"), ["p1"]);
    assert_eq!(pods("spec.nodeName="), ["p2"]);
    assert_eq!(pods("spec.nodeName=n2"), Vec::<String>::new());
    assert_eq!(pods("spec.nodeName=n1,status.phase=Pending"), ["p1"]);
    let (code, v) = bind(&server, "p1", "n2");
    assert_eq!((code, &v["reason"]), (409, &json!("Conflict")), "{v}");
    let (_, p1) = get(&server, &format!("{PODS}/p1"));
    assert_eq!(p1["spec"]["nodeName"], "n1", "{p1}");
}

// 7. watch

#[test]
fn watch_from_a_resource_version_sees_changes_in_order() {
    let server = start();
    let (_, list) = get(&server, CMS);
    let start_rv = rv(&list);
    let watch = Watch::start(
        &server,
        &format!("{CMS}?watch=true&resourceVersion={start_rv}"),
    );
    let created = create(&server, CMS, &configmap("w", json!({}), json!({"v": "1"})));
    let (code, modified) = send(
        &server,
        "PATCH",
        &format!("{CMS}/w"),
        MERGE,
        &json!({"data": {"v": "2"}}),
    );
    assert_eq!(code, 200, "{modified}");
    let (code, deleted) = delete(&server, &format!("{CMS}/w"));
    assert_eq!(code, 200, "{deleted}");

    let ev = watch.next();
    assert_eq!(ev["type"], "ADDED", "{ev}");
    assert_eq!(ev["object"]["data"]["v"], "1", "{ev}");
    assert_eq!(rv(&ev["object"]), rv(&created), "{ev}");
    assert!(rv(&created) > start_rv);
    let ev = watch.next();
    assert_eq!(ev["type"], "MODIFIED", "{ev}");
    assert_eq!(ev["object"]["data"]["v"], "2", "{ev}");
    assert_eq!(rv(&ev["object"]), rv(&modified), "{ev}");
    let ev = watch.next();
    assert_eq!(ev["type"], "DELETED", "{ev}");
    assert_eq!(ev["object"]["metadata"]["name"], "w", "{ev}");
    assert!(rv(&ev["object"]) > rv(&modified), "{ev}");
}

#[test]
fn label_selector_watch_reports_objects_entering_and_leaving() {
    let server = start();
    let obj = create(
        &server,
        CMS,
        &configmap("sel", json!({"team": "a"}), json!({})),
    );
    let watch = Watch::start(
        &server,
        &format!(
            "{CMS}?watch=true&resourceVersion={}&labelSelector={}",
            rv(&obj),
            enc("team=a")
        ),
    );
    let label = |value: &str| {
        let (code, v) = send(
            &server,
            "PATCH",
            &format!("{CMS}/sel"),
            MERGE,
            &json!({"metadata": {"labels": {"team": value}}}),
        );
        assert_eq!(code, 200, "{v}");
        rv(&v)
    };
    let left = label("b");
    let unrelated = create(
        &server,
        CMS,
        &configmap("other", json!({"team": "b"}), json!({})),
    );
    let back = label("a");
    let changed = {
        let (code, v) = send(
            &server,
            "PATCH",
            &format!("{CMS}/sel"),
            MERGE,
            &json!({"data": {"x": "y"}}),
        );
        assert_eq!(code, 200, "{v}");
        rv(&v)
    };
    assert!(rv(&unrelated) > left);
    assert_eq!(
        watch.next_brief(),
        ("DELETED".to_string(), "sel".to_string(), left)
    );
    // The unrelated object never matched: the next event is `sel` coming back.
    assert_eq!(
        watch.next_brief(),
        ("ADDED".to_string(), "sel".to_string(), back)
    );
    assert_eq!(
        watch.next_brief(),
        ("MODIFIED".to_string(), "sel".to_string(), changed)
    );
}

#[test]
fn watch_without_resource_version_starts_with_the_current_state() {
    let server = start();
    let one = create(&server, CMS, &configmap("one", json!({}), json!({})));
    let two = create(&server, CMS, &configmap("two", json!({}), json!({})));
    let watch = Watch::start(&server, &format!("{CMS}?watch=true"));
    let mut initial = vec![watch.next_brief(), watch.next_brief()];
    initial.sort();
    assert_eq!(
        initial,
        [
            ("ADDED".to_string(), "one".to_string(), rv(&one)),
            ("ADDED".to_string(), "two".to_string(), rv(&two)),
        ]
    );
    let three = create(&server, CMS, &configmap("three", json!({}), json!({})));
    assert_eq!(
        watch.next_brief(),
        ("ADDED".to_string(), "three".to_string(), rv(&three))
    );
}

#[test]
fn watch_list_ends_initial_events_with_a_bookmark() {
    let server = start();
    let one = create(&server, CMS, &configmap("one", json!({}), json!({})));
    let two = create(&server, CMS, &configmap("two", json!({}), json!({})));
    let watch = Watch::start(
        &server,
        &format!(
            "{CMS}?watch=true&allowWatchBookmarks=true&sendInitialEvents=true\
             &resourceVersionMatch=NotOlderThan&resourceVersion={}",
            rv(&one)
        ),
    );
    let mut initial = vec![watch.next_brief(), watch.next_brief()];
    initial.sort();
    assert_eq!(
        initial,
        [
            ("ADDED".to_string(), "one".to_string(), rv(&one)),
            ("ADDED".to_string(), "two".to_string(), rv(&two)),
        ]
    );
    let bookmark = watch.next();
    assert_eq!(bookmark["type"], "BOOKMARK", "{bookmark}");
    assert_eq!(bookmark["object"]["kind"], "ConfigMap", "{bookmark}");
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true",
        "{bookmark}"
    );
    assert!(rv(&bookmark["object"]) >= rv(&two), "{bookmark}");
    let three = create(&server, CMS, &configmap("three", json!({}), json!({})));
    assert_eq!(
        watch.next_brief(),
        ("ADDED".to_string(), "three".to_string(), rv(&three))
    );
}

// 8. finalizers

#[test]
fn finalizers_hold_deletion_until_removed() {
    let server = start();
    let mut body = configmap("held", json!({}), json!({"a": "1"}));
    body["metadata"]["finalizers"] = json!(["example.com/x"]);
    create(&server, CMS, &body);
    let path = format!("{CMS}/held");
    let (code, v) = delete(&server, &path);
    assert_eq!(code, 200, "{v}");
    assert!(v["metadata"]["deletionTimestamp"].is_string(), "{v}");
    let (code, held) = get(&server, &path);
    assert_eq!(code, 200, "{held}");
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    assert_eq!(held["metadata"]["finalizers"], json!(["example.com/x"]));
    assert_eq!(list_names(&server, CMS, ""), ["held"]);

    // No new finalizers while deleting.
    let (code, v) = send(
        &server,
        "PATCH",
        &path,
        MERGE,
        &json!({"metadata": {"finalizers": ["example.com/x", "example.com/y"]}}),
    );
    assert_eq!((code, &v["reason"]), (422, &json!("Invalid")), "{v}");
    let (_, held) = get(&server, &path);
    assert_eq!(held["metadata"]["finalizers"], json!(["example.com/x"]));

    // Removing the last finalizer finishes the deletion.
    let (code, v) = send(
        &server,
        "PATCH",
        &path,
        MERGE,
        &json!({"metadata": {"finalizers": null}}),
    );
    assert_eq!(code, 200, "{v}");
    let (code, v) = get(&server, &path);
    assert_eq!(code, 404, "{v}");
    assert!(list_names(&server, CMS, "").is_empty());
}

// 9. graceful pod deletion

#[test]
fn scheduled_pods_are_deleted_gracefully() {
    let server = start();
    create(&server, PODS, &pod("bound"));
    let (code, v) = bind(&server, "bound", "n1");
    assert_eq!(code, 201, "{v}");
    let path = format!("{PODS}/bound");
    let (code, v) = delete(&server, &path);
    assert_eq!(code, 200, "{v}");
    assert!(v["metadata"]["deletionTimestamp"].is_string(), "{v}");
    assert_eq!(v["metadata"]["deletionGracePeriodSeconds"], 30, "{v}");
    let (code, still) = get(&server, &path);
    assert_eq!(code, 200, "{still}");
    let deleting = still["metadata"]["deletionTimestamp"]
        .as_str()
        .unwrap_or("");
    let created = still["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or("");
    assert!(
        deleting > created,
        "deletionTimestamp is now + grace: {still}"
    );
    assert_eq!(still["metadata"]["deletionGracePeriodSeconds"], 30);

    let (code, v) = delete(&server, &format!("{path}?gracePeriodSeconds=0"));
    assert_eq!(code, 200, "{v}");
    let (code, v) = get(&server, &path);
    assert_eq!(code, 404, "{v}");

    // Never scheduled: nothing to wait for.
    create(&server, PODS, &pod("unbound"));
    let (code, v) = delete(&server, &format!("{PODS}/unbound"));
    assert_eq!(code, 200, "{v}");
    let (code, v) = get(&server, &format!("{PODS}/unbound"));
    assert_eq!(code, 404, "{v}");
    assert!(list_names(&server, PODS, "").is_empty());
}

// 10. server-side printing

#[test]
fn table_and_partial_metadata_output() {
    let server = start();
    create(&server, PODS, &pod("tab"));
    let (code, _, table) = get_accept(
        &server,
        PODS,
        "application/json;as=Table;v=v1;g=meta.k8s.io",
    );
    assert_eq!(code, 200, "{table}");
    assert_eq!(table["kind"], "Table", "{table}");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1", "{table}");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .expect("columnDefinitions")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns[..5],
        ["Name", "Ready", "Status", "Restarts", "Age"],
        "{table}"
    );
    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{table}");
    let restarts = &table["columnDefinitions"][3];
    assert_eq!(restarts["type"], "string", "{table}");
    // Kubernetes' pod printer renders restarts as a string ("0", or "3 (5m ago)").
    let cells = rows[0]["cells"].as_array().expect("cells");
    assert_eq!(
        cells[..4],
        [json!("tab"), json!("0/1"), json!("Pending"), json!("0")],
        "{table}"
    );
    assert_eq!(
        rows[0]["object"]["kind"], "PartialObjectMetadata",
        "{table}"
    );
    assert_eq!(rows[0]["object"]["metadata"]["name"], "tab", "{table}");

    let (code, _, meta) = get_accept(
        &server,
        PODS,
        "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    );
    assert_eq!(code, 200, "{meta}");
    assert_eq!(meta["kind"], "PartialObjectMetadataList", "{meta}");
    assert_eq!(meta["apiVersion"], "meta.k8s.io/v1", "{meta}");
    let items = meta["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{meta}");
    assert_eq!(items[0]["kind"], "PartialObjectMetadata", "{meta}");
    assert_eq!(items[0]["metadata"]["name"], "tab", "{meta}");
    assert!(items[0].get("spec").is_none(), "{meta}");
    assert!(rv(&meta) > 0);

    let (code, _, one) = get_accept(
        &server,
        &format!("{PODS}/tab"),
        "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    );
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["kind"], "PartialObjectMetadata", "{one}");
    assert!(one.get("spec").is_none(), "{one}");
}

// 11. discovery

fn group_names(list: &Value) -> Vec<String> {
    let key = if list["kind"] == "APIGroupList" {
        "groups"
    } else {
        "items"
    };
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key}: {list}"))
        .iter()
        .filter_map(|g| g["name"].as_str().or(g["metadata"]["name"].as_str()))
        .map(str::to_string)
        .collect()
}

fn resource_names(list: &Value) -> Vec<String> {
    list["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no resources: {list}"))
        .iter()
        .filter_map(|r| r["name"].as_str())
        .map(str::to_string)
        .collect()
}

#[test]
fn discovery_documents() {
    let server = start();
    let (code, ct, v2) = get_accept(
        &server,
        "/apis",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    );
    assert_eq!(code, 200, "{v2}");
    assert!(ct.contains("v=v2") && !ct.contains("v=v2beta1"), "{ct}");
    assert!(ct.contains("as=APIGroupDiscoveryList"), "{ct}");
    assert_eq!(v2["kind"], "APIGroupDiscoveryList", "{v2}");
    assert_eq!(v2["apiVersion"], "apidiscovery.k8s.io/v2", "{v2}");
    assert!(group_names(&v2).contains(&"apps".to_string()), "{v2}");

    let (code, ct, beta) = get_accept(
        &server,
        "/apis",
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
    );
    assert_eq!(code, 200, "{beta}");
    assert!(ct.contains("v=v2beta1"), "{ct}");
    assert_eq!(beta["apiVersion"], "apidiscovery.k8s.io/v2beta1", "{beta}");
    assert_eq!(beta["kind"], "APIGroupDiscoveryList", "{beta}");

    let (code, ct, plain) = get_accept(&server, "/apis", "application/json");
    assert_eq!(code, 200, "{plain}");
    assert!(
        ct.starts_with("application/json") && !ct.contains("apidiscovery"),
        "{ct}"
    );
    assert_eq!(plain["kind"], "APIGroupList", "{plain}");
    assert!(group_names(&plain).contains(&"apps".to_string()), "{plain}");

    let (code, core) = get(&server, "/api/v1");
    assert_eq!(code, 200, "{core}");
    assert_eq!(core["kind"], "APIResourceList", "{core}");
    assert_eq!(core["groupVersion"], "v1", "{core}");
    let core_names = resource_names(&core);
    for r in [
        "pods",
        "pods/status",
        "pods/binding",
        "configmaps",
        "namespaces",
    ] {
        assert!(core_names.contains(&r.to_string()), "{r} in {core_names:?}");
    }

    let (code, apps) = get(&server, "/apis/apps/v1");
    assert_eq!(code, 200, "{apps}");
    assert_eq!(apps["groupVersion"], "apps/v1", "{apps}");
    let scale = apps["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == "deployments/scale"))
        .unwrap_or_else(|| panic!("deployments/scale in {apps}"));
    assert_eq!(
        (&scale["group"], &scale["version"], &scale["kind"]),
        (&json!("autoscaling"), &json!("v1"), &json!("Scale")),
        "{scale}"
    );
    let deploy = apps["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == "deployments"))
        .unwrap_or_else(|| panic!("deployments in {apps}"));
    assert_eq!(deploy["kind"], "Deployment", "{deploy}");
    assert_eq!(deploy["namespaced"], true, "{deploy}");
}

// 12. scale

#[test]
fn scale_subresource() {
    let server = start();
    create(&server, DEPLOYS, &deployment("sc", 2, &[("app", "nginx")]));
    let path = format!("{DEPLOYS}/sc/scale");
    let (code, scale) = get(&server, &path);
    assert_eq!(code, 200, "{scale}");
    assert_eq!(scale["kind"], "Scale", "{scale}");
    assert_eq!(scale["apiVersion"], "autoscaling/v1", "{scale}");
    assert_eq!(scale["metadata"]["name"], "sc", "{scale}");
    assert_eq!(scale["spec"]["replicas"], 2, "{scale}");
    assert_eq!(scale["status"]["selector"], "app=x", "{scale}");

    let body = json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                      "metadata": {"name": "sc", "namespace": "default"},
                      "spec": {"replicas": 7}});
    let (code, v) = put(&server, &path, &body);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["spec"]["replicas"], 7, "{v}");
    let (_, d) = get(&server, &format!("{DEPLOYS}/sc"));
    assert_eq!(d["spec"]["replicas"], 7, "{d}");
    assert_eq!(generation(&d), 2, "{d}");
    assert_eq!(
        rv(&d),
        rv(&v),
        "the Scale carries the deployment's resourceVersion"
    );

    let (code, v) = send(
        &server,
        "PATCH",
        &path,
        MERGE,
        &json!({"spec": {"replicas": 3}}),
    );
    assert_eq!(code, 200, "{v}");
    let (_, d) = get(&server, &format!("{DEPLOYS}/sc"));
    assert_eq!(d["spec"]["replicas"], 3, "{d}");

    let mut negative = body.clone();
    negative["spec"]["replicas"] = json!(-1);
    let (code, v) = put(&server, &path, &negative);
    assert_eq!((code, &v["reason"]), (422, &json!("Invalid")), "{v}");
    let (_, d) = get(&server, &format!("{DEPLOYS}/sc"));
    assert_eq!(d["spec"]["replicas"], 3, "{d}");
}

// 13. patch directives

fn container_names(d: &Value) -> Vec<String> {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap_or_else(|| panic!("containers in {d}"))
        .iter()
        .filter_map(|c| c["name"].as_str())
        .map(str::to_string)
        .collect()
}

#[test]
fn strategic_and_merge_patch_directives() {
    let server = start();
    let mut body = deployment(
        "sm",
        1,
        &[
            ("app", "nginx"),
            ("sidecar", "envoy"),
            ("logger", "fluentd"),
        ],
    );
    body["metadata"]["labels"]["drop"] = json!("me");
    create(&server, DEPLOYS, &body);
    let path = format!("{DEPLOYS}/sm");

    let (code, v) = send(
        &server,
        "PATCH",
        &path,
        STRATEGIC,
        &json!({"spec": {"template": {"spec": {"containers": [
            {"$patch": "delete", "name": "sidecar"}
        ]}}}}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(container_names(&v), ["app", "logger"], "{v}");

    let (code, v) = send(
        &server,
        "PATCH",
        &path,
        STRATEGIC,
        &json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "logger"}, {"name": "app"}],
            "containers": [{"name": "app", "image": "nginx:2"}]
        }}}}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(container_names(&v), ["logger", "app"], "{v}");
    let containers = &v["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[1]["image"], "nginx:2", "{v}");
    assert_eq!(containers[0]["image"], "fluentd", "{v}");
    let (_, stored) = get(&server, &path);
    assert_eq!(container_names(&stored), ["logger", "app"], "{stored}");

    let (code, v) = send(
        &server,
        "PATCH",
        &path,
        MERGE,
        &json!({"metadata": {"labels": {"drop": null}}}),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["metadata"]["labels"], json!({"app": "x"}), "{v}");
    let (_, stored) = get(&server, &path);
    assert_eq!(
        stored["metadata"]["labels"],
        json!({"app": "x"}),
        "{stored}"
    );
    assert_eq!(container_names(&stored), ["logger", "app"], "{stored}");
}

// 14. server-side apply

#[test]
fn server_side_apply_creates_then_updates() {
    let server = start();
    let path = format!("{CMS}/ssa");
    let config = |value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  key: \"{value}\"\n"
        )
    };
    let (code, v) = call(
        &server,
        "PATCH",
        &path,
        APPLY,
        Some(config("v1").as_bytes()),
    );
    assert_eq!((code, &v["reason"]), (400, &json!("BadRequest")), "{v}");
    assert_eq!(get(&server, &path).0, 404);

    let (code, v) = call(
        &server,
        "PATCH",
        &format!("{path}?fieldManager=test"),
        APPLY,
        Some(config("v1").as_bytes()),
    );
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["data"]["key"], "v1", "{v}");
    let first = rv(&v);

    let (code, v) = call(
        &server,
        "PATCH",
        &format!("{path}?fieldManager=test"),
        APPLY,
        Some(config("v2").as_bytes()),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["key"], "v2", "{v}");
    assert!(rv(&v) > first, "{v}");
    let (code, stored) = get(&server, &path);
    assert_eq!(code, 200, "{stored}");
    assert_eq!(stored["data"]["key"], "v2", "{stored}");
}

fn apply(server: &BerthServer, name: &str, query: &str, data: &[(&str, &str)]) -> (u16, Value) {
    let mut yaml = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n");
    for (k, v) in data {
        yaml.push_str(&format!("  {k}: \"{v}\"\n"));
    }
    call(
        server,
        "PATCH",
        &format!("{CMS}/{name}?{query}"),
        APPLY,
        Some(yaml.as_bytes()),
    )
}

#[test]
fn server_side_apply_reports_conflicts_between_managers() {
    let server = start();
    let (code, v) = apply(&server, "owned", "fieldManager=a", &[("k", "a")]);
    assert_eq!(code, 201, "{v}");
    // Another manager setting a field `a` owns to a different value conflicts.
    let (code, v) = apply(&server, "owned", "fieldManager=b", &[("k", "b")]);
    assert_eq!((code, &v["reason"]), (409, &json!("Conflict")), "{v}");
    let (_, stored) = get(&server, &format!("{CMS}/owned"));
    assert_eq!(stored["data"]["k"], "a", "{stored}");
    // force=true takes the field over.
    let (code, v) = apply(&server, "owned", "fieldManager=b&force=true", &[("k", "b")]);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["k"], "b", "{v}");
    let managers: Vec<(&str, &str)> = v["metadata"]["managedFields"]
        .as_array()
        .unwrap_or_else(|| panic!("managedFields in {v}"))
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap_or(""),
                m["operation"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(managers.contains(&("b", "Apply")), "{v}");
}

#[test]
fn server_side_apply_removes_fields_the_manager_dropped() {
    let server = start();
    let (code, v) = apply(
        &server,
        "shrink",
        "fieldManager=a",
        &[("k", "1"), ("j", "2")],
    );
    assert_eq!(code, 201, "{v}");
    let (code, v) = apply(&server, "shrink", "fieldManager=a", &[("k", "1")]);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"], json!({"k": "1"}), "{v}");
    let (_, stored) = get(&server, &format!("{CMS}/shrink"));
    assert_eq!(stored["data"], json!({"k": "1"}), "{stored}");
}

// 15. namespaces

#[test]
fn namespace_lifecycle() {
    let server = start();
    let (code, v) = post(
        &server,
        "/api/v1/namespaces/missing/configmaps",
        &configmap("x", json!({}), json!({})),
    );
    assert_eq!((code, &v["reason"]), (404, &json!("NotFound")), "{v}");

    create(
        &server,
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}),
    );
    let ns_cms = "/api/v1/namespaces/doomed/configmaps";
    create(&server, ns_cms, &configmap("inside", json!({}), json!({})));
    create(&server, "/api/v1/namespaces/doomed/pods", &pod("p"));

    let (code, v) = delete(&server, "/api/v1/namespaces/doomed");
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"]["phase"], "Terminating", "{v}");
    assert!(v["metadata"]["deletionTimestamp"].is_string(), "{v}");
    let (code, v) = post(&server, ns_cms, &configmap("late", json!({}), json!({})));
    match code {
        403 => {
            assert_eq!(v["reason"], "Forbidden", "{v}");
            assert!(
                v["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("being terminated"),
                "{v}"
            );
        }
        // The cleanup may already have finished.
        404 => assert_eq!(v["reason"], "NotFound", "{v}"),
        _ => panic!("create in a terminating namespace: {code} {v}"),
    }

    let gone = wait_for(DEADLINE, || {
        (get(&server, "/api/v1/namespaces/doomed").0 == 404).then_some(())
    });
    assert!(gone.is_some(), "namespace doomed was not removed");
    assert_eq!(get(&server, &format!("{ns_cms}/inside")).0, 404);
    assert_eq!(get(&server, &format!("{ns_cms}/late")).0, 404);
    assert_eq!(get(&server, "/api/v1/namespaces/doomed/pods/p").0, 404);
    let (code, all) = get(&server, "/api/v1/configmaps");
    assert_eq!(code, 200, "{all}");
    assert!(
        !all["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["metadata"]["namespace"] == "doomed"),
        "{all}"
    );
}

// 16. metrics and authentication

fn curl_without_cert(server: &BerthServer, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-k", "-o", "-", "-w", "\n%{http_code}"])
        .arg(format!("{}{path}", server.url()))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn metrics_and_public_endpoints() {
    let server = start();
    create(&server, CMS, &configmap("m", json!({}), json!({})));
    assert_eq!(get(&server, CMS).0, 200);
    assert_eq!(get(&server, &format!("{CMS}/m")).0, 200);
    assert_eq!(get(&server, &format!("{CMS}/nope")).0, 404);

    let (code, text) = server.curl("GET", "/metrics", "", None).http();
    assert_eq!(code, 200, "{text}");
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
        .collect();
    let has = |verb: &str, code: &str| {
        requests.iter().any(|l| {
            l.to_ascii_lowercase().contains(&format!("verb=\"{verb}\""))
                && l.contains("resource=\"configmaps\"")
                && l.contains(&format!("code=\"{code}\""))
        })
    };
    assert!(has("create", "201") || has("post", "201"), "{requests:?}");
    assert!(has("list", "200"), "{requests:?}");
    assert!(has("get", "200"), "{requests:?}");
    assert!(has("get", "404"), "{requests:?}");
    let count = |verb: &str, code: &str| -> f64 {
        requests
            .iter()
            .filter(|l| {
                l.to_ascii_lowercase().contains(&format!("verb=\"{verb}\""))
                    && l.contains("resource=\"configmaps\"")
                    && l.contains(&format!("code=\"{code}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(count("list", "200") >= 1.0, "{requests:?}");

    let (code, body) = curl_without_cert(&server, "/healthz");
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, body) = curl_without_cert(&server, "/version");
    assert_eq!(code, 200, "{body}");
    let version: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_eq!(version["major"], "1", "{body}");
    let (code, body) = curl_without_cert(&server, "/api/v1/pods");
    assert_eq!(code, 401, "{body}");
    let (code, body) = curl_without_cert(&server, "/metrics");
    assert_eq!(code, 401, "{body}");
}
