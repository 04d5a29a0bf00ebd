//! Adoption reports for local authorities: how many personal certificates were issued, how
//! many became active, and how many are active, per province (and ward/commune), by day or by
//! month over a range of dates.
//!
//! Days are calendar days in Vietnam (UTC+7, no daylight saving): a certificate signed at
//! 18:30 UTC on 1 November counts on 2 November. Places come from the enrolment's address as
//! given at intake (permanent by default, the current residence on request), never from the
//! ID number's province code, which says where the birth was registered.
//!
//! Figures per period and place:
//! - `issued`: certificates signed in the period (whatever became of them later);
//! - `accepted`: certificates whose acceptance record the subscriber confirmed in the period,
//!   i.e. that became valid;
//! - `active`: certificates valid at the end of the period (or now, for the current period):
//!   accepted, not expired, not revoked and not suspended. Known limit: a suspension that was
//!   later lifted leaves no trace on the certificate row, so earlier periods count such a
//!   certificate as active throughout; a suspended certificate that is then revoked counts
//!   from its revocation.
//!
//! Cost: closed days are read from a summary (`summarise_closed_days`, the report job: per
//! day, address basis and place, the three flows of that day), today and any day not yet
//! summarised are counted live; "active" at a range's start is the sum of every earlier day's
//! `accepted - ended`. So a report reads days × places of summary, however many certificates
//! there are, and gives the same figures as counting every certificate (`tests/it/reports.rs`).

mod query;

pub use query::{
    codes, parse_format, AddressBasis, Format, Granularity, IssuanceForm, IssuanceQuery, Level,
    MAX_DAYS, MAX_MONTHS,
};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};

use crate::clock::Clock;
use crate::enrolment::identity::FieldErrors;
use crate::store::{
    AddressColumns, Bucket, DaySummary, IssuanceCountQuery, IssuanceFlows, Store, StoreError,
    SummaryCount, Tx,
};
use crate::vn;

/// More rows than a person or a spreadsheet can use; past it, ask for a coarser report.
pub const MAX_ROWS: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    #[error("invalid report parameters: {0}")]
    Invalid(FieldErrors),
    #[error("the report would have {rows} rows or more (at most {max}); choose a shorter range, months, or one province")]
    TooLarge { rows: usize, max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FieldErrors> for ReportsError {
    fn from(e: FieldErrors) -> Self {
        ReportsError::Invalid(e)
    }
}

/// The figures of one period in one place (or, in totals, in all places).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub issued: i64,
    pub accepted: i64,
    pub active: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub period: String,
    pub province: String,
    /// Present when the report breaks places out by ward.
    pub ward: Option<String>,
    pub figures: Figures,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodTotal {
    pub period: String,
    /// The days of the period inside the report's range.
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub figures: Figures,
}

#[derive(Clone, Debug)]
pub struct IssuanceReport {
    pub query: IssuanceQuery,
    /// When `active` of the last period was taken: the end of the range, or now if sooner.
    pub as_of: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    /// Period, then province, then ward; only places with a non-zero figure.
    pub rows: Vec<Row>,
    /// Every period of the range, empty ones included.
    pub totals: Vec<PeriodTotal>,
}

/// The periods of the range, each clipped to it.
fn periods(q: &IssuanceQuery) -> Vec<(String, NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut first = q.from;
    while first <= q.to {
        let (key, next) = match q.granularity {
            Granularity::Day => (first.format("%Y-%m-%d").to_string(), first.succ_opt()),
            Granularity::Month => (
                first.format("%Y-%m").to_string(),
                first
                    .with_day(1)
                    .and_then(|d| d.checked_add_months(Months::new(1))),
            ),
        };
        let Some(next) = next else { break };
        out.push((key, first, (next - Duration::days(1)).min(q.to)));
        first = next;
    }
    out
}

/// A day before any certificate: the live counts of the days before a range start here.
const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

/// A day is summarised once its end is this long past, so that every write stamped with a
/// time in it has committed (a write's time is taken at most its retry window, 30 s, before
/// its commit; an hour leaves room for a slow one).
pub const CLOSE_AFTER: Duration = Duration::hours(1);

/// How often the job looks for closed days to summarise.
pub const SUMMARY_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Days summarised per run of the job: the first run on a long history does a year at most.
const DAYS_PER_RUN: usize = 400;

/// What a report is built from: per period and place in the range, and per place before it.
struct Counts {
    in_range: Vec<SummaryCount>,
    /// Period `""`: everything before the range, whose `accepted - ended` is the stock.
    before: Vec<SummaryCount>,
}

fn push_flows(out: &mut Vec<SummaryCount>, flows: IssuanceFlows, period: Option<&str>) {
    for (list, i) in [(flows.issued, 0), (flows.accepted, 1), (flows.ended, 2)] {
        for c in list {
            let mut n = [0; 3];
            n[i] = c.n;
            out.push(SummaryCount {
                period: period.map_or(c.period, str::to_string),
                province: c.province,
                ward: c.ward,
                issued: n[0],
                accepted: n[1],
                ended: n[2],
            });
        }
    }
}

/// The summary for the summarised days; live counts for the others (today, and any day not
/// summarised yet or forgotten), split at the range's first day.
fn counts(
    tx: &mut Tx<'_>,
    base: &IssuanceCountQuery,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Counts, StoreError> {
    let summarised = tx.summarised_days(to)?;
    let mut in_range = tx.summary_counts(base, Some(from), to)?;
    let mut before = match from.pred_opt() {
        Some(last) => tx.summary_counts(base, None, last)?,
        None => Vec::new(),
    };
    // The runs of days not summarised, up to `to`.
    let mut gaps = Vec::new();
    let mut next = EPOCH;
    for day in summarised.into_iter().chain(to.succ_opt()) {
        if day > next {
            gaps.push((next, day - Duration::days(1)));
        }
        next = next.max(day + Duration::days(1));
    }
    let live = |tx: &mut Tx<'_>, first: NaiveDate, last: NaiveDate, with_issued: bool| {
        let q = IssuanceCountQuery {
            from: vn::day_start(first).naive_utc(),
            to: vn::day_start(last + Duration::days(1))
                .naive_utc()
                .min(now.naive_utc()),
            ..base.clone()
        };
        if q.from >= q.to {
            return Ok(IssuanceFlows::default());
        }
        tx.issuance_flows(&q, with_issued)
    };
    for (first, last) in gaps {
        if first < from {
            let flows = live(tx, first, last.min(from - Duration::days(1)), false)?;
            push_flows(&mut before, flows, Some(""));
        }
        if last >= from {
            let flows = live(tx, first.max(from), last, true)?;
            push_flows(&mut in_range, flows, None);
        }
    }
    Ok(Counts { in_range, before })
}

/// The adoption-report service.
#[derive(Clone)]
pub struct Reports {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl Reports {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Today's date in Vietnam: what [`IssuanceQuery::parse`] needs.
    pub fn today(&self) -> NaiveDate {
        vn::date_of(self.clock.now())
    }

    /// Summarises the closed days not summarised yet (at most [`DAYS_PER_RUN`], oldest
    /// first), from the first certificate's day: the report job. Safe in several processes
    /// at once (a day summarised by another is skipped). Returns how many this run did.
    pub async fn summarise_closed_days(&self) -> Result<usize, ReportsError> {
        let now = self.clock.now();
        let last_closed = vn::date_of(now - CLOSE_AFTER) - Duration::days(1);
        let (first, done) = self
            .store
            .read(move |tx| {
                Ok::<_, StoreError>((tx.first_signed_at()?, tx.summarised_days(last_closed)?))
            })
            .await?;
        let Some(first) = first else {
            return Ok(0);
        };
        let done: BTreeSet<NaiveDate> = done.into_iter().collect();
        let todo: Vec<NaiveDate> = vn::date_of(first.and_utc())
            .iter_days()
            .take_while(|d| *d <= last_closed)
            .filter(|d| !done.contains(d))
            .take(DAYS_PER_RUN)
            .collect();
        let store = self.store.clone();
        let summarised = tokio::task::spawn_blocking(move || {
            let mut n = 0;
            for day in todo {
                let d = DaySummary {
                    day,
                    from: vn::day_start(day).naive_utc(),
                    to: vn::day_start(day + Duration::days(1)).naive_utc(),
                    utc_offset_minutes: vn::OFFSET_MINUTES,
                };
                if store.summarise_day_blocking(&d, now.naive_utc())? {
                    n += 1;
                }
            }
            Ok::<_, StoreError>(n)
        })
        .await
        .map_err(|e| StoreError::Unexpected(format!("blocking task: {e}")))??;
        Ok(summarised)
    }

    /// Parses the parameters and builds the report.
    pub async fn issuance_from(&self, form: &IssuanceForm) -> Result<IssuanceReport, ReportsError> {
        let query = IssuanceQuery::parse(form, self.today())?;
        self.issuance(query).await
    }

    pub async fn issuance(&self, query: IssuanceQuery) -> Result<IssuanceReport, ReportsError> {
        let now = self.clock.now();
        let start = vn::day_start(query.from).naive_utc();
        let end = vn::day_start(query.to + Duration::days(1))
            .naive_utc()
            .min(now.naive_utc());
        let base = IssuanceCountQuery {
            from: start,
            to: end,
            utc_offset_minutes: vn::OFFSET_MINUTES,
            bucket: match query.granularity {
                Granularity::Day => Bucket::Day,
                Granularity::Month => Bucket::Month,
            },
            wards: query.level == Level::Ward,
            address: match query.address {
                AddressBasis::Permanent => AddressColumns::Permanent,
                AddressBasis::Current => AddressColumns::CurrentElsePermanent,
            },
            province: query.province.as_ref().map(|p| p.as_str().to_string()),
        };
        let (from, to) = (query.from, query.to);
        let counts = self
            .store
            .read(move |tx| counts(tx, &base, from, to, now))
            .await?;

        type Place = (String, String);
        let mut flows: BTreeMap<(String, Place), (Figures, i64)> = BTreeMap::new();
        let mut places: BTreeSet<Place> = BTreeSet::new();
        for c in counts.in_range {
            let place = (c.province, c.ward);
            places.insert(place.clone());
            let entry = flows.entry((c.period, place)).or_default();
            entry.0.issued += c.issued;
            entry.0.accepted += c.accepted;
            entry.1 += c.ended;
        }
        let mut active: BTreeMap<Place, i64> = BTreeMap::new();
        for c in counts.before {
            *active.entry((c.province, c.ward)).or_default() += c.accepted - c.ended;
        }
        active.retain(|_, n| *n != 0);
        places.extend(active.keys().cloned());

        let mut rows = Vec::new();
        let mut totals = Vec::new();
        for (period, first_day, last_day) in periods(&query) {
            let mut total = Figures::default();
            for place in &places {
                let (flow, ended) = flows
                    .get(&(period.clone(), place.clone()))
                    .copied()
                    .unwrap_or_default();
                let stock = active.entry(place.clone()).or_default();
                *stock += flow.accepted - ended;
                let figures = Figures {
                    active: *stock,
                    ..flow
                };
                total.issued += figures.issued;
                total.accepted += figures.accepted;
                total.active += figures.active;
                if figures == Figures::default() && ended == 0 {
                    continue;
                }
                if rows.len() >= MAX_ROWS {
                    return Err(ReportsError::TooLarge {
                        rows: rows.len() + 1,
                        max: MAX_ROWS,
                    });
                }
                rows.push(Row {
                    period: period.clone(),
                    province: place.0.clone(),
                    ward: (query.level == Level::Ward).then(|| place.1.clone()),
                    figures,
                });
            }
            totals.push(PeriodTotal {
                period,
                first_day,
                last_day,
                figures: total,
            });
        }
        Ok(IssuanceReport {
            query,
            as_of: end.and_utc(),
            generated_at: now,
            rows,
            totals,
        })
    }
}

impl IssuanceReport {
    /// A suggested file name, e.g. `issuance-by-day-2026-11-01-2026-11-20.csv`.
    pub fn csv_file_name(&self) -> String {
        format!(
            "issuance-by-{}-{}-{}.csv",
            self.query.granularity.as_str(),
            self.query.from,
            self.query.to
        )
    }

    /// RFC 4180 CSV (CRLF line ends), UTF-8, one header line:
    /// `period,province,ward,issued,accepted,active`. `ward` is empty in a report by province.
    /// `excel_bom` prefixes a UTF-8 byte-order mark, without which spreadsheet programs show
    /// Vietnamese diacritics as mojibake.
    pub fn to_csv(&self, excel_bom: bool) -> String {
        self.to_csv_headed(excel_bom, CSV_COLUMNS)
    }

    /// The same rows under column names of the caller's choice (the pages' words, in the
    /// reader's language).
    pub fn to_csv_headed(&self, excel_bom: bool, columns: [&str; 6]) -> String {
        let mut out = String::with_capacity(64 + self.rows.len() * 64);
        if excel_bom {
            out.push('\u{feff}');
        }
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_csv_text(&mut out, column);
        }
        out.push_str("\r\n");
        for r in &self.rows {
            out.push_str(&r.period);
            out.push(',');
            push_csv_text(&mut out, &r.province);
            out.push(',');
            push_csv_text(&mut out, r.ward.as_deref().unwrap_or(""));
            let f = r.figures;
            out.push_str(&format!(",{},{},{}\r\n", f.issued, f.accepted, f.active));
        }
        out
    }
}

/// The CSV's column names for programs (the API's answer): stable identifiers.
pub const CSV_COLUMNS: [&str; 6] = ["period", "province", "ward", "issued", "accepted", "active"];

/// A text cell: quoted when it holds a separator, quote or line break; and a leading `=`, `+`,
/// `-` or `@` is defused with an apostrophe, so an address typed by an applicant never runs as
/// a spreadsheet formula on an official's computer.
fn push_csv_text(out: &mut String, s: &str) {
    let defused;
    let s = if s.starts_with(['=', '+', '-', '@']) {
        defused = format!("'{s}");
        defused.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn query(from: &str, to: &str, granularity: Granularity) -> IssuanceQuery {
        IssuanceQuery {
            from: d(from),
            to: d(to),
            granularity,
            level: Level::Province,
            address: AddressBasis::Permanent,
            province: None,
        }
    }

    #[test]
    fn months_at_the_edges_of_the_range_are_clipped_to_it() {
        let p = periods(&query("2026-01-15", "2026-03-10", Granularity::Month));
        assert_eq!(
            p,
            vec![
                ("2026-01".into(), d("2026-01-15"), d("2026-01-31")),
                ("2026-02".into(), d("2026-02-01"), d("2026-02-28")),
                ("2026-03".into(), d("2026-03-01"), d("2026-03-10")),
            ]
        );
        let p = periods(&query("2026-02-27", "2026-03-01", Granularity::Day));
        let keys: Vec<_> = p.into_iter().map(|(k, ..)| k).collect();
        assert_eq!(keys, ["2026-02-27", "2026-02-28", "2026-03-01"]);
    }

    #[test]
    fn csv_quotes_separators_and_defuses_formulas() {
        let report = IssuanceReport {
            query: query("2026-11-01", "2026-11-01", Granularity::Day),
            as_of: Utc::now(),
            generated_at: Utc::now(),
            rows: vec![Row {
                period: "2026-11-01".into(),
                province: "=HYPERLINK(\"x\")".into(),
                ward: Some("Phường 1, Quận 3".into()),
                figures: Figures {
                    issued: 2,
                    accepted: 1,
                    active: 7,
                },
            }],
            totals: vec![],
        };
        assert_eq!(
            report.to_csv(false),
            "period,province,ward,issued,accepted,active\r\n\
             2026-11-01,\"'=HYPERLINK(\"\"x\"\")\",\"Phường 1, Quận 3\",2,1,7\r\n"
        );
        assert!(report.to_csv(true).starts_with("\u{feff}period,"));
    }
}
