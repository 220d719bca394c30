//! `template.yaml` rendered for the SAM CLI's local emulation, as JSON on stdout (see
//! `testkit::sam`): `sam-template --param Authentication=iam --code-dir DIR --env NAME=VALUE..`.
//! `sam-template --functions` lists the functions instead, one `LogicalId binary` a line.
//! What stands in for CloudFormation's view of the template for `make sam-local`,
//! `make sam-invoke` and `scripts/test-sam.sh`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use testkit::sam::{function_binaries, render, Render};

#[derive(Parser)]
#[command(about = "template.yaml rendered for sam local")]
struct Args {
    /// The template.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// A parameter's value (NAME=VALUE), repeated; the others keep their defaults.
    #[arg(long = "param", value_parser = pair)]
    parameters: Vec<(String, String)>,
    /// The folder holding one folder per function binary, each with its `bootstrap`.
    #[arg(long, required_unless_present = "functions")]
    code_dir: Option<String>,
    /// A variable added to every function's environment (NAME=VALUE), repeated.
    #[arg(long = "env", value_parser = pair)]
    environment: Vec<(String, String)>,
    /// Only list the functions: `LogicalId binary`, one a line.
    #[arg(long)]
    functions: bool,
}

fn pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s}: expected NAME=VALUE"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let text = match std::fs::read_to_string(&args.template) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("sam-template: {}: {e}", args.template.display());
            return ExitCode::FAILURE;
        }
    };
    let result = if args.functions {
        function_binaries(&text).map(|functions| {
            functions
                .iter()
                .map(|(id, binary)| format!("{id} {binary}\n"))
                .collect::<String>()
        })
    } else {
        let options = Render {
            parameters: BTreeMap::from_iter(args.parameters),
            code_dir: args.code_dir.unwrap_or_default(),
            environment: BTreeMap::from_iter(args.environment),
        };
        render(&text, &options)
    };
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sam-template: {}: {e}", args.template.display());
            ExitCode::FAILURE
        }
    }
}
