//! Batched record-then-sign: the issuances of concurrent requests of one process share their
//! transactions. Each request checks its CSR and builds and lints its TBS on its own (in
//! parallel), then queues the [`Prepared`] certificate here. One task takes whatever is
//! queued (up to [`MAX_BATCH`]) and:
//!
//! 1. records the batch in one write transaction, each certificate with what the RA adds (the
//!    idempotency claim, the enrolment's move): a certificate refused there (key already
//!    certified, enrolment moved by another request) fails alone ([`in_one_transaction`]);
//! 2. once that transaction committed, hands the recorded certificates to a second stage and
//!    goes back to the queue: the next batch is whatever queued meanwhile, so nothing waits on
//!    a timer and one client alone is served at once;
//! 3. the second stage signs them spread over the cores, with what the RA does outside a
//!    transaction (rendering the acceptance record), then stores them in one write
//!    transaction, each with the RA's part (the record, the key's answer), failing alone too.
//!
//! Recovery is unchanged: every row is committed in `signing` before its signature is asked
//! for (step 1 precedes step 3), and only the stage holding its [`Recorded`] ever signs it; a
//! process stopping anywhere in between leaves `signing` rows, which [`Issuer::abandon_stale`]
//! revokes as before. A batch whose transaction fails as a whole (the database) fails each of
//! its requests; nothing of it was committed.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use super::{IssuanceError, IssuedCertificate, Issuer, Prepared, Recorded, Signed};
use crate::audit::Actor;
use crate::store::{Store, StoreError, Tx};

/// The most certificates one transaction records or stores.
pub const MAX_BATCH: usize = 64;

/// What the RA adds to one certificate's issuance, at each step of its batch. An error in a
/// `Tx` step undoes that certificate's part only. A `Tx` step may run twice (the batch's
/// transaction runs its certificates again when one is refused: [`in_one_transaction`]), so it
/// reads what it is given and keeps it.
pub trait Steps: Send + 'static {
    /// In the recording transaction, before the certificate's row is recorded.
    fn before_record(&mut self, _tx: &mut Tx<'_>, _serial: &str) -> Result<(), IssuanceError> {
        Ok(())
    }
    /// In the transaction that revokes the row when the signer failed.
    fn reopen(&mut self, _tx: &mut Tx<'_>, _why: &str) -> Result<(), IssuanceError> {
        Ok(())
    }
    /// After signing, outside any transaction.
    fn after_sign(&mut self, _signed: &Signed) -> Result<(), IssuanceError> {
        Ok(())
    }
    /// In the storing transaction, once the certificate is stored.
    fn after_store(
        &mut self,
        _tx: &mut Tx<'_>,
        _issued: &IssuedCertificate,
    ) -> Result<(), IssuanceError> {
        Ok(())
    }
}

/// Nothing around the CA's cycle (benchmarks, tests of the cycle).
pub struct Bare;

impl Steps for Bare {}

type Reply = oneshot::Sender<Result<IssuedCertificate, IssuanceError>>;

struct Job {
    actor: Actor,
    prepared: Prepared,
    steps: Box<dyn Steps>,
    reply: Reply,
}

/// A request between its batch's steps.
struct Waiting {
    actor: Actor,
    steps: Box<dyn Steps>,
}

/// The queue in front of an [`Issuer`]'s batches.
#[derive(Clone)]
pub struct Batcher {
    issuer: Issuer,
    /// Made with the task on first use, inside the runtime that serves the requests.
    queue: Arc<OnceLock<mpsc::UnboundedSender<Job>>>,
}

impl Batcher {
    pub fn new(issuer: Issuer) -> Self {
        Self {
            issuer,
            queue: Arc::new(OnceLock::new()),
        }
    }

    /// Records, signs and stores `prepared` in the next batch, with the RA's `steps`.
    pub async fn issue(
        &self,
        actor: Actor,
        prepared: Prepared,
        steps: Box<dyn Steps>,
    ) -> Result<IssuedCertificate, IssuanceError> {
        let queue = self.queue.get_or_init(|| {
            let (queue, jobs) = mpsc::unbounded_channel();
            tokio::spawn(run(self.issuer.clone(), jobs));
            queue
        });
        let (reply, answer) = oneshot::channel();
        queue
            .send(Job {
                actor,
                prepared,
                steps,
                reply,
            })
            .map_err(|_| IssuanceError::Unexpected("the issuance queue stopped".into()))?;
        answer.await.map_err(|_| {
            IssuanceError::Unexpected("the issuance stopped before it was answered".into())
        })?
    }
}

async fn run(issuer: Issuer, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let recorded = record(&issuer, batch).await;
        if !recorded.is_empty() {
            tokio::spawn(sign_and_store(issuer.clone(), recorded));
        }
    }
}

/// Why a batch's transaction did not commit.
enum BatchFail {
    Store(StoreError),
    /// Every certificate of the batch was refused (nothing to commit).
    Refused(Vec<IssuanceError>),
}

impl From<StoreError> for BatchFail {
    fn from(e: StoreError) -> Self {
        BatchFail::Store(e)
    }
}

/// Each request's answer when its batch's transaction failed as a whole.
fn batch_error(e: &StoreError) -> IssuanceError {
    match e {
        StoreError::Unavailable(_) => IssuanceError::Unavailable,
        e => IssuanceError::Unexpected(e.to_string()),
    }
}

/// Runs `each` for every item in one write transaction; answers the refused ones and returns
/// the others, made into `T` by `done` once the transaction committed, with their reply.
///
/// A refused item must fail alone, which takes a savepoint per item; but refusals are rare,
/// and a savepoint per certificate was ~7 % of the writer lane's time (SQLite copies each page
/// a savepoint first changes, and parses its SAVEPOINT and RELEASE statements). So the items
/// run first one after the other in one savepoint; only when one is refused is that undone
/// and every item run again in a savepoint of its own.
async fn in_one_transaction<I, T>(
    store: &Store,
    items: Vec<(Reply, I)>,
    each: fn(&mut Tx<'_>, &mut I) -> Result<(), IssuanceError>,
    done: fn(I) -> T,
) -> Vec<(Reply, T)>
where
    I: Send + 'static,
    T: Send + 'static,
{
    let (replies, mut work): (Vec<Reply>, Vec<I>) = items.into_iter().unzip();
    let outcome = store
        .write_once(move |tx| {
            let together = tx.savepoint(|tx| work.iter_mut().try_for_each(|item| each(tx, item)));
            let outcomes: Vec<Result<I, IssuanceError>> = match together {
                Ok(()) => work.into_iter().map(Ok).collect(),
                Err(_) => work
                    .into_iter()
                    .map(|mut item| tx.savepoint(|tx| each(tx, &mut item)).map(|()| item))
                    .collect(),
            };
            if outcomes.iter().all(Result::is_err) {
                return Err(BatchFail::Refused(
                    outcomes.into_iter().filter_map(Result::err).collect(),
                ));
            }
            Ok(outcomes)
        })
        .await;
    let outcomes: Vec<Result<I, IssuanceError>> = match outcome {
        Ok(outcomes) => outcomes,
        Err(BatchFail::Refused(errors)) => errors.into_iter().map(Err).collect(),
        Err(BatchFail::Store(e)) => replies.iter().map(|_| Err(batch_error(&e))).collect(),
    };
    let mut committed = Vec::new();
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        match outcome {
            Ok(item) => committed.push((reply, done(item))),
            Err(e) => {
                // The caller may have gone away; nothing else to tell.
                let _ = reply.send(Err(e));
            }
        }
    }
    committed
}

/// Step 1: the batch recorded in one transaction.
async fn record(issuer: &Issuer, batch: Vec<Job>) -> Vec<(Reply, (Waiting, Recorded))> {
    let items = batch
        .into_iter()
        .map(|job| (job.reply, (job.actor, job.prepared, job.steps)))
        .collect();
    in_one_transaction(
        &issuer.store,
        items,
        |tx, (_, prepared, steps)| {
            steps.before_record(tx, prepared.serial())?;
            prepared.write_record(tx)
        },
        |(actor, prepared, steps)| (Waiting { actor, steps }, prepared.recorded()),
    )
    .await
}

/// Step 3: the recorded batch signed over the cores, then stored in one transaction.
async fn sign_and_store(issuer: Issuer, recorded: Vec<(Reply, (Waiting, Recorded))>) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_core = recorded.len().div_ceil(cores).max(1);
    let mut chunks = Vec::new();
    let mut rest = recorded.into_iter();
    loop {
        let chunk: Vec<_> = rest.by_ref().take(per_core).collect();
        if chunk.is_empty() {
            break;
        }
        let issuer = issuer.clone();
        chunks.push(tokio::task::spawn_blocking(move || {
            let mut signed = Vec::with_capacity(chunk.len());
            for (reply, (mut waiting, recorded)) in chunk {
                let steps = &mut waiting.steps;
                let done = issuer
                    .sign(&waiting.actor, recorded, |tx, why| steps.reopen(tx, why))
                    .and_then(|s| steps.after_sign(&s).map(|()| s));
                match done {
                    Ok(s) => signed.push((reply, (waiting.steps, s))),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            signed
        }));
    }
    let mut signed = Vec::new();
    for chunk in chunks {
        // A chunk that panicked (a signer that died) drops its replies: those requests
        // answer that the issuance stopped, and their rows stay `signing` for recovery.
        if let Ok(done) = chunk.await {
            signed.extend(done);
        }
    }
    if signed.is_empty() {
        return;
    }
    let stored = in_one_transaction(
        &issuer.store,
        signed,
        |tx, (steps, signed)| {
            signed.write_store(tx)?;
            steps.after_store(tx, &signed.issued)
        },
        |(_, signed)| signed.issued,
    )
    .await;
    for (reply, issued) in stored {
        let _ = reply.send(Ok(issued));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::NewEvent;

    /// Items of a batch: each appends an event naming it, and `refused` ones are then refused.
    async fn batch(store: &Store, refused: &[u32]) -> Vec<Result<u32, String>> {
        let mut answers = Vec::new();
        let mut items = Vec::new();
        for n in 0..4u32 {
            let (reply, answer) = oneshot::channel();
            answers.push(answer);
            items.push((reply, (n, refused.contains(&n))));
        }
        let done = in_one_transaction(
            store,
            items,
            |tx, (n, refuse)| {
                let at = chrono::Utc::now();
                tx.audit(NewEvent::new(
                    at,
                    &Actor::System,
                    "test.item",
                    "test",
                    n.to_string(),
                    serde_json::json!({}),
                ))?;
                if *refuse {
                    return Err(IssuanceError::KeyReused);
                }
                Ok(())
            },
            |(n, _)| n,
        )
        .await;
        let mut out: Vec<Result<u32, String>> = Vec::new();
        let kept: Vec<u32> = done.into_iter().map(|(_, n)| n).collect();
        for (n, answer) in answers.into_iter().enumerate() {
            let n = n as u32;
            out.push(match answer.await {
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(_)) => Err("answered as issued".into()),
                // Not answered: handed on to the next step, as the kept ones are.
                Err(_) if kept.contains(&n) => Ok(n),
                Err(_) => Err("dropped".into()),
            });
        }
        out
    }

    async fn items_in_trail(store: &Store) -> Vec<String> {
        store
            .read(|tx| tx.audit_events_after(0, 100))
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "test.item")
            .map(|e| e.object_id)
            .collect()
    }

    #[tokio::test]
    async fn a_refused_item_fails_alone_and_leaves_nothing_in_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db"), 2).unwrap();
        store.migrate().unwrap();

        let answers = batch(&store, &[]).await;
        assert_eq!(answers, vec![Ok(0), Ok(1), Ok(2), Ok(3)]);
        assert_eq!(items_in_trail(&store).await, ["0", "1", "2", "3"]);

        // The third item writes, then is refused: its event goes, the others' stay, in order.
        let answers = batch(&store, &[2]).await;
        assert_eq!(answers[..2], [Ok(0), Ok(1)]);
        assert!(answers[2].is_err(), "{answers:?}");
        assert_eq!(answers[3], Ok(3));
        assert_eq!(
            items_in_trail(&store).await,
            ["0", "1", "2", "3", "0", "1", "3"]
        );

        // All refused: nothing committed, each answered.
        let answers = batch(&store, &[0, 1, 2, 3]).await;
        assert!(answers.iter().all(Result::is_err), "{answers:?}");
        assert_eq!(items_in_trail(&store).await.len(), 7);

        assert_eq!(store.verify_audit_blocking().unwrap().fault, None);
    }
}
