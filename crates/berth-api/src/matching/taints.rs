//! Taints and tolerations: whether a toleration tolerates a taint (`Toleration.ToleratesTaint`)
//! and which of a node's taints a pod does not tolerate (`FindMatchingUntoleratedTaint`), so
//! that where the scheduler places a pod, where a DaemonSet wants one and what the node
//! lifecycle controller evicts never disagree.

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// The effect that keeps new pods off the node.
pub const NO_SCHEDULE: &str = "NoSchedule";
/// The effect that the scheduler tries to avoid.
pub const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";
/// The effect that also evicts running pods.
pub const NO_EXECUTE: &str = "NoExecute";

/// Whether `toleration` tolerates `taint`: an empty effect matches every effect, an empty
/// key (with `Exists`) every key; `Equal` (the default) compares values, `Exists` ignores
/// them; any other operator tolerates nothing.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if set(&toleration.effect).is_some_and(|e| e != taint.effect) {
        return false;
    }
    if set(&toleration.key).is_some_and(|k| k != taint.key) {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        "Exists" => true,
        _ => false,
    }
}

/// An optional field that is present and not empty.
fn set(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first of `taints` that `applies` selects and no toleration tolerates.
pub fn first_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    applies: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .find(|t| applies(t) && !tolerated(tolerations, t))
}

/// Whether a taint keeps pods that do not tolerate it from being placed on the node
/// (`NoSchedule` and `NoExecute`): the taints scheduling and DaemonSets honour.
pub fn keeps_off(taint: &Taint) -> bool {
    taint.effect == NO_SCHEDULE || taint.effect == NO_EXECUTE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.into()),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Toleration {
            key: opt(key),
            operator: opt(op),
            value: opt(value),
            effect: opt(effect),
            toleration_seconds: None,
        }
    }

    #[test]
    fn toleration_rules() {
        let gpu = taint("dedicated", "gpu", NO_SCHEDULE);
        let cases = [
            (("dedicated", "Equal", "gpu", "NoSchedule"), true),
            (("dedicated", "", "gpu", "NoSchedule"), true),
            (("dedicated", "Exists", "", "NoSchedule"), true),
            (("dedicated", "Exists", "", ""), true),
            (("", "Exists", "", ""), true),
            (("", "Exists", "", "NoSchedule"), true),
            (("dedicated", "Equal", "cpu", "NoSchedule"), false),
            (("dedicated", "Equal", "", "NoSchedule"), false),
            (("dedicated", "Exists", "", "NoExecute"), false),
            (("other", "Exists", "", ""), false),
            (("dedicated", "Bogus", "gpu", "NoSchedule"), false),
        ];
        for ((k, op, v, e), want) in cases {
            assert_eq!(
                tolerates(&toleration(k, op, v, e), &gpu),
                want,
                "{k} {op} {v} {e}"
            );
        }
        // A taint without a value is tolerated by Equal with no value.
        let bare = taint("node-role.kubernetes.io/control-plane", "", NO_SCHEDULE);
        assert!(tolerates(
            &toleration("node-role.kubernetes.io/control-plane", "Equal", "", ""),
            &bare
        ));
        assert!(!tolerated(&[], &bare));
    }

    #[test]
    fn first_untolerated_taint() {
        let taints = [
            taint("soft", "", PREFER_NO_SCHEDULE),
            taint("a", "", NO_SCHEDULE),
            taint("b", "1", NO_EXECUTE),
        ];
        let first = |tols: &[Toleration]| {
            first_untolerated(&taints, tols, keeps_off).map(|t| t.key.as_str())
        };
        assert_eq!(first(&[]), Some("a"));
        assert_eq!(first(&[toleration("a", "Exists", "", "")]), Some("b"));
        assert_eq!(
            first(&[
                toleration("a", "Exists", "", ""),
                toleration("b", "Equal", "1", "")
            ]),
            None
        );
        assert_eq!(first(&[toleration("", "Exists", "", "")]), None);
        assert!(!keeps_off(&taints[0]));
    }
}
