//! The operator web pages: server-rendered HTML (askama templates under `templates/web/`)
//! over the same domain operations the API calls. Every page resolves the cookie session to
//! the API's [`Principal`](crate::operators::Principal) ([`WebUser`]) and checks the role on
//! the server; every POST carries a CSRF token, checked here before any handler runs; errors
//! become pages (403, 404, 500 with the request id as operation id, never internals).
//!
//! Adding a page: a handler taking [`WebUser`] that calls `user.require(&[roles])?` first,
//! renders an askama template whose struct has a `page: Page` field (from `user.page`) and
//! extends `web/base.html`, and returns `Result<Response, WebError>`. Forms post
//! `<input type="hidden" name="csrf" value="{{ page.csrf }}">`, multipart uploads too (never
//! in the action's URL). Domain errors shown on a form
//! use [`message`] (the API's wording). Words go in `texts::CATALOGUE`. The CSP allows no
//! inline script or style: serve a script as a static file beside `/static/web.css`.

pub mod i18n;
pub mod session;

mod admin;
mod audit;
mod certificates;
mod counter;
mod counter_steps;
mod dashboard;
mod enrolments;
mod form;
mod reports;
mod signin;
mod workstation;

use crate::problem::Problem;
use askama::Template;
use poem::http::{header, Method, StatusCode};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use std::sync::{Arc, Mutex};

use crate::http::{get, post, Allow, RequestId};
use crate::operators::Role;
use i18n::Lang;
pub use session::WebUser;

/// The pages' route table; `app.rs` mounts it at `/` beside `/api`.
pub fn routes() -> impl Endpoint<Output = Response> {
    Route::new()
        .at("/", get(home))
        .at("/static/web.css", get(stylesheet))
        .at("/lang/:code", get(switch_language))
        .at("/sign-in", get(signin::form).post(signin::submit))
        .at(
            session::FIRST_SIGN_IN,
            get(signin::first_form).post(signin::first_submit),
        )
        .at("/sign-out", post(signin::sign_out))
        .at("/dashboard", get(dashboard::page))
        .at("/enrolments", get(enrolments::search))
        .at("/enrolments/:id", get(enrolments::detail))
        .at("/enrolments/:id/documents/:kind", get(enrolments::document))
        .at(
            "/enrolments/:id/contracts/:contract/:file",
            get(enrolments::contract_file),
        )
        .at("/certificates", get(certificates::search))
        .at("/certificates/:serial", get(certificates::detail))
        .at("/certificates/:serial/pem", get(certificates::pem))
        .at(
            "/certificates/:serial/acceptance-record/:version",
            get(certificates::acceptance_record),
        )
        .at(
            "/certificates/:serial/change/:action",
            get(certificates::change_form).post(certificates::change_submit),
        )
        .at("/audit", get(audit::page))
        .at("/admin", get(admin::index))
        .at("/admin/operators", post(admin::create_operator))
        .at("/admin/operators/:id/:action", post(admin::operator_action))
        .at("/admin/integrations", post(admin::create_integration))
        .at("/admin/api-keys", post(admin::create_api_key))
        .at("/admin/api-keys/:id/revoke", post(admin::revoke_api_key))
        .at("/workstation", get(workstation::queue))
        .at("/workstation/claim", post(workstation::claim))
        .at("/workstation/:id", get(workstation::call))
        .at("/workstation/:id/renew", post(workstation::renew))
        .at("/workstation/:id/outcome", post(workstation::outcome))
        .at(
            "/workstation/:id/documents/:kind",
            get(workstation::document),
        )
        .at("/static/workstation.js", get(workstation::script))
        .at("/static/counter.js", get(counter::script))
        .at("/counter", get(counter::form).post(counter::submit))
        .at("/counter/:id", get(counter::enrolment))
        .at("/counter/:id/documents", post(counter::upload))
        .at(
            "/counter/:id/package",
            get(counter_steps::package_step).post(counter_steps::choose_package),
        )
        .at("/counter/:id/contract", get(counter_steps::contract_step))
        .at(
            "/counter/:id/contract/otp",
            post(counter_steps::send_contract_code),
        )
        .at(
            "/counter/:id/contract/sign",
            post(counter_steps::sign_contract),
        )
        .at(
            "/counter/:id/certificate",
            get(counter_steps::certificate_step),
        )
        .at(
            "/counter/:id/certificate/remote",
            post(counter_steps::issue_remote),
        )
        .at(
            "/counter/:id/certificate/csr",
            post(counter_steps::issue_csr),
        )
        .at(
            "/counter/:id/certificate/pem",
            get(counter_steps::certificate_pem),
        )
        .at(
            "/counter/:id/acceptance",
            get(counter_steps::acceptance_step).post(counter_steps::accept),
        )
        .at(
            "/counter/:id/acceptance/otp",
            post(counter_steps::send_acceptance_code),
        )
        .at(
            "/counter/:id/acceptance-record/:version",
            get(counter_steps::acceptance_record),
        )
        .at(
            "/static/signature-pad.js",
            get(counter_steps::signature_script),
        )
        .at("/reports", get(reports::page))
        .at("/reports/issuance.csv", get(reports::csv))
        .around(around)
}

/// What the navigation offers each role; the pages check roles themselves.
const NAV: &[(&str, &str, &[Role])] = &[
    ("nav.dashboard", "/dashboard", &Role::ALL),
    ("nav.workstation", "/workstation", &[Role::Operator]),
    ("nav.counter", "/counter", &[Role::Operator]),
    (
        "nav.enrolments",
        "/enrolments",
        &[Role::Operator, Role::RaOfficer],
    ),
    (
        "nav.certificates",
        "/certificates",
        &[Role::RaOfficer, Role::Auditor, Role::Admin],
    ),
    (
        "nav.reports",
        "/reports",
        &[Role::RaOfficer, Role::Admin, Role::Auditor],
    ),
    ("nav.audit", "/audit", &[Role::Auditor, Role::Admin]),
    ("nav.admin", "/admin", &[Role::Admin]),
];

/// Who is signed in, as the header shows it.
#[derive(Clone)]
pub struct UserBadge {
    pub username: String,
    /// Catalogue key of the role's name, e.g. `role.admin`.
    pub role_key: String,
}

#[derive(Clone)]
pub struct NavItem {
    pub key: &'static str,
    pub href: &'static str,
    pub active: bool,
}

/// Who was signed in on the request, put there by the [`WebUser`] extractor: an error page
/// of that request (403, 404) keeps the header and navigation.
#[derive(Clone, Default)]
pub(crate) struct SignedIn(Arc<Mutex<Option<Header>>>);

/// The header of a signed-in page: who, their navigation, the token of the sign-out form.
type Header = (UserBadge, Vec<NavItem>, String);

impl SignedIn {
    pub(crate) fn record(&self, page: &Page) {
        if let Some(user) = &page.user {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((user.clone(), page.nav.clone(), page.csrf.clone()));
        }
    }

    fn take(&self) -> Option<Header> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// What the base layout needs on every page.
pub struct Page {
    pub lang: Lang,
    /// The token every form on the page carries as `csrf`.
    pub csrf: String,
    pub user: Option<UserBadge>,
    pub nav: Vec<NavItem>,
    /// Where the language switch comes back to.
    pub here: String,
}

impl Page {
    pub fn new(req: &Request, lang: Lang, csrf: String, user: Option<(String, Role)>) -> Self {
        let path = req.uri().path();
        let nav = match &user {
            Some((_, role)) => NAV
                .iter()
                .filter(|(_, _, roles)| roles.contains(role))
                .map(|(key, href, _)| NavItem {
                    key,
                    href,
                    active: path == *href || path.starts_with(&format!("{href}/")),
                })
                .collect(),
            None => Vec::new(),
        };
        let here = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        Self {
            lang,
            csrf,
            user: user.map(|(username, role)| UserBadge {
                username,
                role_key: format!("role.{}", role.as_str()),
            }),
            nav,
            here: if req.method() == Method::GET {
                here
            } else {
                "/".into()
            },
        }
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// The language switch link: the other language, back to this page.
    pub fn switch_href(&self) -> String {
        format!(
            "/lang/{}?next={}",
            self.lang.other().code(),
            session::percent_encode(&self.here)
        )
    }
}

/// One `<option>` of a filter's `<select>`.
pub struct SelectOption {
    pub value: String,
    pub text: String,
    pub selected: bool,
}

impl SelectOption {
    pub fn new(value: &str, text: &str, current: &str) -> Self {
        Self {
            value: value.to_string(),
            text: text.to_string(),
            selected: value == current,
        }
    }
}

/// Why a page could not be shown; [`around`] turns each into a page.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not signed in (or the session ended): go to the given place (303).
    #[error("redirect to {0}")]
    Redirect(String),
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// The database or a store the page needs cannot be reached: 503 with `Retry-After`
    /// (seconds), a page that says to try again in a moment. Not a fault to report.
    #[error("unavailable")]
    Unavailable(u32),
    #[error("unexpected: {0}")]
    Unexpected(String),
}

impl WebError {
    /// A domain error the page has no place for: [`WebError::Unavailable`] when its problem
    /// is a 503 (the database or the object store unreachable, which a retry in a moment
    /// fixes), else unexpected, with its detail for the log.
    pub fn failed<E: std::fmt::Display + Into<Problem>>(e: E) -> Self {
        let detail = e.to_string();
        let problem = e.into();
        if problem.status == StatusCode::SERVICE_UNAVAILABLE {
            WebError::Unavailable(
                problem
                    .retry_after_seconds
                    .unwrap_or(crate::problem::DATABASE_RETRY_AFTER_SECONDS),
            )
        } else {
            WebError::Unexpected(detail)
        }
    }
}

impl poem::error::ResponseError for WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::Redirect(_) => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::failed(e)
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Unexpected(format!("template: {e}"))
    }
}

/// A rendered page with status 200.
pub fn render(t: &impl Template) -> Result<Response, WebError> {
    render_status(StatusCode::OK, t)
}

pub fn render_status(status: StatusCode, t: &impl Template) -> Result<Response, WebError> {
    Ok(Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(t.render()?))
}

/// A domain error's message in the page's language: its [`Problem`]'s catalogue text, the
/// API's wording too. An internal failure is logged here (the page shows the generic text).
pub fn message(lang: Lang, e: impl Into<Problem>) -> String {
    let p = e.into();
    p.log();
    p.message(lang).to_string()
}

pub fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .finish()
}

#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage {
    page: Page,
    title: &'static str,
    text: &'static str,
    operation_id: Option<String>,
}

/// The step between a button and an action that is hard to undo (revoking an API key,
/// disabling an account, resetting credentials, recording a no-show): the button's POST
/// without `confirm=yes` answers this page, whose form posts the same fields again with it.
/// A page of its own rather than a script's dialog, so it holds without JavaScript.
#[derive(Template)]
#[template(path = "web/confirm.html")]
pub(super) struct ConfirmPage {
    pub page: Page,
    pub title: String,
    pub text: &'static str,
    /// Where the confirming form posts (the button's own action).
    pub action: String,
    /// The button's other fields, posted again with `confirm=yes`.
    pub hidden: Vec<(&'static str, String)>,
    pub button: &'static str,
    /// Where "cancel" leads.
    pub back: String,
}

/// Whether a posted form carries the confirmation of [`ConfirmPage`].
pub(super) fn confirmed(fields: &[(String, String)]) -> bool {
    fields.iter().any(|(k, v)| k == "confirm" && v == "yes")
}

/// Larger form posts are refused; uploads are multipart and read by their handlers.
pub(crate) const MAX_FORM_BYTES: usize = 256 * 1024;

/// Every page request: the CSRF check on POST, errors turned into pages, and headers that
/// keep pages out of caches and frames.
async fn around<E: Endpoint>(ep: E, mut req: Request) -> poem::Result<Response> {
    let lang = session::lang(&req);
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let signed_in = SignedIn::default();
    req.extensions_mut().insert(signed_in.clone());
    let result = match check_csrf(&mut req).await {
        Ok(()) => ep.call(req).await.map(IntoResponse::into_response),
        Err(e) => Err(e),
    };
    let mut resp = match result {
        Ok(resp) => resp,
        // A program asking for an unknown path keeps the JSON problem the rest of the
        // service answers with; browsers get a page.
        Err(e) if !wants_html && !e.is::<WebError>() => return Err(e),
        Err(e) => {
            // The page answers for the route that failed (or for no route): the metrics
            // label the router put on the error carries over to it.
            let pattern = crate::http::route_of(&e);
            let allow = e.data::<Allow>().map(|a| a.0.clone());
            let mut resp = error_page(e, lang, &request_id, signed_in.take());
            resp.set_data(pattern);
            if let Some(allow) = allow {
                resp.headers_mut().insert(header::ALLOW, allow);
            }
            resp
        }
    };
    let headers = resp.headers_mut();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        headers.insert(name, poem::http::HeaderValue::from_static(value));
    }
    // Kept when set by the handler: only `with_document_viewer` and `pdf_view` set them.
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("content-security-policy", CSP),
    ] {
        if !headers.contains_key(name) {
            headers.insert(name, poem::http::HeaderValue::from_static(value));
        }
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            poem::http::HeaderValue::from_static("no-store"),
        );
    }
    Ok(resp)
}

/// Every page's policy: nothing inline, no frames, no plug-ins, never framed.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
    script-src 'self'; frame-src 'none'; object-src 'none'; frame-ancestors 'none'; \
    form-action 'self'; base-uri 'none'";

/// [`CSP`] for the two pages that show the citizen's PDFs: frames of our own origin only.
const CSP_DOCUMENT_VIEWER: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
    script-src 'self'; frame-src 'self'; object-src 'none'; frame-ancestors 'none'; \
    form-action 'self'; base-uri 'none'";

/// A stored PDF: framed by our own pages only, and loading nothing itself.
const CSP_PDF: &str = "default-src 'none'; frame-ancestors 'self'";

/// A page that frames documents served by [`pdf_view`] (the enrolment and the certificate
/// pages).
pub(super) fn with_document_viewer(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "content-security-policy",
        poem::http::HeaderValue::from_static(CSP_DOCUMENT_VIEWER),
    );
    resp
}

#[derive(serde::Deserialize, Default)]
pub(super) struct FileQuery {
    /// Set by the download links: `attachment` instead of `inline`.
    #[serde(default)]
    download: Option<String>,
}

/// A stored PDF for the pages' inline viewer (`Content-Disposition: inline`), or as a
/// download (`?download=1`); never cached.
pub(super) fn pdf_view(bytes: Vec<u8>, filename: &str, query: &FileQuery) -> Response {
    let disposition = if query.download.is_some() {
        "attachment"
    } else {
        "inline"
    };
    Response::builder()
        .content_type("application/pdf")
        .header(header::CACHE_CONTROL, "no-store")
        .header(
            header::CONTENT_DISPOSITION,
            format!("{disposition}; filename=\"{filename}\""),
        )
        .header("x-frame-options", "SAMEORIGIN")
        .header("content-security-policy", CSP_PDF)
        .body(bytes)
}

/// POSTs must carry the CSRF token: the `csrf` field of the form, url-encoded or multipart.
/// Never in the URL, where logs and `Referer` headers would keep it.
async fn check_csrf(req: &mut Request) -> poem::Result<()> {
    if req.method() != Method::POST {
        return Ok(());
    }
    let Some(state) = req.data::<crate::app::AppState>().cloned() else {
        return Err(WebError::Unexpected("application state missing".into()).into());
    };
    let content_type = req
        .content_type()
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or_default();
    let presented = if content_type.starts_with("application/x-www-form-urlencoded") {
        let body = req
            .take_body()
            .into_bytes_limit(MAX_FORM_BYTES)
            .await
            .map_err(|_| poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE))?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        req.set_body(body);
        fields
            .into_iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v)
    } else if content_type.starts_with("multipart/form-data") {
        // Read whole (the route's body limit bounds it) and put back for the handler.
        let body = req
            .take_body()
            .into_bytes()
            .await
            .map_err(|_| poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE))?;
        let token = multipart_csrf(req, body.clone()).await;
        req.set_body(body);
        token
    } else {
        None
    };
    if session::check_csrf(&state.csrf, req, presented.as_deref()) {
        Ok(())
    } else {
        tracing::warn!(path = req.uri().path(), "CSRF check failed");
        Err(WebError::Csrf.into())
    }
}

/// The `csrf` field of a multipart body, read from a copy of the body.
async fn multipart_csrf(req: &Request, body: bytes::Bytes) -> Option<String> {
    use poem::FromRequest;
    let mut body = poem::RequestBody::new(poem::Body::from(body));
    let mut form = poem::web::Multipart::from_request(req, &mut body)
        .await
        .ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("csrf") {
            return field.text().await.ok();
        }
    }
    None
}

fn error_page(e: poem::Error, lang: Lang, request_id: &str, signed_in: Option<Header>) -> Response {
    let status = e.status();
    let mut retry_after = None;
    let (title, text, operation_id) = match e.downcast_ref::<WebError>() {
        Some(WebError::Redirect(to)) => return redirect(to),
        Some(WebError::Unavailable(seconds)) => {
            retry_after = Some(*seconds);
            ("error.503.title", "error.503.text", None)
        }
        Some(WebError::Csrf) => ("error.csrf.title", "error.csrf.text", None),
        Some(WebError::Forbidden) => ("error.403.title", "error.403.text", None),
        Some(WebError::NotFound) => ("error.404.title", "error.404.text", None),
        Some(WebError::Unexpected(detail)) => {
            tracing::error!(error = %detail, "unexpected error on a page");
            ("error.500.title", "error.500.text", Some(request_id))
        }
        None if status == StatusCode::NOT_FOUND => ("error.404.title", "error.404.text", None),
        None if status.is_server_error() => {
            tracing::error!(error = %e, "unexpected error on a page");
            ("error.500.title", "error.500.text", Some(request_id))
        }
        None => ("error.generic.title", "error.generic.text", None),
    };
    let page = ErrorPage {
        page: Page {
            lang,
            csrf: signed_in
                .as_ref()
                .map(|(_, _, csrf)| csrf.clone())
                .unwrap_or_default(),
            user: signed_in.as_ref().map(|(u, _, _)| u.clone()),
            nav: signed_in.map(|(_, nav, _)| nav).unwrap_or_default(),
            here: "/".into(),
        },
        title: lang.t(title),
        text: lang.t(text),
        operation_id: operation_id.map(str::to_string),
    };
    let mut resp = match page.render() {
        Ok(body) => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "error page failed to render");
            Response::builder()
                .status(status)
                .content_type("text/plain; charset=utf-8")
                .body(format!("{status}; operation id {request_id}"))
        }
    };
    if let Some(seconds) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, poem::http::HeaderValue::from(seconds));
    }
    resp
}

#[poem::handler]
async fn home(_user: WebUser) -> Response {
    redirect("/dashboard")
}

#[poem::handler]
fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(include_str!("../../templates/web/web.css"))
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// `GET /lang/{vi|en}?next=/path`: a link, so it works without script; the choice is not
/// security-relevant, so no CSRF token.
#[poem::handler]
fn switch_language(
    req: &Request,
    state: poem::web::Data<&crate::app::AppState>,
    code: poem::web::Path<String>,
    query: poem::web::Query<NextQuery>,
) -> Result<Response, WebError> {
    let lang = Lang::parse(&code.0).ok_or(WebError::NotFound)?;
    let mut resp = redirect(&session::safe_next(query.next.as_deref()));
    session::set_cookie(
        &mut resp,
        req,
        state.0,
        session::LANG_COOKIE,
        lang.code(),
        Some(365 * 24 * 3600),
    );
    Ok(resp)
}
