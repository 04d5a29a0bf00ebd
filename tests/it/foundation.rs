//! The foundation: first run, configuration, operator sign-in, API keys, the audit chain,
//! and several processes on one database.

use crate::common;

use common::{checked_parts, wait_ready, Credentials, ServeProcess, TestApp, TestEnv};
use serde_json::json;

#[tokio::test]
async fn the_bootstrap_credentials_never_reach_the_log() {
    let env = TestEnv::new();
    let log = env.dir.path().join("serve.log");
    let first = ServeProcess::start_logging_to(&env, &[("RUST_LOG", "trace")], &log);
    wait_ready(&first.base).await;
    let admin = first.printed_admin().unwrap();
    drop(first);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("listening"), "the log was written:\n{log}");
    for secret in [&admin.password, &admin.totp_secret] {
        assert!(!log.contains(secret.as_str()), "{secret} in the log");
    }
}

#[tokio::test]
async fn first_run_from_empty_directories_creates_everything_and_second_start_reuses_it() {
    let env = TestEnv::bare();
    let first = ServeProcess::start(&env);
    wait_ready(&first.base).await;
    let admin = first
        .printed_admin()
        .expect("first run prints the bootstrap admin");
    assert_eq!(admin.username, "admin");
    // stdout is a pipe: the one-time credentials are in a file only the owner reads, not in
    // stdout (which service managers keep like logs).
    let file = first.bootstrap_file().unwrap();
    assert_eq!(
        file,
        env.data_dir()
            .join("bootstrap-admin.txt")
            .canonicalize()
            .unwrap()
    );
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("otpauth://totp/"));
    for secret in [&admin.password, &admin.totp_secret] {
        assert!(!first.stdout.contains(secret.as_str()), "{}", first.stdout);
    }
    assert!(first.stdout.contains("/api/docs"), "{}", first.stdout);
    assert!(first.stdout.contains("/healthz"), "{}", first.stdout);
    if env.database_url.is_empty() {
        assert!(env.data_dir().join("ca-enrol.db").exists());
    }
    assert!(env.data_dir().join("master.key").exists());
    // The development CA ceremony ran: public certificates beside the config, keys private.
    for file in ["root.pem", "issuing.pem", "ocsp.pem", "chain.pem"] {
        assert!(env.ca_root().join(file).exists(), "{file}");
    }
    let key = env.ca_root().join("private/issuing.key.pem");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let issuing_pem = std::fs::read(env.ca_root().join("issuing.pem")).unwrap();
    let ca_der = reqwest::get(format!("{}/ca/dev-issuing.crt", first.base))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        openssl::x509::X509::from_der(&ca_der)
            .unwrap()
            .to_pem()
            .unwrap(),
        openssl::x509::X509::from_pem(&issuing_pem)
            .unwrap()
            .to_pem()
            .unwrap()
    );
    let docs = reqwest::get(format!("{}/api/openapi.json", first.base))
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    drop(first);

    let second = ServeProcess::start(&env);
    wait_ready(&second.base).await;
    assert_eq!(
        std::fs::read(env.ca_root().join("issuing.pem")).unwrap(),
        issuing_pem,
        "second start must reuse the CA"
    );
    assert!(
        second.printed_admin().is_none(),
        "second start must not create another admin:\n{}",
        second.stdout
    );
    // The first run's one-time password still signs in: same database, same master key.
    let client = reqwest::Client::new();
    let code = admin.code_at(chrono::Utc::now().timestamp());
    let resp = client
        .post(format!("{}/api/v1/operator/session", second.base))
        .json(&json!({"username": "admin", "password": admin.password, "totp_code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

#[test]
fn bad_configuration_stops_start_up_naming_the_key() {
    let env = TestEnv::new();
    let out = env
        .command(&["serve"])
        .env("CA_ENROL_LISTEN", "localhost-no-port")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`listen`"), "{err}");
    assert!(err.contains("IP:PORT"), "{err}");

    std::fs::write(
        env.dir.path().join("ca-enrol.toml"),
        "database_pool_size = \"lots\"\n",
    )
    .unwrap();
    let out = env.command(&["migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("database_pool_size"), "{err}");
}

#[test]
fn ceremony_command_refuses_to_overwrite_existing_keys() {
    let env = TestEnv::new();
    let before = std::fs::read(env.ca_root().join("private/issuing.key.pem")).unwrap();
    let out = env.command(&["ceremony"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(env.ca_root().join("private/issuing.key.pem")).unwrap(),
        before
    );

    let fresh = TestEnv::bare();
    let out = fresh.command(&["ceremony"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("fingerprints"));
    assert!(fresh.ca_root().join("private/root.key.pem").exists());
}

#[tokio::test]
async fn login_succeeds_with_password_and_current_totp_code() {
    let mut app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (status, me) = app.get("/api/v1/whoami", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["kind"], "operator");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["must_change_password"], false);
}

#[tokio::test]
async fn wrong_password_wrong_code_and_replayed_code_are_all_refused() {
    let mut app = TestApp::spawn().await;
    let _ = app.admin_token().await;
    let admin = &app.admin;

    app.next_totp_step();
    let code = admin.code_at(app.now());
    let wrong_password = Credentials {
        username: admin.username.clone(),
        password: "not-the-password".into(),
        totp_secret: admin.totp_secret.clone(),
    };
    let (status, body) = app.login(&wrong_password, &code).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = app.login(admin, wrong_code).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    let (status, _) = app.login(admin, &code).await;
    assert_eq!(status, 201);
    // The same code again, still within its time window: a replay.
    let (status, body) = app.login(admin, &code).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    // The next time step's code works.
    app.next_totp_step();
    let (status, _) = app.login(admin, &admin.code_at(app.now())).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn repeated_failures_lock_the_account_until_the_lockout_ends() {
    let mut app = TestApp::spawn().await;
    let _ = app.admin_token().await;
    let admin = &app.admin;
    let bad = Credentials {
        username: admin.username.clone(),
        password: "guess".into(),
        totp_secret: admin.totp_secret.clone(),
    };
    for attempt in 1..=5 {
        let (status, body) = app.login(&bad, &bad.code_at(app.now())).await;
        let expected = if attempt < 5 { 401 } else { 429 };
        assert_eq!(status, expected, "attempt {attempt}: {body}");
    }
    app.next_totp_step();
    let (status, body) = app.login(admin, &admin.code_at(app.now())).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("account_locked"))
    );
    assert!(body["message_vi"].as_str().unwrap().contains("khóa"));

    app.clock.advance(chrono::Duration::minutes(16));
    let (status, body) = app.login(admin, &admin.code_at(app.now())).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn one_time_password_must_be_changed_before_anything_else() {
    let mut app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let op = app
        .create_operator(&admin_token, "officer.an", "ra_officer")
        .await;
    app.next_totp_step();
    let (status, body) = app.login(&op, &op.code_at(app.now())).await;
    assert_eq!(status, 201);
    assert_eq!(body["must_change_password"], true);
    let token = body["token"].as_str().unwrap();
    let (status, body) = app.get("/api/v1/audit/events", Some(token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("password_change_required"))
    );
    let (status, body) = app
        .post(
            "/api/v1/api-keys",
            Some(token),
            json!({"name": "x", "scopes": ["enrol"]}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("password_change_required"))
    );
    let (status, _) = app
        .post(
            "/api/v1/operator/password",
            Some(token),
            json!({"current_password": op.password, "new_password": "short"}),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn roles_decide_what_an_operator_may_do() {
    let mut app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let mut auditor = app
        .create_operator(&admin_token, "kiem.toan", "auditor")
        .await;
    let mut operator = app
        .create_operator(&admin_token, "video.op", "operator")
        .await;
    let auditor_token = app.session(&mut auditor).await;
    let operator_token = app.session(&mut operator).await;

    let (status, body) = app.get("/api/v1/audit/verify", Some(&auditor_token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    let (status, _) = app.get("/api/v1/audit/verify", Some(&operator_token)).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .post(
            "/api/v1/operators",
            Some(&auditor_token),
            json!({"username": "x.y", "role": "admin"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app.get("/api/v1/audit/verify", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, _) = app.get("/api/v1/audit/verify", Some("ces_forged")).await;
    assert_eq!(status, 401);

    // Sign-out ends the session.
    let (status, _) = app
        .delete("/api/v1/operator/session", Some(&operator_token))
        .await;
    assert_eq!(status, 204);
    let (status, _) = app.get("/api/v1/whoami", Some(&operator_token)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn idle_session_expires() {
    let mut app = TestApp::spawn().await;
    let token = app.admin_token().await;
    app.clock.advance(chrono::Duration::minutes(31));
    let (status, body) = app.get("/api/v1/whoami", Some(&token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("session_expired"))
    );
}

#[tokio::test]
async fn api_keys_carry_scopes_and_cannot_act_as_operators() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (status, key) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            json!({"name": "Mobile app backend", "scopes": ["enrol", "lifecycle"]}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let token = key["key"].as_str().unwrap();
    assert!(token.starts_with("cak_"));

    let (status, me) = app.get("/api/v1/whoami", Some(token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["kind"], "api_key");
    assert_eq!(me["scopes"], json!(["enrol", "lifecycle"]));
    let (status, _) = app.get("/api/v1/audit/verify", Some(token)).await;
    assert_eq!(status, 403);

    let (status, body) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            json!({"name": "bad", "scopes": ["everything"]}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_scope"))
    );

    // A key with the right id but the wrong secret is refused.
    let forged = format!("{}.{}", token.split('.').next().unwrap(), "A".repeat(43));
    let (status, _) = app.get("/api/v1/whoami", Some(&forged)).await;
    assert_eq!(status, 401);

    let id = key["id"].as_str().unwrap();
    let (status, _) = app
        .delete(&format!("/api/v1/api-keys/{id}"), Some(&admin))
        .await;
    assert_eq!(status, 204);
    let (status, _) = app.get("/api/v1/whoami", Some(token)).await;
    assert_eq!(status, 401);
}

/// Creates a few audited changes and returns an admin token.
async fn some_history(app: &mut TestApp) -> String {
    let admin = app.admin_token().await;
    for name in ["op.one", "op.two", "op.three"] {
        app.create_operator(&admin, name, "operator").await;
    }
    admin
}

async fn verify(app: &TestApp, token: &str) -> serde_json::Value {
    let (status, body) = app.get("/api/v1/audit/verify", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn audit_verify_passes_on_an_untouched_chain_and_via_the_cli() {
    let mut app = TestApp::spawn().await;
    let admin = some_history(&mut app).await;
    let report = verify(&app, &admin).await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["events_checked"].as_u64().unwrap() >= 6);
    let out = app.env.command(&["audit", "verify"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn audit_verify_catches_a_modified_event() {
    let mut app = TestApp::spawn().await;
    let admin = some_history(&mut app).await;
    app.env.sql("UPDATE audit_events SET details = '{\"role\":\"admin\",\"username\":\"op.two\"}' WHERE seq = 4");
    let report = verify(&app, &admin).await;
    assert_eq!(report["ok"], false);
    assert_eq!(report["fault"], "modified");
    assert_eq!(report["fault_seq"], 4);
    let out = app.env.command(&["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("event 4 was modified"));
}

#[tokio::test]
async fn audit_verify_catches_a_deleted_event() {
    let mut app = TestApp::spawn().await;
    let admin = some_history(&mut app).await;
    app.env.sql("DELETE FROM audit_events WHERE seq = 3");
    let report = verify(&app, &admin).await;
    assert_eq!(report["fault"], "removed", "{report}");
    assert_eq!(report["fault_seq"], 2);
}

#[tokio::test]
async fn audit_verify_catches_reordered_events() {
    let mut app = TestApp::spawn().await;
    let admin = some_history(&mut app).await;
    app.env
        .sql("UPDATE audit_events SET seq = -1 WHERE seq = 3");
    app.env.sql("UPDATE audit_events SET seq = 3 WHERE seq = 4");
    app.env
        .sql("UPDATE audit_events SET seq = 4 WHERE seq = -1");
    let report = verify(&app, &admin).await;
    assert_eq!(report["fault"], "reordered", "{report}");
    assert_eq!(report["fault_seq"], 3);
}

#[tokio::test]
async fn audit_verify_catches_a_deleted_tail() {
    let mut app = TestApp::spawn().await;
    let admin = some_history(&mut app).await;
    // Sign-in is audited too, so the tail is whatever came last: remove it.
    app.env
        .sql("DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)");
    let report = verify(&app, &admin).await;
    assert_eq!(report["fault"], "removed", "{report}");
}

#[tokio::test]
async fn two_processes_on_one_database_share_sessions_and_one_audit_chain() {
    let env = TestEnv::new();
    let a = ServeProcess::start(&env);
    let b = ServeProcess::start(&env);
    wait_ready(&a.base).await;
    wait_ready(&b.base).await;
    // Exactly one of them created the bootstrap admin.
    let admins: Vec<Credentials> = [&a, &b].iter().filter_map(|p| p.printed_admin()).collect();
    assert_eq!(admins.len(), 1, "a:\n{}\nb:\n{}", a.stdout, b.stdout);
    let admin = &admins[0];

    let client = reqwest::Client::new();
    let code = admin.code_at(chrono::Utc::now().timestamp());
    let login: serde_json::Value = client
        .post(format!("{}/api/v1/operator/session", a.base))
        .json(&json!({"username": "admin", "password": admin.password, "totp_code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    let new_password = format!("{}-changed", admin.password);
    let r = client
        .post(format!("{}/api/v1/operator/password", b.base))
        .bearer_auth(&token)
        .json(&json!({"current_password": admin.password, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the session made on one process works on the other"
    );

    // Both processes append to the audit chain at the same time.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let (client, token) = (client.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/v1/api-keys"))
                .bearer_auth(&token)
                .json(&json!({"name": format!("key {i}"), "scopes": ["enrol"]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let report: serde_json::Value = client
        .get(format!("{}/api/v1/audit/verify", b.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    // master_key.check_stored + operator.created + login + password change + 40 keys, each
    // with its own integration.
    assert_eq!(report["events_checked"], 84, "{report}");
}

#[tokio::test]
async fn every_response_has_a_request_id_and_errors_are_json_problems() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.headers().contains_key("x-request-id"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert!(body["message_vi"].is_string());

    let resp = app
        .http
        .post(app.url("/api/v1/operator/session"))
        .header("x-request-id", "trace-abc-123")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-request-id"], "trace-abc-123");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "bad_request");

    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, 200);
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!((status, &ready["database"]), (200, &json!("ok")));
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket"));

    // Labels are the route table's patterns; every unknown path (API, page or not) shares one.
    for path in [
        "/no/such/page",
        "/api/v1/nope",
        "/ca/nope.crt",
        "/ocsp/AAAA",
        "/enrolments/abc",
    ] {
        app.http
            .get(app.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
    }
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "{method=\"GET\",route=\"unmatched\",status=\"404\"} 3",
        "{method=\"GET\",route=\"/ca/{file}\",status=\"404\"} 1",
        "{method=\"GET\",route=\"/ocsp/{request}\",status=\"200\"} 1",
        // The sign-in redirect of a page is counted for the page's route.
        "{method=\"GET\",route=\"/enrolments/{id}\",status=\"303\"} 1",
    ] {
        assert!(
            metrics.contains(&format!("http_requests_total{line}")),
            "{line}\n{metrics}"
        );
    }
}

/// Who may call an operation, as the access table says.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Keys {
    /// No API key (the operation is for operators, or needs the `reports` scope).
    None,
    /// Any key with `enrol` and `lifecycle`; nothing of an integration's is involved.
    Any,
    /// A key of the integration owning the object; another integration's key gets the 404 a
    /// missing object gets.
    Owner,
}

/// What a cell expects.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    /// Past authorisation: whatever the operation answers, but not 401, 403 `forbidden`,
    /// the 404 of a hidden object, or a 5xx.
    Passes,
    Forbidden,
    Hidden,
}

/// The access table: one row per operation of the OpenAPI document.
/// Public: sign-in, the catalogue, the hub's registrations and the video system's recording
/// reports (their signatures are their credentials).
const PUBLIC: &[(&str, &str)] = &[
    ("post", "/v1/operator/session"),
    ("get", "/v1/packages"),
    ("post", "/v1/vneid/registrations"),
    ("post", "/v1/verification/recordings"),
];
const ACCESS: &[(&str, &str, &[&str], Keys)] = &[
    ("delete", "/v1/operator/session", ROLES, Keys::None),
    ("post", "/v1/operator/password", ROLES, Keys::None),
    ("get", "/v1/whoami", ROLES, Keys::Any),
    // The app backend redeems the hub's hand-over token; a token names no enrolment until
    // then, so any enrol key may try.
    ("post", "/v1/vneid/handover", &[], Keys::Any),
    ("post", "/v1/operators", &["admin"], Keys::None),
    ("post", "/v1/api-keys", &["admin"], Keys::None),
    ("delete", "/v1/api-keys/{id}", &["admin"], Keys::None),
    ("post", "/v1/integrations", &["admin"], Keys::None),
    ("get", "/v1/integrations", &["admin"], Keys::None),
    ("get", "/v1/audit/events", &["auditor", "admin"], Keys::None),
    ("get", "/v1/audit/verify", &["auditor", "admin"], Keys::None),
    // Keys need the scope `reports`, which neither test key holds.
    (
        "get",
        "/v1/reports/issuance",
        &["ra_officer", "admin", "auditor"],
        Keys::None,
    ),
    ("post", "/v1/verification/claim", &["operator"], Keys::None),
    (
        "post",
        "/v1/verification/{id}/lease",
        &["operator"],
        Keys::None,
    ),
    (
        "post",
        "/v1/verification/{id}/outcome",
        &["operator"],
        Keys::None,
    ),
    (
        "get",
        "/v1/verification/stats",
        &["ra_officer", "admin"],
        Keys::None,
    ),
    // The example's source is `vneid`: keys only (a counter application needs role operator).
    ("post", "/v1/enrolments", &[], Keys::Any),
    (
        "get",
        "/v1/enrolments/{id}",
        &["operator", "ra_officer"],
        Keys::Owner,
    ),
    (
        "put",
        "/v1/enrolments/{id}/documents/{kind}",
        &["operator"],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/enrolments/{id}/documents/{kind}",
        &["operator", "ra_officer"],
        Keys::None,
    ),
    (
        "post",
        "/v1/enrolments/{id}/withdraw",
        &["operator", "ra_officer"],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/enrolments/{id}/video-call",
        &["operator"],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/enrolments/{id}/contract",
        &["operator"],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/contracts/{id}",
        &["operator", "ra_officer"],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/contracts/{id}/document",
        &["operator", "ra_officer"],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/contracts/{id}/signed-document",
        &["operator", "ra_officer"],
        Keys::Owner,
    ),
    ("post", "/v1/contracts/{id}/otp", &["operator"], Keys::Owner),
    (
        "post",
        "/v1/contracts/{id}/sign",
        &["operator"],
        Keys::Owner,
    ),
    ("post", "/v1/enrolments/{id}/certificate", &[], Keys::Owner),
    (
        "get",
        "/v1/enrolments/{id}/certificates",
        &["operator", "ra_officer"],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/certificates/{serial}/acceptance-record",
        &["operator", "ra_officer"],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/certificates/{serial}/acceptance-record/signed",
        &["operator", "ra_officer"],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/certificates/{serial}/acceptance",
        &["operator", "ra_officer"],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/certificates/{serial}/acceptance/otp",
        &[],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/certificates/{serial}/acceptance",
        &[],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/certificates/{serial}/acceptance/reject",
        &[],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/certificates/{serial}",
        &["ra_officer", "auditor", "admin"],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/certificates",
        &["ra_officer", "auditor", "admin"],
        Keys::None,
    ),
    (
        "post",
        "/v1/certificates/{serial}/revoke",
        &["ra_officer"],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/certificates/{serial}/suspend",
        &["ra_officer"],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/certificates/{serial}/resume",
        &["ra_officer"],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/certificates/{serial}/revoke/otp",
        &[],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/certificates/{serial}/suspend/otp",
        &[],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/certificates/{serial}/resume/otp",
        &[],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/certificates/{serial}/renew",
        &["ra_officer"],
        Keys::Owner,
    ),
    (
        "post",
        "/v1/certificates/{serial}/rekey",
        &["ra_officer"],
        Keys::Owner,
    ),
    (
        "get",
        "/v1/certificates/{serial}/signatures",
        &["ra_officer", "auditor"],
        Keys::Owner,
    ),
];
const ROLES: &[&str] = &["operator", "ra_officer", "admin", "auditor"];

/// A value the schema accepts in shape (its example when it has one), so that requests reach
/// the handler's checks instead of the framework's parsing.
fn sample(doc: &serde_json::Value, schema: &serde_json::Value) -> serde_json::Value {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return sample(doc, &doc["components"]["schemas"][name]);
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    for combined in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = schema[combined]
            .as_array()
            .and_then(|v| v.iter().find(|s| s["type"] != "null"))
        {
            return sample(doc, first);
        }
    }
    let ty = match &schema["type"] {
        serde_json::Value::Array(types) => types
            .iter()
            .find(|t| *t != "null")
            .cloned()
            .unwrap_or_default(),
        t => t.clone(),
    };
    match ty.as_str().unwrap_or("object") {
        "boolean" => json!(false),
        "integer" | "number" => json!(1),
        "array" => json!([]),
        "string" if schema["format"] == "date-time" => json!("2026-01-01T00:00:00Z"),
        // Long enough for the passwords' minimum, short enough for every maximum.
        "string" => json!("xxxxxxxxxxxx"),
        _ => {
            let mut object = serde_json::Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                object.insert(name.into(), sample(doc, &schema["properties"][name]));
            }
            serde_json::Value::Object(object)
        }
    }
}

/// Every operation of the OpenAPI document, called by an operator of each role, a key of the
/// integration owning the objects, a key of another integration and a key of another with
/// `all_integrations`, answers as `ACCESS` says; without credentials, 401 (except the public
/// ones). A new operation fails here until it has its row.
#[tokio::test]
async fn every_api_operation_answers_each_caller_as_the_access_table_says() {
    use common::certificates::{active, Citizen};
    use common::enrol::{application, enrol, id_number, staff, upload_all};

    let mut app = TestApp::spawn().await;
    let (status, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let admin = app.admin_token().await;
    let key = |name: &str, scopes: serde_json::Value, integration: Option<&str>| {
        let body = json!({"name": name, "scopes": scopes, "integration_id": integration});
        let (app, admin) = (&app, admin.clone());
        async move {
            let (status, key) = app.post("/api/v1/api-keys", Some(&admin), body).await;
            assert_eq!(status, 201, "{key}");
            key
        }
    };
    let both = json!(["enrol", "lifecycle"]);
    let own = key("app backend", both.clone(), None).await;
    let other = key("partner portal", both.clone(), None).await;
    let call_centre = key(
        "call centre",
        json!(["enrol", "lifecycle", "all_integrations"]),
        other["integration_id"].as_str(),
    )
    .await;
    let spare = key("spare", both, None).await;
    assert_ne!(own["integration_id"], other["integration_id"]);
    assert_eq!(call_centre["integration_id"], other["integration_id"]);
    let own_key = own["key"].as_str().unwrap().to_string();

    // The objects, all the owning integration's: an active certificate with its enrolment
    // and contract, and an app enrolment waiting for its video call.
    let citizen = Citizen::new(41, ("Phường Cửa Nam", "Thành phố Hà Nội"));
    let (_, serial) = active(&app, &own_key, &citizen).await;
    let (_, cert) = app
        .get(&format!("/api/v1/certificates/{serial}"), Some(&own_key))
        .await;
    let contract = cert["contract_id"].as_str().unwrap().to_string();
    let waiting = enrol(&app, &own_key, &application("app_ekyc", &id_number(42))).await;
    upload_all(&app, &own_key, &waiting).await;
    let (_, call) = app
        .get(
            &format!("/api/v1/enrolments/{waiting}/video-call"),
            Some(&own_key),
        )
        .await;
    let video_call = call["verification_id"].as_str().unwrap().to_string();

    let mut callers: Vec<(String, String)> = Vec::new();
    for role in ROLES {
        let token = staff(&mut app, &format!("table.{}", role.replace('_', "")), role).await;
        callers.push((role.to_string(), token));
    }
    for (name, k) in [
        ("own key", &own),
        ("other key", &other),
        ("call centre", &call_centre),
    ] {
        callers.push((name.into(), k["key"].as_str().unwrap().to_string()));
    }

    let mut operations = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            operations.push((method.clone(), path.clone(), op.clone()));
        }
    }
    // Signing out last, so that each caller's other requests still run signed in.
    operations.sort_by_key(|(m, p, _)| m == "delete" && p == "/v1/operator/session");
    assert!(operations.len() > 40, "{}", operations.len());

    let mut wrong = Vec::new();
    let mut cells = 0;
    for (method, path, op) in &operations {
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
        assert!(
            secured != public,
            "{method} {path}: secured={secured}, public={public}"
        );
        if !public && !ACCESS.iter().any(|(m, p, ..)| m == method && p == path) {
            wrong.push(format!("{method} {path}: no row in ACCESS"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    for (caller, token) in callers
        .iter()
        .map(|(c, t)| (c.as_str(), Some(t.as_str())))
        .chain([("nobody", None)])
    {
        for (method, path, op) in &operations {
            let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
            let expected = match ACCESS.iter().find(|(m, p, ..)| m == method && p == path) {
                _ if token.is_none() && public => Answer::Passes,
                _ if token.is_none() => Answer::Forbidden,
                None => Answer::Passes,
                Some((.., roles, keys)) => match (caller, keys) {
                    (role, _) if ROLES.contains(&role) => {
                        if roles.contains(&role) {
                            Answer::Passes
                        } else {
                            Answer::Forbidden
                        }
                    }
                    (_, Keys::None) => Answer::Forbidden,
                    ("other key", Keys::Owner) => Answer::Hidden,
                    _ => Answer::Passes,
                },
            };
            let mut url = format!("/api{path}");
            let id = if path.starts_with("/v1/enrolments/") {
                waiting.as_str()
            } else if path.starts_with("/v1/contracts/") {
                &contract
            } else if path.starts_with("/v1/api-keys/") {
                spare["id"].as_str().unwrap()
            } else {
                &video_call
            };
            url = url
                .replace("{id}", id)
                .replace("{serial}", &serial)
                .replace("{kind}", "portrait");
            let mut req = app
                .http
                .request(method.to_uppercase().parse().unwrap(), app.url(&url));
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            let mut query = Vec::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["required"] != true {
                    continue;
                }
                let value = match sample(&doc, &p["schema"]) {
                    serde_json::Value::String(s) => s,
                    v => v.to_string(),
                };
                match p["in"].as_str() {
                    Some("header") => {
                        req = req.header(
                            p["name"].as_str().unwrap(),
                            uuid::Uuid::new_v4().to_string(),
                        )
                    }
                    Some("query") => query.push((p["name"].as_str().unwrap().to_string(), value)),
                    _ => {}
                }
            }
            req = req.query(&query);
            if let Some((media_type, content)) = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.iter().next())
            {
                req = if media_type.starts_with("application/json") {
                    req.json(&sample(&doc, &content["schema"]))
                } else {
                    req.header("content-type", media_type.as_str()).body("x")
                };
            }
            // Checked against the OpenAPI document too (status, media type, body).
            let (status, body) = checked_parts(method, req.send().await.unwrap()).await;
            let code = body["code"].as_str().unwrap_or_default();
            let got = match (status, code) {
                (403, "forbidden") | (401, "unauthenticated") => Answer::Forbidden,
                (401, _) if token.is_none() => Answer::Forbidden,
                (404, "enrolment_not_found" | "contract_not_found" | "certificate_not_found") => {
                    Answer::Hidden
                }
                (s, _) if s >= 500 => {
                    wrong.push(format!("{caller} {method} {path}: {status} {body}"));
                    continue;
                }
                _ => Answer::Passes,
            };
            // Without credentials the refusal is 401 before anything else.
            let refused_right = token.is_some() || status == 401 || public;
            if got != expected || !refused_right {
                wrong.push(format!(
                    "{caller} {method} {path}: expected {expected:?}, got {status} {code}"
                ));
            }
            cells += 1;
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(cells > 300, "{cells}");
}

/// Runs `serve` expecting it to refuse to start; returns what it wrote to stderr.
fn refused_start(cmd: &mut std::process::Command) -> String {
    let out = cmd.env("CA_ENROL_LISTEN", "127.0.0.1:0").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("master_key"), "{stderr}");
    stderr
}

#[tokio::test]
async fn a_missing_master_key_file_next_to_a_used_database_refuses_the_start() {
    let env = TestEnv::new();
    let first = ServeProcess::start(&env);
    wait_ready(&first.base).await;
    drop(first);
    let key_file = env.data_dir().join("master.key");
    let original = std::fs::read(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();

    let stderr = refused_start(&mut env.command(&["serve"]));
    assert!(stderr.contains("master.key"), "{stderr}");
    assert!(
        !key_file.exists(),
        "no fresh key is made for a database that already holds data"
    );
    // The CLI's account commands seal secrets too: refused the same way.
    let out = env
        .command(&[
            "operator",
            "create",
            "--username",
            "op.late",
            "--role",
            "operator",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("master_key"), "{stderr}");

    std::fs::write(&key_file, &original).unwrap();
    let again = ServeProcess::start(&env);
    wait_ready(&again.base).await;
}

#[tokio::test]
async fn a_different_configured_master_key_refuses_the_start_and_the_same_one_starts() {
    let env = TestEnv::new();
    let key = "11".repeat(32);
    let first = ServeProcess::start_with(&env, &[("CA_ENROL_MASTER_KEY", &key)]);
    wait_ready(&first.base).await;
    let admin = first.printed_admin().unwrap();
    drop(first);

    let stderr = refused_start(
        env.command(&["serve"])
            .env("CA_ENROL_MASTER_KEY", "22".repeat(32)),
    );
    assert!(stderr.contains("CA_ENROL_MASTER_KEY"), "{stderr}");
    // Without the setting the key file is used: none exists, and the database is not empty.
    let stderr = refused_start(&mut env.command(&["serve"]));
    assert!(stderr.contains("master.key"), "{stderr}");

    let second = ServeProcess::start_with(&env, &[("CA_ENROL_MASTER_KEY", &key)]);
    wait_ready(&second.base).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/operator/session", second.base))
        .json(&json!({
            "username": "admin",
            "password": admin.password,
            "totp_code": admin.code_at(chrono::Utc::now().timestamp()),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "the original key still opens the sealed secrets"
    );
}

#[tokio::test]
async fn a_database_from_before_the_key_check_gets_its_check_value_at_the_next_start() {
    let env = TestEnv::new();
    let first = ServeProcess::start(&env);
    wait_ready(&first.base).await;
    drop(first);
    // What a database migrated before the check looks like: no check value yet.
    env.sql("DELETE FROM master_key_check");

    let second = ServeProcess::start(&env);
    wait_ready(&second.base).await;
    drop(second);
    let key_file = env.data_dir().join("master.key");
    // Refused only because the second start stored the check value (without one, any key
    // would be taken), in an audited write: the chain still verifies.
    std::fs::write(&key_file, "33".repeat(32)).unwrap();
    refused_start(&mut env.command(&["serve"]));
    let out = env.command(&["audit", "verify"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
