//! The OpenAPI v3 documents the API server publishes under `/openapi/v3`: the index of
//! group/versions and, for each one, a document with the schemas of its kinds (from the
//! k8s-openapi types, via the registry) and the REST paths and operations that serve them.
//!
//! kubectl depends on these documents in two ways, and the layout follows Kubernetes closely
//! enough for both:
//! - `apply`/`create` with `--validate=strict` looks for a `patch` operation tagged with the
//!   object's `x-kubernetes-group-version-kind` that takes a `fieldValidation` query parameter;
//!   without one it falls back to client-side validation against `/openapi/v2` and fails when
//!   that is not served.
//! - `explain` finds the schema whose `x-kubernetes-group-version-kind` lists the kind in
//!   `components.schemas` and walks `$ref`s (wrapped in `allOf` where they carry siblings).
//!
//! Patch operations deliberately do not accept `application/strategic-merge-patch+json`: when
//! a server lists it, kubectl computes strategic merge patches from the published schemas, and
//! ours lack the patch-merge-key extensions; without it kubectl uses its compiled-in types.
//!
//! The documents are large, so each is built and serialised once, with the hash the index
//! advertises, and again only when the kinds of its group/version change (see [`Cache`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use berth_api::registry::{KindInfo, Kinds, Subresource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

/// Where schemas live in every document; also the prefix of every schema `$ref`.
const SCHEMA_REF: &str = "#/components/schemas/";
/// The prefix of every shared-parameter `$ref`.
const PARAM_REF: &str = "#/components/parameters/";

/// What reads and writes of objects are served as.
const MEDIA: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
/// Lists can also be watched, which Kubernetes advertises as extra response types.
const LIST_MEDIA: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];
/// Patch bodies accepted. Strategic merge is left out on purpose (see the module comment).
const PATCH_MEDIA: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

/// One serialised group/version document.
struct Doc {
    /// The registry stamp of its group/version when it was built.
    stamp: u64,
    bytes: Arc<Vec<u8>>,
    hash: String,
}

/// The documents of one server, each built when first asked for and again once its
/// group/version changes in the registry (a custom kind added or removed); the documents
/// of the built-in group/versions are built once.
#[derive(Default)]
pub struct Cache {
    docs: Mutex<BTreeMap<(String, String), Arc<Doc>>>,
}

impl Cache {
    /// The current document of `group/version`, building it if needed.
    fn doc(&self, served: &Kinds, group: &str, version: &str) -> Option<Arc<Doc>> {
        let stamp = served.stamp(group, version)?;
        let key = (group.to_string(), version.to_string());
        let mut docs = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(doc) = docs.get(&key).filter(|d| d.stamp == stamp) {
            return Some(Arc::clone(doc));
        }
        // Serialising a `Value` we built ourselves cannot fail in practice (all keys are
        // strings); should it ever, an empty document is still valid JSON for clients.
        let bytes = serde_json::to_vec(&build_document(served, group, version))
            .unwrap_or_else(|_| b"{}".to_vec());
        let hash = fnv1a_hex(&bytes);
        let doc = Arc::new(Doc {
            stamp,
            bytes: Arc::new(bytes),
            hash,
        });
        docs.insert(key, Arc::clone(&doc));
        Some(doc)
    }

    /// `GET /openapi/v3`: {"paths": {"api/v1": {"serverRelativeURL":
    /// "/openapi/v3/api/v1?hash=<HASH>"}, "apis/apps/v1": {...}, ...}} for every group/version
    /// served.
    pub fn index(&self, served: &Kinds) -> Value {
        let mut paths = Map::new();
        for (group, version) in served.group_versions() {
            if let Some(d) = self.doc(served, &group, &version) {
                let key = gv_path(&group, &version);
                let url = format!("/openapi/v3/{key}?hash={}", d.hash);
                paths.insert(key, json!({ "serverRelativeURL": url }));
            }
        }
        // Documents of group/versions no longer served go.
        let mut docs = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        docs.retain(|(g, v), _| served.stamp(g, v).is_some());
        json!({ "paths": paths })
    }

    /// The document for one group/version (`""`/`"v1"` for core), or None if not served.
    pub fn document(&self, served: &Kinds, group: &str, version: &str) -> Option<Arc<Vec<u8>>> {
        self.doc(served, group, version)
            .map(|d| Arc::clone(&d.bytes))
    }

    /// The hash of [`Cache::document`]'s bytes, as the index advertises it.
    pub fn document_hash(&self, served: &Kinds, group: &str, version: &str) -> Option<String> {
        self.doc(served, group, version).map(|d| d.hash.clone())
    }
}

/// FNV-1a 64 in upper-case hex: stable across builds and processes (unlike `DefaultHasher`),
/// which matters because kubectl caches documents by the hash in their URL.
fn fnv1a_hex(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016X}")
}

/// `api/v1` or `apis/apps/v1`: the key in the index, also the URL prefix without a slash.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("{SCHEMA_REF}{name}") })
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({ "group": group, "kind": kind, "version": version })
}

/// Adds `T`'s schema (and everything it references) to the generator, returning its name.
fn register<T: JsonSchema>(gen: &mut SchemaGenerator) -> String {
    // The returned `$ref` is discarded: callers build refs from the name, which is the
    // definition key as long as names are unique, and k8s-openapi's names are.
    let _ = gen.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// `io.k8s.api.apps.v1.DeploymentList` next to `io.k8s.api.apps.v1.Deployment`.
fn list_schema_name(k: &KindInfo) -> String {
    match k.model.schema_name().rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.{}", k.list_kind),
        None => k.list_kind.clone(),
    }
}

/// k8s-openapi has no named list types, so `<Kind>List` is written out the way Kubernetes
/// publishes it.
fn list_schema(k: &KindInfo, list_meta: &str) -> Value {
    json!({
        "description": format!("{} is a list of {} objects.", k.list_kind, k.kind),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            },
            "items": {
                "description": format!("Items is the list of {} objects.", k.kind),
                "type": "array",
                "items": schema_ref(&k.model.schema_name()),
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string",
            },
            "metadata": {
                "description": "Standard list metadata.",
                "$ref": format!("{SCHEMA_REF}{list_meta}"),
            },
        },
        "required": ["items"],
    })
}

/// Names of the shared schemas every document references.
struct Common {
    status: String,
    delete_options: String,
    patch: String,
}

/// The name of the schema a subresource speaks when it has its own kind (Scale, Eviction, ...),
/// registering it in the generator; `None` for status (the kind itself) and for the streaming
/// subresources (plain text).
fn subresource_schema(sub: Subresource, gen: &mut SchemaGenerator) -> Option<String> {
    use k8s_openapi::api::{authentication::v1 as authn, autoscaling::v1 as as1};
    use k8s_openapi::api::{core::v1 as core, policy::v1 as policy};
    match sub {
        Subresource::Scale => Some(register::<as1::Scale>(gen)),
        Subresource::Binding => Some(register::<core::Binding>(gen)),
        Subresource::Eviction => Some(register::<policy::Eviction>(gen)),
        Subresource::Token => Some(register::<authn::TokenRequest>(gen)),
        Subresource::Status
        | Subresource::Log
        | Subresource::Exec
        | Subresource::Attach
        | Subresource::PortForward => None,
    }
}

/// The whole document for one group/version.
fn build_document(served: &Kinds, group: &str, version: &str) -> Value {
    let settings = SchemaSettings::openapi3().with(|s| {
        // Documents embed schemas as components; a `$schema` key there is not OpenAPI 3.0.
        s.meta_schema = None;
    });
    let mut gen = settings.into_generator();
    let common = Common {
        status: register::<meta::Status>(&mut gen),
        delete_options: register::<meta::DeleteOptions>(&mut gen),
        patch: register::<meta::Patch>(&mut gen),
    };
    let list_meta = register::<meta::ListMeta>(&mut gen);
    register::<meta::ObjectMeta>(&mut gen);
    register::<meta::WatchEvent<Value>>(&mut gen);

    // (schema name, GVK) pairs to tag once the definitions are final.
    let mut gvk_tags: Vec<(String, Value)> = Vec::new();
    let mut paths = Map::new();
    let kinds: Vec<&KindInfo> = served
        .kinds_in(group, version)
        .map(|k| k.as_ref())
        .collect();
    if group == "autoscaling" && version == "v1" {
        // Scale belongs to autoscaling/v1 even when no kind here has a scale subresource.
        let name = register::<k8s_openapi::api::autoscaling::v1::Scale>(&mut gen);
        gvk_tags.push((name, gvk("autoscaling", "v1", "Scale")));
    }
    for k in kinds {
        // The kind's own schema is generated inline (that is what `json_schema` returns), so
        // it is added to the definitions by hand; its references land there by themselves.
        let schema = k.model.schema(&mut gen);
        let schema_name = k.model.schema_name();
        gen.definitions_mut()
            .insert(schema_name.clone(), schema.to_value());
        gvk_tags.push((schema_name, gvk(&k.group, &k.version, &k.kind)));
        if k.verbs.contains(&"list") {
            let name = list_schema_name(k);
            gen.definitions_mut()
                .insert(name.clone(), list_schema(k, &list_meta));
            gvk_tags.push((name, gvk(&k.group, &k.version, &k.list_kind)));
        }
        for &sub in &k.subresources {
            if let Some(name) = subresource_schema(sub, &mut gen) {
                let (g, v, kind) = sub.kind();
                gvk_tags.push((name, gvk(g, v, kind)));
            }
        }
        for (path, item) in kind_paths(k, &common, &mut gen) {
            paths.insert(path, item);
        }
    }

    // Applying the OpenAPI 3 transforms turns `$ref`s with sibling keys (descriptions) into
    // `allOf: [{$ref}]`, as Kubernetes publishes them and as kubectl explain expects.
    let mut definitions = gen.take_definitions(true);
    for (name, gvk) in gvk_tags {
        if let Some(Value::Object(schema)) = definitions.get_mut(&name) {
            let list = schema
                .entry("x-kubernetes-group-version-kind")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                if !list.contains(&gvk) {
                    list.push(gvk);
                }
            }
        }
    }
    // Sorted so the bytes (and so the hash) do not depend on generation order.
    let mut sorted: Vec<(String, Value)> = definitions.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let schemas: Map<String, Value> = sorted.into_iter().collect();

    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0" },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": shared_parameters(),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                },
            },
        },
        "security": [{ "BearerToken": [] }],
    })
}

// ---------------------------------------------------------------------------------------------
// Parameters

/// Parameters shared by many operations, published once under `components.parameters` and
/// referenced, like Kubernetes does: (name, in, schema type, description).
const SHARED_PARAMS: &[(&str, &str, &str, &str)] = &[
    ("namespace", "path", "string", "object name and auth scope, such as for teams and projects"),
    ("pretty", "query", "string", "If 'true', then the output is pretty printed."),
    ("allowWatchBookmarks", "query", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers may ignore it."),
    ("continue", "query", "string", "The continue option should be set when retrieving more results from the server, with the value of the previous list's continue token."),
    ("fieldSelector", "query", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
    ("labelSelector", "query", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
    ("limit", "query", "integer", "limit is the maximum number of responses to return for a list call; more can be fetched with continue."),
    ("resourceVersion", "query", "string", "resourceVersion sets a constraint on what resource versions a request may be served from."),
    ("resourceVersionMatch", "query", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    ("sendInitialEvents", "query", "boolean", "sendInitialEvents=true may be set together with watch=true to begin the watch stream with synthetic events for the current state."),
    ("timeoutSeconds", "query", "integer", "Timeout for the list/watch call."),
    ("watch", "query", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
    ("gracePeriodSeconds", "query", "integer", "The duration in seconds before the object should be deleted. Zero means delete immediately."),
    ("orphanDependents", "query", "boolean", "Deprecated: please use the PropagationPolicy. Whether the dependent objects should be orphaned."),
    ("propagationPolicy", "query", "string", "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'."),
];

fn parameter(name: &str, location: &str, ty: &str, description: &str) -> Value {
    let mut p = json!({
        "name": name,
        "in": location,
        "description": description,
        "schema": { "type": ty },
    });
    // Path parameters must be marked required in OpenAPI 3.
    if location == "path" {
        p["required"] = Value::Bool(true);
    }
    p
}

fn shared_parameters() -> Map<String, Value> {
    SHARED_PARAMS
        .iter()
        .map(|&(name, location, ty, description)| {
            (name.to_string(), parameter(name, location, ty, description))
        })
        .collect()
}

fn param_ref(name: &str) -> Value {
    json!({ "$ref": format!("{PARAM_REF}{name}") })
}

fn query(name: &str, ty: &str, description: &str) -> Value {
    parameter(name, "query", ty, description)
}

fn dry_run() -> Value {
    query(
        "dryRun",
        "string",
        "When present, indicates that modifications should not be persisted. The only valid value is 'All'.",
    )
}

fn field_manager() -> Value {
    query(
        "fieldManager",
        "string",
        "fieldManager is a name associated with the actor or entity that is making these changes.",
    )
}

/// Kept inline in every operation, not a `$ref`: some kubectl versions only recognise an
/// inline parameter (they look refs up under `#/parameters/`, a v2 location), and this is the
/// parameter whose absence makes `kubectl apply --validate=strict` fail.
fn field_validation() -> Value {
    query(
        "fieldValidation",
        "string",
        "How the server handles unknown or duplicate fields in the request body: 'Ignore', 'Warn' or 'Strict'.",
    )
}

/// Parameters of create and replace operations.
fn write_params() -> Vec<Value> {
    vec![dry_run(), field_manager(), field_validation()]
}

fn patch_params() -> Vec<Value> {
    let mut p = write_params();
    p.push(query(
        "force",
        "boolean",
        "Force is going to \"force\" Apply requests: re-acquire conflicting fields owned by other people.",
    ));
    p
}

fn list_params() -> Vec<Value> {
    [
        "allowWatchBookmarks",
        "continue",
        "fieldSelector",
        "labelSelector",
        "limit",
        "resourceVersion",
        "resourceVersionMatch",
        "sendInitialEvents",
        "timeoutSeconds",
        "watch",
    ]
    .into_iter()
    .map(param_ref)
    .collect()
}

fn delete_params() -> Vec<Value> {
    let mut p = vec![dry_run()];
    p.extend(
        [
            "gracePeriodSeconds",
            "orphanDependents",
            "propagationPolicy",
        ]
        .into_iter()
        .map(param_ref),
    );
    p
}

fn delete_collection_params() -> Vec<Value> {
    let mut p = vec![dry_run()];
    p.extend(
        [
            "continue",
            "fieldSelector",
            "gracePeriodSeconds",
            "labelSelector",
            "limit",
            "orphanDependents",
            "propagationPolicy",
            "resourceVersion",
            "resourceVersionMatch",
            "sendInitialEvents",
            "timeoutSeconds",
        ]
        .into_iter()
        .map(param_ref),
    );
    p
}

/// Query parameters of the streaming pod subresources, inline as Kubernetes has them.
fn streaming_params(sub: Subresource) -> Vec<Value> {
    let container = || {
        query(
            "container",
            "string",
            "The container to use; defaults to the only container if there is one.",
        )
    };
    let stdio = |p: &mut Vec<Value>| {
        for (name, what) in [
            (
                "stdin",
                "Redirect the standard input stream of the pod for this call.",
            ),
            (
                "stdout",
                "Redirect the standard output stream of the pod for this call.",
            ),
            (
                "stderr",
                "Redirect the standard error stream of the pod for this call.",
            ),
            ("tty", "Allocate a terminal for this call."),
        ] {
            p.push(query(name, "boolean", what));
        }
    };
    match sub {
        Subresource::Log => vec![
            container(),
            query("follow", "boolean", "Follow the log stream of the pod."),
            query(
                "limitBytes",
                "integer",
                "The number of bytes to read from the server before terminating the log output.",
            ),
            query(
                "previous",
                "boolean",
                "Return previous terminated container logs.",
            ),
            query(
                "sinceSeconds",
                "integer",
                "A relative time in seconds before the current time from which to show logs.",
            ),
            query(
                "tailLines",
                "integer",
                "The number of lines from the end of the logs to show.",
            ),
            query(
                "timestamps",
                "boolean",
                "Prefix every line of log output with an RFC3339 timestamp.",
            ),
        ],
        Subresource::Exec => {
            let mut p = vec![
                query("command", "string", "Command is the remote command to execute; repeat the parameter for each argument."),
                container(),
            ];
            stdio(&mut p);
            p
        }
        Subresource::Attach => {
            let mut p = vec![container()];
            stdio(&mut p);
            p
        }
        Subresource::PortForward => vec![query("ports", "integer", "List of ports to forward.")],
        Subresource::Status
        | Subresource::Scale
        | Subresource::Binding
        | Subresource::Eviction
        | Subresource::Token => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Operations and paths

fn content(schema: &Value, media: &[&str]) -> Value {
    let map: Map<String, Value> = media
        .iter()
        .map(|m| (m.to_string(), json!({ "schema": schema })))
        .collect();
    Value::Object(map)
}

fn responses(codes: &[(&str, &str)], schema: &Value, media: &[&str]) -> Value {
    let mut map = Map::new();
    for &(code, description) in codes {
        map.insert(
            code.to_string(),
            json!({ "description": description, "content": content(schema, media) }),
        );
    }
    map.insert("401".into(), json!({ "description": "Unauthorized" }));
    Value::Object(map)
}

const OK: (&str, &str) = ("200", "OK");
const CREATED: (&str, &str) = ("201", "Created");
const ACCEPTED: (&str, &str) = ("202", "Accepted");

/// One operation, rendered by [`Operation::render`].
struct Operation {
    id: String,
    description: String,
    action: &'static str,
    gvk: Value,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Value,
}

/// What is shared by all operations of one kind.
struct KindCtx<'a> {
    kind: &'a KindInfo,
    tag: String,
    /// `CoreV1`, `RbacAuthorizationV1`.
    gv_camel: String,
    /// `Namespaced` for namespaced kinds, else empty.
    scope: &'static str,
}

impl Operation {
    fn render(self, ctx: &KindCtx) -> Value {
        let mut op = json!({
            "tags": [ctx.tag],
            "description": self.description,
            "operationId": self.id,
        });
        if !self.params.is_empty() {
            op["parameters"] = Value::Array(self.params);
        }
        if let Some(body) = self.body {
            op["requestBody"] = body;
        }
        op["responses"] = self.responses;
        op["x-kubernetes-action"] = Value::String(self.action.to_string());
        op["x-kubernetes-group-version-kind"] = self.gvk;
        op
    }
}

fn request_body(schema: &Value, media: &[&str]) -> Value {
    json!({ "content": content(schema, media), "required": true })
}

/// `CoreV1`, `AppsV1`, `RbacAuthorizationV1`: how Kubernetes spells a group/version in
/// operation ids.
fn gv_camel(group: &str, version: &str) -> String {
    let mut out = String::new();
    if group.is_empty() {
        out.push_str("Core");
    } else {
        for part in group.trim_end_matches(".k8s.io").split(['.', '-']) {
            out.push_str(&capitalize(part));
        }
    }
    out.push_str(&capitalize(version));
    out
}

/// `core_v1`, `apps_v1`, `rbacAuthorization_v1`: Kubernetes' operation tags.
fn tag(group: &str, version: &str) -> String {
    let camel = gv_camel(group, "");
    let mut chars = camel.chars();
    let lower: String = match chars.next() {
        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    };
    format!("{lower}_{version}")
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The path item parameters: `name` inline (it documents which kind it names), the rest shared.
fn path_params(ctx: &KindCtx, with_name: bool) -> Vec<Value> {
    let mut p = Vec::new();
    if with_name {
        p.push(parameter(
            "name",
            "path",
            "string",
            &format!("name of the {}", ctx.kind.kind),
        ));
    }
    if ctx.kind.namespaced {
        p.push(param_ref("namespace"));
    }
    p.push(param_ref("pretty"));
    p
}

fn path_item(params: Vec<Value>, ops: Vec<(&'static str, Value)>) -> Value {
    let mut item = Map::new();
    for (method, op) in ops {
        item.insert(method.to_string(), op);
    }
    item.insert("parameters".into(), Value::Array(params));
    Value::Object(item)
}

/// All paths serving one kind, Kubernetes' layout, driven by its verbs and subresources.
fn kind_paths(k: &KindInfo, common: &Common, gen: &mut SchemaGenerator) -> Vec<(String, Value)> {
    let ctx = KindCtx {
        kind: k,
        tag: tag(&k.group, &k.version),
        gv_camel: gv_camel(&k.group, &k.version),
        scope: if k.namespaced { "Namespaced" } else { "" },
    };
    let prefix = format!("/{}", gv_path(&k.group, &k.version));
    let collection = if k.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", k.resource)
    } else {
        format!("{prefix}/{}", k.resource)
    };
    let item = format!("{collection}/{{name}}");
    let has = |verb: &str| k.verbs.contains(&verb);
    let object = schema_ref(&k.model.schema_name());
    let list = schema_ref(&list_schema_name(k));
    let status = schema_ref(&common.status);
    let delete_body = request_body(&schema_ref(&common.delete_options), MEDIA);
    let patch_body = request_body(&schema_ref(&common.patch), PATCH_MEDIA);
    let own_gvk = gvk(&k.group, &k.version, &k.kind);
    let (g, kind, scope) = (&ctx.gv_camel, k.kind.as_str(), ctx.scope);
    let mut out = Vec::new();

    // The collection: list, create, delete collection.
    let mut ops = Vec::new();
    if has("list") {
        let op = Operation {
            id: format!("list{g}{scope}{kind}"),
            description: format!("list or watch objects of kind {kind}"),
            action: "list",
            gvk: own_gvk.clone(),
            params: list_params(),
            body: None,
            responses: responses(&[OK], &list, LIST_MEDIA),
        };
        ops.push(("get", op.render(&ctx)));
    }
    if has("create") {
        let op = Operation {
            id: format!("create{g}{scope}{kind}"),
            description: format!("create a {kind}"),
            action: "post",
            gvk: own_gvk.clone(),
            params: write_params(),
            body: Some(request_body(&object, MEDIA)),
            responses: responses(&[OK, CREATED, ACCEPTED], &object, MEDIA),
        };
        ops.push(("post", op.render(&ctx)));
    }
    if has("deletecollection") {
        let op = Operation {
            id: format!("delete{g}Collection{scope}{kind}"),
            description: format!("delete collection of {kind}"),
            action: "deletecollection",
            gvk: own_gvk.clone(),
            params: delete_collection_params(),
            body: Some(delete_body.clone()),
            responses: responses(&[OK], &status, MEDIA),
        };
        ops.push(("delete", op.render(&ctx)));
    }
    if !ops.is_empty() {
        out.push((collection.clone(), path_item(path_params(&ctx, false), ops)));
    }

    // One object: read, replace, patch, delete.
    let mut ops = Vec::new();
    if has("get") {
        let op = Operation {
            id: format!("read{g}{scope}{kind}"),
            description: format!("read the specified {kind}"),
            action: "get",
            gvk: own_gvk.clone(),
            params: Vec::new(),
            body: None,
            responses: responses(&[OK], &object, MEDIA),
        };
        ops.push(("get", op.render(&ctx)));
    }
    if has("update") {
        let op = Operation {
            id: format!("replace{g}{scope}{kind}"),
            description: format!("replace the specified {kind}"),
            action: "put",
            gvk: own_gvk.clone(),
            params: write_params(),
            body: Some(request_body(&object, MEDIA)),
            responses: responses(&[OK, CREATED], &object, MEDIA),
        };
        ops.push(("put", op.render(&ctx)));
    }
    if has("delete") {
        let op = Operation {
            id: format!("delete{g}{scope}{kind}"),
            description: format!("delete a {kind}"),
            action: "delete",
            gvk: own_gvk.clone(),
            params: delete_params(),
            body: Some(delete_body),
            responses: responses(&[OK, ACCEPTED], &status, MEDIA),
        };
        ops.push(("delete", op.render(&ctx)));
    }
    if has("patch") {
        let op = Operation {
            id: format!("patch{g}{scope}{kind}"),
            description: format!("partially update the specified {kind}"),
            action: "patch",
            gvk: own_gvk.clone(),
            params: patch_params(),
            body: Some(patch_body.clone()),
            responses: responses(&[OK, CREATED], &object, MEDIA),
        };
        ops.push(("patch", op.render(&ctx)));
    }
    if !ops.is_empty() {
        out.push((item.clone(), path_item(path_params(&ctx, true), ops)));
    }

    // Namespaced kinds can also be listed across all namespaces.
    if k.namespaced && has("list") {
        let op = Operation {
            id: format!("list{g}{kind}ForAllNamespaces"),
            description: format!("list or watch objects of kind {kind}"),
            action: "list",
            gvk: own_gvk.clone(),
            params: list_params(),
            body: None,
            responses: responses(&[OK], &list, LIST_MEDIA),
        };
        out.push((
            format!("{prefix}/{}", k.resource),
            path_item(vec![param_ref("pretty")], vec![("get", op.render(&ctx))]),
        ));
    }

    for &sub in &k.subresources {
        let ops = subresource_ops(&ctx, sub, &own_gvk, &patch_body, gen);
        if !ops.is_empty() {
            out.push((
                format!("{item}/{}", sub.name()),
                path_item(path_params(&ctx, true), ops),
            ));
        }
    }
    out
}

/// Operations of `/<resource>/{name}/<sub>`.
fn subresource_ops(
    ctx: &KindCtx,
    sub: Subresource,
    own_gvk: &Value,
    patch_body: &Value,
    gen: &mut SchemaGenerator,
) -> Vec<(&'static str, Value)> {
    let (g, kind, scope) = (&ctx.gv_camel, ctx.kind.kind.as_str(), ctx.scope);
    let suffix = capitalize(sub.name());
    let what = sub.name();
    // The schema the subresource reads and writes: the kind itself for status, otherwise the
    // subresource's own kind (Scale, Eviction, ...), or plain text for streams.
    let (sub_gvk, schema) = match subresource_schema(sub, gen) {
        Some(name) => {
            let (g, v, kind) = sub.kind();
            (gvk(g, v, kind), schema_ref(&name))
        }
        None if sub == Subresource::Status => {
            (own_gvk.clone(), schema_ref(&ctx.kind.model.schema_name()))
        }
        None => (own_gvk.clone(), json!({ "type": "string" })),
    };
    let verbs = sub.verbs();
    let mut ops = Vec::new();
    match sub {
        Subresource::Status | Subresource::Scale => {
            if verbs.contains(&"get") {
                let op = Operation {
                    id: format!("read{g}{scope}{kind}{suffix}"),
                    description: format!("read {what} of the specified {kind}"),
                    action: "get",
                    gvk: sub_gvk.clone(),
                    params: Vec::new(),
                    body: None,
                    responses: responses(&[OK], &schema, MEDIA),
                };
                ops.push(("get", op.render(ctx)));
            }
            if verbs.contains(&"update") {
                let op = Operation {
                    id: format!("replace{g}{scope}{kind}{suffix}"),
                    description: format!("replace {what} of the specified {kind}"),
                    action: "put",
                    gvk: sub_gvk.clone(),
                    params: write_params(),
                    body: Some(request_body(&schema, MEDIA)),
                    responses: responses(&[OK, CREATED], &schema, MEDIA),
                };
                ops.push(("put", op.render(ctx)));
            }
            if verbs.contains(&"patch") {
                // Carries fieldValidation too: kubectl decides on the first patch operation
                // it meets for a GVK, and map order makes that any of them.
                let op = Operation {
                    id: format!("patch{g}{scope}{kind}{suffix}"),
                    description: format!("partially update {what} of the specified {kind}"),
                    action: "patch",
                    gvk: sub_gvk,
                    params: patch_params(),
                    body: Some(patch_body.clone()),
                    responses: responses(&[OK, CREATED], &schema, MEDIA),
                };
                ops.push(("patch", op.render(ctx)));
            }
        }
        Subresource::Binding | Subresource::Eviction | Subresource::Token => {
            let op = Operation {
                id: format!("create{g}{scope}{kind}{suffix}"),
                description: format!("create {what} of a {kind}"),
                action: "post",
                gvk: sub_gvk,
                params: write_params(),
                body: Some(request_body(&schema, MEDIA)),
                responses: responses(&[OK, CREATED, ACCEPTED], &schema, MEDIA),
            };
            ops.push(("post", op.render(ctx)));
        }
        Subresource::Log => {
            let op = Operation {
                id: format!("read{g}{scope}{kind}{suffix}"),
                description: format!("read log of the specified {kind}"),
                action: "get",
                gvk: sub_gvk,
                params: streaming_params(sub),
                body: None,
                responses: responses(&[OK], &schema, &["text/plain"]),
            };
            ops.push(("get", op.render(ctx)));
        }
        Subresource::Exec | Subresource::Attach | Subresource::PortForward => {
            // Streams are upgraded connections; Kubernetes documents them as `connect`
            // operations on both GET and POST.
            for (method, verb) in [("get", "Get"), ("post", "Post")] {
                let op = Operation {
                    id: format!("connect{g}{verb}{scope}{kind}{suffix}"),
                    description: format!("connect {method} requests to {what} of {kind}"),
                    action: "connect",
                    gvk: sub_gvk.clone(),
                    params: streaming_params(sub),
                    body: None,
                    responses: responses(&[OK], &schema, &["*/*"]),
                };
                ops.push((method, op.render(ctx)));
            }
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> &'static Kinds {
        berth_api::registry::builtin()
    }

    fn cache() -> &'static Cache {
        static CACHE: std::sync::LazyLock<Cache> = std::sync::LazyLock::new(Cache::default);
        &CACHE
    }

    fn index() -> Value {
        cache().index(served())
    }

    fn document(group: &str, version: &str) -> Option<Arc<Vec<u8>>> {
        cache().document(served(), group, version)
    }

    fn document_hash(group: &str, version: &str) -> Option<String> {
        cache().document_hash(served(), group, version)
    }

    fn doc(group: &str, version: &str) -> Value {
        let bytes = document(group, version).unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// kubectl's check (`supportsQueryParamV3`), made stricter: every patch operation for the
    /// GVK must take `fieldValidation`, because kubectl stops at whichever it meets first.
    /// Returns how many patch operations were found for the GVK.
    fn patch_ops_with_field_validation(doc: &Value, g: &str, v: &str, k: &str) -> usize {
        let want = gvk(g, v, k);
        let mut found = 0;
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        for (path, item) in paths {
            let Some(op) = item.get("patch") else {
                continue;
            };
            if op["x-kubernetes-group-version-kind"] != want {
                continue;
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let has = params.iter().any(|p| {
                let resolved = match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => {
                        let key = r
                            .strip_prefix(PARAM_REF)
                            .or_else(|| r.strip_prefix("#/parameters/"))
                            .unwrap_or(r);
                        doc["components"]["parameters"][key].clone()
                    }
                    None => p.clone(),
                };
                resolved["name"] == "fieldValidation" && resolved["in"] == "query"
            });
            assert!(has, "patch at {path} lacks fieldValidation");
            found += 1;
        }
        found
    }

    #[test]
    fn index_lists_documents_with_their_hashes() {
        let idx = index();
        for (g, v, key) in [("", "v1", "api/v1"), ("apps", "v1", "apis/apps/v1")] {
            let url = idx["paths"][key]["serverRelativeURL"]
                .as_str()
                .unwrap_or("");
            let hash = document_hash(g, v).unwrap_or_default();
            assert!(!hash.is_empty());
            assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
            let bytes = document(g, v).unwrap_or_default();
            assert_eq!(fnv1a_hex(&bytes), hash);
        }
        let served = served().group_versions().len();
        assert_eq!(idx["paths"].as_object().map(Map::len), Some(served));
        assert!(document("apps", "v2").is_none());
        assert!(document_hash("nope.example.com", "v1").is_none());
    }

    #[test]
    fn deployment_patch_supports_field_validation() {
        let apps = doc("apps", "v1");
        assert_eq!(apps["openapi"], "3.0.0");
        assert!(patch_ops_with_field_validation(&apps, "apps", "v1", "Deployment") >= 2);
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
        assert_eq!(patch["x-kubernetes-action"], "patch");
        let scale = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
        assert_eq!(
            scale["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"
        );
        assert!(patch_ops_with_field_validation(&apps, "autoscaling", "v1", "Scale") >= 1);
    }

    #[test]
    fn every_kind_has_its_paths() {
        let r = served();
        for k in r.all() {
            let d = doc(&k.group, &k.version);
            let create_only = !k.verbs.contains(&"patch");
            let n = patch_ops_with_field_validation(&d, &k.group, &k.version, &k.kind);
            if create_only {
                assert_eq!(n, 0, "{} should have no patch", k.kind);
                let has_post = d["paths"].as_object().is_some_and(|paths| {
                    paths.values().any(|item| {
                        item["post"]["x-kubernetes-group-version-kind"]
                            == gvk(&k.group, &k.version, &k.kind)
                    })
                });
                assert!(has_post, "no create path for {}", k.kind);
            } else {
                assert!(
                    n >= 1,
                    "no patch path for {}/{} {}",
                    k.group,
                    k.version,
                    k.kind
                );
            }
        }
        let core = doc("", "v1");
        for path in [
            "/api/v1/namespaces/{namespace}/pods",
            "/api/v1/namespaces/{namespace}/pods/{name}",
            "/api/v1/namespaces/{namespace}/pods/{name}/status",
            "/api/v1/pods",
            "/api/v1/nodes/{name}",
        ] {
            assert!(core["paths"].get(path).is_some(), "missing {path}");
        }
        assert_eq!(
            core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["get"]["operationId"],
            "readCoreV1NamespacedPod"
        );
        let rbac = doc("rbac.authorization.k8s.io", "v1");
        let cr = &rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"];
        assert_eq!(
            cr["put"]["operationId"],
            "replaceRbacAuthorizationV1ClusterRole"
        );
        assert_eq!(cr["get"]["tags"][0], "rbacAuthorization_v1");
        let authz = doc("authorization.k8s.io", "v1");
        let ssar = &authz["paths"]["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"];
        assert!(ssar.get("post").is_some() && ssar.get("get").is_none());
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (key, value) in map {
                    if key == "$ref" {
                        out.push(value.as_str().unwrap_or("<not a string>").to_string());
                    } else if key == "type" {
                        // OpenAPI 3.0 only allows a single type name.
                        assert!(value.is_string() || value.is_object(), "bad type {value}");
                    }
                    collect_refs(value, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
            _ => {}
        }
    }

    #[test]
    fn schemas_are_tagged_and_refs_resolve() {
        let apps = doc("apps", "v1");
        let schemas = &apps["components"]["schemas"];
        assert_eq!(
            schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
        );
        assert_eq!(
            schemas["io.k8s.api.apps.v1.DeploymentList"]["x-kubernetes-group-version-kind"][0]
                ["kind"],
            "DeploymentList"
        );
        for (g, v) in served().group_versions() {
            let d = doc(&g, &v);
            assert!(d.get("$schema").is_none());
            let schemas = &d["components"]["schemas"];
            for name in [
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
                "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
                "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
            ] {
                assert!(schemas.get(name).is_some(), "{g}/{v} lacks {name}");
            }
            let mut refs = Vec::new();
            collect_refs(&d, &mut refs);
            assert!(!refs.is_empty());
            for r in refs {
                let ok = if let Some(name) = r.strip_prefix(SCHEMA_REF) {
                    schemas.get(name).is_some()
                } else if let Some(name) = r.strip_prefix(PARAM_REF) {
                    d["components"]["parameters"].get(name).is_some()
                } else {
                    false
                };
                assert!(ok, "{g}/{v}: dangling $ref {r}");
            }
        }
    }

    /// Follows a property the way kubectl explain does: through `$ref`, `allOf: [{$ref}]`
    /// and array `items`.
    fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
        loop {
            let wrapped = schema.get("allOf").and_then(|a| a.get(0));
            if let Some(r) = schema.get("$ref").or_else(|| wrapped?.get("$ref")) {
                let name = r.as_str().and_then(|r| r.strip_prefix(SCHEMA_REF));
                schema = &doc["components"]["schemas"][name.unwrap_or("")];
            } else if let Some(items) = schema.get("items") {
                schema = items;
            } else {
                return schema;
            }
        }
    }

    #[test]
    fn explain_can_walk_pod_spec_containers() {
        let core = doc("", "v1");
        let want = json!({"group": "", "kind": "Pod", "version": "v1"});
        let pod = core["components"]["schemas"]
            .as_object()
            .and_then(|s| {
                s.values().find(|s| {
                    s["x-kubernetes-group-version-kind"]
                        .as_array()
                        .is_some_and(|l| l.contains(&want))
                })
            })
            .cloned()
            .unwrap_or(Value::Null);
        assert!(pod["description"].is_string());
        let spec = resolve(&core, &pod["properties"]["spec"]);
        assert!(spec["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("containers"))));
        let containers = resolve(&core, &spec["properties"]["containers"]);
        assert_eq!(containers["properties"]["image"]["type"], "string");
        // The description next to a $ref survives, as allOf keeps it a sibling.
        assert!(pod["properties"]["metadata"]["allOf"].is_array());
        assert!(pod["properties"]["metadata"]["description"].is_string());
    }

    #[test]
    fn strategic_merge_patch_is_not_offered() {
        for (g, v) in served().group_versions() {
            let bytes = document(&g, &v).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("strategic-merge-patch"), "{g}/{v}");
            // Only groups with patchable kinds have patch bodies at all.
            let patchable = served()
                .kinds_in(&g, &v)
                .any(|k| k.verbs.contains(&"patch"));
            assert_eq!(
                text.contains("application/merge-patch+json"),
                patchable,
                "{g}/{v}"
            );
        }
    }

    #[test]
    fn operation_names_follow_kubernetes() {
        assert_eq!(gv_camel("", "v1"), "CoreV1");
        assert_eq!(
            gv_camel("rbac.authorization.k8s.io", "v1"),
            "RbacAuthorizationV1"
        );
        assert_eq!(gv_camel("autoscaling", "v2"), "AutoscalingV2");
        assert_eq!(tag("", "v1"), "core_v1");
        assert_eq!(tag("networking.k8s.io", "v1"), "networking_v1");
        assert_eq!(fnv1a_hex(b""), "CBF29CE484222325");
    }
}
