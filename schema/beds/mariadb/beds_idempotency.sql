-- BEDS's own store: the first outcome of every mutation, by idempotency scope ({template}/{key}).
-- A mutation inserts its record, runs and records its outcome in one transaction, so the write
-- and its record commit together; a repeat of the scope finds the committed record and gets the
-- same outcome without running. Applied by `npm run schema:apply` with the DBA's own objects.
CREATE TABLE IF NOT EXISTS beds_idempotency (
  scope VARCHAR(200) NOT NULL PRIMARY KEY,
  fingerprint CHAR(64) NOT NULL,
  outcome LONGTEXT NULL,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  KEY beds_idempotency_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Opens the write's transaction and claims its scope there. Nothing comes back when the claim is
-- the caller's: the transaction stays open for the write and beds_idem_close. Otherwise the existing
-- record comes back (committed: a claim held by another open transaction waits for it) and the
-- transaction is already rolled back. One round trip instead of BEGIN and a CALL.
CREATE OR REPLACE PROCEDURE beds_idem_open(IN p_scope VARCHAR(200), IN p_fingerprint CHAR(64), IN p_retention_s INT)
BEGIN
  DECLARE existing BOOLEAN DEFAULT FALSE;
  DECLARE CONTINUE HANDLER FOR 1062 SET existing = TRUE;
  START TRANSACTION;
  INSERT INTO beds_idempotency (scope, fingerprint, created_at, expires_at)
    VALUES (p_scope, p_fingerprint, NOW(6), NOW(6) + INTERVAL p_retention_s SECOND);
  IF existing THEN
    SELECT fingerprint, outcome FROM beds_idempotency WHERE scope = p_scope LOCK IN SHARE MODE;
    ROLLBACK;
  END IF;
END;

-- Records the outcome of the scope beds_idem_open claimed (JSON) and commits the transaction: the
-- write and its record together. One round trip instead of a CALL and COMMIT.
CREATE OR REPLACE PROCEDURE beds_idem_close(IN p_scope VARCHAR(200), IN p_outcome LONGTEXT)
BEGIN
  UPDATE beds_idempotency SET outcome = p_outcome WHERE scope = p_scope;
  COMMIT;
END;

-- beds_idem_begin and beds_idem_finish: the same in a transaction the caller opens and commits
-- (BEGIN, begin, the write, finish, COMMIT). Nodes before beds_idem_open used them; kept so that
-- such a node keeps working during a rolling upgrade.

-- Claims a scope in the caller's transaction. Nothing comes back when the claim is the caller's;
-- otherwise the existing record (committed: a claim held by another open transaction waits for it).
-- Retention is counted by the database's clock, so nodes' clocks do not matter.
CREATE OR REPLACE PROCEDURE beds_idem_begin(IN p_scope VARCHAR(200), IN p_fingerprint CHAR(64), IN p_retention_s INT)
BEGIN
  DECLARE existing BOOLEAN DEFAULT FALSE;
  DECLARE CONTINUE HANDLER FOR 1062 SET existing = TRUE;
  INSERT INTO beds_idempotency (scope, fingerprint, created_at, expires_at)
    VALUES (p_scope, p_fingerprint, NOW(6), NOW(6) + INTERVAL p_retention_s SECOND);
  IF existing THEN
    SELECT fingerprint, outcome FROM beds_idempotency WHERE scope = p_scope LOCK IN SHARE MODE;
  END IF;
END;

-- Records the outcome of a claimed scope (JSON), in the same transaction as the write.
CREATE OR REPLACE PROCEDURE beds_idem_finish(IN p_scope VARCHAR(200), IN p_outcome LONGTEXT)
BEGIN
  UPDATE beds_idempotency SET outcome = p_outcome WHERE scope = p_scope;
END;

-- Removes up to p_limit records past their retention; answers how many. Safe on every node at once.
CREATE OR REPLACE PROCEDURE beds_idem_sweep(IN p_limit INT)
BEGIN
  DELETE FROM beds_idempotency WHERE expires_at < NOW(6) ORDER BY expires_at LIMIT p_limit;
  SELECT ROW_COUNT() AS removed;
END;
