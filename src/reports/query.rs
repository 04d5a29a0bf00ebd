//! A report's parameters, parsed from what a caller typed (query string or web form) into
//! checked values, every refused field reported at once in Vietnamese and English.

use chrono::{Datelike, Duration, Months, NaiveDate};

use crate::enrolment::identity::{BoundedText, FieldError, FieldErrors};
use crate::texts::Text;

/// Stable refusal codes of the report parameters.
pub mod codes {
    pub const DATE_INVALID: &str = "report_date_invalid";
    pub const FROM_IN_FUTURE: &str = "report_from_in_future";
    pub const RANGE_REVERSED: &str = "report_range_reversed";
    pub const RANGE_TOO_LONG: &str = "report_range_too_long";
    pub const PERIOD_INVALID: &str = "report_period_invalid";
    pub const LEVEL_INVALID: &str = "report_level_invalid";
    pub const ADDRESS_INVALID: &str = "report_address_invalid";
    pub const FORMAT_INVALID: &str = "report_format_invalid";
}

/// Longest range by day: a year (leap years included).
pub const MAX_DAYS: i64 = 366;
/// Longest range by month: ten years.
pub const MAX_MONTHS: u32 = 120;
/// Same bound as an address's province or ward at intake.
const PLACE_MAX: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Month,
}

impl Granularity {
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Month => "month",
        }
    }
}

/// How far down places are broken out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Province,
    /// Province and ward/commune (the two levels of local government since 2025).
    Ward,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::Ward => "ward",
        }
    }
}

/// Which address places a citizen. Never the ID number's province code: that is where the
/// birth was registered, not where the citizen lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressBasis {
    /// The permanent address, as in the certificate's subject (`ST`, `L`).
    Permanent,
    /// The current residence when the citizen gave one, else the permanent address.
    Current,
}

impl AddressBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressBasis::Permanent => "permanent",
            AddressBasis::Current => "current",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// The parameters as typed; every one may be absent or empty (then its default applies).
#[derive(Clone, Debug, Default)]
pub struct IssuanceForm {
    pub from: Option<String>,
    pub to: Option<String>,
    pub period: Option<String>,
    pub level: Option<String>,
    pub address: Option<String>,
    pub province: Option<String>,
}

/// Checked parameters. Dates are calendar days in Vietnam (UTC+7); `from` and `to` are both
/// included, and `to` is never after today.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuanceQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub granularity: Granularity,
    pub level: Level,
    pub address: AddressBasis,
    pub province: Option<BoundedText>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A date as `YYYY-MM-DD` or `dd/mm/yyyy`, or a month as `YYYY-MM` (its first or last day).
fn parse_date(field: &str, s: &str, last_of_month: bool) -> Result<NaiveDate, FieldError> {
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%d/%m/%Y"))
        .ok()
        .or_else(|| {
            let first = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok()?;
            if last_of_month {
                first.checked_add_months(Months::new(1))?.pred_opt()
            } else {
                Some(first)
            }
        });
    date.ok_or_else(|| FieldError::new(field, codes::DATE_INVALID))
}

fn parse_choice<T: Copy>(
    field: &str,
    value: Option<&str>,
    default: T,
    choices: &[(&str, T)],
    code: &'static str,
) -> Result<T, FieldError> {
    let Some(value) = value else {
        return Ok(default);
    };
    choices
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let allowed = choices
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ");
            FieldError::with_text(
                field,
                code,
                Text::of("field.report_choice_invalid").arg("allowed", allowed),
            )
        })
}

/// `json` or `csv`, for callers that choose the format by a parameter.
pub fn parse_format(value: Option<&str>) -> Result<Option<Format>, FieldError> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) => parse_choice(
            "format",
            Some(v),
            Format::Json,
            &[("json", Format::Json), ("csv", Format::Csv)],
            codes::FORMAT_INVALID,
        )
        .map(Some),
    }
}

fn months_between(from: NaiveDate, to: NaiveDate) -> i64 {
    i64::from(to.year() - from.year()) * 12 + i64::from(to.month()) - i64::from(from.month())
}

impl IssuanceQuery {
    /// Parses `form`; `today` is the current date in Vietnam. Defaults: by day, the 30 days to
    /// today; by month, the 12 months to this month; provinces; permanent address.
    pub fn parse(form: &IssuanceForm, today: NaiveDate) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let granularity = errors.take(parse_choice(
            "period",
            given(&form.period),
            Granularity::Day,
            &[("day", Granularity::Day), ("month", Granularity::Month)],
            codes::PERIOD_INVALID,
        ));
        let level = errors.take(parse_choice(
            "level",
            given(&form.level),
            Level::Province,
            &[("province", Level::Province), ("ward", Level::Ward)],
            codes::LEVEL_INVALID,
        ));
        let address = errors.take(parse_choice(
            "address",
            given(&form.address),
            AddressBasis::Permanent,
            &[
                ("permanent", AddressBasis::Permanent),
                ("current", AddressBasis::Current),
            ],
            codes::ADDRESS_INVALID,
        ));
        // A refused province is reported below with the others (into_result).
        let province = given(&form.province)
            .and_then(|p| errors.take(BoundedText::parse("province", p, PLACE_MAX)));
        let to = match given(&form.to) {
            None => Some(today),
            Some(s) => errors.take(parse_date("to", s, true)),
        };
        let from = given(&form.from).map(|s| errors.take(parse_date("from", s, false)));
        let (Some(granularity), Some(level), Some(address), Some(to)) =
            (granularity, level, address, to)
        else {
            return Err(errors);
        };
        // Figures after today do not exist yet: a range reaching past today ends today.
        let to = to.min(today);
        let from = match from {
            Some(Some(from)) => from,
            Some(None) => return Err(errors),
            None => match granularity {
                Granularity::Day => to - Duration::days(29),
                Granularity::Month => to
                    .with_day(1)
                    .and_then(|d| d.checked_sub_months(Months::new(11)))
                    .unwrap_or(to),
            },
        };
        if from > today {
            errors.push(FieldError::new("from", codes::FROM_IN_FUTURE));
        } else if from > to {
            errors.push(FieldError::new("from", codes::RANGE_REVERSED));
        } else {
            let too_long = match granularity {
                Granularity::Day => (to - from).num_days() + 1 > MAX_DAYS,
                Granularity::Month => months_between(from, to) + 1 > i64::from(MAX_MONTHS),
            };
            if too_long {
                errors.push(match granularity {
                    Granularity::Day => FieldError::in_context("to", codes::RANGE_TOO_LONG, "day")
                        .arg("max_days", MAX_DAYS),
                    Granularity::Month => {
                        FieldError::in_context("to", codes::RANGE_TOO_LONG, "month")
                            .arg("max_months", MAX_MONTHS)
                    }
                });
            }
        }
        errors.into_result()?;
        Ok(Self {
            from,
            to,
            granularity,
            level,
            address,
            province,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn form(pairs: &[(&str, &str)]) -> IssuanceForm {
        let mut f = IssuanceForm::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "from" => f.from = v,
                "to" => f.to = v,
                "period" => f.period = v,
                "level" => f.level = v,
                "address" => f.address = v,
                "province" => f.province = v,
                _ => panic!("{k}"),
            }
        }
        f
    }

    fn codes_of(r: Result<IssuanceQuery, FieldErrors>) -> Vec<(String, &'static str)> {
        r.unwrap_err()
            .0
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn defaults_are_the_last_30_days_by_province_on_the_permanent_address() {
        let q = IssuanceQuery::parse(&form(&[]), today()).unwrap();
        assert_eq!((q.from, q.to), (d("2026-10-22"), d("2026-11-20")));
        assert_eq!(q.granularity, Granularity::Day);
        assert_eq!(q.level, Level::Province);
        assert_eq!(q.address, AddressBasis::Permanent);
        let q = IssuanceQuery::parse(&form(&[("period", "month")]), today()).unwrap();
        assert_eq!((q.from, q.to), (d("2025-12-01"), d("2026-11-20")));
    }

    #[test]
    fn dates_may_be_iso_vietnamese_or_whole_months_and_never_reach_past_today() {
        let q = IssuanceQuery::parse(&form(&[("from", "01/09/2026"), ("to", "2026-09")]), today())
            .unwrap();
        assert_eq!((q.from, q.to), (d("2026-09-01"), d("2026-09-30")));
        let q = IssuanceQuery::parse(&form(&[("from", "2026-11"), ("to", "2026-12-31")]), today())
            .unwrap();
        assert_eq!((q.from, q.to), (d("2026-11-01"), today()));
    }

    #[test]
    fn every_bad_parameter_is_reported_at_once() {
        let got = codes_of(IssuanceQuery::parse(
            &form(&[
                ("from", "31/02/2026"),
                ("period", "week"),
                ("level", "district"),
                ("address", "birth"),
                ("province", "Hà\u{0}Nội"),
            ]),
            today(),
        ));
        assert_eq!(
            got,
            vec![
                ("period".to_string(), codes::PERIOD_INVALID),
                ("level".to_string(), codes::LEVEL_INVALID),
                ("address".to_string(), codes::ADDRESS_INVALID),
                ("province".to_string(), "text_invalid_characters"),
                ("from".to_string(), codes::DATE_INVALID),
            ]
        );
    }

    #[test]
    fn a_range_must_start_by_today_run_forwards_and_stay_within_its_bound() {
        let got = codes_of(IssuanceQuery::parse(
            &form(&[("from", "2026-11-21")]),
            today(),
        ));
        assert_eq!(got, vec![("from".to_string(), codes::FROM_IN_FUTURE)]);
        let got = codes_of(IssuanceQuery::parse(
            &form(&[("from", "2026-11-10"), ("to", "2026-11-09")]),
            today(),
        ));
        assert_eq!(got, vec![("from".to_string(), codes::RANGE_REVERSED)]);
        let got = codes_of(IssuanceQuery::parse(
            &form(&[("from", "2025-11-19"), ("to", "2026-11-20")]),
            today(),
        ));
        assert_eq!(got, vec![("to".to_string(), codes::RANGE_TOO_LONG)]);
        assert!(IssuanceQuery::parse(&form(&[("from", "2025-11-20")]), today()).is_ok());
        let got = codes_of(IssuanceQuery::parse(
            &form(&[("period", "month"), ("from", "2016-11")]),
            today(),
        ));
        assert_eq!(got, vec![("to".to_string(), codes::RANGE_TOO_LONG)]);
        assert!(
            IssuanceQuery::parse(&form(&[("period", "month"), ("from", "2016-12")]), today())
                .is_ok()
        );
    }

    #[test]
    fn format_is_json_or_csv() {
        assert_eq!(parse_format(None).unwrap(), None);
        assert_eq!(parse_format(Some("csv")).unwrap(), Some(Format::Csv));
        assert_eq!(
            parse_format(Some("xml")).unwrap_err().code,
            codes::FORMAT_INVALID
        );
    }
}
