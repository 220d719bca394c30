//! `make bench`: measures the cart API and writes `BENCHMARKS.md` and `target/bench.json`.
//!
//! ```text
//! bench [--quick] [--only 1,3,...] [--api-url URL --watch-log FILE --watch-profile NAME]
//!       [--release-dir DIR] [--template FILE] [--markdown FILE] [--json FILE]
//! ```
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
mod report;
mod requests;
mod stats;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

#[derive(Default)]
struct Args {
    quick: bool,
    only: Option<Vec<u8>>,
    api_url: Option<String>,
    watch_log: Option<PathBuf>,
    watch_profile: Option<String>,
    release_dir: Option<PathBuf>,
    template: Option<PathBuf>,
    markdown: Option<PathBuf>,
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args::default();
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("quick") => args.quick = true,
            Long("only") => {
                let list: String = parser.value()?.parse()?;
                let sections = list.split(',').map(|s| s.trim().parse::<u8>());
                args.only = Some(
                    sections
                        .collect::<Result<_, _>>()
                        .map_err(|e| e.to_string())?,
                );
            }
            Long("api-url") => args.api_url = Some(parser.value()?.parse()?),
            Long("watch-log") => args.watch_log = Some(parser.value()?.into()),
            Long("watch-profile") => args.watch_profile = Some(parser.value()?.parse()?),
            Long("release-dir") => args.release_dir = Some(parser.value()?.into()),
            Long("template") => args.template = Some(parser.value()?.into()),
            Long("markdown") => args.markdown = Some(parser.value()?.into()),
            Long("json") => args.json = Some(parser.value()?.into()),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(args)
}

/// Where and when the figures were taken.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub date: String,
    pub commit: String,
    pub cpu: String,
    pub cores: usize,
    pub memory_gb: f64,
    pub os: String,
    pub rustc: String,
    pub quick: bool,
    pub watch_profile: String,
    pub run_seconds: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub machine: Option<Machine>,
    pub requests: Option<requests::Report>,
    pub latency: Option<latency::Report>,
    pub cold_start: Option<cold_start::Report>,
    pub flash_sale: Option<flash_sale::Report>,
    pub catalog_scale: Option<catalog_scale::Report>,
    pub cost: Option<cost::Report>,
    /// Sections not run, and why.
    pub skipped: Vec<String>,
}

#[tokio::main]
async fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("bench: {e} (see the usage at the top of tools/bench/src/main.rs)");
        std::process::exit(2)
    });
    let started = Instant::now();
    let wanted = |n: u8| args.only.as_ref().is_none_or(|only| only.contains(&n));
    let quick = args.quick;
    let mut r = Results::default();
    let template = args.template.unwrap_or_else(|| "template.yaml".into());
    let (memory_mb, memory_source) = cost::memory_from_template(&template);

    if wanted(1) {
        eprintln!("bench: 1. DynamoDB requests per API call");
        r.requests = Some(requests::run().await);
    }
    match (&args.api_url, &args.watch_log) {
        (Some(api_url), Some(log)) if wanted(2) => {
            eprintln!("bench: 2. latency through the local API at {api_url}");
            let (sequential, concurrent) = if quick { (60, 192) } else { (300, 960) };
            r.latency = Some(latency::run(api_url, log, 10, sequential, concurrent).await);
        }
        _ if wanted(2) => r
            .skipped
            .push("2. latency: no --api-url/--watch-log".to_owned()),
        _ => {}
    }
    match &args.release_dir {
        Some(dir) if wanted(3) => {
            eprintln!("bench: 3. cold start of the binaries in {}", dir.display());
            let runs = if quick { 3 } else { 7 };
            r.cold_start = Some(cold_start::run(dir, runs, memory_mb).await);
        }
        None if wanted(3) => r.skipped.push("3. cold start: no --release-dir".to_owned()),
        _ => {}
    }
    if wanted(4) {
        eprintln!("bench: 4. flash sale");
        r.flash_sale = Some(flash_sale::run().await);
    }
    if wanted(5) {
        eprintln!("bench: 5. catalog scale");
        let sizes: &[usize] = if quick {
            &[1_000, 10_000]
        } else {
            &[1_000, 10_000, 100_000]
        };
        let repeats = if quick { 15 } else { 40 };
        r.catalog_scale = Some(catalog_scale::run(sizes, repeats).await);
    }
    match &r.requests {
        Some(calls) if wanted(6) => {
            let (latency, catalog) = (r.latency.as_ref(), r.catalog_scale.as_ref());
            let memory = (memory_mb, memory_source);
            r.cost = Some(cost::estimate(calls, latency, catalog, memory));
        }
        None if wanted(6) => r.skipped.push("6. cost: needs section 1".to_owned()),
        _ => {}
    }

    let profile = args.watch_profile.unwrap_or_else(|| "dev".to_owned());
    r.machine = Some(machine(quick, profile, started.elapsed().as_secs_f64()));
    let json = args.json.unwrap_or_else(|| "target/bench.json".into());
    let markdown = args.markdown.unwrap_or_else(|| "BENCHMARKS.md".into());
    if let Some(dir) = json.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let results = serde_json::to_string_pretty(&r).expect("results serialize");
    std::fs::write(&json, results).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
    std::fs::write(&markdown, report::markdown(&r))
        .unwrap_or_else(|e| panic!("{}: {e}", markdown.display()));
    let took = started.elapsed().as_secs_f64();
    eprintln!(
        "bench: wrote {} and {} in {took:.0} s",
        markdown.display(),
        json.display()
    );
}

fn machine(quick: bool, watch_profile: String, run_seconds: f64) -> Machine {
    let proc_field = |file: &str, field: &str| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let line = text
            .lines()
            .find(|l| l.starts_with(field))
            .map(str::to_owned);
        line.and_then(|l| Some(l.split_once(':')?.1.trim().to_owned()))
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
    let memory_kb = proc_field("/proc/meminfo", "MemTotal:").unwrap_or_default();
    let memory_kb: f64 = memory_kb.trim_end_matches(" kB").parse().unwrap_or(0.0);
    Machine {
        date: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        commit,
        cpu: proc_field("/proc/cpuinfo", "model name")
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned()),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gb: memory_kb / 1024.0 / 1024.0,
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        rustc: command("rustc", &["--version"]),
        quick,
        watch_profile,
        run_seconds,
    }
}
