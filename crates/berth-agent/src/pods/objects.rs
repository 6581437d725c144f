//! The ConfigMaps and Secrets the node's pods use, each followed by a watch of that one
//! object (the kubelet's watch-based manager) instead of a GET per pod at every resync: 200
//! pods on their 10 s resync asked the API server 20 times a second for the same
//! `kube-root-ca.crt`. The watch also wakes the workers of the pods using an object when it
//! changes, so an updated ConfigMap reaches its volumes at once instead of at the next resync.
//! A watch ends when no pod uses its object any more.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

/// How long a first read waits for its watch before asking the API server directly.
const FIRST_READ: Duration = Duration::from_secs(5);

/// `namespace/name`.
type Key = (String, String);
/// The pods using an object, by uid, with their workers' wake-up channels.
type Users = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<()>>>>;
/// Not known yet (`None`), absent (`Some(None)`) or the object.
type Known<K> = Option<Option<Arc<K>>>;

struct Entry<K> {
    value: watch::Receiver<Known<K>>,
    users: Users,
    task: tokio::task::JoinHandle<()>,
}

impl<K> Drop for Entry<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Objects of kind `K` followed for the node's pods.
pub struct ObjectCache<K> {
    client: kube::Client,
    entries: Mutex<HashMap<Key, Entry<K>>>,
}

impl<K> ObjectCache<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    /// An empty cache reading through `client`.
    pub fn new(client: kube::Client) -> Self {
        ObjectCache {
            client,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The object `namespace/name` (`None`: it does not exist), for the pod `uid` whose
    /// worker `wake` is woken whenever it changes from now on.
    pub async fn get(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        wake: &mpsc::UnboundedSender<()>,
    ) -> Result<Option<K>, kube::Error> {
        let key = (namespace.to_string(), name.to_string());
        let mut value = {
            let Ok(mut entries) = self.entries.lock() else {
                return self.read(namespace, name).await;
            };
            let entry = entries
                .entry(key)
                .or_insert_with(|| self.follow(namespace, name));
            if let Ok(mut users) = entry.users.lock() {
                users.insert(uid.to_string(), wake.clone());
            }
            entry.value.clone()
        };
        let known = tokio::time::timeout(FIRST_READ, value.wait_for(Option::is_some))
            .await
            .ok()
            .and_then(|r| r.ok().map(|v| v.clone().flatten()));
        match known {
            Some(v) => Ok(v.map(|k| K::clone(&k))),
            // The watch is not answering (yet): ask directly this time.
            None => self.read(namespace, name).await,
        }
    }

    /// The pod `uid` uses, in `namespace`, only the objects named in `keep`: it stops being
    /// woken by the others, whose watches end when nobody uses them.
    pub fn keep_only(&self, uid: &str, namespace: &str, keep: &HashSet<String>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        entries.retain(|(ns, name), entry| {
            if ns == namespace && keep.contains(name) {
                return true;
            }
            let Ok(mut users) = entry.users.lock() else {
                return true;
            };
            users.remove(uid);
            !users.is_empty()
        });
    }

    /// How many objects are followed.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    /// Whether no object is followed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn read(&self, namespace: &str, name: &str) -> Result<Option<K>, kube::Error> {
        Api::<K>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
    }

    fn follow(&self, namespace: &str, name: &str) -> Entry<K> {
        let (tx, value) = watch::channel(None);
        let users: Users = Arc::default();
        let api = Api::<K>::namespaced(self.client.clone(), namespace);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let task = tokio::spawn(follow(api, config, tx, users.clone()));
        Entry { value, users, task }
    }
}

/// Keep `tx` at the object's latest state, waking `users` when it changes.
async fn follow<K>(api: Api<K>, config: watcher::Config, tx: watch::Sender<Known<K>>, users: Users)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let stream = watcher(api, config).default_backoff();
    futures::pin_mut!(stream);
    // Whether a (re)list found the object.
    let mut listed = false;
    while let Some(event) = stream.next().await {
        let now = match event {
            Ok(watcher::Event::Init) => {
                listed = false;
                continue;
            }
            Ok(watcher::Event::InitApply(o)) => {
                listed = true;
                Some(Arc::new(o))
            }
            Ok(watcher::Event::InitDone) if listed => continue,
            Ok(watcher::Event::InitDone) | Ok(watcher::Event::Delete(_)) => None,
            Ok(watcher::Event::Apply(o)) => Some(Arc::new(o)),
            Err(e) => {
                tracing::debug!(error = %e, "following an object for the node's pods");
                continue;
            }
        };
        let version = |v: &Option<Arc<K>>| {
            v.as_ref()
                .map(|o| o.meta().resource_version.clone().unwrap_or_default())
        };
        let before = tx.send_replace(Some(now.clone()));
        // The first answer wakes nobody: whoever asked is waiting for it.
        if let Some(before) = before {
            if version(&before) != version(&now) {
                if let Ok(users) = users.lock() {
                    for wake in users.values() {
                        let _ = wake.send(());
                    }
                }
            }
        }
    }
}
