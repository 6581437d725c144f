//! The query parameters of Kubernetes API requests, parsed once with clear errors.

use crate::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    /// The server default: unknown and duplicate fields are reported as warnings.
    #[default]
    Warn,
    Strict,
}

#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Every parameter as sent, for subresources with parameters of their own (`pods/log`).
    pub pairs: Vec<(String, String)>,
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    pub field_manager: Option<String>,
    pub force: bool,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: usize,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub allow_watch_bookmarks: bool,
    pub send_initial_events: bool,
    pub watch: bool,
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
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

pub fn parse_rv(rv: &str) -> Result<i64, ApiError> {
    rv.parse::<i64>().ok().filter(|r| *r > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid resource version {rv:?}: expected a positive integer"
        ))
    })
}
