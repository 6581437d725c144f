//! The rollout's arithmetic, pure (kube-controller-manager's `deployment/util` and the
//! decisions inside its `sync.go` and `rolling.go`): what `maxSurge` and `maxUnavailable`
//! come to, how far one step of a rolling update grows the new ReplicaSet and shrinks the old
//! ones, how a scaling of the Deployment during a rollout is shared among its ReplicaSets, and
//! the counts its status reports.
//!
//! Counts come from stored objects, which any client can write: the arithmetic saturates
//! rather than overflow, and never hands out a negative size for a set that had none.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    is_recreate, replicas_of, set_available, set_replicas, DESIRED_REPLICAS, MAX_REPLICAS,
};

pub(super) fn saturating_sum(values: impl Iterator<Item = i32>) -> i32 {
    values.fold(0, i32::saturating_add)
}

/// An int-or-percent against `total`: percentages round up (`round_up`) or down.
pub fn scaled_value(v: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let Some(p) = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<i64>().ok())
            else {
                return s.trim().parse().unwrap_or(0);
            };
            let product = p.saturating_mul(i64::from(total));
            let v = if round_up {
                product.saturating_add(99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
        }
    }
}

/// (maxSurge, maxUnavailable) for `replicas`, as kube-controller-manager's
/// `ResolveFenceposts`: surge rounds up, unavailable down, and both zero means one may be
/// unavailable so that the rollout can progress at all.
pub fn fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    replicas: i32,
) -> (i32, i32) {
    let surge = scaled_value(max_surge, replicas, true).max(0);
    let unavailable = scaled_value(max_unavailable, replicas, false).max(0);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// The Deployment's fenceposts: its RollingUpdate parameters (25% each by default)
/// resolved, or none for Recreate.
fn strategy_fenceposts(d: &Deployment) -> (i32, i32) {
    let spec = d.spec.as_ref();
    let rolling = spec
        .and_then(|s| s.strategy.as_ref())
        .filter(|s| s.type_.as_deref() != Some("Recreate"))
        .map(|s| s.rolling_update.clone().unwrap_or_default());
    match rolling {
        Some(ru) => {
            let default = IntOrString::String("25%".into());
            fenceposts(
                Some(ru.max_surge.as_ref().unwrap_or(&default)),
                Some(ru.max_unavailable.as_ref().unwrap_or(&default)),
                replicas_of(d),
            )
        }
        None => (0, 0),
    }
}

/// Pods the Deployment may run above its replicas (`MaxSurge`).
pub fn max_surge(d: &Deployment) -> i32 {
    strategy_fenceposts(d).0
}

/// maxUnavailable as the rollout uses it (`MaxUnavailable`): never more than the replicas.
pub fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = replicas_of(d);
    if is_recreate(d) || replicas == 0 {
        return 0;
    }
    strategy_fenceposts(d).1.min(replicas)
}

/// A ReplicaSet as proportional scaling sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sized {
    /// `spec.replicas`.
    pub replicas: i32,
    /// Its `max-replicas` annotation: the Deployment's replicas + surge when last scaled.
    pub max_replicas: Option<i32>,
}

impl Sized {
    fn of(set: &ReplicaSet) -> Sized {
        Sized {
            replicas: set_replicas(set),
            max_replicas: annotation(set, MAX_REPLICAS).and_then(|m| m.parse().ok()),
        }
    }
}

fn annotation<'a>(set: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    set.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// kube-controller-manager's proportional scaling: when a Deployment is scaled during a
/// rollout, its active ReplicaSets share the change in proportion to their sizes (as
/// fractions of the size they were scaled for, `getProportion`), the remainder going to the
/// first. `sets` are sorted largest first (newer first when adding, older first when
/// removing). Returns the new sizes.
pub fn proportional_sizes(
    sets: &[Sized],
    replicas: i32,
    surge: i32,
    status_replicas: i32,
) -> Vec<i32> {
    let total = saturating_sum(sets.iter().map(|s| s.replicas));
    let allowed = if replicas > 0 {
        replicas.saturating_add(surge)
    } else {
        0
    };
    let to_add = allowed.saturating_sub(total);
    let mut added = 0;
    let mut out: Vec<i32> = sets.iter().map(|s| s.replicas).collect();
    if to_add == 0 {
        return out;
    }
    for (i, s) in sets.iter().enumerate() {
        if s.replicas == 0 || to_add == added {
            continue;
        }
        let fraction = if replicas == 0 {
            s.replicas.saturating_neg()
        } else {
            let annotated = s.max_replicas.unwrap_or(status_replicas).max(1);
            let size = f64::from(s.replicas) * f64::from(allowed) / f64::from(annotated);
            // Rounded like Go's math.Round; `as` saturates at the i32 bounds.
            #[allow(clippy::cast_possible_truncation)]
            let rounded = size.round() as i32;
            rounded.saturating_sub(s.replicas)
        };
        let left = to_add.saturating_sub(added);
        let proportion = if to_add > 0 {
            fraction.min(left)
        } else {
            fraction.max(left)
        };
        out[i] = out[i].saturating_add(proportion);
        added = added.saturating_add(proportion);
    }
    if let Some(first) = out.first_mut() {
        *first = first.saturating_add(to_add).saturating_sub(added).max(0);
    }
    out
}

/// [`proportional_sizes`] over the active ReplicaSets in their own order (oldest first):
/// sorts them as Kubernetes does (largest first; ties newer first when adding, older first
/// when removing) and returns `(index in active, new size)` in that order, which is the order
/// the sizes are applied in.
pub fn scale_proportionally(
    active: &[Sized],
    replicas: i32,
    surge: i32,
    status_replicas: i32,
) -> Vec<(usize, i32)> {
    let total = saturating_sum(active.iter().map(|s| s.replicas));
    let allowed = if replicas > 0 {
        replicas.saturating_add(surge)
    } else {
        0
    };
    let adding = allowed > total;
    let mut order: Vec<usize> = (0..active.len()).collect();
    order.sort_by(|a, b| {
        let size = active[*b].replicas.cmp(&active[*a].replicas);
        size.then_with(|| if adding { b.cmp(a) } else { a.cmp(b) })
    });
    let sorted: Vec<Sized> = order.iter().map(|i| active[*i]).collect();
    let sizes = proportional_sizes(&sorted, replicas, surge, status_replicas);
    order.into_iter().zip(sizes).collect()
}

/// The new ReplicaSet holds every wanted pod and the Deployment agrees (`IsSaturated`).
pub fn is_saturated(d: &Deployment, new: &ReplicaSet) -> bool {
    let replicas = replicas_of(d);
    set_replicas(new) == replicas
        && set_available(new) == replicas
        && annotation(new, DESIRED_REPLICAS) == Some(replicas.to_string().as_str())
}

/// The Deployment was scaled (`isScalingEvent`): an active ReplicaSet was last scaled for
/// another size. `sets` are the Deployment's, oldest first.
pub fn is_scaling_event(d: &Deployment, sets: &[ReplicaSet]) -> bool {
    let replicas = replicas_of(d).to_string();
    let active = sets.iter().filter(|s| set_replicas(s) > 0).count();
    // Recreate has no proportional scaling; with old and new both up its rollout must go
    // on, or the Deployment would stay a "scaling event" forever.
    if is_recreate(d) && active > 1 {
        return false;
    }
    sets.iter().any(|s| {
        set_replicas(s) > 0 && annotation(s, DESIRED_REPLICAS).is_some_and(|d| d != replicas)
    })
}

/// kube-controller-manager's `scale`: the sizes the ReplicaSets (`sets`, oldest first;
/// `new` the current template's) get when the Deployment follows `spec.replicas` without
/// rolling anything out (paused, or scaled). One active ReplicaSet (or else the new, or else
/// the latest) takes the size; a saturated new one lets the old go; otherwise the active ones
/// share the change in proportion (not under Recreate). Returns `(index in sets, size)` in the
/// order to apply them; a ReplicaSet listed at its current size is only re-annotated.
pub fn scaling(d: &Deployment, sets: &[ReplicaSet], new: Option<usize>) -> Vec<(usize, i32)> {
    let replicas = replicas_of(d);
    let active: Vec<usize> = (0..sets.len())
        .filter(|i| set_replicas(&sets[*i]) > 0)
        .collect();
    let target = match (active.as_slice(), new) {
        ([only], _) => Some(*only),
        ([], Some(new)) => Some(new),
        ([], None) => sets.len().checked_sub(1),
        _ => None,
    };
    if let Some(i) = target {
        return vec![(i, replicas)];
    }
    if new
        .and_then(|i| sets.get(i))
        .is_some_and(|s| is_saturated(d, s))
    {
        return active
            .into_iter()
            .filter(|i| Some(*i) != new)
            .map(|i| (i, 0))
            .collect();
    }
    if is_recreate(d) {
        return Vec::new();
    }
    let sized: Vec<Sized> = active.iter().map(|i| Sized::of(&sets[*i])).collect();
    let status_replicas = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    scale_proportionally(&sized, replicas, max_surge(d), status_replicas)
        .into_iter()
        .map(|(i, size)| (active[i], size))
        .collect()
}

/// Replicas the current ReplicaSet should have under RollingUpdate (`NewRSNewReplicas`):
/// grow within surge, never beyond the replicas.
pub fn new_set_replicas(
    replicas: i32,
    max_surge: i32,
    current_total: i32,
    new_current: i32,
) -> i32 {
    if new_current >= replicas {
        return replicas;
    }
    let max_total = replicas.saturating_add(max_surge);
    if current_total >= max_total {
        return new_current;
    }
    let up = max_total
        .saturating_sub(current_total)
        .min(replicas.saturating_sub(new_current));
    new_current.saturating_add(up)
}

/// kube-controller-manager's `reconcileOldReplicaSets`: the sizes of the old ReplicaSets
/// (`(replicas, available)`, oldest first) after a step of a rolling update. Pods that are
/// not available go first ([`cleanup_unhealthy`]), as far as the new ReplicaSet's
/// unavailable pods leave room; then available ones ([`scale_down_available`]), as long as
/// `replicas - max_unavailable` stay available.
pub fn old_set_sizes(
    old: &[(i32, i32)],
    new: Option<(i32, i32)>,
    replicas: i32,
    max_unavailable: i32,
) -> Vec<i32> {
    let sizes: Vec<i32> = old.iter().map(|(spec, _)| *spec).collect();
    let old_total = saturating_sum(sizes.iter().copied());
    if old_total == 0 {
        return sizes;
    }
    let (new_spec, new_available) = new.unwrap_or((0, 0));
    let all_total = old_total.saturating_add(new_spec);
    let min_available = replicas.saturating_sub(max_unavailable);
    let new_unavailable = new_spec.saturating_sub(new_available);
    let max_scaled_down = all_total
        .saturating_sub(min_available)
        .saturating_sub(new_unavailable);
    if max_scaled_down <= 0 {
        return sizes;
    }
    let sizes = cleanup_unhealthy(old, max_scaled_down);
    let available = saturating_sum(old.iter().map(|(_, a)| *a)).saturating_add(new_available);
    scale_down_available(&sizes, available, min_available)
}

/// `cleanupUnhealthyReplicas`: shrink the old ReplicaSets (`(replicas, available)`, oldest
/// first) by their pods that are not available, `max` at most in all. Removing those never
/// lowers availability.
pub fn cleanup_unhealthy(old: &[(i32, i32)], max: i32) -> Vec<i32> {
    let mut sizes: Vec<i32> = old.iter().map(|(spec, _)| *spec).collect();
    let mut scaled = 0;
    for (size, (_, available)) in sizes.iter_mut().zip(old) {
        if scaled >= max {
            break;
        }
        if *size == 0 || *size <= *available {
            continue;
        }
        // Never below zero, whatever the reported availability.
        let down = max
            .saturating_sub(scaled)
            .min(size.saturating_sub((*available).max(0)))
            .min(*size)
            .max(0);
        *size -= down;
        scaled = scaled.saturating_add(down);
    }
    sizes
}

/// `scaleDownOldReplicaSetsForRollingUpdate`: shrink the old ReplicaSets (`sizes`, oldest
/// first) by as many pods as are `available` above `min_available`, oldest first.
pub fn scale_down_available(sizes: &[i32], available: i32, min_available: i32) -> Vec<i32> {
    let mut sizes = sizes.to_vec();
    if available <= min_available {
        return sizes;
    }
    let allowed = available.saturating_sub(min_available);
    let mut scaled = 0;
    for size in sizes.iter_mut() {
        if scaled >= allowed {
            break;
        }
        if *size == 0 {
            continue;
        }
        let down = (*size).min(allowed.saturating_sub(scaled));
        *size -= down;
        scaled = scaled.saturating_add(down);
    }
    sizes
}

/// What one step of a rolling update does (`rolloutRolling`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollingStep {
    /// Create the new ReplicaSet with this many replicas.
    Create(i32),
    /// Scale the new ReplicaSet to this size (up within surge, or down to the replicas).
    ScaleNew(i32),
    /// Scale the old ReplicaSets, in their order, to these sizes.
    ScaleOld(Vec<i32>),
    /// Nothing to scale: the rollout waits for pods, or is done.
    Steady,
}

/// The next step of a rolling update of `replicas` within `surge` and `max_unavailable`,
/// from the new ReplicaSet (`(replicas, available)`, none yet) and the old ones (oldest
/// first). The new ReplicaSet moves first; the old ones shrink only once it is where it
/// should be.
pub fn rolling_step(
    replicas: i32,
    surge: i32,
    max_unavailable: i32,
    new: Option<(i32, i32)>,
    old: &[(i32, i32)],
) -> RollingStep {
    let old_total = saturating_sum(old.iter().map(|(spec, _)| *spec));
    let Some((current, _)) = new else {
        return RollingStep::Create(new_set_replicas(replicas, surge, old_total, 0));
    };
    let total = old_total.saturating_add(current);
    let want = if current > replicas {
        replicas
    } else {
        new_set_replicas(replicas, surge, total, current)
    };
    if want != current {
        return RollingStep::ScaleNew(want);
    }
    let sizes = old_set_sizes(old, new, replicas, max_unavailable);
    if sizes
        .iter()
        .zip(old)
        .any(|(after, (before, _))| after != before)
    {
        return RollingStep::ScaleOld(sizes);
    }
    RollingStep::Steady
}

/// The numbers a Deployment's status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Pods of all its ReplicaSets.
    pub replicas: i32,
    /// Pods of the current ReplicaSet.
    pub updated: i32,
    /// Ready pods.
    pub ready: i32,
    /// Available pods.
    pub available: i32,
    /// Wanted pods not available.
    pub unavailable: i32,
    /// The generation these numbers are for.
    pub observed_generation: Option<i64>,
}

/// Status counts of a Deployment over its ReplicaSets (`calculateStatus`).
pub fn calculate_counts(d: &Deployment, all: &[ReplicaSet], new: Option<&ReplicaSet>) -> Counts {
    let status = |s: &ReplicaSet| s.status.clone().unwrap_or_default();
    let replicas = saturating_sum(all.iter().map(|s| status(s).replicas));
    let spec_total = saturating_sum(all.iter().map(set_replicas));
    let available = saturating_sum(
        all.iter()
            .map(|s| status(s).available_replicas.unwrap_or(0)),
    );
    Counts {
        replicas,
        updated: new.map(|s| status(s).replicas).unwrap_or(0),
        ready: saturating_sum(all.iter().map(|s| status(s).ready_replicas.unwrap_or(0))),
        available,
        unavailable: spec_total.saturating_sub(available).max(0),
        observed_generation: d.metadata.generation,
    }
}

/// The rollout is done (`DeploymentComplete`): every wanted pod updated and available,
/// nothing old left.
pub fn is_complete(d: &Deployment, c: &Counts) -> bool {
    let want = replicas_of(d);
    c.updated == want
        && c.replicas == want
        && c.available == want
        && c.observed_generation >= d.metadata.generation
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn ios(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn scaled_values_round_percentages_as_asked() {
        let cases: &[(IntOrString, i32, bool, i32)] = &[
            (ios("25%"), 10, true, 3),
            (ios("25%"), 10, false, 2),
            (ios("1%"), 1, true, 1),
            (ios("99%"), 1, false, 0),
            (ios("100%"), 7, false, 7),
            (ios("0%"), 7, true, 0),
            (IntOrString::Int(4), 100, false, 4),
            (ios("5"), 100, true, 5),
            (ios("abc"), 10, true, 0),
        ];
        for (v, total, up, want) in cases {
            assert_eq!(
                scaled_value(Some(v), *total, *up),
                *want,
                "{v:?} of {total}"
            );
        }
        assert_eq!(scaled_value(None, 10, true), 0);
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down_and_refuse_both_zero() {
        // (maxSurge, maxUnavailable, replicas) -> (surge, unavailable)
        let cases: &[(IntOrString, IntOrString, i32, (i32, i32))] = &[
            (ios("25%"), ios("25%"), 3, (1, 0)),
            (ios("25%"), ios("25%"), 10, (3, 2)),
            (ios("25%"), ios("25%"), 1, (1, 0)),
            (IntOrString::Int(2), ios("50%"), 5, (2, 2)),
            (ios("0%"), ios("1%"), 10, (0, 1)),
            (ios("1%"), ios("0%"), 10, (1, 0)),
            // Both resolving to zero: one may be unavailable, or nothing could move.
            (ios("0%"), ios("0%"), 10, (0, 1)),
            (IntOrString::Int(0), IntOrString::Int(0), 3, (0, 1)),
            (ios("0%"), ios("20%"), 4, (0, 1)),
            // Negative values count as zero.
            (IntOrString::Int(-3), IntOrString::Int(2), 3, (0, 2)),
        ];
        for (surge, unavailable, replicas, want) in cases {
            assert_eq!(
                fenceposts(Some(surge), Some(unavailable), *replicas),
                *want,
                "{surge:?}/{unavailable:?} of {replicas}"
            );
        }
    }

    fn deployment(spec: Value) -> Deployment {
        let mut base = json!({
            "replicas": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}
        });
        for (k, v) in spec.as_object().into_iter().flatten() {
            base[k] = v.clone();
        }
        serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": base})).unwrap()
    }

    #[test]
    fn the_strategy_gives_surge_and_unavailability() {
        // (spec, maxSurge, maxUnavailable)
        let cases = [
            (json!({"strategy": {"type": "RollingUpdate"}}), 3, 2),
            (
                json!({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "50%"}}}),
                0,
                5,
            ),
            // Unavailability is capped at the replicas.
            (
                json!({"strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 20}}}),
                1,
                10,
            ),
            (json!({"strategy": {"type": "Recreate"}}), 0, 0),
            (
                json!({"replicas": 0, "strategy": {"type": "RollingUpdate"}}),
                0,
                0,
            ),
        ];
        for (spec, surge, unavailable) in cases {
            let d = deployment(spec.clone());
            assert_eq!(
                (max_surge(&d), max_unavailable(&d)),
                (surge, unavailable),
                "{spec}"
            );
        }
    }

    #[test]
    fn scaling_mid_rollout_is_proportional() {
        let s = |replicas, max| Sized {
            replicas,
            max_replicas: Some(max),
        };
        // (sets largest first, replicas, surge, status replicas) -> sizes
        type Case<'a> = (&'a [Sized], i32, i32, i32, &'a [i32]);
        let cases: &[Case] = &[
            // Kubernetes' documented example: 10 replicas, maxSurge 3, a stuck rollout with
            // 8 old and 5 new pods, scaled to 15: the 5 more go 3 to the old and 2 to the new.
            (&[s(8, 13), s(5, 13)], 15, 3, 13, &[11, 7]),
            // Scaled down to 5 (surge 2): -6.
            (&[s(8, 13), s(5, 13)], 5, 2, 13, &[4, 3]),
            // Scaled to zero: everything goes.
            (&[s(8, 13), s(5, 13)], 0, 0, 13, &[0, 0]),
            // Nothing to do.
            (&[s(8, 13), s(5, 13)], 10, 3, 13, &[8, 5]),
            // Rounding leaves a remainder: it goes to the first (largest) set. 3 sets of 3
            // scaled for 9, now 10: each rounds to 3, the one left over goes first.
            (&[s(3, 9), s(3, 9), s(3, 9)], 10, 0, 9, &[4, 3, 3]),
            // Down from 9 to 8: each rounds to -0, the first gives the one back.
            (&[s(3, 9), s(3, 9), s(3, 9)], 8, 0, 9, &[2, 3, 3]),
            // Without the annotation the status replicas stand in.
            (
                &[
                    Sized {
                        replicas: 4,
                        max_replicas: None,
                    },
                    s(2, 6),
                ],
                12,
                0,
                6,
                &[8, 4],
            ),
            // An empty set stays empty; the others take everything.
            (&[s(6, 6), s(0, 6)], 9, 0, 6, &[9, 0]),
        ];
        for (sets, replicas, surge, status, want) in cases {
            assert_eq!(
                proportional_sizes(sets, *replicas, *surge, *status),
                *want,
                "{sets:?} to {replicas}+{surge}"
            );
        }
    }

    #[test]
    fn proportional_scaling_walks_the_largest_first() {
        let s = |replicas| Sized {
            replicas,
            max_replicas: Some(6),
        };
        // Oldest first: 2, 4. Growing to 9 (+3): the larger (index 1) first and it takes
        // the remainder.
        assert_eq!(
            scale_proportionally(&[s(2), s(4)], 9, 0, 6),
            [(1, 6), (0, 3)]
        );
        // Equal sizes: newer first when adding, older first when removing.
        assert_eq!(
            scale_proportionally(&[s(3), s(3)], 9, 0, 6),
            [(1, 5), (0, 4)]
        );
        assert_eq!(
            scale_proportionally(&[s(3), s(3)], 3, 0, 6),
            [(0, 1), (1, 2)]
        );
    }

    fn set(replicas: i32, available: i32, desired: Option<i32>) -> ReplicaSet {
        let annotations =
            desired.map(|d| json!({DESIRED_REPLICAS: d.to_string(), MAX_REPLICAS: d.to_string()}));
        serde_json::from_value(json!({
            "metadata": {"name": "s", "annotations": annotations},
            "spec": {"replicas": replicas, "selector": {}},
            "status": {"replicas": replicas, "availableReplicas": available},
        }))
        .unwrap()
    }

    #[test]
    fn scaling_without_a_rollout() {
        let rolling = deployment(json!({"replicas": 6,
            "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}}));
        let recreate = deployment(json!({"replicas": 6, "strategy": {"type": "Recreate"}}));
        // (deployment, sets oldest first, new index) -> scalings
        type Case<'a> = (
            &'a Deployment,
            Vec<ReplicaSet>,
            Option<usize>,
            Vec<(usize, i32)>,
        );
        let cases: Vec<Case> = vec![
            // The only active set takes the size, new or not.
            (
                &rolling,
                vec![set(0, 0, None), set(3, 3, Some(3))],
                Some(0),
                vec![(1, 6)],
            ),
            // None active: the new one, else the latest.
            (
                &rolling,
                vec![set(0, 0, None), set(0, 0, None)],
                Some(0),
                vec![(0, 6)],
            ),
            (
                &rolling,
                vec![set(0, 0, None), set(0, 0, None)],
                None,
                vec![(1, 6)],
            ),
            (&rolling, vec![], None, vec![]),
            // A saturated new set lets the old ones go.
            (
                &rolling,
                vec![set(2, 2, Some(3)), set(6, 6, Some(6))],
                Some(1),
                vec![(0, 0)],
            ),
            // Not saturated (not all available): proportional, 4+4 scaled for 8 now 6.
            (
                &rolling,
                vec![set(4, 4, Some(8)), set(4, 0, Some(8))],
                Some(1),
                vec![(0, 3), (1, 3)],
            ),
            // Recreate never shares.
            (
                &recreate,
                vec![set(2, 2, Some(3)), set(3, 0, Some(3))],
                Some(1),
                vec![],
            ),
        ];
        for (d, sets, new, want) in cases {
            assert_eq!(scaling(d, &sets, new), want, "{sets:?} new {new:?}");
        }
    }

    #[test]
    fn a_scaling_event_is_a_size_the_active_sets_were_not_scaled_for() {
        let rolling = deployment(json!({"replicas": 6}));
        let recreate = deployment(json!({"replicas": 6, "strategy": {"type": "Recreate"}}));
        let cases: Vec<(&Deployment, Vec<ReplicaSet>, bool)> = vec![
            (&rolling, vec![set(6, 6, Some(6))], false),
            (&rolling, vec![set(3, 3, Some(3))], true),
            // An inactive set's old size does not matter.
            (
                &rolling,
                vec![set(0, 0, Some(3)), set(6, 6, Some(6))],
                false,
            ),
            // Nor does a set never scaled by a Deployment.
            (&rolling, vec![set(3, 3, None)], false),
            (&recreate, vec![set(3, 3, Some(3))], true),
            (
                &recreate,
                vec![set(3, 3, Some(3)), set(1, 0, Some(3))],
                false,
            ),
        ];
        for (d, sets, want) in cases {
            assert_eq!(is_scaling_event(d, &sets), want, "{sets:?}");
        }
    }

    #[test]
    fn the_new_replicaset_grows_within_surge() {
        // (replicas, surge, all pods, new pods) -> new size
        let cases = [
            // 3 replicas, surge 1: with 3 old pods, one new pod.
            (3, 1, 3, 0, 1),
            // Already at replicas + surge: wait for old pods to go.
            (3, 1, 4, 1, 1),
            // Old pods gone: grow to replicas, never beyond.
            (3, 1, 1, 1, 3),
            (3, 10, 0, 0, 3),
            (3, 0, 3, 3, 3),
            // Surge 25% of 10 = 3: 10 old pods, 3 new.
            (10, 3, 10, 0, 3),
            (10, 3, 12, 2, 3),
        ];
        for (replicas, surge, total, current, want) in cases {
            assert_eq!(
                new_set_replicas(replicas, surge, total, current),
                want,
                "{replicas}+{surge}, {total} pods, {current} new"
            );
        }
    }

    #[test]
    fn old_replicasets_shrink_within_max_unavailable() {
        // (old (replicas, available), new, replicas, maxUnavailable) -> old sizes
        type Case<'a> = (&'a [(i32, i32)], Option<(i32, i32)>, i32, i32, &'a [i32]);
        let cases: &[Case] = &[
            // 3 replicas, maxUnavailable 0, surge 1: the new pod is not available yet, so
            // no old pod may go.
            (&[(3, 3)], Some((1, 0)), 3, 0, &[3]),
            // It became available: one old pod goes.
            (&[(3, 3)], Some((1, 1)), 3, 0, &[2]),
            // maxUnavailable 1: one old pod goes at once, before the new one is available.
            (&[(3, 3)], Some((1, 0)), 3, 1, &[2]),
            // Unavailable old pods go first (as far as the total above the minimum allows:
            // 5 pods, 3 must stay, the new one does not count as it is not available).
            (&[(2, 0), (2, 2)], Some((1, 0)), 3, 0, &[1, 2]),
            (&[(2, 0), (2, 2)], Some((2, 0)), 3, 0, &[1, 2]),
            (&[(2, 0), (2, 2)], Some((0, 0)), 2, 0, &[0, 2]),
            // Nothing old left: nothing to do.
            (&[(0, 0)], Some((3, 3)), 3, 0, &[0]),
            // Everything available and the new set complete: the old go entirely.
            (&[(1, 1), (2, 2)], Some((3, 3)), 3, 0, &[0, 0]),
            // The oldest goes first.
            (&[(2, 2), (2, 2)], Some((2, 2)), 4, 0, &[0, 2]),
        ];
        for (old, new, replicas, unavailable, want) in cases {
            assert_eq!(
                old_set_sizes(old, *new, *replicas, *unavailable),
                *want,
                "{old:?} new {new:?}"
            );
        }
    }

    #[test]
    fn unhealthy_pods_go_first_and_healthy_ones_within_the_minimum() {
        // (old, max) -> sizes
        type Cleanup<'a> = (&'a [(i32, i32)], i32, &'a [i32]);
        let cleanup: &[Cleanup] = &[
            (&[(3, 1), (2, 0)], 10, &[1, 0]),
            (&[(3, 1), (2, 0)], 3, &[1, 1]),
            (&[(3, 3)], 10, &[3]),
            // Availability over the size (a stale status) removes nothing.
            (&[(2, 5)], 10, &[2]),
            (&[(2, -4)], 10, &[0]),
        ];
        for (old, max, want) in cleanup {
            assert_eq!(cleanup_unhealthy(old, *max), *want, "{old:?} max {max}");
        }
        // (sizes, available, min available) -> sizes
        let down: &[(&[i32], i32, i32, &[i32])] = &[
            (&[2, 2], 6, 3, &[0, 1]),
            (&[2, 2], 3, 3, &[2, 2]),
            (&[0, 2], 4, 3, &[0, 1]),
            (&[1, 1], 10, 0, &[0, 0]),
        ];
        for (sizes, available, min, want) in down {
            assert_eq!(
                scale_down_available(sizes, *available, *min),
                *want,
                "{sizes:?} {available} over {min}"
            );
        }
    }

    #[test]
    fn a_rolling_step_moves_the_new_set_first_then_the_old() {
        use RollingStep::*;
        // (replicas, surge, maxUnavailable, new, old) -> step
        type Case<'a> = (
            i32,
            i32,
            i32,
            Option<(i32, i32)>,
            &'a [(i32, i32)],
            RollingStep,
        );
        let cases: &[Case] = &[
            // No new ReplicaSet: created within surge.
            (3, 1, 0, None, &[(3, 3)], Create(1)),
            (3, 1, 0, None, &[], Create(3)),
            (3, 0, 1, None, &[(3, 3)], Create(0)),
            // Grows within surge.
            (3, 1, 0, Some((1, 1)), &[(2, 2)], ScaleNew(2)),
            // Shrinks when the Deployment was scaled below it.
            (3, 1, 0, Some((5, 5)), &[], ScaleNew(3)),
            // At the surge limit: the old ones shrink as the new pods are available.
            (3, 1, 0, Some((1, 1)), &[(3, 3)], ScaleOld(vec![2])),
            // ...but not before.
            (3, 1, 0, Some((1, 0)), &[(3, 3)], Steady),
            // Surge 0: the old ones must shrink first to make room.
            (3, 0, 1, Some((0, 0)), &[(3, 3)], ScaleOld(vec![2])),
            // Done.
            (3, 1, 0, Some((3, 3)), &[(0, 0)], Steady),
        ];
        for (replicas, surge, unavailable, new, old, want) in cases {
            assert_eq!(
                rolling_step(*replicas, *surge, *unavailable, *new, old),
                *want,
                "{replicas}+{surge}/-{unavailable} new {new:?} old {old:?}"
            );
        }
    }

    #[test]
    fn completion_needs_every_pod_updated_and_available() {
        let d = deployment(json!({"replicas": 3}));
        let done = Counts {
            replicas: 3,
            updated: 3,
            ready: 3,
            available: 3,
            unavailable: 0,
            observed_generation: None,
        };
        let cases = [
            (done, true),
            (
                Counts {
                    replicas: 4,
                    ..done
                },
                false,
            ),
            (Counts { updated: 2, ..done }, false),
            (
                Counts {
                    available: 2,
                    ..done
                },
                false,
            ),
        ];
        for (c, want) in cases {
            assert_eq!(is_complete(&d, &c), want, "{c:?}");
        }
    }

    #[test]
    fn counts_add_up_the_replicasets() {
        let d = deployment(json!({"replicas": 3}));
        let sets = [set(2, 1, None), set(2, 2, None)];
        let c = calculate_counts(&d, &sets, sets.last());
        assert_eq!(
            (c.replicas, c.updated, c.available, c.unavailable),
            (4, 2, 3, 1)
        );
    }
}
