//! The counter path after registration (role `operator`, counter enrolments only): the
//! package, the contract signed on the signature pad with the code sent to the citizen's
//! phone, issuance (a key the provider holds, or a CSR file from the citizen's token), the
//! acceptance record confirmed with a second code, and the certificate shown active. Each
//! step calls what the API calls (`Contracts::create` / `send_otp` / `sign`,
//! `RemoteSigning::issue`, `Issuance::issue_for_enrolment`, `Acceptance::send_otp` /
//! `accept`); a refusal shows the API's message on the step's page and changes nothing.
//!
//! The citizen's agreement is the citizen's act, never a tick box of the operator's: the
//! contract by the signature drawn under it and the code from the citizen's phone (bound to
//! the draft PDF's SHA-256, the contract row keeping its template version), the acceptance
//! record by a code bound to the record's SHA-256. A desk resumes an interrupted path from the
//! counter enrolment page, which links to the step the enrolment is at.

use askama::Template;
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Multipart, Path, Query};
use poem::{handler, Request, Response};
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use super::certificates::AcceptancePdf;
use super::i18n::Lang;
use super::{redirect, render_status, with_document_viewer, FileQuery, Page, WebError, WebUser};
use crate::acceptance::{AcceptRequest, AcceptanceError};
use crate::app::AppState;
use crate::ca::CaError;
use crate::contract::{signature_from_base64, ContractStatus, SignRequest};
use crate::enrolment::identity::{BoundedText, PhoneNumber};
use crate::enrolment::{Source, Status};
use crate::issuance::{IdempotencyKey, IssuanceError, MAX_CSR_BYTES};
use crate::notify::Recipient;
use crate::operators::Role;
use crate::problem::Problem;
use crate::remote_signing::KeyAlgorithm;
use crate::status::CertificateStatus;
use crate::store::{CertificateRow, ContractRow, EnrolmentRow};
use crate::texts::Text;
use crate::vn;

/// Where a counter enrolment's path stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Package,
    Contract,
    Certificate,
    Acceptance,
}

impl Step {
    /// The steps in order, with the catalogue key of each one's name.
    const ALL: [(Step, &'static str); 4] = [
        (Step::Package, "counter_path.step.package"),
        (Step::Contract, "counter_path.step.contract"),
        (Step::Certificate, "counter_path.step.certificate"),
        (Step::Acceptance, "counter_path.step.acceptance"),
    ];

    fn path(self, id: &str) -> String {
        let page = match self {
            Step::Package => "package",
            Step::Contract => "contract",
            Step::Certificate => "certificate",
            Step::Acceptance => "acceptance",
        };
        format!("/counter/{id}/{page}")
    }
}

/// A counter enrolment with its live contract and its certificate, read together.
struct Desk {
    enrolment: EnrolmentRow,
    /// The draft waiting to be signed, if any.
    draft: Option<ContractRow>,
    /// The enrolment's certificate once signed (a rekey's or a `signing` row is not shown).
    certificate: Option<CertificateRow>,
}

impl Desk {
    async fn load(state: &AppState, id: &str) -> Result<Self, WebError> {
        let id = id.to_string();
        let found = state
            .store
            .read(move |tx| {
                let Some(enrolment) = tx.enrolment_by_id(&id)? else {
                    return Ok(None);
                };
                let draft = tx
                    .contracts_for_enrolment(&id)?
                    .into_iter()
                    .find(|c| c.status == ContractStatus::Draft);
                let certificate = tx
                    .certificates_for_enrolment(&id)?
                    .into_iter()
                    .rev()
                    .find(|c| c.supersedes.is_none() && c.cert_der.is_some());
                Ok::<_, crate::store::StoreError>(Some(Desk {
                    enrolment,
                    draft,
                    certificate,
                }))
            })
            .await?;
        // Only counter dossiers take this path: the citizen is at the desk. An application
        // from an integration's app is that app's to complete.
        match found {
            Some(d) if d.enrolment.source == Source::Counter.as_str() => Ok(d),
            _ => Err(WebError::NotFound),
        }
    }

    fn id(&self) -> &str {
        &self.enrolment.id
    }

    /// The step the enrolment is at; None when the path is over (or never started).
    fn step(&self) -> Option<Step> {
        match self.enrolment.status {
            Status::Verified if self.draft.is_some() => Some(Step::Contract),
            Status::Verified => Some(Step::Package),
            Status::ContractSigned => Some(Step::Certificate),
            Status::CertificateIssued => match self.certificate.as_ref().map(|c| c.status) {
                Some(CertificateStatus::PendingAcceptance) => Some(Step::Acceptance),
                _ => Some(Step::Certificate),
            },
            _ => None,
        }
    }

    /// Where a request for a step the enrolment is not at goes instead.
    fn elsewhere(&self) -> Response {
        match self.step() {
            Some(step) => redirect(&step.path(self.id())),
            None => redirect(&format!("/counter/{}", self.id())),
        }
    }

    /// The citizen's phone as the code's destination, masked as the API shows it.
    fn masked_phone(&self) -> String {
        PhoneNumber::parse("phone", &self.enrolment.phone)
            .map(|p| Recipient::Phone(p).masked())
            .unwrap_or_default()
    }
}

/// One entry of the progress list at the top of each step.
struct Progress {
    label: &'static str,
    /// `done`, `current` or `todo`.
    state: &'static str,
}

fn progress(lang: Lang, current: Option<Step>, finished: bool) -> Vec<Progress> {
    let at = current.and_then(|c| Step::ALL.iter().position(|(s, _)| *s == c));
    Step::ALL
        .iter()
        .enumerate()
        .map(|(i, (_, key))| Progress {
            label: lang.t(key),
            state: match at {
                _ if finished => "done",
                Some(at) if i < at => "done",
                Some(at) if i == at => "current",
                _ => "todo",
            },
        })
        .collect()
}

fn require_operator(user: &WebUser) -> Result<(), WebError> {
    user.require(&[Role::Operator])
}

/// The desk's browser, recorded with the citizen's signature and acceptance (the citizen
/// signs on the desk's screen); left out if it is not a plain text.
fn desk_user_agent(req: &Request) -> Option<String> {
    let ua = req.headers().get(header::USER_AGENT)?.to_str().ok()?.trim();
    BoundedText::parse("user_agent", ua, 512)
        .ok()
        .map(|t| t.as_str().to_string())
}

/// A refusal shown on the step's page: its status and the API's message in the page's
/// language. A failure of ours is the error page (with its operation id), as everywhere.
fn refusal(lang: Lang, problem: impl Into<Problem>) -> Result<(StatusCode, String), WebError> {
    let problem = problem.into();
    if let Some(detail) = problem.detail {
        return Err(WebError::Unexpected(detail));
    }
    Ok((problem.status, problem.message(lang).to_string()))
}

// ---- package -------------------------------------------------------------------------------

struct PackageChoice {
    code: String,
    name: String,
    price: String,
    term_months: u32,
}

#[derive(Template)]
#[template(path = "web/counter_package.html")]
struct PackagePage {
    page: Page,
    id: String,
    full_name: String,
    progress: Vec<Progress>,
    packages: Vec<PackageChoice>,
    /// Why the free package is not offered (the ID number used it).
    free_used_by: Option<String>,
    /// The draft already made, to continue with.
    draft: Option<String>,
    error: Option<String>,
}

async fn package_page(
    user: WebUser,
    state: &AppState,
    desk: &Desk,
    error: Option<String>,
) -> Result<PackagePage, WebError> {
    let lang = user.page.lang;
    let free_used_by = state
        .contracts
        .free_package_holder(desk.id())
        .await
        .map_err(WebError::failed)?;
    let packages = state
        .contracts
        .packages()
        .await
        .map_err(WebError::failed)?
        .into_iter()
        // The free package only while the ID number may still have it.
        .filter(|p| !p.free || free_used_by.is_none())
        .map(|p| PackageChoice {
            code: p.code,
            name: p.name,
            price: if p.price_vnd == 0 {
                lang.t("counter_path.free").to_string()
            } else {
                vn::vnd(p.price_vnd)
            },
            term_months: p.term_months,
        })
        .collect();
    // The API's own words for the refusal the free package would get.
    let free_used_by = free_used_by.map(|number| {
        Text::of("problem.free_package_already_used")
            .arg("contract_number", number)
            .get(lang)
            .to_string()
    });
    Ok(PackagePage {
        id: desk.id().to_string(),
        full_name: desk.enrolment.full_name.clone(),
        progress: progress(lang, Some(Step::Package), false),
        packages,
        free_used_by,
        draft: desk
            .draft
            .as_ref()
            .map(|d| format!("{} · {}", d.number, d.package_code)),
        error,
        page: user.page,
    })
}

#[handler]
pub async fn package_step(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    if desk.enrolment.status != Status::Verified {
        return Ok(desk.elsewhere());
    }
    let page = package_page(user, &state, &desk, None).await?;
    render_status(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct PackageForm {
    #[serde(default)]
    package_code: String,
}

#[handler]
pub async fn choose_package(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    form: Form<PackageForm>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    let code = form.0.package_code.trim().to_string();
    // A second click on the same choice continues with the draft it made.
    if desk
        .draft
        .as_ref()
        .is_some_and(|d| d.package_code == code && desk.enrolment.status == Status::Verified)
    {
        return Ok(redirect(&Step::Contract.path(desk.id())));
    }
    match state
        .contracts
        .create(&user.principal.actor(), desk.id(), &code)
        .await
    {
        Ok(_) => Ok(redirect(&Step::Contract.path(desk.id()))),
        Err(e) => {
            let (status, text) = refusal(user.page.lang, e)?;
            let page = package_page(user, &state, &desk, Some(text)).await?;
            render_status(status, &page)
        }
    }
}

// ---- contract ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "web/counter_contract.html")]
struct ContractPage {
    page: Page,
    id: String,
    full_name: String,
    progress: Vec<Progress>,
    contract_id: String,
    number: String,
    package: String,
    price: String,
    term_months: i32,
    template_version: String,
    masked_phone: String,
    /// A code was sent: the signature pad and the code field are shown.
    sent: bool,
    /// The drawn signature of a refused attempt, drawn again on the pad.
    signature: String,
    error: Option<String>,
}

fn contract_page(
    user: WebUser,
    desk: &Desk,
    draft: &ContractRow,
    sent: bool,
    signature: String,
    error: Option<String>,
) -> ContractPage {
    let lang = user.page.lang;
    ContractPage {
        id: desk.id().to_string(),
        full_name: desk.enrolment.full_name.clone(),
        progress: progress(lang, Some(Step::Contract), false),
        contract_id: draft.id.clone(),
        number: draft.number.clone(),
        package: draft.package_code.clone(),
        price: vn::vnd(draft.price_vnd),
        term_months: draft.term_months,
        template_version: draft.template_version.clone(),
        masked_phone: desk.masked_phone(),
        sent,
        signature,
        error,
        page: user.page,
    }
}

#[derive(Deserialize)]
pub struct SentQuery {
    sent: Option<String>,
}

#[handler]
pub async fn contract_step(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    query: Query<SentQuery>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    let Some(draft) = desk
        .draft
        .as_ref()
        .filter(|_| desk.step() == Some(Step::Contract))
    else {
        return Ok(desk.elsewhere());
    };
    let page = contract_page(
        user,
        &desk,
        draft,
        query.sent.is_some(),
        String::new(),
        None,
    );
    Ok(with_document_viewer(render_status(StatusCode::OK, &page)?))
}

#[derive(Deserialize)]
pub struct ContractForm {
    #[serde(default)]
    contract_id: String,
    #[serde(default)]
    signature_image: String,
    #[serde(default)]
    otp_code: String,
}

/// The draft a form names, which must be the enrolment's live draft (the form may be older
/// than a package change): otherwise the contract step again, which shows the live one.
fn named_draft<'a>(desk: &'a Desk, contract_id: &str) -> Option<&'a ContractRow> {
    desk.draft.as_ref().filter(|d| d.id == contract_id)
}

#[handler]
pub async fn send_contract_code(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    form: Form<ContractForm>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    let Some(draft) = named_draft(&desk, &form.contract_id) else {
        return Ok(desk.elsewhere());
    };
    match state
        .contracts
        .send_otp(&user.principal.actor(), &draft.id)
        .await
    {
        Ok(_) => Ok(redirect(&format!(
            "{}?sent=1",
            Step::Contract.path(desk.id())
        ))),
        Err(e) => {
            let (status, text) = refusal(user.page.lang, e)?;
            // A code sent earlier may still be typed.
            let page = contract_page(user, &desk, draft, true, String::new(), Some(text));
            Ok(with_document_viewer(render_status(status, &page)?))
        }
    }
}

#[handler]
pub async fn sign_contract(
    req: &Request,
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    form: Form<ContractForm>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    let Some(draft) = named_draft(&desk, &form.contract_id) else {
        return Ok(desk.elsewhere());
    };
    let form = form.0;
    let max_bytes = state.contracts.signature_limits().max_bytes;
    let result = match signature_from_base64(&form.signature_image, max_bytes) {
        Ok(signature_png) => {
            state
                .contracts
                .sign(
                    &user.principal.actor(),
                    &draft.id,
                    SignRequest {
                        // The citizen agrees by signing under the contract on the pad and by
                        // typing the code sent to their phone; no operator's tick stands for it.
                        agree: true,
                        signature_png,
                        otp_code: form.otp_code,
                        challenge_id: None,
                        client_ip: None,
                        user_agent: desk_user_agent(req),
                    },
                )
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect(&Step::Certificate.path(desk.id()))),
        Err(e) => {
            let (status, text) = refusal(user.page.lang, e)?;
            // The drawing is kept only if it is a PNG data URL (drawn again by the script).
            let signature = if form.signature_image.starts_with("data:image/png;base64,") {
                form.signature_image
            } else {
                String::new()
            };
            let page = contract_page(user, &desk, draft, true, signature, Some(text));
            Ok(with_document_viewer(render_status(status, &page)?))
        }
    }
}

// ---- certificate ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "web/counter_certificate.html")]
struct CertificatePage {
    page: Page,
    id: String,
    full_name: String,
    progress: Vec<Progress>,
    /// The enrolment waits for its certificate: the two ways to issue it are offered.
    issuable: bool,
    /// The next step's explanation when neither form nor certificate applies.
    next_step: String,
    idempotency_key: String,
    max_csr_kib: usize,
    certificate: Option<CertificateView>,
    error: Option<String>,
}

struct CertificateView {
    serial: String,
    status: &'static str,
    status_text: String,
    subject: String,
    not_before: String,
    not_after: String,
    /// The acceptance step is next.
    pending: bool,
    /// The accepted record can be shown.
    accepted: bool,
}

async fn certificate_page(
    user: WebUser,
    state: &AppState,
    desk: &Desk,
    error: Option<String>,
) -> Result<CertificatePage, WebError> {
    let lang = user.page.lang;
    let summary = state
        .enrolments
        .get(desk.id())
        .await
        .map_err(WebError::failed)?;
    let certificate = desk.certificate.as_ref().map(|c| CertificateView {
        serial: c.serial.clone(),
        status: c.status.as_str(),
        status_text: lang
            .t_or_code(&format!("cert_status.{}", c.status))
            .to_string(),
        subject: c.subject_dn.clone(),
        not_before: vn::date_time(c.not_before.and_utc()),
        not_after: vn::date_time(c.not_after.and_utc()),
        pending: c.status == CertificateStatus::PendingAcceptance,
        accepted: c.status != CertificateStatus::PendingAcceptance,
    });
    let finished = certificate
        .as_ref()
        .is_some_and(|c| c.status == CertificateStatus::Active.as_str());
    Ok(CertificatePage {
        id: desk.id().to_string(),
        full_name: desk.enrolment.full_name.clone(),
        progress: progress(lang, desk.step(), finished),
        issuable: desk.enrolment.status == Status::ContractSigned,
        next_step: summary.next_step().describe().get(lang).to_string(),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        max_csr_kib: MAX_CSR_BYTES / 1024,
        certificate,
        error,
        page: user.page,
    })
}

#[handler]
pub async fn certificate_step(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    if !matches!(
        desk.enrolment.status,
        Status::ContractSigned | Status::CertificateIssued
    ) {
        return Ok(desk.elsewhere());
    }
    let page = certificate_page(user, &state, &desk, None).await?;
    Ok(with_document_viewer(render_status(StatusCode::OK, &page)?))
}

/// An issuance's outcome: on to acceptance, or the certificate step with the refusal.
async fn issued(
    user: WebUser,
    state: &AppState,
    desk: &Desk,
    result: Result<(), Problem>,
) -> Result<Response, WebError> {
    match result {
        Ok(()) => Ok(redirect(&Step::Acceptance.path(desk.id()))),
        Err(problem) => {
            let (status, text) = refusal(user.page.lang, problem)?;
            // Read again: a concurrent issuance may have moved the enrolment on.
            let desk = Desk::load(state, desk.id()).await?;
            let page = certificate_page(user, state, &desk, Some(text)).await?;
            Ok(with_document_viewer(render_status(status, &page)?))
        }
    }
}

/// The step the enrolment is at, unless it waits for its certificate: a second click after
/// the certificate was issued lands on its acceptance, and nothing is generated for an
/// enrolment whose contract is not signed.
fn not_issuable(desk: &Desk) -> Option<Response> {
    (desk.enrolment.status != Status::ContractSigned).then(|| desk.elsewhere())
}

#[handler]
pub async fn issue_remote(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    if let Some(elsewhere) = not_issuable(&desk) {
        return Ok(elsewhere);
    }
    let result = state
        .remote_signing
        .issue(&user.principal.actor(), desk.id(), KeyAlgorithm::P256)
        .await
        .map(|_| ())
        .map_err(Problem::from);
    issued(user, &state, &desk, result).await
}

/// `multipart/form-data` with `idempotency_key` and `file`, the CSR as PEM or DER (the CSRF
/// token is in the action's query).
#[handler]
pub async fn issue_csr(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    if let Some(elsewhere) = not_issuable(&desk) {
        return Ok(elsewhere);
    }
    let mut key = None;
    let mut csr = Vec::new();
    let bad_form = |e: poem::error::ParseMultipartError| WebError::Unexpected(e.to_string());
    while let Some(field) = multipart.next_field().await.map_err(bad_form)? {
        match field.name() {
            Some("idempotency_key") => key = Some(field.text().await.map_err(bad_form)?),
            Some("file") => {
                // One byte over the limit is enough for the CSR check to refuse it.
                csr.clear();
                field
                    .into_async_read()
                    .take(u64::try_from(MAX_CSR_BYTES + 1).unwrap_or(u64::MAX))
                    .read_to_end(&mut csr)
                    .await
                    .map_err(|e| WebError::Unexpected(e.to_string()))?;
            }
            _ => {}
        }
    }
    let result = match IdempotencyKey::parse(key) {
        // No file chosen reads as an empty request, which says what the field wants.
        Ok(_) if csr.is_empty() => Err(IssuanceError::Rejected(CaError::CsrMalformed(
            "no file".into(),
        ))),
        Ok(key) => state
            .issuance
            .issue_for_enrolment(&user.principal.actor(), desk.id(), csr, key)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    issued(user, &state, &desk, result.map_err(Problem::from)).await
}

/// `GET /counter/{id}/certificate/pem`: the certificate and its chain, for the citizen's
/// token.
#[handler]
pub async fn certificate_pem(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    let cert = desk.certificate.as_ref().ok_or(WebError::NotFound)?;
    let der = cert.cert_der.as_ref().ok_or(WebError::NotFound)?;
    Ok(Response::builder()
        .content_type("application/pem-certificate-chain")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.pem\"", cert.serial),
        )
        .body(format!(
            "{}{}",
            crate::ca::certificate_to_pem(der),
            state.ca.chain_pem
        )))
}

// ---- acceptance ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "web/counter_acceptance.html")]
struct AcceptancePage {
    page: Page,
    id: String,
    full_name: String,
    progress: Vec<Progress>,
    serial: String,
    deadline: String,
    masked_phone: String,
    sent: bool,
    error: Option<String>,
}

fn acceptance_page(
    user: WebUser,
    state: &AppState,
    desk: &Desk,
    cert: &CertificateRow,
    sent: bool,
    error: Option<String>,
) -> AcceptancePage {
    let lang = user.page.lang;
    AcceptancePage {
        id: desk.id().to_string(),
        full_name: desk.enrolment.full_name.clone(),
        progress: progress(lang, Some(Step::Acceptance), false),
        serial: cert.serial.clone(),
        deadline: cert
            .signed_at
            .map(|t| vn::date_time(state.acceptance.deadline(t.and_utc())))
            .unwrap_or_default(),
        masked_phone: desk.masked_phone(),
        sent,
        error,
        page: user.page,
    }
}

/// The certificate awaiting the citizen's acceptance, when the enrolment is at that step.
fn pending(desk: &Desk) -> Option<&CertificateRow> {
    desk.certificate
        .as_ref()
        .filter(|_| desk.step() == Some(Step::Acceptance))
}

#[handler]
pub async fn acceptance_step(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    query: Query<SentQuery>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    let Some(cert) = pending(&desk) else {
        return Ok(desk.elsewhere());
    };
    let page = acceptance_page(user, &state, &desk, cert, query.sent.is_some(), None);
    Ok(with_document_viewer(render_status(StatusCode::OK, &page)?))
}

#[derive(Deserialize)]
pub struct AcceptanceForm {
    #[serde(default)]
    serial: String,
    #[serde(default)]
    otp_code: String,
}

/// The pending certificate a form names (the form may be older than the page's state).
fn named_pending<'a>(desk: &'a Desk, serial: &str) -> Option<&'a CertificateRow> {
    pending(desk).filter(|c| c.serial.eq_ignore_ascii_case(serial.trim()))
}

async fn acceptance_refused(
    user: WebUser,
    state: &AppState,
    desk: &Desk,
    cert: &CertificateRow,
    e: AcceptanceError,
) -> Result<Response, WebError> {
    let (status, text) = refusal(user.page.lang, e)?;
    let page = acceptance_page(user, state, desk, cert, true, Some(text));
    Ok(with_document_viewer(render_status(status, &page)?))
}

#[handler]
pub async fn send_acceptance_code(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    form: Form<AcceptanceForm>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    let Some(cert) = named_pending(&desk, &form.serial) else {
        return Ok(desk.elsewhere());
    };
    match state
        .acceptance
        .send_otp(&user.principal.actor(), &cert.serial)
        .await
    {
        Ok(_) => Ok(redirect(&format!(
            "{}?sent=1",
            Step::Acceptance.path(desk.id())
        ))),
        Err(e) => acceptance_refused(user, &state, &desk, cert, e).await,
    }
}

#[handler]
pub async fn accept(
    req: &Request,
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    form: Form<AcceptanceForm>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let desk = Desk::load(&state, &id).await?;
    let Some(cert) = named_pending(&desk, &form.serial) else {
        return Ok(desk.elsewhere());
    };
    let result = state
        .acceptance
        .accept(
            &user.principal.actor(),
            &cert.serial,
            AcceptRequest {
                // The citizen accepts by typing the code sent to their phone for this record.
                agree: true,
                otp_code: form.0.otp_code,
                challenge_id: None,
                client_ip: None,
                user_agent: desk_user_agent(req),
            },
        )
        .await;
    match result {
        Ok(_) => Ok(redirect(&Step::Certificate.path(desk.id()))),
        Err(e) => acceptance_refused(user, &state, &desk, cert, e).await,
    }
}

/// `GET /counter/{id}/acceptance-record/{record|signed}`: the enrolment's acceptance record
/// (as made, or as accepted) for the step's viewer; each view audited.
#[handler]
pub async fn acceptance_record(
    user: WebUser,
    state: Data<&AppState>,
    Path((id, version)): Path<(String, String)>,
    query: Query<FileQuery>,
) -> Result<Response, WebError> {
    require_operator(&user)?;
    let version = AcceptancePdf::parse(&version)?;
    let desk = Desk::load(&state, &id).await?;
    let cert = desk.certificate.as_ref().ok_or(WebError::NotFound)?;
    version.view(&state, &user, &cert.serial, &query).await
}

/// The signature pad: draws with pointer events (mouse, pen, touch) and puts the PNG into
/// the form; a convenience of the page, the server checks the image.
#[handler]
pub fn signature_script() -> Response {
    Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(include_str!("../../templates/web/signature-pad.js"))
}

/// Where the "continue" link of a counter enrolment leads: the step it is at, while the path
/// has one (`awaiting_acceptance`: its certificate waits for the citizen's acceptance).
pub fn continue_href(
    id: &str,
    source: Source,
    status: Status,
    awaiting_acceptance: bool,
) -> Option<String> {
    if source != Source::Counter {
        return None;
    }
    match status {
        Status::Verified => Some(Step::Package.path(id)),
        Status::ContractSigned => Some(Step::Certificate.path(id)),
        Status::CertificateIssued if awaiting_acceptance => Some(Step::Acceptance.path(id)),
        _ => None,
    }
}
