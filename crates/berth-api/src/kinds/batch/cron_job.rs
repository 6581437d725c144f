//! CronJobs.

use jiff::Timestamp;
use serde_json::Value;

use crate::defaults;
use crate::patch::strategy::ApiType;
use crate::strategy::Strategy;
use crate::table::{
    age, arr, c, containers_and_images, format_label_selector, len_of, name, s, since, timestamp,
    w, Column, Printer, AGE, CONTAINERS_DOC, IMAGES_DOC, NAME,
};
use crate::validation::{self, FieldError};

/// The strategy of CronJobs.
pub struct CronJobStrategy;

impl Strategy for CronJobStrategy {
    fn defaults(&self, obj: &mut Value) {
        defaults::on_object(obj, defaults::cron_job);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
        validation::batch::validate_cron_job(obj, old, errs);
    }

    fn printer(&self) -> &Printer {
        &PRINTER
    }

    fn merge_root(&self) -> ApiType {
        ApiType::CronJob
    }
}

const PRINTER: Printer = Printer {
    columns: CRON_JOB_COLUMNS,
    cells: cron_job_cells,
};

const CRON_JOB_COLUMNS: &[Column] = &[
    NAME,
    c("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    c("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
    c("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions."),
    c("Active", "integer", "A list of pointers to currently running jobs."),
    c("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w("Selector", "string", "A label query over pods that should match the pod count."),
];

fn cron_job_cells(cj: &Value, now: Timestamp) -> Vec<Value> {
    let last_schedule = match timestamp(cj, "/status/lastScheduleTime") {
        Some(t) => since(Some(t), now),
        None => "<none>".to_string(),
    };
    let time_zone = match cj.pointer("/spec/timeZone").and_then(Value::as_str) {
        Some(tz) => tz.to_string(),
        None => "<none>".to_string(),
    };
    let suspend = match cj.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let (names, images) =
        containers_and_images(arr(cj, "/spec/jobTemplate/spec/template/spec/containers"));
    vec![
        name(cj),
        s(cj, "/spec/schedule").into(),
        time_zone.into(),
        suspend.into(),
        len_of(cj, "/status/active").into(),
        last_schedule.into(),
        age(cj, now),
        names,
        images,
        format_label_selector(cj.pointer("/spec/jobTemplate/spec/selector")).into(),
    ]
}
