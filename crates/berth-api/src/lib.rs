//! The resource model of Berth: which kinds exist (the registry) and what each does on the API
//! side (its strategy: defaults, validation, Table printing, selectable fields, merge keys),
//! label and field selectors, quantities, the patch engines, and decoding of Kubernetes
//! protobuf bodies.
//!
//! Everything here is a pure function over `serde_json::Value` objects: no I/O, no async.

pub mod defaults;
pub mod kinds;
pub mod patch;
pub mod protobuf;
pub mod quantity;
pub mod registry;
pub mod selector;
pub mod strategy;
pub mod table;
pub mod validation;
