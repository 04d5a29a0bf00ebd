//! Reference tables kept as data (`provinces.tsv`, `mobile_prefixes.tsv`), compiled into the
//! binary with `include_str!` and parsed once on first use.
//!
//! Invariant: a malformed table is a build defect, not a runtime condition; it panics with
//! the file name and line. Call [`super::load_reference_tables`] at start-up so that happens
//! before the service accepts requests; the unit tests below parse both files on every run.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// Vietnamese mobile network operator, known from the number's prefix (`mobile_prefixes.tsv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carrier {
    Viettel,
    VinaPhone,
    MobiFone,
    Vietnamobile,
    Gmobile,
}

impl Carrier {
    /// The operator's usual spelling, as used in `mobile_prefixes.tsv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Viettel => "Viettel",
            Carrier::VinaPhone => "VinaPhone",
            Carrier::MobiFone => "MobiFone",
            Carrier::Vietnamobile => "Vietnamobile",
            Carrier::Gmobile => "Gmobile",
        }
    }

    fn from_table_name(name: &str) -> Option<Self> {
        [
            Carrier::Viettel,
            Carrier::VinaPhone,
            Carrier::MobiFone,
            Carrier::Vietnamobile,
            Carrier::Gmobile,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const PROVINCES_TSV: &str = include_str!("provinces.tsv");
const MOBILE_PREFIXES_TSV: &str = include_str!("mobile_prefixes.tsv");

/// `(code, name)`, e.g. `("001", "Hà Nội")`, in file order.
static PROVINCES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    parse_provinces(PROVINCES_TSV).unwrap_or_else(|e| panic!("provinces.tsv: {e}"))
});

/// `(prefix, carrier)`, e.g. `("096", Carrier::Viettel)`, in file order.
static MOBILE_PREFIXES: LazyLock<Vec<(&'static str, Carrier)>> = LazyLock::new(|| {
    parse_mobile_prefixes(MOBILE_PREFIXES_TSV)
        .unwrap_or_else(|e| panic!("mobile_prefixes.tsv: {e}"))
});

/// Name of the province whose three-digit code this is, if known.
pub(super) fn province_name(code: &str) -> Option<&'static str> {
    PROVINCES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// Carrier owning this three-digit national prefix (`"096"`), if known.
pub(super) fn carrier_for_prefix(prefix: &str) -> Option<Carrier> {
    MOBILE_PREFIXES
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, carrier)| *carrier)
}

/// Forces both tables to load (and panic if broken).
pub(super) fn load() {
    LazyLock::force(&PROVINCES);
    LazyLock::force(&MOBILE_PREFIXES);
}

/// Data lines of a TSV file: `(line number, columns)`; blank lines and `#` comments skipped.
fn data_lines(
    text: &'static str,
    columns: usize,
) -> impl Iterator<Item = Result<(usize, Vec<&'static str>), String>> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_end_matches('\r')))
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .map(move |(n, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() == columns && fields.iter().all(|f| !f.trim().is_empty()) {
                Ok((n, fields))
            } else {
                Err(format!(
                    "line {n}: expected {columns} non-empty tab-separated columns, got {line:?}"
                ))
            }
        })
}

fn is_three_digits(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_provinces(text: &'static str) -> Result<Vec<(&'static str, &'static str)>, String> {
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for line in data_lines(text, 2) {
        let (n, fields) = line?;
        let (code, name) = (fields[0], fields[1]);
        if !is_three_digits(code) {
            return Err(format!("line {n}: code {code:?} is not three digits"));
        }
        if !seen.insert(code) {
            return Err(format!("line {n}: duplicate code {code}"));
        }
        rows.push((code, name));
    }
    if rows.is_empty() {
        return Err("no rows".to_owned());
    }
    Ok(rows)
}

fn parse_mobile_prefixes(text: &'static str) -> Result<Vec<(&'static str, Carrier)>, String> {
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for line in data_lines(text, 2) {
        let (n, fields) = line?;
        let (prefix, carrier) = (fields[0], fields[1]);
        if !(is_three_digits(prefix) && prefix.starts_with('0')) {
            return Err(format!(
                "line {n}: prefix {prefix:?} is not three digits starting with 0"
            ));
        }
        let carrier = Carrier::from_table_name(carrier)
            .ok_or_else(|| format!("line {n}: unknown carrier {carrier:?}"))?;
        if !seen.insert(prefix) {
            return Err(format!("line {n}: duplicate prefix {prefix}"));
        }
        rows.push((prefix, carrier));
    }
    if rows.is_empty() {
        return Err("no rows".to_owned());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization;

    #[test]
    fn province_table_has_63_rows_with_unique_three_digit_codes() {
        let rows = parse_provinces(PROVINCES_TSV).expect("provinces.tsv parses");
        assert_eq!(rows.len(), 63);
        let codes: HashSet<_> = rows.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes.len(), 63);
        assert!(rows.iter().all(|(c, _)| is_three_digits(c)));
    }

    #[test]
    fn province_names_are_stored_in_nfc() {
        for (code, name) in PROVINCES.iter() {
            let nfc: String = name.nfc().collect();
            assert_eq!(*name, nfc, "province {code} is not NFC");
        }
    }

    #[test]
    fn province_lookup_finds_first_last_and_sample_codes() {
        assert_eq!(province_name("001"), Some("Hà Nội"));
        assert_eq!(province_name("079"), Some("TP Hồ Chí Minh"));
        assert_eq!(province_name("077"), Some("Bà Rịa - Vũng Tàu"));
        assert_eq!(province_name("096"), Some("Cà Mau"));
        assert_eq!(province_name("003"), None);
        assert_eq!(province_name("097"), None);
    }

    #[test]
    fn mobile_prefix_table_has_34_unique_prefixes_covering_every_carrier() {
        let rows = parse_mobile_prefixes(MOBILE_PREFIXES_TSV).expect("mobile_prefixes.tsv parses");
        assert_eq!(rows.len(), 34);
        let prefixes: HashSet<_> = rows.iter().map(|(p, _)| *p).collect();
        assert_eq!(prefixes.len(), 34);
        for carrier in [
            Carrier::Viettel,
            Carrier::VinaPhone,
            Carrier::MobiFone,
            Carrier::Vietnamobile,
            Carrier::Gmobile,
        ] {
            assert!(rows.iter().any(|(_, c)| *c == carrier), "{carrier} missing");
        }
    }

    #[test]
    fn broken_tables_are_reported_with_their_line_number() {
        let cases: &[(&'static str, &str)] = &[
            (
                "# c\n001\tHà Nội\n001\tHà Nội bis\n",
                "line 3: duplicate code 001",
            ),
            ("001 Hà Nội\n", "line 1: expected 2"),
            ("01\tHà Nội\n", "line 1: code \"01\""),
            ("001\t\n", "line 1: expected 2"),
            ("# only comments\n", "no rows"),
        ];
        for (text, expected) in cases {
            let error = parse_provinces(text).expect_err(text);
            assert!(error.starts_with(expected), "{error:?} for {text:?}");
        }
        let error = parse_mobile_prefixes("096\tViettle\n").expect_err("typo");
        assert!(error.contains("unknown carrier"), "{error}");
        let error = parse_mobile_prefixes("196\tViettel\n").expect_err("no leading 0");
        assert!(error.contains("starting with 0"), "{error}");
    }

    #[test]
    fn reference_tables_load_without_panicking() {
        load();
    }
}
