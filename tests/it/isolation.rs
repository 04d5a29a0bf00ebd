//! Issue #14 findings 1 and 2 through HTTP: integrations are isolated from each other, and one
//! caller's OTP sends cannot use up another purpose's or another caller's codes.

use crate::common;

use chrono::Duration;
use common::certificates::{active, Citizen};
use common::enrol::{api_key as key, jpeg, put_document};
use common::TestApp;
use serde_json::{json, Value};

fn token(key: &Value) -> &str {
    key["key"].as_str().unwrap()
}

fn citizen() -> Citizen {
    Citizen::new(61, ("Phường Cửa Nam", "Thành phố Hà Nội"))
}

/// Finding 1: with key X (scope `enrol`) on an enrolment, contract and certificate made by Y,
/// every request answers what a missing object answers, and nothing of Y's changes.
#[tokio::test]
async fn another_integrations_objects_answer_404_and_stay_untouched() {
    let mut app = TestApp::spawn().await;
    let y = key(
        &mut app,
        "Y app backend",
        json!(["enrol", "lifecycle"]),
        None,
    )
    .await;
    let x = key(&mut app, "X partner", json!(["enrol", "lifecycle"]), None).await;
    let (y, x) = (token(&y).to_string(), token(&x).to_string());
    let (enrolment, serial) = active(&app, &y, &citizen()).await;
    let (_, cert) = app
        .get(&format!("/api/v1/certificates/{serial}"), Some(&y))
        .await;
    let contract = cert["contract_id"].as_str().unwrap().to_string();

    let not_found = |status: u16, body: &Value, code: &str| {
        assert_eq!((status, body["code"].as_str()), (404, Some(code)), "{body}");
    };
    let (status, body) = app
        .get(&format!("/api/v1/enrolments/{enrolment}"), Some(&x))
        .await;
    not_found(status, &body, "enrolment_not_found");
    // The same answer as for an enrolment that does not exist.
    let (status, missing) = app.get("/api/v1/enrolments/no-such-id", Some(&x)).await;
    not_found(status, &missing, "enrolment_not_found");
    assert_eq!(body["message"], missing["message"]);

    let (status, body) =
        put_document(&app, &x, &enrolment, "portrait", jpeg("x"), "image/jpeg").await;
    not_found(status, &body, "enrolment_not_found");
    let (status, body) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/withdraw"),
            Some(&x),
            json!({}),
        )
        .await;
    not_found(status, &body, "enrolment_not_found");
    let (status, body) = app
        .get(&format!("/api/v1/contracts/{contract}/document"), Some(&x))
        .await;
    not_found(status, &body, "contract_not_found");
    for path in ["", "/acceptance", "/acceptance-record"] {
        let (status, body) = app
            .get(&format!("/api/v1/certificates/{serial}{path}"), Some(&x))
            .await;
        not_found(status, &body, "certificate_not_found");
    }
    // Upper-case serials are the same serial.
    let (status, body) = app
        .get(
            &format!("/api/v1/certificates/{}", serial.to_ascii_uppercase()),
            Some(&x),
        )
        .await;
    not_found(status, &body, "certificate_not_found");

    // Y's applicant was neither withdrawn nor given another portrait.
    let (status, view) = app
        .get(&format!("/api/v1/enrolments/{enrolment}"), Some(&y))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "certificate_issued");
    let (status, _) = app
        .get(&format!("/api/v1/contracts/{contract}/document"), Some(&y))
        .await;
    assert_eq!(status, 200);

    // The provider's call centre: a key with `all_integrations` reaches Y's certificate.
    let call_centre = key(
        &mut app,
        "call centre",
        json!(["enrol", "lifecycle", "all_integrations"]),
        None,
    )
    .await;
    let (status, body) = app
        .get(
            &format!("/api/v1/certificates/{serial}"),
            Some(token(&call_centre)),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A second key of Y's integration reaches what the first made.
    let y_integration = {
        let (_, me) = app.get("/api/v1/whoami", Some(&y)).await;
        me["integration_id"].as_str().unwrap().to_string()
    };
    let y2 = key(
        &mut app,
        "Y lifecycle",
        json!(["lifecycle"]),
        Some(&y_integration),
    )
    .await;
    let (status, body) = app
        .get(&format!("/api/v1/certificates/{serial}"), Some(token(&y2)))
        .await;
    assert_eq!(status, 200, "{body}");
    // An unknown integration is refused by name.
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(
            "/api/v1/api-keys",
            Some(&admin),
            json!({"name": "k", "scopes": ["enrol"], "integration_id": "nope"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("integration_not_found"))
    );
}

/// Finding 2: another integration's key cannot send a code to Y's subscriber at all, and the
/// codes one caller asks for count against that caller and purpose only.
#[tokio::test]
async fn revocation_codes_cannot_use_up_the_citizens_other_codes() {
    let mut app = TestApp::spawn().await;
    let y = key(
        &mut app,
        "Y app backend",
        json!(["enrol", "lifecycle"]),
        None,
    )
    .await;
    let x = key(&mut app, "X partner", json!(["lifecycle"]), None).await;
    let call_centre = key(
        &mut app,
        "call centre",
        json!(["lifecycle", "all_integrations"]),
        None,
    )
    .await;
    let (y, x, call_centre) = (
        token(&y).to_string(),
        token(&x).to_string(),
        token(&call_centre).to_string(),
    );
    let citizen = citizen();
    let phone = citizen.phone_e164();
    let (_, serial) = active(&app, &y, &citizen).await;
    let sent_before = app.messages_to(&phone, 0).await.len();
    let revoke_otp = format!("/api/v1/certificates/{serial}/revoke/otp");

    // The foreign path is closed: 404, and no SMS.
    let (status, body) = app
        .post(&revoke_otp, Some(&x), json!({"reason": "keyCompromise"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("certificate_not_found"))
    );

    // The call centre asks for revocation codes until its hourly cap.
    for i in 0..5 {
        let (status, body) = app
            .post(
                &revoke_otp,
                Some(&call_centre),
                json!({"reason": "keyCompromise"}),
            )
            .await;
        assert_eq!(status, 202, "send {i}: {body}");
        app.messages_to(&phone, sent_before + i + 1).await;
        app.clock.advance(Duration::seconds(91));
    }
    let (status, body) = app
        .post(
            &revoke_otp,
            Some(&call_centre),
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("otp_rate_limited"))
    );

    // The subscriber's own app still gets its suspension code…
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{serial}/suspend/otp"),
            Some(&y),
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // …and after using up its own revocation codes, its renewal's contract-signing code.
    for _ in 0..4 {
        app.clock.advance(Duration::seconds(91));
        let (status, body) = app
            .post(&revoke_otp, Some(&y), json!({"reason": "keyCompromise"}))
            .await;
        assert_eq!(status, 202, "{body}");
    }
    app.clock.advance(Duration::seconds(91));
    let (status, body) = app
        .post(&revoke_otp, Some(&y), json!({"reason": "keyCompromise"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("otp_rate_limited"))
    );
    let (status, renewal) = app
        .post(
            &format!("/api/v1/certificates/{serial}/renew"),
            Some(&y),
            json!({"package_code": "PS12"}),
        )
        .await;
    assert_eq!(status, 201, "{renewal}");
    let contract = renewal["contract"]["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/contracts/{contract}/otp"),
            Some(&y),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}
