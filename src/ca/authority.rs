//! Loaded CA identities: the issuing CA, the OCSP responder and the provider's
//! document-sealing key.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};
use x509_cert::time::Time;
use x509_cert::Certificate;

use super::pem::pem_to_der;
use super::{CaError, OpenSslSigner, Signer};
use const_oid::db::rfc5280;

/// The issuing (intermediate) CA that signs subscriber certificates.
pub struct IssuingCa {
    name: String,
    cert_der: Vec<u8>,
    subject_der: Vec<u8>,
    ski: Vec<u8>,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    signer: Arc<dyn Signer>,
    /// SHA-256 of the signer's public key: what a [`super::LintedTbs`] is bound to, hashed
    /// once here instead of twice per certificate.
    key_sha256: [u8; 32],
}

impl IssuingCa {
    /// Loads the certificate and the PEM private key written by the ceremony.
    /// `name` is the short name used in URLs (`/ca/{name}.crt`, `/crl/{name}.crl`).
    pub fn load(
        name: &str,
        cert_pem_path: &Path,
        key_pem_path: &Path,
        passphrase: Option<&[u8]>,
    ) -> Result<IssuingCa, CaError> {
        let cert_der = read_cert(cert_pem_path)?;
        let signer = OpenSslSigner::from_pem_file(key_pem_path, passphrase)?;
        IssuingCa::new(name, cert_der, Arc::new(signer))
    }

    /// Builds an issuing CA from a certificate and any signer (e.g. an HSM).
    /// Checks that the certificate is a CA certificate for certificate
    /// signing and that the signer holds its key.
    pub fn new(
        name: &str,
        cert_der: Vec<u8>,
        signer: Arc<dyn Signer>,
    ) -> Result<IssuingCa, CaError> {
        check_ca_name(name)?;
        let cert = parse_cert(&cert_der)?;
        check_key_matches(&cert, signer.as_ref())?;
        let tbs = cert.tbs_certificate();
        let bad = |m: &str| CaError::CertLoad(m.to_string());
        let is_ca = tbs
            .get_extension::<BasicConstraints>()
            .map_err(|e| CaError::CertLoad(format!("basicConstraints: {e}")))?
            .is_some_and(|(_, bc)| bc.ca);
        let signs_certs = tbs
            .get_extension::<KeyUsage>()
            .map_err(|e| CaError::CertLoad(format!("keyUsage: {e}")))?
            .is_some_and(|(_, ku)| ku.key_cert_sign());
        if !is_ca || !signs_certs {
            return Err(bad("not a CA certificate with keyCertSign"));
        }
        let ski = tbs
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(|e| CaError::CertLoad(format!("subjectKeyIdentifier: {e}")))?
            .ok_or_else(|| bad("no subjectKeyIdentifier, needed for AKI"))?
            .1
             .0
            .as_bytes()
            .to_vec();
        let subject_der = tbs
            .subject()
            .to_der()
            .map_err(|e| CaError::CertLoad(format!("subject: {e}")))?;
        let validity = tbs.validity();
        Ok(IssuingCa {
            name: name.to_string(),
            subject_der,
            ski,
            not_before: to_chrono(&validity.not_before)?,
            not_after: to_chrono(&validity.not_after)?,
            key_sha256: super::sha256(signer.public_key_der()),
            signer,
            cert_der,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// DER of the subject Name: the issuer of everything this CA signs.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    pub fn ski(&self) -> &[u8] {
        &self.ski
    }

    pub fn not_before(&self) -> DateTime<Utc> {
        self.not_before
    }

    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    pub(super) fn key_sha256(&self) -> &[u8; 32] {
        &self.key_sha256
    }
}

/// The delegated OCSP responder (id-kp-OCSPSigning, signed by the issuing CA).
pub struct OcspResponder {
    cert_der: Vec<u8>,
    signer: Arc<dyn Signer>,
}

impl OcspResponder {
    pub fn load(
        cert_pem_path: &Path,
        key_pem_path: &Path,
        passphrase: Option<&[u8]>,
    ) -> Result<OcspResponder, CaError> {
        let cert_der = read_cert(cert_pem_path)?;
        let signer = OpenSslSigner::from_pem_file(key_pem_path, passphrase)?;
        OcspResponder::new(cert_der, Arc::new(signer))
    }

    /// Checks the certificate carries id-kp-OCSPSigning and the signer holds its key.
    pub fn new(cert_der: Vec<u8>, signer: Arc<dyn Signer>) -> Result<OcspResponder, CaError> {
        let cert = parse_cert(&cert_der)?;
        check_key_matches(&cert, signer.as_ref())?;
        let ocsp_signing = cert
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|e| CaError::CertLoad(format!("extendedKeyUsage: {e}")))?
            .is_some_and(|(_, eku)| eku.0.contains(&rfc5280::ID_KP_OCSP_SIGNING));
        if !ocsp_signing {
            return Err(CaError::CertLoad(
                "not an OCSP responder certificate (no id-kp-OCSPSigning)".into(),
            ));
        }
        Ok(OcspResponder { cert_der, signer })
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }
}

/// The provider's document-sealing key: its certificate (issued by the issuing CA,
/// keyUsage digitalSignature + nonRepudiation) and the chain a validator needs.
pub struct SealingKey {
    signer: Arc<dyn Signer>,
    cert_der: Vec<u8>,
    chain_der: Vec<Vec<u8>>,
}

impl SealingKey {
    /// Loads the certificate and the PEM private key written by the ceremony; `chain_der`
    /// is the issuing CA's certificate then the root's.
    pub fn load(
        cert_pem_path: &Path,
        key_pem_path: &Path,
        chain_der: Vec<Vec<u8>>,
        passphrase: Option<&[u8]>,
    ) -> Result<SealingKey, CaError> {
        let cert_der = read_cert(cert_pem_path)?;
        let signer = OpenSslSigner::from_pem_file(key_pem_path, passphrase)?;
        SealingKey::new(cert_der, chain_der, Arc::new(signer))
    }

    /// Checks that the certificate may sign documents (digitalSignature and
    /// nonRepudiation), that the signer holds its key and that the first certificate of
    /// `chain_der` issued it.
    pub fn new(
        cert_der: Vec<u8>,
        chain_der: Vec<Vec<u8>>,
        signer: Arc<dyn Signer>,
    ) -> Result<SealingKey, CaError> {
        let cert = parse_cert(&cert_der)?;
        check_key_matches(&cert, signer.as_ref())?;
        let seals = cert
            .tbs_certificate()
            .get_extension::<KeyUsage>()
            .map_err(|e| CaError::CertLoad(format!("keyUsage: {e}")))?
            .is_some_and(|(_, ku)| ku.digital_signature() && ku.non_repudiation());
        if !seals {
            return Err(CaError::CertLoad(
                "not a sealing certificate (keyUsage digitalSignature and nonRepudiation)".into(),
            ));
        }
        let issuer = chain_der
            .first()
            .map(|der| parse_cert(der))
            .transpose()?
            .ok_or_else(|| CaError::CertLoad("no issuing CA certificate in the chain".into()))?;
        if issuer.tbs_certificate().subject() != cert.tbs_certificate().issuer() {
            return Err(CaError::CertLoad(
                "the sealing certificate was not issued by the issuing CA".into(),
            ));
        }
        Ok(SealingKey {
            signer,
            cert_der,
            chain_der,
        })
    }

    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The issuing CA's certificate, then the root's.
    pub fn chain_der(&self) -> &[Vec<u8>] {
        &self.chain_der
    }
}

/// CA names appear in URL paths, so they are kept to lowercase LDH.
pub(super) fn check_ca_name(name: &str) -> Result<(), CaError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CaError::ConfigInvalid(format!(
            "CA name {name:?} must be 1 to 64 of [a-z0-9-], not starting with '-'"
        )))
    }
}

fn read_cert(path: &Path) -> Result<Vec<u8>, CaError> {
    let pem =
        std::fs::read(path).map_err(|e| CaError::CertLoad(format!("{}: {e}", path.display())))?;
    pem_to_der(&pem, "CERTIFICATE")
        .ok_or_else(|| CaError::CertLoad(format!("{}: no CERTIFICATE PEM block", path.display())))
}

fn parse_cert(der: &[u8]) -> Result<Certificate, CaError> {
    Certificate::from_der(der)
        .map_err(|e| CaError::CertLoad(format!("cannot parse certificate: {e}")))
}

fn check_key_matches(cert: &Certificate, signer: &dyn Signer) -> Result<(), CaError> {
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| CaError::CertLoad(format!("subjectPublicKeyInfo: {e}")))?;
    if spki == signer.public_key_der() {
        Ok(())
    } else {
        Err(CaError::KeyMismatch)
    }
}

pub(super) fn to_chrono(t: &Time) -> Result<DateTime<Utc>, CaError> {
    let secs = i64::try_from(t.to_unix_duration().as_secs())
        .map_err(|_| CaError::CertLoad("time out of range".into()))?;
    DateTime::from_timestamp(secs, 0).ok_or_else(|| CaError::CertLoad("time out of range".into()))
}
