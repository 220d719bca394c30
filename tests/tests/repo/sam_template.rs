//! `template.yaml` as `sam local` runs it (`testkit::sam`, the `sam-template` binary; run by
//! `make sam-local`, `make sam-invoke` and make test's `scripts/test-sam.sh`): rendered for each
//! Authentication mode, it keeps the template's routes, integrations, functions, handlers and
//! environment, and holds nothing SAM CLI cannot read (the intrinsic `AuthorizerId` on which
//! `sam local start-api` fails, an unemulated JWT authorizer, a function first).

use std::collections::{BTreeMap, BTreeSet};

use crate::read;
use serde_yaml::Value as Yaml;
use testkit::sam::{function_binaries, render, render_value, Render};

const CODE_DIR: &str = "/local/code";

fn options(mode: &str) -> Render {
    Render {
        parameters: BTreeMap::from([
            ("Authentication".to_owned(), mode.to_owned()),
            ("Architecture".to_owned(), "x86_64".to_owned()),
        ]),
        code_dir: CODE_DIR.to_owned(),
        environment: BTreeMap::from([(
            "AWS_ENDPOINT_URL_DYNAMODB".to_owned(),
            "http://172.17.0.1:8000".to_owned(),
        )]),
    }
}

fn original() -> Yaml {
    serde_yaml::from_str(&read("template.yaml")).unwrap()
}

fn rendered(mode: &str) -> Yaml {
    render_value(&original(), &options(mode)).unwrap_or_else(|e| panic!("{mode}: {e}"))
}

/// Every mapping key anywhere in `value`, with the path to it.
fn keys(value: &Yaml, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Yaml::Mapping(map) => {
            for (key, item) in map {
                let key = key.as_str().unwrap_or("?").to_owned();
                out.push((path.to_owned(), key.clone()));
                keys(item, &format!("{path}.{key}"), out);
            }
        }
        Yaml::Sequence(items) => items.iter().for_each(|i| keys(i, path, out)),
        Yaml::Tagged(tagged) => out.push((path.to_owned(), format!("!{}", tagged.tag))),
        _ => {}
    }
}

fn resources<'a>(template: &'a Yaml, kind: &str) -> BTreeMap<String, &'a Yaml> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, r)| (id.as_str().unwrap().to_owned(), r))
        .collect()
}

/// `RouteKey -> (function, AuthorizationType)` of the rendered template (long form).
fn routes(template: &Yaml) -> BTreeMap<String, (String, String)> {
    let integrations = resources(template, "AWS::ApiGatewayV2::Integration");
    resources(template, "AWS::ApiGatewayV2::Route")
        .into_values()
        .map(|route| {
            let p = &route["Properties"];
            let target = p["Target"]["Fn::Sub"].as_str().expect("Target is Fn::Sub");
            let integration = target
                .strip_prefix("integrations/${")
                .and_then(|t| t.strip_suffix('}'))
                .unwrap();
            let uri = &integrations[integration]["Properties"]["IntegrationUri"]["Fn::GetAtt"];
            (
                p["RouteKey"].as_str().unwrap().to_owned(),
                (
                    uri[0].as_str().unwrap().to_owned(),
                    p["AuthorizationType"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

#[test]
fn both_modes_render_with_no_condition_and_no_short_form_tag_left() {
    for mode in ["jwt", "iam"] {
        let template = rendered(mode);
        let mut found = Vec::new();
        keys(&template, "", &mut found);
        let left: Vec<_> = found
            .iter()
            // (An IAM statement's `Condition` is IAM's, not CloudFormation's.)
            .filter(|(path, k)| {
                k.starts_with('!')
                    || k == "Fn::If"
                    || (k == "Condition" && !path.ends_with(".Statement"))
            })
            .collect();
        assert!(left.is_empty(), "{mode}: {left:?}");
        for section in ["Conditions", "Rules"] {
            assert!(template.get(section).is_none(), "{mode}: {section}");
        }
        assert!(
            !serde_json::to_string(&template)
                .unwrap()
                .contains("AWS::NoValue"),
            "{mode}: AWS::NoValue is resolved"
        );
    }
}

#[test]
fn the_routes_reach_the_same_functions_with_no_authorizer_sam_cli_cannot_link() {
    let template = original();
    let expected: BTreeMap<String, String> = resources(&template, "AWS::ApiGatewayV2::Route")
        .into_values()
        .map(|r| {
            let key = r["Properties"]["RouteKey"].as_str().unwrap().to_owned();
            let Yaml::Tagged(target) = &r["Properties"]["Target"] else {
                panic!("{key}: Target is !Sub")
            };
            let integration = target.value.as_str().unwrap();
            let integration = &integration["integrations/${".len()..integration.len() - 1];
            let Yaml::Tagged(uri) =
                &template["Resources"][integration]["Properties"]["IntegrationUri"]
            else {
                panic!("{integration}: IntegrationUri is !GetAtt")
            };
            let function = uri.value.as_str().unwrap().trim_end_matches(".Arn");
            (key, function.to_owned())
        })
        .collect();
    assert!(!expected.is_empty(), "the template has routes");

    for mode in ["jwt", "iam"] {
        let rendered = rendered(mode);
        let routes = routes(&rendered);
        let functions: BTreeMap<String, String> = routes
            .iter()
            .map(|(k, (f, _))| (k.clone(), f.clone()))
            .collect();
        assert_eq!(functions, expected, "{mode}: route -> function");
        for (key, (_, authorization)) in &routes {
            let public = ["GET /api/v1/items", "POST /api/v1/webhooks/stripe"];
            let wanted = if public.contains(&key.as_str()) {
                "NONE"
            } else if key.contains("/admin/") || mode == "iam" {
                "AWS_IAM"
            } else {
                // SAM CLI emulates no JWT authorizer: the functions verify the token
                // (LOCAL_JWKS_FILE, as under make dev).
                "NONE"
            };
            assert_eq!(authorization, wanted, "{mode}: {key}");
        }
        for route in resources(&rendered, "AWS::ApiGatewayV2::Route").values() {
            assert!(
                route["Properties"].get("AuthorizerId").is_none(),
                "{mode}: {route:?}"
            );
        }
        assert!(
            resources(&rendered, "AWS::ApiGatewayV2::Authorizer").is_empty(),
            "{mode}: no JWT authorizer left"
        );
    }
}

#[test]
fn the_http_api_is_the_first_resource_so_sam_cli_reads_cloudformation_routes() {
    // SAM CLI picks its API reader by the first resource it meets: a function first and it
    // looks for SAM `Api` events only, finds none, and start-api refuses to start.
    for mode in ["jwt", "iam"] {
        let text = render(&read("template.yaml"), &options(mode)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let first = text.find("\"Type\": \"AWS::").map(|at| &text[at..at + 40]);
        assert_eq!(
            first.map(|t| t.starts_with("\"Type\": \"AWS::ApiGatewayV2::Api\"")),
            Some(true),
            "{mode}: {first:?}"
        );
        assert_eq!(
            json["AWSTemplateFormatVersion"], "2010-09-09",
            "a string, not a date"
        );
    }
}

#[test]
fn every_function_runs_its_own_binary_with_the_templates_environment_and_the_local_additions() {
    let template = original();
    let binaries = function_binaries(&read("template.yaml")).unwrap();
    assert_eq!(
        binaries.len(),
        resources(&template, "AWS::Serverless::Function").len()
    );
    for mode in ["jwt", "iam"] {
        let rendered = rendered(mode);
        for (id, function) in resources(&rendered, "AWS::Serverless::Function") {
            assert_eq!(
                function["Properties"]["CodeUri"].as_str(),
                Some(format!("{CODE_DIR}/{}", binaries[&id]).as_str()),
                "{mode}: {id}"
            );
            assert!(
                function.get("Metadata").is_none(),
                "{mode}: {id} is not built by sam"
            );
            let original = &template["Resources"][id.as_str()]["Properties"];
            for key in [
                "Environment",
                "Timeout",
                "Policies",
                "Events",
                "Description",
            ] {
                assert_eq!(
                    function["Properties"].get(key).is_some(),
                    original.get(key).is_some(),
                    "{mode}: {id}.{key}"
                );
            }
        }
        let globals = &rendered["Globals"]["Function"];
        assert_eq!(globals["Handler"], "bootstrap");
        assert_eq!(globals["Runtime"], "provided.al2023");
        let names = |vars: &Yaml| -> BTreeSet<String> {
            vars.as_mapping()
                .unwrap()
                .keys()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect()
        };
        let mut expected = names(&template["Globals"]["Function"]["Environment"]["Variables"]);
        expected.insert("AWS_ENDPOINT_URL_DYNAMODB".to_owned());
        assert_eq!(
            names(&globals["Environment"]["Variables"]),
            expected,
            "{mode}: the template's variables and the one added"
        );
        assert_eq!(
            globals["Environment"]["Variables"]["AUTH_MODE"]["Ref"],
            "Authentication"
        );
        assert_eq!(rendered["Parameters"]["Authentication"]["Default"], mode);
        assert_eq!(rendered["Parameters"]["Architecture"]["Default"], "x86_64");
    }
}

#[test]
fn each_mode_keeps_exactly_the_resources_its_conditions_keep() {
    let ids = |t: &Yaml| -> BTreeSet<String> {
        t["Resources"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    };
    let all = ids(&original());
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
    // Off by the parameters' defaults: no alarm e-mail, no reserved purchase concurrency.
    let off_by_default = set(&["AlarmEmailSubscription", "PurchaseConcurrencyAlarm"]);
    let jwt_only = set(&["UserPool", "UserPoolClient", "UserJwtAuthorizer"]);
    let iam = ids(&rendered("iam"));
    assert_eq!(
        iam,
        &(&all - &jwt_only) - &off_by_default,
        "iam: no user pool, no JWT authorizer"
    );
    let jwt = ids(&rendered("jwt"));
    let not_in_jwt = set(&["UserJwtAuthorizer", "ShopBackendPolicy"]);
    assert_eq!(
        jwt,
        &(&all - &not_in_jwt) - &off_by_default,
        "jwt: the user pool stays (SAM CLI ignores it), the authorizer goes"
    );
    // The purchase's reserved concurrency is off by default: the !If resolves to no value.
    let purchase = &rendered("iam")["Resources"]["PurchaseCartFunction"]["Properties"];
    assert!(purchase.get("ReservedConcurrentExecutions").is_none());
}

#[test]
fn a_parameter_the_template_lacks_or_forbids_is_refused() {
    let mut unknown = options("iam");
    unknown
        .parameters
        .insert("Nonsense".to_owned(), "1".to_owned());
    assert!(render_value(&original(), &unknown)
        .unwrap_err()
        .contains("no parameter Nonsense"));
    assert!(render_value(&original(), &options("saml"))
        .unwrap_err()
        .contains("AllowedValues"));
}
