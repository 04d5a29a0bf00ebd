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
use der::asn1::{AnyRef, BitStringRef, IntRef, OctetStringRef};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Writer,
};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use x509_cert::ext::{Extension, Extensions};

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
    /// Not DER, or not an OCSPRequest.
    #[error("malformed OCSP request: {0}")]
    Der(#[from] der::Error),
    /// DER, but not a request this responder can answer.
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
            name_sha256: crate::ca::sha256(name),
            key_sha256: crate::ca::sha256(key),
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

// The request as RFC 6960 §4.1.1 declares it, decoded by `der`: strict DER
// (minimal lengths, BOOLEAN 0x00 or 0xFF, canonical INTEGERs, no trailing data),
// borrowing from the input. `parse_request` applies the semantic checks after.

/// `OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT OPTIONAL }`
#[derive(Sequence)]
#[asn1(error = OcspParseError)]
struct OcspRequestDer<'a> {
    tbs_request: TbsRequest<'a>,
    /// Decoded for its structure only: the responder answers anyone.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    optional_signature: Option<RequestSignature<'a>>,
}

/// `TBSRequest`. requestorName is decoded for its structure only.
#[derive(Sequence)]
#[asn1(error = OcspParseError)]
struct TbsRequest<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    requestor_name: Option<AnyRef<'a>>,
    request_list: RequestList<'a>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Extensions>,
}

/// `Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT OPTIONAL }`
#[derive(Sequence)]
struct RequestDer<'a> {
    req_cert: CertIdDer<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    single_request_extensions: Option<Extensions>,
}

/// `CertID`. The serial is a canonical INTEGER, so its content octets are
/// exactly those received (and echoed in the response).
#[derive(Sequence)]
struct CertIdDer<'a> {
    hash_algorithm: AlgorithmIdentifierRef<'a>,
    issuer_name_hash: &'a OctetStringRef,
    issuer_key_hash: &'a OctetStringRef,
    serial_number: IntRef<'a>,
}

/// `Signature ::= SEQUENCE { signatureAlgorithm, signature, certs [0] EXPLICIT OPTIONAL }`
#[derive(Sequence)]
struct RequestSignature<'a> {
    signature_algorithm: AlgorithmIdentifierRef<'a>,
    signature: BitStringRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<AnyRef<'a>>>,
}

/// `requestList SEQUENCE OF Request`, decoded one Request at a time so that
/// a request asking about too many certificates fails at the first extra one.
struct RequestList<'a>(Vec<RequestDer<'a>>);

impl FixedTag for RequestList<'_> {
    const TAG: Tag = Tag::Sequence;
}

impl<'a> DecodeValue<'a> for RequestList<'a> {
    type Error = OcspParseError;

    fn decode_value<R: Reader<'a>>(reader: &mut R, _header: Header) -> Result<Self, Self::Error> {
        let mut list = Vec::with_capacity(1);
        while !reader.is_finished() {
            if list.len() == MAX_CERT_IDS {
                return Err(OcspParseError::TooManyCertIds { max: MAX_CERT_IDS });
            }
            list.push(RequestDer::decode(reader)?);
        }
        Ok(RequestList(list))
    }
}

impl EncodeValue for RequestList<'_> {
    fn value_len(&self) -> der::Result<Length> {
        self.0
            .iter()
            .try_fold(Length::ZERO, |len, r| len + r.encoded_len()?)
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.0.iter().try_for_each(|r| r.encode(writer))
    }
}

/// Parses a DER OCSPRequest (RFC 6960 §4.1.1). A request signature, if any,
/// is ignored (the responder answers anyone); requestorName is ignored.
pub fn parse_request(der: &[u8]) -> Result<OcspRequest, OcspParseError> {
    let request = OcspRequestDer::from_der(der)?;
    request_from_der(&request)
}

/// The semantic checks on a decoded request.
fn request_from_der(request: &OcspRequestDer<'_>) -> Result<OcspRequest, OcspParseError> {
    let tbs = &request.tbs_request;
    if tbs.version.is_some_and(|v| v != 0) {
        return Err(OcspParseError::Malformed("version is not v1"));
    }
    if tbs.request_list.0.is_empty() {
        return Err(OcspParseError::Malformed("empty requestList"));
    }
    let mut cert_ids = Vec::with_capacity(tbs.request_list.0.len());
    for r in &tbs.request_list.0 {
        // No single-request extension is understood: a critical one fails the request.
        if let Some(exts) = &r.single_request_extensions {
            check_extensions(exts, |_| Ok(false))?;
        }
        let id = &r.req_cert;
        let hash = match id.hash_algorithm.oid {
            o if o == rfc5912::ID_SHA_1 => CertIdHash::Sha1,
            o if o == rfc5912::ID_SHA_256 => CertIdHash::Sha256,
            o => CertIdHash::Other(o),
        };
        cert_ids.push(CertId {
            hash,
            issuer_name_hash: id.issuer_name_hash.as_bytes().to_vec(),
            issuer_key_hash: id.issuer_key_hash.as_bytes().to_vec(),
            serial: id.serial_number.as_bytes().to_vec(),
        });
    }

    let mut nonce = None;
    if let Some(exts) = &tbs.request_extensions {
        check_extensions(exts, |e| {
            if e.extn_id != rfc6960::ID_PKIX_OCSP_NONCE {
                return Ok(false);
            }
            if nonce.is_some() {
                return Err(OcspParseError::Malformed("two nonce extensions"));
            }
            let value = e.extn_value.as_bytes();
            check_nonce(value)?;
            nonce = Some(value.to_vec());
            Ok(true)
        })?;
    }
    Ok(OcspRequest { cert_ids, nonce })
}

/// Calls `f` on each extension; `f` returns whether it understood it. An
/// extension that is critical and not understood fails the request (RFC 6960 §4.4).
fn check_extensions(
    exts: &Extensions,
    mut f: impl FnMut(&Extension) -> Result<bool, OcspParseError>,
) -> Result<(), OcspParseError> {
    for e in exts {
        if !f(e)? && e.critical {
            return Err(OcspParseError::UnsupportedCriticalExtension(
                e.extn_id.to_string(),
            ));
        }
    }
    Ok(())
}

/// RFC 8954: the nonce is an OCTET STRING of 1 to 32 octets. Older clients put
/// the raw octets in extnValue; the same bounds apply to them.
fn check_nonce(value: &[u8]) -> Result<(), OcspParseError> {
    let inner = <&OctetStringRef>::from_der(value).map_or(value, |o| o.as_bytes());
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
    use asn1::{bytes, sequence, tlv};

    fn cert_id(o: &mut Vec<u8>, serial: &[u8], long_form_name_hash: bool) {
        sequence(o, |o| {
            sequence(o, |o| {
                asn1::oid(o, &rfc5912::ID_SHA_1);
                bytes(o, asn1::TAG_NULL, &[]);
            });
            if long_form_name_hash {
                // 20 octets with a long-form length: BER, not DER.
                o.extend_from_slice(&[asn1::TAG_OCTET_STRING, 0x81, 20]);
                o.extend_from_slice(&[1; 20]);
            } else {
                bytes(o, asn1::TAG_OCTET_STRING, &[1; 20]);
            }
            bytes(o, asn1::TAG_OCTET_STRING, &[2; 20]);
            bytes(o, asn1::TAG_INTEGER, serial);
        })
    }

    /// Options of a hand-built OCSPRequest.
    #[derive(Default)]
    struct Shape {
        ids: usize,
        version: bool,
        /// The nonce extension's `critical` octet; `None` omits the field.
        nonce_critical: Option<Option<u8>>,
        long_form_name_hash: bool,
        signature: bool,
    }

    fn request(shape: &Shape) -> Vec<u8> {
        let mut out = Vec::new();
        sequence(&mut out, |o| {
            sequence(o, |o| {
                if shape.version {
                    tlv(o, 0xA0, |o| bytes(o, asn1::TAG_INTEGER, &[0]));
                }
                sequence(o, |o| {
                    for i in 0..shape.ids {
                        let serial = [0x12, 0x34, i as u8];
                        sequence(o, |o| cert_id(o, &serial, shape.long_form_name_hash));
                    }
                });
                if let Some(critical) = shape.nonce_critical {
                    tlv(o, 0xA2, |o| {
                        sequence(o, |o| {
                            sequence(o, |o| {
                                asn1::oid(o, &rfc6960::ID_PKIX_OCSP_NONCE);
                                if let Some(c) = critical {
                                    bytes(o, asn1::TAG_BOOLEAN, &[c]);
                                }
                                tlv(o, asn1::TAG_OCTET_STRING, |o| {
                                    bytes(o, asn1::TAG_OCTET_STRING, &[7; 16])
                                });
                            })
                        })
                    });
                }
            });
            if shape.signature {
                tlv(o, 0xA0, |o| {
                    sequence(o, |o| {
                        sequence(o, |o| asn1::oid(o, &rfc5912::ECDSA_WITH_SHA_256));
                        asn1::bit_string(o, &[0x30, 0x00]);
                    })
                });
            }
        });
        out
    }

    #[test]
    fn a_non_minimally_encoded_length_is_refused() {
        let one = Shape {
            ids: 1,
            ..Shape::default()
        };
        let good = request(&one);
        assert_eq!(parse_request(&good).unwrap().cert_ids.len(), 1);
        // The outer SEQUENCE length in the long form although it is below 128.
        assert!(good[1] < 0x80);
        let outer = [&[0x30, 0x81][..], &good[1..]].concat();
        assert!(matches!(parse_request(&outer), Err(OcspParseError::Der(_))));
        // An issuerNameHash length in the long form, deep inside.
        let inner = request(&Shape {
            long_form_name_hash: true,
            ..one
        });
        assert!(matches!(parse_request(&inner), Err(OcspParseError::Der(_))));
        assert_eq!(
            OcspParseError::Der(der::ErrorKind::Overlength.into()).response_status(),
            OcspErrorStatus::MalformedRequest
        );
    }

    #[test]
    fn a_boolean_other_than_00_or_ff_is_refused() {
        let with_critical = |c| {
            request(&Shape {
                ids: 1,
                nonce_critical: Some(c),
                ..Shape::default()
            })
        };
        for c in [None, Some(0xFF), Some(0x00)] {
            let parsed = parse_request(&with_critical(c)).unwrap();
            assert_eq!(parsed.nonce.map(|n| n.len()), Some(18), "{c:?}");
        }
        for c in [0x01, 0x7F, 0x80, 0xFE] {
            assert!(
                matches!(
                    parse_request(&with_critical(Some(c))),
                    Err(OcspParseError::Der(_))
                ),
                "critical {c:#04x}"
            );
        }
    }

    /// splitmix64: a fixed seed makes every run feed the same inputs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
        for _ in 0..=rng.below(3) {
            if input.is_empty() {
                input.push(rng.next() as u8);
                continue;
            }
            let at = rng.below(input.len());
            match rng.below(7) {
                0 => input[at] ^= 1 << rng.below(8),
                1 => input[at] = rng.next() as u8,
                // Length-like and tag-like octets DER cares about.
                2 => input[at] = [0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0xFF][rng.below(7)],
                3 => input.insert(at, rng.next() as u8),
                4 => {
                    input.remove(at);
                }
                5 => input.truncate(at),
                _ => {
                    let end = (at + 1 + rng.below(8)).min(input.len());
                    let piece = input[at..end].to_vec();
                    let to = rng.below(input.len());
                    input.splice(to..to, piece);
                }
            }
        }
    }

    /// Random mutations of valid requests: the parser never panics, and what it
    /// accepts re-encodes to DER that decodes to the same request. The
    /// re-encoding may only be shorter (a DEFAULT critical FALSE written out is
    /// tolerated on input and omitted on output).
    #[test]
    fn mutated_requests_never_panic_and_accepted_ones_re_encode_consistently() {
        let seeds: Vec<Vec<u8>> = [
            Shape {
                ids: 1,
                ..Shape::default()
            },
            Shape {
                ids: 2,
                version: true,
                nonce_critical: Some(None),
                ..Shape::default()
            },
            Shape {
                ids: 1,
                nonce_critical: Some(Some(0xFF)),
                signature: true,
                ..Shape::default()
            },
            Shape {
                ids: MAX_CERT_IDS,
                ..Shape::default()
            },
        ]
        .iter()
        .map(request)
        .collect();
        let mut rng = Rng(0x0C5F_2026);
        let (mut accepted, mut refused) = (0, 0);
        for round in 0..30_000 {
            let mut input = seeds[round % seeds.len()].clone();
            mutate(&mut rng, &mut input);
            let Ok(decoded) = OcspRequestDer::from_der(&input) else {
                assert!(parse_request(&input).is_err());
                refused += 1;
                continue;
            };
            let parsed = request_from_der(&decoded);
            assert_eq!(parse_request(&input), parsed);
            let again = decoded.to_der().unwrap();
            let redecoded = OcspRequestDer::from_der(&again).unwrap();
            assert_eq!(redecoded.to_der().unwrap(), again);
            assert_eq!(request_from_der(&redecoded), parsed);
            assert!(again == input || again.len() < input.len(), "{input:02x?}");
            accepted += 1;
        }
        // Mutations that keep the request valid (e.g. a changed hash octet) occur.
        assert!(accepted > 100 && refused > 100, "{accepted} {refused}");
    }

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
