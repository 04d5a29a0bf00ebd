//! Message texts live in `templates/` and are compiled in; `{{name}}` placeholders are
//! replaced by plain substitution. The texts are short and fixed, so an engine would add
//! nothing; a unit test per template proves every placeholder is filled.

///
/// One pass over the template (a document's template is several KB with tens of
/// placeholders; a pass per placeholder copied it each time, on every certificate's record
/// and notice). A placeholder whose name is not in `vars` stays as it is, and the values are
/// not searched for placeholders.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let template = template.trim_end();
    let filled: usize = vars.iter().map(|(_, v)| v.len()).sum();
    let mut out = String::with_capacity(template.len() + filled);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let (before, tail) = rest.split_at(start);
        out.push_str(before);
        let found = tail[2..].find("}}").and_then(|end| {
            let name = &tail[2..2 + end];
            let (_, value) = vars.iter().find(|(n, _)| *n == name)?;
            Some((*value, end + 4))
        });
        rest = match found {
            Some((value, len)) => {
                out.push_str(value);
                &tail[len..]
            }
            // Not a placeholder here; one may start at the next brace (`{{{name}}}`).
            None => {
                out.push('{');
                &tail[1..]
            }
        };
    }
    out.push_str(rest);
    out
}

/// Fills an HTML document template; every value is escaped first (names and addresses come
/// from citizens). The document ends with one newline.
pub fn render_html(template: &str, vars: Vec<(&str, String)>) -> Vec<u8> {
    let escaped: Vec<(&str, String)> = vars.into_iter().map(|(k, v)| (k, escape(&v))).collect();
    let refs: Vec<(&str, &str)> = escaped.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut out = render(template, &refs);
    out.push('\n');
    out.into_bytes()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Placeholders are replaced one after another: a value must not carry one.
            '{' => out.push_str("&#123;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_replaced_and_trailing_newline_dropped() {
        assert_eq!(
            super::render("Ma {{code}} ({{code}})\n", &[("code", "123456")]),
            "Ma 123456 (123456)"
        );
    }

    #[test]
    fn unknown_placeholders_stay_and_values_are_not_searched() {
        assert_eq!(
            super::render(
                "{{a}} {{b}} {{{a}}} {{a",
                &[("a", "{{b}}"), ("b", "x"), ("a", "ignored")]
            ),
            "{{b}} x {{{b}}} {{a"
        );
    }

    #[test]
    fn citizen_text_cannot_inject_markup() {
        assert_eq!(
            super::escape("<script>a&b</script>\"'{{price}}"),
            "&lt;script&gt;a&amp;b&lt;/script&gt;&quot;&#39;&#123;&#123;price}}"
        );
    }
}
