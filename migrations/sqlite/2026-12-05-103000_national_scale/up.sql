-- The PostgreSQL migration of this name adds covering and partial indexes for national-scale
-- reads (INCLUDE columns, predicates matched against bound parameters); SQLite has neither
-- INCLUDE nor partial-index matching of bound parameters, and serves one site, so nothing here.
SELECT 1;
