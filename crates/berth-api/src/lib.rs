//! The resource model of Berth: which kinds exist (the registry), how objects are validated and
//! defaulted, label and field selectors, quantities, the patch engines, Table rendering for
//! `kubectl get`, decoding of Kubernetes protobuf bodies, cron schedules ([`cron`]), and the
//! matching rules placement shares ([`matching`]: typed label selectors, taints and
//! tolerations, node affinity).
//!
//! Everything here is a pure function: no I/O, no async. Objects are `serde_json::Value`,
//! except in [`matching`], whose callers hold typed k8s-openapi objects.

pub mod cron;
pub mod defaults;
pub mod matching;
pub mod patch;
pub mod protobuf;
pub mod quantity;
pub mod registry;
pub mod selector;
pub mod table;
pub mod validation;
