//! The operator pages over HTTP: sign-in with TOTP and first sign-in, the session cookie,
//! CSRF, lock-out, language, error pages, and the route × role table.

use crate::common;

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

#[tokio::test]
async fn forbidden_and_not_found_pages_keep_the_header_and_navigation() {
    let mut app = TestApp::spawn().await;
    let client = web_sign_in(&mut app, "operator").await;
    let username = client.creds.as_ref().unwrap().username.clone();
    for (path, status) in [("/admin", 403), ("/enrolments/no-such-enrolment", 404)] {
        let page = client.get(path).await;
        assert_eq!(page.status, status, "{path}: {}", page.body);
        assert!(page.body.contains("<nav>"), "{path}: {}", page.body);
        assert!(
            page.body.contains("href=\"/workstation\""),
            "{path}: {}",
            page.body
        );
        assert!(page.body.contains(&username), "{path}");
        assert!(page.body.contains("action=\"/sign-out\""), "{path}");
        assert!(page.body.contains("rel=\"icon\""), "a favicon");
    }
}

/// Every page × every role, and anonymous: the status the server answers. GET pages send
/// anonymous callers to sign-in (303); a POST without a session has no valid CSRF token (403).
#[tokio::test]
async fn every_page_answers_each_role_as_the_table_says() {
    let mut app = TestApp::spawn().await;
    let (enrolment, serial) = fixture(&mut app).await;
    let (contracted, contract) = contract_of(&app, &serial).await;
    // The counter path: an enrolment at the contract step, one awaiting acceptance.
    let desk = web_sign_in(&mut app, "operator").await;
    let at_contract = common::counter::registered(&mut app, &common::enrol::id_number(901)).await;
    let draft_of_at_contract = common::counter::choose(&desk, &at_contract, "PS12")
        .await
        .field("contract_id")
        .unwrap();
    let (at_acceptance, pending) =
        common::counter::awaiting_acceptance(&mut app, &desk, &common::enrol::id_number(902)).await;
    const ALL: &[&str] = &["operator", "ra_officer", "admin", "auditor"];
    const CASEWORK: &[&str] = &["operator", "ra_officer"];
    const CERT_READERS: &[&str] = &["ra_officer", "auditor", "admin"];
    let gets: Vec<(String, &[&str])> = vec![
        ("/dashboard".into(), ALL),
        ("/enrolments".into(), CASEWORK),
        ("/enrolments?status=verified".into(), CASEWORK),
        (format!("/enrolments/{enrolment}"), CASEWORK),
        // A queued applicant's images: nobody until an operator takes the call (the lease
        // holder and the RA officer after the call: `document_images_…` and the workstation).
        (format!("/enrolments/{enrolment}/documents/portrait"), &[]),
        (
            format!("/enrolments/{contracted}/contracts/{contract}/draft"),
            CASEWORK,
        ),
        (
            format!("/enrolments/{contracted}/contracts/{contract}/signed"),
            CASEWORK,
        ),
        (
            format!("/enrolments/{contracted}/contracts/{contract}/signature"),
            CASEWORK,
        ),
        ("/certificates".into(), CERT_READERS),
        (format!("/certificates/{serial}"), CERT_READERS),
        (format!("/certificates/{serial}/pem"), CERT_READERS),
        (
            format!("/certificates/{serial}/acceptance-record/record"),
            CERT_READERS,
        ),
        (
            format!("/certificates/{serial}/change/revoke"),
            &["ra_officer"],
        ),
        ("/audit".into(), &["auditor", "admin"]),
        ("/admin".into(), &["admin"]),
        ("/workstation".into(), &["operator"]),
        ("/counter".into(), &["operator"]),
        (format!("/counter/{enrolment}"), &["operator"]),
        (format!("/counter/{at_contract}/package"), &["operator"]),
        (format!("/counter/{at_contract}/contract"), &["operator"]),
        (
            format!("/counter/{at_acceptance}/certificate"),
            &["operator"],
        ),
        (
            format!("/counter/{at_acceptance}/certificate/pem"),
            &["operator"],
        ),
        (
            format!("/counter/{at_acceptance}/acceptance"),
            &["operator"],
        ),
        (
            format!("/counter/{at_acceptance}/acceptance-record/record"),
            &["operator"],
        ),
        ("/reports".into(), CERT_READERS),
        ("/reports/issuance.csv".into(), CERT_READERS),
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
            "/admin/integrations".into(),
            vec![("name", "")],
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
        (
            "/admin/operators/nonexistent/disable".into(),
            vec![],
            &["admin"],
            404,
        ),
        // The fixture's app enrolment waits in the queue: the operator takes it.
        ("/workstation/claim".into(), vec![], &["operator"], 303),
        (
            "/workstation/nonexistent/renew".into(),
            vec![],
            &["operator"],
            404,
        ),
        (
            "/workstation/nonexistent/outcome".into(),
            vec![("outcome", "no_show")],
            &["operator"],
            404,
        ),
        (
            "/counter".into(),
            vec![("idempotency_key", "table-test")],
            &["operator"],
            422,
        ),
        // The counter path's forms, each refused or leading back to the step it is at.
        (
            format!("/counter/{at_contract}/package"),
            vec![("package_code", "NOPE")],
            &["operator"],
            422,
        ),
        (
            format!("/counter/{at_contract}/contract/otp"),
            vec![("contract_id", "other")],
            &["operator"],
            303,
        ),
        (
            format!("/counter/{at_contract}/contract/sign"),
            vec![
                ("contract_id", &draft_of_at_contract),
                ("otp_code", "000000"),
            ],
            &["operator"],
            422,
        ),
        // Issued already: the same certificate, on to its acceptance.
        (
            format!("/counter/{at_acceptance}/certificate/remote"),
            vec![],
            &["operator"],
            303,
        ),
        (
            format!("/counter/{at_acceptance}/acceptance/otp"),
            vec![("serial", "other")],
            &["operator"],
            303,
        ),
        // No code was sent for it.
        (
            format!("/counter/{at_acceptance}/acceptance"),
            vec![("serial", &pending), ("otp_code", "000000")],
            &["operator"],
            409,
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
    // The CSR upload is multipart (its CSRF token in the action's query); issued already, it
    // leads on to the acceptance.
    let csr_path = format!("/counter/{at_acceptance}/certificate/csr");
    for (role, client) in &clients {
        let form = reqwest::multipart::Form::new().text("idempotency_key", "table-test");
        let got = client.post_multipart(&csr_path, form).await.status;
        let expected = if *role == "operator" { 303 } else { 403 };
        if got != expected {
            wrong.push(format!(
                "{role} POST {csr_path}: expected {expected}, got {got}"
            ));
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

// ---- the video-call workstation -----------------------------------------------------------

/// An app application with its four documents: waiting in the video-call queue.
async fn queued_applicant(app: &mut TestApp, n: u32) -> String {
    let key = common::enrol::enrol_key(app).await;
    let id = common::enrol::enrol(
        app,
        &key,
        &common::enrol::application("app_ekyc", &common::enrol::id_number(n)),
    )
    .await;
    common::enrol::upload_all(app, &key, &id).await;
    id
}

/// The path a 303 answer points to.
fn location(resp: &common::web::WebResponse) -> String {
    assert_eq!(resp.status, 303, "{}", resp.body);
    resp.location.clone().unwrap()
}

#[tokio::test]
async fn an_operator_takes_the_next_applicant_checks_the_images_and_approves_on_the_page() {
    let mut app = TestApp::spawn().await;
    let enrolment = queued_applicant(&mut app, 1).await;
    let op = web_sign_in(&mut app, "operator").await;
    let page = op.get("/workstation").await;
    assert_eq!(page.text_of("ws-waiting").as_deref(), Some("1"));

    let call = location(&op.post("/workstation/claim", &[]).await);
    assert!(call.starts_with("/workstation/"), "{call}");
    let page = op.get(&call).await;
    assert_eq!(page.status, 200);
    assert!(
        !page
            .body
            .contains("type=\"radio\" name=\"outcome\" value=\"approved\" checked"),
        "no outcome chosen for the operator"
    );
    assert!(
        !page.body.contains("id=\"room-join\""),
        "no room URL template set"
    );
    assert!(page.body.contains("Nguyễn Văn An"));
    assert!(page.body.contains("001090000001"));
    assert!(page.body.contains("Thành phố Hà Nội"));
    assert!(page.body.contains("/static/workstation.js"));
    let countdown = page.text_of("lease-left").unwrap();
    assert!(
        countdown.starts_with("14:") || countdown == "15:00",
        "{countdown}"
    );

    // The images: only to the operator holding the call, never cached, every read audited.
    let image = format!("{call}/documents/portrait");
    assert!(page.body.contains(&image));
    let image_url = app.url(&image);
    let get_image = |cookie: Option<String>| {
        let req = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&image_url);
        let req = match cookie {
            Some(c) => req.header("cookie", format!("ce_session={c}")),
            None => req,
        };
        async move { req.send().await.unwrap() }
    };
    let resp = get_image(op.cookie("ce_session")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(
        resp.bytes().await.unwrap().to_vec(),
        common::enrol::stored(&common::enrol::jpeg("portrait"))
    );
    let reads = common::enrol::audit_actions(&mut app, "enrolment.document_read").await;
    assert_eq!(reads.len(), 1);
    assert!(reads[0]["actor"]
        .as_str()
        .unwrap()
        .starts_with("operator:web-operator"));
    let other = web_sign_in(&mut app, "operator").await;
    assert_eq!(get_image(other.cookie("ce_session")).await.status(), 403);
    assert_eq!(
        other.get(&call).await.status,
        403,
        "another operator's call"
    );
    let officer = web_sign_in(&mut app, "ra_officer").await;
    assert_eq!(get_image(officer.cookie("ce_session")).await.status(), 403);
    assert_eq!(get_image(None).await.status(), 303);

    // Renewing the lease.
    let renewed = location(&op.post(&format!("{call}/renew"), &[]).await);
    assert_eq!(renewed, format!("{call}?renewed=1"));

    // Approving needs every checklist item: the page says which, in the domain's words.
    let recording = [
        ("recording.uri", "s3://vc-recordings/2026/01/05/call.webm"),
        (
            "recording.sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    ];
    let mut fields = vec![
        ("outcome", "approved"),
        ("checklist.face_matches_portrait_and_id_photo", "yes"),
    ];
    fields.extend(recording);
    let refused = op.post(&format!("{call}/outcome"), &fields).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused
        .body
        .contains("Phải xác nhận mục kiểm tra này trước khi phê duyệt."));
    // The summary names each missing item, and only those.
    assert!(refused.body.contains(
        "Thẻ căn cước là thật và còn hạn: Phải xác nhận mục kiểm tra này trước khi phê duyệt."
    ));
    assert!(!refused
        .body
        .contains("Khuôn mặt khớp với ảnh chân dung và ảnh trên thẻ: Phải xác nhận"));
    assert!(
        refused
            .body
            .contains("s3://vc-recordings/2026/01/05/call.webm"),
        "what was typed is kept"
    );
    for item in [
        "checklist.id_document_genuine_and_unexpired",
        "checklist.data_confirmed_with_applicant",
        "checklist.applicant_alive_and_present",
        "checklist.applicant_wants_certificate",
    ] {
        fields.push((item, "yes"));
    }
    let done = location(&op.post(&format!("{call}/outcome"), &fields).await);
    assert_eq!(done, "/workstation?done=approved");
    assert!(op.get(&done).await.body.contains("Đã phê duyệt"));
    let key = common::enrol::enrol_key(&mut app).await;
    assert_eq!(
        common::enrol::enrolment_status(&app, &key, &enrolment).await,
        "verified"
    );
    // The call is closed: its page and images are gone for everyone.
    assert_eq!(op.get(&call).await.status, 409);
    assert_eq!(get_image(op.cookie("ce_session")).await.status(), 403);
}

#[tokio::test]
async fn a_no_show_puts_the_applicant_back_and_a_rejection_needs_reason_and_note() {
    let mut app = TestApp::spawn().await;
    queued_applicant(&mut app, 1).await;
    let op = web_sign_in(&mut app, "operator").await;
    let empty = op.get("/workstation?empty=1").await;
    assert!(empty.body.contains("Hiện không có ai đang chờ."));

    let call = location(&op.post("/workstation/claim", &[]).await);
    // The button asks first; the confirmation page's form posts it again with `confirm`.
    let asked = op
        .post(&format!("{call}/outcome"), &[("outcome", "no_show")])
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(asked.body.contains("id=\"confirm-form\""), "{}", asked.body);
    assert!(asked.body.contains("Ghi nhận người đăng ký vắng mặt?"));
    assert_eq!(op.get(&call).await.status, 200, "the call is still open");
    let done = location(
        &op.post(
            &format!("{call}/outcome"),
            &[("outcome", "no_show"), ("confirm", "yes")],
        )
        .await,
    );
    assert_eq!(done, "/workstation?done=requeued");
    assert_eq!(
        op.get(&done).await.text_of("ws-waiting").as_deref(),
        Some("1")
    );

    let call = location(&op.post("/workstation/claim", &[]).await);
    let refused = op
        .post(
            &format!("{call}/outcome"),
            &[("outcome", "rejected"), ("reason_code", ""), ("note", "")],
        )
        .await;
    assert_eq!(refused.status, 422);
    for text in [
        "Lý do từ chối phải là một trong",
        "Cần ghi chú khi từ chối hồ sơ.",
        "Cần tham chiếu bản ghi cuộc gọi",
    ] {
        assert!(refused.body.contains(text), "{text}: {}", refused.body);
    }
    let done = location(
        &op.post(
            &format!("{call}/outcome"),
            &[
                ("outcome", "rejected"),
                ("reason_code", "face_mismatch"),
                ("note", "Khuôn mặt khác ảnh trên thẻ"),
                ("recording.uri", "s3://vc-recordings/x.webm"),
                (
                    "recording.sha256",
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                ),
            ],
        )
        .await,
    );
    assert_eq!(done, "/workstation?done=rejected");
}

#[tokio::test]
async fn a_lapsed_lease_is_explained_on_the_page() {
    let mut app = TestApp::spawn().await;
    queued_applicant(&mut app, 1).await;
    let op = web_sign_in(&mut app, "operator").await;
    let call = location(&op.post("/workstation/claim", &[]).await);
    app.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(op.get(&call).await.status, 200);
    app.clock.advance(chrono::Duration::minutes(2));
    let page = op.get(&call).await;
    assert_eq!(page.status, 409);
    assert!(page
        .body
        .contains("Thời hạn giữ cuộc gọi đã hết; hãy nhận người tiếp theo."));
}

// ---- counter enrolment --------------------------------------------------------------------

/// A counter application as the form posts it, with the consent drawn on the pad.
pub(crate) fn counter_fields(id_number: &str, date_of_birth: &str) -> Vec<(String, String)> {
    let signature = common::counter::signature_data_url();
    [
        ("identity.id_number", id_number),
        ("identity.full_name", "Trần Thị Bình"),
        ("identity.date_of_birth", date_of_birth),
        ("identity.sex", "female"),
        ("identity.nationality", "Việt Nam"),
        ("identity.permanent_address.line", "Số 5 ngõ 12 phố Huế"),
        ("identity.permanent_address.ward", "Phường Hai Bà Trưng"),
        ("identity.permanent_address.province", "Thành phố Hà Nội"),
        ("identity.id_issue_date", "10/03/2022"),
        ("identity.id_issue_place", "Cục Cảnh sát QLHC về TTXH"),
        ("contact.phone", "0987654321"),
        ("consent.signature_image", signature.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub(crate) async fn post_counter(
    client: &WebClient,
    key: &str,
    fields: &[(String, String)],
) -> common::web::WebResponse {
    let mut all: Vec<(&str, &str)> = vec![("idempotency_key", key)];
    all.extend(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    client.post("/counter", &all).await
}

#[tokio::test]
async fn counter_dates_are_typed_day_first_and_impossible_or_iso_dates_are_refused() {
    let mut app = TestApp::spawn().await;
    let op = web_sign_in(&mut app, "operator").await;
    let form = op.get("/counter").await;
    assert!(
        !form.body.contains("type=\"date\""),
        "no browser date picker"
    );
    let key = form.field("idempotency_key").unwrap();
    for typed in ["31/02/1995", "1995-03-07", "7/3/95"] {
        let fields = counter_fields("001195000123", typed);
        let refused = post_counter(&op, &key, &fields).await;
        assert_eq!(refused.status, 422, "{typed}");
        assert!(
            refused.body.contains("Ngày không có thật hoặc sai dạng"),
            "{typed}: {}",
            refused.body
        );
        assert_eq!(
            refused.body.matches("Ngày không có thật").count(),
            2,
            "one message by the field, one in the summary, the domain's ISO wording replaced"
        );
    }
}

#[tokio::test]
async fn counter_enrolment_shows_the_apis_refusals_then_registers_and_takes_scans() {
    let mut app = TestApp::spawn().await;
    let op = web_sign_in(&mut app, "operator").await;
    let form = op.get("/counter").await;
    assert_eq!(form.status, 200);
    let key = form.field("idempotency_key").unwrap();
    assert_eq!(
        form.field("identity.nationality").as_deref(),
        Some("Việt Nam")
    );

    // Born 1985, but the ID number says a woman born in 1995 (`001 1 95 …`).
    let bad = counter_fields("001195000123", "07/03/1985");
    let refused = post_counter(&op, &key, &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    // The same words the API gives for the same application.
    let token = app.admin_token().await;
    let creds = app.create_operator(&token, "desk.api", "operator").await;
    let mut creds = creds;
    let api_token = app.session(&mut creds).await;
    let mut body = common::enrol::application("counter", "001195000123");
    body["identity"]["date_of_birth"] = serde_json::json!("1985-03-07");
    body["identity"]["sex"] = serde_json::json!("female");
    body["consent"]["channel"] = serde_json::json!("counter");
    let (status, problem) = common::enrol::submit(&app, &api_token, "k1", &body).await;
    assert_eq!(status, 422, "{problem}");
    let api_error = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "identity.id_number")
        .unwrap()
        .clone();
    let page = common::web::html_unescape(&refused.body);
    assert!(
        page.contains(api_error["message_vi"].as_str().unwrap()),
        "{api_error} not in {page}"
    );
    assert_eq!(
        refused.field("identity.full_name").as_deref(),
        Some("Trần Thị Bình"),
        "what was typed is kept"
    );
    op.set_cookie("lang", "en");
    let refused = post_counter(&op, &key, &bad).await;
    assert!(
        common::web::html_unescape(&refused.body).contains(api_error["message"].as_str().unwrap())
    );
    op.set_cookie("lang", "vi");

    // A post that did not come from the form is shown the form again.
    let no_key = post_counter(&op, "", &bad).await;
    assert_eq!(no_key.status, 400);
    assert!(no_key
        .field("idempotency_key")
        .is_some_and(|k| !k.is_empty()));

    // Without the citizen's signature under the consent nothing is registered either.
    let mut no_consent = counter_fields("001195000123", "07/03/1995");
    no_consent.retain(|(k, _)| k != "consent.signature_image");
    let refused = post_counter(&op, &key, &no_consent).await;
    assert_eq!(refused.status, 422);
    assert!(refused
        .body
        .contains("Công dân phải tự ký vào khung ký để đồng ý xử lý dữ liệu cá nhân"));

    let good = counter_fields("001195000123", "07/03/1995");
    let created = location(&post_counter(&op, &key, &good).await);
    assert!(created.starts_with("/counter/") && created.ends_with("?created=1"));
    // A second click on the same form gives the same enrolment.
    assert_eq!(location(&post_counter(&op, &key, &good).await), created);
    let page = op.get(&created).await;
    assert_eq!(
        page.text_of("enrolment-status").as_deref(),
        Some("Đã xác minh")
    );
    assert!(page.body.contains("data-status=\"verified\""));
    let id = page.text_of("enrolment-id").unwrap();
    let submitted = common::enrol::audit_actions(&mut app, "enrolment.submitted").await;
    assert_eq!(submitted.len(), 1);
    assert!(submitted[0]["actor"]
        .as_str()
        .unwrap()
        .starts_with("operator:web-operator"));

    // A scan of the card's front, stored encrypted with an audit event.
    let scan = common::enrol::jpeg("counter-front");
    let form = reqwest::multipart::Form::new()
        .text("kind", "id_front")
        .part(
            "file",
            reqwest::multipart::Part::bytes(scan.clone())
                .file_name("front.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let uploaded = location(
        &op.post_multipart(&format!("/counter/{id}/documents"), form)
            .await,
    );
    let page = op.get(&uploaded).await;
    assert_eq!(page.text_of("documents").as_deref(), Some("CCCD mặt trước"));
    let (sealed, sha256) = common::enrol::stored_document(&app, &id, "id_front").await;
    let plain = common::enrol::stored(&scan);
    assert_eq!(sha256, ca_enrol::secrets::sha256_hex(&plain));
    assert!(!common::enrol::holds_part_of(&sealed, &plain));
    assert!(!sealed.windows(10).any(|w| w == b"FACE-DATA-"));
    // Not an image: the API's refusal, on the page.
    let form = reqwest::multipart::Form::new()
        .text("kind", "portrait")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"%PDF-1.7".to_vec()),
        );
    let refused = op
        .post_multipart(&format!("/counter/{id}/documents"), form)
        .await;
    assert_eq!(refused.status, 415);
    assert!(refused.body.contains("Chỉ chấp nhận ảnh JPEG hoặc PNG."));
    // Without the CSRF token the upload is refused.
    let form = reqwest::multipart::Form::new().text("kind", "portrait");
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/counter/{id}/documents")))
        .header(
            "cookie",
            format!("ce_session={}", op.cookie("ce_session").unwrap()),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // The token travels in the form, never in the URL: a token in the query is not enough.
    let form_page = op.get(&format!("/counter/{id}")).await;
    assert!(!form_page.body.contains("csrf="), "{}", form_page.body);
    assert!(form_page.body.contains("name=\"csrf\""));
    let query = op
        .post_multipart_raw(
            &format!("/counter/{id}/documents?csrf={}", op.csrf()),
            reqwest::multipart::Form::new().text("kind", "portrait"),
        )
        .await;
    assert_eq!(query.status, 403);
}

/// The enrolment of a certificate and its signed contract's id.
async fn contract_of(app: &TestApp, serial: &str) -> (String, String) {
    let serial = serial.to_ascii_lowercase();
    app.state
        .store
        .read(move |tx| {
            let cert = tx.certificate(&serial)?.unwrap();
            let contract = tx.signed_contract_for(&cert.enrolment_id)?.unwrap();
            Ok::<_, ca_enrol::store::StoreError>((cert.enrolment_id, contract.id))
        })
        .await
        .unwrap()
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
        // Without diacritics, in any case: "nguyen van an" finds "Nguyễn Văn An".
        "name=nguyen%20van%20an".to_string(),
        "name=NGUYEN%20%20VAN".to_string(),
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
    let other = operator.get("/enrolments?name=tran%20thi").await;
    assert!(!other.body.contains(&format!("/enrolments/{enrolment}")));
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
        // Codes read as words, the phone as Vietnamese write it.
        "<dd>Nam</dd>",
        "Ứng dụng của nhà cung cấp (eKYC)",
        "0912 345 678",
    ] {
        assert!(detail.body.contains(shown), "{shown} missing");
    }
    for raw in ["<dd>male</dd>", "<dd>app_ekyc</dd>", "0912345678"] {
        assert!(!detail.body.contains(raw), "{raw} shown");
    }
    assert_eq!(operator.get("/enrolments/no-such-id").await.status, 404);
}

#[tokio::test]
async fn document_images_are_served_uncached_and_every_view_is_audited() {
    let mut app = TestApp::spawn().await;
    let (enrolment, _) = fixture(&mut app).await;
    let ra = web_sign_in(&mut app, "ra_officer").await;
    let operator = web_sign_in(&mut app, "operator").await;
    let image = format!("/enrolments/{enrolment}/documents/portrait");
    // Queued: no operator holds the call, so nobody sees the images yet.
    for client in [&ra, &operator] {
        assert_eq!(client.get(&image).await.status, 403);
    }
    // The call done, the RA officer reviewing it sees them.
    let vc = common::enrol::staff(&mut app, "vc.one", "operator").await;
    let (status, claimed) = app
        .post(
            "/api/v1/verification/claim",
            Some(&vc),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{claimed}");
    let call = claimed["verification_id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/verification/{call}/outcome"),
            Some(&vc),
            common::enrol::approval(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let before = common::enrol::audit_actions(&mut app, "enrolment.document_read")
        .await
        .len();
    let resp = ra.get(&image).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers["content-type"], "image/jpeg");
    assert_eq!(resp.headers["cache-control"], "no-store");
    let served = common::enrol::stored(&common::enrol::jpeg("portrait"));
    assert_eq!(resp.body, String::from_utf8_lossy(&served));
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
async fn contract_and_acceptance_pdfs_are_framed_inline_uncached_and_every_view_is_audited() {
    let mut app = TestApp::spawn().await;
    let (enrolment, serial) = common::web::issued_certificate(&mut app, 705).await;
    let (_, contract) = contract_of(&app, &serial).await;
    let ra = web_sign_in(&mut app, "ra_officer").await;

    // The pages frame their documents: frames of our own origin, nothing else.
    let page = ra.get(&format!("/enrolments/{enrolment}")).await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-src 'self'") && csp.contains("object-src 'none'"),
        "{csp}"
    );
    for framed in ["draft", "signed", "signature"] {
        let src = format!("/enrolments/{enrolment}/contracts/{contract}/{framed}");
        assert!(page.body.contains(&src), "{src} not on the page");
    }
    let cert_page = ra.get(&format!("/certificates/{serial}")).await;
    assert!(cert_page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-src 'self'"));
    assert!(cert_page
        .body
        .contains(&format!("/certificates/{serial}/acceptance-record/record")));
    // Other pages frame nothing.
    let dashboard = ra.get("/dashboard").await;
    let csp = dashboard.headers["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-src 'none'"), "{csp}");

    let before = common::enrol::audit_actions(&mut app, "contract.document_read")
        .await
        .len();
    let signed = ra
        .get(&format!(
            "/enrolments/{enrolment}/contracts/{contract}/signed"
        ))
        .await;
    assert_eq!(signed.status, 200);
    assert_eq!(signed.headers["content-type"], "application/pdf");
    assert_eq!(signed.headers["cache-control"], "no-store");
    assert_eq!(signed.headers["x-frame-options"], "SAMEORIGIN");
    let disposition = signed.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("inline; filename=\"HD-"),
        "{disposition}"
    );
    let download = ra
        .get(&format!(
            "/enrolments/{enrolment}/contracts/{contract}/signed?download=1"
        ))
        .await;
    assert!(download.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"HD-"));
    let reads = common::enrol::audit_actions(&mut app, "contract.document_read").await;
    assert_eq!(reads.len(), before + 2);
    let who = ra.creds.as_ref().unwrap().username.clone();
    assert_eq!(reads.last().unwrap()["actor"], format!("operator:{who}"));

    let signature = ra
        .get(&format!(
            "/enrolments/{enrolment}/contracts/{contract}/signature"
        ))
        .await;
    assert_eq!(signature.headers["content-type"], "image/png");
    assert_eq!(
        common::enrol::audit_actions(&mut app, "contract.signature_read")
            .await
            .len(),
        1
    );
    let record = ra
        .get(&format!("/certificates/{serial}/acceptance-record/record"))
        .await;
    assert_eq!(record.status, 200);
    assert_eq!(record.headers["content-type"], "application/pdf");
    assert_eq!(
        common::enrol::audit_actions(&mut app, "acceptance.document_read")
            .await
            .len(),
        1
    );
    // Not accepted yet; another enrolment's path; an unknown version.
    for missing in [
        format!("/certificates/{serial}/acceptance-record/signed"),
        format!("/enrolments/other/contracts/{contract}/draft"),
        format!("/enrolments/{enrolment}/contracts/{contract}/other"),
    ] {
        assert_eq!(ra.get(&missing).await.status, 404, "{missing}");
    }
}

#[tokio::test]
async fn an_ra_officer_revokes_a_certificate_after_confirming_and_sees_it_revoked() {
    let mut app = TestApp::spawn().await;
    let (_, serial) = common::web::issued_certificate(&mut app, 711).await;
    let ra = web_sign_in(&mut app, "ra_officer").await;
    let page = ra.get(&format!("/certificates/{serial}")).await;
    assert!(page.body.contains("id=\"action-revoke\""));
    assert!(
        page.body.contains("Hạn nghiệm thu"),
        "the acceptance deadline"
    );
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
    // The reason in words, and who revoked it.
    assert!(
        page.body.contains("<dd>Lộ khoá bí mật</dd>"),
        "{}",
        page.body
    );
    let officer = &ra.creds.as_ref().unwrap().username;
    assert!(
        page.body.contains(&format!("<dd>{officer}</dd>")),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("Hạn nghiệm thu"),
        "no deadline once revoked"
    );
    assert!(
        !page.body.contains("id=\"action-"),
        "revoked is final: no actions"
    );
    // The API and the search agree.
    let found = ra.get("/certificates?status=revoked").await;
    assert!(found.body.contains(&serial));
    // By the holder's name, without diacritics.
    let found = ra.get("/certificates?name=nguyen%20van%20an").await;
    assert!(found.body.contains(&serial), "{}", found.body);
    let other = ra.get("/certificates?name=tran%20thi").await;
    assert!(!other.body.contains(&serial));
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
    let asked = admin
        .post(&format!("/admin/operators/{id}/disable"), &[])
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(
        asked.body.contains("Khoá tài khoản le.thi.hoa?"),
        "{}",
        asked.body
    );
    assert_eq!(hoa.get("/dashboard").await.status, 200, "not disabled yet");
    let resp = admin
        .post(
            &format!("/admin/operators/{id}/disable"),
            &[("confirm", "yes")],
        )
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
    let asked = admin
        .post(&format!("/admin/operators/{id}/reset-password"), &[])
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(asked.body.contains("Đặt lại mật khẩu của le.thi.hoa?"));
    assert!(asked.text_of("one-time-password").is_none());
    let reset = admin
        .post(
            &format!("/admin/operators/{id}/reset-password"),
            &[("confirm", "yes")],
        )
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
        .post(
            &format!("/admin/operators/{own}/disable"),
            &[("confirm", "yes")],
        )
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
    let asked = admin
        .post(&format!("/admin/api-keys/{key_id}/revoke"), &[])
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(asked.body.contains("Thu hồi khoá API “Ứng dụng di động”?"));
    assert_eq!(app.get("/api/v1/whoami", Some(&token)).await.0, 200);
    let revoked = admin
        .post(
            &format!("/admin/api-keys/{key_id}/revoke"),
            &[("confirm", "yes")],
        )
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
