-- DBA objects of the chaos suite's `chaos_ledger` template (bench/chaos/templates/chaos_ledger.toml).
-- On purpose there is NO unique index on `ledger`: a create that runs twice must show as two rows,
-- not as a `conflict` reply, so the suite can count duplicated effects. The plain index only makes
-- the suite's GROUP BY cheap.

CREATE TABLE IF NOT EXISTS chx_entries (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ledger VARCHAR(128) NOT NULL,
  amount BIGINT NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY chx_ledger (ledger)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE OR REPLACE VIEW chx_view AS SELECT id, ledger, amount FROM chx_entries;

CREATE OR REPLACE PROCEDURE chx_create(IN p_ledger VARCHAR(128), IN p_amount BIGINT)
BEGIN
  INSERT INTO chx_entries (ledger, amount) VALUES (p_ledger, p_amount);
  SELECT id, ledger, amount FROM chx_entries WHERE id = LAST_INSERT_ID();
END;
