//! Certificates through the API, for tests that need them in a given state: a citizen (with
//! an address and phone of the test's choosing) through intake, a signed PS0 contract, issuance
//! and acceptance.

use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509NameBuilder, X509ReqBuilder};
use serde_json::{json, Value};

use super::contract::sign_with_sms_code_to;
use super::enrol::{application, enrol};
use super::TestApp;

/// The SHA-256 fingerprint of a PEM certificate as the acceptance record shows it
/// (`AB:CD:…`).
pub fn fingerprint(pem: &str) -> String {
    let der = openssl::x509::X509::from_pem(pem.as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    openssl::sha::sha256(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A PKCS#10 request for a fresh P-256 key.
pub fn csr_pem() -> String {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "ignored").unwrap();
    let mut req = X509ReqBuilder::new().unwrap();
    req.set_subject_name(&name.build()).unwrap();
    req.set_pubkey(&key).unwrap();
    req.sign(&key, MessageDigest::sha256()).unwrap();
    String::from_utf8(req.build().to_pem().unwrap()).unwrap()
}

/// A citizen for a VNeID application: ID number, addresses, phone.
pub struct Citizen {
    pub id_number: String,
    /// (ward, province)
    pub permanent: (&'static str, &'static str),
    pub current: Option<(&'static str, &'static str)>,
    /// Ten digits, `09…`.
    pub phone: String,
}

impl Citizen {
    /// Born 1990 with birth registered in Hà Nội (`001`), living at `permanent`; phone
    /// `09123456nn`.
    pub fn new(n: u32, permanent: (&'static str, &'static str)) -> Self {
        Self {
            id_number: super::enrol::id_number(n),
            permanent,
            current: None,
            phone: format!("09123456{:02}", n % 100),
        }
    }

    pub fn phone_e164(&self) -> String {
        format!("+84{}", &self.phone[1..])
    }

    pub fn application(&self) -> Value {
        let mut body = application("vneid", &self.id_number);
        body["identity"]["permanent_address"] = json!({
            "line": "Số 1", "ward": self.permanent.0, "province": self.permanent.1
        });
        if let Some((ward, province)) = self.current {
            body["identity"]["current_address"] =
                json!({"line": "Số 2", "ward": ward, "province": province});
        }
        body["contact"]["phone"] = json!(self.phone);
        body
    }
}

/// Intake, then the PS0 contract signed with the SMS code: returns the enrolment id.
pub async fn contract_signed(app: &TestApp, key: &str, citizen: &Citizen) -> String {
    let enrolment = enrol(app, key, &citizen.application()).await;
    let (status, contract) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/contract"),
            Some(key),
            json!({"package_code": "PS0"}),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    sign_with_sms_code_to(
        app,
        key,
        contract["id"].as_str().unwrap(),
        &citizen.phone_e164(),
    )
    .await;
    enrolment
}

/// Intake, PS0 contract signed with the SMS code, certificate issued (`pending_acceptance`).
/// Returns (enrolment id, serial).
pub async fn issued(app: &TestApp, key: &str, citizen: &Citizen) -> (String, String) {
    let enrolment = contract_signed(app, key, citizen).await;
    let (status, cert) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(key),
            json!({ "csr": csr_pem() }),
        )
        .await;
    assert_eq!(status, 201, "{cert}");
    (enrolment, cert["serial"].as_str().unwrap().to_string())
}

/// The subscriber confirms the acceptance record with the SMS code: the certificate is active.
pub async fn accept(app: &TestApp, key: &str, citizen: &Citizen, serial: &str) {
    let phone = citizen.phone_e164();
    let before = app.messages_to(&phone, 0).await.len();
    let (status, sent) = app
        .post(
            &format!("/api/v1/certificates/{serial}/acceptance/otp"),
            Some(key),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let code = app.nth_otp(&phone, before + 1).await;
    let (status, accepted) = app
        .post(
            &format!("/api/v1/certificates/{serial}/acceptance"),
            Some(key),
            json!({"agree": true, "otp_code": code, "challenge_id": sent["challenge_id"],
                   "client_ip": "203.0.113.7", "user_agent": "SmartCA/5.2"}),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
}

/// Issued and accepted. Returns (enrolment id, serial).
pub async fn active(app: &TestApp, key: &str, citizen: &Citizen) -> (String, String) {
    let (enrolment, serial) = issued(app, key, citizen).await;
    accept(app, key, citizen, &serial).await;
    (enrolment, serial)
}
