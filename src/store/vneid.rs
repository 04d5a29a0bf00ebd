//! The VNeID hub connector's rows: registrations (one per hub transaction, with the hash of its
//! one-time hand-over token), the `jti`s seen, and the status callbacks it queues in the outbox.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use super::schema::{enrolments, vneid_jtis, vneid_registrations};
use super::{dispatch, OutboxRow, StoreError, Tx};

/// The outbox channel of the callbacks to the hub.
pub const HUB_CHANNEL: &str = "vneid_hub";

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = vneid_registrations)]
pub struct VneidRegistrationRow {
    pub transaction_id: String,
    pub enrolment_id: String,
    /// Fingerprint of the citizen data: a transaction repeated with other data is refused.
    pub request_sha256: String,
    pub handover_sha256: String,
    pub handover_expires_at: NaiveDateTime,
    pub handed_over_at: Option<NaiveDateTime>,
    /// The integration whose key redeemed the hand-over token.
    pub handed_over_to: Option<String>,
    pub created_at: NaiveDateTime,
}

impl Tx<'_> {
    /// Records a registration's `jti`; false when it was seen before (a replay).
    pub fn record_vneid_jti(
        &mut self,
        jti: &str,
        expires_at: NaiveDateTime,
        at: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let seen: i64 = dispatch!(self, c => vneid_jtis::table
            .filter(vneid_jtis::jti.eq(jti))
            .count()
            .get_result(c))?;
        if seen > 0 {
            return Ok(false);
        }
        // A concurrent insert of the same jti fails on the primary key (`Conflict`).
        dispatch!(self, c => diesel::insert_into(vneid_jtis::table)
            .values((
                vneid_jtis::jti.eq(jti),
                vneid_jtis::expires_at.eq(expires_at),
                vneid_jtis::created_at.eq(at),
            ))
            .execute(c))?;
        Ok(true)
    }

    pub fn vneid_registration(
        &mut self,
        transaction_id: &str,
    ) -> Result<Option<VneidRegistrationRow>, StoreError> {
        Ok(dispatch!(self, c => vneid_registrations::table
            .find(transaction_id)
            .select(VneidRegistrationRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn vneid_registration_by_enrolment(
        &mut self,
        enrolment_id: &str,
    ) -> Result<Option<VneidRegistrationRow>, StoreError> {
        Ok(dispatch!(self, c => vneid_registrations::table
            .filter(vneid_registrations::enrolment_id.eq(enrolment_id))
            .select(VneidRegistrationRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn vneid_registration_by_handover(
        &mut self,
        handover_sha256: &str,
    ) -> Result<Option<VneidRegistrationRow>, StoreError> {
        Ok(dispatch!(self, c => vneid_registrations::table
            .filter(vneid_registrations::handover_sha256.eq(handover_sha256))
            .select(VneidRegistrationRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn insert_vneid_registration(
        &mut self,
        row: &VneidRegistrationRow,
    ) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(vneid_registrations::table)
            .values(row)
            .execute(c))?;
        Ok(())
    }

    /// Replaces a hand-over token not redeemed yet; false once it was redeemed.
    pub fn renew_vneid_handover(
        &mut self,
        transaction_id: &str,
        handover_sha256: &str,
        expires_at: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                vneid_registrations::table
                    .find(transaction_id)
                    .filter(vneid_registrations::handed_over_at.is_null()),
            )
            .set((
                vneid_registrations::handover_sha256.eq(handover_sha256),
                vneid_registrations::handover_expires_at.eq(expires_at),
            ))
            .execute(c))?;
        Ok(n == 1)
    }

    /// Redeems a hand-over token once: the registration is marked and its enrolment passes to
    /// `integration_id`. False when it was redeemed meanwhile.
    pub fn redeem_vneid_handover(
        &mut self,
        transaction_id: &str,
        enrolment_id: &str,
        integration_id: &str,
        at: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                vneid_registrations::table
                    .find(transaction_id)
                    .filter(vneid_registrations::handed_over_at.is_null()),
            )
            .set((
                vneid_registrations::handed_over_at.eq(Some(at)),
                vneid_registrations::handed_over_to.eq(Some(integration_id)),
            ))
            .execute(c))?;
        if n != 1 {
            return Ok(false);
        }
        dispatch!(self, c => diesel::update(enrolments::table.find(enrolment_id))
            .set(enrolments::integration_id.eq(Some(integration_id)))
            .execute(c))?;
        Ok(true)
    }

    /// Queues the hub's status callback for `enrolment_id` when it came from the hub (else
    /// does nothing and answers `None`): `status` is `active`, `rejected`, `withdrawn` or
    /// `expired`. The payload names no person (transaction, enrolment, status, serial, time),
    /// so unlike messages to citizens it is stored as JSON, not sealed; the hub connector
    /// signs it at delivery. The caller's audit event covers it. Returns the message id.
    pub fn enqueue_hub_callback(
        &mut self,
        enrolment_id: &str,
        status: &str,
        serial: Option<&str>,
        at: NaiveDateTime,
    ) -> Result<Option<String>, StoreError> {
        let Some(registration) = self.vneid_registration_by_enrolment(enrolment_id)? else {
            return Ok(None);
        };
        let transaction_id = registration.transaction_id;
        let id = super::new_row_id();
        let at_text = at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let payload = json!({
            "transaction_id": transaction_id,
            "enrolment_id": enrolment_id,
            "status": status,
            "certificate_serial": serial,
            "at": at_text,
        });
        self.insert_outbox_message(&OutboxRow {
            id: id.clone(),
            channel: HUB_CHANNEL.into(),
            kind: format!("vneid.{status}"),
            masked_destination: HUB_CHANNEL.into(),
            payload_sealed: payload.to_string().into_bytes(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: at,
            not_after: None,
            claimed_until: None,
            claim_token: None,
            last_error: None,
            created_at: at,
            sent_at: None,
            // The hub is not a person waiting: it hears with the next round.
            urgent: false,
        })?;
        Ok(Some(id))
    }
}
