//! The request edge (#14 points 3, 4, 8, 9, 10): body limits, refusals that never echo
//! secrets, content checks, strict parameters and the validation gaps, each through HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{openapi, ServeProcess, TestApp, TestEnv};

/// A raw HTTP/1.1 request whose body is `body_len` bytes of a JSON string, announced with
/// `Content-Length` or sent chunked, written by a thread of its own while this one reads the
/// answer (the server answers before it has read the body, then closes). Returns the status,
/// the headers (lower-case names) and the body.
fn oversized(
    base: &str,
    path: &str,
    extra_headers: &str,
    body_len: usize,
    chunked: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let addr = base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let length = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {body_len}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         {extra_headers}{length}\r\n\r\n"
    );
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut send = || -> std::io::Result<()> {
            writer.write_all(head.as_bytes())?;
            let chunk = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < body_len {
                let n = chunk.len().min(body_len - sent);
                if chunked {
                    writer.write_all(format!("{n:x}\r\n").as_bytes())?;
                    writer.write_all(&chunk[..n])?;
                    writer.write_all(b"\r\n")?;
                } else {
                    writer.write_all(&chunk[..n])?;
                }
                sent += n;
            }
            if chunked {
                writer.write_all(b"0\r\n\r\n")?;
            }
            Ok(())
        };
        // The server stops reading once it has refused: the rest cannot be written.
        let _ = send();
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if complete(&answer) {
                    break;
                }
            }
            Err(e) if answer.is_empty() => panic!("no answer: {e}"),
            Err(_) => break,
        }
    }
    drop(stream);
    let _ = sender.join();
    parse_answer(&answer)
}

/// Whether `answer` holds a head and the whole `Content-Length` body.
fn complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    length.is_some_and(|n| answer.len() >= end + 4 + n)
}

fn parse_answer(answer: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(answer)));
    let head = String::from_utf8_lossy(&answer[..end]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, answer[end + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The answer as JSON, failing if it does not match the OpenAPI document.
fn checked(path: &str, answer: (u16, Vec<(String, String)>, Vec<u8>)) -> (u16, Value) {
    let (status, headers, body) = answer;
    if let Some(why) = openapi::mismatch(
        "POST",
        path,
        status,
        header(&headers, "content-type"),
        None,
        &body,
    ) {
        panic!("POST {path}: not as documented: {why}");
    }
    if status == 413 {
        assert_eq!(header(&headers, "connection"), Some("close"));
    }
    (status, serde_json::from_slice(&body).unwrap())
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

const SIGN_IN: &str = "/api/v1/operator/session";

#[tokio::test(flavor = "multi_thread")]
async fn a_64_mb_sign_in_is_refused_before_it_is_read_and_the_server_does_not_grow() {
    let env = TestEnv::new();
    let serve = ServeProcess::start(&env);
    crate::common::wait_ready(&serve.base).await;
    let pid = serve.child.id();
    let base = serve.base.clone();
    let result = tokio::task::spawn_blocking(move || {
        // Warm up every path first (allocator arenas, connection buffers), so what follows
        // measures only what a large body costs.
        for chunked in [false, true] {
            let (status, body) = checked(SIGN_IN, oversized(&base, SIGN_IN, "", 1 << 20, chunked));
            assert_eq!(
                (status, body["code"].as_str()),
                (413, Some("body_too_large"))
            );
        }
        let before = vm_rss_kib(pid);
        for chunked in [false, true] {
            for _ in 0..2 {
                let (status, body) =
                    checked(SIGN_IN, oversized(&base, SIGN_IN, "", 64 << 20, chunked));
                assert_eq!(
                    (status, body["code"].as_str()),
                    (413, Some("body_too_large"))
                );
                assert_eq!(
                    body["message"],
                    json!("the request body is larger than 65536 bytes")
                );
                assert!(body["message_vi"].as_str().unwrap().contains("65536"));
            }
        }
        (before, vm_rss_kib(pid))
    })
    .await
    .unwrap();
    let (before, after) = result;
    eprintln!("serve VmRSS before {before} KiB, after four 64 MB sign-ins {after} KiB");
    assert!(
        after < before + 4 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[tokio::test]
async fn a_body_within_the_limit_still_reaches_the_operation() {
    let app = TestApp::spawn().await;
    // Just under 64 KiB, chunked: read whole, then refused by the operation itself.
    let base = app.base.clone();
    let answer =
        tokio::task::spawn_blocking(move || oversized(&base, SIGN_IN, "", 60 * 1024, true))
            .await
            .unwrap();
    let (status, body) = checked(SIGN_IN, answer);
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
}

/// Fails if `body` quotes `secret` or Rust debug text of a JSON value.
fn assert_quotes_nothing(body: &Value, secret: &str) {
    let text = body.to_string();
    assert!(
        !text.contains(secret),
        "the refusal quotes {secret:?}: {text}"
    );
    for debug in ["String(", "Number(", "Bool(", "found "] {
        assert!(!text.contains(debug), "debug text {debug:?} in {text}");
    }
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(body["message_vi"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn refusals_never_quote_passwords_or_codes() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_token().await;

    // A too-short new password: the field, its code and the rule, not the value.
    let (status, body) = app
        .post(
            "/api/v1/operator/password",
            Some(&admin),
            json!({"current_password": app.admin.password, "new_password": "short1"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed"))
    );
    assert_eq!(body["errors"][0]["field"], "new_password");
    assert_eq!(body["errors"][0]["code"], "length");
    assert_eq!(
        body["errors"][0]["message"],
        "The length must be 12 to 128 characters."
    );
    assert_quotes_nothing(&body, "short1");
    assert_quotes_nothing(&body, &app.admin.password);

    // An over-long sign-in password and code.
    let long_password = "correct-horse-".repeat(20);
    let (status, body) = app
        .post(
            SIGN_IN,
            None,
            json!({"username": "admin", "password": long_password, "totp_code": "123456789012"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["password", "totp_code"]);
    assert_quotes_nothing(&body, &long_password);
    assert_quotes_nothing(&body, "123456789012");

    // A password of the wrong type: the type is named, the value is not.
    let (status, body) = app
        .post(
            SIGN_IN,
            None,
            json!({"username": "admin", "password": ["hunter2-secret"], "totp_code": "123456"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    assert_quotes_nothing(&body, "hunter2-secret");
}

#[tokio::test]
async fn pages_take_only_limits_in_range_and_cursors_a_page_gave() {
    let mut app = TestApp::spawn().await;
    let auditor = crate::common::enrol::staff(&mut app, "auditor1", "auditor").await;
    for query in [
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=-9223372036854775808",
    ] {
        let (status, body) = app
            .get(&format!("/api/v1/certificates?{query}"), Some(&auditor))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("limit_invalid")),
            "{query}: {body}"
        );
        assert_eq!(body["message"], "limit must be 1 to 200");
    }
    for cursor in ["not-a-serial", "00", "zz", &"ab".repeat(21)] {
        let (status, body) = app
            .get(
                &format!("/api/v1/certificates?cursor={cursor}"),
                Some(&auditor),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("cursor_invalid")),
            "{cursor}: {body}"
        );
    }
    let (status, _) = app
        .get("/api/v1/certificates?limit=200&cursor=0a1b", Some(&auditor))
        .await;
    assert_eq!(status, 200);

    for query in ["limit=0", "limit=1001", "limit=-5"] {
        let (status, body) = app
            .get(&format!("/api/v1/audit/events?{query}"), Some(&auditor))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("limit_invalid")),
            "{query}: {body}"
        );
    }
    let (status, body) = app
        .get("/api/v1/audit/events?after=-1", Some(&auditor))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("cursor_invalid"))
    );
    let (status, _) = app
        .get("/api/v1/audit/events?after=0&limit=1000", Some(&auditor))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_13_mb_csr_is_csr_too_large_and_an_over_long_code_otp_code_too_long() {
    use crate::common::contract::{sign, signature};
    let mut app = TestApp::spawn().await;
    let key = crate::common::enrol::enrol_key(&mut app).await;
    let enrolment = crate::common::contract::contracted(&app, &key, 31).await;

    let path = format!("/api/v1/enrolments/{enrolment}/certificate");
    for chunked in [false, true] {
        let (base, path2, auth) = (
            app.base.clone(),
            path.clone(),
            format!("Authorization: Bearer {key}\r\n"),
        );
        let answer =
            tokio::task::spawn_blocking(move || oversized(&base, &path2, &auth, 13 << 20, chunked))
                .await
                .unwrap();
        let (status, body) = checked(&path, answer);
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("csr_too_large")),
            "{body}"
        );
        assert_eq!(body["message"], "the CSR is larger than 16384 bytes");
    }

    // The contract of a fresh enrolment: its code is refused by length before it is compared.
    let id = crate::common::enrol::enrol(
        &app,
        &key,
        &crate::common::enrol::application("vneid", &crate::common::enrol::id_number(32)),
    )
    .await;
    let (status, contract) = app
        .post(
            &format!("/api/v1/enrolments/{id}/contract"),
            Some(&key),
            json!({"package_code": "PS0"}),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    let long_code = "1".repeat(17);
    let (status, body) = sign(
        &app,
        &key,
        contract["id"].as_str().unwrap(),
        json!({"agree": true, "signature_image": signature(), "otp_code": long_code}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("otp_code_too_long")),
        "{body}"
    );
    assert_quotes_nothing(&body, &long_code);
}

#[tokio::test]
async fn the_relayed_user_agent_refuses_control_and_bidi_override_characters() {
    use crate::common::certificates::{issued, Citizen};
    let mut app = TestApp::spawn().await;
    let key = crate::common::enrol::enrol_key(&mut app).await;
    let citizen = Citizen::new(41, ("Phường Cửa Nam", "Thành phố Hà Nội"));
    let (_, serial) = issued(&app, &key, &citizen).await;
    for user_agent in [
        "SmartCA/5.2\u{202E}gpj.exe",
        "SmartCA\r\nX-Injected: 1",
        "a\u{0}b",
    ] {
        let (status, body) = app
            .post(
                &format!("/api/v1/certificates/{serial}/acceptance"),
                Some(&key),
                json!({"agree": true, "otp_code": "123456", "user_agent": user_agent}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("validation_failed")),
            "{body}"
        );
        assert_eq!(body["errors"][0]["field"], "user_agent");
        assert_eq!(body["errors"][0]["code"], "text_invalid_characters");
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{serial}/acceptance"),
            Some(&key),
            json!({"agree": true, "otp_code": "123456", "user_agent": "x".repeat(513)}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["code"], "text_too_long",
        "{status} {body}"
    );
}

#[tokio::test]
async fn nationality_e_mail_birth_and_consent_dates_are_checked() {
    use crate::common::enrol::{application, enrol_key, id_for, submit};
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let born = chrono::NaiveDate::from_ymd_opt(1900, 5, 17).unwrap();
    let mut body = application("app_ekyc", &id_for(born, false, 7));
    body["identity"]["date_of_birth"] = json!("1900-05-17");
    body["identity"]["nationality"] = json!("Lào");
    body["contact"]["email"] = json!("a@b");
    body["consent"]["given_at"] = json!("1970-01-01T00:00:00Z");
    let (status, answer) = submit(&app, &key, "edge-10", &body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let mut refused: Vec<(String, String)> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e["message_vi"].as_str().unwrap().is_empty());
            (
                e["field"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    refused.sort();
    let expected = [
        ("consent.given_at", "consent_time_invalid"),
        ("contact.email", "email_format"),
        ("identity.date_of_birth", "birth_date_too_early"),
        ("identity.nationality", "nationality_unsupported"),
    ]
    .map(|(f, c)| (f.to_string(), c.to_string()));
    assert_eq!(refused, expected, "{answer}");

    // The listed spellings are kept as Việt Nam.
    let mut body = application("app_ekyc", &crate::common::enrol::id_number(8));
    body["identity"]["nationality"] = json!("VN");
    let (status, view) = submit(&app, &key, "edge-10b", &body).await;
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap();
    let kept = crate::common::enrol::count(
        &app.env,
        &format!(
            "SELECT COUNT(*) AS n FROM enrolments WHERE id = '{id}' AND nationality = 'Việt Nam'"
        ),
    );
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn a_refused_csr_leaves_an_audit_event() {
    let mut app = TestApp::spawn().await;
    let key = crate::common::enrol::enrol_key(&mut app).await;
    let enrolment = crate::common::contract::contracted(&app, &key, 51).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(&key),
            json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("csr_malformed"))
    );
    let events = crate::common::enrol::audit_actions(&mut app, "certificate.request_refused").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["object_type"], "enrolment");
    assert_eq!(events[0]["object_id"], enrolment);
    let details: Value = serde_json::from_str(events[0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["code"], "csr_malformed");
    // Nothing else moved: the enrolment still waits for a CSR.
    assert_eq!(
        crate::common::enrol::enrolment_status(&app, &key, &enrolment).await,
        "contract_signed"
    );
}

#[tokio::test]
async fn every_api_answer_says_nosniff_and_no_store() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for (path, token) in [
        ("/api/v1/whoami", Some(admin.as_str())),
        ("/api/v1/whoami", None),
        ("/api/v1/no-such-thing", None),
        ("/api/v1/packages", None),
    ] {
        let mut req = app.http.get(app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
}

#[tokio::test]
async fn a_signature_that_does_not_decode_or_shows_no_ink_signs_nothing() {
    use crate::common::contract::{b64, drawn, sign, sign_with_sms_code};
    let mut app = TestApp::spawn().await;
    let key = crate::common::enrol::enrol_key(&mut app).await;
    let id = crate::common::enrol::enrol(
        &app,
        &key,
        &crate::common::enrol::application("vneid", &crate::common::enrol::id_number(61)),
    )
    .await;
    let (_, contract) = app
        .post(
            &format!("/api/v1/enrolments/{id}/contract"),
            Some(&key),
            json!({"package_code": "PS0"}),
        )
        .await;
    let contract = contract["id"].as_str().unwrap();
    // Header and trailer of a 600x200 PNG, no pixels: it used to pass.
    let mut empty = drawn(600, 200, true);
    let iend = empty.split_off(empty.len() - 12);
    empty.truncate(33);
    empty.extend_from_slice(&iend);
    for (image, reason) in [
        (drawn(600, 200, false), "the signature has no visible ink"),
        (empty, "the PNG cannot be decoded"),
    ] {
        let (status, body) = sign(
            &app,
            &key,
            contract,
            json!({"agree": true, "signature_image": b64(&image), "otp_code": "123456"}),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("signature_image_invalid")),
            "{body}"
        );
        assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
    }
    // A drawn one still signs.
    sign_with_sms_code(&app, &key, contract).await;
}
