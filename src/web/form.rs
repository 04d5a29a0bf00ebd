//! Showing a domain's field refusals next to the form fields that caused them. Form inputs are
//! named after the domain's field paths (`identity.id_number`, `recording.uri`, `from`), so a
//! refusal finds its field without a mapping table, and the words are the domain's own, the
//! same the API sends as `message` / `message_vi`.

use std::collections::BTreeMap;

use super::i18n::Lang;
use crate::enrolment::identity::FieldErrors;

/// Refusal messages by field, in the page's language.
#[derive(Default)]
pub struct FieldMessages(BTreeMap<String, String>);

impl FieldMessages {
    pub fn new(lang: Lang, errors: &FieldErrors) -> Self {
        let mut map = BTreeMap::new();
        for e in &errors.0 {
            // A field refused twice shows both reasons.
            let text = e.text.get(lang);
            map.entry(e.field.clone())
                .and_modify(|m: &mut String| {
                    m.push(' ');
                    m.push_str(text);
                })
                .or_insert_with(|| text.to_string());
        }
        Self(map)
    }

    /// Puts `label` before the message of `field`, if it was refused: the summary above a
    /// form then names the item (a checklist line) and not only what is wrong with it.
    pub fn name_field(&mut self, field: &str, label: &str) {
        if let Some(m) = self.0.get_mut(field) {
            *m = format!("{label}: {m}");
        }
    }

    /// The message for `field`, if it was refused.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every (field, message), for a summary above the form.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// `dd/mm/yyyy` (what staff type where the browser offers no date picker) rewritten as the
/// `yyyy-mm-dd` the domain parses; anything else unchanged, for the domain to judge.
pub fn iso_date(s: &str) -> String {
    let t = s.trim();
    match chrono::NaiveDate::parse_from_str(t, "%d/%m/%Y") {
        Ok(d) => d.format("%Y-%m-%d").to_string(),
        Err(_) => t.to_string(),
    }
}

/// An optional date filter typed by a person: `dd/mm/yyyy` (as shown everywhere) or ISO
/// `yyyy-mm-dd`. Empty means no filter; anything else unreadable puts the page's message in
/// `error` and filters nothing.
pub fn date_filter(s: &str, lang: Lang, error: &mut Option<String>) -> Option<chrono::NaiveDate> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%d/%m/%Y")
        .or_else(|_| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d"))
        .ok();
    if d.is_none() {
        *error = Some(lang.t("common.bad_date").to_string());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrolment::identity::FieldError;
    use crate::texts::Text;

    #[test]
    fn messages_are_in_the_page_language_and_keyed_by_field() {
        let errors = FieldErrors(vec![
            FieldError::with_text("a", "x", Text::new("Sai", "Wrong")),
            FieldError::with_text("a", "y", Text::new("Thiếu", "Missing")),
            FieldError::with_text("b", "z", Text::new("Khác", "Other")),
        ]);
        let vi = FieldMessages::new(Lang::Vi, &errors);
        assert_eq!(vi.get("a"), Some("Sai Thiếu"));
        let en = FieldMessages::new(Lang::En, &errors);
        assert_eq!(en.get("b"), Some("Other"));
        assert_eq!(en.get("c"), None);
    }

    #[test]
    fn vietnamese_dates_become_iso_and_other_text_is_left_alone() {
        assert_eq!(iso_date("07/03/1990"), "1990-03-07");
        assert_eq!(iso_date(" 1990-03-07 "), "1990-03-07");
        assert_eq!(iso_date("31/02/1990"), "31/02/1990");
    }

    #[test]
    fn a_date_filter_reads_both_spellings_and_names_an_unreadable_one() {
        let mut error = None;
        let want = chrono::NaiveDate::from_ymd_opt(2026, 11, 3);
        assert_eq!(date_filter(" 03/11/2026 ", Lang::Vi, &mut error), want);
        assert_eq!(date_filter("2026-11-03", Lang::Vi, &mut error), want);
        assert_eq!(date_filter("  ", Lang::Vi, &mut error), None);
        assert_eq!(error, None);
        assert_eq!(date_filter("31/02/2026", Lang::En, &mut error), None);
        assert_eq!(error.as_deref(), Some(Lang::En.t("common.bad_date")));
    }
}
