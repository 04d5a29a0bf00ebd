//! Adoption reports for local authorities, as JSON or CSV.

use chrono::{DateTime, NaiveDate, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::auth::Auth;
use super::negotiated::Negotiated;
use super::problem::ApiError;
use super::validation::field_problems;
use crate::app::AppState;
use crate::enrolment::identity::FieldErrors;
use crate::operators::{Role, Scope};
use crate::problem::Problem;
use crate::reports::{
    parse_format, Format, IssuanceForm, IssuanceQuery, IssuanceReport, ReportsError,
};
use poem::http::StatusCode;

#[derive(Tags)]
enum ApiTags {
    /// Reports.
    Reports,
}

impl From<ReportsError> for Problem {
    fn from(e: ReportsError) -> Self {
        match e {
            ReportsError::Invalid(errors) => invalid(errors),
            ReportsError::TooLarge { rows, max } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "report_too_large")
                    .arg("rows", rows)
                    .arg("max", max)
            }
            ReportsError::Store(e) => Problem::from(e),
        }
    }
}

fn invalid(errors: FieldErrors) -> Problem {
    field_problems(Ok(()), Err(errors)).unwrap_or_else(|| Problem::internal("empty report refusal"))
}

#[derive(Object)]
struct ReportRow {
    /// `YYYY-MM-DD` (by day) or `YYYY-MM` (by month), in Vietnam time.
    period: String,
    province: String,
    /// Ward or commune, in a report by ward.
    #[oai(nullable, skip_serializing_if_is_none)]
    ward: Option<String>,
    /// Certificates signed in the period.
    issued: i64,
    /// Certificates whose acceptance record was confirmed in the period (became valid).
    accepted: i64,
    /// Certificates valid at the end of the period (`as_of` for the last one): accepted,
    /// unexpired, neither revoked nor suspended.
    active: i64,
}

#[derive(Object)]
struct PeriodTotal {
    period: String,
    /// The period's days inside the range (a month at either end of the range is clipped).
    first_day: NaiveDate,
    last_day: NaiveDate,
    issued: i64,
    accepted: i64,
    active: i64,
}

#[derive(Object)]
struct IssuanceReportView {
    /// First day, included.
    from: NaiveDate,
    /// Last day, included (never after today).
    to: NaiveDate,
    /// `day` or `month`.
    period: String,
    /// `province` or `ward`.
    level: String,
    /// `permanent` or `current`.
    address: String,
    #[oai(nullable, skip_serializing_if_is_none)]
    province: Option<String>,
    /// Always `+07:00`: days and months are Vietnam's.
    utc_offset: String,
    /// The instant the last period's `active` figure describes.
    as_of: DateTime<Utc>,
    generated_at: DateTime<Utc>,
    /// Period, then province, then ward; only places with a figure other than zero.
    rows: Vec<ReportRow>,
    /// Every period of the range, empty ones included, summed over all places.
    totals: Vec<PeriodTotal>,
}

impl From<IssuanceReport> for IssuanceReportView {
    fn from(r: IssuanceReport) -> Self {
        let q = &r.query;
        Self {
            from: q.from,
            to: q.to,
            period: q.granularity.as_str().into(),
            level: q.level.as_str().into(),
            address: q.address.as_str().into(),
            province: q.province.as_ref().map(|p| p.as_str().to_string()),
            utc_offset: "+07:00".into(),
            as_of: r.as_of,
            generated_at: r.generated_at,
            rows: r
                .rows
                .into_iter()
                .map(|row| ReportRow {
                    period: row.period,
                    province: row.province,
                    ward: row.ward,
                    issued: row.figures.issued,
                    accepted: row.figures.accepted,
                    active: row.figures.active,
                })
                .collect(),
            totals: r
                .totals
                .into_iter()
                .map(|t| PeriodTotal {
                    period: t.period,
                    first_day: t.first_day,
                    last_day: t.last_day,
                    issued: t.figures.issued,
                    accepted: t.figures.accepted,
                    active: t.figures.active,
                })
                .collect(),
        }
    }
}

#[derive(ApiResponse)]
enum IssuanceResponse {
    /// The report.
    #[oai(status = 200)]
    Json(Json<IssuanceReportView>),
    /// `format=csv` or `Accept: text/csv`: `period,province,ward,issued,accepted,active`,
    /// UTF-8, CRLF line ends.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(
        PlainText<String>,
        /// `attachment; filename="issuance-by-day-….csv"`
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// Whether `Accept` prefers CSV to JSON: the higher quality wins, then the more specific
/// media range (`text/csv` over `*/*`); a tie or no header means JSON.
fn prefers_csv(accept: &str) -> bool {
    // (quality, specificity) of the best range matching each type.
    let mut csv = (0u16, 0u8);
    let mut json = (0u16, 0u8);
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
        let rank = |specific: &str, family: &str| match media.as_str() {
            m if m == specific => Some(2),
            m if m == family => Some(1),
            "*/*" => Some(0),
            _ => None,
        };
        if let Some(s) = rank("text/csv", "text/*") {
            csv = csv.max((q, s));
        }
        if let Some(s) = rank("application/json", "application/*") {
            json = json.max((q, s));
        }
    }
    csv.0 > 0 && csv > json
}

pub struct ReportsApi;

#[OpenApi(prefix_path = "/v1/reports", tag = "ApiTags::Reports")]
impl ReportsApi {
    /// Certificates issued, accepted and active per province (and ward/commune), by day or
    /// month (roles `ra_officer`, `admin`, `auditor`, or an API key with scope `reports`).
    ///
    /// Days and months are Vietnam's (UTC+7). `from` and `to` are included and may be
    /// `YYYY-MM-DD`, `dd/mm/yyyy` or `YYYY-MM` (a whole month); defaults: the 30 days (by day)
    /// or 12 months (by month) to today; a range reaching past today ends today. Places come
    /// from the enrolment's address (`address=permanent`, the default, is the address in the
    /// certificate; `current` is the current residence where given), never from the ID
    /// number. JSON by default; CSV with `format=csv` or `Accept: text/csv`. Bad parameters
    /// answer 422 `validation_failed` with one entry per field (`report_date_invalid`,
    /// `report_range_reversed`, `report_range_too_long`, `report_from_in_future`,
    /// `report_period_invalid`, `report_level_invalid`, `report_address_invalid`,
    /// `report_format_invalid`, `text_*` for `province`); more than 100,000 rows answer 422
    /// `report_too_large`.
    #[oai(path = "/issuance", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn issuance(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        /// First day (default: see above).
        from: Query<Option<String>>,
        /// Last day (default: today).
        to: Query<Option<String>>,
        /// `day` (default) or `month`.
        period: Query<Option<String>>,
        /// `province` (default) or `ward`.
        level: Query<Option<String>>,
        /// `permanent` (default) or `current`.
        address: Query<Option<String>>,
        /// Only this province, exactly as stored (e.g. `Thành phố Hà Nội`).
        province: Query<Option<String>>,
        /// `json` or `csv`; overrides `Accept`.
        format: Query<Option<String>>,
        #[oai(name = "Accept")] accept: Header<Option<String>>,
    ) -> Result<Negotiated<IssuanceResponse>, ApiError> {
        let p = &auth.0;
        if p.require_role(&[Role::RaOfficer, Role::Admin, Role::Auditor])
            .is_err()
        {
            p.require_scope(Scope::Reports)?;
        }
        let form = IssuanceForm {
            from: from.0,
            to: to.0,
            period: period.0,
            level: level.0,
            address: address.0,
            province: province.0,
        };
        let mut errors = FieldErrors::new();
        let format = errors.take(parse_format(format.0.as_deref()));
        let query = IssuanceQuery::parse(&form, state.reports.today());
        let query = match query {
            Ok(q) => Some(q),
            Err(e) => {
                errors.merge(Err(e));
                None
            }
        };
        let (Some(format), Some(query)) = (format, query) else {
            return Err(invalid(errors).into());
        };
        let csv = match format {
            Some(f) => f == Format::Csv,
            None => prefers_csv(accept.0.as_deref().unwrap_or("")),
        };
        let report = state.reports.issuance(query).await?;
        if csv {
            let disposition = format!("attachment; filename=\"{}\"", report.csv_file_name());
            return Ok(Negotiated(IssuanceResponse::Csv(
                PlainText(report.to_csv(false)),
                disposition,
            )));
        }
        Ok(Negotiated(IssuanceResponse::Json(Json(report.into()))))
    }
}

#[cfg(test)]
mod tests {
    use super::prefers_csv;

    #[test]
    fn accept_chooses_csv_only_when_it_outranks_json() {
        assert!(prefers_csv("text/csv"));
        assert!(prefers_csv("text/csv, */*"));
        assert!(prefers_csv("application/json;q=0.5, text/csv"));
        assert!(prefers_csv("text/*"));
        assert!(!prefers_csv(""));
        assert!(!prefers_csv("*/*"));
        assert!(!prefers_csv("application/json, text/csv"));
        assert!(!prefers_csv("text/csv;q=0"));
        assert!(!prefers_csv("text/html, application/xhtml+xml"));
    }
}
