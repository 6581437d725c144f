//! Message descriptors for `rbac.authorization.k8s.io/v1`: Role, ClusterRole, RoleBinding, ClusterRoleBinding.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{nz, opt, rep, Kind::*, Message};
use super::meta_v1;

/// `io.k8s.api.rbac.v1.AggregationRule`.
pub(crate) static AGGREGATION_RULE: Message = Message {
    name: "io.k8s.api.rbac.v1.AggregationRule",
    fields: &[rep(
        1,
        "clusterRoleSelectors",
        Msg(&meta_v1::LABEL_SELECTOR),
    )],
};

/// `io.k8s.api.rbac.v1.ClusterRole`.
pub(crate) static CLUSTER_ROLE: Message = Message {
    name: "io.k8s.api.rbac.v1.ClusterRole",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        rep(2, "rules", Msg(&POLICY_RULE)),
        opt(3, "aggregationRule", Msg(&AGGREGATION_RULE)),
    ],
};

/// `io.k8s.api.rbac.v1.ClusterRoleBinding`.
pub(crate) static CLUSTER_ROLE_BINDING: Message = Message {
    name: "io.k8s.api.rbac.v1.ClusterRoleBinding",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        rep(2, "subjects", Msg(&SUBJECT)),
        opt(3, "roleRef", Msg(&ROLE_REF)),
    ],
};

/// `io.k8s.api.rbac.v1.PolicyRule`.
pub(crate) static POLICY_RULE: Message = Message {
    name: "io.k8s.api.rbac.v1.PolicyRule",
    fields: &[
        rep(1, "verbs", Str),
        rep(2, "apiGroups", Str),
        rep(3, "resources", Str),
        rep(4, "resourceNames", Str),
        rep(5, "nonResourceURLs", Str),
    ],
};

/// `io.k8s.api.rbac.v1.Role`.
pub(crate) static ROLE: Message = Message {
    name: "io.k8s.api.rbac.v1.Role",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        rep(2, "rules", Msg(&POLICY_RULE)),
    ],
};

/// `io.k8s.api.rbac.v1.RoleBinding`.
pub(crate) static ROLE_BINDING: Message = Message {
    name: "io.k8s.api.rbac.v1.RoleBinding",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        rep(2, "subjects", Msg(&SUBJECT)),
        opt(3, "roleRef", Msg(&ROLE_REF)),
    ],
};

/// `io.k8s.api.rbac.v1.RoleRef`.
pub(crate) static ROLE_REF: Message = Message {
    name: "io.k8s.api.rbac.v1.RoleRef",
    fields: &[
        opt(1, "apiGroup", Str),
        opt(2, "kind", Str),
        opt(3, "name", Str),
    ],
};

/// `io.k8s.api.rbac.v1.Subject`.
pub(crate) static SUBJECT: Message = Message {
    name: "io.k8s.api.rbac.v1.Subject",
    fields: &[
        opt(1, "kind", Str),
        nz(2, "apiGroup", Str),
        opt(3, "name", Str),
        nz(4, "namespace", Str),
    ],
};
