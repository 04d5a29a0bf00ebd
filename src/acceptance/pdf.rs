//! The acceptance record as PDF (`documents::ACCEPTANCE_TEMPLATE`): made the first time the
//! pending record is needed (`Acceptance::record_pdf`), and the accepted version, made when
//! the citizen confirms it, with the evidence of the code.
//! The certificate is shown as readable fields (holder's name, ID number, province; the
//! issuer's name and organisation), never as a raw distinguished name.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use openssl::nid::Nid;
use openssl::x509::X509NameRef;
use serde_json::{json, Value};

use super::{unexpected, AcceptanceError};
use crate::ca::SealingKey;
use crate::contract::{
    dated, provider_data, seal_data, subscriber_data, watermark, DocumentError, DocumentInput,
    Environment, Provider,
};
use crate::documents;
use crate::store::{CertificateRow, EnrolmentRow, Tx};
use crate::vn;

pub const RECORD: &str = "acceptance_record";
pub const ACCEPTED: &str = "acceptance_signed";

fn entry(name: &X509NameRef, nid: Nid) -> Option<String> {
    name.entries_by_nid(nid)
        .next()
        .map(|e| String::from_utf8_lossy(e.data().as_slice()).into_owned())
}

/// `AB:CD:…`, as certificate viewers show fingerprints.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What the accepted version adds.
pub struct Evidence<'a> {
    pub accepted_at: DateTime<Utc>,
    pub channel: &'a str,
    pub masked_destination: &'a str,
    pub challenge_id: &'a str,
    pub record_sha256: &'a str,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub struct Contents<'a> {
    pub environment: Environment,
    pub provider: &'a Provider,
    pub made: DateTime<Utc>,
    pub subscriber: &'a EnrolmentRow,
    pub contract_number: &'a str,
    pub package_name: &'a str,
    pub certificate: &'a CertificateRow,
    pub cert_der: &'a [u8],
}

fn channel_name(channel: &str) -> &str {
    match channel {
        "sms" => "Tin nhắn SMS",
        "email" => "Thư điện tử",
        other => other,
    }
}

fn input(
    c: &Contents<'_>,
    evidence: Option<&Evidence<'_>>,
    template: &'static str,
) -> Result<DocumentInput, AcceptanceError> {
    let names = crate::ca::certificate_names(c.cert_der).map_err(unexpected)?;
    let (subject, issuer) = (&names.subject, &names.issuer);
    let holder_id = entry(subject, Nid::USERID)
        .or_else(|| entry(subject, Nid::SERIALNUMBER))
        .map(|id| id.rsplit(':').next().unwrap_or_default().to_string())
        .unwrap_or_else(|| c.subscriber.id_number.clone());
    let issuer_text = [
        entry(issuer, Nid::COMMONNAME),
        entry(issuer, Nid::ORGANIZATIONNAME),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" – ");
    let data = json!({
        "watermark": watermark(c.environment),
        "dated": dated(c.made),
        "contract_number": c.contract_number,
        "package_name": c.package_name,
        "provider": provider_data(c.provider),
        "subscriber": subscriber_data(c.subscriber),
        "certificate": {
            "serial": c.certificate.serial.to_ascii_uppercase(),
            "holder_name": entry(subject, Nid::COMMONNAME).unwrap_or_else(|| c.subscriber.full_name.clone()),
            "holder_id": holder_id,
            "holder_province": entry(subject, Nid::STATEORPROVINCENAME)
                .unwrap_or_else(|| c.subscriber.permanent_province.clone()),
            "issuer": issuer_text,
            "not_before": vn::time_date_seconds(c.certificate.not_before.and_utc()),
            "not_after": vn::time_date_seconds(c.certificate.not_after.and_utc()),
            "key": c.certificate.key_description,
            "fingerprint": colon_hex(&crate::ca::sha256(c.cert_der)),
        },
        "evidence": evidence.map(|e| json!({
            "accepted_at": vn::time_date_seconds(e.accepted_at),
            "channel": channel_name(e.channel),
            "destination": e.masked_destination,
            "challenge_id": e.challenge_id,
            "record_sha256": e.record_sha256,
            "client_ip": e.client_ip.unwrap_or("Không được chuyển tiếp"),
            "user_agent": e.user_agent.unwrap_or("Không được chuyển tiếp"),
        })),
        "seal": evidence.map_or(Value::Null, |e| seal_data(c.provider, e.accepted_at)),
    });
    Ok(DocumentInput::new(
        template,
        data,
        evidence.map_or(c.made, |e| e.accepted_at),
        &c.certificate.serial,
    ))
}

/// The record's input; [`DocumentInput::make`] renders it outside any transaction.
pub fn record(c: &Contents<'_>) -> Result<DocumentInput, AcceptanceError> {
    input(c, None, documents::ACCEPTANCE_TEMPLATE)
}

/// The accepted version: the record's content and the evidence of the code, sealed at the
/// acceptance time; in `template`, the record's.
pub fn accepted(
    c: &Contents<'_>,
    evidence: &Evidence<'_>,
    template: &'static str,
    key: Arc<SealingKey>,
) -> Result<DocumentInput, AcceptanceError> {
    Ok(input(c, Some(evidence), template)?.sealed(
        c.provider,
        format!(
            "Biên bản nghiệm thu chứng thư số {} do Bên B xác nhận",
            c.certificate.serial
        ),
        key,
    ))
}

/// The digest the acceptance code is bound to and the template of the accepted version, both
/// the PDF record's; for a record made before PDFs, the HTML record's digest and the current
/// template.
pub fn record_version(
    tx: &mut Tx<'_>,
    serial: &str,
    html_sha256: &str,
) -> Result<(String, &'static str), AcceptanceError> {
    let stored = tx.pdf_document_version(RECORD, serial)?;
    let template = documents::template_of(
        stored.as_ref().map(|s| s.template.as_str()),
        documents::ACCEPTANCE_TEMPLATE,
    );
    let digest = stored.map_or_else(|| html_sha256.to_string(), |s| s.sha256);
    Ok((digest, template))
}

impl From<DocumentError> for AcceptanceError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::Store(e) => e.into(),
            other => unexpected(other),
        }
    }
}

/// What the record shows: the certificate, its enrolment, the contract's number and the
/// package's name.
pub type Shown = (CertificateRow, EnrolmentRow, String, String);

/// Everything the record shows, read in the caller's transaction.
pub fn contents_of(tx: &mut Tx<'_>, serial: &str) -> Result<Shown, AcceptanceError> {
    let certificate = tx.certificate(serial)?.ok_or(AcceptanceError::NotFound)?;
    let enrolment = tx
        .enrolment_by_id(&certificate.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without its enrolment"))?;
    let contract = tx
        .signed_contract_ref(&certificate.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without a signed contract"))?;
    let package = tx
        .package(&contract.package_code)?
        .ok_or_else(|| unexpected("contract without its package"))?;
    Ok((certificate, enrolment, contract.number, package.name))
}
