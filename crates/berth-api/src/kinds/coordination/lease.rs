//! Leases.

use jiff::Timestamp;
use serde_json::Value;

use crate::strategy::Strategy;
use crate::table::{age, c, name, s, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of Leases.
pub struct LeaseStrategy;

impl Strategy for LeaseStrategy {
    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::other::validate_lease(obj, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: LEASE_COLUMNS,
    cells: lease_cells,
};

const LEASE_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease.",
    ),
    AGE,
];

fn lease_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        s(obj, "/spec/holderIdentity").into(),
        age(obj, now),
    ]
}
