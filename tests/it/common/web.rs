//! Speaking to the operator pages as a browser without script would: cookies kept by hand,
//! redirects not followed (tests look at them), the CSRF token read from the last page.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{totp_code, Credentials, TestApp};

pub const ROLES: [&str; 4] = ["operator", "ra_officer", "admin", "auditor"];

pub struct WebResponse {
    pub status: u16,
    /// `Location` of a redirect.
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl WebResponse {
    /// The value of the first `<input … name="{name}" … value="…">` on the page.
    pub fn field(&self, name: &str) -> Option<String> {
        input_value(&self.body, name)
    }

    /// The text of the element with `id="{id}"` (up to the next `<`).
    pub fn text_of(&self, id: &str) -> Option<String> {
        let at = self.body.find(&format!("id=\"{id}\""))?;
        let rest = &self.body[at..];
        let start = rest.find('>')? + 1;
        let end = rest[start..].find('<')?;
        Some(html_unescape(rest[start..start + end].trim()))
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

/// A browser session: its cookies and the CSRF token of the last page that had a form.
pub struct WebClient {
    pub base: String,
    http: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
    csrf: Mutex<Option<String>>,
    /// Who is signed in (password and TOTP secret as they are after first sign-in).
    pub creds: Option<Credentials>,
}

impl WebClient {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(reqwest::header::HeaderMap::from_iter([(
                    reqwest::header::ACCEPT,
                    reqwest::header::HeaderValue::from_static(
                        "text/html,application/xhtml+xml,*/*;q=0.8",
                    ),
                )]))
                .build()
                .unwrap(),
            cookies: Mutex::new(BTreeMap::new()),
            csrf: Mutex::new(None),
            creds: None,
        }
    }

    pub fn csrf(&self) -> String {
        self.csrf.lock().unwrap().clone().unwrap_or_default()
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.to_string(), value.to_string());
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, resp: reqwest::Response) -> WebResponse {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            let deleted = v.to_ascii_lowercase().contains("max-age=0") || val.is_empty();
            if deleted {
                jar.remove(k);
            } else {
                jar.insert(k.to_string(), val.to_string());
            }
        }
        let location = headers
            .get(reqwest::header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        let body = resp.text().await.unwrap();
        if let Some(token) = input_value(&body, "csrf") {
            *self.csrf.lock().unwrap() = Some(token);
        }
        WebResponse {
            status,
            location,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> WebResponse {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// Posts a form with the current CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> WebResponse {
        let csrf = self.csrf();
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields (no CSRF token unless given).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> WebResponse {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .form(fields)
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// Posts a multipart form; the CSRF token goes in as its `csrf` field, as the page's form
    /// sends it.
    pub async fn post_multipart(&self, path: &str, form: reqwest::multipart::Form) -> WebResponse {
        self.post_multipart_raw(path, form.text("csrf", self.csrf()))
            .await
    }

    /// Posts a multipart form as given (no CSRF field added).
    pub async fn post_multipart_raw(
        &self,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> WebResponse {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .multipart(form)
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// Fills in the sign-in form (fresh TOTP step first, so the code is not a replay).
    pub async fn sign_in_with(&self, app: &TestApp, who: &Credentials) -> WebResponse {
        self.get("/sign-in").await;
        app.next_totp_step();
        let code = who.code_at(app.now());
        self.post(
            "/sign-in",
            &[
                ("username", &who.username),
                ("password", &who.password),
                ("totp_code", &code),
            ],
        )
        .await
    }
}

/// First sign-in of an account holding a one-time password: signs in, sets a new password,
/// enrols the new TOTP secret from the page. Returns the signed-in client, whose `creds`
/// hold the new password and secret.
pub async fn web_first_sign_in(app: &TestApp, one_time: Credentials) -> WebClient {
    let mut client = WebClient::new(app);
    let resp = client.sign_in_with(app, &one_time).await;
    assert_eq!(resp.status, 303, "sign-in: {}", resp.body);
    assert_eq!(resp.location.as_deref(), Some("/sign-in/first"));
    let page = client.get("/sign-in/first").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let secret = page
        .text_of("totp-secret")
        .expect("the page shows the secret");
    let pending = page.field("pending").expect("pending secret field");
    let new_password = format!("{}-web-own", one_time.password);
    app.next_totp_step();
    let code = totp_code(&secret, app.now());
    let done = client
        .post(
            "/sign-in/first",
            &[
                ("pending", &pending),
                ("new_password", &new_password),
                ("confirm_password", &new_password),
                ("totp_code", &code),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "first sign-in: {}", done.body);
    // Load a page so the client holds a session-bound CSRF token.
    let dashboard = client.get("/dashboard").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    client.creds = Some(Credentials {
        username: one_time.username,
        password: new_password,
        totp_secret: secret,
    });
    client
}

/// A new account with `role` (made by the bootstrap admin over the API), signed in through
/// the pages, first sign-in done.
pub async fn web_sign_in(app: &mut TestApp, role: &str) -> WebClient {
    let admin = app.admin_token().await;
    let username = format!(
        "web-{}-{}",
        role.replace('_', "-"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let creds = app.create_operator(&admin, &username, role).await;
    web_first_sign_in(app, creds).await
}

fn input_value(body: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = body.find(&needle)?;
    let tag_start = body[..at].rfind('<')?;
    let tag_end = at + body[at..].find('>')?;
    let tag = &body[tag_start..tag_end];
    let v = tag.find("value=\"")? + 7;
    let end = tag[v..].find('"')?;
    Some(html_unescape(&tag[v..v + end]))
}

pub fn html_unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A certificate issued through the API (a VNeID enrolment, a signed PS0 contract, a P-256
/// CSR), left in `pending_acceptance`. Returns (enrolment id, serial).
pub async fn issued_certificate(app: &mut TestApp, n: u32) -> (String, String) {
    let key = super::enrol::enrol_key(app).await;
    let enrolment = super::contract::contracted(app, &key, n).await;
    let csr = super::certificates::csr_pem();
    let (status, body) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(&key),
            serde_json::json!({ "csr": csr }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (enrolment, body["serial"].as_str().unwrap().to_string())
}
