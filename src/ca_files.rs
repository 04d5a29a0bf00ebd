//! The CA files under `ca_root` (ceremony config, certificate profile, public certificates,
//! `private/` keys) and loading them into the handles the service signs and answers with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ca::{
    self, CaError, CeremonyConfig, IssuingCa, OcspResponder, PersonalProfile, Pkcs11Token,
    SealingKey, Signer,
};
pub use crate::ca_settings::{Pkcs11Settings, Settings, SignerKind};
use crate::config::Config;
use crate::settings::Secret;

/// A CA file that could not be read or used, with the path to look at.
#[derive(Debug, thiserror::Error)]
#[error("CA ({path}): {source}")]
pub struct CaFileError {
    pub path: PathBuf,
    pub source: CaError,
}

/// The loaded CA material: what signs, what answers for status, what seals the
/// provider's documents, and the profile.
#[derive(Clone)]
pub struct CaHandles {
    pub issuing: Arc<IssuingCa>,
    pub ocsp: Arc<OcspResponder>,
    pub sealing: Arc<SealingKey>,
    pub profile: Arc<PersonalProfile>,
    /// Issuing CA then root, PEM.
    pub chain_pem: Arc<str>,
}

/// The CA files under `ca_root`: config, the ceremony's output, the private keys.
pub struct CaPaths {
    pub root: PathBuf,
}

impl CaPaths {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }
    pub fn ceremony_config(&self) -> PathBuf {
        self.root.join("ceremony.toml")
    }
    pub fn profile(&self) -> PathBuf {
        self.root.join("profiles").join("personal.toml")
    }
    pub fn issuing_cert(&self) -> PathBuf {
        self.root.join("issuing.pem")
    }
    pub fn sealing_cert(&self) -> PathBuf {
        self.root.join("sealing.pem")
    }
    /// The sealing certificate, DER (what audit checkpoints are checked against).
    pub fn sealing_cert_der(&self) -> Result<Vec<u8>, CaFileError> {
        let path = self.sealing_cert();
        self.cert_der(&path)
            .map_err(|source| CaFileError { path, source })
    }
    /// The issuing CA's certificate then the root's, DER: the sealing key's chain.
    fn chain_der(&self) -> Result<Vec<Vec<u8>>, CaFileError> {
        [self.issuing_cert(), self.root.join("root.pem")]
            .into_iter()
            .map(|path| {
                self.cert_der(&path)
                    .map_err(|source| CaFileError { path, source })
            })
            .collect()
    }
    fn cert_der(&self, path: &Path) -> Result<Vec<u8>, CaError> {
        let pem = std::fs::read(path).map_err(|e| CaError::CertLoad(e.to_string()))?;
        ca::pem_to_der(&pem, "CERTIFICATE")
            .ok_or_else(|| CaError::CertLoad("no CERTIFICATE PEM block".into()))
    }
    fn read(&self, path: PathBuf) -> Result<String, CaFileError> {
        std::fs::read_to_string(&path).map_err(|e| CaFileError {
            path,
            source: CaError::ConfigInvalid(e.to_string()),
        })
    }
    pub fn ceremony(&self) -> Result<CeremonyConfig, CaFileError> {
        let path = self.ceremony_config();
        toml::from_str(&self.read(path.clone())?).map_err(|e: toml::de::Error| CaFileError {
            path,
            source: CaError::ConfigInvalid(e.message().to_string()),
        })
    }
}

fn passphrase(config: &Config) -> Option<&[u8]> {
    (!config.ca_key_passphrase.is_empty()).then(|| config.ca_key_passphrase.expose().as_bytes())
}

/// Loads the module and logs in to the token of `[ca.pkcs11]`.
pub fn open_token(p11: &Pkcs11Settings) -> Result<Arc<Pkcs11Token>, CaFileError> {
    let pin = if p11.pin_file.as_os_str().is_empty() {
        std::env::var(&p11.pin_env)
            .map(Secret::new)
            .map_err(|_| CaFileError {
                path: p11.module.clone(),
                source: CaError::KeyLoad(format!(
                    "no PIN: set the environment variable {} or ca.pkcs11.pin_file",
                    p11.pin_env
                )),
            })?
    } else {
        std::fs::read_to_string(&p11.pin_file)
            .map(|p| Secret::new(p.trim_end_matches(['\r', '\n'])))
            .map_err(|e| CaFileError {
                path: p11.pin_file.clone(),
                source: CaError::KeyLoad(format!("PIN file: {e}")),
            })?
    };
    Pkcs11Token::open(&p11.module, &p11.token_label, pin.expose()).map_err(|source| CaFileError {
        path: p11.module.clone(),
        source,
    })
}

/// What `ceremony --pkcs11` does.
pub enum TokenCeremony {
    /// Every key in the token, the root signing the issuing CA.
    Full,
    /// Issuing, OCSP and sealing keys in the token, and a CSR for an offline root to sign.
    CsrOnly,
    /// The issuing certificate signed elsewhere, and its root.
    Import { issuing: PathBuf, root: PathBuf },
    /// The sealing key, for a token CA from before it.
    AddSealing,
}

/// What a token ceremony produced.
pub enum TokenCeremonyDone {
    Certificates(ca::TokenCeremonyOutput),
    Csr(PathBuf),
    /// The new sealing certificate's SHA-256 fingerprint.
    Sealing(String),
}

/// Runs a ceremony with the keys in the token of `[ca.pkcs11]`.
pub fn run_token_ceremony(
    config: &Config,
    what: TokenCeremony,
) -> Result<TokenCeremonyDone, CaFileError> {
    let paths = CaPaths::new(&config.ca_root);
    let cfg = paths.ceremony()?;
    let p11 = &config.ca.pkcs11;
    p11.validate().map_err(|e| CaFileError {
        path: paths.root.clone(),
        source: CaError::ConfigInvalid(e.to_string()),
    })?;
    let token = open_token(p11)?;
    let labels = p11.labels();
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CaFileError { path, source }
    };
    match what {
        TokenCeremony::Full => ca::run_token_ceremony(&paths.root, &cfg, &token, &labels)
            .map(TokenCeremonyDone::Certificates)
            .map_err(at(&paths.root)),
        TokenCeremony::CsrOnly => ca::token_issuing_csr(&paths.root, &cfg, &token, &labels)
            .map(TokenCeremonyDone::Csr)
            .map_err(at(&paths.root)),
        TokenCeremony::AddSealing => ca::add_token_sealing(&paths.root, &cfg, &token, &labels)
            .map(TokenCeremonyDone::Sealing)
            .map_err(at(&paths.root)),
        TokenCeremony::Import { issuing, root } => {
            let issuing_pem = std::fs::read(&issuing).map_err(|e| CaFileError {
                path: issuing.clone(),
                source: CaError::CertLoad(e.to_string()),
            })?;
            let root_pem = std::fs::read(&root).map_err(|e| CaFileError {
                path: root.clone(),
                source: CaError::CertLoad(e.to_string()),
            })?;
            ca::import_token_issuing(&paths.root, &cfg, &token, &labels, &issuing_pem, &root_pem)
                .map(TokenCeremonyDone::Certificates)
                .map_err(at(&issuing))
        }
    }
}

/// Runs the development ceremony into `ca_root` (refuses when any output exists).
pub fn run_ceremony(config: &Config) -> Result<ca::CeremonyOutput, CaFileError> {
    let paths = CaPaths::new(&config.ca_root);
    let cfg = paths.ceremony()?;
    ca::run_ceremony(&paths.root, &cfg, passphrase(config)).map_err(|source| CaFileError {
        path: paths.root.clone(),
        source,
    })
}

/// Loads the CA; on first run (none of the ceremony files yet) performs the development
/// ceremony, and finishes or discards one a crash interrupted.
pub fn load_ca(config: &Config) -> Result<CaHandles, CaFileError> {
    let paths = CaPaths::new(&config.ca_root);
    let cfg = paths.ceremony()?;
    let (issuing, ocsp, sealing) = match config.ca.signer {
        SignerKind::File => load_file_keys(config, &paths, &cfg)?,
        SignerKind::Pkcs11 => load_token_keys(config, &paths, &cfg)?,
    };
    let profile_path = paths.profile();
    let profile =
        PersonalProfile::from_toml(&paths.read(profile_path.clone())?, &config.public_base_url)
            .map_err(|source| CaFileError {
                path: profile_path,
                source,
            })?;
    let chain_pem = paths.read(paths.root.join("chain.pem"))?;
    Ok(CaHandles {
        issuing: Arc::new(issuing),
        ocsp: Arc::new(ocsp),
        sealing: Arc::new(sealing),
        profile: Arc::new(profile),
        chain_pem: chain_pem.into(),
    })
}

/// The issuing, OCSP and sealing keys in the token; every key's public half must match
/// its certificate, or start-up stops naming both.
fn load_token_keys(
    config: &Config,
    paths: &CaPaths,
    cfg: &CeremonyConfig,
) -> Result<(IssuingCa, OcspResponder, SealingKey), CaFileError> {
    let p11 = &config.ca.pkcs11;
    ca::ensure_token_ceremony(&paths.root).map_err(|source| CaFileError {
        path: paths.root.clone(),
        source,
    })?;
    let token = open_token(p11)?;
    let sessions = match p11.sessions {
        0 => std::thread::available_parallelism().map_or(4, |n| n.get()),
        n => n as usize,
    };
    let key = |cert: &Path, label: &str| {
        let uri = p11.uri(label);
        let cert = cert.to_path_buf();
        move |source| CaFileError {
            path: cert.clone(),
            source: match source {
                CaError::KeyMismatch => CaError::KeyLoad(format!(
                    "the token key {uri} does not match this certificate"
                )),
                CaError::KeyLoad(m) => CaError::KeyLoad(format!("{uri}: {m}")),
                other => other,
            },
        }
    };
    let signer = |label: &str| -> Result<Arc<dyn Signer>, CaError> {
        Ok(Arc::new(token.signer(label, sessions)?))
    };
    let issuing_cert = paths.issuing_cert();
    let at = key(&issuing_cert, &p11.issuing_key_label);
    let issuing = paths
        .cert_der(&issuing_cert)
        .and_then(|der| IssuingCa::new(&cfg.issuing.name, der, signer(&p11.issuing_key_label)?))
        .map_err(at)?;
    let ocsp_cert = paths.root.join("ocsp.pem");
    let at = key(&ocsp_cert, &p11.ocsp_key_label);
    let ocsp = paths
        .cert_der(&ocsp_cert)
        .and_then(|der| OcspResponder::new(der, signer(&p11.ocsp_key_label)?))
        .map_err(at)?;
    let chain = paths.chain_der()?;
    let sealing_cert = paths.sealing_cert();
    let at = key(&sealing_cert, &p11.sealing_key_label);
    let sealing = paths
        .cert_der(&sealing_cert)
        .and_then(|der| SealingKey::new(der, chain, signer(&p11.sealing_key_label)?))
        .map_err(at)?;
    Ok((issuing, ocsp, sealing))
}

/// The PEM keys under `private/`; on first run the development ceremony makes them, and
/// the first start of a CA from before the sealing key adds that key.
fn load_file_keys(
    config: &Config,
    paths: &CaPaths,
    cfg: &CeremonyConfig,
) -> Result<(IssuingCa, OcspResponder, SealingKey), CaFileError> {
    let done = ca::ensure_ceremony(&paths.root, cfg, passphrase(config)).map_err(|source| {
        CaFileError {
            path: paths.root.clone(),
            source,
        }
    })?;
    match done {
        ca::Ensured::Complete => {}
        ca::Ensured::Ceremony(out) => tracing::info!(
            root_sha256 = %out.root_sha256,
            issuing_sha256 = %out.issuing_sha256,
            ocsp_sha256 = %out.ocsp_sha256,
            sealing_sha256 = %out.sealing_sha256,
            dir = %paths.root.display(),
            "development CA ceremony done"
        ),
        ca::Ensured::SealingAdded { sealing_sha256 } => tracing::info!(
            %sealing_sha256,
            dir = %paths.root.display(),
            "document-sealing key and certificate added to the CA files"
        ),
    }
    // Key errors name the key file, the others the certificate.
    let at = |cert: &Path, key: &Path| {
        let (cert, key) = (cert.to_path_buf(), key.to_path_buf());
        move |source| CaFileError {
            path: match source {
                CaError::KeyLoad(_) => key,
                _ => cert,
            },
            source,
        }
    };
    let private = paths.root.join("private");
    let issuing_key = private.join("issuing.key.pem");
    let issuing = IssuingCa::load(
        &cfg.issuing.name,
        &paths.issuing_cert(),
        &issuing_key,
        passphrase(config),
    )
    .map_err(at(&paths.issuing_cert(), &issuing_key))?;
    let ocsp_cert = paths.root.join("ocsp.pem");
    let ocsp_key = private.join("ocsp.key.pem");
    let ocsp = OcspResponder::load(&ocsp_cert, &ocsp_key, passphrase(config))
        .map_err(at(&ocsp_cert, &ocsp_key))?;
    let sealing_cert = paths.sealing_cert();
    let sealing_key = private.join("sealing.key.pem");
    let sealing = SealingKey::load(
        &sealing_cert,
        &sealing_key,
        paths.chain_der()?,
        passphrase(config),
    )
    .map_err(at(&sealing_cert, &sealing_key))?;
    Ok((issuing, ocsp, sealing))
}
