//! The `guardian` binary: parse arguments, run, print the error chain.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = guardian::cli::Cli::parse();
    guardian::cli::init_logging(cli.verbose);
    match guardian::cli::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
