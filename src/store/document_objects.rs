//! Where identity documents' ciphertext lies (#21): the queries of the object-store sweeper
//! and of `ca-enrol documents migrate`, which moves ciphertext between rows and objects.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::schema::enrolment_documents as d;
use super::{dispatch, DocumentRow, StoreError, Tx};

/// How many documents, and how many bytes of images, lie in one place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Placed {
    pub documents: i64,
    pub bytes: i64,
}

/// Where the documents are, for a migration's dry run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// In their rows, under a data key of their own (movable).
    pub in_rows: Placed,
    /// In the object store.
    pub in_objects: Placed,
    /// In their rows, sealed before per-document keys: they stay there (moving them would
    /// not make them shreddable) and leave with their retention.
    pub legacy: Placed,
}

impl Tx<'_> {
    /// Which of `keys` a document row points to (the sweeper deletes the others).
    pub fn referenced_object_keys(&mut self, keys: &[String]) -> Result<Vec<String>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let found: Vec<Option<String>> = dispatch!(self, c => d::table
            .filter(d::object_key.eq_any(keys))
            .select(d::object_key)
            .load(c))?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Up to `limit` documents kept in their rows under a key of their own.
    pub fn documents_in_rows(&mut self, limit: i64) -> Result<Vec<DocumentRow>, StoreError> {
        Ok(dispatch!(self, c => d::table
            .filter(d::object_key.is_null().and(d::key_id.is_not_null()))
            .order((d::enrolment_id.asc(), d::kind.asc()))
            .limit(limit)
            .select(DocumentRow::as_select())
            .load(c))?)
    }

    /// Up to `limit` documents kept in the object store.
    pub fn documents_in_objects(&mut self, limit: i64) -> Result<Vec<DocumentRow>, StoreError> {
        Ok(dispatch!(self, c => d::table
            .filter(d::object_key.is_not_null())
            .order((d::enrolment_id.asc(), d::kind.asc()))
            .limit(limit)
            .select(DocumentRow::as_select())
            .load(c))?)
    }

    /// Points the row at its uploaded object and drops its ciphertext, if it is still the
    /// document that was read (same data key, still in the row). Returns whether it was.
    pub fn move_document_to_object(
        &mut self,
        enrolment_id: &str,
        kind: &str,
        key_id: &str,
        object_key: &str,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
            d::table
                .find((enrolment_id, kind))
                .filter(d::key_id.eq(key_id).and(d::object_key.is_null())),
        )
        .set((d::sealed.eq(None::<Vec<u8>>), d::object_key.eq(object_key)))
        .execute(c))?;
        Ok(n == 1)
    }

    /// Puts the ciphertext back into the row that pointed at `object_key`, if it still does.
    pub fn move_document_to_row(
        &mut self,
        enrolment_id: &str,
        kind: &str,
        object_key: &str,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
            d::table
                .find((enrolment_id, kind))
                .filter(d::object_key.eq(object_key)),
        )
        .set((d::sealed.eq(Some(sealed)), d::object_key.eq(None::<String>)))
        .execute(c))?;
        Ok(n == 1)
    }

    pub fn document_placement(&mut self) -> Result<Placement, StoreError> {
        Ok(Placement {
            in_rows: self.placed("object_key IS NULL AND key_id IS NOT NULL")?,
            in_objects: self.placed("object_key IS NOT NULL")?,
            legacy: self.placed("object_key IS NULL AND key_id IS NULL")?,
        })
    }

    fn placed(&mut self, filter: &'static str) -> Result<Placed, StoreError> {
        // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back for one row type on both.
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS documents, \
             CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) AS bytes \
             FROM enrolment_documents WHERE {filter}"
        );
        let row: PlacedRow = dispatch!(self, c => diesel::sql_query(&sql).get_result(c))?;
        Ok(Placed {
            documents: row.documents,
            bytes: row.bytes,
        })
    }
}

#[derive(QueryableByName)]
struct PlacedRow {
    #[diesel(sql_type = BigInt)]
    documents: i64,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}
