//! CA keys in a PKCS#11 token (an HSM; SoftHSM2 for trying it): a [`Signer`] over a
//! token key, key-pair generation inside the token, and the public-key read-back that
//! start-up compares with the certificates.
//!
//! The module (a shared library) is loaded only when a token is opened, so the file
//! signer never needs it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;

use super::signer::{digest_info_of, digest_info_sha256, HashSigner};
use super::{CaError, CaKeyAlgorithm, SignatureAlgorithm, Signer};

/// DER of the namedCurve OIDs in CKA_EC_PARAMS.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_PARAMS: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

enum KeySpec {
    Rsa(u32),
    /// CKA_EC_PARAMS: the curve's OID.
    Ec(&'static [u8]),
}

/// One initialised context per module and process: a second `C_Initialize` of the same
/// library is refused, and the issuing and OCSP keys share the token.
fn context(module: &Path) -> Result<Pkcs11, CaError> {
    static CONTEXTS: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());
    let mut contexts = CONTEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, ctx)) = contexts.iter().find(|(p, _)| p == module) {
        return Ok(ctx.clone());
    }
    let fail = |e: P11Error| {
        CaError::KeyLoad(format!(
            "PKCS#11 module {}: {}",
            module.display(),
            describe(&e)
        ))
    };
    let ctx = Pkcs11::new(module).map_err(fail)?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(fail(e)),
    }
    contexts.push((module.to_path_buf(), ctx.clone()));
    Ok(ctx)
}

/// The PKCS#11 return value's name, which is what HSM manuals index (CKR_PIN_INCORRECT…).
fn describe(e: &P11Error) -> String {
    match e {
        P11Error::Pkcs11(rv, function) => format!("{function:?}: {rv:?}"),
        other => other.to_string(),
    }
}

/// A token found by its label, with the user PIN. The PIN is kept in a zeroising
/// secret and never formatted.
pub struct Pkcs11Token {
    ctx: Pkcs11,
    label: String,
    pin: AuthPin,
}

impl Pkcs11Token {
    /// Loads the module, finds the token and logs in once, so a missing token or a wrong
    /// PIN stops start-up with a clear error instead of the first signature.
    pub fn open(module: &Path, label: &str, pin: &str) -> Result<Arc<Self>, CaError> {
        let token = Self {
            ctx: context(module)?,
            label: label.to_string(),
            pin: AuthPin::from(pin.to_string()),
        };
        token.session().map_err(CaError::KeyLoad)?;
        Ok(Arc::new(token))
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Looked up on every new session: a token taken out and put back may get another slot.
    fn slot(&self) -> Result<Slot, String> {
        let fail = |e: P11Error| format!("token {:?}: {}", self.label, describe(&e));
        let mut seen = Vec::new();
        for slot in self.ctx.get_slots_with_token().map_err(fail)? {
            // A token being removed may still have a slot that no longer answers.
            let Ok(info) = self.ctx.get_token_info(slot) else {
                continue;
            };
            if info.label().trim_end() == self.label {
                return Ok(slot);
            }
            seen.push(info.label().trim_end().to_string());
        }
        Err(format!(
            "no token labelled {:?} (tokens present: {})",
            self.label,
            if seen.is_empty() {
                "none".into()
            } else {
                seen.join(", ")
            }
        ))
    }

    /// A read-write session logged in as the user. Login state is per token and
    /// application, so sessions after the first may find it already done.
    fn session(&self) -> Result<Session, String> {
        let slot = self.slot()?;
        let session = self
            .ctx
            .open_rw_session(slot)
            .map_err(|e| format!("token {:?}: {}", self.label, describe(&e)))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e @ P11Error::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
                Err(format!(
                    "token {:?}: login refused, wrong PIN ({})",
                    self.label,
                    describe(&e)
                ))
            }
            Err(e) => Err(format!("token {:?}: login: {}", self.label, describe(&e))),
        }
    }

    /// A signer over the key pair labelled `key_label`, with up to `sessions` sessions
    /// open at once (one per thread that may sign concurrently).
    pub fn signer(
        self: &Arc<Self>,
        key_label: &str,
        sessions: usize,
    ) -> Result<Pkcs11Signer, CaError> {
        let session = self.session().map_err(CaError::KeyLoad)?;
        let (public_key_der, algorithm) = self.public_key(&session, key_label)?;
        let key = find_one(&session, ObjectClass::PRIVATE_KEY, key_label)
            .map_err(|e| CaError::KeyLoad(format!("token {:?}: {e}", self.label)))?;
        let signer = Pkcs11Signer {
            token: Arc::clone(self),
            key_label: key_label.to_string(),
            algorithm,
            public_key_der,
            pool: Pool {
                state: Mutex::new(PoolState {
                    idle: vec![(session, key)],
                    open: 1,
                }),
                freed: Condvar::new(),
                max: sessions.max(1),
            },
        };
        Ok(signer)
    }

    /// Whether a private or public key labelled `key_label` exists.
    pub fn has_key(&self, key_label: &str) -> Result<bool, CaError> {
        let session = self.session().map_err(CaError::KeyLoad)?;
        let found = session
            .find_objects(&[key_selector(key_label).0])
            .map_err(|e| CaError::KeyLoad(describe(&e)))?;
        Ok(!found.is_empty())
    }

    /// Destroys every object labelled `key_label` (a remote-signing key whose credential is
    /// gone); false when there was none.
    pub fn destroy_key(&self, key_label: &str) -> Result<bool, CaError> {
        let session = self.session().map_err(CaError::KeyLoad)?;
        let fail =
            |e: P11Error| CaError::Unexpected(format!("token {:?}: {}", self.label, describe(&e)));
        let found = session
            .find_objects(&[key_selector(key_label).0])
            .map_err(fail)?;
        for object in &found {
            session.destroy_object(*object).map_err(fail)?;
        }
        Ok(!found.is_empty())
    }

    /// Generates a key pair in the token: the private half sensitive and never
    /// extractable, both halves persistent (token objects) under `key_label`.
    /// Returns the SubjectPublicKeyInfo DER.
    pub fn generate(&self, key_label: &str, alg: CaKeyAlgorithm) -> Result<Vec<u8>, CaError> {
        match alg {
            CaKeyAlgorithm::Rsa2048 => self.generate_rsa(key_label, 2048),
            CaKeyAlgorithm::Rsa3072 => self.generate_rsa(key_label, 3072),
            CaKeyAlgorithm::P256 => self.generate_spec(key_label, KeySpec::Ec(&P256_PARAMS)),
            CaKeyAlgorithm::P384 => self.generate_spec(key_label, KeySpec::Ec(&P384_PARAMS)),
        }
    }

    /// [`Self::generate`] for an RSA key of `bits` (the root is RSA-4096).
    pub fn generate_rsa(&self, key_label: &str, bits: u32) -> Result<Vec<u8>, CaError> {
        self.generate_spec(key_label, KeySpec::Rsa(bits))
    }

    fn generate_spec(&self, key_label: &str, spec: KeySpec) -> Result<Vec<u8>, CaError> {
        if self.has_key(key_label)? {
            return Err(CaError::ConfigInvalid(format!(
                "token {:?} already holds a key labelled {key_label:?}; nothing was generated \
                 (keys are generated once: delete it on purpose or choose another label)",
                self.label
            )));
        }
        let session = self.session().map_err(CaError::KeyLoad)?;
        let label = key_label.as_bytes().to_vec();
        // Found again by the same name: `id:<hex>` sets that CKA_ID, a label is its own id.
        let id = match key_selector(key_label).0 {
            Attribute::Id(id) => id,
            _ => label.clone(),
        };
        let common = |private: bool| {
            vec![
                Attribute::Token(true),
                Attribute::Private(private),
                Attribute::Label(label.clone()),
                Attribute::Id(id.clone()),
            ]
        };
        let mut public = common(false);
        public.push(Attribute::Verify(true));
        let mut private = common(true);
        private.extend([
            Attribute::Sign(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
        ]);
        let mechanism = match spec {
            KeySpec::Rsa(bits) => {
                public.push(Attribute::ModulusBits(u64::from(bits).into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
            KeySpec::Ec(params) => {
                public.push(Attribute::EcParams(params.to_vec()));
                Mechanism::EccKeyPairGen
            }
        };
        session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(|e| {
                CaError::Unexpected(format!(
                    "token {:?}: generating {key_label:?}: {}",
                    self.label,
                    describe(&e)
                ))
            })?;
        Ok(self.public_key(&session, key_label)?.0)
    }

    /// The SubjectPublicKeyInfo DER and signature algorithm of the public key labelled
    /// `key_label`, rebuilt from its PKCS#11 attributes.
    fn public_key(
        &self,
        session: &Session,
        key_label: &str,
    ) -> Result<(Vec<u8>, SignatureAlgorithm), CaError> {
        let fail = |m: String| CaError::KeyLoad(format!("token {:?}: {m}", self.label));
        let handle = find_one(session, ObjectClass::PUBLIC_KEY, key_label).map_err(fail)?;
        let attrs = session
            .get_attributes(
                handle,
                &[
                    AttributeType::KeyType,
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                    AttributeType::EcParams,
                    AttributeType::EcPoint,
                ],
            )
            .map_err(|e| fail(describe(&e)))?;
        let (mut key_type, mut n, mut e, mut params, mut point) = (None, None, None, None, None);
        for a in attrs {
            match a {
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::Modulus(v) => n = Some(v),
                Attribute::PublicExponent(v) => e = Some(v),
                Attribute::EcParams(v) => params = Some(v),
                Attribute::EcPoint(v) => point = Some(v),
                _ => {}
            }
        }
        let unsupported = |what: &str| fail(format!("key {key_label:?}: unsupported {what}"));
        match (key_type, n, e, params, point) {
            (Some(t), Some(n), Some(e), _, _) if t == KeyType::RSA => {
                let rsa =
                    Rsa::from_public_components(BigNum::from_slice(&n)?, BigNum::from_slice(&e)?)?;
                let bits = rsa.n().num_bits();
                if !matches!(bits, 2048 | 3072 | 4096) {
                    return Err(unsupported(&format!("RSA {bits}")));
                }
                let spki = PKey::from_rsa(rsa)?.public_key_to_der()?;
                Ok((spki, SignatureAlgorithm::Sha256WithRsa))
            }
            (Some(t), _, _, Some(params), Some(point)) if t == KeyType::EC => {
                let (nid, algorithm, size) = if params == P256_PARAMS {
                    (Nid::X9_62_PRIME256V1, SignatureAlgorithm::EcdsaSha256, 32)
                } else if params == P384_PARAMS {
                    (Nid::SECP384R1, SignatureAlgorithm::EcdsaSha384, 48)
                } else {
                    return Err(unsupported("EC curve"));
                };
                // CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40);
                // some tokens give the bare point. The lengths tell them apart.
                let bare = 2 * size + 1;
                let raw = if point.len() == bare + 2 && point[..2] == [0x04, bare as u8] {
                    &point[2..]
                } else {
                    &point[..]
                };
                let group = EcGroup::from_curve_name(nid)?;
                let mut ctx = openssl::bn::BigNumContext::new()?;
                let p = EcPoint::from_bytes(&group, raw, &mut ctx)
                    .map_err(|_| fail(format!("key {key_label:?}: bad CKA_EC_POINT")))?;
                let spki =
                    PKey::from_ec_key(EcKey::from_public_key(&group, &p)?)?.public_key_to_der()?;
                Ok((spki, algorithm))
            }
            _ => Err(unsupported("key type")),
        }
    }
}

/// How a key is named in the configuration: its label (`CKA_LABEL`), or `id:` and the hex
/// of its `CKA_ID`, for HSMs whose keys another tool made with an id and no label.
fn key_selector(key: &str) -> (Attribute, String) {
    if let Some(id) = key
        .strip_prefix("id:")
        .and_then(|h| hex::decode(h).ok())
        .filter(|id| !id.is_empty())
    {
        (Attribute::Id(id), format!("with id {key:?}"))
    } else {
        (
            Attribute::Label(key.as_bytes().to_vec()),
            format!("labelled {key:?}"),
        )
    }
}

/// The one object of `class` named `key` ([`key_selector`]); none or several is an error
/// naming it.
fn find_one(session: &Session, class: ObjectClass, key: &str) -> Result<ObjectHandle, String> {
    let what = if class == ObjectClass::PRIVATE_KEY {
        "private"
    } else {
        "public"
    };
    let (selector, named) = key_selector(key);
    let found = session
        .find_objects(&[Attribute::Class(class), selector])
        .map_err(|e| describe(&e))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!("no {what} key {named}")),
        _ => Err(format!("{} {what} keys {named}", found.len())),
    }
}

struct PoolState {
    idle: Vec<(Session, ObjectHandle)>,
    /// Sessions open, idle or lent.
    open: usize,
}

/// At most `max` sessions; a caller finding none idle and the limit reached waits.
struct Pool {
    state: Mutex<PoolState>,
    freed: Condvar,
    max: usize,
}

/// A PKCS#11 key behind the [`Signer`] seam: RSA PKCS#1 v1.5 over a SHA-256 DigestInfo,
/// ECDSA over a SHA-256 or SHA-384 hash (hashing stays in this process, so only the
/// digest goes to the token).
pub struct Pkcs11Signer {
    token: Arc<Pkcs11Token>,
    key_label: String,
    algorithm: SignatureAlgorithm,
    public_key_der: Vec<u8>,
    pool: Pool,
}

impl Pkcs11Signer {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.pool
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> Result<(Session, ObjectHandle), String> {
        let mut state = self.lock();
        loop {
            if let Some(s) = state.idle.pop() {
                return Ok(s);
            }
            if state.open < self.pool.max {
                state.open += 1;
                drop(state);
                let opened = self.token.session().and_then(|s| {
                    let key = find_one(&s, ObjectClass::PRIVATE_KEY, &self.key_label)?;
                    Ok((s, key))
                });
                if opened.is_err() {
                    self.lock().open -= 1;
                    self.pool.freed.notify_one();
                }
                return opened;
            }
            state = self
                .pool
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn give_back(&self, s: (Session, ObjectHandle)) {
        self.lock().idle.push(s);
        self.pool.freed.notify_one();
    }

    /// Closes a session that failed and the idle ones opened before the failure (a
    /// token reset invalidates them all), so the retry gets a fresh session.
    fn discard(&self, failed: (Session, ObjectHandle)) {
        drop(failed);
        let stale = {
            let mut state = self.lock();
            let stale = std::mem::take(&mut state.idle);
            state.open -= 1 + stale.len();
            stale
        };
        drop(stale);
        self.pool.freed.notify_all();
    }

    fn sign_once(&self, mechanism: &Mechanism, data: &[u8]) -> Result<Vec<u8>, String> {
        let (session, key) = self.take()?;
        match session.sign(mechanism, key, data) {
            Ok(sig) => {
                self.give_back((session, key));
                Ok(sig)
            }
            Err(e) => {
                self.discard((session, key));
                Err(describe(&e))
            }
        }
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, CaError> {
        let (mechanism, data) = match self.algorithm {
            SignatureAlgorithm::Sha256WithRsa => (Mechanism::RsaPkcs, digest_info_sha256(tbs)),
            SignatureAlgorithm::EcdsaSha256 => (Mechanism::Ecdsa, crate::ca::sha256(tbs).to_vec()),
            SignatureAlgorithm::EcdsaSha384 => {
                (Mechanism::Ecdsa, openssl::sha::sha384(tbs).to_vec())
            }
        };
        self.sign_prepared(&mechanism, &data)
    }
}

impl HashSigner for Pkcs11Signer {
    fn sign_sha256_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, CaError> {
        match self.algorithm {
            SignatureAlgorithm::Sha256WithRsa => {
                self.sign_prepared(&Mechanism::RsaPkcs, &digest_info_of(digest))
            }
            SignatureAlgorithm::EcdsaSha256 => self.sign_prepared(&Mechanism::Ecdsa, digest),
            SignatureAlgorithm::EcdsaSha384 => Err(CaError::SignFailed(
                "a P-384 key signs SHA-384 digests only".into(),
            )),
        }
    }
}

impl Pkcs11Signer {
    /// Signs what the mechanism takes (a DigestInfo or a bare hash) and returns the
    /// signature as [`Signer::sign`] does.
    fn sign_prepared(&self, mechanism: &Mechanism, data: &[u8]) -> Result<Vec<u8>, CaError> {
        // One retry on a fresh session: a session the token dropped (a reset, a
        // timeout) fails once; a token that is gone fails both times.
        let raw = self
            .sign_once(mechanism, data)
            .or_else(|first| {
                tracing::warn!(token = %self.token.label, key = %self.key_label, error = %first,
                    "PKCS#11 signature failed; retrying on a fresh session");
                self.sign_once(mechanism, data)
            })
            .map_err(|e| {
                CaError::SignFailed(format!(
                    "token {:?}, key {:?}: {e}",
                    self.token.label, self.key_label
                ))
            })?;
        match self.algorithm {
            SignatureAlgorithm::Sha256WithRsa => Ok(raw),
            // The token returns r || s, each the size of the group order.
            SignatureAlgorithm::EcdsaSha256 | SignatureAlgorithm::EcdsaSha384 => {
                if raw.is_empty() || raw.len() % 2 != 0 {
                    return Err(CaError::SignFailed(format!(
                        "token {:?}: ECDSA signature of {} bytes",
                        self.token.label,
                        raw.len()
                    )));
                }
                let (r, s) = raw.split_at(raw.len() / 2);
                let sig = EcdsaSig::from_private_components(
                    BigNum::from_slice(r)?,
                    BigNum::from_slice(s)?,
                )?;
                Ok(sig.to_der()?)
            }
        }
    }
}
