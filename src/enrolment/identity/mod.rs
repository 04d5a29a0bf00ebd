//! Identity data of an applicant, parsed at the edge into domain types ("parse, don't validate").
//!
//! Every constructor is `parse(field, input) -> Result<Self, FieldError>`: the caller passes the
//! request field name (e.g. `"identity.id_number"`) so the refusal names it, and collects the
//! refusals of a whole request in [`FieldErrors`]. A value of one of these types is proof that the
//! input passed the checks; code past the edge takes the type, never a `&str`.
//!
//! | Type / function            | Guarantees                                                       |
//! |----------------------------|------------------------------------------------------------------|
//! | [`NationalId`]             | 12 digits, known birth-registration province `PPP`               |
//! | [`NationalId::check_against`] | `G` and `YY` agree with declared sex and date of birth        |
//! | [`PhoneNumber`]            | Vietnamese mobile, E.164 `+84…`, known [`Carrier`]               |
//! | [`PersonName`]             | NFC, single spaces, Latin/Vietnamese letters only, 2–100 chars   |
//! | [`Email`]                  | trimmed, ≤ 254 chars, `validator` e-mail syntax, a dotted domain name, case kept |
//! | [`BoundedText`]            | trimmed, NFC, non-empty, ≤ max chars, no control characters      |
//! | [`parse_sha256`]           | 64 hex digits, lower-cased (a digest named in a request)         |
//! | [`parse_nationality`]      | Vietnamese (`VN`, `Việt Nam`, …), kept as `Việt Nam`              |
//! | [`check_adult`]            | 18 or older on the application date (29 Feb → 1 Mar), born within the last 120 years |
//! | [`check_identity_dates`]   | born < ID issued ≤ today < ID expiry                             |
//!
//! Reference data is kept as data: `provinces.tsv` (63 province codes) and
//! `mobile_prefixes.tsv` (carrier prefixes), compiled in and parsed once. Call
//! [`load_reference_tables`] at start-up so a broken table stops the service there.
//!
//! This module is self-contained: it uses nothing else from the crate.

mod dates;
mod email;
mod error;
mod name;
mod national_id;
mod nationality;
mod phone;
mod sex;
mod tables;
mod text;

pub use dates::{check_adult, check_identity_dates, ADULT_AGE, MAX_AGE};
pub use email::Email;
pub use error::{codes, FieldError, FieldErrors};
pub use name::PersonName;
pub use national_id::NationalId;
pub use nationality::{parse_nationality, VIETNAMESE};
pub use phone::PhoneNumber;
pub use sex::Sex;
pub use tables::Carrier;
pub use text::{parse_sha256, BoundedText};

/// Parses the embedded reference tables now instead of on first use.
///
/// # Panics
/// If `provinces.tsv` or `mobile_prefixes.tsv` is malformed (a build defect); the message names
/// the file and line.
pub fn load_reference_tables() {
    tables::load();
}
