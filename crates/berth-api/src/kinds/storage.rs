//! The `storage.k8s.io` kinds.

pub mod storage_class;
