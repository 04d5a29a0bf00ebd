//! The day's figures the dashboard shows, counted where each fact is recorded.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    acceptance_records, audit_events, certificates, contracts, video_call_outcomes,
};
use super::{dispatch, StoreError, Tx};
use crate::states::certificate::CertificateStatus;

/// Counts for one period `[from, to)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayFigures {
    pub intake: i64,
    /// Approved video calls plus applications verified without one (VNeID level 2).
    pub verified: i64,
    pub contracts_signed: i64,
    pub certificates_issued: i64,
    pub accepted: i64,
    pub revoked: i64,
}

impl Tx<'_> {
    pub fn day_figures(
        &mut self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<DayFigures, StoreError> {
        let intake = self.count_enrolments_created(from, to)?;
        let approved: i64 = dispatch!(self, c => video_call_outcomes::table
            .filter(video_call_outcomes::outcome.eq("approved"))
            .filter(video_call_outcomes::decided_at.ge(from))
            .filter(video_call_outcomes::decided_at.lt(to))
            .count()
            .get_result(c))?;
        // Verification without a call (VNeID level 2, at submission or when the documents
        // complete) is recorded only in these events (canonical JSON, keys sorted, so the
        // fragment is exact): `status` at submission, `to` in a routing move (`status` in
        // routing events written before enrolment moves had one shape).
        let routed_verified: i64 = dispatch!(self, c => audit_events::table
            .filter(audit_events::action.eq_any(["enrolment.submitted", "enrolment.routed"]))
            .filter(audit_events::at.ge(from))
            .filter(audit_events::at.lt(to))
            .filter(
                audit_events::details
                    .like("%\"status\":\"verified\"%")
                    .or(audit_events::details.like("%\"to\":\"verified\"%")),
            )
            .count()
            .get_result(c))?;
        let contracts_signed: i64 = dispatch!(self, c => contracts::table
            .filter(contracts::signed_at.assume_not_null().ge(from))
            .filter(contracts::signed_at.assume_not_null().lt(to))
            .count()
            .get_result(c))?;
        let certificates_issued = self.count_certificates_signed(from, to)?;
        let accepted: i64 = dispatch!(self, c => acceptance_records::table
            .filter(acceptance_records::status.eq("accepted"))
            .filter(acceptance_records::decided_at.assume_not_null().ge(from))
            .filter(acceptance_records::decided_at.assume_not_null().lt(to))
            .count()
            .get_result(c))?;
        let revoked: i64 = dispatch!(self, c => certificates::table
            .filter(certificates::status.eq(CertificateStatus::Revoked))
            .filter(certificates::revoked_at.assume_not_null().ge(from))
            .filter(certificates::revoked_at.assume_not_null().lt(to))
            .count()
            .get_result(c))?;
        Ok(DayFigures {
            intake,
            verified: approved + routed_verified,
            contracts_signed,
            certificates_issued,
            accepted,
            revoked,
        })
    }

    /// Certificates signed in `[from, to)` (the issuance chart, one call per day).
    pub fn count_certificates_signed(
        &mut self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<i64, StoreError> {
        Ok(dispatch!(self, c => certificates::table
            .filter(certificates::signed_at.assume_not_null().ge(from))
            .filter(certificates::signed_at.assume_not_null().lt(to))
            .count()
            .get_result(c))?)
    }
}
