use std::fmt;
use std::hash::{Hash, Hasher};

use chrono::{Datelike, NaiveDate};

use super::error::{codes, FieldError};
use super::sex::Sex;
use super::tables;

/// A 12-digit personal ID number (số định danh cá nhân, as on the CCCD card):
/// `PPP G YY RRRRRR`.
///
/// Guarantees after [`NationalId::parse`]: exactly 12 ASCII digits and `PPP` is a known province
/// code. Consistency with the declared sex and date of birth is a separate step,
/// [`NationalId::check_against`], because those arrive as other fields.
///
/// `Debug` masks the middle digits; there is deliberately no `Display`: use
/// [`NationalId::as_str`] where the full number is meant to go (storage, `UID=CCCD:`).
#[derive(Clone)]
pub struct NationalId {
    /// Invariant: exactly 12 ASCII digits, so byte indexing and slicing cannot panic.
    number: String,
    birth_province_name: &'static str,
    /// The request field it was parsed from, so [`NationalId::check_against`] can name it.
    field: String,
}

impl NationalId {
    /// Parses a personal ID number. Surrounding whitespace is ignored; anything but 12 digits is
    /// refused, and old 9-digit CMND numbers get their own code.
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let s = s.trim();
        let all_digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if all_digits && s.len() == 9 {
            return Err(FieldError::new(field, codes::ID_NUMBER_CMND_NOT_ACCEPTED));
        }
        if !(all_digits && s.len() == 12) {
            return Err(FieldError::new(field, codes::ID_NUMBER_FORMAT));
        }
        let code = &s[..3];
        let birth_province_name = tables::province_name(code).ok_or_else(|| {
            FieldError::new(field, codes::ID_NUMBER_PROVINCE_UNKNOWN).arg("code", code)
        })?;
        Ok(Self {
            number: s.to_owned(),
            birth_province_name,
            field: field.to_owned(),
        })
    }

    /// Checks the century/sex digit `G` and the year digits `YY` against the declared sex and
    /// date of birth. `G`: 1900s male 0 / female 1, 2000s 2/3, 2100s 4/5, 2200s 6/7, 2300s 8/9.
    /// The error names the field the number was parsed from.
    pub fn check_against(&self, sex: Sex, date_of_birth: NaiveDate) -> Result<(), FieldError> {
        let g = self.digit(3);
        let yy = self.digit(4) * 10 + self.digit(5);
        let year = date_of_birth.year();

        let g_is_female = g % 2 == 1;
        if g_is_female != (sex == Sex::Female) {
            return Err(FieldError::new(&self.field, codes::ID_NUMBER_SEX_MISMATCH));
        }
        let century_of_g = 1900 + i32::from(g / 2) * 100;
        if year.div_euclid(100) * 100 != century_of_g {
            return Err(
                FieldError::new(&self.field, codes::ID_NUMBER_CENTURY_MISMATCH).arg("year", year),
            );
        }
        if i32::from(yy) != year.rem_euclid(100) {
            return Err(
                FieldError::new(&self.field, codes::ID_NUMBER_BIRTH_YEAR_MISMATCH)
                    .arg("year", year)
                    .arg("yy", format!("{yy:02}")),
            );
        }
        Ok(())
    }

    /// The 12 digits.
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// `PPP`: the code of the province where the **birth was registered**. It is never the
    /// province of residence and must not be used as one (addresses come from their own fields).
    pub fn province_code(&self) -> &str {
        &self.number[..3]
    }

    /// Name of the **birth-registration** province (pre-2025 unit, e.g. "Hà Nội"), not the
    /// residence and not necessarily a province that still exists after the 2025 merger.
    pub fn birth_province_name(&self) -> &'static str {
        self.birth_province_name
    }

    fn digit(&self, i: usize) -> u8 {
        self.number.as_bytes()[i] - b'0'
    }
}

impl PartialEq for NationalId {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number
    }
}

impl Eq for NationalId {}

impl Hash for NationalId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.number.hash(state);
    }
}

impl fmt::Debug for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NationalId({}******{})",
            &self.number[..3],
            &self.number[9..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELD: &str = "identity.id_number";

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    fn refusal_code(input: &str) -> &'static str {
        NationalId::parse(FIELD, input).expect_err(input).code
    }

    #[test]
    fn well_formed_id_numbers_with_known_provinces_are_accepted() {
        let cases = [
            ("001301234567", "001", "Hà Nội"),
            ("079099876543", "079", "TP Hồ Chí Minh"),
            ("  046185000001 ", "046", "Thừa Thiên Huế"),
            ("096200000000", "096", "Cà Mau"),
        ];
        for (input, code, name) in cases {
            let id = NationalId::parse(FIELD, input).expect(input);
            assert_eq!(id.as_str(), input.trim());
            assert_eq!(id.province_code(), code);
            assert_eq!(id.birth_province_name(), name);
        }
    }

    #[test]
    fn id_number_that_is_not_12_digits_is_refused_as_format() {
        for input in [
            "",
            "   ",
            "00130123456",
            "0013012345678",
            "00130123456a",
            "001 301 234 567",
            "001-301234567",
            "００１３０１２３４５６７", // full-width digits
            "+01301234567",
        ] {
            assert_eq!(refusal_code(input), codes::ID_NUMBER_FORMAT, "{input:?}");
        }
    }

    #[test]
    fn nine_digit_cmnd_number_is_refused_with_its_own_code() {
        assert_eq!(
            refusal_code("123456789"),
            codes::ID_NUMBER_CMND_NOT_ACCEPTED
        );
        assert_eq!(
            refusal_code(" 012345678 "),
            codes::ID_NUMBER_CMND_NOT_ACCEPTED
        );
    }

    #[test]
    fn id_number_with_unknown_province_code_is_refused() {
        for input in [
            "003301234567",
            "000301234567",
            "097301234567",
            "999301234567",
        ] {
            assert_eq!(
                refusal_code(input),
                codes::ID_NUMBER_PROVINCE_UNKNOWN,
                "{input}"
            );
        }
        let error = NationalId::parse(FIELD, "003301234567").expect_err("003");
        assert_eq!(error.field, FIELD);
        assert!(error.text.vi.contains("003"));
    }

    #[test]
    fn id_number_consistent_with_sex_and_birth_date_is_accepted() {
        let cases = [
            ("001301234567", Sex::Female, date(2001, 7, 15)), // female born 2001: G = 3
            ("001099234567", Sex::Male, date(1999, 12, 31)),  // male born 1999: G = 0
            ("001100234567", Sex::Female, date(1900, 1, 1)),
            ("001200234567", Sex::Male, date(2000, 1, 1)),
            ("001408234567", Sex::Male, date(2108, 3, 3)),
            ("001501234567", Sex::Female, date(2101, 3, 3)),
            ("001699234567", Sex::Male, date(2299, 3, 3)),
            ("001700234567", Sex::Female, date(2200, 3, 3)),
            ("001850234567", Sex::Male, date(2350, 3, 3)),
            ("001999234567", Sex::Female, date(2399, 3, 3)),
        ];
        for (input, sex, born) in cases {
            let id = NationalId::parse(FIELD, input).expect(input);
            assert_eq!(id.check_against(sex, born), Ok(()), "{input} {sex} {born}");
        }
    }

    #[test]
    fn id_number_with_century_digit_for_wrong_sex_is_refused() {
        let cases = [
            ("001301234567", Sex::Male, date(2001, 7, 15)),
            ("001099234567", Sex::Female, date(1999, 12, 31)),
            ("001200234567", Sex::Female, date(2000, 1, 1)),
            ("001185234567", Sex::Male, date(1985, 1, 1)),
        ];
        for (input, sex, born) in cases {
            let id = NationalId::parse(FIELD, input).expect(input);
            let error = id.check_against(sex, born).expect_err(input);
            assert_eq!(error.code, codes::ID_NUMBER_SEX_MISMATCH, "{input}");
            assert_eq!(error.field, FIELD);
        }
    }

    #[test]
    fn id_number_with_century_digit_for_wrong_century_is_refused() {
        let cases = [
            ("001001234567", Sex::Male, date(2001, 1, 1)), // G=0 says 1900s
            ("001399234567", Sex::Female, date(1999, 1, 1)), // G=3 says 2000s
            ("001401234567", Sex::Male, date(2001, 1, 1)), // G=4 says 2100s
            ("001099234567", Sex::Male, date(1899, 1, 1)), // no digit encodes the 1800s
            ("001899234567", Sex::Male, date(2499, 1, 1)), // nor the 2400s
        ];
        for (input, sex, born) in cases {
            let id = NationalId::parse(FIELD, input).expect(input);
            let error = id.check_against(sex, born).expect_err(input);
            assert_eq!(
                error.code,
                codes::ID_NUMBER_CENTURY_MISMATCH,
                "{input} {born}"
            );
        }
    }

    #[test]
    fn id_number_with_birth_year_digits_for_another_year_is_refused() {
        let cases = [
            ("001300234567", Sex::Female, date(2001, 7, 15)),
            ("001098234567", Sex::Male, date(1999, 12, 31)),
            ("001201234567", Sex::Male, date(2010, 1, 1)),
        ];
        for (input, sex, born) in cases {
            let id = NationalId::parse(FIELD, input).expect(input);
            let error = id.check_against(sex, born).expect_err(input);
            assert_eq!(error.code, codes::ID_NUMBER_BIRTH_YEAR_MISMATCH, "{input}");
            assert!(error.text.en.contains(&born.year().to_string()));
        }
    }

    #[test]
    fn id_number_equality_ignores_the_field_it_came_from() {
        let a = NationalId::parse("a", "001301234567").expect("a");
        let b = NationalId::parse("b", " 001301234567").expect("b");
        assert_eq!(a, b);
    }

    #[test]
    fn id_number_debug_output_masks_the_middle_digits() {
        let id = NationalId::parse(FIELD, "001301234567").expect("valid");
        assert_eq!(format!("{id:?}"), "NationalId(001******567)");
    }
}
