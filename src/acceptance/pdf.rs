//! The acceptance record as PDF (`documents::ACCEPTANCE_TEMPLATE`): made with the record, and
//! the accepted version, made when the citizen confirms it, with the evidence of the code.
//! The certificate is shown as readable fields (holder's name, ID number, province; the
//! issuer's name and organisation), never as a raw distinguished name.

use chrono::{DateTime, Utc};
use openssl::nid::Nid;
use openssl::x509::{X509NameRef, X509};
use serde_json::{json, Value};

use super::{unexpected, AcceptanceError};
use crate::ca::SealingKey;
use crate::contract::{
    dated, provider_data, seal_data, seal_document, subscriber_data, watermark, Environment,
    Provider,
};
use crate::documents::{self, Request};
use crate::store::{CertificateRow, EnrolmentRow, PdfDocumentRow, Tx};
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

fn render(
    c: &Contents<'_>,
    evidence: Option<&Evidence<'_>>,
) -> Result<documents::Rendered, AcceptanceError> {
    let cert = X509::from_der(c.cert_der).map_err(unexpected)?;
    let subject = cert.subject_name();
    let issuer = cert.issuer_name();
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
            "fingerprint": colon_hex(&openssl::sha::sha256(c.cert_der)),
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
    documents::render_located(&Request {
        template: documents::ACCEPTANCE_TEMPLATE,
        data: &data,
        images: &[],
        created: evidence.map_or(c.made, |e| e.accepted_at),
        ident: &c.certificate.serial,
    })
    .map_err(unexpected)
}

/// Renders the record (outside any transaction: `record.rs` stores it later).
pub fn render_record(c: &Contents<'_>) -> Result<Vec<u8>, AcceptanceError> {
    Ok(render(c, None)?.pdf)
}

/// Stores the record of `serial` rendered by [`render_record`] at `made`, in the caller's
/// transaction; returns its SHA-256.
pub fn store_record(
    tx: &mut Tx<'_>,
    serial: &str,
    pdf: Vec<u8>,
    made: DateTime<Utc>,
) -> Result<String, AcceptanceError> {
    let row = PdfDocumentRow::new(RECORD, serial, documents::ACCEPTANCE_TEMPLATE, pdf, made);
    tx.insert_pdf_document(&row)?;
    Ok(row.document_sha256)
}

/// Renders the accepted version and stores it in the caller's transaction.
pub fn store_accepted(
    tx: &mut Tx<'_>,
    c: &Contents<'_>,
    evidence: &Evidence<'_>,
    key: &SealingKey,
) -> Result<String, AcceptanceError> {
    let sealed = seal_document(
        render(c, Some(evidence))?,
        key,
        c.provider,
        &format!(
            "Biên bản nghiệm thu chứng thư số {} do Bên B xác nhận",
            c.certificate.serial
        ),
        evidence.accepted_at,
    )
    .map_err(unexpected)?;
    store(tx, ACCEPTED, c, sealed, evidence.accepted_at)
}

fn store(
    tx: &mut Tx<'_>,
    kind: &str,
    c: &Contents<'_>,
    bytes: Vec<u8>,
    at: DateTime<Utc>,
) -> Result<String, AcceptanceError> {
    let row = PdfDocumentRow::new(
        kind,
        &c.certificate.serial,
        documents::ACCEPTANCE_TEMPLATE,
        bytes,
        at,
    );
    tx.insert_pdf_document(&row)?;
    Ok(row.document_sha256)
}

/// The digest the acceptance code is bound to: the PDF record's, or the HTML record's for a
/// record made before PDFs.
pub fn signing_digest(
    tx: &mut Tx<'_>,
    serial: &str,
    html_sha256: &str,
) -> Result<String, AcceptanceError> {
    Ok(match tx.pdf_document(RECORD, serial)? {
        Some(record) => record.document_sha256,
        None => html_sha256.to_string(),
    })
}

/// Everything the record shows, read in the caller's transaction.
pub fn contents_of(
    tx: &mut Tx<'_>,
    serial: &str,
) -> Result<(CertificateRow, EnrolmentRow, String, String), AcceptanceError> {
    let certificate = tx.certificate(serial)?.ok_or(AcceptanceError::NotFound)?;
    let enrolment = tx
        .enrolment_by_id(&certificate.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without its enrolment"))?;
    let contract = tx
        .signed_contract_for(&certificate.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without a signed contract"))?;
    let package = tx
        .package(&contract.package_code)?
        .ok_or_else(|| unexpected("contract without its package"))?;
    Ok((certificate, enrolment, contract.number, package.name))
}
