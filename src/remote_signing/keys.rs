//! Where subscriber keys live: in the PKCS#11 token (the HSM) when the CA's keys are there,
//! or, for development only, in software, the PKCS#8 key sealed in the credential's row under
//! a master-key sub-key bound to the credential id (`serve` refuses it in production).

use std::sync::Arc;

use super::{RemoteSigningError, ECDSA_WITH_SHA256, SHA256_WITH_RSA};
use crate::ca::{CaKeyAlgorithm, HashSigner, OpenSslSigner, Pkcs11Token};
use crate::secrets::MasterKey;
use crate::store::CredentialRow;

/// The sub-key purpose sealing software keys.
const SEALING_PURPOSE: &str = "remote-signing-key";
/// Sessions per token key: one signature at a time per credential is the common case.
const SESSIONS_PER_KEY: usize = 2;

/// A subscriber key's algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    P256,
    Rsa2048,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::P256 => "P-256",
            KeyAlgorithm::Rsa2048 => "RSA-2048",
        }
    }

    pub fn parse(s: &str) -> Result<Self, RemoteSigningError> {
        match s {
            "P-256" => Ok(KeyAlgorithm::P256),
            "RSA-2048" => Ok(KeyAlgorithm::Rsa2048),
            _ => Err(RemoteSigningError::KeyAlgorithmInvalid),
        }
    }

    /// The one `signAlgo` OID the key signs with.
    pub fn sign_algo(self) -> &'static str {
        match self {
            KeyAlgorithm::P256 => ECDSA_WITH_SHA256,
            KeyAlgorithm::Rsa2048 => SHA256_WITH_RSA,
        }
    }

    /// CSC `key/algo`: the key's algorithm OID.
    pub fn key_oid(self) -> &'static str {
        match self {
            KeyAlgorithm::P256 => "1.2.840.10045.2.1",
            KeyAlgorithm::Rsa2048 => "1.2.840.113549.1.1.1",
        }
    }

    pub fn bits(self) -> u32 {
        match self {
            KeyAlgorithm::P256 => 256,
            KeyAlgorithm::Rsa2048 => 2048,
        }
    }

    /// CSC `key/curve` for EC keys: the named curve's OID.
    pub fn curve_oid(self) -> Option<&'static str> {
        match self {
            KeyAlgorithm::P256 => Some("1.2.840.10045.3.1.7"),
            KeyAlgorithm::Rsa2048 => None,
        }
    }

    fn ca_algorithm(self) -> CaKeyAlgorithm {
        match self {
            KeyAlgorithm::P256 => CaKeyAlgorithm::P256,
            KeyAlgorithm::Rsa2048 => CaKeyAlgorithm::Rsa2048,
        }
    }
}

/// A key just generated: its signer, and for a software key the sealed PKCS#8 to store.
pub struct Generated {
    pub signer: Arc<dyn HashSigner>,
    pub sealed: Option<Vec<u8>>,
}

#[derive(Clone)]
pub enum KeyStore {
    /// Keys generated in the token, sensitive and never extractable, labelled by credential id.
    Token(Arc<Pkcs11Token>),
    /// Development only: keys in software, sealed under the master key.
    Software(MasterKey),
}

impl KeyStore {
    /// `csc_credentials.key_store`.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyStore::Token(_) => "pkcs11",
            KeyStore::Software(_) => "software",
        }
    }

    /// Generates the key of credential `id`. Blocking.
    pub fn generate(
        &self,
        id: &str,
        algorithm: KeyAlgorithm,
    ) -> Result<Generated, RemoteSigningError> {
        match self {
            KeyStore::Token(token) => {
                token.generate(id, algorithm.ca_algorithm())?;
                Ok(Generated {
                    signer: Arc::new(token.signer(id, SESSIONS_PER_KEY)?),
                    sealed: None,
                })
            }
            KeyStore::Software(master) => {
                let (signer, pkcs8) = OpenSslSigner::generate(algorithm.ca_algorithm())?;
                let sealed = master
                    .seal(SEALING_PURPOSE, id.as_bytes(), &pkcs8)
                    .map_err(|e| RemoteSigningError::Unexpected(e.to_string()))?;
                Ok(Generated {
                    signer: Arc::new(signer),
                    sealed: Some(sealed),
                })
            }
        }
    }

    /// The signer of a stored credential. Blocking.
    pub fn load(&self, row: &CredentialRow) -> Result<Arc<dyn HashSigner>, RemoteSigningError> {
        let key = match (self, row.key_store.as_str()) {
            (KeyStore::Token(token), "pkcs11") => {
                Arc::new(token.signer(&row.id, SESSIONS_PER_KEY)?) as Arc<dyn HashSigner>
            }
            (KeyStore::Software(master), "software") => {
                let sealed = row.sealed_key.as_deref().ok_or_else(|| {
                    RemoteSigningError::Unexpected("software credential without its key".into())
                })?;
                let pkcs8 = master
                    .open(SEALING_PURPOSE, row.id.as_bytes(), sealed)
                    .map_err(|e| RemoteSigningError::Unexpected(e.to_string()))?;
                Arc::new(OpenSslSigner::from_pkcs8_der(&pkcs8)?)
            }
            (_, stored) => {
                return Err(RemoteSigningError::Unexpected(format!(
                    "credential {} is in the {stored} key store; this process uses {}",
                    row.id,
                    self.kind()
                )))
            }
        };
        Ok(key)
    }

    /// Destroys credential `id`'s key; true when there was one in a token. A software key
    /// goes with its row's sealed bytes. Blocking.
    pub fn destroy(&self, id: &str) -> Result<bool, RemoteSigningError> {
        match self {
            KeyStore::Token(token) => Ok(token.destroy_key(id)?),
            KeyStore::Software(_) => Ok(false),
        }
    }
}
