//! BENCHMARKS.md: a table per section, what each figure means and where AWS will differ.

use std::fmt::Write as _;

use crate::{catalog_scale, Machine};
use crate::{cold_start, cost, flash_sale, latency, requests, Results};

pub fn markdown(r: &Results) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `make bench` (`tools/bench`, `scripts/bench.sh`); the same figures are in \
         `target/bench.json`. Re-run rather than edit. A benchmark prints figures: nothing here \
         fails a build, and the figures of one machine are only comparable with the same \
         machine's.\n"
    );
    if let Some(m) = &r.machine {
        machine(&mut md, m);
    }
    let _ = writeln!(
        md,
        "Everything runs on this one machine: DynamoDB Local (a Java emulator backed by \
         SQLite, in memory), the functions, and the load generator share its cores. The \
         request counts and capacity units carry over to AWS as they are; the times do not \
         (see [Where AWS will differ](#where-aws-will-differ)).\n"
    );
    for skipped in &r.skipped {
        let _ = writeln!(md, "> Skipped: {skipped}\n");
    }
    summary(&mut md, r);
    if let Some(s) = &r.requests {
        section_requests(&mut md, s);
    }
    if let Some(s) = &r.latency {
        section_latency(&mut md, s, r.machine.as_ref());
    }
    if let Some(s) = &r.cold_start {
        section_cold_start(&mut md, s);
    }
    if let Some(s) = &r.flash_sale {
        section_flash_sale(&mut md, s);
    }
    if let Some(s) = &r.catalog_scale {
        section_catalog(&mut md, s);
    }
    if let Some(s) = &r.cost {
        section_cost(&mut md, s);
    }
    differences(&mut md);
    md
}

/// The headline of each section, computed from its figures.
fn summary(md: &mut String, r: &Results) {
    let mut lines = Vec::new();
    if let Some(s) = &r.requests {
        let with_goal: Vec<_> = s.rows.iter().filter(|row| row.goal.is_some()).collect();
        let missed: Vec<String> = with_goal
            .iter()
            .filter(|row| row.goal.is_some_and(|g| row.requests > g))
            .map(|row| format!("{} ({} requests)", row.call, row.requests))
            .collect();
        let counts = |prefix: &str| {
            let mut n: Vec<u64> = s
                .rows
                .iter()
                .filter(|row| row.call.starts_with(prefix))
                .map(|row| row.requests)
                .collect();
            n.sort_unstable();
            n.dedup();
            n.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        };
        lines.push(format!(
            "**Requests per call**: {} of {} calls with a goal meet it{}; a successful purchase \
             takes {} requests and a replay {}, for carts of 1, 10 and 50 lines.",
            with_goal.len() - missed.len(),
            with_goal.len(),
            if missed.is_empty() {
                String::new()
            } else {
                format!(" (missed: {})", missed.join(", "))
            },
            counts("purchase, success"),
            counts("purchase, replay"),
        ));
    }
    if let Some(s) = &r.latency {
        if let Some(worst) = s
            .rows
            .iter()
            .filter(|row| row.concurrency == 1)
            .max_by(|a, b| a.overhead.p50_ms.total_cmp(&b.overhead.p50_ms))
        {
            lines.push(format!(
                "**Own time per request** (function minus DynamoDB, p50, concurrency 1): at \
                 most {:.2} ms (`{}`); goal under 1 ms: {}.",
                worst.overhead.p50_ms,
                worst.endpoint,
                if worst.overhead.p50_ms < 1.0 {
                    "met"
                } else {
                    "**not met**"
                }
            ));
        }
    }
    if let Some(s) = &r.cold_start {
        let http: Vec<_> = s
            .rows
            .iter()
            .filter(|row| row.function != "seed-catalog")
            .collect();
        let lo = http
            .iter()
            .map(|row| row.init_ms_median)
            .fold(f64::INFINITY, f64::min);
        let hi = http
            .iter()
            .map(|row| row.init_ms_median)
            .fold(0.0, f64::max);
        let size = s.rows.iter().map(|row| row.binary_bytes).max().unwrap_or(0);
        lines.push(format!(
            "**Cold start** (local, release): init {lo:.1} to {hi:.1} ms (median per function), \
             binaries up to {:.1} MB.",
            size as f64 / 1_048_576.0
        ));
    }
    if let Some(s) = &r.flash_sale {
        lines.push(format!(
            "**Flash sale**: {} buyers for {} units: invariants {}; {:.0} purchase calls/s, \
             p99 {:.0} ms.",
            s.buyers,
            s.units,
            if s.invariants_hold {
                "hold"
            } else {
                "**VIOLATED**"
            },
            s.requests_per_s,
            s.latency.p99_ms
        ));
    }
    if let Some(s) = &r.catalog_scale {
        let read = |size: Option<&catalog_scale::Size>, prefix: &str| {
            size.and_then(|size| {
                size.pages
                    .iter()
                    .find(|p| p.page.starts_with(prefix))
                    .map(|p| (size.items, p.items_read))
            })
        };
        if let (Some((small, a)), Some((large, b))) = (
            read(s.sizes.first(), "price range"),
            read(s.sizes.last(), "price range"),
        ) {
            lines.push(format!(
                "**Catalog scale**: a price-range page reads {a} entries at {small} items and \
                 {b} at {large} items (goal: the same); a name-filtered page reads up to {}.",
                s.read_budget
            ));
        }
    }
    if let Some(s) = &r.cost {
        let headline = |row: &&cost::Row| {
            row.scenario.contains("1-line") || row.scenario.starts_with("1 M listings")
        };
        for row in s.rows.iter().filter(headline) {
            let biggest = [
                ("DynamoDB", row.dynamodb_usd),
                ("API Gateway", row.http_api_usd),
                ("Lambda requests", row.lambda_requests_usd),
                ("Lambda compute", row.lambda_compute_usd),
            ]
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("four parts");
            lines.push(format!(
                "**{}**: about ${:.2} on AWS, {:.0}% of it {}.",
                row.scenario,
                row.total_usd,
                biggest.1 / row.total_usd * 100.0,
                biggest.0
            ));
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(md, "## Summary\n");
        for line in lines {
            let _ = writeln!(md, "- {line}");
        }
        let _ = writeln!(md);
    }
}

fn machine(md: &mut String, m: &Machine) {
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| Date (UTC) | {} |", m.date);
    let _ = writeln!(md, "| Commit | `{}` |", m.commit);
    let _ = writeln!(md, "| CPU | {} ({} cores) |", m.cpu, m.cores);
    let _ = writeln!(md, "| Memory | {:.1} GB |", m.memory_gb);
    let _ = writeln!(md, "| OS | {} |", m.os);
    let _ = writeln!(md, "| Toolchain | {} |", m.rustc);
    let _ = writeln!(
        md,
        "| Run | {} run, {:.0} s of measuring (builds not included) |\n",
        if m.quick { "`--quick`" } else { "full" },
        m.run_seconds
    );
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

fn f2(x: f64) -> String {
    format!("{x:.2}")
}

fn units(x: f64) -> String {
    if x == x.trunc() {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn section_requests(md: &mut String, s: &requests::Report) {
    let _ = writeln!(md, "## 1. DynamoDB requests per API call\n");
    let _ = writeln!(
        md,
        "Each row is one call of the real handler, in this process, alone on its store, \
         against DynamoDB Local. **Requests** are counted on the wire by an SDK interceptor \
         (retries included) and checked against a counting proxy between the SDK and DynamoDB \
         Local, which also names the **operations**{}. **Local RCU/WCU** are the consumed \
         capacity DynamoDB Local returned (`ReturnConsumedCapacity=TOTAL`). **AWS RCU/WCU** \
         are what DynamoDB bills for the same call, from Local's figures and the pricing \
         rules: DynamoDB Local doubles transactional writes as DynamoDB does (2 write units per \
         KB per item, the by-price index write of a stock update included), but reports one \
         item per table for a `TransactWriteItems`, so each table's figure is multiplied by its \
         number of items; a strongly consistent read of a missing item (the unused idempotency \
         key) costs 1 read unit, which Local reports as 0; a failed conditional write costs 1 \
         write unit, which Local does not report. A cancelled transaction is counted as 0 \
         (Local reports nothing). **Goal** is the issue's target where it sets one. \
         **Handler ms** is the time in the handler here (dev profile), for orientation only.\n",
        if s.counts_agree {
            " (the two counts agreed on every row)"
        } else {
            " (**the two counts disagreed on some rows**: see the JSON)"
        }
    );
    let _ = writeln!(
        md,
        "| Call | Endpoint | Outcome | Requests | Goal | Operations | Local RCU / WCU \
         | AWS RCU / WCU | Handler ms |"
    );
    let _ = writeln!(md, "|---|---|---|---:|---:|---|---:|---:|---:|");
    for row in &s.rows {
        let goal = match row.goal {
            Some(g) if row.requests <= g => format!("{g} ✓"),
            Some(g) => format!("{g} ✗"),
            None => "–".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {} | {} | {} / {} | {} / {} | {} |",
            row.call,
            row.endpoint,
            row.outcome,
            row.requests,
            goal,
            compact_operations(&row.operations),
            units(row.read_units),
            units(row.write_units),
            units(row.aws_read_units),
            units(row.aws_write_units),
            f1(row.handler_ms),
        );
    }
    let _ = writeln!(md);
}

/// `BatchGetItem, TransactWriteItems`, with repeats as `Query ×3`.
fn compact_operations(ops: &[String]) -> String {
    let mut out: Vec<(String, usize)> = Vec::new();
    for op in ops {
        match out.last_mut() {
            Some((last, n)) if last == op => *n += 1,
            _ => out.push((op.clone(), 1)),
        }
    }
    out.iter()
        .map(|(op, n)| {
            if *n == 1 {
                op.clone()
            } else {
                format!("{op} ×{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn section_latency(md: &mut String, s: &latency::Report, m: Option<&Machine>) {
    let profile = m.map_or("dev", |m| m.watch_profile.as_str());
    let _ = writeln!(md, "## 2. Latency through the local API\n");
    let _ = writeln!(
        md,
        "HTTP requests to `cargo lambda watch` ({}), which routes them like the HTTP API, turns \
         them into payload-v2 events and hands them to the function binaries{}. One instance \
         per function (watch's default, like one warm Lambda sandbox): at concurrency 32 the \
         requests queue in the emulator, so the HTTP times include queueing while the \
         function's own times do not. Where AWS would start more instances, this measures one \
         instance's throughput.\n\n\
         - **HTTP**: as the client saw it, through the emulator.\n\
         - **Function**: `latency_us` from the function's own log line (event in, response \
         out).\n\
         - **DynamoDB**: `dynamodb_us` from the same line: time between handing each request \
         to the HTTP client and receiving the response headers, summed over the call's \
         requests.\n\
         - **Own**: function minus DynamoDB per request: the handler's parsing, validation, \
         serialisation, request signing (SigV4) and logging. The runtime's own work around it \
         (decoding the event, posting the response) is outside `latency_us`, inside HTTP. Goal: \
         under 1 ms at p50.\n",
        s.api_url,
        match profile {
            "release" => ", built with `--release` (the deployment profile: LTO, one codegen unit)",
            _ => {
                ", built with the dev profile (the workspace's crates unoptimised, dependencies \
                 at opt-level 1): what `make dev` runs. Release binaries (section 3) are \
                 faster; the own-time figures are an upper bound"
            }
        }
    );
    let _ = writeln!(
        md,
        "| Endpoint | Conc. | Calls | HTTP p50 / p95 / p99 ms | Calls/s | Function p50 / p99 ms \
         | DynamoDB p50 ms | Own p50 / p99 ms | DynamoDB req/call | Other answers |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &s.rows {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} / {} / {} | {:.0} | {} / {} | {} | {} / {} | {:.1} | {} |",
            row.endpoint,
            row.concurrency,
            row.requests,
            f1(row.http.p50_ms),
            f1(row.http.p95_ms),
            f1(row.http.p99_ms),
            row.throughput_rps,
            f2(row.function.p50_ms),
            f2(row.function.p99_ms),
            f2(row.dynamodb.p50_ms),
            f2(row.overhead.p50_ms),
            f2(row.overhead.p99_ms),
            row.dynamodb_requests_per_call,
            unexpected(row),
        );
    }
    let foreign: usize = s.rows.iter().map(|row| row.foreign_log_lines).sum();
    if foreign > 0 {
        let _ = writeln!(
            md,
            "\n{foreign} log lines of another client of the same local API (other statuses) \
             were seen during the phases and left out of the function figures."
        );
    }
    let _ = writeln!(md);
}

/// Answers other than the expected one, and log lines missing.
fn unexpected(row: &latency::Row) -> String {
    let mut parts: Vec<String> = row
        .statuses
        .iter()
        .filter(|(outcome, _)| !outcome.starts_with(&row.expected.to_string()))
        .map(|(outcome, n)| format!("{n} × {outcome}"))
        .collect();
    if row.logged < row.requests {
        parts.push(format!("{} not logged", row.requests - row.logged));
    }
    if parts.is_empty() {
        "0".to_owned()
    } else {
        parts.join(", ")
    }
}

fn section_cold_start(md: &mut String, s: &cold_start::Report) {
    let _ = writeln!(md, "## 3. Cold start and binary size\n");
    let _ = writeln!(
        md,
        "Each function's release binary (`cargo build --release`: opt-level s, fat LTO, one codegen unit, \
         stripped, panic=abort; host target {}) started against a minimal Lambda Runtime API \
         served by the tool (`AWS_LAMBDA_RUNTIME_API`). **Init** is the time from spawning \
         the process to its first `GET /runtime/invocation/next`: tracing set-up, configuration, \
         the AWS SDK config and DynamoDB client, the runtime's start. That is what Lambda \
         reports as *Init Duration*; the lambda-perf project measures about **14 ms (arm64) and \
         16 ms (x86_64)** on average for a hello-world Rust function at 128 MB. **First \
         response** adds the first event: a new connection to DynamoDB and the handler's \
         requests (for `seed-catalog`, upserting the whole bundled catalog). Median (and \
         fastest) of several fresh processes; the binary is in the page cache after the first, \
         as it usually is on a Lambda host. **Peak RSS** is the process's high-water mark after \
         the first event.\n",
        std::env::consts::ARCH
    );
    let _ = writeln!(
        md,
        "| Function | Binary | Init ms, median (min) | First response ms, median (min) | Answer \
         | Peak RSS |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---|---:|");
    for row in &s.rows {
        let _ = writeln!(
            md,
            "| `{}` | {:.1} MB | {} ({}) | {} ({}) | {} | {:.1} MB |",
            row.function,
            row.binary_bytes as f64 / 1_048_576.0,
            f1(row.init_ms_median),
            f1(row.init_ms_min),
            f1(row.first_response_ms_median),
            f1(row.first_response_ms_min),
            if row.failures == 0 {
                row.answer.clone()
            } else {
                format!("{} ({} runs failed)", row.answer, row.failures)
            },
            row.max_rss_mb,
        );
    }
    let _ = writeln!(md);
}

fn section_flash_sale(md: &mut String, s: &flash_sale::Report) {
    let _ = writeln!(md, "## 4. Flash sale\n");
    let _ = writeln!(
        md,
        "{} buyers, each with one unit of the same item in their cart, buy at once, {} at a \
         time, while {} units are in stock. The purchase handler runs in this process, {} calls \
         at a time sharing one DynamoDB client (on AWS: as many instances, each with its own), \
         against DynamoDB Local; latency is per purchase call, in the dev profile. Afterwards the tool checks what is stored.\n",
        s.buyers, s.concurrency, s.units, s.concurrency
    );
    let outcomes = s
        .outcomes
        .iter()
        .map(|(k, v)| format!("{v} × {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let check = |ok: bool| if ok { "✓" } else { "✗" };
    let _ = writeln!(md, "| Figure | Value |\n|---|---:|");
    let _ = writeln!(md, "| Wall time | {:.0} ms |", s.wall_ms);
    let _ = writeln!(md, "| Purchase calls/s | {:.0} |", s.requests_per_s);
    let _ = writeln!(md, "| Successful purchases/s | {:.0} |", s.purchases_per_s);
    let _ = writeln!(
        md,
        "| Latency p50 / p95 / p99 / max | {} / {} / {} / {} ms |",
        f1(s.latency.p50_ms),
        f1(s.latency.p95_ms),
        f1(s.latency.p99_ms),
        f1(s.latency.max_ms)
    );
    let _ = writeln!(md, "| Answers | {outcomes} |");
    let _ = writeln!(
        md,
        "| DynamoDB requests | {} ({:.2} per call) |",
        s.dynamodb_requests,
        s.dynamodb_requests as f64 / s.buyers as f64
    );
    let _ = writeln!(
        md,
        "| Sold (200 answers) | {} {} |",
        s.sold,
        check(s.sold == s.units as usize)
    );
    let _ = writeln!(
        md,
        "| Stock afterwards | {} {} |",
        s.stock_after,
        check(s.stock_after == 0)
    );
    let _ = writeln!(
        md,
        "| Orders stored | {} {} |",
        s.orders,
        check(s.orders == s.units as usize)
    );
    let _ = writeln!(
        md,
        "| 5xx answers | {} {} |",
        s.server_errors,
        check(s.server_errors == 0)
    );
    let _ = writeln!(
        md,
        "\nInvariants (exactly {} sold, stock 0, {} orders, no 5xx): **{}**.\n",
        s.units,
        s.units,
        if s.invariants_hold {
            "hold"
        } else {
            "VIOLATED"
        }
    );
}

fn section_catalog(md: &mut String, s: &catalog_scale::Report) {
    let _ = writeln!(md, "## 5. Catalog scale\n");
    let _ = writeln!(
        md,
        "One catalog table grows from size to size with generated items (`tools/gen-catalog`: \
         realistic names, prices 0.99 to 99.99 skewed low). At each size, {} reads of each \
         page through `Store::list_items`, the call the list-items handler makes (pages of {} \
         items, the API's default; name-filtered pages read at most {} index entries per \
         request). **Items read** is DynamoDB's `ScannedCount` for the page, **RCU** the \
         capacity DynamoDB Local reported (eventually consistent Query: 0.5 per 4 KB read). \
         \"{}\" is in {:.1}% of the names. Goal: a price-range page costs the same at 100k as at \
         1k.\n",
        s.repeats,
        s.page_limit,
        s.read_budget,
        s.name_filter,
        s.name_match_share * 100.0
    );
    let _ = writeln!(
        md,
        "| Items | Page | p50 / p99 ms | Returned | Items read | Requests | RCU | More pages |"
    );
    let _ = writeln!(md, "|---:|---|---:|---:|---:|---:|---:|---|");
    for size in &s.sizes {
        for p in &size.pages {
            let _ = writeln!(
                md,
                "| {} | {} | {} / {} | {} | {} | {} | {} | {} |",
                size.items,
                p.page,
                f2(p.latency.p50_ms),
                f2(p.latency.p99_ms),
                p.items_returned,
                p.items_read,
                p.requests,
                units(p.read_units),
                if p.has_next { "yes" } else { "no" },
            );
        }
    }
    let _ = writeln!(
        md,
        "\nSeeding (`BatchWriteItem`, 25 items per request, 4 streams):\n"
    );
    let _ = writeln!(md, "| Up to | Time | Items/s |\n|---:|---:|---:|");
    for size in &s.sizes {
        let _ = writeln!(
            md,
            "| {} | {:.1} s | {:.0} |",
            size.items,
            size.seed_ms / 1000.0,
            size.seed_items_per_s
        );
    }
    let _ = writeln!(md);
}

fn section_cost(md: &mut String, s: &cost::Report) {
    let p = &s.prices;
    let _ = writeln!(md, "## 6. Cost on AWS\n");
    let _ = writeln!(
        md,
        "On-demand prices, us-east-1, arm64 at **{} MB** ({}). Sources: {}.\n",
        s.memory_mb, s.memory_source, p.source
    );
    let _ = writeln!(md, "| Unit | Price (USD) |\n|---|---:|");
    let _ = writeln!(
        md,
        "| DynamoDB write request unit (on demand) | {} per million |",
        p.dynamodb_per_million_write_units
    );
    let _ = writeln!(
        md,
        "| DynamoDB read request unit (on demand) | {} per million |",
        p.dynamodb_per_million_read_units
    );
    let _ = writeln!(
        md,
        "| Lambda arm64 compute | {} per GB-second |",
        p.lambda_arm64_per_gb_second
    );
    let _ = writeln!(
        md,
        "| Lambda requests | {:.2} per million |",
        p.lambda_per_million_requests
    );
    let _ = writeln!(
        md,
        "| API Gateway HTTP API requests | {:.2} per million |\n",
        p.http_api_per_million_requests
    );
    let _ = writeln!(
        md,
        "Request units and counts are section 1's AWS figures (the last row's, section 5's \
         largest catalog). The billed duration is the function's own time ({}) plus an **assumed** \
         {} ms per DynamoDB request and {} ms per `TransactWriteItems` from Lambda in the same \
         region (DynamoDB Local's times do not carry over), rounded up to the millisecond as \
         Lambda bills. Storage, data transfer, CloudWatch Logs (one JSON line per request) and \
         free tiers are left out.\n",
        s.overhead_source, s.ms_per_request, s.ms_per_transaction
    );
    let _ = writeln!(
        md,
        "| Per 1 million calls | DynamoDB req. | RRU / WRU per call | Billed ms | DynamoDB $ \
         | Lambda req. $ | Lambda compute $ | HTTP API $ | **Total $** |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &s.rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} / {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | **{:.2}** |",
            row.scenario,
            row.requests,
            units(row.read_units),
            units(row.write_units),
            row.billed_ms,
            row.dynamodb_usd,
            row.lambda_requests_usd,
            row.lambda_compute_usd,
            row.http_api_usd,
            row.total_usd,
        );
    }
    let _ = writeln!(md);
}

fn differences(md: &mut String) {
    let _ = writeln!(md, "## Where AWS will differ\n");
    let _ = writeln!(
        md,
        "- **DynamoDB latency.** DynamoDB Local answers over loopback in well under a \
         millisecond to a few milliseconds; DynamoDB from Lambda in the same region takes a few \
         milliseconds per request (more for transactions and for the first request of a cold \
         instance, which also sets up TLS). Every time measured here that includes DynamoDB is \
         low for AWS by roughly (requests × a few ms); the *own* times, request counts and \
         capacity units carry over.\n\
         - **DynamoDB Local is an emulator** (Java on SQLite). Its throughput and its \
         behaviour under load are not DynamoDB's: no partitions, no throttling, no adaptive \
         capacity, overlapping transactions on one item do not conflict (DynamoDB cancels one \
         of them with `TransactionConflict`, which the purchase retries), and it under-reports \
         the capacity of multi-item transactions (see section 1). On DynamoDB the flash \
         sale will meet conflicts and retries that it does not meet here; the invariants must \
         hold on both.\n\
         - **One machine.** Load generator, emulator, functions and DynamoDB Local share {} \
         cores, so concurrency figures measure this machine's contention as much as the code. \
         On AWS each concurrent request gets its own Lambda instance.\n\
         - **Cold starts.** On Lambda, init also includes downloading and unpacking the \
         package and starting the sandbox (Firecracker); the binary runs on arm64 or x86_64 \
         with the CPU share of the configured memory (a whole vCPU at 1,769 MB, about a \
         seventh of one at 256 MB), \
         where here it has whole cores. Expect AWS init figures several times the local ones; \
         lambda-perf's hello-world figures are the floor.\n\
         - **API Gateway** adds its own latency (typically a few ms) in front of every call; \
         the local emulator's HTTP hop stands in for it here.\n\
         - **Cost** uses list prices and assumed DynamoDB latencies; real bills add CloudWatch \
         Logs, data transfer and storage, and free tiers subtract.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
