//! Operator accounts (#14 points 5-7): a password change ends the other sessions, the first
//! change through the API replaces the TOTP secret the administrator saw, and the lock-out
//! is keyed on (username, client address) below an account-wide ceiling and answers the same
//! whether the account exists or not.

use crate::common;

use common::web::web_first_sign_in;
use common::{Credentials, TestApp};
use serde_json::{json, Value};

/// Signs `who` in once more (a fresh step); the new session's token.
async fn another_session(app: &TestApp, who: &Credentials) -> String {
    app.next_totp_step();
    let (status, body) = app.login(who, &who.code_at(app.now())).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

async fn whoami(app: &TestApp, token: &str) -> u16 {
    app.get("/api/v1/whoami", Some(token)).await.0
}

/// The audit events with `action`, oldest first.
async fn events(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let (status, body) = app
        .get("/api/v1/audit/events?limit=1000", Some(admin))
        .await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_password_change_ends_the_operators_other_sessions_and_is_audited() {
    let mut app = TestApp::spawn().await;
    let current = app.admin_token().await;
    let admin = Credentials {
        username: app.admin.username.clone(),
        password: app.admin.password.clone(),
        totp_secret: app.admin.totp_secret.clone(),
    };
    let other_api = another_session(&app, &admin).await;
    let pages = common::web::WebClient::new(&app);
    let signed_in = pages.sign_in_with(&app, &admin).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(pages.get("/dashboard").await.status, 200);
    // Another operator's session is not the admin's to end.
    let mut officer = app
        .create_operator(&current, "officer.binh", "ra_officer")
        .await;
    let officer_token = app.session(&mut officer).await;

    let new_password = "a brand new admin password";
    let (status, body) = app
        .post(
            "/api/v1/operator/password",
            Some(&current),
            json!({"current_password": admin.password, "new_password": new_password}),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    assert_eq!(
        whoami(&app, &current).await,
        200,
        "the changing session stays"
    );
    assert_eq!(whoami(&app, &other_api).await, 401, "API token ended");
    let page = pages.get("/dashboard").await;
    assert_eq!(
        page.location.as_deref(),
        Some("/sign-in?next=/dashboard"),
        "page session ended"
    );
    assert_eq!(whoami(&app, &officer_token).await, 200);

    let changed = events(&app, &current, "operator.password_changed").await;
    let details: Value = serde_json::from_str(changed[0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["sessions_ended"], 2, "{details}");

    let renewed = Credentials {
        password: new_password.into(),
        ..admin
    };
    another_session(&app, &renewed).await;
}

#[tokio::test]
async fn the_first_sign_in_through_the_api_replaces_the_printed_totp_secret() {
    let mut app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let one_time = app
        .create_operator(&admin_token, "officer.chi", "ra_officer")
        .await;
    app.next_totp_step();
    let (status, body) = app.login(&one_time, &one_time.code_at(app.now())).await;
    assert_eq!((status, &body["must_change_password"]), (201, &json!(true)));
    let token = body["token"].as_str().unwrap().to_string();
    let second = another_session(&app, &one_time).await;

    let new_password = "officer chi's own password";
    let (status, body) = app
        .post(
            "/api/v1/operator/password",
            Some(&token),
            json!({"current_password": one_time.password, "new_password": new_password}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let secret = body["totp_secret"].as_str().unwrap().to_string();
    assert_ne!(secret, one_time.totp_secret);
    assert!(body["otpauth_url"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    assert_eq!(whoami(&app, &token).await, 200);
    assert_eq!(whoami(&app, &second).await, 401, "the other session ended");

    // The printed secret no longer signs in, with the new password or the old one.
    for password in [new_password, one_time.password.as_str()] {
        app.next_totp_step();
        let old_secret = Credentials {
            username: one_time.username.clone(),
            password: password.into(),
            totp_secret: one_time.totp_secret.clone(),
        };
        let (status, body) = app.login(&old_secret, &old_secret.code_at(app.now())).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_credentials"))
        );
    }
    let own = Credentials {
        username: one_time.username.clone(),
        password: new_password.into(),
        totp_secret: secret,
    };
    app.next_totp_step();
    let (status, body) = app.login(&own, &own.code_at(app.now())).await;
    assert_eq!(
        (status, &body["must_change_password"]),
        (201, &json!(false))
    );

    // A later change answers no secret: the TOTP secret stays.
    let (status, body) = app
        .post(
            "/api/v1/operator/password",
            Some(&token),
            json!({"current_password": new_password, "new_password": "and yet another one"}),
        )
        .await;
    assert_eq!((status, body), (204, Value::Null));
    let done = events(&app, &admin_token, "operator.first_sign_in_completed").await;
    assert_eq!(done.len(), 2, "the admin's and the officer's");
}

#[tokio::test]
async fn the_first_sign_in_through_the_pages_ends_the_other_sessions() {
    let mut app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let one_time = app
        .create_operator(&admin_token, "officer.dung", "operator")
        .await;
    let api_session = another_session(&app, &one_time).await;
    assert_eq!(whoami(&app, &api_session).await, 200);
    let client = web_first_sign_in(&app, one_time).await;
    assert_eq!(client.get("/dashboard").await.status, 200);
    assert_eq!(whoami(&app, &api_session).await, 401);
}

/// A test app behind a proxy it trusts (the test's own address), so `X-Forwarded-For`
/// stands for the client's address.
async fn behind_proxy(tweak: impl FnOnce(&mut ca_enrol::config::Config)) -> TestApp {
    TestApp::spawn_with(common::TestEnv::new(), |c| {
        c.security.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        tweak(c);
    })
    .await
}

/// A sign-in as `who` from `client`; (status, body).
async fn login_from(app: &TestApp, client: &str, who: &Credentials, code: &str) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url("/api/v1/operator/session"))
        .header("x-forwarded-for", client)
        .json(&json!({"username": who.username, "password": who.password, "totp_code": code}))
        .send()
        .await
        .unwrap();
    common::checked_parts("POST", resp).await
}

fn guessing(username: &str) -> Credentials {
    Credentials {
        username: username.into(),
        password: "a wrong guess".into(),
        totp_secret: "JBSWY3DPEHPK3PXP".into(),
    }
}

#[tokio::test]
async fn failures_from_one_address_do_not_lock_the_operator_out_from_another() {
    let mut app = behind_proxy(|_| {}).await;
    app.admin_token().await;
    let admin = Credentials {
        username: app.admin.username.clone(),
        password: app.admin.password.clone(),
        totp_secret: app.admin.totp_secret.clone(),
    };
    let attacker = "203.0.113.66";
    for attempt in 1..=5 {
        let (status, body) = login_from(&app, attacker, &guessing("admin"), "123456").await;
        let expected = if attempt < 5 { 401 } else { 429 };
        assert_eq!(status, expected, "attempt {attempt}: {body}");
    }
    // Locked from there, even with the right credentials...
    app.next_totp_step();
    let (status, body) = login_from(&app, attacker, &admin, &admin.code_at(app.now())).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("account_locked"))
    );
    // ...and not from the administrator's own address.
    let (status, body) = login_from(&app, "198.51.100.7", &admin, &admin.code_at(app.now())).await;
    assert_eq!(status, 201, "{body}");
    // The attacker's lock ends with the lock-out time.
    app.clock.advance(chrono::Duration::minutes(16));
    let (status, body) = login_from(&app, attacker, &admin, &admin.code_at(app.now())).await;
    assert_eq!(status, 201, "{body}");
}

/// An answer with the digits taken out of its texts: the lock's end is the time of the
/// locking request plus the lock-out, and the two requests compared are moments apart.
fn without_times((status, body): &(u16, Value)) -> (u16, Value) {
    let mut body = body.clone();
    for key in ["message", "message_vi"] {
        if let Some(text) = body[key].as_str() {
            body[key] = text.replace(|c: char| c.is_ascii_digit(), "").into();
        }
    }
    (*status, body)
}

#[tokio::test]
async fn an_unknown_username_and_a_locked_account_answer_alike() {
    let mut app = behind_proxy(|_| {}).await;
    app.admin_token().await;
    let client = "203.0.113.5";
    for attempt in 1..=6 {
        let real = login_from(&app, client, &guessing("admin"), "123456").await;
        let unknown = login_from(&app, client, &guessing("no.such.operator"), "123456").await;
        assert_eq!(
            without_times(&real),
            without_times(&unknown),
            "attempt {attempt}"
        );
        let expected = if attempt < 5 { 401 } else { 429 };
        assert_eq!(real.0, expected, "attempt {attempt}: {}", real.1);
    }
    // With the right password and code too: the lock answers before anything is checked.
    app.next_totp_step();
    let admin = Credentials {
        username: app.admin.username.clone(),
        password: app.admin.password.clone(),
        totp_secret: app.admin.totp_secret.clone(),
    };
    let real = login_from(&app, client, &admin, &admin.code_at(app.now())).await;
    let unknown = login_from(&app, client, &guessing("no.such.operator"), "123456").await;
    assert_eq!(without_times(&real), without_times(&unknown));
    assert_eq!(real.1["code"], "account_locked");
}

#[tokio::test]
async fn the_account_wide_ceiling_locks_every_address_and_a_reset_lifts_it() {
    let mut app = behind_proxy(|c| c.security.login_account_max_failures = 8).await;
    let admin_token = app.admin_token().await;
    let mut officer = app
        .create_operator(&admin_token, "officer.em", "ra_officer")
        .await;
    app.session(&mut officer).await;
    // Four addresses, two guesses each: no address reaches its own limit of five.
    for n in 1..=8 {
        let from = format!("203.0.113.{}", n % 4);
        let (status, body) = login_from(&app, &from, &guessing("officer.em"), "123456").await;
        let expected = if n < 8 { 401 } else { 429 };
        assert_eq!(status, expected, "guess {n}: {body}");
    }
    app.next_totp_step();
    let code = officer.code_at(app.now());
    let (status, body) = login_from(&app, "198.51.100.8", &officer, &code).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("account_locked"))
    );
    let locked = events(&app, &admin_token, "operator.locked").await;
    assert_eq!(locked.len(), 1, "{locked:?}");

    // The administrator's reset lifts it (the next sign-in is a first sign-in again).
    let id = app
        .state
        .accounts
        .list_operators()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.username == "officer.em")
        .unwrap()
        .id;
    let admin = app.state.accounts.authenticate(&admin_token).await.unwrap();
    let reset = app
        .state
        .accounts
        .reset_credentials(&admin, &id, true, false)
        .await
        .unwrap();
    let one_time = Credentials {
        password: reset.one_time_password.unwrap(),
        ..officer
    };
    app.next_totp_step();
    let code = one_time.code_at(app.now());
    let (status, body) = login_from(&app, "198.51.100.8", &one_time, &code).await;
    assert_eq!(status, 201, "{body}");
}
