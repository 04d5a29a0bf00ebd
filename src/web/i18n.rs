//! The pages' language. Their words live in the one catalogue, [`crate::texts`] (shared with the
//! API's problems); dates and amounts are written by [`crate::vn`]. Every key a template or
//! handler uses must be in the catalogue; a unit test reads the templates and the web sources
//! and fails on any key that is not.

pub use crate::texts::Lang;

/// Thousands separated by `.` (Vietnamese) or `,` (English).
pub fn count(lang: Lang, n: i64) -> String {
    let sep = match lang {
        Lang::Vi => '.',
        Lang::En => ',',
    };
    crate::vn::group_thousands(n, sep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texts::CATALOGUE;

    /// Every `t("…")` in the templates and the web module names a catalogue key.
    #[test]
    fn every_key_used_is_in_the_catalogue() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates/web", "src/web"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                // This file talks about the pattern rather than using it.
                if !path.ends_with("i18n.rs") {
                    files.push(path);
                }
            }
        }
        let mut missing = Vec::new();
        let mut used = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, _) in text.match_indices("t(\"") {
                // `t("` preceded by `.` or a non-identifier character is a lookup.
                let before = text[..i].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = &text[i + 3..];
                let Some(end) = rest.find('"') else { continue };
                let key = &rest[..end];
                used += 1;
                if CATALOGUE
                    .binary_search_by(|(k, _, _)| (*k).cmp(key))
                    .is_err()
                {
                    missing.push(format!("{}: {key}", file.display()));
                }
            }
        }
        assert!(used > 10, "the scan found almost no keys; is it broken?");
        assert!(
            missing.is_empty(),
            "keys missing from CATALOGUE: {missing:#?}"
        );
    }

    #[test]
    fn counts_group_thousands_by_language() {
        assert_eq!(count(Lang::En, 1234567), "1,234,567");
        assert_eq!(count(Lang::Vi, 1234567), "1.234.567");
    }
}
