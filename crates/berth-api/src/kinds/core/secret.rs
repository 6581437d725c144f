//! Secrets.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::selector::field::text;
use crate::strategy::Strategy;
use crate::table::{age, c, len_of, name, s, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of Secrets.
pub struct SecretStrategy;

impl Strategy for SecretStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::secret);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::core::validate_secret(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        (name == "type").then(|| text(obj.pointer("/type")))
    }
}

const PRINTER: Printer = Printer {
    columns: SECRET_COLUMNS,
    cells: secret_cells,
};

const SECRET_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data.",
    ),
    c("Data", "string", "Data contains the secret data."),
    AGE,
];

fn secret_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        s(obj, "/type").into(),
        len_of(obj, "/data").into(),
        age(obj, now),
    ]
}
