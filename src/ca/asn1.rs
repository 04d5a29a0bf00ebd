//! A minimal DER writer and the few OIDs of the profile that `const_oid::db` lacks.
//!
//! The TBS is written by hand rather than through a general ASN.1 model: the
//! profile is fixed, so a direct writer is both short and fast (a few
//! microseconds per certificate). Every TBS is decoded again by `x509-cert`
//! in [`super::lint_tbs`], so an encoding slip here is caught before signing.

use chrono::{DateTime, Datelike, Timelike, Utc};
use const_oid::ObjectIdentifier;

pub(super) const TAG_BOOLEAN: u8 = 0x01;
pub(super) const TAG_INTEGER: u8 = 0x02;
pub(super) const TAG_BIT_STRING: u8 = 0x03;
pub(super) const TAG_OCTET_STRING: u8 = 0x04;
pub(super) const TAG_NULL: u8 = 0x05;
pub(super) const TAG_OID: u8 = 0x06;
pub(super) const TAG_UTF8_STRING: u8 = 0x0C;
pub(super) const TAG_PRINTABLE_STRING: u8 = 0x13;
pub(super) const TAG_UTC_TIME: u8 = 0x17;
pub(super) const TAG_GENERALIZED_TIME: u8 = 0x18;
pub(super) const TAG_SEQUENCE: u8 = 0x30;
pub(super) const TAG_SET: u8 = 0x31;
pub(super) const TAG_ENUMERATED: u8 = 0x0A;

/// The OIDs the profile needs that `const_oid::db` does not name; every other
/// OID in `ca/` is a `const_oid::db` constant (rfc4519, rfc5280, rfc5912, rfc6960).
pub(super) mod oid {
    use const_oid::ObjectIdentifier as O;

    /// id-kp-documentSigning (RFC 9336).
    pub const KP_DOCUMENT_SIGNING: O = O::new_unwrap("1.3.6.1.5.5.7.3.36");
    /// Microsoft "Document Signing", seen on Vietnamese personal certificates.
    pub const MS_DOCUMENT_SIGNING: O = O::new_unwrap("1.3.6.1.4.1.311.10.3.12");
    /// ecdsa-with-SHA1 (RFC 3279 §2.2.3), named only to refuse it clearly.
    pub const ECDSA_WITH_SHA1: O = O::new_unwrap("1.2.840.10045.4.1");
}

/// Appends the DER header for `tag` and a content of `len` bytes.
pub(super) fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Writes a constructed or primitive element whose content `f` appends to `out`.
/// The header is inserted in front afterwards, so no length is computed twice.
pub(super) fn tlv(out: &mut Vec<u8>, tag: u8, f: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    f(out);
    let len = out.len() - start;
    let mut header = Vec::with_capacity(6);
    push_header(&mut header, tag, len);
    out.splice(start..start, header);
}

/// Writes an element with the given content bytes.
pub(super) fn bytes(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    push_header(out, tag, content.len());
    out.extend_from_slice(content);
}

pub(super) fn oid(out: &mut Vec<u8>, o: &ObjectIdentifier) {
    bytes(out, TAG_OID, o.as_bytes());
}

/// Writes a non-negative INTEGER from big-endian magnitude bytes, minimally.
pub(super) fn unsigned_integer(out: &mut Vec<u8>, magnitude: &[u8]) {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let m = &magnitude[skip..];
    if m.is_empty() {
        bytes(out, TAG_INTEGER, &[0]);
    } else if m[0] & 0x80 != 0 {
        push_header(out, TAG_INTEGER, m.len() + 1);
        out.push(0);
        out.extend_from_slice(m);
    } else {
        bytes(out, TAG_INTEGER, m);
    }
}

/// BIT STRING with no unused bits.
pub(super) fn bit_string(out: &mut Vec<u8>, content: &[u8]) {
    push_header(out, TAG_BIT_STRING, content.len() + 1);
    out.push(0);
    out.extend_from_slice(content);
}

pub(super) fn sequence(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    tlv(out, TAG_SEQUENCE, f);
}

/// Writes `Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }`;
/// `f` writes the DER value that goes inside the OCTET STRING.
pub(super) fn extension(
    out: &mut Vec<u8>,
    id: &ObjectIdentifier,
    critical: bool,
    f: impl FnOnce(&mut Vec<u8>),
) {
    sequence(out, |out| {
        oid(out, id);
        // DER forbids encoding a DEFAULT value, so FALSE is omitted.
        if critical {
            bytes(out, TAG_BOOLEAN, &[0xFF]);
        }
        tlv(out, TAG_OCTET_STRING, f);
    });
}

/// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
/// Sub-second precision is dropped (DER times carry none here).
pub(super) fn time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    let year = t.year();
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if (1950..2050).contains(&year) {
        let s = format!("{:02}{rest}", year % 100);
        bytes(out, TAG_UTC_TIME, s.as_bytes());
    } else {
        let s = format!("{year:04}{rest}");
        bytes(out, TAG_GENERALIZED_TIME, s.as_bytes());
    }
}

/// Length of the DER header (tag and length octets) for a content of `len` bytes,
/// so large elements can be written front to back with their lengths known.
pub(super) fn header_len(len: usize) -> usize {
    if len < 0x80 {
        2
    } else {
        2 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

/// Full DER length of an element with a content of `len` bytes.
pub(super) fn element_len(len: usize) -> usize {
    header_len(len) + len
}

/// Encoded length of [`write_time`]'s output for `t`: UTCTime 15, GeneralizedTime 17.
pub(super) fn time_len(t: &DateTime<Utc>) -> usize {
    if (1950..2050).contains(&t.year()) {
        15
    } else {
        17
    }
}

/// Same encoding as [`time`] without allocating, for CRLs with a million entries.
pub(super) fn write_time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    let year = t.year();
    if (1950..2050).contains(&year) {
        out.extend_from_slice(&[TAG_UTC_TIME, 13]);
        push_2digits(out, year.rem_euclid(100) as u32);
    } else {
        out.extend_from_slice(&[TAG_GENERALIZED_TIME, 15]);
        let y = year.clamp(0, 9999) as u32;
        push_2digits(out, y / 100);
        push_2digits(out, y % 100);
    }
    push_clock(out, t);
}

/// GeneralizedTime `YYYYMMDDHHMMSSZ`, as OCSP (RFC 6960) uses for every time.
pub(super) fn generalized_time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    out.extend_from_slice(&[TAG_GENERALIZED_TIME, 15]);
    let y = t.year().clamp(0, 9999) as u32;
    push_2digits(out, y / 100);
    push_2digits(out, y % 100);
    push_clock(out, t);
}

fn push_clock(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    for v in [t.month(), t.day(), t.hour(), t.minute(), t.second()] {
        push_2digits(out, v);
    }
    out.push(b'Z');
}

fn push_2digits(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&[b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8]);
}

/// Splits the DER element at the start of `input` into (tag, content, rest).
/// Only definite, minimally encoded lengths are accepted, which is all DER allows.
pub(super) fn split_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7F) as usize;
        // X.690 10.1: the long form only for 128 and more, with no leading zero octet.
        if n == 0 || n > 4 || rest.len() < n || rest.first() == Some(&0) {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        if len < 0x80 {
            return None;
        }
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Splits a `SEQUENCE { tbs, algorithm, signature }` (a certificate or CSR)
/// into its raw element bytes, so the signed bytes are exactly those received.
pub(super) struct SignedParts<'a> {
    pub tbs: &'a [u8],
    pub algorithm: &'a [u8],
    /// BIT STRING content, including the unused-bits octet.
    pub signature: &'a [u8],
}

pub(super) fn split_signed(input: &[u8]) -> Option<SignedParts<'_>> {
    let (tag, content, rest) = split_tlv(input)?;
    if tag != TAG_SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (t1, _, after_tbs) = split_tlv(content)?;
    let tbs = &content[..content.len() - after_tbs.len()];
    let (t2, _, after_alg) = split_tlv(after_tbs)?;
    let algorithm = &after_tbs[..after_tbs.len() - after_alg.len()];
    let (t3, signature, end) = split_tlv(after_alg)?;
    if t1 != TAG_SEQUENCE || t2 != TAG_SEQUENCE || t3 != TAG_BIT_STRING || !end.is_empty() {
        return None;
    }
    Some(SignedParts {
        tbs,
        algorithm,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn long_lengths_use_the_minimal_long_form() {
        let mut out = Vec::new();
        bytes(&mut out, TAG_OCTET_STRING, &[0u8; 300]);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2C]);
        let mut out = Vec::new();
        bytes(&mut out, TAG_OCTET_STRING, &[0u8; 128]);
        assert_eq!(&out[..3], &[0x04, 0x81, 0x80]);
    }

    #[test]
    fn nested_elements_get_their_headers_in_front() {
        let mut out = Vec::new();
        sequence(&mut out, |o| {
            bytes(o, TAG_NULL, &[]);
            sequence(o, |o| bytes(o, TAG_OCTET_STRING, &[0u8; 200]));
        });
        let (tag, content, rest) = split_tlv(&out).unwrap();
        assert_eq!((tag, rest.len()), (TAG_SEQUENCE, 0));
        assert_eq!(content.len(), 2 + 3 + 3 + 200);
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        let mut out = Vec::new();
        unsigned_integer(&mut out, &[0, 0, 0x80, 1]);
        assert_eq!(out, [0x02, 0x03, 0x00, 0x80, 0x01]);
        let mut out = Vec::new();
        unsigned_integer(&mut out, &[0, 0x7F]);
        assert_eq!(out, [0x02, 0x01, 0x7F]);
    }

    #[test]
    fn times_switch_to_generalized_time_in_2050() {
        let mut out = Vec::new();
        time(
            &mut out,
            &Utc.with_ymd_and_hms(2049, 12, 31, 23, 59, 59).unwrap(),
        );
        assert_eq!(&out[2..], b"491231235959Z");
        let mut out = Vec::new();
        time(
            &mut out,
            &Utc.with_ymd_and_hms(2050, 1, 1, 0, 0, 0).unwrap(),
        );
        assert_eq!(out[0], TAG_GENERALIZED_TIME);
        assert_eq!(&out[2..], b"20500101000000Z");
    }

    #[test]
    fn header_lengths_match_what_push_header_writes() {
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536, 50_000_000] {
            let mut out = Vec::new();
            push_header(&mut out, TAG_SEQUENCE, len);
            assert_eq!(out.len(), header_len(len), "{len}");
        }
    }

    #[test]
    fn allocation_free_times_encode_like_time() {
        for (y, mo, d, h, mi, s) in [
            (1950, 1, 1, 0, 0, 0),
            (2025, 4, 10, 9, 5, 7),
            (2049, 12, 31, 23, 59, 59),
            (2050, 1, 1, 0, 0, 0),
            (2100, 6, 30, 12, 30, 30),
        ] {
            let t = Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            time(&mut a, &t);
            write_time(&mut b, &t);
            assert_eq!(a, b);
            assert_eq!(b.len(), time_len(&t));
            let mut g = Vec::new();
            generalized_time(&mut g, &t);
            assert_eq!(g[0], TAG_GENERALIZED_TIME);
            assert_eq!(&g[2..], format!("{}Z", t.format("%Y%m%d%H%M%S")).as_bytes());
        }
    }

    #[test]
    fn non_minimal_lengths_do_not_split() {
        assert!(split_tlv(&[0x04, 0x81, 0x01, 0x00]).is_none());
        assert!(split_tlv(&[0x04, 0x82, 0x00, 0x80]).is_none());
        let mut ok = vec![0x04, 0x81, 0x80];
        ok.extend([0u8; 128]);
        assert_eq!(
            split_tlv(&ok).map(|(t, c, r)| (t, c.len(), r.len())),
            Some((0x04, 128, 0))
        );
    }

    #[test]
    fn truncated_input_does_not_split() {
        assert!(split_tlv(&[0x30, 0x05, 0x00]).is_none());
        assert!(split_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(split_signed(&[0x30, 0x00]).is_none());
    }
}
