//! The master key's check value: one row, read and (once) written at start.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{audit_head, audit_pending, master_key_check};
use super::{dispatch, StoreError, Tx};

/// What a start needs to decide about the master key.
pub struct KeyCheckState {
    /// The stored check value; `None` on first run and on databases from before the check.
    pub check_value: Option<String>,
    /// Nothing was ever written (every write appends to the audit chain, so its head is 0).
    pub empty: bool,
}

impl Tx<'_> {
    pub fn master_key_check(&mut self) -> Result<KeyCheckState, StoreError> {
        let (check_value, head_seq, pending) = dispatch!(self, c => {
            let value = master_key_check::table
                .find(1)
                .select(master_key_check::check_value)
                .first::<String>(c)
                .optional()?;
            let seq = audit_head::table
                .find(1)
                .select(audit_head::seq)
                .first::<i64>(c)?;
            // Committed events not yet chained (PostgreSQL) count as history too.
            let pending = audit_pending::table
                .select(audit_pending::id)
                .first::<i64>(c)
                .optional()?;
            (value, seq, pending)
        });
        Ok(KeyCheckState {
            empty: check_value.is_none() && head_seq == 0 && pending.is_none(),
            check_value,
        })
    }

    /// Stores the check value; `StoreError::Conflict` when another process stored one first.
    pub fn insert_master_key_check(
        &mut self,
        check_value: &str,
        at: NaiveDateTime,
    ) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(master_key_check::table)
            .values((
                master_key_check::id.eq(1),
                master_key_check::check_value.eq(check_value),
                master_key_check::created_at.eq(at),
            ))
            .execute(c)?);
        Ok(())
    }
}
