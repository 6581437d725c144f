//! events.k8s.io/v1 Events: the same stored objects as core/v1 Events, with the newer API's
//! field names, and the same printer.

use serde_json::Value;

use super::super::core::event::{event_field, PRINTER, REFERENCE_FIELDS};
use crate::strategy::Strategy;
use crate::table::Printer;

/// The strategy of events.k8s.io Events.
pub struct EventStrategy;

impl Strategy for EventStrategy {
    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        let supported = matches!(name, "reason" | "reportingController" | "type")
            || name
                .strip_prefix("regarding.")
                .is_some_and(|f| REFERENCE_FIELDS.contains(&f));
        supported.then(|| event_field(obj, name))
    }
}
