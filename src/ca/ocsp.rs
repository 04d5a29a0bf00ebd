//! OCSP (RFC 6960, with the RFC 5019 lightweight profile): request parsing,
//! issuer matching, and signed responses from the delegated responder.
//!
//! A response built without a nonce depends only on the certificate's status
//! and the times, so the caller can pre-sign one per certificate (and CertID
//! hash algorithm: clients match the response's CertID, hash algorithm
//! included, against their request) and serve the same bytes until it changes.
//! Requests carrying a nonce need a response signed for them.

use chrono::{DateTime, Utc};
use const_oid::db::{rfc5912, rfc6960};
use const_oid::ObjectIdentifier;
use der::Decode;
use spki::SubjectPublicKeyInfoRef;

use super::asn1;
use super::{CaError, IssuingCa, OcspResponder, RevocationReason, Serial};

/// At most this many CertIDs per request; RFC 5019 clients send one.
pub const MAX_CERT_IDS: usize = 20;
/// RFC 8954: a nonce is 1 to 32 octets.
const MAX_NONCE_LEN: usize = 32;

/// The hash algorithm of a CertID. SHA-1 only identifies the issuer here (it
/// is what `openssl ocsp` sends by default); nothing is signed with it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CertIdHash {
    Sha1,
    Sha256,
    /// Any other algorithm: parsed and echoed, never matched to an issuer.
    Other(ObjectIdentifier),
}

impl CertIdHash {
    fn oid(&self) -> ObjectIdentifier {
        match self {
            CertIdHash::Sha1 => rfc5912::ID_SHA_1,
            CertIdHash::Sha256 => rfc5912::ID_SHA_256,
            CertIdHash::Other(o) => *o,
        }
    }
}

/// `CertID` (RFC 6960 §4.1.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertId {
    pub hash: CertIdHash,
    /// Hash of the issuer's subject Name DER.
    pub issuer_name_hash: Vec<u8>,
    /// Hash of the issuer's subjectPublicKey BIT STRING value.
    pub issuer_key_hash: Vec<u8>,
    /// The serialNumber INTEGER content octets, as received.
    pub serial: Vec<u8>,
}

impl CertId {
    /// The serial, if it is one this CA could have issued (positive, minimal,
    /// at most 20 octets). `None` means the certificate is not ours.
    pub fn serial_number(&self) -> Option<Serial> {
        Serial::from_bytes(&self.serial).ok()
    }

    /// Whether this CertID names a certificate of `ca`. Hashes the issuer on
    /// each call; keep an [`OcspIssuer`] for the request path.
    pub fn is_for(&self, ca: &IssuingCa) -> Result<bool, CaError> {
        Ok(OcspIssuer::new(ca)?.issued(self))
    }
}

/// A parsed OCSPRequest: the certificates asked about and the nonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspRequest {
    pub cert_ids: Vec<CertId>,
    /// The nonce extension's extnValue content exactly as received (for RFC
    /// 8954 clients a DER OCTET STRING): what [`build_response`] echoes.
    pub nonce: Option<Vec<u8>>,
}

/// Why a request could not be parsed; every case is answered with
/// [`OcspErrorStatus::MalformedRequest`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OcspParseError {
    #[error("malformed OCSP request: {0}")]
    Malformed(&'static str),
    #[error("the OCSP request asks about more than {max} certificates")]
    TooManyCertIds { max: usize },
    #[error("the OCSP request has an unsupported critical extension {0}")]
    UnsupportedCriticalExtension(String),
    #[error("the OCSP nonce must be 1 to 32 octets")]
    BadNonce,
}

impl OcspParseError {
    /// The OCSPResponseStatus to answer with.
    pub fn response_status(&self) -> OcspErrorStatus {
        OcspErrorStatus::MalformedRequest
    }
}

/// The unsuccessful OCSPResponseStatus values (RFC 6960 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OcspErrorStatus {
    MalformedRequest,
    InternalError,
    TryLater,
    SigRequired,
    Unauthorized,
}

impl OcspErrorStatus {
    pub fn code(self) -> u8 {
        match self {
            OcspErrorStatus::MalformedRequest => 1,
            OcspErrorStatus::InternalError => 2,
            OcspErrorStatus::TryLater => 3,
            OcspErrorStatus::SigRequired => 5,
            OcspErrorStatus::Unauthorized => 6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OcspErrorStatus::MalformedRequest => "malformedRequest",
            OcspErrorStatus::InternalError => "internalError",
            OcspErrorStatus::TryLater => "tryLater",
            OcspErrorStatus::SigRequired => "sigRequired",
            OcspErrorStatus::Unauthorized => "unauthorized",
        }
    }
}

/// The status of one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    /// `reason` is encoded as given; `None` omits revocationReason.
    Revoked {
        at: DateTime<Utc>,
        reason: Option<RevocationReason>,
    },
    Unknown,
}

/// One SingleResponse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleAnswer {
    /// Echoed as is: for a request, the CertID it carried.
    pub cert_id: CertId,
    pub status: CertStatus,
    pub this_update: DateTime<Utc>,
    /// Required by RFC 5019; must be after `this_update`.
    pub next_update: DateTime<Utc>,
}

/// The issuer's CertID hashes, computed once, to match requests and to build
/// CertIDs for pre-signed responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspIssuer {
    name_sha1: [u8; 20],
    key_sha1: [u8; 20],
    name_sha256: [u8; 32],
    key_sha256: [u8; 32],
}

impl OcspIssuer {
    pub fn new(ca: &IssuingCa) -> Result<OcspIssuer, CaError> {
        let key = subject_public_key(ca.signer().public_key_der())?;
        let name = ca.subject_der();
        Ok(OcspIssuer {
            name_sha1: openssl::sha::sha1(name),
            key_sha1: openssl::sha::sha1(key),
            name_sha256: openssl::sha::sha256(name),
            key_sha256: openssl::sha::sha256(key),
        })
    }

    /// Whether `id` names a certificate of this issuer (name and key hash both
    /// match). The serial is not looked at: that is the caller's database.
    pub fn issued(&self, id: &CertId) -> bool {
        match id.hash {
            CertIdHash::Sha1 => {
                id.issuer_name_hash == self.name_sha1 && id.issuer_key_hash == self.key_sha1
            }
            CertIdHash::Sha256 => {
                id.issuer_name_hash == self.name_sha256 && id.issuer_key_hash == self.key_sha256
            }
            CertIdHash::Other(_) => false,
        }
    }

    /// The CertID of `serial` under this issuer, as a client computes it.
    /// `Other` hash algorithms give empty hashes; use Sha1 or Sha256.
    pub fn cert_id(&self, serial: &Serial, hash: CertIdHash) -> CertId {
        let (name, key): (&[u8], &[u8]) = match hash {
            CertIdHash::Sha1 => (&self.name_sha1, &self.key_sha1),
            CertIdHash::Sha256 => (&self.name_sha256, &self.key_sha256),
            CertIdHash::Other(_) => (&[], &[]),
        };
        CertId {
            hash,
            issuer_name_hash: name.to_vec(),
            issuer_key_hash: key.to_vec(),
            serial: serial.as_bytes().to_vec(),
        }
    }
}

/// The subjectPublicKey BIT STRING value of a SubjectPublicKeyInfo.
fn subject_public_key(spki_der: &[u8]) -> Result<&[u8], CaError> {
    SubjectPublicKeyInfoRef::from_der(spki_der)
        .map(|s| s.subject_public_key.raw_bytes())
        .map_err(|e| CaError::Unexpected(format!("not a SubjectPublicKeyInfo: {e}")))
}

/// Reads DER elements one after another out of a content slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }

    fn next(&mut self, what: &'static str) -> Result<(u8, &'a [u8]), OcspParseError> {
        let (tag, content, rest) =
            asn1::split_tlv(self.0).ok_or(OcspParseError::Malformed(what))?;
        self.0 = rest;
        Ok((tag, content))
    }

    fn take(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], OcspParseError> {
        match self.next(what)? {
            (t, content) if t == tag => Ok(content),
            _ => Err(OcspParseError::Malformed(what)),
        }
    }

    fn optional(
        &mut self,
        tag: u8,
        what: &'static str,
    ) -> Result<Option<&'a [u8]>, OcspParseError> {
        if self.peek_tag() == Some(tag) {
            self.take(tag, what).map(Some)
        } else {
            Ok(None)
        }
    }

    fn end(&self, what: &'static str) -> Result<(), OcspParseError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(OcspParseError::Malformed(what))
        }
    }
}

/// Parses a DER OCSPRequest (RFC 6960 §4.1.1). A request signature, if any,
/// is ignored (the responder answers anyone); requestorName is ignored.
pub fn parse_request(der: &[u8]) -> Result<OcspRequest, OcspParseError> {
    use asn1::{TAG_INTEGER, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE};
    let mut outer = Reader(der);
    let request = outer.take(TAG_SEQUENCE, "OCSPRequest is not a SEQUENCE")?;
    outer.end("data after the OCSPRequest")?;
    let mut r = Reader(request);
    let tbs = r.take(TAG_SEQUENCE, "tbsRequest is not a SEQUENCE")?;
    r.optional(0xA0, "optionalSignature")?;
    r.end("unexpected element after tbsRequest")?;

    let mut t = Reader(tbs);
    if let Some(version) = t.optional(0xA0, "version")? {
        if version != [TAG_INTEGER, 1, 0] {
            return Err(OcspParseError::Malformed("version is not v1"));
        }
    }
    t.optional(0xA1, "requestorName")?;
    let list = t.take(TAG_SEQUENCE, "requestList is not a SEQUENCE")?;
    let extensions = t.optional(0xA2, "requestExtensions")?;
    t.end("unexpected element in tbsRequest")?;

    let mut cert_ids = Vec::new();
    let mut l = Reader(list);
    while !l.0.is_empty() {
        if cert_ids.len() == MAX_CERT_IDS {
            return Err(OcspParseError::TooManyCertIds { max: MAX_CERT_IDS });
        }
        let mut req = Reader(l.take(TAG_SEQUENCE, "Request is not a SEQUENCE")?);
        let mut id = Reader(req.take(TAG_SEQUENCE, "reqCert is not a SEQUENCE")?);
        if let Some(single) = req.optional(0xA0, "singleRequestExtensions")? {
            parse_extensions(single, |_, _| Ok(false))?;
        }
        req.end("unexpected element in Request")?;

        let mut alg = Reader(id.take(TAG_SEQUENCE, "hashAlgorithm is not a SEQUENCE")?);
        let hash_oid = ObjectIdentifier::from_bytes(alg.take(TAG_OID, "hashAlgorithm OID")?)
            .map_err(|_| OcspParseError::Malformed("hashAlgorithm OID"))?;
        // parameters: NULL or absent for the SHA family; anything else is not ours to judge.
        if !alg.0.is_empty() {
            alg.next("hashAlgorithm parameters")?;
            alg.end("hashAlgorithm has extra elements")?;
        }
        let hash = match hash_oid {
            o if o == rfc5912::ID_SHA_1 => CertIdHash::Sha1,
            o if o == rfc5912::ID_SHA_256 => CertIdHash::Sha256,
            o => CertIdHash::Other(o),
        };
        let issuer_name_hash = id.take(TAG_OCTET_STRING, "issuerNameHash")?.to_vec();
        let issuer_key_hash = id.take(TAG_OCTET_STRING, "issuerKeyHash")?.to_vec();
        let serial = id.take(TAG_INTEGER, "serialNumber")?;
        id.end("unexpected element in CertID")?;
        if serial.is_empty() {
            return Err(OcspParseError::Malformed("empty serialNumber"));
        }
        cert_ids.push(CertId {
            hash,
            issuer_name_hash,
            issuer_key_hash,
            serial: serial.to_vec(),
        });
    }
    if cert_ids.is_empty() {
        return Err(OcspParseError::Malformed("empty requestList"));
    }

    let mut nonce = None;
    if let Some(exts) = extensions {
        parse_extensions(exts, |id, value| {
            if *id != rfc6960::ID_PKIX_OCSP_NONCE {
                return Ok(false);
            }
            if nonce.is_some() {
                return Err(OcspParseError::Malformed("two nonce extensions"));
            }
            check_nonce(value)?;
            nonce = Some(value.to_vec());
            Ok(true)
        })?;
    }
    Ok(OcspRequest { cert_ids, nonce })
}

/// `[n] EXPLICIT Extensions`: calls `f(id, extnValue content)` for each
/// extension; `f` returns whether it understood it. An extension that is
/// critical and not understood fails the request (RFC 6960 §4.4).
fn parse_extensions(
    explicit: &[u8],
    mut f: impl FnMut(&ObjectIdentifier, &[u8]) -> Result<bool, OcspParseError>,
) -> Result<(), OcspParseError> {
    let mut outer = Reader(explicit);
    let mut list = Reader(outer.take(asn1::TAG_SEQUENCE, "Extensions is not a SEQUENCE")?);
    outer.end("data after Extensions")?;
    while !list.0.is_empty() {
        let mut e = Reader(list.take(asn1::TAG_SEQUENCE, "Extension is not a SEQUENCE")?);
        let id = ObjectIdentifier::from_bytes(e.take(asn1::TAG_OID, "extnID")?)
            .map_err(|_| OcspParseError::Malformed("extnID"))?;
        let critical = match e.optional(asn1::TAG_BOOLEAN, "critical")? {
            None => false,
            Some([b]) => *b != 0,
            Some(_) => return Err(OcspParseError::Malformed("critical is not a BOOLEAN")),
        };
        let value = e.take(asn1::TAG_OCTET_STRING, "extnValue")?;
        e.end("unexpected element in Extension")?;
        if !f(&id, value)? && critical {
            return Err(OcspParseError::UnsupportedCriticalExtension(id.to_string()));
        }
    }
    Ok(())
}

/// RFC 8954: the nonce is an OCTET STRING of 1 to 32 octets. Older clients put
/// the raw octets in extnValue; the same bounds apply to them.
fn check_nonce(value: &[u8]) -> Result<(), OcspParseError> {
    let inner = match asn1::split_tlv(value) {
        Some((asn1::TAG_OCTET_STRING, content, [])) => content,
        _ => value,
    };
    if (1..=MAX_NONCE_LEN).contains(&inner.len()) {
        Ok(())
    } else {
        Err(OcspParseError::BadNonce)
    }
}

/// An OCSPResponse with an unsuccessful status and no responseBytes.
pub fn error_response(status: OcspErrorStatus) -> Vec<u8> {
    vec![
        asn1::TAG_SEQUENCE,
        3,
        asn1::TAG_ENUMERATED,
        1,
        status.code(),
    ]
}

/// Builds a successful OCSPResponse carrying a BasicOCSPResponse signed by the
/// delegated responder: ResponderID byKey (SHA-1 of the responder's
/// subjectPublicKey, RFC 6960 §4.2.1), producedAt, one SingleResponse per
/// answer, the nonce echoed when given (pass [`OcspRequest::nonce`]), and
/// the responder certificate in `certs`. Without a nonce the bytes can be
/// cached and served to every requester until the status changes.
pub fn build_response(
    responder: &OcspResponder,
    answers: &[SingleAnswer],
    nonce: Option<&[u8]>,
    produced_at: DateTime<Utc>,
) -> Result<Vec<u8>, CaError> {
    use asn1::{bytes, sequence, tlv};
    if answers.is_empty() || answers.len() > MAX_CERT_IDS {
        return Err(CaError::Unexpected(format!(
            "an OCSP response answers 1 to {MAX_CERT_IDS} certificates"
        )));
    }
    if let Some(a) = answers.iter().find(|a| a.next_update <= a.this_update) {
        return Err(CaError::ValidityInvalid(format!(
            "OCSP nextUpdate {} is not after thisUpdate {}",
            a.next_update, a.this_update
        )));
    }
    if let Some(n) = nonce {
        check_nonce(n).map_err(|e| CaError::Unexpected(e.to_string()))?;
    }
    let signer = responder.signer();
    let key_hash = openssl::sha::sha1(subject_public_key(signer.public_key_der())?);

    let mut tbs = Vec::with_capacity(128 + 128 * answers.len());
    sequence(&mut tbs, |o| {
        // version v1 is the DEFAULT and so absent. byKey [2] EXPLICIT KeyHash.
        tlv(o, 0xA2, |o| bytes(o, asn1::TAG_OCTET_STRING, &key_hash));
        asn1::generalized_time(o, &produced_at);
        sequence(o, |o| answers.iter().for_each(|a| single_response(o, a)));
        if let Some(n) = nonce {
            // responseExtensions [1] EXPLICIT Extensions
            tlv(o, 0xA1, |o| {
                sequence(o, |o| {
                    asn1::extension(o, &rfc6960::ID_PKIX_OCSP_NONCE, false, |o| {
                        o.extend_from_slice(n)
                    })
                })
            })
        }
    });
    let signature = signer.sign(&tbs)?;
    let algorithm = signer.algorithm().algorithm_identifier_der();
    let cert = responder.cert_der();

    let mut out = Vec::with_capacity(tbs.len() + signature.len() + cert.len() + 64);
    sequence(&mut out, |o| {
        bytes(o, asn1::TAG_ENUMERATED, &[0]); // successful
        tlv(o, 0xA0, |o| {
            sequence(o, |o| {
                asn1::oid(o, &rfc6960::ID_PKIX_OCSP_BASIC);
                tlv(o, asn1::TAG_OCTET_STRING, |o| {
                    sequence(o, |o| {
                        o.extend_from_slice(&tbs);
                        o.extend_from_slice(algorithm);
                        asn1::bit_string(o, &signature);
                        // certs [0] EXPLICIT SEQUENCE OF Certificate
                        tlv(o, 0xA0, |o| sequence(o, |o| o.extend_from_slice(cert)));
                    })
                })
            })
        })
    });
    Ok(out)
}

fn single_response(o: &mut Vec<u8>, a: &SingleAnswer) {
    use asn1::{bytes, sequence, tlv};
    sequence(o, |o| {
        sequence(o, |o| {
            sequence(o, |o| {
                asn1::oid(o, &a.cert_id.hash.oid());
                // NULL parameters, as OpenSSL writes them in its requests.
                bytes(o, asn1::TAG_NULL, &[]);
            });
            bytes(o, asn1::TAG_OCTET_STRING, &a.cert_id.issuer_name_hash);
            bytes(o, asn1::TAG_OCTET_STRING, &a.cert_id.issuer_key_hash);
            bytes(o, asn1::TAG_INTEGER, &a.cert_id.serial);
        });
        match &a.status {
            // good [0] IMPLICIT NULL
            CertStatus::Good => bytes(o, 0x80, &[]),
            // revoked [1] IMPLICIT RevokedInfo
            CertStatus::Revoked { at, reason } => tlv(o, 0xA1, |o| {
                asn1::generalized_time(o, at);
                if let Some(r) = reason {
                    // revocationReason [0] EXPLICIT CRLReason
                    tlv(o, 0xA0, |o| bytes(o, asn1::TAG_ENUMERATED, &[r.code()]));
                }
            }),
            // unknown [2] IMPLICIT UnknownInfo (NULL)
            CertStatus::Unknown => bytes(o, 0x82, &[]),
        }
        asn1::generalized_time(o, &a.this_update);
        // nextUpdate [0] EXPLICIT GeneralizedTime
        tlv(o, 0xA0, |o| asn1::generalized_time(o, &a.next_update));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_carry_only_the_status() {
        assert_eq!(
            error_response(OcspErrorStatus::MalformedRequest),
            [0x30, 0x03, 0x0A, 0x01, 0x01]
        );
        assert_eq!(
            error_response(OcspErrorStatus::Unauthorized),
            [0x30, 0x03, 0x0A, 0x01, 0x06]
        );
    }

    #[test]
    fn nonces_of_0_or_more_than_32_octets_are_refused() {
        assert_eq!(check_nonce(&[0x04, 0x00]), Err(OcspParseError::BadNonce));
        let mut long = vec![0x04, 33];
        long.extend([7u8; 33]);
        assert_eq!(check_nonce(&long), Err(OcspParseError::BadNonce));
        let mut ok = vec![0x04, 32];
        ok.extend([7u8; 32]);
        assert_eq!(check_nonce(&ok), Ok(()));
        assert_eq!(check_nonce(&[]), Err(OcspParseError::BadNonce));
    }
}
