//! The signature drawn under a contract: the checks of [`crate::drawn_signature`], refused
//! as contract errors.

use crate::drawn_signature::{self as drawn, SignatureError};
pub use crate::drawn_signature::{SignatureImage, SignatureLimits};

use super::ContractError;

impl From<SignatureError> for ContractError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::TooLarge { max_bytes } => {
                ContractError::SignatureTooLarge { max_bytes }
            }
            SignatureError::Invalid(why) => ContractError::SignatureInvalid(why),
            SignatureError::Dimensions {
                width,
                height,
                min_width,
                min_height,
                max_width,
                max_height,
            } => ContractError::SignatureDimensions {
                width,
                height,
                min_width,
                min_height,
                max_width,
                max_height,
            },
        }
    }
}

/// [`drawn::from_base64`].
pub fn from_base64(text: &str, max_bytes: usize) -> Result<Vec<u8>, ContractError> {
    Ok(drawn::from_base64(text, max_bytes)?)
}

/// [`drawn::check`].
pub fn check(png: &[u8], limits: &SignatureLimits) -> Result<SignatureImage, ContractError> {
    Ok(drawn::check(png, limits)?)
}
