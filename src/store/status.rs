//! Revocation status: what OCSP and the CRL read, status changes, and the shared newest CRL.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{certificates, crl_numbers, crls, status_generation};
use super::{dispatch, Store, StoreError, Tx};
use crate::states::certificate::CertificateStatus;

/// A certificate's revocation-relevant columns.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = certificates)]
pub struct StatusRow {
    pub serial: String,
    pub ca_name: String,
    pub status: CertificateStatus,
    /// The `status_generation` of the row's last status change (set by a trigger).
    pub status_version: i64,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revocation_reason: Option<String>,
}

/// What a CRL entry needs of a listed certificate: no more, as a CRL reads a million of
/// them (each text column is a UTF-8 check and an allocation per row).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = certificates)]
pub struct CrlEntryRow {
    pub serial: String,
    pub status: CertificateStatus,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revocation_reason: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = crls)]
pub struct CrlRow {
    pub ca_name: String,
    pub shard: i32,
    pub number: i64,
    pub generation: i64,
    pub this_update: NaiveDateTime,
    pub next_update: NaiveDateTime,
    pub der: Vec<u8>,
}

/// A CRL to store: the DER borrowed, as it can be tens of megabytes.
#[derive(Clone, Copy, Debug, Insertable)]
#[diesel(table_name = crls)]
pub struct NewCrl<'a> {
    pub ca_name: &'a str,
    pub shard: i32,
    pub number: i64,
    pub generation: i64,
    pub this_update: NaiveDateTime,
    pub next_update: NaiveDateTime,
    pub der: &'a [u8],
}

impl Tx<'_> {
    pub fn certificate_status(&mut self, serial: &str) -> Result<Option<StatusRow>, StoreError> {
        Ok(dispatch!(self, c => certificates::table
            .find(serial)
            .select(StatusRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Bumped by any certificate insert or status change (triggers).
    pub fn status_generation(&mut self) -> Result<i64, StoreError> {
        Ok(dispatch!(self, c => status_generation::table
            .find(1)
            .select(status_generation::generation)
            .first(c))?)
    }

    /// Serials whose status changed in a generation after `generation` (a trigger stamps the
    /// row's `status_version` with the generation of its change), at most `limit` of them.
    pub fn status_changed_after(
        &mut self,
        generation: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(dispatch!(self, c => certificates::table
            .filter(certificates::status_version.gt(generation))
            .select(certificates::serial)
            .limit(limit)
            .load(c))?)
    }

    /// Moves a certificate from `from` to `to`, setting or clearing the revocation columns.
    /// False when it was not in `from` (a concurrent change won). Moving a revocation time
    /// that was set (a suspension lifted, or turned into a revocation) changes when the
    /// certificate stopped being active: the report summary forgets the days that touches.
    pub fn change_certificate_status(
        &mut self,
        serial: &str,
        from: CertificateStatus,
        to: CertificateStatus,
        revoked_at: Option<NaiveDateTime>,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let before: Option<(Option<NaiveDateTime>, NaiveDateTime)> = dispatch!(self, c => certificates::table
            .find(serial)
            .select((certificates::revoked_at, certificates::not_after))
            .first(c)
            .optional())?;
        if let Some((Some(old), not_after)) = before {
            if Some(old) != revoked_at {
                self.forget_summarised_days_around(old)?;
                self.forget_summarised_days_around(not_after)?;
            }
        }
        let n = dispatch!(self, c => diesel::update(
                certificates::table
                    .find(serial)
                    .filter(certificates::status.eq(from)),
            )
            .set((
                certificates::status.eq(to),
                certificates::revoked_at.eq(revoked_at),
                certificates::revocation_reason.eq(reason),
            ))
            .execute(c))?;
        Ok(n == 1)
    }

    /// The certificates of `ca_name` (and `shard`, when given) a CRL lists: those in
    /// [`CertificateStatus::LISTED_ON_CRL`], and an `expired` one that was on hold when it
    /// expired (its revocation columns stay set), as OCSP keeps answering for it. On
    /// PostgreSQL the partial index `certificates_crl` answers this alone; its predicate is
    /// this filter.
    ///
    /// Each row is handed to `entry` as it is read and only its result is kept: a CRL reads
    /// a million rows, and a vector of them (with their strings) would be built only to be
    /// dropped.
    pub fn crl_entries<T, E>(
        &mut self,
        ca_name: &str,
        shard: Option<i32>,
        mut entry: impl FnMut(CrlEntryRow) -> Result<T, E>,
    ) -> Result<Vec<T>, E>
    where
        E: From<StoreError>,
    {
        dispatch!(self, c => {
            let mut q = certificates::table
                .filter(certificates::ca_name.eq(ca_name))
                .filter(
                    certificates::status.eq_any(CertificateStatus::LISTED_ON_CRL).or(certificates::status
                        .eq(CertificateStatus::Expired)
                        .and(certificates::revoked_at.is_not_null())),
                )
                .select(CrlEntryRow::as_select())
                .into_boxed();
            if let Some(s) = shard {
                q = q.filter(certificates::crl_shard.eq(s));
            }
            let rows = q
                .load_iter::<CrlEntryRow, diesel::connection::DefaultLoadingMode>(c)
                .map_err(|e| E::from(e.into()))?;
            let mut entries = Vec::with_capacity(rows.size_hint().0);
            for row in rows {
                entries.push(entry(row.map_err(|e| E::from(e.into()))?)?);
            }
            Ok(entries)
        })
    }

    /// The newest CRL's header (no DER), to decide whether it is current.
    pub fn crl_header(
        &mut self,
        ca_name: &str,
        shard: i32,
    ) -> Result<Option<(i64, i64, NaiveDateTime, NaiveDateTime)>, StoreError> {
        Ok(dispatch!(self, c => crls::table
            .find((ca_name, shard))
            .select((crls::number, crls::generation, crls::this_update, crls::next_update))
            .first(c)
            .optional())?)
    }

    pub fn crl(&mut self, ca_name: &str, shard: i32) -> Result<Option<CrlRow>, StoreError> {
        Ok(dispatch!(self, c => crls::table
            .find((ca_name, shard))
            .select(CrlRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Replaces the newest CRL of its CA and shard.
    pub fn store_crl(&mut self, row: NewCrl<'_>) -> Result<(), StoreError> {
        dispatch!(self, c => {
            let n = diesel::update(crls::table.find((row.ca_name, row.shard)))
                .set((
                    crls::number.eq(row.number),
                    crls::generation.eq(row.generation),
                    crls::this_update.eq(row.this_update),
                    crls::next_update.eq(row.next_update),
                    crls::der.eq(row.der),
                ))
                .execute(c)?;
            if n == 0 {
                diesel::insert_into(crls::table).values(row).execute(c)?;
            }
            Ok::<_, diesel::result::Error>(())
        })?;
        Ok(())
    }
}

impl Store {
    /// Reserves the next cRLNumber of a CA's shard, in a statement of its own, so that a CRL
    /// can be signed without holding the writer lock. One atomic upsert: numbers strictly
    /// increase across processes. Bookkeeping without an audit event (the `crl.issued` event
    /// of the CRL records its number).
    pub async fn reserve_crl_number(&self, ca_name: &str, shard: i32) -> Result<i64, StoreError> {
        let store = self.clone();
        let ca_name = ca_name.to_string();
        tokio::task::spawn_blocking(move || {
            store.bookkeeping_blocking(|tx| {
                Ok(dispatch!(tx, c => diesel::insert_into(crl_numbers::table)
                    .values((
                        crl_numbers::ca_name.eq(&ca_name),
                        crl_numbers::shard.eq(shard),
                        crl_numbers::last.eq(1),
                    ))
                    .on_conflict((crl_numbers::ca_name, crl_numbers::shard))
                    .do_update()
                    .set(crl_numbers::last.eq(crl_numbers::last + 1))
                    .returning(crl_numbers::last)
                    .get_result(c))?)
            })
        })
        .await
        .map_err(|e| StoreError::Unexpected(format!("blocking task: {e}")))?
    }
}

/// A certificate search; `after` is the last serial of the previous page (serial order).
#[derive(Clone, Debug, Default)]
pub struct CertificateQuery {
    pub id_number: Option<String>,
    /// A fragment of the holder's name, matched without regard to case or diacritics
    /// ([`crate::vn::search_key`]).
    pub name: Option<String>,
    pub status: Option<CertificateStatus>,
    pub issued_from: Option<NaiveDateTime>,
    pub issued_to: Option<NaiveDateTime>,
    pub after: Option<String>,
    pub limit: i64,
}

impl Tx<'_> {
    /// Certificates matching `q`, in serial order, at most `q.limit`.
    pub fn search_certificates(
        &mut self,
        q: &CertificateQuery,
    ) -> Result<Vec<super::CertificateRow>, StoreError> {
        use super::schema::enrolments;
        let name_pattern = q
            .name
            .as_deref()
            .map(|n| format!("%{}%", super::audit::escape_like(&crate::vn::search_key(n))));
        Ok(dispatch!(self, c => {
            let mut query = certificates::table
                .select(super::CertificateRow::as_select())
                .order(certificates::serial.asc())
                .limit(q.limit)
                .into_boxed();
            if let Some(id) = &q.id_number {
                query = query.filter(
                    certificates::enrolment_id.eq_any(
                        enrolments::table
                            .filter(enrolments::id_number.eq(id.clone()))
                            .select(enrolments::id),
                    ),
                );
            }
            if let Some(p) = &name_pattern {
                query = query.filter(
                    certificates::enrolment_id.eq_any(
                        enrolments::table
                            .filter(enrolments::name_folded.like(p.clone()).escape('\\'))
                            .select(enrolments::id),
                    ),
                );
            }
            if let Some(s) = &q.status {
                query = query.filter(certificates::status.eq(*s));
            }
            if let Some(t) = q.issued_from {
                query = query.filter(certificates::created_at.ge(t));
            }
            if let Some(t) = q.issued_to {
                query = query.filter(certificates::created_at.lt(t));
            }
            if let Some(a) = &q.after {
                query = query.filter(certificates::serial.gt(a.clone()));
            }
            query.load(c)
        })?)
    }
}
