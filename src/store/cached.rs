//! UPDATE statements that stay prepared. Diesel prepares every `diesel::update` again on each
//! call (an `UpdateStatement` marks itself unsafe to cache: a changeset's SQL may depend on its
//! values), and on `certificates` that means compiling the status trigger each time too. The
//! UPDATEs run for every certificate issued, every audit event, every enrolment move and every
//! outbox claim and delivery are written here with fixed SQL and a static query id, so the
//! connection's statement cache keeps them (measured: ~6 % of the CPU of batched issuance, and
//! ~5 % of the server's under HTTP issuance, was SQLite preparing them).

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, Integer, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

use crate::states::certificate::{CertificateStatus, Move};

/// A static query id (the statement cache keys it by type, so it is prepared once per
/// connection) and `execute`.
macro_rules! kept_prepared {
    ($t:ident) => {
        impl QueryId for $t<'_> {
            type QueryId = $t<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<C> RunQueryDsl<C> for $t<'_> {}
    };
}

/// `UPDATE certificates SET status = 'pending_acceptance', cert_der = ?, tbs_der = '',
/// signed_at = ? WHERE serial = ? AND status = 'signing'`: a signed certificate stored
/// (`Tx::record_signed_certificate`), its TBS copy emptied (the DER holds it). `Move::Sign`
/// applies to `signing` alone.
pub(super) struct RecordSigned<'a> {
    pub serial: &'a str,
    pub cert_der: &'a [u8],
    pub at: NaiveDateTime,
}

impl<DB> QueryFragment<DB> for RecordSigned<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    [u8]: ToSql<Binary, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE certificates SET status = ");
        out.push_bind_param::<Text, str>(Move::Sign.to().as_str())?;
        out.push_sql(", cert_der = ");
        out.push_bind_param::<Binary, [u8]>(self.cert_der)?;
        out.push_sql(", tbs_der = ");
        out.push_bind_param::<Binary, [u8]>(&[])?;
        out.push_sql(", signed_at = ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.at)?;
        out.push_sql(" WHERE serial = ");
        out.push_bind_param::<Text, str>(self.serial)?;
        out.push_sql(" AND status = ");
        out.push_bind_param::<Text, str>(CertificateStatus::Signing.as_str())?;
        Ok(())
    }
}

kept_prepared!(RecordSigned);

/// `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`: the chain's head moved on by an
/// event (`Tx::audit` on SQLite).
pub(super) struct MoveAuditHead<'a> {
    pub seq: i64,
    pub hash: &'a str,
}

impl<DB> QueryFragment<DB> for MoveAuditHead<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE audit_head SET seq = ");
        out.push_bind_param::<BigInt, i64>(&self.seq)?;
        out.push_sql(", hash = ");
        out.push_bind_param::<Text, str>(self.hash)?;
        out.push_sql(" WHERE id = 1");
        Ok(())
    }
}

kept_prepared!(MoveAuditHead);

/// `UPDATE outbox_messages SET claimed_until = ?, claim_token = ? WHERE id IN (SELECT id …
/// LIMIT ?)`: the dispatcher's claim on the next due messages (`Store::claim_outbox`), run
/// on every round of the dispatcher. PostgreSQL skips rows another process's claim has locked.
pub(super) struct ClaimOutbox<'a> {
    pub now: NaiveDateTime,
    pub lease_until: NaiveDateTime,
    pub token: &'a str,
    pub limit: i64,
    /// `FOR UPDATE SKIP LOCKED` (PostgreSQL); fixed per connection, so one statement each.
    pub skip_locked: bool,
}

impl<DB> QueryFragment<DB> for ClaimOutbox<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE outbox_messages SET claimed_until = ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.lease_until)?;
        out.push_sql(", claim_token = ");
        out.push_bind_param::<Text, str>(self.token)?;
        // `urgent IN (…)` lets SQLite search the due index as two ranges, urgent then not,
        // each bounded by `next_attempt_at`; without it, it walked every urgent message not
        // yet due (codes in backoff during a gateway outage: ~1 ms a claim for 10,000).
        out.push_sql(
            " WHERE id IN (SELECT id FROM outbox_messages \
             WHERE status = 'pending' AND urgent IN (TRUE, FALSE) AND next_attempt_at <= ",
        );
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.now)?;
        out.push_sql(" AND (claimed_until IS NULL OR claimed_until <= ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.now)?;
        out.push_sql(") ORDER BY urgent DESC, next_attempt_at LIMIT ");
        out.push_bind_param::<BigInt, i64>(&self.limit)?;
        if self.skip_locked {
            out.push_sql(" FOR UPDATE SKIP LOCKED");
        }
        out.push_sql(")");
        Ok(())
    }
}

kept_prepared!(ClaimOutbox);

/// `UPDATE enrolments SET status = ?, verified_by = COALESCE(?, verified_by), updated_at = ?
/// WHERE id = ? AND status = ?`: an enrolment's conditional move (`Tx::set_enrolment_status`),
/// run by every step of the citizen's path.
pub(super) struct MoveEnrolment<'a> {
    pub id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// Kept as it was when `None`.
    pub verified_by: Option<&'a str>,
    pub at: NaiveDateTime,
}

impl<DB> QueryFragment<DB> for MoveEnrolment<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    for<'x> Option<&'x str>: ToSql<Nullable<Text>, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE enrolments SET status = ");
        out.push_bind_param::<Text, str>(self.to)?;
        out.push_sql(", verified_by = COALESCE(");
        out.push_bind_param::<Nullable<Text>, Option<&str>>(&self.verified_by)?;
        out.push_sql(", verified_by), updated_at = ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.at)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Text, str>(self.id)?;
        out.push_sql(" AND status = ");
        out.push_bind_param::<Text, str>(self.from)?;
        Ok(())
    }
}

kept_prepared!(MoveEnrolment);

/// `UPDATE outbox_messages SET status = 'sent', … WHERE id = ? AND claim_token = ? AND status
/// = 'pending'`: a delivered message recorded (`Tx::finish_outbox_attempt`), its sealed
/// payload emptied and its claim released.
pub(super) struct OutboxSent<'a> {
    pub id: &'a str,
    pub token: &'a str,
    pub attempts: i32,
    pub at: NaiveDateTime,
}

impl<DB> QueryFragment<DB> for OutboxSent<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    [u8]: ToSql<Binary, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE outbox_messages SET status = 'sent', attempts = ");
        out.push_bind_param::<Integer, i32>(&self.attempts)?;
        out.push_sql(", sent_at = ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.at)?;
        out.push_sql(", payload_sealed = ");
        out.push_bind_param::<Binary, [u8]>(&[])?;
        out.push_sql(
            ", last_error = NULL, claimed_until = NULL, claim_token = NULL \
             WHERE id = ",
        );
        out.push_bind_param::<Text, str>(self.id)?;
        out.push_sql(" AND claim_token = ");
        out.push_bind_param::<Text, str>(self.token)?;
        out.push_sql(" AND status = 'pending'");
        Ok(())
    }
}

kept_prepared!(OutboxSent);
