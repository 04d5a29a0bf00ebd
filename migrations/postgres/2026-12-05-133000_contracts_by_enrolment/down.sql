DROP INDEX contracts_enrolment;
