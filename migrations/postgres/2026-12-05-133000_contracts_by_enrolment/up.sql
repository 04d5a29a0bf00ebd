-- An enrolment's contracts (its signed one at issuance and acceptance, its drafts when a new
-- one supersedes them, all of them on the enrolment's pages). The partial unique index
-- `contracts_one_live` serves none of these reads on SQLite (its planner cannot prove that
-- `status = 'signed'` implies the index's `status IN (...)`), so each was a scan of the
-- whole table (issue #18: 4 % of the server's CPU after 600 enrolments, and growing with
-- the table).
CREATE INDEX contracts_enrolment ON contracts (enrolment_id);
