//! The adoption report page and its CSV download (roles `ra_officer`, `admin`, `auditor`):
//! the same `reports::` query and figures as `GET /api/v1/reports/issuance`.

use askama::Template;
use chrono::NaiveDate;
use poem::http::{header, StatusCode};
use poem::web::{Data, Query};
use poem::{handler, Response};
use serde::Deserialize;

use super::form::FieldMessages;
use super::i18n::{self, Lang};
use super::{message, redirect, render_status, Page, WebError, WebUser};
use crate::app::AppState;
use crate::operators::Role;
use crate::reports::{IssuanceForm, IssuanceReport, ReportsError};
use crate::vn;

const ROLES: [Role; 3] = [Role::RaOfficer, Role::Admin, Role::Auditor];

/// The query string, as typed.
#[derive(Default, Deserialize)]
pub struct Params {
    from: Option<String>,
    to: Option<String>,
    period: Option<String>,
    level: Option<String>,
    address: Option<String>,
    province: Option<String>,
}

impl Params {
    fn form(&self) -> IssuanceForm {
        IssuanceForm {
            from: self.from.clone(),
            to: self.to.clone(),
            period: self.period.clone(),
            level: self.level.clone(),
            address: self.address.clone(),
            province: self.province.clone(),
        }
    }

    /// The same query again, for the CSV link and the way back from a refused download.
    fn query_string(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("from", &self.from),
            ("to", &self.to),
            ("period", &self.period),
            ("level", &self.level),
            ("address", &self.address),
            ("province", &self.province),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// The filter form's values: what was asked for, or what the report used.
struct Filters {
    from: String,
    to: String,
    period: String,
    level: String,
    address: String,
    province: String,
}

struct RowView {
    period: String,
    province: String,
    ward: String,
    issued: String,
    accepted: String,
    active: String,
}

struct ResultView {
    /// `dd/mm/yyyy – dd/mm/yyyy`
    range: String,
    as_of: String,
    by_ward: bool,
    totals: Vec<RowView>,
    rows: Vec<RowView>,
    csv_href: String,
}

#[derive(Template)]
#[template(path = "web/reports.html")]
struct ReportsPage {
    page: Page,
    filters: Filters,
    errors: FieldMessages,
    /// A refusal not tied to one field (too many rows).
    error: Option<String>,
    result: Option<ResultView>,
}

/// `2026-11-03` → `03/11/2026`, `2026-11` → `11/2026`.
fn period_label(key: &str) -> String {
    if let Ok(d) = NaiveDate::parse_from_str(key, "%Y-%m-%d") {
        return vn::date(d);
    }
    match key.split_once('-') {
        Some((y, m)) => format!("{m}/{y}"),
        None => key.to_string(),
    }
}

fn result_view(lang: Lang, r: &IssuanceReport) -> ResultView {
    let n = |v: i64| i18n::count(lang, v);
    // The link downloads exactly what the page shows, defaults resolved.
    let q = &r.query;
    let shown = Params {
        from: Some(q.from.to_string()),
        to: Some(q.to.to_string()),
        period: Some(q.granularity.as_str().into()),
        level: Some(q.level.as_str().into()),
        address: Some(q.address.as_str().into()),
        province: q.province.as_ref().map(|p| p.as_str().to_string()),
    };
    ResultView {
        range: format!("{} – {}", vn::date(r.query.from), vn::date(r.query.to)),
        as_of: vn::date_time(r.as_of),
        by_ward: r.rows.iter().any(|row| row.ward.is_some()),
        totals: r
            .totals
            .iter()
            .map(|t| RowView {
                period: period_label(&t.period),
                province: String::new(),
                ward: String::new(),
                issued: n(t.figures.issued),
                accepted: n(t.figures.accepted),
                active: n(t.figures.active),
            })
            .collect(),
        rows: r
            .rows
            .iter()
            .map(|row| RowView {
                period: period_label(&row.period),
                province: row.province.clone(),
                ward: row.ward.clone().unwrap_or_default(),
                issued: n(row.figures.issued),
                accepted: n(row.figures.accepted),
                active: n(row.figures.active),
            })
            .collect(),
        csv_href: format!("/reports/issuance.csv?{}", shown.query_string()),
    }
}

#[handler]
pub async fn page(
    user: WebUser,
    state: Data<&AppState>,
    params: Query<Params>,
) -> Result<Response, WebError> {
    user.require(&ROLES)?;
    let lang = user.page.lang;
    let p = &params.0;
    let asked = Filters {
        from: p.from.clone().unwrap_or_default(),
        to: p.to.clone().unwrap_or_default(),
        period: p.period.clone().unwrap_or_default(),
        level: p.level.clone().unwrap_or_default(),
        address: p.address.clone().unwrap_or_default(),
        province: p.province.clone().unwrap_or_default(),
    };
    let mut view = ReportsPage {
        page: user.page,
        filters: asked,
        errors: FieldMessages::default(),
        error: None,
        result: None,
    };
    let status = match state.reports.issuance_from(&p.form()).await {
        Ok(report) => {
            let q = &report.query;
            view.filters = Filters {
                from: q.from.to_string(),
                to: q.to.to_string(),
                period: q.granularity.as_str().into(),
                level: q.level.as_str().into(),
                address: q.address.as_str().into(),
                province: q
                    .province
                    .as_ref()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
            };
            view.result = Some(result_view(lang, &report));
            StatusCode::OK
        }
        Err(ReportsError::Invalid(errors)) => {
            view.errors = FieldMessages::new(lang, &errors);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(e @ ReportsError::TooLarge { .. }) => {
            view.error = Some(message(lang, e));
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(ReportsError::Store(e)) => return Err(e.into()),
    };
    render_status(status, &view)
}

/// The report as a CSV file for a spreadsheet (with a byte-order mark, so Vietnamese shows
/// correctly); refused parameters go back to the page, which says what is wrong.
#[handler]
pub async fn csv(
    user: WebUser,
    state: Data<&AppState>,
    params: Query<Params>,
) -> Result<Response, WebError> {
    user.require(&ROLES)?;
    match state.reports.issuance_from(&params.form()).await {
        Ok(report) => Ok(Response::builder()
            .content_type("text/csv; charset=utf-8")
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", report.csv_file_name()),
            )
            .body(report.to_csv_headed(true, csv_columns(user.page.lang)))),
        Err(ReportsError::Store(e)) => Err(e.into()),
        Err(_) => Ok(redirect(&format!("/reports?{}", params.query_string()))),
    }
}

/// The CSV's column names in the reader's language, as the page's table heads them.
fn csv_columns(lang: crate::texts::Lang) -> [&'static str; 6] {
    [
        "reports.col.period",
        "reports.level.province",
        "reports.level.ward",
        "reports.col.issued",
        "reports.col.accepted",
        "reports.col.active",
    ]
    .map(|key| lang.t(key))
}

#[cfg(test)]
mod tests {
    use super::period_label;

    #[test]
    fn periods_read_day_month_year() {
        assert_eq!(period_label("2026-11-03"), "03/11/2026");
        assert_eq!(period_label("2026-11"), "11/2026");
    }
}
