use chrono::{Datelike, NaiveDate};

use super::error::{codes, FieldError, FieldErrors};

/// Age of majority for enrolment (decision: applicants are 18 or older on the application date).
pub const ADULT_AGE: i32 = 18;

/// The day someone born on `born` reaches `years` of age. A 29 February birthday falls on
/// 1 March in a non-leap year (born 29/02/2008: 18 on 01/03/2026). `None` past chrono's range.
fn birthday_at_age(born: NaiveDate, years: i32) -> Option<NaiveDate> {
    let year = born.year().checked_add(years)?;
    NaiveDate::from_ymd_opt(year, born.month(), born.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
}

/// No one older enrols: past the oldest people alive, a birth date this early is a typing
/// error (1900 for 1990), or a placeholder.
pub const MAX_AGE: i32 = 120;

/// Refuses an applicant who is not yet 18 on `on` (the application date), or who would be
/// older than [`MAX_AGE`].
pub fn check_adult(field: &str, date_of_birth: NaiveDate, on: NaiveDate) -> Result<(), FieldError> {
    if birthday_at_age(date_of_birth, MAX_AGE).is_some_and(|b| b <= on) {
        return Err(FieldError::new(field, codes::BIRTH_DATE_TOO_EARLY).arg("max_age", MAX_AGE));
    }
    match birthday_at_age(date_of_birth, ADULT_AGE) {
        Some(eighteenth) if eighteenth <= on => Ok(()),
        _ => Err(FieldError::new(field, codes::UNDERAGE).arg("adult_age", ADULT_AGE)),
    }
}

/// Checks the identity-document dates: `born < id_issued <= today < id_expiry`.
///
/// Each argument is `(field name, date)` so every refusal names its own field; `id_expiry` is
/// `None` for a card without an expiry date. Refusals: a birth date after `today` or an issue
/// date not after the birth date or after `today` give `date_order`; an expiry not after the
/// issue date gives `date_order`; an expiry on or before `today` gives `id_expired`.
pub fn check_identity_dates(
    born: (&str, NaiveDate),
    id_issued: (&str, NaiveDate),
    today: NaiveDate,
    id_expiry: Option<(&str, NaiveDate)>,
) -> Result<(), FieldErrors> {
    let (born_field, born) = born;
    let (issued_field, issued) = id_issued;
    let mut errors = FieldErrors::new();

    if born > today {
        errors.push(FieldError::in_context(
            born_field,
            codes::DATE_ORDER,
            "birth_future",
        ));
    } else if issued <= born {
        errors.push(FieldError::in_context(
            issued_field,
            codes::DATE_ORDER,
            "issue_before_birth",
        ));
    }
    if issued > today {
        errors.push(FieldError::in_context(
            issued_field,
            codes::DATE_ORDER,
            "issue_future",
        ));
    }
    if let Some((expiry_field, expiry)) = id_expiry {
        if expiry <= issued {
            errors.push(FieldError::in_context(
                expiry_field,
                codes::DATE_ORDER,
                "expiry_before_issue",
            ));
        } else if expiry <= today {
            errors.push(FieldError::new(expiry_field, codes::ID_EXPIRED));
        }
    }
    errors.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOB: &str = "identity.date_of_birth";
    const ISSUED: &str = "identity.id_issue_date";
    const EXPIRY: &str = "identity.id_expiry_date";

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    #[test]
    fn applicant_is_adult_from_the_18th_birthday_on() {
        // (born, application date, adult?)
        let cases = [
            (date(2008, 5, 10), date(2026, 5, 9), false), // the day before
            (date(2008, 5, 10), date(2026, 5, 10), true), // the day of
            (date(2008, 5, 10), date(2026, 5, 11), true), // the day after
            (date(2007, 12, 31), date(2025, 12, 30), false),
            (date(2007, 12, 31), date(2025, 12, 31), true),
            (date(2008, 1, 1), date(2025, 12, 31), false),
            (date(2008, 1, 1), date(2026, 1, 1), true),
            (date(1950, 6, 1), date(2026, 1, 1), true),
            (date(2026, 1, 2), date(2026, 1, 1), false), // born after the application
        ];
        for (born, on, adult) in cases {
            assert_eq!(
                check_adult(DOB, born, on).is_ok(),
                adult,
                "born {born}, on {on}"
            );
        }
    }

    #[test]
    fn applicant_born_on_29_february_turns_18_on_1_march_of_a_non_leap_year() {
        let cases = [
            (date(2008, 2, 29), date(2026, 2, 27), false),
            (date(2008, 2, 29), date(2026, 2, 28), false), // the day before
            (date(2008, 2, 29), date(2026, 3, 1), true),   // the day of
            (date(2008, 2, 29), date(2026, 3, 2), true),   // the day after
            (date(2004, 2, 29), date(2022, 2, 28), false),
            (date(2004, 2, 29), date(2022, 3, 1), true),
        ];
        for (born, on, adult) in cases {
            assert_eq!(
                check_adult(DOB, born, on).is_ok(),
                adult,
                "born {born}, on {on}"
            );
        }
    }

    #[test]
    fn underage_refusal_names_the_field() {
        let error = check_adult(DOB, date(2008, 5, 10), date(2026, 5, 9)).expect_err("17");
        assert_eq!(error.code, codes::UNDERAGE);
        assert_eq!(error.field, DOB);
        assert!(error.text.vi.contains("18 tuổi"));
    }

    #[test]
    fn birth_date_near_the_end_of_the_calendar_is_not_adult() {
        assert!(check_adult(DOB, NaiveDate::MAX, NaiveDate::MAX).is_err());
    }

    #[test]
    fn identity_dates_in_order_are_accepted() {
        let today = date(2026, 1, 15);
        let cases = [
            (date(1990, 1, 1), date(2021, 4, 1), Some(date(2030, 1, 1))),
            (date(1990, 1, 1), date(2026, 1, 15), Some(date(2026, 1, 16))),
            (date(1950, 1, 1), date(2010, 4, 1), None), // card without expiry
        ];
        for (born, issued, expiry) in cases {
            let result = check_identity_dates(
                (DOB, born),
                (ISSUED, issued),
                today,
                expiry.map(|e| (EXPIRY, e)),
            );
            assert_eq!(result, Ok(()), "{born} {issued} {expiry:?}");
        }
    }

    #[test]
    fn identity_dates_out_of_order_are_refused_on_the_field_at_fault() {
        let today = date(2026, 1, 15);
        /// (born, issued, expiry, expected refusals as (field, code))
        type Case = (
            NaiveDate,
            NaiveDate,
            Option<NaiveDate>,
            &'static [(&'static str, &'static str)],
        );
        let cases: [Case; 7] = [
            (
                date(1990, 1, 1),
                date(1990, 1, 1),
                None,
                &[(ISSUED, codes::DATE_ORDER)],
            ),
            (
                date(1990, 1, 1),
                date(1989, 1, 1),
                None,
                &[(ISSUED, codes::DATE_ORDER)],
            ),
            (
                date(1990, 1, 1),
                date(2026, 1, 16),
                None,
                &[(ISSUED, codes::DATE_ORDER)],
            ),
            (
                date(2026, 2, 1),
                date(2026, 3, 1),
                None,
                &[(DOB, codes::DATE_ORDER), (ISSUED, codes::DATE_ORDER)],
            ),
            (
                date(1990, 1, 1),
                date(2021, 4, 1),
                Some(date(2026, 1, 15)),
                &[(EXPIRY, codes::ID_EXPIRED)],
            ),
            (
                date(1990, 1, 1),
                date(2021, 4, 1),
                Some(date(2021, 4, 1)),
                &[(EXPIRY, codes::DATE_ORDER)],
            ),
            (
                date(1990, 1, 1),
                date(1980, 1, 1),
                Some(date(2025, 1, 1)),
                &[(ISSUED, codes::DATE_ORDER), (EXPIRY, codes::ID_EXPIRED)],
            ),
        ];
        for (born, issued, expiry, expected) in cases {
            let errors = check_identity_dates(
                (DOB, born),
                (ISSUED, issued),
                today,
                expiry.map(|e| (EXPIRY, e)),
            )
            .expect_err("out of order");
            let got: Vec<(&str, &str)> = errors
                .0
                .iter()
                .map(|e| (e.field.as_str(), e.code))
                .collect();
            assert_eq!(got, expected, "{born} {issued} {expiry:?}");
        }
    }
}
