DROP TABLE free_package_claims;
DROP TRIGGER contracts_signed_no_delete;
DROP TRIGGER contracts_immutable;
DROP TABLE contracts;
DROP TABLE contract_counters;
DROP TABLE packages;
