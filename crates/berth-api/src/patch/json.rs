//! JSON patch (RFC 6902), the `application/json-patch+json` patch type: parsing the operation
//! array and turning the `json-patch` crate's failures into [`PatchError`]s that say which
//! operation failed and where.

use ::json_patch::PatchOperation;
use serde::Deserialize;
use serde_json::Value;

use super::{kind_of, PatchError};

/// RFC 6902 JSON patch (patch is the JSON array of operations), incl. the `test` op. Error if
/// patch is not an array of valid ops or an op fails.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations = parse_operations(patch)?;
    let mut result = target.clone();
    ::json_patch::patch(&mut result, &operations)
        .map_err(|error| operation_error(&operations, &error))?;
    Ok(result)
}

fn parse_operations(patch: &Value) -> Result<Vec<PatchOperation>, PatchError> {
    let Value::Array(items) = patch else {
        return Err(PatchError::InvalidJsonPatch(format!(
            "expected an array of operations, got {}",
            kind_of(patch)
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            // Parsed one by one so that the message can name the bad operation.
            PatchOperation::deserialize(item).map_err(|error| {
                PatchError::InvalidJsonPatch(format!("operation {index}: {error}"))
            })
        })
        .collect()
}

fn operation_error(operations: &[PatchOperation], error: &::json_patch::PatchError) -> PatchError {
    let path = error.path.to_string();
    // RFC 6902 section 4.6: a test whose path does not exist fails like a test whose value
    // differs, so every failure of a `test` operation is reported as such.
    if let Some(PatchOperation::Test(_)) = operations.get(error.operation) {
        return PatchError::TestFailed { path };
    }
    PatchError::OperationFailed {
        index: error.operation,
        path,
        reason: error.kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.25"}
            ]}}}
        })
    }

    #[test]
    fn add_replace_remove() {
        let patch = json!([
            {"op": "add", "path": "/metadata/labels/env", "value": "prod"},
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "remove", "path": "/metadata/labels/tier"},
            {"op": "add", "path": "/spec/template/spec/containers/-",
             "value": {"name": "sidecar", "image": "busybox"}}
        ]);
        let patched = json_patch(&deployment(), &patch);
        let patched = match patched {
            Ok(value) => value,
            Err(error) => panic!("patch failed: {error}"),
        };
        assert_eq!(
            patched["metadata"]["labels"],
            json!({"app": "web", "env": "prod"})
        );
        assert_eq!(patched["spec"]["replicas"], json!(5));
        assert_eq!(
            patched["spec"]["template"]["spec"]["containers"][1]["name"],
            json!("sidecar")
        );
    }

    #[test]
    fn move_copy_and_passing_test() {
        let patch = json!([
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copy"},
            {"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/tier"}
        ]);
        let patched = json_patch(&deployment(), &patch).ok();
        let expected_labels = json!({"app": "web", "copy": "web"});
        assert_eq!(
            patched.as_ref().map(|p| &p["metadata"]["labels"]),
            Some(&expected_labels)
        );
        assert_eq!(
            patched.as_ref().map(|p| &p["metadata"]["tier"]),
            Some(&json!("front"))
        );
    }

    #[test]
    fn failing_test_operation_is_reported_with_its_path() {
        let patch = json!([
            {"op": "replace", "path": "/metadata/name", "value": "changed"},
            {"op": "test", "path": "/spec/replicas", "value": 3}
        ]);
        let error = json_patch(&deployment(), &patch).err();
        assert!(
            matches!(&error, Some(PatchError::TestFailed { path }) if path == "/spec/replicas"),
            "{error:?}"
        );
        assert_eq!(
            error.map(|e| e.to_string()).as_deref(),
            Some("test operation failed at /spec/replicas")
        );
    }

    #[test]
    fn test_of_a_missing_path_fails() {
        let patch = json!([{"op": "test", "path": "/spec/paused", "value": false}]);
        assert!(matches!(
            json_patch(&deployment(), &patch),
            Err(PatchError::TestFailed { .. })
        ));
    }

    #[test]
    fn operation_on_a_missing_path_fails() {
        let patch = json!([
            {"op": "add", "path": "/metadata/annotations/a", "value": "x"}
        ]);
        let error = json_patch(&deployment(), &patch).err();
        assert!(
            matches!(&error, Some(PatchError::OperationFailed { index: 0, path, .. })
                if path == "/metadata/annotations/a"),
            "{error:?}"
        );
        let patch = json!([{"op": "remove", "path": "/spec/missing"}]);
        assert!(json_patch(&deployment(), &patch).is_err());
    }

    #[test]
    fn malformed_patches_are_rejected() {
        let not_array = json!({"op": "add", "path": "/a", "value": 1});
        let unknown_op = json!([{"op": "frobnicate", "path": "/a"}]);
        let missing_value = json!([
            {"op": "remove", "path": "/spec/replicas"},
            {"op": "add", "path": "/a"}
        ]);
        let bad_pointer = json!([{"op": "add", "path": "no-slash", "value": 1}]);
        for patch in [not_array, unknown_op, missing_value, bad_pointer] {
            let result = json_patch(&deployment(), &patch);
            assert!(
                matches!(result, Err(PatchError::InvalidJsonPatch(_))),
                "{patch} gave {result:?}"
            );
        }
        let error = json_patch(&deployment(), &json!([{"op": "add", "path": "/a"}])).err();
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("invalid JSON patch: operation 0"),
            "{message}"
        );
    }

    #[test]
    fn failure_leaves_the_target_untouched() {
        let target = deployment();
        let patch = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 9},
            {"op": "test", "path": "/spec/replicas", "value": 2}
        ]);
        assert!(json_patch(&target, &patch).is_err());
        assert_eq!(target, deployment());
    }

    #[test]
    fn empty_patch_is_identity() {
        assert_eq!(
            json_patch(&deployment(), &json!([])).ok(),
            Some(deployment())
        );
    }
}
