//! The `node.k8s.io` kinds.

pub mod runtime_class;
