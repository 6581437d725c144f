//! Deployments.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::selector::LabelSelector;
use crate::strategy::Strategy;
use crate::table::{
    age, arr, c, containers_and_images, desired_replicas, int, name, w, Column, Printer, AGE,
    CONTAINERS_DOC, IMAGES_DOC, NAME,
};
use crate::validation::{self, FieldError};

/// The strategy of Deployments.
pub struct DeploymentStrategy;

impl Strategy for DeploymentStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::deployment);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::apps::validate_deployment(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::Deployment
    }
}

const PRINTER: Printer = Printer {
    columns: DEPLOYMENT_COLUMNS,
    cells: deployment_cells,
};

const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    c("Ready", "string", "Number of the pod with ready state"),
    c("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    c("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w("Selector", "string", "Label selector for pods."),
];

fn deployment_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/spec/template/spec/containers"));
    // printDeployment prints the bare selector string (empty when unset), not "<none>".
    let selector = match obj.pointer("/spec/selector") {
        None | Some(Value::Null) => String::new(),
        Some(sel) => LabelSelector::from_json(sel)
            .map_or_else(|_| "<invalid>".to_string(), |sel| sel.to_string()),
    };
    vec![
        name(obj),
        format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            desired_replicas(obj)
        )
        .into(),
        int(obj, "/status/updatedReplicas").into(),
        int(obj, "/status/availableReplicas").into(),
        age(obj, now),
        names,
        images,
        selector.into(),
    ]
}
