//! The VNeID hub connector against the simulated hub (`ca_enrol::vneid::sim`): registrations
//! and every refusal, idempotency by transaction id, the one-time hand-over, and the signed
//! status callbacks through the outbox.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ca_enrol::vneid::sim::{registration_claims, Hub};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::common;
use common::enrol::{app_integration, application, count, enrol_key, id_number};
use common::vneid::{hand_over, hub, register, registration};
use common::TestApp;

/// The claims of a good registration for `application`, as of the app's clock.
fn claims(app: &TestApp, application: &Value, txn: &str) -> Value {
    registration_claims(application, txn, "ca-enrol", app.now())
}

async fn refused(app: &TestApp, body: impl Into<reqwest::Body>) -> (u16, String) {
    let (status, answer) = register(app, body).await;
    assert!(answer["message_vi"].is_string(), "{answer}");
    (
        status,
        answer["code"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn a_registration_makes_a_verified_enrolment_handed_over_once() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let body = application("vneid", &id_number(1));
    let (status, answer) = register(&app, registration(&app, &body, "txn-1")).await;
    assert_eq!(status, 201, "{answer}");
    let view = &answer["enrolment"];
    assert_eq!(view["status"], "verified");
    assert_eq!(view["verified_by"], "vneid_level2");
    assert_eq!(view["source"], "vneid");
    assert_eq!(view["next_step"], "sign_contract");
    let id = view["id"].as_str().unwrap().to_string();
    let token = answer["handover_token"].as_str().unwrap().to_string();

    // Before the hand-over no integration owns it: the app's key does not reach it.
    let (status, _) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(&key))
        .await;
    assert_eq!(status, 404);

    // A repeated transaction (the hub retries, signing again) answers the same enrolment with a
    // fresh token; the first one no longer redeems.
    let (status, again) = register(&app, registration(&app, &body, "txn-1")).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["enrolment"]["id"], json!(id));
    let fresh = again["handover_token"].as_str().unwrap().to_string();
    assert_ne!(fresh, token);
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 1);
    let (status, stale) = hand_over(&app, &key, &token).await;
    assert_eq!(
        (status, stale["code"].as_str()),
        (404, Some("handover_token_invalid"))
    );

    let (status, handed) = hand_over(&app, &key, &fresh).await;
    assert_eq!(status, 200, "{handed}");
    assert_eq!(handed["id"], json!(id));
    let (status, got) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(&key))
        .await;
    assert_eq!((status, &got["status"]), (200, &json!("verified")));
    // Once.
    let (status, used) = hand_over(&app, &key, &fresh).await;
    assert_eq!(
        (status, used["code"].as_str()),
        (409, Some("handover_token_used"))
    );
    // After the hand-over a repeat still answers the enrolment, without a token.
    let (status, late) = register(&app, registration(&app, &body, "txn-1")).await;
    assert_eq!(status, 201, "{late}");
    assert_eq!(late["enrolment"]["id"], json!(id));
    assert_eq!(late["handover_token"], Value::Null);

    // The same transaction id with other data is refused.
    let mut other = body.clone();
    other["identity"]["full_name"] = json!("Trần Thị Bình");
    let (status, code) = refused(&app, registration(&app, &other, "txn-1")).await;
    assert_eq!((status, code.as_str()), (409, "vneid_transaction_reused"));

    // The trail names the hub, the transaction and the integration it went to.
    let integration = app_integration(&mut app).await;
    let store = app.state.store.clone();
    let events = store
        .read(|tx| tx.audit_events_after(0, 1000))
        .await
        .unwrap();
    let actions: Vec<_> = events
        .iter()
        .filter(|e| e.object_id == id)
        .map(|e| (e.actor.clone(), e.action.clone()))
        .collect();
    assert!(
        actions.contains(&("vneid_hub".into(), "enrolment.submitted".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("vneid_hub".into(), "vneid.registered".into())),
        "{actions:?}"
    );
    let handed = events
        .iter()
        .find(|e| e.action == "vneid.handed_over")
        .unwrap();
    assert!(handed.details.contains(&integration), "{}", handed.details);
}

#[tokio::test]
async fn registrations_are_refused_with_a_clear_code_for_each_fault() {
    let app = TestApp::spawn().await;
    let body = application("vneid", &id_number(2));
    let good = claims(&app, &body, "txn-2");

    // A bad signature: the payload changed after signing.
    let jws = hub().sign(&good).unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let mut changed = good.clone();
    changed["identity"]["full_name"] = json!("Kẻ Mạo Danh");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(changed.to_string()),
        parts[2]
    );
    assert_eq!(
        refused(&app, forged).await,
        (400, "jws_signature_invalid".into())
    );
    assert_eq!(refused(&app, "x").await, (400, "jws_malformed".into()));

    // Another CA's hub; an expired certificate of our hub's CA.
    let now = Utc::now();
    let stranger = Hub::generate((now - Duration::days(1), now + Duration::days(30))).unwrap();
    assert_eq!(
        refused(&app, stranger.sign(&good).unwrap()).await,
        (403, "hub_certificate_untrusted".into())
    );
    let expired = hub()
        .reissued((now - Duration::days(30), now - Duration::days(1)))
        .unwrap();
    assert_eq!(
        refused(&app, expired.sign(&good).unwrap()).await,
        (403, "hub_certificate_expired".into())
    );

    // Stale: signed ten minutes ago (the default skew is five).
    let mut stale = good.clone();
    stale["iat"] = json!(app.now() - 600);
    assert_eq!(
        refused(&app, hub().sign(&stale).unwrap()).await,
        (400, "registration_stale".into())
    );

    // Another provider; assurance level 1.
    let mut other = good.clone();
    other["provider_id"] = json!("another-ca");
    assert_eq!(
        refused(&app, hub().sign(&other).unwrap()).await,
        (422, "provider_mismatch".into())
    );
    let mut level1 = good.clone();
    level1["assurance_level"] = json!(1);
    assert_eq!(
        refused(&app, hub().sign(&level1).unwrap()).await,
        (403, "assurance_level_insufficient".into())
    );

    // Malformed fields: the intake's field errors, in both languages.
    let mut bad_fields = body.clone();
    bad_fields["identity"]["id_number"] = json!("12345");
    bad_fields["identity"]["date_of_birth"] = json!("17/05/1990");
    let (status, answer) = register(&app, registration(&app, &bad_fields, "txn-3")).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("validation_failed")),
        "{answer}"
    );
    let fields: Vec<_> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(
                e["message_vi"].is_string() && e["message"].is_string(),
                "{e}"
            );
            e["field"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        fields.contains(&"identity.id_number".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"identity.date_of_birth".to_string()),
        "{fields:?}"
    );

    // Oversized: past `vneid.max_body_bytes` (64 KiB) before any parsing.
    let huge = "a".repeat(70 * 1024);
    assert_eq!(
        refused(&app, huge).await,
        (413, "registration_too_large".into())
    );

    // None of these made anything.
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 0);

    // The good one passes, once: the same token again is a replay.
    let jws = hub().sign(&good).unwrap();
    let (status, answer) = register(&app, jws.clone()).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        refused(&app, jws).await,
        (409, "registration_replayed".into())
    );
    assert_eq!(count(&app.env, "SELECT COUNT(*) AS n FROM enrolments"), 1);
}

#[tokio::test]
async fn the_connector_is_off_without_a_trust_anchor() {
    let mut app = TestApp::spawn_with(common::TestEnv::new(), |c| {
        c.vneid.trust_anchor_file = Default::default();
    })
    .await;
    let key = enrol_key(&mut app).await;
    let body = application("vneid", &id_number(3));
    let (status, code) = refused(&app, registration(&app, &body, "txn-off")).await;
    assert_eq!((status, code.as_str()), (404, "vneid_not_configured"));
    let (status, answer) = hand_over(&app, &key, "vho_x").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("vneid_not_configured"))
    );
}
