//! HorizontalPodAutoscalers, in both served versions.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::strategy::Strategy;
use crate::table::{age, arr, c, int, name, present, quantity_text, s, Column, Printer, AGE, NAME};
use crate::validation::{self, FieldError};

/// The strategy of HorizontalPodAutoscalers.
pub struct HorizontalPodAutoscalerStrategy;

impl Strategy for HorizontalPodAutoscalerStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::hpa);
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::other::validate_hpa(obj, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::ConditionedObject
    }
}

const PRINTER: Printer = Printer {
    columns: HPA_COLUMNS,
    cells: hpa_cells,
};

/// HPA metric specs and statuses in `autoscaling/v2` shape; an `autoscaling/v1` object's CPU
/// target is converted the way Kubernetes converts it.
fn hpa_metrics(hpa: &Value) -> (Vec<Value>, Vec<Value>) {
    if let Some(specs) = hpa.pointer("/spec/metrics").and_then(Value::as_array) {
        return (specs.clone(), arr(hpa, "/status/currentMetrics").to_vec());
    }
    let Some(target) = hpa
        .pointer("/spec/targetCPUUtilizationPercentage")
        .filter(|v| !v.is_null())
    else {
        return (Vec::new(), Vec::new());
    };
    let spec = serde_json::json!({
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}
    });
    let statuses = match hpa
        .pointer("/status/currentCPUUtilizationPercentage")
        .filter(|v| !v.is_null())
    {
        Some(current) => vec![serde_json::json!({
            "type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": current}}
        })],
        None => Vec::new(),
    };
    (vec![spec], statuses)
}

/// `(*Quantity).String()` of a pointer quantity (unset prints as "<nil>").
fn quantity_ptr(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<nil>".to_string(),
        Some(v) => quantity_text(v),
    }
}

/// `formatHPAMetrics`: "cpu: 40%/80%, memory: 1Gi/2Gi + 1 more...".
fn hpa_targets(hpa: &Value) -> String {
    let (specs, statuses) = hpa_metrics(hpa);
    if specs.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 2;
    let mut list = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        // The status entry for the same source, if the HPA has reported it.
        let current = |source: &str| {
            status
                .and_then(|st| st.get(source))
                .filter(|v| !v.is_null())
        };
        let entry = match s(spec, "/type") {
            ty @ ("External" | "Object") => {
                let source = if ty == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = spec.get(source).cloned().unwrap_or(Value::Null);
                if present(&target, "/target/averageValue") {
                    let cur = current(source)
                        .and_then(|c| c.pointer("/current/averageValue"))
                        .filter(|v| !v.is_null())
                        .map_or_else(|| "<unknown>".to_string(), quantity_text);
                    format!(
                        "{cur}/{} (avg)",
                        quantity_ptr(target.pointer("/target/averageValue"))
                    )
                } else {
                    let cur = current(source).map_or_else(
                        || "<unknown>".to_string(),
                        |c| quantity_ptr(c.pointer("/current/value")),
                    );
                    format!("{cur}/{}", quantity_ptr(target.pointer("/target/value")))
                }
            }
            "Pods" => {
                let cur = current("pods").map_or_else(
                    || "<unknown>".to_string(),
                    |c| quantity_ptr(c.pointer("/current/averageValue")),
                );
                format!(
                    "{cur}/{}",
                    quantity_ptr(spec.pointer("/pods/target/averageValue"))
                )
            }
            ty @ ("Resource" | "ContainerResource") => {
                let source = if ty == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let resource = s(spec, &format!("/{source}/name"));
                let target = spec.get(source).cloned().unwrap_or(Value::Null);
                if present(&target, "/target/averageValue") {
                    let cur = current(source).map_or_else(
                        || "<unknown>".to_string(),
                        |c| quantity_ptr(c.pointer("/current/averageValue")),
                    );
                    format!(
                        "{resource}: {cur}/{}",
                        quantity_ptr(target.pointer("/target/averageValue"))
                    )
                } else {
                    let cur = current(source)
                        .and_then(|c| c.pointer("/current/averageUtilization"))
                        .and_then(Value::as_i64)
                        .map_or_else(|| "<unknown>".to_string(), |u| format!("{u}%"));
                    let goal = target
                        .pointer("/target/averageUtilization")
                        .and_then(Value::as_i64)
                        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                    format!("{resource}: {cur}/{goal}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}

const HPA_COLUMNS: &[Column] = &[
    NAME,
    c("Reference", "string", "reference to scaled resource; horizontal pod autoscaler will learn the current resource consumption and will set the desired number of pods by using its Scale subresource."),
    c("Targets", "string", "metrics contains the specifications for which to use to calculate the desired replica count."),
    c("MinPods", "string", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down."),
    c("MaxPods", "string", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up."),
    c("Replicas", "string", "currentReplicas is current number of replicas of pods managed by this autoscaler."),
    AGE,
];

fn hpa_cells(hpa: &Value, now: Timestamp) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        s(hpa, "/spec/scaleTargetRef/kind"),
        s(hpa, "/spec/scaleTargetRef/name")
    );
    let min_pods = hpa
        .pointer("/spec/minReplicas")
        .and_then(Value::as_i64)
        .map_or_else(|| "<unset>".to_string(), |n| n.to_string());
    vec![
        name(hpa),
        reference.into(),
        hpa_targets(hpa).into(),
        min_pods.into(),
        int(hpa, "/spec/maxReplicas").into(),
        int(hpa, "/status/currentReplicas").into(),
        age(hpa, now),
    ]
}
