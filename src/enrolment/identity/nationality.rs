//! Nationality. Decision: only Vietnamese nationality is accepted, since the identity the
//! certificate names is the 12-digit personal ID number of a citizen identity card (CCCD),
//! which only Vietnamese citizens hold (the subject's `UID=CCCD:…`). The list of accepted
//! spellings is the ISO 3166-1 codes (`VN`, `VNM`) and the Vietnamese and English names, in
//! any case and with or without diacritics; the value kept is always `Việt Nam`.

use unicode_normalization::UnicodeNormalization;

use super::error::{codes, FieldError};
use super::BoundedText;

/// The one value kept and shown (contract, pages).
pub const VIETNAMESE: &str = "Việt Nam";

/// Accepted spellings, compared after trimming, NFC, lower-casing and single spacing.
const SPELLINGS: [&str; 5] = ["vn", "vnm", "việt nam", "viet nam", "vietnam"];

pub fn parse_nationality(field: &str, s: &str) -> Result<BoundedText, FieldError> {
    let folded = s
        .nfc()
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if SPELLINGS.contains(&folded.as_str()) {
        BoundedText::parse(field, VIETNAMESE, VIETNAMESE.chars().count())
    } else {
        Err(FieldError::new(field, codes::NATIONALITY_UNSUPPORTED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_nationality_in_any_listed_spelling_is_kept_as_viet_nam() {
        for s in [
            "Việt Nam",
            " VIỆT  NAM ",
            "Viet Nam",
            "vietnam",
            "VN",
            "vnm",
        ] {
            assert_eq!(
                parse_nationality("n", s).unwrap().as_str(),
                VIETNAMESE,
                "{s}"
            );
        }
    }

    #[test]
    fn any_other_nationality_or_free_text_is_refused() {
        for s in ["", "Lào", "FR", "Việt Nam\u{202E}", "Việt Nam Dân Chủ", "x"] {
            let e = parse_nationality("identity.nationality", s).unwrap_err();
            assert_eq!(e.code, codes::NATIONALITY_UNSUPPORTED, "{s}");
        }
    }
}
