//! One application as received, and its parse into domain types. Every failing field is
//! reported, each with a stable code and Vietnamese and English messages.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::identity::{
    check_adult, check_identity_dates, parse_nationality, parse_sha256, BoundedText, Email,
    FieldError, FieldErrors, NationalId, PersonName, PhoneNumber, Sex,
};
use super::status::Source;
use crate::drawn_signature::{self, SignatureLimits};

/// Codes of refusals made here (the identity parsers have their own, in `identity::codes`).
pub mod codes {
    pub const SOURCE_INVALID: &str = "source_invalid";
    pub const DATE_INVALID: &str = "date_invalid";
    pub const CONSENT_REQUIRED: &str = "consent_required";
    pub const CONSENT_TIME_INVALID: &str = "consent_time_invalid";
    pub const CONSENT_CHANNEL_INVALID: &str = "consent_channel_invalid";
    pub const CONSENT_SIGNATURE_REQUIRED: &str = "consent_signature_required";
    pub const CONSENT_SIGNATURE_INVALID: &str = "consent_signature_invalid";
    pub const CONSENT_SIGNATURE_UNEXPECTED: &str = "consent_signature_unexpected";
    pub const PROVINCE_UNKNOWN: &str = "province_unknown";
    pub const WARD_UNKNOWN: &str = "ward_unknown";
}

const ADDRESS_MAX: usize = 250;
const PLACE_MAX: usize = 100;
const CONSENT_VERSION_MAX: usize = 64;
/// How far ahead of our clock a consent time may be (the client's clock may run fast).
const CONSENT_CLOCK_SKEW_MINUTES: i64 = 5;
/// The earliest consent time: consent to process personal data is the one Decree
/// 13/2023/NĐ-CP on personal data protection defines, in force from this day (Vietnam time).
pub const CONSENT_EARLIEST: &str = "2023-07-01T00:00:00+07:00";

/// Channels through which consent can be given.
pub const CONSENT_CHANNELS: [&str; 4] = ["vneid", "app", "counter", "web"];

pub struct AddressForm {
    pub line: String,
    pub ward: String,
    pub province: String,
}

pub struct ConsentForm {
    pub version: String,
    pub text_sha256: String,
    /// RFC 3339.
    pub given_at: String,
    pub channel: String,
    /// The citizen's signature drawn under the consent text at the desk: base64 PNG (a
    /// canvas's `data:image/png;base64,` URL accepted). Required from a counter, whose
    /// consent is the citizen's act witnessed by the operator; refused from other sources.
    pub signature_image: Option<String>,
}

/// The application exactly as the caller sent it. Dates are text (`YYYY-MM-DD`) so that an
/// impossible date is a field refusal like any other.
pub struct ApplicationForm {
    pub source: String,
    pub id_number: String,
    pub full_name: String,
    pub date_of_birth: String,
    pub sex: String,
    pub nationality: String,
    pub permanent_address: AddressForm,
    pub current_address: Option<AddressForm>,
    pub id_issue_date: String,
    pub id_issue_place: String,
    pub id_expiry_date: Option<String>,
    pub phone: String,
    pub email: Option<String>,
    pub consent: Option<ConsentForm>,
}

pub struct Address {
    pub line: BoundedText,
    /// Official name, from [`crate::vn::provinces`].
    pub ward: &'static str,
    /// Official name, from [`crate::vn::provinces`].
    pub province: &'static str,
}

pub struct Consent {
    pub version: BoundedText,
    /// Lower-case hex.
    pub text_sha256: String,
    pub given_at: DateTime<Utc>,
    pub channel: &'static str,
    /// The citizen's own act, for a counter application (the others' consent is recorded by
    /// the app or VNeID that showed the text).
    pub act: Option<ConsentAct>,
}

/// How a citizen at the desk gave consent, witnessed by the operator.
pub enum ConsentAct {
    /// Drawn on the signature pad under the consent text: the PNG, checked.
    SignaturePad(Vec<u8>),
}

impl ConsentAct {
    /// `consent_evidence.method`.
    pub fn method(&self) -> &'static str {
        match self {
            ConsentAct::SignaturePad(_) => "signature_pad",
        }
    }
}

/// A parsed application: every value has passed its checks.
pub struct Application {
    pub source: Source,
    pub id_number: NationalId,
    pub full_name: PersonName,
    pub date_of_birth: NaiveDate,
    pub sex: Sex,
    pub nationality: BoundedText,
    pub permanent_address: Address,
    pub current_address: Option<Address>,
    pub id_issue_date: NaiveDate,
    pub id_issue_place: BoundedText,
    pub id_expiry_date: Option<NaiveDate>,
    pub phone: PhoneNumber,
    pub email: Option<Email>,
    pub consent: Consent,
}

fn parse_date(field: &str, s: &str) -> Result<NaiveDate, FieldError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| FieldError::new(field, codes::DATE_INVALID))
}

/// Absent and blank are the same for optional fields (the VNeID hub sends empty strings).
fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| !v.trim().is_empty())
}

/// The detail line as given; the province and the ward/commune from the official list
/// ([`crate::vn::provinces`]), stored under their official names whatever spelling matched.
fn parse_address(errors: &mut FieldErrors, prefix: &str, a: &AddressForm) -> Option<Address> {
    let line = errors.take(BoundedText::parse(
        &format!("{prefix}.line"),
        &a.line,
        ADDRESS_MAX,
    ));
    let ward = errors.take(BoundedText::parse(
        &format!("{prefix}.ward"),
        &a.ward,
        PLACE_MAX,
    ));
    let province = errors.take(BoundedText::parse(
        &format!("{prefix}.province"),
        &a.province,
        PLACE_MAX,
    ));
    let Some(official) = crate::vn::provinces::find(province?.as_str()) else {
        errors.push(FieldError::new(
            format!("{prefix}.province"),
            codes::PROVINCE_UNKNOWN,
        ));
        return None;
    };
    let ward = ward?;
    let Some(official_ward) = official.find_ward(ward.as_str()) else {
        errors.push(
            FieldError::new(format!("{prefix}.ward"), codes::WARD_UNKNOWN)
                .arg("province", official.name()),
        );
        return None;
    };
    Some(Address {
        line: line?,
        ward: official_ward.name(),
        province: official.name(),
    })
}

/// The citizen's act a counter application must carry, and no other may.
fn parse_consent_act(
    errors: &mut FieldErrors,
    source: Option<Source>,
    signature_image: Option<&str>,
) -> Option<Option<ConsentAct>> {
    const FIELD: &str = "consent.signature_image";
    match (source, signature_image) {
        (Some(Source::Counter), None) => {
            errors.push(FieldError::new(FIELD, codes::CONSENT_SIGNATURE_REQUIRED));
            None
        }
        (Some(Source::Counter), Some(text)) => {
            // The pad's own canvas is well within the contract's default limits.
            let limits = SignatureLimits::default();
            let png = drawn_signature::from_base64(text, limits.max_bytes).and_then(|png| {
                drawn_signature::check(&png, &limits)?;
                Ok(png)
            });
            match png {
                Ok(png) => Some(Some(ConsentAct::SignaturePad(png))),
                Err(_) => {
                    errors.push(FieldError::new(FIELD, codes::CONSENT_SIGNATURE_INVALID));
                    None
                }
            }
        }
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(FIELD, codes::CONSENT_SIGNATURE_UNEXPECTED));
            None
        }
        // No act to record, or no source to judge it by (refused on its own field).
        (_, None) | (None, Some(_)) => Some(None),
    }
}

fn parse_consent(
    errors: &mut FieldErrors,
    c: Option<&ConsentForm>,
    source: Option<Source>,
    now: DateTime<Utc>,
) -> Option<Consent> {
    let Some(c) = c else {
        errors.push(FieldError::new("consent", codes::CONSENT_REQUIRED));
        return None;
    };
    let version = errors.take(BoundedText::parse(
        "consent.version",
        &c.version,
        CONSENT_VERSION_MAX,
    ));
    let text_sha256 = errors.take(parse_sha256("consent.text_sha256", &c.text_sha256));
    let earliest = DateTime::parse_from_rfc3339(CONSENT_EARLIEST).ok();
    let given_at = errors.take(
        DateTime::parse_from_rfc3339(c.given_at.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| *t <= now + Duration::minutes(CONSENT_CLOCK_SKEW_MINUTES))
            .ok_or_else(|| FieldError::new("consent.given_at", codes::CONSENT_TIME_INVALID))
            .and_then(|t| match earliest {
                Some(earliest) if t < earliest => Err(FieldError::in_context(
                    "consent.given_at",
                    codes::CONSENT_TIME_INVALID,
                    "too_early",
                )),
                _ => Ok(t),
            }),
    );
    let channel = errors.take(
        CONSENT_CHANNELS
            .into_iter()
            .find(|ch| *ch == c.channel.trim())
            .ok_or_else(|| FieldError::new("consent.channel", codes::CONSENT_CHANNEL_INVALID)),
    );
    let act = parse_consent_act(errors, source, present(&c.signature_image));
    Some(Consent {
        version: version?,
        text_sha256: text_sha256?,
        given_at: given_at?,
        channel: channel?,
        act: act?,
    })
}

impl Application {
    /// Parses every field and the rules between them (ID number against sex and birth date,
    /// adulthood on `today`, date order). `today` is the application date in Vietnam.
    pub fn parse(
        form: &ApplicationForm,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> Result<Application, FieldErrors> {
        let mut e = FieldErrors::new();
        let source = e.take(
            Source::parse(form.source.trim())
                .ok_or_else(|| FieldError::new("source", codes::SOURCE_INVALID)),
        );
        let id_number = e.take(NationalId::parse("identity.id_number", &form.id_number));
        let full_name = e.take(PersonName::parse("identity.full_name", &form.full_name));
        let dob = e.take(parse_date("identity.date_of_birth", &form.date_of_birth));
        let sex = e.take(Sex::parse("identity.sex", &form.sex));
        let nationality = e.take(parse_nationality("identity.nationality", &form.nationality));
        let permanent = parse_address(
            &mut e,
            "identity.permanent_address",
            &form.permanent_address,
        );
        let current = form
            .current_address
            .as_ref()
            .map(|a| parse_address(&mut e, "identity.current_address", a));
        let issued = e.take(parse_date("identity.id_issue_date", &form.id_issue_date));
        let issue_place = e.take(BoundedText::parse(
            "identity.id_issue_place",
            &form.id_issue_place,
            PLACE_MAX,
        ));
        let expiry =
            present(&form.id_expiry_date).map(|s| e.take(parse_date("identity.id_expiry_date", s)));
        let phone = e.take(PhoneNumber::parse("contact.phone", &form.phone));
        let email = present(&form.email).map(|s| e.take(Email::parse("contact.email", s)));
        let consent = parse_consent(&mut e, form.consent.as_ref(), source, now);

        if let (Some(id), Some(sex), Some(dob)) = (&id_number, sex, dob) {
            e.take(id.check_against(sex, dob));
        }
        if let Some(dob) = dob {
            e.take(check_adult("identity.date_of_birth", dob, today));
        }
        if let (Some(dob), Some(issued)) = (dob, issued) {
            let expiry_date = match expiry {
                Some(Some(d)) => Some(("identity.id_expiry_date", d)),
                _ => None,
            };
            e.merge(check_identity_dates(
                ("identity.date_of_birth", dob),
                ("identity.id_issue_date", issued),
                today,
                expiry_date,
            ));
        }
        // Each `?` below only fires when a refusal was recorded above.
        let parsed = (|| {
            Some(Application {
                source: source?,
                id_number: id_number?,
                full_name: full_name?,
                date_of_birth: dob?,
                sex: sex?,
                nationality: nationality?,
                permanent_address: permanent?,
                current_address: match current {
                    Some(a) => Some(a?),
                    None => None,
                },
                id_issue_date: issued?,
                id_issue_place: issue_place?,
                id_expiry_date: match expiry {
                    Some(d) => Some(d?),
                    None => None,
                },
                phone: phone?,
                email: match email {
                    Some(m) => Some(m?),
                    None => None,
                },
                consent: consent?,
            })
        })();
        match parsed {
            Some(app) if e.is_empty() => Ok(app),
            _ => Err(e),
        }
    }
}
