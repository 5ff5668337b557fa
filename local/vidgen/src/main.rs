use clap::Parser;
use vidgen_shared::telemetry::{init, LogFormat};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = vidgen::cli::Cli::parse();
    // A server logs its work; a one-shot command shows a progress bar, not log lines.
    let serving = matches!(cli.command, vidgen::cli::Command::Serve { .. });
    let filter = match vidgen::settings::log_filter(&vidgen::settings::process_env, serving) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("vidgen: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    init(LogFormat::Text, &filter);
    match vidgen::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vidgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
