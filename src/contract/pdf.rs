//! The contract as PDF (`documents::CONTRACT_TEMPLATE`): the draft, made with the contract,
//! and the signed version, made when the citizen signs: the draft's content plus the drawn
//! signature in Bên B's block and the evidence of the signing code. Both are stored once in
//! `pdf_documents` and never change.

use chrono::{DateTime, Datelike, Utc};
use serde_json::{json, Value};

use super::{unexpected, ContractError, Environment, Provider, WATERMARK};
use crate::audit::{Actor, NewEvent};
use crate::ca::SealingKey;
use crate::documents::{self, Image, Request};
use crate::pdf_seal::{seal_pdf, SealError, SealParams};
use crate::secrets::sha256_hex;
use crate::store::{ContractRow, EnrolmentRow, PackageRow, PdfDocumentRow, Store, StoreError, Tx};
use crate::vn;

pub const DRAFT: &str = "contract_draft";
pub const SIGNED: &str = "contract_signed";

/// The provider as every document shows it.
pub fn provider_data(p: &Provider) -> Value {
    json!({
        "name": p.name,
        "address": p.address,
        "tax_code": p.tax_code,
        "licence_number": p.licence_number,
        "licence_date": p.licence_date,
        "representative": p.representative,
        "representative_title": p.representative_title,
        "hotline": vn::phone(&p.hotline),
        "email": p.email,
        "website": p.website,
        "cps_url": p.cps_url,
    })
}

pub fn watermark(environment: Environment) -> Value {
    match environment {
        Environment::Development => Value::String(WATERMARK.into()),
        Environment::Production => Value::Null,
    }
}

/// "Hà Nội, ngày 05 tháng 12 năm 2026" without a place: the documents are made online.
pub fn dated(at: DateTime<Utc>) -> String {
    let d = vn::date_of(at);
    format!(
        "Ngày {:02} tháng {:02} năm {}",
        d.day(),
        d.month(),
        d.year()
    )
}

fn nationality(code: &str) -> &str {
    match code {
        "VN" | "VNM" => "Việt Nam",
        other => other,
    }
}

/// The citizen as the contract shows them.
pub fn subscriber_data(s: &EnrolmentRow) -> Value {
    json!({
        "name": s.full_name,
        "date_of_birth": vn::date(s.date_of_birth),
        "sex": match s.sex.as_str() { "male" => "Nam", "female" => "Nữ", other => other },
        "nationality": nationality(&s.nationality),
        "id_number": s.id_number,
        "id_issue_date": vn::date(s.id_issue_date),
        "id_issue_place": s.id_issue_place,
        "address": format!("{}, {}, {}", s.permanent_address, s.permanent_ward, s.permanent_province),
        "phone": vn::phone(&s.phone),
        "email": s.email.as_deref().unwrap_or("Không có"),
    })
}

/// What the signed version adds.
pub struct Evidence<'a> {
    pub signed_at: DateTime<Utc>,
    pub masked_destination: &'a str,
    pub challenge_id: &'a str,
    pub draft_sha256: &'a str,
    pub signature_png: &'a [u8],
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub struct Contents<'a> {
    pub environment: Environment,
    pub provider: &'a Provider,
    pub contract: &'a ContractRow,
    pub subscriber: &'a EnrolmentRow,
    pub package: &'a PackageRow,
}

/// Seals a signed document: the provider's name and the time are drawn in Bên A's block by
/// the template, and the PAdES signature's widget is placed over that block.
pub fn seal(
    rendered: documents::Rendered,
    key: &SealingKey,
    provider: &Provider,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<Vec<u8>, SealError> {
    seal_pdf(
        &rendered.pdf,
        key,
        &SealParams {
            name: provider.name.clone(),
            reason: reason.to_string(),
            location: "Việt Nam".into(),
            time: at,
            widget: rendered.seal_box,
        },
    )
}

/// What the seal box shows: the provider and the time in Vietnam.
pub fn seal_data(provider: &Provider, at: DateTime<Utc>) -> Value {
    json!({"name": provider.name, "time": vn::time_date_seconds(at)})
}

fn render(
    c: &Contents<'_>,
    evidence: Option<&Evidence<'_>>,
) -> Result<documents::Rendered, ContractError> {
    let made = c.contract.created_at.and_utc();
    let data = json!({
        "watermark": watermark(c.environment),
        "number": c.contract.number,
        "dated": dated(made),
        "provider": provider_data(c.provider),
        "subscriber": subscriber_data(c.subscriber),
        "package": {
            "name": c.package.name,
            "term_months": c.package.term_months.to_string(),
            "price": vn::dong(c.package.price_vnd),
            "free": c.package.free,
        },
        "evidence": evidence.map(|e| json!({
            "signed_at": vn::time_date_seconds(e.signed_at),
            "channel": "Tin nhắn SMS",
            "destination": e.masked_destination,
            "challenge_id": e.challenge_id,
            "draft_sha256": e.draft_sha256,
            "signature_sha256": sha256_hex(e.signature_png),
            "client_ip": e.client_ip.unwrap_or("Không được chuyển tiếp"),
            "user_agent": e.user_agent.unwrap_or("Không được chuyển tiếp"),
        })),
        "seal": evidence.map_or(Value::Null, |e| seal_data(c.provider, e.signed_at)),
    });
    let images: Vec<Image<'_>> = evidence
        .map(|e| Image {
            name: "/signature.png",
            bytes: e.signature_png,
        })
        .into_iter()
        .collect();
    documents::render_located(&Request {
        template: documents::CONTRACT_TEMPLATE,
        data: &data,
        images: &images,
        created: evidence.map_or(made, |e| e.signed_at),
        ident: &c.contract.id,
    })
    .map_err(unexpected)
}

/// Renders the draft and stores it in the caller's transaction; returns its SHA-256.
pub fn store_draft(tx: &mut Tx<'_>, c: &Contents<'_>) -> Result<String, ContractError> {
    store(
        tx,
        DRAFT,
        c,
        render(c, None)?.pdf,
        c.contract.created_at.and_utc(),
    )
}

/// Renders the signed version and stores it in the caller's transaction.
pub fn store_signed(
    tx: &mut Tx<'_>,
    c: &Contents<'_>,
    evidence: &Evidence<'_>,
    key: &SealingKey,
) -> Result<String, ContractError> {
    let sealed = seal(
        render(c, Some(evidence))?,
        key,
        c.provider,
        &format!("Hợp đồng {} do Bên B ký", c.contract.number),
        evidence.signed_at,
    )
    .map_err(unexpected)?;
    store(tx, SIGNED, c, sealed, evidence.signed_at)
}

fn store(
    tx: &mut Tx<'_>,
    kind: &str,
    c: &Contents<'_>,
    bytes: Vec<u8>,
    at: DateTime<Utc>,
) -> Result<String, ContractError> {
    let row = PdfDocumentRow::new(
        kind,
        &c.contract.id,
        documents::CONTRACT_TEMPLATE,
        bytes,
        at,
    );
    tx.insert_pdf_document(&row)?;
    Ok(row.document_sha256)
}

/// Records that `reader` viewed a stored document of a citizen (the operator pages show the
/// contracts, the drawn signature and the acceptance records; each view is an audit event,
/// as a view of an identity document is). The caller hands the bytes over only once this
/// has committed.
pub async fn audit_view(
    store: &Store,
    at: DateTime<Utc>,
    reader: &Actor,
    action: &'static str,
    (object_type, object_id): (&'static str, &str),
    details: Value,
) -> Result<(), StoreError> {
    let event = NewEvent::new(at, reader, action, object_type, object_id, details);
    store.write(move |tx| tx.audit(event).map(|_| ())).await
}
