//! `headway`: fetch a list of URLs exactly as fast as the server allows, and no faster.
//!
//! - `headway fetch` reads URLs (one a line) and writes one JSON line per URL, in input order.
//! - `headway demo` runs the whole story against an embedded rate-limited API on loopback.
//!
//! Exit codes: 0 when every URL was answered, 3 when the run completed but some URLs failed
//! (each is reported on its own line), 2 for bad flags or unreadable input, 1 when output
//! could not be written, 130 when interrupted by SIGINT (after a summary; `--resume` goes on).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod args;
mod demo;
mod fetch;
mod progress;
mod run;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// Why the command stopped early, with the exit code to stop with.
#[derive(Debug)]
pub struct CliError {
    /// The process exit code: 2 for usage and input errors, 3 when some URLs failed, 130
    /// when interrupted, 1 for anything else.
    pub code: u8,
    /// What to tell the user (one line, without the `headway:` prefix).
    pub message: String,
}

impl CliError {
    /// A bad flag or unreadable input: exit code 2.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    /// Every line was processed but `failed` URLs failed: exit code 3.
    pub fn some_failed(failed: u64, urls: u64) -> CliError {
        CliError {
            code: 3,
            message: format!("{failed} of {urls} URLs failed"),
        }
    }

    /// Stopped by SIGINT after writing `written` records: exit code 130, as a shell reports
    /// a command ended by Ctrl-C. `to_file` when they went to an `--output` file, which
    /// `--resume` can carry on.
    pub fn interrupted(written: u64, to_file: bool) -> CliError {
        let hint = if to_file {
            "; the same command with --resume fetches the rest"
        } else {
            ""
        };
        CliError {
            code: 130,
            message: format!("interrupted after {written} URLs{hint}"),
        }
    }

    /// A failure while running (output not writable, runtime not startable): exit code 1.
    pub fn runtime(message: impl Into<String>) -> CliError {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fetch(args) => fetch::main(args),
        Command::Demo(args) => demo::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("headway: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
