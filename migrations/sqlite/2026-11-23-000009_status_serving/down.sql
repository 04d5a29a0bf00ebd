DROP TABLE crl_numbers;
DROP INDEX certificates_status_version;
DROP TRIGGER certificates_status_update;
CREATE TRIGGER certificates_status_update
    AFTER UPDATE OF status, revoked_at, revocation_reason ON certificates
    WHEN OLD.status IS NOT NEW.status OR OLD.revoked_at IS NOT NEW.revoked_at
        OR OLD.revocation_reason IS NOT NEW.revocation_reason
BEGIN
    UPDATE certificates SET status_version = OLD.status_version + 1 WHERE serial = NEW.serial;
    UPDATE status_generation SET generation = generation + 1 WHERE id = 1;
END;
