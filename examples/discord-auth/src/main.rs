//! `discord-auth`: log in to Discord from the command line. See the crate documentation
//! (`cargo doc -p discord-auth --open`) and `discord-auth --help`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;
use discord_auth::Error;
use discord_auth::cli::{Cli, execute};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("discord-auth: {e}");
            ExitCode::from(match e {
                Error::Usage(_) => 2,
                Error::Spawn { .. } => 127,
                _ => 1,
            })
        }
    }
}
