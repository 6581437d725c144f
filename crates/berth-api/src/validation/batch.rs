//! Jobs and CronJobs (`pkg/apis/batch/validation`): counts and limits, completion modes, the
//! restart policy of run-to-completion pods, what may change on a running Job, and cron
//! schedules and time zones.

use serde_json::Value;

use super::meta::{self, nonnegative, IMMUTABLE_MSG};
use super::names::{go_label_selector, go_string_map};
use super::pod;
use super::{int_at, semantic, str_at, Errors, FieldError, Path, Raw};
use crate::cron;
use crate::selector::LabelSelector;

/// Indexed Jobs track every index; Kubernetes caps their parallelism.
const MAX_PARALLELISM_FOR_INDEXED_JOB: i64 = 100_000;

/// Job (`ValidateJob` / `ValidateJobUpdate`).
pub(crate) fn validate_job(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    let sel = &spec["selector"];
    let sp = path.child("selector");
    if sel.is_null() {
        // Without manualSelector the server generates the selector from the Job's uid (see
        // `defaults::generate_job_selector`); only a manual selector must be given.
        if spec["manualSelector"].as_bool() == Some(true) {
            errs.push(FieldError::required(&sp, ""));
        }
    } else {
        meta::label_selector(sel, &sp, errs);
        if let Ok(selector) = LabelSelector::from_json(sel) {
            let labels = spec["template"]["metadata"]["labels"].as_object();
            if !selector.matches(labels.unwrap_or(&Default::default())) {
                errs.push(FieldError::invalid(
                    &path.child("template").child("metadata").child("labels"),
                    Raw(go_string_map(labels)),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    job_spec(spec, &path, errs);
    if let Some(old) = old {
        job_update(obj, old, errs);
    }
}

/// `validateJobSpec`: shared by Jobs and CronJob job templates.
fn job_spec(spec: &Value, path: &Path, errs: &mut Errors) {
    for field in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ] {
        nonnegative(int_at(spec, field), &path.child(field), errs);
    }
    let mode = str_at(spec, "completionMode");
    match mode {
        "" | "NonIndexed" => {}
        "Indexed" => {
            if spec["completions"].is_null() {
                errs.push(FieldError::required(
                    &path.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = int_at(spec, "parallelism") {
                if p > MAX_PARALLELISM_FOR_INDEXED_JOB {
                    errs.push(FieldError::invalid(
                        &path.child("parallelism"),
                        p,
                        &format!(
                            "must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} \
                             when completion mode is Indexed"
                        ),
                    ));
                }
            }
        }
        other => errs.push(FieldError::not_supported(
            &path.child("completionMode"),
            other,
            &["NonIndexed", "Indexed"],
        )),
    }
    if mode != "Indexed" {
        for field in ["backoffLimitPerIndex", "maxFailedIndexes"] {
            if !spec[field].is_null() {
                errs.push(FieldError::invalid(
                    &path.child(field),
                    &spec[field],
                    "requires indexed completion mode",
                ));
            }
        }
    }
    let replacement = str_at(spec, "podReplacementPolicy");
    if !replacement.is_empty() {
        if !spec["podFailurePolicy"].is_null() {
            if replacement != "Failed" {
                errs.push(FieldError::not_supported(
                    &path.child("podReplacementPolicy"),
                    replacement,
                    &["Failed"],
                ));
            }
        } else if replacement != "Failed" && replacement != "TerminatingOrFailed" {
            errs.push(FieldError::not_supported(
                &path.child("podReplacementPolicy"),
                replacement,
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let template = &spec["template"];
    let tp = path.child("template");
    pod::pod_template(template, &tp, errs);
    // A Job's pods run to completion: "Always" would never let one finish.
    let rp = tp.child("spec").child("restartPolicy");
    match pod::effective_restart_policy(&template["spec"]) {
        "OnFailure" | "Never" => {}
        "Always" => errs.push(FieldError::required(
            &rp,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        other => errs.push(FieldError::not_supported(
            &rp,
            other,
            &["OnFailure", "Never"],
        )),
    }
}

/// What may change on an existing Job: counts, suspension and deadlines, not the pods.
fn job_update(new: &Value, old: &Value, errs: &mut Errors) {
    let mut new_obj = new.clone();
    let mut old_obj = old.clone();
    for obj in [&mut new_obj, &mut old_obj] {
        crate::defaults::on_object(obj, crate::defaults::job);
        crate::defaults::generate_job_selector(obj);
    }
    let (n, o) = (&new_obj["spec"], &old_obj["spec"]);
    let path = Path::new("spec");

    if semantic(&n["completions"]) != semantic(&o["completions"]) {
        let cp = path.child("completions");
        if str_at(n, "completionMode") == "Indexed" {
            // Elastic Indexed Jobs scale completions together with parallelism.
            if !n["completions"].is_null() && n["completions"] != n["parallelism"] {
                errs.push(FieldError::invalid(
                    &cp,
                    &n["completions"],
                    "can only be modified in tandem with spec.parallelism",
                ));
            }
        } else {
            errs.push(FieldError::invalid(&cp, &n["completions"], IMMUTABLE_MSG));
        }
    }
    if semantic(&n["selector"]) != semantic(&o["selector"]) {
        errs.push(FieldError::invalid(
            &path.child("selector"),
            Raw(go_label_selector(&n["selector"])),
            IMMUTABLE_MSG,
        ));
    }

    // Scheduling directives of a suspended Job that never started may still be adjusted
    // (e.g. by a queueing controller deciding where it runs).
    let mut new_template = n["template"].clone();
    let mut old_template = o["template"].clone();
    let never_started = old["status"]["startTime"].is_null();
    if n["suspend"].as_bool() == Some(true) && never_started {
        for t in [&mut new_template, &mut old_template] {
            if let Some(m) = t["metadata"].as_object_mut() {
                m.remove("labels");
                m.remove("annotations");
            }
            if let Some(m) = t["spec"].as_object_mut() {
                for f in ["nodeSelector", "tolerations", "affinity", "schedulingGates"] {
                    m.remove(f);
                }
            }
        }
    }
    if semantic(&new_template) != semantic(&old_template) {
        errs.push(FieldError::invalid(
            &path.child("template"),
            &n["template"],
            IMMUTABLE_MSG,
        ));
    }
    for field in [
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ] {
        if semantic(&n[field]) != semantic(&o[field]) {
            errs.push(FieldError::invalid(
                &path.child(field),
                &n[field],
                IMMUTABLE_MSG,
            ));
        }
    }
}

/// CronJob (`ValidateCronJobCreate` / `ValidateCronJobUpdate`).
pub(crate) fn validate_cron_job(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let name = str_at(&obj["metadata"], "name");
    // Jobs are named `<cronjob>-<11-character timestamp>` and Job names feed a 63-character
    // label, so 52 is the longest usable name. Not rechecked on update, so old objects stay
    // editable.
    if old.is_none() && name.len() > 52 {
        errs.push(FieldError::invalid(
            &Path::new("metadata").child("name"),
            name,
            "must be no more than 52 characters",
        ));
    }
    let spec = &obj["spec"];
    let path = Path::new("spec");
    let schedule = str_at(spec, "schedule");
    let sp = path.child("schedule");
    if schedule.is_empty() {
        errs.push(FieldError::required(&sp, ""));
    } else {
        if let Err(e) = cron::Schedule::parse(schedule) {
            errs.push(FieldError::invalid(&sp, schedule, &e.to_string()));
        }
        let allow_tz = old.is_some_and(|o| str_at(&o["spec"], "schedule").contains("TZ"));
        if allow_tz && schedule.contains("TZ") && !spec["timeZone"].is_null() {
            errs.push(FieldError::invalid(
                &sp,
                schedule,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                &sp,
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    nonnegative(
        int_at(spec, "startingDeadlineSeconds"),
        &path.child("startingDeadlineSeconds"),
        errs,
    );
    let tz_changed = old.is_none_or(|o| o["spec"]["timeZone"] != spec["timeZone"]);
    if tz_changed {
        time_zone(&spec["timeZone"], &path.child("timeZone"), errs);
    }
    let policy = str_at(spec, "concurrencyPolicy");
    if !policy.is_empty() && !matches!(policy, "Allow" | "Forbid" | "Replace") {
        errs.push(FieldError::not_supported(
            &path.child("concurrencyPolicy"),
            policy,
            &["Allow", "Forbid", "Replace"],
        ));
    }
    let jt = &spec["jobTemplate"];
    let jp = path.child("jobTemplate");
    meta::labels(
        &jt["metadata"]["labels"],
        &jp.child("metadata").child("labels"),
        errs,
    );
    meta::annotations(
        &jt["metadata"]["annotations"],
        &jp.child("metadata").child("annotations"),
        errs,
    );
    let js = &jt["spec"];
    job_spec(js, &jp.child("spec"), errs);
    // The CronJob controller generates each Job's selector itself.
    if !js["selector"].is_null() {
        errs.push(FieldError::invalid(
            &jp.child("spec").child("selector"),
            Raw(go_label_selector(&js["selector"])),
            "`selector` will be auto-generated",
        ));
    }
    if js["manualSelector"].as_bool() == Some(true) {
        errs.push(FieldError::not_supported(
            &jp.child("spec").child("manualSelector"),
            &js["manualSelector"],
            &["nil", "false"],
        ));
    }
    for field in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        nonnegative(int_at(spec, field), &path.child(field), errs);
    }
}

/// An IANA time zone name, checked like `validateTimeZone`.
fn time_zone(tz: &Value, path: &Path, errs: &mut Errors) {
    let Some(name) = tz.as_str() else {
        return;
    };
    if name.is_empty() {
        errs.push(FieldError::invalid(
            path,
            name,
            "timeZone must be nil or non-empty string",
        ));
        return;
    }
    let part_ok = |p: &str| {
        p != "."
            && p != ".."
            && !p.starts_with('-')
            && (1..=14).contains(&p.len())
            && p.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'+'))
    };
    if !name.split('/').all(part_ok) {
        errs.push(FieldError::invalid(
            path,
            name,
            &format!("unknown time zone {name}"),
        ));
        return;
    }
    if name.eq_ignore_ascii_case("local") {
        errs.push(FieldError::invalid(
            path,
            name,
            "timeZone must be an explicit time zone as defined in \
             https://www.iana.org/time-zones",
        ));
    }
    if !cron::known_time_zone(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            &format!("unknown time zone {name}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::validate;
    use super::super::tests::{assert_has, messages};
    use serde_json::{json, Value};

    fn job(spec: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "pi", "namespace": "default", "uid": "u1"}, "spec": spec})
    }

    fn pod_template(restart: &str) -> Value {
        json!({"spec": {"restartPolicy": restart, "containers": [{"name": "pi", "image": "perl"}]}})
    }

    #[test]
    fn job_counts_and_restart_policy() {
        let j = job(json!({"template": pod_template("Never")}));
        assert_eq!(
            messages(&validate("batch", "Job", true, &j, None)),
            Vec::<String>::new()
        );
        let j = job(
            json!({"completions": -1, "parallelism": -2, "backoffLimit": -3,
                           "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}),
        );
        assert_eq!(
            messages(&validate("batch", "Job", true, &j, None)),
            vec![
                "spec.parallelism: Invalid value: -2: must be greater than or equal to 0",
                "spec.completions: Invalid value: -1: must be greater than or equal to 0",
                "spec.backoffLimit: Invalid value: -3: must be greater than or equal to 0",
                "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \
                 \"Never\"",
            ]
        );
    }

    #[test]
    fn job_selector_and_template_on_update() {
        let mut old = job(json!({"template": pod_template("Never")}));
        crate::kinds::strategy_of("batch", "Job").defaults(&mut old);
        assert_eq!(
            old["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u1"
        );
        assert!(validate("batch", "Job", true, &old, None).is_empty());
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:2");
        new["spec"]["parallelism"] = json!(3);
        let errs = validate("batch", "Job", true, &new, Some(&old));
        assert_eq!(errs.len(), 1, "{:#?}", messages(&errs));
        assert!(errs[0]
            .to_string()
            .starts_with("spec.template: Invalid value: {"));
        assert!(errs[0].to_string().ends_with(": field is immutable"));
        let mut new = old.clone();
        new["spec"]["completions"] = json!(5);
        assert_eq!(
            messages(&validate("batch", "Job", true, &new, Some(&old))),
            vec!["spec.completions: Invalid value: 5: field is immutable"]
        );
    }

    #[test]
    fn manual_selector_must_match() {
        let j = job(
            json!({"manualSelector": true, "selector": {"matchLabels": {"a": "b"}},
                           "template": pod_template("OnFailure")}),
        );
        assert_eq!(
            messages(&validate("batch", "Job", true, &j, None)),
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string(nil): \
                  `selector` does not match template `labels`"
            ]
        );
    }

    fn cron_job(schedule: &str) -> Value {
        json!({"metadata": {"name": "hello", "namespace": "default"}, "spec": {
            "schedule": schedule,
            "jobTemplate": {"spec": {"template": pod_template("OnFailure")}}}})
    }

    #[test]
    fn cron_schedules() {
        for ok in [
            "*/1 * * * *",
            "@hourly",
            "0 9 * * mon-fri",
            "@every 1h30m",
            "@every 5s",
        ] {
            assert_eq!(
                messages(&validate("batch", "CronJob", true, &cron_job(ok), None)),
                Vec::<String>::new(),
                "{ok}"
            );
        }
        assert_eq!(
            messages(&validate("batch", "CronJob", true, &cron_job(""), None)),
            vec!["spec.schedule: Required value"]
        );
        assert_eq!(
            messages(&validate(
                "batch",
                "CronJob",
                true,
                &cron_job("* * * *"),
                None
            )),
            vec![
                "spec.schedule: Invalid value: \"* * * *\": expected exactly 5 fields, found 4: \
                  [* * * *]"
            ]
        );
        assert_eq!(
            messages(&validate(
                "batch",
                "CronJob",
                true,
                &cron_job("61 * * * *"),
                None
            )),
            vec![
                "spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum \
                  (59): 61"
            ]
        );
        assert_eq!(
            messages(&validate(
                "batch",
                "CronJob",
                true,
                &cron_job("@every 1d"),
                None
            )),
            vec![
                "spec.schedule: Invalid value: \"@every 1d\": failed to parse duration @every \
                 1d: time: unknown unit \"d\" in duration \"1d\""
            ]
        );
        assert_has(
            &validate(
                "batch",
                "CronJob",
                true,
                &cron_job("TZ=UTC 0 * * * *"),
                None,
            ),
            "spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in \
             schedule, use timeZone field instead",
        );
    }

    #[test]
    fn cron_job_fields() {
        let mut cj = cron_job("@daily");
        cj["metadata"]["name"] = json!("x".repeat(53));
        cj["spec"]["concurrencyPolicy"] = json!("Sometimes");
        cj["spec"]["timeZone"] = json!("Mars/Base");
        cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        let errs = messages(&validate("batch", "CronJob", true, &cj, None));
        assert_eq!(
            errs,
            vec![
                format!(
                    "metadata.name: Invalid value: \"{}\": must be no more than 52 characters",
                    "x".repeat(53)
                ),
                "spec.timeZone: Invalid value: \"Mars/Base\": unknown time zone Mars/Base"
                    .to_string(),
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \
                 \"Allow\", \"Forbid\", \"Replace\""
                    .to_string(),
                "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \
                 \"OnFailure\", \"Never\""
                    .to_string(),
            ]
        );
        let mut cj = cron_job("@daily");
        cj["spec"]["timeZone"] = json!("Europe/Paris");
        assert!(validate("batch", "CronJob", true, &cj, None).is_empty());
    }
}
