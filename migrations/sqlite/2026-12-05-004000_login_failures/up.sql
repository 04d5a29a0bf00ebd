-- Sign-in failures per (username, client address), and per username across all addresses
-- (client '*', the account-wide ceiling), whether or not the username exists: the lock-out
-- answers the same for unknown and real accounts, and failures from one address cannot lock
-- an operator out from another (below the much higher ceiling). Rows are purged once their
-- window has passed.
CREATE TABLE login_failures (
    username TEXT NOT NULL,
    client TEXT NOT NULL,
    failures INTEGER NOT NULL,
    locked_until TIMESTAMP,
    last_failure_at TIMESTAMP NOT NULL,
    PRIMARY KEY (username, client)
);
CREATE INDEX login_failures_last_failure ON login_failures (last_failure_at);

-- The per-account counters these rows replace.
ALTER TABLE operators DROP COLUMN failed_logins;
ALTER TABLE operators DROP COLUMN locked_until;
