//! The service proxy of a node (kube-proxy's job): watches Services and EndpointSlices and
//! keeps the nftables table of [`rules`] in line with them, applying a change within about
//! 100 ms of the watch event and only when the rules differ. The table outlives the proxy
//! (Services keep working while Berth restarts); `berth reset` removes it.

pub mod rules;

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use tokio::io::AsyncWriteExt;

/// Why the rules could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `nft` could not be run.
    #[error("running nft: {0}")]
    Spawn(#[from] std::io::Error),
    /// `nft` refused the rules.
    #[error("nft refused the rules: {0}")]
    Refused(String),
}

/// How long changes are gathered before the rules are rebuilt.
const BATCH: Duration = Duration::from_millis(100);

/// Run the proxy until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    // DNAT'd connections are forwarded back out to the pods.
    if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
        tracing::warn!(error = %e, "enabling IPv4 forwarding: Services will not reach pods");
    }
    let (services, s_writer) = reflector::store::<Service>();
    let (slices, e_writer) = reflector::store::<EndpointSlice>();
    // Each event says which watch it came from and whether it completed a list.
    let s_events = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(s_writer)
    .map(|e| {
        e.map(|ev| (0usize, matches!(ev, watcher::Event::InitDone)))
            .map_err(|e| e.to_string())
    })
    .boxed();
    let e_events = watcher(
        Api::<EndpointSlice>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(e_writer)
    .map(|e| {
        e.map(|ev| (1usize, matches!(ev, watcher::Event::InitDone)))
            .map_err(|e| e.to_string())
    })
    .boxed();
    let mut events = futures::stream::select(s_events, e_events);
    tokio::pin!(shutdown);
    let mut applied: Option<String> = None;
    let mut dirty = false;
    // Until both lists are in, the rules would drop live Services.
    let mut synced = [false, false];
    let mut retry = tokio::time::interval(Duration::from_secs(5));
    loop {
        let ready = synced[0] && synced[1];
        tokio::select! {
            () = &mut shutdown => return,
            event = events.next() => match event {
                Some(Ok((which, done))) => {
                    if done {
                        synced[which] = true;
                    }
                    dirty = true;
                }
                Some(Err(e)) => tracing::debug!(error = %e, "service proxy watch"),
                None => return,
            },
            () = tokio::time::sleep(BATCH), if dirty && ready => {
                dirty = false;
                sync(&services, &slices, &mut applied).await;
            }
            // A failed apply is tried again.
            _ = retry.tick(), if ready && applied.is_none() => {
                sync(&services, &slices, &mut applied).await;
            }
        }
    }
}

async fn sync(
    services: &Store<Service>,
    slices: &Store<EndpointSlice>,
    applied: &mut Option<String>,
) {
    let script = rules::render(&rules::port_rules(&services.state(), &slices.state()));
    if applied.as_deref() == Some(script.as_str()) {
        return;
    }
    match apply(&script).await {
        Ok(()) => {
            tracing::debug!(bytes = script.len(), "service rules applied");
            *applied = Some(script);
        }
        Err(e) => {
            tracing::warn!(error = %e, "applying the service rules");
            *applied = None;
        }
    }
}

/// Run `nft -f -` with `script`.
pub async fn apply(script: &str) -> Result<(), ProxyError> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ProxyError::Refused(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Remove the proxy's table (for `berth reset`).
pub async fn remove() -> Result<(), ProxyError> {
    apply(&rules::remove()).await
}
