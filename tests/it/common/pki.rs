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

/// `openssl ocsp` as the client of the running service at `url` for `leaf`, issued by the CA
/// under `ca_root`: asserts `Response verify OK` and returns the status word (`good`,
/// `revoked`, `unknown`) with the whole output. `clock_skew` (seconds) allows for the tests'
/// clock running ahead of the machine's.
pub fn ocsp_status(ca_root: &Path, url: &str, leaf: &Path, clock_skew: i64) -> (String, String) {
    let issuing = ca_root.join("issuing.pem");
    let chain = ca_root.join("chain.pem");
    let skew = (clock_skew + 3600).to_string();
    let out = run(
        "openssl",
        &[
            "ocsp",
            "-url",
            url,
            "-CAfile",
            chain.to_str().unwrap(),
            "-validity_period",
            &skew,
            "-issuer",
            issuing.to_str().unwrap(),
            "-cert",
            leaf.to_str().unwrap(),
        ],
        "install openssl",
    );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Response verify OK"), "openssl ocsp:\n{text}");
    let prefix = format!("{}: ", leaf.display());
    let status = text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no status line in:\n{text}"))
        .trim()
        .to_string();
    (status, text)
}

/// The serials a DER CRL lists, lower-case hex without leading zeros.
pub fn crl_serials(der: &[u8]) -> Vec<String> {
    let crl = openssl::x509::X509Crl::from_der(der).unwrap();
    crl.get_revoked()
        .map(|s| {
            s.iter()
                .map(|r| {
                    let bn = r.serial_number().to_bn().unwrap();
                    bn.to_hex_str().unwrap().to_lowercase()
                })
                .collect()
        })
        .unwrap_or_default()
}
