//! Expiry reminders sent, one row per certificate and reminder.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::expiry_reminders;
use super::{dispatch, StoreError, Tx};

impl Tx<'_> {
    /// The reminders (days before notAfter) sent for `serial`.
    pub fn expiry_reminders_sent(&mut self, serial: &str) -> Result<Vec<i32>, StoreError> {
        Ok(dispatch!(self, c => expiry_reminders::table
            .filter(expiry_reminders::serial.eq(serial))
            .order(expiry_reminders::days_before.desc())
            .select(expiry_reminders::days_before)
            .load(c))?)
    }

    /// Records a reminder; `Conflict` when it was recorded already (another process sent it).
    pub fn insert_expiry_reminder(
        &mut self,
        serial: &str,
        days_before: i32,
        at: NaiveDateTime,
    ) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(expiry_reminders::table)
            .values((
                expiry_reminders::serial.eq(serial),
                expiry_reminders::days_before.eq(days_before),
                expiry_reminders::sent_at.eq(at),
            ))
            .execute(c))?;
        Ok(())
    }
}
