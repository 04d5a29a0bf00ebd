//! Enrolments and their encrypted identity documents.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{
    certificates, contracts, destroyed_documents, enrolment_documents, enrolments,
    video_call_outcomes,
};
use super::{dispatch, StoreError, Tx};
use crate::states::enrolment::Status;

/// An enrolment as stored: everything the later steps (contract, certificate subject) need.
/// Sources are the stable strings of `enrolment::Source`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = enrolments)]
pub struct EnrolmentRow {
    pub id: String,
    pub source: String,
    pub status: Status,
    /// The 12-digit personal ID number (certificate `UID=CCCD:…`).
    pub id_number: String,
    /// NFC, as it goes into the certificate `CN`.
    pub full_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: String,
    pub nationality: String,
    pub permanent_address: String,
    /// Ward or commune of the permanent address (certificate `L`).
    pub permanent_ward: String,
    /// Province of the permanent address (certificate `ST`); never derived from the ID number.
    pub permanent_province: String,
    pub current_address: Option<String>,
    pub current_ward: Option<String>,
    pub current_province: Option<String>,
    pub id_issue_date: NaiveDate,
    pub id_issue_place: String,
    pub id_expiry_date: Option<NaiveDate>,
    /// E.164.
    pub phone: String,
    pub email: Option<String>,
    pub consent_version: String,
    pub consent_text_sha256: String,
    pub consent_given_at: NaiveDateTime,
    pub consent_channel: String,
    pub submitted_by: String,
    pub enrolled_by: Option<String>,
    pub verified_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// For a renewal: the certificate it renews (the identity was copied from its enrolment).
    pub renews: Option<String>,
    /// The integration whose API key made it (a renewal: the renewed one's); `None` for a
    /// counter enrolment. Never changes: it decides which keys reach the enrolment.
    pub integration_id: Option<String>,
}

/// An object reached through an enrolment, by its own id: what the integration check reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    Enrolment(String),
    Contract(String),
    /// By serial (lower-case hex).
    Certificate(String),
}

/// An identity document: AES-256-GCM ciphertext under the data key `key_id` (`None`: sealed
/// before per-document keys, under the master key's document sub-key), kept either in the row
/// (`sealed`) or in the object store under `object_key` (exactly one of the two is set).
/// No `Debug`: it holds face data.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = enrolment_documents)]
pub struct DocumentRow {
    pub enrolment_id: String,
    pub kind: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub sealed: Option<Vec<u8>>,
    pub uploaded_at: NaiveDateTime,
    pub key_id: Option<String>,
    pub object_key: Option<String>,
}

/// What a destruction removed, for its audit event: never the content.
#[derive(Clone, Debug, Queryable)]
pub struct DestroyedDocument {
    pub kind: String,
    pub sha256: String,
    pub key_id: Option<String>,
    /// Where its ciphertext lies in the object store: deleted after the commit.
    pub object_key: Option<String>,
}

/// Why an enrolment's documents were destroyed (`destroyed_documents.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestructionReason {
    Withdrawn,
    Retention,
}

impl DestructionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DestructionReason::Withdrawn => "withdrawn",
            DestructionReason::Retention => "retention",
        }
    }
}

impl Tx<'_> {
    /// Fails with [`StoreError::Conflict`] naming `enrolments_one_open` when the ID number
    /// already has an open enrolment.
    pub fn insert_enrolment(&mut self, row: &EnrolmentRow) -> Result<(), StoreError> {
        let folded = enrolments::name_folded.eq(crate::vn::search_key(&row.full_name));
        dispatch!(self, c => diesel::insert_into(enrolments::table)
            .values((row, folded.clone()))
            .execute(c))?;
        Ok(())
    }

    pub fn enrolment_by_id(&mut self, id: &str) -> Result<Option<EnrolmentRow>, StoreError> {
        Ok(dispatch!(self, c => enrolments::table
            .find(id)
            .select(EnrolmentRow::as_select())
            .first(c)
            .optional())?)
    }

    /// An enrolment's status alone (`None`: no such enrolment), for a check that needs no
    /// more: the whole row is some thirty columns to decode.
    pub fn enrolment_status(&mut self, id: &str) -> Result<Option<Status>, StoreError> {
        Ok(dispatch!(self, c => enrolments::table
            .find(id)
            .select(enrolments::status)
            .first::<Status>(c)
            .optional())?)
    }

    /// Who owns the object: `None` when it does not exist, `Some(None)` for an enrolment of no
    /// integration (counter), `Some(Some(id))` otherwise. One indexed read per object kind;
    /// the value never changes once the enrolment exists, so no lock is needed.
    pub fn owner_of(&mut self, object: &Owned) -> Result<Option<Option<String>>, StoreError> {
        let enrolment_id = match object {
            Owned::Enrolment(id) => id.clone(),
            Owned::Contract(id) => match dispatch!(self, c => contracts::table
                .find(id)
                .select(contracts::enrolment_id)
                .first::<String>(c)
                .optional())?
            {
                Some(e) => e,
                None => return Ok(None),
            },
            Owned::Certificate(serial) => match dispatch!(self, c => certificates::table
                .find(serial)
                .select(certificates::enrolment_id)
                .first::<String>(c)
                .optional())?
            {
                Some(e) => e,
                None => return Ok(None),
            },
        };
        Ok(dispatch!(self, c => enrolments::table
            .find(&enrolment_id)
            .select(enrolments::integration_id)
            .first::<Option<String>>(c)
            .optional())?)
    }

    /// The id of the enrolment for `id_number` whose status is one of `open_statuses`.
    pub fn open_enrolment_for(
        &mut self,
        id_number: &str,
        open_statuses: &[Status],
    ) -> Result<Option<String>, StoreError> {
        Ok(dispatch!(self, c => enrolments::table
            .filter(enrolments::id_number.eq(id_number))
            .filter(enrolments::status.eq_any(open_statuses))
            .select(enrolments::id)
            .first(c)
            .optional())?)
    }

    /// The open renewal enrolment of certificate `serial`, if any.
    pub fn open_renewal_of(
        &mut self,
        serial: &str,
        open_statuses: &[Status],
    ) -> Result<Option<String>, StoreError> {
        Ok(dispatch!(self, c => enrolments::table
            .filter(enrolments::renews.eq(serial))
            .filter(enrolments::status.eq_any(open_statuses))
            .select(enrolments::id)
            .first(c)
            .optional())?)
    }

    /// Moves the enrolment from `from` to `to`; false (and nothing changed) when it was no
    /// longer in `from`, so a concurrent change is never overwritten.
    pub fn set_enrolment_status(
        &mut self,
        id: &str,
        from: Status,
        to: Status,
        verified_by: Option<&str>,
        at: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let moved = super::cached::MoveEnrolment {
            id,
            from: from.as_str(),
            to: to.as_str(),
            verified_by,
            at,
        };
        let n = dispatch!(self, c => moved.execute(c))?;
        Ok(n == 1)
    }

    /// Whether this ID number already passed a video call under the same name and date of
    /// birth, in an enrolment other than a withdrawn one (withdrawal revokes its evidence).
    pub fn passed_video_call(
        &mut self,
        id_number: &str,
        full_name: &str,
        date_of_birth: NaiveDate,
    ) -> Result<Option<String>, StoreError> {
        Ok(dispatch!(self, c => video_call_outcomes::table
            .inner_join(enrolments::table)
            .filter(video_call_outcomes::outcome.eq("approved"))
            .filter(enrolments::id_number.eq(id_number))
            .filter(enrolments::full_name.eq(full_name))
            .filter(enrolments::date_of_birth.eq(date_of_birth))
            .filter(enrolments::status.ne(Status::Withdrawn))
            .select(video_call_outcomes::id)
            .first(c)
            .optional())?)
    }

    /// Stores a document, replacing an earlier one of the same kind (and destroying the
    /// replaced one's data key). The caller has inserted `row.key_id`'s key. Returns the
    /// replaced document's object key, for the caller to delete once this commits.
    pub fn put_document(&mut self, row: &DocumentRow) -> Result<Option<String>, StoreError> {
        let replaced: Option<(Option<String>, Option<String>)> = dispatch!(self, c => enrolment_documents::table
                .find((&row.enrolment_id, &row.kind))
                .select((enrolment_documents::key_id, enrolment_documents::object_key))
                .first(c)
                .optional())?;
        dispatch!(self, c => {
            diesel::delete(enrolment_documents::table.find((&row.enrolment_id, &row.kind)))
                .execute(c)?;
            diesel::insert_into(enrolment_documents::table).values(row).execute(c)?
        });
        let Some((old_key, old_object)) = replaced else {
            return Ok(None);
        };
        if let Some(old_key) = old_key {
            self.delete_data_keys(&[old_key])?;
        }
        Ok(old_object)
    }

    pub fn document(
        &mut self,
        enrolment_id: &str,
        kind: &str,
    ) -> Result<Option<DocumentRow>, StoreError> {
        Ok(dispatch!(self, c => enrolment_documents::table
            .find((enrolment_id, kind))
            .select(DocumentRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn document_kinds(&mut self, enrolment_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(dispatch!(self, c => enrolment_documents::table
            .filter(enrolment_documents::enrolment_id.eq(enrolment_id))
            .select(enrolment_documents::kind)
            .order(enrolment_documents::kind.asc())
            .load(c))?)
    }

    /// Destroys every document of the enrolment: the rows and their data keys, and, when
    /// there were any, a `destroyed_documents` row saying when and why. Returns what was
    /// destroyed (empty when nothing was stored, e.g. already destroyed by another process).
    pub fn destroy_documents(
        &mut self,
        enrolment_id: &str,
        reason: DestructionReason,
        at: NaiveDateTime,
    ) -> Result<Vec<DestroyedDocument>, StoreError> {
        let docs: Vec<DestroyedDocument> = dispatch!(self, c => enrolment_documents::table
            .filter(enrolment_documents::enrolment_id.eq(enrolment_id))
            .order(enrolment_documents::kind.asc())
            .select((
                enrolment_documents::kind,
                enrolment_documents::sha256,
                enrolment_documents::key_id,
                enrolment_documents::object_key,
            ))
            .load(c))?;
        if docs.is_empty() {
            return Ok(docs);
        }
        dispatch!(self, c => diesel::delete(
            enrolment_documents::table.filter(enrolment_documents::enrolment_id.eq(enrolment_id)),
        )
        .execute(c))?;
        let keys: Vec<String> = docs.iter().filter_map(|d| d.key_id.clone()).collect();
        self.delete_data_keys(&keys)?;
        let recorded: Option<String> = dispatch!(self, c => destroyed_documents::table
            .find(enrolment_id)
            .select(destroyed_documents::enrolment_id)
            .first(c)
            .optional())?;
        if recorded.is_none() {
            dispatch!(self, c => diesel::insert_into(destroyed_documents::table)
                .values((
                    destroyed_documents::enrolment_id.eq(enrolment_id),
                    destroyed_documents::reason.eq(reason.as_str()),
                    destroyed_documents::destroyed_at.eq(at),
                ))
                .execute(c))?;
        }
        Ok(docs)
    }

    /// When the enrolment's documents were destroyed, if they were.
    pub fn documents_destroyed_at(
        &mut self,
        enrolment_id: &str,
    ) -> Result<Option<NaiveDateTime>, StoreError> {
        Ok(dispatch!(self, c => destroyed_documents::table
            .find(enrolment_id)
            .select(destroyed_documents::destroyed_at)
            .first(c)
            .optional())?)
    }

    /// Enrolments matching `q`, newest first, at most `q.limit`.
    pub fn search_enrolments(
        &mut self,
        q: &EnrolmentQuery,
    ) -> Result<Vec<EnrolmentRow>, StoreError> {
        let name_pattern = q
            .name
            .as_deref()
            .map(|n| format!("%{}%", super::audit::escape_like(&crate::vn::search_key(n))));
        Ok(dispatch!(self, c => {
            let mut query = enrolments::table
                .select(EnrolmentRow::as_select())
                .order((enrolments::created_at.desc(), enrolments::id.desc()))
                .limit(q.limit)
                .offset(q.offset)
                .into_boxed();
            if let Some(id) = &q.id_number {
                query = query.filter(enrolments::id_number.eq(id.clone()));
            }
            if let Some(p) = &q.phone {
                query = query.filter(enrolments::phone.eq(p.clone()));
            }
            if let Some(s) = &q.status {
                query = query.filter(enrolments::status.eq(*s));
            }
            if let Some(p) = &name_pattern {
                query = query.filter(enrolments::name_folded.like(p.clone()).escape('\\'));
            }
            query.load(c)
        })?)
    }

    pub fn count_enrolments_created(
        &mut self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<i64, StoreError> {
        Ok(dispatch!(self, c => enrolments::table
            .filter(enrolments::created_at.ge(from))
            .filter(enrolments::created_at.lt(to))
            .count()
            .get_result(c))?)
    }
}

/// An enrolment search (operator pages). Empty filters match everything.
#[derive(Clone, Debug, Default)]
pub struct EnrolmentQuery {
    pub id_number: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    /// A fragment of the name, matched without regard to case or diacritics
    /// ([`crate::vn::search_key`]).
    pub name: Option<String>,
    pub status: Option<Status>,
    pub offset: i64,
    pub limit: i64,
}
