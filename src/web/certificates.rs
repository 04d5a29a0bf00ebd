//! Certificates: search and detail (roles `ra_officer`, `auditor`, `admin`, as
//! `GET /api/v1/certificates`), PEM chain download, the acceptance record, and revoke /
//! suspend / resume by an RA officer (`StatusService::change`, as the API) with a reason and
//! a confirmation step.

use askama::Template;
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Path, Query};
use poem::{handler, Response};
use serde::Deserialize;

use super::form;
use super::i18n::Lang;
use super::{
    message, pdf_view, redirect, render, render_status, with_document_viewer, FileQuery, Page,
    SelectOption, WebError, WebUser,
};
use crate::acceptance::{AcceptanceError, PDF_ACCEPTED, PDF_RECORD};
use crate::app::AppState;
use crate::ca::RevocationReason;
use crate::operators::Role;
use crate::status::{CertificateStatus, Change, Move, StatusError};
use crate::store::{AcceptanceRow, CertificateQuery, CertificateRow};
use crate::vn;

pub const READERS: &[Role] = &[Role::RaOfficer, Role::Auditor, Role::Admin];
const ACTORS: &[Role] = &[Role::RaOfficer];
const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    id_number: String,
    /// A fragment of the holder's name, without regard to case or diacritics.
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    /// dd/mm/yyyy or yyyy-mm-dd, inclusive (Vietnam calendar day).
    #[serde(default)]
    from: String,
    /// Inclusive.
    #[serde(default)]
    to: String,
    cursor: Option<String>,
}

pub struct Row {
    pub serial: String,
    pub full_name: String,
    pub id_number: String,
    pub status: String,
    pub status_text: String,
    pub issued: String,
    pub not_after: String,
}

#[derive(Template)]
#[template(path = "web/certificates.html")]
struct SearchPage {
    page: Page,
    q: SearchQuery,
    statuses: Vec<SelectOption>,
    rows: Vec<Row>,
    error: Option<String>,
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
    let from = form::date_filter(&q.from, lang, &mut error);
    let to = form::date_filter(&q.to, lang, &mut error);
    let status = match q.status.as_str() {
        "" => None,
        s => Some(CertificateStatus::parse(s).ok_or(WebError::NotFound)?),
    };
    let name = q.name.split_whitespace().collect::<Vec<_>>().join(" ");
    let rows = if error.is_some() {
        Vec::new()
    } else {
        let cq = CertificateQuery {
            id_number: Some(q.id_number.trim().to_string()).filter(|s| !s.is_empty()),
            name: Some(name.clone()).filter(|n| !n.is_empty()),
            status,
            issued_from: from.map(|d| vn::day_start(d).naive_utc()),
            issued_to: to.map(|d| vn::day_start(d + chrono::Duration::days(1)).naive_utc()),
            after: q.cursor.clone().map(|c| c.to_ascii_lowercase()),
            limit: PAGE_SIZE,
        };
        state
            .store
            .read(move |tx| tx.search_certificates(&cq))
            .await?
    };
    let next_href = (rows.len() as i64 == PAGE_SIZE)
        .then(|| rows.last().map(|r| r.serial.clone()))
        .flatten()
        .map(|last| {
            format!(
                "/certificates?id_number={}&name={}&status={}&from={}&to={}&cursor={last}",
                super::session::percent_encode(q.id_number.trim()),
                super::session::percent_encode(&name),
                super::session::percent_encode(&q.status),
                super::session::percent_encode(q.from.trim()),
                super::session::percent_encode(q.to.trim()),
            )
        });
    let rows = rows.iter().map(|r| row(lang, r)).collect();
    render(&SearchPage {
        statuses: CertificateStatus::ALL
            .iter()
            .map(|s| {
                SelectOption::new(
                    s.as_str(),
                    lang.t_or_code(&format!("cert_status.{s}")),
                    &q.status,
                )
            })
            .collect(),
        page: user.page,
        q,
        rows,
        error,
        next_href,
    })
}

/// The holder's name and ID number from the subject as `issuance::subject_dn` writes it
/// (`…, CN=<name>, UID=CCCD:<number>`); the whole subject as the name otherwise.
fn holder(subject_dn: &str) -> (String, String) {
    subject_dn
        .rsplit_once(", UID=CCCD:")
        .and_then(|(rest, id)| {
            let (_, name) = rest.rsplit_once("CN=")?;
            Some((name.to_string(), id.to_string()))
        })
        .unwrap_or_else(|| (subject_dn.to_string(), String::new()))
}

fn row(lang: Lang, r: &CertificateRow) -> Row {
    let (full_name, id_number) = holder(&r.subject_dn);
    Row {
        serial: r.serial.clone(),
        full_name,
        id_number,
        status: r.status.as_str().to_string(),
        status_text: lang
            .t_or_code(&format!("cert_status.{}", r.status))
            .to_string(),
        issued: r
            .signed_at
            .map(|t| vn::date_time(t.and_utc()))
            .unwrap_or_else(|| "–".into()),
        not_after: vn::date_time(r.not_after.and_utc()),
    }
}

pub struct Field {
    pub key: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "web/certificate.html")]
struct DetailPage {
    page: Page,
    serial: String,
    status: String,
    status_text: String,
    enrolment_id: String,
    enrolment_link: bool,
    fields: Vec<Field>,
    acceptance: Vec<Field>,
    /// The PDF versions of the acceptance record the page's viewer shows (stored, or a
    /// pending record's, made when first shown).
    record_pdf: bool,
    accepted_pdf: bool,
    has_pem: bool,
    /// Which of revoke / suspend / resume this role may do now.
    actions: Vec<ActionLink>,
    notice: Option<&'static str>,
}

pub struct ActionLink {
    pub action: &'static str,
    pub label: &'static str,
    pub danger: bool,
}

#[derive(Deserialize)]
pub struct DetailQuery {
    done: Option<String>,
}

async fn load(
    state: &AppState,
    serial: &str,
) -> Result<(CertificateRow, Option<AcceptanceRow>, Option<String>), WebError> {
    let (row, record, contract, _) = load_with_history(state, serial).await?;
    Ok((row, record, contract))
}

/// [`load`], and the actor of the change that put the certificate in its revoked or
/// suspended status (from its audit events).
async fn load_with_history(
    state: &AppState,
    serial: &str,
) -> Result<
    (
        CertificateRow,
        Option<AcceptanceRow>,
        Option<String>,
        Option<String>,
    ),
    WebError,
> {
    let serial = serial.to_ascii_lowercase();
    state
        .store
        .read(move |tx| {
            let Some(row) = tx.certificate(&serial)? else {
                return Ok(None);
            };
            let record = tx.acceptance_record(&serial)?;
            let contract = tx.signed_contract_ref(&row.enrolment_id)?.map(|c| c.number);
            let changed_by = if row.revoked_at.is_some() {
                tx.audit_events_for_objects(std::slice::from_ref(&serial))?
                    .into_iter()
                    .rev()
                    .find(|e| {
                        matches!(
                            e.action.as_str(),
                            "certificate.revoked"
                                | "certificate.suspended"
                                | "certificate.rejected_at_acceptance"
                                | "certificate.acceptance_expired"
                                | "certificate.abandoned"
                        )
                    })
                    .map(|e| e.actor)
            } else {
                None
            };
            Ok::<_, crate::store::StoreError>(Some((row, record, contract, changed_by)))
        })
        .await?
        .ok_or(WebError::NotFound)
}

#[handler]
pub async fn detail(
    user: WebUser,
    state: Data<&AppState>,
    serial: Path<String>,
    query: Query<DetailQuery>,
) -> Result<Response, WebError> {
    user.require(READERS)?;
    let lang = user.page.lang;
    let (row, record, contract, changed_by) = load_with_history(&state, &serial.0).await?;
    let subject = row.serial.clone();
    let kinds = state
        .store
        .read(move |tx| tx.pdf_document_kinds(&subject))
        .await?;
    let dt = |t: Option<chrono::NaiveDateTime>| {
        t.map(|t| vn::date_time(t.and_utc()))
            .unwrap_or_else(|| "–".into())
    };
    let f = |key, value: String| Field { key, value };
    let mut fields = vec![
        f("certificate.subject", row.subject_dn.clone()),
        f("certificate.package", row.package_code.clone()),
        f(
            "certificate.contract",
            contract.unwrap_or_else(|| "–".into()),
        ),
        f("certificate.key", row.key_description.clone()),
        f("certificate.not_before", dt(Some(row.not_before))),
        f("certificate.not_after", dt(Some(row.not_after))),
        f("certificate.issued", dt(row.signed_at)),
        f("certificate.issuer", row.ca_name.clone()),
    ];
    if let (CertificateStatus::PendingAcceptance, Some(signed_at)) = (row.status, row.signed_at) {
        let deadline = state.acceptance.deadline(signed_at.and_utc());
        fields.push(f(
            "certificate.acceptance_deadline",
            vn::date_time(deadline),
        ));
    }
    if row.revoked_at.is_some() {
        fields.push(f("certificate.revoked_at", dt(row.revoked_at)));
        let reason = row.revocation_reason.clone().unwrap_or_default();
        fields.push(f(
            "certificate.revocation_reason",
            lang.try_t(&format!("reason.{reason}"))
                .map(str::to_string)
                .unwrap_or(reason),
        ));
        if let Some(actor) = changed_by {
            let who = match actor.strip_prefix("operator:") {
                Some(username) => username.to_string(),
                None => lang
                    .try_t(&format!("actor.{actor}"))
                    .map(str::to_string)
                    .unwrap_or(actor),
            };
            fields.push(f("certificate.revoked_by", who));
        }
    }
    // A pending record's PDF is made when first shown, so the viewer offers it already.
    let record_pending = record.as_ref().is_some_and(|r| r.status == "pending");
    let acceptance = record
        .map(|r| {
            let mut v = vec![
                f(
                    "acceptance.status",
                    lang.t_or_code(&format!("acceptance_status.{}", r.status))
                        .to_string(),
                ),
                f("acceptance.created", dt(Some(r.created_at))),
                f("acceptance.template", r.template_version.clone()),
                f("acceptance.sha256", r.document_sha256.clone()),
                f("acceptance.reminders", r.reminders_sent.to_string()),
            ];
            if r.decided_at.is_some() {
                v.push(f("acceptance.decided", dt(r.decided_at)));
                v.push(f("acceptance.decided_by", r.decided_by.unwrap_or_default()));
                v.push(f(
                    "acceptance.otp",
                    format!(
                        "{} {}",
                        r.otp_channel.unwrap_or_default(),
                        r.otp_masked_destination.unwrap_or_default()
                    ),
                ));
                v.push(f("acceptance.client", {
                    let ip = r.client_ip.unwrap_or_default();
                    let ua = r.user_agent.unwrap_or_default();
                    format!("{ip} · {ua}")
                }));
            }
            if let Some(reason) = r.rejection_reason {
                v.push(f("acceptance.rejection_reason", reason));
            }
            v
        })
        .unwrap_or_default();
    let actions = if user.require(ACTORS).is_ok() {
        // The changes the lifecycle allows from this status, in the order offered.
        [
            (Move::Suspend, "suspend"),
            (Move::Resume, "resume"),
            (Move::Revoke, "revoke"),
        ]
        .into_iter()
        .filter(|(m, _)| row.status.after(*m).is_some())
        .map(|(_, action)| action)
        .collect()
    } else {
        vec![]
    }
    .into_iter()
    .map(|action| ActionLink {
        action,
        label: lang.t(title_key(action)),
        danger: action == "revoke",
    })
    .collect();
    let notice = match query.done.as_deref() {
        Some("revoke") => Some("certificate.done.revoke"),
        Some("suspend") => Some("certificate.done.suspend"),
        Some("resume") => Some("certificate.done.resume"),
        _ => None,
    };
    render(&DetailPage {
        enrolment_link: user.require(super::enrolments::READERS).is_ok(),
        status_text: lang
            .t_or_code(&format!("cert_status.{}", row.status))
            .to_string(),
        serial: row.serial,
        status: row.status.as_str().to_string(),
        enrolment_id: row.enrolment_id,
        has_pem: row.cert_der.is_some(),
        fields,
        acceptance,
        record_pdf: record_pending || kinds.iter().any(|k| k == PDF_RECORD),
        accepted_pdf: kinds.iter().any(|k| k == PDF_ACCEPTED),
        actions,
        notice: notice.map(|k| lang.t(k)),
        page: user.page,
    })
    .map(with_document_viewer)
}

/// `GET /certificates/{serial}/acceptance-record/{version}`: the acceptance record as PDF,
/// `record` (as made, on first need) or `signed` (accepted, sealed), inline in the page's
/// viewer or `?download=1`. Each view is an audit event, never cached.
#[handler]
pub async fn acceptance_record(
    user: WebUser,
    state: Data<&AppState>,
    Path((serial, version)): Path<(String, String)>,
    query: Query<FileQuery>,
) -> Result<Response, WebError> {
    user.require(READERS)?;
    let version = AcceptancePdf::parse(&version)?;
    version.view(&state, &user, &serial, &query).await
}

/// A version of the acceptance record as a page names it (`record`: as made, on first need;
/// `signed`: accepted and sealed), shown by the certificate page and the counter.
pub(super) struct AcceptancePdf {
    kind: &'static str,
    /// Added to the download's file name.
    suffix: &'static str,
}

impl AcceptancePdf {
    pub(super) fn parse(version: &str) -> Result<Self, WebError> {
        let (kind, suffix) = match version {
            "record" => (PDF_RECORD, "-du-thao"),
            "signed" => (PDF_ACCEPTED, ""),
            _ => return Err(WebError::NotFound),
        };
        Ok(Self { kind, suffix })
    }

    /// The stored PDF, inline or `?download=1`; the view is an audit event.
    pub(super) async fn view(
        &self,
        state: &AppState,
        user: &WebUser,
        serial: &str,
        query: &FileQuery,
    ) -> Result<Response, WebError> {
        let doc = state
            .acceptance
            .view_pdf(&user.principal.actor(), serial, self.kind)
            .await
            .map_err(|e| match e {
                AcceptanceError::NotFound
                | AcceptanceError::NotAccepted
                | AcceptanceError::NoPdf => WebError::NotFound,
                e => WebError::failed(e),
            })?;
        let filename = format!(
            "BBNT-{}{}.pdf",
            doc.subject.to_ascii_uppercase(),
            self.suffix
        );
        Ok(pdf_view(doc.document, &filename, query))
    }
}

/// `GET /certificates/{serial}/pem`: the certificate and its chain, as the API's
/// `Accept: application/pem-certificate-chain`.
#[handler]
pub async fn pem(
    user: WebUser,
    state: Data<&AppState>,
    serial: Path<String>,
) -> Result<Response, WebError> {
    user.require(READERS)?;
    let (row, _, _) = load(&state, &serial.0).await?;
    let der = row.cert_der.ok_or(WebError::NotFound)?;
    Ok(Response::builder()
        .content_type("application/pem-certificate-chain")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.pem\"", row.serial),
        )
        .body(format!(
            "{}{}",
            crate::ca::certificate_to_pem(&der),
            state.ca.chain_pem
        )))
}

#[derive(Template)]
#[template(path = "web/certificate_change.html")]
struct ChangePage {
    page: Page,
    serial: String,
    subject: String,
    action: &'static str,
    title: &'static str,
    reasons: Vec<SelectOption>,
    reason: String,
    reason_text: String,
    note: String,
    /// Second step: everything chosen, asking for the final yes.
    confirming: bool,
    error: Option<String>,
}

fn action_of(s: &str) -> Result<&'static str, WebError> {
    ["revoke", "suspend", "resume"]
        .into_iter()
        .find(|a| *a == s)
        .ok_or(WebError::NotFound)
}

fn reasons(lang: Lang, current: &str) -> Vec<SelectOption> {
    RevocationReason::ALL
        .into_iter()
        .filter(|r| *r != RevocationReason::CertificateHold)
        .map(|r| {
            SelectOption::new(
                r.as_str(),
                lang.t_or_code(&format!("reason.{}", r.as_str())),
                current,
            )
        })
        .collect()
}

#[handler]
pub async fn change_form(
    user: WebUser,
    state: Data<&AppState>,
    Path((serial, action)): Path<(String, String)>,
) -> Result<Response, WebError> {
    user.require(ACTORS)?;
    let action = action_of(&action)?;
    let (row, _, _) = load(&state, &serial).await?;
    let lang = user.page.lang;
    render(&ChangePage {
        serial: row.serial,
        subject: row.subject_dn,
        action,
        title: lang.t(title_key(action)),
        reasons: reasons(lang, "unspecified"),
        reason: String::new(),
        reason_text: String::new(),
        note: String::new(),
        confirming: false,
        error: None,
        page: user.page,
    })
}

fn title_key(action: &str) -> &'static str {
    match action {
        "revoke" => "certificate.revoke",
        "suspend" => "certificate.suspend",
        _ => "certificate.resume",
    }
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
    /// Present on the confirmation step's button.
    confirm: Option<String>,
}

#[handler]
pub async fn change_submit(
    user: WebUser,
    state: Data<&AppState>,
    Path((serial, action)): Path<(String, String)>,
    input: Form<ChangeForm>,
) -> Result<Response, WebError> {
    user.require(ACTORS)?;
    let action = action_of(&action)?;
    let (row, _, _) = load(&state, &serial).await?;
    let lang = user.page.lang;
    let change = match action {
        "revoke" => Change::revoke(&input.reason),
        "suspend" => Ok(Change::Suspend),
        _ => Ok(Change::Resume),
    };
    let mut error = None;
    let mut confirming = false;
    match change {
        Err(e) => error = Some(message(lang, e)),
        Ok(change) if input.confirm.is_some() => {
            match state
                .status
                .change(
                    &state.outbox,
                    &user.principal.actor(),
                    &row.serial,
                    change,
                    &input.note,
                )
                .await
            {
                Ok(_) => {
                    return Ok(redirect(&format!(
                        "/certificates/{}?done={action}",
                        row.serial
                    )))
                }
                Err(e @ (StatusError::Store(_) | StatusError::Unexpected(_))) => {
                    return Err(WebError::failed(e))
                }
                Err(e) => error = Some(message(lang, e)),
            }
        }
        // First submission: show what will happen and ask once more.
        Ok(_) => confirming = true,
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render_status(
        status,
        &ChangePage {
            serial: row.serial,
            subject: row.subject_dn,
            action,
            title: lang.t(title_key(action)),
            reasons: reasons(lang, &input.reason),
            reason_text: lang
                .t_or_code(&format!("reason.{}", input.reason))
                .to_string(),
            reason: input.reason.clone(),
            note: input.note.clone(),
            confirming: confirming && error.is_none(),
            error,
            page: user.page,
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_holder_is_read_from_the_subject() {
        assert_eq!(
            super::holder("C=VN, ST=Thành phố Hà Nội, L=Phường Cửa Nam, CN=Nguyễn Văn An, UID=CCCD:001090012345"),
            ("Nguyễn Văn An".to_string(), "001090012345".to_string())
        );
        assert_eq!(super::holder("CN=x"), ("CN=x".to_string(), String::new()));
    }
}
