//! Certificate revocation lists (RFC 5280 §5): a CRL v2 per issuing CA, or per
//! shard of it, signed through the issuing CA's [`super::Signer`].
//!
//! The DER is written front to back into one pre-sized buffer: every entry's
//! length is known in advance (serial, time, a fixed 14-octet reasonCode), so
//! a 1,000,000-entry CRL is a single pass, one hash and one signature.
//!
//! Every CRL carries a critical issuingDistributionPoint naming the URL it is
//! published at, sharded or not. Relying parties then only take it as the
//! CRL of the certificates whose CRL distribution point names that URL
//! (RFC 5280 §6.3.3 b.2): a shard's CRL can never be mistaken for a complete
//! CRL of the CA (which would make every certificate of the other shards look
//! unrevoked), and going from 1 shard to more changes no CRL semantics.

use chrono::{DateTime, SubsecRound, Utc};
use const_oid::db::rfc5280;

use super::asn1;
use super::{CaError, IssuingCa, Serial};

/// CRLReason values (RFC 5280 §5.3.1) a subscriber certificate can have.
/// `caCompromise`, `aACompromise` and `removeFromCRL` (delta CRLs only) are not
/// used by this CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    /// Suspension, reversible; also used for issued but not yet accepted certificates.
    CertificateHold,
    PrivilegeWithdrawn,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 7] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
    ];

    /// The RFC 5280 camelCase name, e.g. `keyCompromise`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// Parses the exact camelCase name produced by [`RevocationReason::as_str`].
    pub fn parse(s: &str) -> Option<RevocationReason> {
        RevocationReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The CRLReason ENUMERATED value.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::PrivilegeWithdrawn => 9,
        }
    }

    /// The inverse of [`RevocationReason::code`].
    pub fn from_code(code: u8) -> Option<RevocationReason> {
        RevocationReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// One revoked (or suspended) certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: Serial,
    /// Encoded to the second (sub-seconds dropped).
    pub revoked_at: DateTime<Utc>,
    /// `Unspecified` is encoded without a reasonCode entry extension (RFC 5280 §5.3.1).
    pub reason: RevocationReason,
}

/// What one CRL covers and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlRequest {
    /// cRLNumber: strictly increasing per CRL scope; the caller keeps the sequence.
    pub number: u64,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    /// `Some((index, count))` for shard `index` of `count`, partitioned like
    /// [`super::PersonalProfile::crl_shard`]; `None` for an unsharded CRL.
    pub shard: Option<(u32, u32)>,
    /// The URL this CRL is published at, exactly as the certificates it covers
    /// carry it in their CRL distribution point:
    /// [`super::PersonalProfile::crl_url`]`(ca.name(), shard)`.
    pub distribution_point_url: String,
}

/// reasonCode entry extension without the ENUMERATED value octet:
/// `Extensions SEQUENCE { Extension { 2.5.29.21, OCTET STRING { ENUMERATED x } } }`.
const REASON_EXTENSIONS_PREFIX: [u8; 13] = [
    0x30, 0x0C, 0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01,
];
const REASON_EXTENSIONS_LEN: usize = REASON_EXTENSIONS_PREFIX.len() + 1;
/// Room kept in front of the TBS for the outer CertificateList header.
const OUTER_HEADER_ROOM: usize = 6;

/// The shard a serial belongs to; the same partition as
/// [`super::PersonalProfile::crl_shard`] (checked by a test).
fn shard_of(serial: &Serial, count: u32) -> u32 {
    let b = serial.as_bytes();
    let tail = b[b.len().saturating_sub(4)..]
        .iter()
        .fold(0u32, |acc, x| (acc << 8) | u32::from(*x));
    tail % count.max(1)
}

/// Serials are minimal positive INTEGER contents, so a longer one is larger.
fn serial_order(a: &Serial, b: &Serial) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn entry_content_len(e: &RevokedEntry) -> usize {
    let reason = if e.reason == RevocationReason::Unspecified {
        0
    } else {
        REASON_EXTENSIONS_LEN
    };
    asn1::element_len(e.serial.as_bytes().len()) + asn1::time_len(&e.revoked_at) + reason
}

fn check_request(req: &CrlRequest) -> Result<(), CaError> {
    if req.next_update.trunc_subsecs(0) <= req.this_update.trunc_subsecs(0) {
        return Err(CaError::ValidityInvalid(
            "CRL nextUpdate must be after thisUpdate".into(),
        ));
    }
    let url = &req.distribution_point_url;
    // GeneralName uniformResourceIdentifier is an IA5String.
    if !(url.starts_with("http://") && url.len() > 7 && url.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(CaError::ConfigInvalid(format!(
            "CRL distribution point {url:?} must be an http:// URL of printable ASCII"
        )));
    }
    if let Some((index, count)) = req.shard {
        if count == 0 || index >= count {
            return Err(CaError::ConfigInvalid(format!(
                "CRL shard {index} of {count} does not exist"
            )));
        }
    }
    Ok(())
}

/// Builds and signs a CRL v2 (DER) over `entries`, which it sorts by serial in
/// place. The CRL carries authorityKeyIdentifier (the issuer's SKI),
/// cRLNumber, and a critical issuingDistributionPoint whose fullName is
/// `req.distribution_point_url`; each entry carries a reasonCode unless the
/// reason is `unspecified`. An empty `entries` gives a CRL without
/// revokedCertificates, as RFC 5280 §5.1.2.6 requires.
///
/// Refused: nextUpdate not after thisUpdate, a bad URL or shard, a serial
/// listed twice, or (when sharded) a serial of another shard.
pub fn build_crl(
    ca: &IssuingCa,
    req: &CrlRequest,
    entries: &mut [RevokedEntry],
) -> Result<Vec<u8>, CaError> {
    check_request(req)?;
    if let Some((index, count)) = req.shard {
        if let Some(e) = entries.iter().find(|e| shard_of(&e.serial, count) != index) {
            return Err(CaError::Unexpected(format!(
                "serial {} belongs to CRL shard {} of {count}, not {index}",
                e.serial,
                shard_of(&e.serial, count)
            )));
        }
    }
    entries.sort_unstable_by(|a, b| serial_order(&a.serial, &b.serial));
    if let Some(w) = entries.windows(2).find(|w| w[0].serial == w[1].serial) {
        return Err(CaError::Unexpected(format!(
            "serial {} is listed twice in the CRL",
            w[0].serial
        )));
    }

    let algorithm = ca.signer().algorithm().algorithm_identifier_der();
    let head = tbs_head(ca, req, algorithm);
    let tail = crl_extensions(ca, req);
    let list_content: usize = entries
        .iter()
        .map(|e| asn1::element_len(entry_content_len(e)))
        .sum();
    let list_len = if entries.is_empty() {
        0
    } else {
        asn1::element_len(list_content)
    };
    let tbs_content = head.len() + list_len + tail.len();
    let tbs_len = asn1::element_len(tbs_content);

    // [room for the outer header][TBS][algorithm][BIT STRING signature]
    let capacity = OUTER_HEADER_ROOM + tbs_len + algorithm.len() + 1024;
    let mut buf = Vec::with_capacity(capacity);
    buf.resize(OUTER_HEADER_ROOM, 0);
    asn1::push_header(&mut buf, asn1::TAG_SEQUENCE, tbs_content);
    buf.extend_from_slice(&head);
    if !entries.is_empty() {
        asn1::push_header(&mut buf, asn1::TAG_SEQUENCE, list_content);
        for e in entries.iter() {
            write_entry(&mut buf, e);
        }
    }
    buf.extend_from_slice(&tail);
    if buf.len() != OUTER_HEADER_ROOM + tbs_len {
        return Err(CaError::Unexpected(
            "CRL length computation does not match the bytes written".into(),
        ));
    }

    let signature = ca.signer().sign(&buf[OUTER_HEADER_ROOM..])?;
    buf.extend_from_slice(algorithm);
    asn1::bit_string(&mut buf, &signature);
    let mut header = Vec::with_capacity(OUTER_HEADER_ROOM);
    asn1::push_header(
        &mut header,
        asn1::TAG_SEQUENCE,
        buf.len() - OUTER_HEADER_ROOM,
    );
    let start = OUTER_HEADER_ROOM
        .checked_sub(header.len())
        .ok_or_else(|| CaError::Unexpected("CRL larger than 1 TB".into()))?;
    buf[start..OUTER_HEADER_ROOM].copy_from_slice(&header);
    buf.drain(..start);

    let parts = asn1::split_signed(&buf).ok_or(CaError::TbsMismatch)?;
    if parts.tbs.len() != tbs_len || parts.algorithm != algorithm {
        return Err(CaError::TbsMismatch);
    }
    Ok(buf)
}

/// TBSCertList from version to nextUpdate.
fn tbs_head(ca: &IssuingCa, req: &CrlRequest, algorithm: &[u8]) -> Vec<u8> {
    let mut o = Vec::with_capacity(64 + algorithm.len() + ca.subject_der().len());
    // version v2 (INTEGER 1): required because the CRL has extensions.
    asn1::bytes(&mut o, asn1::TAG_INTEGER, &[1]);
    o.extend_from_slice(algorithm);
    o.extend_from_slice(ca.subject_der());
    asn1::write_time(&mut o, &req.this_update);
    asn1::write_time(&mut o, &req.next_update);
    o
}

/// `crlExtensions [0] EXPLICIT Extensions`.
fn crl_extensions(ca: &IssuingCa, req: &CrlRequest) -> Vec<u8> {
    use asn1::{bytes, extension, sequence, tlv};
    let mut o = Vec::with_capacity(128 + req.distribution_point_url.len());
    tlv(&mut o, 0xA0, |o| {
        sequence(o, |o| {
            // keyIdentifier [0] IMPLICIT OCTET STRING
            extension(o, &rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER, false, |o| {
                sequence(o, |o| bytes(o, 0x80, ca.ski()))
            });
            extension(o, &rfc5280::ID_CE_CRL_NUMBER, false, |o| {
                asn1::unsigned_integer(o, &req.number.to_be_bytes())
            });
            // IssuingDistributionPoint { distributionPoint [0] { fullName [0] { URI [6] } } },
            // critical (RFC 5280 §5.2.5); every boolean left at its DEFAULT FALSE.
            extension(o, &rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT, true, |o| {
                sequence(o, |o| {
                    tlv(o, 0xA0, |o| {
                        tlv(o, 0xA0, |o| {
                            bytes(o, 0x86, req.distribution_point_url.as_bytes())
                        })
                    })
                })
            });
        })
    });
    o
}

fn write_entry(out: &mut Vec<u8>, e: &RevokedEntry) {
    asn1::push_header(out, asn1::TAG_SEQUENCE, entry_content_len(e));
    // The serial's content octets are already a minimal positive INTEGER.
    asn1::bytes(out, asn1::TAG_INTEGER, e.serial.as_bytes());
    asn1::write_time(out, &e.revoked_at);
    if e.reason != RevocationReason::Unspecified {
        out.extend_from_slice(&REASON_EXTENSIONS_PREFIX);
        out.push(e.reason.code());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_code_prefix_names_the_crl_reasons_extension() {
        assert_eq!(
            &REASON_EXTENSIONS_PREFIX[6..9],
            rfc5280::ID_CE_CRL_REASONS.as_bytes()
        );
    }

    #[test]
    fn reason_names_round_trip_in_rfc_5280_camel_case() {
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::parse(r.as_str()), Some(r));
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
        }
        assert_eq!(
            RevocationReason::parse("keyCompromise"),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(RevocationReason::parse("KeyCompromise"), None);
        assert_eq!(RevocationReason::parse("removeFromCRL"), None);
        assert_eq!(RevocationReason::from_code(2), None);
    }

    #[test]
    fn crl_shards_partition_serials_like_the_profile() {
        let profile = super::super::PersonalProfile::from_toml(
            &include_str!("../../ca-root/profiles/personal.toml")
                .replace("crl_shards = 1", "crl_shards = 7"),
            "http://ca.example.vn",
        )
        .unwrap();
        for _ in 0..1000 {
            let s = Serial::generate().unwrap();
            assert_eq!(shard_of(&s, 7), profile.crl_shard(&s));
        }
        let short = Serial::from_hex("05").unwrap();
        assert_eq!(shard_of(&short, 7), profile.crl_shard(&short));
    }

    #[test]
    fn serials_sort_by_numeric_value() {
        let s = |h: &str| Serial::from_hex(h).unwrap();
        let mut v = [s("0100"), s("7f"), s("0080"), s("01")];
        v.sort_by(serial_order);
        assert_eq!(v, [s("01"), s("7f"), s("0080"), s("0100")]);
    }
}
