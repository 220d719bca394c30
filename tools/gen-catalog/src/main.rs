//! `gen-catalog [--count N] [--seed S]`: writes the demo catalog as pretty JSON to stdout.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use gen_catalog::cli::{self, Command};
use gen_catalog::{generate, Catalog};

fn main() -> ExitCode {
    // args_os + lossy conversion: a non-UTF-8 argument becomes a clear parse error, not a panic.
    let args = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned());
    match cli::parse_args(args) {
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Generate { count, seed }) => match write_catalog(count, seed) {
            Ok(()) => ExitCode::SUCCESS,
            // `gen-catalog | head`: the reader has seen enough; that is not a failure.
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("gen-catalog: cannot write the catalog: {err}");
                ExitCode::FAILURE
            }
        },
        Err(err) => {
            eprintln!("gen-catalog: {err}\n\n{}", cli::USAGE);
            ExitCode::from(2)
        }
    }
}

fn write_catalog(count: usize, seed: u64) -> io::Result<()> {
    let catalog = Catalog {
        items: generate(count, seed),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &catalog)?;
    writeln!(out)?;
    out.flush()
}
