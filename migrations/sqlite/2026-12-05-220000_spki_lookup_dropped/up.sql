-- Issuance no longer looks a key up before recording a certificate: the partial unique index
-- `certificates_spki` refuses a key certified before (or being signed), and nothing else read
-- this index. Every issuance paid for it with a write to a random leaf (issue #18).
DROP INDEX certificates_spki_lookup;
