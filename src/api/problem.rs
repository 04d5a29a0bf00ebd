//! The JSON problem every API error answers with: a stable `code` the app branches on, an
//! English `message` and a Vietnamese `message_vi` a person can read, and per-field errors
//! for validation failures. Internal detail is logged once (with the request id), never sent.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::operators::OperatorsError;
use crate::store::StoreError;

#[derive(Clone, Debug, Object)]
pub struct FieldProblem {
    /// Dotted path of the field, e.g. `identity.id_number`.
    pub field: String,
    pub code: String,
    pub message: String,
    pub message_vi: String,
}

#[derive(Clone, Debug, Object)]
pub struct Problem {
    /// Stable machine-readable code, e.g. `invalid_credentials`.
    pub code: String,
    /// English, for people.
    pub message: String,
    /// Vietnamese, for people.
    pub message_vi: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldProblem>>,
}

#[derive(Debug, ApiResponse)]
pub enum ApiError {
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    #[oai(status = 409)]
    Conflict(Json<Problem>),
    #[oai(status = 413)]
    PayloadTooLarge(Json<Problem>),
    #[oai(status = 415)]
    UnsupportedMediaType(Json<Problem>),
    #[oai(status = 422)]
    Unprocessable(Json<Problem>),
    #[oai(status = 429)]
    TooManyRequests(Json<Problem>),
    #[oai(status = 500)]
    Internal(Json<Problem>),
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

pub fn problem(
    code: &str,
    message: impl Into<String>,
    message_vi: impl Into<String>,
) -> Json<Problem> {
    Json(Problem {
        code: code.to_string(),
        message: message.into(),
        message_vi: message_vi.into(),
        errors: None,
    })
}

impl ApiError {
    /// For failures the caller cannot act on: logged here, answered without detail.
    pub fn unexpected(context: impl std::fmt::Display) -> Self {
        tracing::error!(error = %context, "unexpected error");
        ApiError::Internal(problem(
            "internal_error",
            "Something went wrong on our side; the request id identifies it.",
            "Đã xảy ra lỗi phía máy chủ; mã yêu cầu (request id) giúp tra cứu.",
        ))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::unexpected(e)
    }
}

impl From<OperatorsError> for ApiError {
    fn from(e: OperatorsError) -> Self {
        use OperatorsError as E;
        let en = e.to_string();
        match e {
            E::InvalidUsername => ApiError::Unprocessable(problem(
                "invalid_username",
                en,
                "Tên đăng nhập dài 3-32 ký tự: chữ thường, chữ số, '.', '_', '-', bắt đầu bằng chữ.",
            )),
            E::InvalidRole(_) => ApiError::Unprocessable(problem(
                "invalid_role",
                en,
                "Vai trò không hợp lệ; cho phép: operator, ra_officer, admin, auditor.",
            )),
            E::InvalidScope(_) => ApiError::Unprocessable(problem(
                "invalid_scope",
                en,
                "Phạm vi không hợp lệ; cho phép: enrol, lifecycle, reports.",
            )),
            E::InvalidName => ApiError::Unprocessable(problem(
                "invalid_name",
                en,
                "Tên khóa API phải dài 1-100 ký tự.",
            )),
            E::WeakPassword(_) => ApiError::Unprocessable(problem(
                "weak_password",
                en,
                "Mật khẩu mới phải dài 12-128 ký tự và khác mật khẩu hiện tại.",
            )),
            E::UsernameTaken => ApiError::Conflict(problem(
                "username_taken",
                en,
                "Tên đăng nhập đã tồn tại.",
            )),
            E::InvalidCredentials => ApiError::Unauthorized(problem(
                "invalid_credentials",
                en,
                "Sai tên đăng nhập, mật khẩu hoặc mã xác thực.",
            )),
            E::Locked { until } => ApiError::TooManyRequests(problem(
                "account_locked",
                format!("Too many failed sign-ins; account locked until {}.", until.to_rfc3339()),
                format!(
                    "Đăng nhập sai quá nhiều lần; tài khoản bị khóa đến {}.",
                    until.to_rfc3339()
                ),
            )),
            E::Unauthenticated => ApiError::Unauthorized(problem(
                "unauthenticated",
                en,
                "Thiếu hoặc sai thông tin xác thực.",
            )),
            E::SessionExpired => ApiError::Unauthorized(problem(
                "session_expired",
                en,
                "Phiên làm việc đã hết hạn; vui lòng đăng nhập lại.",
            )),
            E::Forbidden { .. } => ApiError::Forbidden(problem(
                "forbidden",
                en,
                "Bạn không có quyền thực hiện thao tác này.",
            )),
            E::PasswordChangeRequired => ApiError::Forbidden(problem(
                "password_change_required",
                en,
                "Bạn phải đổi mật khẩu dùng một lần trước.",
            )),
            E::NotFound => ApiError::NotFound(problem("not_found", en, "Không tìm thấy.")),
            E::Unexpected(e) => ApiError::unexpected(e),
        }
    }
}
