//! The `scheduling.k8s.io` kinds.

pub mod priority_class;
