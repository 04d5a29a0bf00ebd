#![deny(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = ca_enrol::cli::Cli::parse();
    match ca_enrol::cli::run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ca-enrol: {e}");
            std::process::exit(2);
        }
    }
}
