//! Independent checks of certificates: the openssl command line and pkilint, tools this
//! project did not write. Missing tools fail the test with the install command.

use std::path::Path;
use std::process::Command;

fn run(tool: &str, args: &[&str], hint: &str) -> std::process::Output {
    Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("required test tool `{tool}` could not run ({e}); {hint}"))
}

/// `openssl verify` against the root with the issuing CA as untrusted intermediate, at time
/// `at` (unix seconds: the tests' clock may run ahead of the machine's).
pub fn assert_openssl_verifies(root: &Path, issuing: &Path, leaf: &Path, at: i64) {
    let at = at.to_string();
    let out = run(
        "openssl",
        &[
            "verify",
            "-attime",
            &at,
            "-CAfile",
            root.to_str().unwrap(),
            "-untrusted",
            issuing.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ],
        "install openssl",
    );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains(": OK"),
        "openssl verify failed:\n{text}"
    );
}

/// pkilint's RFC 5280 certificate lint at WARNING: exit 0 and no findings.
pub fn assert_pkilint_clean(cert: &Path) {
    let out = run(
        "lint_pkix_cert",
        &["lint", "-s", "WARNING", cert.to_str().unwrap()],
        "install pkilint (pip install pkilint)",
    );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "pkilint findings:\n{text}"
    );
}

/// Writes DER as PEM to `path`.
pub fn write_pem(path: &Path, der: &[u8]) {
    std::fs::write(path, ca_enrol::ca::certificate_to_pem(der)).unwrap();
}
