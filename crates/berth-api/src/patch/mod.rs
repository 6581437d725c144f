//! Patch engines: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes strategic
//! merge patch with the directives kubectl sends.

pub mod apply;
mod json;
mod merge;
mod strategic;
pub mod strategy;

pub use json::json_patch;
pub use merge::json_merge;
pub use strategic::strategic_merge;

/// Why a patch could not be applied. The messages are meant to reach the API client as-is.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The body of a JSON patch is not an array of well-formed RFC 6902 operations.
    #[error("invalid JSON patch: {0}")]
    InvalidJsonPatch(String),
    /// A `test` operation found a different value (or none) at `path`.
    #[error("test operation failed at {path}")]
    TestFailed {
        /// The JSON pointer the operation tested.
        path: String,
    },
    /// A JSON patch operation could not be carried out, e.g. its path does not exist.
    #[error("JSON patch operation {index} failed at {path}: {reason}")]
    OperationFailed {
        /// Position of the failing operation in the patch array.
        index: usize,
        /// The operation's JSON pointer.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A strategic merge patch is malformed or does not fit the object it is applied to.
    #[error("strategic merge patch: {reason} (at {path})")]
    StrategicMerge {
        /// JSON pointer of the patch value at fault (`/` for the whole patch).
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// How a JSON value's type is named in error messages.
fn kind_of(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
