//! The registry of kinds the API serves: for each resource its group, version, plural and
//! singular names, scope, short names, categories and subresources, its typed model (decode
//! into the k8s-openapi type and encode back, which the API server uses to reject unknown
//! fields and to store objects in canonical form, and the OpenAPI schema) and its
//! [`Strategy`].
//!
//! The built-in kinds are listed in [`crate::kinds`]; a [`Registry`] starts with them and can
//! gain and lose kinds while the server runs (custom resources). Readers take a [`Kinds`]
//! snapshot, which never changes under them.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock, RwLock};

use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::strategy::Strategy;

/// A subresource served under `/<resource>/<name>/<subresource>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// `/status`: writes change only `.status`.
    Status,
    /// `/scale`: an `autoscaling/v1` Scale view of `spec.replicas`.
    Scale,
    /// `pods/binding`: assigns a node.
    Binding,
    /// `pods/eviction`: a policy/v1 Eviction, honouring disruption budgets.
    Eviction,
    /// `pods/log`: a container's log, proxied to the node agent.
    Log,
    /// `pods/exec`: a command run in a container, streamed through the node agent.
    Exec,
    /// `pods/attach`: the stdio of a container's main process, streamed through the node agent.
    Attach,
    /// `pods/portforward`: TCP connections to the pod's ports, streamed through the node agent.
    PortForward,
    /// `serviceaccounts/token`.
    Token,
}

impl Subresource {
    /// The last segment of the subresource's URL (`status`, `portforward`).
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Eviction => "eviction",
            Subresource::Log => "log",
            Subresource::Exec => "exec",
            Subresource::Attach => "attach",
            Subresource::PortForward => "portforward",
            Subresource::Token => "token",
        }
    }

    /// The kind a subresource speaks, as discovery reports it.
    pub fn kind(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Subresource::Scale => ("autoscaling", "v1", "Scale"),
            Subresource::Binding => ("", "v1", "Binding"),
            Subresource::Eviction => ("policy", "v1", "Eviction"),
            Subresource::Token => ("authentication.k8s.io", "v1", "TokenRequest"),
            Subresource::Log | Subresource::Exec | Subresource::Attach => ("", "v1", "Pod"),
            Subresource::PortForward => ("", "v1", "Pod"),
            Subresource::Status => ("", "", ""),
        }
    }

    /// The verbs discovery lists for the subresource.
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Subresource::Status | Subresource::Scale => &["get", "patch", "update"],
            Subresource::Binding | Subresource::Eviction | Subresource::Token => &["create"],
            Subresource::Log => &["get"],
            Subresource::Exec | Subresource::Attach | Subresource::PortForward => {
                &["create", "get"]
            }
        }
    }
}

/// The verbs every stored kind supports.
pub const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Verbs of the review kinds that are created and answered, never stored.
pub const CREATE_ONLY_VERBS: &[&str] = &["create"];

/// The typed model of a kind: how its objects are brought into canonical form and described
/// in OpenAPI.
pub trait Model: Send + Sync {
    /// Decode into the typed model and encode back: drops nothing a real client sends, and
    /// yields the canonical form (the basis of strict field validation).
    fn normalize(&self, obj: Value) -> Result<Value, serde_json::Error>;

    /// The OpenAPI schema of the type.
    fn schema(&self, gen: &mut schemars::SchemaGenerator) -> schemars::Schema;

    /// The schema's name (`io.k8s.api.apps.v1.Deployment`).
    fn schema_name(&self) -> String;
}

/// The model of a k8s-openapi type.
pub struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Typed<T> {
    /// The model of `T`.
    pub fn new() -> Self {
        Typed(PhantomData)
    }
}

impl<T> Default for Typed<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Model for Typed<T>
where
    T: DeserializeOwned + Serialize + schemars::JsonSchema,
{
    fn normalize(&self, obj: Value) -> Result<Value, serde_json::Error> {
        let typed: T = serde_json::from_value(obj)?;
        serde_json::to_value(typed)
    }

    fn schema(&self, gen: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(gen)
    }

    fn schema_name(&self) -> String {
        T::schema_name().into_owned()
    }
}

/// The model of a kind without a typed definition: objects are kept as sent, and the schema
/// only says they are objects whose fields are not pruned.
pub struct Unstructured {
    schema_name: String,
}

impl Unstructured {
    /// `schema_name` names the kind's schema in OpenAPI documents (`com.example.v1.Widget`).
    pub fn new(schema_name: impl Into<String>) -> Self {
        Unstructured {
            schema_name: schema_name.into(),
        }
    }
}

impl Model for Unstructured {
    fn normalize(&self, obj: Value) -> Result<Value, serde_json::Error> {
        if obj.is_object() {
            Ok(obj)
        } else {
            Err(serde::de::Error::custom("an object must be a JSON object"))
        }
    }

    fn schema(&self, _gen: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        })
    }

    fn schema_name(&self) -> String {
        self.schema_name.clone()
    }
}

/// Everything the API server knows about one resource.
pub struct KindInfo {
    /// The API group, empty for the core group (`""`, `apps`).
    pub group: String,
    /// The group's version (`v1`).
    pub version: String,
    /// The kind's name (`Deployment`).
    pub kind: String,
    /// The kind of a list of these objects (`DeploymentList`).
    pub list_kind: String,
    /// The plural, lower-case resource name used in URLs.
    pub resource: String,
    /// The lower-case singular name (`deployment`), which kubectl also accepts.
    pub singular: String,
    /// Whether objects live in a namespace (`false`: cluster-scoped).
    pub namespaced: bool,
    /// Abbreviations kubectl accepts for the resource (`deploy`).
    pub short_names: Vec<String>,
    /// Groups of resources kubectl can name at once (`all`).
    pub categories: Vec<String>,
    /// The subresources served under each object.
    pub subresources: Vec<Subresource>,
    /// The verbs served: [`STANDARD_VERBS`] for stored kinds, [`CREATE_ONLY_VERBS`] for reviews.
    pub verbs: &'static [&'static str],
    /// How objects are normalized and described in OpenAPI.
    pub model: Arc<dyn Model>,
    /// The kind's defaulting, validation and write rules.
    pub strategy: Arc<dyn Strategy>,
}

impl fmt::Debug for KindInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KindInfo")
            .field("group", &self.group)
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("resource", &self.resource)
            .field("namespaced", &self.namespaced)
            .finish_non_exhaustive()
    }
}

impl KindInfo {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the kind serves subresource `sub`.
    pub fn has(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// Whether objects of this kind are kept in the store (review kinds are not).
    pub fn is_stored(&self) -> bool {
        self.verbs.contains(&"get")
    }

    /// See [`Model::normalize`].
    pub fn normalize(&self, obj: Value) -> Result<Value, serde_json::Error> {
        self.model.normalize(obj)
    }

    /// The storage key prefix for all objects of this kind (`/registry/apps/deployments/`).
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group.as_str()
        };
        format!("/registry/{group}/{}/", self.resource)
    }

    /// The storage key prefix for one namespace, or for all of a cluster-scoped kind.
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }

    /// The storage key of one object (`/registry/apps/deployments/default/web`).
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.namespace_prefix(namespace))
    }
}

/// Scope of a k8s-openapi type, as a constant.
pub trait Scope {
    /// Whether objects of the type live in a namespace.
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// Discovery facts of a kind beyond what its type says.
pub struct Facts {
    /// See [`KindInfo::short_names`].
    pub short_names: &'static [&'static str],
    /// See [`KindInfo::categories`].
    pub categories: &'static [&'static str],
    /// See [`KindInfo::subresources`].
    pub subresources: &'static [Subresource],
    /// See [`KindInfo::verbs`].
    pub verbs: &'static [&'static str],
}

impl Facts {
    /// A stored kind with the standard verbs.
    pub const fn stored(
        short_names: &'static [&'static str],
        categories: &'static [&'static str],
        subresources: &'static [Subresource],
    ) -> Facts {
        Facts {
            short_names,
            categories,
            subresources,
            verbs: STANDARD_VERBS,
        }
    }

    /// A kind that is created and answered, never stored.
    pub const fn answered() -> Facts {
        Facts {
            short_names: &[],
            categories: &[],
            subresources: &[],
            verbs: CREATE_ONLY_VERBS,
        }
    }
}

/// The entry of a k8s-openapi type served as `resource` with `strategy`.
pub fn typed<T>(resource: &str, facts: Facts, strategy: impl Strategy + 'static) -> KindInfo
where
    T: Resource + DeserializeOwned + Serialize + schemars::JsonSchema + 'static,
    T::Scope: Scope,
{
    let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    KindInfo {
        group: T::GROUP.to_string(),
        version: T::VERSION.to_string(),
        kind: T::KIND.to_string(),
        list_kind: format!("{}List", T::KIND),
        resource: resource.to_string(),
        singular: T::KIND.to_ascii_lowercase(),
        namespaced: <T::Scope as Scope>::NAMESPACED,
        short_names: owned(facts.short_names),
        categories: owned(facts.categories),
        subresources: facts.subresources.to_vec(),
        verbs: facts.verbs,
        model: Arc::new(Typed::<T>::new()),
        strategy: Arc::new(strategy),
    }
}

/// A set of kinds, indexed for lookup by URL and by kind. Never changes once built: a
/// [`Registry`] change makes a new one.
#[derive(Default, Clone)]
pub struct Kinds {
    kinds: Vec<Arc<KindInfo>>,
    by_resource: BTreeMap<(String, String, String), usize>,
    /// Per group/version, the registry generation at which it last changed (0 for the
    /// built-in set), so derived documents can be cached until their group/version changes.
    stamps: BTreeMap<(String, String), u64>,
    generation: u64,
}

impl Kinds {
    fn new(kinds: Vec<Arc<KindInfo>>) -> Self {
        let mut set = Kinds {
            kinds,
            ..Kinds::default()
        };
        set.reindex();
        for k in &set.kinds {
            set.stamps
                .entry((k.group.clone(), k.version.clone()))
                .or_insert(0);
        }
        set
    }

    fn reindex(&mut self) {
        self.by_resource = self
            .kinds
            .iter()
            .enumerate()
            .map(|(i, k)| ((k.group.clone(), k.version.clone(), k.resource.clone()), i))
            .collect();
    }

    /// Every kind served: the built-in ones first, then added ones in order of registration.
    pub fn all(&self) -> &[Arc<KindInfo>] {
        &self.kinds
    }

    /// The kind served as `resource` (plural, as in URLs) in `group/version`; core is `""`.
    pub fn by_resource(
        &self,
        group: &str,
        version: &str,
        resource: &str,
    ) -> Option<&Arc<KindInfo>> {
        self.by_resource
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
            .map(|&i| &self.kinds[i])
    }

    /// The kind named `kind` in `group/version`.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<&Arc<KindInfo>> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.kind == kind)
    }

    /// The group/versions served, in discovery order (core first, then in order of
    /// registration).
    pub fn group_versions(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for k in &self.kinds {
            if !out.iter().any(|(g, v)| *g == k.group && *v == k.version) {
                out.push((k.group.clone(), k.version.clone()));
            }
        }
        out
    }

    /// The kinds of one group/version, in registration order.
    pub fn kinds_in<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<KindInfo>> + 'a {
        self.kinds
            .iter()
            .filter(move |k| k.group == group && k.version == version)
    }

    /// The generation at which `group/version` last changed (`None`: not served).
    pub fn stamp(&self, group: &str, version: &str) -> Option<u64> {
        self.stamps
            .get(&(group.to_string(), version.to_string()))
            .copied()
    }

    /// How many changes the registry had seen when this set was made.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Why the registry refused a change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// Built-in kinds cannot be replaced or removed.
    #[error("{resource}.{group}/{version} is built in and cannot be replaced or removed")]
    BuiltIn {
        /// The group of the resource that was to change.
        group: String,
        /// Its version.
        version: String,
        /// Its plural resource name.
        resource: String,
    },
}

/// The kinds one API server serves: the built-in ones, plus those added while it runs.
pub struct Registry {
    current: RwLock<Arc<Kinds>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::with_builtins()
    }
}

impl Registry {
    /// A registry of the built-in kinds.
    pub fn with_builtins() -> Registry {
        Registry {
            current: RwLock::new(Arc::new(builtin().clone())),
        }
    }

    /// The kinds served now.
    pub fn snapshot(&self) -> Arc<Kinds> {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&guard)
    }

    /// Serve `info`, replacing an added kind with the same group, version and resource.
    pub fn register(&self, info: KindInfo) -> Result<Arc<KindInfo>, RegistryError> {
        let info = Arc::new(info);
        self.change(
            &info.group,
            &info.version,
            &info.resource,
            |kinds, at| match at {
                Some(i) => kinds[i] = Arc::clone(&info),
                None => kinds.push(Arc::clone(&info)),
            },
        )?;
        Ok(info)
    }

    /// Stop serving an added kind; `Ok(false)` when it was not served.
    pub fn unregister(
        &self,
        group: &str,
        version: &str,
        resource: &str,
    ) -> Result<bool, RegistryError> {
        let mut removed = false;
        self.change(group, version, resource, |kinds, at| {
            if let Some(i) = at {
                kinds.remove(i);
                removed = true;
            }
        })?;
        Ok(removed)
    }

    fn change(
        &self,
        group: &str,
        version: &str,
        resource: &str,
        edit: impl FnOnce(&mut Vec<Arc<KindInfo>>, Option<usize>),
    ) -> Result<(), RegistryError> {
        if builtin().by_resource(group, version, resource).is_some() {
            return Err(RegistryError::BuiltIn {
                group: group.to_string(),
                version: version.to_string(),
                resource: resource.to_string(),
            });
        }
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        let mut next = Kinds::clone(&guard);
        let at =
            next.by_resource
                .get(&(group.to_string(), version.to_string(), resource.to_string()));
        edit(&mut next.kinds, at.copied());
        next.reindex();
        next.generation += 1;
        let gv = (group.to_string(), version.to_string());
        if next
            .kinds
            .iter()
            .any(|k| k.group == gv.0 && k.version == gv.1)
        {
            next.stamps.insert(gv, next.generation);
        } else {
            next.stamps.remove(&gv);
        }
        *guard = Arc::new(next);
        Ok(())
    }
}

/// The built-in kinds, the same for every server.
pub fn builtin() -> &'static Kinds {
    static BUILTIN: LazyLock<Kinds> =
        LazyLock::new(|| Kinds::new(crate::kinds::builtin().into_iter().map(Arc::new).collect()));
    &BUILTIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_kinds_by_url_and_kind() {
        let r = builtin();
        let d = r
            .by_resource("apps", "v1", "deployments")
            .map(|k| k.kind.as_str());
        assert_eq!(d, Some("Deployment"));
        let ns = r.by_kind("", "v1", "Namespace");
        assert_eq!(ns.map(|k| k.namespaced), Some(false));
        assert!(r
            .by_resource("", "v1", "pods")
            .is_some_and(|k| k.namespaced));
        assert!(r.by_resource("apps", "v1", "pods").is_none());
    }

    #[test]
    fn normalize_rejects_wrong_types_and_drops_unknown_fields() {
        let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"bogus":1}"#;
        let v: Value = serde_json::from_str(pod).unwrap_or_default();
        let info = builtin().by_kind("", "v1", "Pod");
        let out = info.map(|k| k.normalize(v));
        let out = out.and_then(|r| r.ok()).unwrap_or_default();
        assert!(out.get("bogus").is_none());
        assert_eq!(out["metadata"]["name"], "a");
        let bad = serde_json::json!({"metadata": {"name": 5}});
        assert!(info.map(|k| k.normalize(bad).is_err()).unwrap_or(false));
    }

    #[test]
    fn keys_are_scoped() {
        let r = builtin();
        let pods = r
            .by_resource("", "v1", "pods")
            .map(|k| k.key(Some("default"), "web"));
        assert_eq!(pods.as_deref(), Some("/registry/core/pods/default/web"));
        let nodes = r.by_resource("", "v1", "nodes").map(|k| k.key(None, "n1"));
        assert_eq!(nodes.as_deref(), Some("/registry/core/nodes/n1"));
    }

    fn widget() -> KindInfo {
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
            strategy: Arc::new(crate::strategy::Custom),
        }
    }

    #[test]
    fn kinds_come_and_go_while_snapshots_stay_as_they_were() {
        let r = Registry::with_builtins();
        let before = r.snapshot();
        assert!(r.register(widget()).is_ok());
        let during = r.snapshot();
        assert!(before.by_resource("example.com", "v1", "widgets").is_none());
        let w = during.by_resource("example.com", "v1", "widgets");
        assert_eq!(w.map(|k| k.kind.as_str()), Some("Widget"));
        assert!(during
            .group_versions()
            .contains(&("example.com".to_string(), "v1".to_string())));
        // Only the changed group/version gets a new stamp.
        assert_eq!(during.stamp("apps", "v1"), before.stamp("apps", "v1"));
        assert!(during.stamp("example.com", "v1") > Some(0));
        // Registering again replaces the entry.
        let mut again = widget();
        again.short_names = vec!["wdg".into()];
        assert!(r.register(again).is_ok());
        let replaced = r.snapshot();
        assert_eq!(replaced.kinds_in("example.com", "v1").count(), 1);
        assert!(replaced.stamp("example.com", "v1") > during.stamp("example.com", "v1"));
        assert_eq!(r.unregister("example.com", "v1", "widgets"), Ok(true));
        assert_eq!(r.unregister("example.com", "v1", "widgets"), Ok(false));
        let after = r.snapshot();
        assert!(after.by_resource("example.com", "v1", "widgets").is_none());
        assert_eq!(after.stamp("example.com", "v1"), None);
        assert_eq!(after.all().len(), before.all().len());
    }

    #[test]
    fn built_in_kinds_cannot_be_replaced_or_removed() {
        let r = Registry::with_builtins();
        let mut pods = widget();
        pods.group = String::new();
        pods.resource = "pods".into();
        assert!(matches!(
            r.register(pods),
            Err(RegistryError::BuiltIn { .. })
        ));
        assert!(r.unregister("apps", "v1", "deployments").is_err());
        assert!(r.snapshot().by_resource("", "v1", "pods").is_some());
    }

    #[test]
    fn unstructured_objects_are_kept_as_sent() {
        let model = Unstructured::new("com.example.v1.Widget");
        let obj = serde_json::json!({"spec": {"anything": [1, 2]}, "metadata": {"name": "a"}});
        assert_eq!(model.normalize(obj.clone()).ok(), Some(obj));
        assert!(model.normalize(serde_json::json!([1])).is_err());
    }
}
