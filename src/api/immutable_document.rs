//! A document that never changes once made (a contract, an acceptance record), served byte
//! for byte with its SHA-256 as `ETag` and `Repr-Digest`.

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
}

impl ImmutableDocument {
    /// `sha256_hex` is the digest stored when the document was made.
    pub(super) fn html(bytes: Vec<u8>, sha256_hex: &str) -> Result<Self, ApiError> {
        let raw = hex::decode(sha256_hex).map_err(ApiError::unexpected)?;
        let digest = base64::engine::general_purpose::STANDARD.encode(raw);
        Ok(Self::Html(
            Binary(bytes),
            format!("\"{sha256_hex}\""),
            format!("sha-256=:{digest}:"),
            "no-store".into(),
        ))
    }
}
