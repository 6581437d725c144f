//! Ingresses.

use jiff::Timestamp;
use serde_json::Value;

use crate::strategy::Strategy;
use crate::table::{age, arr, c, load_balancer_ingress, name, s, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of Ingresss.
pub struct IngressStrategy;

impl Strategy for IngressStrategy {
    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::other::validate_ingress(obj, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }
}

const PRINTER: Printer = Printer {
    columns: INGRESS_COLUMNS,
    cells: ingress_cells,
};

const INGRESS_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    c(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    c(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    c("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

fn ingress_cells(ing: &Value, now: Timestamp) -> Vec<Value> {
    const MAX: usize = 3;
    let rules = arr(ing, "/spec/rules");
    let mut hosts = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = s(rule, "/host");
        if !more && !host.is_empty() {
            hosts.push(host.to_string());
        }
    }
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", hosts.join(","), rules.len() - MAX)
    } else {
        hosts.join(",")
    };
    let class = ing
        .pointer("/spec/ingressClassName")
        .and_then(Value::as_str)
        .map_or_else(|| "<none>".to_string(), str::to_string);
    let ports = if arr(ing, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(ing),
        class.into(),
        hosts.into(),
        load_balancer_ingress(ing, "/status/loadBalancer/ingress").into(),
        ports.into(),
        age(ing, now),
    ]
}
