//! End-to-end: Jobs run for real (`berth server` with its node agent inside a test-created
//! network namespace, the busybox test image, the real kubectl): completions and
//! parallelism, `kubectl wait` and `kubectl logs job/...`, the back-off limit, Indexed
//! completion, the active deadline, suspension and the TTL after finishing. CronJobs: on a
//! cron schedule with history limits, and on `@every` (control plane only: the Jobs need
//! not run to show they are created).

use std::time::Duration;

use berth_testkit::{wait_for, BerthServer};
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const IMAGE: &str = "busybox:batch-test";

/// A server with its node agent and the test image; `None` when not root.
fn node() -> Option<BerthServer> {
    berth_testkit::node_with_busybox(BERTH, "batch-node", IMAGE)
}

fn apply(server: &BerthServer, yaml: &str) {
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(yaml));
    assert!(out.ok, "kubectl apply: {}\n{yaml}", out.stderr);
}

fn job(server: &BerthServer, name: &str) -> Option<Value> {
    let out = server.kubectl(&["get", "job", name, "-o", "json"]);
    out.ok
        .then(|| serde_json::from_str(&out.stdout).ok())
        .flatten()
}

fn condition<'a>(obj: &'a Value, kind: &str) -> &'a Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["type"] == kind && c["status"] == "True")
        })
        .unwrap_or(&Value::Null)
}

fn job_yaml(name: &str, spec: &str, script: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n{spec}  template:\n    spec:\n      restartPolicy: Never\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: main\n        image: {IMAGE}\n        imagePullPolicy: IfNotPresent\n        command: [\"sh\", \"-c\", {script:?}]\n"
    )
}

fn wait_job(server: &BerthServer, name: &str, secs: u64, check: impl Fn(&Value) -> bool) -> Value {
    wait_for(Duration::from_secs(secs), || {
        job(server, name).filter(|j| check(j))
    })
    .unwrap_or_else(|| {
        let describe = server.kubectl(&["describe", "job", name]);
        let all = server.kubectl(&["get", "jobs,pods", "-o", "wide"]);
        let events = server.kubectl(&["get", "events"]);
        panic!(
            "job {name} did not get there in {secs}s\n{}\n{}\n{}",
            describe.stdout, all.stdout, events.stdout
        )
    })
}

#[test]
fn jobs_complete_fail_index_and_expire() {
    let Some(server) = node() else { return };
    // Three completions, two at a time.
    apply(
        &server,
        &job_yaml(
            "work",
            "  completions: 3\n  parallelism: 2\n",
            "echo done; sleep 1",
        ),
    );
    let mut most_active = 0;
    let finished = wait_for(Duration::from_secs(90), || {
        let j = job(&server, "work")?;
        most_active = most_active.max(j["status"]["active"].as_i64().unwrap_or(0));
        (!condition(&j, "Complete").is_null()).then_some(j)
    })
    .expect("the job completes");
    assert!(most_active <= 2, "{most_active} pods active at once");
    assert_eq!(finished["status"]["succeeded"], 3);
    assert!(finished["status"]["completionTime"].is_string());
    let out = server.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/work",
        "--timeout=5s",
    ]);
    assert!(out.ok, "{}", out.stderr);
    let logs = server.kubectl(&["logs", "job/work"]);
    assert_eq!(logs.stdout, "done\n", "{}", logs.stderr);
    let events = server.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=work",
    ]);
    assert!(
        events.stdout.contains("SuccessfulCreate") && events.stdout.contains("Completed"),
        "{}",
        events.stdout
    );

    // Indexed: every index once, each pod knowing its own.
    apply(
        &server,
        &job_yaml(
            "indexed",
            "  completions: 3\n  parallelism: 3\n  completionMode: Indexed\n",
            "echo index=$JOB_COMPLETION_INDEX host=$(hostname)",
        ),
    );
    let j = wait_job(&server, "indexed", 90, |j| {
        !condition(j, "Complete").is_null()
    });
    assert_eq!(j["status"]["completedIndexes"], "0-2");
    let pods = server.kubectl(&["get", "pods", "-l", "job-name=indexed", "-o", "name"]);
    let mut seen = Vec::new();
    for pod in pods.stdout.lines() {
        let out = server.kubectl(&["logs", pod]);
        seen.push(out.stdout.trim().to_string());
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            "index=0 host=indexed-0",
            "index=1 host=indexed-1",
            "index=2 host=indexed-2"
        ]
    );

    // Failing pods: one retry (after the 10 s back-off), then Failed.
    apply(
        &server,
        &job_yaml("broken", "  backoffLimit: 1\n", "exit 3"),
    );
    let j = wait_job(&server, "broken", 90, |j| !condition(j, "Failed").is_null());
    assert_eq!(condition(&j, "Failed")["reason"], "BackoffLimitExceeded");
    assert_eq!(j["status"]["failed"], 2);

    // A deadline stops a pod that runs too long.
    apply(
        &server,
        &job_yaml(
            "slow",
            "  activeDeadlineSeconds: 2\n",
            "trap 'exit 0' TERM; sleep 60 & wait",
        ),
    );
    let j = wait_job(&server, "slow", 60, |j| !condition(j, "Failed").is_null());
    assert_eq!(condition(&j, "Failed")["reason"], "DeadlineExceeded");

    // Suspended: nothing runs until resumed.
    apply(
        &server,
        &job_yaml("later", "  suspend: true\n", "echo later"),
    );
    let j = wait_job(&server, "later", 30, |j| {
        !condition(j, "Suspended").is_null()
    });
    assert_eq!(j["status"]["active"].as_i64().unwrap_or(0), 0);
    let out = server.kubectl(&[
        "patch",
        "job",
        "later",
        "--type=merge",
        "-p",
        "{\"spec\":{\"suspend\":false}}",
    ]);
    assert!(out.ok, "{}", out.stderr);
    wait_job(&server, "later", 60, |j| {
        !condition(j, "Complete").is_null()
    });

    // Gone once finished for its TTL, with its pods.
    apply(
        &server,
        &job_yaml("brief", "  ttlSecondsAfterFinished: 0\n", "echo brief"),
    );
    let gone = wait_for(Duration::from_secs(60), || {
        (!server.kubectl(&["get", "job", "brief"]).ok).then_some(())
    });
    assert!(gone.is_some(), "the job was not deleted after its TTL");
    let left = wait_for(Duration::from_secs(30), || {
        let out = server.kubectl(&["get", "pods", "-l", "job-name=brief", "-o", "name"]);
        (out.ok && out.stdout.trim().is_empty()).then_some(())
    });
    assert!(left.is_some(), "the job's pods were not collected");
}

#[test]
fn cronjobs_start_jobs_on_schedule_and_keep_their_history() {
    let Some(server) = node() else { return };
    // Every minute: the first run comes at the next minute boundary (at most a minute away).
    apply(
        &server,
        &format!(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: tick\nspec:\n  schedule: \"* * * * *\"\n  concurrencyPolicy: Forbid\n  successfulJobsHistoryLimit: 2\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n          - name: main\n            image: {IMAGE}\n            imagePullPolicy: IfNotPresent\n            command: [\"sh\", \"-c\", \"echo tick\"]\n"
        ),
    );
    let out = server.kubectl(&["get", "cronjob", "tick", "-o", "json"]);
    assert!(out.ok, "{}", out.stderr);
    let cj: Value = serde_json::from_str(&out.stdout).expect("json");
    let uid = cj["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let run = wait_for(Duration::from_secs(90), || {
        let out = server.kubectl(&["get", "jobs", "-o", "json"]);
        let v: Value = serde_json::from_str(&out.stdout).ok()?;
        v["items"].as_array()?.iter().find_map(|j| {
            let owned = j["metadata"]["ownerReferences"][0]["uid"] == uid.as_str();
            let done = !condition(j, "Complete").is_null();
            (owned && done).then(|| j.clone())
        })
    })
    .expect("a scheduled job completes");
    let name = run["metadata"]["name"].as_str().unwrap_or("");
    let scheduled = run["metadata"]["annotations"]
        ["batch.kubernetes.io/cronjob-scheduled-timestamp"]
        .as_str()
        .unwrap_or("");
    let at: jiff::Timestamp = scheduled.parse().expect("an RFC 3339 scheduled time");
    // Named by the minute it was scheduled for, which is a whole minute.
    assert_eq!(name, format!("tick-{}", at.as_second() / 60));
    assert_eq!(at.as_second() % 60, 0);
    let cj = wait_for(Duration::from_secs(20), || {
        let out = server.kubectl(&["get", "cronjob", "tick", "-o", "json"]);
        let v: Value = serde_json::from_str(&out.stdout).ok()?;
        (v["status"]["lastScheduleTime"].is_string()
            && v["status"]["lastSuccessfulTime"].is_string())
        .then_some(v)
    })
    .expect("status reports the runs");
    assert_eq!(cj["status"]["lastScheduleTime"], scheduled);
    // A manual run from the template (kubectl builds it client-side). It counts in the
    // history too: with a limit of 2, the run it was made beside cannot prune it.
    let out = server.kubectl(&["create", "job", "manual", "--from=cronjob/tick"]);
    assert!(out.ok, "{}", out.stderr);
    wait_job(&server, "manual", 60, |j| {
        !condition(j, "Complete").is_null()
    });
    // Bad input is refused by the API server.
    let bad = server.kubectl_with(
        "kubectl",
        &["apply", "-f", "-"],
        Some("apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: bad\nspec:\n  schedule: \"every minute\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n          - {name: c, image: x}\n"),
    );
    assert!(!bad.ok, "a bad schedule was accepted");
}

#[test]
fn every_schedules_create_jobs_and_unschedulable_ones_are_refused() {
    // Only the controller manager is needed: the Job is created whether or not it can run.
    let server = BerthServer::start(BERTH, &[]).expect("server starts");
    let cron_job = |name: &str, schedule: &str| {
        format!(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}\nspec:\n  schedule: \"{schedule}\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n          - {{name: c, image: {IMAGE}}}\n"
        )
    };
    let out = server.kubectl_with(
        "kubectl",
        &["create", "-f", "-"],
        Some(&cron_job("often", "@every 5s")),
    );
    assert!(out.ok, "kubectl create: {}", out.stderr);
    let out = server.kubectl(&["get", "cronjob", "often", "-o", "json"]);
    let cj: Value = serde_json::from_str(&out.stdout).expect("json");
    let uid = cj["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let created: jiff::Timestamp = cj["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("a creation timestamp");
    let job = wait_for(Duration::from_secs(30), || {
        let out = server.kubectl(&["get", "jobs", "-o", "json"]);
        let v: Value = serde_json::from_str(&out.stdout).ok()?;
        v["items"]
            .as_array()?
            .iter()
            .find(|j| j["metadata"]["ownerReferences"][0]["uid"] == uid.as_str())
            .cloned()
    })
    .unwrap_or_else(|| {
        let events = server.kubectl(&["get", "events"]);
        panic!("no job from \"@every 5s\" within 30s\n{}", events.stdout)
    });
    // Constant delay from the CronJob's creation: a whole number of intervals after it.
    let at: jiff::Timestamp = job["metadata"]["annotations"]
        ["batch.kubernetes.io/cronjob-scheduled-timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("the scheduled time annotated");
    let after = at.as_second() - created.as_second();
    assert!(
        after > 0 && after % 5 == 0,
        "scheduled {at}, created {created}"
    );
    assert_eq!(
        job["metadata"]["name"],
        format!("often-{}", at.as_second() / 60).as_str()
    );

    // What the controller could not schedule is refused at create, on spec.schedule.
    let out = server.kubectl_with(
        "kubectl",
        &["create", "-f", "-"],
        Some(&cron_job("never", "@every 1d")),
    );
    assert!(!out.ok, "an unschedulable schedule was admitted");
    assert!(
        out.stderr.contains(
            "spec.schedule: Invalid value: \"@every 1d\": failed to parse duration @every 1d: \
             time: unknown unit \"d\" in duration \"1d\""
        ),
        "{}",
        out.stderr
    );
    let out = server.kubectl(&["get", "cronjob", "never"]);
    assert!(!out.ok, "the refused CronJob exists");
}
