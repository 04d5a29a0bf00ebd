//! The retention job's queries: each finds or deletes at most `limit` rows through an index
//! on the time it filters on (migration `2026-12-05-005000_retention`), so a run over
//! millions of rows is a series of short transactions.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::{dispatch, Conn, StoreError, Tx};

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

impl Tx<'_> {
    /// Enrolments holding documents whose retention ended before `cutoff`: their acceptance
    /// record was decided (accepted, rejected, expired) before it, or the enrolment closed
    /// without a certificate (`rejected`, `expired`) before it. Driven by the documents'
    /// upload time (a decision always follows the upload), so only documents older than the
    /// retention period are looked at.
    pub fn enrolments_with_documents_due(
        &mut self,
        cutoff: NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let p = marker(&self.conn);
        let sql = format!(
            "SELECT DISTINCT d.enrolment_id AS id FROM enrolment_documents d \
             JOIN enrolments e ON e.id = d.enrolment_id \
             WHERE d.uploaded_at < {p}1 AND ( \
               EXISTS (SELECT 1 FROM acceptance_records a \
                       WHERE a.enrolment_id = d.enrolment_id AND a.decided_at < {p}1) \
               OR (e.status IN ('rejected', 'expired') AND e.updated_at < {p}1)) \
             LIMIT {p}2"
        );
        let rows: Vec<Id> = dispatch!(self, c => diesel::sql_query(&sql)
            .bind::<Timestamp, _>(cutoff)
            .bind::<BigInt, _>(limit)
            .load(c))?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Deletes up to `limit` OTP challenges created before `cutoff`; returns how many.
    pub fn purge_otp_challenges(
        &mut self,
        cutoff: NaiveDateTime,
        limit: i64,
    ) -> Result<usize, StoreError> {
        self.purge(
            "DELETE FROM otp_challenges WHERE id IN ( \
               SELECT id FROM otp_challenges WHERE created_at < {p}1 LIMIT {p}2)",
            cutoff,
            limit,
        )
    }

    /// Deletes up to `limit` delivered (`sent`) outbox messages sent before `cutoff`.
    pub fn purge_sent_outbox(
        &mut self,
        cutoff: NaiveDateTime,
        limit: i64,
    ) -> Result<usize, StoreError> {
        self.purge(
            "DELETE FROM outbox_messages WHERE id IN ( \
               SELECT id FROM outbox_messages \
               WHERE status = 'sent' AND sent_at < {p}1 LIMIT {p}2)",
            cutoff,
            limit,
        )
    }

    /// Deletes up to `limit` remembered `Idempotency-Key` answers stored before `cutoff`.
    pub fn purge_idempotency_records(
        &mut self,
        cutoff: NaiveDateTime,
        limit: i64,
    ) -> Result<usize, StoreError> {
        self.purge(
            "DELETE FROM idempotency_keys WHERE (principal, idempotency_key) IN ( \
               SELECT principal, idempotency_key FROM idempotency_keys \
               WHERE created_at < {p}1 LIMIT {p}2)",
            cutoff,
            limit,
        )
    }

    /// Deletes up to `limit` VNeID registration `jti`s whose token expired before `cutoff`.
    pub fn purge_vneid_jtis(
        &mut self,
        cutoff: NaiveDateTime,
        limit: i64,
    ) -> Result<usize, StoreError> {
        self.purge(
            "DELETE FROM vneid_jtis WHERE jti IN ( \
               SELECT jti FROM vneid_jtis WHERE expires_at < {p}1 LIMIT {p}2)",
            cutoff,
            limit,
        )
    }

    /// Runs a bounded `DELETE` (diesel's DSL has no `LIMIT` in a subquery) with the
    /// dialect's numbered parameters, `{p}1` the cutoff and `{p}2` the limit.
    fn purge(
        &mut self,
        template: &str,
        cutoff: NaiveDateTime,
        limit: i64,
    ) -> Result<usize, StoreError> {
        let sql = template.replace("{p}", marker(&self.conn));
        Ok(dispatch!(self, c => diesel::sql_query(&sql)
            .bind::<Timestamp, _>(cutoff)
            .bind::<BigInt, _>(limit)
            .execute(c))?)
    }
}

/// Numbered parameters: `?N` in SQLite, `$N` in PostgreSQL.
fn marker(conn: &Conn<'_>) -> &'static str {
    match conn {
        Conn::Sqlite(_) => "?",
        Conn::Pg(_) => "$",
    }
}
