//! Message descriptors for `authorization.k8s.io/v1`: SelfSubjectAccessReview.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{nz, opt, rep, Kind::*, Message};
use super::meta_v1;

/// `io.k8s.api.authorization.v1.FieldSelectorAttributes`.
pub(crate) static FIELD_SELECTOR_ATTRIBUTES: Message = Message {
    name: "io.k8s.api.authorization.v1.FieldSelectorAttributes",
    fields: &[
        nz(1, "rawSelector", Str),
        rep(2, "requirements", Msg(&meta_v1::FIELD_SELECTOR_REQUIREMENT)),
    ],
};

/// `io.k8s.api.authorization.v1.LabelSelectorAttributes`.
pub(crate) static LABEL_SELECTOR_ATTRIBUTES: Message = Message {
    name: "io.k8s.api.authorization.v1.LabelSelectorAttributes",
    fields: &[
        nz(1, "rawSelector", Str),
        rep(2, "requirements", Msg(&meta_v1::LABEL_SELECTOR_REQUIREMENT)),
    ],
};

/// `io.k8s.api.authorization.v1.NonResourceAttributes`.
pub(crate) static NON_RESOURCE_ATTRIBUTES: Message = Message {
    name: "io.k8s.api.authorization.v1.NonResourceAttributes",
    fields: &[nz(1, "path", Str), nz(2, "verb", Str)],
};

/// `io.k8s.api.authorization.v1.ResourceAttributes`.
pub(crate) static RESOURCE_ATTRIBUTES: Message = Message {
    name: "io.k8s.api.authorization.v1.ResourceAttributes",
    fields: &[
        nz(1, "namespace", Str),
        nz(2, "verb", Str),
        nz(3, "group", Str),
        nz(4, "version", Str),
        nz(5, "resource", Str),
        nz(6, "subresource", Str),
        nz(7, "name", Str),
        opt(8, "fieldSelector", Msg(&FIELD_SELECTOR_ATTRIBUTES)),
        opt(9, "labelSelector", Msg(&LABEL_SELECTOR_ATTRIBUTES)),
    ],
};

/// `io.k8s.api.authorization.v1.SelfSubjectAccessReview`.
pub(crate) static SELF_SUBJECT_ACCESS_REVIEW: Message = Message {
    name: "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&SELF_SUBJECT_ACCESS_REVIEW_SPEC)),
        opt(3, "status", Msg(&SUBJECT_ACCESS_REVIEW_STATUS)),
    ],
};

/// `io.k8s.api.authorization.v1.SelfSubjectAccessReviewSpec`.
pub(crate) static SELF_SUBJECT_ACCESS_REVIEW_SPEC: Message = Message {
    name: "io.k8s.api.authorization.v1.SelfSubjectAccessReviewSpec",
    fields: &[
        opt(1, "resourceAttributes", Msg(&RESOURCE_ATTRIBUTES)),
        opt(2, "nonResourceAttributes", Msg(&NON_RESOURCE_ATTRIBUTES)),
    ],
};

/// `io.k8s.api.authorization.v1.SubjectAccessReviewStatus`.
pub(crate) static SUBJECT_ACCESS_REVIEW_STATUS: Message = Message {
    name: "io.k8s.api.authorization.v1.SubjectAccessReviewStatus",
    fields: &[
        opt(1, "allowed", Bool),
        nz(4, "denied", Bool),
        nz(2, "reason", Str),
        nz(3, "evaluationError", Str),
    ],
};
