//! `make bench`: measures the cart API and writes `BENCHMARKS.md` and `target/bench.json`.
//!
//! ```text
//! bench [--quick] [--only 1,3,...] [--api-url URL --watch-log FILE --watch-profile NAME]
//!       [--release-dir DIR] [--template FILE] [--markdown FILE] [--json FILE]
//! ```
//!
//! Sections 1, 4 and 5 call the handlers in this process against DynamoDB Local
//! (`AWS_ENDPOINT_URL_DYNAMODB`). Section 2 needs the local API (`--api-url`, started by
//! `scripts/bench.sh`), section 3 the release binaries (`--release-dir`). A section whose
//! prerequisite is missing is skipped and says so.

mod app;
mod catalog_scale;
mod cold_start;
mod cost;
mod event;
mod flash_sale;
mod latency;
mod proxy;
mod report;
mod requests;
mod server;
mod stats;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

struct Args {
    quick: bool,
    only: Option<Vec<u8>>,
    api_url: Option<String>,
    watch_log: Option<PathBuf>,
    watch_profile: String,
    release_dir: Option<PathBuf>,
    template: PathBuf,
    markdown: PathBuf,
    json: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench [--quick] [--only 1,2,...] [--api-url URL --watch-log FILE \
         [--watch-profile NAME]] [--release-dir DIR] [--template FILE] [--markdown FILE] \
         [--json FILE]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        quick: false,
        only: None,
        api_url: None,
        watch_log: None,
        watch_profile: "dev".to_owned(),
        release_dir: None,
        template: PathBuf::from("template.yaml"),
        markdown: PathBuf::from("BENCHMARKS.md"),
        json: PathBuf::from("target/bench.json"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--only" => {
                let sections = value()
                    .split(',')
                    .map(|s| s.trim().parse::<u8>().unwrap_or_else(|_| usage()))
                    .collect();
                args.only = Some(sections);
            }
            "--api-url" => args.api_url = Some(value()),
            "--watch-log" => args.watch_log = Some(PathBuf::from(value())),
            "--watch-profile" => args.watch_profile = value(),
            "--release-dir" => args.release_dir = Some(PathBuf::from(value())),
            "--template" => args.template = PathBuf::from(value()),
            "--markdown" => args.markdown = PathBuf::from(value()),
            "--json" => args.json = PathBuf::from(value()),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    args
}

/// Where and when the figures were taken.
#[derive(Clone, Debug, Serialize)]
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
    let args = parse_args();
    let started = Instant::now();
    let wanted = |n: u8| args.only.as_ref().is_none_or(|only| only.contains(&n));
    let mut results = Results::default();

    if wanted(1) {
        eprintln!("bench: 1. DynamoDB requests per API call");
        results.requests = Some(requests::run().await);
    }
    if wanted(2) {
        match (&args.api_url, &args.watch_log) {
            (Some(api_url), Some(watch_log)) => {
                eprintln!("bench: 2. latency through the local API at {api_url}");
                let (sequential, concurrent) = if args.quick { (60, 192) } else { (300, 960) };
                let settings = latency::Settings {
                    api_url: api_url.clone(),
                    watch_log: watch_log.clone(),
                    warmup: 10,
                    sequential,
                    concurrent,
                };
                results.latency = Some(latency::run(&settings).await);
            }
            _ => results
                .skipped
                .push("2. latency: no --api-url/--watch-log (run it with make bench)".to_owned()),
        }
    }
    let (memory_mb, memory_source) = cost::memory_from_template(&args.template);
    if wanted(3) {
        match &args.release_dir {
            Some(dir) => {
                eprintln!(
                    "bench: 3. cold start of the release binaries in {}",
                    dir.display()
                );
                let settings = cold_start::Settings {
                    release_dir: dir.clone(),
                    runs: if args.quick { 3 } else { 7 },
                    memory_mb,
                };
                results.cold_start = Some(cold_start::run(&settings).await);
            }
            None => results
                .skipped
                .push("3. cold start: no --release-dir".to_owned()),
        }
    }
    if wanted(4) {
        eprintln!("bench: 4. flash sale");
        results.flash_sale = Some(flash_sale::run().await);
    }
    if wanted(5) {
        eprintln!("bench: 5. catalog scale");
        let sizes: &[usize] = if args.quick {
            &[1_000, 10_000]
        } else {
            &[1_000, 10_000, 100_000]
        };
        let repeats = if args.quick { 15 } else { 40 };
        results.catalog_scale = Some(catalog_scale::run(sizes, repeats).await);
    }
    if wanted(6) {
        match &results.requests {
            Some(calls) => {
                results.cost = Some(cost::estimate(
                    calls,
                    results.latency.as_ref(),
                    results.catalog_scale.as_ref(),
                    memory_mb,
                    memory_source,
                ));
            }
            None => results.skipped.push("6. cost: needs section 1".to_owned()),
        }
    }

    results.machine = Some(machine(
        args.quick,
        &args.watch_profile,
        started.elapsed().as_secs_f64(),
    ));
    let markdown = report::markdown(&results);
    if let Some(dir) = args.json.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(
        &args.json,
        serde_json::to_string_pretty(&results).expect("results serialize"),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", args.json.display()));
    std::fs::write(&args.markdown, markdown)
        .unwrap_or_else(|e| panic!("{}: {e}", args.markdown.display()));
    eprintln!(
        "bench: wrote {} and {} in {:.0} s",
        args.markdown.display(),
        args.json.display(),
        started.elapsed().as_secs_f64()
    );
}

fn machine(quick: bool, watch_profile: &str, run_seconds: f64) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(
            || std::env::consts::ARCH.to_owned(),
            |(_, v)| v.trim().to_owned(),
        );
    let memory_gb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let mut commit = command("git", &["rev-parse", "--short=12", "HEAD"]);
    if !command("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        commit.push_str(" (with uncommitted changes)");
    }
    let now = time::OffsetDateTime::now_utc();
    let date = now
        .replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Machine {
        date,
        commit,
        cpu,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gb,
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        rustc: command("rustc", &["--version"]),
        quick,
        watch_profile: watch_profile.to_owned(),
        run_seconds,
    }
}
