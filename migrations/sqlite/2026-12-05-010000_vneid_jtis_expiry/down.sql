DROP INDEX vneid_jtis_expires_at;
