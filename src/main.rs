use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = mixatlas::cli::args::Cli::parse();
    match mixatlas::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
