//! The video-call workstation (role `operator`): take the next applicant, see their identity
//! data and document images, work through the checklist, record the outcome (or a no-show),
//! renew the lease. The same `verification::` calls as `/api/v1/verification/*`; the images
//! come through the audited `Enrolments::read_document`, only to the operator holding the call.

use askama::Template;
use chrono::{DateTime, Utc};
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Path, Query};
use poem::{handler, Response};
use serde::Deserialize;

use super::form::FieldMessages;
use super::i18n::{self, Lang};
use super::{
    confirmed, message, redirect, render, render_status, ConfirmPage, Page, WebError, WebUser,
};
use crate::app::AppState;
use crate::enrolment::identity::FieldErrors;
use crate::enrolment::{DocumentKind, DocumentReader, EnrolmentError, Status};
use crate::operators::{Principal, Role};
use crate::verification::{
    Claimed, Decision, OperatorRef, OutcomeForm, RecordingForm, VerificationError, CHECKLIST_ITEMS,
    REJECT_REASONS,
};
use crate::vn;

fn operator(user: &WebUser) -> Result<OperatorRef, WebError> {
    user.require(&[Role::Operator])?;
    match &user.principal {
        Principal::Operator { id, .. } => Ok(OperatorRef {
            id: id.clone(),
            actor: user.principal.actor(),
        }),
        Principal::ApiKey { .. } => Err(WebError::Forbidden),
    }
}

pub fn checklist_label(lang: Lang, item: &str) -> &'static str {
    match item {
        "face_matches_portrait_and_id_photo" => lang.t("ws.check.face"),
        "id_document_genuine_and_unexpired" => lang.t("ws.check.document"),
        "data_confirmed_with_applicant" => lang.t("ws.check.data"),
        "applicant_alive_and_present" => lang.t("ws.check.present"),
        "applicant_wants_certificate" => lang.t("ws.check.wants"),
        _ => "???",
    }
}

fn reason_label(lang: Lang, reason: &str) -> &'static str {
    match reason {
        "face_mismatch" => lang.t("ws.reason.face_mismatch"),
        "document_not_genuine" => lang.t("ws.reason.document_not_genuine"),
        "document_expired" => lang.t("ws.reason.document_expired"),
        "data_mismatch" => lang.t("ws.reason.data_mismatch"),
        "not_alive_or_not_present" => lang.t("ws.reason.not_present"),
        "applicant_declined" => lang.t("ws.reason.applicant_declined"),
        "suspected_coercion_or_fraud" => lang.t("ws.reason.fraud"),
        "other" => lang.t("ws.reason.other"),
        _ => "???",
    }
}

pub fn document_label(lang: Lang, kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::IdFront => lang.t("document.id_front"),
        DocumentKind::IdBack => lang.t("document.id_back"),
        DocumentKind::Portrait => lang.t("document.portrait"),
        DocumentKind::Liveness => lang.t("document.liveness"),
    }
}

fn sex_label(lang: Lang, sex: &str) -> &'static str {
    match sex {
        "female" => lang.t("counter.sex.female"),
        _ => lang.t("counter.sex.male"),
    }
}

// ---- the queue ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "web/workstation.html")]
struct QueuePage {
    page: Page,
    waiting: String,
    oldest_wait_minutes: Option<i64>,
    held: Vec<String>,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct QueueQuery {
    done: Option<String>,
    empty: Option<String>,
}

async fn queue_page(
    user: WebUser,
    state: &AppState,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<QueuePage, WebError> {
    let op = operator(&user)?;
    let stats = state.verification.stats().await.map_err(WebError::failed)?;
    let held = state
        .verification
        .held_by(&op)
        .await
        .map_err(WebError::failed)?;
    Ok(QueuePage {
        waiting: i18n::count(user.page.lang, stats.waiting),
        oldest_wait_minutes: stats.oldest_wait.map(|d| d.num_minutes()),
        held,
        notice,
        error,
        page: user.page,
    })
}

#[handler]
pub async fn queue(
    user: WebUser,
    state: Data<&AppState>,
    query: Query<QueueQuery>,
) -> Result<Response, WebError> {
    let lang = user.page.lang;
    let done = query.done.as_deref();
    let notice = match (done, done.and_then(Status::parse)) {
        (Some("approved"), _) => Some(lang.t("ws.done.approved")),
        (Some("requeued"), _) => Some(lang.t("ws.done.requeued")),
        (_, Some(Status::Rejected)) => Some(lang.t("ws.done.rejected")),
        (_, Some(Status::Expired)) => Some(lang.t("ws.done.expired")),
        _ if query.empty.is_some() => Some(lang.t("ws.queue_empty")),
        _ => None,
    };
    render(&queue_page(user, &state, notice, None).await?)
}

#[handler]
pub async fn claim(user: WebUser, state: Data<&AppState>) -> Result<Response, WebError> {
    let op = operator(&user)?;
    match state.verification.claim(&op).await {
        Ok(c) => Ok(redirect(&format!("/workstation/{}", c.video_call_id))),
        Err(VerificationError::QueueEmpty) => Ok(redirect("/workstation?empty=1")),
        Err(e) => Err(WebError::failed(e)),
    }
}

/// A call the operator no longer holds (lapsed, taken over, closed): the queue page with the
/// domain's own explanation.
async fn call_gone(
    user: WebUser,
    state: &AppState,
    e: VerificationError,
) -> Result<Response, WebError> {
    let status = match e {
        VerificationError::NotFound => return Err(WebError::NotFound),
        VerificationError::NotLeaseHolder => StatusCode::FORBIDDEN,
        VerificationError::LeaseExpired | VerificationError::Closed => StatusCode::CONFLICT,
        other => return Err(WebError::failed(other)),
    };
    let text = message(user.page.lang, e);
    render_status(status, &queue_page(user, state, None, Some(text)).await?)
}

// ---- one call -----------------------------------------------------------------------------

struct CheckItem {
    name: String,
    label: &'static str,
    checked: bool,
}

struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

struct DocumentView {
    href: String,
    kind: &'static str,
    label: &'static str,
}

/// What the operator entered, kept when the page comes back with refusals.
#[derive(Default)]
struct Entered {
    checked: Vec<String>,
    outcome: String,
    reason_code: String,
    note: String,
    recording_uri: String,
    recording_sha256: String,
}

#[derive(Template)]
#[template(path = "web/workstation_call.html")]
struct CallPage {
    page: Page,
    id: String,
    room_ref: String,
    /// (URI, SHA-256) of the room's recording, once the video system reported it.
    reported: Option<(String, String)>,
    /// The join link, when `[verification] room_url_template` is set.
    room_url: Option<String>,
    lease_until: String,
    /// `mm:ss` left when the page was made (the script counts down from there).
    lease_left: String,
    no_shows: i32,
    applicant: Vec<(&'static str, String)>,
    documents: Vec<DocumentView>,
    checklist: Vec<CheckItem>,
    reasons: Vec<Choice>,
    entered: Entered,
    errors: FieldMessages,
    notice: Option<&'static str>,
}

fn mm_ss(until: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (until - now).num_seconds().max(0);
    format!("{:02}:{:02}", s / 60, s % 60)
}

fn call_page(
    user: WebUser,
    state: &AppState,
    c: Claimed,
    entered: Entered,
    errors: FieldMessages,
    notice: Option<&'static str>,
) -> CallPage {
    let lang = user.page.lang;
    let e = &c.enrolment;
    let address = |line: &str, ward: &str, province: &str| format!("{line}, {ward}, {province}");
    let mut applicant = vec![
        (lang.t("counter.full_name"), e.full_name.clone()),
        (lang.t("counter.id_number"), e.id_number.clone()),
        (lang.t("counter.date_of_birth"), vn::date(e.date_of_birth)),
        (lang.t("counter.sex"), sex_label(lang, &e.sex).to_string()),
        (lang.t("counter.nationality"), e.nationality.clone()),
        (
            lang.t("counter.permanent_address"),
            address(
                &e.permanent_address,
                &e.permanent_ward,
                &e.permanent_province,
            ),
        ),
    ];
    if let (Some(line), Some(ward), Some(province)) =
        (&e.current_address, &e.current_ward, &e.current_province)
    {
        applicant.push((
            lang.t("counter.current_address"),
            address(line, ward, province),
        ));
    }
    applicant.extend([
        (lang.t("counter.id_issue_date"), vn::date(e.id_issue_date)),
        (lang.t("counter.id_issue_place"), e.id_issue_place.clone()),
        (
            lang.t("counter.id_expiry_date"),
            e.id_expiry_date
                .map(vn::date)
                .unwrap_or_else(|| lang.t("common.none").to_string()),
        ),
        (lang.t("counter.phone"), e.phone.clone()),
        (
            lang.t("counter.email"),
            e.email
                .clone()
                .unwrap_or_else(|| lang.t("common.none").to_string()),
        ),
    ]);
    let now = state.clock.now();
    CallPage {
        id: c.video_call_id.clone(),
        room_url: state.verification.room_url(&c.room_ref),
        reported: c
            .recording
            .as_ref()
            .map(|r| (r.uri.as_str().to_string(), r.sha256.clone())),
        room_ref: c.room_ref,
        lease_until: vn::date_time(c.lease_expires_at),
        lease_left: mm_ss(c.lease_expires_at, now),
        no_shows: c.no_shows,
        applicant,
        // Front, back, portrait, liveness (the style sheet puts the portrait beside the front,
        // whose photo it is compared with).
        documents: DocumentKind::ALL
            .iter()
            .filter(|k| c.documents.contains(k))
            .map(|k| DocumentView {
                href: format!("/workstation/{}/documents/{}", c.video_call_id, k.as_str()),
                kind: k.as_str(),
                label: document_label(lang, *k),
            })
            .collect(),
        checklist: CHECKLIST_ITEMS
            .iter()
            .map(|item| CheckItem {
                name: format!("checklist.{item}"),
                label: checklist_label(lang, item),
                checked: entered.checked.iter().any(|c| c == item),
            })
            .collect(),
        reasons: REJECT_REASONS
            .iter()
            .map(|r| Choice {
                value: r,
                label: reason_label(lang, r),
                selected: entered.reason_code == *r,
            })
            .collect(),
        entered,
        errors,
        notice,
        page: user.page,
    }
}

#[derive(Deserialize)]
pub struct CallQuery {
    renewed: Option<String>,
}

#[handler]
pub async fn call(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    query: Query<CallQuery>,
) -> Result<Response, WebError> {
    let op = operator(&user)?;
    match state.verification.held(&op, &id).await {
        Ok(c) => {
            let notice = query
                .renewed
                .is_some()
                .then(|| user.page.lang.t("ws.renewed"));
            render(&call_page(
                user,
                &state,
                c,
                Entered::default(),
                FieldMessages::default(),
                notice,
            ))
        }
        Err(e) => call_gone(user, &state, e).await,
    }
}

#[handler]
pub async fn renew(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
) -> Result<Response, WebError> {
    let op = operator(&user)?;
    match state.verification.renew(&op, &id).await {
        Ok(_) => Ok(redirect(&format!("/workstation/{}?renewed=1", id.0))),
        Err(e) => call_gone(user, &state, e).await,
    }
}

/// The outcome form as posted: checklist boxes are `checklist.<item>` fields.
fn entered(fields: &[(String, String)]) -> Entered {
    let value = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Entered {
        checked: fields
            .iter()
            .filter_map(|(k, _)| k.strip_prefix("checklist.").map(str::to_string))
            .collect(),
        outcome: value("outcome"),
        reason_code: value("reason_code"),
        note: value("note"),
        recording_uri: value("recording.uri"),
        recording_sha256: value("recording.sha256"),
    }
}

impl Entered {
    /// The domain's form: what the API's request body becomes, from the page's fields.
    fn outcome_form(&self) -> OutcomeForm {
        let blank = |s: &str| s.trim().is_empty();
        OutcomeForm {
            outcome: self.outcome.trim().to_string(),
            checklist: CHECKLIST_ITEMS
                .iter()
                .map(|i| (i.to_string(), self.checked.iter().any(|c| c == i)))
                .collect(),
            reason_code: (!blank(&self.reason_code)).then(|| self.reason_code.trim().to_string()),
            note: (!blank(&self.note)).then(|| self.note.clone()),
            recording: (!blank(&self.recording_uri) || !blank(&self.recording_sha256)).then(|| {
                RecordingForm {
                    uri: self.recording_uri.clone(),
                    sha256: self.recording_sha256.clone(),
                }
            }),
        }
    }
}

#[handler]
pub async fn outcome(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    fields: Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let op = operator(&user)?;
    let entered = entered(&fields);
    let lang = user.page.lang;
    if entered.outcome.trim() == "no_show" && !confirmed(&fields) {
        if let Err(e) = state.verification.held(&op, &id).await {
            return call_gone(user, &state, e).await;
        }
        return render(&ConfirmPage {
            title: lang.t("ws.confirm.no_show.title").to_string(),
            text: lang.t("ws.confirm.no_show.text"),
            action: format!("/workstation/{}/outcome", id.0),
            hidden: vec![("outcome", "no_show".to_string())],
            button: lang.t("ws.no_show.submit"),
            back: format!("/workstation/{}", id.0),
            page: user.page,
        });
    }
    let refused = |errors: FieldErrors| {
        let mut messages = FieldMessages::new(lang, &errors);
        for item in CHECKLIST_ITEMS {
            messages.name_field(&format!("checklist.{item}"), checklist_label(lang, item));
        }
        messages
    };
    let form = match state
        .verification
        .with_reported_recording(&id, entered.outcome_form())
        .await
    {
        Ok(f) => f,
        Err(e) => return call_gone(user, &state, e).await,
    };
    let errors = match Decision::parse(&form) {
        Ok(decision) => match state.verification.record_outcome(&op, &id, decision).await {
            Ok(r) => {
                let done = match r.enrolment_status {
                    _ if r.requeued => "requeued",
                    Status::Verified => "approved",
                    // Rejected, or expired at the no-show limit.
                    closed => closed.as_str(),
                };
                return Ok(redirect(&format!("/workstation?done={done}")));
            }
            Err(e) => return call_gone(user, &state, e).await,
        },
        Err(errors) => refused(errors),
    };
    match state.verification.held(&op, &id).await {
        Ok(c) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &call_page(user, &state, c, entered, errors, None),
        ),
        Err(e) => call_gone(user, &state, e).await,
    }
}

/// One document image of the applicant on the operator's call: decrypted, audited
/// (`enrolment.document_read`), never cached.
#[handler]
pub async fn document(
    user: WebUser,
    state: Data<&AppState>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let op = operator(&user)?;
    let kind = DocumentKind::parse(&kind).ok_or(WebError::NotFound)?;
    let c = match state.verification.held(&op, &id).await {
        Ok(c) => c,
        Err(VerificationError::NotFound) => return Err(WebError::NotFound),
        Err(_) => return Err(WebError::Forbidden),
    };
    if !c.documents.contains(&kind) {
        return Err(WebError::NotFound);
    }
    let doc = state
        .enrolments
        .read_document(
            &op.actor,
            &DocumentReader::Operator(op.id.clone()),
            &c.enrolment.id,
            kind,
        )
        .await
        .map_err(|e| match e {
            EnrolmentError::DocumentDestroyed => WebError::NotFound,
            e => WebError::failed(e),
        })?;
    Ok(Response::builder()
        .content_type(doc.image_type.content_type())
        .header(header::CACHE_CONTROL, "no-store")
        .body(doc.bytes))
}

/// The lease countdown and the document viewer: conveniences; the page says the time
/// without them, and each image opens on its own.
#[handler]
pub fn script() -> Response {
    Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(include_str!("../../templates/web/workstation.js"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_checklist_item_and_reason_has_words_in_both_languages() {
        for lang in [Lang::Vi, Lang::En] {
            for item in CHECKLIST_ITEMS {
                assert_ne!(checklist_label(lang, item), "???", "{item}");
            }
            for reason in REJECT_REASONS {
                assert_ne!(reason_label(lang, reason), "???", "{reason}");
            }
        }
    }

    #[test]
    fn the_page_fields_become_the_apis_outcome_form() {
        let fields: Vec<(String, String)> = [
            ("checklist.applicant_alive_and_present", "on"),
            ("outcome", "rejected"),
            ("reason_code", "data_mismatch"),
            ("note", "Sai ngày sinh"),
            ("recording.uri", ""),
            ("recording.sha256", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let form = entered(&fields).outcome_form();
        assert_eq!(form.outcome, "rejected");
        assert_eq!(form.reason_code.as_deref(), Some("data_mismatch"));
        assert!(
            form.recording.is_none(),
            "blank recording fields are absent"
        );
        let checked: Vec<_> = form.checklist.iter().filter(|(_, v)| *v).collect();
        assert_eq!(checked.len(), 1);
    }
}
