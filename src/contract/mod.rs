//! Packages and service contracts (domain brief §1 steps 3-4): a verified citizen picks a
//! package, the contract is rendered once from a versioned template and numbered
//! `HD-<year>-<6 digits>` gap-free per year, then signed with a drawn signature and an OTP
//! sent by SMS, bound to the document's SHA-256. Signing moves the enrolment to
//! `contract_signed`, which issuance requires (`issuance::begin_issuance`).
//!
//! Invariant: a contract's document bytes and digest never change, and a signed contract
//! never changes at all; the database refuses it (triggers), not only this code.
//!
//! The free package (PS0): one per ID number ever. The right is taken when a free contract is
//! signed ([`free_package_claims`]) and counts unless it was released ([`release_free_package`],
//! for a certificate the citizen rejected at acceptance) or its enrolment was withdrawn
//! (withdrawal is refused once a certificate exists, so a withdrawn one never had one).
//! Races are excluded by the one open enrolment per ID number (`enrolments_one_open`), the one
//! live contract per enrolment (`contracts_one_live`) and conditional status updates.
//!
//! Signing twice answers `contract_already_signed` (409): the first signature stands, and a
//! second OTP would be consumed for nothing.
//!
//! [`free_package_claims`]: crate::store::FreePackageClaimRow

mod document;
mod signature;

pub use document::CONTENT_TYPE as DOCUMENT_CONTENT_TYPE;
pub use signature::{SignatureImage, SignatureLimits};

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::clock::Clock;
use crate::enrolment::identity::PhoneNumber;
use crate::enrolment::status::{Event, Status};
use crate::enrolment::transition::{transition, Details, MoveError};
use crate::notify::Recipient;
use crate::otp::{
    ChallengeLookup, ChallengeRequest, ChallengeSent, Check, DocumentDigest, Otp, OtpError, Purpose,
};
use crate::secrets::sha256_hex;
use crate::settings::{range, Invalid};
use crate::store::{
    ContractRow, EnrolmentRow, FreePackageClaimRow, PackageRow, SignatureEvidence, Store,
    StoreError, Tx,
};

/// The provider, as the contract names it (party A).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub name: String,
    pub address: String,
    pub tax_code: String,
    pub phone: String,
    pub email: String,
    pub website: String,
    pub representative: String,
    pub representative_title: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub provider: Provider,
    pub signature: SignatureLimits,
}

impl Default for Settings {
    fn default() -> Self {
        // Placeholders that say what they are: a real deployment sets its own legal identity.
        Self {
            provider: Provider {
                name: "Nhà cung cấp dịch vụ chứng thực chữ ký số công cộng (môi trường phát triển)"
                    .into(),
                address: "Chưa cấu hình (contract.provider.address)".into(),
                tax_code: "0000000000".into(),
                phone: "1900 0000".into(),
                email: "hotro@ca-enrol.localhost".into(),
                website: "http://127.0.0.1:8080".into(),
                representative: "Chưa cấu hình".into(),
                representative_title: "Tổng Giám đốc".into(),
            },
            signature: SignatureLimits::default(),
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        let sig = &self.signature;
        range(
            "contract.signature.max_bytes",
            u64::try_from(sig.max_bytes).unwrap_or(u64::MAX),
            1024,
            5 * 1024 * 1024,
        )?;
        if sig.min_width == 0 || sig.min_height == 0 {
            return Err(Invalid::new(
                "contract.signature.min_width",
                "expected minimum dimensions of at least 1 pixel",
            ));
        }
        if sig.max_width < sig.min_width || sig.max_height < sig.min_height {
            return Err(Invalid::new(
                "contract.signature.max_width",
                "expected maximum dimensions not below the minimum ones",
            ));
        }
        if self.provider.name.trim().is_empty() {
            return Err(Invalid::new("contract.provider.name", "must not be empty"));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("contract not found")]
    NotFound,
    #[error("enrolment not found")]
    EnrolmentNotFound,
    #[error("no package `{0}` is on offer")]
    PackageNotFound(String),
    #[error("a contract needs a verified enrolment; this one is {status}")]
    EnrolmentNotVerified { status: Status },
    #[error("this ID number already used its free package (contract {contract_number})")]
    FreePackageAlreadyUsed { contract_number: String },
    #[error("the contract is already signed")]
    AlreadySigned,
    #[error("the contract was replaced by a newer one for this enrolment")]
    Superseded,
    #[error("the contract terms must be agreed to (agree: true)")]
    AgreementRequired,
    #[error("signature image larger than {max_bytes} bytes")]
    SignatureTooLarge { max_bytes: usize },
    #[error("signature image: {0}")]
    SignatureInvalid(&'static str),
    #[error(
        "signature image is {width}x{height}; allowed {min_width}x{min_height} to \
         {max_width}x{max_height}"
    )]
    SignatureDimensions {
        width: u32,
        height: u32,
        min_width: u32,
        min_height: u32,
        max_width: u32,
        max_height: u32,
    },
    #[error(transparent)]
    Otp(#[from] OtpError),
    /// Issuance asked for an enrolment that is not where it must be.
    #[error("the enrolment is not ready: {0}")]
    NotReady(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unexpected(e: impl std::fmt::Display) -> ContractError {
    ContractError::Store(StoreError::Unexpected(e.to_string()))
}

/// A package as offered.
#[derive(Clone, Debug)]
pub struct Package {
    pub code: String,
    pub name: String,
    pub price_vnd: i64,
    pub term_months: u32,
    pub free: bool,
    pub certificate_profile: String,
}

impl Package {
    fn from_row(r: PackageRow) -> Result<Self, ContractError> {
        Ok(Self {
            term_months: u32::try_from(r.term_months).map_err(unexpected)?,
            code: r.code,
            name: r.name,
            price_vnd: r.price_vnd,
            free: r.free,
            certificate_profile: r.certificate_profile,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractStatus {
    Draft,
    Superseded,
    Signed,
}

impl ContractStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Draft => "draft",
            ContractStatus::Superseded => "superseded",
            ContractStatus::Signed => "signed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ContractStatus::Draft,
            ContractStatus::Superseded,
            ContractStatus::Signed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// Evidence kept when a contract is signed.
#[derive(Clone, Debug)]
pub struct Signing {
    pub signed_at: DateTime<Utc>,
    pub signed_by: String,
    pub signature_sha256: String,
    pub otp_challenge_id: String,
    pub otp_masked_destination: String,
}

/// A contract without its document bytes.
#[derive(Clone, Debug)]
pub struct ContractSummary {
    pub id: String,
    pub number: String,
    pub enrolment_id: String,
    pub package_code: String,
    pub price_vnd: i64,
    pub term_months: u32,
    pub certificate_profile: String,
    pub template_version: String,
    pub document_sha256: String,
    pub status: ContractStatus,
    pub created_at: DateTime<Utc>,
    pub signing: Option<Signing>,
}

impl ContractSummary {
    fn from_row(r: &ContractRow) -> Result<Self, ContractError> {
        let status = r.status;
        let signing = match (
            status,
            r.signed_at,
            &r.signed_by,
            &r.signature_sha256,
            &r.otp_challenge_id,
            &r.otp_masked_destination,
        ) {
            (ContractStatus::Signed, Some(at), Some(by), Some(sha), Some(ch), Some(masked)) => {
                Some(Signing {
                    signed_at: at.and_utc(),
                    signed_by: by.clone(),
                    signature_sha256: sha.clone(),
                    otp_challenge_id: ch.clone(),
                    otp_masked_destination: masked.clone(),
                })
            }
            (ContractStatus::Signed, ..) => return Err(unexpected("signed without evidence")),
            _ => None,
        };
        Ok(Self {
            id: r.id.clone(),
            number: r.number.clone(),
            enrolment_id: r.enrolment_id.clone(),
            package_code: r.package_code.clone(),
            price_vnd: r.price_vnd,
            term_months: u32::try_from(r.term_months).map_err(unexpected)?,
            certificate_profile: r.certificate_profile.clone(),
            template_version: r.template_version.clone(),
            document_sha256: r.document_sha256.clone(),
            status,
            created_at: r.created_at.and_utc(),
            signing,
        })
    }
}

/// The stored document, exactly as rendered.
pub struct ContractDocument {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// What the citizen sends to sign.
pub struct SignRequest {
    pub agree: bool,
    pub signature_png: Vec<u8>,
    pub otp_code: String,
    /// The challenge the code answers; the latest one for the contract when absent.
    pub challenge_id: Option<String>,
}

/// What issuance certifies: the enrolment's signed contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedContract {
    pub contract_id: String,
    pub number: String,
    pub enrolment_id: String,
    pub package_code: String,
    pub term_months: u32,
    pub certificate_profile: String,
    pub price_vnd: i64,
}

/// The OTP subject of a contract.
fn otp_subject(contract_id: &str) -> String {
    format!("contract:{contract_id}")
}

/// The contract service.
#[derive(Clone)]
pub struct Contracts {
    store: Store,
    otp: Otp,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
}

impl Contracts {
    pub fn new(store: Store, otp: Otp, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self {
            store,
            otp,
            clock,
            settings: Arc::new(settings),
        }
    }

    pub fn signature_limits(&self) -> &SignatureLimits {
        &self.settings.signature
    }

    pub async fn packages(&self) -> Result<Vec<Package>, ContractError> {
        let rows = self.store.read(|tx| tx.active_packages()).await?;
        rows.into_iter().map(Package::from_row).collect()
    }

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

    pub async fn get(&self, id: &str) -> Result<ContractSummary, ContractError> {
        let id = id.to_string();
        self.store
            .read(move |tx| {
                let row = tx.contract_by_id(&id)?.ok_or(ContractError::NotFound)?;
                ContractSummary::from_row(&row)
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

    /// Sends a signing code by SMS to the enrolment's phone, bound to the contract's digest.
    pub async fn send_otp(&self, actor: &Actor, id: &str) -> Result<ChallengeSent, ContractError> {
        let now = self.clock.now();
        let (actor, id, otp) = (actor.clone(), id.to_string(), self.otp.clone());
        self.store
            .write(move |tx| {
                let (contract, enrolment) = signable(tx, &id)?;
                let phone = PhoneNumber::parse("phone", &enrolment.phone).map_err(unexpected)?;
                let digest =
                    DocumentDigest::parse(&contract.document_sha256).map_err(unexpected)?;
                Ok(otp.issue_challenge(
                    tx,
                    now,
                    ChallengeRequest {
                        purpose: Purpose::ContractSigning,
                        subject: otp_subject(&id),
                        document_digest: digest,
                        recipient: Recipient::Phone(phone),
                        actor,
                    },
                )?)
            })
            .await
    }

    /// Signs: checks agreement and the image, then verifies the OTP and records the signature
    /// and the enrolment's move to `contract_signed` in one audited transaction.
    pub async fn sign(
        &self,
        actor: &Actor,
        id: &str,
        request: SignRequest,
    ) -> Result<ContractSummary, ContractError> {
        if !request.agree {
            return Err(ContractError::AgreementRequired);
        }
        let drawn = signature::check(&request.signature_png, &self.settings.signature)?;
        let contract_id = id.to_string();
        let read_id = contract_id.clone();
        let contract = self
            .store
            .read(move |tx| tx.contract_by_id(&read_id))
            .await?
            .ok_or(ContractError::NotFound)?;
        // Refused before the code is looked at, so a late retry does not burn an attempt.
        match contract.status {
            ContractStatus::Draft => {}
            ContractStatus::Signed => return Err(ContractError::AlreadySigned),
            ContractStatus::Superseded => return Err(ContractError::Superseded),
        }
        let subject = otp_subject(&contract_id);
        let check = Check {
            lookup: match request.challenge_id {
                Some(challenge) => ChallengeLookup::Id(challenge),
                None => ChallengeLookup::Subject(subject.clone()),
            },
            purpose: Purpose::ContractSigning,
            document_digest: DocumentDigest::parse(&contract.document_sha256)
                .map_err(unexpected)?,
            code: request.otp_code,
            actor: actor.clone(),
        };
        let actor = actor.clone();
        let image = request.signature_png;
        self.otp
            .confirm(check, move |tx, verified| {
                // The digest already binds the code to this document; the subject check
                // keeps that true even for two contracts with identical bytes.
                if verified.subject != subject {
                    return Err(ContractError::Otp(OtpError::WrongDocument));
                }
                let (contract, enrolment) = signable(tx, &contract_id)?;
                let package = tx
                    .package(&contract.package_code)?
                    .ok_or_else(|| unexpected("contract without its package"))?;
                let at = verified.verified_at;
                if package.free {
                    refuse_if_free_package_used(tx, &enrolment.id_number)?;
                    tx.insert_free_package_claim(&FreePackageClaimRow {
                        contract_id: contract.id.clone(),
                        enrolment_id: enrolment.id.clone(),
                        id_number: enrolment.id_number.clone(),
                        package_code: package.code.clone(),
                        status: "held".into(),
                        created_at: at.naive_utc(),
                        released_at: None,
                        released_reason: None,
                    })?;
                }
                let signature_sha256 = sha256_hex(&image);
                let signed_by = actor.to_string();
                if !tx.sign_contract(
                    &contract.id,
                    &SignatureEvidence {
                        signed_at: at.naive_utc(),
                        signed_by: &signed_by,
                        signature_image: &image,
                        signature_sha256: &signature_sha256,
                        otp_challenge_id: &verified.challenge_id,
                        otp_masked_destination: &verified.masked_destination,
                    },
                )? {
                    // Signed or superseded meanwhile: say which.
                    return Err(match signable(tx, &contract.id) {
                        Err(e) => e,
                        Ok(_) => unexpected("draft contract refused its signature"),
                    });
                }
                transition(
                    tx,
                    &enrolment.id,
                    Event::ContractSigned,
                    &actor,
                    at,
                    Details {
                        verified_by: None,
                        facts: json!({"contract_id": contract.id}),
                    },
                )
                .map_err(|e| match e {
                    MoveError::NotFound => ContractError::EnrolmentNotFound,
                    MoveError::Store(e) => e.into(),
                    e => ContractError::NotReady(e.to_string()),
                })?;
                tx.audit(NewEvent::new(
                    at,
                    &actor,
                    "contract.signed",
                    "contract",
                    &contract.id,
                    json!({
                        "number": contract.number,
                        "enrolment_id": enrolment.id,
                        "document_sha256": contract.document_sha256,
                        "signature_sha256": signature_sha256,
                        "signature_bytes": image.len(),
                        "signature_width": drawn.width,
                        "signature_height": drawn.height,
                        "otp_challenge_id": verified.challenge_id,
                        "to": verified.masked_destination,
                        "free_package": package.free,
                    }),
                ))?;
                let row = tx
                    .contract_by_id(&contract.id)?
                    .ok_or_else(|| unexpected("signed contract vanished"))?;
                ContractSummary::from_row(&row)
            })
            .await
    }
}

/// The enrolment, if it is `verified`. Not locked: every change made on the strength of this
/// check is conditional (`WHERE status = …`) or guarded by `contracts_one_live`.
fn verified_enrolment(tx: &mut Tx<'_>, enrolment_id: &str) -> Result<EnrolmentRow, ContractError> {
    let enrolment = tx
        .enrolment_by_id(enrolment_id)?
        .ok_or(ContractError::EnrolmentNotFound)?;
    let status = enrolment.status;
    if status != Status::Verified {
        return Err(ContractError::EnrolmentNotVerified { status });
    }
    Ok(enrolment)
}

/// A draft contract and its verified enrolment.
fn signable(
    tx: &mut Tx<'_>,
    contract_id: &str,
) -> Result<(ContractRow, EnrolmentRow), ContractError> {
    let contract = tx
        .contract_by_id(contract_id)?
        .ok_or(ContractError::NotFound)?;
    // The contract's own state first: it is what the caller asked about.
    match contract.status {
        ContractStatus::Draft => {}
        ContractStatus::Signed => return Err(ContractError::AlreadySigned),
        ContractStatus::Superseded => return Err(ContractError::Superseded),
    }
    let enrolment = verified_enrolment(tx, &contract.enrolment_id)?;
    Ok((contract, enrolment))
}

fn refuse_if_free_package_used(tx: &mut Tx<'_>, id_number: &str) -> Result<(), ContractError> {
    let Some(holder) = tx.free_package_holder(id_number)? else {
        return Ok(());
    };
    let contract_number = tx
        .contract_by_id(&holder)?
        .map(|c| c.number)
        .unwrap_or(holder);
    Err(ContractError::FreePackageAlreadyUsed { contract_number })
}

impl SignedContract {
    pub fn from_row(row: &ContractRow) -> Result<Self, ContractError> {
        Ok(Self {
            contract_id: row.id.clone(),
            number: row.number.clone(),
            enrolment_id: row.enrolment_id.clone(),
            package_code: row.package_code.clone(),
            term_months: u32::try_from(row.term_months).map_err(unexpected)?,
            certificate_profile: row.certificate_profile.clone(),
            price_vnd: row.price_vnd,
        })
    }
}

/// Gives the free-package right of `contract_id` back (the citizen rejected the certificate
/// at acceptance because its contents were wrong). False when it held none.
pub fn release_free_package(
    tx: &mut Tx<'_>,
    contract_id: &str,
    at: DateTime<Utc>,
    actor: &Actor,
    reason: &str,
) -> Result<bool, ContractError> {
    if !tx.release_free_package_claim(contract_id, at.naive_utc(), reason)? {
        return Ok(false);
    }
    tx.audit(NewEvent::new(
        at,
        actor,
        "contract.free_package_released",
        "contract",
        contract_id,
        json!({"reason": reason}),
    ))?;
    Ok(true)
}
