//! The built-in kinds: one module per kind with its [`Strategy`](crate::strategy::Strategy)
//! (grouped by API group, as `pkg/registry/<group>/<kind>` in Kubernetes), and [`builtin`],
//! the list the registry starts from. Adding a built-in kind is its module plus one line here.

pub mod admissionregistration;
pub mod apps;
pub mod autoscaling;
pub mod batch;
pub mod certificates;
pub mod coordination;
pub mod core;
pub mod discovery;
pub mod events;
pub mod networking;
pub mod node;
pub mod policy;
pub mod rbac;
pub mod scheduling;
pub mod storage;

use crate::registry::{typed, Facts, KindInfo, Subresource};
use crate::strategy::Plain;

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const NO_SUBS: &[Subresource] = &[];
const STATUS: &[Subresource] = &[Subresource::Status];
const SCALED: &[Subresource] = &[Subresource::Status, Subresource::Scale];
const POD_SUBS: &[Subresource] = &[
    Subresource::Status,
    Subresource::Binding,
    Subresource::Eviction,
    Subresource::Log,
    Subresource::Exec,
    Subresource::Attach,
    Subresource::PortForward,
];

/// Every built-in kind, in discovery order (core first).
pub fn builtin() -> Vec<KindInfo> {
    use k8s_openapi::api::{
        apps::v1 as apps_v1, authentication::v1 as authn, authorization::v1 as authz,
        autoscaling::v1 as as1, autoscaling::v2 as as2, batch::v1 as batch_v1,
        coordination::v1 as coord, core::v1 as core_v1, discovery::v1 as disc, events::v1 as ev,
        networking::v1 as net, node::v1 as node_v1, policy::v1 as policy_v1, rbac::v1 as rbac_v1,
        scheduling::v1 as sched, storage::v1 as storage_v1,
    };
    use Facts as F;
    vec![
        // core/v1
        typed::<core_v1::Namespace>(
            "namespaces",
            F::stored(&["ns"], NONE, STATUS),
            core::namespace::NamespaceStrategy,
        ),
        typed::<core_v1::Pod>(
            "pods",
            F::stored(&["po"], ALL, POD_SUBS),
            core::pod::PodStrategy,
        ),
        typed::<core_v1::Node>(
            "nodes",
            F::stored(&["no"], NONE, STATUS),
            core::node::NodeStrategy,
        ),
        typed::<core_v1::Service>(
            "services",
            F::stored(&["svc"], ALL, STATUS),
            core::service::ServiceStrategy,
        ),
        typed::<core_v1::Endpoints>(
            "endpoints",
            F::stored(&["ep"], NONE, NO_SUBS),
            core::endpoints::EndpointsStrategy,
        ),
        typed::<core_v1::ConfigMap>(
            "configmaps",
            F::stored(&["cm"], NONE, NO_SUBS),
            core::config_map::ConfigMapStrategy,
        ),
        typed::<core_v1::Secret>(
            "secrets",
            F::stored(NONE, NONE, NO_SUBS),
            core::secret::SecretStrategy,
        ),
        typed::<core_v1::ServiceAccount>(
            "serviceaccounts",
            F::stored(&["sa"], NONE, &[Subresource::Token]),
            core::service_account::ServiceAccountStrategy,
        ),
        typed::<core_v1::Event>(
            "events",
            F::stored(&["ev"], NONE, NO_SUBS),
            core::event::EventStrategy,
        ),
        typed::<core_v1::PersistentVolume>(
            "persistentvolumes",
            F::stored(&["pv"], NONE, STATUS),
            core::persistent_volume::PersistentVolumeStrategy,
        ),
        typed::<core_v1::PersistentVolumeClaim>(
            "persistentvolumeclaims",
            F::stored(&["pvc"], NONE, STATUS),
            core::persistent_volume_claim::PersistentVolumeClaimStrategy,
        ),
        typed::<core_v1::LimitRange>("limitranges", F::stored(&["limits"], NONE, NO_SUBS), Plain),
        typed::<core_v1::ResourceQuota>(
            "resourcequotas",
            F::stored(&["quota"], NONE, STATUS),
            core::resource_quota::ResourceQuotaStrategy,
        ),
        typed::<core_v1::ReplicationController>(
            "replicationcontrollers",
            F::stored(&["rc"], ALL, SCALED),
            core::replication_controller::ReplicationControllerStrategy,
        ),
        typed::<core_v1::PodTemplate>(
            "podtemplates",
            F::stored(NONE, NONE, NO_SUBS),
            core::pod_template::PodTemplateStrategy,
        ),
        // apps/v1
        typed::<apps_v1::Deployment>(
            "deployments",
            F::stored(&["deploy"], ALL, SCALED),
            apps::deployment::DeploymentStrategy,
        ),
        typed::<apps_v1::ReplicaSet>(
            "replicasets",
            F::stored(&["rs"], ALL, SCALED),
            apps::replica_set::ReplicaSetStrategy,
        ),
        typed::<apps_v1::DaemonSet>(
            "daemonsets",
            F::stored(&["ds"], ALL, STATUS),
            apps::daemon_set::DaemonSetStrategy,
        ),
        typed::<apps_v1::StatefulSet>(
            "statefulsets",
            F::stored(&["sts"], ALL, SCALED),
            apps::stateful_set::StatefulSetStrategy,
        ),
        typed::<apps_v1::ControllerRevision>(
            "controllerrevisions",
            F::stored(NONE, NONE, NO_SUBS),
            apps::controller_revision::ControllerRevisionStrategy,
        ),
        // batch/v1
        typed::<batch_v1::Job>(
            "jobs",
            F::stored(NONE, ALL, STATUS),
            batch::job::JobStrategy,
        ),
        typed::<batch_v1::CronJob>(
            "cronjobs",
            F::stored(&["cj"], ALL, STATUS),
            batch::cron_job::CronJobStrategy,
        ),
        // autoscaling
        typed::<as2::HorizontalPodAutoscaler>(
            "horizontalpodautoscalers",
            F::stored(&["hpa"], ALL, STATUS),
            autoscaling::horizontal_pod_autoscaler::HorizontalPodAutoscalerStrategy,
        ),
        typed::<as1::HorizontalPodAutoscaler>(
            "horizontalpodautoscalers",
            F::stored(&["hpa"], ALL, STATUS),
            autoscaling::horizontal_pod_autoscaler::HorizontalPodAutoscalerStrategy,
        ),
        // discovery, networking, coordination, events
        typed::<disc::EndpointSlice>(
            "endpointslices",
            F::stored(NONE, NONE, NO_SUBS),
            discovery::endpoint_slice::EndpointSliceStrategy,
        ),
        typed::<net::Ingress>(
            "ingresses",
            F::stored(&["ing"], NONE, STATUS),
            networking::ingress::IngressStrategy,
        ),
        typed::<net::IngressClass>(
            "ingressclasses",
            F::stored(NONE, NONE, NO_SUBS),
            networking::ingress_class::IngressClassStrategy,
        ),
        typed::<net::NetworkPolicy>(
            "networkpolicies",
            F::stored(&["netpol"], NONE, NO_SUBS),
            networking::network_policy::NetworkPolicyStrategy,
        ),
        typed::<coord::Lease>(
            "leases",
            F::stored(NONE, NONE, NO_SUBS),
            coordination::lease::LeaseStrategy,
        ),
        typed::<ev::Event>(
            "events",
            F::stored(&["ev"], NONE, NO_SUBS),
            events::event::EventStrategy,
        ),
        // rbac, storage, policy, scheduling, node
        typed::<rbac_v1::Role>(
            "roles",
            F::stored(NONE, NONE, NO_SUBS),
            rbac::role::RoleStrategy,
        ),
        typed::<rbac_v1::RoleBinding>(
            "rolebindings",
            F::stored(NONE, NONE, NO_SUBS),
            rbac::role_binding::RoleBindingStrategy,
        ),
        typed::<rbac_v1::ClusterRole>(
            "clusterroles",
            F::stored(NONE, NONE, NO_SUBS),
            rbac::role::ClusterRoleStrategy,
        ),
        typed::<rbac_v1::ClusterRoleBinding>(
            "clusterrolebindings",
            F::stored(NONE, NONE, NO_SUBS),
            rbac::role_binding::ClusterRoleBindingStrategy,
        ),
        typed::<storage_v1::StorageClass>(
            "storageclasses",
            F::stored(&["sc"], NONE, NO_SUBS),
            storage::storage_class::StorageClassStrategy,
        ),
        typed::<storage_v1::CSIDriver>("csidrivers", F::stored(NONE, NONE, NO_SUBS), Plain),
        typed::<storage_v1::CSINode>("csinodes", F::stored(NONE, NONE, NO_SUBS), Plain),
        typed::<storage_v1::VolumeAttachment>(
            "volumeattachments",
            F::stored(NONE, NONE, STATUS),
            Plain,
        ),
        typed::<policy_v1::PodDisruptionBudget>(
            "poddisruptionbudgets",
            F::stored(&["pdb"], NONE, STATUS),
            policy::pod_disruption_budget::PodDisruptionBudgetStrategy,
        ),
        typed::<sched::PriorityClass>(
            "priorityclasses",
            F::stored(&["pc"], NONE, NO_SUBS),
            scheduling::priority_class::PriorityClassStrategy,
        ),
        typed::<node_v1::RuntimeClass>(
            "runtimeclasses",
            F::stored(NONE, NONE, NO_SUBS),
            node::runtime_class::RuntimeClassStrategy,
        ),
        // authentication and authorization: answered, never stored
        typed::<authn::SelfSubjectReview>("selfsubjectreviews", F::answered(), Plain),
        typed::<authn::TokenReview>("tokenreviews", F::answered(), Plain),
        typed::<authz::SelfSubjectAccessReview>("selfsubjectaccessreviews", F::answered(), Plain),
        typed::<authz::SubjectAccessReview>("subjectaccessreviews", F::answered(), Plain),
        typed::<authz::SelfSubjectRulesReview>("selfsubjectrulesreviews", F::answered(), Plain),
    ]
}

/// The strategy the API server uses for `group`/`kind` (whichever version is served first),
/// including those of kinds that are not served yet; unknown kinds get [`Custom`]'s.
///
/// [`Custom`]: crate::strategy::Custom
#[cfg(test)]
pub(crate) fn strategy_of(group: &str, kind: &str) -> &'static dyn crate::strategy::Strategy {
    match (group, kind) {
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            &certificates::certificate_signing_request::CertificateSigningRequestStrategy
        }
        ("admissionregistration.k8s.io", _) => {
            &admissionregistration::webhook_configuration::WebhookConfigurationStrategy
        }
        _ => crate::registry::builtin()
            .all()
            .iter()
            .find(|k| k.group == group && k.kind == kind)
            .map_or(&crate::strategy::Custom, |k| k.strategy.as_ref()),
    }
}
