//! Label selectors (equality and set-based) and field selectors.
//!
//! This module owns the two query languages a Kubernetes list or watch can filter with:
//! [`LabelSelector`] (the `labelSelector` query parameter and the `metav1.LabelSelector` object
//! embedded in Deployments, Services' consumers, NetworkPolicies, ...) and [`FieldSelector`]
//! (the `fieldSelector` query parameter, restricted per kind to the fields Kubernetes indexes).
//! Both share [`SelectorError`], whose messages name the offending input so they can be
//! returned to clients verbatim in a `400 Bad Request` Status.

pub(crate) mod field;
mod label;

pub use field::{field_value, FieldOperator, FieldRequirement, FieldSelector};
pub use label::{LabelSelector, Operator, Requirement};

/// Why a label or field selector was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A `labelSelector` string does not follow the selector grammar.
    #[error("unable to parse requirement in label selector {selector:?}: {message}")]
    Syntax {
        /// The whole selector string as given.
        selector: String,
        /// What was found and what was expected instead.
        message: String,
    },
    /// A label key is not a valid qualified name (`[prefix/]name`).
    #[error("invalid label key {key:?}: {reason}")]
    InvalidLabelKey {
        /// The rejected key.
        key: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A label value is not a valid label value.
    #[error("invalid label value {value:?} for key {key:?}: {reason}")]
    InvalidLabelValue {
        /// The key the value was given for.
        key: String,
        /// The rejected value.
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A requirement has the wrong number or kind of values for its operator.
    #[error("invalid requirement for label key {key:?}: {reason}")]
    InvalidRequirement {
        /// The key of the requirement.
        key: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A `matchExpressions` entry names an operator Kubernetes does not know.
    #[error("{0:?} is not a valid label selector operator")]
    InvalidOperator(String),
    /// A `metav1.LabelSelector` JSON object has the wrong shape.
    #[error("invalid label selector object: {0}")]
    InvalidSelectorObject(String),
    /// A `fieldSelector` term has no `=`, `==` or `!=` operator.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidFieldTerm {
        /// The whole selector string as given.
        selector: String,
        /// The term that could not be split.
        term: String,
    },
    /// A field selector value contains a backslash escape other than `\\`, `\,` or `\=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A field selector value contains an unescaped `,` or `=`.
    #[error("invalid field selector: unescaped character in value: {0}")]
    UnescapedCharacter(char),
    /// The field is not selectable for the kind being listed.
    #[error("field label not supported: {0}")]
    FieldNotSupported(String),
}
