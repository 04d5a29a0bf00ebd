//! Aggregates for the adoption reports: certificate counts grouped in the database by local
//! day or month and by the enrolment's address. The few expressions that differ between the
//! dialects (date formatting, parameter markers) are chosen here; the queries are otherwise the
//! same text on both.
//!
//! Each query is driven by a range on one indexed time column (migrations 000010, 000011) and joins
//! the enrolment by primary key, so its cost follows the rows in the range, not the table.
//!
//! Closed days are summarised once into `report_days` / `report_day_counts` (the same three
//! counts per day and place), so a report reads the summary for them and counts live only the
//! days not summarised (today, the hour after midnight, a day a moved revocation time made
//! stale): its cost follows the days and places of the range, not the certificates.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};

use super::schema::{report_day_counts, report_days};
use super::{dispatch, Conn, Store, StoreError, Tx};

/// How rows are grouped in time (in local time, see [`IssuanceCountQuery::utc_offset_minutes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// `YYYY-MM-DD`
    Day,
    /// `YYYY-MM`
    Month,
}

/// Which of the enrolment's addresses places a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressColumns {
    /// The permanent (registered) address: the one in the certificate's subject.
    Permanent,
    /// The current residence when the citizen gave one, else the permanent address.
    CurrentElsePermanent,
}

#[derive(Clone, Debug)]
pub struct IssuanceCountQuery {
    /// Inclusive, UTC.
    pub from: NaiveDateTime,
    /// Exclusive, UTC.
    pub to: NaiveDateTime,
    /// Added to UTC times before they are cut into days or months.
    pub utc_offset_minutes: i32,
    pub bucket: Bucket,
    /// Group by ward/commune as well as province.
    pub wards: bool,
    pub address: AddressColumns,
    /// Only this province (exact stored name).
    pub province: Option<String>,
}

/// A count in one period and place. `ward` is empty when not grouping by ward.
#[derive(Clone, Debug, PartialEq, Eq, QueryableByName)]
pub struct PeriodCount {
    #[diesel(sql_type = Text)]
    pub period: String,
    #[diesel(sql_type = Text)]
    pub province: String,
    #[diesel(sql_type = Text)]
    pub ward: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// The raw figures a report is built from, per period and place. A certificate is *active*
/// from its acceptance until it ends: revoked or suspended (`revoked_at`) or expired
/// (`not_after`), whichever comes first.
#[derive(Clone, Debug, Default)]
pub struct IssuanceFlows {
    /// Certificates signed in each period.
    pub issued: Vec<PeriodCount>,
    /// Acceptance records confirmed in each period: certificates that became active.
    pub accepted: Vec<PeriodCount>,
    /// Accepted certificates that stopped being active in each period.
    pub ended: Vec<PeriodCount>,
}

/// The three counts of one period (or of all days before one) in one place, from the summary.
#[derive(Clone, Debug, PartialEq, Eq, QueryableByName)]
pub struct SummaryCount {
    #[diesel(sql_type = Text)]
    pub period: String,
    #[diesel(sql_type = Text)]
    pub province: String,
    #[diesel(sql_type = Text)]
    pub ward: String,
    #[diesel(sql_type = BigInt)]
    pub issued: i64,
    #[diesel(sql_type = BigInt)]
    pub accepted: i64,
    #[diesel(sql_type = BigInt)]
    pub ended: i64,
}

impl AddressColumns {
    fn as_str(self) -> &'static str {
        match self {
            AddressColumns::Permanent => "permanent",
            AddressColumns::CurrentElsePermanent => "current",
        }
    }
}

/// A summarised day's key: `YYYY-MM-DD` sorts as the dates do, on both dialects.
fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

#[derive(Insertable)]
#[diesel(table_name = report_day_counts)]
struct DayCountRow {
    day: String,
    address: &'static str,
    wards: bool,
    province: String,
    ward: String,
    issued: i64,
    accepted: i64,
    ended: i64,
}

/// The SQL pieces for one query shape.
struct Parts {
    period: String,
    province: &'static str,
    ward: &'static str,
    group_by: &'static str,
    p: &'static str,
}

impl Parts {
    fn new(conn: &Conn<'_>, q: &IssuanceCountQuery, time: &str) -> Self {
        let offset = q.utc_offset_minutes;
        let period = match (conn, q.bucket) {
            (Conn::Sqlite(_), Bucket::Day) => {
                format!("strftime('%Y-%m-%d', {time}, '{offset:+} minutes')")
            }
            (Conn::Sqlite(_), Bucket::Month) => {
                format!("strftime('%Y-%m', {time}, '{offset:+} minutes')")
            }
            (Conn::Pg(_), Bucket::Day) => {
                format!("to_char({time} + interval '{offset} minutes', 'YYYY-MM-DD')")
            }
            (Conn::Pg(_), Bucket::Month) => {
                format!("to_char({time} + interval '{offset} minutes', 'YYYY-MM')")
            }
        };
        let (province, ward) = match q.address {
            AddressColumns::Permanent => ("e.permanent_province", "e.permanent_ward"),
            // Intake stores a current address whole or not at all, so the pair is consistent.
            AddressColumns::CurrentElsePermanent => (
                "COALESCE(e.current_province, e.permanent_province)",
                "COALESCE(e.current_ward, e.permanent_ward)",
            ),
        };
        let (ward, group_by) = if q.wards {
            (ward, "1, 2, 3")
        } else {
            ("''", "1, 2")
        };
        // Numbered parameters: `?N` in SQLite, `$N` in PostgreSQL. Every query binds the same
        // three: from, to, province (nullable).
        let p = match conn {
            Conn::Sqlite(_) => "?",
            Conn::Pg(_) => "$",
        };
        Self {
            period,
            province,
            ward,
            group_by,
            p,
        }
    }

    fn province_filter(&self) -> String {
        let p = self.p;
        format!("({p}3 IS NULL OR {} = {p}3)", self.province)
    }

    /// Counts of rows whose `time` falls in [from, to), per period and place.
    fn per_period(&self, from_where: &str) -> String {
        format!(
            "SELECT {period} AS period, {province} AS province, {ward} AS ward, COUNT(*) AS n \
             {from_where} AND {filter} GROUP BY {group_by}",
            period = self.period,
            province = self.province,
            ward = self.ward,
            filter = self.province_filter(),
            group_by = self.group_by,
        )
    }
}

/// When an accepted certificate stops being active.
const END: &str = "CASE WHEN c.revoked_at IS NOT NULL AND c.revoked_at < c.not_after \
                   THEN c.revoked_at ELSE c.not_after END";

impl Tx<'_> {
    /// Live counts over [from, to). `with_issued: false` skips the issued count (days before
    /// a report's range add only to the active stock).
    pub fn issuance_flows(
        &mut self,
        q: &IssuanceCountQuery,
        with_issued: bool,
    ) -> Result<IssuanceFlows, StoreError> {
        let issued = {
            let parts = Parts::new(&self.conn, q, "c.signed_at");
            let p = parts.p;
            parts.per_period(&format!(
                "FROM certificates c JOIN enrolments e ON e.id = c.enrolment_id \
                 WHERE c.signed_at >= {p}1 AND c.signed_at < {p}2"
            ))
        };
        let accepted = {
            let parts = Parts::new(&self.conn, q, "a.decided_at");
            let p = parts.p;
            parts.per_period(&format!(
                "FROM acceptance_records a JOIN enrolments e ON e.id = a.enrolment_id \
                 WHERE a.status = 'accepted' AND a.decided_at >= {p}1 AND a.decided_at < {p}2"
            ))
        };
        // Acceptance is tested with EXISTS so that the planner starts from the time range on
        // `certificates` (without statistics SQLite would start from every accepted record).
        const ACCEPTED: &str = "EXISTS (SELECT 1 FROM acceptance_records a \
                                WHERE a.serial = c.serial AND a.status = 'accepted')";
        let ended = {
            let parts = Parts::new(&self.conn, q, END);
            let p = parts.p;
            // Two index ranges (revoked_at, not_after) rather than one on the CASE expression.
            parts.per_period(&format!(
                "FROM certificates c JOIN enrolments e ON e.id = c.enrolment_id \
                 WHERE ((c.revoked_at >= {p}1 AND c.revoked_at < {p}2 AND c.revoked_at < c.not_after) \
                   OR (c.not_after >= {p}1 AND c.not_after < {p}2 \
                       AND (c.revoked_at IS NULL OR c.revoked_at >= c.not_after))) \
                 AND {ACCEPTED}"
            ))
        };
        let province = q.province.as_deref();
        macro_rules! load {
            ($sql:expr, $row:ty) => {
                dispatch!(self, c => diesel::sql_query($sql)
                    .bind::<Timestamp, _>(q.from)
                    .bind::<Timestamp, _>(q.to)
                    .bind::<Nullable<Text>, _>(province)
                    .load::<$row>(c))?
            };
        }
        Ok(IssuanceFlows {
            issued: if with_issued {
                load!(&issued, PeriodCount)
            } else {
                Vec::new()
            },
            accepted: load!(&accepted, PeriodCount),
            ended: load!(&ended, PeriodCount),
        })
    }

    /// The summarised days up to `last` (inclusive), in order.
    pub fn summarised_days(&mut self, last: NaiveDate) -> Result<Vec<NaiveDate>, StoreError> {
        let keys: Vec<String> = dispatch!(self, c => report_days::table
            .filter(report_days::day.le(day_key(last)))
            .order(report_days::day.asc())
            .select(report_days::day)
            .load(c))?;
        keys.iter()
            .map(|k| {
                NaiveDate::parse_from_str(k, "%Y-%m-%d")
                    .map_err(|e| StoreError::Unexpected(format!("report day {k}: {e}")))
            })
            .collect()
    }

    /// The summary's counts of the days in [first, last], per period (`month`: `YYYY-MM`,
    /// else the day) and place; with `first` = `None`, of every day up to `last` as one
    /// period `""` (the stock before a range).
    pub fn summary_counts(
        &mut self,
        q: &IssuanceCountQuery,
        first: Option<NaiveDate>,
        last: NaiveDate,
    ) -> Result<Vec<SummaryCount>, StoreError> {
        let p = match self.conn {
            Conn::Sqlite(_) => "?",
            Conn::Pg(_) => "$",
        };
        let period = match (first, q.bucket) {
            (None, _) => "''",
            (Some(_), Bucket::Day) => "day",
            (Some(_), Bucket::Month) => "substr(day, 1, 7)",
        };
        let sql = format!(
            // PostgreSQL's SUM of BIGINT is NUMERIC.
            "SELECT {period} AS period, province, ward, CAST(SUM(issued) AS BIGINT) AS issued, \
             CAST(SUM(accepted) AS BIGINT) AS accepted, CAST(SUM(ended) AS BIGINT) AS ended \
             FROM report_day_counts \
             WHERE address = {p}1 AND wards = {p}2 AND day >= {p}3 AND day <= {p}4 \
             AND ({p}5 IS NULL OR province = {p}5) GROUP BY 1, 2, 3"
        );
        // Every key sorts after "": no first day means every day.
        let first = first.map(day_key).unwrap_or_default();
        let province = q.province.as_deref();
        Ok(dispatch!(self, c => diesel::sql_query(&sql)
            .bind::<Text, _>(q.address.as_str())
            .bind::<Bool, _>(q.wards)
            .bind::<Text, _>(&first)
            .bind::<Text, _>(day_key(last))
            .bind::<Nullable<Text>, _>(province)
            .load::<SummaryCount>(c))?)
    }

    /// When the first certificate was signed: no day before it has anything to summarise.
    pub fn first_signed_at(&mut self) -> Result<Option<NaiveDateTime>, StoreError> {
        use super::schema::certificates;
        // The filter lets SQLite answer from the partial index `certificates_signed`.
        Ok(dispatch!(self, c => certificates::table
            .filter(certificates::signed_at.is_not_null())
            .select(diesel::dsl::min(certificates::signed_at))
            .first(c))?)
    }

    /// Forgets the summary of the days around `at` (its UTC date and the days either side,
    /// which covers the local day whatever the offset): a certificate's revocation time
    /// moved away from `at`, so those days' counts changed. They are summarised again.
    pub(super) fn forget_summarised_days_around(
        &mut self,
        at: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let date = at.date();
        let days: Vec<String> = [date.pred_opt(), Some(date), date.succ_opt()]
            .into_iter()
            .flatten()
            .map(day_key)
            .collect();
        dispatch!(self, c => {
            diesel::delete(report_day_counts::table.filter(report_day_counts::day.eq_any(&days)))
                .execute(c)?;
            diesel::delete(report_days::table.filter(report_days::day.eq_any(&days))).execute(c)
        })?;
        Ok(())
    }
}

/// A closed day to summarise.
pub struct DaySummary {
    pub day: NaiveDate,
    /// The day's instants, UTC: [from, to).
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    pub utc_offset_minutes: i32,
}

impl Store {
    /// Summarises one closed day, unless it already is (another process did): counts its
    /// certificates as a live report would, for both address bases and both levels, and
    /// stores the counts with the day's row, in one transaction (SERIALIZABLE on PostgreSQL,
    /// so a revocation time moved meanwhile either comes before or forgets the day after).
    /// Bookkeeping: the summary is derived from audited rows and changes none. True when
    /// this call summarised it.
    pub fn summarise_day_blocking(
        &self,
        d: &DaySummary,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let run = |tx: &mut Tx<'_>| -> Result<bool, StoreError> {
            let key = day_key(d.day);
            let done: i64 = dispatch!(tx, c => report_days::table
                .filter(report_days::day.eq(&key))
                .count()
                .get_result(c))?;
            if done > 0 {
                return Ok(false);
            }
            let mut rows = Vec::new();
            for address in [
                AddressColumns::Permanent,
                AddressColumns::CurrentElsePermanent,
            ] {
                for wards in [false, true] {
                    let q = IssuanceCountQuery {
                        from: d.from,
                        to: d.to,
                        utc_offset_minutes: d.utc_offset_minutes,
                        bucket: Bucket::Day,
                        wards,
                        address,
                        province: None,
                    };
                    let flows = tx.issuance_flows(&q, true)?;
                    let mut places: std::collections::BTreeMap<(String, String), [i64; 3]> =
                        Default::default();
                    for (list, i) in [(&flows.issued, 0), (&flows.accepted, 1), (&flows.ended, 2)] {
                        for c in list {
                            places
                                .entry((c.province.clone(), c.ward.clone()))
                                .or_default()[i] += c.n;
                        }
                    }
                    rows.extend(places.into_iter().map(|((province, ward), n)| DayCountRow {
                        day: key.clone(),
                        address: address.as_str(),
                        wards,
                        province,
                        ward,
                        issued: n[0],
                        accepted: n[1],
                        ended: n[2],
                    }));
                }
            }
            dispatch!(tx, c => {
                diesel::insert_into(report_days::table)
                    .values((report_days::day.eq(&key), report_days::summarised_at.eq(now)))
                    .execute(c)?;
                // Within both dialects' limits on bound parameters (8 per row).
                for chunk in rows.chunks(1000) {
                    diesel::insert_into(report_day_counts::table).values(chunk).execute(c)?;
                }
                Ok::<_, diesel::result::Error>(())
            })?;
            Ok(true)
        };
        self.bookkeeping_blocking(|tx| match &mut tx.conn {
            Conn::Sqlite(c) => c.immediate_transaction(|c| run(&mut Tx::new(Conn::Sqlite(c)))),
            Conn::Pg(c) => c
                .build_transaction()
                .serializable()
                .run(|c| run(&mut Tx::new(Conn::Pg(c)))),
        })
    }
}
