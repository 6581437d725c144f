//! Message descriptors for `policy/v1`: PodDisruptionBudget and Eviction.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{map, nz, opt, rep, Kind::*, Message};
use super::meta_v1;

/// `io.k8s.api.policy.v1.Eviction`.
pub(crate) static EVICTION: Message = Message {
    name: "io.k8s.api.policy.v1.Eviction",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "deleteOptions", Msg(&meta_v1::DELETE_OPTIONS)),
    ],
};

/// `io.k8s.api.policy.v1.PodDisruptionBudget`.
pub(crate) static POD_DISRUPTION_BUDGET: Message = Message {
    name: "io.k8s.api.policy.v1.PodDisruptionBudget",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&POD_DISRUPTION_BUDGET_SPEC)),
        opt(3, "status", Msg(&POD_DISRUPTION_BUDGET_STATUS)),
    ],
};

/// `io.k8s.api.policy.v1.PodDisruptionBudgetSpec`.
pub(crate) static POD_DISRUPTION_BUDGET_SPEC: Message = Message {
    name: "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
    fields: &[
        opt(1, "minAvailable", IntOrString),
        opt(2, "selector", Msg(&meta_v1::LABEL_SELECTOR)),
        opt(3, "maxUnavailable", IntOrString),
        opt(4, "unhealthyPodEvictionPolicy", Str),
    ],
};

/// `io.k8s.api.policy.v1.PodDisruptionBudgetStatus`.
pub(crate) static POD_DISRUPTION_BUDGET_STATUS: Message = Message {
    name: "io.k8s.api.policy.v1.PodDisruptionBudgetStatus",
    fields: &[
        nz(1, "observedGeneration", I64),
        map(2, "disruptedPods", Time),
        opt(3, "disruptionsAllowed", I32),
        opt(4, "currentHealthy", I32),
        opt(5, "desiredHealthy", I32),
        opt(6, "expectedPods", I32),
        rep(7, "conditions", Msg(&meta_v1::CONDITION)),
    ],
};
