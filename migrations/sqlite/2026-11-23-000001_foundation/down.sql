DROP TABLE audit_head;
DROP TABLE audit_events;
DROP TABLE api_keys;
DROP TABLE operator_sessions;
DROP TABLE operators;
