//! Field-level refusals for the API: `validator` derives on request types catch raw shape
//! problems (lengths, hex digests) first, then parsing into domain types refuses the rest.
//! Both end in one 422 problem listing every failing field once.

use std::collections::BTreeSet;

use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

use poem::http::StatusCode;

use crate::enrolment::identity::{FieldError, FieldErrors};
use crate::problem::{FieldProblem, Problem};
use crate::texts::Text;

/// Stable codes used in `#[validate(...)]` attributes.
pub const TEXT_TOO_LONG: &str = "text_too_long";

/// For `#[validate(custom(function = "sha256_hex"))]`.
pub fn sha256_hex(s: &str) -> Result<(), ValidationError> {
    crate::enrolment::identity::parse_sha256("", s)
        .map(|_| ())
        .map_err(|e| ValidationError::new(e.code))
}

/// The catalogue's text for a `validator` refusal (`field.<code>`). Built from the rule's
/// bounds only: `validator` also puts the submitted value in `params`, which must never be
/// answered (it may be a password or a code).
fn describe(e: &ValidationError) -> Text {
    match (e.code.as_ref(), e.params.get("max")) {
        (TEXT_TOO_LONG, Some(max)) => Text::of("field.text_too_long").arg("max_chars", max),
        ("length", Some(max)) => Text::of("field.length")
            .arg(
                "min",
                e.params.get("min").map_or(0, |m| m.as_u64().unwrap_or(0)),
            )
            .arg("max", max),
        (crate::enrolment::identity::codes::SHA256_FORMAT, _) => Text::of("field.sha256_format"),
        _ => Text::of("field.invalid"),
    }
}

fn flatten(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldProblem>) {
    for (name, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    out.push(FieldProblem {
                        field: path.clone(),
                        code: e.code.to_string(),
                        text: describe(e),
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    flatten(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

pub fn from_field_error(e: FieldError) -> FieldProblem {
    FieldProblem {
        field: e.field,
        code: e.code.to_string(),
        text: e.text,
    }
}

/// Every failing field, the `validator` refusals first; a field refused by both is listed
/// once. `None` when nothing failed.
pub fn field_problems(
    shape: Result<(), ValidationErrors>,
    parsed: Result<(), FieldErrors>,
) -> Option<Problem> {
    let mut out = Vec::new();
    if let Err(e) = shape {
        flatten(&e, "", &mut out);
        out.sort_by(|a, b| a.field.cmp(&b.field));
    }
    let seen: BTreeSet<String> = out.iter().map(|p| p.field.clone()).collect();
    if let Err(e) = parsed {
        out.extend(
            e.0.into_iter()
                .filter(|e| !seen.contains(&e.field))
                .map(from_field_error),
        );
    }
    (!out.is_empty()).then(|| unprocessable(out))
}

pub fn unprocessable(errors: Vec<FieldProblem>) -> Problem {
    let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    p.errors = errors;
    p
}
