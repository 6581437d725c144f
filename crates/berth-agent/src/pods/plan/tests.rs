//! Table tests of the pod plan: each case is a pod (restart policy, init containers,
//! sidecars, app containers), what the engine shows of its containers, and the actions and
//! phase the plan must come to.

use super::*;
use k8s_openapi::api::core::v1::Probe;

/// An init container (`sidecar`: restartPolicy Always) or app container by name.
fn container(name: &str, sidecar: bool) -> Container {
    Container {
        name: name.to_string(),
        restart_policy: sidecar.then(|| "Always".to_string()),
        ..Container::default()
    }
}

/// A pod with `policy`, init containers (`+name` marks a sidecar) and app containers.
fn pod(policy: &str, init: &[&str], app: &[&str]) -> PodSpec {
    let init: Vec<Container> = init
        .iter()
        .map(|n| match n.strip_prefix('+') {
            Some(n) => container(n, true),
            None => container(n, false),
        })
        .collect();
    PodSpec {
        restart_policy: Some(policy.to_string()),
        init_containers: (!init.is_empty()).then_some(init),
        containers: app.iter().map(|n| container(n, false)).collect(),
        ..PodSpec::default()
    }
}

fn running() -> Seen {
    Seen::Running { kill: None }
}

/// Exited with `code` an hour before `t0`, after running a second.
fn exited(t0: Instant, code: i32) -> Seen {
    Seen::Exited {
        code,
        finished: t0 - Duration::from_secs(3600),
        ran: Duration::from_secs(1),
    }
}

fn start(c: &str) -> Action {
    Action::Start(c.to_string())
}

fn restart(c: &str) -> Action {
    Action::Restart {
        container: c.to_string(),
        forgive: false,
    }
}

fn finished(c: &str) -> Action {
    Action::Finished(c.to_string())
}

struct Case {
    name: &'static str,
    spec: PodSpec,
    seen: Vec<(&'static str, Seen)>,
    tried: Vec<&'static str>,
    actions: Vec<Action>,
    initialized: bool,
    phase: Phase,
}

fn check(cases: Vec<Case>, backoff: &Backoff, now: Instant) {
    for case in cases {
        let seen: BTreeMap<String, Seen> = case
            .seen
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect();
        let tried: BTreeSet<String> = case.tried.iter().map(|n| n.to_string()).collect();
        let got = plan(&case.spec, &seen, backoff, &tried, now);
        let want = Plan {
            actions: case.actions,
            initialized: case.initialized,
            phase: case.phase,
        };
        assert_eq!(got, want, "case: {}", case.name);
    }
}

#[test]
fn init_containers_run_one_at_a_time_in_order() {
    let t0 = Instant::now();
    let spec = || pod("Always", &["a", "b"], &["app1", "app2"]);
    check(
        vec![
            Case {
                name: "nothing yet: the first init container starts, alone",
                spec: spec(),
                seen: vec![],
                tried: vec![],
                actions: vec![start("a")],
                initialized: false,
                phase: Phase::Pending,
            },
            Case {
                name: "the first one runs: wait for it",
                spec: spec(),
                seen: vec![("a", running())],
                tried: vec![],
                actions: vec![],
                initialized: false,
                phase: Phase::Pending,
            },
            Case {
                name: "the first one completed: the second starts",
                spec: spec(),
                seen: vec![("a", exited(t0, 0))],
                tried: vec![],
                actions: vec![start("b")],
                initialized: false,
                phase: Phase::Pending,
            },
            Case {
                name: "all completed: every app container starts together",
                spec: spec(),
                seen: vec![("a", exited(t0, 0)), ("b", exited(t0, 0))],
                tried: vec![],
                actions: vec![start("app1"), start("app2")],
                initialized: true,
                phase: Phase::Pending,
            },
            Case {
                name: "app containers run: the pod runs",
                spec: spec(),
                seen: vec![
                    ("a", exited(t0, 0)),
                    ("b", exited(t0, 0)),
                    ("app1", running()),
                    ("app2", running()),
                ],
                tried: vec![],
                actions: vec![],
                initialized: true,
                phase: Phase::Running,
            },
            Case {
                name: "an app container started in this pass did not come up: still Pending",
                spec: spec(),
                seen: vec![
                    ("a", exited(t0, 0)),
                    ("b", exited(t0, 0)),
                    ("app1", running()),
                ],
                tried: vec!["app2"],
                actions: vec![],
                initialized: true,
                phase: Phase::Pending,
            },
            Case {
                name: "a stuck init container is recreated; nothing after it starts",
                spec: spec(),
                seen: vec![("a", Seen::Stuck)],
                tried: vec![],
                actions: vec![Action::Recreate("a".into())],
                initialized: false,
                phase: Phase::Pending,
            },
        ],
        &Backoff::default(),
        t0,
    );
}

#[test]
fn a_failing_init_container_under_each_restart_policy() {
    let t0 = Instant::now();
    let failed = |policy| Case {
        name: "",
        spec: pod(policy, &["a", "b"], &["app"]),
        seen: vec![("a", exited(t0, 1))],
        tried: vec![],
        actions: vec![restart("a")],
        initialized: false,
        phase: Phase::Pending,
    };
    check(
        vec![
            Case {
                name: "Always: restarted, the pod stays Pending",
                ..failed("Always")
            },
            Case {
                name: "OnFailure: restarted, the pod stays Pending",
                ..failed("OnFailure")
            },
            Case {
                name: "Never: the pod has failed, nothing more starts",
                actions: vec![],
                phase: Phase::Failed,
                ..failed("Never")
            },
            Case {
                name: "its restart already tried in this pass: nothing more",
                tried: vec!["a"],
                actions: vec![],
                ..failed("Always")
            },
        ],
        &Backoff::default(),
        t0,
    );
}

#[test]
fn sidecars_start_in_their_turn_and_keep_running() {
    let t0 = Instant::now();
    let spec = || pod("Never", &["+proxy", "setup"], &["app"]);
    check(
        vec![
            Case {
                name: "the sidecar starts first, alone",
                spec: spec(),
                seen: vec![],
                tried: vec![],
                actions: vec![start("proxy")],
                initialized: false,
                phase: Phase::Pending,
            },
            Case {
                name: "once it runs, the next init container starts",
                spec: spec(),
                seen: vec![("proxy", running())],
                tried: vec![],
                actions: vec![start("setup")],
                initialized: false,
                phase: Phase::Pending,
            },
            Case {
                name: "a sidecar that did not come up in this pass holds the rest",
                spec: spec(),
                seen: vec![],
                tried: vec!["proxy"],
                actions: vec![],
                initialized: false,
                phase: Phase::Pending,
            },
            Case {
                name: "initialized with the sidecar running: the app container starts",
                spec: spec(),
                seen: vec![("proxy", running()), ("setup", exited(t0, 0))],
                tried: vec![],
                actions: vec![start("app")],
                initialized: true,
                phase: Phase::Pending,
            },
            Case {
                name: "an exited sidecar is restarted even under Never",
                spec: spec(),
                seen: vec![
                    ("proxy", exited(t0, 0)),
                    ("setup", exited(t0, 0)),
                    ("app", running()),
                ],
                tried: vec![],
                actions: vec![restart("proxy")],
                initialized: false,
                phase: Phase::Pending,
            },
            Case {
                name: "the app container completed: Succeeded, though the sidecar runs",
                spec: spec(),
                seen: vec![
                    ("proxy", running()),
                    ("setup", exited(t0, 0)),
                    ("app", exited(t0, 0)),
                ],
                tried: vec![],
                actions: vec![finished("app")],
                initialized: true,
                phase: Phase::Succeeded,
            },
        ],
        &Backoff::default(),
        t0,
    );
}

#[test]
fn sidecars_stop_after_the_app_containers_last_started_first() {
    let spec = pod("Always", &["+log", "setup", "+proxy"], &["web", "worker"]);
    let order = stop_order(&spec, ["log", "proxy", "setup", "web", "worker"]);
    assert_eq!(
        order,
        vec![
            vec!["setup".to_string(), "web".into(), "worker".into()],
            vec!["proxy".to_string()],
            vec!["log".to_string()],
        ]
    );
    // Sidecars that never ran are not waited for.
    let order = stop_order(&spec, ["log", "web"]);
    assert_eq!(
        order,
        vec![vec!["web".to_string()], vec!["log".to_string()]]
    );
}

#[test]
fn app_containers_follow_the_restart_policy_to_the_phase() {
    let t0 = Instant::now();
    let two = |policy, a: Seen, b: Seen| Case {
        name: "",
        spec: pod(policy, &[], &["a", "b"]),
        seen: vec![("a", a), ("b", b)],
        tried: vec![],
        actions: vec![],
        initialized: true,
        phase: Phase::Running,
    };
    check(
        vec![
            Case {
                name: "Never, both completed: Succeeded",
                actions: vec![finished("a"), finished("b")],
                phase: Phase::Succeeded,
                ..two("Never", exited(t0, 0), exited(t0, 0))
            },
            Case {
                name: "Never, one failed: Failed",
                actions: vec![finished("a"), finished("b")],
                phase: Phase::Failed,
                ..two("Never", exited(t0, 0), exited(t0, 2))
            },
            Case {
                name: "Never, one still running: Running",
                actions: vec![finished("a")],
                ..two("Never", exited(t0, 1), running())
            },
            Case {
                name: "OnFailure: a completed one stays done, a failed one restarts",
                actions: vec![finished("a"), restart("b")],
                ..two("OnFailure", exited(t0, 0), exited(t0, 1))
            },
            Case {
                name: "OnFailure, both completed: Succeeded",
                actions: vec![finished("a"), finished("b")],
                phase: Phase::Succeeded,
                ..two("OnFailure", exited(t0, 0), exited(t0, 0))
            },
            Case {
                name: "Always: even a completed one restarts; the pod runs",
                actions: vec![restart("a"), restart("b")],
                ..two("Always", exited(t0, 0), exited(t0, 1))
            },
            Case {
                name: "a stuck app container is recreated",
                actions: vec![Action::Recreate("b".into())],
                ..two("Always", running(), Seen::Stuck)
            },
            Case {
                name: "one not started yet: Pending",
                actions: vec![start("b")],
                phase: Phase::Pending,
                ..two("Always", running(), Seen::Absent)
            },
        ],
        &Backoff::default(),
        t0,
    );
}

#[test]
fn crash_loop_back_off_timing() {
    let t0 = Instant::now();
    let mut backoff = Backoff::default();
    let spec = pod("Always", &[], &["app"]);
    // The first crash restarts at once.
    let crashed_at = |t: Instant, ran: u64| Seen::Exited {
        code: 1,
        finished: t,
        ran: Duration::from_secs(ran),
    };
    let plan_at = |backoff: &Backoff, seen: Seen, now: Instant| {
        let seen = BTreeMap::from([("app".to_string(), seen)]);
        plan(&spec, &seen, backoff, &BTreeSet::new(), now)
    };
    let p = plan_at(&backoff, crashed_at(t0, 1), t0);
    assert_eq!(p.actions, vec![restart("app")]);
    assert_eq!(p.phase, Phase::Running);
    backoff.restarted("app", t0);
    // It crashes again a second later: 10 s from that exit.
    let second = t0 + Duration::from_secs(1);
    let p = plan_at(&backoff, crashed_at(second, 1), second);
    let wait = |delay: u64, from: Instant| Action::BackOff {
        container: "app".into(),
        delay: Duration::from_secs(delay),
        until: from + Duration::from_secs(delay),
    };
    assert_eq!(p.actions, vec![wait(10, second)]);
    assert_eq!(p.phase, Phase::Running, "a pod in back-off still runs");
    // Just before the end still waiting, at the end it restarts.
    let almost = second + Duration::from_millis(9_999);
    assert_eq!(
        plan_at(&backoff, crashed_at(second, 1), almost).actions,
        vec![wait(10, second)]
    );
    let due = second + Duration::from_secs(10);
    assert_eq!(
        plan_at(&backoff, crashed_at(second, 1), due).actions,
        vec![restart("app")]
    );
    backoff.restarted("app", due);
    // The next crash waits twice as long, up to five minutes.
    assert_eq!(
        plan_at(&backoff, crashed_at(due, 1), due).actions,
        vec![wait(20, due)]
    );
    for _ in 0..10 {
        backoff.restarted("app", due);
    }
    assert_eq!(
        plan_at(&backoff, crashed_at(due, 1), due).actions,
        vec![wait(300, due)]
    );
    // Ten minutes of running forgive the crashes: restarted at once, the delay starts over.
    assert_eq!(
        plan_at(&backoff, crashed_at(due, 600), due).actions,
        vec![Action::Restart {
            container: "app".into(),
            forgive: true
        }]
    );
    // Back-off holds init containers too: the pod stays Pending.
    let init = pod("OnFailure", &["setup"], &["app"]);
    let seen = BTreeMap::from([("setup".to_string(), crashed_at(due, 1))]);
    let mut b = Backoff::default();
    b.restarted("setup", due);
    let p = plan(&init, &seen, &b, &BTreeSet::new(), due);
    assert_eq!(
        p.actions,
        vec![Action::BackOff {
            container: "setup".into(),
            delay: Duration::from_secs(10),
            until: due + Duration::from_secs(10),
        }]
    );
    assert_eq!((p.initialized, p.phase), (false, Phase::Pending));
}

#[test]
fn failed_probes_kill_first_and_alone() {
    let t0 = Instant::now();
    let mut spec = pod("Always", &["+proxy"], &["app", "other"]);
    spec.termination_grace_period_seconds = Some(20);
    spec.containers[0].liveness_probe = Some(Probe {
        termination_grace_period_seconds: Some(3),
        ..Probe::default()
    });
    let condemned = |why: &str| Seen::Running {
        kill: Some(why.to_string()),
    };
    check(
        vec![
            Case {
                name: "a failed liveness probe kills with the probe's grace, nothing else",
                spec: spec.clone(),
                seen: vec![
                    ("proxy", running()),
                    ("app", condemned("Container app failed liveness probe")),
                ],
                tried: vec![],
                actions: vec![Action::Kill {
                    container: "app".into(),
                    reason: "Container app failed liveness probe".into(),
                    grace: Duration::from_secs(3),
                }],
                initialized: true,
                phase: Phase::Pending,
            },
            Case {
                name: "sidecar and app condemned together: both go, with the pod's grace for the sidecar",
                spec: spec.clone(),
                seen: vec![
                    ("proxy", condemned("startup")),
                    ("app", condemned("liveness")),
                    ("other", running()),
                ],
                tried: vec![],
                actions: vec![
                    Action::Kill {
                        container: "proxy".into(),
                        reason: "startup".into(),
                        grace: Duration::from_secs(20),
                    },
                    Action::Kill {
                        container: "app".into(),
                        reason: "liveness".into(),
                        grace: Duration::from_secs(3),
                    },
                ],
                initialized: true,
                phase: Phase::Running,
            },
            Case {
                name: "once killed it is exited: restarted by the policy",
                spec,
                seen: vec![
                    ("proxy", running()),
                    ("app", exited(t0, 137)),
                    ("other", running()),
                ],
                tried: vec![],
                actions: vec![restart("app")],
                initialized: true,
                phase: Phase::Running,
            },
        ],
        &Backoff::default(),
        t0,
    );
}

#[test]
fn what_the_engine_shows_becomes_what_the_plan_sees() {
    use berth_runtime::container::{ContainerInfo, ExitRecord};
    let wall: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
    let now = Instant::now();
    let info = |state: State, exit: Option<ExitRecord>| {
        let record = serde_json::from_value(serde_json::json!({
            "id": "c1", "name": "c1", "image": "busybox", "imageDigest": "sha256:1",
            "imageId": "sha256:2", "config": {}, "args": [],
            "createdAt": "2026-01-01T00:00:00Z", "startedAt": "2026-01-01T00:00:00Z",
            "cgroupsPath": "/c1", "logPath": "/c1.log", "stopSignal": "SIGTERM",
        }))
        .unwrap_or_else(|e| panic!("a container record: {e}"));
        Observed {
            current: Some(ContainerInfo {
                record,
                state,
                pid: None,
                exit,
            }),
            previous: None,
        }
    };
    assert_eq!(
        Seen::of(&Observed::default(), None, now, wall),
        Seen::Absent
    );
    assert_eq!(
        Seen::of(&info(State::Created, None), None, now, wall),
        Seen::Stuck
    );
    assert_eq!(
        Seen::of(&info(State::Running, None), Some("why".into()), now, wall),
        Seen::Running {
            kill: Some("why".into())
        }
    );
    let exit: ExitRecord = serde_json::from_value(serde_json::json!({
        "exitCode": 3, "oomKilled": false, "finishedAt": "2026-01-01T00:09:00Z"
    }))
    .unwrap_or_else(|e| panic!("an exit record: {e}"));
    assert_eq!(
        Seen::of(&info(State::Exited, Some(exit)), None, now, wall),
        Seen::Exited {
            code: 3,
            finished: now - Duration::from_secs(60),
            ran: Duration::from_secs(540),
        }
    );
}
