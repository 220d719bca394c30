//! The order events' contract, `asyncapi.yaml`, as the tests hold every event to it: the message
//! named by an event's `detail-type`, its payload's JSON Schema (which takes the order's schema
//! from `openapi.yaml`, what `GET` answers), and a validator of exactly the keywords the two
//! documents use ([`KEYWORDS`]: a schema with any other is refused, never half-checked; a repo
//! test walks every schema of the contract for them). `make test` also lints the document with
//! the AsyncAPI parser (`tests/contract/asyncapi.mjs`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::repo::read;

/// The keywords the validator checks.
pub const CHECKED: &[&str] = &[
    "$ref",
    "allOf",
    "oneOf",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
];
/// The annotations it reads past (they constrain nothing).
pub const ANNOTATIONS: &[&str] = &["description", "title", "examples", "default"];
/// Every keyword a schema of the contract may use.
pub fn keywords() -> impl Iterator<Item = &'static str> {
    CHECKED.iter().chain(ANNOTATIONS).copied()
}
/// The formats `format` checks.
pub const FORMATS: &[&str] = &["date-time", "uuid"];

/// `asyncapi.yaml`, with the documents it refers to.
pub struct Contract {
    /// By file name: `asyncapi.yaml`, `openapi.yaml`.
    documents: BTreeMap<String, Value>,
}

impl Default for Contract {
    fn default() -> Self {
        Self::load()
    }
}

impl Contract {
    pub const DOCUMENT: &'static str = "asyncapi.yaml";

    /// The repository's `asyncapi.yaml` and `openapi.yaml`.
    pub fn load() -> Self {
        let mut documents = BTreeMap::new();
        for name in [Self::DOCUMENT, "openapi.yaml"] {
            let document: Value =
                serde_yaml::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            documents.insert(name.to_owned(), document);
        }
        Self { documents }
    }

    pub fn document(&self) -> &Value {
        &self.documents[Self::DOCUMENT]
    }

    /// The messages (`components.messages`), by name: the events' `detail-type`s.
    pub fn messages(&self) -> Vec<String> {
        let messages = self.document()["components"]["messages"].as_object();
        messages
            .into_iter()
            .flatten()
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The payload schema of `message`, with the document it is in.
    pub fn payload(&self, message: &str) -> (&str, &Value) {
        let payload = &self.document()["components"]["messages"][message]["payload"];
        assert!(
            !payload.is_null(),
            "{}: no message {message}",
            Self::DOCUMENT
        );
        (Self::DOCUMENT, payload)
    }

    /// Every schema the contract holds or refers to (the payloads, and what they refer to), each
    /// with where it is: for checking that each uses only [`keywords`].
    pub fn schemas(&self) -> Vec<(String, Value)> {
        let mut seen = BTreeMap::new();
        for message in self.messages() {
            let (document, payload) = self.payload(&message);
            self.collect(document, payload, &format!("{message}.payload"), &mut seen);
        }
        seen.into_iter().collect()
    }

    fn collect(
        &self,
        document: &str,
        schema: &Value,
        at: &str,
        seen: &mut BTreeMap<String, Value>,
    ) {
        if seen.contains_key(at) {
            return;
        }
        seen.insert(at.to_owned(), schema.clone());
        let Some(map) = schema.as_object() else {
            return;
        };
        if let Some(Value::String(reference)) = map.get("$ref") {
            let (document, target) = self.resolve(document, reference);
            let place = format!(
                "{document}{}",
                reference.split_once('#').map_or("", |(_, p)| p)
            );
            self.collect(&document, &target, &format!("{place}#"), seen);
        }
        for (key, value) in map {
            match key.as_str() {
                "properties" => {
                    for (name, property) in value.as_object().into_iter().flatten() {
                        self.collect(document, property, &format!("{at}/{name}"), seen);
                    }
                }
                "allOf" | "oneOf" => {
                    for (i, branch) in value.as_array().into_iter().flatten().enumerate() {
                        self.collect(document, branch, &format!("{at}/{key}[{i}]"), seen);
                    }
                }
                "items" | "additionalProperties" if value.is_object() => {
                    self.collect(document, value, &format!("{at}/{key}"), seen);
                }
                _ => {}
            }
        }
    }

    /// The schema a `$ref` names from `document`, and the document it is in.
    fn resolve(&self, document: &str, reference: &str) -> (String, Value) {
        let (file, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        let file = if file.is_empty() { document } else { file };
        let target = self.documents.get(file).unwrap_or_else(|| {
            panic!("{document}: $ref {reference}: the contract holds no {file}")
        });
        let found = target
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{document}: $ref {reference} names nothing"));
        (file.to_owned(), found.clone())
    }

    /// Checks `event` (as a rule's target receives it) against the message its `detail-type`
    /// names: every violation, with where it is.
    pub fn check(&self, event: &Value) -> Result<(), Vec<String>> {
        let Some(name) = event["detail-type"].as_str() else {
            return Err(vec!["detail-type: missing".to_owned()]);
        };
        if !self.messages().iter().any(|m| m == name) {
            return Err(vec![format!(
                "detail-type: {name} is no message of the contract"
            )]);
        }
        let (document, payload) = self.payload(name);
        let mut errors = Vec::new();
        self.validate(document, payload, event, "$", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Panics unless `event` is valid against its message.
    pub fn assert_valid(&self, event: &Value) {
        if let Err(errors) = self.check(event) {
            panic!(
                "an event against {}: {errors:#?}\n{event:#}",
                Self::DOCUMENT
            );
        }
    }

    fn validate(
        &self,
        document: &str,
        schema: &Value,
        value: &Value,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let Some(schema) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                errors.push(format!("{at}: not allowed"));
            }
            return;
        };
        macro_rules! fail {
            ($why:expr) => {
                errors.push(format!("{at}: {}", $why))
            };
        }
        for (keyword, rule) in schema {
            match keyword.as_str() {
                "$ref" => {
                    let (document, target) =
                        self.resolve(document, rule.as_str().expect("$ref is text"));
                    self.validate(&document, &target, value, at, errors);
                }
                "allOf" => {
                    for branch in rule.as_array().expect("allOf is a list") {
                        self.validate(document, branch, value, at, errors);
                    }
                }
                "oneOf" => {
                    let matching = rule
                        .as_array()
                        .expect("oneOf is a list")
                        .iter()
                        .filter(|branch| {
                            let mut inner = Vec::new();
                            self.validate(document, branch, value, at, &mut inner);
                            inner.is_empty()
                        })
                        .count();
                    if matching != 1 {
                        fail!(format!("matches {matching} of oneOf's schemas, not one"));
                    }
                }
                "type" => {
                    let types: Vec<&str> = match rule {
                        Value::String(one) => vec![one.as_str()],
                        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                        other => panic!("type {other}"),
                    };
                    if !types.iter().any(|t| is_type(value, t)) {
                        fail!(format!("{value} is not of type {types:?}"));
                    }
                }
                "enum" => {
                    if !rule.as_array().expect("enum is a list").contains(value) {
                        fail!(format!("{value} is not one of {rule}"));
                    }
                }
                "const" => {
                    if !same(rule, value) {
                        fail!(format!("{value} is not {rule}"));
                    }
                }
                "properties" => {
                    let (Some(object), Some(properties)) = (value.as_object(), rule.as_object())
                    else {
                        continue;
                    };
                    for (name, property) in properties {
                        if let Some(member) = object.get(name) {
                            self.validate(
                                document,
                                property,
                                member,
                                &format!("{at}.{name}"),
                                errors,
                            );
                        }
                    }
                }
                "required" => {
                    let Some(object) = value.as_object() else {
                        continue;
                    };
                    for name in rule.as_array().expect("required is a list") {
                        let name = name.as_str().expect("a member's name");
                        if !object.contains_key(name) {
                            fail!(format!("{name} is missing"));
                        }
                    }
                }
                "additionalProperties" => {
                    let Some(object) = value.as_object() else {
                        continue;
                    };
                    let listed = schema.get("properties").and_then(Value::as_object);
                    for (name, member) in object {
                        if listed.is_some_and(|l| l.contains_key(name)) {
                            continue;
                        }
                        match rule {
                            Value::Bool(true) => {}
                            Value::Bool(false) => fail!(format!("{name} is not allowed")),
                            other => self.validate(
                                document,
                                other,
                                member,
                                &format!("{at}.{name}"),
                                errors,
                            ),
                        }
                    }
                }
                "items" => {
                    for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                        self.validate(document, rule, item, &format!("{at}[{i}]"), errors);
                    }
                }
                "minItems" | "maxItems" => {
                    let Some(items) = value.as_array() else {
                        continue;
                    };
                    let bound = rule.as_u64().expect("a count") as usize;
                    let ok = if keyword == "minItems" {
                        items.len() >= bound
                    } else {
                        items.len() <= bound
                    };
                    if !ok {
                        fail!(format!("{} items: {keyword} {bound}", items.len()));
                    }
                }
                "minimum" | "maximum" => {
                    let (Some(n), Some(bound)) = (value.as_f64(), rule.as_f64()) else {
                        continue;
                    };
                    let ok = if keyword == "minimum" {
                        n >= bound
                    } else {
                        n <= bound
                    };
                    if !ok {
                        fail!(format!("{value}: {keyword} {rule}"));
                    }
                }
                "minLength" | "maxLength" => {
                    let Some(text) = value.as_str() else { continue };
                    let (length, bound) = (
                        text.chars().count(),
                        rule.as_u64().expect("a length") as usize,
                    );
                    let ok = if keyword == "minLength" {
                        length >= bound
                    } else {
                        length <= bound
                    };
                    if !ok {
                        fail!(format!("{value}: {keyword} {bound}"));
                    }
                }
                "pattern" => {
                    let Some(text) = value.as_str() else { continue };
                    let pattern = rule.as_str().expect("a pattern is text");
                    let regex = regex_lite::Regex::new(pattern)
                        .unwrap_or_else(|e| panic!("{at}: pattern {pattern}: {e}"));
                    if !regex.is_match(text) {
                        fail!(format!("{value} does not match {pattern}"));
                    }
                }
                "format" => {
                    let Some(text) = value.as_str() else { continue };
                    let ok = match rule.as_str().expect("a format is text") {
                        "date-time" => time::OffsetDateTime::parse(
                            text,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .is_ok(),
                        "uuid" => uuid::Uuid::parse_str(text).is_ok() && text.len() == 36,
                        other => panic!("{at}: format {other} is not one the validator checks"),
                    };
                    if !ok {
                        fail!(format!("{value} is not a {rule}"));
                    }
                }
                other if ANNOTATIONS.contains(&other) => {}
                other => panic!("{at}: the schema keyword {other} is not one the validator checks"),
            }
        }
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        other => panic!("type {other} is not a JSON Schema type"),
    }
}

/// JSON equality, numbers by value (`0` and `0.0` alike).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}
