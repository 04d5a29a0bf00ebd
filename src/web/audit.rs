//! The audit trail (roles `auditor`, `admin`, as `GET /api/v1/audit/*`): events filtered by
//! actor, object, action and time, newest first, and whether the whole chain verifies.

use askama::Template;
use poem::web::{Data, Query};
use poem::{handler, Response};
use serde::Deserialize;

use super::form;
use super::i18n;
use super::{render, Page, WebError, WebUser};
use crate::app::AppState;
use crate::audit::ChainFault;
use crate::checkpoints::{CheckpointError, Contradiction};
use crate::operators::Role;
use crate::store::AuditQuery;
use crate::vn;

const READERS: &[Role] = &[Role::Auditor, Role::Admin];
const PAGE_SIZE: i64 = 100;

#[derive(Deserialize, Default)]
pub struct Filters {
    /// `operator:<username>`, `api_key:<id>`, `cli`, `system`; a bare username means an
    /// operator.
    #[serde(default)]
    actor: String,
    #[serde(default)]
    object_type: String,
    #[serde(default)]
    object_id: String,
    /// Exact action or a prefix such as `certificate.`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

pub struct Row {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub label: Option<&'static str>,
    pub object: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "web/audit.html")]
struct AuditPage {
    page: Page,
    f: Filters,
    rows: Vec<Row>,
    chain_ok: bool,
    chain_text: String,
    error: Option<String>,
    next_href: Option<String>,
}

#[handler]
pub async fn page(
    user: WebUser,
    state: Data<&AppState>,
    query: Query<Filters>,
) -> Result<Response, WebError> {
    user.require(READERS)?;
    let lang = user.page.lang;
    let f = query.0;
    let mut error = None;
    let from = form::date_filter(&f.from, lang, &mut error);
    let to = form::date_filter(&f.to, lang, &mut error);
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let actor = text(&f.actor).map(|a| {
        if a.contains(':') || a == "cli" || a == "system" {
            a
        } else {
            format!("operator:{a}")
        }
    });
    let q = AuditQuery {
        actor,
        object_type: text(&f.object_type),
        object_id: text(&f.object_id),
        action_prefix: text(&f.action),
        from: from.map(|d| vn::day_start(d).naive_utc()),
        to: to.map(|d| vn::day_start(d + chrono::Duration::days(1)).naive_utc()),
        before_seq: f.before,
        limit: PAGE_SIZE,
    };
    let events = if error.is_some() {
        Vec::new()
    } else {
        state
            .store
            .read(move |tx| tx.search_audit_events(&q))
            .await?
    };
    // The same verification as `ca-enrol audit verify`: the chain, then the checkpoints.
    let verification = state.checkpoints.verify().await.map_err(|e| match e {
        CheckpointError::Store(e) => WebError::from(e),
        other => WebError::Unexpected(other.to_string()),
    })?;
    let chain_ok = verification.ok();
    let (report, checkpoints) = (verification.chain, verification.checkpoints);
    let mut chain_text = match &report.fault {
        None => format!(
            "{} ({} {})",
            lang.t("audit.chain_ok"),
            i18n::count(
                lang,
                i64::try_from(report.events_checked).unwrap_or(i64::MAX)
            ),
            lang.t("audit.events_checked")
        ),
        Some(fault) => {
            let (key, seq) = match fault {
                ChainFault::Modified { seq } => ("audit.fault.modified", seq),
                ChainFault::Removed { after_seq } => ("audit.fault.removed", after_seq),
                ChainFault::Reordered { seq } => ("audit.fault.reordered", seq),
            };
            format!("{} {} #{seq}", lang.t("audit.chain_broken"), lang.t(key))
        }
    };
    let checked = i64::try_from(checkpoints.checked).unwrap_or(i64::MAX);
    chain_text.push_str(". ");
    chain_text.push_str(&match &checkpoints.fault {
        None => format!(
            "{} ({} {})",
            lang.t("audit.checkpoints_ok"),
            i18n::count(lang, checked),
            lang.t("audit.checkpoints_checked")
        ),
        Some(fault) => {
            let key = match fault.contradiction {
                Contradiction::OtherCertificate => "audit.checkpoint.other_certificate",
                Contradiction::BadSignature => "audit.checkpoint.bad_signature",
                Contradiction::ChainDiffers => "audit.checkpoint.chain_differs",
            };
            format!(
                "{} #{} ({}): {}",
                lang.t("audit.checkpoint_contradicted"),
                fault.seq,
                crate::audit::format_time(&fault.at),
                lang.t(key)
            )
        }
    });
    let next_href = (events.len() as i64 == PAGE_SIZE)
        .then(|| events.last().map(|e| e.seq))
        .flatten()
        .map(|before| {
            let enc = super::session::percent_encode;
            format!(
                "/audit?actor={}&object_type={}&object_id={}&action={}&from={}&to={}&before={before}",
                enc(f.actor.trim()),
                enc(f.object_type.trim()),
                enc(f.object_id.trim()),
                enc(f.action.trim()),
                enc(f.from.trim()),
                enc(f.to.trim()),
            )
        });
    let rows = events
        .into_iter()
        .map(|e| Row {
            seq: e.seq,
            at: vn::date_time(e.at),
            label: lang.try_t(&format!("action.{}", e.action)),
            actor: e.actor,
            action: e.action,
            object: format!("{}:{}", e.object_type, e.object_id),
            details: e.details,
        })
        .collect();
    render(&AuditPage {
        page: user.page,
        f,
        rows,
        chain_ok,
        chain_text,
        error,
        next_href,
    })
}
