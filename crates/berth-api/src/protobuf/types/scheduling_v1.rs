//! Message descriptors for `scheduling.k8s.io/v1`: PriorityClass.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{nz, opt, Kind::*, Message};
use super::meta_v1;

/// `io.k8s.api.scheduling.v1.PriorityClass`.
pub(crate) static PRIORITY_CLASS: Message = Message {
    name: "io.k8s.api.scheduling.v1.PriorityClass",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "value", I32),
        nz(3, "globalDefault", Bool),
        nz(4, "description", Str),
        opt(5, "preemptionPolicy", Str),
    ],
};
