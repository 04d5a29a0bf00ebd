//! Aggregates for the adoption reports: certificate counts grouped in the database by local
//! day or month and by the enrolment's address. The few expressions that differ between the
//! dialects (date formatting, parameter markers) are chosen here; the queries are otherwise the
//! same text on both.
//!
//! Each query is driven by a range on one indexed time column (migrations 000010, 000011) and joins
//! the enrolment by primary key, so its cost follows the rows in the range, not the table.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::{dispatch, Conn, StoreError, Tx};

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

/// A count in one place at one instant.
#[derive(Clone, Debug, PartialEq, Eq, QueryableByName)]
pub struct PlaceCount {
    #[diesel(sql_type = Text)]
    pub province: String,
    #[diesel(sql_type = Text)]
    pub ward: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// The raw figures a report is built from. A certificate is *active* from its acceptance
/// until it ends: revoked or suspended (`revoked_at`) or expired (`not_after`), whichever
/// comes first.
#[derive(Clone, Debug, Default)]
pub struct IssuanceCounts {
    /// Certificates signed in each period.
    pub issued: Vec<PeriodCount>,
    /// Acceptance records confirmed in each period: certificates that became active.
    pub accepted: Vec<PeriodCount>,
    /// Accepted certificates that stopped being active in each period.
    pub ended: Vec<PeriodCount>,
    /// Certificates active at `from`.
    pub active_at_start: Vec<PlaceCount>,
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
    pub fn issuance_counts(
        &mut self,
        q: &IssuanceCountQuery,
    ) -> Result<IssuanceCounts, StoreError> {
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
        let active_at_start = {
            let parts = Parts::new(&self.conn, q, "c.not_after");
            let p = parts.p;
            // Driven by the certificates unexpired at `from` (not_after index): at most the
            // longest validity's worth of issuance, however long the history. `{p}2 IS NOT
            // NULL` only references the second of the three parameters every query binds.
            format!(
                "SELECT {province} AS province, {ward} AS ward, COUNT(*) AS n \
                 FROM certificates c JOIN enrolments e ON e.id = c.enrolment_id \
                 WHERE c.not_after >= {p}1 AND (c.revoked_at IS NULL OR c.revoked_at >= {p}1) \
                 AND EXISTS (SELECT 1 FROM acceptance_records a WHERE a.serial = c.serial \
                   AND a.status = 'accepted' AND a.decided_at < {p}1) \
                 AND {p}2 IS NOT NULL AND {filter} GROUP BY {group_by}",
                province = parts.province,
                ward = parts.ward,
                filter = parts.province_filter(),
                group_by = if q.wards { "1, 2" } else { "1" },
            )
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
        Ok(IssuanceCounts {
            issued: load!(&issued, PeriodCount),
            accepted: load!(&accepted, PeriodCount),
            ended: load!(&ended, PeriodCount),
            active_at_start: load!(&active_at_start, PlaceCount),
        })
    }
}
