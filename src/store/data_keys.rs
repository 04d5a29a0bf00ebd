//! Wrapped data keys, one per sealed object (identity document, signature image). The rows
//! hold only what the master key unwraps; where the ciphertext lives is the owner's business.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::data_keys;
use super::{dispatch, StoreError, Tx};

/// A data key sealed under the master key. No `Debug`: the wrapped key is key material.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = data_keys)]
pub struct DataKeyRow {
    pub id: String,
    /// `document` or `signature`.
    pub purpose: String,
    pub wrapped: Vec<u8>,
    pub created_at: NaiveDateTime,
}

impl Tx<'_> {
    pub fn insert_data_key(&mut self, row: &DataKeyRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(data_keys::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn data_key(&mut self, id: &str) -> Result<Option<DataKeyRow>, StoreError> {
        Ok(dispatch!(self, c => data_keys::table
            .find(id)
            .select(DataKeyRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Destroys the keys (and with them what they sealed); returns how many existed.
    pub fn delete_data_keys(&mut self, ids: &[String]) -> Result<usize, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(dispatch!(self, c => diesel::delete(
            data_keys::table.filter(data_keys::id.eq_any(ids)),
        )
        .execute(c))?)
    }
}
