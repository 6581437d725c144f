//! Message descriptors for `authentication.k8s.io/v1`: TokenRequest and SelfSubjectReview
//! (what `kubectl auth whoami` sends). `UserInfo.extra` (a map of `ExtraValue` messages that
//! JSON shows as plain lists) is not described: clients never send it, and a body carrying it
//! is refused rather than half-read.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{nz, opt, rep, Kind::*, Message};
use super::meta_v1;

/// `io.k8s.api.authentication.v1.BoundObjectReference`.
pub(crate) static BOUND_OBJECT_REFERENCE: Message = Message {
    name: "io.k8s.api.authentication.v1.BoundObjectReference",
    fields: &[
        nz(1, "kind", Str),
        nz(2, "apiVersion", Str),
        nz(3, "name", Str),
        nz(4, "uid", Str),
    ],
};

/// `io.k8s.api.authentication.v1.TokenRequest`.
pub(crate) static TOKEN_REQUEST: Message = Message {
    name: "io.k8s.api.authentication.v1.TokenRequest",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&TOKEN_REQUEST_SPEC)),
        opt(3, "status", Msg(&TOKEN_REQUEST_STATUS)),
    ],
};

/// `io.k8s.api.authentication.v1.TokenRequestSpec`.
pub(crate) static TOKEN_REQUEST_SPEC: Message = Message {
    name: "io.k8s.api.authentication.v1.TokenRequestSpec",
    fields: &[
        rep(1, "audiences", Str),
        opt(4, "expirationSeconds", I64),
        opt(3, "boundObjectRef", Msg(&BOUND_OBJECT_REFERENCE)),
    ],
};

/// `io.k8s.api.authentication.v1.TokenRequestStatus`.
pub(crate) static TOKEN_REQUEST_STATUS: Message = Message {
    name: "io.k8s.api.authentication.v1.TokenRequestStatus",
    fields: &[opt(1, "token", Str), opt(2, "expirationTimestamp", Time)],
};

/// `io.k8s.api.authentication.v1.SelfSubjectReview`.
pub(crate) static SELF_SUBJECT_REVIEW: Message = Message {
    name: "io.k8s.api.authentication.v1.SelfSubjectReview",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "status", Msg(&SELF_SUBJECT_REVIEW_STATUS)),
    ],
};

/// `io.k8s.api.authentication.v1.SelfSubjectReviewStatus`.
pub(crate) static SELF_SUBJECT_REVIEW_STATUS: Message = Message {
    name: "io.k8s.api.authentication.v1.SelfSubjectReviewStatus",
    fields: &[opt(1, "userInfo", Msg(&USER_INFO))],
};

/// `io.k8s.api.authentication.v1.UserInfo` (without `extra`, see the module notes).
pub(crate) static USER_INFO: Message = Message {
    name: "io.k8s.api.authentication.v1.UserInfo",
    fields: &[
        nz(1, "username", Str),
        nz(2, "uid", Str),
        rep(3, "groups", Str),
    ],
};
