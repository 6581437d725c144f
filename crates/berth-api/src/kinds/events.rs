//! The `events.k8s.io` kinds.

pub mod event;
