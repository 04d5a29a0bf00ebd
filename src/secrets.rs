//! The master key and what is derived from it: authenticated encryption of stored secrets
//! (TOTP seeds), keyed hashes, random tokens. Key material never reaches a log.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::sha::Sha256;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("master key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("stored secret failed authentication (wrong master key or tampered data)")]
    Tampered,
    #[error("cryptography failure: {0}")]
    Unexpected(String),
}

fn key_file_error(path: &Path, reason: impl fmt::Display) -> SecretsError {
    SecretsError::KeyFile {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn unexpected(e: impl fmt::Display) -> SecretsError {
    SecretsError::Unexpected(e.to_string())
}

#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn from_hex(hex_key: &str) -> Option<Self> {
        let bytes = hex::decode(hex_key.trim()).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// Reads the key file; `None` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, SecretsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(&text)
                .map(Some)
                .ok_or_else(|| key_file_error(path, "expected 64 hex chars")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(key_file_error(path, e)),
        }
    }

    /// Creates the key file (mode 0600) with a fresh key.
    pub fn create(path: &Path) -> Result<Self, SecretsError> {
        let key = Self(random_bytes::<32>());
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(path) {
            Ok(mut f) => {
                f.write_all(hex::encode(key.0).as_bytes())
                    .map_err(|e| key_file_error(path, e))?;
                Ok(key)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(path)?.ok_or_else(|| key_file_error(path, "removed while being created"))
            }
            Err(e) => Err(key_file_error(path, e)),
        }
    }

    /// The value stored beside the data to recognise this key later: an HMAC of a fixed label
    /// under its own sub-key, so it reveals nothing usable for the other purposes.
    pub fn check_value(&self) -> String {
        hex::encode(hmac_sha256(
            &self.derive("master-key-check"),
            b"ca-enrol master key check v1",
        ))
    }

    /// Whether `stored` is this key's [`MasterKey::check_value`] (constant time).
    pub fn matches(&self, stored: &str) -> bool {
        constant_time_eq(self.check_value().as_bytes(), stored.as_bytes())
    }

    /// A sub-key for one purpose, so that one key never serves two.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        hmac_sha256(&self.0, purpose.as_bytes())
    }

    /// AES-256-GCM with a random nonce; `aad` binds the ciphertext to its owner (e.g. a row id).
    pub fn seal(
        &self,
        purpose: &str,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SecretsError> {
        aead_seal(&self.derive(purpose), aad, plaintext)
    }

    pub fn open(&self, purpose: &str, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SecretsError> {
        aead_open(&self.derive(purpose), aad, sealed)
    }
}

/// Purpose of the master sub-key that wraps data keys.
const DATA_KEY_WRAPPING: &str = "data-key-wrapping";

/// A random AES-256-GCM key of its own for one stored object (an identity document, a
/// signature image). Stored only wrapped by the master key, apart from the ciphertext, so
/// deleting the wrapped key destroys the object wherever copies of its ciphertext remain
/// (crypto-shredding). No `Debug`: it is key material.
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn generate() -> Self {
        Self(random_bytes())
    }

    /// The key sealed under the master key, bound to `key_id` (its row), so a wrapped key
    /// cannot be moved to another row.
    pub fn wrap(&self, master: &MasterKey, key_id: &str) -> Result<Vec<u8>, SecretsError> {
        master.seal(DATA_KEY_WRAPPING, key_id.as_bytes(), &self.0)
    }

    pub fn unwrap(master: &MasterKey, key_id: &str, wrapped: &[u8]) -> Result<Self, SecretsError> {
        let key = master.open(DATA_KEY_WRAPPING, key_id.as_bytes(), wrapped)?;
        Ok(Self(key.try_into().map_err(|_| SecretsError::Tampered)?))
    }

    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
        aead_seal(&self.0, aad, plaintext)
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SecretsError> {
        aead_open(&self.0, aad, sealed)
    }
}

/// AES-256-GCM with a random nonce: `nonce (12) || ciphertext || tag (16)`.
fn aead_seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
    let nonce = random_bytes::<12>();
    let mut tag = [0u8; 16];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        key,
        Some(&nonce),
        aad,
        plaintext,
        &mut tag,
    )
    .map_err(unexpected)?;
    let mut out = Vec::with_capacity(12 + ct.len() + 16);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    Ok(out)
}

fn aead_open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SecretsError> {
    if sealed.len() < 28 {
        return Err(SecretsError::Tampered);
    }
    let (nonce, rest) = sealed.split_at(12);
    let (ct, tag) = rest.split_at(rest.len() - 16);
    decrypt_aead(Cipher::aes_256_gcm(), key, Some(nonce), aad, ct, tag)
        .map_err(|_| SecretsError::Tampered)
}

/// The key of the operator pages' CSRF tokens (`web::session`), derived from the master key,
/// so every process sharing that key checks the same tokens without storing any.
#[derive(Clone)]
pub struct CsrfKey([u8; 32]);

impl CsrfKey {
    pub fn derive(keys: &MasterKey) -> Self {
        Self(keys.derive("web-csrf"))
    }

    /// The token bound to a value of one kind (a session token, a pre-session cookie).
    pub fn token(&self, kind: &str, value: &str) -> String {
        let mac = hmac_sha256(
            &self.0,
            format!("{kind}:{}", sha256_hex(value.as_bytes())).as_bytes(),
        );
        hex::encode(&mac[..20])
    }
}

/// HMAC-SHA-256 (RFC 2104) over OpenSSL's SHA-256: no key object to allocate and nothing that
/// can fail. Every sealed outbox message and stored secret derives its sub-key this way, so
/// it runs on every write of the issuance path.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&crate::ca::sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(&block.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(&block.map(|b| b ^ 0x5c));
    outer.update(&inner.finish());
    outer.finish()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(crate::ca::sha256(data))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS CSPRNG failing is not recoverable; refusing to run beats weak randomness.
    #[allow(clippy::expect_used)]
    openssl::rand::rand_bytes(&mut buf).expect("CSPRNG unavailable");
    buf
}

/// A URL-safe random token with `prefix` (e.g. `ces_` for sessions).
pub fn random_token(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_gives_the_rfc_4231_values() {
        // Test cases 1, 2 and 6: a short key, a key shorter than the output, a key longer
        // than the block (hashed first).
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, mac) in cases {
            assert_eq!(hex::encode(hmac_sha256(key, data)), mac);
        }
    }

    #[test]
    fn sealed_secret_opens_only_with_same_purpose_and_owner() {
        let k = MasterKey(random_bytes());
        let sealed = k.seal("totp", b"op-1", b"SEED").unwrap();
        assert_eq!(k.open("totp", b"op-1", &sealed).unwrap(), b"SEED");
        assert!(k.open("totp", b"op-2", &sealed).is_err());
        assert!(k.open("other", b"op-1", &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[14] ^= 1;
        assert!(k.open("totp", b"op-1", &flipped).is_err());
    }

    #[test]
    fn a_data_key_opens_only_its_own_ciphertext_and_unwraps_only_for_its_row() {
        let master = MasterKey(random_bytes());
        let key = DataKey::generate();
        let wrapped = key.wrap(&master, "k-1").unwrap();
        let sealed = key.seal(b"e-1/portrait", b"FACE").unwrap();
        let again = DataKey::unwrap(&master, "k-1", &wrapped).unwrap();
        assert_eq!(again.open(b"e-1/portrait", &sealed).unwrap(), b"FACE");
        assert!(again.open(b"e-2/portrait", &sealed).is_err());
        assert!(DataKey::unwrap(&master, "k-2", &wrapped).is_err());
        assert!(DataKey::unwrap(&MasterKey(random_bytes()), "k-1", &wrapped).is_err());
        assert!(DataKey::generate().open(b"e-1/portrait", &sealed).is_err());
    }

    #[test]
    fn master_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("master.key");
        assert!(MasterKey::load(&p).unwrap().is_none());
        let a = MasterKey::create(&p).unwrap();
        let b = MasterKey::load(&p).unwrap().unwrap();
        assert!(
            MasterKey::create(&p).is_ok_and(|c| c.0 == a.0),
            "a second creator uses the first's"
        );
        assert_eq!(a.0, b.0);
        assert!(a.matches(&b.check_value()));
        assert!(!MasterKey([7; 32]).matches(&a.check_value()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
