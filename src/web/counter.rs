//! Counter enrolment (role `operator`): a citizen at a one-stop desk, entered from the ID card,
//! then scans of the card and a portrait for the dossier. The form's fields are the API's
//! (`identity.*`, `contact.*`) and go through the same `Enrolments::parse` and `submit`, so the
//! refusals are the API's, word for word, in the page's language.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Multipart, Path, Query};
use poem::{handler, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt;

use super::form::{iso_date, FieldMessages};
use super::workstation::document_label;
use super::{redirect, render, render_status, Page, WebError, WebUser};
use crate::app::AppState;
use crate::enrolment::identity::{FieldError, FieldErrors};
use crate::enrolment::{
    AddressForm, ApplicationForm, ConsentForm, DocumentKind, EnrolmentError, IdempotencyKey,
    Submitted, Submitter,
};
use crate::operators::{Principal, Role};
use crate::problem::Problem;
use crate::secrets::sha256_hex;
use crate::vn::provinces::{self, Province};

/// What the citizen agrees to at the desk; its version and SHA-256 are recorded with the
/// enrolment, as an app records the consent text it showed. The citizen agrees by signing
/// under it on the signature pad (`consent.signature_image`), the operator witnessing.
const CONSENT_TEXT: &str = include_str!("../../templates/web/consent_counter.txt");
const CONSENT_VERSION: &str = "counter-2026-11";
/// The consent drawn on the pad, a PNG data URL (the domain's field path).
const SIGNATURE_FIELD: &str = "consent.signature_image";

/// The date inputs: text typed `dd/mm/yyyy`, read on the server (a browser's date picker
/// shows the date in its own locale's order).
const DATE_FIELDS: [&str; 3] = [
    "identity.date_of_birth",
    "identity.id_issue_date",
    "identity.id_expiry_date",
];

/// The operator's id, for `enrolled_by` and the idempotency namespace.
fn operator_id(user: &WebUser) -> Result<String, WebError> {
    user.require(&[Role::Operator])?;
    match &user.principal {
        Principal::Operator { id, .. } => Ok(id.clone()),
        Principal::ApiKey { .. } => Err(WebError::Forbidden),
    }
}

/// The form's fields by name (`identity.full_name`, …), as posted.
#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    fn optional(&self, name: &str) -> Option<String> {
        let v = self.get(name);
        (!v.trim().is_empty()).then(|| v.to_string())
    }

    fn address(&self, prefix: &str) -> AddressForm {
        AddressForm {
            line: self.get(&format!("{prefix}.line")).into(),
            ward: self.get(&format!("{prefix}.ward")).into(),
            province: self.get(&format!("{prefix}.province")).into(),
        }
    }

    /// The API's application, from the page: source `counter`, the consent text shown and
    /// the citizen's drawing under it (none drawn: the domain refuses the application).
    fn application(&self, now: chrono::DateTime<chrono::Utc>) -> ApplicationForm {
        let current = ["line", "ward", "province"]
            .iter()
            .any(|p| {
                !self
                    .get(&format!("identity.current_address.{p}"))
                    .trim()
                    .is_empty()
            })
            .then(|| self.address("identity.current_address"));
        ApplicationForm {
            source: "counter".into(),
            id_number: self.get("identity.id_number").into(),
            full_name: self.get("identity.full_name").into(),
            date_of_birth: iso_date(self.get("identity.date_of_birth")),
            sex: self.get("identity.sex").into(),
            nationality: self.get("identity.nationality").into(),
            permanent_address: self.address("identity.permanent_address"),
            current_address: current,
            id_issue_date: iso_date(self.get("identity.id_issue_date")),
            id_issue_place: self.get("identity.id_issue_place").into(),
            id_expiry_date: self
                .optional("identity.id_expiry_date")
                .map(|d| iso_date(&d)),
            phone: self.get("contact.phone").into(),
            email: self.optional("contact.email"),
            consent: Some(ConsentForm {
                version: CONSENT_VERSION.into(),
                text_sha256: sha256_hex(CONSENT_TEXT.as_bytes()),
                given_at: now.to_rfc3339(),
                channel: "counter".into(),
                signature_image: self.optional(SIGNATURE_FIELD),
            }),
        }
    }

    /// Refusals for dates not typed as a real `dd/mm/yyyy` (31/02/1990, 1990-02-03): the
    /// page asks for that form only, so a swapped day and month is never read silently.
    fn date_errors(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        for field in DATE_FIELDS {
            let typed = self.get(field).trim();
            let real = chrono::NaiveDate::parse_from_str(typed, "%d/%m/%Y").is_ok()
                && typed.len() == "dd/mm/yyyy".len();
            if !typed.is_empty() && !real {
                errors.push(FieldError::in_context(field, "date_invalid", "dmy"));
            }
        }
        errors
    }

    /// The drawing of a refused attempt, drawn again on the pad: kept only if it is a PNG
    /// data URL (what the pad's script posts).
    fn signature(&self) -> &str {
        let drawn = self.get(SIGNATURE_FIELD);
        if drawn.starts_with("data:image/png;base64,") {
            drawn
        } else {
            ""
        }
    }

    /// What the request means, for the idempotency record: the fields in name order,
    /// without the CSRF token and the key itself.
    fn fingerprint(&self) -> String {
        let mut pairs: Vec<_> = self
            .0
            .iter()
            .filter(|(k, _)| k != "csrf" && k != "idempotency_key")
            .collect();
        pairs.sort();
        sha256_hex(json!(pairs).to_string().as_bytes())
    }
}

#[derive(Template)]
#[template(path = "web/counter.html")]
struct CounterPage {
    page: Page,
    /// A fresh key per form: a second click or a reload posts the same key and gets the
    /// enrolment the first one made.
    idempotency_key: String,
    fields: Fields,
    consent_text: &'static str,
    consent_version: &'static str,
    /// The official list: province and ward are chosen from it, never typed.
    provinces: &'static [Province],
    errors: FieldMessages,
    error: Option<String>,
}

fn form_page(
    user: WebUser,
    fields: Fields,
    errors: FieldMessages,
    error: Option<String>,
) -> CounterPage {
    let key = match fields.get("idempotency_key") {
        "" => uuid::Uuid::new_v4().to_string(),
        k => k.to_string(),
    };
    CounterPage {
        page: user.page,
        idempotency_key: key,
        fields,
        consent_text: CONSENT_TEXT,
        consent_version: CONSENT_VERSION,
        provinces: provinces::all(),
        errors,
        error,
    }
}

#[handler]
pub async fn form(user: WebUser) -> Result<Response, WebError> {
    operator_id(&user)?;
    let defaults = Fields(vec![("identity.nationality".into(), "Việt Nam".into())]);
    render(&form_page(user, defaults, FieldMessages::default(), None))
}

#[handler]
pub async fn submit(
    user: WebUser,
    state: Data<&AppState>,
    posted: Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let op_id = operator_id(&user)?;
    let lang = user.page.lang;
    let fields = Fields(posted.0);
    let key = fields.get("idempotency_key").to_string();
    if !(1..=128).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
        // Not a form this page made: show it again, with a key of its own.
        let fields = Fields(
            fields
                .0
                .into_iter()
                .filter(|(k, _)| k != "idempotency_key")
                .collect(),
        );
        let text = lang.t("error.generic.text").to_string();
        return render_status(
            StatusCode::BAD_REQUEST,
            &form_page(user, fields, FieldMessages::default(), Some(text)),
        );
    }
    let dates = fields.date_errors();
    let parsed = state
        .enrolments
        .parse(&fields.application(state.clock.now()));
    let parsed = match (parsed, dates.is_empty()) {
        (Ok(a), true) => Ok(a),
        (Ok(_), false) => Err(dates),
        // The page's own word on a date replaces the domain's (which asks for ISO dates).
        (Err(mut errors), _) => {
            errors
                .0
                .retain(|e| !dates.0.iter().any(|d| d.field == e.field));
            errors.0.extend(dates.0);
            Err(errors)
        }
    };
    let application = match parsed {
        Ok(a) => a,
        Err(errors) => {
            let errors = FieldMessages::new(lang, &errors);
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(user, fields, errors, None),
            );
        }
    };
    let submitter = Submitter {
        actor: user.principal.actor(),
        operator_id: Some(op_id.clone()),
        integration_id: None,
    };
    let idem = IdempotencyKey {
        principal: op_id,
        key,
        request_sha256: fields.fingerprint(),
    };
    // The answer kept for a retry: the enrolment's id, as JSON like the API's.
    let render_answer =
        |s: &crate::enrolment::EnrolmentSummary| (201, json!({"id": s.id}).to_string());
    let id = match state
        .enrolments
        .submit(submitter, application, idem, render_answer)
        .await
    {
        Ok(Submitted::Created(s)) => s.id,
        Ok(Submitted::Replayed(answer)) => serde_json::from_str::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .ok_or_else(|| WebError::Unexpected("stored answer without an id".into()))?,
        Err(EnrolmentError::Store(e)) => return Err(e.into()),
        Err(e) => {
            let problem = Problem::from(e);
            problem.log();
            let text = problem.message(lang).to_string();
            return render_status(
                problem.status,
                &form_page(user, fields, FieldMessages::default(), Some(text)),
            );
        }
    };
    Ok(redirect(&format!("/counter/{id}?created=1")))
}

// ---- the registered enrolment and its documents ------------------------------------------

struct Kind {
    value: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "web/counter_enrolment.html")]
struct EnrolmentPage {
    page: Page,
    id: String,
    status: &'static str,
    status_text: String,
    next_step: String,
    /// The step of the counter path the enrolment is at, to continue it.
    continue_href: Option<String>,
    verified_by: String,
    documents: Vec<&'static str>,
    /// Empty when the enrolment takes no more documents.
    kinds: Vec<Kind>,
    max_megabytes: u64,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct EnrolmentQuery {
    created: Option<String>,
    uploaded: Option<String>,
}

async fn enrolment_page(
    user: WebUser,
    state: &AppState,
    id: &str,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<EnrolmentPage, WebError> {
    let lang = user.page.lang;
    let s = match state.enrolments.get(id).await {
        Ok(s) => s,
        Err(EnrolmentError::NotFound) => return Err(WebError::NotFound),
        Err(e) => return Err(WebError::failed(e)),
    };
    let next = s.next_step().describe();
    let accepts = s.source.accepts_documents(s.status);
    Ok(EnrolmentPage {
        id: s.id.clone(),
        status: s.shown_status(),
        status_text: lang
            .t_or_code(&format!("status.{}", s.shown_status()))
            .to_string(),
        next_step: next.get(lang).to_string(),
        continue_href: super::counter_steps::continue_href(
            &s.id,
            s.source,
            s.status,
            s.issuance == crate::enrolment::Issuance::AwaitingAcceptance,
        ),
        verified_by: s.verified_by.clone().unwrap_or_default(),
        documents: s
            .documents
            .iter()
            .map(|k| document_label(lang, *k))
            .collect(),
        kinds: if accepts {
            DocumentKind::ALL
                .iter()
                .map(|k| Kind {
                    value: k.as_str(),
                    label: document_label(lang, *k),
                })
                .collect()
        } else {
            vec![]
        },
        max_megabytes: state.enrolments.max_document_bytes() / (1024 * 1024),
        notice,
        error,
        page: user.page,
    })
}

#[handler]
pub async fn enrolment(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    query: Query<EnrolmentQuery>,
) -> Result<Response, WebError> {
    operator_id(&user)?;
    let lang = user.page.lang;
    let notice = if query.created.is_some() {
        Some(lang.t("counter.created"))
    } else if query.uploaded.is_some() {
        Some(lang.t("counter.uploaded"))
    } else {
        None
    };
    render(&enrolment_page(user, &state, &id, notice, None).await?)
}

/// `multipart/form-data` with `csrf` (checked before the handler), `kind` and `file`.
#[handler]
pub async fn upload(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    operator_id(&user)?;
    let lang = user.page.lang;
    let max_bytes = state.enrolments.max_document_bytes();
    let mut kind = None;
    let mut bytes = None;
    let bad_form = |e: poem::error::ParseMultipartError| WebError::Unexpected(e.to_string());
    while let Some(field) = multipart.next_field().await.map_err(bad_form)? {
        match field.name() {
            Some("kind") => kind = Some(field.text().await.map_err(bad_form)?),
            Some("file") => {
                // One byte over the limit is enough to refuse.
                let mut buf = Vec::new();
                field
                    .into_async_read()
                    .take(max_bytes.saturating_add(1))
                    .read_to_end(&mut buf)
                    .await
                    .map_err(|e| WebError::Unexpected(e.to_string()))?;
                bytes = Some(buf);
            }
            _ => {}
        }
    }
    let kind = kind.as_deref().and_then(DocumentKind::parse);
    let result = match (kind, bytes) {
        (Some(kind), Some(bytes)) => state
            .enrolments
            .put_document(&user.principal.actor(), &id, kind, bytes)
            .await
            .map(|_| ()),
        // No file chosen: JPEG/PNG is what the field asks for.
        (Some(_), None) => Err(EnrolmentError::DocumentTypeUnsupported),
        (None, _) => return Err(WebError::NotFound),
    };
    match result {
        Ok(()) => Ok(redirect(&format!("/counter/{}?uploaded=1", id.0))),
        Err(EnrolmentError::NotFound) => Err(WebError::NotFound),
        Err(EnrolmentError::Store(e)) => Err(e.into()),
        Err(e) => {
            let problem = Problem::from(e);
            problem.log();
            let text = problem.message(lang).to_string();
            render_status(
                problem.status,
                &enrolment_page(user, &state, &id, None, Some(text)).await?,
            )
        }
    }
}

/// The register form's ward filter: a convenience; the form works without it.
#[handler]
pub fn script() -> Response {
    Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header(poem::http::header::CACHE_CONTROL, "public, max-age=3600")
        .body(include_str!("../../templates/web/counter.js"))
}
