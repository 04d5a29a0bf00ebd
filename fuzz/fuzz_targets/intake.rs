//! Identity intake: an application body as `POST /api/v1/enrolments` reads it
//! (`api::parse_application_json`: JSON, shape checks, the parse into domain types, the
//! 422 problem), and the same parsers fed directly, one input line per form field, so that
//! the fuzzer reaches them without having to keep the JSON well-formed. Nothing may panic, a
//! refusal must render, and an accepted application must hold what its types promise.
#![no_main]

use ca_enrol::enrolment::{AddressForm, Application, ApplicationForm, ConsentForm, Source};
use ca_enrol::problem::Problem;
use chrono::{DateTime, Datelike, Utc};
use libfuzzer_sys::fuzz_target;

/// A fixed application time, so that a crash reproduces whatever the day.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T03:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn form_of_lines(text: &str) -> ApplicationForm {
    let mut lines = text.split('\n').map(str::to_owned);
    let mut next = || lines.next().unwrap_or_default();
    let optional = |line: String| (!line.is_empty()).then_some(line);
    let (source, id_number, full_name, date_of_birth, sex, nationality) =
        (next(), next(), next(), next(), next(), next());
    let permanent_address = AddressForm {
        line: next(),
        ward: next(),
        province: next(),
    };
    let current = (next(), next(), next());
    let (id_issue_date, id_issue_place, id_expiry_date, phone, email) =
        (next(), next(), next(), next(), next());
    let consent = (next(), next(), next(), next(), next());
    ApplicationForm {
        source,
        id_number,
        full_name,
        date_of_birth,
        sex,
        nationality,
        permanent_address,
        current_address: optional(current.0.clone()).map(|line| AddressForm {
            line,
            ward: current.1,
            province: current.2,
        }),
        id_issue_date,
        id_issue_place,
        id_expiry_date: optional(id_expiry_date),
        phone,
        email: optional(email),
        consent: optional(consent.0.clone()).map(|version| ConsentForm {
            version,
            text_sha256: consent.1,
            given_at: consent.2,
            channel: consent.3,
            signature_image: optional(consent.4),
        }),
    }
}

fn check_accepted(app: &Application, now: DateTime<Utc>) {
    let id = app.id_number.as_str();
    assert!(id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()));
    let name = app.full_name.as_str();
    assert!((2..=100).contains(&name.chars().count()));
    assert!(!name.starts_with(' ') && !name.ends_with(' ') && !name.contains("  "));
    assert!(app.phone.as_str().starts_with("+84") && app.phone.as_str().len() == 12);
    let texts = [
        &app.nationality,
        &app.id_issue_place,
        &app.consent.version,
        &app.permanent_address.line,
    ];
    // Ward and province are the official list's own names, whatever was typed.
    let official = [app.permanent_address.ward, app.permanent_address.province];
    for t in texts.iter().map(|t| t.as_str()).chain(official) {
        assert!(!t.is_empty() && t.trim() == t && !t.chars().any(char::is_control));
    }
    // A counter's consent is the citizen's drawing, and only a counter's.
    assert_eq!(app.consent.act.is_some(), app.source == Source::Counter);
    let sha = &app.consent.text_sha256;
    assert!(sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    let today = ca_enrol::vn::date_of(now);
    assert!(app.date_of_birth < app.id_issue_date && app.id_issue_date <= today);
    assert!(app.id_expiry_date.is_none_or(|d| d > today));
    assert!(today.year() - app.date_of_birth.year() >= 18);
    assert!(app
        .email
        .as_ref()
        .is_none_or(|e| e.as_str().chars().count() <= 254));
}

fn check_refused(problem: Problem) {
    assert_eq!(problem.status.as_u16(), 422);
    assert!(!problem.errors.is_empty());
    // The answer a client gets: every message rendered in both languages.
    let _ = problem.into_body();
}

fuzz_target!(|data: &[u8]| {
    let now = now();
    match ca_enrol::api::parse_application_json(data, now) {
        Some(Ok(app)) => check_accepted(&app, now),
        Some(Err(problem)) => check_refused(*problem),
        None => {}
    }
    if let Ok(text) = std::str::from_utf8(data) {
        match Application::parse(&form_of_lines(text), now, ca_enrol::vn::date_of(now)) {
            Ok(app) => check_accepted(&app, now),
            Err(errors) => assert!(!errors.is_empty()),
        }
    }
});
