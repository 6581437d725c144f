//! The `discovery.k8s.io` kinds.

pub mod endpoint_slice;
