//! A draft contract for a verified enrolment: numbered, rendered once from its versioned
//! template, and its document read back byte for byte.

use chrono::{DateTime, Datelike, Utc};
use serde_json::json;

use super::free_package::refuse_if_free_package_used;
use super::{
    document, pdf, unexpected, verified_enrolment, ContractError, ContractStatus, ContractSummary,
    Contracts,
};
use crate::audit::{Actor, NewEvent};
use crate::enrolment::status::Status;
use crate::secrets::sha256_hex;
use crate::store::{ContractRow, EnrolmentRow, PackageRow, StoreError, Tx};

/// The stored document, exactly as rendered.
pub struct ContractDocument {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// A stored PDF version of a contract.
pub struct ContractPdf {
    /// `HD-2026-000123`: the download's file name.
    pub number: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// A draft contract rendered before the transaction that stores it ([`Contracts::create`]
/// in two steps): its number is reserved, its PDF made.
pub struct PreparedDraft {
    actor: Actor,
    now: DateTime<Utc>,
    id: String,
    number: String,
    enrolment_id: String,
    package_code: String,
    made: pdf::Made,
}

impl PreparedDraft {
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The SHA-256 of the draft PDF made before the transaction.
    pub fn rendered_sha256(&self) -> String {
        self.made.sha256()
    }
}

impl Contracts {
    /// Creates a draft contract for a verified enrolment, superseding an earlier draft (the
    /// citizen went back and picked another package): [`Contracts::prepare_draft`], then
    /// [`Contracts::commit_draft`].
    pub async fn create(
        &self,
        actor: &Actor,
        enrolment_id: &str,
        package_code: &str,
    ) -> Result<ContractSummary, ContractError> {
        let prepared = self
            .prepare_draft(actor, enrolment_id, package_code)
            .await?;
        self.commit_draft(prepared).await
    }

    /// Reserves the contract's number in a short audited transaction (`contract.number_reserved`,
    /// after the checks `create` refuses on, so a refusal costs no number), then renders the
    /// draft PDF outside any transaction.
    pub async fn prepare_draft(
        &self,
        actor: &Actor,
        enrolment_id: &str,
        package_code: &str,
    ) -> Result<PreparedDraft, ContractError> {
        let now = self.clock.now();
        let id = crate::store::new_row_id();
        let (reserving, by, enrolment, package) = (
            id.clone(),
            actor.clone(),
            enrolment_id.to_string(),
            package_code.to_string(),
        );
        let (number, enrolment_row, package_row) = self
            .store
            .write(move |tx| {
                let number = next_number(tx, now)?;
                let (enrolment, package) = draftable(tx, &enrolment, &package)?;
                tx.audit(NewEvent::new(
                    now,
                    &by,
                    "contract.number_reserved",
                    "contract",
                    &reserving,
                    json!({"number": number, "enrolment_id": enrolment.id, "package": package.code}),
                ))?;
                Ok::<_, ContractError>((number, enrolment, package))
            })
            .await?;
        let input =
            pdf::draft(&self.draft_contents(&id, &number, now, &enrolment_row, &package_row));
        let made = match input.make_blocking().await {
            Ok(made) => made,
            Err(e) => {
                let e = ContractError::from(e);
                self.void_number(actor, now, &id, &number, &e).await;
                return Err(e);
            }
        };
        Ok(PreparedDraft {
            actor: actor.clone(),
            now,
            id,
            number,
            enrolment_id: enrolment_id.to_string(),
            package_code: package_code.to_string(),
            made,
        })
    }

    /// Stores a prepared draft: the checks again, the contract row, its HTML document (a
    /// template fill) and the PDF made before, or made again if what it shows changed
    /// meanwhile. A refusal leaves the reserved number unused, said by `contract.number_voided`.
    pub async fn commit_draft(&self, p: PreparedDraft) -> Result<ContractSummary, ContractError> {
        let this = self.clone();
        let (actor, now, id, number) = (p.actor.clone(), p.now, p.id.clone(), p.number.clone());
        let result = self
            .store
            .write(move |tx| {
                this.insert_draft(
                    tx,
                    &p.actor,
                    p.now,
                    (&p.id, &p.number),
                    &p.enrolment_id,
                    &p.package_code,
                    Some(p.made),
                )
            })
            .await;
        if let Err(e) = &result {
            self.void_number(&actor, now, &id, &number, e).await;
        }
        result
    }

    /// Audits why a reserved number stays unused; best effort (a failure is logged, and the
    /// reservation's own event still names the number).
    async fn void_number(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        id: &str,
        number: &str,
        why: &ContractError,
    ) {
        let event = NewEvent::new(
            now,
            actor,
            "contract.number_voided",
            "contract",
            id,
            json!({"number": number, "reason": why.to_string()}),
        );
        let written: Result<(), StoreError> = self
            .store
            .write(move |tx| tx.audit(event).map(|_| ()))
            .await;
        if let Err(e) = written {
            tracing::warn!(number, error = %e, "could not audit a voided contract number");
        }
    }

    /// [`Contracts::create`] in the caller's transaction (a renewal opens its enrolment and
    /// makes its contract in one): numbered and rendered there.
    pub fn create_in(
        &self,
        tx: &mut Tx<'_>,
        now: DateTime<Utc>,
        actor: &Actor,
        enrolment_id: &str,
        package_code: &str,
    ) -> Result<ContractSummary, ContractError> {
        let number = next_number(tx, now)?;
        let id = crate::store::new_row_id();
        self.insert_draft(
            tx,
            actor,
            now,
            (&id, &number),
            enrolment_id,
            package_code,
            None,
        )
    }

    fn draft_contents<'a>(
        &'a self,
        id: &'a str,
        number: &'a str,
        now: DateTime<Utc>,
        enrolment: &'a EnrolmentRow,
        package: &'a PackageRow,
    ) -> pdf::Contents<'a> {
        pdf::Contents {
            environment: self.environment,
            provider: &self.settings.provider,
            id,
            number,
            made: now,
            subscriber: enrolment,
            package,
        }
    }

    /// Checks and stores a numbered draft: the row, its HTML document, the audit events and
    /// the PDF (`made` before the transaction, used if what it shows is unchanged).
    #[allow(clippy::too_many_arguments)]
    fn insert_draft(
        &self,
        tx: &mut Tx<'_>,
        actor: &Actor,
        now: DateTime<Utc>,
        (id, number): (&str, &str),
        enrolment_id: &str,
        package_code: &str,
        made: Option<pdf::Made>,
    ) -> Result<ContractSummary, ContractError> {
        let (enrolment, package) = draftable(tx, enrolment_id, package_code)?;
        let date = crate::vn::date_of(now);
        let template = document::template(&package.contract_template)
            .ok_or_else(|| unexpected(format!("no template `{}`", package.contract_template)))?;
        let bytes = document::render_document(
            template,
            &package.contract_template,
            &document::Parties {
                number,
                date,
                provider: &self.settings.provider,
                subscriber: &enrolment,
                package: &package,
            },
        );
        let row = ContractRow {
            id: id.to_string(),
            number: number.to_string(),
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
        pdf::draft(&self.draft_contents(id, number, now, &enrolment, &package)).store(
            tx,
            pdf::DRAFT,
            id,
            made,
        )?;
        ContractSummary::from_row(&row)
    }

    /// A PDF version (`pdf::DRAFT` or `pdf::SIGNED`) exactly as stored when it was made;
    /// `NotSigned` for the signed version of a contract not signed yet.
    pub async fn pdf(&self, id: &str, kind: &'static str) -> Result<ContractPdf, ContractError> {
        let id = id.to_string();
        self.store
            .read(move |tx| {
                let row = tx.contract_by_id(&id)?.ok_or(ContractError::NotFound)?;
                let doc = tx.pdf_document(kind, &id)?.ok_or(if kind == pdf::SIGNED {
                    ContractError::NotSigned
                } else {
                    ContractError::NoPdf
                })?;
                Ok(ContractPdf {
                    number: row.number,
                    bytes: doc.document,
                    sha256: doc.document_sha256,
                })
            })
            .await
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

/// The next contract number, `HD-<year>-<6 digits>`: a row every draft writes, so on
/// PostgreSQL a new draft takes it in its own short transaction (concurrent drafts rerun only
/// that; a renewal takes it in the transaction that opens the renewal).
fn next_number(tx: &mut Tx<'_>, now: DateTime<Utc>) -> Result<String, ContractError> {
    let year = crate::vn::date_of(now).year();
    let n = tx.next_contract_number(year)?;
    Ok(format!("HD-{year}-{n:06}"))
}

/// The verified enrolment and the package on offer a draft is made of, refusing a free
/// package this ID number already used.
fn draftable(
    tx: &mut Tx<'_>,
    enrolment_id: &str,
    package_code: &str,
) -> Result<(EnrolmentRow, PackageRow), ContractError> {
    let enrolment = verified_enrolment(tx, enrolment_id)?;
    let package = tx
        .package(package_code)?
        .filter(|p| p.active)
        .ok_or_else(|| ContractError::PackageNotFound(package_code.to_string()))?;
    if package.free {
        refuse_if_free_package_used(tx, &enrolment.id_number)?;
    }
    Ok((enrolment, package))
}
