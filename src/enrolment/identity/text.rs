use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::error::{codes, FieldError};

/// Free text with a length bound: address lines, ward/commune, province, ID issue place.
///
/// Guarantees after [`BoundedText::parse`]: trimmed, Unicode NFC, not empty, at most
/// `max_chars` characters (Unicode scalar values, counted after NFC), and free of control
/// characters and invisible formatting characters (zero-width, bidirectional overrides,
/// line/paragraph separators). Inner spacing and case are kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoundedText(String);

impl BoundedText {
    pub fn parse(field: &str, s: &str, max_chars: usize) -> Result<Self, FieldError> {
        let text: String = s.trim().nfc().collect();
        if text.is_empty() {
            return Err(FieldError::new(field, codes::TEXT_EMPTY));
        }
        if text.chars().any(is_forbidden) {
            return Err(FieldError::new(field, codes::TEXT_INVALID_CHARACTERS));
        }
        if text.chars().count() > max_chars {
            return Err(FieldError::new(field, codes::TEXT_TOO_LONG).arg("max_chars", max_chars));
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BoundedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Control characters (Cc) plus the invisible format characters that could disguise a value
/// in a certificate, a PDF contract or an operator's screen.
fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'                    // Arabic letter mark
            | '\u{200B}'..='\u{200F}'     // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}'     // line/paragraph separators, bidi embeddings/overrides
            | '\u{2060}'..='\u{206F}'     // word joiner, invisible operators, bidi isolates
            | '\u{FEFF}'                  // zero-width no-break space / BOM
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
        )
}

/// 64 hexadecimal characters, returned in lower case.
pub fn parse_sha256(field: &str, s: &str) -> Result<String, FieldError> {
    let s = s.trim();
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(FieldError::new(field, codes::SHA256_FORMAT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELD: &str = "identity.permanent_address.line";

    #[test]
    fn bounded_text_is_trimmed_and_normalised_to_nfc() {
        let cases = [
            (
                "  phường Cửa Nam, Thành phố Hà Nội ",
                "phường Cửa Nam, Thành phố Hà Nội",
            ),
            ("Số 1  ngõ 2/3, đường Lê Lợi", "Số 1  ngõ 2/3, đường Lê Lợi"),
            ("phu\u{031B}o\u{031B}\u{0300}ng", "phường"),
            ("Cục Cảnh sát QLHC về TTXH", "Cục Cảnh sát QLHC về TTXH"),
        ];
        for (input, expected) in cases {
            let text = BoundedText::parse(FIELD, input, 200).expect(input);
            assert_eq!(text.as_str(), expected);
        }
    }

    #[test]
    fn empty_bounded_text_is_refused() {
        for input in ["", "   ", "\t\n"] {
            let error = BoundedText::parse(FIELD, input, 200).expect_err(input);
            assert_eq!(error.code, codes::TEXT_EMPTY);
            assert_eq!(error.field, FIELD);
        }
    }

    #[test]
    fn bounded_text_over_its_limit_is_refused_counting_characters_after_nfc() {
        assert!(BoundedText::parse(FIELD, &"ễ".repeat(10), 10).is_ok());
        let decomposed = "e\u{0302}\u{0303}".repeat(10);
        assert!(BoundedText::parse(FIELD, &decomposed, 10).is_ok());
        let error = BoundedText::parse(FIELD, &"ễ".repeat(11), 10).expect_err("11 > 10");
        assert_eq!(error.code, codes::TEXT_TOO_LONG);
        assert!(error.text.vi.contains("10 ký tự"));
    }

    #[test]
    fn bounded_text_with_control_or_invisible_characters_is_refused() {
        for input in [
            "Hà\nNội",
            "Hà\tNội",
            "Hà\u{0}Nội",
            "Hà\u{7F}Nội",
            "Hà\u{85}Nội",
            "Hà\u{200B}Nội",
            "Hà\u{202E}iộN",
            "Hà\u{2028}Nội",
            "Hà\u{2066}Nội",
            "Hà\u{FEFF}Nội",
        ] {
            let error = BoundedText::parse(FIELD, input, 200).expect_err(input);
            assert_eq!(error.code, codes::TEXT_INVALID_CHARACTERS, "{input:?}");
        }
    }
}
