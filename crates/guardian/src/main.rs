//! The `guardian` binary: parse arguments, run, print the error chain.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = guardian::cli::Cli::parse();
    guardian::cli::init_logging(cli.verbose);
    match guardian::cli::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            // Errors of HTTP clients quote URLs: print nothing that was registered as secret.
            let redact =
                |e: &dyn std::fmt::Display| guardian::secret::redact(&e.to_string()).into_owned();
            eprintln!("error: {}", redact(&err));
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {}", redact(&cause));
            }
            std::process::ExitCode::FAILURE
        }
    }
}
