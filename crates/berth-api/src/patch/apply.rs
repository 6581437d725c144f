//! Server-side apply: field ownership (`metadata.managedFields`) for apply and for ordinary
//! writes, following the Kubernetes documentation "Server-Side Apply".
//!
//! A manager's field set is a tree of path elements (`f:` fields, `k:` list items by merge key,
//! `v:` set items) encoded as Kubernetes' `FieldsV1`. Which lists are keyed, sets or atomic
//! comes from the type graph in [`super::strategy`]; the merge of an applied configuration into
//! the live object is [`super::strategic_merge`], since the applied configuration of a built-in
//! kind merges the way a strategic merge patch does.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::strategic_merge;
use super::strategy::{self, ApiType, FieldSchema, ListStrategy};

/// One field an apply would take over from another manager who set it to another value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The manager owning the field.
    pub manager: String,
    /// The field in Kubernetes' path syntax: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="web"].image`.
    pub field: String,
}

/// Why a server-side apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change value; retry with `force` to take them.
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is not a valid apply body for this object.
    #[error("invalid apply configuration: {0}")]
    Invalid(String),
}

/// Kubernetes' wording (`getConflictMessage` in the API server): one conflict on one line,
/// several grouped by manager in sorted order, one `- path` line each.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {:?}: {}",
            only.manager, only.field
        );
    }
    let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for conflict in conflicts {
        by_manager
            .entry(&conflict.manager)
            .or_default()
            .push(&conflict.field);
    }
    let mut lines = Vec::new();
    for (manager, fields) in by_manager {
        lines.push(format!("conflict with {manager:?}:"));
        lines.extend(fields.into_iter().map(|field| format!("- {field}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";
const FIELDS_V1: &str = "FieldsV1";

/// Server-side apply of `config` by `manager` onto `live` (`None` when the object does not exist
/// yet). Returns the new object with its `metadata.managedFields` updated.
///
/// Conflicts arise on fields that another manager (Apply or Update) owns and that `config`
/// sets to a different value; `force` takes them over instead. Fields the manager applied last
/// time but leaves out now are removed from the object unless another manager owns them.
#[allow(clippy::too_many_arguments)] // the signature is the contract the API server calls
pub fn server_side_apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    root: ApiType,
    kind: &str,
    api_version: &str,
    now: &str,
) -> Result<Value, ApplyError> {
    let config = prepare_config(config, live, kind)?;
    let mut new_set = FieldSet::default();
    collect_changes(
        None,
        &config,
        Ctx::root(root),
        &mut Vec::new(),
        &mut new_set,
    );

    let empty = Value::Object(Map::new());
    let base = live.unwrap_or(&empty);
    let mut entries = live.map(read_entries).unwrap_or_default();
    let own = |entry: &Entry| entry.manager == manager && entry.operation == APPLY;

    // Conflicts: only where another owner's value would actually change; equal values are
    // shared, as Kubernetes documents.
    let mut conflicts = Vec::new();
    let mut forced: Vec<(usize, Path)> = Vec::new();
    for path in new_set.members() {
        let wanted = resolve(&config, &path);
        let current = resolve(base, &path);
        let changes = match (wanted, current) {
            (_, None) => true,
            // A map or list item that already exists is not changed by being applied; only
            // its leaves can conflict.
            (Some(Value::Object(_)), Some(_)) => false,
            (wanted, current) => wanted != current,
        };
        if !changes {
            continue;
        }
        for (index, entry) in entries.iter().enumerate() {
            if own(entry) || !entry.fields.contains(&path) {
                continue;
            }
            let conflict = Conflict {
                manager: entry.manager.clone(),
                field: display_path(&path),
            };
            if !conflicts.contains(&conflict) {
                conflicts.push(conflict);
            }
            forced.push((index, path.clone()));
        }
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort_by(|a, b| a.manager.cmp(&b.manager));
        return Err(ApplyError::Conflicts(conflicts));
    }
    for (index, path) in &forced {
        if let Some(entry) = entries.get_mut(*index) {
            entry.fields.remove(path);
        }
    }

    let mut merged = strategic_merge(base, &config, root)
        .map_err(|error| ApplyError::Invalid(error.to_string()))?;

    // Fields this manager applied before and has now left out go away, unless someone else
    // (another manager, or this one through an Update) still owns them or something below.
    let previous = entries.iter().find(|entry| own(entry)).map(|e| &e.fields);
    if let Some(previous) = previous {
        let mut others = FieldSet::default();
        for entry in entries.iter().filter(|entry| !own(entry)) {
            others.union(&entry.fields);
        }
        let mut dropped: Vec<Path> = previous
            .members()
            .into_iter()
            .filter(|path| !new_set.has_any_at(path) && !others.has_any_at(path))
            .filter(|path| !is_merge_key_of_item(path))
            .collect();
        // Parents first: once an item is gone, its fields are gone with it.
        dropped.sort_by_key(Vec::len);
        for path in &dropped {
            delete_path(&mut merged, path);
        }
    }

    upsert_entry(&mut entries, manager, APPLY, api_version, now, |fields| {
        *fields = new_set
    });
    write_entries(&mut merged, entries);
    Ok(merged)
}

/// Records a non-apply write (create, PUT, merge/JSON/strategic patch) by `manager`: every field
/// whose value differs between `old` (`None` on create) and `new` becomes owned by `manager`'s
/// Update entry and is taken from every other entry. Updates never conflict.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    root: ApiType,
    api_version: &str,
    now: &str,
) {
    // A body that carries managedFields sets them (clients echo what they read); one that
    // omits them keeps the stored ones. Unreadable ones are reset, as Kubernetes does.
    let carried = new
        .get("metadata")
        .and_then(|metadata| metadata.get("managedFields"));
    let mut entries = match carried {
        Some(_) => read_entries(new),
        None => old.map(read_entries).unwrap_or_default(),
    };
    let mut changed = FieldSet::default();
    collect_changes(old, new, Ctx::root(root), &mut Vec::new(), &mut changed);
    if !changed.is_empty() {
        let changed_paths = changed.members();
        let own = |entry: &Entry| entry.manager == manager && entry.operation == UPDATE;
        for entry in entries.iter_mut().filter(|entry| !own(entry)) {
            for path in &changed_paths {
                entry.fields.remove(path);
            }
        }
        upsert_entry(&mut entries, manager, UPDATE, api_version, now, |fields| {
            fields.union(&changed)
        });
    }
    write_entries(new, entries);
}

// ---------------------------------------------------------------------------------------------
// The applied configuration

/// Metadata fields the API server sets: never owned, and not taken from an applied config.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Checks the applied configuration and strips what apply must not write: nulls (no opinion),
/// server-set metadata and `status` (owned through the status subresource).
fn prepare_config(config: &Value, live: Option<&Value>, kind: &str) -> Result<Value, ApplyError> {
    let Value::Object(map) = config else {
        return Err(ApplyError::Invalid(
            "the applied configuration must be a JSON object".to_owned(),
        ));
    };
    match map.get("kind").and_then(Value::as_str) {
        Some(found) if found == kind => {}
        Some(found) => {
            return Err(ApplyError::Invalid(format!(
                "kind {found:?} does not match the resource's kind {kind:?}"
            )))
        }
        None => return Err(ApplyError::Invalid("kind must be set".to_owned())),
    }
    if map.get("apiVersion").and_then(Value::as_str).is_none() {
        return Err(ApplyError::Invalid("apiVersion must be set".to_owned()));
    }
    let name = map
        .get("metadata")
        .and_then(|metadata| metadata.get("name"))
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty());
    let Some(name) = name else {
        return Err(ApplyError::Invalid("metadata.name must be set".to_owned()));
    };
    let live_name = live
        .and_then(|live| live.get("metadata"))
        .and_then(|metadata| metadata.get("name"))
        .and_then(Value::as_str);
    if let Some(live_name) = live_name.filter(|live_name| *live_name != name) {
        return Err(ApplyError::Invalid(format!(
            "metadata.name {name:?} does not match the object's name {live_name:?}"
        )));
    }
    reject_directives(config, "")?;

    let mut config = strip_nulls(config);
    if let Value::Object(map) = &mut config {
        map.shift_remove("status");
        if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
            for field in SERVER_METADATA {
                metadata.shift_remove(*field);
            }
        }
    }
    Ok(config)
}

/// Strategic-merge directives would be obeyed by the merge engine, but an applied
/// configuration states fields, not edits, so they are refused.
fn reject_directives(value: &Value, at: &str) -> Result<(), ApplyError> {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let directive = key == "$patch"
                    || key == "$retainKeys"
                    || key.starts_with("$setElementOrder/")
                    || key.starts_with("$deleteFromPrimitiveList/");
                if directive {
                    return Err(ApplyError::Invalid(format!(
                        "patch directive {key:?} at {at}/ is not allowed in an applied configuration"
                    )));
                }
                reject_directives(child, &format!("{at}/{key}"))?;
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                reject_directives(item, &format!("{at}/{index}"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Nulls in maps are dropped: left in, the merge would read them as deletions.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, child)| !child.is_null())
                .map(|(key, child)| (key.clone(), strip_nulls(child)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Field sets

/// One step of a field path, ordered as Kubernetes orders them (fields, keys, values).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Element {
    /// `f:name`: a field of a map.
    Field(String),
    /// `k:{"name":"web"}`: a list item by its merge key(s); values are compact JSON, sorted by
    /// key name.
    Key(Vec<(String, String)>),
    /// `v:"value"`: an item of a set of primitives, as compact JSON.
    Value(String),
    /// Any other encoded element (such as `i:` indexes written by another server), kept as-is
    /// so that it survives a round trip.
    Other(String),
}

type Path = Vec<Element>;

impl Element {
    fn encode(&self) -> String {
        match self {
            Element::Field(name) => format!("f:{name}"),
            Element::Key(pairs) => {
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|(name, value)| format!("{}:{value}", Value::from(name.as_str())))
                    .collect();
                format!("k:{{{}}}", inner.join(","))
            }
            Element::Value(value) => format!("v:{value}"),
            Element::Other(raw) => raw.clone(),
        }
    }

    fn decode(raw: &str) -> Element {
        if let Some(name) = raw.strip_prefix("f:") {
            return Element::Field(name.to_owned());
        }
        if let Some(key) = raw.strip_prefix("k:") {
            if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(key) {
                let mut pairs: Vec<(String, String)> = map
                    .iter()
                    .map(|(name, value)| (name.clone(), value.to_string()))
                    .collect();
                pairs.sort();
                return Element::Key(pairs);
            }
        }
        if let Some(value) = raw.strip_prefix("v:") {
            // Re-serialising makes the text comparable with values read from objects.
            if let Ok(value) = serde_json::from_str::<Value>(value) {
                return Element::Value(value.to_string());
            }
        }
        Element::Other(raw.to_owned())
    }

    /// Whether `item` (a list element) is the one this element names.
    fn matches_item(&self, item: &Value) -> bool {
        match self {
            Element::Key(pairs) => pairs.iter().all(|(name, value)| {
                item.get(name)
                    .is_some_and(|found| json_text(found) == *value)
            }),
            Element::Value(value) => json_text(item) == *value,
            Element::Field(_) | Element::Other(_) => false,
        }
    }
}

impl fmt::Display for Element {
    /// Kubernetes' `fieldpath.PathElement.String()` syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Element::Field(name) => write!(f, ".{name}"),
            Element::Key(pairs) => {
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                write!(f, "[{}]", inner.join(","))
            }
            Element::Value(value) => write!(f, "[={value}]"),
            Element::Other(raw) => match raw.strip_prefix("i:") {
                Some(index) => write!(f, "[{index}]"),
                None => write!(f, ".{raw}"),
            },
        }
    }
}

/// The compact JSON text elements store values as, so that they can be ordered and compared.
fn json_text(value: &Value) -> String {
    value.to_string()
}

fn display_path(path: &[Element]) -> String {
    path.iter().map(Element::to_string).collect()
}

/// A set of field paths as a tree. `member` marks the path to this node as itself owned; nodes
/// that are neither members nor lead to one are pruned, so a node's presence means something
/// at or below it is owned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FieldSet {
    member: bool,
    children: BTreeMap<Element, FieldSet>,
}

impl FieldSet {
    fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    fn insert(&mut self, path: &[Element]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    fn node(&self, path: &[Element]) -> Option<&FieldSet> {
        match path.split_first() {
            None => Some(self),
            Some((first, rest)) => self.children.get(first)?.node(rest),
        }
    }

    fn contains(&self, path: &[Element]) -> bool {
        self.node(path).is_some_and(|node| node.member)
    }

    /// Whether the path or anything below it is in the set.
    fn has_any_at(&self, path: &[Element]) -> bool {
        self.node(path).is_some_and(|node| !node.is_empty())
    }

    fn remove(&mut self, path: &[Element]) {
        match path.split_first() {
            None => self.member = false,
            Some((first, rest)) => {
                if let Some(child) = self.children.get_mut(first) {
                    child.remove(rest);
                    if child.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (element, child) in &other.children {
            self.children
                .entry(element.clone())
                .or_default()
                .union(child);
        }
    }

    /// Every member path, in Kubernetes' order.
    fn members(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.walk(&mut Vec::new(), &mut out);
        out
    }

    fn walk(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.walk(prefix, out);
            prefix.pop();
        }
    }

    /// Drops paths that no longer lead anywhere in `value`, so ownership of deleted fields does
    /// not linger.
    fn retain_existing(&mut self, value: &Value) {
        self.children.retain(|element, child| {
            let found = match (element, value) {
                (Element::Field(name), Value::Object(map)) => map.get(name),
                (Element::Key(_) | Element::Value(_), Value::Array(items)) => {
                    items.iter().find(|item| element.matches_item(item))
                }
                // Elements this server never writes cannot be checked; keep them.
                (Element::Other(_), _) => return true,
                _ => None,
            };
            match found {
                Some(found) => {
                    child.retain_existing(found);
                    !child.is_empty()
                }
                None => false,
            }
        });
    }

    /// Kubernetes' FieldsV1 JSON: `{}` for a leaf, `".": {}` for a member that also has
    /// children.
    fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            map.insert(element.encode(), child.to_fields_v1());
        }
        Value::Object(map)
    }

    fn from_fields_v1(value: &Value) -> Option<FieldSet> {
        let Value::Object(map) = value else {
            return None;
        };
        let mut set = FieldSet::default();
        for (key, child) in map {
            if key == "." {
                set.member = true;
                continue;
            }
            let mut child = FieldSet::from_fields_v1(child)?;
            // An empty object names a leaf.
            if child.children.is_empty() {
                child.member = true;
            }
            set.children.insert(Element::decode(key), child);
        }
        Some(set)
    }
}

// ---------------------------------------------------------------------------------------------
// Walking objects

/// Where in an object a value sits: its schema type, and whether it is the root or the root's
/// metadata, whose server-set fields are never tracked.
#[derive(Clone, Copy)]
struct Ctx {
    ty: Option<ApiType>,
    level: Level,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    RootMetadata,
    Inner,
}

impl Ctx {
    fn root(ty: ApiType) -> Ctx {
        Ctx {
            ty: Some(ty),
            level: Level::Root,
        }
    }

    fn untracked(self, name: &str) -> bool {
        match self.level {
            // apiVersion and kind identify the object; status belongs to the status
            // subresource and is reset on writes to the main resource.
            Level::Root => matches!(name, "apiVersion" | "kind" | "status"),
            Level::RootMetadata => {
                matches!(name, "name" | "namespace") || SERVER_METADATA.contains(&name)
            }
            Level::Inner => false,
        }
    }

    fn child(self, name: &str, schema: FieldSchema) -> Ctx {
        let level = match (self.level, name) {
            (Level::Root, "metadata") => Level::RootMetadata,
            _ => Level::Inner,
        };
        Ctx {
            ty: schema.ty,
            level,
        }
    }
}

/// Adds to `out` every path of `new` whose value differs from `old` (all of them when `old` is
/// `None`): leaves, list items by merge key (the item itself and its changed fields), set items,
/// and atomic lists and empty maps as single leaves. A non-empty map is not a member itself, only
/// its contents are, as in Kubernetes' applied field sets.
fn collect_changes(
    old: Option<&Value>,
    new: &Value,
    ctx: Ctx,
    path: &mut Path,
    out: &mut FieldSet,
) {
    let Value::Object(map) = new else {
        if old != Some(new) {
            out.insert(path);
        }
        return;
    };
    if map.is_empty() {
        if old != Some(new) && ctx.level != Level::Root {
            out.insert(path);
        }
        return;
    }
    for (name, value) in map {
        if ctx.untracked(name) {
            continue;
        }
        let schema = strategy::field(ctx.ty, name);
        let old_value = old.and_then(|old| old.get(name));
        path.push(Element::Field(name.clone()));
        collect_field(old_value, value, schema, ctx.child(name, schema), path, out);
        path.pop();
    }
}

fn collect_field(
    old: Option<&Value>,
    new: &Value,
    schema: FieldSchema,
    ctx: Ctx,
    path: &mut Path,
    out: &mut FieldSet,
) {
    let Value::Array(items) = new else {
        collect_changes(old, new, ctx, path, out);
        return;
    };
    let old_items = old.and_then(Value::as_array).map(Vec::as_slice);
    let elements = list_elements(items, schema.list);
    let Some(elements) = elements.filter(|_| !items.is_empty()) else {
        // Atomic lists, and lists whose items do not fit their strategy, are one leaf.
        if old != Some(new) {
            out.insert(path);
        }
        return;
    };
    for (element, item) in elements.into_iter().zip(items) {
        let old_item =
            old_items.and_then(|old_items| old_items.iter().find(|old| element.matches_item(old)));
        path.push(element);
        if old_item.is_none() {
            out.insert(path);
        }
        if item.is_object() {
            let item_ctx = Ctx {
                ty: schema.ty,
                level: Level::Inner,
            };
            collect_changes(old_item, item, item_ctx, path, out);
        }
        path.pop();
    }
}

/// The element naming each item of a keyed list or set, or `None` when the list is atomic or an
/// item cannot be named (a keyed item without its key, an object in a set).
fn list_elements(items: &[Value], strategy: ListStrategy) -> Option<Vec<Element>> {
    match strategy {
        ListStrategy::Replace => None,
        ListStrategy::MergeByKey(key) => items
            .iter()
            .map(|item| {
                let id = item.as_object()?.get(key)?;
                Some(Element::Key(vec![(key.to_owned(), id.to_string())]))
            })
            .collect(),
        ListStrategy::MergeSet => items
            .iter()
            .map(|item| {
                (!item.is_object() && !item.is_array()).then(|| Element::Value(item.to_string()))
            })
            .collect(),
    }
}

fn resolve<'v>(value: &'v Value, path: &[Element]) -> Option<&'v Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(value);
    };
    let next = match (first, value) {
        (Element::Field(name), Value::Object(map)) => map.get(name)?,
        (Element::Key(_) | Element::Value(_), Value::Array(items)) => {
            items.iter().find(|item| first.matches_item(item))?
        }
        _ => return None,
    };
    resolve(next, rest)
}

fn delete_path(value: &mut Value, path: &[Element]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut parent = value;
    for element in parent_path {
        let next = match (element, parent) {
            (Element::Field(name), Value::Object(map)) => map.get_mut(name),
            (Element::Key(_) | Element::Value(_), Value::Array(items)) => {
                items.iter_mut().find(|item| element.matches_item(item))
            }
            _ => None,
        };
        let Some(next) = next else {
            return;
        };
        parent = next;
    }
    match (last, parent) {
        (Element::Field(name), Value::Object(map)) => {
            map.shift_remove(name);
        }
        (Element::Key(_) | Element::Value(_), Value::Array(items)) => {
            items.retain(|item| !last.matches_item(item));
        }
        _ => {}
    }
}

/// The merge key field of a list item stays as long as the item does: removing it alone would
/// leave an item nothing can name.
fn is_merge_key_of_item(path: &[Element]) -> bool {
    match path {
        [.., Element::Key(pairs), Element::Field(name)] => pairs.iter().any(|(key, _)| key == name),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// managedFields entries

/// One `metadata.managedFields` entry.
/// Give `manager`'s entry for `operation` the fields `update` sets, creating the entry if needed,
/// and stamp it with the write's apiVersion and time.
fn upsert_entry(
    entries: &mut Vec<Entry>,
    manager: &str,
    operation: &str,
    api_version: &str,
    now: &str,
    update: impl FnOnce(&mut FieldSet),
) {
    let index = match entries
        .iter()
        .position(|e| e.manager == manager && e.operation == operation)
    {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: manager.to_owned(),
                operation: operation.to_owned(),
                api_version: String::new(),
                time: None,
                subresource: None,
                fields: FieldSet::default(),
            });
            entries.len() - 1
        }
    };
    let entry = &mut entries[index];
    update(&mut entry.fields);
    entry.api_version = api_version.to_owned();
    entry.time = Some(now.to_owned());
}

struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    fields: FieldSet,
}

/// The object's entries; malformed ones are dropped, as they cannot be honoured.
fn read_entries(object: &Value) -> Vec<Entry> {
    let entries = object
        .get("metadata")
        .and_then(|metadata| metadata.get("managedFields"))
        .and_then(Value::as_array);
    let Some(entries) = entries else {
        return Vec::new();
    };
    entries.iter().filter_map(read_entry).collect()
}

fn read_entry(entry: &Value) -> Option<Entry> {
    let text = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
    if entry.get("fieldsType").and_then(Value::as_str) != Some(FIELDS_V1) {
        return None;
    }
    let fields = match entry.get("fieldsV1") {
        Some(fields) => FieldSet::from_fields_v1(fields)?,
        None => FieldSet::default(),
    };
    Some(Entry {
        manager: text("manager")?,
        operation: text("operation")?,
        api_version: text("apiVersion").unwrap_or_default(),
        time: text("time"),
        subresource: text("subresource").filter(|s| !s.is_empty()),
        fields,
    })
}

/// Stores `entries` in `object`, after dropping ownership of fields the object no longer has
/// and entries that own nothing.
fn write_entries(object: &mut Value, entries: Vec<Entry>) {
    let mut list = Vec::with_capacity(entries.len());
    for mut entry in entries {
        entry.fields.member = false;
        entry.fields.retain_existing(object);
        if entry.fields.is_empty() {
            continue;
        }
        let mut map = Map::new();
        map.insert("manager".to_owned(), Value::from(entry.manager));
        map.insert("operation".to_owned(), Value::from(entry.operation));
        map.insert("apiVersion".to_owned(), Value::from(entry.api_version));
        if let Some(time) = entry.time {
            map.insert("time".to_owned(), Value::from(time));
        }
        map.insert("fieldsType".to_owned(), Value::from(FIELDS_V1));
        map.insert("fieldsV1".to_owned(), entry.fields.to_fields_v1());
        if let Some(subresource) = entry.subresource {
            map.insert("subresource".to_owned(), Value::from(subresource));
        }
        list.push(Value::Object(map));
    }
    let Value::Object(root) = object else {
        return;
    };
    if list.is_empty() {
        if let Some(Value::Object(metadata)) = root.get_mut("metadata") {
            metadata.shift_remove("managedFields");
        }
        return;
    }
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(metadata) = metadata {
        metadata.insert("managedFields".to_owned(), Value::Array(list));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: &str = "2024-01-01T00:00:00Z";

    fn apply(live: Option<&Value>, config: &Value, manager: &str, force: bool) -> Value {
        apply_result(live, config, manager, force).expect("apply succeeds")
    }

    fn apply_result(
        live: Option<&Value>,
        config: &Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, ApplyError> {
        let (root, version, kind) = match config["kind"].as_str() {
            Some("Deployment") => (ApiType::Deployment, "apps/v1", "Deployment"),
            _ => (ApiType::OtherObject, "v1", "ConfigMap"),
        };
        server_side_apply(live, config, manager, force, root, kind, version, NOW)
    }

    fn configmap(data: Value) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"app": "x"}},
            "data": data,
        })
    }

    /// The fieldsV1 of the entry of `manager` with `operation`, if any.
    fn fields_of(object: &Value, manager: &str, operation: &str) -> Option<Value> {
        object["metadata"]["managedFields"]
            .as_array()?
            .iter()
            .find(|entry| entry["manager"] == manager && entry["operation"] == operation)
            .map(|entry| entry["fieldsV1"].clone())
    }

    #[test]
    fn apply_creates_with_one_apply_entry() {
        let object = apply(None, &configmap(json!({"k": "1", "j": "2"})), "a", false);
        assert_eq!(object["data"], json!({"k": "1", "j": "2"}));
        assert_eq!(object["metadata"]["name"], "c");
        assert_eq!(
            object["metadata"]["managedFields"],
            json!([{
                "manager": "a",
                "operation": "Apply",
                "apiVersion": "v1",
                "time": NOW,
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:data": {"f:j": {}, "f:k": {}},
                    "f:metadata": {"f:labels": {"f:app": {}}},
                },
            }])
        );
    }

    #[test]
    fn dropped_field_is_removed_from_object_and_set() {
        let first = apply(None, &configmap(json!({"k": "1", "j": "2"})), "a", false);
        let second = apply(Some(&first), &configmap(json!({"k": "1"})), "a", false);
        assert_eq!(second["data"], json!({"k": "1"}));
        assert_eq!(
            fields_of(&second, "a", "Apply"),
            Some(json!({"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}))
        );
        assert_eq!(
            second["metadata"]["managedFields"].as_array().map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn different_value_conflicts_and_force_moves_ownership() {
        let live = apply(None, &configmap(json!({"k": "1", "j": "2"})), "a", false);
        let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"k": "2"}});
        let error = apply_result(Some(&live), &other, "b", false).expect_err("conflict");
        assert_eq!(
            error.to_string(),
            r#"Apply failed with 1 conflict: conflict with "a": .data.k"#
        );
        let ApplyError::Conflicts(conflicts) = error else {
            panic!("expected conflicts, got {error:?}");
        };
        assert_eq!(
            conflicts,
            vec![Conflict {
                manager: "a".into(),
                field: ".data.k".into()
            }]
        );

        let forced = apply(Some(&live), &other, "b", true);
        assert_eq!(forced["data"], json!({"k": "2", "j": "2"}));
        assert_eq!(
            fields_of(&forced, "a", "Apply"),
            Some(json!({"f:data": {"f:j": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}))
        );
        assert_eq!(
            fields_of(&forced, "b", "Apply"),
            Some(json!({"f:data": {"f:k": {}}}))
        );
    }

    #[test]
    fn several_conflicts_are_grouped_by_manager() {
        let live = apply(None, &configmap(json!({"k": "1"})), "a", false);
        let live = apply(
            Some(&live),
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {"j": "1"}}),
            "b",
            false,
        );
        let error = apply_result(
            Some(&live),
            &configmap(json!({"k": "9", "j": "9"})),
            "c",
            false,
        )
        .expect_err("conflicts");
        assert_eq!(
            error.to_string(),
            "Apply failed with 2 conflicts: conflict with \"a\":\n- .data.k\nconflict with \"b\":\n- .data.j"
        );
    }

    #[test]
    fn same_value_is_shared_and_survives_the_other_dropping_it() {
        let live = apply(None, &configmap(json!({"k": "1", "j": "2"})), "a", false);
        let same = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"k": "1"}});
        let shared = apply(Some(&live), &same, "b", false);
        assert_eq!(
            fields_of(&shared, "b", "Apply"),
            Some(json!({"f:data": {"f:k": {}}}))
        );
        assert_eq!(
            fields_of(&shared, "a", "Apply").map(|f| f["f:data"].clone()),
            Some(json!({"f:j": {}, "f:k": {}}))
        );

        let dropped = apply(Some(&shared), &configmap(json!({"j": "2"})), "a", false);
        assert_eq!(dropped["data"], json!({"k": "1", "j": "2"}));
        assert_eq!(
            fields_of(&dropped, "a", "Apply").map(|f| f["f:data"].clone()),
            Some(json!({"f:j": {}}))
        );
    }

    fn deployment(containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": containers}}},
        })
    }

    #[test]
    fn deployment_containers_are_keyed_by_name() {
        let live = apply(
            None,
            &deployment(json!([{"name": "web", "image": "nginx:1"}])),
            "a",
            false,
        );
        let fields = fields_of(&live, "a", "Apply").expect("apply entry");
        assert_eq!(
            fields["f:spec"]["f:template"]["f:spec"]["f:containers"],
            json!({r#"k:{"name":"web"}"#: {".": {}, "f:image": {}, "f:name": {}}})
        );

        // b changes the image through an ordinary update and so owns it.
        let mut updated = live.clone();
        updated["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        record_update(
            Some(&live),
            &mut updated,
            "b",
            ApiType::Deployment,
            "apps/v1",
            NOW,
        );
        let error = apply_result(
            Some(&updated),
            &deployment(json!([{"name": "web", "image": "nginx:3"}])),
            "a",
            false,
        )
        .expect_err("conflict with b");
        assert_eq!(
            error.to_string(),
            r#"Apply failed with 1 conflict: conflict with "b": .spec.template.spec.containers[name="web"].image"#
        );
    }

    #[test]
    fn dropping_an_applied_container_removes_it() {
        let two = deployment(json!([
            {"name": "web", "image": "nginx:1"},
            {"name": "side", "image": "envoy:1", "ports": [{"containerPort": 80}]},
        ]));
        let live = apply(None, &two, "a", false);
        let one = apply(
            Some(&live),
            &deployment(json!([{"name": "web", "image": "nginx:1"}])),
            "a",
            false,
        );
        assert_eq!(
            one["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "image": "nginx:1"}])
        );
        let fields = fields_of(&one, "a", "Apply").expect("apply entry");
        assert!(fields["f:spec"]["f:template"]["f:spec"]["f:containers"]
            .get(r#"k:{"name":"side"}"#)
            .is_none());
    }

    #[test]
    fn record_update_on_create_then_moves_one_field() {
        let mut created = configmap(json!({"k": "1", "j": "2"}));
        created["metadata"]["uid"] = json!("u");
        created["status"] = json!({"phase": "x"});
        record_update(None, &mut created, "m1", ApiType::OtherObject, "v1", NOW);
        assert_eq!(
            created["metadata"]["managedFields"],
            json!([{
                "manager": "m1",
                "operation": "Update",
                "apiVersion": "v1",
                "time": NOW,
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:data": {"f:j": {}, "f:k": {}},
                    "f:metadata": {"f:labels": {"f:app": {}}},
                },
            }])
        );

        let mut changed = created.clone();
        changed["data"]["k"] = json!("3");
        record_update(
            Some(&created),
            &mut changed,
            "m2",
            ApiType::OtherObject,
            "v1",
            "2024-01-02T00:00:00Z",
        );
        assert_eq!(
            fields_of(&changed, "m2", "Update"),
            Some(json!({"f:data": {"f:k": {}}}))
        );
        assert_eq!(
            fields_of(&changed, "m1", "Update"),
            Some(json!({"f:data": {"f:j": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}))
        );
    }

    #[test]
    fn removed_fields_lose_their_owners() {
        let mut created = configmap(json!({"k": "1"}));
        record_update(None, &mut created, "m1", ApiType::OtherObject, "v1", NOW);
        let mut changed = created.clone();
        changed["metadata"]["labels"] = json!({});
        record_update(
            Some(&created),
            &mut changed,
            "m2",
            ApiType::OtherObject,
            "v1",
            NOW,
        );
        assert_eq!(
            fields_of(&changed, "m1", "Update"),
            Some(json!({"f:data": {"f:k": {}}}))
        );
        assert_eq!(
            fields_of(&changed, "m2", "Update"),
            Some(json!({"f:metadata": {"f:labels": {}}}))
        );
    }

    #[test]
    fn fields_v1_round_trips() {
        let encoded = json!({
            "f:metadata": {"f:finalizers": {".": {}, r#"v:"a""#: {}}},
            "f:spec": {"f:ports": {r#"k:{"port":80}"#: {".": {}, "f:port": {}}}},
        });
        let set = FieldSet::from_fields_v1(&encoded).expect("valid");
        assert_eq!(set.to_fields_v1(), encoded);
        let paths: Vec<String> = set.members().iter().map(|p| display_path(p)).collect();
        assert_eq!(
            paths,
            [
                ".metadata.finalizers",
                r#".metadata.finalizers[="a"]"#,
                ".spec.ports[port=80]",
                ".spec.ports[port=80].port",
            ]
        );
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let wrong_kind = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}});
        assert!(matches!(
            apply_result(None, &wrong_kind, "a", false),
            Err(ApplyError::Invalid(_))
        ));
        let directive = configmap(json!({"$patch": "replace"}));
        assert!(matches!(
            apply_result(None, &directive, "a", false),
            Err(ApplyError::Invalid(_))
        ));
    }
}
