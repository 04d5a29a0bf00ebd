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
//! Files by concept: `catalogue` (packages on offer), `draft` (a numbered contract rendered
//! once, and its document), `signing` (the code and the signature), `free_package` (the
//! right's check and release); `document` and `signature` render and check.
//!
//! [`free_package_claims`]: crate::store::FreePackageClaimRow

mod catalogue;
mod document;
mod draft;
mod free_package;
mod signature;
mod signing;

pub use catalogue::Package;
pub use document::CONTENT_TYPE as DOCUMENT_CONTENT_TYPE;
pub use draft::ContractDocument;
pub use free_package::release_free_package;
pub use signature::{check as check_signature, SignatureImage, SignatureLimits};
pub use signing::{SignRequest, SignedContract};

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
}

impl Contracts {
    pub fn new(
        store: Store,
        otp: Otp,
        keys: MasterKey,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            otp,
            keys: DataKeys::new(keys),
            clock,
            settings: Arc::new(settings),
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
