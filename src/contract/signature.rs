//! The signature drawn under a contract: the checks of [`crate::drawn_signature`], refused
//! as contract errors.

use crate::drawn_signature as drawn;
pub use crate::drawn_signature::{SignatureImage, SignatureLimits};

use super::ContractError;

/// [`drawn::from_base64`].
pub fn from_base64(text: &str, max_bytes: usize) -> Result<Vec<u8>, ContractError> {
    Ok(drawn::from_base64(text, max_bytes)?)
}

/// [`drawn::check`].
pub fn check(png: &[u8], limits: &SignatureLimits) -> Result<SignatureImage, ContractError> {
    Ok(drawn::check(png, limits)?)
}
