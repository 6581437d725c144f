//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`): the merge
//! engine and the directives kubectl sends (`$patch`, `$retainKeys`, `$setElementOrder/<list>`,
//! `$deleteFromPrimitiveList/<list>`). Which lists merge, and by which key, comes from the
//! table in [`super::strategy`].
//!
//! Objects flow through by value: each map is taken out of the target, merged and put back, so
//! the target is cloned once rather than at every level (only a list reordered by
//! `$setElementOrder` is copied, to remember its live order).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::strategy::{self, ApiType, ListStrategy};
use super::{kind_of, PatchError};

type Object = Map<String, Value>;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Kubernetes strategic merge patch applied to `target` (a whole object such as a Deployment as
/// JSON) whose type in the merge-key graph is `root` (its kind's `Strategy::merge_root`).
pub fn strategic_merge(target: &Value, patch: &Value, root: ApiType) -> Result<Value, PatchError> {
    let root = Scope::root(root);
    let Value::Object(patch) = patch else {
        return Err(root.error(format!(
            "the patch must be a JSON object, got {}",
            kind_of(patch)
        )));
    };
    let Value::Object(target) = target else {
        return Err(root.error(format!(
            "the patched object must be a JSON object, got {}",
            kind_of(target)
        )));
    };
    // A top-level `$patch: delete` leaves nothing of the object.
    let merged = merge_map(target.clone(), patch, &root)?.unwrap_or_default();
    Ok(Value::Object(merged))
}

/// Where the merge is: the schema type of the value at hand and its JSON pointer, the latter
/// kept only so that errors can point at the offending part of the patch.
struct Scope {
    ty: Option<ApiType>,
    path: String,
}

impl Scope {
    fn root(ty: ApiType) -> Scope {
        Scope {
            ty: Some(ty),
            path: String::new(),
        }
    }

    fn field(&self, name: &str, ty: Option<ApiType>) -> Scope {
        let escaped = name.replace('~', "~0").replace('/', "~1");
        Scope {
            ty,
            path: format!("{}/{escaped}", self.path),
        }
    }

    /// An element of the list at this scope: lists carry their element type.
    fn element(&self, index: usize) -> Scope {
        Scope {
            ty: self.ty,
            path: format!("{}/{index}", self.path),
        }
    }

    fn error(&self, reason: impl Into<String>) -> PatchError {
        let path = if self.path.is_empty() {
            "/".to_owned()
        } else {
            self.path.clone()
        };
        PatchError::StrategicMerge {
            path,
            reason: reason.into(),
        }
    }
}

/// What a key of a patch map stands for.
enum MapKey<'a> {
    Field(&'a str),
    RetainKeys,
    SetElementOrder(&'a str),
    DeleteFromPrimitiveList(&'a str),
}

/// Only the directive names kubectl uses are special: other `$` keys are ordinary fields
/// (CRD schemas hold `$ref` and `$schema`).
fn classify<'a>(key: &'a str, scope: &Scope) -> Result<MapKey<'a>, PatchError> {
    if key == RETAIN_KEYS {
        return Ok(MapKey::RetainKeys);
    }
    if let Some(rest) = key.strip_prefix(SET_ELEMENT_ORDER) {
        return list_of_directive(rest, key, scope).map(MapKey::SetElementOrder);
    }
    if let Some(rest) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
        return list_of_directive(rest, key, scope).map(MapKey::DeleteFromPrimitiveList);
    }
    Ok(MapKey::Field(key))
}

/// The `<list>` of a `$directive/<list>` key, given what follows the directive name.
fn list_of_directive<'a>(rest: &'a str, key: &str, scope: &Scope) -> Result<&'a str, PatchError> {
    match rest.strip_prefix('/') {
        Some(field) if !field.is_empty() => Ok(field),
        _ => Err(scope.error(format!(
            "malformed directive {key:?}: expected the form $directive/<field>"
        ))),
    }
}

/// Merges a patch map into `original`; `None` when the patch deletes the map.
fn merge_map(
    original: Object,
    patch: &Object,
    scope: &Scope,
) -> Result<Option<Object>, PatchError> {
    match patch.get(PATCH) {
        Some(directive) => map_directive(directive, patch, scope),
        None => merge_fields(original, patch, scope).map(Some),
    }
}

fn map_directive(
    directive: &Value,
    patch: &Object,
    scope: &Scope,
) -> Result<Option<Object>, PatchError> {
    match directive.as_str() {
        Some("replace") => {
            let mut replacement = patch.clone();
            replacement.shift_remove(PATCH);
            merge_fields(Object::new(), &replacement, scope).map(Some)
        }
        Some("delete") => Ok(None),
        _ => Err(scope.error(format!("unsupported $patch directive {directive} in a map"))),
    }
}

/// Merges a patch map that carries no `$patch` directive.
fn merge_fields(mut original: Object, patch: &Object, scope: &Scope) -> Result<Object, PatchError> {
    // Keys are cleared before merging so that `$retainKeys` cannot drop what the patch adds.
    apply_retain_keys(&mut original, patch, scope)?;
    let ordered = apply_element_orders(&mut original, patch, scope)?;
    for (key, value) in patch {
        if ordered.contains(key.as_str()) {
            continue;
        }
        match classify(key, scope)? {
            MapKey::Field(name) => merge_field(&mut original, name, value, scope)?,
            MapKey::DeleteFromPrimitiveList(name) => {
                delete_from_primitive_list(&mut original, name, value, scope)?
            }
            MapKey::RetainKeys | MapKey::SetElementOrder(_) => {}
        }
    }
    Ok(original)
}

fn merge_field(
    original: &mut Object,
    name: &str,
    patch: &Value,
    scope: &Scope,
) -> Result<(), PatchError> {
    if patch.is_null() {
        original.shift_remove(name);
        return Ok(());
    }
    let schema = strategy::field(scope.ty, name);
    let child = scope.field(name, schema.ty);
    // Taking the value leaves a placeholder that keeps the key in place, so that the merged
    // value goes back where it was.
    let live = original.get_mut(name).map(Value::take);
    match merge_value(live, patch, ListMode::from(schema.list), &child)? {
        Some(merged) => original.insert(name.to_owned(), merged),
        None => original.shift_remove(name),
    };
    Ok(())
}

/// Merges any patch value into the live one (absent when the field is new); `None` when the
/// patch deletes the value. A patch map or list meeting no live counterpart of its shape is
/// merged into an empty one, which strips the directives it carries.
fn merge_value(
    live: Option<Value>,
    patch: &Value,
    mode: ListMode<'_>,
    scope: &Scope,
) -> Result<Option<Value>, PatchError> {
    match patch {
        Value::Object(patch) => {
            let live = match live {
                Some(Value::Object(live)) => live,
                _ => Object::new(),
            };
            Ok(merge_map(live, patch, scope)?.map(Value::Object))
        }
        Value::Array(patch) => {
            let live = match live {
                Some(Value::Array(live)) => live,
                _ => Vec::new(),
            };
            merge_list(live, patch, mode, scope).map(|list| Some(Value::Array(list)))
        }
        scalar => Ok(Some(scalar.clone())),
    }
}

/// How a list is merged, with the merge key borrowed from the table or from the patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListMode<'a> {
    Replace,
    Set,
    Keyed(&'a str),
}

impl From<ListStrategy> for ListMode<'static> {
    fn from(strategy: ListStrategy) -> Self {
        match strategy {
            ListStrategy::Replace => ListMode::Replace,
            ListStrategy::MergeSet => ListMode::Set,
            ListStrategy::MergeByKey(key) => ListMode::Keyed(key),
        }
    }
}

impl<'a> ListMode<'a> {
    fn merge_key(self) -> Option<&'a str> {
        match self {
            ListMode::Keyed(key) => Some(key),
            ListMode::Replace | ListMode::Set => None,
        }
    }

    /// kubectl only sends `$setElementOrder` for lists its schema says merge, so a list the
    /// table does not know (a field newer than the table) is merged the way the order list
    /// shows (`{key: value}` maps, or primitives) rather than replaced, which would drop every
    /// element the client left out of the patch.
    fn or_hinted_by(self, order: &'a [Value]) -> ListMode<'a> {
        if self != ListMode::Replace || order.is_empty() {
            return self;
        }
        if order
            .iter()
            .all(|item| !item.is_object() && !item.is_array())
        {
            return ListMode::Set;
        }
        match single_key(order) {
            Some(key) => ListMode::Keyed(key),
            None => self,
        }
    }
}

/// The one key shared by every element of `order` when each is a one-key map.
fn single_key(order: &[Value]) -> Option<&str> {
    let mut shared = None;
    for item in order {
        let map = item.as_object().filter(|map| map.len() == 1)?;
        let key = map.keys().next()?.as_str();
        if shared.is_some_and(|shared| shared != key) {
            return None;
        }
        shared = Some(key);
    }
    shared
}

fn merge_list(
    live: Vec<Value>,
    patch: &[Value],
    mode: ListMode<'_>,
    scope: &Scope,
) -> Result<Vec<Value>, PatchError> {
    match mode {
        ListMode::Replace => replace_list(patch, scope),
        ListMode::Set => merge_set(live, patch, scope),
        ListMode::Keyed(key) => merge_keyed(live, patch, key, scope),
    }
}

fn replace_list(patch: &[Value], scope: &Scope) -> Result<Vec<Value>, PatchError> {
    let mut list = Vec::with_capacity(patch.len());
    for (index, item) in patch.iter().enumerate() {
        // A list-level directive element (`$patch: replace` or `delete`) says nothing more
        // about a list that is replaced anyway.
        if item.get(PATCH).is_some() {
            continue;
        }
        if let Some(item) = merge_value(None, item, ListMode::Replace, &scope.element(index))? {
            list.push(item);
        }
    }
    Ok(list)
}

/// An ordered set union of primitives: live values first, then new ones, without duplicates.
fn merge_set(live: Vec<Value>, patch: &[Value], scope: &Scope) -> Result<Vec<Value>, PatchError> {
    let mut replace = false;
    let mut added = Vec::with_capacity(patch.len());
    for (index, item) in patch.iter().enumerate() {
        match item {
            Value::Object(map) => match map.get(PATCH).and_then(Value::as_str) {
                Some("replace") => replace = true,
                _ => {
                    return Err(scope.element(index).error(format!(
                        "unexpected object in a list of primitives merged as a set: {item}"
                    )))
                }
            },
            primitive => added.push(primitive.clone()),
        }
    }
    let base = if replace { Vec::new() } else { live };
    let mut merged: Vec<Value> = Vec::with_capacity(base.len() + added.len());
    for value in base.into_iter().chain(added) {
        if !merged.contains(&value) {
            merged.push(value);
        }
    }
    Ok(merged)
}

/// Merges a list of maps element by element, matching elements on `key`. Directive elements
/// (`$patch: delete` / `replace`) are applied before the others, as Kubernetes does.
fn merge_keyed(
    live: Vec<Value>,
    patch: &[Value],
    key: &str,
    scope: &Scope,
) -> Result<Vec<Value>, PatchError> {
    let mut merged = live;
    let mut elements = Vec::with_capacity(patch.len());
    let mut replace = false;
    for (index, item) in patch.iter().enumerate() {
        let element_scope = scope.element(index);
        let Value::Object(item) = item else {
            return Err(element_scope.error(format!(
                "expected an object in a list merged by {key:?}, got {}",
                kind_of(item)
            )));
        };
        match item.get(PATCH) {
            None => elements.push((item, element_scope)),
            Some(directive) => match directive.as_str() {
                Some("delete") => delete_by_key(&mut merged, item, key, &element_scope)?,
                Some("replace") => replace = true,
                _ => {
                    return Err(element_scope.error(format!(
                        "unsupported $patch directive {directive} in a list element"
                    )))
                }
            },
        }
    }
    if replace {
        merged.clear();
    }
    for (item, element_scope) in elements {
        merge_element(&mut merged, item, key, &element_scope)?;
    }
    Ok(merged)
}

fn delete_by_key(
    merged: &mut Vec<Value>,
    item: &Object,
    key: &str,
    scope: &Scope,
) -> Result<(), PatchError> {
    let Some(id) = item.get(key) else {
        return Err(scope.error(format!(
            "a $patch: delete element must carry the merge key {key:?}"
        )));
    };
    merged.retain(|element| element.get(key) != Some(id));
    Ok(())
}

/// Merges one patch element into the element with the same key, or appends it.
fn merge_element(
    merged: &mut Vec<Value>,
    item: &Object,
    key: &str,
    scope: &Scope,
) -> Result<(), PatchError> {
    let Some(id) = item.get(key) else {
        return Err(scope.error(format!("missing merge key {key:?}")));
    };
    match merged
        .iter_mut()
        .find(|element| element.get(key) == Some(id))
    {
        Some(slot) => {
            let live = match slot.take() {
                Value::Object(live) => live,
                _ => Object::new(),
            };
            *slot = Value::Object(merge_fields(live, item, scope)?);
        }
        None => merged.push(Value::Object(merge_fields(Object::new(), item, scope)?)),
    }
    Ok(())
}

/// `$retainKeys`: keys of the live map not in the list are cleared. Like Kubernetes, a patch
/// that sets a field it does not also retain is rejected, as it contradicts itself.
fn apply_retain_keys(
    original: &mut Object,
    patch: &Object,
    scope: &Scope,
) -> Result<(), PatchError> {
    let Some(list) = patch.get(RETAIN_KEYS) else {
        return Ok(());
    };
    let retained: Vec<&str> = list
        .as_array()
        .and_then(|list| list.iter().map(Value::as_str).collect())
        .ok_or_else(|| scope.error("$retainKeys must be a list of field names"))?;
    for (key, value) in patch {
        let is_field = matches!(classify(key, scope)?, MapKey::Field(_));
        if is_field && !value.is_null() && !retained.contains(&key.as_str()) {
            return Err(scope.error(format!(
                "field {key:?} is set by the patch but missing from $retainKeys"
            )));
        }
    }
    original.retain(|key, _| retained.contains(&key.as_str()));
    Ok(())
}

/// Handles every `$setElementOrder/<list>` of a patch map together with the patch's `<list>`
/// itself; returns the lists so handled, which the ordinary pass must skip.
fn apply_element_orders<'p>(
    original: &mut Object,
    patch: &'p Object,
    scope: &Scope,
) -> Result<HashSet<&'p str>, PatchError> {
    let mut handled = HashSet::new();
    for (key, order) in patch {
        let MapKey::SetElementOrder(name) = classify(key, scope)? else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(scope.error(format!("{key} must be a list")));
        };
        let patch_list = match patch.get(name) {
            None => None,
            Some(Value::Array(list)) => Some(list.as_slice()),
            // A null or scalar replaces the list outright: the ordinary pass does that.
            Some(_) => continue,
        };
        merge_ordered_list(original, name, order, patch_list, scope)?;
        handled.insert(name);
    }
    Ok(handled)
}

fn merge_ordered_list(
    original: &mut Object,
    name: &str,
    order: &[Value],
    patch_list: Option<&[Value]>,
    scope: &Scope,
) -> Result<(), PatchError> {
    let schema = strategy::field(scope.ty, name);
    let mode = ListMode::from(schema.list).or_hinted_by(order);
    let live = original.get(name).and_then(Value::as_array).cloned();
    let merged = match (patch_list, &live) {
        (Some(patch), _) => merge_list(
            live.clone().unwrap_or_default(),
            patch,
            mode,
            &scope.field(name, schema.ty),
        )?,
        (None, Some(live)) => live.clone(),
        (None, None) => return Ok(()),
    };
    let live = live.unwrap_or_default();
    let ordered = reorder(merged, order, &live, mode.merge_key());
    original.insert(name.to_owned(), Value::Array(ordered));
    Ok(())
}

/// Kubernetes' ordering for `$setElementOrder`: elements named in `order` take that order;
/// the others (present only on the server) keep their live order and are slotted in before
/// the first listed element that comes after them in the live list.
fn reorder(merged: Vec<Value>, order: &[Value], live: &[Value], key: Option<&str>) -> Vec<Value> {
    let (mut listed, mut unlisted): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| position(order, item, key).is_some());
    listed.sort_by_key(|item| position(order, item, key));
    unlisted.sort_by_key(|item| position(live, item, key).unwrap_or(usize::MAX));
    interleave(unlisted, listed, live, key)
}

fn interleave(
    unlisted: Vec<Value>,
    listed: Vec<Value>,
    live: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let mut result = Vec::with_capacity(unlisted.len() + listed.len());
    let mut unlisted = unlisted.into_iter().peekable();
    let mut listed = listed.into_iter().peekable();
    loop {
        let take_unlisted = match (unlisted.peek(), listed.peek()) {
            (Some(left), Some(right)) => matches!(
                (position(live, left, key), position(live, right, key)),
                (Some(l), Some(r)) if l < r
            ),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_unlisted {
            unlisted.next()
        } else {
            listed.next()
        };
        result.extend(next);
    }
    result
}

/// Index in `list` of the element with the same identity as `item`.
fn position(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    let wanted = identity(item, key)?;
    list.iter()
        .position(|other| identity(other, key) == Some(wanted))
}

/// What tells list elements apart: the merge key's value, or the whole value for primitives.
fn identity<'v>(value: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        Some(key) => value.get(key),
        None => Some(value),
    }
}

/// `$deleteFromPrimitiveList/<list>`: removes the given values from a live primitive list.
fn delete_from_primitive_list(
    original: &mut Object,
    name: &str,
    doomed: &Value,
    scope: &Scope,
) -> Result<(), PatchError> {
    let Value::Array(doomed) = doomed else {
        return Err(scope.error(format!(
            "{DELETE_FROM_PRIMITIVE_LIST}/{name} must be a list"
        )));
    };
    let Some(Value::Array(list)) = original.get_mut(name) else {
        return Ok(());
    };
    list.retain(|value| !doomed.contains(value));
    // Kubernetes omits empty lists when it stores the object; do the same rather than leave
    // `finalizers: []` behind after the last finalizer is removed.
    if list.is_empty() {
        original.shift_remove(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn root_type(group: &str, kind: &str) -> ApiType {
        crate::kinds::strategy_of(group, kind).merge_root()
    }

    fn apply(target: &Value, patch: Value, group: &str, kind: &str) -> Value {
        match strategic_merge(target, &patch, root_type(group, kind)) {
            Ok(merged) => {
                assert_no_directives(&merged);
                merged
            }
            Err(error) => panic!("patch {patch} failed: {error}"),
        }
    }

    fn apply_err(target: &Value, patch: Value, group: &str, kind: &str) -> String {
        match strategic_merge(target, &patch, root_type(group, kind)) {
            Ok(merged) => panic!("patch {patch} should fail, gave {merged}"),
            Err(error) => error.to_string(),
        }
    }

    fn assert_no_directives(value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    assert!(
                        key != PATCH
                            && key != RETAIN_KEYS
                            && !key.starts_with(SET_ELEMENT_ORDER)
                            && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST),
                        "directive {key} left in the result"
                    );
                    assert_no_directives(value);
                }
            }
            Value::Array(items) => items.iter().for_each(assert_no_directives),
            _ => {}
        }
    }

    fn names(list: &Value) -> Vec<&str> {
        list.as_array()
            .map(|items| items.iter().filter_map(|i| i["name"].as_str()).collect())
            .unwrap_or_default()
    }

    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web",
                "labels": {"app": "web", "tier": "front", "track": "stable"},
                "finalizers": ["a.example.com/x", "b.example.com/y"]
            },
            "spec": {
                "containers": [
                    {"name": "app", "image": "app:1", "args": ["--a", "--b"],
                     "ports": [{"containerPort": 80, "name": "http"}]},
                    {"name": "sidecar", "image": "proxy:1"},
                    {"name": "logger", "image": "log:1"}
                ],
                "tolerations": [{"key": "k1", "operator": "Exists"}]
            }
        })
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
                },
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [
                        {"name": "app", "image": "app:1", "env": [
                            {"name": "A", "value": "1"},
                            {"name": "B", "value": "2"}
                        ]},
                        {"name": "sidecar", "image": "proxy:1"}
                    ]}
                }
            }
        })
    }

    #[test]
    fn containers_merge_by_name_keeping_unmentioned_ones() {
        let patch = json!({"spec": {"containers": [
            {"name": "sidecar", "image": "proxy:2"},
            {"name": "extra", "image": "extra:1"}
        ]}});
        let merged = apply(&pod(), patch, "", "Pod");
        let containers = &merged["spec"]["containers"];
        assert_eq!(names(containers), ["app", "sidecar", "logger", "extra"]);
        assert_eq!(containers[0]["image"], json!("app:1"));
        assert_eq!(containers[1]["image"], json!("proxy:2"));
        assert_eq!(containers[3], json!({"name": "extra", "image": "extra:1"}));
    }

    #[test]
    fn env_is_added_and_replaced_inside_a_deployment_template() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "env": [
                {"name": "B", "value": "two"},
                {"name": "C", "value": "3"}
            ]}
        ]}}}});
        let merged = apply(&deployment(), patch, "apps", "Deployment");
        let containers = &merged["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            containers[0]["env"],
            json!([
                {"name": "A", "value": "1"},
                {"name": "B", "value": "two"},
                {"name": "C", "value": "3"}
            ])
        );
        assert_eq!(containers[0]["image"], json!("app:1"));
        assert_eq!(names(containers), ["app", "sidecar"]);
    }

    #[test]
    fn env_merges_deep_inside_a_cronjob() {
        let cronjob = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {
            "template": {"spec": {"containers": [
                {"name": "job", "env": [{"name": "A", "value": "1"}]}
            ]}}
        }}}});
        let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "job", "env": [{"name": "B", "value": "2"}]}]
        }}}}}});
        let merged = apply(&cronjob, patch, "batch", "CronJob");
        let env =
            &merged["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(
            env,
            &json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
    }

    #[test]
    fn patch_delete_removes_a_container() {
        let patch = json!({"spec": {"containers": [
            {"$patch": "delete", "name": "sidecar"}
        ]}});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(names(&merged["spec"]["containers"]), ["app", "logger"]);
    }

    #[test]
    fn patch_replace_in_a_list_replaces_the_whole_list() {
        let patch = json!({"spec": {"containers": [
            {"name": "only", "image": "only:1"},
            {"$patch": "replace"}
        ]}});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(
            merged["spec"]["containers"],
            json!([{"name": "only", "image": "only:1"}])
        );
    }

    #[test]
    fn patch_replace_in_a_map_replaces_the_map() {
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "new": "yes"}}});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(merged["metadata"]["labels"], json!({"new": "yes"}));
        assert_eq!(merged["metadata"]["name"], json!("web"));
    }

    #[test]
    fn patch_delete_in_a_map_deletes_the_map() {
        let patch = json!({"metadata": {"labels": {"$patch": "delete"}}});
        let merged = apply(&pod(), patch, "", "Pod");
        assert!(merged["metadata"].get("labels").is_none(), "{merged}");
        assert_eq!(merged["metadata"]["name"], json!("web"));
    }

    #[test]
    fn set_element_order_orders_the_merged_list() {
        let patch = json!({"spec": {
            "$setElementOrder/containers": [
                {"name": "logger"}, {"name": "new"}, {"name": "sidecar"}, {"name": "app"}
            ],
            "containers": [{"name": "new", "image": "new:1"}]
        }});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(
            names(&merged["spec"]["containers"]),
            ["logger", "new", "sidecar", "app"]
        );
    }

    #[test]
    fn set_element_order_without_a_patch_list_only_reorders() {
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "logger"}, {"name": "app"}]
        }});
        let merged = apply(&pod(), patch, "", "Pod");
        // `sidecar` is not listed: as in Kubernetes it keeps its place relative to the listed
        // elements it preceded in the live list.
        assert_eq!(
            names(&merged["spec"]["containers"]),
            ["sidecar", "logger", "app"]
        );
        assert_eq!(merged["spec"]["containers"][2]["image"], json!("app:1"));
    }

    #[test]
    fn set_element_order_on_primitives_with_deletion() {
        let patch = json!({"metadata": {
            "$setElementOrder/finalizers": ["c.example.com/z", "a.example.com/x"],
            "$deleteFromPrimitiveList/finalizers": ["b.example.com/y"],
            "finalizers": ["c.example.com/z"]
        }});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(
            merged["metadata"]["finalizers"],
            json!(["c.example.com/z", "a.example.com/x"])
        );
    }

    #[test]
    fn retain_keys_switching_rolling_update_to_recreate() {
        let patch = json!({"spec": {"strategy": {
            "$retainKeys": ["type"],
            "type": "Recreate"
        }}});
        let merged = apply(&deployment(), patch, "apps", "Deployment");
        assert_eq!(merged["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(merged["spec"]["replicas"], json!(2));
    }

    #[test]
    fn retain_keys_must_cover_the_fields_the_patch_sets() {
        let patch = json!({"spec": {"strategy": {
            "$retainKeys": ["type"],
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1}
        }}});
        let message = apply_err(&deployment(), patch, "apps", "Deployment");
        assert!(message.contains("$retainKeys"), "{message}");
        assert!(message.contains("/spec/strategy"), "{message}");
    }

    #[test]
    fn retain_keys_inside_a_volume_switches_its_source() {
        let pod = json!({"spec": {"volumes": [
            {"name": "data", "emptyDir": {}},
            {"name": "cache", "emptyDir": {"medium": "Memory"}}
        ]}});
        let patch = json!({"spec": {"volumes": [{
            "$retainKeys": ["configMap", "name"],
            "name": "data",
            "configMap": {"name": "settings"}
        }]}});
        let merged = apply(&pod, patch, "", "Pod");
        assert_eq!(
            merged["spec"]["volumes"],
            json!([
                {"name": "data", "configMap": {"name": "settings"}},
                {"name": "cache", "emptyDir": {"medium": "Memory"}}
            ])
        );
    }

    #[test]
    fn patch_replace_in_a_primitive_set() {
        let patch = json!({"metadata": {"finalizers": [{"$patch": "replace"}, "only"]}});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(merged["metadata"]["finalizers"], json!(["only"]));
    }

    #[test]
    fn delete_from_primitive_list_removes_finalizers() {
        let patch = json!({"metadata": {
            "$deleteFromPrimitiveList/finalizers": ["a.example.com/x"]
        }});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(merged["metadata"]["finalizers"], json!(["b.example.com/y"]));

        let patch = json!({"metadata": {
            "$deleteFromPrimitiveList/finalizers": ["a.example.com/x", "b.example.com/y"]
        }});
        let merged = apply(&pod(), patch, "", "Pod");
        assert!(merged["metadata"].get("finalizers").is_none(), "{merged}");
    }

    #[test]
    fn finalizers_merge_as_an_ordered_set() {
        let patch = json!({"metadata": {"finalizers": ["c.example.com/z", "a.example.com/x"]}});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(
            merged["metadata"]["finalizers"],
            json!(["a.example.com/x", "b.example.com/y", "c.example.com/z"])
        );
    }

    #[test]
    fn finalizers_merge_for_any_kind() {
        let config_map = json!({"metadata": {"name": "c", "finalizers": ["x"]}, "data": {}});
        let patch = json!({"metadata": {"finalizers": ["y"]}});
        let merged = apply(&config_map, patch, "", "ConfigMap");
        assert_eq!(merged["metadata"]["finalizers"], json!(["x", "y"]));
    }

    #[test]
    fn null_deletes_a_label_and_keeps_key_order() {
        let patch = json!({"metadata": {"labels": {"tier": null, "new": "1"}}});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(
            merged["metadata"]["labels"],
            json!({"app": "web", "track": "stable", "new": "1"})
        );
        let keys: Vec<&String> = merged["metadata"]["labels"]
            .as_object()
            .map(|labels| labels.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["app", "track", "new"]);
    }

    #[test]
    fn null_for_a_missing_key_is_not_stored() {
        let patch = json!({"metadata": {"annotations": {"gone": null}}});
        let merged = apply(&pod(), patch, "", "Pod");
        assert!(merged["metadata"]["annotations"].get("gone").is_none());
    }

    #[test]
    fn lists_without_a_strategy_are_replaced() {
        let patch = json!({"spec": {
            "containers": [{"name": "app", "args": ["--c"]}],
            "tolerations": [{"key": "k2", "operator": "Exists"}]
        }});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(merged["spec"]["containers"][0]["args"], json!(["--c"]));
        assert_eq!(
            merged["spec"]["tolerations"],
            json!([{"key": "k2", "operator": "Exists"}])
        );
    }

    #[test]
    fn unknown_kinds_replace_lists_and_merge_maps() {
        let widget = json!({"metadata": {"name": "w"}, "spec": {"items": [1, 2], "a": {"b": 1}}});
        let patch = json!({"spec": {"items": [3], "a": {"c": 2}}});
        let merged = apply(&widget, patch, "example.com", "Widget");
        assert_eq!(merged["spec"], json!({"items": [3], "a": {"b": 1, "c": 2}}));
    }

    #[test]
    fn container_ports_merge_by_container_port() {
        let patch = json!({"spec": {"containers": [
            {"name": "app", "ports": [
                {"containerPort": 80, "protocol": "TCP"},
                {"containerPort": 443, "name": "https"}
            ]}
        ]}});
        let merged = apply(&pod(), patch, "", "Pod");
        assert_eq!(
            merged["spec"]["containers"][0]["ports"],
            json!([
                {"containerPort": 80, "name": "http", "protocol": "TCP"},
                {"containerPort": 443, "name": "https"}
            ])
        );
    }

    #[test]
    fn service_ports_and_status_conditions_merge_by_key() {
        let service = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        let patch = json!({"spec": {"ports": [{"port": 443}]}});
        let merged = apply(&service, patch, "", "Service");
        assert_eq!(
            merged["spec"]["ports"],
            json!([{"port": 80, "targetPort": 8080}, {"port": 443}])
        );

        let deployment = json!({"status": {"conditions": [
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "status": "True"}
        ]}});
        let patch = json!({"status": {"conditions": [{"type": "Available", "status": "False"}]}});
        let merged = apply(&deployment, patch, "apps", "Deployment");
        assert_eq!(
            merged["status"]["conditions"],
            json!([
                {"type": "Available", "status": "False"},
                {"type": "Progressing", "status": "True"}
            ])
        );
    }

    #[test]
    fn directives_in_new_values_are_applied_and_stripped() {
        let patch = json!({"spec": {"containers": [{
            "name": "fresh",
            "$setElementOrder/env": [{"name": "X"}],
            "env": [{"name": "X", "value": "1"}, {"name": "Y", "$patch": "delete"}],
            "securityContext": {"$retainKeys": ["runAsUser"], "runAsUser": 1000}
        }]}});
        let merged = apply(&json!({"spec": {}}), patch, "", "Pod");
        assert_eq!(
            merged["spec"]["containers"],
            json!([{
                "name": "fresh",
                "env": [{"name": "X", "value": "1"}],
                "securityContext": {"runAsUser": 1000}
            }])
        );
    }

    #[test]
    fn kubectl_apply_style_patch() {
        // What `kubectl apply` sends after removing the sidecar, changing env B and adding a
        // new env var: deletion directives plus order lists for every merged list.
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [
                {"name": "app",
                 "$setElementOrder/env": [{"name": "A"}, {"name": "C"}, {"name": "B"}],
                 "env": [{"name": "C", "value": "3"}, {"name": "B", "value": "two"}]},
                {"$patch": "delete", "name": "sidecar"}
            ]
        }}}});
        let merged = apply(&deployment(), patch, "apps", "Deployment");
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "app:1", "env": [
                {"name": "A", "value": "1"},
                {"name": "C", "value": "3"},
                {"name": "B", "value": "two"}
            ]}])
        );
    }

    #[test]
    fn order_list_merges_a_list_the_table_does_not_know() {
        let widget = json!({"spec": {"rules": [{"id": "a", "v": 1}, {"id": "b", "v": 1}]}});
        let patch = json!({"spec": {
            "$setElementOrder/rules": [{"id": "a"}, {"id": "b"}],
            "rules": [{"id": "b", "v": 2}]
        }});
        let merged = apply(&widget, patch, "example.com", "Widget");
        assert_eq!(
            merged["spec"]["rules"],
            json!([{"id": "a", "v": 1}, {"id": "b", "v": 2}])
        );
    }

    #[test]
    fn top_level_replace_and_delete() {
        let patch = json!({"$patch": "replace", "metadata": {"name": "other"}});
        assert_eq!(
            apply(&pod(), patch, "", "Pod"),
            json!({"metadata": {"name": "other"}})
        );
        assert_eq!(
            apply(&pod(), json!({"$patch": "delete"}), "", "Pod"),
            json!({})
        );
    }

    #[test]
    fn dollar_keys_that_are_not_directives_are_fields() {
        let crd = json!({"spec": {"schema": {}}});
        let patch = json!({"spec": {"schema": {"$ref": "#/defs/x"}}});
        let merged = apply(
            &crd,
            patch,
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
        );
        assert_eq!(merged["spec"]["schema"], json!({"$ref": "#/defs/x"}));
    }

    #[test]
    fn malformed_patches_are_rejected() {
        let message = apply_err(&pod(), json!([{"op": "add"}]), "", "Pod");
        assert_eq!(
            message,
            "strategic merge patch: the patch must be a JSON object, got an array (at /)"
        );
        let message = apply_err(
            &pod(),
            json!({"spec": {"containers": [{"image": "x"}]}}),
            "",
            "Pod",
        );
        assert!(message.contains("missing merge key \"name\""), "{message}");
        assert!(message.contains("/spec/containers/0"), "{message}");
        let message = apply_err(
            &pod(),
            json!({"metadata": {"labels": {"$patch": "merge"}}}),
            "",
            "Pod",
        );
        assert!(
            message.contains("unsupported $patch directive"),
            "{message}"
        );
        let message = apply_err(
            &pod(),
            json!({"spec": {"containers": [{"$patch": "delete"}]}}),
            "",
            "Pod",
        );
        assert!(message.contains("merge key"), "{message}");
        let message = apply_err(&pod(), json!({"spec": {"containers": ["app"]}}), "", "Pod");
        assert!(message.contains("expected an object"), "{message}");
        let message = apply_err(
            &pod(),
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
            "",
            "Pod",
        );
        assert!(message.contains("list of primitives"), "{message}");
        let message = apply_err(&pod(), json!({"spec": {"$setElementOrder": []}}), "", "Pod");
        assert!(message.contains("malformed directive"), "{message}");
        let message = apply_err(
            &pod(),
            json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
            "",
            "Pod",
        );
        assert!(message.contains("$retainKeys must be a list"), "{message}");
    }

    #[test]
    fn target_is_not_modified() {
        let target = pod();
        let _ = apply(&target, json!({"metadata": {"labels": null}}), "", "Pod");
        assert_eq!(target, pod());
    }
}
