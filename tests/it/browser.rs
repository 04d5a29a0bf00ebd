//! End-to-end scenarios in headless Chromium (`tests/browser/*.mjs`, playwright-core) against
//! the real application on port 0: data is prepared through the API, the scenario works the
//! pages as an operator would, and the outcome is checked through the API again. Screenshots
//! land in `target/browser-screenshots/`.

use crate::common;

use common::browser::{picture, run_scenario, run_scenario_with_codes};
use common::enrol::{application, enrol, enrol_key, enrolment_status, id_number, put_document};
use common::{Credentials, TestApp};

/// A new operator account whose one-time password was replaced through the API: it signs in
/// on the page with password and TOTP code.
async fn operator(app: &mut TestApp, username: &str, role: &str) -> Credentials {
    let admin = app.admin_token().await;
    let mut creds = app.create_operator(&admin, username, role).await;
    app.session(&mut creds).await;
    // The page's sign-in must not reuse the code the API sign-in just used.
    app.next_totp_step();
    creds
}

fn sign_in_vars(who: &Credentials) -> Vec<(&'static str, String)> {
    vec![
        ("USERNAME", who.username.clone()),
        ("PASSWORD", who.password.clone()),
        ("TOTP_SECRET", who.totp_secret.clone()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_signs_in_with_totp_takes_a_video_call_and_approves_it() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let enrolment = enrol(&app, &key, &application("app_ekyc", &id_number(7))).await;
    let colours = [
        ("id_front", [40, 90, 170], [200, 220, 240]),
        ("id_back", [60, 120, 90], [210, 235, 215]),
        ("portrait", [180, 140, 110], [90, 60, 40]),
        ("liveness", [170, 150, 120], [70, 50, 30]),
    ];
    for (kind, top, bottom) in colours {
        let image = picture(600, 400, top, bottom);
        let (status, body) = put_document(&app, &key, &enrolment, kind, image, "image/png").await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        enrolment_status(&app, &key, &enrolment).await,
        "awaiting_video_call"
    );
    let who = operator(&mut app, "vc.browser", "operator").await;
    let mut vars = sign_in_vars(&who);
    vars.push(("APPLICANT_NAME", "Nguyễn Văn An".into()));
    vars.push(("ENROLMENT_ID", enrolment.clone()));
    run_scenario(&app, "video-call", &vars).await;

    assert_eq!(enrolment_status(&app, &key, &enrolment).await, "verified");
    let reads = common::enrol::audit_actions(&mut app, "enrolment.document_read").await;
    assert!(
        reads.len() >= 4 && reads.iter().all(|e| e["actor"] == "operator:vc.browser"),
        "every image the browser showed was an audited read: {reads:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_counter_enrolment_first_shows_the_validation_error_then_succeeds() {
    let mut app = TestApp::spawn().await;
    let who = operator(&mut app, "desk.browser", "operator").await;
    // What the API says about the same ID number and date of birth.
    let mut body = application("counter", "001195000777");
    body["identity"]["date_of_birth"] = serde_json::json!("1985-03-07");
    body["identity"]["sex"] = serde_json::json!("female");
    body["consent"]["channel"] = serde_json::json!("counter");
    let mut api_user = operator(&mut app, "desk.api", "operator").await;
    let token = app.session(&mut api_user).await;
    let (status, problem) = common::enrol::submit(&app, &token, "k", &body).await;
    assert_eq!(status, 422, "{problem}");
    let expected = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "identity.id_number")
        .and_then(|e| e["message_vi"].as_str())
        .unwrap()
        .to_string();

    let scan = tempfile::NamedTempFile::with_suffix(".png").unwrap();
    std::fs::write(
        scan.path(),
        picture(600, 400, [30, 80, 160], [220, 230, 245]),
    )
    .unwrap();
    let mut vars = sign_in_vars(&who);
    vars.push(("EXPECTED_ERROR", expected));
    vars.push(("SCAN_FILE", scan.path().display().to_string()));
    app.next_totp_step();
    let output = run_scenario(&app, "counter", &vars).await;

    let id = output
        .lines()
        .find_map(|l| l.strip_prefix("ENROLMENT_ID="))
        .expect("the scenario names the enrolment")
        .trim()
        .to_string();
    // A counter enrolment belongs to no integration: an operator reads it.
    assert_eq!(enrolment_status(&app, &token, &id).await, "verified");
    let (_, view) = app
        .get(&format!("/api/v1/enrolments/{id}"), Some(&token))
        .await;
    assert_eq!(view["documents"], serde_json::json!(["id_front"]));
    let submitted = common::enrol::audit_actions(&mut app, "enrolment.submitted").await;
    assert!(submitted
        .iter()
        .any(|e| e["actor"] == "operator:desk.browser" && e["object_id"] == id.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ra_officer_revokes_a_certificate_and_sees_it_revoked() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let citizen = common::certificates::Citizen::new(21, ("Phường Cửa Nam", "Thành phố Hà Nội"));
    let (_, serial) = common::certificates::active(&app, &key, &citizen).await;
    let who = operator(&mut app, "ra.browser", "ra_officer").await;
    let mut vars = sign_in_vars(&who);
    vars.push(("ID_NUMBER", citizen.id_number.clone()));
    vars.push(("SERIAL", serial.clone()));
    run_scenario(&app, "revoke", &vars).await;

    let admin = app.admin_token().await;
    let (_, cert) = app
        .get(&format!("/api/v1/certificates/{serial}"), Some(&admin))
        .await;
    assert_eq!(cert["status"], "revoked", "{cert}");
    assert_eq!(cert["revocation_reason"], "keyCompromise");
    let revoked = common::enrol::audit_actions(&mut app, "certificate.revoked").await;
    assert!(revoked
        .iter()
        .any(|e| e["actor"] == "operator:ra.browser" && e["object_id"] == serial.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ra_officer_sees_the_contract_the_drawn_signature_and_the_acceptance_record() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    let citizen = common::certificates::Citizen::new(23, ("Phường Buôn Ma Thuột", "Tỉnh Đắk Lắk"));
    let (enrolment, serial) = common::certificates::active(&app, &key, &citizen).await;
    let who = operator(&mut app, "docs.browser", "ra_officer").await;
    let mut vars = sign_in_vars(&who);
    vars.push(("ENROLMENT_ID", enrolment));
    vars.push(("SERIAL", serial));
    run_scenario(&app, "documents", &vars).await;

    // Every view the pages made (frames, the scenario's checks, the signature) was audited.
    for (action, at_least) in [
        ("contract.document_read", 2),
        ("contract.signature_read", 1),
        ("acceptance.document_read", 2),
    ] {
        let reads = common::enrol::audit_actions(&mut app, action).await;
        assert!(
            reads.len() >= at_least && reads.iter().all(|e| e["actor"] == "operator:docs.browser"),
            "{action}: {reads:?}"
        );
    }
}

/// No page is wider than a 1366 px screen, for any role: `widths.mjs` walks every page each
/// role reaches by links from the dashboard (and the video-call page for an operator), and the
/// confirmation pages of the admin's four dangerous forms and the no-show, and fails on any
/// that scrolls sideways.
#[tokio::test(flavor = "multi_thread")]
async fn no_operator_page_is_wider_than_a_1366_px_screen() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    // A certificate (its pages, its change forms, its enrolment) and an applicant with
    // documents waiting for a video call.
    let citizen = common::certificates::Citizen::new(31, ("Phường Cửa Nam", "Thành phố Hà Nội"));
    common::certificates::active(&app, &key, &citizen).await;
    let queued = enrol(&app, &key, &application("app_ekyc", &id_number(32))).await;
    common::enrol::upload_all(&app, &key, &queued).await;
    for (role, min_pages) in [
        ("operator", 7),
        ("ra_officer", 9),
        ("admin", 6),
        ("auditor", 5),
    ] {
        let who = operator(&mut app, &format!("wide.{role}"), role).await;
        let mut vars = sign_in_vars(&who);
        vars.push(("ROLE", role.to_string()));
        vars.push(("MIN_PAGES", min_pages.to_string()));
        if role == "operator" {
            vars.push(("TAKE_CALL", "1".into()));
        }
        if role == "admin" {
            vars.push(("MIN_CONFIRMATIONS", "4".into()));
        }
        app.next_totp_step();
        let output = run_scenario(&app, "widths", &vars).await;
        let walked = output.lines().find(|l| l.starts_with("checked "));
        println!("{role}: {}", walked.unwrap_or("?"));
    }
}

/// The whole desk path in the pages (`counter-path.mjs`), a screenshot per step.
#[tokio::test(flavor = "multi_thread")]
async fn the_counter_path_goes_from_registration_to_an_active_certificate() {
    let mut app = TestApp::spawn().await;
    let who = operator(&mut app, "desk.path", "operator").await;
    let mut vars = sign_in_vars(&who);
    vars.push(("SCENARIO_NAME", "counter-path".into()));
    // Born 1990, female (`1` in the ID number's fourth digit).
    vars.push(("ID_NUMBER", "001190000851".into()));
    vars.push(("PHONE", "0987654321".into()));
    // Five PDFs are rendered or sealed on the way: room for a slow debug build.
    vars.push(("SCENARIO_TIMEOUT_MS", "600000".into()));
    app.next_totp_step();
    let output = run_scenario_with_codes(&app, "counter-path", &vars, "+84987654321").await;
    let value = |name: &str| {
        output
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("the scenario names {name}:\n{output}"))
            .trim()
            .to_string()
    };
    let (id, serial) = (value("ENROLMENT_ID"), value("SERIAL"));

    let admin = app.admin_token().await;
    let (_, cert) = app
        .get(&format!("/api/v1/certificates/{serial}"), Some(&admin))
        .await;
    assert_eq!(cert["status"], "active", "{cert}");
    assert_eq!(cert["enrolment_id"], id.as_str(), "{cert}");
    // The citizen's acts are recorded as made at this desk by this operator, each confirmed
    // by the code sent to the citizen's phone.
    for action in [
        "contract.signed",
        "credential.created",
        "certificate.accepted",
    ] {
        let events = common::enrol::audit_actions(&mut app, action).await;
        assert!(
            events.iter().any(|e| e["actor"] == "operator:desk.path"),
            "{action}: {events:?}"
        );
    }
}
