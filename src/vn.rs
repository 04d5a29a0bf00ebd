//! Vietnam time and number formats: the one home of the UTC+7 offset, calendar days, the
//! `dd/mm/yyyy` date and time formats, and thousands grouping for đồng and counts.
//!
//! Vietnam (Indochina Time) is UTC+7 all year with no daylight saving, so a fixed offset is
//! exact: every conversion here is plain arithmetic, with no time-zone database.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// Vietnam's offset from UTC in minutes (the store's day/month buckets take it in minutes).
pub const OFFSET_MINUTES: i32 = 7 * 60;

fn shift() -> Duration {
    Duration::minutes(i64::from(OFFSET_MINUTES))
}

/// Wall-clock time in Vietnam at the UTC instant `t` (as a naive value, for formatting).
pub fn local(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc() + shift()
}

/// The calendar date in Vietnam at `t`: the application date for the age rule, the day of
/// statistics and reports, the date written on documents.
pub fn date_of(t: DateTime<Utc>) -> NaiveDate {
    local(t).date()
}

/// The UTC instant at which the Vietnamese calendar day `d` starts (17:00 UTC the day before).
pub fn day_start(d: NaiveDate) -> DateTime<Utc> {
    (d.and_time(NaiveTime::MIN) - shift()).and_utc()
}

/// `dd/mm/yyyy`, as Vietnamese forms and documents write dates.
pub fn date(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// `dd/mm/yyyy HH:MM` in Vietnam time: the operator pages' format, in both languages.
pub fn date_time(t: DateTime<Utc>) -> String {
    local(t).format("%d/%m/%Y %H:%M").to_string()
}

/// `HH:MM dd/mm/yyyy` in Vietnam time: deadlines and expiry in notices to subscribers.
pub fn time_date(t: DateTime<Utc>) -> String {
    local(t).format("%H:%M %d/%m/%Y").to_string()
}

/// `HH:MM:SS dd/mm/yyyy` in Vietnam time: validity instants in the acceptance record, which
/// must match the certificate to the second.
pub fn time_date_seconds(t: DateTime<Utc>) -> String {
    local(t).format("%H:%M:%S %d/%m/%Y").to_string()
}

/// `n` with `sep` between groups of three digits: `1.234.567` (Vietnamese), `1,234,567`.
pub fn group_thousands(n: i64, sep: char) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// Whole đồng with the symbol, for pages: `1.500.000 ₫`.
pub fn vnd(amount: i64) -> String {
    format!("{} ₫", group_thousands(amount, '.'))
}

/// Whole đồng in words, for contracts: `385.000 đồng`.
pub fn dong(amount: i64) -> String {
    format!("{} đồng", group_thousands(amount, '.'))
}

/// A phone number in the national format: mobiles `0912 345 678`, service numbers
/// `1900 1234`; anything else as given.
pub fn phone(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let national = match number.trim_start().strip_prefix("+84") {
        Some(_) => format!("0{}", &digits[2..]),
        None => digits,
    };
    let (a, rest) = national.split_at(national.len().min(4));
    match (a, rest.len()) {
        (_, 6) if a.starts_with('0') => format!("{a} {} {}", &rest[..3], &rest[3..]),
        ("1900" | "1800", 4 | 6) => format!("{a} {rest}"),
        _ => number.trim().to_string(),
    }
}

/// Vietnamese text without its diacritics (`Nguyễn Văn Đức` → `Nguyen Van Duc`): for SMS,
/// which GSM-7 keeps to one 160-character part, and for accent-insensitive search.
pub fn without_diacritics(s: &str) -> String {
    use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_vietnamese_day_starts_at_17_00_utc_the_day_before() {
        let t = utc("2026-11-23T18:30:00Z");
        assert_eq!(date_of(t), NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
        assert_eq!(
            date_of(utc("2026-11-23T16:59:59Z")).to_string(),
            "2026-11-23"
        );
        assert_eq!(day_start(date_of(t)), utc("2026-11-23T17:00:00Z"));
    }

    #[test]
    fn dates_and_times_are_day_first_in_vietnam_time() {
        let t = utc("2026-11-23T18:30:05Z");
        assert_eq!(date(date_of(t)), "24/11/2026");
        assert_eq!(date_time(t), "24/11/2026 01:30");
        assert_eq!(time_date(t), "01:30 24/11/2026");
        assert_eq!(time_date_seconds(t), "01:30:05 24/11/2026");
    }

    #[test]
    fn amounts_and_counts_group_thousands() {
        assert_eq!(vnd(1_500_000), "1.500.000 ₫");
        assert_eq!(vnd(0), "0 ₫");
        assert_eq!(vnd(999), "999 ₫");
        assert_eq!(vnd(1000), "1.000 ₫");
        assert_eq!(vnd(-1000), "-1.000 ₫");
        assert_eq!(dong(385_000), "385.000 đồng");
        assert_eq!(dong(1_234_567), "1.234.567 đồng");
        assert_eq!(group_thousands(1_234_567, ','), "1,234,567");
        assert_eq!(group_thousands(i64::MIN, '.'), "-9.223.372.036.854.775.808");
    }

    #[test]
    fn diacritics_are_removed_and_d_bar_becomes_d() {
        assert_eq!(
            without_diacritics("Nguyễn Văn Đức, Huỳnh Thị Ánh Tuyết"),
            "Nguyen Van Duc, Huynh Thi Anh Tuyet"
        );
        assert_eq!(without_diacritics("Lộ khoá bí mật"), "Lo khoa bi mat");
    }

    #[test]
    fn phone_numbers_are_grouped_as_vietnamese_write_them() {
        assert_eq!(phone("0912345678"), "0912 345 678");
        assert_eq!(phone("+84912345678"), "0912 345 678");
        assert_eq!(phone("19001234"), "1900 1234");
        assert_eq!(phone("1900 1234"), "1900 1234");
        assert_eq!(phone("024 3333"), "024 3333");
    }
}
