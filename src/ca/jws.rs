//! Compact JWS (RFC 7515) with ES256, ES384 or RS256 and the signer's chain in `x5c`: verified
//! against a trust anchor with OpenSSL (chain, validity at the service's clock, keyUsage
//! digitalSignature), and made by a [`Signer`] for the callbacks to the hub.
//!
//! Only what the hub connector needs: the header must name `alg` and `x5c`, and any `crit`
//! parameter is refused (we understand no extension). `x5c` entries are standard base64
//! (RFC 7515 §4.1.6), everything else base64url without padding.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use der::Decode;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509StoreContext, X509};
use serde_json::{json, Value};
use x509_cert::ext::pkix::KeyUsage;

use super::{SignatureAlgorithm, Signer};

/// OpenSSL's `X509_V_ERR_CERT_NOT_YET_VALID` and `X509_V_ERR_CERT_HAS_EXPIRED`.
const NOT_YET_VALID: i32 = 9;
const HAS_EXPIRED: i32 = 10;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a compact JWS: {0}")]
    Malformed(String),
    #[error("the signature does not verify")]
    BadSignature,
    /// The chain does not lead to the trust anchor, or the signing certificate may not sign.
    #[error("signing certificate not trusted: {0}")]
    Untrusted(String),
    /// A certificate of the chain is outside its validity period.
    #[error("signing certificate expired or not yet valid")]
    Expired,
    #[error("signing: {0}")]
    Signing(String),
}

fn malformed(what: impl Into<String>) -> JwsError {
    JwsError::Malformed(what.into())
}

/// The signing algorithms accepted and made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alg {
    Es256,
    Es384,
    Rs256,
}

impl Alg {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Alg::Es256),
            "ES384" => Some(Alg::Es384),
            "RS256" => Some(Alg::Rs256),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Rs256 => "RS256",
        }
    }

    fn digest(self) -> MessageDigest {
        match self {
            Alg::Es384 => MessageDigest::sha384(),
            Alg::Es256 | Alg::Rs256 => MessageDigest::sha256(),
        }
    }

    /// The width of r and of s in an ECDSA JWS signature (RFC 7518 §3.4).
    fn ec_width(self) -> Option<usize> {
        match self {
            Alg::Es256 => Some(32),
            Alg::Es384 => Some(48),
            Alg::Rs256 => None,
        }
    }
}

/// Verifies `compact` against `anchor` as of `now` and returns its claims (a JSON object)
/// with the signing certificate's subject, for the audit trail.
pub fn verify(
    compact: &[u8],
    anchor: &X509,
    now: DateTime<Utc>,
) -> Result<(Value, String), JwsError> {
    let text = std::str::from_utf8(compact).map_err(|_| malformed("not UTF-8"))?;
    let text = text.trim();
    let mut parts = text.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    let decode = |what: &str, s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| malformed(format!("{what} is not base64url")))
    };
    let header: Value = serde_json::from_slice(&decode("header", h64)?)
        .map_err(|_| malformed("header is not JSON"))?;
    if header.get("crit").is_some() {
        return Err(malformed("`crit` parameters are not supported"));
    }
    let alg = header["alg"]
        .as_str()
        .and_then(Alg::parse)
        .ok_or_else(|| malformed("`alg` must be ES256, ES384 or RS256"))?;
    let chain = header["x5c"]
        .as_array()
        .filter(|c| !c.is_empty() && c.len() <= 4)
        .ok_or_else(|| malformed("`x5c` must hold 1 to 4 certificates"))?
        .iter()
        .map(|c| {
            let der = c
                .as_str()
                .and_then(|s| STANDARD.decode(s).ok())
                .ok_or_else(|| malformed("`x5c` entry is not base64"))?;
            X509::from_der(&der).map_err(|_| malformed("`x5c` entry is not a certificate"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let signature = decode("signature", s64)?;
    let claims: Value = serde_json::from_slice(&decode("payload", p64)?)
        .map_err(|_| malformed("payload is not JSON"))?;
    if !claims.is_object() {
        return Err(malformed("payload is not a JSON object"));
    }
    let leaf = &chain[0];
    check_chain(leaf, &chain[1..], anchor, now)?;
    check_key_usage(leaf)?;
    let signing_input = format!("{h64}.{p64}");
    check_signature(alg, leaf, signing_input.as_bytes(), &signature)?;
    let subject = leaf
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    Ok((claims, subject))
}

fn check_chain(
    leaf: &X509,
    rest: &[X509],
    anchor: &X509,
    now: DateTime<Utc>,
) -> Result<(), JwsError> {
    let untrusted = |e: openssl::error::ErrorStack| JwsError::Untrusted(e.to_string());
    let mut builder = X509StoreBuilder::new().map_err(untrusted)?;
    builder.add_cert(anchor.clone()).map_err(untrusted)?;
    // The service's clock, not the machine's: tests move time, and so do the validity checks.
    let mut param = X509VerifyParam::new().map_err(untrusted)?;
    param.set_time(now.timestamp());
    builder.set_param(&param).map_err(untrusted)?;
    let store = builder.build();
    let mut intermediates = Stack::new().map_err(untrusted)?;
    for c in rest {
        intermediates.push(c.clone()).map_err(untrusted)?;
    }
    let mut ctx = X509StoreContext::new().map_err(untrusted)?;
    let (ok, error) = ctx
        .init(&store, leaf, &intermediates, |c| {
            let ok = c.verify_cert()?;
            Ok((ok, c.error()))
        })
        .map_err(untrusted)?;
    match (ok, error.as_raw()) {
        (true, _) => Ok(()),
        (false, NOT_YET_VALID | HAS_EXPIRED) => Err(JwsError::Expired),
        (false, _) => Err(JwsError::Untrusted(error.error_string().to_string())),
    }
}

/// The signing certificate must carry keyUsage with digitalSignature.
fn check_key_usage(leaf: &X509) -> Result<(), JwsError> {
    let der = leaf
        .to_der()
        .map_err(|e| JwsError::Untrusted(e.to_string()))?;
    let cert = x509_cert::Certificate::from_der(&der)
        .map_err(|e| JwsError::Untrusted(format!("certificate: {e}")))?;
    let signs = cert
        .tbs_certificate()
        .get_extension::<KeyUsage>()
        .map_err(|e| JwsError::Untrusted(format!("keyUsage: {e}")))?
        .is_some_and(|(_, ku)| ku.digital_signature());
    if signs {
        Ok(())
    } else {
        Err(JwsError::Untrusted(
            "the signing certificate lacks keyUsage digitalSignature".into(),
        ))
    }
}

fn check_signature(alg: Alg, leaf: &X509, input: &[u8], signature: &[u8]) -> Result<(), JwsError> {
    let key = leaf.public_key().map_err(|_| JwsError::BadSignature)?;
    let der_signature;
    let signature = match alg.ec_width() {
        Some(width) => {
            if key.ec_key().is_err() || signature.len() != 2 * width {
                return Err(JwsError::BadSignature);
            }
            // JWS carries r‖s; OpenSSL verifies the DER `ECDSA-Sig-Value`.
            let (r, s) = signature.split_at(width);
            der_signature = BigNum::from_slice(r)
                .and_then(|r| Ok((r, BigNum::from_slice(s)?)))
                .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
                .and_then(|sig| sig.to_der())
                .map_err(|_| JwsError::BadSignature)?;
            &der_signature[..]
        }
        None => {
            if key.rsa().is_err() {
                return Err(JwsError::BadSignature);
            }
            signature
        }
    };
    let mut verifier = Verifier::new(alg.digest(), &key).map_err(|_| JwsError::BadSignature)?;
    match verifier.verify_oneshot(signature, input) {
        Ok(true) => Ok(()),
        _ => Err(JwsError::BadSignature),
    }
}

/// A compact JWS of `claims` signed by `signer`, with `chain_der` (its certificate first) in
/// `x5c`: ES256 or ES384 for P-256 or P-384 keys, RS256 for RSA keys.
pub fn sign(
    claims: &Value,
    signer: &dyn Signer,
    chain_der: &[Vec<u8>],
) -> Result<String, JwsError> {
    let alg = match signer.algorithm() {
        SignatureAlgorithm::EcdsaSha256 => Alg::Es256,
        SignatureAlgorithm::EcdsaSha384 => Alg::Es384,
        SignatureAlgorithm::Sha256WithRsa => Alg::Rs256,
    };
    let x5c: Vec<String> = chain_der.iter().map(|c| STANDARD.encode(c)).collect();
    let header = json!({"alg": alg.name(), "typ": "JWT", "x5c": x5c});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signing = |e: &dyn std::fmt::Display| JwsError::Signing(e.to_string());
    let signature = signer.sign(input.as_bytes()).map_err(|e| signing(&e))?;
    let signature = match alg.ec_width() {
        // The signer answers a DER `ECDSA-Sig-Value`; JWS wants r‖s, each padded to width.
        Some(width) => {
            let sig = EcdsaSig::from_der(&signature).map_err(|e| signing(&e))?;
            let width = i32::try_from(width).map_err(|e| signing(&e))?;
            let mut raw = sig.r().to_vec_padded(width).map_err(|e| signing(&e))?;
            raw.extend(sig.s().to_vec_padded(width).map_err(|e| signing(&e))?);
            raw
        }
        None => signature,
    };
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}
