//! `gen-catalog [--count N] [--seed S]`: writes the demo catalog as pretty JSON to stdout.

use std::fmt::Display;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::str::FromStr;

use clap::Parser;
use gen_catalog::{generate, Catalog};

/// Writes a deterministic demo catalog as pretty JSON to stdout:
///   {"items": [{"id": 1, "name": "...", "price": 869, "quantity": 7}, ...]}
/// Prices are in cents. The same count and seed always give the same output.
#[derive(Debug, Parser)]
#[command(name = "gen-catalog", verbatim_doc_comment)]
struct Args {
    /// Number of items, 1 to 10000000
    #[arg(long, value_name = "N", default_value_t = 1_000, allow_negative_numbers = true,
          value_parser = whole_number(1, 10_000_000_usize))]
    count: usize,
    /// Random seed, 0 to 18446744073709551615
    #[arg(long, value_name = "S", default_value_t = 42, allow_negative_numbers = true,
          value_parser = whole_number(0, u64::MAX))]
    seed: u64,
}

/// Parses a whole number from `min` to `max` (the upper bound on `--count` catches a typo
/// before it fills the disk); the error says which numbers are accepted.
fn whole_number<T>(min: T, max: T) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: FromStr + PartialOrd + Display + Clone,
{
    move |value| match value.parse() {
        Ok(n) if min <= n && n <= max => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

fn main() -> ExitCode {
    let Args { count, seed } = Args::parse();
    match write_catalog(count, seed) {
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
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<(usize, u64), clap::Error> {
        let args = Args::try_parse_from(["gen-catalog"].iter().chain(args))?;
        Ok((args.count, args.seed))
    }

    fn error(args: &[&str]) -> String {
        parse(args).expect_err("should be rejected").to_string()
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn no_arguments_mean_a_thousand_items_with_seed_42() {
        assert_eq!(parse(&[]).unwrap(), (1_000, 42));
    }

    #[test]
    fn count_and_seed_are_read_with_a_space_or_an_equals_sign() {
        assert_eq!(parse(&["--count", "5", "--seed", "9"]).unwrap(), (5, 9));
        assert_eq!(parse(&["--seed=9", "--count=5"]).unwrap(), (5, 9));
    }

    #[test]
    fn help_is_recognised_in_short_and_long_form() {
        for args in [&["-h"][..], &["--count", "3", "--help"]] {
            assert_eq!(parse(args).unwrap_err().kind(), ErrorKind::DisplayHelp);
        }
    }

    #[test]
    fn a_missing_value_is_reported_by_flag_name() {
        assert!(error(&["--count"]).contains("a value is required for '--count <N>'"));
        assert!(error(&["--seed"]).contains("a value is required for '--seed <S>'"));
    }

    #[test]
    fn a_non_numeric_or_out_of_range_count_is_rejected() {
        for value in ["abc", "-3", "0", "10000001"] {
            let expected = format!(
                "invalid value '{value}' for '--count <N>': expected a whole number from 1 to 10000000"
            );
            assert!(error(&["--count", value]).contains(&expected), "{value}");
        }
    }

    #[test]
    fn a_non_numeric_seed_is_rejected() {
        for args in [&["--seed", "x1"][..], &["--seed="], &["--seed", "-1"]] {
            let expected =
                "for '--seed <S>': expected a whole number from 0 to 18446744073709551615";
            assert!(error(args).contains(expected), "{args:?}");
        }
    }

    #[test]
    fn unknown_arguments_and_repeated_flags_are_rejected() {
        assert!(error(&["--size", "3"]).contains("unexpected argument '--size'"));
        assert!(error(&["1000"]).contains("unexpected argument '1000'"));
        assert!(error(&["--count", "1", "--count", "2"])
            .contains("'--count <N>' cannot be used multiple times"));
    }
}
