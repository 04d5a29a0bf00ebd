//! The citizen's documents as PDF: inserted once, never updated or deleted (triggers).

use chrono::{DateTime, NaiveDateTime, Utc};
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

/// What [`Tx::pdf_document_version`] reads of a stored document.
pub struct StoredVersion {
    pub sha256: String,
    pub template: String,
}

impl PdfDocumentRow {
    /// A document as stored: its SHA-256 (lower-case hex) is computed here, so the digest
    /// the OTP is bound to and the evidence cite is always that of the stored bytes.
    pub fn new(
        kind: &str,
        subject: &str,
        template_version: &str,
        document: Vec<u8>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            kind: kind.into(),
            subject: subject.into(),
            template_version: template_version.into(),
            document_sha256: crate::secrets::sha256_hex(&document),
            document,
            created_at: at.naive_utc(),
        }
    }
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

    /// A stored document's SHA-256 (what an OTP is bound to) and template (its signed
    /// version's too), without its bytes: reading them would fetch ~100 KB (on PostgreSQL,
    /// decompress its TOAST chunks) for a few characters.
    pub fn pdf_document_version(
        &mut self,
        kind: &str,
        subject: &str,
    ) -> Result<Option<StoredVersion>, StoreError> {
        let found: Option<(String, String)> = dispatch!(self, c => pdf_documents::table
            .find((kind, subject))
            .select((pdf_documents::document_sha256, pdf_documents::template_version))
            .first(c)
            .optional())?;
        Ok(found.map(|(sha256, template)| StoredVersion { sha256, template }))
    }

    /// The kinds stored for `subject` (which versions a page can show), without the bytes.
    pub fn pdf_document_kinds(&mut self, subject: &str) -> Result<Vec<String>, StoreError> {
        Ok(dispatch!(self, c => pdf_documents::table
            .filter(pdf_documents::subject.eq(subject))
            .select(pdf_documents::kind)
            .load::<String>(c))?)
    }
}
