//! The operator pages over HTTP: sign-in with TOTP and first sign-in, the session cookie,
//! CSRF, lock-out, language, error pages, and the route × role table.

mod common;

use common::web::{web_first_sign_in, web_sign_in, WebClient, ROLES};
use common::{Credentials, TestApp};

fn bootstrap_admin(app: &TestApp) -> Credentials {
    Credentials {
        username: app.admin.username.clone(),
        password: app.admin.password.clone(),
        totp_secret: app.admin.totp_secret.clone(),
    }
}

#[tokio::test]
async fn first_sign_in_replaces_the_one_time_password_and_the_totp_secret() {
    let app = TestApp::spawn().await;
    let one_time = bootstrap_admin(&app);
    let client = WebClient::new(&app);
    let resp = client.sign_in_with(&app, &one_time).await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    assert_eq!(resp.location.as_deref(), Some("/sign-in/first"));
    // Until it is done, every page leads back to the first-sign-in page.
    let dashboard = client.get("/dashboard").await;
    assert_eq!(dashboard.location.as_deref(), Some("/sign-in/first"));

    let page = client.get("/sign-in/first").await;
    assert!(
        page.body.contains("data:image/png;base64,"),
        "QR code drawn"
    );
    let secret = page.text_of("totp-secret").unwrap();
    assert_ne!(
        secret, one_time.totp_secret,
        "a new secret, not the one the admin saw"
    );
    let pending = page.field("pending").unwrap();
    let new_password = "a long own password 2026";

    // A code from the old secret does not confirm the new one; the same QR is shown again.
    app.next_totp_step();
    let old_code = one_time.code_at(app.now());
    let wrong = client
        .post(
            "/sign-in/first",
            &[
                ("pending", &pending),
                ("new_password", new_password),
                ("confirm_password", new_password),
                ("totp_code", &old_code),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert_eq!(
        wrong.text_of("totp-secret").as_deref(),
        Some(secret.as_str())
    );

    let code = common::totp_code(&secret, app.now());
    let done = client
        .post(
            "/sign-in/first",
            &[
                ("pending", &pending),
                ("new_password", new_password),
                ("confirm_password", new_password),
                ("totp_code", &code),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(client.get("/dashboard").await.status, 200);

    // The old password and the old secret no longer sign in; the new ones do.
    let other = WebClient::new(&app);
    assert_eq!(other.sign_in_with(&app, &one_time).await.status, 401);
    let with_old_secret = Credentials {
        password: new_password.into(),
        ..bootstrap_admin(&app)
    };
    assert_eq!(other.sign_in_with(&app, &with_old_secret).await.status, 401);
    let own = Credentials {
        password: new_password.into(),
        totp_secret: secret,
        ..bootstrap_admin(&app)
    };
    let ok = other.sign_in_with(&app, &own).await;
    assert_eq!((ok.status, ok.location.as_deref()), (303, Some("/")));
}

#[tokio::test]
async fn session_cookie_is_http_only_strict_and_secure_over_tls() {
    let app = TestApp::spawn_with(common::TestEnv::new(), |c| {
        c.security.secure_cookies = true;
    })
    .await;
    let client = WebClient::new(&app);
    let resp = client.sign_in_with(&app, &bootstrap_admin(&app)).await;
    let session_cookie = |resp: &common::web::WebResponse| {
        resp.set_cookies()
            .into_iter()
            .find(|c| c.starts_with("ce_session="))
            .unwrap_or_else(|| panic!("{} {}", resp.status, resp.body))
    };
    let cookie = session_cookie(&resp);
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }

    let app = TestApp::spawn().await;
    let client = WebClient::new(&app);
    let resp = client.sign_in_with(&app, &bootstrap_admin(&app)).await;
    let cookie = session_cookie(&resp);
    assert!(
        !cookie.contains("Secure"),
        "plain http cannot keep a Secure cookie"
    );
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    // Behind a proxy that ended TLS.
    let resp = reqwest::Client::new()
        .get(app.url("/sign-in"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let presession = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("ce_presession="))
        .unwrap();
    assert!(presession.contains("Secure"), "{presession}");
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    let mut app = TestApp::spawn().await;
    let client = web_sign_in(&mut app, "auditor").await;
    for fields in [vec![], vec![("csrf", "0000")]] {
        let resp = client.post_raw("/sign-out", &fields).await;
        assert_eq!(resp.status, 403);
        assert!(resp.body.contains("CSRF"), "{}", resp.body);
    }
    // Still signed in: the sign-out did not happen.
    assert_eq!(client.get("/dashboard").await.status, 200);
    // A token from another session is no good either.
    let other = web_sign_in(&mut app, "auditor").await;
    let resp = client
        .post_raw("/sign-out", &[("csrf", &other.csrf())])
        .await;
    assert_eq!(resp.status, 403);
    // The sign-in form has its own token, bound to a pre-session cookie.
    let anonymous = WebClient::new(&app);
    let resp = anonymous
        .post_raw(
            "/sign-in",
            &[
                ("username", "admin"),
                ("password", "x"),
                ("totp_code", "123456"),
            ],
        )
        .await;
    assert_eq!(resp.status, 403);

    let resp = client.post("/sign-out", &[]).await;
    assert_eq!(resp.status, 303);
    assert_eq!(client.get("/dashboard").await.status, 303);
}

#[tokio::test]
async fn an_idle_session_ends_and_the_page_says_so() {
    let mut app = TestApp::spawn().await;
    let client = web_sign_in(&mut app, "operator").await;
    app.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(client.get("/dashboard").await.status, 200);
    // Idle time counts from the last request, but is recorded at most once a minute.
    app.clock.advance(chrono::Duration::minutes(16));
    let resp = client.get("/dashboard").await;
    assert_eq!(resp.status, 303);
    let to = resp.location.unwrap();
    assert!(
        to.starts_with("/sign-in?next=/dashboard") && to.contains("expired=1"),
        "{to}"
    );
    let page = client.get(&to).await;
    assert!(
        page.body.contains("Phiên làm việc đã hết hạn"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn the_idle_timeout_is_configurable() {
    let env = common::TestEnv::new();
    let mut app = TestApp::spawn_with(env, |c| c.security.session_idle_minutes = 5).await;
    let client = web_sign_in(&mut app, "operator").await;
    app.clock.advance(chrono::Duration::minutes(6));
    assert_eq!(client.get("/dashboard").await.status, 303);
}

#[tokio::test]
async fn repeated_failures_lock_the_account_and_the_page_says_until_when() {
    let mut app = TestApp::spawn().await;
    let client = web_sign_in(&mut app, "operator").await;
    let mut creds = client.creds.unwrap();
    let good_password = std::mem::replace(&mut creds.password, "wrong password!".into());
    let browser = WebClient::new(&app);
    for _ in 0..4 {
        let resp = browser.sign_in_with(&app, &creds).await;
        assert_eq!(resp.status, 401);
        assert!(resp
            .body
            .contains("Sai tên đăng nhập, mật khẩu hoặc mã xác thực."));
    }
    let resp = browser.sign_in_with(&app, &creds).await;
    assert_eq!(resp.status, 429, "{}", resp.body);
    assert!(resp.body.contains("bị khoá tạm thời"), "{}", resp.body);
    // Locked even with the right password, in English too.
    creds.password = good_password;
    browser.set_cookie("lang", "en");
    let resp = browser.sign_in_with(&app, &creds).await;
    assert_eq!(resp.status, 429);
    assert!(resp.body.contains("The account is locked"), "{}", resp.body);
    let until = chrono::Utc::now() + chrono::Duration::minutes(15);
    // The time shown is dd/mm/yyyy HH:MM in Vietnam time.
    let shown = until
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap())
        .format("%d/%m/%Y")
        .to_string();
    assert!(resp.body.contains(&shown), "{}", resp.body);
}

#[tokio::test]
async fn pages_are_vietnamese_by_default_and_english_on_request() {
    let mut app = TestApp::spawn().await;
    let client = web_sign_in(&mut app, "admin").await;
    let page = client.get("/dashboard").await;
    assert!(page.body.contains("<html lang=\"vi\">"));
    assert!(page.body.contains("Tổng quan"));
    let switch = client.get("/lang/en?next=/dashboard").await;
    assert_eq!(
        (switch.status, switch.location.as_deref()),
        (303, Some("/dashboard"))
    );
    let page = client.get("/dashboard").await;
    assert!(page.body.contains("<html lang=\"en\">"));
    assert!(page.body.contains("Dashboard"));
    // The switch never sends anyone to another site.
    let away = client.get("/lang/vi?next=//evil.example").await;
    assert_eq!(away.location.as_deref(), Some("/"));
}

#[tokio::test]
async fn unknown_pages_answer_a_404_page_and_the_api_keeps_json() {
    let mut app = TestApp::spawn().await;
    let client = web_sign_in(&mut app, "auditor").await;
    let page = client.get("/no-such-page").await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("Không tìm thấy"), "{}", page.body);
    let api = client.get("/api/v1/no-such-operation").await;
    assert_eq!(api.status, 404);
    assert!(api.body.starts_with('{'), "{}", api.body);
}

/// Every page × every role, and anonymous: the status the server answers.
#[tokio::test]
async fn every_page_answers_each_role_as_the_table_says() {
    // (path, roles allowed); anonymous always goes to sign-in.
    let table: &[(&str, &[&str])] = &[(
        "/dashboard",
        &["operator", "ra_officer", "admin", "auditor"],
    )];
    let mut app = TestApp::spawn().await;
    let mut clients = Vec::new();
    for role in ROLES {
        clients.push((role, web_sign_in(&mut app, role).await));
    }
    let anonymous = WebClient::new(&app);
    let mut wrong = Vec::new();
    for (path, allowed) in table {
        let resp = anonymous.get(path).await;
        let to_sign_in = resp
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/sign-in?next="));
        if resp.status != 303 || !to_sign_in {
            wrong.push(format!(
                "anonymous {path}: {} {:?}",
                resp.status, resp.location
            ));
        }
        for (role, client) in &clients {
            let expected = if allowed.contains(role) { 200 } else { 403 };
            let got = client.get(path).await.status;
            if got != expected {
                wrong.push(format!("{role} {path}: expected {expected}, got {got}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn the_bootstrap_admin_completes_first_sign_in_through_the_pages() {
    let app = TestApp::spawn().await;
    let client = web_first_sign_in(&app, bootstrap_admin(&app)).await;
    let page = client.get("/dashboard").await;
    assert!(page.body.contains("admin"));
    assert!(
        page.body.contains("Quản trị"),
        "admin sees administration in the menu"
    );
}
