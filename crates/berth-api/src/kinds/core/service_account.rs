//! ServiceAccounts.

use jiff::Timestamp;
use serde_json::Value;

use crate::patch::strategy::ApiType;
use crate::strategy::Strategy;
use crate::table::{age, c, len_of, name, Column, Printer, AGE, NAME};

/// The strategy of ServiceAccounts.
pub struct ServiceAccountStrategy;

impl Strategy for ServiceAccountStrategy {
    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::ServiceAccount
    }
}

const PRINTER: Printer = Printer {
    columns: SERVICE_ACCOUNT_COLUMNS,
    cells: service_account_cells,
};

const SERVICE_ACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    c("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
    AGE,
];

fn service_account_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), len_of(obj, "/secrets").into(), age(obj, now)]
}
