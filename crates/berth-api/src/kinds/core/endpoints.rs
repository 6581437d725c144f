//! Endpoints.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::strategy::Strategy;
use crate::table::{age, arr, c, int, list_with_more, name, s, Column, Printer, AGE, NAME};

/// The strategy of Endpointss.
pub struct EndpointsStrategy;

impl Strategy for EndpointsStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::endpoints);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: ENDPOINTS_COLUMNS,
    cells: endpoints_cells,
};

fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `formatEndpoints`: up to three ready `ip:port` pairs, then "+ N more...".
fn format_endpoints(obj: &Value) -> String {
    let subsets = arr(obj, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0;
    for subset in subsets {
        let addresses = arr(subset, "/addresses");
        let ports = arr(subset, "/ports");
        if ports.is_empty() {
            // Headless services may have no ports: list bare IPs.
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(s(a, "/ip").to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(s(a, "/ip"), int(port, "/port")));
            }
        }
    }
    list_with_more(&list, more, count, MAX, "")
}

const ENDPOINTS_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets.",
    ),
    AGE,
];

fn endpoints_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), format_endpoints(obj).into(), age(obj, now)]
}
