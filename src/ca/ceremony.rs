//! The key ceremony: root CA, issuing CA, OCSP responder and the provider's
//! document-sealing key, written once.
//!
//! Development and test deployments run it; production keys are generated in
//! the HSM (Circular 15/2025), where the same profile applies.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Months, Utc};
use const_oid::db::{rfc5280, rfc6960};
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, PKey, Private};
use openssl::rsa::Rsa;
use openssl::symm::Cipher;
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use openssl::x509::{
    X509Builder, X509Extension, X509Name, X509NameBuilder, X509NameRef, X509ReqBuilder, X509,
};
use serde::Deserialize;

use super::asn1;
use super::authority::check_ca_name;
use super::issue::key_identifier;
use super::pem::{certificate_to_pem, to_pem};
use super::{CaError, IssuingCa, OpenSslSigner, Pkcs11Token, Serial, SignatureAlgorithm, Signer};

/// Root CA key size: the Vietnamese national roots are RSA-4096.
const ROOT_RSA_BITS: u32 = 4096;

/// `ca-root/ceremony.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonyConfig {
    pub root: RootCaConfig,
    pub issuing: IssuingCaConfig,
    pub ocsp: OcspConfig,
    /// Absent in a `ceremony.toml` from before the sealing key: every field defaults.
    #[serde(default)]
    pub sealing: SealingConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootCaConfig {
    pub organization: String,
    pub common_name: String,
    #[serde(default = "default_root_years")]
    pub validity_years: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuingCaConfig {
    /// Short name used in URLs: `/ca/{name}.crt`, `/crl/{name}.crl`.
    pub name: String,
    pub organization: String,
    pub common_name: String,
    #[serde(default)]
    pub key: CaKeyAlgorithm,
    #[serde(default = "default_issuing_years")]
    pub validity_years: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcspConfig {
    pub common_name: String,
    #[serde(default = "default_ocsp_days")]
    pub validity_days: u32,
}

/// The provider's document-sealing certificate (`[sealing]`), issued by the issuing CA.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SealingConfig {
    /// The provider organisation, the subject's O; empty: `issuing.organization`.
    pub organization: String,
    /// The subject's CN; empty: the organisation.
    pub common_name: String,
    /// Cut to the issuing CA's notAfter when that comes first.
    pub validity_days: u32,
}

impl Default for SealingConfig {
    fn default() -> Self {
        Self {
            organization: String::new(),
            common_name: String::new(),
            validity_days: 3 * 365,
        }
    }
}

impl CeremonyConfig {
    /// The sealing certificate's O and CN, after the defaults.
    fn sealing_names(&self) -> (&str, &str) {
        let org = match self.sealing.organization.as_str() {
            "" => self.issuing.organization.as_str(),
            o => o,
        };
        let cn = match self.sealing.common_name.as_str() {
            "" => org,
            c => c,
        };
        (org, cn)
    }
}

/// Key algorithm of the issuing CA (and of its OCSP responder and sealing key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaKeyAlgorithm {
    #[default]
    Rsa2048,
    Rsa3072,
    P256,
    P384,
}

fn default_root_years() -> u32 {
    25
}
fn default_issuing_years() -> u32 {
    10
}
fn default_ocsp_days() -> u32 {
    365
}

/// Where the ceremony wrote its files, with SHA-256 certificate fingerprints
/// for the ceremony record.
#[derive(Clone, Debug)]
pub struct CeremonyOutput {
    pub root_cert: PathBuf,
    pub issuing_cert: PathBuf,
    pub ocsp_cert: PathBuf,
    pub sealing_cert: PathBuf,
    pub chain: PathBuf,
    pub root_key: PathBuf,
    pub issuing_key: PathBuf,
    pub ocsp_key: PathBuf,
    pub sealing_key: PathBuf,
    pub root_sha256: String,
    pub issuing_sha256: String,
    pub ocsp_sha256: String,
    pub sealing_sha256: String,
}

/// What [`ensure_ceremony`] did.
#[derive(Clone, Debug)]
pub enum Ensured {
    /// Every file was there.
    Complete,
    /// The whole ceremony ran (none was there).
    Ceremony(Box<CeremonyOutput>),
    /// Only the sealing key and certificate were missing (a CA from before them): made,
    /// signed by the issuing key. The SHA-256 fingerprint of the new certificate.
    SealingAdded { sealing_sha256: String },
}

/// The files of a complete ceremony, relative to the CA directory. "Complete" means all
/// nine exist; the ceremony runs only when none does.
pub const CEREMONY_FILES: [&str; 9] = [
    "private/root.key.pem",
    "private/issuing.key.pem",
    "private/ocsp.key.pem",
    "private/sealing.key.pem",
    "root.pem",
    "issuing.pem",
    "ocsp.pem",
    "sealing.pem",
    "chain.pem",
];

/// The document-sealing files, added to a CA from before them at start-up (both missing,
/// every other file present); one without the other is a partial set.
pub const SEALING_FILES: [&str; 2] = ["private/sealing.key.pem", "sealing.pem"];

/// Where a ceremony writes before its commit point; a leftover one is discarded.
const STAGING: &str = ".ceremony.staging";
/// The staging directory once every file in it is written and synced (the commit
/// point is the rename); a leftover one is installed.
const STAGED: &str = ".ceremony.staged";
/// Serialises ceremonies and their recovery between processes sharing `dir`.
const LOCK: &str = ".ceremony.lock";

/// Generates the root, issuing, OCSP and sealing keys and certificates into `dir`.
///
/// Refuses with [`CaError::KeysExist`] if any output file already exists, and
/// then writes nothing: every key pair is generated exactly once. The files are
/// written atomically as a set: a crash leaves either none or all of
/// [`CEREMONY_FILES`] (see [`ensure_ceremony`] for the recovery).
pub fn run_ceremony(
    dir: &Path,
    cfg: &CeremonyConfig,
    passphrase: Option<&[u8]>,
) -> Result<CeremonyOutput, CaError> {
    let _lock = begin(dir, cfg, &CEREMONY_FILES)?;
    ceremony(dir, cfg, passphrase)
}

/// Makes sure `dir` holds a complete ceremony output: finishes a ceremony that
/// crashed after its commit point, discards one that crashed before it, then
/// runs the ceremony when none of [`CEREMONY_FILES`] exists, adds the sealing key
/// and certificate when only [`SEALING_FILES`] are missing (a CA from before them),
/// and does nothing when all exist.
///
/// Any other partial set (files deleted by hand, or left by a version that wrote them
/// one by one) is refused naming the missing files and is never replaced: its keys
/// may already have signed certificates.
pub fn ensure_ceremony(
    dir: &Path,
    cfg: &CeremonyConfig,
    passphrase: Option<&[u8]>,
) -> Result<Ensured, CaError> {
    let _lock = lock(dir)?;
    recover(dir)?;
    let missing: Vec<&str> = CEREMONY_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).exists())
        .collect();
    if missing.is_empty() {
        return Ok(Ensured::Complete);
    }
    if missing == SEALING_FILES {
        check_config(cfg)?;
        let issuing = IssuingCa::load(
            &cfg.issuing.name,
            &dir.join("issuing.pem"),
            &dir.join("private/issuing.key.pem"),
            passphrase,
        )?;
        let key = generate(key_algorithm(issuing.signer().algorithm()))?;
        let sealing = sealing_certificate(cfg, &key, &issuing)?;
        let key_pem = encrypt_key(&key, passphrase)?;
        stage(
            dir,
            &[
                ("private/sealing.key.pem", &key_pem, 0o600),
                (
                    "sealing.pem",
                    certificate_to_pem(&sealing).as_bytes(),
                    0o644,
                ),
            ],
        )?;
        install(dir)?;
        return Ok(Ensured::SealingAdded {
            sealing_sha256: fingerprint(&sealing),
        });
    }
    if missing.len() < CEREMONY_FILES.len() {
        return Err(CaError::ConfigInvalid(format!(
            "incomplete CA files, missing {}; restore them from the ceremony backup \
             (a partial set is not regenerated)",
            missing.join(", ")
        )));
    }
    check_config(cfg)?;
    ceremony(dir, cfg, passphrase).map(|out| Ensured::Ceremony(Box::new(out)))
}

/// A key algorithm giving `alg`'s signatures (the sealing key of a CA from before it takes
/// the issuing key's).
fn key_algorithm(alg: SignatureAlgorithm) -> CaKeyAlgorithm {
    match alg {
        SignatureAlgorithm::Sha256WithRsa => CaKeyAlgorithm::Rsa2048,
        SignatureAlgorithm::EcdsaSha256 => CaKeyAlgorithm::P256,
        SignatureAlgorithm::EcdsaSha384 => CaKeyAlgorithm::P384,
    }
}

/// PEM PKCS#8, encrypted under the passphrase when there is one.
fn encrypt_key(k: &PKey<Private>, passphrase: Option<&[u8]>) -> Result<Vec<u8>, CaError> {
    Ok(match passphrase {
        Some(p) => k.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), p)?,
        None => k.private_key_to_pem_pkcs8()?,
    })
}

/// The sealing certificate for `key`, signed by the issuing CA.
fn sealing_certificate<T: HasPublic>(
    cfg: &CeremonyConfig,
    key: &PKey<T>,
    issuing: &IssuingCa,
) -> Result<Vec<u8>, CaError> {
    signed(
        sealing_builder(cfg, Utc::now(), key, issuing)?,
        SignWith::Signer(issuing.signer().as_ref()),
    )
}

fn ceremony(
    dir: &Path,
    cfg: &CeremonyConfig,
    passphrase: Option<&[u8]>,
) -> Result<CeremonyOutput, CaError> {
    let private = dir.join("private");
    let out = CeremonyOutput {
        root_cert: dir.join("root.pem"),
        issuing_cert: dir.join("issuing.pem"),
        ocsp_cert: dir.join("ocsp.pem"),
        sealing_cert: dir.join("sealing.pem"),
        chain: dir.join("chain.pem"),
        root_key: private.join("root.key.pem"),
        issuing_key: private.join("issuing.key.pem"),
        ocsp_key: private.join("ocsp.key.pem"),
        sealing_key: private.join("sealing.key.pem"),
        root_sha256: String::new(),
        issuing_sha256: String::new(),
        ocsp_sha256: String::new(),
        sealing_sha256: String::new(),
    };

    let now = Utc::now();
    let root_key = PKey::from_rsa(Rsa::generate(ROOT_RSA_BITS)?)?;
    let issuing_key = generate(cfg.issuing.key)?;
    let ocsp_key = generate(cfg.issuing.key)?;
    let sealing_key = generate(cfg.issuing.key)?;
    let issuing_md = match cfg.issuing.key {
        CaKeyAlgorithm::P384 => MessageDigest::sha384(),
        _ => MessageDigest::sha256(),
    };
    let root_ski = key_identifier(&root_key.public_key_to_der()?)?;
    let issuing_ski = key_identifier(&issuing_key.public_key_to_der()?)?;
    let issuing_name = name(&cfg.issuing.organization, &cfg.issuing.common_name)?;

    let root = signed(
        root_builder(cfg, now, &root_key)?,
        SignWith::Key(&root_key, MessageDigest::sha256()),
    )?;
    let issuing = signed(
        issuing_builder(cfg, now, &issuing_key, &root_ski)?,
        SignWith::Key(&root_key, MessageDigest::sha256()),
    )?;
    let ocsp = signed(
        ocsp_builder(cfg, now, &ocsp_key, &issuing_name, &issuing_ski)?,
        SignWith::Key(&issuing_key, issuing_md),
    )?;
    let issuing_ca = IssuingCa::new(
        &cfg.issuing.name,
        issuing.clone(),
        Arc::new(OpenSslSigner::from_pkey(&issuing_key)?),
    )?;
    let sealing = signed(
        sealing_builder(cfg, now, &sealing_key, &issuing_ca)?,
        SignWith::Key(&issuing_key, issuing_md),
    )?;

    let root_pem = certificate_to_pem(&root);
    let issuing_pem = certificate_to_pem(&issuing);
    let ocsp_pem = certificate_to_pem(&ocsp);
    let sealing_pem = certificate_to_pem(&sealing);
    let chain_pem = format!("{issuing_pem}{root_pem}");
    let root_key_pem = encrypt_key(&root_key, passphrase)?;
    let issuing_key_pem = encrypt_key(&issuing_key, passphrase)?;
    let ocsp_key_pem = encrypt_key(&ocsp_key, passphrase)?;
    let sealing_key_pem = encrypt_key(&sealing_key, passphrase)?;

    stage(
        dir,
        &[
            ("private/root.key.pem", root_key_pem.as_slice(), 0o600),
            ("private/issuing.key.pem", &issuing_key_pem, 0o600),
            ("private/ocsp.key.pem", &ocsp_key_pem, 0o600),
            ("private/sealing.key.pem", &sealing_key_pem, 0o600),
            ("root.pem", root_pem.as_bytes(), 0o644),
            ("issuing.pem", issuing_pem.as_bytes(), 0o644),
            ("ocsp.pem", ocsp_pem.as_bytes(), 0o644),
            ("sealing.pem", sealing_pem.as_bytes(), 0o644),
            ("chain.pem", chain_pem.as_bytes(), 0o644),
        ],
    )?;
    install(dir)?;
    Ok(CeremonyOutput {
        root_sha256: fingerprint(&root),
        issuing_sha256: fingerprint(&issuing),
        ocsp_sha256: fingerprint(&ocsp),
        sealing_sha256: fingerprint(&sealing),
        ..out
    })
}

/// The public files of a ceremony whose keys are in a token: nothing secret is written.
pub const TOKEN_CEREMONY_FILES: [&str; 5] = [
    "root.pem",
    "issuing.pem",
    "ocsp.pem",
    "sealing.pem",
    "chain.pem",
];

/// Where the keys of a token ceremony live: key labels in the token.
#[derive(Clone, Debug)]
pub struct TokenKeyLabels {
    pub root: String,
    pub issuing: String,
    pub ocsp: String,
    pub sealing: String,
}

impl TokenKeyLabels {
    /// The keys the service signs with, generated by `--csr-only` and by the full
    /// ceremony.
    fn online(&self) -> [&str; 3] {
        [&self.issuing, &self.ocsp, &self.sealing]
    }
}

/// SHA-256 fingerprints of a token ceremony's certificates, for the ceremony record.
#[derive(Clone, Debug)]
pub struct TokenCeremonyOutput {
    pub root_sha256: String,
    pub issuing_sha256: String,
    pub ocsp_sha256: String,
    pub sealing_sha256: String,
}

/// The ceremony with every key generated inside the token (`ceremony --pkcs11`): the
/// root (RSA-4096), issuing, OCSP responder and sealing keys under `labels`, sensitive and never
/// extractable; only the certificates go to `dir` (as a set, like [`run_ceremony`]).
/// Refuses, generating nothing, when a certificate file or a key label already exists.
pub fn run_token_ceremony(
    dir: &Path,
    cfg: &CeremonyConfig,
    token: &Arc<Pkcs11Token>,
    labels: &TokenKeyLabels,
) -> Result<TokenCeremonyOutput, CaError> {
    let _lock = begin(dir, cfg, &TOKEN_CEREMONY_FILES)?;
    refuse_labels(token, labels, true)?;
    let root_pub = token.generate_rsa(&labels.root, ROOT_RSA_BITS)?;
    let root_signer = token.signer(&labels.root, 1)?;
    for label in labels.online() {
        token.generate(label, cfg.issuing.key)?;
    }
    let issuing_signer = token.signer(&labels.issuing, 1)?;
    let now = Utc::now();
    let root_pkey = PKey::public_key_from_der(&root_pub)?;
    let root = signed(
        root_builder(cfg, now, &root_pkey)?,
        SignWith::Signer(&root_signer),
    )?;
    let issuing_pkey = PKey::public_key_from_der(issuing_signer.public_key_der())?;
    let issuing = signed(
        issuing_builder(cfg, now, &issuing_pkey, &key_identifier(&root_pub)?)?,
        SignWith::Signer(&root_signer),
    )?;
    finish_token_ceremony(dir, cfg, token, labels, &root, &issuing)
}

/// `ceremony --pkcs11 --csr-only`: generates the issuing, OCSP responder and sealing keys in the
/// token and writes a CSR for the issuing key to `dir/issuing.csr.pem`, for a root kept
/// offline to sign. Returns the CSR's path.
pub fn token_issuing_csr(
    dir: &Path,
    cfg: &CeremonyConfig,
    token: &Arc<Pkcs11Token>,
    labels: &TokenKeyLabels,
) -> Result<PathBuf, CaError> {
    let _lock = begin(dir, cfg, &TOKEN_CEREMONY_FILES)?;
    refuse_any(dir, &["issuing.csr.pem"])?;
    refuse_labels(token, labels, false)?;
    let path = dir.join("issuing.csr.pem");
    for label in labels.online() {
        token.generate(label, cfg.issuing.key)?;
    }
    let issuing_signer = token.signer(&labels.issuing, 1)?;
    let mut b = X509ReqBuilder::new()?;
    let subject = name(&cfg.issuing.organization, &cfg.issuing.common_name)?;
    b.set_subject_name(&subject)?;
    let public = PKey::public_key_from_der(issuing_signer.public_key_der())?;
    b.set_pubkey(&public)?;
    let stand_in = stand_in_key(issuing_signer.algorithm())?;
    b.sign(&stand_in, digest(issuing_signer.algorithm()))?;
    let csr = resign(&b.build().to_der()?, &issuing_signer)?;
    write_new(&path, to_pem("CERTIFICATE REQUEST", &csr).as_bytes(), 0o644)?;
    Ok(path)
}

/// A PKCS#10 request for the key behind `signer` (a subscriber key the provider holds), as
/// proof of possession for the issuance path that takes CSRs. Its subject is a placeholder:
/// issuance takes the subject from the verified enrolment, never from the CSR.
pub fn request_for_key(signer: &dyn Signer) -> Result<Vec<u8>, CaError> {
    let mut b = X509ReqBuilder::new()?;
    let mut subject = X509NameBuilder::new()?;
    subject.append_entry_by_nid(Nid::COMMONNAME, "remote signing key")?;
    b.set_subject_name(&subject.build())?;
    let public = PKey::public_key_from_der(signer.public_key_der())?;
    b.set_pubkey(&public)?;
    let stand_in = stand_in_key(signer.algorithm())?;
    b.sign(&stand_in, digest(signer.algorithm()))?;
    resign(&b.build().to_der()?, signer)
}

/// `ceremony --pkcs11 --import-issuing <cert> --root <root>`: takes the issuing CA
/// certificate the offline root signed for the token's issuing key, checks it, signs the
/// OCSP responder and sealing certificates with the token's issuing key and writes the
/// public files.
pub fn import_token_issuing(
    dir: &Path,
    cfg: &CeremonyConfig,
    token: &Arc<Pkcs11Token>,
    labels: &TokenKeyLabels,
    issuing_pem: &[u8],
    root_pem: &[u8],
) -> Result<TokenCeremonyOutput, CaError> {
    let _lock = begin(dir, cfg, &TOKEN_CEREMONY_FILES)?;
    let bad = |m: &str| CaError::CertLoad(m.to_string());
    let issuing = X509::from_pem(issuing_pem).map_err(|_| bad("issuing: no certificate PEM"))?;
    let root = X509::from_pem(root_pem).map_err(|_| bad("root: no certificate PEM"))?;
    let root_pub = root.public_key()?;
    if !root.verify(&root_pub)? {
        return Err(bad("the root certificate is not self-signed"));
    }
    if !issuing.verify(&root_pub)?
        || issuing.issuer_name().to_der()? != root.subject_name().to_der()?
    {
        return Err(bad("the issuing certificate is not signed by this root"));
    }
    let issuing_signer = token.signer(&labels.issuing, 1)?;
    if issuing.public_key()?.public_key_to_der()? != issuing_signer.public_key_der() {
        return Err(CaError::KeyMismatch);
    }
    finish_token_ceremony(dir, cfg, token, labels, &root.to_der()?, &issuing.to_der()?)
}

/// Signs the OCSP responder and sealing certificates with the token's issuing key and
/// installs the public files; the issuing certificate is checked as start-up would check it.
fn finish_token_ceremony(
    dir: &Path,
    cfg: &CeremonyConfig,
    token: &Arc<Pkcs11Token>,
    labels: &TokenKeyLabels,
    root: &[u8],
    issuing: &[u8],
) -> Result<TokenCeremonyOutput, CaError> {
    let issuing_signer: Arc<dyn Signer> = Arc::new(token.signer(&labels.issuing, 1)?);
    let issuing_ca = IssuingCa::new(
        &cfg.issuing.name,
        issuing.to_vec(),
        Arc::clone(&issuing_signer),
    )?;
    let issuing_name = X509Name::from_der(issuing_ca.subject_der())?;
    let ocsp_signer = token.signer(&labels.ocsp, 1)?;
    let ocsp = signed(
        ocsp_builder(
            cfg,
            Utc::now(),
            &PKey::public_key_from_der(ocsp_signer.public_key_der())?,
            &issuing_name,
            issuing_ca.ski(),
        )?,
        SignWith::Signer(issuing_signer.as_ref()),
    )?;
    let sealing_signer = token.signer(&labels.sealing, 1)?;
    let sealing = sealing_certificate(
        cfg,
        &PKey::public_key_from_der(sealing_signer.public_key_der())?,
        &issuing_ca,
    )?;
    let root_pem = certificate_to_pem(root);
    let issuing_pem = certificate_to_pem(issuing);
    let ocsp_pem = certificate_to_pem(&ocsp);
    let sealing_pem = certificate_to_pem(&sealing);
    let chain_pem = format!("{issuing_pem}{root_pem}");
    stage(
        dir,
        &[
            ("root.pem", root_pem.as_bytes(), 0o644),
            ("issuing.pem", issuing_pem.as_bytes(), 0o644),
            ("ocsp.pem", ocsp_pem.as_bytes(), 0o644),
            ("sealing.pem", sealing_pem.as_bytes(), 0o644),
            ("chain.pem", chain_pem.as_bytes(), 0o644),
        ],
    )?;
    install(dir)?;
    Ok(TokenCeremonyOutput {
        root_sha256: fingerprint(root),
        issuing_sha256: fingerprint(issuing),
        ocsp_sha256: fingerprint(&ocsp),
        sealing_sha256: fingerprint(&sealing),
    })
}

/// `ceremony --pkcs11 --add-sealing-key`: for a token CA from before the sealing key,
/// generates it in the token and has the token's issuing key sign its certificate.
/// Refuses, generating nothing, when `sealing.pem` or the key label already exists.
/// Returns the certificate's SHA-256 fingerprint.
pub fn add_token_sealing(
    dir: &Path,
    cfg: &CeremonyConfig,
    token: &Arc<Pkcs11Token>,
    labels: &TokenKeyLabels,
) -> Result<String, CaError> {
    let _lock = begin(dir, cfg, &["sealing.pem"])?;
    let issuing_cert = dir.join("issuing.pem");
    let issuing_der = std::fs::read(&issuing_cert)
        .ok()
        .and_then(|pem| super::pem_to_der(&pem, "CERTIFICATE"))
        .ok_or_else(|| {
            CaError::CertLoad(format!(
                "{}: no issuing CA certificate; run the full ceremony instead",
                issuing_cert.display()
            ))
        })?;
    let issuing = IssuingCa::new(
        &cfg.issuing.name,
        issuing_der,
        Arc::new(token.signer(&labels.issuing, 1)?),
    )?;
    let public = token.generate(&labels.sealing, key_algorithm(issuing.signer().algorithm()))?;
    let sealing = sealing_certificate(cfg, &PKey::public_key_from_der(&public)?, &issuing)?;
    stage(
        dir,
        &[(
            "sealing.pem",
            certificate_to_pem(&sealing).as_bytes(),
            0o644,
        )],
    )?;
    install(dir)?;
    Ok(fingerprint(&sealing))
}

/// What every ceremony does first: checks the config, takes the lock of `dir` (held until
/// the returned file is dropped), recovers a ceremony a crash interrupted, and refuses,
/// before any key is generated, when one of `outputs` exists.
fn begin(dir: &Path, cfg: &CeremonyConfig, outputs: &[&str]) -> Result<File, CaError> {
    check_config(cfg)?;
    let lock = lock(dir)?;
    recover(dir)?;
    refuse_any(dir, outputs)?;
    Ok(lock)
}

/// [`CaError::KeysExist`] naming the first of `files` (relative to `dir`) that exists.
fn refuse_any(dir: &Path, files: &[&str]) -> Result<(), CaError> {
    match files.iter().map(|f| dir.join(f)).find(|p| p.exists()) {
        Some(path) => Err(CaError::KeysExist { path }),
        None => Ok(()),
    }
}

/// Refuses a token ceremony over existing key labels, before any key is generated.
fn refuse_labels(
    token: &Pkcs11Token,
    labels: &TokenKeyLabels,
    with_root: bool,
) -> Result<(), CaError> {
    let root = with_root.then_some(labels.root.as_str());
    for label in labels.online().into_iter().chain(root) {
        if token.has_key(label)? {
            return Err(CaError::ConfigInvalid(format!(
                "token {:?} already holds a key labelled {label:?}; nothing was generated",
                token.label()
            )));
        }
    }
    Ok(())
}

/// Makes sure `dir` holds the public files of a token ceremony (finishing one a crash
/// interrupted after its commit point). Keys in a token are never generated at start-up.
pub fn ensure_token_ceremony(dir: &Path) -> Result<(), CaError> {
    let _lock = lock(dir)?;
    recover(dir)?;
    let missing: Vec<&str> = TOKEN_CEREMONY_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).exists())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else if missing == ["sealing.pem"] {
        Err(CaError::ConfigInvalid(
            "missing sealing.pem, the document-sealing certificate (a CA from before it): \
             run `ca-enrol ceremony --pkcs11 --add-sealing-key` to generate its key in the \
             token"
                .into(),
        ))
    } else {
        Err(CaError::ConfigInvalid(format!(
            "missing {}: run `ca-enrol ceremony --pkcs11` (or --csr-only, then \
             --import-issuing) first",
            missing.join(", ")
        )))
    }
}

/// How a certificate gets its signature: a key in memory (the file ceremony) or any
/// [`Signer`] (a token key).
enum SignWith<'a> {
    Key(&'a PKey<Private>, MessageDigest),
    Signer(&'a dyn Signer),
}

fn digest(alg: SignatureAlgorithm) -> MessageDigest {
    match alg {
        SignatureAlgorithm::EcdsaSha384 => MessageDigest::sha384(),
        _ => MessageDigest::sha256(),
    }
}

/// A throwaway key of the signer's type: OpenSSL's builders only sign with a key they
/// hold, so they sign with this one, which gives the right AlgorithmIdentifier inside
/// the signed part, and [`resign`] replaces the signature.
fn stand_in_key(alg: SignatureAlgorithm) -> Result<PKey<Private>, CaError> {
    generate(key_algorithm(alg))
}

/// Replaces the signature of a signed structure (certificate or CSR) with one by `signer`.
fn resign(signed_der: &[u8], signer: &dyn Signer) -> Result<Vec<u8>, CaError> {
    let parts = asn1::split_signed(signed_der)
        .ok_or_else(|| CaError::Unexpected("cannot split a signed structure".into()))?;
    let algorithm = signer.algorithm().algorithm_identifier_der();
    if parts.algorithm != algorithm {
        return Err(CaError::Unexpected(
            "stand-in signature algorithm differs from the signer's".into(),
        ));
    }
    let signature = signer.sign(parts.tbs)?;
    let mut out = Vec::with_capacity(signed_der.len() + 16);
    asn1::sequence(&mut out, |o| {
        o.extend_from_slice(parts.tbs);
        o.extend_from_slice(algorithm);
        asn1::bit_string(o, &signature);
    });
    Ok(out)
}

/// Signs a certificate builder, returning the certificate DER.
fn signed(mut b: X509Builder, with: SignWith<'_>) -> Result<Vec<u8>, CaError> {
    match with {
        SignWith::Key(key, md) => {
            b.sign(key, md)?;
            Ok(b.build().to_der()?)
        }
        SignWith::Signer(signer) => {
            let stand_in = stand_in_key(signer.algorithm())?;
            b.sign(&stand_in, digest(signer.algorithm()))?;
            resign(&b.build().to_der()?, signer)
        }
    }
}

fn root_builder<T: HasPublic>(
    cfg: &CeremonyConfig,
    now: DateTime<Utc>,
    key: &PKey<T>,
) -> Result<X509Builder, CaError> {
    let root_name = name(&cfg.root.organization, &cfg.root.common_name)?;
    let until = add_months(now, cfg.root.validity_years.saturating_mul(12))?;
    let mut b = builder(&root_name, &root_name, key, now, until)?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    b.append_extension(ski_ext(&key_identifier(&key.public_key_to_der()?)?)?)?;
    Ok(b)
}

fn issuing_builder<T: HasPublic>(
    cfg: &CeremonyConfig,
    now: DateTime<Utc>,
    key: &PKey<T>,
    root_ski: &[u8],
) -> Result<X509Builder, CaError> {
    let root_name = name(&cfg.root.organization, &cfg.root.common_name)?;
    let issuing_name = name(&cfg.issuing.organization, &cfg.issuing.common_name)?;
    let until = add_months(now, cfg.issuing.validity_years.saturating_mul(12))?;
    let mut b = builder(&issuing_name, &root_name, key, now, until)?;
    b.append_extension(BasicConstraints::new().critical().ca().pathlen(0).build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    b.append_extension(ski_ext(&key_identifier(&key.public_key_to_der()?)?)?)?;
    b.append_extension(aki_ext(root_ski)?)?;
    Ok(b)
}

fn ocsp_builder<T: HasPublic>(
    cfg: &CeremonyConfig,
    now: DateTime<Utc>,
    key: &PKey<T>,
    issuing_name: &X509NameRef,
    issuing_ski: &[u8],
) -> Result<X509Builder, CaError> {
    let ocsp_name = name(&cfg.issuing.organization, &cfg.ocsp.common_name)?;
    let until = now + chrono::Duration::days(i64::from(cfg.ocsp.validity_days));
    let mut b = builder(&ocsp_name, issuing_name, key, now, until)?;
    b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    b.append_extension(ExtendedKeyUsage::new().other("OCSPSigning").build()?)?;
    // id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1): clients need not check
    // the responder's own status; hence the short validity.
    b.append_extension(raw_ext(&rfc6960::ID_PKIX_OCSP_NOCHECK, &[0x05, 0x00])?)?;
    b.append_extension(ski_ext(&key_identifier(&key.public_key_to_der()?)?)?)?;
    b.append_extension(aki_ext(issuing_ski)?)?;
    Ok(b)
}

/// The provider's document-sealing certificate: `C=VN, O=<provider>, CN=…`, keyUsage
/// digitalSignature + nonRepudiation (critical), within the issuing CA's validity; EKU
/// id-kp-documentSigning (RFC 9336) and Microsoft's Document Signing, which Adobe Acrobat
/// accepts and which predates the RFC one that older validators do not know.
fn sealing_builder<T: HasPublic>(
    cfg: &CeremonyConfig,
    now: DateTime<Utc>,
    key: &PKey<T>,
    issuing: &IssuingCa,
) -> Result<X509Builder, CaError> {
    let (org, cn) = cfg.sealing_names();
    let subject = name(org, cn)?;
    let issuer = X509Name::from_der(issuing.subject_der())?;
    let until = (now + chrono::Duration::days(i64::from(cfg.sealing.validity_days)))
        .min(issuing.not_after());
    let mut b = builder(&subject, &issuer, key, now, until)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .non_repudiation()
            .build()?,
    )?;
    b.append_extension(
        ExtendedKeyUsage::new()
            .other(&asn1::oid::KP_DOCUMENT_SIGNING.to_string())
            .other(&asn1::oid::MS_DOCUMENT_SIGNING.to_string())
            .build()?,
    )?;
    b.append_extension(ski_ext(&key_identifier(&key.public_key_to_der()?)?)?)?;
    b.append_extension(aki_ext(issuing.ski())?)?;
    Ok(b)
}

fn check_config(cfg: &CeremonyConfig) -> Result<(), CaError> {
    check_ca_name(&cfg.issuing.name)?;
    let (sealing_org, sealing_cn) = cfg.sealing_names();
    for (what, s) in [
        ("root.organization", cfg.root.organization.as_str()),
        ("root.common_name", &cfg.root.common_name),
        ("issuing.organization", &cfg.issuing.organization),
        ("issuing.common_name", &cfg.issuing.common_name),
        ("ocsp.common_name", &cfg.ocsp.common_name),
        ("sealing.organization", sealing_org),
        ("sealing.common_name", sealing_cn),
    ] {
        // ub-organization-name and ub-common-name are both 64.
        let n = s.chars().count();
        if n == 0 || n > 64 || s.chars().any(char::is_control) {
            return Err(CaError::ConfigInvalid(format!(
                "{what} must be 1 to 64 characters"
            )));
        }
    }
    let years_ok = cfg.issuing.validity_years >= 1
        && cfg.issuing.validity_years < cfg.root.validity_years
        && cfg.root.validity_years <= 50;
    let days_ok =
        (1..=cfg.issuing.validity_years.saturating_mul(365)).contains(&cfg.ocsp.validity_days);
    let sealing_ok =
        (1..=cfg.issuing.validity_years.saturating_mul(365)).contains(&cfg.sealing.validity_days);
    if !years_ok || !days_ok || !sealing_ok {
        return Err(CaError::ConfigInvalid(
            "validity must nest: ocsp and sealing days < issuing years < root years <= 50".into(),
        ));
    }
    Ok(())
}

pub(super) fn generate(alg: CaKeyAlgorithm) -> Result<PKey<Private>, CaError> {
    let ec = |nid| -> Result<PKey<Private>, CaError> {
        let group = EcGroup::from_curve_name(nid)?;
        Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
    };
    match alg {
        CaKeyAlgorithm::Rsa2048 => Ok(PKey::from_rsa(Rsa::generate(2048)?)?),
        CaKeyAlgorithm::Rsa3072 => Ok(PKey::from_rsa(Rsa::generate(3072)?)?),
        CaKeyAlgorithm::P256 => ec(Nid::X9_62_PRIME256V1),
        CaKeyAlgorithm::P384 => ec(Nid::SECP384R1),
    }
}

/// `C=VN, O=…, CN=…`. OpenSSL's default string mask gives PrintableString for
/// C and UTF8String for O and CN.
fn name(organization: &str, common_name: &str) -> Result<X509Name, CaError> {
    let mut b = X509NameBuilder::new()?;
    b.append_entry_by_nid(Nid::COUNTRYNAME, "VN")?;
    b.append_entry_by_nid(Nid::ORGANIZATIONNAME, organization)?;
    b.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    Ok(b.build())
}

fn builder<T: HasPublic>(
    subject: &X509NameRef,
    issuer: &X509NameRef,
    key: &PKey<T>,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<X509Builder, CaError> {
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = Serial::generate()?;
    let serial = Asn1Integer::from_bn(&*BigNum::from_slice(serial.as_bytes())?)?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(subject)?;
    b.set_issuer_name(issuer)?;
    b.set_pubkey(key)?;
    let (not_before, not_after) = (
        Asn1Time::from_unix(not_before.timestamp())?,
        Asn1Time::from_unix(not_after.timestamp())?,
    );
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    Ok(b)
}

fn add_months(t: DateTime<Utc>, months: u32) -> Result<DateTime<Utc>, CaError> {
    t.checked_add_months(Months::new(months))
        .ok_or_else(|| CaError::ConfigInvalid("validity out of range".into()))
}

fn raw_ext(id: &const_oid::ObjectIdentifier, value_der: &[u8]) -> Result<X509Extension, CaError> {
    let obj = Asn1Object::from_str(&id.to_string())?;
    let value = Asn1OctetString::new_from_bytes(value_der)?;
    Ok(X509Extension::new_from_der(&obj, false, &value)?)
}

/// SKI with the RFC 7093 method 1 identifier, the same as subscriber certificates.
fn ski_ext(ski: &[u8]) -> Result<X509Extension, CaError> {
    let mut v = Vec::new();
    asn1::bytes(&mut v, asn1::TAG_OCTET_STRING, ski);
    raw_ext(&rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER, &v)
}

/// AKI with keyIdentifier only.
fn aki_ext(issuer_ski: &[u8]) -> Result<X509Extension, CaError> {
    let mut v = Vec::new();
    asn1::sequence(&mut v, |o| asn1::bytes(o, 0x80, issuer_ski));
    raw_ext(&rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER, &v)
}

fn fingerprint(cert_der: &[u8]) -> String {
    hex::encode(crate::ca::sha256(cert_der))
}

fn io_error(p: &Path, e: std::io::Error) -> CaError {
    CaError::Unexpected(format!("{}: {e}", p.display()))
}

/// Takes the ceremony lock of `dir` (creating `dir`); released when dropped.
fn lock(dir: &Path) -> Result<File, CaError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let path = dir.join(LOCK);
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    // SAFETY: flock on a descriptor `f` owns and keeps open; it touches no memory.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io_error(&path, std::io::Error::last_os_error()));
    }
    // Released when `f` is closed.
    Ok(f)
}

/// Brings `dir` back to "no ceremony" or "complete ceremony" after a crash.
fn recover(dir: &Path) -> Result<(), CaError> {
    let staging = dir.join(STAGING);
    if staging.exists() {
        remove_dir(&staging)?;
    }
    if dir.join(STAGED).exists() {
        install(dir)?;
    }
    Ok(())
}

/// Nothing of an uncommitted staging directory was installed, so it can go.
fn remove_dir(p: &Path) -> Result<(), CaError> {
    std::fs::remove_dir_all(p).map_err(|e| io_error(p, e))?;
    sync_dir(p.parent().unwrap_or(p))
}

/// Writes the files (paths relative to `dir`, each one of [`CEREMONY_FILES`]) into a
/// fresh staging directory, syncs them and it, then commits by renaming it to [`STAGED`].
fn stage(dir: &Path, files: &[(&str, &[u8], u32)]) -> Result<(), CaError> {
    let staging = dir.join(STAGING);
    for d in [staging.clone(), staging.join("private")] {
        DirBuilder::new()
            .mode(0o700)
            .create(&d)
            .map_err(|e| io_error(&d, e))?;
    }
    for (name, data, mode) in files {
        write_new(&staging.join(name), data, *mode)?;
    }
    sync_dir(&staging.join("private"))?;
    sync_dir(&staging)?;
    let staged = dir.join(STAGED);
    std::fs::rename(&staging, &staged).map_err(|e| io_error(&staged, e))?;
    sync_dir(dir)
}

/// Links every staged file into place, then drops the staged directory. Idempotent,
/// so a crash while installing is finished by the next [`recover`]. Hard links
/// never replace a file: one that exists must be the staged file itself.
fn install(dir: &Path) -> Result<(), CaError> {
    let private = dir.join("private");
    make_dirs(dir, &private)?;
    let staged = dir.join(STAGED);
    for name in CEREMONY_FILES {
        let (from, to) = (staged.join(name), dir.join(name));
        // A token ceremony stages only the public files.
        if !from.exists() {
            continue;
        }
        match std::fs::hard_link(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let same = std::fs::read(&from).map_err(|e| io_error(&from, e))?
                    == std::fs::read(&to).map_err(|e| io_error(&to, e))?;
                if !same {
                    return Err(CaError::KeysExist { path: to });
                }
            }
            Err(e) => return Err(io_error(&to, e)),
        }
    }
    sync_dir(&private)?;
    sync_dir(dir)?;
    remove_dir(&staged)
}

fn sync_dir(dir: &Path) -> Result<(), CaError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

fn make_dirs(dir: &Path, private: &Path) -> Result<(), CaError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(private)
        .map_err(|e| io_error(private, e))?;
    // An existing private/ keeps whatever mode it had; tighten it.
    std::fs::set_permissions(private, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io_error(private, e))
}

fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), CaError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_error(path, e))
}

#[cfg(test)]
use super::test_support;

#[cfg(test)]
mod tests {
    use super::test_support::ceremony_config;
    use super::*;
    use crate::ca::SealingKey;
    use std::collections::BTreeMap;

    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        for sub in [dir.to_path_buf(), dir.join("private")] {
            for e in std::fs::read_dir(sub).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    files.insert(p.clone(), std::fs::read(&p).unwrap());
                }
            }
        }
        files
    }

    #[test]
    fn checked_in_ceremony_config_parses() {
        let cfg = ceremony_config();
        assert_eq!(cfg.issuing.key, CaKeyAlgorithm::Rsa2048);
        check_config(&cfg).unwrap();
    }

    #[test]
    fn ceremony_writes_certs_and_private_keys_with_tight_modes() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ceremony_config();
        cfg.issuing.key = CaKeyAlgorithm::P256;
        let out = run_ceremony(dir.path(), &cfg, None).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("private")), 0o700);
        for k in [&out.root_key, &out.issuing_key, &out.ocsp_key] {
            assert_eq!(mode(k), 0o600, "{}", k.display());
            let pem = std::fs::read_to_string(k).unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        }
        let chain = std::fs::read_to_string(&out.chain).unwrap();
        let issuing = std::fs::read_to_string(&out.issuing_cert).unwrap();
        let root = std::fs::read_to_string(&out.root_cert).unwrap();
        assert_eq!(chain, format!("{issuing}{root}"));
        assert_eq!(out.root_sha256.len(), 64);
    }

    #[test]
    fn second_ceremony_into_the_same_dir_returns_keys_exist_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ceremony_config();
        cfg.issuing.key = CaKeyAlgorithm::P256;
        let out = run_ceremony(dir.path(), &cfg, Some(b"pass")).unwrap();
        let key = std::fs::read_to_string(&out.issuing_key).unwrap();
        assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let before = snapshot(dir.path());
        let err = run_ceremony(dir.path(), &cfg, Some(b"pass")).unwrap_err();
        assert_eq!(err.code(), "keys_exist");
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn ceremony_refuses_when_only_one_key_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("private")).unwrap();
        std::fs::write(dir.path().join("private/ocsp.key.pem"), b"x").unwrap();
        let err = run_ceremony(dir.path(), &ceremony_config(), None).unwrap_err();
        assert_eq!(err.code(), "keys_exist");
        assert!(!dir.path().join("root.pem").exists());
        assert!(!dir.path().join("private/root.key.pem").exists());
    }

    fn p256_config() -> CeremonyConfig {
        let mut cfg = ceremony_config();
        cfg.issuing.key = CaKeyAlgorithm::P256;
        cfg
    }

    #[test]
    fn leftover_uncommitted_staging_is_discarded_and_the_ceremony_runs() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(STAGING);
        std::fs::create_dir_all(staging.join("private")).unwrap();
        std::fs::write(staging.join("private/root.key.pem"), b"half").unwrap();
        let out = ensure_ceremony(dir.path(), &p256_config(), None).unwrap();
        assert!(matches!(out, Ensured::Ceremony(_)));
        assert!(!staging.exists());
        for f in CEREMONY_FILES {
            assert!(dir.path().join(f).exists(), "{f}");
        }
        // Complete: nothing to do the second time.
        let before = snapshot(dir.path());
        assert!(matches!(
            ensure_ceremony(dir.path(), &p256_config(), None).unwrap(),
            Ensured::Complete
        ));
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn committed_ceremony_interrupted_while_installing_is_finished() {
        let done = tempfile::tempdir().unwrap();
        run_ceremony(done.path(), &p256_config(), None).unwrap();
        // The crash: staged set committed, two files of seven installed.
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join(STAGED);
        std::fs::create_dir_all(staged.join("private")).unwrap();
        std::fs::create_dir_all(dir.path().join("private")).unwrap();
        for f in CEREMONY_FILES {
            std::fs::copy(done.path().join(f), staged.join(f)).unwrap();
        }
        for f in &CEREMONY_FILES[..2] {
            std::fs::copy(done.path().join(f), dir.path().join(f)).unwrap();
        }
        assert!(matches!(
            ensure_ceremony(dir.path(), &p256_config(), None).unwrap(),
            Ensured::Complete
        ));
        assert!(!staged.exists());
        for f in CEREMONY_FILES {
            assert_eq!(
                std::fs::read(dir.path().join(f)).unwrap(),
                std::fs::read(done.path().join(f)).unwrap(),
                "{f}"
            );
        }
    }

    #[test]
    fn partial_set_is_refused_naming_the_missing_files_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        run_ceremony(dir.path(), &p256_config(), None).unwrap();
        std::fs::remove_file(dir.path().join("ocsp.pem")).unwrap();
        std::fs::remove_file(dir.path().join("private/ocsp.key.pem")).unwrap();
        let before = snapshot(dir.path());
        let err = ensure_ceremony(dir.path(), &p256_config(), None).unwrap_err();
        assert_eq!(err.code(), "config_invalid");
        let msg = err.to_string();
        assert!(msg.contains("private/ocsp.key.pem, ocsp.pem"), "{msg}");
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn sealing_certificate_is_a_document_signing_certificate_that_verifies_and_lints_clean() {
        let dir = tempfile::tempdir().unwrap();
        let out = run_ceremony(dir.path(), &ceremony_config(), None).unwrap();
        test_support::assert_openssl_verifies(dir.path(), &out.sealing_cert);
        let (ok, text) = test_support::openssl(&[
            "verify",
            "-purpose",
            "any",
            "-CAfile",
            &dir.path().join("root.pem").to_string_lossy(),
            "-untrusted",
            &dir.path().join("issuing.pem").to_string_lossy(),
            &out.sealing_cert.to_string_lossy(),
        ]);
        assert!(ok, "{text}");
        test_support::assert_pkilint_clean(&out.sealing_cert);
        let pem = std::fs::read(&out.sealing_cert).unwrap();
        let cert = X509::from_pem(&pem).unwrap();
        let (_, text) = test_support::openssl(&[
            "x509",
            "-noout",
            "-text",
            "-in",
            &out.sealing_cert.to_string_lossy(),
        ]);
        assert!(
            text.contains("Digital Signature, Non Repudiation"),
            "{text}"
        );
        assert!(text.contains("1.3.6.1.5.5.7.3.36"), "{text}");
        assert!(text.contains("O = CA-Enrol Development"), "{text}");
        let issuing = X509::from_pem(&std::fs::read(&out.issuing_cert).unwrap()).unwrap();
        assert!(cert.not_after() <= issuing.not_after());
        assert!(cert.verify(&issuing.public_key().unwrap()).unwrap());
        // What the service loads.
        let chain = [&out.issuing_cert, &out.root_cert].map(|p| {
            X509::from_pem(&std::fs::read(p).unwrap())
                .unwrap()
                .to_der()
                .unwrap()
        });
        SealingKey::load(&out.sealing_cert, &out.sealing_key, chain.to_vec(), None).unwrap();
    }

    #[test]
    fn a_ca_from_before_the_sealing_key_gets_one_and_half_a_sealing_pair_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = run_ceremony(dir.path(), &p256_config(), Some(b"pass")).unwrap();
        for f in SEALING_FILES {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
        let issuing_before = std::fs::read(&out.issuing_key).unwrap();
        let done = ensure_ceremony(dir.path(), &p256_config(), Some(b"pass")).unwrap();
        assert!(matches!(done, Ensured::SealingAdded { .. }), "{done:?}");
        assert_eq!(std::fs::read(&out.issuing_key).unwrap(), issuing_before);
        test_support::assert_openssl_verifies(dir.path(), &out.sealing_cert);
        let key = std::fs::read_to_string(&out.sealing_key).unwrap();
        assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let signer = OpenSslSigner::from_pem(key.as_bytes(), Some(b"pass")).unwrap();
        assert_eq!(signer.algorithm(), SignatureAlgorithm::EcdsaSha256);

        std::fs::remove_file(dir.path().join("sealing.pem")).unwrap();
        let before = snapshot(dir.path());
        let err = ensure_ceremony(dir.path(), &p256_config(), Some(b"pass")).unwrap_err();
        assert!(err.to_string().contains("missing sealing.pem"), "{err}");
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn ceremony_config_with_bad_name_or_validity_is_refused() {
        let mut cfg = ceremony_config();
        cfg.issuing.name = "Dev Issuing".into();
        assert_eq!(check_config(&cfg).unwrap_err().code(), "config_invalid");
        let mut cfg = ceremony_config();
        cfg.issuing.validity_years = cfg.root.validity_years;
        assert_eq!(check_config(&cfg).unwrap_err().code(), "config_invalid");
        let mut cfg = ceremony_config();
        cfg.sealing.validity_days = cfg.issuing.validity_years * 365 + 1;
        assert_eq!(check_config(&cfg).unwrap_err().code(), "config_invalid");
    }
}
