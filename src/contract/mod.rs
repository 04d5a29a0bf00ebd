//! Packages and service contracts (domain brief §1 steps 3-4): a verified citizen picks a
//! package, the contract is rendered once from a versioned template and numbered
//! `HD-<year>-<6 digits>` in order per year, then signed with a drawn signature and an OTP
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
//! Files by concept: `catalogue` (packages on offer), `draft` (a numbered contract rendered
//! once, and its document), `signing` (the code and the signature), `free_package` (the
//! right's check and release); `document` and `signature` render and check.
//!
//! [`free_package_claims`]: crate::store::FreePackageClaimRow

mod catalogue;
mod document;
mod draft;
mod free_package;
mod pdf;
mod signature;
mod signing;

pub use catalogue::Package;
pub use document::CONTENT_TYPE as DOCUMENT_CONTENT_TYPE;
pub use draft::{ContractDocument, ContractPdf, PreparedDraft};
pub use free_package::release_free_package;
pub use pdf::{
    audit_view, dated, provider_data, seal as seal_document, seal_data, subscriber_data, watermark,
    DocumentError, Input as DocumentInput, Made as MadeDocument, DRAFT as PDF_DRAFT,
    SIGNED as PDF_SIGNED,
};
pub use signature::{
    check as check_signature, from_base64 as signature_from_base64, SignatureImage, SignatureLimits,
};
pub use signing::{PreparedSignature, SignRequest, SignedContract};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::data_keys::{DataKeys, StoredKey};
use crate::enrolment::status::Status;
use crate::otp::{Otp, OtpError};
use crate::secrets::MasterKey;
use crate::settings::{range, Invalid};
pub use crate::states::contract::ContractStatus;
use crate::store::{ContractRow, EnrolmentRow, Store, StoreError, Tx};

/// The provider, as the documents name it (party A). Empty means unset: production refuses
/// to start while any field is ([`Provider::complete`]), development fills in sample values
/// under the watermark.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Provider {
    pub name: String,
    pub address: String,
    pub tax_code: String,
    /// The licence to provide public digital-signature certification services.
    pub licence_number: String,
    /// `dd/mm/yyyy`.
    pub licence_date: String,
    /// The support line, also for suspension and revocation requests.
    #[serde(alias = "phone")]
    pub hotline: String,
    pub email: String,
    /// Defaults to `public_base_url`.
    pub website: String,
    pub representative: String,
    pub representative_title: String,
    /// Where the certificate policy and practice statement (CP/CPS) is published.
    pub cps_url: String,
}

/// Where the process runs: development documents carry a watermark and sample provider
/// data; production refuses to start without the provider's real identity.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

/// Shown across every page of a document made in development.
pub const WATERMARK: &str = "BẢN THỬ NGHIỆM – KHÔNG CÓ GIÁ TRỊ PHÁP LÝ";

impl Provider {
    /// The provider's fields by their full keys, for the completeness check.
    fn fields_mut(&mut self) -> [(&'static str, &mut String, &'static str); 11] {
        [
            (
                "contract.provider.name",
                &mut self.name,
                "Nhà cung cấp dịch vụ chứng thực chữ ký số công cộng (môi trường phát triển)",
            ),
            (
                "contract.provider.address",
                &mut self.address,
                "Số 1 Phố Thử Nghiệm, Phường Hoàn Kiếm, Thành phố Hà Nội",
            ),
            (
                "contract.provider.tax_code",
                &mut self.tax_code,
                "0100000000",
            ),
            (
                "contract.provider.licence_number",
                &mut self.licence_number,
                "000/GP-THU-NGHIEM",
            ),
            (
                "contract.provider.licence_date",
                &mut self.licence_date,
                "01/01/2026",
            ),
            (
                "contract.provider.representative",
                &mut self.representative,
                "Nguyễn Văn Thử",
            ),
            (
                "contract.provider.representative_title",
                &mut self.representative_title,
                "Tổng Giám đốc",
            ),
            ("contract.provider.hotline", &mut self.hotline, "1900 0000"),
            (
                "contract.provider.email",
                &mut self.email,
                "hotro@ca-enrol.localhost",
            ),
            ("contract.provider.website", &mut self.website, ""),
            ("contract.provider.cps_url", &mut self.cps_url, ""),
        ]
    }

    /// Fills what is unset: the website from `public_base_url`; in development every other
    /// field with a sample value (the CP/CPS URL under the website). In production any field
    /// still unset refuses start-up, naming each key.
    pub fn complete(
        &mut self,
        environment: Environment,
        public_base_url: &str,
    ) -> Result<(), Invalid> {
        if self.website.trim().is_empty() {
            self.website = public_base_url.to_string();
        }
        if environment == Environment::Development && self.cps_url.trim().is_empty() {
            self.cps_url = format!("{}/cps", self.website.trim_end_matches('/'));
        }
        let mut missing = Vec::new();
        for (key, value, sample) in self.fields_mut() {
            if value.trim().is_empty() {
                match environment {
                    Environment::Development => *value = sample.to_string(),
                    Environment::Production => missing.push(key),
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Invalid::new(
                "contract.provider",
                format!(
                    "environment = \"production\" needs the provider's identity; unset: {}",
                    missing.join(", ")
                ),
            ))
        }
    }
}

/// The provider defaults to unset: `Provider::complete` fills it in development and names the
/// gaps in production.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub provider: Provider,
    pub signature: SignatureLimits,
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
    #[error("the contract is not signed yet")]
    NotSigned,
    /// A contract made before its documents were rendered as PDF.
    #[error("the contract has no PDF version")]
    NoPdf,
    #[error("the contract was replaced by a newer one for this enrolment")]
    Superseded,
    #[error("the contract terms must be agreed to (agree: true)")]
    AgreementRequired,
    #[error(transparent)]
    Signature(#[from] crate::drawn_signature::SignatureError),
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

/// The contract service.
#[derive(Clone)]
pub struct Contracts {
    store: Store,
    otp: Otp,
    /// Seal the drawn signatures at rest, each under its own data key.
    keys: DataKeys,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    environment: Environment,
    /// Seals the signed contract.
    sealing: Arc<crate::ca::SealingKey>,
    /// Sends the signed contract to the citizen's e-mail.
    outbox: crate::notify::Outbox,
}

impl Contracts {
    // The shared handles it is wired with, as `Acceptance::new`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        otp: Otp,
        keys: MasterKey,
        clock: Arc<dyn Clock>,
        settings: Settings,
        environment: Environment,
        sealing: Arc<crate::ca::SealingKey>,
        outbox: crate::notify::Outbox,
    ) -> Self {
        Self {
            store,
            otp,
            keys: DataKeys::new(keys),
            clock,
            settings: Arc::new(settings),
            environment,
            sealing,
            outbox,
        }
    }

    /// The drawn signature (PNG) of a signed contract, `None` while it is not signed. The
    /// image is sealed at rest: this is the one way to read it (documents that show it call
    /// this, never the column).
    pub async fn signature_png(&self, id: &str) -> Result<Option<Vec<u8>>, ContractError> {
        let id = id.to_string();
        let aad = signature_aad(&id);
        let (row, key) = self
            .store
            .read(move |tx| {
                let row = tx.contract_by_id(&id)?.ok_or(ContractError::NotFound)?;
                let key = StoredKey::find(tx, row.signature_key_id.as_deref())?;
                Ok::<_, ContractError>((row, key))
            })
            .await?;
        let Some(image) = row.signature_image else {
            return Ok(None);
        };
        match key {
            StoredKey::Own(key) => self
                .keys
                .open(&key, &aad, &image)
                .map(Some)
                .map_err(unexpected),
            // Signed before signature images were sealed: stored in clear.
            StoredKey::Legacy => Ok(Some(image)),
            // Nothing deletes a signature's key while its contract is kept.
            StoredKey::Destroyed => Err(unexpected("the signature image's data key is gone")),
        }
    }

    /// [`Contracts::signature_png`] for an operator's page: the view is audited
    /// (`contract.signature_read`).
    pub async fn view_signature(
        &self,
        reader: &crate::audit::Actor,
        id: &str,
    ) -> Result<Option<Vec<u8>>, ContractError> {
        let Some(png) = self.signature_png(id).await? else {
            return Ok(None);
        };
        let details = serde_json::json!({"sha256": crate::secrets::sha256_hex(&png)});
        pdf::audit_view(
            &self.store,
            self.clock.now(),
            reader,
            "contract.signature_read",
            ("contract", id),
            details,
        )
        .await?;
        Ok(Some(png))
    }

    /// [`Contracts::pdf`] for an operator's page: the view is audited
    /// (`contract.document_read`, with the version and its SHA-256).
    pub async fn view_pdf(
        &self,
        reader: &crate::audit::Actor,
        id: &str,
        kind: &'static str,
    ) -> Result<ContractPdf, ContractError> {
        let doc = self.pdf(id, kind).await?;
        let details = serde_json::json!({"kind": kind, "sha256": doc.sha256});
        pdf::audit_view(
            &self.store,
            self.clock.now(),
            reader,
            "contract.document_read",
            ("contract", id),
            details,
        )
        .await?;
        Ok(doc)
    }

    pub fn signature_limits(&self) -> &SignatureLimits {
        &self.settings.signature
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
}

/// The digest the signing code is bound to and the template of the signed version, both the
/// draft PDF's (what the citizen reads and keeps); for a contract made before PDFs, the HTML
/// document's digest and the current template.
fn draft_version(
    tx: &mut Tx<'_>,
    contract: &ContractRow,
) -> Result<(String, &'static str), ContractError> {
    let stored = tx.pdf_document_version(pdf::DRAFT, &contract.id)?;
    let template = crate::documents::template_of(
        stored.as_ref().map(|s| s.template.as_str()),
        crate::documents::CONTRACT_TEMPLATE,
    );
    let digest = stored.map_or_else(|| contract.document_sha256.clone(), |s| s.sha256);
    Ok((digest, template))
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

/// Binds a sealed signature image to its contract.
fn signature_aad(contract_id: &str) -> Vec<u8> {
    format!("contract/{contract_id}/signature").into_bytes()
}
