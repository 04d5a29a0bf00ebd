//! Batched record-then-sign: the issuances of concurrent requests of one process share their
//! transactions. Each request checks its CSR and builds and lints its TBS on its own (in
//! parallel), then queues the [`Prepared`] certificate here. One writer thread loops:
//!
//! 1. it records whatever is queued (up to [`MAX_BATCH`]) in one write transaction, each
//!    certificate with what the RA adds (the idempotency claim, the enrolment's move): a
//!    certificate refused there (key already certified, enrolment moved by another request)
//!    fails alone ([`in_one_transaction`]);
//! 2. once that transaction committed, it hands the recorded certificates to the signers and
//!    goes back to the queue: the next batch is whatever queued meanwhile, so nothing waits on
//!    a timer and one client alone is served at once. The signers sign them spread over the
//!    cores, with what the RA does outside a transaction (rendering the acceptance record),
//!    and hand them back (a lone certificate with nothing else to do: the writer signs it);
//! 3. it stores what came back, each certificate with the RA's part (the record, the key's
//!    answer), failing alone too, in the same transaction as the next batch's records: under
//!    load one commit serves both steps.
//!
//! A request that finds no other in flight skips the queue: its own thread runs the same
//! cycle for it alone (record, sign, store, two transactions; [`lone`]), so one client pays no
//! hand-off to the writer thread and back. Requests arriving meanwhile queue for the writer as
//! usual; the store's writer lane orders the two threads' transactions.
//!
//! Recovery is unchanged: every row is committed in `signing` before its signature is asked
//! for (step 1's transaction precedes step 2), and only the signer holding its [`Recorded`]
//! ever signs it; a process stopping anywhere in between leaves `signing` rows, which
//! [`Issuer::abandon_stale`] revokes as before. A transaction that fails as a whole (the
//! database) fails each of its requests, stored or recorded; nothing of it was committed.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use super::{IssuanceError, IssuedCertificate, Issuer, Prepared, Recorded, Signed};
use crate::audit::Actor;
use crate::store::{Store, StoreError, Tx};

/// The most certificates one transaction records, and the most it stores.
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

/// What reaches the writer: a request to issue, or a chunk's certificates signed.
enum Message {
    Job(Box<Job>),
    Signed(SignedBatch),
}

/// The queue in front of an [`Issuer`]'s batches.
#[derive(Clone)]
pub struct Batcher {
    issuer: Issuer,
    /// Made on first use, from inside the runtime that serves the requests.
    writer: Arc<OnceLock<Writer>>,
    /// Requests between their call and their answer.
    in_flight: Arc<AtomicUsize>,
}

/// The writer's queue and thread. Dropped with the last [`Batcher`]: the queue closes and the
/// thread is waited for, so it has let go of the issuer (a PKCS#11 session among others) before
/// its owner goes on; a thread left running into the process's exit crashed the SoftHSM2
/// library's clean-up now and then.
struct Writer {
    queue: Option<mpsc::UnboundedSender<Message>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            // The last Batcher may go with a request the writer itself was holding (its steps
            // keep the service): the writer then returns once it has put that down.
            if thread.thread().id() != std::thread::current().id() {
                // Signers still out hand back, then the writer stores their work and returns.
                let _ = thread.join();
            }
        }
    }
}

impl Batcher {
    pub fn new(issuer: Issuer) -> Self {
        Self {
            issuer,
            writer: Arc::new(OnceLock::new()),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Records, signs and stores `prepared` in the next batch, with the RA's `steps`.
    pub async fn issue(
        &self,
        actor: Actor,
        prepared: Prepared,
        steps: Box<dyn Steps>,
    ) -> Result<IssuedCertificate, IssuanceError> {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            actor,
            prepared,
            steps,
            reply,
        });
        let in_flight = InFlight::enter(&self.in_flight);
        if in_flight.alone {
            // Nothing to batch with: the request's own thread runs the writer's lone cycle,
            // sparing the two hand-offs to the writer thread and back.
            let issuer = self.issuer.clone();
            crate::store::in_place(move || lone(&issuer, *job))
                .await
                .map_err(IssuanceError::Unexpected)?;
        } else {
            let writer = self.writer.get_or_init(|| start(self.issuer.clone()));
            // The queue is closed only by the writer's drop, or by a writer that never started.
            let sent = writer
                .queue
                .as_ref()
                .is_some_and(|queue| queue.send(Message::Job(job)).is_ok());
            if !sent {
                return Err(IssuanceError::Unexpected(
                    "the issuance queue stopped".into(),
                ));
            }
        }
        answer.await.map_err(|_| {
            IssuanceError::Unexpected("the issuance stopped before it was answered".into())
        })?
    }
}

/// Counts a request in while it is in flight; `alone` when no other was.
struct InFlight<'a> {
    count: &'a AtomicUsize,
    alone: bool,
}

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let alone = count.fetch_add(1, Ordering::AcqRel) == 0;
        Self { count, alone }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the writer does for a request alone, on the caller's thread: record it in a
/// transaction of its own, sign it, store it in another. Requests arriving meanwhile go to the
/// writer; the store's writer lane orders the transactions. Answers through the job's reply.
fn lone(issuer: &Issuer, job: Job) {
    let recorded = store_and_record(issuer, Vec::new(), vec![job]);
    let mut signed = Vec::new();
    sign_here(issuer, recorded, &mut signed);
    if !signed.is_empty() {
        store_and_record(issuer, signed, Vec::new());
    }
}

/// The writer on a thread of its own; the signers on the current runtime's blocking pool.
///
/// A thread, not a task that hands each transaction to the blocking pool: under load the
/// writer is the bottleneck, and each hand-off (to a blocking thread and back to a worker)
/// waited for a core behind the signers and the requests' own work. With 64 callers in
/// process the writer spent a quarter of its time between transactions that way. If the
/// writer cannot start, its queue is closed and each request says so.
fn start(issuer: Issuer) -> Writer {
    let (queue, inbox) = mpsc::unbounded_channel();
    let back = queue.downgrade();
    let started = tokio::runtime::Handle::try_current()
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|signers| {
            std::thread::Builder::new()
                .name("issuance-writer".into())
                .spawn(move || run(&issuer, inbox, &back, &signers))
        });
    let thread = started
        .map_err(|e| tracing::error!(error = %e, "the issuance writer did not start"))
        .ok();
    Writer {
        queue: Some(queue),
        thread,
    }
}

/// Certificates signed and waiting to be stored, each with its request's reply and steps.
type SignedBatch = Vec<(Reply, (Box<dyn Steps>, Signed))>;

/// The writer of the batches: each transaction stores whatever was signed since the last one
/// and records whatever was queued meanwhile, so under load one commit serves both steps (one
/// write transaction per cycle instead of two). Alone, a request's record and store still run
/// at once, each in its own transaction, and its certificate is signed here (no hand-off).
/// Ends once no [`Batcher`] and no signer can send to it any more.
fn run(
    issuer: &Issuer,
    mut inbox: mpsc::UnboundedReceiver<Message>,
    back: &mpsc::WeakUnboundedSender<Message>,
    signers: &tokio::runtime::Handle,
) {
    // Read once: it opens and parses cgroup files on every call.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut work = Work::default();
    loop {
        if work.queued.is_empty() && work.signed.is_empty() {
            match inbox.blocking_recv() {
                Some(message) => work.take(message),
                None => return,
            }
        }
        work.drain(&mut inbox);
        let to_store: SignedBatch = work
            .signed
            .drain(..work.signed.len().min(MAX_BATCH))
            .collect();
        let to_record: Vec<Job> = work
            .queued
            .drain(..work.queued.len().min(MAX_BATCH))
            .collect();
        if to_store.is_empty() && to_record.is_empty() {
            // A chunk that handed back nothing (each of its requests already answered).
            continue;
        }
        let recorded = store_and_record(issuer, to_store, to_record);
        work.drain(&mut inbox);
        // Nothing else to do meanwhile (one client): signing here saves two hand-offs.
        if recorded.len() == 1 && work.signing == 0 && work.queued.is_empty() {
            sign_here(issuer, recorded, &mut work.signed);
        } else {
            work.signing += sign(issuer, recorded, cores, back, signers, &mut work.signed);
        }
    }
}

/// What the writer has in hand between transactions.
#[derive(Default)]
struct Work {
    /// Requests to record, in the order they came.
    queued: VecDeque<Job>,
    /// Signed certificates back from the signers, not yet stored.
    signed: SignedBatch,
    /// Chunks handed to the signers whose certificates are not back yet.
    signing: usize,
}

impl Work {
    /// Files a message: a job at the end of the queue, a chunk's certificates among those to
    /// store.
    fn take(&mut self, message: Message) {
        match message {
            Message::Job(job) => self.queued.push_back(*job),
            Message::Signed(done) => {
                self.signing -= 1;
                self.signed.extend(done);
            }
        }
    }

    /// Files every message already waiting, without waiting for more.
    fn drain(&mut self, inbox: &mut mpsc::UnboundedReceiver<Message>) {
        while let Ok(message) = inbox.try_recv() {
            self.take(message);
        }
    }
}

/// Why a batch's transaction did not commit.
enum BatchFail {
    Store(StoreError),
    /// Every certificate of the transaction was refused (nothing to commit): the errors of
    /// its first and second part.
    Refused(Vec<IssuanceError>, Vec<IssuanceError>),
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

/// Items of one kind in a batch's transaction: `each` writes an item, `done` makes it into
/// what goes on once the transaction committed.
struct Part<I, T> {
    items: Vec<(Reply, I)>,
    each: fn(&mut Tx<'_>, &mut I) -> Result<(), IssuanceError>,
    done: fn(I) -> T,
}

/// The items of a part that committed, made into what goes on, each with its reply.
type Kept<T> = Vec<(Reply, T)>;

/// Outcomes of a part's items, in order.
type Outcomes<I> = Vec<Result<I, IssuanceError>>;

/// Runs `each` for every item of `work` inside the caller's transaction and returns each
/// item's outcome; the refused ones left nothing behind. The items stay the caller's, so the
/// transaction can run again (PostgreSQL rolls a write back for its ordering).
///
/// A refused item must fail alone, which takes a savepoint per item; but refusals are rare,
/// and a savepoint per certificate was ~7 % of the writer lane's time (SQLite copies each page
/// a savepoint first changes, and parses its SAVEPOINT and RELEASE statements). So the items
/// run first one after the other in one savepoint; only when one is refused is that undone
/// and every item run again in a savepoint of its own. The `alone` item of a transaction (one
/// client) needs none: its refusal rolls the whole transaction back.
fn run_part<I>(
    tx: &mut Tx<'_>,
    work: &mut [I],
    each: fn(&mut Tx<'_>, &mut I) -> Result<(), IssuanceError>,
    alone: bool,
) -> Vec<Result<(), IssuanceError>> {
    if work.is_empty() {
        return Vec::new();
    }
    if alone {
        return work.iter_mut().map(|item| each(tx, item)).collect();
    }
    let together = tx.savepoint(|tx| work.iter_mut().try_for_each(|item| each(tx, item)));
    match together {
        Ok(()) => work.iter().map(|_| Ok(())).collect(),
        Err(_) => work
            .iter_mut()
            .map(|item| tx.savepoint(|tx| each(tx, item)))
            .collect(),
    }
}

/// Runs both parts in one write transaction, `first`'s items before `second`'s; answers the
/// refused items and returns the others, made into `T` and `U` once the transaction
/// committed, with their reply.
fn in_one_transaction<I, T, J, U>(
    store: &Store,
    first: Part<I, T>,
    second: Part<J, U>,
) -> (Kept<T>, Kept<U>)
where
    I: Send + 'static,
    T: Send + 'static,
    J: Send + 'static,
    U: Send + 'static,
{
    let (first_replies, first_work): (Vec<Reply>, Vec<I>) = first.items.into_iter().unzip();
    let (second_replies, second_work): (Vec<Reply>, Vec<J>) = second.items.into_iter().unzip();
    let (first_each, second_each) = (first.each, second.each);
    let alone = first_work.len() + second_work.len() == 1;
    // Borrowed by each run of the transaction, kept for what follows the commit.
    let work = (RefCell::new(first_work), RefCell::new(second_work));
    // A panic (a bug) fails this transaction's requests, not the writer: the lane rolls the
    // transaction back and the next one runs.
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        store.write_blocking(|tx| {
            let a = run_part(tx, &mut work.0.borrow_mut(), first_each, alone);
            let b = run_part(tx, &mut work.1.borrow_mut(), second_each, alone);
            if a.iter().all(Result::is_err) && b.iter().all(Result::is_err) {
                return Err(BatchFail::Refused(errors(a), errors(b)));
            }
            Ok((a, b))
        })
    }))
    .unwrap_or_else(|_| {
        Err(BatchFail::Store(StoreError::Unexpected(
            "the batch's transaction panicked".into(),
        )))
    });
    let (first_work, second_work) = (work.0.into_inner(), work.1.into_inner());
    let (a, b): (Outcomes<I>, Outcomes<J>) = match outcome {
        Ok((a, b)) => (kept(first_work, a), kept(second_work, b)),
        Err(BatchFail::Refused(a, b)) => (
            a.into_iter().map(Err).collect(),
            b.into_iter().map(Err).collect(),
        ),
        Err(BatchFail::Store(e)) => (
            first_replies.iter().map(|_| Err(batch_error(&e))).collect(),
            second_replies
                .iter()
                .map(|_| Err(batch_error(&e)))
                .collect(),
        ),
    };
    (
        answer(first_replies, a, first.done),
        answer(second_replies, b, second.done),
    )
}

fn errors(outcomes: Vec<Result<(), IssuanceError>>) -> Vec<IssuanceError> {
    outcomes.into_iter().filter_map(Result::err).collect()
}

/// Each item with its outcome in the committed transaction.
fn kept<I>(work: Vec<I>, outcomes: Vec<Result<(), IssuanceError>>) -> Outcomes<I> {
    work.into_iter()
        .zip(outcomes)
        .map(|(item, outcome)| outcome.map(|()| item))
        .collect()
}

/// Answers the refused items; returns the others made into `T`, with their reply.
fn answer<I, T>(replies: Vec<Reply>, outcomes: Outcomes<I>, done: fn(I) -> T) -> Kept<T> {
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

/// Steps 3 and 1 in one transaction: the signed certificates stored (each answered once
/// the transaction committed), then the queued ones recorded, which are returned.
fn store_and_record(
    issuer: &Issuer,
    signed: SignedBatch,
    batch: Vec<Job>,
) -> Vec<(Reply, (Waiting, Recorded))> {
    let store = Part {
        items: signed,
        each: |tx, (steps, signed)| {
            signed.write_store(tx)?;
            steps.after_store(tx, &signed.issued)
        },
        done: |(_, signed): (Box<dyn Steps>, Signed)| signed.issued,
    };
    let record = Part {
        items: batch
            .into_iter()
            .map(|job| (job.reply, (job.actor, job.prepared, job.steps)))
            .collect(),
        each: |tx, (_, prepared, steps)| {
            steps.before_record(tx, prepared.serial())?;
            prepared.write_record(tx)
        },
        done: |(actor, prepared, steps)| (Waiting { actor, steps }, prepared.recorded()),
    };
    let (stored, recorded) = in_one_transaction(&issuer.store, store, record);
    for (reply, issued) in stored {
        let _ = reply.send(Ok(issued));
    }
    recorded
}

/// Step 2: a recorded batch signed spread over the cores, each chunk on a blocking thread
/// with what the RA does outside a transaction (rendering the acceptance record), handed
/// straight back to the writer to store. Returns how many chunks went out: each hands back
/// once, if only nothing, so the writer can count them in. With no [`Batcher`] left to keep
/// the queue open (the service stopping) the writer signs them itself, into `signed`.
fn sign(
    issuer: &Issuer,
    recorded: Vec<(Reply, (Waiting, Recorded))>,
    cores: usize,
    back: &mpsc::WeakUnboundedSender<Message>,
    signers: &tokio::runtime::Handle,
    signed: &mut SignedBatch,
) -> usize {
    let per_core = recorded.len().div_ceil(cores).max(1);
    let mut chunks = 0;
    let mut rest = recorded.into_iter();
    loop {
        let chunk: Vec<_> = rest.by_ref().take(per_core).collect();
        if chunk.is_empty() {
            return chunks;
        }
        let Some(back) = back.upgrade() else {
            sign_here(issuer, chunk, signed);
            continue;
        };
        chunks += 1;
        let issuer = issuer.clone();
        let mut handback = Handback {
            signed: Vec::with_capacity(chunk.len()),
            back,
        };
        signers.spawn_blocking(move || sign_chunk(&issuer, chunk, &mut handback.signed));
    }
}

/// Signs `chunk` on the writer's thread, into `signed`. A panicking signer fails its request
/// and the rest of the chunk (their rows stay `signing` for recovery), not the writer.
fn sign_here(issuer: &Issuer, chunk: Vec<(Reply, (Waiting, Recorded))>, signed: &mut SignedBatch) {
    let mut done = Vec::with_capacity(chunk.len());
    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| sign_chunk(issuer, chunk, &mut done)));
    signed.append(&mut done);
}

/// Signs each certificate of `chunk` with the RA's part after signing; a refused one is
/// answered, the others go into `signed`.
fn sign_chunk(issuer: &Issuer, chunk: Vec<(Reply, (Waiting, Recorded))>, signed: &mut SignedBatch) {
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
}

/// A chunk's signed certificates, handed back to the writer when the chunk ends, even by a
/// panic (a signer that died): the certificates signed before it are stored; the one that
/// panicked drops its reply (that request answers that the issuance stopped) and its row stays
/// `signing` for recovery, as do the rest of the chunk's.
struct Handback {
    signed: SignedBatch,
    back: mpsc::UnboundedSender<Message>,
}

impl Drop for Handback {
    fn drop(&mut self) {
        // The writer is gone only when the process stops; the rows stay `signing` for recovery.
        let _ = self
            .back
            .send(Message::Signed(std::mem::take(&mut self.signed)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::NewEvent;

    type Answer = oneshot::Receiver<Result<IssuedCertificate, IssuanceError>>;

    /// A part with no items.
    fn nothing() -> Part<(), ()> {
        Part {
            items: Vec::new(),
            each: |_, _| Ok(()),
            done: |()| (),
        }
    }

    /// Items `numbers` of a batch: each appends an event naming it, and `refused` ones are
    /// then refused.
    fn part(
        numbers: std::ops::Range<u32>,
        refused: &[u32],
    ) -> (Vec<Answer>, Part<(u32, bool), u32>) {
        let mut answers = Vec::new();
        let mut items = Vec::new();
        for n in numbers {
            let (reply, answer) = oneshot::channel();
            answers.push(answer);
            items.push((reply, (n, refused.contains(&n))));
        }
        let part = Part {
            items,
            each: |tx, (n, refuse)| {
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
            done: |(n, _)| n,
        };
        (answers, part)
    }

    /// Each item's answer: `Ok(n)` when it was handed on (committed), else the error.
    fn answers_of(
        answers: Vec<Answer>,
        first: u32,
        kept: Vec<(Reply, u32)>,
    ) -> Vec<Result<u32, String>> {
        let kept: Vec<u32> = kept.into_iter().map(|(_, n)| n).collect();
        let mut out = Vec::new();
        for (n, answer) in (first..).zip(answers) {
            out.push(match answer.blocking_recv() {
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(_)) => Err("answered as issued".into()),
                // Not answered: handed on to the next step, as the kept ones are.
                Err(_) if kept.contains(&n) => Ok(n),
                Err(_) => Err("dropped".into()),
            });
        }
        out
    }

    /// Items `numbers` as a transaction's first part, or as its second after nothing.
    fn batch(
        store: &Store,
        numbers: std::ops::Range<u32>,
        refused: &[u32],
        second: bool,
    ) -> Vec<Result<u32, String>> {
        let first = numbers.start;
        let (answers, items) = part(numbers, refused);
        let kept = if second {
            in_one_transaction(store, nothing(), items).1
        } else {
            in_one_transaction(store, items, nothing()).0
        };
        answers_of(answers, first, kept)
    }

    /// A migrated SQLite store in a directory of its own (kept while the directory lives).
    fn sqlite_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db"), 2).unwrap();
        store.migrate().unwrap();
        (dir, store)
    }

    fn items_in_trail(store: &Store) -> Vec<String> {
        store
            .read_blocking(|tx| tx.audit_events_after(0, 100))
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "test.item")
            .map(|e| e.object_id)
            .collect()
    }

    #[test]
    fn a_refused_item_fails_alone_and_leaves_nothing_in_its_batch() {
        for second in [false, true] {
            let (_dir, store) = sqlite_store();

            let answers = batch(&store, 0..4, &[], second);
            assert_eq!(answers, vec![Ok(0), Ok(1), Ok(2), Ok(3)]);
            assert_eq!(items_in_trail(&store), ["0", "1", "2", "3"]);

            // The third item writes, then is refused: its event goes, the others' stay, in order.
            let answers = batch(&store, 0..4, &[2], second);
            assert_eq!(answers[..2], [Ok(0), Ok(1)]);
            assert!(answers[2].is_err(), "{answers:?}");
            assert_eq!(answers[3], Ok(3));
            assert_eq!(items_in_trail(&store), ["0", "1", "2", "3", "0", "1", "3"]);

            // All refused: nothing committed, each answered.
            let answers = batch(&store, 0..4, &[0, 1, 2, 3], second);
            assert!(answers.iter().all(Result::is_err), "{answers:?}");
            assert_eq!(items_in_trail(&store).len(), 7);

            assert_eq!(store.verify_audit_blocking().unwrap().fault, None);
        }
    }

    #[test]
    fn a_lone_refused_item_leaves_nothing_and_a_lone_kept_one_commits() {
        let (_dir, store) = sqlite_store();
        for second in [false, true] {
            let answers = batch(&store, 0..1, &[0], second);
            assert!(answers[0].is_err(), "{answers:?}");
            assert!(items_in_trail(&store).is_empty());
        }
        assert_eq!(batch(&store, 7..8, &[], true), [Ok(7)]);
        assert_eq!(items_in_trail(&store), ["7"]);
        assert_eq!(store.verify_audit_blocking().unwrap().fault, None);
    }

    #[test]
    fn stores_and_records_share_a_transaction_and_one_part_refused_keeps_the_other() {
        let (_dir, store) = sqlite_store();

        // Both parts committed, the first's items before the second's.
        let (first_answers, first) = part(0..2, &[]);
        let (second_answers, second) = part(2..4, &[3]);
        let (a, b) = in_one_transaction(&store, first, second);
        assert_eq!(answers_of(first_answers, 0, a), [Ok(0), Ok(1)]);
        let b = answers_of(second_answers, 2, b);
        assert_eq!(b[0], Ok(2));
        assert!(b[1].is_err(), "{b:?}");
        assert_eq!(items_in_trail(&store), ["0", "1", "2"]);

        // Every item of the first part refused: the second's still commit.
        let (first_answers, first) = part(4..6, &[4, 5]);
        let (second_answers, second) = part(6..8, &[]);
        let (a, b) = in_one_transaction(&store, first, second);
        let a = answers_of(first_answers, 4, a);
        assert!(a.iter().all(Result::is_err), "{a:?}");
        assert_eq!(answers_of(second_answers, 6, b), [Ok(6), Ok(7)]);
        assert_eq!(items_in_trail(&store), ["0", "1", "2", "6", "7"]);

        assert_eq!(store.verify_audit_blocking().unwrap().fault, None);
    }
}
