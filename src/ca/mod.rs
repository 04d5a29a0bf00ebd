//! The signing boundary: CA key ceremony, CSR checks, the personal certificate
//! profile, to-be-signed (TBS) certificate building, pre-issuance lint and signing.
//!
//! Invariant: this module depends on nothing else in the crate. It takes plain
//! values (bytes, strings, times) and returns plain values; it knows nothing of
//! HTTP, the database or the application config. Its config structs are serde
//! structs the application deserialises from the files in `ca-root/`.
//!
//! Issuance follows the record-then-sign cycle (Boulder's ISSUANCE-CYCLE):
//! 1. [`check_csr`] parses the CSR, verifies proof of possession and the key policy;
//! 2. the caller stores the serial and [`CheckedCsr::spki_sha256`] (key-uniqueness check);
//! 3. [`build_tbs`] builds the TBSCertificate DER and [`lint_tbs`] checks it,
//!    returning a [`LintedTbs`], the only thing signing accepts;
//! 4. the caller stores the TBS, then [`sign_certificate`] consumes the
//!    [`LintedTbs`], signs it through the [`Signer`] and checks the signed
//!    certificate carries exactly that TBS.
//!
//! Revocation status, built here and served by the caller:
//! - [`build_crl`] signs a CRL v2 (per issuing CA, or per shard of it) with the
//!   issuing CA key; entries sorted by serial, reasonCode per entry, and a
//!   critical issuingDistributionPoint equal to the certificates' CRLDP URL;
//! - [`parse_request`] reads an OCSP request, [`OcspIssuer`] tells whether its
//!   CertIDs (SHA-1 or SHA-256) name this CA, and [`build_response`] signs the
//!   answer with the delegated responder; without a nonce the response can be
//!   pre-signed and cached. [`error_response`] gives the unsigned error answers.
//!
//! Documents: [`signed_data_detached`] builds the CMS SignedData of a PAdES seal by the
//! provider's [`SealingKey`] over a [`content_digest`].
//!
//! Signers take bytes and return bytes, so the HSM signer ([`Pkcs11Signer`], keys in
//! a PKCS#11 token) replaces [`OpenSslSigner`] without touching callers.

mod asn1;
mod authority;
mod ceremony;
mod cms;
mod crl;
mod csr;
mod error;
mod issue;
pub mod jws;
mod ocsp;
mod pem;
mod pkcs11;
mod profile;
mod serial;
mod signer;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use authority::{IssuingCa, OcspResponder, SealingKey};
pub use ceremony::{
    add_token_sealing, ensure_ceremony, ensure_token_ceremony, import_token_issuing,
    request_for_key, run_ceremony, run_token_ceremony, token_issuing_csr, CaKeyAlgorithm,
    CeremonyConfig, CeremonyOutput, Ensured, IssuingCaConfig, OcspConfig, RootCaConfig,
    SealingConfig, TokenCeremonyOutput, TokenKeyLabels, CEREMONY_FILES, SEALING_FILES,
    TOKEN_CEREMONY_FILES,
};
pub use cms::{content_digest, signed_data_detached};
pub use crl::{build_crl, CrlRequest, RevocationReason, RevokedEntry};
pub use csr::{check_csr, CheckedCsr, KeyDescription};
pub use error::CaError;
pub use issue::{
    build_tbs, certificate_names, lint_tbs, sign_certificate, CertificateNames, IssueRequest,
    LintedTbs,
};
pub use ocsp::{
    build_response, error_response, parse_request, CertId, CertIdHash, CertStatus, OcspErrorStatus,
    OcspIssuer, OcspParseError, OcspRequest, SingleAnswer, MAX_CERT_IDS,
};
pub use pem::{certificate_request_pem, certificate_to_pem, pem_to_der};
pub use pkcs11::{Pkcs11Signer, Pkcs11Token};
pub use profile::{PersonalProfile, SubjectInfo};
pub use serial::Serial;
pub use signer::{verify_signature, HashSigner, OpenSslSigner, SignatureAlgorithm, Signer};

/// SHA-256 of `data` through OpenSSL's `SHA256_*` functions. `openssl::sha::sha256` calls
/// `SHA256()`, which OpenSSL 3 runs as `EVP_Q_digest`: it looks the algorithm up on every call
/// (a global read lock and a search), 727 ns against 452 ns for 700 bytes on the development
/// machine, and ~2.5 % of the CPU of concurrent in-process issuance, where every certificate
/// hashes its key, its TBS, its issuer's key and its audit events.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(data);
    hasher.finish()
}
