//! Message descriptors for `autoscaling/v1`: HorizontalPodAutoscaler and Scale.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{nz, opt, Kind::*, Message};
use super::meta_v1;

/// `io.k8s.api.autoscaling.v1.CrossVersionObjectReference`.
pub(crate) static CROSS_VERSION_OBJECT_REFERENCE: Message = Message {
    name: "io.k8s.api.autoscaling.v1.CrossVersionObjectReference",
    fields: &[
        opt(1, "kind", Str),
        opt(2, "name", Str),
        nz(3, "apiVersion", Str),
    ],
};

/// `io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler`.
pub(crate) static HORIZONTAL_POD_AUTOSCALER: Message = Message {
    name: "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&HORIZONTAL_POD_AUTOSCALER_SPEC)),
        opt(3, "status", Msg(&HORIZONTAL_POD_AUTOSCALER_STATUS)),
    ],
};

/// `io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec`.
pub(crate) static HORIZONTAL_POD_AUTOSCALER_SPEC: Message = Message {
    name: "io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec",
    fields: &[
        opt(1, "scaleTargetRef", Msg(&CROSS_VERSION_OBJECT_REFERENCE)),
        opt(2, "minReplicas", I32),
        opt(3, "maxReplicas", I32),
        opt(4, "targetCPUUtilizationPercentage", I32),
    ],
};

/// `io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerStatus`.
pub(crate) static HORIZONTAL_POD_AUTOSCALER_STATUS: Message = Message {
    name: "io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerStatus",
    fields: &[
        opt(1, "observedGeneration", I64),
        opt(2, "lastScaleTime", Time),
        opt(3, "currentReplicas", I32),
        opt(4, "desiredReplicas", I32),
        opt(5, "currentCPUUtilizationPercentage", I32),
    ],
};

/// `io.k8s.api.autoscaling.v1.Scale`.
pub(crate) static SCALE: Message = Message {
    name: "io.k8s.api.autoscaling.v1.Scale",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&SCALE_SPEC)),
        opt(3, "status", Msg(&SCALE_STATUS)),
    ],
};

/// `io.k8s.api.autoscaling.v1.ScaleSpec`.
pub(crate) static SCALE_SPEC: Message = Message {
    name: "io.k8s.api.autoscaling.v1.ScaleSpec",
    fields: &[nz(1, "replicas", I32)],
};

/// `io.k8s.api.autoscaling.v1.ScaleStatus`.
pub(crate) static SCALE_STATUS: Message = Message {
    name: "io.k8s.api.autoscaling.v1.ScaleStatus",
    fields: &[opt(1, "replicas", I32), nz(2, "selector", Str)],
};
