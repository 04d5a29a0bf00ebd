DROP TABLE free_package_claims;
DROP TRIGGER contracts_immutable ON contracts;
DROP FUNCTION contracts_immutable();
DROP TABLE contracts;
DROP TABLE contract_counters;
DROP TABLE packages;
