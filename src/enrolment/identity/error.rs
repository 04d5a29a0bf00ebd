//! Field-level refusals: one [`FieldError`] per bad field, collected in [`FieldErrors`].

use std::fmt;

use crate::texts::Text;

/// Stable, snake_case refusal codes. Clients branch on these; never rename one.
pub mod codes {
    pub const ID_NUMBER_FORMAT: &str = "id_number_format";
    pub const ID_NUMBER_CMND_NOT_ACCEPTED: &str = "id_number_cmnd_not_accepted";
    pub const ID_NUMBER_PROVINCE_UNKNOWN: &str = "id_number_province_unknown";
    pub const ID_NUMBER_SEX_MISMATCH: &str = "id_number_sex_mismatch";
    pub const ID_NUMBER_CENTURY_MISMATCH: &str = "id_number_century_mismatch";
    pub const ID_NUMBER_BIRTH_YEAR_MISMATCH: &str = "id_number_birth_year_mismatch";
    pub const SEX_INVALID: &str = "sex_invalid";
    pub const NAME_INVALID_CHARACTERS: &str = "name_invalid_characters";
    pub const NAME_LENGTH: &str = "name_length";
    pub const PHONE_FORMAT: &str = "phone_format";
    pub const PHONE_PREFIX_UNKNOWN: &str = "phone_prefix_unknown";
    pub const EMAIL_FORMAT: &str = "email_format";
    pub const NATIONALITY_UNSUPPORTED: &str = "nationality_unsupported";
    pub const BIRTH_DATE_TOO_EARLY: &str = "birth_date_too_early";
    pub const UNDERAGE: &str = "underage";
    pub const DATE_ORDER: &str = "date_order";
    pub const ID_EXPIRED: &str = "id_expired";
    pub const TEXT_TOO_LONG: &str = "text_too_long";
    pub const TEXT_EMPTY: &str = "text_empty";
    pub const TEXT_INVALID_CHARACTERS: &str = "text_invalid_characters";
    pub const SHA256_FORMAT: &str = "sha256_format";
}

/// One refused field: which field (as named by the caller, e.g. `"identity.id_number"`),
/// a stable machine code, and a message for a person in Vietnamese and in English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {code}: {}", .text.en)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub text: Text,
}

impl FieldError {
    /// A refusal with the catalogue's text for `code` (`field.<code>`). Other modules may use
    /// it for their own fields; take `code` from [`codes`] or define a new stable snake_case
    /// code next to the check, and its text in [`crate::texts`].
    pub fn new(field: impl Into<String>, code: &'static str) -> Self {
        Self::with_text(field, code, Text::of(&format!("field.{code}")))
    }

    /// A refusal whose code is shared by checks that need different words: the text is
    /// `field.<code>.<context>`.
    pub fn in_context(field: impl Into<String>, code: &'static str, context: &str) -> Self {
        Self::with_text(field, code, Text::of(&format!("field.{code}.{context}")))
    }

    /// A refusal with a text chosen by the caller (one text for several codes).
    pub fn with_text(field: impl Into<String>, code: &'static str, text: Text) -> Self {
        Self {
            field: field.into(),
            code,
            text,
        }
    }

    /// Fills the text's parameter `{name}`.
    pub fn arg(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.text = self.text.arg(name, value);
        self
    }
}

/// Every refused field of one request, so the caller can report them all at once.
///
/// Typical use: parse each field, keep the good values with [`FieldErrors::take`], then
/// [`FieldErrors::into_result`] before building the aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Keeps the value of a successful parse; records the error of a failed one.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    /// Records every error of another collection (e.g. from [`super::check_identity_dates`]).
    pub fn merge(&mut self, result: Result<(), FieldErrors>) {
        if let Err(other) = result {
            self.0.extend(other.0);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was refused, otherwise all the refusals.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<FieldError> for FieldErrors {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(field: &str) -> FieldError {
        FieldError::with_text(field, codes::TEXT_EMPTY, Text::new("Trống", "Empty"))
    }

    #[test]
    fn field_errors_collect_every_failing_field_and_keep_good_values() {
        let mut errors = FieldErrors::new();
        let good: Option<u8> = errors.take(Ok(7));
        let bad: Option<u8> = errors.take(Err(err("a")));
        errors.merge(Err(FieldErrors(vec![err("b"), err("c")])));
        errors.merge(Ok(()));
        assert_eq!(good, Some(7));
        assert_eq!(bad, None);
        let fields: Vec<_> = match errors.into_result() {
            Err(e) => e.0.into_iter().map(|e| e.field).collect(),
            Ok(()) => panic!("expected errors"),
        };
        assert_eq!(fields, ["a", "b", "c"]);
    }

    #[test]
    fn field_errors_without_refusals_are_ok() {
        assert_eq!(FieldErrors::new().into_result(), Ok(()));
    }

    #[test]
    fn field_error_display_names_field_and_code() {
        assert_eq!(
            err("identity.full_name").to_string(),
            "identity.full_name: text_empty: Empty"
        );
        let all = FieldErrors(vec![err("a"), err("b")]);
        assert_eq!(
            all.to_string(),
            "a: text_empty: Empty; b: text_empty: Empty"
        );
    }
}
