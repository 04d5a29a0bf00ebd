//! Signing: the code sent by SMS bound to the document's digest, then agreement, the drawn
//! signature and the code, which sign the contract and move the enrolment to `contract_signed`.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::free_package::refuse_if_free_package_used;
use super::{
    draft_version, pdf, signature, signature_aad, unexpected, verified_enrolment, ContractError,
    ContractStatus, ContractSummary, Contracts, SignatureImage,
};
use crate::audit::{Actor, NewEvent};
use crate::data_keys::{Purpose as DataKeyPurpose, Sealed};
use crate::enrolment::identity::{Email, PhoneNumber};
use crate::enrolment::status::Event;
use crate::enrolment::transition::{transition, Details, MoveError};
use crate::notify::template::render;
use crate::notify::{AttachedDocument, Outbox, OutgoingMessage, Recipient};
use crate::otp::{
    ChallengeLookup, ChallengeRequest, ChallengeSent, Check, DocumentDigest, OtpError, Purpose,
};
use crate::secrets::sha256_hex;
use crate::store::{
    ContractRow, EnrolmentRow, FreePackageClaimRow, PackageRow, SignatureEvidence, Tx,
};

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
                    DocumentDigest::parse(&draft_version(tx, &contract)?.0).map_err(unexpected)?;
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
    /// and the enrolment's move to `contract_signed` in one audited transaction
    /// ([`Contracts::prepare_signature`], then [`Contracts::commit_signature`]).
    pub async fn sign(
        &self,
        actor: &Actor,
        id: &str,
        request: SignRequest,
    ) -> Result<ContractSummary, ContractError> {
        let prepared = self.prepare_signature(actor, id, request).await?;
        self.commit_signature(prepared).await
    }

    /// Everything but the transaction: the request's checks, the signature image sealed, and,
    /// when the code looks right (`Otp::preview`), the signed PDF rendered and sealed with the
    /// signing time fixed now, which the transaction records.
    pub async fn prepare_signature(
        &self,
        actor: &Actor,
        id: &str,
        request: SignRequest,
    ) -> Result<PreparedSignature, ContractError> {
        if !request.agree {
            return Err(ContractError::AgreementRequired);
        }
        let drawn = signature::check(&request.signature_png, &self.settings.signature)?;
        let contract_id = id.to_string();
        let read_id = contract_id.clone();
        let (contract, (digest, template), parties) = self
            .store
            .read(move |tx| {
                let contract = tx
                    .contract_by_id(&read_id)?
                    .ok_or(ContractError::NotFound)?;
                let version = draft_version(tx, &contract)?;
                // What the signed PDF shows; the transaction reads it again.
                let enrolment = tx.enrolment_by_id(&contract.enrolment_id)?;
                let package = tx.package(&contract.package_code)?;
                Ok::<_, ContractError>((contract, version, enrolment.zip(package)))
            })
            .await?;
        // Refused before the code is looked at, so a late retry does not burn an attempt.
        match contract.status {
            ContractStatus::Draft => {}
            ContractStatus::Signed => return Err(ContractError::AlreadySigned),
            ContractStatus::Superseded => return Err(ContractError::Superseded),
        }
        let check = Check {
            lookup: match request.challenge_id {
                Some(challenge) => ChallengeLookup::Id(challenge),
                None => ChallengeLookup::Subject(otp_subject(&contract_id)),
            },
            purpose: Purpose::ContractSigning,
            document_digest: DocumentDigest::parse(&digest).map_err(unexpected)?,
            code: request.otp_code,
            actor: actor.clone(),
        };
        let at = self.clock.now();
        let sealed = self
            .keys
            .seal(
                DataKeyPurpose::Signature,
                &signature_aad(&contract_id),
                &request.signature_png,
                at,
            )
            .map_err(unexpected)?;
        let mut prepared = PreparedSignature {
            actor: actor.clone(),
            contract_id,
            check,
            at,
            drawn,
            signature_sha256: sha256_hex(&request.signature_png),
            sealed,
            image: request.signature_png,
            client_ip: request.client_ip,
            user_agent: request.user_agent,
            made: None,
        };
        // A wrong or spent code renders nothing: the transaction refuses it and counts it.
        let Some(preview) = self.otp.preview(&prepared.check, at).await? else {
            return Ok(prepared);
        };
        let Some((enrolment, package)) = parties else {
            return Ok(prepared);
        };
        let input = self.signed_input(
            (&contract, &enrolment, &package, template),
            &prepared,
            (&preview.challenge_id, &preview.masked_destination),
            &digest,
        );
        prepared.made = Some(input.make_blocking().await?);
        Ok(prepared)
    }

    /// The signed PDF's input for `contract` (with what it shows and its template) as signed
    /// with `p` under the verified challenge `(id, masked destination)`.
    fn signed_input(
        &self,
        (contract, enrolment, package, template): (
            &ContractRow,
            &EnrolmentRow,
            &PackageRow,
            &'static str,
        ),
        p: &PreparedSignature,
        (challenge_id, masked_destination): (&str, &str),
        draft_sha256: &str,
    ) -> pdf::Input {
        pdf::signed(
            &pdf::Contents {
                environment: self.environment,
                provider: &self.settings.provider,
                id: &contract.id,
                number: &contract.number,
                made: contract.created_at.and_utc(),
                subscriber: enrolment,
                package,
            },
            &pdf::Evidence {
                signed_at: p.at,
                masked_destination,
                challenge_id,
                draft_sha256,
                signature_png: &p.image,
                client_ip: p.client_ip.as_deref(),
                user_agent: p.user_agent.as_deref(),
            },
            template,
            self.sealing.clone(),
        )
    }

    /// The transaction: the code verified and consumed, the contract signed, the signed PDF
    /// stored (the one prepared if what it shows is unchanged, else rendered again), the
    /// enrolment moved, all audited together.
    pub async fn commit_signature(
        &self,
        p: PreparedSignature,
    ) -> Result<ContractSummary, ContractError> {
        let this = self.clone();
        let subject = otp_subject(&p.contract_id);
        let (check, at) = (p.check.clone(), p.at);
        self.otp
            .confirm_at(check, at, move |tx, verified| {
                // The digest already binds the code to this document; the subject check
                // keeps that true even for two contracts with identical bytes.
                if verified.subject != subject {
                    return Err(ContractError::Otp(OtpError::WrongDocument));
                }
                let (contract, enrolment) = signable(tx, &p.contract_id)?;
                let package = tx
                    .package(&contract.package_code)?
                    .ok_or_else(|| unexpected("contract without its package"))?;
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
                let signed_by = p.actor.to_string();
                tx.insert_data_key(&p.sealed.key)?;
                if !tx.sign_contract(
                    &contract.id,
                    &SignatureEvidence {
                        signed_at: at.naive_utc(),
                        signed_by: &signed_by,
                        signature_image: &p.sealed.ciphertext,
                        signature_key_id: &p.sealed.key.id,
                        signature_sha256: &p.signature_sha256,
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
                let (_, template) = draft_version(tx, &contract)?;
                let signed_pdf_sha256 = this
                    .signed_input(
                        (&contract, &enrolment, &package, template),
                        &p,
                        (&verified.challenge_id, &verified.masked_destination),
                        verified.document_digest.as_str(),
                    )
                    .store(tx, pdf::SIGNED, &contract.id, p.made)?
                    .document_sha256;
                let emailed_to = match enrolment.email.as_deref() {
                    Some(address) => Some(email_signed_copy(
                        tx,
                        &this.outbox,
                        at,
                        &enrolment,
                        &contract,
                        address,
                    )?),
                    None => None,
                };
                transition(
                    tx,
                    &enrolment.id,
                    Event::ContractSigned,
                    &p.actor,
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
                    &p.actor,
                    "contract.signed",
                    "contract",
                    &contract.id,
                    json!({
                        "number": contract.number,
                        "enrolment_id": enrolment.id,
                        "document_sha256": contract.document_sha256,
                        "signature_sha256": p.signature_sha256,
                        "signature_bytes": p.image.len(),
                        "signature_width": p.drawn.width,
                        "signature_height": p.drawn.height,
                        "otp_challenge_id": verified.challenge_id,
                        "to": verified.masked_destination,
                        "free_package": package.free,
                        "signed_pdf_sha256": signed_pdf_sha256,
                        "signed_copy_emailed_to": emailed_to,
                        "client_ip": p.client_ip,
                        "user_agent": p.user_agent,
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

/// A signature checked and, when its code looked right, its signed PDF made, before the
/// transaction ([`Contracts::commit_signature`]).
#[derive(Clone)]
pub struct PreparedSignature {
    actor: Actor,
    contract_id: String,
    check: Check,
    /// The signing time: printed in the PDF, recorded as `signed_at` and the OTP's time.
    at: DateTime<Utc>,
    drawn: SignatureImage,
    signature_sha256: String,
    sealed: Sealed,
    /// Kept in memory only to be drawn into the signed contract; stored sealed.
    image: Vec<u8>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    made: Option<pdf::Made>,
}

impl PreparedSignature {
    /// The SHA-256 of the signed PDF made before the transaction, if one was.
    pub fn rendered_sha256(&self) -> Option<String> {
        self.made.as_ref().map(pdf::Made::sha256)
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
