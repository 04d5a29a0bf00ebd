//! A stand-in for the national VNeID hub, for the tests and for trying the connector
//! (`ca-enrol vneid-sim`): a hub CA and signing key (P-256), registrations signed as the hub
//! signs them, and a callback receiver that verifies the provider's signed callbacks and
//! records each once per `Idempotency-Key`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{handler, EndpointExt, Request, Response, Route, Server};
use serde_json::{json, Value};

use crate::ca::jws;
use crate::ca::OpenSslSigner;

/// Errors of the simulator: it is a tool, so one message says what failed.
#[derive(Debug, thiserror::Error)]
#[error("vneid-sim: {0}")]
pub struct SimError(String);

impl SimError {
    pub fn new(message: String) -> Self {
        Self(message)
    }
}

fn err(e: impl std::fmt::Display) -> SimError {
    SimError(e.to_string())
}

/// The hub's CA, its signing certificate and key.
pub struct Hub {
    pub ca: X509,
    ca_key: PKey<Private>,
    pub cert: X509,
    key: PKey<Private>,
}

fn p256() -> Result<PKey<Private>, SimError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(err)?;
    PKey::from_ec_key(EcKey::generate(&group).map_err(err)?).map_err(err)
}

fn certificate(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    valid: (DateTime<Utc>, DateTime<Utc>),
) -> Result<X509, SimError> {
    let mut name = X509NameBuilder::new().map_err(err)?;
    name.append_entry_by_text("C", "VN").map_err(err)?;
    name.append_entry_by_text("O", "VNeID hub (simulator)")
        .map_err(err)?;
    name.append_entry_by_text("CN", cn).map_err(err)?;
    let name = name.build();
    let mut b = X509Builder::new().map_err(err)?;
    b.set_version(2).map_err(err)?;
    let mut serial = BigNum::new().map_err(err)?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(err)?;
    let serial = serial.to_asn1_integer().map_err(err)?;
    b.set_serial_number(&serial).map_err(err)?;
    b.set_subject_name(&name).map_err(err)?;
    b.set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))
        .map_err(err)?;
    b.set_pubkey(key).map_err(err)?;
    let (from, until) = (
        Asn1Time::from_unix(valid.0.timestamp()).map_err(err)?,
        Asn1Time::from_unix(valid.1.timestamp()).map_err(err)?,
    );
    b.set_not_before(&from).map_err(err)?;
    b.set_not_after(&until).map_err(err)?;
    if issuer.is_none() {
        b.append_extension(
            BasicConstraints::new()
                .critical()
                .ca()
                .build()
                .map_err(err)?,
        )
        .map_err(err)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .map_err(err)?,
        )
        .map_err(err)?;
    } else {
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .build()
                .map_err(err)?,
        )
        .map_err(err)?;
    }
    let signing_key = issuer.map_or(key, |(_, k)| k);
    b.sign(signing_key, MessageDigest::sha256()).map_err(err)?;
    Ok(b.build())
}

impl Hub {
    /// A new hub: CA and signing certificate valid from `valid.0` to `valid.1`.
    pub fn generate(valid: (DateTime<Utc>, DateTime<Utc>)) -> Result<Self, SimError> {
        let ca_key = p256()?;
        let ca = certificate("VNeID hub root CA", &ca_key, None, valid)?;
        let key = p256()?;
        let cert = certificate("VNeID hub", &key, Some((&ca, &ca_key)), valid)?;
        Ok(Self {
            ca,
            ca_key,
            cert,
            key,
        })
    }

    /// Another signing certificate of the same CA, valid for `valid` (an expired one, say).
    pub fn reissued(&self, valid: (DateTime<Utc>, DateTime<Utc>)) -> Result<Self, SimError> {
        let key = p256()?;
        let cert = certificate("VNeID hub", &key, Some((&self.ca, &self.ca_key)), valid)?;
        Ok(Self {
            ca: self.ca.clone(),
            ca_key: self.ca_key.clone(),
            cert,
            key,
        })
    }

    /// Writes `hub-ca.pem` (the provider's trust anchor), `hub-ca-key.pem`, `hub-cert.pem`
    /// and `hub-key.pem` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), SimError> {
        std::fs::create_dir_all(dir).map_err(err)?;
        let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.join(name), bytes).map_err(err);
        write("hub-ca.pem", self.ca.to_pem().map_err(err)?)?;
        write(
            "hub-ca-key.pem",
            self.ca_key.private_key_to_pem_pkcs8().map_err(err)?,
        )?;
        write("hub-cert.pem", self.cert.to_pem().map_err(err)?)?;
        write(
            "hub-key.pem",
            self.key.private_key_to_pem_pkcs8().map_err(err)?,
        )
    }

    /// Loads what [`Hub::save`] wrote.
    pub fn load(dir: &Path) -> Result<Self, SimError> {
        let read = |name: &str| std::fs::read(dir.join(name)).map_err(err);
        Ok(Self {
            ca: X509::from_pem(&read("hub-ca.pem")?).map_err(err)?,
            ca_key: PKey::private_key_from_pem(&read("hub-ca-key.pem")?).map_err(err)?,
            cert: X509::from_pem(&read("hub-cert.pem")?).map_err(err)?,
            key: PKey::private_key_from_pem(&read("hub-key.pem")?).map_err(err)?,
        })
    }

    /// `claims` as a compact JWS (ES256), the signing certificate in `x5c`.
    pub fn sign(&self, claims: &Value) -> Result<String, SimError> {
        let pem = self.key.private_key_to_pem_pkcs8().map_err(err)?;
        let signer = OpenSslSigner::from_pem(&pem, None).map_err(err)?;
        jws::sign(claims, &signer, &[self.cert.to_der().map_err(err)?]).map_err(err)
    }
}

/// The claims of a registration for `provider_id`: the citizen's `identity`, `contact` and
/// `consent` (as the intake's body has them; `consent.channel` is dropped, the hub implies
/// it) with a transaction id, assurance level 2, `iat` = `now`, `exp` 5 minutes on, and a
/// random `jti`.
pub fn registration_claims(
    application: &Value,
    transaction_id: &str,
    provider_id: &str,
    now: i64,
) -> Value {
    let mut consent = application["consent"].clone();
    if let Value::Object(c) = &mut consent {
        c.remove("channel");
    }
    json!({
        "transaction_id": transaction_id,
        "provider_id": provider_id,
        "assurance_level": 2,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
        "identity": application["identity"],
        "contact": application["contact"],
        "consent": consent,
    })
}

/// One callback as the receiver verified it.
#[derive(Clone, Debug)]
pub struct Callback {
    pub idempotency_key: String,
    pub claims: Value,
}

#[derive(Default)]
struct Received {
    /// The `Idempotency-Key` of every POST, including refused and repeated ones.
    attempts: Vec<Option<String>>,
    /// Answer 500 to this many more POSTs.
    fail_next: usize,
    /// Verified callbacks, one per idempotency key, in arrival order.
    callbacks: Vec<Callback>,
    /// Why POSTs were refused (bad signature, untrusted chain, no key).
    refused: Vec<String>,
}

/// The hub's callback endpoint: verifies each callback against the provider's root and
/// records it once per `Idempotency-Key`.
#[derive(Clone)]
pub struct CallbackReceiver {
    pub port: u16,
    state: Arc<Mutex<Received>>,
}

struct ReceiverState {
    anchor: X509,
    received: Arc<Mutex<Received>>,
}

#[handler]
async fn receive(req: &Request, body: poem::Body, state: Data<&Arc<ReceiverState>>) -> Response {
    let key = req
        .headers()
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = body.into_vec().await.unwrap_or_default();
    let Ok(mut received) = state.received.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into();
    };
    received.attempts.push(key.clone());
    if received.fail_next > 0 {
        received.fail_next -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR.into();
    }
    let Some(key) = key else {
        received.refused.push("no Idempotency-Key".into());
        return StatusCode::BAD_REQUEST.into();
    };
    match jws::verify(&bytes, &state.anchor, Utc::now()) {
        Ok((claims, _)) => {
            if !received.callbacks.iter().any(|c| c.idempotency_key == key) {
                received.callbacks.push(Callback {
                    idempotency_key: key,
                    claims,
                });
            }
            StatusCode::OK.into()
        }
        Err(e) => {
            received.refused.push(e.to_string());
            StatusCode::BAD_REQUEST.into()
        }
    }
}

impl CallbackReceiver {
    /// Listens on `addr` (port 0: any) and verifies callbacks against `anchor` (the
    /// provider's root CA certificate).
    pub async fn start(addr: &str, anchor: X509) -> Result<Self, SimError> {
        let acceptor = TcpListener::bind(addr.to_string())
            .into_acceptor()
            .await
            .map_err(err)?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .ok_or_else(|| SimError("no local address".into()))?;
        let received = Arc::new(Mutex::new(Received::default()));
        let state = Arc::new(ReceiverState {
            anchor,
            received: received.clone(),
        });
        let app = Route::new()
            .at("/callbacks", poem::post(receive))
            .data(state);
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        Ok(Self {
            port,
            state: received,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/callbacks", self.port)
    }

    /// Answer 500 to the next `n` POSTs.
    pub fn fail_next(&self, n: usize) {
        if let Ok(mut r) = self.state.lock() {
            r.fail_next = n;
        }
    }

    /// (the `Idempotency-Key` of every POST received, verified callbacks once per key,
    /// refusals).
    pub fn snapshot(&self) -> (Vec<Option<String>>, Vec<Callback>, Vec<String>) {
        match self.state.lock() {
            Ok(r) => (r.attempts.clone(), r.callbacks.clone(), r.refused.clone()),
            Err(_) => (vec![], vec![], vec!["receiver state poisoned".into()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use chrono::Duration;
    use openssl::rsa::Rsa;

    use super::*;
    use crate::ca::jws::JwsError;

    fn valid() -> (DateTime<Utc>, DateTime<Utc>) {
        let now = Utc::now();
        (now - Duration::days(1), now + Duration::days(1))
    }

    /// A signing certificate of `hub`'s CA for `key`, and a signer over it.
    fn signer_for(hub: &Hub, key: PKey<Private>) -> (OpenSslSigner, Vec<u8>) {
        let cert = certificate("other", &key, Some((&hub.ca, &hub.ca_key)), valid()).unwrap();
        let pem = key.private_key_to_pem_pkcs8().unwrap();
        (
            OpenSslSigner::from_pem(&pem, None).unwrap(),
            cert.to_der().unwrap(),
        )
    }

    #[test]
    fn es256_es384_and_rs256_tokens_verify_against_the_anchor() {
        let hub = Hub::generate(valid()).unwrap();
        let claims = json!({"status": "active", "n": 1});
        let (got, subject) =
            jws::verify(hub.sign(&claims).unwrap().as_bytes(), &hub.ca, Utc::now()).unwrap();
        assert_eq!((got, subject.contains("VNeID hub")), (claims.clone(), true));

        let group = EcGroup::from_curve_name(Nid::SECP384R1).unwrap();
        let p384 = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        for (key, alg) in [(p384, "ES384"), (rsa, "RS256")] {
            let (signer, cert) = signer_for(&hub, key);
            let token = jws::sign(&claims, &signer, &[cert]).unwrap();
            let header = URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap();
            assert_eq!(
                serde_json::from_slice::<Value>(&header).unwrap()["alg"],
                alg
            );
            let (got, _) = jws::verify(token.as_bytes(), &hub.ca, Utc::now()).unwrap();
            assert_eq!(got, claims);
        }
    }

    #[test]
    fn tokens_outside_the_rules_are_refused() {
        let hub = Hub::generate(valid()).unwrap();
        let claims = json!({"a": 1});
        let token = hub.sign(&claims).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let with_header = |h: Value| {
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(h.to_string()),
                parts[1],
                parts[2]
            )
        };
        let x5c = serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap())
            .unwrap()["x5c"]
            .clone();
        let verify = |t: &str| jws::verify(t.as_bytes(), &hub.ca, Utc::now()).map(|_| ());
        for header in [
            json!({"alg": "none", "x5c": x5c}),
            json!({"alg": "HS256", "x5c": x5c}),
            json!({"alg": "ES256"}),
            json!({"alg": "ES256", "x5c": x5c, "crit": ["exp"]}),
        ] {
            assert!(
                matches!(
                    verify(&with_header(header.clone())),
                    Err(JwsError::Malformed(_))
                ),
                "{header}"
            );
        }
        // RS256 named over an EC key's signature.
        assert_eq!(
            verify(&with_header(json!({"alg": "RS256", "x5c": x5c}))),
            Err(JwsError::BadSignature)
        );
        // The CA's own certificate cannot stand in for a signing one (no digitalSignature),
        // and a time outside the chain's validity is `Expired`.
        let ca_signed = {
            let pem = hub.ca_key.private_key_to_pem_pkcs8().unwrap();
            let signer = OpenSslSigner::from_pem(&pem, None).unwrap();
            jws::sign(&claims, &signer, &[hub.ca.to_der().unwrap()]).unwrap()
        };
        assert!(matches!(verify(&ca_signed), Err(JwsError::Untrusted(_))));
        assert_eq!(
            jws::verify(token.as_bytes(), &hub.ca, Utc::now() + Duration::days(2)).map(|_| ()),
            Err(JwsError::Expired)
        );
        assert!(matches!(verify("a.b"), Err(JwsError::Malformed(_))));
    }
}
