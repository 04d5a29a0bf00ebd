//! Remembered answers to retried requests (`Idempotency-Key`), for any endpoint that creates
//! something. The caller stores the answer in the same transaction as the change it reports.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotency_keys;
use super::{dispatch, StoreError, Tx};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRow {
    pub principal: String,
    pub idempotency_key: String,
    pub operation: String,
    pub request_sha256: String,
    pub response_status: i32,
    pub response_body: String,
    pub created_at: NaiveDateTime,
}

impl Tx<'_> {
    pub fn idempotency_record(
        &mut self,
        principal: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRow>, StoreError> {
        Ok(dispatch!(self, c => idempotency_keys::table
            .find((principal, key))
            .select(IdempotencyRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Fails with [`StoreError::Conflict`] when the key was stored meanwhile (a concurrent
    /// retry); the caller then reads the stored answer.
    pub fn insert_idempotency_record(&mut self, row: &IdempotencyRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(idempotency_keys::table).values(row).execute(c))?;
        Ok(())
    }

    /// Replaces the answer of `(principal, key)` if it is still `from` (status, body): an
    /// issuance claim being answered or taken over. False when it changed meanwhile.
    pub fn replace_idempotency_answer(
        &mut self,
        principal: &str,
        key: &str,
        from: (i32, &str),
        to: (i32, &str),
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                idempotency_keys::table
                    .find((principal, key))
                    .filter(idempotency_keys::response_status.eq(from.0))
                    .filter(idempotency_keys::response_body.eq(from.1)),
            )
            .set((
                idempotency_keys::response_status.eq(to.0),
                idempotency_keys::response_body.eq(to.1),
            ))
            .execute(c))?;
        Ok(n == 1)
    }
}
