#![deny(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = ca_enrol::cli::Cli::parse();
    let code = match ca_enrol::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ca-enrol: {e}");
            2
        }
    };
    exit_now(code)
}

/// Ends the process without the C libraries' exit handlers. Other threads (the runtime's, the
/// database pool's) may still be inside libpq, and the Kerberos library it links destroys a
/// mutex such a thread holds from its exit handler: the process then aborted instead of
/// ending with `code` (seen in CI, a start refused by a taken port on PostgreSQL). Nothing of
/// ours waits on those handlers: a write has committed or never will, and output is flushed.
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` only ends the process; it touches no memory of ours.
    unsafe { libc::_exit(code) }
}
