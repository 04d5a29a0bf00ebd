//! The contract as PDF (`documents::CONTRACT_TEMPLATE`): the draft, made with the contract,
//! and the signed version, made when the citizen signs: the draft's content plus the drawn
//! signature in Bên B's block and the evidence of the signing code. Both are stored once in
//! `pdf_documents` and never change.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use serde_json::{json, Value};

use super::{unexpected, ContractError, Environment, Provider, WATERMARK};
use crate::audit::{Actor, NewEvent};
use crate::ca::SealingKey;
use crate::documents::{self, Image, Request};
use crate::pdf_seal::{seal_pdf, SealError, SealParams};
use crate::secrets::sha256_hex;
use crate::store::{EnrolmentRow, PackageRow, PdfDocumentRow, Store, StoreError, Tx};
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

/// Everything a PDF is made from: two equal inputs make the same document. The expensive
/// work (typst, the seal) runs on an input read before the write transaction ([`Input::make`]);
/// the transaction reads its rows again, builds the input they give and stores the bytes made
/// before only if the two are equal ([`Input::store`]), so a document is never stored stale.
#[derive(Clone, PartialEq)]
pub struct Input {
    template: &'static str,
    data: Value,
    images: Vec<(&'static str, Vec<u8>)>,
    /// The document's time: its creation (PDF metadata), the seal's signing time and the
    /// stored row's `created_at`.
    created: DateTime<Utc>,
    ident: String,
    seal: Option<SealWith>,
}

#[derive(Clone)]
struct SealWith {
    name: String,
    reason: String,
    key: Arc<SealingKey>,
}

impl PartialEq for SealWith {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.reason == other.reason && Arc::ptr_eq(&self.key, &other.key)
    }
}

/// A document made from an [`Input`], kept with it for the transaction's check.
#[derive(Clone)]
pub struct Made {
    input: Input,
    bytes: Vec<u8>,
}

impl Made {
    /// The SHA-256 of the bytes made (tests compare it with what was stored).
    pub fn sha256(&self) -> String {
        sha256_hex(&self.bytes)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error(transparent)]
    Render(#[from] documents::RenderError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DocumentError> for ContractError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::Store(e) => e.into(),
            other => unexpected(other),
        }
    }
}

impl Input {
    /// An unsealed document (a draft, a record).
    pub fn new(template: &'static str, data: Value, created: DateTime<Utc>, ident: &str) -> Self {
        Self {
            template,
            data,
            images: Vec::new(),
            created,
            ident: ident.to_string(),
            seal: None,
        }
    }

    /// Shows `bytes` at `/<name>`.
    pub fn image(mut self, name: &'static str, bytes: Vec<u8>) -> Self {
        self.images.push((name, bytes));
        self
    }

    /// Sealed by the provider at the document's time: the provider's name and the time are
    /// drawn in Bên A's block by the template, and the PAdES widget goes over that block.
    pub fn sealed(mut self, provider: &Provider, reason: String, key: Arc<SealingKey>) -> Self {
        self.seal = Some(SealWith {
            name: provider.name.clone(),
            reason,
            key,
        });
        self
    }

    /// Renders (and seals): CPU work, for a blocking thread outside any transaction.
    pub fn make(self) -> Result<Made, DocumentError> {
        let images: Vec<Image<'_>> = self
            .images
            .iter()
            .map(|(name, bytes)| Image { name, bytes })
            .collect();
        let rendered = documents::render_located(&Request {
            template: self.template,
            data: &self.data,
            images: &images,
            created: self.created,
            ident: &self.ident,
        })?;
        let bytes = match &self.seal {
            None => rendered.pdf,
            Some(with) => seal_as(rendered, &with.key, &with.name, &with.reason, self.created)?,
        };
        Ok(Made { input: self, bytes })
    }

    /// [`Input::make`] on tokio's blocking pool.
    pub async fn make_blocking(self) -> Result<Made, DocumentError> {
        tokio::task::spawn_blocking(move || self.make())
            .await
            .map_err(|e| StoreError::Unexpected(format!("document rendering stopped: {e}")))?
    }

    /// Stores, in the caller's transaction, the document this input (read in it) gives: the
    /// bytes `made` before the transaction when they were made from an equal input, else
    /// rendered now (something they showed changed meanwhile, or nothing was made). Returns
    /// the stored row.
    pub fn store(
        self,
        tx: &mut Tx<'_>,
        kind: &str,
        subject: &str,
        made: Option<Made>,
    ) -> Result<PdfDocumentRow, DocumentError> {
        let (template, created) = (self.template, self.created);
        let bytes = match made {
            Some(made) if made.input == self => made.bytes,
            Some(_) => {
                tracing::info!(
                    kind,
                    subject,
                    "document changed while rendered: rendered again"
                );
                self.make()?.bytes
            }
            None => self.make()?.bytes,
        };
        let row = PdfDocumentRow::new(kind, subject, template, bytes, created);
        tx.insert_pdf_document(&row)?;
        Ok(row)
    }
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

/// What a contract's PDF shows of the contract, the parties and the package.
pub struct Contents<'a> {
    pub environment: Environment,
    pub provider: &'a Provider,
    /// The contract's id, number and making time.
    pub id: &'a str,
    pub number: &'a str,
    pub made: DateTime<Utc>,
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
    seal_as(rendered, key, &provider.name, reason, at)
}

fn seal_as(
    rendered: documents::Rendered,
    key: &SealingKey,
    name: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<Vec<u8>, SealError> {
    seal_pdf(
        &rendered.pdf,
        key,
        &SealParams {
            name: name.to_string(),
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

fn data(c: &Contents<'_>, evidence: Option<&Evidence<'_>>) -> Value {
    json!({
        "watermark": watermark(c.environment),
        "number": c.number,
        "dated": dated(c.made),
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
    })
}

/// The draft: what the citizen reads and the signing code is bound to.
pub fn draft(c: &Contents<'_>) -> Input {
    Input::new(documents::CONTRACT_TEMPLATE, data(c, None), c.made, c.id)
}

/// The signed version: the draft's content, the drawn signature, the evidence, sealed at the
/// signing time; in `template`, the draft's.
pub fn signed(
    c: &Contents<'_>,
    evidence: &Evidence<'_>,
    template: &'static str,
    key: Arc<SealingKey>,
) -> Input {
    Input::new(template, data(c, Some(evidence)), evidence.signed_at, c.id)
        .image("/signature.png", evidence.signature_png.to_vec())
        .sealed(
            c.provider,
            format!("Hợp đồng {} do Bên B ký", c.number),
            key,
        )
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
