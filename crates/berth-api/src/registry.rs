//! The registry of kinds the API serves: for each resource its group, version, plural and
//! singular names, scope, short names, categories and subresources, plus the typed
//! normalisation (decode into the k8s-openapi type and encode back) that the API server uses to
//! reject unknown fields and to store objects in canonical form.
//!
//! One table drives every generic handler: adding a kind is one line here.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

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
    /// Streaming subresources proxied to the node agent.
    Log,
    Exec,
    Attach,
    PortForward,
    /// `serviceaccounts/token`.
    Token,
}

impl Subresource {
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

type Normalize = fn(Value) -> Result<Value, serde_json::Error>;
type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// Everything the API server knows about one resource.
#[derive(Debug, Clone)]
pub struct KindInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub list_kind: String,
    /// The plural, lower-case resource name used in URLs.
    pub resource: &'static str,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    pub verbs: &'static [&'static str],
    /// Decode into the typed struct and encode back: drops nothing a real client sends, and
    /// yields the canonical form (the basis of strict field validation).
    pub normalize: Normalize,
    /// The OpenAPI schema of the type.
    pub schema: SchemaFn,
    /// The schema name (`io.k8s.api.apps.v1.Deployment`).
    pub schema_name: String,
}

impl KindInfo {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn has(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// Whether objects of this kind are kept in the store (review kinds are not).
    pub fn is_stored(&self) -> bool {
        self.verbs.contains(&"get")
    }

    /// The storage key prefix for all objects of this kind (`/registry/apps/deployments/`).
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
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

    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.namespace_prefix(namespace))
    }
}

/// Scope of a k8s-openapi type, as a constant.
pub trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

fn normalize<T: DeserializeOwned + Serialize>(v: Value) -> Result<Value, serde_json::Error> {
    let typed: T = serde_json::from_value(v)?;
    serde_json::to_value(typed)
}

fn schema_of<T: schemars::JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    T::json_schema(g)
}

struct Extra {
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [Subresource],
    verbs: &'static [&'static str],
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const STATUS: &[Subresource] = &[Subresource::Status];
const SCALED: &[Subresource] = &[Subresource::Status, Subresource::Scale];

fn extra(
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [Subresource],
) -> Extra {
    Extra {
        short_names,
        categories,
        subresources,
        verbs: STANDARD_VERBS,
    }
}

fn entry<T>(resource: &'static str, e: Extra) -> KindInfo
where
    T: Resource + DeserializeOwned + Serialize + schemars::JsonSchema,
    T::Scope: Scope,
{
    KindInfo {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        list_kind: format!("{}List", T::KIND),
        resource,
        singular: T::KIND.to_ascii_lowercase(),
        namespaced: <T::Scope as Scope>::NAMESPACED,
        short_names: e.short_names,
        categories: e.categories,
        subresources: e.subresources,
        verbs: e.verbs,
        normalize: normalize::<T>,
        schema: schema_of::<T>,
        schema_name: T::schema_name().into_owned(),
    }
}

/// All kinds Berth serves, keyed for lookup by URL and by kind.
pub struct Registry {
    kinds: Vec<KindInfo>,
    by_resource: BTreeMap<(String, String, String), usize>,
}

impl Registry {
    fn new(kinds: Vec<KindInfo>) -> Self {
        let by_resource = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| {
                (
                    (
                        k.group.to_string(),
                        k.version.to_string(),
                        k.resource.to_string(),
                    ),
                    i,
                )
            })
            .collect();
        Registry { kinds, by_resource }
    }

    pub fn all(&self) -> &[KindInfo] {
        &self.kinds
    }

    pub fn by_resource(&self, group: &str, version: &str, resource: &str) -> Option<&KindInfo> {
        self.by_resource
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
            .map(|&i| &self.kinds[i])
    }

    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<&KindInfo> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.kind == kind)
    }

    /// The group/versions served, in discovery order (core first).
    pub fn group_versions(&self) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<(&'static str, &'static str)> = Vec::new();
        for k in &self.kinds {
            if !out.contains(&(k.group, k.version)) {
                out.push((k.group, k.version));
            }
        }
        out
    }

    pub fn kinds_in(&self, group: &str, version: &str) -> impl Iterator<Item = &KindInfo> {
        let (g, v) = (group.to_string(), version.to_string());
        self.kinds
            .iter()
            .filter(move |k| k.group == g && k.version == v)
    }
}

/// The process-wide registry of built-in kinds.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry::new(builtin_kinds()));
    &REGISTRY
}

fn builtin_kinds() -> Vec<KindInfo> {
    use k8s_openapi::api::{
        apps::v1 as apps, authentication::v1 as authn, authorization::v1 as authz,
        autoscaling::v1 as as1, autoscaling::v2 as as2, batch::v1 as batch,
        coordination::v1 as coord, core::v1 as core, discovery::v1 as disc, events::v1 as ev,
        networking::v1 as net, node::v1 as node, policy::v1 as policy, rbac::v1 as rbac,
        scheduling::v1 as sched, storage::v1 as storage,
    };
    const POD_SUBS: &[Subresource] = &[
        Subresource::Status,
        Subresource::Binding,
        Subresource::Eviction,
        Subresource::Log,
        Subresource::Exec,
        Subresource::Attach,
        Subresource::PortForward,
    ];
    let review = |e: Extra| Extra {
        verbs: CREATE_ONLY_VERBS,
        ..e
    };
    vec![
        // core/v1
        entry::<core::Namespace>("namespaces", extra(&["ns"], NONE, STATUS)),
        entry::<core::Pod>("pods", extra(&["po"], ALL, POD_SUBS)),
        entry::<core::Node>("nodes", extra(&["no"], NONE, STATUS)),
        entry::<core::Service>("services", extra(&["svc"], ALL, STATUS)),
        entry::<core::Endpoints>("endpoints", extra(&["ep"], NONE, NONE_SUBS)),
        entry::<core::ConfigMap>("configmaps", extra(&["cm"], NONE, NONE_SUBS)),
        entry::<core::Secret>("secrets", extra(NONE, NONE, NONE_SUBS)),
        entry::<core::ServiceAccount>(
            "serviceaccounts",
            extra(&["sa"], NONE, &[Subresource::Token]),
        ),
        entry::<core::Event>("events", extra(&["ev"], NONE, NONE_SUBS)),
        entry::<core::PersistentVolume>("persistentvolumes", extra(&["pv"], NONE, STATUS)),
        entry::<core::PersistentVolumeClaim>(
            "persistentvolumeclaims",
            extra(&["pvc"], NONE, STATUS),
        ),
        entry::<core::LimitRange>("limitranges", extra(&["limits"], NONE, NONE_SUBS)),
        entry::<core::ResourceQuota>("resourcequotas", extra(&["quota"], NONE, STATUS)),
        entry::<core::ReplicationController>("replicationcontrollers", extra(&["rc"], ALL, SCALED)),
        entry::<core::PodTemplate>("podtemplates", extra(NONE, NONE, NONE_SUBS)),
        // apps/v1
        entry::<apps::Deployment>("deployments", extra(&["deploy"], ALL, SCALED)),
        entry::<apps::ReplicaSet>("replicasets", extra(&["rs"], ALL, SCALED)),
        entry::<apps::DaemonSet>("daemonsets", extra(&["ds"], ALL, STATUS)),
        entry::<apps::StatefulSet>("statefulsets", extra(&["sts"], ALL, SCALED)),
        entry::<apps::ControllerRevision>("controllerrevisions", extra(NONE, NONE, NONE_SUBS)),
        // batch/v1
        entry::<batch::Job>("jobs", extra(NONE, ALL, STATUS)),
        entry::<batch::CronJob>("cronjobs", extra(&["cj"], ALL, STATUS)),
        // autoscaling
        entry::<as2::HorizontalPodAutoscaler>(
            "horizontalpodautoscalers",
            extra(&["hpa"], ALL, STATUS),
        ),
        entry::<as1::HorizontalPodAutoscaler>(
            "horizontalpodautoscalers",
            extra(&["hpa"], ALL, STATUS),
        ),
        // discovery, networking, coordination, events
        entry::<disc::EndpointSlice>("endpointslices", extra(NONE, NONE, NONE_SUBS)),
        entry::<net::Ingress>("ingresses", extra(&["ing"], NONE, STATUS)),
        entry::<net::IngressClass>("ingressclasses", extra(NONE, NONE, NONE_SUBS)),
        entry::<net::NetworkPolicy>("networkpolicies", extra(&["netpol"], NONE, NONE_SUBS)),
        entry::<coord::Lease>("leases", extra(NONE, NONE, NONE_SUBS)),
        entry::<ev::Event>("events", extra(&["ev"], NONE, NONE_SUBS)),
        // rbac, storage, policy, scheduling, node
        entry::<rbac::Role>("roles", extra(NONE, NONE, NONE_SUBS)),
        entry::<rbac::RoleBinding>("rolebindings", extra(NONE, NONE, NONE_SUBS)),
        entry::<rbac::ClusterRole>("clusterroles", extra(NONE, NONE, NONE_SUBS)),
        entry::<rbac::ClusterRoleBinding>("clusterrolebindings", extra(NONE, NONE, NONE_SUBS)),
        entry::<storage::StorageClass>("storageclasses", extra(&["sc"], NONE, NONE_SUBS)),
        entry::<storage::CSIDriver>("csidrivers", extra(NONE, NONE, NONE_SUBS)),
        entry::<storage::CSINode>("csinodes", extra(NONE, NONE, NONE_SUBS)),
        entry::<storage::VolumeAttachment>("volumeattachments", extra(NONE, NONE, STATUS)),
        entry::<policy::PodDisruptionBudget>("poddisruptionbudgets", extra(&["pdb"], NONE, STATUS)),
        entry::<sched::PriorityClass>("priorityclasses", extra(&["pc"], NONE, NONE_SUBS)),
        entry::<node::RuntimeClass>("runtimeclasses", extra(NONE, NONE, NONE_SUBS)),
        // authentication and authorization: answered, never stored
        entry::<authn::SelfSubjectReview>(
            "selfsubjectreviews",
            review(extra(NONE, NONE, NONE_SUBS)),
        ),
        entry::<authn::TokenReview>("tokenreviews", review(extra(NONE, NONE, NONE_SUBS))),
        entry::<authz::SelfSubjectAccessReview>(
            "selfsubjectaccessreviews",
            review(extra(NONE, NONE, NONE_SUBS)),
        ),
        entry::<authz::SubjectAccessReview>(
            "subjectaccessreviews",
            review(extra(NONE, NONE, NONE_SUBS)),
        ),
        entry::<authz::SelfSubjectRulesReview>(
            "selfsubjectrulesreviews",
            review(extra(NONE, NONE, NONE_SUBS)),
        ),
    ]
}

const NONE_SUBS: &[Subresource] = &[];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_kinds_by_url_and_kind() {
        let r = registry();
        let d = r.by_resource("apps", "v1", "deployments").map(|k| k.kind);
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
        let info = registry().by_kind("", "v1", "Pod");
        let out = info.map(|k| (k.normalize)(v));
        let out = out.and_then(|r| r.ok()).unwrap_or_default();
        assert!(out.get("bogus").is_none());
        assert_eq!(out["metadata"]["name"], "a");
        let bad = serde_json::json!({"metadata": {"name": 5}});
        assert!(info.map(|k| (k.normalize)(bad).is_err()).unwrap_or(false));
    }

    #[test]
    fn keys_are_scoped() {
        let r = registry();
        let pods = r
            .by_resource("", "v1", "pods")
            .map(|k| k.key(Some("default"), "web"));
        assert_eq!(pods.as_deref(), Some("/registry/core/pods/default/web"));
        let nodes = r.by_resource("", "v1", "nodes").map(|k| k.key(None, "n1"));
        assert_eq!(nodes.as_deref(), Some("/registry/core/nodes/n1"));
    }
}
