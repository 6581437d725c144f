//! EndpointSlices.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::strategy::Strategy;
use crate::table::{age, arr, c, list_with_more, name, s, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of EndpointSlices.
pub struct EndpointSliceStrategy;

impl Strategy for EndpointSliceStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::endpoint_slice);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::other::validate_endpoint_slice(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: ENDPOINT_SLICE_COLUMNS,
    cells: endpoint_slice_cells,
};

const ENDPOINT_SLICE_COLUMNS: &[Column] = &[
    NAME,
    c(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice.",
    ),
    c(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
    ),
    c(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice.",
    ),
    AGE,
];

fn endpoint_slice_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    const MAX: usize = 3;
    let port_list: Vec<String> = arr(obj, "/ports")
        .iter()
        .map(|p| match p.get("port").and_then(Value::as_i64) {
            Some(n) => n.to_string(),
            None => p
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| "*".to_string(), str::to_string),
        })
        .collect();
    let ports = list_with_more(
        &port_list[..port_list.len().min(MAX)],
        port_list.len() > MAX,
        port_list.len(),
        MAX,
        "<unset>",
    );
    let addresses: Vec<String> = arr(obj, "/endpoints")
        .iter()
        .flat_map(|e| arr(e, "/addresses"))
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    let endpoints = list_with_more(
        &addresses[..addresses.len().min(MAX)],
        addresses.len() > MAX,
        addresses.len(),
        MAX,
        "<unset>",
    );
    vec![
        name(obj),
        s(obj, "/addressType").into(),
        ports.into(),
        endpoints.into(),
        age(obj, now),
    ]
}
