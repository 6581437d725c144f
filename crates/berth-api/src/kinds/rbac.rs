//! The `rbac.authorization.k8s.io` kinds.

pub mod role;
pub mod role_binding;
