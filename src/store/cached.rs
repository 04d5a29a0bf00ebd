//! UPDATE statements that stay prepared. Diesel prepares every `diesel::update` again on each
//! call (an `UpdateStatement` marks itself unsafe to cache: a changeset's SQL may depend on its
//! values), and on `certificates` that means compiling the status trigger each time too. The
//! UPDATEs run for every certificate issued and every audit event are written here with fixed
//! SQL and a static query id, so the connection's statement cache keeps them (measured: ~6 %
//! of the CPU of batched issuance was SQLite preparing them).

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

use crate::states::certificate::{CertificateStatus, Move};

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

impl QueryId for RecordSigned<'_> {
    type QueryId = RecordSigned<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C> RunQueryDsl<C> for RecordSigned<'_> {}

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

impl QueryId for MoveAuditHead<'_> {
    type QueryId = MoveAuditHead<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C> RunQueryDsl<C> for MoveAuditHead<'_> {}
