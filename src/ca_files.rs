//! The CA files under `ca_root` (ceremony config, certificate profile, public certificates,
//! `private/` keys) and loading them into the handles the service signs and answers with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ca::{self, CaError, CeremonyConfig, IssuingCa, OcspResponder, PersonalProfile};
use crate::config::Config;

/// A CA file that could not be read or used, with the path to look at.
#[derive(Debug, thiserror::Error)]
#[error("CA ({path}): {source}")]
pub struct CaFileError {
    pub path: PathBuf,
    pub source: CaError,
}

/// The loaded CA material: what signs, what answers for status, and the profile.
#[derive(Clone)]
pub struct CaHandles {
    pub issuing: Arc<IssuingCa>,
    pub ocsp: Arc<OcspResponder>,
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
    let done = ca::ensure_ceremony(&paths.root, &cfg, passphrase(config)).map_err(|source| {
        CaFileError {
            path: paths.root.clone(),
            source,
        }
    })?;
    if let Some(out) = done {
        tracing::info!(
            root_sha256 = %out.root_sha256,
            issuing_sha256 = %out.issuing_sha256,
            ocsp_sha256 = %out.ocsp_sha256,
            dir = %paths.root.display(),
            "development CA ceremony done"
        );
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
    let profile_path = paths.profile();
    let profile =
        PersonalProfile::from_toml(&paths.read(profile_path.clone())?, &config.public_base_url)
            .map_err(at(&profile_path, &profile_path))?;
    let chain_pem = paths.read(paths.root.join("chain.pem"))?;
    Ok(CaHandles {
        issuing: Arc::new(issuing),
        ocsp: Arc::new(ocsp),
        profile: Arc::new(profile),
        chain_pem: chain_pem.into(),
    })
}
