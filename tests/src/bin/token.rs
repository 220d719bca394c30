//! `make token USER=<id> [TTL=<seconds>]`: a bearer token of the local issuer for that user,
//! and nothing else on stdout. Makes the key pair under `JWT_KEY_DIR` (`.local/jwt`) on first
//! use. `token --keys` only makes sure the pair is there (what `make dev` and `make test` run).

use std::path::PathBuf;

use clap::Parser;
use testkit::LocalIssuer;

#[derive(Parser)]
#[command(about = "A bearer token of the local issuer")]
struct Args {
    /// The user, the token's `sub`.
    #[arg(long, required_unless_present = "keys")]
    user: Option<String>,
    /// Seconds the token stays valid.
    #[arg(long, default_value_t = 3600)]
    ttl: i64,
    /// Only make sure the key pair and its JWKS are there.
    #[arg(long)]
    keys: bool,
    #[arg(long, env = "JWT_KEY_DIR", default_value = ".local/jwt")]
    key_dir: PathBuf,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let issuer = match LocalIssuer::load_or_create(&args.key_dir) {
        Ok(issuer) => issuer,
        Err(e) => {
            eprintln!("token: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(user) = args.user {
        if let Err(why) = shared::domain::UserId::parse(&user) {
            eprintln!("token: the user {why}");
            return std::process::ExitCode::from(2);
        }
        println!("{}", issuer.token(&user, args.ttl));
    }
    std::process::ExitCode::SUCCESS
}
