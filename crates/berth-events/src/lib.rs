//! Kubernetes Events (`core/v1`, the kind `kubectl describe` lists) recorded by Berth's
//! components: the scheduler, the controllers and the node agent.
//!
//! A [`Recorder`] posts one Event per distinct (object, type, reason, message) and, like
//! client-go's correlator, bumps `count` and `lastTimestamp` of the existing Event when the
//! same thing happens again, so a crash-looping container produces one `BackOff` line with
//! `(x12 over 3m)` rather than twelve objects. Recording never fails or delays the caller:
//! an Event is best effort, posted in the background (a bounded number at a time), and
//! errors are logged.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::Mutex;

/// `Normal` or `Warning`, the two Event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something the user may need to act on.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Remembered Events are forgotten beyond this many, oldest first.
const CACHE_LIMIT: usize = 4096;

/// Posts Events on behalf of one component (e.g. `kubelet` on node `n1`).
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    source: EventSource,
    seen: Arc<Mutex<Seen>>,
    /// Posts in flight at once: Events must not crowd out the component's real work.
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// Posts in flight at most.
const IN_FLIGHT: usize = 8;

#[derive(Default)]
struct Seen {
    /// Key -> (event namespace, event name, count).
    events: HashMap<String, (String, String, i32)>,
    order: std::collections::VecDeque<String>,
}

impl Recorder {
    /// A recorder for `component` (`default-scheduler`, `kubelet`, ...), on `host` if any.
    pub fn new(client: kube::Client, component: &str, host: Option<&str>) -> Recorder {
        Recorder {
            client,
            source: EventSource {
                component: Some(component.to_string()),
                host: host.map(str::to_string),
            },
            seen: Arc::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
        }
    }

    /// Record that `reason` happened to `object`, with a human `message`. Returns at once;
    /// the Event is posted in the background.
    pub async fn publish(
        &self,
        object: &ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        let this = self.clone();
        let object = object.clone();
        let (reason, message) = (reason.to_string(), message.to_string());
        tokio::spawn(async move {
            let Ok(_permit) = this.in_flight.acquire().await else {
                return;
            };
            if let Err(e) = this.try_publish(&object, kind, &reason, &message).await {
                tracing::debug!(error = %e, reason, "recording an event");
            }
        });
    }

    async fn try_publish(
        &self,
        object: &ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), kube::Error> {
        let namespace = object
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let key = format!(
            "{}/{}/{}/{}/{}/{}",
            namespace,
            object.uid.as_deref().unwrap_or(""),
            object.field_path.as_deref().unwrap_or(""),
            kind.as_str(),
            reason,
            message
        );
        let now = Time(jiff::Timestamp::now());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        // The lock guards only the cache, never a request: Events of different objects are
        // posted concurrently.
        let existing = {
            let mut seen = self.seen.lock().await;
            seen.events.get_mut(&key).map(|entry| {
                entry.2 += 1;
                entry.clone()
            })
        };
        if let Some((ns, name, count)) = existing {
            let patch = json!({"count": count, "lastTimestamp": now});
            let events: Api<Event> = Api::namespaced(self.client.clone(), &ns);
            if events
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .is_ok()
            {
                return Ok(());
            }
            // The Event expired or was deleted: post a fresh one.
            self.seen.lock().await.events.remove(&key);
        }
        let name = format!(
            "{}.{:x}",
            object.name.as_deref().unwrap_or("unknown"),
            jiff::Timestamp::now().as_nanosecond()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: object.clone(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(kind.as_str().to_string()),
            source: Some(self.source.clone()),
            reporting_component: self.source.component.clone(),
            reporting_instance: self.source.host.clone(),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Event::default()
        };
        api.create(&PostParams::default(), &event).await?;
        let mut seen = self.seen.lock().await;
        seen.order.push_back(key.clone());
        seen.events.insert(key, (namespace, name, 1));
        while seen.order.len() > CACHE_LIMIT {
            if let Some(old) = seen.order.pop_front() {
                seen.events.remove(&old);
            }
        }
        Ok(())
    }
}

/// A reference to a namespaced object for [`Recorder::publish`].
pub fn reference(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    uid: Option<&str>,
) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(kind.to_string()),
        namespace: namespace.map(str::to_string),
        name: Some(name.to_string()),
        uid: uid.map(str::to_string),
        ..ObjectReference::default()
    }
}
