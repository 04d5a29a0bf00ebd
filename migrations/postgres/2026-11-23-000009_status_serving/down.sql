DROP TABLE crl_numbers;
DROP INDEX certificates_status_version;
CREATE OR REPLACE FUNCTION certificates_status_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
        OR NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
        OR NEW.revocation_reason IS DISTINCT FROM OLD.revocation_reason THEN
        IF TG_OP = 'UPDATE' THEN
            NEW.status_version := OLD.status_version + 1;
        END IF;
        UPDATE status_generation SET generation = generation + 1 WHERE id = 1;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
