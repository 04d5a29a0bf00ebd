//! The package catalogue, contracts with their yearly counters, and free-package claims.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{contract_counters, contracts, enrolments, free_package_claims, packages};
use super::{dispatch, StoreError, Tx};
use crate::states::contract::ContractStatus;
use crate::states::enrolment::Status;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = packages)]
pub struct PackageRow {
    pub code: String,
    pub name: String,
    pub price_vnd: i64,
    pub term_months: i32,
    pub free: bool,
    pub certificate_profile: String,
    pub contract_template: String,
    pub active: bool,
    pub sort_order: i32,
}

/// A contract as stored. `document` and `document_sha256` never change after insert, and a
/// `signed` row never changes at all (database triggers refuse it).
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = contracts)]
pub struct ContractRow {
    pub id: String,
    pub number: String,
    pub enrolment_id: String,
    pub package_code: String,
    pub id_number: String,
    pub price_vnd: i64,
    pub term_months: i32,
    pub certificate_profile: String,
    pub template_version: String,
    pub document: Vec<u8>,
    pub document_sha256: String,
    pub status: ContractStatus,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub signed_at: Option<NaiveDateTime>,
    pub signed_by: Option<String>,
    /// The drawn signature (PNG) sealed under the data key `signature_key_id`; in clear
    /// when that is `None` (signed before signature images were sealed).
    pub signature_image: Option<Vec<u8>>,
    pub signature_sha256: Option<String>,
    pub otp_challenge_id: Option<String>,
    pub otp_masked_destination: Option<String>,
    pub signature_key_id: Option<String>,
}

/// A signed contract's reference and terms: its row without the document and the drawn
/// signature.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = contracts)]
pub struct SignedContractRef {
    pub id: String,
    pub number: String,
    pub package_code: String,
    pub term_months: i32,
}

/// What signing records, all at once.
pub struct SignatureEvidence<'a> {
    pub signed_at: NaiveDateTime,
    pub signed_by: &'a str,
    /// Sealed under `signature_key_id`'s data key.
    pub signature_image: &'a [u8],
    pub signature_key_id: &'a str,
    pub signature_sha256: &'a str,
    pub otp_challenge_id: &'a str,
    pub otp_masked_destination: &'a str,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = free_package_claims)]
pub struct FreePackageClaimRow {
    pub contract_id: String,
    pub enrolment_id: String,
    pub id_number: String,
    pub package_code: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub released_at: Option<NaiveDateTime>,
    pub released_reason: Option<String>,
}

impl Tx<'_> {
    /// The packages on offer, in display order.
    pub fn active_packages(&mut self) -> Result<Vec<PackageRow>, StoreError> {
        Ok(dispatch!(self, c => packages::table
            .filter(packages::active.eq(true))
            .select(PackageRow::as_select())
            .order((packages::sort_order.asc(), packages::code.asc()))
            .load(c))?)
    }

    pub fn package(&mut self, code: &str) -> Result<Option<PackageRow>, StoreError> {
        Ok(dispatch!(self, c => packages::table
            .find(code)
            .select(PackageRow::as_select())
            .first(c)
            .optional())?)
    }

    /// The next contract number of `year` (1, 2, …). The upsert takes the counter row's lock
    /// until commit, so concurrent creators from any process queue up, and a rolled-back
    /// transaction gives its number back.
    pub fn next_contract_number(&mut self, year: i32) -> Result<i64, StoreError> {
        Ok(
            dispatch!(self, c => diesel::insert_into(contract_counters::table)
            .values((
                contract_counters::year.eq(year),
                contract_counters::last_number.eq(1i64),
            ))
            .on_conflict(contract_counters::year)
            .do_update()
            .set(contract_counters::last_number.eq(contract_counters::last_number + 1i64))
            .returning(contract_counters::last_number)
            .get_result(c))?,
        )
    }

    /// Marks the enrolment's draft contracts `superseded`; returns their (id, number).
    pub fn supersede_draft_contracts(
        &mut self,
        enrolment_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(dispatch!(self, c => diesel::update(
            contracts::table
                .filter(contracts::enrolment_id.eq(enrolment_id))
                .filter(contracts::status.eq(ContractStatus::Draft)),
        )
        .set(contracts::status.eq(ContractStatus::Superseded))
        .returning((contracts::id, contracts::number))
        .get_results(c))?)
    }

    pub fn insert_contract(&mut self, row: &ContractRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(contracts::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn contract_by_id(&mut self, id: &str) -> Result<Option<ContractRow>, StoreError> {
        Ok(dispatch!(self, c => contracts::table
            .find(id)
            .select(ContractRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Every contract made for the enrolment (drafts, superseded, signed), newest first.
    pub fn contracts_for_enrolment(
        &mut self,
        enrolment_id: &str,
    ) -> Result<Vec<ContractRow>, StoreError> {
        Ok(dispatch!(self, c => contracts::table
            .filter(contracts::enrolment_id.eq(enrolment_id))
            .order(contracts::created_at.desc())
            .select(ContractRow::as_select())
            .load(c))?)
    }

    /// The enrolment's signed contract, if any (at most one: `contracts_one_live`).
    pub fn signed_contract_for(
        &mut self,
        enrolment_id: &str,
    ) -> Result<Option<ContractRow>, StoreError> {
        Ok(dispatch!(self, c => contracts::table
            .filter(contracts::enrolment_id.eq(enrolment_id))
            .filter(contracts::status.eq(ContractStatus::Signed))
            .select(ContractRow::as_select())
            .first(c)
            .optional())?)
    }

    /// The enrolment's signed contract without its document and drawn signature (large, and
    /// not needed by issuance, acceptance records or the certificate pages).
    pub fn signed_contract_ref(
        &mut self,
        enrolment_id: &str,
    ) -> Result<Option<SignedContractRef>, StoreError> {
        Ok(dispatch!(self, c => contracts::table
            .filter(contracts::enrolment_id.eq(enrolment_id))
            .filter(contracts::status.eq(ContractStatus::Signed))
            .select(SignedContractRef::as_select())
            .first(c)
            .optional())?)
    }

    /// Moves a draft to `signed` with its evidence; false (nothing changed) when it was no
    /// longer a draft.
    pub fn sign_contract(
        &mut self,
        id: &str,
        evidence: &SignatureEvidence<'_>,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
            contracts::table
                .find(id)
                .filter(contracts::status.eq(ContractStatus::Draft)),
        )
        .set((
            contracts::status.eq(ContractStatus::Signed),
            contracts::signed_at.eq(evidence.signed_at),
            contracts::signed_by.eq(evidence.signed_by),
            contracts::signature_image.eq(evidence.signature_image),
            contracts::signature_key_id.eq(evidence.signature_key_id),
            contracts::signature_sha256.eq(evidence.signature_sha256),
            contracts::otp_challenge_id.eq(evidence.otp_challenge_id),
            contracts::otp_masked_destination.eq(evidence.otp_masked_destination),
        ))
        .execute(c))?;
        Ok(n == 1)
    }

    /// The contract that holds this ID number's free-package right, if one does: a claim
    /// not released whose enrolment was not withdrawn (withdrawal happens only before
    /// issuance, so such a certificate was never issued).
    pub fn free_package_holder(&mut self, id_number: &str) -> Result<Option<String>, StoreError> {
        Ok(dispatch!(self, c => free_package_claims::table
            .inner_join(enrolments::table)
            .filter(free_package_claims::id_number.eq(id_number))
            .filter(free_package_claims::status.eq("held"))
            .filter(enrolments::status.ne(Status::Withdrawn))
            .select(free_package_claims::contract_id)
            .first(c)
            .optional())?)
    }

    pub fn insert_free_package_claim(
        &mut self,
        row: &FreePackageClaimRow,
    ) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(free_package_claims::table)
            .values(row)
            .execute(c))?;
        Ok(())
    }

    /// Gives the right back; false when the contract held none (or it was already released).
    pub fn release_free_package_claim(
        &mut self,
        contract_id: &str,
        at: NaiveDateTime,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
            free_package_claims::table
                .find(contract_id)
                .filter(free_package_claims::status.eq("held")),
        )
        .set((
            free_package_claims::status.eq("released"),
            free_package_claims::released_at.eq(Some(at)),
            free_package_claims::released_reason.eq(Some(reason)),
        ))
        .execute(c))?;
        Ok(n == 1)
    }
}
