//! Enrolments (roles `operator`, `ra_officer`, as `GET /api/v1/enrolments/{id}`): search by
//! ID number, phone, name and status; a detail page with the timeline built from the audit
//! trail, the documents, the contracts and the certificates; the document images through
//! `Enrolments::read_document` (audited, `Cache-Control: no-store`); the contracts' draft and
//! signed PDFs in an inline viewer, and the drawn signature (each view audited).

use askama::Template;
use poem::http::header;
use poem::web::{Data, Path, Query};
use poem::{handler, Response};
use serde::Deserialize;

use super::i18n::Lang;
use super::{pdf_view, render, with_document_viewer, FileQuery, Page, WebError, WebUser};
use crate::app::AppState;
use crate::contract::{ContractError, PDF_DRAFT, PDF_SIGNED};
use crate::enrolment::identity::PhoneNumber;
use crate::enrolment::{DocumentKind, DocumentReader, EnrolmentError, Status};
use crate::operators::Role;
use crate::status::CertificateStatus;
use crate::store::{EnrolmentQuery, EnrolmentRow};
use crate::vn;

pub const READERS: &[Role] = &[Role::Operator, Role::RaOfficer];
const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: i64,
}

pub struct Row {
    pub id: String,
    pub full_name: String,
    pub id_number: String,
    pub phone: String,
    pub status: String,
    pub status_text: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "web/enrolments.html")]
struct SearchPage {
    page: Page,
    q: SearchQuery,
    statuses: Vec<super::SelectOption>,
    rows: Vec<Row>,
    searched: bool,
    error: Option<String>,
    prev_href: Option<String>,
    next_href: Option<String>,
}

#[handler]
pub async fn search(
    user: WebUser,
    state: Data<&AppState>,
    query: Query<SearchQuery>,
) -> Result<Response, WebError> {
    user.require(READERS)?;
    let lang = user.page.lang;
    let q = query.0;
    let mut error = None;
    let phone = match q.phone.trim() {
        "" => None,
        p => match PhoneNumber::parse("phone", p) {
            Ok(p) => Some(p.as_str().to_string()),
            Err(e) => {
                error = Some(e.text.get(lang).to_string());
                None
            }
        },
    };
    let status = match q.status.as_str() {
        "" => None,
        s => Some(Status::parse(s).ok_or(WebError::NotFound)?),
    };
    let name = q.name.split_whitespace().collect::<Vec<_>>().join(" ");
    let searched =
        !(q.id_number.trim().is_empty() && phone.is_none() && name.is_empty()) || status.is_some();
    let offset = q.page.max(0) * PAGE_SIZE;
    let rows = if error.is_some() {
        Vec::new()
    } else {
        let eq = EnrolmentQuery {
            id_number: Some(q.id_number.trim().to_string()).filter(|s| !s.is_empty()),
            phone,
            name: Some(name.clone()).filter(|n| !n.is_empty()),
            status,
            offset,
            // One more than shown tells whether there is a next page.
            limit: PAGE_SIZE + 1,
        };
        state
            .store
            .read(move |tx| tx.search_enrolments(&eq))
            .await?
    };
    let more = rows.len() as i64 > PAGE_SIZE;
    let href = |page: i64| {
        format!(
            "/enrolments?id_number={}&phone={}&name={}&status={}&page={page}",
            super::session::percent_encode(q.id_number.trim()),
            super::session::percent_encode(q.phone.trim()),
            super::session::percent_encode(&name),
            super::session::percent_encode(&q.status),
        )
    };
    let prev_href = (q.page > 0).then(|| href(q.page - 1));
    let next_href = more.then(|| href(q.page.max(0) + 1));
    let rows = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|r| row(lang, &r))
        .collect();
    render(&SearchPage {
        statuses: Status::ALL
            .iter()
            .map(|s| {
                super::SelectOption::new(
                    s.as_str(),
                    lang.t_or_code(&format!("status.{}", s.as_str())),
                    &q.status,
                )
            })
            .collect(),
        page: user.page,
        q,
        rows,
        searched,
        error,
        prev_href,
        next_href,
    })
}

fn row(lang: Lang, r: &EnrolmentRow) -> Row {
    Row {
        id: r.id.clone(),
        full_name: r.full_name.clone(),
        id_number: r.id_number.clone(),
        phone: vn::phone(&r.phone),
        status: r.status.as_str().to_string(),
        status_text: lang.t_or_code(&format!("status.{}", r.status)).to_string(),
        created: vn::date_time(r.created_at.and_utc()),
    }
}

pub struct Field {
    pub key: &'static str,
    pub value: String,
}

pub struct TimelineItem {
    pub at: String,
    pub action: String,
    pub label: Option<&'static str>,
    pub actor: String,
    pub details: String,
}

pub struct ContractItem {
    pub id: String,
    pub number: String,
    /// The stored PDF versions, shown in the page's viewer.
    pub draft_pdf: bool,
    pub signed_pdf: bool,
    pub status: String,
    pub package: String,
    pub price: String,
    pub term_months: i32,
    pub created: String,
    pub signed: Option<String>,
    pub masked_destination: Option<String>,
}

pub struct CertificateItem {
    pub serial: String,
    pub status: String,
    pub not_after: String,
    pub link: bool,
}

#[derive(Template)]
#[template(path = "web/enrolment.html")]
struct DetailPage {
    page: Page,
    id: String,
    full_name: String,
    status_text: String,
    status: String,
    fields: Vec<Field>,
    /// (kind, caption)
    documents: Vec<(&'static str, String)>,
    timeline: Vec<TimelineItem>,
    contracts: Vec<ContractItem>,
    /// Whether any contract has a PDF to show.
    contract_pdfs: bool,
    certificates: Vec<CertificateItem>,
    /// For an operator: the counter path's step this counter enrolment is at, to resume it.
    counter_step: Option<String>,
}

#[handler]
pub async fn detail(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
) -> Result<Response, WebError> {
    user.require(READERS)?;
    let lang = user.page.lang;
    let id = id.0;
    let lookup = id.clone();
    let found = state
        .store
        .read(move |tx| {
            let Some(row) = tx.enrolment_by_id(&lookup)? else {
                return Ok(None);
            };
            let kinds = tx.document_kinds(&lookup)?;
            let call = tx.video_call_for_enrolment(&lookup)?;
            let contracts = tx
                .contracts_for_enrolment(&lookup)?
                .into_iter()
                .map(|c| Ok((tx.pdf_document_kinds(&c.id)?, c)))
                .collect::<Result<Vec<_>, crate::store::StoreError>>()?;
            let certificates = tx.certificates_for_enrolment(&lookup)?;
            let mut objects = vec![lookup.clone()];
            objects.extend(call.map(|c| c.id));
            objects.extend(contracts.iter().map(|(_, c)| c.id.clone()));
            objects.extend(certificates.iter().map(|c| c.serial.clone()));
            let events = tx.audit_events_for_objects(&objects)?;
            let consent = tx.consent_evidence(&lookup)?.map(|c| c.method);
            Ok::<_, crate::store::StoreError>(Some((
                row,
                kinds,
                contracts,
                certificates,
                events,
                consent,
            )))
        })
        .await?;
    let Some((row, kinds, contracts, certificates, events, consent)) = found else {
        return Err(WebError::NotFound);
    };
    let can_see_certificates = user.require(super::certificates::READERS).is_ok();
    let contract_pdfs = contracts.iter().any(|(kinds, _)| !kinds.is_empty());
    let awaiting_acceptance = certificates
        .iter()
        .any(|c| c.status == CertificateStatus::PendingAcceptance);
    let counter_step = crate::enrolment::Source::parse(&row.source)
        .filter(|_| user.require(&[crate::operators::Role::Operator]).is_ok())
        .and_then(|source| {
            super::counter_steps::continue_href(&row.id, source, row.status, awaiting_acceptance)
        });
    render(&DetailPage {
        counter_step,
        contract_pdfs,
        id: row.id.clone(),
        full_name: row.full_name.clone(),
        status_text: lang
            .t_or_code(&format!("status.{}", row.status))
            .to_string(),
        status: row.status.as_str().to_string(),
        fields: fields(lang, &row, consent.as_deref()),
        documents: DocumentKind::ALL
            .iter()
            .filter(|k| kinds.iter().any(|s| s == k.as_str()))
            .map(|k| {
                let caption = lang
                    .t_or_code(&format!("document.{}", k.as_str()))
                    .to_string();
                (k.as_str(), caption)
            })
            .collect(),
        timeline: events
            .into_iter()
            .map(|e| TimelineItem {
                at: vn::date_time(e.at),
                label: lang.try_t(&format!("action.{}", e.action)),
                action: e.action,
                actor: e
                    .actor
                    .strip_prefix("operator:")
                    .map(str::to_string)
                    .unwrap_or(e.actor),
                details: readable(&e.details),
            })
            .collect(),
        contracts: contracts
            .into_iter()
            .map(|(kinds, c)| ContractItem {
                draft_pdf: kinds.iter().any(|k| k == PDF_DRAFT),
                signed_pdf: kinds.iter().any(|k| k == PDF_SIGNED),
                id: c.id,
                number: c.number,
                status: lang
                    .t_or_code(&format!("contract_status.{}", c.status.as_str()))
                    .to_string(),
                package: c.package_code,
                price: vn::vnd(c.price_vnd),
                term_months: c.term_months,
                created: vn::date_time(c.created_at.and_utc()),
                signed: c.signed_at.map(|t| vn::date_time(t.and_utc())),
                masked_destination: c.otp_masked_destination,
            })
            .collect(),
        certificates: certificates
            .into_iter()
            .filter(|c| c.status != CertificateStatus::Signing)
            .map(|c| CertificateItem {
                status: lang
                    .t_or_code(&format!("cert_status.{}", c.status))
                    .to_string(),
                serial: c.serial,
                not_after: vn::date_time(c.not_after.and_utc()),
                link: can_see_certificates,
            })
            .collect(),
        page: user.page,
    })
    .map(with_document_viewer)
}

/// An event's details as `name: value` pairs for a reader (the audit page keeps the JSON):
/// empty values left out, nested ones compact.
fn readable(details: &str) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(details) else {
        return details.to_string();
    };
    fields
        .iter()
        .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}: {value}", k.replace('_', " "))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The words for a stored code (`sex.male`, `source.counter`, …), or the code itself when the
/// catalogue has none (e.g. a video call's `verified_by`, which names the operator).
fn label(lang: Lang, group: &str, code: &str) -> String {
    lang.try_t(&format!("{group}.{code}"))
        .unwrap_or(code)
        .to_string()
}

/// The enrolment's fields; `consent_method` is how a desk citizen consented
/// (`consent_evidence.method`).
fn fields(lang: Lang, r: &EnrolmentRow, consent_method: Option<&str>) -> Vec<Field> {
    let f = |key, value: String| Field { key, value };
    let address = |line: &str, ward: &str, province: &str| format!("{line}, {ward}, {province}");
    let mut out = vec![
        f("enrolment.id_number", r.id_number.clone()),
        f("enrolment.date_of_birth", vn::date(r.date_of_birth)),
        f("enrolment.sex", label(lang, "sex", &r.sex)),
        f("enrolment.nationality", r.nationality.clone()),
        f(
            "enrolment.permanent_address",
            address(
                &r.permanent_address,
                &r.permanent_ward,
                &r.permanent_province,
            ),
        ),
    ];
    if let (Some(a), Some(w), Some(p)) = (&r.current_address, &r.current_ward, &r.current_province)
    {
        out.push(f("enrolment.current_address", address(a, w, p)));
    }
    out.extend([
        f(
            "enrolment.id_issue",
            format!("{}, {}", vn::date(r.id_issue_date), r.id_issue_place),
        ),
        f(
            "enrolment.id_expiry",
            r.id_expiry_date
                .map(vn::date)
                .unwrap_or_else(|| lang.t("enrolment.no_expiry").to_string()),
        ),
        f("enrolment.phone", vn::phone(&r.phone)),
        f("enrolment.email", r.email.clone().unwrap_or_default()),
        f("enrolment.source", label(lang, "source", &r.source)),
        f("enrolment.created", vn::date_time(r.created_at.and_utc())),
        f(
            "enrolment.consent",
            [
                r.consent_version.clone(),
                r.consent_channel.clone(),
                vn::date_time(r.consent_given_at.and_utc()),
            ]
            .into_iter()
            .chain(consent_method.map(|m| label(lang, "consent_method", m)))
            .collect::<Vec<_>>()
            .join(" · "),
        ),
        f(
            "enrolment.verified_by",
            r.verified_by
                .as_deref()
                .map(|v| label(lang, "verified_by", v))
                .unwrap_or_default(),
        ),
        f(
            "enrolment.enrolled_by",
            r.enrolled_by.clone().unwrap_or_default(),
        ),
    ]);
    out
}

/// `GET /enrolments/{id}/documents/{kind}`: the decrypted image for the operator on the
/// applicant's call or an RA officer reviewing a completed one (`DocumentReader`); each read
/// is an audit event, and no cache may keep it.
#[handler]
pub async fn document(
    user: WebUser,
    state: Data<&AppState>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, WebError> {
    user.require(READERS)?;
    let kind = DocumentKind::parse(&kind).ok_or(WebError::NotFound)?;
    let reader = DocumentReader::of(&user.principal).ok_or(WebError::Forbidden)?;
    let doc = state
        .enrolments
        .read_document(&user.principal.actor(), &reader, &id, kind)
        .await
        .map_err(|e| match e {
            EnrolmentError::NotFound
            | EnrolmentError::DocumentNotFound
            | EnrolmentError::DocumentDestroyed => WebError::NotFound,
            EnrolmentError::DocumentAccessDenied => WebError::Forbidden,
            e => WebError::failed(e),
        })?;
    Ok(Response::builder()
        .content_type(doc.image_type.content_type())
        .header(header::CACHE_CONTROL, "no-store")
        .header("content-disposition", "inline")
        .body(doc.bytes))
}

/// `GET /enrolments/{id}/contracts/{contract}/{file}`: a contract of the enrolment as the
/// page shows it: `draft` or `signed` (PDF, inline in the page's viewer, or `?download=1`),
/// or `signature` (the drawn signature, PNG). Each view is an audit event, never cached.
#[handler]
pub async fn contract_file(
    user: WebUser,
    state: Data<&AppState>,
    Path((id, contract, file)): Path<(String, String, String)>,
    query: Query<FileQuery>,
) -> Result<Response, WebError> {
    user.require(READERS)?;
    let lookup = contract.clone();
    // The URL names both: the contract must be this enrolment's.
    state
        .store
        .read(move |tx| tx.contract_by_id(&lookup))
        .await?
        .filter(|c| c.enrolment_id == id)
        .ok_or(WebError::NotFound)?;
    let reader = user.principal.actor();
    let missing = |e: ContractError| match e {
        ContractError::NotFound | ContractError::NotSigned | ContractError::NoPdf => {
            WebError::NotFound
        }
        e => WebError::failed(e),
    };
    let (kind, suffix) = match file.as_str() {
        "draft" => (PDF_DRAFT, "-du-thao"),
        "signed" => (PDF_SIGNED, ""),
        "signature" => {
            let png = state
                .contracts
                .view_signature(&reader, &contract)
                .await
                .map_err(missing)?
                .ok_or(WebError::NotFound)?;
            return Ok(Response::builder()
                .content_type("image/png")
                .header(header::CACHE_CONTROL, "no-store")
                .header("content-disposition", "inline")
                .body(png));
        }
        _ => return Err(WebError::NotFound),
    };
    let doc = state
        .contracts
        .view_pdf(&reader, &contract, kind)
        .await
        .map_err(missing)?;
    Ok(pdf_view(
        doc.bytes,
        &format!("{}{suffix}.pdf", doc.number),
        &query,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn details_read_as_fields_without_empty_values() {
        assert_eq!(
            super::readable(r#"{"from":"verified","to":null,"verified_by":"vneid_level2","n":2}"#),
            "from: verified · n: 2 · verified by: vneid_level2"
        );
        assert_eq!(super::readable("not json"), "not json");
    }
}
