//! Certificate rows: recorded with their to-be-signed bytes before signing (kept until the
//! signed DER replaces them).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::certificates;
use super::{dispatch, StoreError, Tx};
use crate::states::certificate::{CertificateStatus, Move};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = certificates)]
pub struct CertificateRow {
    pub serial: String,
    pub ca_name: String,
    pub enrolment_id: String,
    pub package_code: String,
    pub status: CertificateStatus,
    pub subject_dn: String,
    pub spki_sha256: String,
    pub key_description: String,
    pub not_before: NaiveDateTime,
    pub not_after: NaiveDateTime,
    pub crl_shard: i32,
    pub tbs_der: Vec<u8>,
    pub cert_der: Option<Vec<u8>>,
    pub created_at: NaiveDateTime,
    pub signed_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revocation_reason: Option<String>,
    /// The certificate this one replaces (renewal or rekey) once accepted.
    pub supersedes: Option<String>,
}

impl Tx<'_> {
    /// Records a certificate about to be signed. `Conflict("certificates_spki")` when the key
    /// was certified before (or is being certified); `Conflict` on the primary key for a (vanishingly unlikely)
    /// serial collision.
    pub fn insert_certificate(&mut self, row: &CertificateRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(certificates::table).values(row).execute(c))?;
        Ok(())
    }

    /// Stores the signature's result, moving `signing` to `pending_acceptance`. False when the
    /// row was not in `signing` (it is never signed twice). The recorded TBS is emptied: it
    /// was kept only so a `signing` row says exactly what may have been signed, and the DER
    /// now holds it (a third of a certificate row's bytes at national scale).
    pub fn record_signed_certificate(
        &mut self,
        serial: &str,
        cert_der: &[u8],
        at: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => super::cached::RecordSigned {
            serial,
            cert_der,
            at,
        }
        .execute(c))?;
        Ok(n == 1)
    }

    pub fn certificate(&mut self, serial: &str) -> Result<Option<CertificateRow>, StoreError> {
        Ok(dispatch!(self, c => certificates::table
            .find(serial)
            .select(CertificateRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn certificates_for_enrolment(
        &mut self,
        enrolment_id: &str,
    ) -> Result<Vec<CertificateRow>, StoreError> {
        Ok(dispatch!(self, c => certificates::table
            .filter(certificates::enrolment_id.eq(enrolment_id))
            .order(certificates::created_at.asc())
            .select(CertificateRow::as_select())
            .load(c))?)
    }

    /// Rows left in `signing` before `cutoff`: a crash between record and sign.
    pub fn stale_signing_certificates(
        &mut self,
        cutoff: NaiveDateTime,
    ) -> Result<Vec<String>, StoreError> {
        Ok(dispatch!(self, c => certificates::table
            .filter(certificates::status.eq(CertificateStatus::Signing))
            .filter(certificates::created_at.lt(cutoff))
            .select(certificates::serial)
            .load(c))?)
    }

    /// Revokes a certificate that was recorded but whose signature may or may not exist.
    pub fn revoke_unsigned(
        &mut self,
        serial: &str,
        at: NaiveDateTime,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                certificates::table
                    .find(serial)
                    .filter(certificates::status.eq_any(Move::RevokeUnsigned.from())),
            )
            .set((
                certificates::status.eq(Move::RevokeUnsigned.to()),
                certificates::revoked_at.eq(Some(at)),
                certificates::revocation_reason.eq(Some(reason)),
                // Never signed (a `signing` row has no certificate): its key may be certified
                // again (`certificates_spki`).
                certificates::key_released.eq(true),
            ))
            .execute(c))?;
        Ok(n == 1)
    }
}

impl Tx<'_> {
    /// The subscriber's decision, [`Move::Accept`] or [`Move::Reject`] (with a revocation
    /// reason). False when the certificate was not pending acceptance (decided meanwhile).
    pub fn decide_pending_certificate(
        &mut self,
        serial: &str,
        decision: Move,
        at: NaiveDateTime,
        revocation_reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let revoked_at = revocation_reason.map(|_| at);
        let n = dispatch!(self, c => diesel::update(
                certificates::table
                    .find(serial)
                    .filter(certificates::status.eq_any(decision.from())),
            )
            .set((
                certificates::status.eq(decision.to()),
                certificates::revoked_at.eq(revoked_at),
                certificates::revocation_reason.eq(revocation_reason),
            ))
            .execute(c))?;
        Ok(n == 1)
    }

    /// Serials of certificates awaiting acceptance, signed before `cutoff`, oldest first.
    pub fn pending_acceptance_signed_before(
        &mut self,
        cutoff: NaiveDateTime,
    ) -> Result<Vec<String>, StoreError> {
        Ok(dispatch!(self, c => certificates::table
            .filter(certificates::status.eq(CertificateStatus::PendingAcceptance))
            .filter(certificates::signed_at.lt(cutoff))
            .order(certificates::signed_at.asc())
            .select(certificates::serial)
            .load(c))?)
    }
}

/// A certificate near or past the end of its validity, for the expiry job.
#[derive(Clone, Debug, Queryable)]
pub struct EndingCertificate {
    pub serial: String,
    pub enrolment_id: String,
    pub not_after: NaiveDateTime,
}

impl Tx<'_> {
    /// Certificates recorded to replace `serial` (renewals and rekeys), oldest first.
    pub fn certificates_superseding(
        &mut self,
        serial: &str,
    ) -> Result<Vec<CertificateRow>, StoreError> {
        Ok(dispatch!(self, c => certificates::table
            .filter(certificates::supersedes.eq(serial))
            .order(certificates::created_at.asc())
            .select(CertificateRow::as_select())
            .load(c))?)
    }

    /// Certificates in one of `statuses` whose notAfter is before `before`, soonest first, at
    /// most `limit`: the expiry job's due list.
    pub fn certificates_ended(
        &mut self,
        statuses: &[CertificateStatus],
        before: NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<EndingCertificate>, StoreError> {
        Ok(dispatch!(self, c => certificates::table
            .filter(certificates::status.eq_any(statuses))
            .filter(certificates::not_after.lt(before))
            .order(certificates::not_after.asc())
            .limit(limit)
            .select((
                certificates::serial,
                certificates::enrolment_id,
                certificates::not_after,
            ))
            .load(c))?)
    }

    /// `active` certificates ending in `(after, before)` that got no expiry reminder of
    /// `days_before` or fewer days yet, soonest first, at most `limit`.
    pub fn certificates_due_reminder(
        &mut self,
        after: NaiveDateTime,
        before: NaiveDateTime,
        days_before: i32,
        limit: i64,
    ) -> Result<Vec<EndingCertificate>, StoreError> {
        use super::schema::expiry_reminders as r;
        Ok(dispatch!(self, c => certificates::table
            .filter(certificates::status.eq(CertificateStatus::Active))
            .filter(certificates::not_after.gt(after))
            .filter(certificates::not_after.lt(before))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                r::table
                    .filter(r::serial.eq(certificates::serial))
                    .filter(r::days_before.le(days_before)),
            )))
            .order(certificates::not_after.asc())
            .limit(limit)
            .select((
                certificates::serial,
                certificates::enrolment_id,
                certificates::not_after,
            ))
            .load(c))?)
    }

    /// [`Move::Expire`] once `now` is past notAfter. The revocation columns stay as they were
    /// (a suspended certificate keeps its hold). False when the move does not apply (any
    /// more) or it is still valid.
    pub fn expire_certificate(
        &mut self,
        serial: &str,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                certificates::table
                    .find(serial)
                    .filter(certificates::status.eq_any(Move::Expire.from()))
                    .filter(certificates::not_after.lt(now)),
            )
            .set(certificates::status.eq(Move::Expire.to()))
            .execute(c))?;
        Ok(n == 1)
    }
}
