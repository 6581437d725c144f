//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does
//! it: the holder renews `renewTime` every retry period; anyone may take the Lease once it is
//! `leaseDurationSeconds` old; every write carries the resourceVersion it read, so of two
//! candidates one wins and the other gets a conflict. A leader that cannot renew for the
//! renew deadline stops its work before the Lease can expire, so two copies never run
//! together. On shutdown the leader releases the Lease (empties the holder) so a standby
//! takes over at once rather than after the duration.
//!
//! [`run`] runs a component (the scheduler, the controller manager) only while this process
//! holds the Lease.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::watch;

/// Errors of one attempt to acquire or renew.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another candidate holds a live Lease; this is its identity.
    #[error("the lease is held by {0}")]
    HeldBy(String),
    /// The Lease changed between our read and our write (409): another candidate wrote first.
    #[error("lost a race for the lease (conflict)")]
    Conflict,
    /// The API server could not be reached or refused the request.
    #[error("lease API: {0}")]
    Api(#[from] kube::Error),
}

/// Which Lease, who we are, and the timings (client-go's defaults for the scheduler and
/// the controller manager: 15 s, 10 s, 2 s).
#[derive(Debug, Clone)]
pub struct Config {
    /// Namespace of the Lease (`kube-system` by default).
    pub namespace: String,
    /// Name of the Lease, one per component (for instance `kube-scheduler`).
    pub name: String,
    /// This candidate: unique per process (`hostname_uuid` in Kubernetes).
    pub identity: String,
    /// How long a Lease stays valid after its last renewal (`leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// How long the leader keeps working without a successful renewal before it stops.
    pub renew_deadline: Duration,
    /// How often a candidate tries to acquire and the leader renews.
    pub retry_period: Duration,
}

impl Config {
    /// `kube-system/<name>` with the default timings.
    pub fn new(name: &str, identity: &str) -> Config {
        Config {
            namespace: "kube-system".into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// What to write, given the Lease as read (`None`: there is none) at `now`.
#[derive(Debug, PartialEq)]
enum Decision {
    /// Someone else holds a live Lease.
    Wait(String),
    /// Write this spec (acquire or renew).
    Write(LeaseSpec),
}

fn decide(current: Option<&LeaseSpec>, config: &Config, now: jiff::Timestamp) -> Decision {
    let me = config.identity.as_str();
    let duration = i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX);
    let fresh = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(duration),
        acquire_time: acquired.or(Some(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    };
    let Some(spec) = current else {
        return Decision::Write(fresh(0, None));
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    let transitions = spec.lease_transitions.unwrap_or(0);
    if holder == me {
        return Decision::Write(fresh(transitions, spec.acquire_time.clone()));
    }
    let expires = spec.renew_time.as_ref().map(|t| {
        let secs = i64::from(spec.lease_duration_seconds.unwrap_or(duration));
        t.0 + jiff::SignedDuration::from_secs(secs)
    });
    let live = !holder.is_empty() && expires.is_some_and(|e| e > now);
    if live {
        Decision::Wait(holder.to_string())
    } else {
        Decision::Write(fresh(transitions + 1, None))
    }
}

/// One attempt to acquire or renew the Lease.
pub async fn try_acquire_or_renew(leases: &Api<Lease>, config: &Config) -> Result<(), Error> {
    let current = leases.get_opt(&config.name).await?;
    let decision = decide(
        current.as_ref().and_then(|l| l.spec.as_ref()),
        config,
        jiff::Timestamp::now(),
    );
    let spec = match decision {
        Decision::Wait(holder) => return Err(Error::HeldBy(holder)),
        Decision::Write(spec) => spec,
    };
    let result = match current {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.name.clone()),
                    namespace: Some(config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            leases.create(&PostParams::default(), &lease).await
        }
        Some(mut lease) => {
            // The resourceVersion read stays in the object: a concurrent writer makes this a
            // conflict instead of a second leader.
            lease.spec = Some(spec);
            leases
                .replace(&config.name, &PostParams::default(), &lease)
                .await
        }
    };
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::Conflict),
        Err(e) => Err(Error::Api(e)),
    }
}

/// Give the Lease up, if we hold it, so that a standby need not wait for it to expire.
pub async fn release(leases: &Api<Lease>, config: &Config) -> Result<(), Error> {
    let Some(mut lease) = leases.get_opt(&config.name).await? else {
        return Ok(());
    };
    let ours = lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        == Some(config.identity.as_str());
    if !ours {
        return Ok(());
    }
    if let Some(spec) = lease.spec.as_mut() {
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
    }
    match leases
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::Conflict),
        Err(e) => Err(Error::Api(e)),
    }
}

/// Run `work` while this process leads, until `shutdown` resolves. `work` gets a future
/// that resolves when it must stop (leadership lost, or shutdown); after losing the Lease
/// this goes back to waiting for it.
pub async fn run<W, F>(
    client: kube::Client,
    config: Config,
    shutdown: impl Future<Output = ()>,
    mut work: W,
) where
    W: FnMut(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let leases: Api<Lease> = Api::namespaced(client, &config.namespace);
    tokio::pin!(shutdown);
    loop {
        // Candidate: try every retry period.
        loop {
            match try_acquire_or_renew(&leases, &config).await {
                Ok(()) => break,
                Err(Error::HeldBy(holder)) => {
                    tracing::debug!(lease = %config.name, %holder, "waiting for the lease");
                }
                Err(e) => tracing::debug!(lease = %config.name, error = %e, "acquiring the lease"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(config.retry_period) => {}
            }
        }
        tracing::info!(lease = %config.name, identity = %config.identity, "became leader");
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop = Box::pin(async move {
            let mut rx = stop_rx;
            let _ = rx.wait_for(|s| *s).await;
        });
        let running = tokio::spawn(work(stop));
        // Leader: renew every retry period; give up after the renew deadline.
        let mut last_renewed = tokio::time::Instant::now();
        let shutting_down = loop {
            tokio::select! {
                () = &mut shutdown => break true,
                () = tokio::time::sleep(config.retry_period) => {}
            }
            match try_acquire_or_renew(&leases, &config).await {
                Ok(()) => last_renewed = tokio::time::Instant::now(),
                Err(e) => {
                    tracing::warn!(lease = %config.name, error = %e, "renewing the lease");
                    if matches!(e, Error::HeldBy(_))
                        || last_renewed.elapsed() >= config.renew_deadline
                    {
                        break false;
                    }
                }
            }
        };
        let _ = stop_tx.send(true);
        let _ = running.await;
        if shutting_down {
            if let Err(e) = release(&leases, &config).await {
                tracing::debug!(lease = %config.name, error = %e, "releasing the lease");
            }
            return;
        }
        tracing::warn!(lease = %config.name, "lost the lease: stopped, waiting to lead again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(me: &str) -> Config {
        Config::new("kube-scheduler", me)
    }

    fn held(by: &str, renewed: jiff::Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(by.into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(MicroTime(renewed)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_missing_lease_is_taken() {
        let now = jiff::Timestamp::now();
        let Decision::Write(spec) = decide(None, &config("a"), now) else {
            panic!("should acquire");
        };
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(spec.lease_duration_seconds, Some(15));
    }

    #[test]
    fn a_live_lease_of_another_waits_and_an_expired_one_is_taken() {
        let now = jiff::Timestamp::now();
        let recent = held("b", now - jiff::SignedDuration::from_secs(5), 3);
        assert_eq!(
            decide(Some(&recent), &config("a"), now),
            Decision::Wait("b".into())
        );
        let stale = held("b", now - jiff::SignedDuration::from_secs(16), 3);
        let Decision::Write(spec) = decide(Some(&stale), &config("a"), now) else {
            panic!("should take over");
        };
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(4));
        // Released (no holder): taken at once.
        let mut released = recent.clone();
        released.holder_identity = None;
        assert!(matches!(
            decide(Some(&released), &config("a"), now),
            Decision::Write(_)
        ));
    }

    #[test]
    fn the_holder_renews_keeping_its_acquire_time() {
        let now = jiff::Timestamp::now();
        let then = now - jiff::SignedDuration::from_secs(60);
        let mine = held("a", then, 2);
        let Decision::Write(spec) = decide(Some(&mine), &config("a"), now) else {
            panic!("should renew");
        };
        assert_eq!(spec.acquire_time, Some(MicroTime(then)));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_transitions, Some(2));
    }
}
