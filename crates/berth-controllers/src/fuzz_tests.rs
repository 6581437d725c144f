//! The controllers' arithmetic and object handling under arbitrary input: random but
//! storable objects (any int-or-percent string, any replica count the API accepts or not,
//! templates with random fields) must never make a reconcile panic (a panic would be retried
//! with back-off forever) and must keep the documented invariants. A fixed-seed xorshift
//! generator keeps runs reproducible without a fuzzing dependency.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use crate::deployment::{
    calculate_counts, fenceposts, new_set_replicas, old_set_sizes, proportional_sizes,
    scaled_value, template_hash, Sized,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn int(&mut self) -> i32 {
        match self.next() % 6 {
            0 => 0,
            1 => i32::MAX,
            2 => i32::MIN,
            3 => -((self.next() % 100) as i32),
            _ => (self.next() % 2000) as i32,
        }
    }

    fn int_or_string(&mut self) -> Option<IntOrString> {
        Some(match self.next() % 8 {
            0 => return None,
            1 => IntOrString::Int(self.int()),
            2 => IntOrString::String(format!("{}%", self.next() % 150)),
            3 => IntOrString::String(format!("{}%", self.next())),
            4 => IntOrString::String("-25%".into()),
            5 => IntOrString::String("abc".into()),
            6 => IntOrString::String(format!("{}", self.int())),
            _ => IntOrString::String("%".into()),
        })
    }
}

#[test]
fn rollout_arithmetic_never_panics_and_stays_in_bounds() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let replicas = rng.int();
        let surge = rng.int_or_string();
        let unavailable = rng.int_or_string();
        let _ = scaled_value(surge.as_ref(), replicas, true);
        let (s, u) = fenceposts(surge.as_ref(), unavailable.as_ref(), replicas);
        assert!(s >= 0 && u >= 0, "fenceposts ({s}, {u})");
        let total = rng.int();
        let current = rng.int();
        let _ = new_set_replicas(replicas, s, total, current);
        let old: Vec<(i32, i32)> = (0..rng.next() % 4)
            .map(|_| (rng.int(), rng.int()))
            .collect();
        let new = (rng.next() % 2 == 0).then(|| (rng.int(), rng.int()));
        let sizes = old_set_sizes(&old, new, replicas, u);
        assert_eq!(sizes.len(), old.len());
        for (after, (before, _)) in sizes.iter().zip(&old) {
            // Old sets only ever shrink (a negative size, which the API refuses, at most to
            // zero), never below zero when they started above it.
            assert!(*after <= (*before).max(0), "{after} > {before}");
            if *before >= 0 {
                assert!(*after >= 0, "{after} < 0");
            }
        }
        let sets: Vec<Sized> = (0..rng.next() % 4)
            .map(|_| Sized {
                replicas: (rng.next() % 500) as i32,
                max_replicas: (rng.next() % 2 == 0).then(|| rng.int()),
            })
            .collect();
        let _ = proportional_sizes(&sets, replicas, s, rng.int());
        let _ = crate::deployment::arithmetic::scale_proportionally(&sets, replicas, s, rng.int());
        let _ = crate::deployment::arithmetic::rolling_step(replicas, s, u, new, &old);
    }
}

#[test]
fn arbitrary_deployments_and_sets_are_handled() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for i in 0..2_000 {
        let surge = rng.int_or_string();
        let unavailable = rng.int_or_string();
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": format!("d{i}"), "namespace": "default", "uid": "u",
                         "generation": rng.int(),
                         "annotations": {"deployment.kubernetes.io/revision": format!("{}", rng.int())}},
            "spec": {
                "replicas": rng.int(),
                "minReadySeconds": rng.int(),
                "progressDeadlineSeconds": rng.int(),
                "revisionHistoryLimit": rng.int(),
                "selector": {"matchLabels": {"app": "x"}},
                "strategy": {"type": if rng.next() % 2 == 0 { "Recreate" } else { "RollingUpdate" },
                             "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                "template": {"metadata": {"labels": {"app": "x", "k": format!("{}", rng.next())}},
                             "spec": {"containers": [{"name": "c", "image": "i"}]}},
            },
        }))
        .expect("a valid Deployment");
        let sets: Vec<ReplicaSet> = (0..rng.next() % 4)
            .map(|j| {
                serde_json::from_value(json!({
                    "metadata": {"name": format!("d{i}-{j}"), "namespace": "default",
                                 "annotations": {
                                     "deployment.kubernetes.io/revision": format!("{}", rng.next()),
                                     "deployment.kubernetes.io/max-replicas": format!("{}", rng.int()),
                                 }},
                    "spec": {"replicas": rng.int(), "selector": {"matchLabels": {"app": "x"}}},
                    "status": {"replicas": rng.int(), "readyReplicas": rng.int(),
                               "availableReplicas": rng.int()},
                }))
                .expect("a valid ReplicaSet")
            })
            .collect();
        let counts = calculate_counts(&d, &sets, sets.first());
        let _ = crate::deployment::is_complete(&d, &counts);
        let new = (!sets.is_empty()).then(|| (rng.next() as usize) % sets.len());
        let scalings = crate::deployment::arithmetic::scaling(&d, &sets, new);
        let mut seen = std::collections::HashSet::new();
        assert!(
            scalings
                .iter()
                .all(|(i, _)| *i < sets.len() && seen.insert(*i)),
            "each set scaled once at most: {scalings:?}"
        );
        let _ = crate::deployment::arithmetic::is_scaling_event(&d, &sets);
        let mut conditions = Vec::new();
        let now =
            jiff::Timestamp::from_second(rng.int().into()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let _ = crate::deployment::conditions::progress(&mut conditions, &d, &counts, "x", now);
        let _ = crate::deployment::conditions::availability(&d, &counts, now);
        if let Some(t) = d.spec.as_ref().map(|s| &s.template) {
            assert_eq!(template_hash(t, None), template_hash(t, None));
        }
    }
}

#[test]
fn arbitrary_daemonsets_plan_only_sensible_actions() {
    use std::collections::{BTreeMap, HashSet};
    use std::sync::Arc;

    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::core::v1::{Node, Pod};

    use crate::daemonset::{compute_status, plan, should_run, target_node};

    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let now: jiff::Timestamp = "2024-06-01T00:00:00Z"
        .parse()
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    for i in 0..2_000 {
        let strategy = if rng.next() % 3 == 0 {
            "OnDelete"
        } else {
            "RollingUpdate"
        };
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": format!("ds{i}"), "namespace": "default", "uid": "u",
                         "generation": rng.int()},
            "spec": {
                "minReadySeconds": rng.int(),
                "selector": {"matchLabels": {"app": "x"}},
                "updateStrategy": {"type": strategy, "rollingUpdate": {
                    "maxSurge": rng.int_or_string(), "maxUnavailable": rng.int_or_string()}},
                "template": {"metadata": {"labels": {"app": "x"}},
                             "spec": {"containers": [{"name": "c", "image": "i"}],
                                      "nodeSelector": if rng.next() % 3 == 0 { json!({"zone": "a"}) } else { json!(null) }}},
            },
        }))
        .expect("a valid DaemonSet");
        let template = ds
            .spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default();
        let nodes: Vec<Arc<Node>> = (0..rng.next() % 6)
            .map(|n| {
                let zone = if rng.next() % 2 == 0 { "a" } else { "b" };
                let taints = if rng.next() % 4 == 0 {
                    json!([{"key": "k", "effect": "NoSchedule"}])
                } else {
                    json!([])
                };
                Arc::new(
                    serde_json::from_value(json!({
                        "metadata": {"name": format!("n{n}"), "labels": {"zone": zone}},
                        "spec": {"taints": taints}}))
                    .expect("a valid Node"),
                )
            })
            .collect();
        let pods: Vec<Pod> = (0..rng.next() % 10)
            .map(|p| {
                let phase = ["Pending", "Running", "Failed", "Succeeded"][(rng.next() % 4) as usize];
                let ready = if rng.next() % 2 == 0 { "True" } else { "False" };
                let deleting = (rng.next() % 5 == 0).then_some("2024-01-01T00:00:00Z");
                serde_json::from_value(json!({
                    "metadata": {"name": format!("p{p}"),
                                 "creationTimestamp": format!("2024-01-0{}T00:00:00Z", 1 + rng.next() % 9),
                                 "deletionTimestamp": deleting,
                                 "labels": {"app": "x", "controller-revision-hash": if rng.next() % 2 == 0 { "new" } else { "old" }}},
                    "spec": {"nodeName": format!("n{}", rng.next() % 7), "containers": []},
                    "status": {"phase": phase, "conditions": [
                        {"type": "Ready", "status": ready, "lastTransitionTime": "2024-01-01T00:00:00Z"}]},
                }))
                .expect("a valid Pod")
            })
            .collect();
        let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
        for p in &pods {
            if let Some(n) = target_node(p) {
                by_node.entry(n).or_default().push(p);
            }
        }
        let decided = plan(&ds, &template, &nodes, &by_node, "new", now);
        let names: HashSet<&str> = pods
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        for d in &decided.delete {
            assert!(names.contains(d.as_str()), "deletes unknown pod {d}");
        }
        for n in &decided.create {
            let node = nodes
                .iter()
                .find(|x| x.metadata.name.as_deref() == Some(n.as_str()));
            assert!(
                node.is_some_and(|node| should_run(&template, node)),
                "create on {n}"
            );
        }
        let status = compute_status(&ds, &template, &nodes, &by_node, "new", 0, now);
        assert!(status.number_ready <= status.desired_number_scheduled);
        assert!(status.current_number_scheduled <= status.desired_number_scheduled);
    }
}

#[test]
fn arbitrary_statefulsets_plan_only_sensible_actions() {
    use std::collections::BTreeMap;

    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::Pod;

    use crate::statefulset::{compute_status, ordinal_of, plan};

    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let now = jiff::Timestamp::UNIX_EPOCH;
    for i in 0..2_000 {
        let policy = if rng.next() % 2 == 0 {
            "Parallel"
        } else {
            "OrderedReady"
        };
        let strategy = if rng.next() % 3 == 0 {
            "OnDelete"
        } else {
            "RollingUpdate"
        };
        let set: StatefulSet = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u", "generation": rng.int()},
            "spec": {
                "replicas": rng.int(),
                "minReadySeconds": rng.int(),
                "podManagementPolicy": policy,
                "ordinals": {"start": rng.int()},
                "selector": {"matchLabels": {"app": "web"}},
                "updateStrategy": {"type": strategy, "rollingUpdate": {"partition": rng.int()}},
                "serviceName": "web",
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "c", "image": "i"}]}},
            },
        }))
        .expect("a valid StatefulSet");
        let pods: Vec<Pod> = (0..rng.next() % 8)
            .map(|_| {
                let phase = ["Pending", "Running", "Failed", "Succeeded"][(rng.next() % 4) as usize];
                let ready = if rng.next() % 2 == 0 { "True" } else { "False" };
                serde_json::from_value(json!({
                    "metadata": {"name": format!("web-{}", rng.next() % 10),
                                 "labels": {"controller-revision-hash": if rng.next() % 2 == 0 { "web-new" } else { "web-old" }}},
                    "spec": {"containers": []},
                    "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]},
                }))
                .expect("a valid Pod")
            })
            .collect();
        let by_ordinal: BTreeMap<i32, &Pod> = pods
            .iter()
            .filter_map(|p| Some((ordinal_of("web", p.metadata.name.as_deref()?)?, p)))
            .collect();
        let decided = plan(&set, &by_ordinal, "web-new", now);
        for name in &decided.delete {
            assert!(
                pods.iter()
                    .any(|p| p.metadata.name.as_deref() == Some(name.as_str())),
                "{i}: deletes unknown pod {name}"
            );
        }
        for (ordinal, _) in &decided.create {
            assert!(
                !by_ordinal.contains_key(ordinal),
                "{i}: creates existing ordinal {ordinal}"
            );
        }
        if policy == "OrderedReady" {
            assert!(decided.create.len() <= 1, "{i}: {decided:?}");
        }
        let status = compute_status(&set, &by_ordinal, "web-old", "web-new", 0, now);
        assert!(status.ready_replicas.unwrap_or(0) <= status.replicas);
    }
}
