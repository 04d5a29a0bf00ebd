//! A SoftHSM2 token in a private directory for the benchmarks' token rows. Each benchmark is its
//! own crate, so they include this file with `#[path]`.

use std::path::Path;
use std::sync::Arc;

use ca_enrol::ca::Pkcs11Token;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const PIN: &str = "1234";

/// Initialises a token labelled `label` under `dir` and opens it, or says why it cannot.
/// Call it before any other thread starts: it sets `SOFTHSM2_CONF` (which child processes
/// inherit), and that then races with nothing.
pub fn token(dir: &Path, label: &str) -> Result<Arc<Pkcs11Token>, String> {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).map_err(|e| e.to_string())?;
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let out = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label])
        .args(["--pin", PIN, "--so-pin", "5678"])
        .output()
        .map_err(|e| format!("softhsm2-util: {e} (apt-get install softhsm2)"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Pkcs11Token::open(Path::new(MODULE), label, PIN).map_err(|e| e.to_string())
}
