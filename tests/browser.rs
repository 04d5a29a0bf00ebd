//! End-to-end scenarios in headless Chromium (`tests/browser/*.mjs`, playwright-core) against
//! the real application on port 0. Screenshots land in `target/browser-screenshots/`.

mod common;

use common::browser::run_scenario;
use common::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn the_api_documentation_renders_in_a_real_browser() {
    let app = TestApp::spawn().await;
    run_scenario(&app, "api-docs", &[]).await;
}
