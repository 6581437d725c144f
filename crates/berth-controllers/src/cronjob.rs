//! The CronJob controller: creates a Job per scheduled time, as kube-controller-manager's
//! cronjob controller v2 does. Each CronJob is reconciled on changes to it or its Jobs and
//! again exactly at its next scheduled time (no polling). The most recent missed time is run
//! if it is within `startingDeadlineSeconds`; more than 100 missed times is reported and only
//! the latest considered. `concurrencyPolicy` Allow, Forbid (skip while a Job runs) or Replace
//! (delete the running Jobs first); `suspend`; history limits on finished Jobs; Jobs named
//! `<cronjob>-<minutes since the epoch>` with the scheduled time annotated; `timeZone` by
//! IANA name (the server's zone otherwise). Schedules are `berth_api::cron`'s, the grammar
//! validation admits, so whatever the API server accepts runs here.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use berth_api::cron::Schedule;
use berth_events::{EventType, Recorder};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::Api;

use crate::pods::{self, controller_of, split_key};
use crate::runner::Controller;
use crate::Error;

const COMPONENT: &str = "cronjob-controller";
const WORKERS: usize = 2;
/// Each CronJob requeues itself for its next time; the resync only covers lost events.
const RESYNC: Duration = Duration::from_secs(300);
const SCHEDULED_AT: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Missed start times counted at most (kube's guard against a long-stopped controller).
const MAX_MISSED: u64 = 100;

struct Ctx {
    client: kube::Client,
    recorder: Recorder,
    cronjobs: Store<CronJob>,
    jobs: Store<Job>,
}

/// Run the CronJob controller until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let (cronjobs, cj_writer) = reflector::store::<CronJob>();
    let (jobs, jobs_writer) = reflector::store::<Job>();
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), COMPONENT, None),
        client: client.clone(),
        cronjobs,
        jobs,
    });
    Controller::new(COMPONENT, &client, ctx, cj_writer)
        .workers(WORKERS)
        .resync(RESYNC)
        .owns(jobs_writer)
        .run(reconcile, shutdown)
        .await;
}

fn reference(cj: &CronJob) -> ObjectReference {
    crate::object_reference(cj)
}

fn finished(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

async fn reconcile(ctx: &Ctx, key: &str) -> Result<Option<Duration>, Error> {
    let (ns, name) = split_key(key);
    let Some(cj) = ctx.cronjobs.get(&ObjectRef::new(name).within(ns)) else {
        return Ok(None);
    };
    if cj.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let spec = cj.spec.clone().unwrap_or_default();
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    let now = Timestamp::now();
    let (schedule, tz) = match schedule_of(&spec) {
        Ok(found) => found,
        Err(problem) => {
            let (reason, message) = problem.event(&spec.schedule);
            ctx.recorder
                .publish(&reference(&cj), EventType::Warning, reason, &message)
                .await;
            return Ok(None);
        }
    };
    let mut owned: Vec<Arc<Job>> = ctx
        .jobs
        .state()
        .into_iter()
        .filter(|j| j.metadata.namespace.as_deref() == Some(ns))
        .filter(|j| controller_of(&j.metadata).is_some_and(|o| o.uid == uid))
        .collect();
    // Oldest first as kube-controller-manager orders them: by start time, then name (a
    // creation timestamp has whole seconds only, so it often ties).
    owned.sort_by(|a, b| {
        let start = |j: &Job| {
            j.status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .or(j.metadata.creation_timestamp.as_ref())
                .map(|t| t.0)
        };
        start(a)
            .cmp(&start(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let active: Vec<&Arc<Job>> = owned.iter().filter(|j| finished(j).is_none()).collect();
    let mut status = cj.status.clone().unwrap_or_default();
    let old_status = status.clone();

    // Scheduled times count from the last run, or from the CronJob's creation.
    let since = status
        .last_schedule_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| cj.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(now);
    let plan = due(&schedule, &tz, since, now, spec.starting_deadline_seconds);
    if plan.too_many_missed {
        ctx.recorder
            .publish(
                &reference(&cj),
                EventType::Warning,
                "TooManyMissedTimes",
                "too many missed start times: only the latest is considered",
            )
            .await;
    }
    if plan.next.is_none() && plan.run.is_none() {
        ctx.recorder
            .publish(
                &reference(&cj),
                EventType::Warning,
                "InvalidSchedule",
                &format!(
                    "invalid schedule: {} : it has no time within five years",
                    spec.schedule
                ),
            )
            .await;
    }
    if let (Some(at), false) = (plan.run, spec.suspend == Some(true)) {
        let job_name = format!("{name}-{}", at.as_second() / 60);
        let exists = owned
            .iter()
            .any(|j| j.metadata.name.as_deref() == Some(&job_name));
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        let mut run = !exists;
        if run && policy == "Forbid" && !active.is_empty() {
            run = false;
            ctx.recorder
                .publish(&reference(&cj), EventType::Normal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
                .await;
        }
        if run && policy == "Replace" {
            let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
            for j in &active {
                let jn = j.metadata.name.clone().unwrap_or_default();
                match jobs.delete(&jn, &DeleteParams::background()).await {
                    Ok(_) => {
                        ctx.recorder
                            .publish(
                                &reference(&cj),
                                EventType::Normal,
                                "SuccessfulDelete",
                                &format!("Deleted job {jn}"),
                            )
                            .await
                    }
                    Err(e) if crate::is_not_found(&e) => {}
                    Err(e) => return Err(Error::api(format!("replacing job {ns}/{jn}"), e)),
                }
            }
        }
        if run {
            create_job(ctx, &cj, &uid, &job_name, at).await?;
        }
        if run || exists || policy == "Forbid" {
            status.last_schedule_time = Some(Time(at));
        }
    }

    // History: finished Jobs over the limits go, oldest first.
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    for (kind, limit) in [
        ("Complete", spec.successful_jobs_history_limit.unwrap_or(3)),
        ("Failed", spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let done: Vec<&Arc<Job>> = owned.iter().filter(|j| finished(j) == Some(kind)).collect();
        let surplus = done
            .len()
            .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
        for j in done.iter().take(surplus) {
            let jn = j.metadata.name.clone().unwrap_or_default();
            match jobs.delete(&jn, &DeleteParams::background()).await {
                Ok(_) => {
                    ctx.recorder
                        .publish(
                            &reference(&cj),
                            EventType::Normal,
                            "SuccessfulDelete",
                            &format!("Deleted job {jn}"),
                        )
                        .await
                }
                Err(e) if crate::is_not_found(&e) => {}
                Err(e) => return Err(Error::api(format!("deleting old job {ns}/{jn}"), e)),
            }
        }
    }

    status.active = Some(
        active
            .iter()
            .map(|j| ObjectReference {
                api_version: Some("batch/v1".into()),
                kind: Some("Job".into()),
                name: j.metadata.name.clone(),
                namespace: j.metadata.namespace.clone(),
                uid: j.metadata.uid.clone(),
                resource_version: j.metadata.resource_version.clone(),
                ..ObjectReference::default()
            })
            .collect(),
    )
    .filter(|a: &Vec<ObjectReference>| !a.is_empty());
    if let Some(last) = owned
        .iter()
        .filter(|j| finished(j) == Some("Complete"))
        .filter_map(|j| j.status.as_ref()?.completion_time.clone())
        .max_by_key(|t| t.0)
    {
        status.last_successful_time = Some(last);
    }
    if status != old_status {
        let api: Api<CronJob> = Api::namespaced(ctx.client.clone(), ns);
        let mut updated = (*cj).clone();
        updated.status = Some(status);
        match api
            .replace_status(name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => {}
            Err(e) if crate::is_conflict(&e) || crate::is_not_found(&e) => {
                return Ok(Some(Duration::from_millis(200)));
            }
            Err(e) => {
                return Err(Error::api(
                    format!("updating the status of cronjob {key}"),
                    e,
                ))
            }
        }
    }
    // Exactly at the next scheduled time (which for `@every` counts from the last run, not
    // from now).
    Ok(plan.next.map(|next| {
        let wait = u64::try_from(next.duration_since(now).as_millis()).unwrap_or(0);
        Duration::from_millis(wait + 50)
    }))
}

/// Why a CronJob's schedule cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unrunnable {
    /// `spec.timeZone` names no zone the database knows.
    UnknownTimeZone(String),
    /// The schedule does not parse. Validation refuses these, with the same grammar; an
    /// object stored before that may still carry one.
    Unparseable(String),
}

impl Unrunnable {
    /// The Warning event kube-controller-manager posts for it: reason and message.
    fn event(&self, schedule: &str) -> (&'static str, String) {
        match self {
            Unrunnable::UnknownTimeZone(name) => {
                ("UnknownTimeZone", format!("invalid timeZone: {name:?}"))
            }
            Unrunnable::Unparseable(e) => (
                "UnparseableSchedule",
                format!("unparseable schedule: {schedule:?} : {e}"),
            ),
        }
    }
}

/// The CronJob's schedule and the zone its fields are read in: a `TZ=` prefix's (only
/// older objects have one), else `spec.timeZone`'s, else the server's.
fn schedule_of(spec: &CronJobSpec) -> Result<(Schedule, TimeZone), Unrunnable> {
    let zone = match spec.time_zone.as_deref() {
        None | Some("") => TimeZone::system(),
        Some(name) => {
            TimeZone::get(name).map_err(|_| Unrunnable::UnknownTimeZone(name.to_string()))?
        }
    };
    let schedule =
        Schedule::parse(&spec.schedule).map_err(|e| Unrunnable::Unparseable(e.to_string()))?;
    let zone = schedule.time_zone().cloned().unwrap_or(zone);
    Ok((schedule, zone))
}

/// What the schedule asks of a reconcile at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Due {
    /// The scheduled time to run a Job for now: the latest one since `since`, if it is
    /// within `startingDeadlineSeconds`.
    run: Option<Timestamp>,
    /// More than [`MAX_MISSED`] times went by (only the latest is run).
    too_many_missed: bool,
    /// The first scheduled time after `now`, when the CronJob is looked at again.
    next: Option<Timestamp>,
}

fn due(
    schedule: &Schedule,
    tz: &TimeZone,
    since: Timestamp,
    now: Timestamp,
    starting_deadline_seconds: Option<i64>,
) -> Due {
    let runs = schedule.runs_between(since, now, tz);
    let in_time = |at: &Timestamp| {
        starting_deadline_seconds.is_none_or(|d| *at + jiff::SignedDuration::from_secs(d) >= now)
    };
    Due {
        run: runs.latest.filter(in_time),
        too_many_missed: runs.count > MAX_MISSED,
        next: runs.next,
    }
}

async fn create_job(
    ctx: &Ctx,
    cj: &CronJob,
    uid: &str,
    job_name: &str,
    at: jiff::Timestamp,
) -> Result<(), Error> {
    let ns = cj.metadata.namespace.as_deref().unwrap_or("default");
    let name = cj.metadata.name.as_deref().unwrap_or("");
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_AT.into(), at.to_string());
    let job = Job {
        metadata: ObjectMeta {
            name: Some(job_name.to_string()),
            namespace: Some(ns.to_string()),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![pods::controller_ref("batch/v1", "CronJob", name, uid)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    };
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    match jobs.create(&PostParams::default(), &job).await {
        Ok(_) => {
            ctx.recorder
                .publish(
                    &reference(cj),
                    EventType::Normal,
                    "SuccessfulCreate",
                    &format!("Created job {job_name}"),
                )
                .await;
            Ok(())
        }
        Err(e) if crate::is_conflict(&e) => Ok(()),
        Err(e) => {
            ctx.recorder
                .publish(
                    &reference(cj),
                    EventType::Warning,
                    "FailedCreate",
                    &format!("Error creating job: {e}"),
                )
                .await;
            Err(Error::api(format!("creating job {ns}/{job_name}"), e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn spec(schedule: &str, time_zone: Option<&str>) -> CronJobSpec {
        CronJobSpec {
            schedule: schedule.to_string(),
            time_zone: time_zone.map(str::to_string),
            ..CronJobSpec::default()
        }
    }

    #[test]
    fn what_validation_admits_the_controller_schedules() {
        for schedule in [
            "@every 1h30m",
            "@every 5s",
            "@every 0s",
            "*/5 * * * *",
            "0 0 * * 0",
            "0 0 ? * *",
            "@annually",
            "15 3 1-15/2 jan-JUN mon,wed,fri",
        ] {
            let cj = json!({"metadata": {"name": "c", "namespace": "default"}, "spec": {
                "schedule": schedule,
                "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "x"}]}}}}}});
            let strategy = &berth_api::kinds::batch::cron_job::CronJobStrategy;
            let errs = berth_api::validation::validate(strategy, true, &cj, None);
            assert!(errs.is_empty(), "{schedule}: {errs:?}");
            let (s, tz) = schedule_of(&spec(schedule, None)).expect(schedule);
            assert!(
                s.next_after(at("2026-01-01T00:00:00Z"), &tz).is_some(),
                "{schedule}"
            );
        }
    }

    #[test]
    fn every_runs_count_from_the_earliest_time() {
        let (s, tz) = schedule_of(&spec("@every 1h30m", None)).unwrap();
        let created = at("2026-01-01T00:00:07Z");
        // Nothing before the first interval has passed; then look again exactly at it.
        let d = due(&s, &tz, created, at("2026-01-01T01:00:00Z"), None);
        assert_eq!(d.run, None);
        assert_eq!(d.next, Some(at("2026-01-01T01:30:07Z")));
        // A reconcile at any moment (a Job changed) keeps the cadence of the last run.
        let d = due(&s, &tz, created, at("2026-01-01T01:45:00Z"), None);
        assert_eq!(d.run, Some(at("2026-01-01T01:30:07Z")));
        assert_eq!(d.next, Some(at("2026-01-01T03:00:07Z")));
        let d = due(
            &s,
            &tz,
            at("2026-01-01T01:30:07Z"),
            at("2026-01-01T02:10:00Z"),
            None,
        );
        assert_eq!(d.run, None);
        assert_eq!(d.next, Some(at("2026-01-01T03:00:07Z")));
    }

    #[test]
    fn missed_times_and_the_starting_deadline() {
        let (s, tz) = schedule_of(&spec("*/10 * * * *", Some("UTC"))).unwrap();
        let since = at("2026-01-01T00:00:00Z");
        let now = at("2026-01-01T00:35:00Z");
        let d = due(&s, &tz, since, now, None);
        assert_eq!(d.run, Some(at("2026-01-01T00:30:00Z")));
        assert!(!d.too_many_missed);
        assert_eq!(d.next, Some(at("2026-01-01T00:40:00Z")));
        // Five minutes late is too late for a 60 s deadline, in time for a 600 s one.
        assert_eq!(due(&s, &tz, since, now, Some(60)).run, None);
        assert_eq!(
            due(&s, &tz, since, now, Some(600)).run,
            Some(at("2026-01-01T00:30:00Z"))
        );
        let d = due(&s, &tz, since, at("2026-01-02T00:00:00Z"), None);
        assert!(d.too_many_missed);
        assert_eq!(d.run, Some(at("2026-01-02T00:00:00Z")));
    }

    #[test]
    fn zones_and_unrunnable_schedules() {
        let (_, tz) = schedule_of(&spec("0 9 * * *", Some("Europe/Berlin"))).unwrap();
        assert_eq!(tz, TimeZone::get("Europe/Berlin").unwrap());
        // An older object's TZ prefix wins over the field.
        let (_, tz) = schedule_of(&spec("TZ=Asia/Tokyo 0 9 * * *", Some("UTC"))).unwrap();
        assert_eq!(tz, TimeZone::get("Asia/Tokyo").unwrap());
        let unknown = schedule_of(&spec("@daily", Some("Mars/Base"))).unwrap_err();
        assert_eq!(
            unknown.event("@daily"),
            (
                "UnknownTimeZone",
                "invalid timeZone: \"Mars/Base\"".to_string()
            )
        );
        let bad = schedule_of(&spec("every minute", None)).unwrap_err();
        assert_eq!(
            bad.event("every minute"),
            (
                "UnparseableSchedule",
                "unparseable schedule: \"every minute\" : expected exactly 5 fields, found 2: \
                 [every minute]"
                    .to_string()
            )
        );
        // Admitted but impossible: no run and nothing to wait for.
        let (s, tz) = schedule_of(&spec("0 0 31 2 *", Some("UTC"))).unwrap();
        let d = due(
            &s,
            &tz,
            at("2026-01-01T00:00:00Z"),
            at("2026-06-01T00:00:00Z"),
            None,
        );
        assert_eq!((d.run, d.next), (None, None));
    }
}
