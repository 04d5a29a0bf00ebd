//! Per-object data keys (crypto-shredding): every identity document and every signature
//! image is sealed (AES-256-GCM) under a random key of its own; the key is stored only
//! wrapped by the master key, in its own `data_keys` row, apart from the ciphertext.
//! Deleting that row destroys the object wherever its ciphertext survives.
//!
//! This module knows keys, not places: the caller keeps the ciphertext where it belongs
//! (a document row today, an object store later) and inserts or deletes the key row in the
//! transaction that stores or destroys the object.

use chrono::{DateTime, Utc};

use crate::secrets::{DataKey, MasterKey, SecretsError};
use crate::store::{DataKeyRow, StoreError, Tx};

/// What a data key seals (`data_keys.purpose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Document,
    Signature,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Document => "document",
            Purpose::Signature => "signature",
        }
    }
}

/// A freshly sealed object: the key row to insert with it, and its ciphertext.
#[derive(Clone)]
pub struct Sealed {
    pub key: DataKeyRow,
    pub ciphertext: Vec<u8>,
}

/// The key a stored object names, as found in the transaction that read the object.
pub enum StoredKey {
    /// Its own data key.
    Own(DataKeyRow),
    /// It names a data key that no longer exists: the object is destroyed.
    Destroyed,
    /// Stored before per-object keys (no key named): the owner knows the old format.
    Legacy,
}

impl StoredKey {
    pub fn find(tx: &mut Tx<'_>, key_id: Option<&str>) -> Result<Self, StoreError> {
        Ok(match key_id {
            None => StoredKey::Legacy,
            Some(id) => tx
                .data_key(id)?
                .map_or(StoredKey::Destroyed, StoredKey::Own),
        })
    }
}

#[derive(Clone)]
pub struct DataKeys {
    master: MasterKey,
}

impl DataKeys {
    pub fn new(master: MasterKey) -> Self {
        Self { master }
    }

    /// Seals `plaintext` under a new data key; `aad` binds the ciphertext to its owner.
    pub fn seal(
        &self,
        purpose: Purpose,
        aad: &[u8],
        plaintext: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Sealed, SecretsError> {
        let id = uuid::Uuid::new_v4().to_string();
        let key = DataKey::generate();
        let ciphertext = key.seal(aad, plaintext)?;
        Ok(Sealed {
            key: DataKeyRow {
                wrapped: key.wrap(&self.master, &id)?,
                id,
                purpose: purpose.as_str().to_string(),
                created_at: now.naive_utc(),
            },
            ciphertext,
        })
    }

    /// Opens an object sealed by [`DataKeys::seal`] with the key row stored for it.
    pub fn open(
        &self,
        key: &DataKeyRow,
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, SecretsError> {
        DataKey::unwrap(&self.master, &key.id, &key.wrapped)?.open(aad, ciphertext)
    }

    /// Opens an object sealed before per-object keys, under the master key's sub-key for
    /// `purpose` (identity documents: `documents`).
    pub fn open_legacy(
        &self,
        purpose: &str,
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, SecretsError> {
        self.master.open(purpose, aad, ciphertext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_object_gets_its_own_key_and_opens_only_with_it() {
        let keys = DataKeys::new(MasterKey::from_hex(&"11".repeat(32)).unwrap());
        let now = Utc::now();
        let a = keys
            .seal(Purpose::Document, b"e/portrait", b"FACE", now)
            .unwrap();
        let b = keys
            .seal(Purpose::Document, b"e/portrait", b"FACE", now)
            .unwrap();
        assert_ne!(a.key.id, b.key.id);
        assert_ne!(a.key.wrapped, b.key.wrapped);
        assert_eq!(a.key.purpose, "document");
        assert_eq!(
            keys.open(&a.key, b"e/portrait", &a.ciphertext).unwrap(),
            b"FACE"
        );
        assert!(keys.open(&b.key, b"e/portrait", &a.ciphertext).is_err());
        assert!(keys.open(&a.key, b"e/id_front", &a.ciphertext).is_err());
        // Stored before per-object keys: the master key's document sub-key.
        let master = MasterKey::from_hex(&"11".repeat(32)).unwrap();
        let old = master.seal("documents", b"e/portrait", b"OLD").unwrap();
        assert_eq!(
            keys.open_legacy("documents", b"e/portrait", &old).unwrap(),
            b"OLD"
        );
    }
}
