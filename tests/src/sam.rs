//! `template.yaml` rendered for the SAM CLI's local emulation (`sam local invoke`,
//! `sam local start-api`; `make sam-local`, `make sam-invoke`, `scripts/test-sam.sh`), the way
//! CloudFormation would see it for one set of parameters, plus what only a local run needs.
//!
//! The deployed template stays as it is. SAM CLI cannot read it as it is for `start-api`: a
//! route's `AuthorizerId` is an `!If` on the authentication mode, which SAM CLI's route linking
//! takes for an authorizer's name (and fails on), and it does not emulate JWT authorizers at
//! all. So the rendering, for the parameters given:
//!
//! - sets each given parameter's `Default` (SAM CLI then needs no `--parameter-overrides`),
//!   evaluates every condition, resolves every `Fn::If` (`AWS::NoValue` removes its key), drops
//!   the resources and outputs whose condition is false, and leaves no `Conditions` or `Rules`;
//! - in `jwt` mode, makes the cart routes `AuthorizationType: NONE` and drops the JWT authorizer:
//!   the functions verify bearer tokens themselves against `LOCAL_JWKS_FILE`, as under `make dev`
//!   (in `iam` mode nothing changes: SAM CLI does not check IAM, and `ALLOW_UNSIGNED_REQUESTS`
//!   lets the functions serve requests without an IAM identity);
//! - points every function's `CodeUri` at `<code_dir>/<binary>` (a folder holding its
//!   `bootstrap`) instead of its crate, and drops its `Metadata` (the `makefile` build of
//!   `sam build`, which a local run skips);
//! - adds the given variables to every function's environment (`Globals`): what exists only
//!   locally, such as `AWS_ENDPOINT_URL_DYNAMODB`;
//! - writes CloudFormation's long form (`{"Ref": ..}`, `{"Fn::GetAtt": [..]}`) as JSON, in the
//!   template's own order: SAM CLI picks how it reads the routes by the first resource it meets (the HTTP API,
//!   `AWS::ApiGatewayV2::Api`, read as CloudFormation routes; a function first would make it look
//!   for SAM `Api` events, and find none).
//!
//! Everything else (routes, integrations, functions, handlers, environment, tables) is the
//! template's own, so a local run exercises the template's wiring.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value as Yaml};

/// What to render the template for.
#[derive(Clone, Debug, Default)]
pub struct Render {
    /// Parameter values, by name; the others keep their defaults.
    pub parameters: BTreeMap<String, String>,
    /// The folder holding one folder per function binary, each with its `bootstrap`.
    pub code_dir: String,
    /// Variables added to every function's environment.
    pub environment: BTreeMap<String, String>,
}

/// The template, rendered for `render`, as JSON (which SAM CLI reads as it reads YAML, and where
/// no scalar can be taken for another type: `2010-09-09` stays a string), or what in it the
/// rendering cannot evaluate.
pub fn render(template: &str, render: &Render) -> Result<String, String> {
    let yaml: Yaml = serde_yaml::from_str(template).map_err(|e| format!("not YAML: {e}"))?;
    let rendered = render_value(&yaml, render)?;
    // Serialized from the YAML value, entries in its order (a JSON map would sort them).
    serde_json::to_string_pretty(&rendered).map_err(|e| e.to_string())
}

/// [`render`], as a value.
pub fn render_value(template: &Yaml, render: &Render) -> Result<Yaml, String> {
    let mut doc = long_form(template)?;
    let root = doc
        .as_mapping_mut()
        .ok_or("the template is not a mapping")?;

    let parameters = set_parameters(root, &render.parameters)?;
    let conditions = match root.shift_remove("Conditions") {
        None => Mapping::new(),
        Some(Yaml::Mapping(map)) => map,
        Some(_) => return Err("Conditions is not a mapping".to_owned()),
    };
    root.shift_remove("Rules");
    let eval = Evaluator {
        parameters: &parameters,
        conditions: &conditions,
    };

    for section in ["Resources", "Outputs"] {
        if let Some(Yaml::Mapping(entries)) = root.get_mut(section) {
            let mut kept = Mapping::new();
            for (id, mut entry) in std::mem::take(entries) {
                if let Some(name) = entry.get("Condition").and_then(Yaml::as_str) {
                    if !eval.condition(name)? {
                        continue;
                    }
                }
                if let Yaml::Mapping(fields) = &mut entry {
                    fields.shift_remove("Condition");
                }
                kept.insert(id, entry);
            }
            *entries = kept;
        }
    }
    let mut resolved = eval.resolve(doc)?;
    let root = resolved.as_mapping_mut().expect("still a mapping");

    let jwt = parameters.get("Authentication").map(String::as_str) == Some("jwt");
    let resources = root
        .get_mut("Resources")
        .and_then(Yaml::as_mapping_mut)
        .ok_or("the template has no Resources")?;
    if jwt {
        local_authorization(resources);
    }
    let ids: Vec<Yaml> = resources.keys().cloned().collect();
    for (_, resource) in resources.iter_mut() {
        if let Some(depends) = resource.get_mut("DependsOn") {
            match depends {
                Yaml::Sequence(names) => names.retain(|n| ids.contains(n)),
                Yaml::String(_) if !ids.contains(depends) => *depends = Yaml::Sequence(vec![]),
                _ => {}
            }
        }
        if resource["Type"] == "AWS::Serverless::Function" {
            local_code(resource, &render.code_dir)?;
        }
    }

    let mut variables = root;
    for (key, what) in [
        ("Globals", "Globals"),
        ("Function", "Globals.Function"),
        ("Environment", "Globals.Function.Environment"),
        ("Variables", "Globals.Function.Environment.Variables"),
    ] {
        variables = variables
            .entry(key.into())
            .or_insert_with(|| Yaml::Mapping(Mapping::new()))
            .as_mapping_mut()
            .ok_or_else(|| format!("{what} is not a mapping"))?;
    }
    for (name, value) in &render.environment {
        variables.insert(name.as_str().into(), value.as_str().into());
    }
    Ok(resolved)
}

/// The functions' binaries by logical id (`Metadata.BuildProperties.Binary`), as the template
/// names them.
pub fn function_binaries(template: &str) -> Result<BTreeMap<String, String>, String> {
    let yaml: Yaml = serde_yaml::from_str(template).map_err(|e| format!("not YAML: {e}"))?;
    let resources = yaml["Resources"]
        .as_mapping()
        .ok_or("the template has no Resources")?;
    let mut binaries = BTreeMap::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().ok_or("a logical id is not a string")?;
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .ok_or_else(|| format!("{id} has no Metadata.BuildProperties.Binary"))?;
        binaries.insert(id.to_owned(), binary.to_owned());
    }
    Ok(binaries)
}

/// One key's mapping: `{key: value}`.
fn single(key: &str, value: Yaml) -> Yaml {
    let mut map = Mapping::new();
    map.insert(key.into(), value);
    Yaml::Mapping(map)
}

/// The YAML's short-form intrinsics (`!Ref X`, `!GetAtt X.Arn`, `!If [..]`) in long form.
fn long_form(yaml: &Yaml) -> Result<Yaml, String> {
    Ok(match yaml {
        Yaml::Sequence(items) => {
            Yaml::Sequence(items.iter().map(long_form).collect::<Result<_, _>>()?)
        }
        Yaml::Mapping(map) => {
            let mut out = Mapping::new();
            for (key, value) in map {
                out.insert(key.clone(), long_form(value)?);
            }
            Yaml::Mapping(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let value = long_form(&tagged.value)?;
            match (tag.trim_start_matches('!'), value) {
                (name @ ("Ref" | "Condition"), value) => single(name, value),
                ("GetAtt", Yaml::String(s)) => {
                    let (resource, attribute) = s
                        .split_once('.')
                        .ok_or_else(|| format!("!GetAtt {s}: no attribute"))?;
                    single(
                        "Fn::GetAtt",
                        Yaml::Sequence(vec![resource.into(), attribute.into()]),
                    )
                }
                (other, value) => single(&format!("Fn::{other}"), value),
            }
        }
        scalar => scalar.clone(),
    })
}

/// Sets the parameters' defaults to the values given, and returns every parameter's value.
fn set_parameters(
    root: &mut Mapping,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let declared = root
        .get_mut("Parameters")
        .and_then(Yaml::as_mapping_mut)
        .ok_or("the template has no Parameters")?;
    for name in given.keys() {
        if !declared.contains_key(name.as_str()) {
            return Err(format!("the template has no parameter {name}"));
        }
    }
    let mut values = BTreeMap::new();
    for (name, declaration) in declared.iter_mut() {
        let name = name.as_str().ok_or("a parameter's name is not a string")?;
        if let Some(value) = given.get(name) {
            if let Some(allowed) = declaration.get("AllowedValues").and_then(Yaml::as_sequence) {
                if !allowed.iter().any(|a| scalar(a).as_deref() == Some(value)) {
                    return Err(format!("{name}={value} is not one of its AllowedValues"));
                }
            }
            declaration
                .as_mapping_mut()
                .ok_or_else(|| format!("parameter {name} is not a mapping"))?
                .insert("Default".into(), value.as_str().into());
        }
        let value = declaration
            .get("Default")
            .and_then(scalar)
            .unwrap_or_default();
        values.insert(name.to_owned(), value);
    }
    Ok(values)
}

fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

struct Evaluator<'a> {
    parameters: &'a BTreeMap<String, String>,
    conditions: &'a Mapping,
}

impl Evaluator<'_> {
    fn condition(&self, name: &str) -> Result<bool, String> {
        let expression = self
            .conditions
            .get(name)
            .ok_or_else(|| format!("no condition {name}"))?;
        self.truth(expression)
    }

    /// A condition's expression: Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition.
    fn truth(&self, expression: &Yaml) -> Result<bool, String> {
        let Some((function, operand)) = expression
            .as_mapping()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.iter().next())
        else {
            return Err(format!("not a condition: {expression:?}"));
        };
        let function = function.as_str().unwrap_or_default();
        let operands = || {
            operand
                .as_sequence()
                .ok_or_else(|| format!("{function} takes a list: {operand:?}"))
        };
        match function {
            "Condition" => self.condition(operand.as_str().ok_or("Condition takes a name")?),
            "Fn::Equals" => match operands()?.as_slice() {
                [a, b] => Ok(self.value(a)? == self.value(b)?),
                _ => Err(format!("Fn::Equals takes two values: {operand:?}")),
            },
            "Fn::Not" => match operands()?.as_slice() {
                [c] => Ok(!self.truth(c)?),
                _ => Err(format!("Fn::Not takes one condition: {operand:?}")),
            },
            "Fn::And" => operands()?
                .iter()
                .try_fold(true, |all, c| Ok(all && self.truth(c)?)),
            "Fn::Or" => operands()?
                .iter()
                .try_fold(false, |any, c| Ok(any || self.truth(c)?)),
            other => Err(format!("{other} is not a condition function")),
        }
    }

    /// A value compared by Fn::Equals: a literal or a parameter's.
    fn value(&self, value: &Yaml) -> Result<String, String> {
        if let Some(name) = value.get("Ref").and_then(Yaml::as_str) {
            return self
                .parameters
                .get(name)
                .cloned()
                .ok_or_else(|| format!("Fn::Equals compares {name}, which is no parameter"));
        }
        if let Some(Yaml::Sequence(join)) = value.get("Fn::Join") {
            // Fn::Join [separator, a list parameter or a list of values].
            let (Some(separator), Some(list)) = (join.first().and_then(Yaml::as_str), join.get(1))
            else {
                return Err(format!("Fn::Join takes a separator and a list: {value:?}"));
            };
            let parts: Vec<String> = match list {
                Yaml::Sequence(items) => items
                    .iter()
                    .map(|v| self.value(v))
                    .collect::<Result<_, _>>()?,
                list => {
                    let joined = self.value(list)?;
                    joined
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
            };
            return Ok(parts.join(separator));
        }
        scalar(value).ok_or_else(|| format!("Fn::Equals cannot compare {value:?}"))
    }

    /// `value` with every Fn::If replaced by its chosen branch (AWS::NoValue: no value).
    fn resolve(&self, value: Yaml) -> Result<Yaml, String> {
        Ok(self.resolve_inner(value)?.unwrap_or(Yaml::Null))
    }

    fn resolve_inner(&self, value: Yaml) -> Result<Option<Yaml>, String> {
        match value {
            Yaml::Mapping(map) => {
                if map.len() == 1 {
                    if let Some(Yaml::Sequence(branches)) = map.get("Fn::If") {
                        let [name, then, otherwise] = branches.as_slice() else {
                            return Err(format!("Fn::If takes three values: {branches:?}"));
                        };
                        let name = name.as_str().ok_or("Fn::If names a condition")?;
                        let chosen = if self.condition(name)? {
                            then
                        } else {
                            otherwise
                        };
                        return self.resolve_inner(chosen.clone());
                    }
                    if map.get("Ref").and_then(Yaml::as_str) == Some("AWS::NoValue") {
                        return Ok(None);
                    }
                }
                let mut out = Mapping::new();
                for (key, item) in map {
                    if let Some(item) = self.resolve_inner(item)? {
                        out.insert(key, item);
                    }
                }
                Ok(Some(Yaml::Mapping(out)))
            }
            Yaml::Sequence(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.resolve_inner(item)?);
                }
                Ok(Some(Yaml::Sequence(out)))
            }
            other => Ok(Some(other)),
        }
    }
}

/// jwt mode without API Gateway: no route has an authorizer; the functions verify the token.
fn local_authorization(resources: &mut Mapping) {
    resources.retain(|_, r| {
        !(r["Type"] == "AWS::ApiGatewayV2::Authorizer"
            && r["Properties"]["AuthorizerType"] == "JWT")
    });
    for (_, resource) in resources.iter_mut() {
        if resource["Type"] != "AWS::ApiGatewayV2::Route" {
            continue;
        }
        let Some(properties) = resource
            .get_mut("Properties")
            .and_then(Yaml::as_mapping_mut)
        else {
            continue;
        };
        if properties.get("AuthorizationType").and_then(Yaml::as_str) == Some("JWT") {
            properties.insert("AuthorizationType".into(), "NONE".into());
            properties.shift_remove("AuthorizerId");
        }
    }
}

/// The function runs `<code_dir>/<binary>/bootstrap`, built beforehand, instead of being built.
fn local_code(resource: &mut Yaml, code_dir: &str) -> Result<(), String> {
    let binary = resource["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .ok_or("a function has no Metadata.BuildProperties.Binary")?
        .to_owned();
    let fields = resource
        .as_mapping_mut()
        .ok_or("a resource is not a mapping")?;
    fields.shift_remove("Metadata");
    fields
        .get_mut("Properties")
        .and_then(Yaml::as_mapping_mut)
        .ok_or("a function has no Properties")?
        .insert(
            "CodeUri".into(),
            format!("{}/{binary}", code_dir.trim_end_matches('/')).into(),
        );
    Ok(())
}
