//! The message descriptor tables, one module per Kubernetes API group version, and the table
//! of top-level kinds a protobuf request body may carry.
//!
//! Each module holds every message reachable from its top-level kinds, so a kind listed in
//! [`KINDS`] is decoded completely, status included; nothing is ever accepted and dropped.

mod apps_v1;
mod authentication_v1;
mod authorization_v1;
mod autoscaling_v1;
mod autoscaling_v2;
mod batch_v1;
mod core_v1;
mod meta_v1;
mod networking_v1;
mod policy_v1;
mod rbac_v1;
mod scheduling_v1;

use super::schema::Message;

/// `(apiVersion, kind, descriptor)` of every object a protobuf body may contain. The first block
/// is what kubectl 1.32+ sends as protobuf from `create <kind>`, `run`, `expose`, `autoscale`
/// and `auth can-i`; the second covers the remaining `kubectl create` subcommands, `create token`,
/// `scale` and `drain`.
static KINDS: &[(&str, &str, &Message)] = &[
    ("v1", "Namespace", &core_v1::NAMESPACE),
    ("v1", "ConfigMap", &core_v1::CONFIG_MAP),
    ("v1", "Secret", &core_v1::SECRET),
    ("v1", "ServiceAccount", &core_v1::SERVICE_ACCOUNT),
    ("v1", "Service", &core_v1::SERVICE),
    ("v1", "Pod", &core_v1::POD),
    ("apps/v1", "Deployment", &apps_v1::DEPLOYMENT),
    ("batch/v1", "Job", &batch_v1::JOB),
    ("batch/v1", "CronJob", &batch_v1::CRON_JOB),
    (
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        &autoscaling_v1::HORIZONTAL_POD_AUTOSCALER,
    ),
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        &autoscaling_v2::HORIZONTAL_POD_AUTOSCALER,
    ),
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        &authorization_v1::SELF_SUBJECT_ACCESS_REVIEW,
    ),
    (
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        &authentication_v1::SELF_SUBJECT_REVIEW,
    ),
    ("v1", "ResourceQuota", &core_v1::RESOURCE_QUOTA),
    ("autoscaling/v1", "Scale", &autoscaling_v1::SCALE),
    ("rbac.authorization.k8s.io/v1", "Role", &rbac_v1::ROLE),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        &rbac_v1::CLUSTER_ROLE,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        &rbac_v1::ROLE_BINDING,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        &rbac_v1::CLUSTER_ROLE_BINDING,
    ),
    ("networking.k8s.io/v1", "Ingress", &networking_v1::INGRESS),
    (
        "policy/v1",
        "PodDisruptionBudget",
        &policy_v1::POD_DISRUPTION_BUDGET,
    ),
    ("policy/v1", "Eviction", &policy_v1::EVICTION),
    (
        "scheduling.k8s.io/v1",
        "PriorityClass",
        &scheduling_v1::PRIORITY_CLASS,
    ),
    (
        "authentication.k8s.io/v1",
        "TokenRequest",
        &authentication_v1::TOKEN_REQUEST,
    ),
];

/// The descriptor of the top-level object `api_version`/`kind`, if it is supported.
pub(crate) fn lookup(api_version: &str, kind: &str) -> Option<&'static Message> {
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, message)| *message)
}
