//! `[ca]` in `ca-enrol.toml`: where the CA keys live (files, or a PKCS#11 token). Apart from
//! `ca_files`, which uses them and imports `config`, so that `config` can hold them without
//! an import cycle.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ca::TokenKeyLabels;
use crate::settings::Invalid;

/// Where the CA keys live: `[ca]` in `ca-enrol.toml`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub signer: SignerKind,
    pub pkcs11: Pkcs11Settings,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SignerKind {
    /// PEM keys under `<ca_root>/private/`, made by the development ceremony on first start.
    #[default]
    File,
    /// Keys in a PKCS#11 token; only certificates under `<ca_root>/`.
    Pkcs11,
}

/// The token holding the CA keys (`[ca.pkcs11]`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pkcs11Settings {
    /// The vendor's PKCS#11 library.
    pub module: PathBuf,
    pub token_label: String,
    /// A file holding the user PIN (trailing newline ignored). Empty: the PIN is read
    /// from the environment variable named by `pin_env`. Never from the command line.
    pub pin_file: PathBuf,
    /// Read raw, not through the configuration loader, which would take a numeric PIN
    /// for a number (and drop its leading zeros).
    pub pin_env: String,
    /// Each key by its label (`CKA_LABEL`), or as `id:<hex>` by its `CKA_ID`.
    pub root_key_label: String,
    pub issuing_key_label: String,
    pub ocsp_key_label: String,
    pub sealing_key_label: String,
    /// Sessions per key, i.e. signatures in flight at once; 0: one per CPU.
    pub sessions: u32,
}

impl Default for Pkcs11Settings {
    fn default() -> Self {
        Self {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token_label: "ca-enrol".into(),
            pin_file: PathBuf::new(),
            pin_env: "PKCS11_PIN".into(),
            root_key_label: "ca-enrol-root".into(),
            issuing_key_label: "ca-enrol-issuing".into(),
            ocsp_key_label: "ca-enrol-ocsp".into(),
            sealing_key_label: "ca-enrol-sealing".into(),
            sessions: 0,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.signer == SignerKind::Pkcs11 {
            self.pkcs11.validate()?;
        }
        Ok(())
    }
}

impl Pkcs11Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.pin_file.as_os_str().is_empty() && self.pin_env.is_empty() {
            return Err(Invalid::new(
                "ca.pkcs11.pin_file",
                "set ca.pkcs11.pin_file or ca.pkcs11.pin_env (the PIN's environment variable)",
            ));
        }
        for (key, v) in [
            ("ca.pkcs11.token_label", &self.token_label),
            ("ca.pkcs11.root_key_label", &self.root_key_label),
            ("ca.pkcs11.issuing_key_label", &self.issuing_key_label),
            ("ca.pkcs11.ocsp_key_label", &self.ocsp_key_label),
            ("ca.pkcs11.sealing_key_label", &self.sealing_key_label),
        ] {
            // CK_TOKEN_INFO.label is 32 bytes.
            if v.is_empty() || v.len() > 32 {
                return Err(Invalid::new(key, "expected 1 to 32 bytes"));
            }
        }
        crate::settings::range("ca.pkcs11.sessions", self.sessions, 0, 1024)
    }

    pub fn labels(&self) -> TokenKeyLabels {
        TokenKeyLabels {
            root: self.root_key_label.clone(),
            issuing: self.issuing_key_label.clone(),
            ocsp: self.ocsp_key_label.clone(),
            sealing: self.sealing_key_label.clone(),
        }
    }

    /// `pkcs11:` URI (RFC 7512) of a key, to name it in errors.
    pub fn uri(&self, key_label: &str) -> String {
        format!("pkcs11:token={};object={key_label}", self.token_label)
    }
}
