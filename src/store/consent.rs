//! The citizen's act of consent at the desk (`consent_evidence`), one row per counter
//! enrolment, written with it.

use diesel::prelude::*;

use super::schema::consent_evidence;
use super::{dispatch, StoreError, Tx};

/// How a counter citizen consented and who witnessed it. No `Debug`: the image is sealed
/// personal data.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consent_evidence)]
pub struct ConsentEvidenceRow {
    pub enrolment_id: String,
    /// `signature_pad`.
    pub method: String,
    /// The operator's id.
    pub witnessed_by: String,
    /// The drawn signature (PNG), sealed under `signature_key_id`.
    pub signature_image: Vec<u8>,
    pub signature_key_id: String,
    /// Of the PNG.
    pub signature_sha256: String,
}

impl Tx<'_> {
    pub fn insert_consent_evidence(&mut self, row: &ConsentEvidenceRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(consent_evidence::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn consent_evidence(
        &mut self,
        enrolment_id: &str,
    ) -> Result<Option<ConsentEvidenceRow>, StoreError> {
        Ok(dispatch!(self, c => consent_evidence::table
            .find(enrolment_id)
            .select(ConsentEvidenceRow::as_select())
            .first(c)
            .optional())?)
    }
}
