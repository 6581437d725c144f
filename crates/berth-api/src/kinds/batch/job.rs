//! Jobs: defaults (including the generated selector), validation, the printer and the `status.successful` field.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::selector::field::count;
use crate::strategy::Strategy;
use crate::table::{
    age, arr, c, containers_and_images, format_label_selector, human_duration, int, name, present,
    s, timestamp, w, Column, Printer, AGE, CONTAINERS_DOC, IMAGES_DOC, NAME,
};
use crate::validation::{self, FieldError};

/// The strategy of Jobs.
pub struct JobStrategy;

impl Strategy for JobStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::job);
        defaults::generate_job_selector(obj);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::batch::validate_job(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::Job
    }

    /// Kubernetes names the field `status.successful` and reads `status.succeeded`.
    fn field(&self, obj: &Value, name: &str) -> Option<String> {
        (name == "status.successful").then(|| count(obj.pointer("/status/succeeded")))
    }
}

const PRINTER: Printer = Printer {
    columns: JOB_COLUMNS,
    cells: job_cells,
};

/// `hasJobCondition`: the first condition of the type decides.
fn job_condition(obj: &Value, ty: &str) -> bool {
    arr(obj, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == ty)
        .is_some_and(|c| s(c, "/status") == "True")
}

const JOB_COLUMNS: &[Column] = &[
    NAME,
    c("Status", "string", "Status of the job."),
    c(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded.",
    ),
    c("Duration", "string", "Time required to complete the job."),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w(
        "Selector",
        "string",
        "A label query over pods that should match the pod count.",
    ),
];

fn job_cells(job: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int(job, "/status/succeeded");
    let completions = match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(n) => format!("{succeeded}/{n}"),
        None => match int(job, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        timestamp(job, "/status/startTime"),
        timestamp(job, "/status/completionTime"),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.duration_since(start)),
        (Some(start), Some(end)) => human_duration(end.duration_since(start)),
    };
    let status = if job_condition(job, "Complete") {
        "Complete"
    } else if job_condition(job, "Failed") {
        "Failed"
    } else if present(job, "/metadata/deletionTimestamp") {
        "Terminating"
    } else if job_condition(job, "Suspended") {
        "Suspended"
    } else if job_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers_and_images(arr(job, "/spec/template/spec/containers"));
    vec![
        name(job),
        status.into(),
        completions.into(),
        duration.into(),
        age(job, now),
        names,
        images,
        format_label_selector(job.pointer("/spec/selector")).into(),
    ]
}
