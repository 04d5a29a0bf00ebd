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

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_replaced_and_trailing_newline_dropped() {
        assert_eq!(
            super::render("Ma {{code}} ({{code}})\n", &[("code", "123456")]),
            "Ma 123456 (123456)"
        );
    }
}
