//! PEM (RFC 7468) helpers.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Encodes DER as PEM with the given label and 64-column lines.
pub(super) fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // base64 output is ASCII, so splitting on byte boundaries is safe.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// PEM text (`-----BEGIN CERTIFICATE-----`) of a DER certificate.
pub fn certificate_to_pem(der: &[u8]) -> String {
    to_pem("CERTIFICATE", der)
}

/// Decodes the first PEM block labelled `label`. Lenient about line lengths,
/// CRLF and surrounding text (RFC 7468 "lax" parsing), strict about base64.
/// Returns `None` when no such block exists or its body is not valid base64.
pub fn pem_to_der(input: &[u8], label: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(input).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

/// PEM of a DER PKCS#10 request.
pub fn certificate_request_pem(der: &[u8]) -> String {
    to_pem("CERTIFICATE REQUEST", der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips_and_wraps_at_64_columns() {
        let der: Vec<u8> = (0..=255u8).collect();
        let pem = certificate_to_pem(&der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(pem_to_der(pem.as_bytes(), "CERTIFICATE").unwrap(), der);
    }

    #[test]
    fn pem_with_crlf_and_other_label_is_handled() {
        let pem = to_pem("CERTIFICATE REQUEST", b"hello").replace('\n', "\r\n");
        assert_eq!(
            pem_to_der(pem.as_bytes(), "CERTIFICATE REQUEST").unwrap(),
            b"hello"
        );
        assert!(pem_to_der(pem.as_bytes(), "CERTIFICATE").is_none());
    }

    #[test]
    fn pem_with_bad_base64_is_none() {
        let pem = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(pem_to_der(pem.as_bytes(), "CERTIFICATE").is_none());
    }
}
