//! Command-line parsing for the `gen-catalog` binary (plain `std::env::args`, no framework).

use std::fmt;

/// Default number of items.
pub const DEFAULT_COUNT: usize = 1_000;
/// Default seed.
pub const DEFAULT_SEED: u64 = 42;
/// Largest accepted `--count`, to catch a typo before it fills the disk.
pub const MAX_COUNT: usize = 10_000_000;

pub const USAGE: &str = "\
Usage: gen-catalog [--count N] [--seed S]

Writes a deterministic demo catalog as pretty JSON to stdout:
  {\"items\": [{\"id\": 1, \"name\": \"...\", \"price\": 869, \"quantity\": 7}, ...]}
Prices are in cents. The same count and seed always give the same output.

Options:
  --count N   number of items, 1 to 10000000 (default 1000)
  --seed S    random seed, 0 to 18446744073709551615 (default 42)
  -h, --help  print this help";

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Generate { count: usize, seed: u64 },
    Help,
}

/// A command line that cannot be understood; the message names the offending argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgsError(String);

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgsError {}

/// Parses the arguments after the program name. Accepts `--count N`, `--count=N`,
/// `--seed S`, `--seed=S` and `-h`/`--help`; each option at most once.
pub fn parse_args<I>(args: I) -> Result<Command, ArgsError>
where
    I: IntoIterator<Item = String>,
{
    let mut count = None;
    let mut seed = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        match flag {
            "-h" | "--help" if inline_value.is_none() => return Ok(Command::Help),
            "--count" => {
                let value = take_value(flag, inline_value, &mut args)?;
                set_once(&mut count, flag, parse_count(&value)?)?;
            }
            "--seed" => {
                let value = take_value(flag, inline_value, &mut args)?;
                set_once(&mut seed, flag, parse_seed(&value)?)?;
            }
            _ => {
                return Err(ArgsError(format!(
                    "unexpected argument '{arg}' (try --help)"
                )))
            }
        }
    }
    Ok(Command::Generate {
        count: count.unwrap_or(DEFAULT_COUNT),
        seed: seed.unwrap_or(DEFAULT_SEED),
    })
}

/// The value of `flag`: the part after `=`, or else the next argument.
fn take_value(
    flag: &str,
    inline_value: Option<String>,
    rest: &mut impl Iterator<Item = String>,
) -> Result<String, ArgsError> {
    inline_value
        .or_else(|| rest.next())
        .ok_or_else(|| ArgsError(format!("{flag} needs a value")))
}

fn set_once<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), ArgsError> {
    if slot.replace(value).is_some() {
        return Err(ArgsError(format!("{flag} given more than once")));
    }
    Ok(())
}

fn parse_count(value: &str) -> Result<usize, ArgsError> {
    let count: usize = value.parse().map_err(|_| {
        ArgsError(format!(
            "invalid --count '{value}': expected a whole number from 1 to {MAX_COUNT}"
        ))
    })?;
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(ArgsError(format!(
            "invalid --count '{value}': expected a whole number from 1 to {MAX_COUNT}"
        )));
    }
    Ok(count)
}

fn parse_seed(value: &str) -> Result<u64, ArgsError> {
    value.parse().map_err(|_| {
        ArgsError(format!(
            "invalid --seed '{value}': expected a whole number from 0 to {}",
            u64::MAX
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, ArgsError> {
        parse_args(args.iter().map(|arg| arg.to_string()))
    }

    fn error(args: &[&str]) -> String {
        parse(args).expect_err("should be rejected").to_string()
    }

    #[test]
    fn no_arguments_mean_a_thousand_items_with_seed_42() {
        assert_eq!(
            parse(&[]),
            Ok(Command::Generate {
                count: 1_000,
                seed: 42
            })
        );
    }

    #[test]
    fn count_and_seed_are_read_with_a_space_or_an_equals_sign() {
        let expected = Ok(Command::Generate { count: 5, seed: 9 });
        assert_eq!(parse(&["--count", "5", "--seed", "9"]), expected);
        assert_eq!(parse(&["--seed=9", "--count=5"]), expected);
    }

    #[test]
    fn help_is_recognised_in_short_and_long_form() {
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
        assert_eq!(parse(&["--count", "3", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn a_missing_value_is_reported_by_flag_name() {
        assert_eq!(error(&["--count"]), "--count needs a value");
        assert_eq!(error(&["--seed"]), "--seed needs a value");
    }

    #[test]
    fn a_non_numeric_or_out_of_range_count_is_rejected() {
        assert!(error(&["--count", "abc"]).starts_with("invalid --count 'abc'"));
        assert!(error(&["--count", "-3"]).starts_with("invalid --count '-3'"));
        assert!(error(&["--count", "0"]).starts_with("invalid --count '0'"));
        assert!(error(&["--count", "10000001"]).starts_with("invalid --count '10000001'"));
    }

    #[test]
    fn a_non_numeric_seed_is_rejected() {
        assert!(error(&["--seed", "x1"]).starts_with("invalid --seed 'x1'"));
        assert!(error(&["--seed="]).starts_with("invalid --seed ''"));
    }

    #[test]
    fn unknown_arguments_and_repeated_flags_are_rejected() {
        assert_eq!(
            error(&["--size", "3"]),
            "unexpected argument '--size' (try --help)"
        );
        assert_eq!(error(&["1000"]), "unexpected argument '1000' (try --help)");
        assert_eq!(
            error(&["--count", "1", "--count", "2"]),
            "--count given more than once"
        );
    }
}
