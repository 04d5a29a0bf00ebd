DROP TABLE consent_evidence;
DROP FUNCTION consent_evidence_immutable();
