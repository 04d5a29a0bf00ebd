use std::fmt;

use validator::ValidateEmail;

use super::error::{codes, FieldError};

const MAX_CHARS: usize = 254;

/// An e-mail address (used for notices and the certificate's SAN `rfc822Name`).
///
/// Guarantees after [`Email::parse`]: trimmed, at most 254 characters, accepted by `validator`'s
/// HTML5-style e-mail check (ASCII local part of at most 64 characters; a domain name, an IDN, or
/// an address literal). The case is kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(FieldError::in_context(field, codes::TEXT_EMPTY, "email"));
        }
        if s.chars().count() > MAX_CHARS {
            return Err(FieldError::in_context(field, codes::TEXT_TOO_LONG, "email")
                .arg("max_chars", MAX_CHARS));
        }
        if !s.validate_email() || !dotted_domain(s) {
            return Err(FieldError::new(field, codes::EMAIL_FORMAT));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A domain that can receive mail from the internet: a name of at least two labels whose
/// last (the top-level domain) is letters or an IDN `xn--` label. `validator` accepts `a@b`
/// and address literals (`a@[10.0.0.1]`), which no citizen's mailbox has.
fn dotted_domain(address: &str) -> bool {
    let Some((_, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let Some(tld) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty())
        && (tld.starts_with("xn--")
            || (tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic)))
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELD: &str = "contact.email";

    #[test]
    fn valid_email_addresses_are_accepted_trimmed_with_case_kept() {
        let cases = [
            ("an.nguyen@example.vn", "an.nguyen@example.vn"),
            (
                "  Tuyet.Nguyen+ca@Mail.Example.COM ",
                "Tuyet.Nguyen+ca@Mail.Example.COM",
            ),
            ("user@bưuđiện.vn", "user@bưuđiện.vn"),
        ];
        for (input, expected) in cases {
            assert_eq!(Email::parse(FIELD, input).expect(input).as_str(), expected);
        }
    }

    #[test]
    fn malformed_email_addresses_are_refused() {
        for input in [
            "an.nguyen",
            "an.nguyen@",
            "@example.vn",
            "an nguyen@example.vn",
            "an@exa mple.vn",
            "nguyễn@example.vn",
            "a@b@example.vn",
            "an@-example.vn",
            "a@b",
            "an@localhost",
            "an@[10.0.0.1]",
            "an@example.123",
            "an@example.",
        ] {
            let error = Email::parse(FIELD, input).expect_err(input);
            assert_eq!(error.code, codes::EMAIL_FORMAT, "{input:?}");
            assert_eq!(error.field, FIELD);
        }
    }

    #[test]
    fn email_longer_than_254_characters_is_refused() {
        let label = "a".repeat(60);
        let long = format!("user@{label}.{label}.{label}.{label}.{label}.vn");
        assert!(long.chars().count() > MAX_CHARS);
        assert_eq!(
            Email::parse(FIELD, &long).expect_err("long").code,
            codes::TEXT_TOO_LONG
        );
    }

    #[test]
    fn empty_email_is_refused_as_empty() {
        assert_eq!(
            Email::parse(FIELD, " ").expect_err("blank").code,
            codes::TEXT_EMPTY
        );
    }
}
