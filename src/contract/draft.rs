//! A draft contract for a verified enrolment: numbered, rendered once from its versioned
//! template, and its document read back byte for byte.

use chrono::{DateTime, Datelike, Utc};
use serde_json::json;

use super::free_package::refuse_if_free_package_used;
use super::{
    document, unexpected, verified_enrolment, ContractError, ContractStatus, ContractSummary,
    Contracts,
};
use crate::audit::{Actor, NewEvent};
use crate::enrolment::status::Status;
use crate::secrets::sha256_hex;
use crate::store::{ContractRow, StoreError, Tx};

/// The stored document, exactly as rendered.
pub struct ContractDocument {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Contracts {
    /// Creates a draft contract for a verified enrolment, superseding an earlier draft (the
    /// citizen went back and picked another package).
    pub async fn create(
        &self,
        actor: &Actor,
        enrolment_id: &str,
        package_code: &str,
    ) -> Result<ContractSummary, ContractError> {
        let now = self.clock.now();
        let (this, actor, enrolment_id, package_code) = (
            self.clone(),
            actor.clone(),
            enrolment_id.to_string(),
            package_code.to_string(),
        );
        self.store
            .write(move |tx| this.create_in(tx, now, &actor, &enrolment_id, &package_code))
            .await
    }

    /// [`Contracts::create`] in the caller's transaction (a renewal opens its enrolment and
    /// makes its contract in one).
    pub fn create_in(
        &self,
        tx: &mut Tx<'_>,
        now: DateTime<Utc>,
        actor: &Actor,
        enrolment_id: &str,
        package_code: &str,
    ) -> Result<ContractSummary, ContractError> {
        // Lock order on PostgreSQL: counter, then the audit head, then contract rows.
        // Signing holds the audit head (`otp.verified`) before it touches contract
        // rows, so touching a draft before auditing here could deadlock with it.
        let date = crate::vn::date_of(now);
        let n = tx.next_contract_number(date.year())?;
        let number = format!("HD-{}-{n:06}", date.year());
        let enrolment = verified_enrolment(tx, enrolment_id)?;
        let package = tx
            .package(package_code)?
            .filter(|p| p.active)
            .ok_or_else(|| ContractError::PackageNotFound(package_code.to_string()))?;
        if package.free {
            refuse_if_free_package_used(tx, &enrolment.id_number)?;
        }
        let template = document::template(&package.contract_template)
            .ok_or_else(|| unexpected(format!("no template `{}`", package.contract_template)))?;
        let bytes = document::render_document(
            template,
            &package.contract_template,
            &document::Parties {
                number: &number,
                date,
                provider: &self.settings.provider,
                subscriber: &enrolment,
                package: &package,
            },
        );
        let row = ContractRow {
            id: uuid::Uuid::new_v4().to_string(),
            number,
            enrolment_id: enrolment_id.to_string(),
            package_code: package.code.clone(),
            id_number: enrolment.id_number.clone(),
            price_vnd: package.price_vnd,
            term_months: package.term_months,
            certificate_profile: package.certificate_profile.clone(),
            template_version: package.contract_template.clone(),
            document_sha256: sha256_hex(&bytes),
            document: bytes,
            status: ContractStatus::Draft,
            created_by: actor.to_string(),
            created_at: now.naive_utc(),
            signed_at: None,
            signed_by: None,
            signature_image: None,
            signature_key_id: None,
            signature_sha256: None,
            otp_challenge_id: None,
            otp_masked_destination: None,
        };
        tx.audit(NewEvent::new(
            now,
            actor,
            "contract.created",
            "contract",
            &row.id,
            json!({
                "number": row.number,
                "enrolment_id": row.enrolment_id,
                "package": row.package_code,
                "price_vnd": row.price_vnd,
                "term_months": row.term_months,
                "template_version": row.template_version,
                "document_sha256": row.document_sha256,
            }),
        ))?;
        for old in tx.supersede_draft_contracts(enrolment_id)? {
            tx.audit(NewEvent::new(
                now,
                actor,
                "contract.superseded",
                "contract",
                &old.0,
                json!({"number": old.1, "by": row.number}),
            ))?;
        }
        tx.insert_contract(&row).map_err(|e| match e {
            // A contract was signed for this enrolment meanwhile.
            StoreError::Conflict(c) if c.contains("contracts_one_live") => {
                ContractError::EnrolmentNotVerified {
                    status: Status::ContractSigned,
                }
            }
            e => e.into(),
        })?;
        ContractSummary::from_row(&row)
    }

    /// The document exactly as stored when the contract was made.
    pub async fn document(&self, id: &str) -> Result<ContractDocument, ContractError> {
        let id = id.to_string();
        self.store
            .read(move |tx| {
                let row = tx.contract_by_id(&id)?.ok_or(ContractError::NotFound)?;
                Ok(ContractDocument {
                    bytes: row.document,
                    sha256: row.document_sha256,
                })
            })
            .await
    }
}
