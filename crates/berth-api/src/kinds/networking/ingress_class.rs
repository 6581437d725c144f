//! IngressClasses.

use jiff::Timestamp;
use serde_json::Value;

use crate::strategy::Strategy;
use crate::table::{age, c, name, s, Column, Printer, AGE, NAME};

/// The strategy of IngressClasss.
pub struct IngressClassStrategy;

impl Strategy for IngressClassStrategy {
    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: INGRESS_CLASS_COLUMNS,
    cells: ingress_class_cells,
};

const INGRESS_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    c(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

fn ingress_class_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let parameters = match obj.pointer("/spec/parameters").filter(|p| p.is_object()) {
        None => "<none>".to_string(),
        Some(p) => {
            let mut kind = s(p, "/kind").to_string();
            if let Some(group) = p.get("apiGroup").and_then(Value::as_str) {
                kind = format!("{kind}.{group}");
            }
            format!("{kind}/{}", s(p, "/name"))
        }
    };
    vec![
        name(obj),
        s(obj, "/spec/controller").into(),
        parameters.into(),
        age(obj, now),
    ]
}
