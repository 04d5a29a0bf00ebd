DROP TABLE consent_evidence;
