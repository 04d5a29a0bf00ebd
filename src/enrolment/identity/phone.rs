use std::fmt;

use super::error::{codes, FieldError};
use super::tables::{self, Carrier};

/// A Vietnamese mobile number, normalised to E.164 (`+84` and 9 digits), with a known carrier.
///
/// `Debug` prints the [`PhoneNumber::masked`] form; there is deliberately no `Display`, so the
/// full number reaches only the places that ask for [`PhoneNumber::as_str`] (SMS gateway, store).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    /// Invariant: `+84` and 9 ASCII digits.
    e164: String,
    carrier: Carrier,
}

impl PhoneNumber {
    /// Accepts `0` and 9 digits, `+84` and 9 digits, or `84` and 9 digits. Spaces, dots and
    /// dashes between digits are ignored (`0912 345 678`, `091.234.5678`, `+84-912-345-678`).
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(FieldError::in_context(field, codes::TEXT_EMPTY, "phone"));
        }
        let format_error = || FieldError::new(field, codes::PHONE_FORMAT);

        // Only ASCII digits and a leading '+' go in, so the byte slicing below is safe.
        let mut compact = String::with_capacity(s.len());
        for (i, c) in s.chars().enumerate() {
            match c {
                '0'..='9' => compact.push(c),
                '+' if i == 0 => compact.push(c),
                '.' | '-' => {}
                c if c.is_whitespace() => {}
                _ => return Err(format_error()),
            }
        }
        let subscriber = if let Some(rest) = compact.strip_prefix("+84") {
            rest
        } else if compact.starts_with('+') {
            return Err(format_error());
        } else if compact.len() == 11 && compact.starts_with("84") {
            &compact[2..]
        } else if compact.len() == 10 && compact.starts_with('0') {
            &compact[1..]
        } else {
            return Err(format_error());
        };
        if subscriber.len() != 9 {
            return Err(format_error());
        }

        let prefix = format!("0{}", &subscriber[..2]);
        let carrier = tables::carrier_for_prefix(&prefix).ok_or_else(|| {
            FieldError::new(field, codes::PHONE_PREFIX_UNKNOWN).arg("prefix", prefix)
        })?;
        Ok(Self {
            e164: format!("+84{subscriber}"),
            carrier,
        })
    }

    /// E.164 form, e.g. `+84912345678`.
    pub fn as_str(&self) -> &str {
        &self.e164
    }

    pub fn carrier(&self) -> Carrier {
        self.carrier
    }

    /// For evidence records and logs: keeps the first and the last three subscriber digits,
    /// e.g. `+84 9** *** 678`.
    pub fn masked(&self) -> String {
        let subscriber = &self.e164[3..];
        format!("+84 {}** *** {}", &subscriber[..1], &subscriber[6..])
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({}, {})", self.masked(), self.carrier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELD: &str = "contact.phone";

    fn parse(input: &str) -> Result<PhoneNumber, FieldError> {
        PhoneNumber::parse(FIELD, input)
    }

    #[test]
    fn every_carrier_prefix_is_recognised() {
        let families: [(Carrier, &[&str]); 5] = [
            (
                Carrier::Viettel,
                &[
                    "032", "033", "034", "035", "036", "037", "038", "039", "086", "096", "097",
                    "098",
                ],
            ),
            (
                Carrier::VinaPhone,
                &["081", "082", "083", "084", "085", "088", "091", "094"],
            ),
            (
                Carrier::MobiFone,
                &["070", "076", "077", "078", "079", "089", "090", "093"],
            ),
            (Carrier::Vietnamobile, &["052", "056", "058", "092"]),
            (Carrier::Gmobile, &["059", "099"]),
        ];
        for (carrier, prefixes) in families {
            for prefix in prefixes {
                let input = format!("{prefix}1234567");
                let phone = parse(&input).expect(&input);
                assert_eq!(phone.carrier(), carrier, "{input}");
                assert_eq!(phone.as_str(), format!("+84{}1234567", &prefix[1..]));
            }
        }
    }

    #[test]
    fn phone_numbers_in_every_accepted_format_normalise_to_e164() {
        let cases = [
            "0912345678",
            "+84912345678",
            "84912345678",
            "0912 345 678",
            "091.234.5678",
            "091-234-5678",
            "+84 912 345 678",
            "+84-912-345-678",
            " 84 91 234 56 78 ",
            "0912\u{a0}345\u{a0}678",
        ];
        for input in cases {
            let phone = parse(input).expect(input);
            assert_eq!(phone.as_str(), "+84912345678", "{input:?}");
            assert_eq!(phone.carrier(), Carrier::VinaPhone);
        }
    }

    #[test]
    fn phone_numbers_of_the_wrong_shape_are_refused_as_format() {
        let cases = [
            "091234567",     // 9 digits
            "09123456789",   // 11 digits starting with 0
            "912345678",     // no leading 0
            "+8491234567",   // +84 and 8 digits
            "+840912345678", // +84 and the national 0
            "+1 912345678",
            "+44912345678",
            "8491234567",
            "0912-345-67a",
            "(091) 2345678",
            "091+2345678",
            "０９１２３４５６７８", // full-width digits
        ];
        for input in cases {
            let error = parse(input).expect_err(input);
            assert_eq!(error.code, codes::PHONE_FORMAT, "{input:?}");
            assert_eq!(error.field, FIELD);
        }
    }

    #[test]
    fn phone_numbers_with_unknown_prefixes_are_refused() {
        for input in [
            "0111234567",
            "0201234567",
            "0871234567",
            "0551234567",
            "+84012345678",
        ] {
            let error = parse(input).expect_err(input);
            assert_eq!(error.code, codes::PHONE_PREFIX_UNKNOWN, "{input}");
        }
        let error = parse("0111234567").expect_err("011");
        assert!(error.text.vi.contains("011"), "{}", error.text.vi);
    }

    #[test]
    fn empty_phone_number_is_refused_as_empty() {
        assert_eq!(parse("  ").expect_err("blank").code, codes::TEXT_EMPTY);
    }

    #[test]
    fn masked_phone_keeps_only_first_and_last_three_subscriber_digits() {
        let phone = parse("0912345678").expect("valid");
        assert_eq!(phone.masked(), "+84 9** *** 678");
        assert_eq!(
            format!("{phone:?}"),
            "PhoneNumber(+84 9** *** 678, VinaPhone)"
        );
    }
}
