//! The operator web pages: server-rendered HTML (askama templates under `templates/web/`)
//! over the same domain operations the API calls. Every page resolves the cookie session to
//! the API's [`Principal`](crate::operators::Principal) ([`WebUser`]) and checks the role on
//! the server; every POST carries a CSRF token, checked here before any handler runs; errors
//! become pages (403, 404, 500 with the request id as operation id, never internals).
//!
//! Adding a page: a handler taking [`WebUser`] that calls `user.require(&[roles])?` first,
//! renders an askama template whose struct has a `page: Page` field (from `user.page`) and
//! extends `web/base.html`, and returns `Result<Response, WebError>`. Forms post
//! `<input type="hidden" name="csrf" value="{{ page.csrf }}">`; multipart uploads put it in
//! the action's query (`action="/x?csrf={{ page.csrf }}"`). Domain errors shown on a form
//! use [`message`] (the API's wording). Words go in `texts::CATALOGUE`. The CSP allows no
//! inline script or style: serve a script as a static file beside `/static/web.css`.

pub mod i18n;
pub mod session;

mod admin;
mod audit;
mod certificates;
mod counter;
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
        .at("/counter", get(counter::form).post(counter::submit))
        .at("/counter/:id", get(counter::enrolment))
        .at("/counter/:id/documents", post(counter::upload))
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
    #[error("unexpected: {0}")]
    Unexpected(String),
}

impl poem::error::ResponseError for WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::Redirect(_) => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::Unexpected(e.to_string())
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

/// Larger form posts are refused; uploads are multipart and read by their handlers.
const MAX_FORM_BYTES: usize = 256 * 1024;

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

/// POSTs must carry the CSRF token: the `csrf` field of a url-encoded form, or for multipart
/// uploads the `csrf` query parameter of the form's action.
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
        req.uri()
            .query()
            .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
            .and_then(|q| q.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v))
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

fn error_page(e: poem::Error, lang: Lang, request_id: &str, signed_in: Option<Header>) -> Response {
    let status = e.status();
    let (title, text, operation_id) = match e.downcast_ref::<WebError>() {
        Some(WebError::Redirect(to)) => return redirect(to),
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
    match page.render() {
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
    }
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
