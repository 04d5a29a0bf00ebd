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

/// Every page × every role, and anonymous: the status the server answers. GET pages send
/// anonymous callers to sign-in (303); a POST without a session has no valid CSRF token (403).
#[tokio::test]
async fn every_page_answers_each_role_as_the_table_says() {
    let mut app = TestApp::spawn().await;
    let (enrolment, serial) = fixture(&mut app).await;
    const ALL: &[&str] = &["operator", "ra_officer", "admin", "auditor"];
    const CASEWORK: &[&str] = &["operator", "ra_officer"];
    const CERT_READERS: &[&str] = &["ra_officer", "auditor", "admin"];
    let gets: Vec<(String, &[&str])> = vec![
        ("/dashboard".into(), ALL),
        ("/enrolments".into(), CASEWORK),
        ("/enrolments?status=verified".into(), CASEWORK),
        (format!("/enrolments/{enrolment}"), CASEWORK),
        (
            format!("/enrolments/{enrolment}/documents/portrait"),
            CASEWORK,
        ),
        ("/certificates".into(), CERT_READERS),
        (format!("/certificates/{serial}"), CERT_READERS),
        (format!("/certificates/{serial}/pem"), CERT_READERS),
        (
            format!("/certificates/{serial}/change/revoke"),
            &["ra_officer"],
        ),
        ("/audit".into(), &["auditor", "admin"]),
        ("/admin".into(), &["admin"]),
    ];
    // Forms whose first step changes nothing (the revocation asks for confirmation) or whose
    // refusal is the point; the allowed role's answer is the page that follows.
    // (path, fields, roles allowed, the allowed role's status)
    type Post<'a> = (String, Vec<(&'a str, &'a str)>, &'a [&'a str], u16);
    let posts: Vec<Post> = vec![
        (
            format!("/certificates/{serial}/change/suspend"),
            vec![("note", "")],
            &["ra_officer"],
            200,
        ),
        (
            "/admin/operators".into(),
            vec![("username", "x"), ("role", "operator")],
            &["admin"],
            422,
        ),
        (
            "/admin/api-keys".into(),
            vec![("name", "")],
            &["admin"],
            422,
        ),
        (
            "/admin/api-keys/nonexistent/revoke".into(),
            vec![],
            &["admin"],
            404,
        ),
    ];
    let mut clients = Vec::new();
    for role in ROLES {
        clients.push((role, web_sign_in(&mut app, role).await));
    }
    let anonymous = WebClient::new(&app);
    let mut wrong = Vec::new();
    for (path, allowed) in &gets {
        let resp = anonymous.get(path).await;
        let to_sign_in = resp
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/sign-in?next="));
        if resp.status != 303 || !to_sign_in {
            wrong.push(format!(
                "anonymous GET {path}: {} {:?}",
                resp.status, resp.location
            ));
        }
        for (role, client) in &clients {
            let expected = if allowed.contains(role) { 200 } else { 403 };
            let got = client.get(path).await;
            if got.status != expected {
                wrong.push(format!(
                    "{role} GET {path}: expected {expected}, got {}",
                    got.status
                ));
            }
            if got.status == 403 && !got.body.contains("Không có quyền truy cập") {
                wrong.push(format!("{role} GET {path}: 403 without the forbidden page"));
            }
        }
    }
    for (path, fields, allowed, ok_status) in &posts {
        let got = anonymous.post(path, fields).await.status;
        if got != 403 {
            wrong.push(format!("anonymous POST {path}: expected 403, got {got}"));
        }
        for (role, client) in &clients {
            let expected = if allowed.contains(role) {
                *ok_status
            } else {
                403
            };
            let got = client.post(path, fields).await.status;
            if got != expected {
                wrong.push(format!(
                    "{role} POST {path}: expected {expected}, got {got}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // Nothing above changed the certificate.
    let ra = &clients[1].1;
    let page = ra.get(&format!("/certificates/{serial}")).await;
    assert!(
        page.body.contains("data-status=\"pending_acceptance\""),
        "{}",
        page.body
    );
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

/// An enrolment with documents and an issued certificate, for the tables and page tests.
async fn fixture(app: &mut TestApp) -> (String, String) {
    let (enrolment, serial) = common::web::issued_certificate(app, 701).await;
    let key = common::enrol::enrol_key(app).await;
    // Documents of another enrolment (VNeID routes without them, so use an app enrolment).
    let with_docs = common::enrol::enrol(
        app,
        &key,
        &common::enrol::application("app_ekyc", &common::enrol::id_number(702)),
    )
    .await;
    common::enrol::upload_all(app, &key, &with_docs).await;
    let _ = enrolment;
    (with_docs, serial)
}

#[tokio::test]
async fn enrolments_are_found_by_id_number_phone_name_and_status_and_show_their_timeline() {
    let mut app = TestApp::spawn().await;
    let (enrolment, _) = fixture(&mut app).await;
    let operator = web_sign_in(&mut app, "operator").await;
    let id_number = common::enrol::id_number(702);
    for query in [
        format!("id_number={id_number}"),
        "phone=0912%20345%20678".to_string(),
        "name=nguy%E1%BB%85n%20v%C4%83n".to_string(), // "nguyễn văn", lower case
        "status=awaiting_video_call".to_string(),
    ] {
        let page = operator.get(&format!("/enrolments?{query}")).await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains(&format!("/enrolments/{enrolment}")),
            "{query}: {}",
            page.body
        );
    }
    let none = operator.get("/enrolments?id_number=001090999999").await;
    assert!(!none.body.contains(&format!("/enrolments/{enrolment}")));
    assert!(none.body.contains("Không có kết quả phù hợp."));
    let bad = operator.get("/enrolments?phone=12345").await;
    assert!(
        bad.body
            .contains("Số điện thoại di động phải gồm 10 chữ số"),
        "{}",
        bad.body
    );

    let detail = operator.get(&format!("/enrolments/{enrolment}")).await;
    assert_eq!(detail.status, 200);
    for shown in [
        "Nguyễn Văn An",
        "17/05/1990",
        "Tiếp nhận hồ sơ",
        "Lưu giấy tờ",
        "Vào hàng đợi gọi video",
        "Chờ gọi video",
    ] {
        assert!(detail.body.contains(shown), "{shown} missing");
    }
    assert_eq!(operator.get("/enrolments/no-such-id").await.status, 404);
}

#[tokio::test]
async fn document_images_are_served_uncached_and_every_view_is_audited() {
    let mut app = TestApp::spawn().await;
    let (enrolment, _) = fixture(&mut app).await;
    let ra = web_sign_in(&mut app, "ra_officer").await;
    let before = common::enrol::audit_actions(&mut app, "enrolment.document_read")
        .await
        .len();
    let resp = ra
        .get(&format!("/enrolments/{enrolment}/documents/portrait"))
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers["content-type"], "image/jpeg");
    assert_eq!(resp.headers["cache-control"], "no-store");
    assert!(resp.body.contains("FACE-DATA-portrait"));
    let reads = common::enrol::audit_actions(&mut app, "enrolment.document_read").await;
    assert_eq!(reads.len(), before + 1);
    let who = ra.creds.as_ref().unwrap().username.clone();
    assert_eq!(reads.last().unwrap()["actor"], format!("operator:{who}"));
    let missing = ra
        .get(&format!("/enrolments/{enrolment}/documents/selfie"))
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn an_ra_officer_revokes_a_certificate_after_confirming_and_sees_it_revoked() {
    let mut app = TestApp::spawn().await;
    let (_, serial) = common::web::issued_certificate(&mut app, 711).await;
    let ra = web_sign_in(&mut app, "ra_officer").await;
    let page = ra.get(&format!("/certificates/{serial}")).await;
    assert!(page.body.contains("id=\"action-revoke\""));
    let pem = ra.get(&format!("/certificates/{serial}/pem")).await;
    assert!(pem.body.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        pem.body.matches("BEGIN CERTIFICATE").count(),
        3,
        "leaf, issuing CA, root"
    );

    let form = ra
        .get(&format!("/certificates/{serial}/change/revoke"))
        .await;
    assert_eq!(form.status, 200);
    let path = format!("/certificates/{serial}/change/revoke");
    // A reason that is not one is refused with the API's message.
    let bad = ra
        .post(&path, &[("reason", "certificateHold"), ("note", "")])
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"change-error\""));
    // First submission asks for confirmation and changes nothing.
    let confirm = ra
        .post(
            &path,
            &[("reason", "keyCompromise"), ("note", "lost phone")],
        )
        .await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("id=\"confirm-step\""));
    assert!(confirm.body.contains("Lộ khoá bí mật"));
    let still = ra.get(&format!("/certificates/{serial}")).await;
    assert!(still.body.contains("data-status=\"pending_acceptance\""));
    // The confirmation revokes.
    let done = ra
        .post(
            &path,
            &[
                ("reason", "keyCompromise"),
                ("note", "lost phone"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let page = ra.get(done.location.as_deref().unwrap()).await;
    assert!(
        page.body.contains("data-status=\"revoked\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Đã thu hồi chứng thư."));
    assert!(page.body.contains("keyCompromise"));
    assert!(
        !page.body.contains("id=\"action-"),
        "revoked is final: no actions"
    );
    // The API and the search agree.
    let found = ra.get("/certificates?status=revoked").await;
    assert!(found.body.contains(&serial));
    let admin = app.admin_token().await;
    let (_, api) = app
        .get(&format!("/api/v1/certificates/{serial}"), Some(&admin))
        .await;
    assert_eq!(api["status"], "revoked");
    // An auditor reads the certificate but is offered no action.
    let auditor = web_sign_in(&mut app, "auditor").await;
    let page = auditor.get(&format!("/certificates/{serial}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("id=\"action-"));
}

#[tokio::test]
async fn the_audit_page_filters_events_and_says_whether_the_chain_verifies() {
    let mut app = TestApp::spawn().await;
    let auditor = web_sign_in(&mut app, "auditor").await;
    let page = auditor.get("/audit?action=operator.created").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-ok=\"true\""), "{}", page.body);
    assert!(page.body.contains("operator.created"));
    assert!(!page.body.contains(">operator.login<"));
    let mine = auditor
        .get(&format!(
            "/audit?actor={}",
            auditor.creds.as_ref().unwrap().username
        ))
        .await;
    assert!(
        mine.body.contains("operator.first_sign_in_completed"),
        "{}",
        mine.body
    );
    let bad = auditor.get("/audit?from=31/02/2026").await;
    assert!(bad.body.contains("dd/mm/yyyy"));

    app.env
        .sql("UPDATE audit_events SET details = '{\"tampered\":true}' WHERE seq = 2");
    let page = auditor.get("/audit").await;
    assert!(page.body.contains("data-ok=\"false\""), "{}", page.body);
    assert!(page.body.contains("KHÔNG toàn vẹn"));
}

#[tokio::test]
async fn an_admin_creates_disables_and_resets_accounts_and_manages_api_keys() {
    let mut app = TestApp::spawn().await;
    let admin = web_sign_in(&mut app, "admin").await;
    admin.get("/admin").await;
    let created = admin
        .post(
            "/admin/operators",
            &[("username", "le.thi.hoa"), ("role", "ra_officer")],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("data:image/png;base64,"));
    let one_time = Credentials {
        username: "le.thi.hoa".into(),
        password: created.text_of("one-time-password").unwrap(),
        totp_secret: created.text_of("totp-secret").unwrap(),
    };
    let hoa = web_first_sign_in(&app, one_time).await;
    assert!(hoa.get("/certificates").await.status == 200);

    // A taken username is refused with the API's message.
    admin.get("/admin").await;
    let taken = admin
        .post(
            "/admin/operators",
            &[("username", "le.thi.hoa"), ("role", "operator")],
        )
        .await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("Tên đăng nhập đã tồn tại."));

    // Disabling ends the operator's session at once.
    let listing = admin.get("/admin").await;
    let id = operator_id(&listing.body, "le.thi.hoa");
    let resp = admin
        .post(&format!("/admin/operators/{id}/disable"), &[])
        .await;
    assert_eq!(resp.status, 303);
    assert_eq!(hoa.get("/dashboard").await.status, 303);
    assert_eq!(
        WebClient::new(&app)
            .sign_in_with(&app, hoa.creds.as_ref().unwrap())
            .await
            .status,
        401
    );
    admin.get("/admin").await;
    admin
        .post(&format!("/admin/operators/{id}/enable"), &[])
        .await;

    // A password reset: a new one-time password; the next sign-in is a first sign-in again.
    admin.get("/admin").await;
    let reset = admin
        .post(&format!("/admin/operators/{id}/reset-password"), &[])
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    let new_one_time = Credentials {
        username: "le.thi.hoa".into(),
        password: reset.text_of("one-time-password").unwrap(),
        totp_secret: hoa.creds.as_ref().unwrap().totp_secret.clone(),
    };
    web_first_sign_in(&app, new_one_time).await;

    // An administrator cannot disable their own account.
    let listing = admin.get("/admin").await;
    let own = operator_id(&listing.body, &admin.creds.as_ref().unwrap().username);
    assert!(!listing
        .body
        .contains(&format!("/admin/operators/{own}/disable")));
    let refused = admin
        .post(&format!("/admin/operators/{own}/disable"), &[])
        .await;
    assert_eq!(refused.status, 422);

    // API keys: shown once, usable, revocable.
    admin.get("/admin").await;
    let key = admin
        .post(
            "/admin/api-keys",
            &[("name", "Ứng dụng di động"), ("scope_enrol", "on")],
        )
        .await;
    assert_eq!(key.status, 200, "{}", key.body);
    let token = key.text_of("api-key").unwrap();
    let (status, me) = app.get("/api/v1/whoami", Some(&token)).await;
    assert_eq!(
        (status, me["scopes"].clone()),
        (200, serde_json::json!(["enrol"]))
    );
    let listing = admin.get("/admin").await;
    assert!(listing.body.contains("Ứng dụng di động"));
    assert!(listing.body.contains("1.500.000 ₫") || listing.body.contains(" ₫"));
    let key_id = me["id"].as_str().unwrap();
    let revoked = admin
        .post(&format!("/admin/api-keys/{key_id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, 303);
    assert_eq!(app.get("/api/v1/whoami", Some(&token)).await.0, 401);
}

/// The id in the row of `username` on the administration page.
fn operator_id(body: &str, username: &str) -> String {
    let row = body
        .find(&format!("data-username=\"{username}\""))
        .unwrap_or_else(|| panic!("no row for {username}"));
    let rest = &body[row..];
    let at = rest.find("/admin/operators/").unwrap() + "/admin/operators/".len();
    rest[at..].split('/').next().unwrap().to_string()
}

#[tokio::test]
async fn the_dashboard_counts_today_and_charts_issuance() {
    let mut app = TestApp::spawn().await;
    let (_enrolment, _serial) = fixture(&mut app).await;
    let auditor = web_sign_in(&mut app, "auditor").await;
    let page = auditor.get("/dashboard").await;
    assert_eq!(page.status, 200);
    let figure = |id: &str| page.text_of(id).unwrap_or_else(|| panic!("no {id}"));
    assert_eq!(figure("intake"), "2");
    assert_eq!(figure("verified"), "1", "the VNeID application");
    assert_eq!(figure("contracts-signed"), "1");
    assert_eq!(figure("certificates-issued"), "1");
    assert_eq!(figure("accepted"), "0");
    assert_eq!(figure("revoked"), "0");
    assert_eq!(
        figure("waiting"),
        "1",
        "the app application awaits its video call"
    );
    assert_eq!(figure("chart-total"), "1");
    assert!(page.body.contains("<svg class=\"chart\""));
    assert_eq!(page.body.matches("<rect class=\"bar\"").count(), 30);
}

#[tokio::test]
async fn an_unexpected_error_shows_the_operation_id_and_no_internals() {
    let mut app = TestApp::spawn().await;
    let admin = web_sign_in(&mut app, "admin").await;
    // A database that lost a table, as a failing disk or a bad manual change would leave it.
    app.env.sql("DROP TABLE video_call_outcomes");
    let page = admin.get("/dashboard").await;
    assert_eq!(page.status, 500);
    let request_id = page.headers["x-request-id"].to_str().unwrap().to_string();
    assert!(page.body.contains(&request_id), "{}", page.body);
    assert!(page.body.contains("Lỗi hệ thống"));
    for internal in [
        "video_call_outcomes",
        "no such table",
        "does not exist",
        "diesel",
    ] {
        assert!(
            !page.body.contains(internal),
            "{internal} leaked: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn a_session_ends_after_its_absolute_lifetime_however_busy() {
    let env = common::TestEnv::new();
    let mut app = TestApp::spawn_with(env, |c| c.security.session_max_hours = 1).await;
    let client = web_sign_in(&mut app, "ra_officer").await;
    for _ in 0..5 {
        app.clock.advance(chrono::Duration::minutes(10));
        assert_eq!(client.get("/dashboard").await.status, 200);
    }
    app.clock.advance(chrono::Duration::minutes(11));
    let resp = client.get("/dashboard").await;
    assert_eq!(resp.status, 303);
    assert!(resp.location.unwrap().contains("expired=1"));
}
