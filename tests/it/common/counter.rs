//! The counter path after registration, through the pages as a browser without script posts
//! them: package, the contract signed with a drawn signature and the SMS code, issuance (a
//! key the provider holds, or a CSR file), acceptance with a second code.

use serde_json::json;

use super::web::{WebClient, WebResponse};
use super::TestApp;

/// The phone of `enrol::application`, in E.164: where the codes go.
pub const PHONE: &str = "+84912345678";

/// The drawn signature as the pad's script posts it.
pub fn signature_data_url() -> String {
    format!("data:image/png;base64,{}", super::contract::signature())
}

/// A counter application for `id_number`, registered through the API by a new operator
/// (verified at once, as at the desk). Returns the enrolment id.
pub async fn registered(app: &mut TestApp, id_number: &str) -> String {
    let admin = app.admin_token().await;
    let name = format!(
        "desk-api-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let mut desk = app.create_operator(&admin, &name, "operator").await;
    let token = app.session(&mut desk).await;
    let mut body = super::enrol::application("counter", id_number);
    body["consent"]["channel"] = json!("counter");
    super::enrol::enrol(app, &token, &body).await
}

/// The newest code sent to [`PHONE`] after the first `seen` messages, waiting for it.
pub async fn code_after(app: &TestApp, seen: usize) -> String {
    app.nth_otp(PHONE, seen + 1).await
}

/// Messages sent to [`PHONE`] so far (certificate notices left out).
pub async fn sent(app: &TestApp) -> usize {
    app.messages_to(PHONE, 0).await.len()
}

/// Chooses `package`; answers the contract step's page (after its redirect).
pub async fn choose(op: &WebClient, id: &str, package: &str) -> WebResponse {
    let page = op.get(&format!("/counter/{id}/package")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let chosen = op
        .post(
            &format!("/counter/{id}/package"),
            &[("package_code", package)],
        )
        .await;
    assert_eq!(
        (chosen.status, chosen.location.as_deref()),
        (303, Some(format!("/counter/{id}/contract").as_str())),
        "{}",
        chosen.body
    );
    op.get(&format!("/counter/{id}/contract")).await
}

/// Sends the contract's code from its step; returns the contract id.
pub async fn send_contract_code(op: &WebClient, id: &str) -> String {
    let page = op.get(&format!("/counter/{id}/contract")).await;
    let contract = page
        .field("contract_id")
        .expect("the contract step names it");
    let resp = op
        .post(
            &format!("/counter/{id}/contract/otp"),
            &[("contract_id", &contract)],
        )
        .await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    assert_eq!(
        resp.location.as_deref(),
        Some(format!("/counter/{id}/contract?sent=1").as_str())
    );
    contract
}

pub async fn sign(op: &WebClient, id: &str, contract: &str, code: &str) -> WebResponse {
    let signature = signature_data_url();
    op.post(
        &format!("/counter/{id}/contract/sign"),
        &[
            ("contract_id", contract),
            ("signature_image", &signature),
            ("otp_code", code),
        ],
    )
    .await
}

/// The enrolment through a signed PS0 contract.
pub async fn contract_signed(app: &TestApp, op: &WebClient, id: &str) {
    choose(op, id, "PS0").await;
    let seen = sent(app).await;
    let contract = send_contract_code(op, id).await;
    let code = code_after(app, seen).await;
    let signed = sign(op, id, &contract, &code).await;
    assert_eq!(
        (signed.status, signed.location.as_deref()),
        (303, Some(format!("/counter/{id}/certificate").as_str())),
        "{}",
        signed.body
    );
}

/// Issues with a key the provider holds; answers the serial from the acceptance step.
pub async fn issued_remote(op: &WebClient, id: &str) -> String {
    op.get(&format!("/counter/{id}/certificate")).await;
    let resp = op
        .post(&format!("/counter/{id}/certificate/remote"), &[])
        .await;
    assert_eq!(
        (resp.status, resp.location.as_deref()),
        (303, Some(format!("/counter/{id}/acceptance").as_str())),
        "{}",
        resp.body
    );
    serial_awaiting_acceptance(op, id).await
}

pub async fn serial_awaiting_acceptance(op: &WebClient, id: &str) -> String {
    let page = op.get(&format!("/counter/{id}/acceptance")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.text_of("certificate-serial")
        .expect("the acceptance step names the certificate")
}

/// Posts a CSR file (PEM or DER) from the certificate step.
pub async fn post_csr(op: &WebClient, id: &str, file: Vec<u8>) -> WebResponse {
    let page = op.get(&format!("/counter/{id}/certificate")).await;
    let key = page
        .field("idempotency_key")
        .expect("the CSR form carries a key");
    let form = reqwest::multipart::Form::new()
        .text("idempotency_key", key)
        .part(
            "file",
            reqwest::multipart::Part::bytes(file).file_name("citizen.csr"),
        );
    op.post_multipart(&format!("/counter/{id}/certificate/csr"), form)
        .await
}

/// A counter enrolment whose certificate (a remote key) awaits acceptance, through the
/// pages: (enrolment id, serial).
pub async fn awaiting_acceptance(
    app: &mut TestApp,
    op: &WebClient,
    id_number: &str,
) -> (String, String) {
    let id = registered(app, id_number).await;
    contract_signed(app, op, &id).await;
    let serial = issued_remote(op, &id).await;
    (id, serial)
}
