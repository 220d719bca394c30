//! CloudWatch Embedded Metric Format: the per-request log line (`http::dispatch`) carries an
//! `_aws` member declaring which of its own members are metrics, so CloudWatch Logs turns the
//! line into metrics as it arrives: no `PutMetricData` call, no agent, no extra latency.
//!
//! What the line declares (the metrics' names are the line's own members):
//!
//! | metrics | unit | dimension sets |
//! | --- | --- | --- |
//! | `latency_ms` | Milliseconds | `[route_group]`, `[route]`, `[route, status_class]` |
//! | `dynamodb_requests`, `dynamodb_retries`, `read_capacity_units`, `write_capacity_units` | Count | `[route]` |
//!
//! `latency_ms` by `route_group` is what the template's p99 alarms read; its `SampleCount` by
//! `route` and `status_class` counts the answers of each class. About 100 metrics in all (each
//! dimension value a metric), the namespace `METRICS_NAMESPACE` (the stack's name in AWS).

use serde_json::{json, Value};

/// The log line's member holding the metadata.
pub const MEMBER: &str = "_aws";

/// The namespace when `METRICS_NAMESPACE` is unset (locally).
pub const DEFAULT_NAMESPACE: &str = "cart-api";

/// The namespace of this process's metrics: `METRICS_NAMESPACE`, read once.
pub fn namespace() -> &'static str {
    static NAMESPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAMESPACE.get_or_init(|| {
        std::env::var("METRICS_NAMESPACE")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
    })
}

/// The `_aws` member of a per-request line logged at `timestamp_ms` (Unix milliseconds).
pub fn request_metadata(namespace: &str, timestamp_ms: u64) -> Value {
    json!({
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [
            {
                "Namespace": namespace,
                "Dimensions": [["route_group"], ["route"], ["route", "status_class"]],
                "Metrics": [{ "Name": "latency_ms", "Unit": "Milliseconds" }],
            },
            {
                "Namespace": namespace,
                "Dimensions": [["route"]],
                "Metrics": [
                    { "Name": "dynamodb_requests", "Unit": "Count" },
                    { "Name": "dynamodb_retries", "Unit": "Count" },
                    { "Name": "read_capacity_units", "Unit": "Count" },
                    { "Name": "write_capacity_units", "Unit": "Count" },
                ],
            },
        ],
    })
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as u64)
}

/// The group of an HTTP API route key (`POST /api/v1/cart/{cart_id}/purchase`): `catalog`,
/// `cart`, `purchase`, `orders`, `admin`, or `other`. The template's latency alarms are per group.
pub fn route_group(route_key: &str) -> &'static str {
    let path = route_key
        .split_once(' ')
        .map_or(route_key, |(_, path)| path);
    let path = path.trim_end_matches('/');
    if path.starts_with("/api/v1/admin") {
        "admin"
    } else if path == "/api/v1/items" || path.starts_with("/api/v1/items/") {
        "catalog"
    } else if path.starts_with("/api/v1/cart") && path.ends_with("/purchase") {
        "purchase"
    } else if path == "/api/v1/cart" || path.starts_with("/api/v1/cart/") {
        "cart"
    } else if path.starts_with("/api/v1/guest/") {
        // A guest's cart is a cart.
        "cart"
    } else if path == "/api/v1/orders"
        || path.starts_with("/api/v1/orders/")
        || path.starts_with("/api/v1/webhooks/")
    {
        // A payment provider's webhook changes orders.
        "orders"
    } else {
        "other"
    }
}

/// `2xx`, `4xx`, `5xx`, ...
pub fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Checks a log line against the Embedded Metric Format's specification, as CloudWatch Logs
/// reads it: the problems found (none when it would become metrics). For the tests.
#[cfg(test)]
pub(crate) fn specification_problems(line: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |p: String| problems.push(p);
    let Some(aws) = line.get(MEMBER).and_then(Value::as_object) else {
        return vec![format!("no `{MEMBER}` object")];
    };
    // Timestamp: milliseconds since the epoch, a non-negative integer; CloudWatch refuses
    // those more than two weeks old or two hours ahead.
    match aws.get("Timestamp").and_then(Value::as_u64) {
        Some(ms) if ms.abs_diff(now_ms()) < 14 * 24 * 3600 * 1000 => {}
        other => problem(format!("Timestamp {other:?} is not now in milliseconds")),
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        problem("CloudWatchMetrics is not an array".into());
        return problems;
    };
    if directives.is_empty() {
        problem("CloudWatchMetrics is empty".into());
    }
    for (i, directive) in directives.iter().enumerate() {
        let namespace = directive["Namespace"].as_str().unwrap_or_default();
        if namespace.is_empty() || namespace.len() > 255 || namespace.starts_with("AWS/") {
            problem(format!("directive {i}: Namespace {namespace:?}"));
        }
        let Some(sets) = directive["Dimensions"].as_array() else {
            problem(format!(
                "directive {i}: Dimensions is not an array of arrays"
            ));
            continue;
        };
        for set in sets {
            let Some(keys) = set.as_array() else {
                problem(format!(
                    "directive {i}: dimension set {set} is not an array"
                ));
                continue;
            };
            // At most 30 dimensions in a set.
            if keys.is_empty() || keys.len() > 30 {
                problem(format!("directive {i}: {} dimensions in a set", keys.len()));
            }
            for key in keys {
                // Each names a top-level member whose value is a string (1 to 1024 chars).
                let value = key
                    .as_str()
                    .and_then(|k| line.get(k))
                    .and_then(Value::as_str);
                if !value.is_some_and(|v| !v.is_empty() && v.len() <= 1024) {
                    problem(format!(
                        "directive {i}: dimension {key} is no top-level string"
                    ));
                }
            }
        }
        let Some(metrics) = directive["Metrics"].as_array() else {
            problem(format!("directive {i}: Metrics is not an array"));
            continue;
        };
        // At most 100 metrics in a directive.
        if metrics.is_empty() || metrics.len() > 100 {
            problem(format!("directive {i}: {} metrics", metrics.len()));
        }
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap_or_default();
            if name.is_empty() || name.len() > 1024 {
                problem(format!("directive {i}: metric {metric} has no Name"));
            }
            if let Some(unit) = metric.get("Unit") {
                if !unit.as_str().is_some_and(|u| UNITS.contains(&u)) {
                    problem(format!(
                        "metric {name}: Unit {unit} is not a CloudWatch unit"
                    ));
                }
            }
            // Each names a top-level member holding a number (or an array of up to 100).
            match line.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => problem(format!("metric {name}: its value {other:?} is no number")),
            }
        }
    }
    problems
}

/// The units CloudWatch accepts (`StandardUnit`).
#[cfg(test)]
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_its_group() {
        for (route, group) in [
            ("GET /api/v1/items", "catalog"),
            ("POST /api/v1/admin/items", "admin"),
            ("PATCH /api/v1/admin/items/{item_id}", "admin"),
            ("POST /api/v1/cart", "cart"),
            ("POST /api/v1/cart/", "cart"),
            ("GET /api/v1/cart/{cart_id}", "cart"),
            ("POST /api/v1/cart/{cart_id}/items", "cart"),
            ("DELETE /api/v1/cart/{cart_id}/items/{item_id}", "cart"),
            ("POST /api/v1/cart/{cart_id}/purchase", "purchase"),
            ("GET /api/v1/orders", "orders"),
            ("GET /api/v1/orders/{order_id}", "orders"),
            ("GET /api/v1/cartography", "other"),
            ("", "other"),
        ] {
            assert_eq!(route_group(route), group, "{route}");
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(
            [200, 201, 304, 404, 409, 500, 503].map(status_class),
            ["2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx"]
        );
    }

    #[test]
    fn the_checker_refuses_what_cloudwatch_would_not_read() {
        let good = json!({
            "_aws": request_metadata("ns", now_ms()),
            "route": "GET /x", "route_group": "catalog", "status_class": "2xx",
            "latency_ms": 1.5, "dynamodb_requests": 1, "dynamodb_retries": 0,
            "read_capacity_units": 0.5, "write_capacity_units": 0,
        });
        assert_eq!(specification_problems(&good), Vec::<String>::new());

        let mut no_dimension = good.clone();
        no_dimension.as_object_mut().unwrap().remove("route");
        let mut number_dimension = good.clone();
        number_dimension["status_class"] = json!(200);
        let mut text_metric = good.clone();
        text_metric["latency_ms"] = json!("1.5");
        let mut seconds_timestamp = good.clone();
        seconds_timestamp["_aws"]["Timestamp"] = json!(now_ms() / 1000);
        let mut flat_dimensions = good.clone();
        flat_dimensions["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!(["route"]);
        let mut bad_unit = good.clone();
        bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("ms");
        let mut aws_namespace = good.clone();
        aws_namespace["_aws"]["CloudWatchMetrics"][1]["Namespace"] = json!("AWS/Lambda");
        let mut too_many = good.clone();
        too_many["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([vec!["route"; 31]]);
        for bad in [
            no_dimension,
            number_dimension,
            text_metric,
            seconds_timestamp,
            flat_dimensions,
            bad_unit,
            aws_namespace,
            too_many,
            json!({ "_aws": "{}" }),
        ] {
            assert!(!specification_problems(&bad).is_empty(), "accepted {bad}");
        }
    }
}
