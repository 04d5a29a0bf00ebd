//! Adoption reports through the API: certificates issued, accepted and active per province
//! and ward, by Vietnamese day or month, as JSON and CSV.

use crate::common;

use ca_enrol::clock::Clock;
use chrono::{Datelike, Duration, NaiveDate, Timelike};
use common::certificates::{accept, active, issued, Citizen};
use common::enrol::{enrol_key, staff, vietnam_today};
use common::TestApp;
use serde_json::{json, Value};

const HA_NOI: &str = "Thành phố Hà Nội";
const NGHE_AN: &str = "Tỉnh Nghệ An";
const HCM: &str = "Thành phố Hồ Chí Minh";

/// Moves the clock to the next 16:30 UTC (23:30 in Vietnam) whose Vietnamese date is not the
/// last day of a month, so that the next hour crosses a Vietnamese day but not a month.
fn to_vietnamese_half_past_eleven(app: &TestApp) {
    let now = app.clock.now();
    let mut target = now
        .with_hour(16)
        .and_then(|t| t.with_minute(30))
        .and_then(|t| t.with_second(0))
        .unwrap();
    if target <= now {
        target += Duration::days(1);
    }
    while ((target + Duration::hours(8)).date_naive()).day() == 1 {
        target += Duration::days(1);
    }
    app.clock.advance(target - now);
}

async fn report(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/reports/issuance?{query}"), Some(token))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// (period, province, ward or "", issued, accepted, active) of every row.
fn rows(report: &Value) -> Vec<(String, String, String, i64, i64, i64)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["period"].as_str().unwrap().to_string(),
                r["province"].as_str().unwrap().to_string(),
                r["ward"].as_str().unwrap_or("").to_string(),
                r["issued"].as_i64().unwrap(),
                r["accepted"].as_i64().unwrap(),
                r["active"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn row(
    period: NaiveDate,
    province: &str,
    ward: &str,
    figures: (i64, i64, i64),
) -> (String, String, String, i64, i64, i64) {
    (
        period.to_string(),
        province.to_string(),
        ward.to_string(),
        figures.0,
        figures.1,
        figures.2,
    )
}

/// Three citizens, all with ID numbers registered in Hà Nội (`001`):
/// - A lives in Hà Nội (Phường Cửa Nam): issued and accepted at 23:30 on day D, revoked at
///   00:30 on D+1;
/// - B lives in Nghệ An (permanent address) and Hồ Chí Minh City (current residence): issued at
///   23:30 on D, accepted at 00:30 on D+1;
/// - C lives in Hà Nội (Phường Hoàn Kiếm): issued and accepted at 00:30 on D+1.
///
/// Returns day D.
async fn three_citizens_across_midnight(app: &mut TestApp) -> NaiveDate {
    let key = enrol_key(app).await;
    to_vietnamese_half_past_eleven(app);
    let day = vietnam_today(app);
    let a = Citizen::new(1, ("Phường Cửa Nam", HA_NOI));
    let mut b = Citizen::new(2, ("Phường Trường Vinh", NGHE_AN));
    b.current = Some(("Phường Sài Gòn", HCM));
    let c = Citizen::new(3, ("Phường Hoàn Kiếm", HA_NOI));
    let (_, serial_a) = active(app, &key, &a).await;
    let (_, serial_b) = issued(app, &key, &b).await;
    app.clock.advance(Duration::hours(1));
    assert_eq!(vietnam_today(app), day + Duration::days(1));
    active(app, &key, &c).await;
    accept(app, &key, &b, &serial_b).await;
    let officer = staff(app, "ra.officer", "ra_officer").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{serial_a}/revoke"),
            Some(&officer),
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    day
}

#[tokio::test(flavor = "multi_thread")]
async fn figures_follow_the_address_by_vietnamese_day_never_the_id_number_province() {
    let mut app = TestApp::spawn().await;
    let d = three_citizens_across_midnight(&mut app).await;
    let d1 = d + Duration::days(1);
    let auditor = staff(&mut app, "auditor.one", "auditor").await;

    let by_day = report(&app, &auditor, &format!("from={d}&to={d1}")).await;
    assert_eq!(
        rows(&by_day),
        vec![
            // 23:30 and 00:30 in Vietnam are one UTC day but two Vietnamese days.
            row(d, HA_NOI, "", (1, 1, 1)),
            row(d, NGHE_AN, "", (1, 0, 0)),
            // A revoked, C issued and accepted: still one active in Hà Nội.
            row(d1, HA_NOI, "", (1, 1, 1)),
            row(d1, NGHE_AN, "", (0, 1, 1)),
        ],
        "{by_day}"
    );
    let totals: Vec<_> = by_day["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["period"].as_str().unwrap().to_string(),
                t["issued"].as_i64().unwrap(),
                t["accepted"].as_i64().unwrap(),
                t["active"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        vec![(d.to_string(), 2, 1, 1), (d1.to_string(), 1, 2, 2)]
    );
    assert_eq!(by_day["utc_offset"], "+07:00");
    assert_eq!(by_day["period"], "day");
    assert_eq!(by_day["address"], "permanent");

    // Certificates accepted before the range still count as active in it.
    let second_day = report(&app, &auditor, &format!("from={d1}&to={d1}")).await;
    assert_eq!(
        rows(&second_day),
        vec![
            row(d1, HA_NOI, "", (1, 1, 1)),
            row(d1, NGHE_AN, "", (0, 1, 1))
        ]
    );

    // The current residence places B in Hồ Chí Minh City instead.
    let current = report(&app, &auditor, &format!("from={d}&to={d1}&address=current")).await;
    assert_eq!(
        rows(&current),
        vec![
            row(d, HA_NOI, "", (1, 1, 1)),
            row(d, HCM, "", (1, 0, 0)),
            row(d1, HA_NOI, "", (1, 1, 1)),
            row(d1, HCM, "", (0, 1, 1)),
        ]
    );

    // By ward, in one province: A's ward drops to zero when A is revoked.
    let wards = report(
        &app,
        &auditor,
        &format!("from={d}&to={d1}&level=ward&province={HA_NOI}"),
    )
    .await;
    assert_eq!(
        rows(&wards),
        vec![
            row(d, HA_NOI, "Phường Cửa Nam", (1, 1, 1)),
            row(d1, HA_NOI, "Phường Cửa Nam", (0, 0, 0)),
            row(d1, HA_NOI, "Phường Hoàn Kiếm", (1, 1, 1)),
        ],
        "{wards}"
    );

    // By month: both days fall in one month.
    let month = d.format("%Y-%m").to_string();
    let by_month = report(&app, &auditor, &format!("period=month&from={month}")).await;
    let month_rows: Vec<_> = rows(&by_month)
        .into_iter()
        .map(|(p, prov, _, i, a, n)| (p, prov, i, a, n))
        .collect();
    assert_eq!(
        month_rows,
        vec![
            (month.clone(), HA_NOI.to_string(), 2, 2, 1),
            (month.clone(), NGHE_AN.to_string(), 1, 1, 1),
        ]
    );
    assert_eq!(
        by_month["to"],
        d1.to_string(),
        "a month reaching past today ends today"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_stop_being_active_when_they_expire() {
    let mut app = TestApp::spawn().await;
    let d = three_citizens_across_midnight(&mut app).await;
    // PS0 certificates are valid for 12 months.
    app.clock.advance(Duration::days(400));
    let officer = staff(&mut app, "ra.officer2", "ra_officer").await;
    let from = d.format("%Y-%m").to_string();
    let by_month = report(&app, &officer, &format!("period=month&from={from}")).await;
    let totals = by_month["totals"].as_array().unwrap();
    // 401 days after D is at least 13 months after D's month.
    assert!(totals.len() >= 14, "{by_month}");
    assert_eq!(totals[0]["active"], 2);
    assert_eq!(totals[10]["active"], 2, "still valid 10 months on");
    assert_eq!(totals[13]["active"], 0, "expired 13 months on");
    assert_eq!(totals.last().unwrap()["active"], 0);
    let issued: i64 = totals.iter().map(|t| t["issued"].as_i64().unwrap()).sum();
    assert_eq!(issued, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_comes_by_accept_header_or_format_parameter() {
    let mut app = TestApp::spawn().await;
    let d = three_citizens_across_midnight(&mut app).await;
    let officer = staff(&mut app, "ra.officer2", "ra_officer").await;
    let url = app.url(&format!("/api/v1/reports/issuance?from={d}&level=ward"));
    let resp = app
        .http
        .get(&url)
        .bearer_auth(&officer)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(header("content-type").starts_with("text/csv"));
    let d1 = d + Duration::days(1);
    assert_eq!(
        header("content-disposition"),
        format!("attachment; filename=\"issuance-by-day-{d}-{d1}.csv\"")
    );
    let csv = resp.text().await.unwrap();
    assert_eq!(
        csv,
        format!(
            "period,province,ward,issued,accepted,active\r\n\
             {d},{HA_NOI},Phường Cửa Nam,1,1,1\r\n\
             {d},{NGHE_AN},Phường Trường Vinh,1,0,0\r\n\
             {d1},{HA_NOI},Phường Cửa Nam,0,0,0\r\n\
             {d1},{HA_NOI},Phường Hoàn Kiếm,1,1,1\r\n\
             {d1},{NGHE_AN},Phường Trường Vinh,0,1,1\r\n"
        )
    );

    // `format` wins over `Accept`.
    let resp = app
        .http
        .get(format!("{url}&format=csv"))
        .bearer_auth(&officer)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let resp = app
        .http
        .get(format!("{url}&format=json"))
        .bearer_auth(&officer)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["rows"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_parameters_are_refused_field_by_field_in_english_and_vietnamese() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (status, body) = app
        .get(
            "/api/v1/reports/issuance?from=31/02/2026&period=week&level=district&address=birth&format=xml",
            Some(&admin),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "validation_failed");
    let mut got: Vec<(String, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e["message"].as_str().unwrap().is_empty());
            assert!(!e["message_vi"].as_str().unwrap().is_empty());
            (
                e["field"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("address", "report_address_invalid"),
            ("format", "report_format_invalid"),
            ("from", "report_date_invalid"),
            ("level", "report_level_invalid"),
            ("period", "report_period_invalid"),
        ]
        .map(|(f, c)| (f.to_string(), c.to_string()))
    );

    let today = vietnam_today(&app);
    let cases = [
        (
            format!("from={}", today + Duration::days(1)),
            "from",
            "report_from_in_future",
        ),
        (
            format!("from={today}&to={}", today - Duration::days(1)),
            "from",
            "report_range_reversed",
        ),
        (
            format!("from={}&to={today}", today - Duration::days(366)),
            "to",
            "report_range_too_long",
        ),
    ];
    for (query, field, code) in cases {
        let (status, body) = app
            .get(&format!("/api/v1/reports/issuance?{query}"), Some(&admin))
            .await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
        assert_eq!(body["errors"][0]["code"], code, "{query}: {body}");
        assert!(body["errors"][0]["message_vi"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("ngày"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_are_for_ra_officers_admins_auditors_and_reporting_keys() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut tokens = vec![("admin", admin.clone(), 200)];
    for (role, expected) in [("ra_officer", 200), ("auditor", 200), ("operator", 403)] {
        let token = staff(&mut app, &format!("user.{}", role.replace('_', "")), role).await;
        tokens.push((role, token, expected));
    }
    for (scopes, expected) in [
        (json!(["reports"]), 200),
        (json!(["enrol", "lifecycle"]), 403),
    ] {
        let (status, key) = app
            .post(
                "/api/v1/api-keys",
                Some(&admin),
                json!({"name": "provincial dashboard", "scopes": scopes}),
            )
            .await;
        assert_eq!(status, 201, "{key}");
        tokens.push((
            "api key",
            key["key"].as_str().unwrap().to_string(),
            expected,
        ));
    }
    for (who, token, expected) in &tokens {
        let (status, body) = app.get("/api/v1/reports/issuance", Some(token)).await;
        assert_eq!(status, *expected, "{who}: {body}");
    }
    let (status, _) = app.get("/api/v1/reports/issuance", None).await;
    assert_eq!(status, 401);
    // An empty database answers an empty report with every period's totals.
    let (_, body) = app.get("/api/v1/reports/issuance", Some(&admin)).await;
    assert_eq!(body["rows"], json!([]));
    assert_eq!(body["totals"].as_array().unwrap().len(), 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_page_shows_the_same_figures_and_downloads_them_for_a_spreadsheet() {
    let mut app = TestApp::spawn().await;
    let d = three_citizens_across_midnight(&mut app).await;
    let d1 = d + Duration::days(1);
    let auditor = common::web::web_sign_in(&mut app, "auditor").await;
    let page = auditor.get(&format!("/reports?from={d}&to={d1}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let label = |day: NaiveDate| day.format("%d/%m/%Y").to_string();
    for text in [NGHE_AN, HA_NOI, &label(d), &label(d1), "Đang hiệu lực"] {
        assert!(page.body.contains(text), "{text}");
    }
    assert_eq!(page.field("from").as_deref(), Some(d.to_string().as_str()));

    // The CSV link carries the same query; the file is the API's CSV behind a byte-order mark.
    let csv = auditor
        .get(&format!("/reports/issuance.csv?from={d}&to={d1}"))
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let officer = staff(&mut app, "ra.officer2", "ra_officer").await;
    let api_csv = app
        .http
        .get(app.url(&format!(
            "/api/v1/reports/issuance?from={d}&to={d1}&format=csv"
        )))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Headed in the page's language (Vietnamese here); the rows are the API's.
    let (head, rows) = csv.body.split_once("\r\n").unwrap();
    assert_eq!(
        head,
        "\u{feff}Kỳ,Tỉnh/thành phố,Phường/xã,Đã cấp,Đã nghiệm thu,Đang hiệu lực"
    );
    let (api_head, api_rows) = api_csv.split_once("\r\n").unwrap();
    assert_eq!(api_head, "period,province,ward,issued,accepted,active");
    assert_eq!(rows, api_rows);
    assert!(!rows.is_empty());
    auditor.set_cookie("lang", "en");
    let english = auditor
        .get(&format!("/reports/issuance.csv?from={d}&to={d1}"))
        .await;
    assert!(
        english
            .body
            .starts_with("\u{feff}Period,Province,Ward/commune,Issued,Accepted,Active\r\n"),
        "{}",
        english.body
    );
    auditor.set_cookie("lang", "vi");
    // The link downloads what the page shows, defaults spelled out.
    assert!(page.body.replace("&#38;", "&").contains(&format!(
        "/reports/issuance.csv?from={d}&to={d1}&period=day&level=province&address=permanent\""
    )));

    // Refused parameters: the page says why, in the page's language.
    let refused = auditor.get("/reports?from=31/02/2026&period=week").await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("Ngày không hợp lệ"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("cho phép: day, month"));
    let back = auditor.get("/reports/issuance.csv?period=week").await;
    assert_eq!(back.location.as_deref(), Some("/reports?period=week"));

    let operator = common::web::web_sign_in(&mut app, "operator").await;
    assert_eq!(operator.get("/reports").await.status, 403);
}

/// The figures that can be compared between two builds of a report.
fn figures(report: &Value) -> (Value, Value) {
    (report["rows"].clone(), report["totals"].clone())
}

/// Closed days come from the summary the report job keeps, the others are counted live: the
/// figures are the same either way, through a revocation, suspensions, a suspension lifted
/// after its day was summarised (which changes that day's figures) and expiries.
#[tokio::test(flavor = "multi_thread")]
async fn the_summary_of_closed_days_gives_the_figures_counted_live() {
    let mut app = TestApp::spawn().await;
    let key = enrol_key(&mut app).await;
    to_vietnamese_half_past_eleven(&app);
    let d = vietnam_today(&app);
    let d1 = d + Duration::days(1);
    let a = Citizen::new(1, ("Phường Cửa Nam", HA_NOI));
    let mut b = Citizen::new(2, ("Phường Trường Vinh", NGHE_AN));
    b.current = Some(("Phường Sài Gòn", HCM));
    let c = Citizen::new(3, ("Phường Hoàn Kiếm", HA_NOI));
    let (_, serial_a) = active(&app, &key, &a).await;
    let (_, serial_b) = issued(&app, &key, &b).await;
    app.clock.advance(Duration::hours(1));
    let (_, serial_c) = active(&app, &key, &c).await;
    accept(&app, &key, &b, &serial_b).await;
    let officer = staff(&mut app, "ra.officer", "ra_officer").await;
    for (serial, change, body) in [
        (&serial_a, "revoke", json!({"reason": "keyCompromise"})),
        (&serial_b, "suspend", json!({})),
        (&serial_c, "suspend", json!({})),
    ] {
        let (status, body) = app
            .post(
                &format!("/api/v1/certificates/{serial}/{change}"),
                Some(&officer),
                body,
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // D and D + 1 closed (D + 1 ended more than an hour ago); D + 2 not yet.
    app.clock.advance(Duration::days(2));
    let officer = staff(&mut app, "ra.officer2", "ra_officer").await;
    let queries = [
        format!("from={}", d - Duration::days(1)),
        format!("from={d1}"),
        format!("from={d}&level=ward"),
        format!("from={d}&address=current&level=ward"),
        format!("from={d1}&province={NGHE_AN}"),
        "period=month".to_string(),
    ];
    let mut live = Vec::new();
    for q in &queries {
        live.push(figures(&report(&app, &officer, q).await));
    }
    assert_eq!(app.state.reports.summarise_closed_days().await.unwrap(), 2);
    assert_eq!(app.state.reports.summarise_closed_days().await.unwrap(), 0);
    for (q, live) in queries.iter().zip(&live) {
        assert_eq!(&figures(&report(&app, &officer, q).await), live, "{q}");
    }
    let d1_hanoi_active = |report: &Value| {
        rows(report)
            .into_iter()
            .find(|r| r.0 == d1.to_string() && r.1 == HA_NOI)
            .map(|r| r.5)
    };
    let one_day = format!("from={d1}&to={d1}");
    // A revoked and C suspended on D + 1: nobody active in Hà Nội at its end.
    assert_eq!(
        d1_hanoi_active(&report(&app, &officer, &one_day).await),
        Some(0)
    );

    // Lifting C's suspension moves D + 1's figures: C now counts as active throughout.
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{serial_c}/resume"),
            Some(&officer),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let resumed: Vec<_> = {
        let mut out = Vec::new();
        for q in &queries {
            out.push(figures(&report(&app, &officer, q).await));
        }
        out
    };
    assert_eq!(
        d1_hanoi_active(&report(&app, &officer, &one_day).await),
        Some(1)
    );
    assert!(app.state.reports.summarise_closed_days().await.unwrap() > 0);
    for (q, resumed) in queries.iter().zip(&resumed) {
        assert_eq!(&figures(&report(&app, &officer, q).await), resumed, "{q}");
    }
    assert_eq!(
        d1_hanoi_active(&report(&app, &officer, &one_day).await),
        Some(1)
    );

    // Thirteen months on, every certificate has expired: counted live (nothing summarised
    // after D + 2 yet), then from the summary.
    app.clock.advance(Duration::days(400));
    let officer = staff(&mut app, "ra.officer3", "ra_officer").await;
    let from = d.format("%Y-%m").to_string();
    let long = [
        format!("period=month&from={from}"),
        format!("period=month&from={from}&level=ward&address=current"),
        format!("from={}", vietnam_today(&app) - Duration::days(60)),
    ];
    let mut live = Vec::new();
    for q in &long {
        live.push(figures(&report(&app, &officer, q).await));
    }
    let totals = live[0].1.as_array().unwrap();
    assert_eq!(totals[10]["active"], 1, "C still valid 10 months on");
    assert_eq!(totals.last().unwrap()["active"], 0, "all expired");
    while app.state.reports.summarise_closed_days().await.unwrap() > 0 {}
    for (q, live) in long.iter().zip(&live) {
        assert_eq!(&figures(&report(&app, &officer, q).await), live, "{q}");
    }
}
