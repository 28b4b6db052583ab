-- DBA-owned objects of the `customers` template (templates/customers.toml). Idempotent: applied by
-- `npm run schema:apply` (and by the tests) any number of times. Procedures report caller errors
-- with SIGNAL SQLSTATE '45000' and a message starting `conflict:`, `not_found:` or `validation:`.

CREATE TABLE IF NOT EXISTS cus_customers (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(254) NOT NULL,
  tier VARCHAR(20) NULL,
  credit_limit DOUBLE NULL,
  active BOOLEAN NOT NULL DEFAULT TRUE,
  version INT NOT NULL DEFAULT 1,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY cus_email (email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE OR REPLACE VIEW cus_view AS
  SELECT id, name, email, tier, credit_limit, active, version FROM cus_customers;

-- After a write matched no row: the record exists (so the version was stale) or it does not.
CREATE OR REPLACE PROCEDURE cus_signal_stale_or_missing(IN p_id BIGINT)
BEGIN
  IF EXISTS (SELECT 1 FROM cus_customers WHERE id = p_id) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'conflict: stale version';
  ELSE
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'not_found: no customer with that id';
  END IF;
END;

CREATE OR REPLACE PROCEDURE cus_create(
  IN p_name VARCHAR(100), IN p_email VARCHAR(254), IN p_tier VARCHAR(20), IN p_credit_limit DOUBLE, IN p_active BOOLEAN)
BEGIN
  INSERT INTO cus_customers (name, email, tier, credit_limit, active)
    VALUES (p_name, p_email, p_tier, p_credit_limit, COALESCE(p_active, TRUE));
  SELECT id, name, email, tier, credit_limit, active, version FROM cus_customers WHERE id = LAST_INSERT_ID();
END;

CREATE OR REPLACE PROCEDURE cus_update(
  IN p_id BIGINT, IN p_name VARCHAR(100), IN p_email VARCHAR(254), IN p_tier VARCHAR(20), IN p_credit_limit DOUBLE,
  IN p_active BOOLEAN, IN p_version INT)
BEGIN
  UPDATE cus_customers
     SET name = COALESCE(p_name, name), email = COALESCE(p_email, email), tier = COALESCE(p_tier, tier),
         credit_limit = COALESCE(p_credit_limit, credit_limit), active = COALESCE(p_active, active), version = version + 1
   WHERE id = p_id AND version = p_version;
  IF ROW_COUNT() = 0 THEN
    CALL cus_signal_stale_or_missing(p_id);
  END IF;
  SELECT id, name, email, tier, credit_limit, active, version FROM cus_customers WHERE id = p_id;
END;

CREATE OR REPLACE PROCEDURE cus_delete(IN p_id BIGINT, IN p_version INT)
BEGIN
  DELETE FROM cus_customers WHERE id = p_id AND (p_version IS NULL OR version = p_version);
  IF ROW_COUNT() = 0 THEN
    CALL cus_signal_stale_or_missing(p_id);
  END IF;
  SELECT p_id AS id;
END;

CREATE OR REPLACE PROCEDURE cus_by_email(IN p_email VARCHAR(254))
BEGIN
  SELECT id, name, email, tier, credit_limit, active, version FROM cus_customers WHERE email = p_email;
END;
