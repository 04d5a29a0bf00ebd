//! Contracts through the API: a verified enrolment's contract signed with the SMS code.

use base64::Engine;
use serde_json::{json, Value};

use super::enrol::{application, enrol, id_number};
use super::TestApp;

pub const PHONE: &str = "+84912345678";

/// A drawn signature: a transparent `width` x `height` RGBA PNG with a dark stroke.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    drawn(width, height, true)
}

/// A `width` x `height` RGBA PNG, transparent, with a dark diagonal stroke when `ink`.
pub fn drawn(width: u32, height: u32, ink: bool) -> Vec<u8> {
    let mut pixels = vec![0u8; (width * height * 4) as usize];
    if ink {
        for x in 0..width {
            let at = (((x * height / width) * width + x) * 4) as usize;
            pixels[at..at + 4].copy_from_slice(&[20, 20, 60, 255]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn signature() -> String {
    b64(&png(600, 200))
}

pub async fn send_otp(app: &TestApp, key: &str, contract: &str) -> (u16, Value) {
    app.post(
        &format!("/api/v1/contracts/{contract}/otp"),
        Some(key),
        json!({}),
    )
    .await
}

pub async fn sign(app: &TestApp, key: &str, contract: &str, body: Value) -> (u16, Value) {
    app.post(
        &format!("/api/v1/contracts/{contract}/sign"),
        Some(key),
        body,
    )
    .await
}

/// Requests a code, reads it from the SMS back end and signs with it.
pub async fn sign_with_sms_code(app: &TestApp, key: &str, contract: &str) -> Value {
    sign_with_sms_code_to(app, key, contract, PHONE).await
}

/// [`sign_with_sms_code`] for an enrolment whose phone is `phone` (E.164).
pub async fn sign_with_sms_code_to(app: &TestApp, key: &str, contract: &str, phone: &str) -> Value {
    let before = app.messages_to(phone, 0).await.len();
    let (status, sent) = send_otp(app, key, contract).await;
    assert_eq!(status, 201, "{sent}");
    let code = app.nth_otp(phone, before + 1).await;
    let (status, signed) = sign(
        app,
        key,
        contract,
        json!({"agree": true, "signature_image": signature(), "otp_code": code,
               "challenge_id": sent["challenge_id"]}),
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    signed
}

/// Takes a new VNeID enrolment for ID number `n` through a signed PS0 contract; returns the
/// enrolment id.
pub async fn contracted(app: &TestApp, key: &str, n: u32) -> String {
    let id = enrol(app, key, &application("vneid", &id_number(n))).await;
    let (status, contract) = app
        .post(
            &format!("/api/v1/enrolments/{id}/contract"),
            Some(key),
            json!({"package_code": "PS0"}),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    sign_with_sms_code(app, key, contract["id"].as_str().unwrap()).await;
    id
}
