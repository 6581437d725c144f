//! RuntimeClasses.

use jiff::Timestamp;
use serde_json::Value;

use crate::strategy::Strategy;
use crate::table::{age, c, name, s, Column, Printer, AGE, NAME};

/// The strategy of RuntimeClasss.
pub struct RuntimeClassStrategy;

impl Strategy for RuntimeClassStrategy {
    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: RUNTIME_CLASS_COLUMNS,
    cells: runtime_class_cells,
};

const RUNTIME_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c("Handler", "string", "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class."),
    AGE,
];

fn runtime_class_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), s(obj, "/handler").into(), age(obj, now)]
}
