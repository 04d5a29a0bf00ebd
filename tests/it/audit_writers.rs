//! Writers of several processes (here: several `Store`s on one database) at once (#18). On
//! PostgreSQL they run side by side: each records its audit events unchained, the sequencer
//! chains them after commit, and a transaction PostgreSQL rolls back for its ordering runs
//! again. The chain stays one verifiable total order; tampering is still found.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use ca_enrol::audit::{Actor, ChainFault, NewEvent};
use ca_enrol::store::{Store, StoreError};
use chrono::Utc;
use serde_json::json;

use crate::common::TestEnv;

fn open(env: &TestEnv) -> Store {
    let store = if env.database_url.is_empty() {
        Store::open_sqlite(&env.data_dir().join("ca-enrol.db"), 4).unwrap()
    } else {
        Store::open_postgres(&env.database_url, 4).unwrap()
    };
    store.migrate().unwrap();
    store
}

/// One audited write that also bumps the shared `year` counter (the same row for every
/// writer: on PostgreSQL concurrent bumps are rolled back for ordering and run again).
fn bump(store: &Store, year: i32, who: &str) -> i64 {
    let who = who.to_string();
    store
        .write_blocking(move |tx| {
            let n = tx.next_contract_number(year)?;
            tx.audit(NewEvent::new(
                Utc::now(),
                &Actor::System,
                "test.bumped",
                "counter",
                year.to_string(),
                json!({"n": n, "by": who}),
            ))?;
            Ok::<_, StoreError>(n)
        })
        .unwrap()
}

#[test]
fn writers_of_two_stores_make_one_chain_that_verifies() {
    let env = TestEnv::new();
    let stores = [open(&env), open(&env)];
    const THREADS: usize = 4;
    const WRITES: usize = 25;
    let numbers: Vec<i64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = &stores[t % 2];
                s.spawn(move || {
                    (0..WRITES)
                        .map(|i| bump(store, 2030, &format!("{t}.{i}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    // No lost update: every write saw the one before it.
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=(THREADS * WRITES) as i64).collect::<Vec<_>>());
    let report = stores[0].verify_audit_blocking().unwrap();
    assert_eq!(report.fault, None);
    assert_eq!(report.events_checked, (THREADS * WRITES) as u64);
    assert_eq!(report.head_seq, (THREADS * WRITES) as i64);
    // Every event is chained once a write has returned: nothing left for the sequencer.
    assert_eq!(stores[1].chain_pending_audit_blocking().unwrap(), 0);

    // A modified event of the chain the writers made is found.
    env.sql("UPDATE audit_events SET details = '{\"n\":0}' WHERE seq = 7");
    assert_eq!(
        stores[1].verify_audit_blocking().unwrap().fault,
        Some(ChainFault::Modified { seq: 7 })
    );
}

/// Concurrent writers of one process share the sequencer's runs after their commits, and
/// each still answers only once its own events are in the chain.
#[test]
fn every_write_answers_with_its_events_chained_while_writers_share_sequencer_runs() {
    let env = TestEnv::new();
    let store = open(&env);
    std::thread::scope(|s| {
        for t in 0..8 {
            let store = &store;
            s.spawn(move || {
                for i in 0..15 {
                    let who = format!("{t}.{i}");
                    bump(store, 2070, &who);
                    let chain = store
                        .read_blocking(|tx| tx.audit_events_after(0, 10_000))
                        .unwrap();
                    let by = format!("\"by\":\"{who}\"");
                    assert!(
                        chain.iter().any(|e| e.details.contains(&by)),
                        "{who}'s event not chained when its write answered"
                    );
                }
            });
        }
    });
    let report = store.verify_audit_blocking().unwrap();
    assert_eq!(report.fault, None);
    assert_eq!(report.head_seq, 120);
}

#[test]
fn reordered_and_removed_events_of_concurrent_writers_are_found() {
    let env = TestEnv::new();
    let stores = [open(&env), open(&env)];
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = &stores[t % 2];
            s.spawn(move || {
                for i in 0..10 {
                    bump(store, 2031, &format!("{t}.{i}"));
                }
            });
        }
    });
    assert_eq!(stores[0].verify_audit_blocking().unwrap().fault, None);
    env.sql("UPDATE audit_events SET seq = -1 WHERE seq = 20");
    env.sql("UPDATE audit_events SET seq = 20 WHERE seq = 21");
    env.sql("UPDATE audit_events SET seq = 21 WHERE seq = -1");
    assert_eq!(
        stores[1].verify_audit_blocking().unwrap().fault,
        Some(ChainFault::Reordered { seq: 20 })
    );
    env.sql("UPDATE audit_events SET seq = -1 WHERE seq = 21");
    env.sql("UPDATE audit_events SET seq = 21 WHERE seq = 20");
    env.sql("UPDATE audit_events SET seq = 20 WHERE seq = -1");
    assert_eq!(stores[1].verify_audit_blocking().unwrap().fault, None);
    env.sql("DELETE FROM audit_events WHERE seq = 30");
    assert_eq!(
        stores[0].verify_audit_blocking().unwrap().fault,
        Some(ChainFault::Removed { after_seq: 29 })
    );
}

/// Two writers, one per store: each bumps counter `years.0` (the other `years.1`) and then the
/// other's, and their first runs meet after the first bump, so that each holds one row and
/// wants the other's: PostgreSQL finds the deadlock and rolls one back. `caught`: the second
/// bump runs in a savepoint whose failure the write ignores and goes on (as a batch answers a
/// refused certificate alone). Returns how many times the closures ran.
fn crossed_writers(stores: &[Store; 2], years: (i32, i32), caught: bool) -> usize {
    // Both rows exist before the race.
    bump(&stores[0], years.0, "setup");
    bump(&stores[0], years.1, "setup");
    let meet = Arc::new(Barrier::new(2));
    let runs = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for (t, (first, second)) in [years, (years.1, years.0)].into_iter().enumerate() {
            let store = &stores[t];
            let (meet, runs) = (meet.clone(), runs.clone());
            s.spawn(move || {
                store
                    .write_blocking(move |tx| {
                        let run = runs.fetch_add(1, Ordering::SeqCst);
                        tx.next_contract_number(first)?;
                        // Only the first two runs meet.
                        if run < 2 {
                            meet.wait();
                        }
                        if caught {
                            let _ = tx.savepoint(|tx| tx.next_contract_number(second));
                        } else {
                            tx.next_contract_number(second)?;
                        }
                        tx.audit(NewEvent::new(
                            Utc::now(),
                            &Actor::System,
                            "test.crossed",
                            "counter",
                            first.to_string(),
                            json!({}),
                        ))?;
                        Ok::<_, StoreError>(())
                    })
                    .unwrap();
            });
        }
    });
    runs.load(Ordering::SeqCst)
}

/// Two writers take two rows in opposite orders: PostgreSQL finds the deadlock and rolls
/// one back, and that one's closure runs again. (The head lock taken first used to make
/// such writers queue; SQLite's writers still run one at a time, so this is PostgreSQL's.)
#[test]
fn a_deadlocked_write_runs_again() {
    let env = TestEnv::new();
    if env.database_url.is_empty() {
        return;
    }
    let stores = [open(&env), open(&env)];
    // Two writes, at least one of them run again (the one rolled back may meet the other's
    // commit once more, as a serialization failure).
    assert!(crossed_writers(&stores, (2040, 2041), false) >= 3);
    assert_eq!(bump(&stores[1], 2040, "after"), 4);
    assert_eq!(bump(&stores[1], 2041, "after"), 4);
    let report = stores[0].verify_audit_blocking().unwrap();
    assert_eq!(report.fault, None);
    assert_eq!(report.events_checked, 6);
}

/// The same deadlock met inside a savepoint whose failure the write catches: the write is
/// still rolled back and run again, not committed without the step PostgreSQL refused.
#[test]
fn a_write_that_caught_an_ordering_failure_runs_again_instead_of_committing() {
    let env = TestEnv::new();
    if env.database_url.is_empty() {
        return;
    }
    let stores = [open(&env), open(&env)];
    assert!(crossed_writers(&stores, (2042, 2043), true) >= 3);
    // Each counter was moved by both writes.
    assert_eq!(bump(&stores[1], 2042, "after"), 4);
    assert_eq!(bump(&stores[1], 2043, "after"), 4);
    assert_eq!(stores[0].verify_audit_blocking().unwrap().fault, None);
}

/// An event whose write committed but whose process stopped before the sequencer ran waits
/// in `audit_pending`; verification chains it first, so it is neither lost nor a fault.
#[test]
fn an_event_left_pending_is_chained_before_verification() {
    let env = TestEnv::new();
    if env.database_url.is_empty() {
        return;
    }
    let store = open(&env);
    bump(&store, 2050, "first");
    env.sql(
        "INSERT INTO audit_pending (at, actor, action, object_type, object_id, details) \
         VALUES (now()::timestamp(6), 'system', 'test.left', 'counter', '2050', '{}')",
    );
    let report = store.verify_audit_blocking().unwrap();
    assert_eq!(report.fault, None);
    assert_eq!(report.head_seq, 2);
    assert_eq!(store.chain_pending_audit_blocking().unwrap(), 0);
}

/// A read closure sees one snapshot: a write that commits between two of its statements is
/// not half-visible to it (on PostgreSQL a read-only transaction at the default isolation,
/// READ COMMITTED, takes a new snapshot per statement).
#[test]
fn a_read_sees_one_snapshot_even_when_a_write_commits_between_its_statements() {
    let env = TestEnv::new();
    let store = open(&env);
    bump(&store, 2060, "before");
    let (first, second) = store
        .read_blocking(|tx| {
            let first = tx.audit_head()?;
            std::thread::scope(|s| s.spawn(|| bump(&store, 2060, "between")).join())
                .map_err(|_| StoreError::Unexpected("writer panicked".into()))?;
            Ok::<_, StoreError>((first, tx.audit_head()?))
        })
        .unwrap();
    assert_eq!(first, second);
    let after = store.read_blocking(|tx| tx.audit_head()).unwrap();
    assert_eq!(after.0, first.0 + 1, "the write committed and was chained");
}

/// An audited write of several events with a savepoint that fails in the middle (as a batch
/// of issuances with one refused): the failed savepoint's event is undone, the others stay in
/// order, and the chain's head is the last of them.
#[test]
fn events_of_a_failed_savepoint_leave_no_gap_and_the_head_is_the_last_kept_event() {
    let env = TestEnv::new();
    let store = open(&env);
    let event = |n: i32| {
        NewEvent::new(
            Utc::now(),
            &Actor::System,
            "test.batched",
            "item",
            n.to_string(),
            json!({ "n": n }),
        )
    };
    store
        .write_blocking(move |tx| {
            tx.audit(event(1))?;
            tx.savepoint(|tx| {
                tx.audit(event(2))?;
                tx.audit(event(3))
            })?;
            let refused = tx.savepoint(|tx| {
                tx.audit(event(4))?;
                Err::<(), _>(StoreError::Conflict("refused".into()))
            });
            assert!(refused.is_err());
            tx.audit(event(5))?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    // A second write goes on from where the first left the head.
    store.write_blocking(move |tx| tx.audit(event(6))).unwrap();
    store.chain_pending_audit_blocking().unwrap();
    let report = store.verify_audit_blocking().unwrap();
    assert_eq!(report.fault, None);
    assert_eq!(report.events_checked, 5);
    assert_eq!(report.head_seq, 5);
    assert_eq!(store.read_blocking(|tx| tx.audit_head()).unwrap().0, 5);
    let kept: Vec<String> = store
        .read_blocking(|tx| tx.audit_events_after(0, 10))
        .unwrap()
        .into_iter()
        .map(|e| e.object_id)
        .collect();
    assert_eq!(kept, ["1", "2", "3", "5", "6"]);
}

/// Commits `count` audited writes, each of one event carrying `bytes` of filler, calling
/// `after` after each.
fn fill(store: &Store, count: usize, bytes: usize, mut after: impl FnMut()) {
    let filler = "x".repeat(bytes);
    for n in 0..count {
        let filler = filler.clone();
        store
            .write_blocking(move |tx| {
                tx.audit(NewEvent::new(
                    Utc::now(),
                    &Actor::System,
                    "test.filled",
                    "item",
                    n.to_string(),
                    json!({ "filler": filler }),
                ))
            })
            .unwrap();
        after();
    }
}

/// SQLite: committed pages reach the database file long before the writer's own checkpoint
/// (at 10,000 pages) would copy them: the store's checkpointer thread copies them beside it.
#[test]
fn committed_sqlite_pages_reach_the_database_file_without_the_writer_checkpointing() {
    let env = TestEnv::new();
    if !env.database_url.is_empty() {
        return;
    }
    let store = open(&env);
    let db = env.data_dir().join("ca-enrol.db");
    let before = std::fs::metadata(&db).unwrap().len();
    // ~2 MB committed; the checkpointer runs every half second.
    fill(&store, 500, 4000, || {});
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let after = std::fs::metadata(&db).unwrap().len();
        if after > before + 1_500_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "database file still {after} bytes (was {before}): nothing checkpointed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// SQLite: under a steady stream of commits the WAL is started over (it does not grow with
/// everything ever written): the writer's own checkpoint, right after a commit, is what lets
/// its next transaction restart the log; the checkpointer thread alone never would.
#[test]
fn the_sqlite_wal_stays_bounded_while_the_writer_keeps_committing() {
    let env = TestEnv::new();
    if !env.database_url.is_empty() {
        return;
    }
    let store = open(&env);
    let wal = env.data_dir().join("ca-enrol.db-wal");
    let mut largest = 0;
    // ~80 MB committed, twice the automatic checkpoint's 10,000 pages.
    fill(&store, 800, 100_000, || {
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    });
    assert!(
        largest < 50_000_000,
        "the WAL reached {largest} bytes: it is never started over"
    );
}
