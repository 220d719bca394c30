//! `gen-catalog [--count N] [--seed S]`: writes the demo catalog as pretty JSON to stdout.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use gen_catalog::{generate, Catalog};

/// Writes a deterministic demo catalog as pretty JSON to stdout:
///   {"items": [{"id": 1, "name": "...", "price": 869, "quantity": 7}, ...]}
/// Prices are in cents. The same count and seed always give the same output.
#[derive(Debug, Parser)]
#[command(name = "gen-catalog", verbatim_doc_comment)]
struct Args {
    /// Number of items, 1 to 10000000 (the bound catches a typo before it fills the disk)
    #[arg(long, value_name = "N", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    count: u64,
    /// Random seed
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,
}

fn main() -> ExitCode {
    let Args { count, seed } = Args::parse();
    match write_catalog(count as usize, seed) {
        Ok(()) => ExitCode::SUCCESS,
        // `gen-catalog | head`: the reader has seen enough; that is not a failure.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gen-catalog: cannot write the catalog: {err}");
            ExitCode::FAILURE
        }
    }
}

fn write_catalog(count: usize, seed: u64) -> io::Result<()> {
    let items = generate(count, seed);
    let mut out = BufWriter::new(io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &Catalog { items })?;
    writeln!(out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<(u64, u64), String> {
        let args = Args::try_parse_from(["gen-catalog"].iter().chain(args));
        args.map(|a| (a.count, a.seed)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn no_arguments_mean_a_thousand_items_with_seed_42_and_both_can_be_given() {
        assert_eq!(parse(&[]), Ok((1_000, 42)));
        assert_eq!(parse(&["--count", "5", "--seed=9"]), Ok((5, 9)));
    }

    #[test]
    fn a_count_out_of_range_a_bad_seed_and_unknown_arguments_are_rejected() {
        let refused = |args: &[&str], why: &str| parse(args).is_err_and(|e| e.contains(why));
        for count in ["0", "10000001", "x"] {
            assert!(refused(&["--count", count], "'--count <N>'"), "{count}");
        }
        assert!(refused(&["--seed", "x"], "'--seed <S>'"));
        assert!(refused(&["1000"], "unexpected argument"));
    }
}
