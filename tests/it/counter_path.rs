//! The counter path after registration over HTTP, as a browser without script posts it: the
//! CSR-file way to the certificate, and each step's refusals (a wrong code, the free package
//! already used, a file that is not a CSR) shown with the API's words while nothing changes.
//! The browser scenario (`browser.rs`) walks the same path with the signature pad.

use crate::common;

use common::counter::{
    choose, code_after, contract_signed, post_csr, registered, send_contract_code, sent, sign,
    PHONE,
};
use common::web::web_sign_in;
use common::TestApp;

/// An RA officer's API token: reads enrolments and contracts.
async fn reader(app: &mut TestApp) -> String {
    let admin = app.admin_token().await;
    let mut ra = app
        .create_operator(&admin, "counter-reader", "ra_officer")
        .await;
    app.session(&mut ra).await
}

async fn enrolment_status(app: &TestApp, token: &str, id: &str) -> String {
    let (status, view) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(token))
        .await;
    assert_eq!(status, 200, "{view}");
    view["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_counter_citizen_signs_gets_a_certificate_for_a_csr_file_and_accepts_it() {
    let mut app = TestApp::spawn().await;
    let op = web_sign_in(&mut app, "operator").await;
    let id = registered(&mut app, &common::enrol::id_number(801)).await;
    let ra = reader(&mut app).await;

    // The registered enrolment leads on to the package; the free one is offered.
    let page = op.get(&format!("/counter/{id}")).await;
    assert!(
        page.body
            .contains(&format!("href=\"/counter/{id}/package\"")),
        "{}",
        page.body
    );
    let contract_page = choose(&op, &id, "PS0").await;
    assert_eq!(contract_page.status, 200, "{}", contract_page.body);
    assert!(
        contract_page.body.contains("/draft\""),
        "the draft PDF is shown"
    );
    assert!(
        !contract_page.body.contains("id=\"sign-form\""),
        "the pad waits for the code"
    );

    // A wrong code: the API's words, and the contract stays unsigned.
    let seen = sent(&app).await;
    let contract = send_contract_code(&op, &id).await;
    let with_pad = op.get(&format!("/counter/{id}/contract?sent=1")).await;
    assert!(with_pad.body.contains("id=\"signature-pad\""));
    assert!(with_pad.body.contains("src=\"/static/signature-pad.js\""));
    let code = code_after(&app, seen).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = sign(&op, &id, &contract, wrong).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Mã xác thực không đúng; còn 4 lần thử."),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"data:image/png;base64,"),
        "the drawing comes back to the pad"
    );
    assert_eq!(enrolment_status(&app, &ra, &id).await, "verified");
    let (_, view) = app
        .get(&format!("/api/v1/contracts/{contract}"), Some(&ra))
        .await;
    assert_eq!(view["status"], "draft", "{view}");

    // The right code signs, with the drawn signature and the code, as the API's signing does.
    let signed = sign(&op, &id, &contract, &code).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let (_, view) = app
        .get(&format!("/api/v1/contracts/{contract}"), Some(&ra))
        .await;
    assert_eq!(view["status"], "signed", "{view}");
    assert!(view["signature_sha256"].is_string(), "{view}");
    assert_eq!(enrolment_status(&app, &ra, &id).await, "contract_signed");

    // Both ways to the certificate are offered; a file that is not a CSR is refused by name.
    let step = op.get(&format!("/counter/{id}/certificate")).await;
    assert!(step.body.contains("id=\"remote-form\"") && step.body.contains("id=\"csr-form\""));
    let bad = post_csr(&op, &id, b"not a certificate request".to_vec()).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body
            .contains("Không đọc được yêu cầu chứng thư (CSR PKCS#10)."),
        "{}",
        bad.body
    );
    let empty = post_csr(&op, &id, Vec::new()).await;
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert_eq!(enrolment_status(&app, &ra, &id).await, "contract_signed");

    // A DER request from the token issues.
    let csr = openssl::x509::X509Req::from_pem(common::certificates::csr_pem().as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let issued = post_csr(&op, &id, csr).await;
    assert_eq!(
        (issued.status, issued.location.as_deref()),
        (303, Some(format!("/counter/{id}/acceptance").as_str())),
        "{}",
        issued.body
    );
    let serial = common::counter::serial_awaiting_acceptance(&op, &id).await;
    // A second click (another key, another request) issues nothing more.
    let again = op
        .post_multipart(
            &format!("/counter/{id}/certificate/csr"),
            reqwest::multipart::Form::new()
                .text("idempotency_key", "another")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(common::certificates::csr_pem().into_bytes()),
                ),
        )
        .await;
    assert_eq!(
        again.location.as_deref(),
        Some(format!("/counter/{id}/acceptance").as_str())
    );
    let record = op
        .get(&format!("/counter/{id}/acceptance-record/record"))
        .await;
    assert_eq!(record.status, 200);
    assert_eq!(
        record.headers["content-type"].to_str().unwrap(),
        "application/pdf"
    );

    // Acceptance: a wrong code changes nothing, the citizen's code makes it active.
    let seen = sent(&app).await;
    let resp = op
        .post(
            &format!("/counter/{id}/acceptance/otp"),
            &[("serial", &serial)],
        )
        .await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    let code = code_after(&app, seen).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = op
        .post(
            &format!("/counter/{id}/acceptance"),
            &[("serial", &serial), ("otp_code", wrong)],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("Mã xác thực không đúng"));
    let (_, cert) = app
        .get(&format!("/api/v1/certificates/{serial}"), Some(&ra))
        .await;
    assert_eq!(cert["status"], "pending_acceptance", "{cert}");
    let accepted = op
        .post(
            &format!("/counter/{id}/acceptance"),
            &[("serial", &serial), ("otp_code", &code)],
        )
        .await;
    assert_eq!(
        (accepted.status, accepted.location.as_deref()),
        (303, Some(format!("/counter/{id}/certificate").as_str())),
        "{}",
        accepted.body
    );
    let done = op.get(&format!("/counter/{id}/certificate")).await;
    assert!(
        done.body.contains("data-status=\"active\""),
        "{}",
        done.body
    );
    let (_, cert) = app
        .get(&format!("/api/v1/certificates/{serial}"), Some(&ra))
        .await;
    assert_eq!(cert["status"], "active", "{cert}");
    let pem = op.get(&format!("/counter/{id}/certificate/pem")).await;
    assert!(pem.body.starts_with("-----BEGIN CERTIFICATE-----"));
    // Both codes went to the citizen's phone.
    assert!(app.messages_to(PHONE, 2).await.len() >= 2);
}

#[tokio::test]
async fn the_free_package_is_offered_only_while_the_id_number_may_still_have_it() {
    let mut app = TestApp::spawn().await;
    let op = web_sign_in(&mut app, "operator").await;
    // This ID number took PS0 for a certificate (issued through the API, now closed for
    // intake); the citizen comes to the desk for another one.
    let (_, _) = common::web::issued_certificate(&mut app, 802).await;
    let id = registered(&mut app, &common::enrol::id_number(802)).await;

    let page = op.get(&format!("/counter/{id}/package")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("value=\"PS0\""), "PS0 is not offered");
    assert!(page.body.contains("value=\"PS12\""), "paid packages are");
    let why = page.text_of("free-used").expect("the page says why");
    assert!(why.contains("đã sử dụng gói miễn phí"), "{why}");

    // Posted anyway: the API's refusal, and no contract is made.
    let refused = op
        .post(
            &format!("/counter/{id}/package"),
            &[("package_code", "PS0")],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("đã sử dụng gói miễn phí"),
        "{}",
        refused.body
    );
    let contract_step = op.get(&format!("/counter/{id}/contract")).await;
    assert_eq!(
        contract_step.location.as_deref(),
        Some(format!("/counter/{id}/package").as_str()),
        "no draft was made"
    );

    // A paid package makes the contract.
    let contract_page = choose(&op, &id, "PS12").await;
    assert_eq!(contract_page.status, 200);
    assert!(contract_page.body.contains("PS12"));
}

#[tokio::test]
async fn the_path_is_for_counter_enrolments_and_resumes_where_it_stopped() {
    let mut app = TestApp::spawn().await;
    let op = web_sign_in(&mut app, "operator").await;
    // An app's enrolment is that app's to complete.
    let key = common::enrol::enrol_key(&mut app).await;
    let app_enrolment = common::enrol::enrol(
        &app,
        &key,
        &common::enrol::application("app_ekyc", &common::enrol::id_number(803)),
    )
    .await;
    for step in ["package", "contract", "certificate", "acceptance"] {
        let resp = op.get(&format!("/counter/{app_enrolment}/{step}")).await;
        assert_eq!(resp.status, 404, "{step}");
    }

    // A counter enrolment whose contract is signed: the enrolment page resumes the path at
    // issuance, and earlier steps lead there.
    let id = registered(&mut app, &common::enrol::id_number(804)).await;
    contract_signed(&app, &op, &id).await;
    let detail = op.get(&format!("/enrolments/{id}")).await;
    assert!(
        detail
            .body
            .contains(&format!("href=\"/counter/{id}/certificate\"")),
        "{}",
        detail.body
    );
    for step in ["package", "contract", "acceptance"] {
        let resp = op.get(&format!("/counter/{id}/{step}")).await;
        assert_eq!(
            (resp.status, resp.location.as_deref()),
            (303, Some(format!("/counter/{id}/certificate").as_str())),
            "{step}"
        );
    }
}
