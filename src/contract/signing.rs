//! Signing: the code sent by SMS bound to the document's digest, then agreement, the drawn
//! signature and the code, which sign the contract and move the enrolment to `contract_signed`.

use serde_json::json;

use super::free_package::refuse_if_free_package_used;
use super::{
    pdf, signature, signature_aad, signing_digest, unexpected, verified_enrolment, ContractError,
    ContractStatus, ContractSummary, Contracts,
};
use crate::audit::{Actor, NewEvent};
use crate::data_keys::Purpose as DataKeyPurpose;
use crate::enrolment::identity::{Email, PhoneNumber};
use crate::enrolment::status::Event;
use crate::enrolment::transition::{transition, Details, MoveError};
use crate::notify::template::render;
use crate::notify::{AttachedDocument, Outbox, OutgoingMessage, Recipient};
use crate::otp::{
    ChallengeLookup, ChallengeRequest, ChallengeSent, Check, DocumentDigest, OtpError, Purpose,
};
use crate::secrets::sha256_hex;
use crate::store::{ContractRow, EnrolmentRow, FreePackageClaimRow, SignatureEvidence, Tx};

/// What the citizen sends to sign.
pub struct SignRequest {
    pub agree: bool,
    pub signature_png: Vec<u8>,
    pub otp_code: String,
    /// The challenge the code answers; the latest one for the contract when absent.
    pub challenge_id: Option<String>,
    /// The citizen's address and user agent as relayed by the integration (the app's backend
    /// sees the citizen's connection), shown in the signed contract's evidence.
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
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

const SIGNED_EMAIL_SUBJECT: &str =
    include_str!("../../templates/contracts/signed_email_subject.txt");
const SIGNED_EMAIL_BODY: &str = include_str!("../../templates/contracts/signed_email_body.txt");

/// The e-mail carrying the sealed signed contract (`HD-….pdf`), enqueued in the signing
/// transaction, so it exists exactly when the signature does. The PDF is attached by
/// reference to its immutable `pdf_documents` row. Returns the masked address.
fn email_signed_copy(
    tx: &mut Tx<'_>,
    outbox: &Outbox,
    at: chrono::DateTime<chrono::Utc>,
    enrolment: &EnrolmentRow,
    contract: &ContractRow,
    address: &str,
) -> Result<String, ContractError> {
    let to = Recipient::Email(Email::parse("email", address).map_err(unexpected)?);
    let masked = to.masked();
    let signed_at = crate::vn::time_date(at);
    let vars = [
        ("name", enrolment.full_name.as_str()),
        ("number", contract.number.as_str()),
        ("signed_at", signed_at.as_str()),
    ];
    outbox
        .enqueue(
            tx,
            at,
            OutgoingMessage {
                kind: "contract_signed",
                to,
                subject: render(SIGNED_EMAIL_SUBJECT, &vars),
                text: render(SIGNED_EMAIL_BODY, &vars),
                not_after: None,
                attachment: Some(AttachedDocument {
                    kind: pdf::SIGNED.into(),
                    subject: contract.id.clone(),
                    filename: format!("{}.pdf", contract.number),
                }),
            },
        )
        .map_err(unexpected)?;
    Ok(masked)
}

/// The OTP subject of a contract.
fn otp_subject(contract_id: &str) -> String {
    format!("contract:{contract_id}")
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

impl Contracts {
    /// Sends a signing code by SMS to the enrolment's phone, bound to the contract's digest.
    pub async fn send_otp(&self, actor: &Actor, id: &str) -> Result<ChallengeSent, ContractError> {
        let now = self.clock.now();
        let (actor, id, otp) = (actor.clone(), id.to_string(), self.otp.clone());
        self.store
            .write(move |tx| {
                let (contract, enrolment) = signable(tx, &id)?;
                let phone = PhoneNumber::parse("phone", &enrolment.phone).map_err(unexpected)?;
                let digest =
                    DocumentDigest::parse(&signing_digest(tx, &contract)?).map_err(unexpected)?;
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
        let (contract, digest) = self
            .store
            .read(move |tx| {
                let contract = tx
                    .contract_by_id(&read_id)?
                    .ok_or(ContractError::NotFound)?;
                let digest = signing_digest(tx, &contract)?;
                Ok::<_, ContractError>((contract, digest))
            })
            .await?;
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
            document_digest: DocumentDigest::parse(&digest).map_err(unexpected)?,
            code: request.otp_code,
            actor: actor.clone(),
        };
        let actor = actor.clone();
        let signature_sha256 = sha256_hex(&request.signature_png);
        let signature_bytes = request.signature_png.len();
        let sealed = self
            .keys
            .seal(
                DataKeyPurpose::Signature,
                &signature_aad(&contract_id),
                &request.signature_png,
                self.clock.now(),
            )
            .map_err(unexpected)?;
        // Kept in memory only to be drawn into the signed contract; stored sealed.
        let image = request.signature_png;
        let (client_ip, user_agent) = (request.client_ip, request.user_agent);
        let (provider, environment) = (self.settings.provider.clone(), self.environment);
        let sealing = self.sealing.clone();
        let outbox = self.outbox.clone();
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
                let signed_by = actor.to_string();
                tx.insert_data_key(&sealed.key)?;
                if !tx.sign_contract(
                    &contract.id,
                    &SignatureEvidence {
                        signed_at: at.naive_utc(),
                        signed_by: &signed_by,
                        signature_image: &sealed.ciphertext,
                        signature_key_id: &sealed.key.id,
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
                let signed_pdf_sha256 = pdf::store_signed(
                    tx,
                    &pdf::Contents {
                        environment,
                        provider: &provider,
                        contract: &contract,
                        subscriber: &enrolment,
                        package: &package,
                    },
                    &pdf::Evidence {
                        signed_at: at,
                        masked_destination: &verified.masked_destination,
                        challenge_id: &verified.challenge_id,
                        draft_sha256: verified.document_digest.as_str(),
                        signature_png: &image,
                        client_ip: client_ip.as_deref(),
                        user_agent: user_agent.as_deref(),
                    },
                    &sealing,
                )?;
                let emailed_to = match enrolment.email.as_deref() {
                    Some(address) => Some(email_signed_copy(
                        tx, &outbox, at, &enrolment, &contract, address,
                    )?),
                    None => None,
                };
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
                        "signature_bytes": signature_bytes,
                        "signature_width": drawn.width,
                        "signature_height": drawn.height,
                        "otp_challenge_id": verified.challenge_id,
                        "to": verified.masked_destination,
                        "free_package": package.free,
                        "signed_pdf_sha256": signed_pdf_sha256,
                        "signed_copy_emailed_to": emailed_to,
                        "client_ip": client_ip,
                        "user_agent": user_agent,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_copy_e_mail_fills_every_placeholder() {
        let vars = [
            ("name", "Nguyễn Thị Thuỷ Tiên"),
            ("number", "HD-2026-000123"),
            ("signed_at", "10:00 05/12/2026"),
        ];
        for template in [SIGNED_EMAIL_SUBJECT, SIGNED_EMAIL_BODY] {
            let text = render(template, &vars);
            assert!(!text.contains("{{"), "{text}");
            assert!(text.contains("HD-2026-000123"), "{text}");
        }
    }
}
