//! CertificateSigningRequests: the printer and the `spec.signerName` field, for when the kind is served.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::selector::field::text;
use crate::strategy::Strategy;
use crate::table::{age, arr, c, human_duration, name, or_none, s, Column, Printer, AGE, NAME};

/// The strategy of CertificateSigningRequests.
pub struct CertificateSigningRequestStrategy;

impl Strategy for CertificateSigningRequestStrategy {
    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        (name == "spec.signerName").then(|| text(obj.pointer("/spec/signerName")))
    }
}

const PRINTER: Printer = Printer {
    columns: CSR_COLUMNS,
    cells: csr_cells,
};

const CSR_COLUMNS: &[Column] = &[
    NAME,
    AGE,
    c("SignerName", "string", "Requested signer for the request."),
    c(
        "Requestor",
        "string",
        "Name of the user that created the request.",
    ),
    c(
        "RequestedDuration",
        "string",
        "Requested duration of validity of the issued certificate.",
    ),
    c("Condition", "string", "Conditions applied to the request."),
];

fn csr_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let conditions = arr(obj, "/status/conditions");
    let has = |ty: &str| conditions.iter().any(|c| s(c, "/type") == ty);
    let mut condition = if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    }
    .to_string();
    if has("Failed") {
        condition.push_str(",Failed");
    }
    if !s(obj, "/status/certificate").is_empty() {
        condition.push_str(",Issued");
    }
    let requested = obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .map_or_else(
            || "<none>".to_string(),
            |secs| human_duration(SignedDuration::from_secs(secs)),
        );
    vec![
        name(obj),
        age(obj, now),
        or_none(s(obj, "/spec/signerName")).into(),
        s(obj, "/spec/username").into(),
        requested.into(),
        condition.into(),
    ]
}
