//! Message descriptors for `apps/v1`: Deployment.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{nz, opt, rep, Kind::*, Message};
use super::core_v1;
use super::meta_v1;

/// `io.k8s.api.apps.v1.Deployment`.
pub(crate) static DEPLOYMENT: Message = Message {
    name: "io.k8s.api.apps.v1.Deployment",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&DEPLOYMENT_SPEC)),
        opt(3, "status", Msg(&DEPLOYMENT_STATUS)),
    ],
};

/// `io.k8s.api.apps.v1.DeploymentCondition`.
pub(crate) static DEPLOYMENT_CONDITION: Message = Message {
    name: "io.k8s.api.apps.v1.DeploymentCondition",
    fields: &[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(6, "lastUpdateTime", Time),
        opt(7, "lastTransitionTime", Time),
        nz(4, "reason", Str),
        nz(5, "message", Str),
    ],
};

/// `io.k8s.api.apps.v1.DeploymentSpec`.
pub(crate) static DEPLOYMENT_SPEC: Message = Message {
    name: "io.k8s.api.apps.v1.DeploymentSpec",
    fields: &[
        opt(1, "replicas", I32),
        opt(2, "selector", Msg(&meta_v1::LABEL_SELECTOR)),
        opt(3, "template", Msg(&core_v1::POD_TEMPLATE_SPEC)),
        opt(4, "strategy", Msg(&DEPLOYMENT_STRATEGY)),
        nz(5, "minReadySeconds", I32),
        opt(6, "revisionHistoryLimit", I32),
        nz(7, "paused", Bool),
        opt(9, "progressDeadlineSeconds", I32),
    ],
};

/// `io.k8s.api.apps.v1.DeploymentStatus`.
pub(crate) static DEPLOYMENT_STATUS: Message = Message {
    name: "io.k8s.api.apps.v1.DeploymentStatus",
    fields: &[
        nz(1, "observedGeneration", I64),
        nz(2, "replicas", I32),
        nz(3, "updatedReplicas", I32),
        nz(7, "readyReplicas", I32),
        nz(4, "availableReplicas", I32),
        nz(5, "unavailableReplicas", I32),
        opt(9, "terminatingReplicas", I32),
        rep(6, "conditions", Msg(&DEPLOYMENT_CONDITION)),
        opt(8, "collisionCount", I32),
    ],
};

/// `io.k8s.api.apps.v1.DeploymentStrategy`.
pub(crate) static DEPLOYMENT_STRATEGY: Message = Message {
    name: "io.k8s.api.apps.v1.DeploymentStrategy",
    fields: &[
        nz(1, "type", Str),
        opt(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DEPLOYMENT)),
    ],
};

/// `io.k8s.api.apps.v1.RollingUpdateDeployment`.
pub(crate) static ROLLING_UPDATE_DEPLOYMENT: Message = Message {
    name: "io.k8s.api.apps.v1.RollingUpdateDeployment",
    fields: &[
        opt(1, "maxUnavailable", IntOrString),
        opt(2, "maxSurge", IntOrString),
    ],
};
