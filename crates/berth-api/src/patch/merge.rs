//! JSON merge patch (RFC 7386), the `application/merge-patch+json` patch type.
//!
//! Written here rather than taken from the `json-patch` crate because that one removes keys
//! with `swap_remove`, which reorders the remaining keys of an object; objects are stored and
//! shown with their key order, so deleting one label must not shuffle the others.

use serde_json::{Map, Value};

/// RFC 7386 JSON merge patch.
pub fn json_merge(target: &Value, patch: &Value) -> Value {
    let mut result = target.clone();
    merge_into(&mut result, patch);
    result
}

fn merge_into(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        merge_members(map, patch);
    }
}

fn merge_members(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            target.shift_remove(key);
        } else {
            merge_into(target.entry(key.as_str()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The example table of RFC 7386 appendix A: (target, patch, result).
    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(json_merge(&target, &patch), expected, "patch {patch}");
        }
    }

    #[test]
    fn rfc7386_section_3_example() {
        let target = json!({
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged"
        });
        let patch = json!({
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": null},
            "tags": ["example"]
        });
        let expected = json!({
            "title": "Hello!",
            "author": {"givenName": "John"},
            "tags": ["example"],
            "content": "This will be unchanged",
            "phoneNumber": "+01-123-456-7890"
        });
        assert_eq!(json_merge(&target, &patch), expected);
    }

    #[test]
    fn deleting_a_key_keeps_the_order_of_the_others() {
        let target = json!({"labels": {"a": "1", "b": "2", "c": "3", "d": "4"}});
        let merged = json_merge(&target, &json!({"labels": {"a": null}}));
        let keys: Vec<&String> = merged["labels"]
            .as_object()
            .map(|labels| labels.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["b", "c", "d"]);
    }

    #[test]
    fn target_is_not_modified() {
        let target = json!({"a": 1});
        let _ = json_merge(&target, &json!({"a": null}));
        assert_eq!(target, json!({"a": 1}));
    }
}
