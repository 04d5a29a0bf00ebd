//! The dashboard, every role's landing page: the video-call queue, today's figures (Vietnam
//! calendar day) and a server-drawn chart of the last 30 days of issuance. Figures only, no
//! personal data, so every role sees it.

use askama::Template;
use chrono::{Duration, NaiveDate};
use poem::web::Data;
use poem::{handler, Response};

use super::i18n::{self, Lang};
use super::{render, Page, WebError, WebUser};
use crate::app::AppState;
use crate::store::DayFigures;
use crate::vn;

/// One figure card.
pub struct Card {
    pub key: &'static str,
    pub value: String,
    pub id: &'static str,
}

#[derive(Template)]
#[template(path = "web/dashboard.html")]
struct DashboardPage {
    page: Page,
    today: String,
    queue: Vec<Card>,
    figures: Vec<Card>,
    /// Inline SVG made here from numbers only.
    chart_svg: String,
    chart_total: String,
}

const CHART_DAYS: i64 = 30;

#[handler]
pub async fn page(user: WebUser, state: Data<&AppState>) -> Result<Response, WebError> {
    let lang = user.page.lang;
    let now = state.clock.now();
    let today = vn::date_of(now);
    let stats = state.verification.stats().await.map_err(WebError::failed)?;
    let (figures, per_day) = state
        .store
        .read(move |tx| {
            let from = vn::day_start(today).naive_utc();
            let figures = tx.day_figures(from, from + Duration::days(1))?;
            let mut per_day = Vec::new();
            for back in (0..CHART_DAYS).rev() {
                let day = today - Duration::days(back);
                let start = vn::day_start(day).naive_utc();
                per_day.push((
                    day,
                    tx.count_certificates_signed(start, start + Duration::days(1))?,
                ));
            }
            Ok::<_, crate::store::StoreError>((figures, per_day))
        })
        .await?;
    let oldest = stats
        .oldest_wait
        .map(|d| wait_text(lang, d))
        .unwrap_or_else(|| "–".into());
    let queue = vec![
        card(
            "dashboard.waiting",
            "waiting",
            i18n::count(lang, stats.waiting),
        ),
        card("dashboard.oldest_wait", "oldest-wait", oldest),
        card(
            "dashboard.in_call",
            "in-call",
            i18n::count(lang, stats.in_call),
        ),
    ];
    let DayFigures {
        intake,
        verified,
        contracts_signed,
        certificates_issued,
        accepted,
        revoked,
    } = figures;
    let figures = vec![
        card("dashboard.intake", "intake", i18n::count(lang, intake)),
        card(
            "dashboard.verified",
            "verified",
            i18n::count(lang, verified),
        ),
        card(
            "dashboard.contracts_signed",
            "contracts-signed",
            i18n::count(lang, contracts_signed),
        ),
        card(
            "dashboard.certificates_issued",
            "certificates-issued",
            i18n::count(lang, certificates_issued),
        ),
        card(
            "dashboard.accepted",
            "accepted",
            i18n::count(lang, accepted),
        ),
        card("dashboard.revoked", "revoked", i18n::count(lang, revoked)),
    ];
    let total: i64 = per_day.iter().map(|(_, n)| n).sum();
    render(&DashboardPage {
        today: vn::date(today),
        queue,
        figures,
        chart_svg: chart(lang, &per_day),
        chart_total: i18n::count(lang, total),
        page: user.page,
    })
}

fn card(key: &'static str, id: &'static str, value: String) -> Card {
    Card { key, value, id }
}

fn wait_text(lang: Lang, d: Duration) -> String {
    let minutes = d.num_minutes();
    if minutes >= 60 {
        format!(
            "{} {} {} {}",
            minutes / 60,
            lang.t("unit.hours"),
            minutes % 60,
            lang.t("unit.minutes")
        )
    } else {
        format!("{} {}", minutes.max(0), lang.t("unit.minutes"))
    }
}

/// A bar per day, the day's count above each non-empty bar, a date under every fifth one.
fn chart(lang: Lang, per_day: &[(NaiveDate, i64)]) -> String {
    const W: i64 = 720;
    const H: i64 = 200;
    const TOP: i64 = 20;
    const BOTTOM: i64 = 30;
    // Room for the first and last date labels.
    const SIDE: i64 = 20;
    let n = i64::try_from(per_day.len()).unwrap_or(1).max(1);
    let slot = (W - 2 * SIDE) / n;
    let max = per_day.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    let plot = H - TOP - BOTTOM;
    let mut out = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" \
         width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{}\">",
        lang.t("dashboard.chart_title")
    );
    out.push_str(&format!(
        "<line x1=\"0\" y1=\"{y}\" x2=\"{W}\" y2=\"{y}\" stroke=\"#aab2bd\"/>",
        y = H - BOTTOM
    ));
    for (i, (day, count)) in per_day.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        let h = count * plot / max;
        let x = SIDE + i * slot + 2;
        let y = H - BOTTOM - h;
        out.push_str(&format!(
            "<rect class=\"bar\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\"><title>{d}: {c}</title></rect>",
            w = (slot - 4).max(1),
            d = vn::date(*day),
            c = i18n::count(lang, *count),
        ));
        if *count > 0 {
            out.push_str(&format!(
                "<text x=\"{tx}\" y=\"{ty}\" text-anchor=\"middle\">{c}</text>",
                tx = x + slot / 2 - 2,
                ty = y - 4,
                c = i18n::count(lang, *count),
            ));
        }
        if i % 5 == 0 || i == n - 1 {
            out.push_str(&format!(
                "<text x=\"{tx}\" y=\"{ty}\" text-anchor=\"middle\">{d}</text>",
                tx = x + slot / 2 - 2,
                ty = H - 10,
                d = day.format("%d/%m"),
            ));
        }
    }
    out.push_str("</svg>");
    out
}
