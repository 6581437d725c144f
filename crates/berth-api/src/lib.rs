//! The resource model of Berth: which kinds exist (the registry), how objects are validated and
//! defaulted, label and field selectors, quantities, the patch engines, Table rendering for
//! `kubectl get`, and decoding of Kubernetes protobuf bodies.
//!
//! Everything here is a pure function over `serde_json::Value` objects: no I/O, no async.

pub mod defaults;
pub mod patch;
pub mod protobuf;
pub mod quantity;
pub mod registry;
pub mod selector;
pub mod table;
pub mod validation;
