//! Label selectors: parsing the `labelSelector` query string, converting `metav1.LabelSelector`
//! objects, matching label sets, and printing the canonical string form.
//!
//! The grammar, validation rules, error cases and canonical form follow
//! `k8s.io/apimachinery/pkg/labels/selector.go`, because clients (kubectl, client-go informers,
//! controllers) send selectors in that syntax and compare the printed form.

use std::fmt;

use serde_json::{Map, Value};

use super::SelectorError;

/// Longest allowed label value and name part of a label key.
const MAX_NAME_LEN: usize = 63;
/// Longest allowed DNS subdomain (the optional prefix of a label key).
const MAX_SUBDOMAIN_LEN: usize = 253;

/// How a [`Requirement`] relates a label to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key in (a,b)`: the label exists and its value is one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or its value is none of the values.
    NotIn,
    /// `key=a`.
    Equals,
    /// `key==a`; kept apart from `Equals` only so the canonical form round-trips.
    DoubleEquals,
    /// `key!=a`: the label is absent or has another value.
    NotEquals,
    /// `key`: the label exists.
    Exists,
    /// `!key`: the label does not exist.
    DoesNotExist,
    /// `key>5`: the label exists and is an integer greater than the value.
    GreaterThan,
    /// `key<5`: the label exists and is an integer less than the value.
    LessThan,
}

/// One term of a label selector; a selector matches when all its requirements do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and deduplicated, as Kubernetes stores them in a string set.
    values: Vec<String>,
}

impl Requirement {
    /// Build a requirement, applying the same checks as Kubernetes' `labels.NewRequirement`.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        validate_label_key(key)?;
        let count = values.len();
        let bad = |reason: &str| SelectorError::InvalidRequirement {
            key: key.to_string(),
            reason: reason.to_string(),
        };
        match operator {
            Operator::In | Operator::NotIn if count == 0 => {
                return Err(bad(
                    "for 'in', 'notin' operators, values set can't be empty",
                ));
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if count != 1 => {
                return Err(bad("exact-match compatibility requires one single value"));
            }
            Operator::Exists | Operator::DoesNotExist if count != 0 => {
                return Err(bad(
                    "values set must be empty for exists and does not exist",
                ));
            }
            Operator::GreaterThan | Operator::LessThan => {
                if count != 1 {
                    return Err(bad(
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                if values.iter().any(|v| v.parse::<i64>().is_err()) {
                    return Err(bad(
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
            _ => {}
        }
        for value in &values {
            validate_label_value(key, value)?;
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// The label key this requirement constrains.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and without duplicates.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label set satisfies this requirement, by the rule typed selectors share
    /// ([`crate::matching::labels::Operator`]).
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        use crate::matching::labels::Operator as Rule;
        let number = || self.values.first().and_then(|v| v.parse::<i64>().ok());
        let rule = match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => Rule::In,
            Operator::NotIn | Operator::NotEquals => Rule::NotIn,
            Operator::Exists => Rule::Exists,
            Operator::DoesNotExist => Rule::DoesNotExist,
            // `new` checked the operand is an integer.
            Operator::GreaterThan => match number() {
                Some(n) => Rule::Gt(n),
                None => return false,
            },
            Operator::LessThan => match number() {
                Some(n) => Rule::Lt(n),
                None => return false,
            },
        };
        rule.admits(&self.values, labels.get(&self.key).map(label_text))
    }
}

/// Labels are strings; anything else (never valid in a stored object) compares as "".
fn label_text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        f.write_str(&self.values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A conjunction of label requirements. The empty selector matches every object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    /// Sorted by key (stably), as Kubernetes does, so the printed form is canonical.
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parse the `labelSelector` query string syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
    /// `a notin (x)`, `a`, `!a` (and `a>1`, `a<1`), comma-separated (AND); whitespace between
    /// tokens is ignored; the empty string selects everything.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let tokens = lex(s);
        let mut parser = Parser {
            selector: s,
            tokens,
            pos: 0,
        };
        let mut requirements = parser.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// Convert a `metav1.LabelSelector` JSON object (`matchLabels`, `matchExpressions` with
    /// `In`/`NotIn`/`Exists`/`DoesNotExist`). `null`, `{}` and an absent selector all match
    /// everything here; callers for which a missing selector means "nothing" must check first.
    pub fn from_json(v: &Value) -> Result<Self, SelectorError> {
        let obj = match v {
            Value::Null => return Ok(Self::everything()),
            Value::Object(obj) => obj,
            other => {
                return Err(SelectorError::InvalidSelectorObject(format!(
                    "expected an object, found {other}"
                )))
            }
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let Some(value) = value.as_str() else {
                        return Err(SelectorError::InvalidSelectorObject(format!(
                            "matchLabels[{key:?}] must be a string, found {value}"
                        )));
                    };
                    requirements.push(Requirement::new(
                        key,
                        Operator::Equals,
                        vec![value.to_string()],
                    )?);
                }
            }
            Some(other) => {
                return Err(SelectorError::InvalidSelectorObject(format!(
                    "matchLabels must be an object, found {other}"
                )))
            }
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for expr in exprs {
                    requirements.push(expression_requirement(expr)?);
                }
            }
            Some(other) => {
                return Err(SelectorError::InvalidSelectorObject(format!(
                    "matchExpressions must be an array, found {other}"
                )))
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// A selector requiring every `key: value` of a plain label map (a Service's or
    /// ReplicationController's `selector`), validated like `matchLabels`.
    pub fn from_map(labels: &Map<String, Value>) -> Result<Self, SelectorError> {
        Self::from_json(&Value::Object(Map::from_iter([(
            "matchLabels".to_string(),
            Value::Object(labels.clone()),
        )])))
    }

    /// Whether a label map (string values) satisfies every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Match against `obj.metadata.labels`; an object without labels has an empty label set.
    pub fn matches_object(&self, obj: &Value) -> bool {
        match obj.pointer("/metadata/labels").and_then(Value::as_object) {
            Some(labels) => self.matches(labels),
            None => self.matches(&Map::new()),
        }
    }

    /// True for the selector that matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// One `matchExpressions` entry, as `metav1.LabelSelectorAsSelector` converts it.
fn expression_requirement(expr: &Value) -> Result<Requirement, SelectorError> {
    let shape = |msg: String| SelectorError::InvalidSelectorObject(msg);
    let Some(expr) = expr.as_object() else {
        return Err(shape(format!(
            "matchExpressions entries must be objects, found {expr}"
        )));
    };
    let key = match expr.get("key") {
        Some(Value::String(k)) => k.as_str(),
        None | Some(Value::Null) => "",
        Some(other) => return Err(shape(format!("key must be a string, found {other}"))),
    };
    let operator = match expr.get("operator") {
        Some(Value::String(op)) => op.as_str(),
        None | Some(Value::Null) => "",
        Some(other) => return Err(shape(format!("operator must be a string, found {other}"))),
    };
    // Only the set-based operators exist in the object form; Gt/Lt are node-affinity only.
    let operator = match operator {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => return Err(SelectorError::InvalidOperator(other.to_string())),
    };
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| shape(format!("values must be strings, found {v}")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(shape(format!("values must be an array, found {other}"))),
    };
    Requirement::new(key, operator, values)
}

/// Validate a label key as a Kubernetes qualified name: `[dns-subdomain/]name`.
pub(crate) fn validate_label_key(key: &str) -> Result<(), SelectorError> {
    let bad = |reason: String| SelectorError::InvalidLabelKey {
        key: key.to_string(),
        reason,
    };
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                return Err(bad("prefix part must be non-empty".to_string()));
            }
            if let Err(reason) = check_dns_subdomain(prefix) {
                return Err(bad(format!("prefix part {reason}")));
            }
            *name
        }
        _ => {
            return Err(bad(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', \
                 with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
                    .to_string(),
            ))
        }
    };
    if name.is_empty() {
        return Err(bad("name part must be non-empty".to_string()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad(format!(
            "name part must be no more than {MAX_NAME_LEN} characters"
        )));
    }
    if !is_qualified_name_part(name) {
        return Err(bad(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must \
             start and end with an alphanumeric character (e.g. 'MyName', 'my.name', '123-abc')"
                .to_string(),
        ));
    }
    Ok(())
}

/// Validate a label value: empty, or up to 63 characters of `[A-Za-z0-9._-]` with
/// alphanumeric ends.
pub(crate) fn validate_label_value(key: &str, value: &str) -> Result<(), SelectorError> {
    let bad = |reason: String| SelectorError::InvalidLabelValue {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    };
    if value.len() > MAX_NAME_LEN {
        return Err(bad(format!(
            "must be no more than {MAX_NAME_LEN} characters"
        )));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        return Err(bad(
            "a valid label must be an empty string or consist of alphanumeric characters, \
             '-', '_' or '.', and must start and end with an alphanumeric character"
                .to_string(),
        ));
    }
    Ok(())
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// RFC 1123 subdomain: dot-separated lowercase labels with alphanumeric ends, ≤ 253 chars.
fn check_dns_subdomain(s: &str) -> Result<(), String> {
    if s.len() > MAX_SUBDOMAIN_LEN {
        return Err(format!(
            "must be no more than {MAX_SUBDOMAIN_LEN} characters"
        ));
    }
    let label_ok = |label: &str| {
        let b = label.as_bytes();
        match (b.first(), b.last()) {
            (Some(first), Some(last)) => {
                is_lower_alnum(*first)
                    && is_lower_alnum(*last)
                    && b.iter().all(|c| is_lower_alnum(*c) || *c == b'-')
            }
            _ => false,
        }
    };
    if s.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
             characters, '-' or '.', and must start and end with an alphanumeric character"
                .to_string(),
        )
    }
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Lexer tokens. `in`/`notin` are keywords only in operator position; the parser reads
/// them back as identifiers where a key or value is expected, as Kubernetes does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    In,
    NotIn,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    OpenParen,
    CloseParen,
    Comma,
    End,
}

impl Token {
    /// The text shown in "found '...'" messages.
    fn literal(&self) -> String {
        match self {
            Token::Ident(s) => s.clone(),
            Token::In => "in".into(),
            Token::NotIn => "notin".into(),
            Token::Bang => "!".into(),
            Token::Equals => "=".into(),
            Token::DoubleEquals => "==".into(),
            Token::NotEquals => "!=".into(),
            Token::GreaterThan => ">".into(),
            Token::LessThan => "<".into(),
            Token::OpenParen => "(".into(),
            Token::CloseParen => ")".into(),
            Token::Comma => ",".into(),
            Token::End => "end of string".into(),
        }
    }

    /// Keywords become plain identifiers where a key or value is expected.
    fn as_value(&self) -> Token {
        match self {
            Token::In => Token::Ident("in".into()),
            Token::NotIn => Token::Ident("notin".into()),
            other => other.clone(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn lex(s: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            // Two-character operators are matched greedily, like the Kubernetes lexer.
            let two = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                if chars.peek() == Some(&'=') {
                    chars.next();
                    true
                } else {
                    false
                }
            };
            let tok = match c {
                '=' if two(&mut chars) => Token::DoubleEquals,
                '=' => Token::Equals,
                '!' if two(&mut chars) => Token::NotEquals,
                '!' => Token::Bang,
                '(' => Token::OpenParen,
                ')' => Token::CloseParen,
                ',' => Token::Comma,
                '>' => Token::GreaterThan,
                _ => Token::LessThan,
            };
            tokens.push(tok);
            continue;
        }
        let mut ident = String::new();
        while let Some(&c) = chars.peek() {
            if is_special(c) || matches!(c, ' ' | '\t' | '\r' | '\n') {
                break;
            }
            ident.push(c);
            chars.next();
        }
        tokens.push(match ident.as_str() {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Ident(ident),
        });
    }
    tokens.push(Token::End);
    tokens
}

struct Parser<'a> {
    selector: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    /// The current token read as a key or value (keywords demoted to identifiers).
    fn peek_value(&self) -> Token {
        self.tokens
            .get(self.pos)
            .map_or(Token::End, Token::as_value)
    }

    fn peek_raw(&self) -> Token {
        self.tokens.get(self.pos).cloned().unwrap_or(Token::End)
    }

    fn next_value(&mut self) -> Token {
        let t = self.peek_value();
        self.pos += 1;
        t
    }

    fn next_raw(&mut self) -> Token {
        let t = self.peek_raw();
        self.pos += 1;
        t
    }

    fn syntax(&self, message: String) -> SelectorError {
        SelectorError::Syntax {
            selector: self.selector.to_string(),
            message,
        }
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            match self.peek_value() {
                Token::Ident(_) | Token::Bang => {
                    requirements.push(self.parse_requirement()?);
                    match self.next_value() {
                        Token::End => return Ok(requirements),
                        Token::Comma => match self.peek_value() {
                            Token::Ident(_) | Token::Bang => {}
                            other => {
                                return Err(self.syntax(format!(
                                    "found '{}', expected: identifier after ','",
                                    other.literal()
                                )))
                            }
                        },
                        other => {
                            return Err(self.syntax(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                other.literal()
                            )))
                        }
                    }
                }
                Token::End => return Ok(requirements),
                other => {
                    return Err(self.syntax(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        other.literal()
                    )))
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut tok = self.next_value();
        let negated = tok == Token::Bang;
        if negated {
            tok = self.next_value();
        }
        let Token::Ident(key) = tok else {
            return Err(self.syntax(format!("found '{}', expected: identifier", tok.literal())));
        };
        validate_label_key(&key)?;
        if negated {
            // `!key` is unary; anything after it is caught by the caller as a missing ','.
            return Requirement::new(&key, Operator::DoesNotExist, Vec::new());
        }
        if matches!(self.peek_value(), Token::End | Token::Comma) {
            return Requirement::new(&key, Operator::Exists, Vec::new());
        }
        let operator = match self.next_raw() {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            other => {
                return Err(self.syntax(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    other.literal()
                )))
            }
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_set()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, operator, values)
    }

    /// `( v1, v2 )`; empty elements (`()`, `(a,)`, `(,a)`) stand for the empty value, as in
    /// Kubernetes.
    fn parse_set(&mut self) -> Result<Vec<String>, SelectorError> {
        let open = self.next_value();
        if open != Token::OpenParen {
            return Err(self.syntax(format!("found '{}', expected: '('", open.literal())));
        }
        let mut values = Vec::new();
        // Whether the previous token was a value, so `(a b)` is rejected.
        let mut after_value = false;
        loop {
            match self.next_value() {
                Token::Ident(v) if !after_value => {
                    values.push(v);
                    after_value = true;
                }
                Token::Comma => {
                    if !after_value {
                        values.push(String::new());
                    }
                    after_value = false;
                }
                Token::CloseParen => {
                    if !after_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                other => {
                    let expected = if after_value {
                        "',' or ')'"
                    } else {
                        "',', ')' or identifier"
                    };
                    return Err(
                        self.syntax(format!("found '{}', expected: {expected}", other.literal()))
                    );
                }
            }
        }
    }

    /// The single value after `=`, `==`, `!=`, `>` or `<`; nothing at all means the empty value.
    fn parse_exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.peek_value() {
            Token::End | Token::Comma => Ok(vec![String::new()]),
            Token::Ident(v) => {
                self.pos += 1;
                Ok(vec![v])
            }
            other => Err(self.syntax(format!("found '{}', expected: identifier", other.literal()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s = sel("");
        assert!(s.is_empty());
        assert!(s.matches(&Map::new()));
        assert!(sel("   ").is_empty());
        assert_eq!(s.to_string(), "");
    }

    #[test]
    fn equality_operators() {
        let l = labels(json!({"app": "web", "tier": "front"}));
        assert!(sel("app=web").matches(&l));
        assert!(sel("app==web").matches(&l));
        assert!(!sel("app=db").matches(&l));
        assert!(sel("app!=db").matches(&l));
        assert!(!sel("app!=web").matches(&l));
        // Absent labels satisfy != and notin.
        assert!(sel("env!=prod").matches(&l));
        assert!(sel("env notin (prod)").matches(&l));
        assert!(!sel("env=prod").matches(&l));
        assert!(sel("app=web,tier=front").matches(&l));
        assert!(!sel("app=web,tier=back").matches(&l));
    }

    #[test]
    fn set_and_existence_operators() {
        let l = labels(json!({"app": "web", "env": "prod"}));
        assert!(sel("env in (prod, staging)").matches(&l));
        assert!(!sel("env in (dev)").matches(&l));
        assert!(sel("env notin (dev,qa)").matches(&l));
        assert!(!sel("env notin (prod)").matches(&l));
        assert!(sel("app").matches(&l));
        assert!(!sel("missing").matches(&l));
        assert!(sel("!missing").matches(&l));
        assert!(!sel("!app").matches(&l));
        assert!(sel("  app ,  env in(prod) ,!x ").matches(&l));
    }

    #[test]
    fn numeric_comparisons() {
        let l = labels(json!({"replicas": "5"}));
        assert!(sel("replicas>3").matches(&l));
        assert!(!sel("replicas>5").matches(&l));
        assert!(sel("replicas<10").matches(&l));
        assert!(!sel("other<10").matches(&l));
        assert!(LabelSelector::parse("replicas>abc").is_err());
    }

    #[test]
    fn keywords_are_values_outside_operator_position() {
        let l = labels(json!({"in": "notin"}));
        assert!(sel("in=notin").matches(&l));
        assert!(sel("x in (in, notin)").matches(&labels(json!({"x": "in"}))));
    }

    #[test]
    fn empty_values() {
        let l = labels(json!({"a": ""}));
        assert!(sel("a=").matches(&l));
        assert!(sel("a in ()").matches(&l));
        assert!(sel("a in (,x)").matches(&l));
        assert!(!sel("a=").matches(&labels(json!({"a": "x"}))));
    }

    #[test]
    fn canonical_form_sorts_keys_and_values() {
        assert_eq!(
            sel("z=1, a in (y, x, y), !m, k, b==2, c!=3").to_string(),
            "a in (x,y),b==2,c!=3,k,!m,z=1"
        );
        assert_eq!(sel("n>5").to_string(), "n>5");
        // Round trip.
        let s = sel("env notin (a,b),tier");
        assert_eq!(sel(&s.to_string()), s);
    }

    #[test]
    fn bad_syntax_is_rejected_with_the_input_named() {
        for bad in [
            "a=b=c",
            "a in b",
            "a in (b",
            "(a)",
            "a,",
            ",a",
            "a b",
            "a in (b c)",
            "!a=b",
            "a=(b)",
            "=b",
            "a!b",
        ] {
            let err = LabelSelector::parse(bad).expect_err(bad);
            assert!(
                err.to_string().contains("unable to parse")
                    || matches!(err, SelectorError::InvalidLabelKey { .. }),
                "{bad}: {err}"
            );
        }
        let err = LabelSelector::parse("a in b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to parse requirement in label selector \"a in b\": found 'b', expected: '('"
        );
    }

    #[test]
    fn keys_and_values_are_validated() {
        let long = "a".repeat(64);
        for bad in [
            format!("{long}=x"),
            "-a=x".to_string(),
            "a/b/c=x".to_string(),
            "/a=x".to_string(),
            "Example.com/a=x".to_string(),
            "a=-x".to_string(),
            format!("a={long}"),
            "a=x y".to_string(),
        ] {
            assert!(LabelSelector::parse(&bad).is_err(), "{bad} accepted");
        }
        assert!(LabelSelector::parse("example.com/My_name-1.x=Val.1_b").is_ok());
        let err = LabelSelector::parse("a=-x").unwrap_err();
        assert!(matches!(err, SelectorError::InvalidLabelValue { ref value, .. } if value == "-x"));
    }

    #[test]
    fn from_json_converts_label_selector_objects() {
        let s = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "canary"]},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert_eq!(s.to_string(), "app=web,env in (canary,prod),!legacy");
        assert!(s.matches(&labels(json!({"app": "web", "env": "prod"}))));
        assert!(!s.matches(&labels(json!({"app": "web", "env": "prod", "legacy": "1"}))));
        assert!(LabelSelector::from_json(&json!({})).unwrap().is_empty());
        assert!(LabelSelector::from_json(&Value::Null).unwrap().is_empty());
    }

    #[test]
    fn from_json_rejects_bad_objects() {
        let err = LabelSelector::from_json(&json!({"matchExpressions": [
            {"key": "a", "operator": "Gt", "values": ["1"]}
        ]}))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"Gt\" is not a valid label selector operator"
        );
        assert!(LabelSelector::from_json(&json!({"matchExpressions": [
            {"key": "a", "operator": "In", "values": []}
        ]}))
        .is_err());
        assert!(LabelSelector::from_json(&json!({"matchExpressions": [
            {"key": "a", "operator": "Exists", "values": ["x"]}
        ]}))
        .is_err());
        assert!(LabelSelector::from_json(&json!({"matchLabels": {"a": 1}})).is_err());
        assert!(LabelSelector::from_json(&json!({"matchLabels": {"a b": "x"}})).is_err());
        assert!(LabelSelector::from_json(&json!("app=web")).is_err());
    }

    #[test]
    fn matches_object_uses_metadata_labels() {
        let s = sel("app=web");
        assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert!(!s.matches_object(&json!({"metadata": {}})));
        assert!(sel("!app").matches_object(&json!({})));
    }

    #[test]
    fn from_map_requires_every_pair() {
        let s = LabelSelector::from_map(&labels(json!({"b": "2", "a": "1"}))).unwrap();
        assert_eq!(s.to_string(), "a=1,b=2");
        assert!(s.matches(&labels(json!({"a": "1", "b": "2", "c": "3"}))));
        assert!(!s.matches(&labels(json!({"a": "1"}))));
    }
}
