//! The generic verbs over any stored kind: get, list, create, update, patch, delete and
//! deletecollection, with Kubernetes' semantics for resourceVersion preconditions, dry runs,
//! generateName, finalizers and graceful deletion.

use axum::response::Response;
use base64::Engine;
use berth_api::selector::{FieldSelector, LabelSelector};
use berth_store::{KeyValue, RangeRequest, StoreError};
use serde_json::{json, Value};

use crate::admission::{self, Scope};
use crate::codec::{self, Output};
use crate::context::{with_warnings, Ctx};
use crate::objects::{self, meta, meta_mut, meta_str};
use crate::query::parse_rv;
use crate::status::{ApiError, ApiResult};
use crate::tables;

/// Attempts at a read-modify-write that loses a race before giving up with 409.
const PATCH_RETRIES: usize = 8;

pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let kv = ctx.get_kv(ctx.name()?).await?;
    match ctx.out {
        Output::Json => Ok(codec::raw_json(200, objects::wire_bytes(&kv))),
        _ => {
            let obj = objects::decode_stored(&kv)?;
            Ok(tables::single(ctx, obj, None))
        }
    }
}

/// Label and field selectors of a request, parsed and checked against the kind.
pub struct Filter {
    label: Option<LabelSelector>,
    field: Option<FieldSelector>,
    group: &'static str,
    kind: &'static str,
}

impl Filter {
    pub fn from_ctx(ctx: &Ctx) -> ApiResult<Filter> {
        let label =
            match ctx.query.label_selector.as_deref() {
                Some(s) if !s.trim().is_empty() => Some(LabelSelector::parse(s).map_err(|e| {
                    ApiError::bad_request(format!("unable to parse requirement: {e}"))
                })?),
                _ => None,
            };
        let field = match ctx.query.field_selector.as_deref() {
            Some(s) if !s.trim().is_empty() => {
                let f =
                    FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                f.validate_for(ctx.info.group, ctx.info.kind)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                Some(f)
            }
            _ => None,
        };
        Ok(Filter {
            label,
            field,
            group: ctx.info.group,
            kind: ctx.info.kind,
        })
    }

    pub fn is_everything(&self) -> bool {
        self.label.is_none() && self.field.is_none()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.label.as_ref().is_none_or(|l| l.matches_object(obj))
            && self
                .field
                .as_ref()
                .is_none_or(|f| f.matches(self.group, self.kind, obj))
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
}

fn encode_continue(rv: i64, last_key: &str, prefix: &str) -> String {
    let token = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: last_key
            .strip_prefix(prefix)
            .unwrap_or(last_key)
            .to_string(),
    };
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_continue(token: &str, prefix: &str) -> ApiResult<(i64, String)> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: it was not issued by this server for this list",
        )
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if t.v != "meta.k8s.io/v1" || t.start.contains("..") || t.rv <= 0 {
        return Err(bad());
    }
    Ok((t.rv, format!("{prefix}{}", t.start)))
}

/// The revision to read a list at, from resourceVersion / resourceVersionMatch.
async fn list_revision(ctx: &Ctx) -> ApiResult<i64> {
    let current = ctx
        .store()
        .current_revision()
        .await
        .map_err(ApiError::store)?;
    let requested = ctx.query.revision()?;
    match (ctx.query.resource_version_match.as_deref(), requested) {
        (Some("Exact"), Some(rv)) => Ok(rv),
        (Some("Exact"), None) => Err(ApiError::bad_request(
            "resourceVersionMatch: Exact requires a resourceVersion other than \"\" and \"0\"",
        )),
        (Some("NotOlderThan") | None, Some(rv)) if rv > current => {
            Err(ApiError::store(StoreError::FutureRevision {
                requested: rv,
                current,
            }))
        }
        (Some("NotOlderThan") | None, _) => Ok(0),
        (Some(other), _) => Err(ApiError::bad_request(format!(
            "unsupported resourceVersionMatch {other:?}: must be Exact or NotOlderThan"
        ))),
    }
}

/// The objects of a list request and the list's metadata.
pub struct Listed {
    pub items: Vec<KeyValue>,
    pub revision: i64,
    pub continue_token: Option<String>,
}

pub async fn collect(ctx: &Ctx, filter: &Filter) -> ApiResult<Listed> {
    let prefix = ctx.collection_prefix();
    let (mut revision, mut start_after) = match &ctx.query.continue_token {
        Some(token) => {
            let (rv, start) = decode_continue(token, &prefix)?;
            (rv, Some(start))
        }
        None => (list_revision(ctx).await?, None),
    };
    let limit = ctx.query.limit;
    let mut items = Vec::new();
    loop {
        // Without selectors the store's limit is exact; with them, read ahead in pages.
        let page = match (limit, filter.is_everything()) {
            (0, _) => 0,
            (l, true) => l + 1 - items.len().min(l),
            (l, false) => (l * 2).max(500),
        };
        let resp = ctx
            .store()
            .range(RangeRequest {
                prefix: prefix.clone(),
                revision,
                limit: page,
                start_after: start_after.clone(),
            })
            .await
            .map_err(|e| match e {
                StoreError::Compacted { .. } if ctx.query.continue_token.is_some() => ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ),
                e => ApiError::store(e),
            })?;
        revision = resp.revision;
        let mut last = None;
        for kv in resp.kvs {
            last = Some(kv.key.clone());
            let keep =
                filter.is_everything() || filter.matches(&objects::decode_stored_light(&kv)?);
            if keep {
                if limit > 0 && items.len() == limit {
                    let token = items
                        .last()
                        .map(|k: &KeyValue| encode_continue(revision, &k.key, &prefix));
                    return Ok(Listed {
                        items,
                        revision,
                        continue_token: token,
                    });
                }
                items.push(kv);
            }
        }
        if !resp.more {
            break;
        }
        start_after = last;
    }
    Ok(Listed {
        items,
        revision,
        continue_token: None,
    })
}

pub async fn list(ctx: &Ctx) -> ApiResult<Response> {
    let filter = Filter::from_ctx(ctx)?;
    let listed = collect(ctx, &filter).await?;
    if ctx.out != Output::Json {
        return tables::list(ctx, &listed.items, listed.revision, listed.continue_token);
    }
    let mut body = Vec::with_capacity(
        listed
            .items
            .iter()
            .map(|k| k.value.len() + 32)
            .sum::<usize>()
            + 256,
    );
    let mut metadata = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(token) = &listed.continue_token {
        metadata["continue"] = json!(token);
    }
    body.extend_from_slice(
        format!(
            "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
            ctx.info.list_kind,
            ctx.info.api_version(),
            metadata
        )
        .as_bytes(),
    );
    for (i, kv) in listed.items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&objects::wire_bytes(kv));
    }
    body.extend_from_slice(b"]}");
    Ok(codec::raw_json(200, body))
}

async fn check_namespace(ctx: &Ctx, ns: &str) -> ApiResult<()> {
    let registry = berth_api::registry::registry();
    let Some(ns_info) = registry.by_kind("", "v1", "Namespace") else {
        return Ok(());
    };
    let kv = ctx
        .store()
        .get(&ns_info.key(None, ns))
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(ns_info, ns))?;
    let obj = objects::decode_stored(&kv)?;
    if meta(&obj).is_some_and(|m| m.contains_key("deletionTimestamp"))
        || obj["status"]["phase"] == "Terminating"
    {
        return Err(ApiError::forbidden(format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        )));
    }
    Ok(())
}

/// Decode the body of a create or update and check it against the URL.
fn decode_for_write(ctx: &Ctx, body: &[u8]) -> ApiResult<codec::Decoded> {
    let mut decoded = codec::decode_object(&ctx.headers, body)?;
    admission::check_type(ctx.info, &mut decoded.value)?;
    if let Some(ns) = ctx.namespace() {
        match meta_str(&decoded.value, "namespace") {
            None | Some("") => {}
            Some(body_ns) if body_ns == ns => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
        }
    }
    Ok(decoded)
}

pub async fn create(ctx: &Ctx, body: &[u8]) -> ApiResult<Response> {
    if ctx.ri.name.is_some() {
        return Err(ApiError::method_not_allowed(
            "POST is not supported on a named object; use PUT to replace it",
        ));
    }
    if ctx.info.namespaced && ctx.ri.namespace.is_none() {
        return Err(ApiError::bad_request(format!(
            "{} is namespaced: create it under /namespaces/NAMESPACE/{}",
            ctx.info.resource, ctx.info.resource
        )));
    }
    let decoded = decode_for_write(ctx, body)?;
    let mut warnings = Vec::new();
    let mut typed = admission::normalize(
        ctx.info,
        decoded.value,
        &decoded.duplicates,
        &ctx.query,
        &mut warnings,
    )?;
    if let Some(ns) = ctx.namespace() {
        check_namespace(ctx, ns).await?;
    }
    if ctx.info.group.is_empty() && ctx.info.kind == "Pod" {
        crate::priority::admit(ctx, &mut typed).await?;
        crate::service_account::admit(ctx, &mut typed).await?;
    }
    let generate = meta_str(&typed, "generateName").map(str::to_string);
    let fixed_name = meta_str(&typed, "name")
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let attempts = if fixed_name.is_none() && generate.is_some() {
        5
    } else {
        1
    };
    let mut last_err = None;
    for _ in 0..attempts {
        let mut obj = typed.clone();
        if fixed_name.is_none() {
            if let Some(prefix) = &generate {
                let name = format!("{prefix}{}", objects::random_suffix());
                meta_mut(&mut obj).insert("name".into(), json!(name));
            }
        }
        admission::prepare_create(ctx.info, &mut obj, ctx.namespace());
        let mut obj = admission::finish(ctx.info, obj, None)?;
        track_update(ctx, None, &mut obj);
        let name = objects::name_of(&obj).to_string();
        let reserved = allocate(ctx, &mut obj, None).await?;
        match store_new(ctx, &name, obj).await {
            Ok(obj) => return Ok(with_warnings(respond_object(ctx, 201, obj), &warnings)),
            Err(e) => {
                reserved.release(ctx.store()).await;
                // A generated name that happens to exist already: try another.
                if e.reason == "AlreadyExists" && attempts > 1 {
                    last_err = Some(e);
                } else {
                    return Err(e);
                }
            }
        }
    }
    Err(last_err.unwrap_or_else(|| ApiError::internal("create failed")))
}

/// Store a new, admitted object (or, on a dry run, check only that the name is free) and return
/// it with its resourceVersion.
async fn store_new(ctx: &Ctx, name: &str, mut obj: Value) -> ApiResult<Value> {
    if ctx.query.dry_run {
        // A dry run goes through every step but the write, including the name check.
        let existing = ctx
            .store()
            .get(&ctx.key(name))
            .await
            .map_err(ApiError::store)?;
        if existing.is_some() {
            return Err(ApiError::already_exists(ctx.info, name));
        }
        return Ok(obj);
    }
    let bytes = objects::encode_for_store(&obj)?;
    let kv = ctx
        .store()
        .create(&ctx.key(name), bytes)
        .await
        .map_err(|e| ApiError::from_store(e, ctx.info, name))?;
    objects::set_resource_version(&mut obj, kv.mod_revision);
    Ok(obj)
}

/// An object in the negotiated form.
pub fn respond_object(ctx: &Ctx, code: u16, obj: Value) -> Response {
    match ctx.out {
        Output::Json | Output::Yaml => codec::respond(code, &obj, ctx.out),
        _ => tables::single(ctx, obj, Some(code)),
    }
}

fn has_finalizers(obj: &Value) -> bool {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

fn is_deleting(obj: &Value) -> bool {
    meta(obj).is_some_and(|m| m.contains_key("deletionTimestamp"))
}

/// Store `new` over `old` (read at `old_kv`), or finish a deletion that just lost its last
/// finalizer. Unchanged objects are not written (their resourceVersion stays).
pub async fn commit_update(
    ctx: &Ctx,
    old_kv: &KeyValue,
    old: &Value,
    new: Value,
) -> ApiResult<(u16, Value)> {
    let mut old_cmp = old.clone();
    meta_mut(&mut old_cmp).remove("resourceVersion");
    let mut new_cmp = new.clone();
    meta_mut(&mut new_cmp).remove("resourceVersion");
    if old_cmp == new_cmp {
        return Ok((200, old.clone()));
    }
    if is_deleting(&new) && !has_finalizers(&new) && !deletion_finished_elsewhere(ctx, &new) {
        if ctx.query.dry_run {
            return Ok((200, new));
        }
        let kv = ctx
            .store()
            .delete_if(&old_kv.key, Some(old_kv.mod_revision))
            .await
            .map_err(|e| ApiError::from_store(e, ctx.info, objects::name_of(&new)))?;
        released(ctx, old, None).await;
        let mut obj = new;
        objects::set_resource_version(&mut obj, kv.mod_revision);
        return Ok((200, obj));
    }
    if ctx.query.dry_run {
        return Ok((200, new));
    }
    let mut new = new;
    let reserved = allocate(ctx, &mut new, Some(old)).await?;
    let bytes = objects::encode_for_store(&new)?;
    let kv = match ctx
        .store()
        .update_if(&old_kv.key, bytes, old_kv.mod_revision)
        .await
    {
        Ok(kv) => kv,
        Err(e) => {
            reserved.release(ctx.store()).await;
            return Err(ApiError::from_store(e, ctx.info, objects::name_of(&new)));
        }
    };
    released(ctx, old, Some(&new)).await;
    let mut obj = new;
    objects::set_resource_version(&mut obj, kv.mod_revision);
    Ok((200, obj))
}

fn is_service(ctx: &Ctx) -> bool {
    ctx.info.group.is_empty() && ctx.info.kind == "Service"
}

/// Reserve a Service's ClusterIP and node ports before it is written (nothing for other
/// kinds and dry runs).
async fn allocate(
    ctx: &Ctx,
    obj: &mut Value,
    old: Option<&Value>,
) -> ApiResult<crate::service_alloc::Reserved> {
    if !is_service(ctx) || ctx.query.dry_run {
        return Ok(crate::service_alloc::Reserved::default());
    }
    crate::service_alloc::allocate(ctx.store(), &ctx.state.service_ranges, obj, old).await
}

/// Give back what a written or deleted Service no longer holds.
async fn released(ctx: &Ctx, old: &Value, new: Option<&Value>) {
    if is_service(ctx) {
        crate::service_alloc::release_unused(ctx.store(), old, new).await;
    }
}

/// Objects whose deletion another party completes: a namespace is removed by its cleanup once
/// its contents are gone, and a scheduled pod being deleted gracefully stays until its node
/// agent confirms.
fn deletion_finished_elsewhere(ctx: &Ctx, obj: &Value) -> bool {
    is_namespace(ctx) || awaits_kubelet(ctx, obj)
}

fn awaits_kubelet(ctx: &Ctx, obj: &Value) -> bool {
    ctx.info.group.is_empty()
        && ctx.info.kind == "Pod"
        && obj["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
        && meta(obj)
            .and_then(|m| m.get("deletionGracePeriodSeconds"))
            .and_then(Value::as_i64)
            .is_some_and(|g| g > 0)
}

pub async fn update(ctx: &Ctx, body: &[u8], scope: Scope) -> ApiResult<Response> {
    let name = ctx.name()?.to_string();
    let decoded = decode_for_write(ctx, body)?;
    let mut new = decoded.value;
    match meta_str(&new, "name") {
        None | Some("") => {
            meta_mut(&mut new).insert("name".into(), json!(name));
        }
        Some(n) if n == name => {}
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
    }
    let precondition = meta_str(&new, "resourceVersion")
        .map(parse_rv)
        .transpose()?;
    let old_kv = ctx.get_kv(&name).await?;
    if precondition.is_some_and(|rv| rv != old_kv.mod_revision) {
        return Err(ApiError::modified(ctx.info, &name));
    }
    let old = objects::decode_stored(&old_kv)?;
    let mut warnings = Vec::new();
    let mut typed = admission::normalize(
        ctx.info,
        new,
        &decoded.duplicates,
        &ctx.query,
        &mut warnings,
    )?;
    admission::prepare_update(ctx.info, &mut typed, &old, scope);
    let mut new = admission::finish(ctx.info, typed, Some(&old))?;
    if scope == Scope::Main {
        track_update(ctx, Some(&old), &mut new);
    }
    let (code, obj) = commit_update(ctx, &old_kv, &old, new).await?;
    Ok(with_warnings(respond_object(ctx, code, obj), &warnings))
}

/// The kinds of patch bodies, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

pub fn patch_kind(ctx: &Ctx) -> ApiResult<PatchKind> {
    let ct = codec::media_type(&ctx.headers);
    match ct.as_str() {
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

pub fn parse_patch(kind: PatchKind, body: &[u8]) -> ApiResult<Value> {
    let v: Value = if kind == PatchKind::Apply {
        serde_yaml::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("error decoding YAML apply configuration: {e}"))
        })?
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
    };
    match (kind, &v) {
        (PatchKind::Json, Value::Array(_)) => Ok(v),
        (PatchKind::Json, _) => Err(ApiError::bad_request(
            "a JSON patch must be a JSON array of operations",
        )),
        (_, Value::Object(_)) => Ok(v),
        _ => Err(ApiError::bad_request("a merge patch must be a JSON object")),
    }
}

/// The field manager of a write: `fieldManager`, else the client's User-Agent program name, as
/// Kubernetes derives it.
fn manager(ctx: &Ctx) -> String {
    if let Some(m) = ctx.query.field_manager.as_deref().filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    ctx.headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|p| !p.is_empty())
        .unwrap_or("unknown")
        .chars()
        .take(128)
        .collect()
}

/// Record in managedFields that this write's manager now owns the fields it changed.
fn track_update(ctx: &Ctx, old: Option<&Value>, new: &mut Value) {
    berth_api::patch::apply::record_update(
        old,
        new,
        &manager(ctx),
        ctx.info.group,
        ctx.info.kind,
        &ctx.info.api_version(),
        &objects::now(),
    );
}

/// Server-side apply: merge the configuration with field ownership, or report conflicts.
fn server_side_apply(ctx: &Ctx, live: Option<&Value>, config: &Value) -> ApiResult<Value> {
    use berth_api::patch::apply::{self, ApplyError};
    apply::server_side_apply(
        live,
        config,
        &manager(ctx),
        ctx.query.force,
        ctx.info.group,
        ctx.info.kind,
        &ctx.info.api_version(),
        &objects::now(),
    )
    .map_err(|e| match e {
        ApplyError::Conflicts(conflicts) => {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\"", c.manager), "field": c.field}))
                .collect();
            ApiError {
                details: Some(json!({"causes": causes})),
                ..ApiError::new(409, "Conflict", ApplyError::Conflicts(conflicts).to_string())
            }
        }
        ApplyError::Invalid(msg) => ApiError::bad_request(msg),
    })
}

/// Apply a patch document to `target` (any JSON: an object or a Scale view).
pub fn apply_patch(ctx: &Ctx, kind: PatchKind, target: &Value, patch: &Value) -> ApiResult<Value> {
    use berth_api::patch;
    let unprocessable = |e: patch::PatchError| ApiError::new(422, "Invalid", e.to_string());
    match kind {
        PatchKind::Json => patch::json_patch(target, patch).map_err(unprocessable),
        PatchKind::Merge => Ok(patch::json_merge(target, patch)),
        PatchKind::Strategic | PatchKind::Apply => {
            patch::strategic_merge(target, patch, ctx.info.group, ctx.info.kind)
                .map_err(unprocessable)
        }
    }
}

pub async fn patch(ctx: &Ctx, body: &[u8], scope: Scope) -> ApiResult<Response> {
    let name = ctx.name()?.to_string();
    let kind = patch_kind(ctx)?;
    let doc = parse_patch(kind, body)?;
    if kind == PatchKind::Apply && ctx.query.field_manager.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    for _ in 0..PATCH_RETRIES {
        let old_kv = match ctx
            .store()
            .get(&ctx.key(&name))
            .await
            .map_err(ApiError::store)?
        {
            Some(kv) => kv,
            None if kind == PatchKind::Apply && scope == Scope::Main => {
                return apply_create(ctx, &name, doc).await;
            }
            None => return Err(ApiError::not_found(ctx.info, &name)),
        };
        let old = objects::decode_stored(&old_kv)?;
        let mut patched = if kind == PatchKind::Apply && scope == Scope::Main {
            server_side_apply(ctx, Some(&old), &doc)?
        } else {
            apply_patch(ctx, kind, &old, &doc)?
        };
        admission::check_type(ctx.info, &mut patched)?;
        let precondition = meta_str(&patched, "resourceVersion")
            .map(parse_rv)
            .transpose()?;
        if precondition.is_some_and(|rv| rv != old_kv.mod_revision) {
            return Err(ApiError::modified(ctx.info, &name));
        }
        if meta_str(&patched, "name") != Some(name.as_str()) {
            return Err(ApiError::bad_request(
                "the patch may not change metadata.name",
            ));
        }
        let mut warnings = Vec::new();
        let mut typed = admission::normalize(ctx.info, patched, &[], &ctx.query, &mut warnings)?;
        admission::prepare_update(ctx.info, &mut typed, &old, scope);
        let mut new = admission::finish(ctx.info, typed, Some(&old))?;
        if kind != PatchKind::Apply && scope == Scope::Main {
            track_update(ctx, Some(&old), &mut new);
        }
        match commit_update(ctx, &old_kv, &old, new).await {
            Ok((code, obj)) => return Ok(with_warnings(respond_object(ctx, code, obj), &warnings)),
            Err(e) if e.code == 409 && e.reason == "Conflict" && precondition.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::modified(ctx.info, &name))
}

/// Server-side apply of an object that does not exist yet: create it from the configuration.
async fn apply_create(ctx: &Ctx, name: &str, mut doc: Value) -> ApiResult<Response> {
    admission::check_type(ctx.info, &mut doc)?;
    if meta_str(&doc, "name").is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            objects::name_of(&doc)
        )));
    }
    meta_mut(&mut doc).insert("name".into(), json!(name));
    if let Some(ns) = ctx.namespace() {
        check_namespace(ctx, ns).await?;
    }
    let applied = server_side_apply(ctx, None, &doc)?;
    let mut warnings = Vec::new();
    let mut obj = admission::normalize(ctx.info, applied, &[], &ctx.query, &mut warnings)?;
    admission::prepare_create(ctx.info, &mut obj, ctx.namespace());
    let mut obj = admission::finish(ctx.info, obj, None)?;
    let reserved = allocate(ctx, &mut obj, None).await?;
    let obj = match store_new(ctx, name, obj).await {
        Ok(obj) => obj,
        Err(e) => {
            reserved.release(ctx.store()).await;
            return Err(e);
        }
    };
    Ok(with_warnings(respond_object(ctx, 201, obj), &warnings))
}

/// DeleteOptions from the body (optional) merged with the query.
struct DeleteOptions {
    grace: Option<i64>,
    uid: Option<String>,
    resource_version: Option<i64>,
    dry_run: bool,
    /// `Foreground` or `Orphan`: the garbage collector's finalizer the object gets.
    propagation: Option<String>,
}

fn delete_options(ctx: &Ctx, body: &[u8]) -> ApiResult<DeleteOptions> {
    let mut opts = DeleteOptions {
        grace: ctx.query.grace_period_seconds,
        uid: None,
        resource_version: None,
        dry_run: ctx.query.dry_run,
        propagation: ctx.query.propagation_policy.clone(),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        check_propagation(opts.propagation.as_deref())?;
        return Ok(opts);
    }
    let v = codec::decode_object(&ctx.headers, body)?.value;
    if let Some(g) = v.get("gracePeriodSeconds").and_then(Value::as_i64) {
        opts.grace = Some(g);
    }
    if let Some(dry) = v.get("dryRun").and_then(Value::as_array) {
        opts.dry_run |= dry.iter().any(|d| d == "All");
    }
    if let Some(policy) = v.get("propagationPolicy").and_then(Value::as_str) {
        opts.propagation = Some(policy.to_string());
    }
    check_propagation(opts.propagation.as_deref())?;
    let pre = &v["preconditions"];
    opts.uid = pre["uid"].as_str().map(str::to_string);
    opts.resource_version = pre["resourceVersion"].as_str().map(parse_rv).transpose()?;
    Ok(opts)
}

fn check_propagation(policy: Option<&str>) -> ApiResult<()> {
    match policy {
        None | Some("Background" | "Foreground" | "Orphan") => Ok(()),
        Some(policy) => Err(ApiError::bad_request(format!(
            "unsupported propagationPolicy {policy:?}: must be Background, Foreground or Orphan"
        ))),
    }
}

/// The finalizer the garbage collector acts on for a propagation policy, as Kubernetes':
/// Foreground deletes the dependents first, Orphan releases them; Background (the default)
/// deletes the object now and the collector removes the dependents afterwards.
fn gc_finalizer(policy: Option<&str>) -> Option<&'static str> {
    match policy {
        Some("Foreground") => Some("foregroundDeletion"),
        Some("Orphan") => Some("orphan"),
        _ => None,
    }
}

/// Put `finalizer` on `obj` in place of the other policy's one.
fn add_gc_finalizer(obj: &mut Value, finalizer: &str) {
    let m = meta_mut(obj);
    let list = m.entry("finalizers").or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut() {
        list.retain(|f| f != "foregroundDeletion" && f != "orphan");
        list.push(json!(finalizer));
    }
}

pub async fn delete(ctx: &Ctx, body: &[u8]) -> ApiResult<Response> {
    let name = ctx.name()?.to_string();
    let opts = delete_options(ctx, body)?;
    let (code, obj) = delete_one(ctx, &name, &opts).await?;
    Ok(respond_object(ctx, code, obj))
}

async fn delete_one(ctx: &Ctx, name: &str, opts: &DeleteOptions) -> ApiResult<(u16, Value)> {
    for _ in 0..PATCH_RETRIES {
        let kv = ctx.get_kv(name).await?;
        let obj = objects::decode_stored(&kv)?;
        if let Some(uid) = &opts.uid {
            let have = meta_str(&obj, "uid").unwrap_or("");
            if have != uid {
                return Err(ApiError::conflict(
                    ctx.info,
                    name,
                    &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"
                ),
                ));
            }
        }
        if let Some(rv) = opts.resource_version {
            if rv != kv.mod_revision {
                return Err(ApiError::conflict(ctx.info, name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    kv.mod_revision
                )));
            }
        }
        let graceful = graceful_seconds(ctx, &obj, opts.grace);
        let original = obj.clone();
        let mut obj = obj;
        if let Some(f) = gc_finalizer(opts.propagation.as_deref()) {
            add_gc_finalizer(&mut obj, f);
        }
        if has_finalizers(&obj) || graceful > 0 || is_namespace(ctx) {
            // Mark for deletion; finalizers, the node agent or the namespace cleanup finish it.
            let mut marked = obj.clone();
            let m = meta_mut(&mut marked);
            if !m.contains_key("deletionTimestamp") || graceful == 0 {
                let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(graceful);
                m.insert(
                    "deletionTimestamp".into(),
                    json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
                );
                m.insert("deletionGracePeriodSeconds".into(), json!(graceful));
            }
            if is_namespace(ctx) {
                marked["status"]["phase"] = json!("Terminating");
            }
            if opts.dry_run {
                return Ok((200, marked));
            }
            if has_finalizers(&marked) || graceful > 0 || is_namespace(ctx) {
                match commit_update(ctx, &kv, &original, marked).await {
                    Ok((_, out)) => {
                        if is_namespace(ctx) {
                            crate::namespaces::spawn_cleanup(ctx.state.clone(), name.to_string());
                        }
                        return Ok((200, out));
                    }
                    Err(e) if e.code == 409 => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        if opts.dry_run {
            return Ok((200, obj));
        }
        match ctx.store().delete_if(&kv.key, Some(kv.mod_revision)).await {
            Ok(deleted) => {
                released(ctx, &original, None).await;
                let mut out = obj;
                objects::set_resource_version(&mut out, deleted.mod_revision);
                return Ok((200, out));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(ApiError::from_store(e, ctx.info, name)),
        }
    }
    Err(ApiError::modified(ctx.info, name))
}

fn is_namespace(ctx: &Ctx) -> bool {
    ctx.info.group.is_empty() && ctx.info.kind == "Namespace"
}

/// Seconds of grace a deletion gets: only scheduled pods wait for their node agent.
fn graceful_seconds(ctx: &Ctx, obj: &Value, requested: Option<i64>) -> i64 {
    let scheduled_pod = ctx.info.group.is_empty()
        && ctx.info.kind == "Pod"
        && obj["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
        && !matches!(
            obj["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        );
    if !scheduled_pod {
        return 0;
    }
    requested
        .or_else(|| obj["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

pub async fn delete_collection(ctx: &Ctx, body: &[u8]) -> ApiResult<Response> {
    let opts = delete_options(ctx, body)?;
    let filter = Filter::from_ctx(ctx)?;
    let listed = collect(ctx, &filter).await?;
    let mut items = Vec::new();
    for kv in &listed.items {
        let obj = objects::decode_stored(kv)?;
        let name = objects::name_of(&obj).to_string();
        let ns = meta_str(&obj, "namespace").map(str::to_string);
        // Each object is deleted under its own namespace (for all-namespace collections).
        match delete_one(&ctx.for_object(ns, &name), &name, &opts).await {
            Ok((_, obj)) => items.push(obj),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({
        "kind": ctx.info.list_kind,
        "apiVersion": ctx.info.api_version(),
        "metadata": {"resourceVersion": listed.revision.to_string()},
        "items": items,
    });
    Ok(codec::json(200, &list))
}
