//! The `migrate` binary: parse arguments, run, map the result to an exit code.

use clap::Parser;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = match safe_migrate::cli::Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match safe_migrate::cli::run(args) {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`migrate rules | head`): nothing to report.
        Err(safe_migrate::cli::Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(detail) = e.detail() {
                eprint!("{detail}");
            }
            eprintln!("help: {}", e.help());
            ExitCode::from(e.exit_code())
        }
    }
}
