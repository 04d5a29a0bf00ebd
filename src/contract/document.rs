//! The contract document: a versioned HTML template from `templates/contracts/`, filled once
//! with the parties and the package. The bytes are stored and never re-rendered, so a later
//! template change cannot alter what a citizen signed.

use chrono::NaiveDate;

use super::Provider;
use crate::notify::template::render_html;
use crate::store::{EnrolmentRow, PackageRow};
use crate::vn;

/// The templates compiled in, by version. Add a new version beside the old; never edit one
/// that has been used (the stored documents name it).
const TEMPLATES: [(&str, &str); 1] = [(
    "ps-personal-v1",
    include_str!("../../templates/contracts/ps-personal-v1.html"),
)];

pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

pub fn template(version: &str) -> Option<&'static str> {
    TEMPLATES
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, text)| *text)
}

/// Everything a document shows.
pub struct Parties<'a> {
    pub number: &'a str,
    /// The day the contract was made, in Vietnam.
    pub date: NaiveDate,
    pub provider: &'a Provider,
    pub subscriber: &'a EnrolmentRow,
    pub package: &'a PackageRow,
}

/// Fills `template`; every value is HTML-escaped (names and addresses come from citizens).
pub fn render_document(template_text: &str, template_version: &str, p: &Parties<'_>) -> Vec<u8> {
    let s = p.subscriber;
    let pv = p.provider;
    let sex = match s.sex.as_str() {
        "male" => "Nam",
        "female" => "Nữ",
        other => other,
    };
    let free_note = if p.package.free {
        "Gói miễn phí dành cho công dân: mỗi số định danh cá nhân được sử dụng một lần."
    } else {
        ""
    };
    let vars: Vec<(&str, String)> = vec![
        ("number", p.number.to_string()),
        ("date", vn::date(p.date)),
        ("template_version", template_version.to_string()),
        ("provider_name", pv.name.clone()),
        ("provider_address", pv.address.clone()),
        ("provider_tax_code", pv.tax_code.clone()),
        ("provider_phone", vn::phone(&pv.hotline)),
        ("provider_email", pv.email.clone()),
        ("provider_website", pv.website.clone()),
        ("provider_representative", pv.representative.clone()),
        (
            "provider_representative_title",
            pv.representative_title.clone(),
        ),
        ("subscriber_name", s.full_name.clone()),
        ("subscriber_date_of_birth", vn::date(s.date_of_birth)),
        ("subscriber_sex", sex.to_string()),
        ("subscriber_nationality", s.nationality.clone()),
        ("subscriber_id_number", s.id_number.clone()),
        ("subscriber_id_issue_date", vn::date(s.id_issue_date)),
        ("subscriber_id_issue_place", s.id_issue_place.clone()),
        (
            "subscriber_address",
            format!(
                "{}, {}, {}",
                s.permanent_address, s.permanent_ward, s.permanent_province
            ),
        ),
        ("subscriber_phone", vn::phone(&s.phone)),
        (
            "subscriber_email",
            s.email.clone().unwrap_or_else(|| "không có".into()),
        ),
        ("package_name", p.package.name.clone()),
        ("package_code", p.package.code.clone()),
        ("price", vn::dong(p.package.price_vnd)),
        ("term_months", p.package.term_months.to_string()),
        ("certificate_profile", p.package.certificate_profile.clone()),
        ("free_package_note", free_note.to_string()),
    ];
    render_html(template_text, vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_names_what_the_contract_must_show() {
        for (version, text) in TEMPLATES {
            for var in [
                "number",
                "provider_name",
                "subscriber_name",
                "subscriber_id_number",
                "package_name",
                "price",
                "term_months",
            ] {
                assert!(text.contains(&format!("{{{{{var}}}}}")), "{version}: {var}");
            }
            assert!(text.contains("13/2023/NĐ-CP"), "{version}");
        }
    }
}
