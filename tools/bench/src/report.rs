//! BENCHMARKS.md, from the template `tools/bench/report.md.j2` (the prose and the tables) and
//! the results; only the summary's headlines are computed here.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{context, Environment};

use crate::Results;

pub fn markdown(r: &Results) -> String {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_filter("f", |x: f64, digits: usize| format!("{x:.digits$}"));
    env.add_filter("units", |x: f64| {
        let digits = if x == x.trunc() { 0 } else { 1 };
        format!("{x:.digits$}")
    });
    env.add_filter("compact", compact);
    env.add_template("report", include_str!("../report.md.j2"))
        .expect("the report template parses");
    let template = env.get_template("report").expect("the template is there");
    let arch = std::env::consts::ARCH;
    template
        .render(context! { r, arch, summary => summary(r) })
        .expect("the report renders")
}

/// `BatchGetItem, TransactWriteItems`, with repeats as `Query ×3`.
fn compact(ops: Vec<String>) -> String {
    let runs = ops.chunk_by(|a, b| a == b);
    let run = |r: &[String]| match r.len() {
        1 => r[0].clone(),
        n => format!("{} ×{n}", r[0]),
    };
    runs.map(run).collect::<Vec<_>>().join(", ")
}

/// The headlines the template cannot compute itself, by section.
fn summary(r: &Results) -> BTreeMap<&'static str, Vec<String>> {
    let mut lines: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    if let Some(s) = &r.requests {
        let with_goal = s.rows.iter().filter(|row| row.goal.is_some()).count();
        let missed: Vec<String> = (s.rows.iter())
            .filter(|row| row.goal.is_some_and(|g| row.requests > g))
            .map(|row| format!("{} ({} requests)", row.call, row.requests))
            .collect();
        let counts = |prefix: &str| {
            let rows = s.rows.iter().filter(|row| row.call.starts_with(prefix));
            let n: BTreeSet<String> = rows.map(|row| row.requests.to_string()).collect();
            n.into_iter().collect::<Vec<_>>().join(" or ")
        };
        let missed_list = match missed.is_empty() {
            true => String::new(),
            false => format!(" (missed: {})", missed.join(", ")),
        };
        lines.entry("requests").or_default().push(format!(
            "**Requests per call**: {} of {with_goal} calls with a goal meet it{missed_list}; a \
             successful purchase takes {} requests and a replay {}, for carts of 1, 10 and 50 \
             lines.",
            with_goal - missed.len(),
            counts("purchase, success"),
            counts("purchase, replay"),
        ));
    }
    let sequential = r
        .latency
        .iter()
        .flat_map(|s| &s.rows)
        .filter(|r| r.concurrency == 1);
    if let Some(worst) = sequential.max_by(|a, b| a.overhead.p50_ms.total_cmp(&b.overhead.p50_ms)) {
        let met = if worst.overhead.p50_ms < 1.0 {
            "met"
        } else {
            "**not met**"
        };
        lines.entry("latency").or_default().push(format!(
            "**Own time per request** (function minus DynamoDB, p50, concurrency 1): at most \
             {:.2} ms (`{}`); goal under 1 ms: {met}.",
            worst.overhead.p50_ms, worst.endpoint
        ));
    }
    let rows = r.cost.iter().flat_map(|s| &s.rows);
    for row in rows
        .filter(|row| row.scenario.contains("1-line") || row.scenario.starts_with("1 M listings"))
    {
        let parts = [
            ("DynamoDB", row.dynamodb_usd),
            ("API Gateway", row.http_api_usd),
            ("Lambda requests", row.lambda_requests_usd),
            ("Lambda compute", row.lambda_compute_usd),
        ];
        let (name, usd) = parts
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("four");
        lines.entry("cost").or_default().push(format!(
            "**{}**: about ${:.2} on AWS, {:.0}% of it {name}.",
            row.scenario,
            row.total_usd,
            usd / row.total_usd * 100.0
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_report_template_parses_and_renders_a_run_with_no_sections() {
        let results = crate::Results {
            machine: crate::machine(true, "dev", 0.0),
            ..Default::default()
        };
        let text = super::markdown(&results);
        assert!(text.starts_with("# Benchmarks"), "{text}");
    }
}
