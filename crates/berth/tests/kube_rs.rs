//! End-to-end: kube-rs (the client Berth's own controllers will use) against a real
//! `berth server`: typed CRUD, server-side apply, and `kube::runtime::watcher` both with the
//! classic list-then-watch and with streaming lists (sendInitialEvents + bookmarks).

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use berth_testkit::BerthServer;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn configmap(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([("app".to_string(), "kube".to_string())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), value.to_string())])),
        ..Default::default()
    }
}

async fn client(server: &BerthServer) -> kube::Client {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(server.kubeconfig()).expect("kubeconfig reads");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("kubeconfig is usable");
    kube::Client::try_from(config).expect("client builds")
}

/// Wait (bounded) until the watcher stream yields an object named `name`.
async fn sees<S>(stream: &mut S, name: &str) -> bool
where
    S: futures::Stream<Item = Result<ConfigMap, watcher::Error>> + Unpin,
{
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(cm)) = stream.next().await {
            if cm.metadata.name.as_deref() == Some(name) {
                return true;
            }
        }
        false
    })
    .await;
    found.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_client_and_watcher_work() {
    let server =
        BerthServer::start(BERTH, &["--disable-controller-manager"]).expect("server starts");
    let client = client(&server).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let created = cms
        .create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    let listed = cms
        .list(&ListParams::default().labels("app=kube"))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    let err = cms
        .create(&PostParams::default(), &configmap("a", "1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );

    let patched = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"k": "2"}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(
        patched.data.and_then(|d| d.get("k").cloned()).as_deref(),
        Some("2")
    );
    let applied = cms
        .patch(
            "b",
            &PatchParams::apply("kube-test"),
            &Patch::Apply(configmap("b", "applied")),
        )
        .await
        .expect("server-side apply creates");
    let managers: Vec<String> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["kube-test"]);

    // Classic list-then-watch.
    let mut classic = watcher(cms.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    assert!(
        sees(&mut classic, "a").await,
        "initial list through the watcher"
    );
    cms.create(&PostParams::default(), &configmap("c", "3"))
        .await
        .expect("create c");
    assert!(
        sees(&mut classic, "c").await,
        "watch event through the watcher"
    );

    // Streaming list: sendInitialEvents with a bookmark ending the initial state.
    let mut streaming = watcher(cms.clone(), watcher::Config::default().streaming_lists())
        .applied_objects()
        .boxed();
    assert!(
        sees(&mut streaming, "b").await,
        "initial events of a streaming list"
    );
    cms.create(&PostParams::default(), &configmap("d", "4"))
        .await
        .expect("create d");
    assert!(
        sees(&mut streaming, "d").await,
        "events after a streaming list"
    );

    cms.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    let names: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(names, ["b", "c", "d"]);
}
