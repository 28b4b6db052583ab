-- Benchmark objects (bench_rel, bench_cached).
CREATE TABLE IF NOT EXISTS bnr_items (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  payload VARCHAR(1000) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE OR REPLACE VIEW bnr_view AS SELECT id, payload FROM bnr_items;

CREATE OR REPLACE PROCEDURE bnr_create(IN p_payload VARCHAR(1000))
BEGIN
  INSERT INTO bnr_items (payload) VALUES (p_payload);
  SELECT LAST_INSERT_ID() AS id, p_payload AS payload;
END;

CREATE OR REPLACE PROCEDURE bnr_by_id(IN p_id BIGINT)
BEGIN
  SELECT id, payload FROM bnr_items WHERE id = p_id;
END;
