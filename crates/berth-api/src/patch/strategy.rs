//! The table of list merge strategies for the built-in kinds: Kubernetes'
//! `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` facts (the `patchStrategy` and
//! `patchMergeKey` struct tags of the Go API types), which the strategic merge engine consults.
//!
//! The same Go type is reachable from many kinds (a PodSpec sits at `spec` in a Pod, at
//! `spec.template.spec` in a Deployment, at `spec.jobTemplate.spec.template.spec` in a CronJob),
//! so the table is a small type graph rather than a list of paths: each kind's strategy names
//! the type of a whole object (`Strategy::merge_root`) and [`field`] steps from a type to the
//! type of one of its fields. Anything
//! the graph does not know gets the default behaviour: maps merge, lists are replaced.

/// A Go API type whose fields carry patch strategies (or lead to types that do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiType {
    /// core/v1 Pod.
    Pod,
    /// core/v1 PodTemplate.
    PodTemplate,
    /// core/v1 ReplicationController.
    ReplicationController,
    /// core/v1 Service.
    Service,
    /// core/v1 Node.
    Node,
    /// core/v1 Namespace.
    Namespace,
    /// core/v1 PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// core/v1 ServiceAccount.
    ServiceAccount,
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// batch/v1 Job.
    Job,
    /// batch/v1 CronJob.
    CronJob,
    /// autoscaling HorizontalPodAutoscaler and policy PodDisruptionBudget: only their status
    /// conditions merge.
    ConditionedObject,
    /// Any other kind: only its `metadata` is known.
    OtherObject,
    /// meta/v1 ObjectMeta.
    ObjectMeta,
    /// core/v1 PodTemplateSpec.
    PodTemplateSpec,
    /// core/v1 PodSpec.
    PodSpec,
    /// core/v1 Container (also EphemeralContainer, which shares its fields).
    Container,
    /// core/v1 PodStatus.
    PodStatus,
    /// core/v1 ServiceSpec.
    ServiceSpec,
    /// core/v1 NodeSpec.
    NodeSpec,
    /// core/v1 NodeStatus.
    NodeStatus,
    /// apps/v1 DeploymentSpec.
    DeploymentSpec,
    /// apps/v1 DaemonSetSpec.
    DaemonSetSpec,
    /// A spec whose only strategic field is its pod `template`: ReplicaSetSpec,
    /// StatefulSetSpec, JobSpec, ReplicationControllerSpec.
    TemplatedSpec,
    /// batch/v1 CronJobSpec.
    CronJobSpec,
    /// batch/v1 JobTemplateSpec.
    JobTemplateSpec,
    /// A status whose only strategic field is `conditions`, merged by `type` (the status of
    /// Deployment, ReplicaSet, DaemonSet, StatefulSet, Job, Namespace, PVC, Service, ...).
    ConditionedStatus,
}

/// How a list-valued field is patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy {
    /// No patch strategy: the patch's list replaces the whole list.
    Replace,
    /// `patchStrategy: merge` with a `patchMergeKey`: elements are matched by that field.
    MergeByKey(&'static str),
    /// `patchStrategy: merge` on a list of primitives: an ordered set union.
    MergeSet,
}

/// What the table knows about one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSchema {
    /// The type of the field's value, or of each element for a list; `None` when unknown.
    pub ty: Option<ApiType>,
    /// How the field is patched when it holds a list.
    pub list: ListStrategy,
    /// `patchStrategy: retainKeys`: clients send `$retainKeys` for this map (or for each
    /// element of this list). The engine honours `$retainKeys` wherever it appears, so this
    /// flag matters to patch producers, not to patch application.
    pub retain_keys: bool,
}

impl FieldSchema {
    /// The default: maps merge, lists are replaced.
    pub const DEFAULT: FieldSchema = FieldSchema {
        ty: None,
        list: ListStrategy::Replace,
        retain_keys: false,
    };
}

/// The schema of field `name` of a value of type `parent` (`None`: a type the table does not
/// know, whose fields all get the default behaviour).
pub fn field(parent: Option<ApiType>, name: &str) -> FieldSchema {
    let Some(parent) = parent else {
        return FieldSchema::DEFAULT;
    };
    object_field(parent, name)
        .or_else(|| pod_field(parent, name))
        .or_else(|| workload_field(parent, name))
        .or_else(|| cluster_field(parent, name))
        .unwrap_or(FieldSchema::DEFAULT)
}

/// A field holding a value of type `ty` (a map, or a list that is replaced).
fn nested(ty: ApiType) -> FieldSchema {
    FieldSchema {
        ty: Some(ty),
        ..FieldSchema::DEFAULT
    }
}

/// A list merged by `key`, whose elements are of type `ty` when known.
fn keyed(ty: Option<ApiType>, key: &'static str) -> FieldSchema {
    FieldSchema {
        ty,
        list: ListStrategy::MergeByKey(key),
        retain_keys: false,
    }
}

/// A list of primitives merged as an ordered set.
fn primitive_set() -> FieldSchema {
    FieldSchema {
        list: ListStrategy::MergeSet,
        ..FieldSchema::DEFAULT
    }
}

fn with_retain_keys(schema: FieldSchema) -> FieldSchema {
    FieldSchema {
        retain_keys: true,
        ..schema
    }
}

/// `conditions` lists merged by condition `type`.
fn conditions() -> FieldSchema {
    keyed(None, "type")
}

fn has_object_meta(ty: ApiType) -> bool {
    use ApiType as T;
    matches!(
        ty,
        T::Pod
            | T::PodTemplate
            | T::ReplicationController
            | T::Service
            | T::Node
            | T::Namespace
            | T::PersistentVolumeClaim
            | T::ServiceAccount
            | T::Deployment
            | T::ReplicaSet
            | T::DaemonSet
            | T::StatefulSet
            | T::Job
            | T::CronJob
            | T::ConditionedObject
            | T::OtherObject
            | T::PodTemplateSpec
            | T::JobTemplateSpec
    )
}

/// ObjectMeta, reachable from every object and template.
fn object_field(parent: ApiType, name: &str) -> Option<FieldSchema> {
    match (parent, name) {
        (ty, "metadata") if has_object_meta(ty) => Some(nested(ApiType::ObjectMeta)),
        (ApiType::ObjectMeta, "finalizers") => Some(primitive_set()),
        (ApiType::ObjectMeta, "ownerReferences") => Some(keyed(None, "uid")),
        _ => None,
    }
}

/// Pods, their templates, specs, containers and status.
fn pod_field(parent: ApiType, name: &str) -> Option<FieldSchema> {
    use ApiType as T;
    Some(match (parent, name) {
        (T::Pod, "spec") | (T::PodTemplateSpec, "spec") => nested(T::PodSpec),
        (T::Pod, "status") => nested(T::PodStatus),
        (T::PodTemplate, "template") | (T::TemplatedSpec, "template") => nested(T::PodTemplateSpec),
        (T::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
            keyed(Some(T::Container), "name")
        }
        (T::PodSpec, "volumes" | "resourceClaims") => with_retain_keys(keyed(None, "name")),
        (T::PodSpec, "imagePullSecrets" | "schedulingGates") => keyed(None, "name"),
        (T::PodSpec, "hostAliases") => keyed(None, "ip"),
        (T::PodSpec, "topologySpreadConstraints") => keyed(None, "topologyKey"),
        (T::Container, "ports") => keyed(None, "containerPort"),
        (T::Container, "env") => keyed(None, "name"),
        (T::Container, "volumeMounts") => keyed(None, "mountPath"),
        (T::Container, "volumeDevices") => keyed(None, "devicePath"),
        (T::PodStatus, "conditions") => conditions(),
        (T::PodStatus, "podIPs" | "hostIPs") => keyed(None, "ip"),
        (T::PodStatus, "resourceClaimStatuses") => with_retain_keys(keyed(None, "name")),
        _ => return None,
    })
}

/// Controllers of pods: apps and batch kinds and the ReplicationController.
fn workload_field(parent: ApiType, name: &str) -> Option<FieldSchema> {
    use ApiType as T;
    Some(match (parent, name) {
        (T::Deployment, "spec") => nested(T::DeploymentSpec),
        (T::DeploymentSpec, "template") | (T::DaemonSetSpec, "template") => {
            nested(T::PodTemplateSpec)
        }
        (T::DeploymentSpec, "strategy") => with_retain_keys(FieldSchema::DEFAULT),
        (T::DaemonSet, "spec") => nested(T::DaemonSetSpec),
        (T::DaemonSetSpec, "updateStrategy") => with_retain_keys(FieldSchema::DEFAULT),
        (T::ReplicaSet | T::StatefulSet | T::Job | T::ReplicationController, "spec") => {
            nested(T::TemplatedSpec)
        }
        (T::JobTemplateSpec, "spec") => nested(T::TemplatedSpec),
        (T::CronJob, "spec") => nested(T::CronJobSpec),
        (T::CronJobSpec, "jobTemplate") => nested(T::JobTemplateSpec),
        (
            T::Deployment
            | T::ReplicaSet
            | T::DaemonSet
            | T::StatefulSet
            | T::Job
            | T::ReplicationController
            | T::ConditionedObject,
            "status",
        ) => nested(T::ConditionedStatus),
        (T::ConditionedStatus, "conditions") => conditions(),
        _ => return None,
    })
}

/// Cluster-level core kinds: services, nodes, namespaces, claims, service accounts.
fn cluster_field(parent: ApiType, name: &str) -> Option<FieldSchema> {
    use ApiType as T;
    Some(match (parent, name) {
        (T::Service, "spec") => nested(T::ServiceSpec),
        (T::ServiceSpec, "ports") => keyed(None, "port"),
        (T::Node, "spec") => nested(T::NodeSpec),
        (T::NodeSpec, "podCIDRs") => primitive_set(),
        (T::Node, "status") => nested(T::NodeStatus),
        (T::NodeStatus, "conditions" | "addresses") => keyed(None, "type"),
        (T::Service | T::Namespace | T::PersistentVolumeClaim, "status") => {
            nested(T::ConditionedStatus)
        }
        (T::ServiceAccount, "secrets") => keyed(None, "name"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_type(group: &str, kind: &str) -> ApiType {
        crate::kinds::strategy_of(group, kind).merge_root()
    }

    /// Walks a dotted path from the root of `group`/`kind`, as the engine does.
    fn lookup(group: &str, kind: &str, path: &str) -> FieldSchema {
        let mut ty = Some(root_type(group, kind));
        let mut schema = FieldSchema::DEFAULT;
        for name in path.split('.') {
            schema = field(ty, name);
            ty = schema.ty;
        }
        schema
    }

    #[test]
    fn pod_spec_is_found_under_every_workload() {
        let cases = [
            ("", "Pod", "spec.containers"),
            ("", "PodTemplate", "template.spec.containers"),
            ("", "ReplicationController", "spec.template.spec.containers"),
            ("apps", "Deployment", "spec.template.spec.containers"),
            ("apps", "ReplicaSet", "spec.template.spec.containers"),
            ("apps", "DaemonSet", "spec.template.spec.containers"),
            ("apps", "StatefulSet", "spec.template.spec.containers"),
            ("batch", "Job", "spec.template.spec.containers"),
            (
                "batch",
                "CronJob",
                "spec.jobTemplate.spec.template.spec.containers",
            ),
        ];
        for (group, kind, path) in cases {
            let schema = lookup(group, kind, path);
            assert_eq!(
                schema.list,
                ListStrategy::MergeByKey("name"),
                "{kind} {path}"
            );
            assert_eq!(schema.ty, Some(ApiType::Container), "{kind} {path}");
        }
    }

    /// A field below the pod spec of a Deployment.
    fn in_template(path: &str) -> FieldSchema {
        lookup("apps", "Deployment", &format!("spec.template.spec.{path}"))
    }

    #[test]
    fn container_and_pod_spec_lists() {
        let cases = [
            ("containers.env", ListStrategy::MergeByKey("name")),
            (
                "initContainers.ports",
                ListStrategy::MergeByKey("containerPort"),
            ),
            (
                "containers.volumeMounts",
                ListStrategy::MergeByKey("mountPath"),
            ),
            (
                "ephemeralContainers.volumeDevices",
                ListStrategy::MergeByKey("devicePath"),
            ),
            ("containers.args", ListStrategy::Replace),
            ("tolerations", ListStrategy::Replace),
            ("imagePullSecrets", ListStrategy::MergeByKey("name")),
            ("hostAliases", ListStrategy::MergeByKey("ip")),
            (
                "topologySpreadConstraints",
                ListStrategy::MergeByKey("topologyKey"),
            ),
            ("resourceClaims", ListStrategy::MergeByKey("name")),
            ("schedulingGates", ListStrategy::MergeByKey("name")),
        ];
        for (path, expected) in cases {
            assert_eq!(in_template(path).list, expected, "{path}");
        }
        let volumes = in_template("volumes");
        assert_eq!(volumes.list, ListStrategy::MergeByKey("name"));
        assert!(volumes.retain_keys);
    }

    #[test]
    fn metadata_lists() {
        assert_eq!(
            lookup("", "ConfigMap", "metadata.finalizers").list,
            ListStrategy::MergeSet
        );
        assert_eq!(
            lookup(
                "apps",
                "Deployment",
                "spec.template.metadata.ownerReferences"
            )
            .list,
            ListStrategy::MergeByKey("uid")
        );
        assert_eq!(
            lookup("", "ConfigMap", "data.finalizers").list,
            ListStrategy::Replace
        );
    }

    #[test]
    fn status_conditions_merge_by_type() {
        for (group, kind) in [
            ("", "Pod"),
            ("", "Node"),
            ("", "Namespace"),
            ("", "PersistentVolumeClaim"),
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "DaemonSet"),
            ("apps", "StatefulSet"),
            ("batch", "Job"),
        ] {
            assert_eq!(
                lookup(group, kind, "status.conditions").list,
                ListStrategy::MergeByKey("type"),
                "{kind}"
            );
        }
        assert_eq!(
            lookup("", "Node", "status.addresses").list,
            ListStrategy::MergeByKey("type")
        );
        assert_eq!(
            lookup("", "ConfigMap", "status.conditions").list,
            ListStrategy::Replace
        );
    }

    #[test]
    fn retain_keys_strategies() {
        assert!(lookup("apps", "Deployment", "spec.strategy").retain_keys);
        assert!(lookup("apps", "DaemonSet", "spec.updateStrategy").retain_keys);
        assert!(!lookup("apps", "StatefulSet", "spec.updateStrategy").retain_keys);
    }

    #[test]
    fn other_core_lists() {
        assert_eq!(
            lookup("", "Service", "spec.ports").list,
            ListStrategy::MergeByKey("port")
        );
        assert_eq!(
            lookup("", "ServiceAccount", "secrets").list,
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            lookup("", "ServiceAccount", "imagePullSecrets").list,
            ListStrategy::Replace
        );
        assert_eq!(
            lookup("", "Node", "spec.podCIDRs").list,
            ListStrategy::MergeSet
        );
    }
}
