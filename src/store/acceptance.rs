//! Acceptance records: the document a citizen confirms before the certificate is valid.
//! Updates are conditional on `status = 'pending'`; triggers refuse any other change.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::acceptance_records;
use super::{dispatch, StoreError, Tx};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = acceptance_records)]
pub struct AcceptanceRow {
    pub serial: String,
    pub enrolment_id: String,
    pub contract_id: String,
    pub template_version: String,
    pub document: Vec<u8>,
    pub document_sha256: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub reminders_sent: i32,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<String>,
    pub otp_challenge_id: Option<String>,
    pub otp_channel: Option<String>,
    pub otp_masked_destination: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub rejection_reason: Option<String>,
}

/// How a pending record is closed.
pub struct AcceptanceDecision<'a> {
    /// `accepted`, `rejected` or `expired`.
    pub status: &'a str,
    pub decided_at: NaiveDateTime,
    pub decided_by: &'a str,
    pub otp_challenge_id: Option<&'a str>,
    pub otp_channel: Option<&'a str>,
    pub otp_masked_destination: Option<&'a str>,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub rejection_reason: Option<&'a str>,
}

impl Tx<'_> {
    /// `Conflict` when a record for the serial exists (made meanwhile by another request).
    pub fn insert_acceptance_record(&mut self, row: &AcceptanceRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(acceptance_records::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn acceptance_record(&mut self, serial: &str) -> Result<Option<AcceptanceRow>, StoreError> {
        Ok(dispatch!(self, c => acceptance_records::table
            .find(serial)
            .select(AcceptanceRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Closes a pending record. False when it was not pending (decided meanwhile).
    pub fn decide_acceptance_record(
        &mut self,
        serial: &str,
        d: &AcceptanceDecision<'_>,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                acceptance_records::table
                    .find(serial)
                    .filter(acceptance_records::status.eq("pending")),
            )
            .set((
                acceptance_records::status.eq(d.status),
                acceptance_records::decided_at.eq(Some(d.decided_at)),
                acceptance_records::decided_by.eq(Some(d.decided_by)),
                acceptance_records::otp_challenge_id.eq(d.otp_challenge_id),
                acceptance_records::otp_channel.eq(d.otp_channel),
                acceptance_records::otp_masked_destination.eq(d.otp_masked_destination),
                acceptance_records::client_ip.eq(d.client_ip),
                acceptance_records::user_agent.eq(d.user_agent),
                acceptance_records::rejection_reason.eq(d.rejection_reason),
            ))
            .execute(c))?;
        Ok(n == 1)
    }

    /// Sets the reminder count from `seen` to `to`; conditional on `seen`, so two job runs
    /// send a reminder once.
    pub fn count_acceptance_reminder(
        &mut self,
        serial: &str,
        seen: i32,
        to: i32,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                acceptance_records::table
                    .find(serial)
                    .filter(acceptance_records::status.eq("pending"))
                    .filter(acceptance_records::reminders_sent.eq(seen)),
            )
            .set(acceptance_records::reminders_sent.eq(to))
            .execute(c))?;
        Ok(n == 1)
    }
}
