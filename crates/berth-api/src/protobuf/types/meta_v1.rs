//! Message descriptors for `meta/v1` (apimachinery): ObjectMeta and the other structs shared by
//! all kinds. The meta types with a special JSON form (Time, MicroTime, Duration, FieldsV1) are
//! `Kind`s, not tables.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{map, nz, opt, rep, Kind::*, Message};

/// `io.k8s.apimachinery.pkg.apis.meta.v1.Condition`.
pub(crate) static CONDITION: Message = Message {
    name: "io.k8s.apimachinery.pkg.apis.meta.v1.Condition",
    fields: &[
        opt(1, "type", Str),
        opt(2, "status", Str),
        nz(3, "observedGeneration", I64),
        opt(4, "lastTransitionTime", Time),
        opt(5, "reason", Str),
        opt(6, "message", Str),
    ],
};

/// `io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions`.
pub(crate) static DELETE_OPTIONS: Message = Message {
    name: "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    fields: &[
        opt(1, "gracePeriodSeconds", I64),
        opt(2, "preconditions", Msg(&PRECONDITIONS)),
        opt(3, "orphanDependents", Bool),
        opt(4, "propagationPolicy", Str),
        rep(5, "dryRun", Str),
        opt(6, "ignoreStoreReadErrorWithClusterBreakingPotential", Bool),
    ],
};

/// `io.k8s.apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement`.
pub(crate) static FIELD_SELECTOR_REQUIREMENT: Message = Message {
    name: "io.k8s.apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement",
    fields: &[
        opt(1, "key", Str),
        opt(2, "operator", Str),
        rep(3, "values", Str),
    ],
};

/// `io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector`.
pub(crate) static LABEL_SELECTOR: Message = Message {
    name: "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    fields: &[
        map(1, "matchLabels", Str),
        rep(2, "matchExpressions", Msg(&LABEL_SELECTOR_REQUIREMENT)),
    ],
};

/// `io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement`.
pub(crate) static LABEL_SELECTOR_REQUIREMENT: Message = Message {
    name: "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
    fields: &[
        opt(1, "key", Str),
        opt(2, "operator", Str),
        rep(3, "values", Str),
    ],
};

/// `io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry`.
pub(crate) static MANAGED_FIELDS_ENTRY: Message = Message {
    name: "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
    fields: &[
        nz(1, "manager", Str),
        nz(2, "operation", Str),
        nz(3, "apiVersion", Str),
        opt(4, "time", Time),
        nz(6, "fieldsType", Str),
        opt(7, "fieldsV1", FieldsV1),
        nz(8, "subresource", Str),
    ],
};

/// `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`.
pub(crate) static OBJECT_META: Message = Message {
    name: "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    fields: &[
        nz(1, "name", Str),
        nz(2, "generateName", Str),
        nz(3, "namespace", Str),
        nz(4, "selfLink", Str),
        nz(5, "uid", Str),
        nz(6, "resourceVersion", Str),
        nz(7, "generation", I64),
        nz(8, "creationTimestamp", Time),
        opt(9, "deletionTimestamp", Time),
        opt(10, "deletionGracePeriodSeconds", I64),
        map(11, "labels", Str),
        map(12, "annotations", Str),
        rep(13, "ownerReferences", Msg(&OWNER_REFERENCE)),
        rep(14, "finalizers", Str),
        rep(17, "managedFields", Msg(&MANAGED_FIELDS_ENTRY)),
    ],
};

/// `io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference`.
pub(crate) static OWNER_REFERENCE: Message = Message {
    name: "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
    fields: &[
        opt(5, "apiVersion", Str),
        opt(1, "kind", Str),
        opt(3, "name", Str),
        opt(4, "uid", Str),
        opt(6, "controller", Bool),
        opt(7, "blockOwnerDeletion", Bool),
    ],
};

/// `io.k8s.apimachinery.pkg.apis.meta.v1.Preconditions`.
pub(crate) static PRECONDITIONS: Message = Message {
    name: "io.k8s.apimachinery.pkg.apis.meta.v1.Preconditions",
    fields: &[opt(1, "uid", Str), opt(2, "resourceVersion", Str)],
};
