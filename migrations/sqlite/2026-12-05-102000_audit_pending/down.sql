DROP TABLE audit_pending;
