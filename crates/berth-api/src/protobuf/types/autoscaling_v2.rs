//! Message descriptors for `autoscaling/v2`: HorizontalPodAutoscaler.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{nz, opt, rep, Kind::*, Message};
use super::meta_v1;

/// `io.k8s.api.autoscaling.v2.ContainerResourceMetricSource`.
pub(crate) static CONTAINER_RESOURCE_METRIC_SOURCE: Message = Message {
    name: "io.k8s.api.autoscaling.v2.ContainerResourceMetricSource",
    fields: &[
        opt(1, "name", Str),
        opt(2, "target", Msg(&METRIC_TARGET)),
        opt(3, "container", Str),
    ],
};

/// `io.k8s.api.autoscaling.v2.ContainerResourceMetricStatus`.
pub(crate) static CONTAINER_RESOURCE_METRIC_STATUS: Message = Message {
    name: "io.k8s.api.autoscaling.v2.ContainerResourceMetricStatus",
    fields: &[
        opt(1, "name", Str),
        opt(2, "current", Msg(&METRIC_VALUE_STATUS)),
        opt(3, "container", Str),
    ],
};

/// `io.k8s.api.autoscaling.v2.CrossVersionObjectReference`.
pub(crate) static CROSS_VERSION_OBJECT_REFERENCE: Message = Message {
    name: "io.k8s.api.autoscaling.v2.CrossVersionObjectReference",
    fields: &[
        opt(1, "kind", Str),
        opt(2, "name", Str),
        nz(3, "apiVersion", Str),
    ],
};

/// `io.k8s.api.autoscaling.v2.ExternalMetricSource`.
pub(crate) static EXTERNAL_METRIC_SOURCE: Message = Message {
    name: "io.k8s.api.autoscaling.v2.ExternalMetricSource",
    fields: &[
        opt(1, "metric", Msg(&METRIC_IDENTIFIER)),
        opt(2, "target", Msg(&METRIC_TARGET)),
    ],
};

/// `io.k8s.api.autoscaling.v2.ExternalMetricStatus`.
pub(crate) static EXTERNAL_METRIC_STATUS: Message = Message {
    name: "io.k8s.api.autoscaling.v2.ExternalMetricStatus",
    fields: &[
        opt(1, "metric", Msg(&METRIC_IDENTIFIER)),
        opt(2, "current", Msg(&METRIC_VALUE_STATUS)),
    ],
};

/// `io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler`.
pub(crate) static HORIZONTAL_POD_AUTOSCALER: Message = Message {
    name: "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&HORIZONTAL_POD_AUTOSCALER_SPEC)),
        opt(3, "status", Msg(&HORIZONTAL_POD_AUTOSCALER_STATUS)),
    ],
};

/// `io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior`.
pub(crate) static HORIZONTAL_POD_AUTOSCALER_BEHAVIOR: Message = Message {
    name: "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior",
    fields: &[
        opt(1, "scaleUp", Msg(&HPA_SCALING_RULES)),
        opt(2, "scaleDown", Msg(&HPA_SCALING_RULES)),
    ],
};

/// `io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerCondition`.
pub(crate) static HORIZONTAL_POD_AUTOSCALER_CONDITION: Message = Message {
    name: "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerCondition",
    fields: &[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastTransitionTime", Time),
        nz(4, "reason", Str),
        nz(5, "message", Str),
    ],
};

/// `io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec`.
pub(crate) static HORIZONTAL_POD_AUTOSCALER_SPEC: Message = Message {
    name: "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec",
    fields: &[
        opt(1, "scaleTargetRef", Msg(&CROSS_VERSION_OBJECT_REFERENCE)),
        opt(2, "minReplicas", I32),
        opt(3, "maxReplicas", I32),
        rep(4, "metrics", Msg(&METRIC_SPEC)),
        opt(5, "behavior", Msg(&HORIZONTAL_POD_AUTOSCALER_BEHAVIOR)),
    ],
};

/// `io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus`.
pub(crate) static HORIZONTAL_POD_AUTOSCALER_STATUS: Message = Message {
    name: "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
    fields: &[
        opt(1, "observedGeneration", I64),
        opt(2, "lastScaleTime", Time),
        nz(3, "currentReplicas", I32),
        opt(4, "desiredReplicas", I32),
        rep(5, "currentMetrics", Msg(&METRIC_STATUS)),
        rep(6, "conditions", Msg(&HORIZONTAL_POD_AUTOSCALER_CONDITION)),
    ],
};

/// `io.k8s.api.autoscaling.v2.HPAScalingPolicy`.
pub(crate) static HPA_SCALING_POLICY: Message = Message {
    name: "io.k8s.api.autoscaling.v2.HPAScalingPolicy",
    fields: &[
        opt(1, "type", Str),
        opt(2, "value", I32),
        opt(3, "periodSeconds", I32),
    ],
};

/// `io.k8s.api.autoscaling.v2.HPAScalingRules`.
pub(crate) static HPA_SCALING_RULES: Message = Message {
    name: "io.k8s.api.autoscaling.v2.HPAScalingRules",
    fields: &[
        opt(3, "stabilizationWindowSeconds", I32),
        opt(1, "selectPolicy", Str),
        rep(2, "policies", Msg(&HPA_SCALING_POLICY)),
        opt(4, "tolerance", Quantity),
    ],
};

/// `io.k8s.api.autoscaling.v2.MetricIdentifier`.
pub(crate) static METRIC_IDENTIFIER: Message = Message {
    name: "io.k8s.api.autoscaling.v2.MetricIdentifier",
    fields: &[
        opt(1, "name", Str),
        opt(2, "selector", Msg(&meta_v1::LABEL_SELECTOR)),
    ],
};

/// `io.k8s.api.autoscaling.v2.MetricSpec`.
pub(crate) static METRIC_SPEC: Message = Message {
    name: "io.k8s.api.autoscaling.v2.MetricSpec",
    fields: &[
        opt(1, "type", Str),
        opt(2, "object", Msg(&OBJECT_METRIC_SOURCE)),
        opt(3, "pods", Msg(&PODS_METRIC_SOURCE)),
        opt(4, "resource", Msg(&RESOURCE_METRIC_SOURCE)),
        opt(
            7,
            "containerResource",
            Msg(&CONTAINER_RESOURCE_METRIC_SOURCE),
        ),
        opt(5, "external", Msg(&EXTERNAL_METRIC_SOURCE)),
    ],
};

/// `io.k8s.api.autoscaling.v2.MetricStatus`.
pub(crate) static METRIC_STATUS: Message = Message {
    name: "io.k8s.api.autoscaling.v2.MetricStatus",
    fields: &[
        opt(1, "type", Str),
        opt(2, "object", Msg(&OBJECT_METRIC_STATUS)),
        opt(3, "pods", Msg(&PODS_METRIC_STATUS)),
        opt(4, "resource", Msg(&RESOURCE_METRIC_STATUS)),
        opt(
            7,
            "containerResource",
            Msg(&CONTAINER_RESOURCE_METRIC_STATUS),
        ),
        opt(5, "external", Msg(&EXTERNAL_METRIC_STATUS)),
    ],
};

/// `io.k8s.api.autoscaling.v2.MetricTarget`.
pub(crate) static METRIC_TARGET: Message = Message {
    name: "io.k8s.api.autoscaling.v2.MetricTarget",
    fields: &[
        opt(1, "type", Str),
        opt(2, "value", Quantity),
        opt(3, "averageValue", Quantity),
        opt(4, "averageUtilization", I32),
    ],
};

/// `io.k8s.api.autoscaling.v2.MetricValueStatus`.
pub(crate) static METRIC_VALUE_STATUS: Message = Message {
    name: "io.k8s.api.autoscaling.v2.MetricValueStatus",
    fields: &[
        opt(1, "value", Quantity),
        opt(2, "averageValue", Quantity),
        opt(3, "averageUtilization", I32),
    ],
};

/// `io.k8s.api.autoscaling.v2.ObjectMetricSource`.
pub(crate) static OBJECT_METRIC_SOURCE: Message = Message {
    name: "io.k8s.api.autoscaling.v2.ObjectMetricSource",
    fields: &[
        opt(1, "describedObject", Msg(&CROSS_VERSION_OBJECT_REFERENCE)),
        opt(2, "target", Msg(&METRIC_TARGET)),
        opt(3, "metric", Msg(&METRIC_IDENTIFIER)),
    ],
};

/// `io.k8s.api.autoscaling.v2.ObjectMetricStatus`.
pub(crate) static OBJECT_METRIC_STATUS: Message = Message {
    name: "io.k8s.api.autoscaling.v2.ObjectMetricStatus",
    fields: &[
        opt(1, "metric", Msg(&METRIC_IDENTIFIER)),
        opt(2, "current", Msg(&METRIC_VALUE_STATUS)),
        opt(3, "describedObject", Msg(&CROSS_VERSION_OBJECT_REFERENCE)),
    ],
};

/// `io.k8s.api.autoscaling.v2.PodsMetricSource`.
pub(crate) static PODS_METRIC_SOURCE: Message = Message {
    name: "io.k8s.api.autoscaling.v2.PodsMetricSource",
    fields: &[
        opt(1, "metric", Msg(&METRIC_IDENTIFIER)),
        opt(2, "target", Msg(&METRIC_TARGET)),
    ],
};

/// `io.k8s.api.autoscaling.v2.PodsMetricStatus`.
pub(crate) static PODS_METRIC_STATUS: Message = Message {
    name: "io.k8s.api.autoscaling.v2.PodsMetricStatus",
    fields: &[
        opt(1, "metric", Msg(&METRIC_IDENTIFIER)),
        opt(2, "current", Msg(&METRIC_VALUE_STATUS)),
    ],
};

/// `io.k8s.api.autoscaling.v2.ResourceMetricSource`.
pub(crate) static RESOURCE_METRIC_SOURCE: Message = Message {
    name: "io.k8s.api.autoscaling.v2.ResourceMetricSource",
    fields: &[opt(1, "name", Str), opt(2, "target", Msg(&METRIC_TARGET))],
};

/// `io.k8s.api.autoscaling.v2.ResourceMetricStatus`.
pub(crate) static RESOURCE_METRIC_STATUS: Message = Message {
    name: "io.k8s.api.autoscaling.v2.ResourceMetricStatus",
    fields: &[
        opt(1, "name", Str),
        opt(2, "current", Msg(&METRIC_VALUE_STATUS)),
    ],
};
