//! Fixtures and external-tool runners shared by the unit tests.
//!
//! External checkers (openssl CLI, pkilint) are required: a missing tool fails
//! the test with an install hint instead of skipping it.

use std::path::Path;
use std::process::{Command, Output};

use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509ReqBuilder};

use super::{CeremonyConfig, PersonalProfile};

pub fn rsa_key(bits: u32) -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap()
}

pub fn ec_key(nid: Nid) -> PKey<Private> {
    let group = EcGroup::from_curve_name(nid).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A DER CSR signed by `key` with `md`, with a subject and a requested
/// extension that the CA must ignore.
pub fn csr_der(key: &PKey<Private>, md: MessageDigest) -> Vec<u8> {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "ignored by the CA")
        .unwrap();
    let mut req = X509ReqBuilder::new().unwrap();
    req.set_subject_name(&name.build()).unwrap();
    req.set_pubkey(key).unwrap();
    let mut exts = openssl::stack::Stack::new().unwrap();
    exts.push(
        openssl::x509::extension::BasicConstraints::new()
            .critical()
            .ca()
            .build()
            .unwrap(),
    )
    .unwrap();
    req.add_extensions(&exts).unwrap();
    req.sign(key, md).unwrap();
    req.build().to_der().unwrap()
}

pub fn profile() -> PersonalProfile {
    PersonalProfile::from_toml(
        include_str!("../../ca-root/profiles/personal.toml"),
        "http://ca.example.vn",
    )
    .unwrap()
}

pub fn ceremony_config() -> CeremonyConfig {
    toml::from_str(include_str!("../../ca-root/ceremony.toml")).unwrap()
}

fn run(tool: &str, args: &[&str], install_hint: &str) -> Output {
    match Command::new(tool).args(args).output() {
        Ok(out) => out,
        Err(e) => panic!("required test tool `{tool}` could not run ({e}); {install_hint}"),
    }
}

/// `openssl verify -CAfile root -untrusted issuing leaf` must print "leaf: OK".
pub fn assert_openssl_verifies(dir: &Path, leaf: &Path) {
    let root = dir.join("root.pem");
    let issuing = dir.join("issuing.pem");
    let out = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            &root.to_string_lossy(),
            "-untrusted",
            &issuing.to_string_lossy(),
            &leaf.to_string_lossy(),
        ],
        "install the openssl CLI (apt-get install openssl)",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with(": OK"),
        "openssl verify failed for {}:\n{stdout}{}",
        leaf.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a pkilint command; returns (exit code, stdout + stderr).
pub fn pkilint(tool: &str, args: &[&str]) -> (i32, String) {
    let out = run(tool, args, "install pkilint (pip install pkilint)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `lint_pkix_cert lint -s WARNING cert` must exit 0 and print nothing.
pub fn assert_pkilint_clean(cert: &Path) {
    let (code, text) = pkilint(
        "lint_pkix_cert",
        &["lint", "-s", "WARNING", &cert.to_string_lossy()],
    );
    assert!(
        code == 0 && text.trim().is_empty(),
        "lint_pkix_cert found problems in {} (exit {code}):\n{text}",
        cert.display()
    );
}

/// Runs the openssl CLI; returns (success, stdout + stderr).
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = run(
        "openssl",
        args,
        "install the openssl CLI (apt-get install openssl)",
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A pkilint command (`lint_crl`, `lint_ocsp_response`, ...) must exit 0 and
/// print nothing at `-s WARNING`.
pub fn assert_pkilint_tool_clean(tool: &str, args: &[&str], file: &Path) {
    let mut all = vec!["lint"];
    all.extend_from_slice(args);
    all.extend(["-s", "WARNING"]);
    let file_arg = file.to_string_lossy();
    all.push(&file_arg);
    let (code, text) = pkilint(tool, &all);
    assert!(
        code == 0 && text.trim().is_empty(),
        "{tool} found problems in {} (exit {code}):\n{text}",
        file.display()
    );
}
