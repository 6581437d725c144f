//! `list`: objects of a kind at a revision, with `resourceVersion`/`resourceVersionMatch`,
//! `limit`/`continue` paging and selectors; JSON lists are spliced from stored bytes.

use axum::response::Response;
use base64::Engine;
use berth_store::{KeyValue, RangeRequest, StoreError};
use serde_json::json;

use super::filter::Filter;
use crate::codec::{self, Output};
use crate::context::Ctx;
use crate::objects;
use crate::status::{ApiError, ApiResult};
use crate::tables;

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
    /// The matching objects, in key order, as stored.
    pub items: Vec<KeyValue>,
    /// The store revision the list was read at: the list's `resourceVersion`.
    pub revision: i64,
    /// The token for the next page, when `limit` cut the list short.
    pub continue_token: Option<String>,
}

/// The objects a list request selects, at the revision its `resourceVersion` and
/// `resourceVersionMatch` ask for, one page when it has a `limit`.
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

/// `GET` of a collection: a `<Kind>List`, or a Table when asked for.
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
