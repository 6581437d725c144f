//! The scheduler loop's bookkeeping against a fake API server: watch events go in by hand,
//! the Bindings, status patches and Events that come out are recorded and checked.
//!
//! The tests run on paused tokio time: back-offs and retry intervals pass at once, and a
//! sleep returns only after every task that could run (the reporters' lanes) has run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher::Event;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::bind::Reporter;
use crate::framework::testing::*;
use crate::framework::ClusterEvents;
use crate::queue::EVENT_RETRY_INTERVAL;
use crate::{runtime_now, Input, Scheduler};

#[derive(Clone, Default)]
struct Fake {
    requests: Arc<Mutex<Vec<(String, String, Value)>>>,
    /// Pods whose binding fails with a 500.
    fail_binding: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = tower::service_fn(move |req: Request<kube::client::Body>| {
            let fake = fake.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                fake.requests
                    .lock()
                    .unwrap()
                    .push((method.clone(), path.clone(), body.clone()));
                let failing = fake
                    .fail_binding
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|p| path.ends_with(&format!("/pods/{p}/binding")));
                let (code, reply) = if failing {
                    (
                        500,
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                               "status": "Failure", "message": "boom",
                               "reason": "InternalError", "code": 500}),
                    )
                } else if path.ends_with("/binding") {
                    (
                        201,
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                               "status": "Success", "code": 201}),
                    )
                } else if method == "PATCH" {
                    (
                        200,
                        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}),
                    )
                } else {
                    (201, body)
                };
                Ok::<_, std::convert::Infallible>(
                    Response::builder()
                        .status(code)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(reply.to_string())))
                        .unwrap(),
                )
            }
        });
        kube::Client::new(service, "default")
    }

    fn matching(&self, method: &str, path_end: &str) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _)| m == method && p.ends_with(path_end))
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    fn events(&self, reason: &str) -> Vec<String> {
        self.matching("POST", "/events")
            .iter()
            .filter(|e| e["reason"] == reason)
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// Reports go through background lanes: wait until `done` holds, for at most two
    /// seconds of (paused) time.
    async fn wait_for(&self, done: impl Fn(&Fake) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !done(self) {
            if tokio::time::Instant::now() >= deadline {
                panic!("timed out; requests: {:#?}", self.requests.lock().unwrap());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn scheduler(fake: &Fake, tasks: &mut JoinSet<()>) -> Scheduler {
    let client = fake.client();
    let reporter = Reporter::start(&client, tasks);
    Scheduler::new(client, reporter)
}

fn sync(s: &mut Scheduler, nodes: Vec<Node>, pods: Vec<Pod>) {
    s.handle(Input::Node(Ok(Event::Init)));
    for n in nodes {
        s.handle(Input::Node(Ok(Event::InitApply(n))));
    }
    s.handle(Input::Node(Ok(Event::InitDone)));
    s.handle(Input::Pod(Ok(Event::Init)));
    for p in pods {
        s.handle(Input::Pod(Ok(Event::InitApply(p))));
    }
    s.handle(Input::Pod(Ok(Event::InitDone)));
}

/// Schedule every ready pod and wait for the bindings, as the loop in `run` does.
async fn drain(s: &mut Scheduler) {
    loop {
        let now = runtime_now();
        s.queue.flush_events(now);
        s.queue.promote(now);
        while s.queue.active_len() > 0 {
            s.schedule_next(now);
        }
        match s.binds.join_next_with_id().await {
            Some(done) => s.bind_finished(done),
            None => break,
        }
    }
}

fn bound(pod: &Pod, node: &str) -> Pod {
    let mut p = pod.clone();
    if let Some(spec) = p.spec.as_mut() {
        spec.node_name = Some(node.to_string());
    }
    p
}

fn small_node(name: &str) -> Node {
    node(name, &[("cpu", "1"), ("memory", "1Gi"), ("pods", "10")])
}

#[tokio::test(start_paused = true)]
async fn binds_reports_and_retries() {
    let fake = Fake::default();
    let mut tasks = JoinSet::new();
    let mut s = scheduler(&fake, &mut tasks);
    let pods: Vec<Pod> = ["a", "b", "c"]
        .iter()
        .map(|n| pod_requesting(n, &[("cpu", "600m")]))
        .collect();
    s.handle(Input::Pod(Ok(Event::Init)));
    assert!(!s.synced());
    sync(
        &mut s,
        vec![small_node("n1"), small_node("n2")],
        pods.clone(),
    );
    assert!(s.synced());
    drain(&mut s).await;

    let bindings = fake.matching("POST", "/binding");
    let mut targets: Vec<String> = bindings
        .iter()
        .map(|b| b["target"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    targets.sort();
    assert_eq!(targets, vec!["n1", "n2"], "a and b on different nodes");
    for b in &bindings {
        assert_eq!(b["target"]["kind"], "Node");
        assert_eq!(b["target"]["apiVersion"], "v1");
    }
    let message = "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are \
                   available: 2 No preemption victims found for incoming pod.";
    fake.wait_for(|f| f.events("FailedScheduling").len() == 1 && f.events("Scheduled").len() == 2)
        .await;
    assert_eq!(fake.events("FailedScheduling"), vec![message]);
    let mut scheduled = fake.events("Scheduled");
    scheduled.sort();
    assert!(scheduled[0].starts_with("Successfully assigned default/a to n"));
    assert!(scheduled[1].starts_with("Successfully assigned default/b to n"));
    let patches = fake.matching("PATCH", "/pods/c/status");
    assert_eq!(patches.len(), 1);
    let condition = &patches[0]["status"]["conditions"][0];
    assert_eq!(condition["type"], "PodScheduled");
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "Unschedulable");
    assert_eq!(condition["message"], message);
    assert!(condition.get("lastTransitionTime").is_some());

    // Another attempt with the same outcome writes nothing.
    tokio::time::sleep(EVENT_RETRY_INTERVAL).await;
    s.queue.on_event(ClusterEvents::NODE_CHANGED);
    drain(&mut s).await;
    // On paused time this returns once the reporters are idle: anything they were going
    // to write is written.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.matching("PATCH", "/pods/c/status").len(), 1);
    assert_eq!(fake.events("FailedScheduling").len(), 1);

    // The watch confirms a's binding; then a is deleted: c takes its place.
    let a_node = bindings
        .iter()
        .find(|b| b["metadata"]["name"] == "a")
        .and_then(|b| b["target"]["name"].as_str())
        .unwrap_or("")
        .to_string();
    let a_bound = bound(&pods[0], &a_node);
    s.handle(Input::Pod(Ok(Event::Apply(a_bound.clone()))));
    assert!(!s.cache.is_assumed("uid-a"));
    s.handle(Input::Pod(Ok(Event::Delete(a_bound))));
    tokio::time::sleep(EVENT_RETRY_INTERVAL).await;
    drain(&mut s).await;
    let c_binding = fake.matching("POST", "/pods/c/binding");
    assert_eq!(c_binding.len(), 1);
    assert_eq!(c_binding[0]["target"]["name"], a_node.as_str());
    assert!(s.queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn failed_binding_is_forgotten_and_retried() {
    let fake = Fake::default();
    fake.fail_binding.lock().unwrap().push("b".to_string());
    let mut tasks = JoinSet::new();
    let mut s = scheduler(&fake, &mut tasks);
    let a = pod_requesting("a", &[("cpu", "100m")]);
    let b = pod_requesting("b", &[("cpu", "100m")]);
    sync(&mut s, vec![small_node("n1")], vec![a.clone(), b.clone()]);
    drain(&mut s).await;

    assert_eq!(fake.matching("POST", "/binding").len(), 2);
    // b's binding failed: it no longer counts on n1 and waits to be retried.
    assert_eq!(s.cache.node("n1").map(|n| n.pod_count), Some(1));
    assert!(s.queue.contains("uid-b"));
    assert_eq!(s.queue.active_len(), 0);
    // An older, still-pending version of a from the watch does not queue it again.
    s.handle(Input::Pod(Ok(Event::Apply(a.clone()))));
    assert!(!s.queue.contains("uid-a"));
    s.handle(Input::Pod(Ok(Event::Apply(bound(&a, "n1")))));
    assert_eq!(s.cache.node("n1").map(|n| n.pod_count), Some(1));

    // After its back-off (one second for a first failure), b is bound; not before.
    fake.fail_binding.lock().unwrap().clear();
    tokio::time::sleep(Duration::from_millis(900)).await;
    drain(&mut s).await;
    assert_eq!(fake.matching("POST", "/pods/b/binding").len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    drain(&mut s).await;
    assert_eq!(fake.matching("POST", "/pods/b/binding").len(), 2);
    assert!(s.queue.is_empty());
    assert_eq!(s.cache.node("n1").map(|n| n.pod_count), Some(2));
}

#[tokio::test(start_paused = true)]
async fn waits_for_nodes_and_drops_deleted_pods() {
    let fake = Fake::default();
    let mut tasks = JoinSet::new();
    let mut s = scheduler(&fake, &mut tasks);
    let p = pod_requesting("p", &[]);
    let gone = pod_requesting("gone", &[]);
    sync(&mut s, vec![], vec![p.clone(), gone.clone()]);
    drain(&mut s).await;
    fake.wait_for(|f| f.events("FailedScheduling").len() == 2)
        .await;
    assert_eq!(
        fake.events("FailedScheduling")[0],
        "0/0 nodes are available: no nodes available to schedule pods."
    );
    s.handle(Input::Pod(Ok(Event::Delete(gone))));
    assert!(!s.queue.contains("uid-gone"));

    // A node appears: p is retried without waiting out its back-off.
    tokio::time::sleep(EVENT_RETRY_INTERVAL).await;
    s.handle(Input::Node(Ok(Event::Apply(small_node("n1")))));
    drain(&mut s).await;
    assert_eq!(fake.matching("POST", "/pods/p/binding").len(), 1);
    assert!(fake.matching("POST", "/pods/gone/binding").is_empty());

    // Pods for another scheduler, or already finished, are not queued.
    let mut other = pod_requesting("other", &[]);
    if let Some(spec) = other.spec.as_mut() {
        spec.scheduler_name = Some("custom".to_string());
    }
    s.handle(Input::Pod(Ok(Event::Apply(other))));
    let mut done = pod_requesting("done", &[]);
    done.status = Some(k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Succeeded".to_string()),
        ..Default::default()
    });
    s.handle(Input::Pod(Ok(Event::Apply(done))));
    assert!(s.queue.is_empty());
}
