use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::error::{codes, FieldError};

const MIN_CHARS: usize = 2;
const MAX_CHARS: usize = 100;
const MIN_LETTERS: usize = 2;

/// A person's full name (họ và tên) as it will appear in the certificate `CN`.
///
/// Guarantees after [`PersonName::parse`]: Unicode NFC; no leading, trailing or repeated
/// whitespace (words separated by one U+0020); only Latin letters (including every Vietnamese
/// diacritic and đ/Đ) and spaces; 2 to 100 characters with at least two letters.
/// The case is kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
        let name: String = collapsed.nfc().collect();
        if name.is_empty() {
            return Err(FieldError::in_context(field, codes::TEXT_EMPTY, "name"));
        }
        if !name.chars().all(|c| c == ' ' || is_latin_letter(c)) {
            return Err(FieldError::new(field, codes::NAME_INVALID_CHARACTERS));
        }
        let chars = name.chars().count();
        let letters = name.chars().filter(|c| *c != ' ').count();
        if !(MIN_CHARS..=MAX_CHARS).contains(&chars) || letters < MIN_LETTERS {
            return Err(FieldError::new(field, codes::NAME_LENGTH)
                .arg("max_chars", MAX_CHARS)
                .arg("min_chars", MIN_CHARS)
                .arg("min_letters", MIN_LETTERS));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An alphabetic character from the Latin blocks that hold Vietnamese letters once in NFC:
/// Basic Latin, Latin-1 Supplement, Latin Extended-A/B (ơ, ư, đ) and Latin Extended Additional
/// (ạ, ầ, ễ, ỹ, ...). Other scripts, IPA, full-width forms and lone combining marks are refused.
fn is_latin_letter(c: char) -> bool {
    c.is_alphabetic()
        && matches!(c, 'A'..='Z' | 'a'..='z' | '\u{C0}'..='\u{24F}' | '\u{1E00}'..='\u{1EFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELD: &str = "identity.full_name";

    fn code(input: &str) -> &'static str {
        PersonName::parse(FIELD, input).expect_err(input).code
    }

    #[test]
    fn vietnamese_names_with_every_diacritic_are_accepted_unchanged() {
        for input in [
            "Nguyễn Thị Ánh Tuyết",
            "Đặng Văn Lâm",
            "Trương Mỹ Lan",
            "Phạm Ngọc Thạch",
            "Lê Ỷ Lan",
            "Hồ Xuân Hương",
            "Bùi Thị Xuân",
            "Đỗ Quỳnh Hoa",
            "Ông Ích Khiêm",
            "Võ Nguyên Giáp",
            "ĐINH BỘ LĨNH",
            "Lò Văn A",
            "Y Ngông Niê Kđăm",
        ] {
            let name = PersonName::parse(FIELD, input).expect(input);
            assert_eq!(name.as_str(), input);
        }
    }

    #[test]
    fn decomposed_name_is_normalised_to_nfc() {
        let name = PersonName::parse(FIELD, "Nguye\u{0302}\u{0303}n").expect("decomposed");
        assert_eq!(name.as_str(), "Nguy\u{1EC5}n");
        assert_eq!(name.as_str(), "Nguyễn");

        let decomposed: String = "Nguyễn Thị Ánh Tuyết Đặng".nfd().collect();
        assert_ne!(decomposed, "Nguyễn Thị Ánh Tuyết Đặng");
        let name = PersonName::parse(FIELD, &decomposed).expect("nfd");
        assert_eq!(name.as_str(), "Nguyễn Thị Ánh Tuyết Đặng");
    }

    #[test]
    fn name_whitespace_is_trimmed_and_collapsed() {
        let cases = [
            ("  Trương Mỹ Lan  ", "Trương Mỹ Lan"),
            ("Trương   Mỹ\tLan", "Trương Mỹ Lan"),
            ("Trương\u{a0}Mỹ\u{3000}Lan\n", "Trương Mỹ Lan"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                PersonName::parse(FIELD, input).expect(input).as_str(),
                expected
            );
        }
    }

    #[test]
    fn names_with_digits_punctuation_symbols_or_other_scripts_are_refused() {
        for input in [
            "Nguyen2",
            "Nguyễn Văn 😀",
            "<script>alert(1)</script>",
            "Nguyễn-Văn",
            "O'Brien",
            "Nguyễn.Văn",
            "Иван Петров",
            "阮文",
            "Nguyễn\u{200B}Văn",
            "Ｎｇｕｙｅｎ",
            "Nguyen\u{0338}",
        ] {
            assert_eq!(code(input), codes::NAME_INVALID_CHARACTERS, "{input:?}");
        }
    }

    #[test]
    fn names_shorter_than_two_letters_or_longer_than_100_characters_are_refused() {
        assert_eq!(code("A"), codes::NAME_LENGTH);
        assert_eq!(code(" Đ "), codes::NAME_LENGTH);
        assert_eq!(code(&"a".repeat(101)), codes::NAME_LENGTH);
        assert!(PersonName::parse(FIELD, &"ễ".repeat(100)).is_ok());
        assert!(PersonName::parse(FIELD, "Lê").is_ok());
        assert!(PersonName::parse(FIELD, "A B").is_ok());
        // 100 precomposed characters stay within the limit even when sent decomposed.
        let decomposed: String = "ễ".repeat(100).nfd().collect();
        assert!(PersonName::parse(FIELD, &decomposed).is_ok());
    }

    #[test]
    fn empty_name_is_refused_as_empty() {
        assert_eq!(code(""), codes::TEXT_EMPTY);
        assert_eq!(code(" \t "), codes::TEXT_EMPTY);
    }

    #[test]
    fn name_refusals_name_the_field_and_speak_vietnamese() {
        let error = PersonName::parse(FIELD, "Nguyen2").expect_err("digit");
        assert_eq!(error.field, FIELD);
        assert!(error.text.vi.contains("chữ cái tiếng Việt"));
    }
}
