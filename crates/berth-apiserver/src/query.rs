//! The query parameters of Kubernetes API requests, parsed once with clear errors.

use crate::status::ApiError;

/// How unknown and duplicate fields in a body are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Unknown fields are dropped and of duplicates the last wins, without a word.
    Ignore,
    /// The server default: unknown and duplicate fields are reported as warnings.
    #[default]
    Warn,
    /// They fail the request with 400 BadRequest.
    Strict,
}

/// The query parameters of a request.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The parameters not parsed into the fields below, as sent: subresources with
    /// parameters of their own read them (`pods/log`).
    pub pairs: Vec<(String, String)>,
    /// `dryRun=All`: check and answer as usual, but store nothing.
    pub dry_run: bool,
    /// `fieldValidation` (`Warn` by default).
    pub field_validation: FieldValidation,
    /// `fieldManager`: who makes the change, for `managedFields` (required for apply).
    pub field_manager: Option<String>,
    /// `force`: server-side apply takes over fields other managers own instead of conflicting.
    pub force: bool,
    /// `labelSelector`, unparsed.
    pub label_selector: Option<String>,
    /// `fieldSelector`, unparsed.
    pub field_selector: Option<String>,
    /// `limit`: the most objects a list returns (0: no limit).
    pub limit: usize,
    /// `continue`: the token of the next page of a list.
    pub continue_token: Option<String>,
    /// `resourceVersion`, unparsed (empty counts as unset).
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`: `Exact` or `NotOlderThan`.
    pub resource_version_match: Option<String>,
    /// `timeoutSeconds`: how long a watch stays open.
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks`: a watch may send BOOKMARK events.
    pub allow_watch_bookmarks: bool,
    /// `sendInitialEvents`: a watch starts with the current state, ended by a bookmark.
    pub send_initial_events: bool,
    /// `watch`: a list request is a watch.
    pub watch: bool,
    /// `gracePeriodSeconds` of a delete.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy` of a delete: `Foreground`, `Background` or `Orphan`.
    pub propagation_policy: Option<String>,
    /// `includeObject` of a Table: `None`, `Metadata` or `Object`.
    pub include_object: Option<String>,
}

fn boolean(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" | "True" => Ok(true),
        "false" | "0" | "False" | "" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "invalid value {other:?} for query parameter {name}: expected true or false"
        ))),
    }
}

fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ApiError> {
    v.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid value {v:?} for query parameter {name}: expected a number"
        ))
    })
}

impl Query {
    /// Parse a raw query string; 400 BadRequest for a malformed one or a bad value.
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
        let mut q = Query::default();
        for (k, v) in pairs {
            match k.as_str() {
                "dryRun" => {
                    if v != "All" {
                        return Err(ApiError::bad_request(format!(
                            "unsupported dryRun value {v:?}: the only supported value is \"All\""
                        )));
                    }
                    q.dry_run = true;
                }
                "fieldValidation" => {
                    q.field_validation = match v.as_str() {
                        "Ignore" => FieldValidation::Ignore,
                        "Warn" | "" => FieldValidation::Warn,
                        "Strict" => FieldValidation::Strict,
                        other => {
                            return Err(ApiError::bad_request(format!(
                        "invalid fieldValidation {other:?}: must be one of Ignore, Warn, Strict"
                    )))
                        }
                    }
                }
                "fieldManager" => q.field_manager = Some(v),
                "force" => q.force = boolean(&k, &v)?,
                "labelSelector" => q.label_selector = Some(v),
                "fieldSelector" => q.field_selector = Some(v),
                "limit" => q.limit = number::<i64>(&k, &v)?.max(0) as usize,
                "continue" => q.continue_token = Some(v).filter(|s| !s.is_empty()),
                "resourceVersion" => q.resource_version = Some(v).filter(|s| !s.is_empty()),
                "resourceVersionMatch" => {
                    q.resource_version_match = Some(v).filter(|s| !s.is_empty())
                }
                "timeoutSeconds" => q.timeout_seconds = Some(number(&k, &v)?),
                "allowWatchBookmarks" => q.allow_watch_bookmarks = boolean(&k, &v)?,
                "sendInitialEvents" => q.send_initial_events = boolean(&k, &v)?,
                "watch" => q.watch = boolean(&k, &v)?,
                "gracePeriodSeconds" => q.grace_period_seconds = Some(number(&k, &v)?),
                "propagationPolicy" => q.propagation_policy = Some(v),
                "includeObject" => q.include_object = Some(v),
                _ => q.pairs.push((k, v)),
            }
        }
        Ok(q)
    }

    /// The resourceVersion as a revision; `None` when unset or "0" (any version).
    pub fn revision(&self) -> Result<Option<i64>, ApiError> {
        match self.resource_version.as_deref() {
            None | Some("0") => Ok(None),
            Some(rv) => parse_rv(rv).map(Some),
        }
    }
}

/// A `resourceVersion` as a store revision; 400 BadRequest unless it is a positive integer.
pub fn parse_rv(rv: &str) -> Result<i64, ApiError> {
    rv.parse::<i64>().ok().filter(|r| *r > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid resource version {rv:?}: expected a positive integer"
        ))
    })
}
