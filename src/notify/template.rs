//! Message texts live in `templates/` and are compiled in; `{{name}}` placeholders are
//! replaced by plain substitution. The texts are short and fixed, so an engine would add
//! nothing; a unit test per template proves every placeholder is filled.

pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.trim_end().to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
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
    fn citizen_text_cannot_inject_markup() {
        assert_eq!(
            super::escape("<script>a&b</script>\"'{{price}}"),
            "&lt;script&gt;a&amp;b&lt;/script&gt;&quot;&#39;&#123;&#123;price}}"
        );
    }
}
