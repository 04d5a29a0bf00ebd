//! The video-call queue: order, leases, outcomes, no-shows, statistics, and claims racing
//! in one process and across two processes on one database.

use crate::common;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use common::enrol::*;
use common::{wait_ready, Credentials, ServeProcess, TestApp, TestEnv};
use serde_json::{json, Value};

/// An app whose VNeID applications go to the video-call queue: the quickest way to fill it.
async fn queueing_app() -> (TestApp, String) {
    let mut app = TestApp::spawn_with(TestEnv::new(), |c| {
        c.enrolment.routing.vneid = ca_enrol::enrolment::Route::VideoCall;
        // The lease tests leave an operator idle longer than the default 15 minutes.
        c.security.session_idle_minutes = 60;
    })
    .await;
    let key = enrol_key(&mut app).await;
    (app, key)
}

async fn claim(app: &TestApp, op: &str) -> (u16, Value) {
    app.post("/api/v1/verification/claim", Some(op), json!({}))
        .await
}

async fn outcome(app: &TestApp, op: &str, vid: &str, body: Value) -> (u16, Value) {
    app.post(
        &format!("/api/v1/verification/{vid}/outcome"),
        Some(op),
        body,
    )
    .await
}

async fn call_state(app: &TestApp, key: &str, enrolment: &str) -> Value {
    let (status, body) = app
        .get(
            &format!("/api/v1/enrolments/{enrolment}/video-call"),
            Some(key),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn the_queue_is_served_in_the_order_applicants_joined() {
    let (mut app, key) = queueing_app().await;
    let op = staff(&mut app, "vc.one", "operator").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = enrol(&app, &key, &application("vneid", &id_number(n))).await;
        ids.push(id);
        app.clock.advance(Duration::seconds(10));
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(call_state(&app, &key, id).await["position"], i + 1);
    }

    let (status, first) = claim(&app, &op).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["enrolment_id"], ids[0].as_str());
    assert_eq!(first["applicant"]["full_name"], "Nguyễn Văn An");
    assert_eq!(first["checklist_items"].as_array().unwrap().len(), 5);
    // The applicant's app now sees the room the operator is in.
    let state = call_state(&app, &key, &ids[0]).await;
    assert_eq!(state["state"], "in_call");
    assert_eq!(state["room_ref"], first["room_ref"]);
    assert_eq!(call_state(&app, &key, &ids[1]).await["position"], 1);

    let (_, second) = claim(&app, &op).await;
    assert_eq!(second["enrolment_id"], ids[1].as_str());
    let (_, third) = claim(&app, &op).await;
    assert_eq!(third["enrolment_id"], ids[2].as_str());
    let (status, _) = claim(&app, &op).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn a_lapsed_lease_returns_the_applicant_to_the_head_of_the_queue() {
    let (mut app, key) = queueing_app().await;
    let one = staff(&mut app, "vc.one", "operator").await;
    let two = staff(&mut app, "vc.two", "operator").await;
    let a = enrol(&app, &key, &application("vneid", &id_number(1))).await;
    app.clock.advance(Duration::seconds(5));
    let b = enrol(&app, &key, &application("vneid", &id_number(2))).await;

    let (_, held) = claim(&app, &one).await;
    assert_eq!(held["enrolment_id"], a.as_str());
    let vid = held["verification_id"].as_str().unwrap().to_string();

    // Renewal keeps it past the first 15 minutes.
    app.clock.advance(Duration::minutes(10));
    let (status, lease) = app
        .post(
            &format!("/api/v1/verification/{vid}/lease"),
            Some(&one),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{lease}");
    let (status, body) = app
        .post(
            &format!("/api/v1/verification/{vid}/lease"),
            Some(&two),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_lease_holder"))
    );
    app.clock.advance(Duration::minutes(10));
    assert_eq!(call_state(&app, &key, &a).await["state"], "in_call");

    // Then it lapses: A is waiting again, ahead of B.
    app.clock.advance(Duration::minutes(6));
    let state = call_state(&app, &key, &a).await;
    assert_eq!(
        (&state["state"], &state["position"]),
        (&json!("waiting"), &json!(1))
    );
    assert_eq!(call_state(&app, &key, &b).await["position"], 2);
    let (status, body) = outcome(&app, &one, &vid, approval()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("lease_expired"))
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/verification/{vid}/lease"),
            Some(&one),
            json!({}),
        )
        .await;
    assert_eq!(status, 409);

    let (_, retaken) = claim(&app, &two).await;
    assert_eq!(retaken["enrolment_id"], a.as_str());
    assert_ne!(retaken["room_ref"], held["room_ref"]);
    let (status, body) = outcome(&app, &one, &vid, approval()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_lease_holder"))
    );
    let (status, body) = outcome(&app, &two, &vid, approval()).await;
    assert_eq!(status, 200, "{body}");
    let claims = audit_actions(&mut app, "verification.claimed").await;
    assert!(claims[1]["details"]
        .as_str()
        .unwrap()
        .contains("lease_lapsed_from"));
}

#[tokio::test]
async fn approval_needs_every_checklist_item_and_rejection_a_listed_reason_and_a_note() {
    let (mut app, key) = queueing_app().await;
    let op = staff(&mut app, "vc.one", "operator").await;
    let a = enrol(&app, &key, &application("vneid", &id_number(1))).await;
    let b = enrol(&app, &key, &application("vneid", &id_number(2))).await;

    let (_, held) = claim(&app, &op).await;
    let vid = held["verification_id"].as_str().unwrap().to_string();
    let mut partial = approval();
    partial["checklist"]["applicant_wants_certificate"] = json!(false);
    partial["recording"]["sha256"] = json!("not-hex");
    let (status, body) = outcome(&app, &op, &vid, partial).await;
    assert_eq!(status, 422, "{body}");
    let fields: HashSet<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        HashSet::from(["checklist.applicant_wants_certificate", "recording.sha256"])
    );
    let (status, body) = outcome(&app, &op, &vid, approval()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enrolment_status"], "verified");
    let (_, view) = app
        .get(&format!("/api/v1/enrolments/{a}"), Some(&key))
        .await;
    assert_eq!(view["verified_by"], "video_call");
    assert_eq!(
        count(
            &app.env,
            "SELECT COUNT(*) AS n FROM video_call_outcomes WHERE recording_sha256 = \
             'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
             AND recording_uri LIKE 's3://%'"
        ),
        1
    );
    let (status, _) = outcome(&app, &op, &vid, approval()).await;
    assert_eq!(status, 409, "a closed call takes no second outcome");

    let (_, held) = claim(&app, &op).await;
    let vid = held["verification_id"].as_str().unwrap().to_string();
    let reject = |reason: &str, note: &str| json!({"outcome": "rejected", "reason_code": reason, "note": note, "recording": recording()});
    let (status, body) = outcome(&app, &op, &vid, reject("looked_nervous", "")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    let (status, body) = outcome(
        &app,
        &op,
        &vid,
        reject("face_mismatch", "Khuôn mặt không khớp với ảnh trên thẻ."),
    )
    .await;
    assert_eq!(
        (status, &body["enrolment_status"]),
        (200, &json!("rejected"))
    );
    let (_, view) = app
        .get(&format!("/api/v1/enrolments/{b}"), Some(&key))
        .await;
    assert_eq!(view["next_step"], "apply_again");
}

#[tokio::test]
async fn a_no_show_goes_to_the_back_and_the_fourth_expires_the_enrolment() {
    let (mut app, key) = queueing_app().await;
    let op = staff(&mut app, "vc.one", "operator").await;
    let a = enrol(&app, &key, &application("vneid", &id_number(1))).await;
    app.clock.advance(Duration::seconds(5));
    let b = enrol(&app, &key, &application("vneid", &id_number(2))).await;
    let no_show = json!({"outcome": "no_show"});

    let (_, held) = claim(&app, &op).await;
    assert_eq!(held["enrolment_id"], a.as_str());
    let vid = held["verification_id"].as_str().unwrap().to_string();
    app.clock.advance(Duration::seconds(5));
    let (status, r) = outcome(&app, &op, &vid, no_show.clone()).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!((&r["requeued"], &r["no_shows"]), (&json!(true), &json!(1)));
    // Behind B now.
    let (_, next) = claim(&app, &op).await;
    assert_eq!(next["enrolment_id"], b.as_str());

    for missed in 2..=4 {
        app.clock.advance(Duration::seconds(5));
        let (_, held) = claim(&app, &op).await;
        assert_eq!(held["enrolment_id"], a.as_str());
        assert_eq!(held["verification_id"], vid.as_str());
        let (status, r) = outcome(&app, &op, &vid, no_show.clone()).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["no_shows"], missed);
        if missed < 4 {
            assert_eq!(r["enrolment_status"], "awaiting_video_call");
        } else {
            assert_eq!(
                (&r["requeued"], &r["enrolment_status"]),
                (&json!(false), &json!("expired"))
            );
        }
    }
    let (status, _) = claim(&app, &op).await;
    assert_eq!(status, 204);
    assert_eq!(call_state(&app, &key, &a).await["state"], "done");
    let (_, view) = app
        .get(&format!("/api/v1/enrolments/{a}"), Some(&key))
        .await;
    assert_eq!(view["status"], "expired");
}

#[tokio::test]
async fn queue_statistics_are_for_ra_officers_and_admins() {
    let (mut app, key) = queueing_app().await;
    let op = staff(&mut app, "vc.one", "operator").await;
    let ra = staff(&mut app, "ra.one", "ra_officer").await;
    for n in 0..3 {
        enrol(&app, &key, &application("vneid", &id_number(n))).await;
        app.clock.advance(Duration::minutes(2));
    }
    let (_, held) = claim(&app, &op).await;
    let vid = held["verification_id"].as_str().unwrap().to_string();
    outcome(&app, &op, &vid, approval()).await;

    let (status, _) = app.get("/api/v1/verification/stats", Some(&op)).await;
    assert_eq!(status, 403);
    let (status, _) = app.get("/api/v1/verification/stats", Some(&key)).await;
    assert_eq!(status, 403);
    let (status, stats) = app.get("/api/v1/verification/stats", Some(&ra)).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["waiting"], 2);
    assert_eq!(stats["in_call"], 0);
    let oldest = stats["oldest_wait_seconds"].as_i64().unwrap();
    let median = stats["median_wait_seconds"].as_i64().unwrap();
    assert!(oldest > median && median >= 60, "{stats}");
    assert_eq!(
        stats["handled_today"],
        json!([{"username": "vc.one", "approved": 1, "rejected": 0, "no_show": 0}])
    );
    let admin = app.admin_token().await;
    let (status, _) = app.get("/api/v1/verification/stats", Some(&admin)).await;
    assert_eq!(status, 200);
}

const APPLICANTS: u32 = 500;
const CLAIMERS: usize = 16;

/// Registers `APPLICANTS` VNeID applications through the hub connector (routed to the
/// queue), 8 at a time.
async fn seed(bases: &[String], clock_offset: i64) {
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (client, next, base) = (client.clone(), next.clone(), bases[w % bases.len()].clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= APPLICANTS {
                    break;
                }
                // As the hub registers them, as of the servers' clock.
                let claims = ca_enrol::vneid::sim::registration_claims(
                    &application("vneid", &id_number(n)),
                    &format!("seed-{n}"),
                    "ca-enrol",
                    chrono::Utc::now().timestamp() + clock_offset,
                );
                let r = client
                    .post(format!("{base}/api/v1/vneid/registrations"))
                    .header("Content-Type", "application/jose")
                    .body(common::vneid::hub().sign(&claims).unwrap())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// `CLAIMERS` tasks claim until the queue is empty; returns every (verification, enrolment)
/// handed out.
async fn race(targets: Vec<(String, String)>) -> Vec<(String, String)> {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..CLAIMERS {
        let (base, token) = targets[i % targets.len()].clone();
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let r = client
                    .post(format!("{base}/api/v1/verification/claim"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                match r.status().as_u16() {
                    204 => break,
                    200 => {
                        let c: Value = r.json().await.unwrap();
                        got.push((
                            c["verification_id"].as_str().unwrap().to_string(),
                            c["enrolment_id"].as_str().unwrap().to_string(),
                        ));
                    }
                    s => panic!("claim answered {s}: {}", r.text().await.unwrap()),
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn assert_each_claimed_once(claims: &[(String, String)]) {
    let calls: HashSet<&str> = claims.iter().map(|(v, _)| v.as_str()).collect();
    let enrolments: HashSet<&str> = claims.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(claims.len(), APPLICANTS as usize, "none lost, none twice");
    assert_eq!(calls.len(), APPLICANTS as usize);
    assert_eq!(enrolments.len(), APPLICANTS as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_claimers_take_five_hundred_applicants_each_exactly_once() {
    let (mut app, _) = queueing_app().await;
    let mut targets = Vec::new();
    for i in 0..4 {
        let token = staff(&mut app, &format!("vc.{i}"), "operator").await;
        targets.push((app.base.clone(), token));
    }
    seed(
        &[app.base.clone()],
        app.now() - chrono::Utc::now().timestamp(),
    )
    .await;
    let claims = race(targets).await;
    assert_each_claimed_once(&claims);
    assert_eq!(
        count(
            &app.env,
            "SELECT COUNT(*) AS n FROM video_calls WHERE status = 'claimed'"
        ),
        i64::from(APPLICANTS)
    );
}

/// Signs in over HTTP at the real time, replacing the one-time password on first use.
async fn sign_in(client: &reqwest::Client, base: &str, who: &mut Credentials) -> String {
    let code = who.code_at(chrono::Utc::now().timestamp());
    let login: Value = client
        .post(format!("{base}/api/v1/operator/session"))
        .json(&json!({"username": who.username, "password": who.password, "totp_code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"))
        .to_string();
    let new_password = format!("{}-changed", who.password);
    let r = client
        .post(format!("{base}/api/v1/operator/password"))
        .bearer_auth(&token)
        .json(&json!({"current_password": who.password, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    // The first change answers the TOTP secret that replaces the administrator's.
    assert_eq!(r.status(), 200);
    let own: Value = r.json().await.unwrap();
    who.password = new_password;
    who.totp_secret = own["totp_secret"].as_str().unwrap().to_string();
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_hand_each_applicant_to_exactly_one_operator() {
    let env = TestEnv::new();
    std::fs::write(
        env.dir.path().join("ca-enrol.toml"),
        "[enrolment.routing]\nvneid = \"video_call\"\n",
    )
    .unwrap();
    let a = ServeProcess::start(&env);
    let b = ServeProcess::start(&env);
    wait_ready(&a.base).await;
    wait_ready(&b.base).await;
    let mut admin = [&a, &b]
        .iter()
        .find_map(|p| p.printed_admin())
        .expect("one process created the admin");
    let client = reqwest::Client::new();
    let admin_token = sign_in(&client, &a.base, &mut admin).await;

    let mut targets = Vec::new();
    for i in 0..4 {
        let created: Value = client
            .post(format!("{}/api/v1/operators", a.base))
            .bearer_auth(&admin_token)
            .json(&json!({"username": format!("vc.{i}"), "role": "operator"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut creds = Credentials {
            username: format!("vc.{i}"),
            password: created["one_time_password"].as_str().unwrap().into(),
            totp_secret: created["totp_secret"].as_str().unwrap().into(),
        };
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        targets.push((base.clone(), sign_in(&client, base, &mut creds).await));
    }
    seed(&[a.base.clone(), b.base.clone()], 0).await;
    let claims = race(targets).await;
    assert_each_claimed_once(&claims);

    // Both processes wrote one intact audit chain.
    let report: Value = client
        .get(format!("{}/api/v1/audit/verify", b.base))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
}
