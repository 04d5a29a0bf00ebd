use std::path::PathBuf;

/// Errors of the `ca` module.
///
/// Variants other than [`CaError::Unexpected`] are ones a caller branches on:
/// the `Csr*` ones are the applicant's fault and map to a 4xx answer; the rest
/// are operator or programming problems. [`CaError::code`] is stable and is what
/// the API puts in its problem document.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("the CSR is larger than {max} bytes")]
    CsrTooLarge { max: usize },
    #[error("the CSR cannot be parsed: {0}")]
    CsrMalformed(String),
    #[error("the CSR signature does not verify with its own public key")]
    CsrSignatureInvalid,
    #[error("the CSR key is too small: RSA {bits} bits, at least 2048 required")]
    CsrKeyTooSmall { bits: usize },
    #[error("the CSR RSA public exponent must be 65537")]
    CsrRsaExponent,
    #[error("the CSR key type is not accepted: {0}")]
    CsrKeyUnsupported(String),
    #[error("the CSR signature algorithm is not accepted: {0}")]
    CsrSignatureAlgorithm(String),
    #[error("the subject data cannot go in a certificate: {0}")]
    SubjectInvalid(String),
    #[error("the requested validity is not allowed: {0}")]
    ValidityInvalid(String),
    #[error("CA configuration is invalid: {0}")]
    ConfigInvalid(String),
    #[error("ceremony output already exists at {}; nothing was written", .path.display())]
    KeysExist { path: PathBuf },
    #[error("cannot load the private key: {0}")]
    KeyLoad(String),
    #[error("cannot load the certificate: {0}")]
    CertLoad(String),
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    #[error("signing failed: {0}")]
    SignFailed(String),
    #[error("pre-issuance lint failed: {}", .0.join("; "))]
    LintFailed(Vec<String>),
    #[error("the signed certificate does not contain the linted TBS")]
    TbsMismatch,
    #[error("unexpected CA error: {0}")]
    Unexpected(String),
}

impl CaError {
    /// Stable snake_case code for API problem documents and logs.
    pub fn code(&self) -> &'static str {
        match self {
            CaError::CsrTooLarge { .. } => "csr_too_large",
            CaError::CsrMalformed(_) => "csr_malformed",
            CaError::CsrSignatureInvalid => "csr_signature_invalid",
            CaError::CsrKeyTooSmall { .. } => "csr_key_too_small",
            CaError::CsrRsaExponent => "csr_rsa_exponent",
            CaError::CsrKeyUnsupported(_) => "csr_key_unsupported",
            CaError::CsrSignatureAlgorithm(_) => "csr_signature_algorithm",
            CaError::SubjectInvalid(_) => "subject_invalid",
            CaError::ValidityInvalid(_) => "validity_invalid",
            CaError::ConfigInvalid(_) => "config_invalid",
            CaError::KeysExist { .. } => "keys_exist",
            CaError::KeyLoad(_) => "key_load",
            CaError::CertLoad(_) => "cert_load",
            CaError::KeyMismatch => "key_mismatch",
            CaError::SignFailed(_) => "sign_failed",
            CaError::LintFailed(_) => "lint_failed",
            CaError::TbsMismatch => "tbs_mismatch",
            CaError::Unexpected(_) => "unexpected",
        }
    }
}

impl From<openssl::error::ErrorStack> for CaError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        CaError::Unexpected(format!("openssl: {e}"))
    }
}
