//! The Job controller: runs a Job's pods to completion, as kube-controller-manager does.
//!
//! NonIndexed Jobs run up to `parallelism` pods at a time until `completions` succeeded (or,
//! without completions, until one succeeded and none is left running); Indexed Jobs give each
//! pod an index (`batch.kubernetes.io/job-completion-index`, `JOB_COMPLETION_INDEX`, hostname
//! `<job>-<index>`) and are done when every index succeeded. Failed pods (and, with
//! `restartPolicy: OnFailure`, container restarts) count against `backoffLimit`; replacements
//! wait 10 s doubling to 6 min after the last failure. `activeDeadlineSeconds`, `suspend` and
//! `ttlSecondsAfterFinished` as documented; conditions Complete/SuccessCriteriaMet,
//! Failed/FailureTarget, Suspended.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_events::{EventType, Recorder};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{EnvVar, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::Api;

use crate::expectations::Expectations;
use crate::pods::{self, controller_of, split_key};
use crate::runner::Controller;
use crate::Error;

const COMPONENT: &str = "job-controller";
const WORKERS: usize = 4;
const RESYNC: Duration = Duration::from_secs(30);
const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// Replacement pods wait this long after the first failure, doubling up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(360);

struct Ctx {
    client: kube::Client,
    recorder: Recorder,
    jobs: Store<Job>,
    pods: Store<Pod>,
    expectations: Mutex<Expectations>,
}

impl Ctx {
    fn expectations(&self) -> MutexGuard<'_, Expectations> {
        crate::lock(&self.expectations)
    }
}

/// Run the Job controller until `shutdown` resolves.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let (jobs, jobs_writer) = reflector::store::<Job>();
    let (pod_store, pods_writer) = reflector::store::<Pod>();
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), COMPONENT, None),
        client: client.clone(),
        jobs,
        pods: pod_store,
        expectations: Mutex::new(Expectations::default()),
    });
    // Jobs never adopt orphans.
    Controller::new(COMPONENT, &client, ctx, jobs_writer)
        .workers(WORKERS)
        .resync(RESYNC)
        .owns_pods(pods_writer, |ctx| &ctx.expectations, |_, _| Vec::new())
        .run(reconcile, shutdown)
        .await;
}

fn reference(job: &Job) -> ObjectReference {
    crate::object_reference(job)
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn index_of(pod: &Pod) -> Option<i32> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(INDEX_ANNOTATION)?
        .parse()
        .ok()
}

fn condition_true(status: &JobStatus, kind: &str) -> bool {
    status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == kind && c.status == "True")
}

fn set_condition(status: &mut JobStatus, kind: &str, state: &str, reason: &str, message: &str) {
    let now = Time(jiff::Timestamp::now());
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == kind) {
        Some(c) if c.status == state => {
            c.last_probe_time = Some(now);
        }
        Some(c) => {
            c.status = state.into();
            c.reason = Some(reason.into());
            c.message = Some(message.into());
            c.last_probe_time = Some(now.clone());
            c.last_transition_time = Some(now);
        }
        None => conditions.push(JobCondition {
            type_: kind.into(),
            status: state.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_probe_time: Some(now.clone()),
            last_transition_time: Some(now),
        }),
    }
}

/// When the last failed pod of the Job finished.
fn last_failure(pods: &[&Pod]) -> Option<jiff::Timestamp> {
    pods.iter()
        .filter(|p| phase(p) == "Failed")
        .filter_map(|p| {
            p.status
                .as_ref()?
                .container_statuses
                .iter()
                .flatten()
                .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
                .map(|t| t.0)
                .max()
                .or_else(|| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
        })
        .max()
}

/// The delay before replacement pods after `failures` failures.
fn backoff(failures: i32) -> Duration {
    if failures <= 0 {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(failures - 1).unwrap_or(0).min(10);
    INITIAL_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

async fn reconcile(ctx: &Ctx, key: &str) -> Result<Option<Duration>, Error> {
    let (ns, name) = split_key(key);
    let Some(job) = ctx.jobs.get(&ObjectRef::new(name).within(ns)) else {
        ctx.expectations().remove(key);
        return Ok(None);
    };
    if job.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let spec = job.spec.clone().unwrap_or_default();
    let old = job.status.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let now = jiff::Timestamp::now();
    let all: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
        .filter(|p| controller_of(&p.metadata).is_some_and(|o| o.uid == uid))
        .collect();
    let owned: Vec<&Pod> = all.iter().map(|p| &**p).collect();
    let satisfied = crate::expectations::settle(&ctx.expectations, key, &all);
    let finished = condition_true(&old, "Complete") || condition_true(&old, "Failed");
    let active: Vec<&Pod> = owned
        .iter()
        .copied()
        .filter(|p| pods::is_active(p))
        .collect();
    if finished {
        // Leftovers of a finished Job go; then the TTL, if any.
        delete_pods(ctx, &job, key, &active).await?;
        return ttl(ctx, &job, now).await;
    }

    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let succeeded_pods: Vec<&Pod> = owned
        .iter()
        .copied()
        .filter(|p| phase(p) == "Succeeded")
        .collect();
    let failed_pods = owned.iter().filter(|p| phase(p) == "Failed").count() as i32;
    // With OnFailure the pod restarts its containers instead of failing: restarts count.
    let restarts: i32 = if spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure")
    {
        active
            .iter()
            .flat_map(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.clone())
                    .unwrap_or_default()
            })
            .map(|c| c.restart_count)
            .fold(0, i32::saturating_add)
    } else {
        0
    };
    let failed = failed_pods.saturating_add(restarts);
    let completed_indexes: BTreeSet<i32> =
        succeeded_pods.iter().filter_map(|p| index_of(p)).collect();
    let succeeded = if indexed {
        completed_indexes.len() as i32
    } else {
        succeeded_pods.len() as i32
    };
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let completions = spec.completions;
    let suspended = spec.suspend == Some(true);

    let mut status = old.clone();
    status.succeeded = Some(succeeded);
    status.failed = Some(failed_pods);
    status.ready = Some(active.iter().filter(|p| pods::is_ready(p)).count() as i32);
    if indexed {
        status.completed_indexes = Some(ranges(&completed_indexes));
    }
    let mut requeue: Option<Duration> = None;

    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let deadline = spec
        .active_deadline_seconds
        .zip(old.start_time.as_ref().map(|t| t.0));
    let done = match completions {
        Some(c) => succeeded >= c,
        None => succeeded >= 1 && active.is_empty(),
    };
    let mut failure: Option<(&str, &str)> = None;
    if !done {
        if failed > backoff_limit {
            failure = Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ));
        } else if let Some((secs, start)) = deadline {
            if !suspended && now >= start + jiff::SignedDuration::from_secs(secs) {
                failure = Some((
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                ));
            } else if !suspended {
                let left = (start + jiff::SignedDuration::from_secs(secs)).duration_since(now);
                requeue = Some(Duration::from_secs(left.as_secs().max(0) as u64 + 1));
            }
        }
    }

    if let Some((reason, message)) = failure {
        delete_pods(ctx, &job, key, &active).await?;
        status.active = Some(0);
        set_condition(&mut status, "FailureTarget", "True", reason, message);
        set_condition(&mut status, "Failed", "True", reason, message);
        ctx.recorder
            .publish(&reference(&job), EventType::Warning, reason, message)
            .await;
    } else if done {
        // Whatever still runs is not needed any more.
        delete_pods(ctx, &job, key, &active).await?;
        status.active = Some(0);
        status.completion_time = Some(Time(now));
        set_condition(
            &mut status,
            "SuccessCriteriaMet",
            "True",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        );
        set_condition(
            &mut status,
            "Complete",
            "True",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        );
        ctx.recorder
            .publish(
                &reference(&job),
                EventType::Normal,
                "Completed",
                "Job completed",
            )
            .await;
    } else if suspended {
        delete_pods(ctx, &job, key, &active).await?;
        status.active = Some(0);
        set_condition(
            &mut status,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended",
        );
    } else {
        if condition_true(&old, "Suspended") {
            set_condition(
                &mut status,
                "Suspended",
                "False",
                "JobResumed",
                "Job resumed",
            );
            status.start_time = Some(Time(now));
        }
        if status.start_time.is_none() {
            status.start_time = Some(Time(now));
        }
        status.active = Some(active.len() as i32);
        if satisfied {
            // What to start now: indexes not done and not running, or a count.
            let wanted: Vec<Option<i32>> = if indexed {
                let running: BTreeSet<i32> = active.iter().filter_map(|p| index_of(p)).collect();
                let room = (parallelism as usize).saturating_sub(active.len());
                (0..completions.unwrap_or(1).max(0))
                    .filter(|i| !completed_indexes.contains(i) && !running.contains(i))
                    .take(room)
                    .map(Some)
                    .collect()
            } else {
                let remaining = match completions {
                    Some(c) => c.saturating_sub(succeeded),
                    None if succeeded > 0 => 0,
                    None => parallelism,
                };
                let want = parallelism.min(remaining).max(0) as usize;
                vec![None; want.saturating_sub(active.len())]
            };
            if !wanted.is_empty() {
                let wait = last_failure(&owned).map_or(Duration::ZERO, |at| {
                    let until =
                        at + jiff::SignedDuration::try_from(backoff(failed)).unwrap_or_default();
                    if until > now {
                        Duration::from_secs(until.duration_since(now).as_secs().max(0) as u64 + 1)
                    } else {
                        Duration::ZERO
                    }
                });
                if wait > Duration::ZERO {
                    requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
                } else {
                    create_pods(ctx, &job, key, &uid, &wanted).await?;
                }
            }
        }
    }

    status.active = status.active.filter(|a| *a > 0).or(Some(0));
    if status != old {
        let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
        let mut updated = (*job).clone();
        updated.status = Some(status);
        match jobs
            .replace_status(name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => {}
            Err(e) if crate::is_conflict(&e) || crate::is_not_found(&e) => {
                return Ok(Some(Duration::from_millis(200)));
            }
            Err(e) => return Err(Error::api(format!("updating the status of job {key}"), e)),
        }
    }
    Ok(requeue)
}

/// `1,3-5,7`: the API's form of a set of indexes.
fn ranges(indexes: &BTreeSet<i32>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

/// Delete the finished Job once `ttlSecondsAfterFinished` passed; when to look again.
async fn ttl(ctx: &Ctx, job: &Job, now: jiff::Timestamp) -> Result<Option<Duration>, Error> {
    let Some(secs) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
        return Ok(None);
    };
    let status = job.status.clone().unwrap_or_default();
    let finished_at = status.completion_time.map(|t| t.0).or_else(|| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Failed" && c.status == "True")
            .and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))
    });
    let Some(at) = finished_at else {
        return Ok(None);
    };
    let expires = at + jiff::SignedDuration::from_secs(i64::from(secs));
    if now < expires {
        let left = expires.duration_since(now).as_secs().max(0) as u64;
        return Ok(Some(Duration::from_secs(left + 1)));
    }
    let ns = job.metadata.namespace.as_deref().unwrap_or("default");
    let name = job.metadata.name.as_deref().unwrap_or("");
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    match jobs.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(None),
        Err(e) if crate::is_not_found(&e) => Ok(None),
        Err(e) => Err(Error::api(format!("deleting finished job {ns}/{name}"), e)),
    }
}

/// The pod the Job starts (with its index, for Indexed Jobs).
pub fn pod_for(job: &Job, uid: &str, index: Option<i32>) -> Pod {
    let name = job.metadata.name.as_deref().unwrap_or("");
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
        ("job-name", name),
    ] {
        labels.entry(k.to_string()).or_insert_with(|| v.to_string());
    }
    let mut annotations = tmeta.annotations.unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    let generate_name = match index {
        Some(i) => {
            labels.insert(INDEX_ANNOTATION.into(), i.to_string());
            annotations.insert(INDEX_ANNOTATION.into(), i.to_string());
            for c in spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten())
            {
                c.env.get_or_insert_with(Vec::new).push(EnvVar {
                    name: "JOB_COMPLETION_INDEX".into(),
                    value: Some(i.to_string()),
                    value_from: None,
                });
            }
            if spec.hostname.is_none() {
                spec.hostname = Some(format!("{name}-{i}"));
            }
            format!("{name}-{i}-")
        }
        None => format!("{name}-"),
    };
    // A Job's pods do not take the template's finalizers.
    pods::from_template(
        pods::controller_ref("batch/v1", "Job", name, uid),
        job.metadata.namespace.clone(),
        pods::PodName::Generated(generate_name),
        ObjectMeta {
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        },
        Some(spec),
    )
}

async fn create_pods(
    ctx: &Ctx,
    job: &Job,
    key: &str,
    uid: &str,
    wanted: &[Option<i32>],
) -> Result<(), Error> {
    let ns = job.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let job_name = job.metadata.name.as_deref().unwrap_or("");
    for index in wanted {
        let pod = pod_for(job, uid, *index);
        match api.create(&PostParams::default(), &pod).await {
            Ok(created) => {
                let name = created.metadata.name.unwrap_or_default();
                ctx.expectations().expect_create(key, &name, Instant::now());
                ctx.recorder
                    .publish(
                        &reference(job),
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {name}"),
                    )
                    .await;
            }
            Err(e) => {
                ctx.recorder
                    .publish(
                        &reference(job),
                        EventType::Warning,
                        "FailedCreate",
                        &format!("Error creating: {e}"),
                    )
                    .await;
                return Err(Error::api(
                    format!("creating a pod for job {ns}/{job_name}"),
                    e,
                ));
            }
        }
    }
    Ok(())
}

async fn delete_pods(ctx: &Ctx, job: &Job, key: &str, victims: &[&Pod]) -> Result<(), Error> {
    for pod in victims {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let (Some(ns), Some(name)) = (
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref(),
        ) else {
            continue;
        };
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
        ctx.expectations().expect_delete(
            key,
            pod.metadata.uid.as_deref().unwrap_or(""),
            Instant::now(),
        );
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                ctx.recorder
                    .publish(
                        &reference(job),
                        EventType::Normal,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {name}"),
                    )
                    .await;
            }
            Err(e) if crate::is_not_found(&e) => {}
            Err(e) => return Err(Error::api(format!("deleting pod {ns}/{name}"), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_indexes_are_ranges() {
        let set: BTreeSet<i32> = [0, 1, 2, 4, 6, 7].into();
        assert_eq!(ranges(&set), "0-2,4,6-7");
        assert_eq!(ranges(&BTreeSet::new()), "");
    }

    #[test]
    fn backoff_doubles_to_six_minutes() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(3), Duration::from_secs(40));
        assert_eq!(backoff(50), MAX_BACKOFF);
    }

    #[test]
    fn indexed_pods_carry_their_index() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "work", "namespace": "default"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "i"}]}}}
        }))
        .unwrap();
        let pod = pod_for(&job, "u1", Some(3));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("work-3-"));
        assert_eq!(index_of(&pod), Some(3));
        let spec = pod.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("work-3"));
        let env = spec.containers[0].env.clone().unwrap();
        assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
        assert_eq!(env[0].value.as_deref(), Some("3"));
        let labels = pod.metadata.labels.unwrap();
        assert_eq!(labels["job-name"], "work");
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], "u1");
    }
}
