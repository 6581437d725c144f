//! Message descriptors for `networking.k8s.io/v1`: Ingress.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{inline, nz, opt, rep, Kind::*, Message};
use super::core_v1;
use super::meta_v1;

/// `io.k8s.api.networking.v1.HTTPIngressPath`.
pub(crate) static HTTP_INGRESS_PATH: Message = Message {
    name: "io.k8s.api.networking.v1.HTTPIngressPath",
    fields: &[
        nz(1, "path", Str),
        opt(3, "pathType", Str),
        opt(2, "backend", Msg(&INGRESS_BACKEND)),
    ],
};

/// `io.k8s.api.networking.v1.HTTPIngressRuleValue`.
pub(crate) static HTTP_INGRESS_RULE_VALUE: Message = Message {
    name: "io.k8s.api.networking.v1.HTTPIngressRuleValue",
    fields: &[rep(1, "paths", Msg(&HTTP_INGRESS_PATH))],
};

/// `io.k8s.api.networking.v1.Ingress`.
pub(crate) static INGRESS: Message = Message {
    name: "io.k8s.api.networking.v1.Ingress",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&INGRESS_SPEC)),
        opt(3, "status", Msg(&INGRESS_STATUS)),
    ],
};

/// `io.k8s.api.networking.v1.IngressBackend`.
pub(crate) static INGRESS_BACKEND: Message = Message {
    name: "io.k8s.api.networking.v1.IngressBackend",
    fields: &[
        opt(4, "service", Msg(&INGRESS_SERVICE_BACKEND)),
        opt(3, "resource", Msg(&core_v1::TYPED_LOCAL_OBJECT_REFERENCE)),
    ],
};

/// `io.k8s.api.networking.v1.IngressLoadBalancerIngress`.
pub(crate) static INGRESS_LOAD_BALANCER_INGRESS: Message = Message {
    name: "io.k8s.api.networking.v1.IngressLoadBalancerIngress",
    fields: &[
        nz(1, "ip", Str),
        nz(2, "hostname", Str),
        rep(4, "ports", Msg(&INGRESS_PORT_STATUS)),
    ],
};

/// `io.k8s.api.networking.v1.IngressLoadBalancerStatus`.
pub(crate) static INGRESS_LOAD_BALANCER_STATUS: Message = Message {
    name: "io.k8s.api.networking.v1.IngressLoadBalancerStatus",
    fields: &[rep(1, "ingress", Msg(&INGRESS_LOAD_BALANCER_INGRESS))],
};

/// `io.k8s.api.networking.v1.IngressPortStatus`.
pub(crate) static INGRESS_PORT_STATUS: Message = Message {
    name: "io.k8s.api.networking.v1.IngressPortStatus",
    fields: &[
        opt(1, "port", I32),
        opt(2, "protocol", Str),
        opt(3, "error", Str),
    ],
};

/// `io.k8s.api.networking.v1.IngressRule`.
pub(crate) static INGRESS_RULE: Message = Message {
    name: "io.k8s.api.networking.v1.IngressRule",
    fields: &[nz(1, "host", Str), inline(2, &INGRESS_RULE_VALUE)],
};

/// `io.k8s.api.networking.v1.IngressRuleValue`.
pub(crate) static INGRESS_RULE_VALUE: Message = Message {
    name: "io.k8s.api.networking.v1.IngressRuleValue",
    fields: &[opt(1, "http", Msg(&HTTP_INGRESS_RULE_VALUE))],
};

/// `io.k8s.api.networking.v1.IngressServiceBackend`.
pub(crate) static INGRESS_SERVICE_BACKEND: Message = Message {
    name: "io.k8s.api.networking.v1.IngressServiceBackend",
    fields: &[
        opt(1, "name", Str),
        opt(2, "port", Msg(&SERVICE_BACKEND_PORT)),
    ],
};

/// `io.k8s.api.networking.v1.IngressSpec`.
pub(crate) static INGRESS_SPEC: Message = Message {
    name: "io.k8s.api.networking.v1.IngressSpec",
    fields: &[
        opt(4, "ingressClassName", Str),
        opt(1, "defaultBackend", Msg(&INGRESS_BACKEND)),
        rep(2, "tls", Msg(&INGRESS_TLS)),
        rep(3, "rules", Msg(&INGRESS_RULE)),
    ],
};

/// `io.k8s.api.networking.v1.IngressStatus`.
pub(crate) static INGRESS_STATUS: Message = Message {
    name: "io.k8s.api.networking.v1.IngressStatus",
    fields: &[opt(1, "loadBalancer", Msg(&INGRESS_LOAD_BALANCER_STATUS))],
};

/// `io.k8s.api.networking.v1.IngressTLS`.
pub(crate) static INGRESS_TLS: Message = Message {
    name: "io.k8s.api.networking.v1.IngressTLS",
    fields: &[rep(1, "hosts", Str), nz(2, "secretName", Str)],
};

/// `io.k8s.api.networking.v1.ServiceBackendPort`.
pub(crate) static SERVICE_BACKEND_PORT: Message = Message {
    name: "io.k8s.api.networking.v1.ServiceBackendPort",
    fields: &[nz(1, "name", Str), nz(2, "number", I32)],
};
