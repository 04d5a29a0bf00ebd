use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::error::{codes, FieldError};

/// Sex as recorded on the ID card (giới tính). The personal ID number encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// Accepts `male`/`female` and the Vietnamese `Nam`/`Nữ` (VNeID), any case.
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let folded: String = s.trim().nfc().collect::<String>().to_lowercase();
        match folded.as_str() {
            "male" | "nam" => Ok(Sex::Male),
            "female" | "nữ" => Ok(Sex::Female),
            _ => Err(FieldError::new(field, codes::SEX_INVALID)),
        }
    }

    /// Stable storage form: `"male"` or `"female"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sex_is_parsed_from_english_and_vietnamese_words() {
        let cases = [
            ("male", Sex::Male),
            ("Nam", Sex::Male),
            (" NAM ", Sex::Male),
            ("female", Sex::Female),
            ("Nữ", Sex::Female),
            ("NỮ", Sex::Female),
            ("Nu\u{031B}\u{0303}", Sex::Female), // decomposed "Nữ"
        ];
        for (input, expected) in cases {
            assert_eq!(Sex::parse("identity.sex", input), Ok(expected), "{input:?}");
        }
    }

    #[test]
    fn unknown_sex_words_are_refused() {
        for input in ["", "x", "nu", "m"] {
            let error = Sex::parse("identity.sex", input).expect_err(input);
            assert_eq!(error.code, codes::SEX_INVALID);
            assert_eq!(error.field, "identity.sex");
        }
    }
}
