//! One conformance suite for every backend: the embedded store and a real etcd run the same
//! cases, so the API server can rely on identical semantics from both.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use berth_store::embedded::EmbeddedStore;
use berth_store::etcd::EtcdStore;
use berth_store::{EventKind, RangeRequest, Store, StoreError, WatchStream};
use bytes::Bytes;
use futures::StreamExt;

type Case = fn(Arc<dyn Store>) -> futures::future::BoxFuture<'static, ()>;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), |s| Box::pin($name(s)))),*]
    };
}

const CASES: &[(&str, Case)] = cases![
    create_and_get,
    create_twice_fails,
    update_if_checks_revision,
    delete_if_checks_revision,
    range_by_prefix_with_paging,
    range_at_past_revision,
    watch_from_now,
    watch_replays_from_past_revision,
    watch_filters_by_prefix,
    compaction_gives_gone,
    concurrent_conditional_updates_have_one_winner,
    concurrent_creates_get_distinct_revisions,
];

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn next_event(w: &mut WatchStream) -> berth_store::WatchEvent {
    match tokio::time::timeout(Duration::from_secs(5), w.next()).await {
        Ok(Some(Ok(ev))) => ev,
        other => panic!("expected a watch event, got {other:?}"),
    }
}

async fn create_and_get(s: Arc<dyn Store>) {
    let before = s.current_revision().await.unwrap();
    let kv = s.create("/t/a", b("1")).await.unwrap();
    assert!(kv.mod_revision > before);
    assert_eq!(kv.create_revision, kv.mod_revision);
    assert_eq!(kv.version, 1);
    let got = s.get("/t/a").await.unwrap().unwrap();
    assert_eq!(got, kv);
    assert_eq!(s.current_revision().await.unwrap(), kv.mod_revision);
    assert!(s.get("/t/missing").await.unwrap().is_none());
}

async fn create_twice_fails(s: Arc<dyn Store>) {
    s.create("/t/a", b("1")).await.unwrap();
    let err = s.create("/t/a", b("2")).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(s.get("/t/a").await.unwrap().unwrap().value, b("1"));
}

async fn update_if_checks_revision(s: Arc<dyn Store>) {
    let kv = s.create("/t/a", b("1")).await.unwrap();
    let up = s.update_if("/t/a", b("2"), kv.mod_revision).await.unwrap();
    assert!(up.mod_revision > kv.mod_revision);
    assert_eq!(up.create_revision, kv.create_revision);
    assert_eq!(up.version, 2);
    let err = s
        .update_if("/t/a", b("3"), kv.mod_revision)
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict { current, .. } => {
            assert_eq!(current.unwrap().value, b("2"));
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    let err = s.update_if("/t/none", b("3"), 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(s.get("/t/a").await.unwrap().unwrap().value, b("2"));
}

async fn delete_if_checks_revision(s: Arc<dyn Store>) {
    let kv = s.create("/t/a", b("1")).await.unwrap();
    let err = s
        .delete_if("/t/a", Some(kv.mod_revision - 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let del = s.delete_if("/t/a", Some(kv.mod_revision)).await.unwrap();
    assert_eq!(del.value, b("1"));
    assert!(del.mod_revision > kv.mod_revision);
    assert!(s.get("/t/a").await.unwrap().is_none());
    let err = s.delete_if("/t/a", None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    // A re-created key starts a new life.
    let again = s.create("/t/a", b("x")).await.unwrap();
    assert_eq!(again.version, 1);
    assert!(again.create_revision > kv.create_revision);
    s.delete_if("/t/a", None).await.unwrap();
}

async fn range_by_prefix_with_paging(s: Arc<dyn Store>) {
    for k in ["/r/a/1", "/r/a/2", "/r/a/3", "/r/ab/1", "/r/b/1"] {
        s.create(k, b(k)).await.unwrap();
    }
    let all = s
        .range(RangeRequest {
            prefix: "/r/a/".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let keys: Vec<_> = all.kvs.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, ["/r/a/1", "/r/a/2", "/r/a/3"]);
    assert!(!all.more);
    assert_eq!(all.revision, s.current_revision().await.unwrap());
    let page1 = s
        .range(RangeRequest {
            prefix: "/r/a/".into(),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page1.kvs.len(), 2);
    assert!(page1.more);
    let page2 = s
        .range(RangeRequest {
            prefix: "/r/a/".into(),
            limit: 2,
            revision: page1.revision,
            start_after: Some(page1.kvs[1].key.clone()),
        })
        .await
        .unwrap();
    let keys: Vec<_> = page2.kvs.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, ["/r/a/3"]);
    assert!(!page2.more);
}

async fn range_at_past_revision(s: Arc<dyn Store>) {
    let a = s.create("/p/a", b("a1")).await.unwrap();
    let bb = s.create("/p/b", b("b1")).await.unwrap();
    let snapshot = bb.mod_revision;
    s.update_if("/p/a", b("a2"), a.mod_revision).await.unwrap();
    s.delete_if("/p/b", None).await.unwrap();
    s.create("/p/c", b("c1")).await.unwrap();
    let past = s
        .range(RangeRequest {
            prefix: "/p/".into(),
            revision: snapshot,
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<_> = past
        .kvs
        .iter()
        .map(|k| (k.key.as_str(), k.value.clone()))
        .collect();
    assert_eq!(got, [("/p/a", b("a1")), ("/p/b", b("b1"))]);
    assert_eq!(past.revision, snapshot);
    let now = s
        .range(RangeRequest {
            prefix: "/p/".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<_> = now.kvs.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(got, ["/p/a", "/p/c"]);
}

async fn watch_from_now(s: Arc<dyn Store>) {
    let mut w = s.watch("/w/", 0).await.unwrap();
    let c = s.create("/w/a", b("1")).await.unwrap();
    let u = s.update_if("/w/a", b("2"), c.mod_revision).await.unwrap();
    let d = s.delete_if("/w/a", None).await.unwrap();
    let e1 = next_event(&mut w).await;
    assert_eq!(
        (e1.kind, e1.kv.mod_revision, e1.prev.is_none()),
        (EventKind::Put, c.mod_revision, true)
    );
    let e2 = next_event(&mut w).await;
    assert_eq!(e2.kind, EventKind::Put);
    assert_eq!(e2.kv.value, b("2"));
    assert_eq!(e2.prev.map(|p| p.value), Some(b("1")));
    assert_eq!(e2.kv.mod_revision, u.mod_revision);
    let e3 = next_event(&mut w).await;
    assert_eq!(e3.kind, EventKind::Delete);
    assert_eq!(e3.kv.mod_revision, d.mod_revision);
    assert_eq!(e3.prev.map(|p| p.value), Some(b("2")));
}

async fn watch_replays_from_past_revision(s: Arc<dyn Store>) {
    let first = s.create("/h/a", b("1")).await.unwrap();
    s.create("/h/b", b("2")).await.unwrap();
    s.delete_if("/h/a", None).await.unwrap();
    let mut w = s.watch("/h/", first.mod_revision).await.unwrap();
    let e1 = next_event(&mut w).await;
    assert_eq!((e1.kind, e1.kv.key.as_str()), (EventKind::Put, "/h/b"));
    let e2 = next_event(&mut w).await;
    assert_eq!((e2.kind, e2.kv.key.as_str()), (EventKind::Delete, "/h/a"));
    // And then live events follow with no gap.
    s.create("/h/c", b("3")).await.unwrap();
    let e3 = next_event(&mut w).await;
    assert_eq!(e3.kv.key, "/h/c");
}

async fn watch_filters_by_prefix(s: Arc<dyn Store>) {
    let mut w = s.watch("/f/x/", 0).await.unwrap();
    s.create("/f/y/1", b("no")).await.unwrap();
    s.create("/f/xy/1", b("no")).await.unwrap();
    s.create("/f/x/1", b("yes")).await.unwrap();
    let e = next_event(&mut w).await;
    assert_eq!(e.kv.key, "/f/x/1");
}

async fn compaction_gives_gone(s: Arc<dyn Store>) {
    let a = s.create("/c/a", b("1")).await.unwrap();
    let u = s.update_if("/c/a", b("2"), a.mod_revision).await.unwrap();
    s.update_if("/c/a", b("3"), u.mod_revision).await.unwrap();
    s.compact(u.mod_revision).await.unwrap();
    let err = match s.watch("/c/", a.mod_revision).await {
        Err(e) => e,
        Ok(mut w) => match tokio::time::timeout(Duration::from_secs(5), w.next()).await {
            Ok(Some(Err(e))) => e,
            other => panic!("expected a compaction error, got {other:?}"),
        },
    };
    assert!(matches!(err, StoreError::Compacted { .. }), "{err:?}");
    let err = s
        .range(RangeRequest {
            prefix: "/c/".into(),
            revision: a.mod_revision,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Compacted { .. }), "{err:?}");
    // From the compaction revision on, history is still there.
    let mut w = s.watch("/c/", u.mod_revision).await.unwrap();
    assert_eq!(next_event(&mut w).await.kv.value, b("3"));
}

async fn concurrent_conditional_updates_have_one_winner(s: Arc<dyn Store>) {
    let kv = s.create("/cc/a", b("0")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.update_if("/cc/a", b(&i.to_string()), kv.mod_revision)
                .await
        }));
    }
    let mut winners = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => winners += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners, 1);
}

async fn concurrent_creates_get_distinct_revisions(s: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.create(&format!("/cr/{i:03}"), b("v")).await
        }));
    }
    let mut revs = Vec::new();
    for t in tasks {
        revs.push(t.await.unwrap().unwrap().mod_revision);
    }
    revs.sort();
    revs.dedup();
    assert_eq!(revs.len(), 50);
    let all = s
        .range(RangeRequest {
            prefix: "/cr/".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.kvs.len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backend_conforms() {
    for (name, case) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::open(&dir.path().join("state.db")).unwrap());
        eprintln!("embedded: {name}");
        case(store.clone()).await;
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_backend_conforms() {
    let etcd = match berth_testkit::Etcd::start() {
        Ok(Some(etcd)) => etcd,
        Ok(None) => {
            eprintln!("etcd not installed: skipping (CI installs it)");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    for (i, (name, case)) in CASES.iter().enumerate() {
        // Each case gets its own key space in the one etcd; the first runs at the root, as the
        // API server does.
        let root = if i == 0 {
            String::new()
        } else {
            format!("/case{i}")
        };
        let store: Arc<dyn Store> = Arc::new(
            EtcdStore::connect(std::slice::from_ref(&etcd.endpoint), &root)
                .await
                .unwrap(),
        );
        eprintln!("etcd: {name}");
        case(store).await;
    }
}
