//! Which ReplicaSet is the pod template's: the `pod-template-hash` that names it and the
//! comparison that finds it again (Kubernetes' `ComputeHash` and `EqualIgnoreHash`).

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::HASH_LABEL;

/// The `pod-template-hash` of a template: FNV-1a (32 bits) over its canonical JSON and the
/// collision count, encoded with Kubernetes' vowel-free alphabet so that it never spells
/// words. (Kubernetes hashes Go's printed form instead, so values differ from its own.)
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_else(|_| b"{}".to_vec());
    crate::history::hash(&bytes, collision_count)
}

/// Templates equal apart from the `pod-template-hash` label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(HASH_LABEL);
        }
        let mut v = serde_json::to_value(&t).unwrap_or(Value::Null);
        // An empty label map and none are the same template.
        if v["metadata"]["labels"]
            .as_object()
            .is_some_and(|m| m.is_empty())
        {
            if let Some(m) = v["metadata"].as_object_mut() {
                m.remove("labels");
            }
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap()
    }

    #[test]
    fn template_hash_is_stable_and_safe() {
        let a = template_hash(&template("a"), None);
        assert_eq!(a, template_hash(&template("a"), None));
        assert_ne!(a, template_hash(&template("b"), None));
        assert_ne!(a, template_hash(&template("a"), Some(1)));
        assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert!(!a.is_empty() && a.len() <= 10);
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let mut labelled = template("a");
        labelled
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(HASH_LABEL.into(), "xyz".into());
        assert!(equal_ignore_hash(&labelled, &template("a")));
        assert!(!equal_ignore_hash(&labelled, &template("b")));
        let mut bare = template("a");
        bare.metadata.as_mut().unwrap().labels = None;
        let mut only_hash = bare.clone();
        only_hash.metadata.as_mut().unwrap().labels =
            Some([(HASH_LABEL.into(), "x".into())].into());
        assert!(
            equal_ignore_hash(&bare, &only_hash),
            "no labels and only the hash"
        );
    }
}
