DROP INDEX certificates_not_after;
