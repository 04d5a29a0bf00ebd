//! The dashboard: every role's landing page.

use askama::Template;
use poem::{handler, Response};

use super::{render, Page, WebError, WebUser};

#[derive(Template)]
#[template(path = "web/dashboard.html")]
struct DashboardPage {
    page: Page,
}

#[handler]
pub async fn page(user: WebUser) -> Result<Response, WebError> {
    render(&DashboardPage { page: user.page })
}
