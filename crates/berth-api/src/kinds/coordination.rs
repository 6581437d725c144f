//! The `coordination.k8s.io` kinds.

pub mod lease;
