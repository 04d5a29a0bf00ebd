//! The citizen's documents as PDF: inserted once, never updated or deleted (triggers).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::pdf_documents;
use super::{dispatch, StoreError, Tx};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = pdf_documents)]
pub struct PdfDocumentRow {
    /// `contract_draft`, `contract_signed`, `acceptance_record` or `acceptance_signed`.
    pub kind: String,
    /// The contract id or the certificate serial.
    pub subject: String,
    pub template_version: String,
    pub document: Vec<u8>,
    pub document_sha256: String,
    pub created_at: NaiveDateTime,
}

impl Tx<'_> {
    /// `Conflict` when the document exists already (made meanwhile by another request).
    pub fn insert_pdf_document(&mut self, row: &PdfDocumentRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(pdf_documents::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn pdf_document(
        &mut self,
        kind: &str,
        subject: &str,
    ) -> Result<Option<PdfDocumentRow>, StoreError> {
        Ok(dispatch!(self, c => pdf_documents::table
            .find((kind, subject))
            .select(PdfDocumentRow::as_select())
            .first(c)
            .optional())?)
    }
}
