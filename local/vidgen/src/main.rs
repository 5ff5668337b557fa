use clap::Parser;
use vidgen_shared::telemetry::{init_with_default, LogFormat};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = vidgen::cli::Cli::parse();
    // A server logs its work; a one-shot command shows a progress bar, not log lines.
    let default_filter = match cli.command {
        vidgen::cli::Command::Serve { .. } => "info",
        _ => "warn",
    };
    init_with_default(LogFormat::Text, default_filter);
    match vidgen::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vidgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
