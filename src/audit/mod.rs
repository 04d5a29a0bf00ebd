//! The audit trail: append-only events, each hashed over its canonical encoding together with
//! the previous event's hash, written in the same transaction as the change it records
//! (see `store::Tx::audit`). An auditor re-walks the chain with [`Verifier`]
//! (`ca-enrol audit verify`) without any secret.
//!
//! The position (`seq`) is deliberately not part of the hash: the link to the previous hash
//! fixes the order, so a renumbered or swapped event shows as a broken link and can be told
//! apart from a modified one (whose own hash no longer matches its content).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// Who did something. Rendered as `kind:name` in the trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Operator {
        username: String,
    },
    ApiKey {
        id: String,
    },
    /// The `ca-enrol` command line, run by whoever holds the server.
    Cli,
    /// The service itself (first run, scheduled jobs).
    System,
    /// The national VNeID hub, by a registration it signed.
    VneidHub,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Operator { username } => write!(f, "operator:{username}"),
            Actor::ApiKey { id } => write!(f, "api_key:{id}"),
            Actor::Cli => f.write_str("cli"),
            Actor::System => f.write_str("system"),
            Actor::VneidHub => f.write_str("vneid_hub"),
        }
    }
}

/// An event about to be appended.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// Dotted verb, e.g. `operator.created`, `operator.login_failed`.
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: String,
    /// Never secrets or face data: what an auditor needs to understand the change.
    pub details: serde_json::Value,
}

impl NewEvent {
    pub fn new(
        at: DateTime<Utc>,
        actor: &Actor,
        action: &'static str,
        object_type: &'static str,
        object_id: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self {
            at,
            actor: actor.clone(),
            action,
            object_type,
            object_id: object_id.into(),
            details,
        }
    }

    /// The event's text, fixed now: what a writer appends without formatting anything.
    pub fn into_text(self) -> EventText {
        let at = crate::clock::truncate(self.at);
        let actor = self.actor.to_string();
        let details = self.details.to_string();
        let chain_suffix = chain_suffix(
            &at,
            &actor,
            self.action,
            self.object_type,
            &self.object_id,
            &details,
        );
        EventText {
            at,
            actor,
            action: self.action,
            object_type: self.object_type,
            object_id: self.object_id,
            details,
            chain_suffix,
        }
    }
}

/// An event as it will be stored (time truncated to the stored precision, actor and details
/// serialised) with the part of its canonical encoding that follows the previous hash. Made
/// before the write transaction, so that the writer, which holds SQLite's single write lane,
/// only hashes the previous hash with it and inserts it (`store::Tx::audit_text`).
#[derive(Clone, Debug)]
pub struct EventText {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: String,
    pub details: String,
    chain_suffix: Vec<u8>,
}

impl EventText {
    /// [`chain_hash`] of this event after `prev_hash`.
    pub fn chain_hash(&self, prev_hash: &str) -> String {
        chain_hash_with(prev_hash, &self.chain_suffix)
    }
}

/// The stored form of an event, as read back for verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A checkpoint of the chain: its head was event `seq` with `hash`, at `at`. The provider's
/// sealing key signs [`Checkpoint::signed_bytes`], anchoring the chain outside the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
}

impl Checkpoint {
    /// What is signed: a JSON array that names itself first, so the signature cannot pass
    /// for one over another kind of document.
    pub fn signed_bytes(&self) -> Vec<u8> {
        serde_json::json!([
            "ca-enrol audit checkpoint v1",
            self.seq,
            self.hash,
            format_time(&self.at)
        ])
        .to_string()
        .into_bytes()
    }
}

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub fn format_time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// SHA-256 (hex) of the canonical encoding: a JSON array of the previous hash, the time
/// (RFC 3339, microseconds, UTC), actor, action, object type, object id and the details text
/// exactly as stored (compact JSON, serde_json's string escaping).
pub fn chain_hash(
    prev_hash: &str,
    at: &DateTime<Utc>,
    actor: &str,
    action: &str,
    object_type: &str,
    object_id: &str,
    details: &str,
) -> String {
    let suffix = chain_suffix(at, actor, action, object_type, object_id, details);
    chain_hash_with(prev_hash, &suffix)
}

/// The canonical encoding after its first element: `,"<time>","<actor>",…,"<details>"]`.
fn chain_suffix(
    at: &DateTime<Utc>,
    actor: &str,
    action: &str,
    object_type: &str,
    object_id: &str,
    details: &str,
) -> Vec<u8> {
    let time = format_time(at);
    let mut out = Vec::with_capacity(details.len() + object_id.len() + actor.len() + 96);
    for field in [
        time.as_str(),
        actor,
        action,
        object_type,
        object_id,
        details,
    ] {
        out.push(b',');
        push_json_string(&mut out, field);
    }
    out.push(b']');
    out
}

fn chain_hash_with(prev_hash: &str, suffix: &[u8]) -> String {
    let mut head = Vec::with_capacity(prev_hash.len() + 3);
    head.push(b'[');
    push_json_string(&mut head, prev_hash);
    let mut sha = openssl::sha::Sha256::new();
    sha.update(&head);
    sha.update(suffix);
    hex::encode(sha.finish())
}

/// `s` as a JSON string, escaped by serde_json, straight into `out`.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn own_hash(e: &StoredEvent) -> String {
    chain_hash(
        &e.prev_hash,
        &e.at,
        &e.actor,
        &e.action,
        &e.object_type,
        &e.object_id,
        &e.details,
    )
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainFault {
    /// The event's content no longer matches its hash.
    Modified { seq: i64 },
    /// An event is missing: a gap in the numbering, a broken link that no later event
    /// explains, or a chain shorter than its recorded head.
    Removed { after_seq: i64 },
    /// The event is intact but stands in the wrong place: it links to an event found later.
    Reordered { seq: i64 },
}

impl fmt::Display for ChainFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainFault::Modified { seq } => write!(f, "event {seq} was modified"),
            ChainFault::Removed { after_seq } => {
                write!(f, "an event was removed after event {after_seq}")
            }
            ChainFault::Reordered { seq } => write!(f, "event {seq} was moved out of order"),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub events_checked: u64,
    pub head_seq: i64,
    pub fault: Option<ChainFault>,
}

/// Walks the chain in `seq` order, one event of look-ahead, and stops at the first fault.
pub struct Verifier {
    prev_seq: i64,
    prev_hash: String,
    pending: Option<StoredEvent>,
    checked: u64,
    fault: Option<ChainFault>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            prev_seq: 0,
            prev_hash: GENESIS_HASH.to_string(),
            pending: None,
            checked: 0,
            fault: None,
        }
    }
}

impl Verifier {
    /// Feeds the next event in `seq` order. Returns false once a fault is found.
    pub fn feed(&mut self, event: StoredEvent) -> bool {
        if self.fault.is_some() {
            return false;
        }
        if let Some(current) = self.pending.take() {
            self.check(current, Some(&event));
        }
        self.pending = Some(event);
        self.fault.is_none()
    }

    fn check(&mut self, e: StoredEvent, next: Option<&StoredEvent>) {
        if e.seq != self.prev_seq + 1 {
            self.fault = Some(ChainFault::Removed {
                after_seq: self.prev_seq,
            });
            return;
        }
        if own_hash(&e) != e.hash {
            self.fault = Some(ChainFault::Modified { seq: e.seq });
            return;
        }
        if e.prev_hash != self.prev_hash {
            let moved = next.is_some_and(|n| n.hash == e.prev_hash);
            self.fault = Some(if moved {
                ChainFault::Reordered { seq: e.seq }
            } else {
                ChainFault::Removed {
                    after_seq: self.prev_seq,
                }
            });
            return;
        }
        self.prev_seq = e.seq;
        self.prev_hash = e.hash;
        self.checked += 1;
    }

    /// Ends the walk against the recorded head (last sequence number and hash).
    pub fn finish(mut self, head_seq: i64, head_hash: &str) -> VerifyReport {
        if let Some(last) = self.pending.take() {
            if self.fault.is_none() {
                self.check(last, None);
            }
        }
        if self.fault.is_none() && (self.prev_seq != head_seq || self.prev_hash != head_hash) {
            self.fault = Some(if self.prev_seq < head_seq {
                ChainFault::Removed {
                    after_seq: self.prev_seq,
                }
            } else {
                // The chain runs past its head: events were added outside the service.
                ChainFault::Modified { seq: head_seq }
            });
        }
        VerifyReport {
            events_checked: self.checked,
            head_seq,
            fault: self.fault,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_hash_is_the_sha256_of_the_compact_json_array_of_the_event() {
        // The encoding as first written (a serde_json array): chains stored before the
        // encoding was assembled field by field must still verify.
        let reference = |prev: &str, at: &DateTime<Utc>, f: [&str; 5]| {
            let canonical =
                serde_json::json!([prev, format_time(at), f[0], f[1], f[2], f[3], f[4]]);
            hex::encode(crate::ca::sha256(canonical.to_string().as_bytes()))
        };
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        for fields in [
            ["system", "test.event", "test", "x", "{}"],
            [
                "operator:lan \"trưởng\"",
                "contract.signed",
                "contract",
                "HĐ/2026\\01\u{7}",
                "{\"note\":\"dòng 1\\ndòng 2\\t\\u0001 \u{1F600}\"}",
            ],
            ["", "", "", "", ""],
        ] {
            let [actor, action, object_type, object_id, details] = fields;
            assert_eq!(
                chain_hash(
                    GENESIS_HASH,
                    &at,
                    actor,
                    action,
                    object_type,
                    object_id,
                    details
                ),
                reference(GENESIS_HASH, &at, fields)
            );
        }
        let event = NewEvent::new(
            at,
            &Actor::System,
            "certificate.recorded",
            "certificate",
            "4001",
            serde_json::json!({"key": "P-256", "ghi chú": "\"x\"\n"}),
        );
        let text = event.into_text();
        assert_eq!(
            text.chain_hash("ab12"),
            reference(
                "ab12",
                &text.at,
                [
                    &text.actor,
                    text.action,
                    text.object_type,
                    "4001",
                    &text.details
                ]
            )
        );
    }

    fn chain(n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let at = DateTime::from_timestamp(1_700_000_000 + seq, 0).unwrap();
                let details = format!("{{\"n\":{seq}}}");
                let hash = chain_hash(&prev, &at, "system", "test.event", "test", "x", &details);
                let e = StoredEvent {
                    seq,
                    at,
                    actor: "system".into(),
                    action: "test.event".into(),
                    object_type: "test".into(),
                    object_id: "x".into(),
                    details,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(events: Vec<StoredEvent>, head: (i64, &str)) -> VerifyReport {
        let mut v = Verifier::default();
        for e in events {
            if !v.feed(e) {
                break;
            }
        }
        v.finish(head.0, head.1)
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        let head = c[4].hash.clone();
        let r = verify(c, (5, &head));
        assert_eq!(r.fault, None);
        assert_eq!(r.events_checked, 5);
    }

    #[test]
    fn edited_details_are_reported_as_modified() {
        let mut c = chain(5);
        let head = c[4].hash.clone();
        c[2].details = "{\"n\":99}".into();
        assert_eq!(
            verify(c, (5, &head)).fault,
            Some(ChainFault::Modified { seq: 3 })
        );
    }

    #[test]
    fn swapped_events_are_reported_as_reordered() {
        let mut c = chain(5);
        let head = c[4].hash.clone();
        c.swap(1, 2);
        c[1].seq = 2;
        c[2].seq = 3;
        assert_eq!(
            verify(c, (5, &head)).fault,
            Some(ChainFault::Reordered { seq: 2 })
        );
    }

    #[test]
    fn deleted_event_is_reported_as_removed() {
        let mut c = chain(5);
        let head = c[4].hash.clone();
        c.remove(2);
        assert_eq!(
            verify(c, (5, &head)).fault,
            Some(ChainFault::Removed { after_seq: 2 })
        );
    }

    #[test]
    fn deleted_and_renumbered_event_is_reported_as_removed() {
        let mut c = chain(5);
        let head = c[4].hash.clone();
        c.remove(2);
        c[2].seq = 3;
        c[3].seq = 4;
        assert_eq!(
            verify(c, (4, &head)).fault,
            Some(ChainFault::Removed { after_seq: 2 })
        );
    }

    #[test]
    fn deleted_tail_is_reported_against_the_head() {
        let mut c = chain(5);
        let head = c[4].hash.clone();
        c.pop();
        assert_eq!(
            verify(c, (5, &head)).fault,
            Some(ChainFault::Removed { after_seq: 4 })
        );
    }
}
