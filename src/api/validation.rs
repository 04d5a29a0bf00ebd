//! Field-level refusals for the API: `validator` derives on request types catch raw shape
//! problems (lengths, hex digests) first, then parsing into domain types refuses the rest.
//! Both end in one 422 problem listing every failing field once.

use std::collections::BTreeSet;

use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

use super::problem::{problem, ApiError, FieldProblem};
use crate::enrolment::identity::{FieldError, FieldErrors};

/// Stable codes used in `#[validate(...)]` attributes.
pub const TEXT_TOO_LONG: &str = "text_too_long";

/// For `#[validate(custom(function = "sha256_hex"))]`.
pub fn sha256_hex(s: &str) -> Result<(), ValidationError> {
    crate::enrolment::identity::parse_sha256("", s)
        .map(|_| ())
        .map_err(|e| ValidationError::new(e.code))
}

fn describe(e: &ValidationError) -> (String, String) {
    let max = e.params.get("max").map(ToString::to_string);
    match (e.code.as_ref(), max) {
        (TEXT_TOO_LONG, Some(max)) => (
            format!("The text must be at most {max} characters long."),
            format!("Nội dung không được dài quá {max} ký tự."),
        ),
        (crate::enrolment::identity::codes::SHA256_FORMAT, _) => (
            "A SHA-256 value must be 64 hexadecimal characters.".into(),
            "Giá trị SHA-256 phải gồm 64 ký tự thập lục phân.".into(),
        ),
        _ => (
            "This value is not valid.".into(),
            "Giá trị không hợp lệ.".into(),
        ),
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
                    let (message, message_vi) = describe(e);
                    out.push(FieldProblem {
                        field: path.clone(),
                        code: e.code.to_string(),
                        message,
                        message_vi,
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

fn from_field_error(e: FieldError) -> FieldProblem {
    FieldProblem {
        field: e.field,
        code: e.code.to_string(),
        message: e.message_en,
        message_vi: e.message_vi,
    }
}

/// Every failing field, the `validator` refusals first; a field refused by both is listed
/// once. `None` when nothing failed.
pub fn field_problems(
    shape: Result<(), ValidationErrors>,
    parsed: Result<(), FieldErrors>,
) -> Option<ApiError> {
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

pub fn unprocessable(errors: Vec<FieldProblem>) -> ApiError {
    let mut p = problem(
        "validation_failed",
        "Some fields are invalid; see `errors`.",
        "Một số trường không hợp lệ; xem `errors`.",
    );
    p.0.errors = Some(errors);
    ApiError::Unprocessable(p)
}
