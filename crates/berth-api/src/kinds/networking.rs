//! The `networking.k8s.io` kinds.

pub mod ingress;
pub mod ingress_class;
pub mod network_policy;
