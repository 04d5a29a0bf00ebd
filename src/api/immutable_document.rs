//! A document that never changes once made (a contract, an acceptance record), served byte
//! for byte with its SHA-256 as `ETag` and `Repr-Digest`: HTML, or PDF for `Accept:
//! application/pdf` (with a `Content-Disposition` file name).

use base64::Engine;
use poem_openapi::payload::Binary;
use poem_openapi::ApiResponse;

use super::problem::ApiError;

/// The document, byte for byte as rendered when it was made.
#[derive(ApiResponse)]
pub(super) enum ImmutableDocument {
    #[oai(status = 200, content_type = "text/html; charset=utf-8")]
    Html(
        Binary<Vec<u8>>,
        /// `"<SHA-256 hex>"`: the document never changes, so neither does its tag.
        #[oai(header = "ETag")]
        String,
        /// RFC 9530 digest of the bytes: `sha-256=:<base64>:`.
        #[oai(header = "Repr-Digest")]
        String,
        /// `no-store`: the document holds personal data.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// `Accept: application/pdf`: the PDF/A-2b version, byte for byte as made.
    #[oai(status = 200, content_type = "application/pdf")]
    Pdf(
        Binary<Vec<u8>>,
        /// `"<SHA-256 hex>"` of the PDF.
        #[oai(header = "ETag")]
        String,
        /// RFC 9530 digest of the PDF: `sha-256=:<base64>:`.
        #[oai(header = "Repr-Digest")]
        String,
        /// `no-store`: the document holds personal data.
        #[oai(header = "Cache-Control")]
        String,
        /// `attachment; filename="HD-2026-000123.pdf"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// A document that exists only as PDF (the signed contract, the accepted record).
#[derive(ApiResponse)]
pub(super) enum PdfDocument {
    /// The PDF/A-2b document, byte for byte as made.
    #[oai(status = 200, content_type = "application/pdf")]
    Pdf(
        Binary<Vec<u8>>,
        /// `"<SHA-256 hex>"` of the PDF.
        #[oai(header = "ETag")]
        String,
        /// RFC 9530 digest of the PDF: `sha-256=:<base64>:`.
        #[oai(header = "Repr-Digest")]
        String,
        /// `no-store`: the document holds personal data.
        #[oai(header = "Cache-Control")]
        String,
        /// `attachment; filename="HD-2026-000123.pdf"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// Whether the caller asked for PDF (`Accept: application/pdf`).
pub(super) fn wants_pdf(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/pdf"))
}

fn repr_digest(sha256_hex: &str) -> Result<String, ApiError> {
    let raw = hex::decode(sha256_hex).map_err(ApiError::unexpected)?;
    Ok(format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}

/// `attachment; filename="<stem>.pdf"`; the stems are ours (contract numbers, hex serials).
fn attachment(stem: &str) -> String {
    let safe: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("attachment; filename=\"{safe}.pdf\"")
}

impl PdfDocument {
    pub(super) fn new(bytes: Vec<u8>, sha256_hex: &str, stem: &str) -> Result<Self, ApiError> {
        Ok(Self::Pdf(
            Binary(bytes),
            format!("\"{sha256_hex}\""),
            repr_digest(sha256_hex)?,
            "no-store".into(),
            attachment(stem),
        ))
    }
}

impl ImmutableDocument {
    /// `sha256_hex` is the digest stored when the document was made.
    pub(super) fn html(bytes: Vec<u8>, sha256_hex: &str) -> Result<Self, ApiError> {
        Ok(Self::Html(
            Binary(bytes),
            format!("\"{sha256_hex}\""),
            repr_digest(sha256_hex)?,
            "no-store".into(),
        ))
    }

    pub(super) fn pdf(bytes: Vec<u8>, sha256_hex: &str, stem: &str) -> Result<Self, ApiError> {
        Ok(Self::Pdf(
            Binary(bytes),
            format!("\"{sha256_hex}\""),
            repr_digest(sha256_hex)?,
            "no-store".into(),
            attachment(stem),
        ))
    }
}
