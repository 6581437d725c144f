//! The CronJob controller: creates a Job per scheduled time, as kube-controller-manager's
//! cronjob controller v2 does. Each CronJob is reconciled on changes to it or its Jobs and
//! again exactly at its next scheduled time (no polling). The most recent missed time is run
//! if it is within `startingDeadlineSeconds`; more than 100 missed times is reported and only
//! the latest considered. `concurrencyPolicy` Allow, Forbid (skip while a Job runs) or Replace
//! (delete the running Jobs first); `suspend`; history limits on finished Jobs; Jobs named
//! `<cronjob>-<minutes since the epoch>` with the scheduled time annotated; `timeZone` by
//! IANA name (the server's zone otherwise).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use berth_events::{EventType, Recorder};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::Api;

use crate::cron::Schedule;
use crate::pods::{self, controller_of, split_key};
use crate::runner::Controller;
use crate::Error;

const COMPONENT: &str = "cronjob-controller";
const WORKERS: usize = 2;
/// Each CronJob requeues itself for its next time; the resync only covers lost events.
const RESYNC: Duration = Duration::from_secs(300);
const SCHEDULED_AT: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Missed start times counted at most (kube's guard against a long-stopped controller).
const MAX_MISSED: usize = 100;

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
    let now = jiff::Timestamp::now();
    let tz = match spec.time_zone.as_deref() {
        None | Some("") => jiff::tz::TimeZone::system(),
        Some(name) => match jiff::tz::TimeZone::get(name) {
            Ok(tz) => tz,
            Err(_) => {
                ctx.recorder
                    .publish(
                        &reference(&cj),
                        EventType::Warning,
                        "UnknownTimeZone",
                        &format!("invalid timeZone: {name:?}"),
                    )
                    .await;
                return Ok(None);
            }
        },
    };
    let schedule = match Schedule::parse(&spec.schedule) {
        Ok(s) => s,
        Err(e) => {
            ctx.recorder
                .publish(
                    &reference(&cj),
                    EventType::Warning,
                    "UnparseableSchedule",
                    &format!("unparseable schedule {:?}: {e}", spec.schedule),
                )
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

    // The most recent scheduled time since the last run (or creation) up to now.
    let since = status
        .last_schedule_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| cj.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(now);
    let mut missed = Vec::new();
    let mut t = since;
    while let Some(next) = schedule.next_after(t, &tz) {
        if next > now {
            break;
        }
        missed.push(next);
        if missed.len() > MAX_MISSED {
            missed.remove(0);
        }
        t = next;
    }
    if missed.len() > MAX_MISSED {
        ctx.recorder
            .publish(
                &reference(&cj),
                EventType::Warning,
                "TooManyMissedTimes",
                "too many missed start times: only the latest is considered",
            )
            .await;
    }
    let due = missed.last().copied().filter(|at| {
        spec.starting_deadline_seconds
            .is_none_or(|d| *at + jiff::SignedDuration::from_secs(d) >= now)
    });
    if let (Some(at), false) = (due, spec.suspend == Some(true)) {
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
    // Exactly at the next scheduled time.
    Ok(schedule.next_after(now, &tz).map(|next| {
        let wait = next.duration_since(now).as_millis().max(0) as u64;
        Duration::from_millis(wait + 50)
    }))
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
