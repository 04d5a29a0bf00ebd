//! Delivery: the outbox and its dispatcher against a local HTTP SMS gateway (successes,
//! 500s, timeouts, refusals), a real SMTP server (aiosmtpd), the development file back end,
//! and several dispatchers sharing one database.

use crate::common;

use std::collections::{HashMap, VecDeque};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use ca_enrol::app;
use ca_enrol::audit::{Actor, NewEvent, StoredEvent};
use ca_enrol::clock::{Clock, ManualClock};
use ca_enrol::config::Config;
use ca_enrol::enrolment::identity::{Email, PhoneNumber};
use ca_enrol::notify::{
    AttachedDocument, Dispatcher, EmailSender, HttpSms, MemorySink, Notifier, NotifyError, Outbox,
    OutgoingMessage, Recipient, SmsSender, SmtpMailer, SubscriberNotice,
};
use ca_enrol::notify::{OutboxSettings, SmsBackend, SmtpTls};
use ca_enrol::otp::{ChallengeLookup, ChallengeRequest, Check, DocumentDigest, OtpError, Purpose};
use ca_enrol::store::{OutboxRow, Store};
use chrono::Duration;
use common::{otp_in, TestApp, TestEnv};
use poem::listener::{Acceptor, Listener};
use serde_json::Value;

const PHONE: &str = "+84912345678";

// ---------------------------------------------------------------------------------------------
// A local SMS gateway that answers from a script and records what it received.

#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    /// Answers only after the client has given up.
    Hang,
}

#[derive(Clone, Debug)]
struct Received {
    body: Value,
    auth: Option<String>,
    idempotency_key: Option<String>,
}

#[derive(Clone, Default)]
struct Gateway {
    script: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
    /// Delay before every answer (to make concurrent claims overlap).
    delay_ms: u64,
}

impl Gateway {
    /// Serves on a free port; replies follow `script`, then 200.
    async fn start(script: &[Reply], delay_ms: u64) -> (Self, String) {
        let gw = Gateway {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            delay_ms,
            ..Default::default()
        };
        let state = gw.clone();
        let endpoint = poem::endpoint::make(move |req: poem::Request| {
            let gw = state.clone();
            async move {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let auth = header("x-api-key");
                let idempotency_key = header("idempotency-key");
                let mut req = req;
                let bytes = req.take_body().into_bytes().await.unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                gw.received.lock().unwrap().push(Received {
                    body,
                    auth,
                    idempotency_key,
                });
                tokio::time::sleep(StdDuration::from_millis(gw.delay_ms)).await;
                let reply = gw.script.lock().unwrap().pop_front();
                match reply.unwrap_or(Reply::Status(200)) {
                    Reply::Status(code) => poem::Response::builder()
                        .status(poem::http::StatusCode::from_u16(code).unwrap())
                        .body("{}"),
                    Reply::Hang => {
                        tokio::time::sleep(StdDuration::from_secs(5)).await;
                        poem::Response::builder().body("{}")
                    }
                }
            }
        });
        let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
        (gw, format!("http://127.0.0.1:{port}/send"))
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// An outbox on the test's database, with a dispatcher driven by hand.

struct Rig {
    env: TestEnv,
    config: Config,
    store: Store,
    outbox: Outbox,
    clock: Arc<ManualClock>,
}

impl Rig {
    async fn new() -> Self {
        let env = TestEnv::new();
        let mut config = env.config();
        config.outbox = OutboxSettings {
            max_attempts: 4,
            backoff_base_seconds: 10,
            backoff_max_seconds: 25,
            ..config.outbox
        };
        config.notify.sms.timeout_seconds = 1;
        let store = app::open_store(&config).unwrap();
        let migrating = store.clone();
        tokio::task::spawn_blocking(move || migrating.migrate())
            .await
            .unwrap()
            .unwrap();
        let keys = app::master_key(&config, &store, &ca_enrol::clock::SystemClock)
            .await
            .unwrap();
        Self {
            env,
            config,
            store,
            outbox: Outbox::new(keys),
            clock: ManualClock::new(),
        }
    }

    fn http_sms(&self, url: &str) -> SmsSender {
        let mut sms = self.config.notify.sms.clone();
        sms.backend = SmsBackend::Http;
        sms.http_url = url.into();
        sms.http_auth_header = "X-Api-Key".into();
        sms.http_auth_value = ca_enrol::settings::Secret::new("gw-secret");
        sms.http_body_template =
            r#"{"msisdn": "{{to}}", "message": {"content": "{{text}}"}, "ref": "{{message_id}}"}"#
                .into();
        SmsSender::Http(HttpSms::from_settings(&sms).unwrap())
    }

    fn dispatcher(&self, email: EmailSender, sms: SmsSender) -> Dispatcher {
        Dispatcher::new(
            self.store.clone(),
            self.outbox.clone(),
            Notifier::new(email, sms),
            self.clock.clone(),
            self.config.outbox.clone(),
        )
    }

    async fn enqueue(&self, to: Recipient, text: &str) -> String {
        self.enqueue_until(to, text, None).await
    }

    async fn enqueue_until(
        &self,
        to: Recipient,
        text: &str,
        not_after: Option<chrono::DateTime<chrono::Utc>>,
    ) -> String {
        self.enqueue_message(OutgoingMessage {
            kind: "test",
            to,
            subject: "Thông báo".into(),
            text: text.into(),
            not_after,
            attachment: None,
        })
        .await
    }

    async fn enqueue_message(&self, message: OutgoingMessage) -> String {
        let outbox = self.outbox.clone();
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let id = outbox.enqueue(tx, now, message.clone())?;
                tx.audit(NewEvent::new(
                    now,
                    &Actor::System,
                    "test.notice",
                    "test",
                    id.clone(),
                    serde_json::json!({}),
                ))?;
                Ok::<_, NotifyError>(id)
            })
            .await
            .unwrap()
    }

    /// The trail's first hundred events.
    async fn events(&self) -> Vec<StoredEvent> {
        self.store
            .read(|tx| tx.audit_events_after(0, 100))
            .await
            .unwrap()
    }

    async fn row(&self, id: &str) -> OutboxRow {
        let id = id.to_string();
        self.store
            .read(move |tx| tx.outbox_message(&id))
            .await
            .unwrap()
            .unwrap()
    }
}

fn phone() -> Recipient {
    Recipient::Phone(PhoneNumber::parse("phone", PHONE).unwrap())
}

fn seconds_after(row: &OutboxRow, t: chrono::DateTime<chrono::Utc>) -> i64 {
    (row.next_attempt_at - t.naive_utc()).num_seconds()
}

#[tokio::test]
async fn sms_goes_to_the_gateway_as_configured_json_with_auth_and_idempotency_key() {
    let rig = Rig::new().await;
    let (gw, url) = Gateway::start(&[], 0).await;
    let d = rig.dispatcher(
        EmailSender::Memory(MemorySink::default()),
        rig.http_sms(&url),
    );
    let id = rig.enqueue(phone(), "Ma OTP 123456 \"x\"").await;
    assert_eq!(d.run_once().await.unwrap(), 1);

    let got = gw.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["msisdn"], PHONE);
    assert_eq!(got[0].body["message"]["content"], "Ma OTP 123456 \"x\"");
    assert_eq!(got[0].body["ref"], id.as_str());
    assert_eq!(got[0].auth.as_deref(), Some("gw-secret"));
    assert_eq!(got[0].idempotency_key.as_deref(), Some(id.as_str()));
    let row = rig.row(&id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));
    // Nothing more to do.
    assert_eq!(d.run_once().await.unwrap(), 0);
    assert_eq!(gw.received().len(), 1);
}

#[tokio::test]
async fn gateway_errors_and_timeouts_are_retried_with_exponential_backoff_until_delivered() {
    let rig = Rig::new().await;
    let (gw, url) = Gateway::start(&[Reply::Status(500), Reply::Hang, Reply::Status(503)], 0).await;
    let d = rig.dispatcher(
        EmailSender::Memory(MemorySink::default()),
        rig.http_sms(&url),
    );
    let id = rig.enqueue(phone(), "Ma OTP 123456").await;

    let t = rig.clock.now();
    d.run_once().await.unwrap();
    let row = rig.row(&id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert_eq!(
        row.last_error.as_deref(),
        Some("SMS gateway answered HTTP 500")
    );
    assert_eq!(seconds_after(&row, t), 10);
    // Not due yet: nothing is sent.
    rig.clock.advance(Duration::seconds(9));
    assert_eq!(d.run_once().await.unwrap(), 0);

    rig.clock.advance(Duration::seconds(1));
    let t = rig.clock.now();
    d.run_once().await.unwrap();
    let row = rig.row(&id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 2));
    assert_eq!(row.last_error.as_deref(), Some("SMS gateway timed out"));
    assert!((20..=21).contains(&seconds_after(&row, t)), "doubled");

    rig.clock.advance(Duration::seconds(21));
    let t = rig.clock.now();
    d.run_once().await.unwrap();
    let row = rig.row(&id).await;
    assert_eq!(row.attempts, 3);
    assert_eq!(seconds_after(&row, t), 25, "capped at backoff_max_seconds");

    rig.clock.advance(Duration::seconds(25));
    d.run_once().await.unwrap();
    let row = rig.row(&id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 4));
    assert_eq!(row.last_error, None);
    // Four requests, all carrying the same idempotency key.
    let keys: Vec<_> = gw
        .received()
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys, vec![Some(id.clone()); 4]);
}

#[tokio::test]
async fn a_message_fails_with_the_last_error_after_the_maximum_attempts() {
    let rig = Rig::new().await;
    let (gw, url) = Gateway::start(&[Reply::Status(500); 10], 0).await;
    let d = rig.dispatcher(
        EmailSender::Memory(MemorySink::default()),
        rig.http_sms(&url),
    );
    let id = rig.enqueue(phone(), "Ma OTP 123456").await;
    for _ in 0..6 {
        d.run_once().await.unwrap();
        rig.clock.advance(Duration::seconds(30));
    }
    let row = rig.row(&id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 4));
    assert_eq!(
        row.last_error.as_deref(),
        Some("SMS gateway answered HTTP 500")
    );
    assert_eq!(gw.received().len(), 4);

    let events = rig.events().await;
    let actions: Vec<_> = events
        .iter()
        .filter(|e| e.object_id == id && e.action.starts_with("outbox."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "outbox.retry_scheduled",
            "outbox.retry_scheduled",
            "outbox.retry_scheduled",
            "outbox.failed"
        ]
    );
    assert!(events.iter().all(|e| !e.details.contains("123456")));
}

#[tokio::test]
async fn a_gateway_refusal_is_not_retried_and_an_expired_message_is_not_sent() {
    let rig = Rig::new().await;
    let (gw, url) = Gateway::start(&[Reply::Status(400)], 0).await;
    let d = rig.dispatcher(
        EmailSender::Memory(MemorySink::default()),
        rig.http_sms(&url),
    );
    let refused = rig.enqueue(phone(), "Ma OTP 123456").await;
    d.run_once().await.unwrap();
    let row = rig.row(&refused).await;
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
    assert_eq!(
        row.last_error.as_deref(),
        Some("SMS gateway answered HTTP 400")
    );

    let late = rig
        .enqueue_until(
            phone(),
            "Ma OTP 654321",
            Some(rig.clock.now() + Duration::seconds(60)),
        )
        .await;
    rig.clock.advance(Duration::seconds(61));
    d.run_once().await.unwrap();
    let row = rig.row(&late).await;
    assert_eq!(row.status, "failed");
    assert_eq!(
        row.last_error.as_deref(),
        Some("expired before it could be delivered")
    );
    assert_eq!(
        gw.received().len(),
        1,
        "the expired code never reached the gateway"
    );
}

#[tokio::test]
async fn an_e_mail_whose_attached_document_is_gone_fails_with_the_reason_audited() {
    let rig = Rig::new().await;
    let sink = MemorySink::default();
    let d = rig.dispatcher(
        EmailSender::Memory(sink.clone()),
        SmsSender::Memory(MemorySink::default()),
    );
    // A reference to a document that is not (or no longer) stored.
    let id = rig
        .enqueue_message(OutgoingMessage {
            kind: "contract_signed",
            to: Recipient::Email(Email::parse("email", "an.nguyen@example.vn").unwrap()),
            subject: "Hợp đồng HD-2026-000001".into(),
            text: "Bản hợp đồng đã ký được đính kèm thư này.".into(),
            not_after: None,
            attachment: Some(AttachedDocument {
                kind: "contract_signed".into(),
                subject: "destroyed-contract".into(),
                filename: "HD-2026-000001.pdf".into(),
            }),
        })
        .await;
    d.run_once().await.unwrap();
    let row = rig.row(&id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
    let reason = "attached document no longer stored: contract_signed destroyed-contract";
    assert_eq!(row.last_error.as_deref(), Some(reason));
    assert!(
        sink.delivered().is_empty(),
        "not sent without its attachment"
    );
    let events = rig.events().await;
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.object_id == id && e.action == "outbox.failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].details.contains(reason), "{}", failed[0].details);
}

#[tokio::test]
async fn dispatchers_of_several_processes_deliver_each_message_once() {
    let rig = Rig::new().await;
    // Slow answers, so both dispatchers are busy at the same time.
    let (gw, url) = Gateway::start(&[], 150).await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(rig.enqueue(phone(), &format!("tin nhan {i}")).await);
    }
    let mut config = rig.config.outbox.clone();
    config.batch_size = 4;
    let make = || {
        Dispatcher::new(
            rig.store.clone(),
            rig.outbox.clone(),
            Notifier::new(
                EmailSender::Memory(MemorySink::default()),
                rig.http_sms(&url),
            ),
            rig.clock.clone(),
            config.clone(),
        )
    };
    let (a, b, c) = (make(), make(), make());
    let drain = |d: Dispatcher| async move {
        let mut total = 0;
        loop {
            match d.run_once().await.unwrap() {
                0 => return total,
                n => total += n,
            }
        }
    };
    let (na, nb, nc) = tokio::join!(drain(a), drain(b), drain(c));
    assert_eq!(na + nb + nc, 30, "claimed {na} + {nb} + {nc}");
    assert!(na > 0 && nb > 0 && nc > 0, "all took part: {na}/{nb}/{nc}");
    let mut per_message: HashMap<String, usize> = HashMap::new();
    for r in gw.received() {
        *per_message.entry(r.idempotency_key.unwrap()).or_default() += 1;
    }
    assert_eq!(per_message.len(), 30);
    assert!(per_message.values().all(|&n| n == 1), "{per_message:?}");
    for id in &ids {
        assert_eq!(rig.row(id).await.status, "sent");
    }
}

#[tokio::test]
async fn a_code_is_claimed_before_notices_queued_earlier() {
    let rig = Rig::new().await;
    // The reminder job's burst: a dozen notices (SMS and e-mail each), due a minute earlier.
    let notices = 12;
    for i in 0..notices {
        let (outbox, now) = (rig.outbox.clone(), rig.clock.now());
        rig.store
            .write(move |tx| {
                outbox.notify_subscriber(
                    tx,
                    now,
                    SubscriberNotice {
                        kind: "test.notice",
                        phone: PHONE,
                        email: Some("an@example.vn"),
                        sms: format!("nhac hen {i}"),
                        email_subject: "Nhắc hẹn".into(),
                        email_body: format!("nhac hen {i}"),
                        not_after: None,
                    },
                )?;
                tx.audit(NewEvent::new(
                    now,
                    &Actor::System,
                    "test.notice",
                    "test",
                    i.to_string(),
                    serde_json::json!({}),
                ))?;
                Ok::<_, NotifyError>(())
            })
            .await
            .unwrap();
    }
    rig.clock.advance(Duration::minutes(1));
    let code = rig.enqueue(phone(), "Ma xac thuc: 123456").await;
    assert!(rig.row(&code).await.urgent);

    let mut config = rig.config.outbox.clone();
    config.batch_size = 4;
    let dispatcher = Dispatcher::new(
        rig.store.clone(),
        rig.outbox.clone(),
        Notifier::new(
            EmailSender::Memory(MemorySink::default()),
            SmsSender::Memory(MemorySink::default()),
        ),
        rig.clock.clone(),
        config,
    );
    assert_eq!(dispatcher.run_once().await.unwrap(), 4);
    assert_eq!(rig.row(&code).await.status, "sent");
    // Then the notices, until none is left.
    let mut claimed = 4;
    loop {
        match dispatcher.run_once().await.unwrap() {
            0 => break,
            n => claimed += n,
        }
    }
    assert_eq!(claimed, 1 + 2 * notices);
}

#[tokio::test]
async fn a_message_claimed_by_a_process_that_died_is_delivered_after_the_lease() {
    let rig = Rig::new().await;
    let (gw, url) = Gateway::start(&[], 0).await;
    let id = rig.enqueue(phone(), "Ma OTP 123456").await;
    // A process claims it and dies before delivering.
    let now = rig.clock.now();
    let lease = Duration::seconds(rig.config.outbox.lease_seconds.into());
    let claimed = rig
        .store
        .claim_outbox(
            now.naive_utc(),
            (now + lease).naive_utc(),
            "dead".into(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    let d = rig.dispatcher(
        EmailSender::Memory(MemorySink::default()),
        rig.http_sms(&url),
    );
    assert_eq!(d.run_once().await.unwrap(), 0, "the claim holds");
    rig.clock.advance(lease);
    assert_eq!(d.run_once().await.unwrap(), 1);
    assert_eq!(rig.row(&id).await.status, "sent");
    assert_eq!(gw.received().len(), 1);
}

#[tokio::test]
async fn a_claim_lost_during_delivery_stays_with_its_new_owner_and_the_rest_of_the_batch_is_recorded(
) {
    let rig = Rig::new().await;
    // Slow answers: the claims are taken over while the batch is being delivered.
    let (gw, url) = Gateway::start(&[], 300).await;
    let kept = rig.enqueue(phone(), "tin nhan 1").await;
    let taken = rig.enqueue(phone(), "tin nhan 2").await;
    let d = rig.dispatcher(
        EmailSender::Memory(MemorySink::default()),
        rig.http_sms(&url),
    );
    let batch = tokio::spawn(async move { d.run_once().await });
    while gw.received().len() < 2 {
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    // Another dispatcher took `taken` over (as after its lease ran out).
    rig.env.sql(&format!(
        "UPDATE outbox_messages SET claim_token = 'other' WHERE id = '{taken}'"
    ));
    assert_eq!(
        batch.await.unwrap().unwrap(),
        2,
        "both claimed and delivered"
    );

    let row = rig.row(&kept).await;
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 1));
    let row = rig.row(&taken).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.attempts,
            row.claim_token.as_deref()
        ),
        ("pending", 0, Some("other")),
        "nothing recorded over the new owner's claim"
    );
    let events = rig.events().await;
    let sent: Vec<_> = events
        .iter()
        .filter(|e| e.action == "outbox.sent")
        .map(|e| e.object_id.as_str())
        .collect();
    assert_eq!(sent, [kept.as_str()]);

    // All of a batch lost: nothing recorded, and the dispatcher goes on.
    let (gw, url) = Gateway::start(&[], 300).await;
    let alone = rig.enqueue(phone(), "tin nhan 3").await;
    let d = rig.dispatcher(
        EmailSender::Memory(MemorySink::default()),
        rig.http_sms(&url),
    );
    let batch = tokio::spawn(async move { d.run_once().await });
    while gw.received().is_empty() {
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    rig.env.sql(&format!(
        "UPDATE outbox_messages SET claim_token = 'other' WHERE id = '{alone}'"
    ));
    assert_eq!(batch.await.unwrap().unwrap(), 1);
    let row = rig.row(&alone).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 0));
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_a_transient_failure() {
    let rig = Rig::new().await;
    let port = free_port();
    let mut email = rig.config.notify.email.clone();
    email.smtp_host = "127.0.0.1".into();
    email.smtp_port = port;
    email.smtp_tls = SmtpTls::None;
    let mailer = SmtpMailer::from_settings(&email).unwrap();
    let d = rig.dispatcher(
        EmailSender::Smtp(Box::new(mailer)),
        SmsSender::Memory(MemorySink::default()),
    );
    let to = Recipient::Email(Email::parse("email", "a@example.vn").unwrap());
    let id = rig.enqueue(to, "Xin chào").await;
    d.run_once().await.unwrap();
    let row = rig.row(&id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert!(row.last_error.unwrap().starts_with("SMTP"));
}

// ---------------------------------------------------------------------------------------------
// A real SMTP server.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `python3 -m aiosmtpd` storing mail as a Maildir; killed on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    fn start() -> Self {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output()
            .expect("python3 is needed for the SMTP test");
        assert!(
            probe.status.success(),
            "aiosmtpd is not installed: `python3 -m pip install aiosmtpd` (.ci/run does it)\n{}",
            String::from_utf8_lossy(&probe.stderr)
        );
        let maildir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // Python's Maildir creates new/, cur/ and tmp/ only for a folder it creates itself.
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Self {
            child,
            port,
            maildir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(StdDuration::from_millis(100));
        }
        panic!("aiosmtpd did not start on port {port}");
    }

    /// The raw messages in `new/`, waiting up to 10 s for at least one.
    async fn wait_for_mail(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail").join("new");
        for _ in 0..100 {
            let mails: Vec<String> = std::fs::read_dir(&new)
                .map(|d| {
                    d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                        .collect()
                })
                .unwrap_or_default();
            if !mails.is_empty() {
                return mails;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        panic!("no mail arrived in {}", new.display());
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headers and body of a raw mail; the body with its quoted-printable soft line breaks
/// undone, enough to find ASCII text in it.
fn split_mail(raw: &str) -> (String, String) {
    let raw = raw.replace("\r\n", "\n");
    let (headers, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    (headers.to_string(), body.replace("=\n", ""))
}

#[tokio::test]
async fn an_otp_e_mail_is_delivered_to_a_real_smtp_server_and_its_code_confirms() {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(TestEnv::new(), |c| {
        c.notify.email.backend = ca_enrol::notify::EmailBackend::Smtp;
        c.notify.email.smtp_host = "127.0.0.1".into();
        c.notify.email.smtp_port = smtp.port;
        c.notify.email.smtp_tls = SmtpTls::None;
        c.notify.email.from = "CA Enrol <no-reply@ca-enrol.test>".into();
    })
    .await;
    let to = "nguyen.van.a@example.vn";
    let otp = app.state.otp.clone();
    let now = app.clock.now();
    let document = DocumentDigest::of(b"contract");
    let request = ChallengeRequest {
        purpose: Purpose::ContractSigning,
        subject: "contract:1".into(),
        document_digest: document.clone(),
        recipient: Recipient::Email(Email::parse("email", to).unwrap()),
        actor: Actor::System,
    };
    let sent = app
        .state
        .store
        .write(move |tx| otp.issue_challenge(tx, now, request.clone()))
        .await
        .unwrap();
    assert_eq!(sent.masked_destination, "n***@example.vn");

    let mails = smtp.wait_for_mail().await;
    assert_eq!(mails.len(), 1);
    let (headers, body) = split_mail(&mails[0]);
    let mail = &headers;
    assert!(mail.contains(&format!("To: {to}")), "{mail}");
    assert!(
        mail.lines()
            .any(|l| l.starts_with("From:") && l.contains("<no-reply@ca-enrol.test>")),
        "{mail}"
    );
    let id = sent.challenge_id.clone();
    let challenge = app
        .state
        .store
        .read(move |tx| tx.otp_challenge_by_id(&id))
        .await
        .unwrap()
        .unwrap();
    let message_id = format!("<{}@ca-enrol.test>", challenge.outbox_message_id);
    assert!(
        mail.lines()
            .any(|l| l.to_ascii_lowercase().starts_with("message-id:") && l.contains(&message_id)),
        "the outbox id is the Message-ID: {mail}"
    );
    assert!(
        body.contains("ch=E1=BB=A9ng th=C6=B0 s=E1=BB=91"),
        "Vietnamese, UTF-8: {body}"
    );
    let code = otp_in(&body).expect("a code in the body");

    let check = Check {
        lookup: ChallengeLookup::Id(sent.challenge_id.clone()),
        purpose: Purpose::ContractSigning,
        document_digest: document,
        code,
        actor: Actor::System,
    };
    app.state
        .otp
        .confirm(check, |_, v| Ok::<_, OtpError>(v.clone()))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_development_default_writes_each_message_to_a_file_under_data_outbox() {
    let app = TestApp::spawn_with(TestEnv::new(), |c| {
        c.notify.sms.backend = SmsBackend::File;
    })
    .await;
    let otp = app.state.otp.clone();
    let now = app.clock.now();
    let request = ChallengeRequest {
        purpose: Purpose::Revocation,
        subject: "certificate:7".into(),
        document_digest: DocumentDigest::of(b"revocation request"),
        recipient: phone(),
        actor: Actor::System,
    };
    app.state
        .store
        .write(move |tx| otp.issue_challenge(tx, now, request.clone()))
        .await
        .unwrap();
    let dir = app.env.data_dir().join("outbox");
    let mut text = None;
    for _ in 0..100 {
        let files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        if let Some(path) = files.first() {
            assert!(path.to_string_lossy().ends_with(".sms.txt"), "{path:?}");
            text = Some(std::fs::read_to_string(path).unwrap());
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let text = text.expect("a file under data/outbox");
    assert!(text.contains(&format!("To: {PHONE}")), "{text}");
    assert!(text.contains("thu hoi chung thu so"), "{text}");
    assert!(otp_in(&text).is_some(), "{text}");
}

/// What Python's `email` package (not ours) reads in a raw mail: the top-level type, the
/// decoded subject and, per leaf part, its type, file name, decoded text and the SHA-256 of
/// its decoded bytes.
fn mime_parts(raw: &str) -> Value {
    const SCRIPT: &str = r#"
import email, email.policy, hashlib, json, sys
m = email.message_from_binary_file(sys.stdin.buffer, policy=email.policy.default)
parts = []
for p in m.walk():
    if p.is_multipart():
        continue
    data = p.get_payload(decode=True)
    text = data.decode(p.get_content_charset() or "utf-8") if p.get_content_maintype() == "text" else None
    parts.append({"type": p.get_content_type(), "filename": p.get_filename(),
                  "sha256": hashlib.sha256(data).hexdigest(), "text": text})
print(json.dumps({"type": m.get_content_type(), "subject": str(m["subject"]), "parts": parts}))
"#;
    use std::io::Write;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_signed_contract_reaches_the_citizen_by_e_mail_as_a_sealed_pdf_attachment() {
    use crate::common::enrol::{application, enrol, enrol_key, id_number};
    let smtp = SmtpServer::start();
    let mut app = TestApp::spawn_with(TestEnv::new(), |c| {
        c.notify.email.backend = ca_enrol::notify::EmailBackend::Smtp;
        c.notify.email.smtp_host = "127.0.0.1".into();
        c.notify.email.smtp_port = smtp.port;
        c.notify.email.smtp_tls = SmtpTls::None;
        c.notify.email.from = "CA Enrol <no-reply@ca-enrol.test>".into();
    })
    .await;
    let key = enrol_key(&mut app).await;
    let enrolment = enrol(&app, &key, &application("vneid", &id_number(31))).await;
    let (status, contract) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/contract"),
            Some(&key),
            serde_json::json!({"package_code": "PS0"}),
        )
        .await;
    assert_eq!(status, 201, "{contract}");
    let id = contract["id"].as_str().unwrap().to_string();
    let number = contract["number"].as_str().unwrap().to_string();
    crate::common::contract::sign_with_sms_code(&app, &key, &id).await;
    let signed = app
        .state
        .store
        .read(move |tx| tx.pdf_document("contract_signed", &id))
        .await
        .unwrap()
        .expect("the signed contract is stored");

    let mails = smtp.wait_for_mail().await;
    assert_eq!(mails.len(), 1);
    let (headers, _) = split_mail(&mails[0]);
    assert!(headers.contains("To: an.nguyen@example.vn"), "{headers}");
    let mail = mime_parts(&mails[0]);
    assert_eq!(mail["type"], "multipart/mixed", "{mail}");
    assert!(
        mail["subject"].as_str().unwrap().contains(&number),
        "{mail}"
    );
    let parts = mail["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{mail}");
    assert_eq!(parts[0]["type"], "text/plain");
    let text = parts[0]["text"].as_str().unwrap();
    assert!(text.contains("Kính gửi Nguyễn Văn An,"), "{text}");
    assert!(text.contains("đính kèm thư này"), "Vietnamese text: {text}");
    assert!(text.contains(&number), "{text}");
    assert_eq!(parts[1]["type"], "application/pdf");
    assert_eq!(parts[1]["filename"], format!("{number}.pdf"));
    assert_eq!(
        parts[1]["sha256"], signed.document_sha256,
        "the attachment is the stored, sealed signed contract"
    );
}
