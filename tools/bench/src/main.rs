//! `make bench`: measures the cart API and writes `BENCHMARKS.md` and `target/bench.json`.
//!
//! ```text
//! bench [--quick] [--only 1,3,...] [--api-url URL --watch-log FILE --watch-profile NAME]
//!       [--release-dir DIR] [--template FILE] [--markdown FILE] [--json FILE]
//!       [--flash-buyers N] [--flash-units N] [--flash-concurrency N] [--flash-shards N]
//!       [--rule-window-ms MS] [--rule-sigma S] [--rule-wcu UNITS]
//! ```
//!
//! The `--flash-*` options shape section 4's flash sale (defaults: 5,000 buyers for 1,000 units,
//! 64 at a time, 32 shards; `--quick`: 1,000 for 200; `--flash-shards 1` runs today's design
//! only); the `--rule-*` options are the contention rule's figures (`testkit::contention`:
//! a transaction holds its items for a log-normal window of median `--rule-window-ms` (20) and
//! log-spread `--rule-sigma` (0.5); an item takes `--rule-wcu` (1,000) write units a second).
//!
//! Sections 1, 4 and 5 call the handlers in this process against DynamoDB Local, through the
//! test kit (`testkit`). Section 2 needs the local API (`--api-url`, started by
//! `scripts/bench.sh`), section 3 the release binaries (`--release-dir`). A section whose
//! prerequisite is missing is skipped and says so.

mod catalog_scale;
mod cold_start;
mod cost;
mod flash_sale;
mod latency;
mod order_events;
mod report;
mod requests;
mod stats;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

/// `--quick`, and the value of each `--name value` option.
fn parse_args() -> Result<(bool, BTreeMap<String, String>), lexopt::Error> {
    use lexopt::prelude::*;
    const NAMES: &str = "only api-url watch-log watch-profile release-dir template markdown json \
        flash-buyers flash-units flash-concurrency flash-shards rule-window-ms rule-sigma rule-wcu";
    let (mut quick, mut options) = (false, BTreeMap::new());
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("quick") => quick = true,
            Long(name) if NAMES.split(' ').any(|n| n == name) => {
                let name = name.to_owned();
                options.insert(name, parser.value()?.string()?);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok((quick, options))
}

#[derive(Debug, Default, Serialize)]
pub struct Results {
    /// Where and when the figures were taken.
    pub machine: Value,
    pub requests: Option<requests::Report>,
    pub latency: Option<latency::Report>,
    pub cold_start: Option<cold_start::Report>,
    pub flash_sale: Option<flash_sale::Report>,
    pub catalog_scale: Option<catalog_scale::Report>,
    pub cost: Option<cost::Report>,
    /// Sections not run, and why.
    pub skipped: Vec<&'static str>,
}

#[tokio::main]
async fn main() {
    let (quick, options) = parse_args().unwrap_or_else(|e| {
        eprintln!("bench: {e} (see the usage at the top of tools/bench/src/main.rs)");
        std::process::exit(2)
    });
    let option = |name| options.get(name).map(String::as_str);
    let path = |name, default| Path::new(option(name).unwrap_or(default));
    let started = Instant::now();
    let only = option("only").map(|l| l.split(',').map(str::trim).collect::<Vec<_>>());
    let wanted = |n: u8| only.as_ref().is_none_or(|o| o.contains(&&*n.to_string()));
    let mut r = Results::default();
    let (memory_mb, memory_source) = cost::memory_from_template(path("template", "template.yaml"));

    if wanted(1) {
        eprintln!("bench: 1. DynamoDB requests per API call");
        r.requests = Some(requests::run().await);
    }
    match (option("api-url"), option("watch-log")) {
        (Some(api_url), Some(log)) if wanted(2) => {
            eprintln!("bench: 2. latency through the local API at {api_url}");
            let (sequential, concurrent) = if quick { (60, 192) } else { (300, 960) };
            let log = Path::new(log);
            r.latency = Some(latency::run(api_url, log, 10, sequential, concurrent).await);
        }
        _ if wanted(2) => r.skipped.push("2. latency: no --api-url/--watch-log"),
        _ => {}
    }
    match option("release-dir").map(Path::new) {
        Some(dir) if wanted(3) => {
            eprintln!("bench: 3. cold start of the binaries in {}", dir.display());
            let runs = if quick { 3 } else { 7 };
            r.cold_start = Some(cold_start::run(dir, runs, memory_mb).await);
        }
        None if wanted(3) => r.skipped.push("3. cold start: no --release-dir"),
        _ => {}
    }
    if wanted(4) {
        let flash = flash_options(quick, &option).unwrap_or_else(|e| {
            eprintln!("bench: {e}");
            std::process::exit(2)
        });
        eprintln!("bench: 4. flash sale: {flash:?}");
        r.flash_sale = Some(flash_sale::run(flash).await);
    }
    if wanted(5) {
        eprintln!("bench: 5. catalog scale");
        let (count, repeats) = if quick { (2, 15) } else { (3, 40) };
        let sizes = &[1_000, 10_000, 100_000][..count];
        r.catalog_scale = Some(catalog_scale::run(sizes, repeats).await);
    }
    match &r.requests {
        Some(calls) if wanted(6) => {
            let (latency, catalog) = (r.latency.as_ref(), r.catalog_scale.as_ref());
            let memory = (memory_mb, memory_source);
            r.cost = Some(cost::estimate(calls, latency, catalog, memory));
        }
        None if wanted(6) => r.skipped.push("6. cost: needs section 1"),
        _ => {}
    }

    let profile = option("watch-profile").unwrap_or("dev");
    r.machine = machine(quick, profile, started.elapsed().as_secs_f64());
    let json = path("json", "target/bench.json");
    let markdown = path("markdown", "BENCHMARKS.md");
    let _ = json.parent().map(std::fs::create_dir_all);
    let results = serde_json::to_string_pretty(&r).expect("results serialize");
    for (file, text) in [(json, results), (markdown, report::markdown(&r))] {
        std::fs::write(file, text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    let took = started.elapsed().as_secs_f64();
    let (json, markdown) = (json.display(), markdown.display());
    eprintln!("bench: wrote {markdown} and {json} in {took:.0} s");
}

/// Section 4's figures: the defaults, then what the command line says.
fn flash_options<'a>(
    quick: bool,
    option: &impl Fn(&'a str) -> Option<&'a str>,
) -> Result<flash_sale::Options, String> {
    fn number<T: std::str::FromStr>(name: &str, value: Option<&str>) -> Result<Option<T>, String> {
        value
            .map(|v| v.parse().map_err(|_| format!("--{name} {v}: not a number")))
            .transpose()
    }
    let mut o = flash_sale::Options::new(quick);
    o.buyers = number("flash-buyers", option("flash-buyers"))?.unwrap_or(o.buyers);
    o.units = number("flash-units", option("flash-units"))?.unwrap_or(o.units);
    let concurrency = number("flash-concurrency", option("flash-concurrency"))?;
    o.concurrency = concurrency.unwrap_or(o.concurrency);
    o.shards = number("flash-shards", option("flash-shards"))?.unwrap_or(o.shards);
    if let Some(ms) = number::<f64>("rule-window-ms", option("rule-window-ms"))? {
        o.rule.window_median = std::time::Duration::from_secs_f64(ms / 1000.0);
    }
    let sigma = number("rule-sigma", option("rule-sigma"))?;
    o.rule.window_sigma = sigma.unwrap_or(o.rule.window_sigma);
    let wcu = number("rule-wcu", option("rule-wcu"))?;
    o.rule.write_units_per_second = wcu.unwrap_or(o.rule.write_units_per_second);
    Ok(o)
}

fn machine(quick: bool, watch_profile: &str, run_seconds: f64) -> Value {
    let proc_field = |file: &str, field: &str| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let line = text.lines().find(|l| l.starts_with(field))?.to_owned();
        Some(line.split_once(':')?.1.trim().to_owned())
    };
    let command = |program: &str, args: &[&str]| {
        let output = std::process::Command::new(program).args(args).output().ok();
        let output = output.filter(|o| o.status.success()).map(|o| o.stdout);
        String::from_utf8_lossy(&output.unwrap_or_default())
            .trim()
            .to_owned()
    };
    let mut commit = command("git", &["rev-parse", "--short=12", "HEAD"]);
    if !command("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        commit.push_str(" (with uncommitted changes)");
    }
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let memory_kb = proc_field("/proc/meminfo", "MemTotal:").unwrap_or_default();
    let memory_kb: f64 = memory_kb.trim_end_matches(" kB").parse().unwrap_or(0.0);
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    json!({
        "date": now.format(rfc3339).unwrap_or_default(),
        "commit": commit,
        "cpu": proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| arch.to_owned()),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "memory_gb": memory_kb / 1024.0 / 1024.0,
        "os": format!("{os} {arch}"),
        "rustc": command("rustc", &["--version"]),
        "quick": quick,
        "watch_profile": watch_profile,
        "run_seconds": run_seconds,
    })
}
