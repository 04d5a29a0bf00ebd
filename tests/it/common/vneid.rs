//! The VNeID hub as the tests see it: one simulated hub per test process, whose CA every test
//! app trusts (`TestEnv::config`), registrations it signs, and the hand-over to a key.

use std::path::PathBuf;
use std::sync::OnceLock;

use ca_enrol::vneid::sim::{registration_claims, Hub};
use chrono::{Duration, Utc};
use serde_json::Value;

use super::{into_parts, TestApp};

struct Shared {
    hub: Hub,
    dir: PathBuf,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        // Valid long before and after: tests move their clocks by years.
        let now = Utc::now();
        let hub = Hub::generate((now - Duration::days(1), now + Duration::days(365 * 30))).unwrap();
        let dir = tempfile::tempdir().unwrap().keep();
        hub.save(&dir).unwrap();
        Shared { hub, dir }
    })
}

/// The hub every test app trusts.
pub fn hub() -> &'static Hub {
    &shared().hub
}

/// The hub's CA certificate: the apps' `vneid.trust_anchor_file`.
pub fn anchor_file() -> PathBuf {
    shared().dir.join("hub-ca.pem")
}

/// `application` (an intake body) as a registration for transaction `txn`, signed by `hub`
/// as of the app's clock.
pub fn signed_by(hub: &Hub, app: &TestApp, application: &Value, txn: &str) -> String {
    hub.sign(&registration_claims(
        application,
        txn,
        "ca-enrol",
        app.now(),
    ))
    .unwrap()
}

/// `application` as a registration of the shared hub.
pub fn registration(app: &TestApp, application: &Value, txn: &str) -> String {
    signed_by(hub(), app, application, txn)
}

/// POSTs a registration (any body) as the hub does.
pub async fn register(app: &TestApp, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url("/api/v1/vneid/registrations"))
        .header("Content-Type", "application/jose")
        .body(body)
        .send()
        .await
        .unwrap();
    into_parts(resp).await
}

/// Redeems a hand-over token with `key`.
pub async fn hand_over(app: &TestApp, key: &str, token: &str) -> (u16, Value) {
    app.post(
        "/api/v1/vneid/handover",
        Some(key),
        serde_json::json!({ "token": token }),
    )
    .await
}

/// The connector path of a VNeID application: the hub registers it, `key` redeems the
/// hand-over token (so `key`'s integration owns it). Returns the enrolment id.
pub async fn enrol(app: &TestApp, key: &str, application: &Value) -> String {
    let txn = uuid::Uuid::new_v4().to_string();
    let (status, answer) = register(app, registration(app, application, &txn)).await;
    assert_eq!(status, 201, "{answer}");
    let token = answer["handover_token"].as_str().unwrap();
    let (status, view) = hand_over(app, key, token).await;
    assert_eq!(status, 200, "{view}");
    view["id"].as_str().unwrap().to_string()
}
