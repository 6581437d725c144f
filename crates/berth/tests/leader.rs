//! End-to-end: leader election on a Lease through a real `berth server`. The server's own
//! scheduler and controller manager hold their Leases in kube-system; of two candidates for
//! one Lease exactly one works at a time, and when the leader shuts down it releases the
//! Lease so the other takes over without waiting for it to expire.

// Test helpers (outside `#[test]` functions) may panic too: a test that cannot set up fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_testkit::{wait_for, BerthServer};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

async fn client(server: &BerthServer) -> kube::Client {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(server.kubeconfig()).expect("kubeconfig reads");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("kubeconfig is usable");
    kube::Client::try_from(config).expect("client builds")
}

#[test]
fn the_servers_components_hold_their_leases() {
    let server = BerthServer::start(BERTH, &[]).expect("server starts");
    for name in ["kube-scheduler", "kube-controller-manager"] {
        let lease = wait_for(Duration::from_secs(15), || {
            let out = server.kubectl(&["get", "lease", "-n", "kube-system", name, "-o", "json"]);
            out.ok
                .then(|| serde_json::from_str::<serde_json::Value>(&out.stdout).ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("lease {name} created"));
        let holder = lease["spec"]["holderIdentity"].as_str().unwrap_or("");
        assert!(!holder.is_empty(), "{lease}");
        assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
    }
}

/// A candidate whose work counts itself in `active` while it runs.
fn candidate(
    client: kube::Client,
    identity: &str,
    active: Arc<AtomicI32>,
    most: Arc<AtomicI32>,
    leading: Arc<AtomicI32>,
    id: i32,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let mut config = berth_leader::Config::new("berth-test-lock", identity);
    config.namespace = "default".into();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(berth_leader::run(
        client,
        config,
        async move {
            let _ = stop_rx.await;
        },
        move |stop| {
            let active = active.clone();
            let most = most.clone();
            let leading = leading.clone();
            async move {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                leading.store(id, Ordering::SeqCst);
                stop.await;
                active.fetch_sub(1, Ordering::SeqCst);
            }
        },
    ));
    (task, stop_tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_candidate_works_at_a_time_and_a_release_hands_over() {
    let server = BerthServer::start(BERTH, &[]).expect("server starts");
    let client = client(&server).await;
    let active = Arc::new(AtomicI32::new(0));
    let most = Arc::new(AtomicI32::new(0));
    let leading = Arc::new(AtomicI32::new(0));
    let (a, stop_a) = candidate(
        client.clone(),
        "a",
        active.clone(),
        most.clone(),
        leading.clone(),
        1,
    );
    let (b, stop_b) = candidate(
        client.clone(),
        "b",
        active.clone(),
        most.clone(),
        leading.clone(),
        2,
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while leading.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "nobody became leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = leading.load(Ordering::SeqCst);
    // Several renewals happen (every 2 s) without the other taking over.
    let watch_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < watch_until {
        assert_eq!(leading.load(Ordering::SeqCst), first);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The leader shuts down: it releases the Lease, and the other takes it well before
    // the 15 s it would otherwise wait.
    let (leader_task, other_stop, other_task) = if first == 1 {
        let _ = stop_a.send(());
        (a, stop_b, b)
    } else {
        let _ = stop_b.send(());
        (b, stop_a, a)
    };
    let released_at = Instant::now();
    leader_task.await.expect("leader task");
    let deadline = Instant::now() + Duration::from_secs(10);
    while leading.load(Ordering::SeqCst) == first {
        assert!(Instant::now() < deadline, "no hand-over after the release");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(released_at.elapsed() < Duration::from_secs(10));
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "two candidates worked at once"
    );
    let _ = other_stop.send(());
    other_task.await.expect("candidate task");
    assert_eq!(active.load(Ordering::SeqCst), 0);
}
