-- BEDS's own store: async tickets (the seeds' CALGON pattern). A request sent as a ticket is recorded
-- here (with the envelope its job runs), answered at once with the ticket, and run by whichever node
-- holds the ticket's lease; a node renews the lease while the job runs, and a lease that runs out
-- (the node died) lets another node claim the job again. Every time is the database's clock, so the
-- nodes' clocks do not matter. Applied by `npm run schema:apply` with the DBA's own objects; the node
-- calls the procedures and reads the view, and cannot touch the table.
CREATE TABLE IF NOT EXISTS beds_tickets (
  ticket_id VARCHAR(120) NOT NULL PRIMARY KEY,
  -- The submitting request's lineage.eventId: a redelivered or resent submission finds its ticket.
  scope VARCHAR(120) NOT NULL,
  template VARCHAR(64) NOT NULL,
  op VARCHAR(64) NOT NULL,
  caller_id VARCHAR(128) NULL,
  -- The request envelope (JSON) the job runs.
  request LONGTEXT NOT NULL,
  -- Where a completion notice goes (a queue).
  notify_to VARCHAR(255) NULL,
  -- pending | running | done | failed; `expired` is computed by the view.
  status VARCHAR(16) NOT NULL,
  owner VARCHAR(64) NULL,
  lease_until DATETIME(6) NULL,
  attempts INT NOT NULL DEFAULT 0,
  result LONGTEXT NULL,
  error_code VARCHAR(32) NULL,
  error_message TEXT NULL,
  parent_id VARCHAR(120) NOT NULL,
  depth INT NOT NULL,
  keep_s INT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  started_at DATETIME(6) NULL,
  ended_at DATETIME(6) NULL,
  expires_at DATETIME(6) NOT NULL,
  UNIQUE KEY beds_tickets_scope (scope),
  KEY beds_tickets_claim (status, lease_until),
  KEY beds_tickets_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- What a poll reads (the `tickets` template's fetch). A ticket that ended (or never started) and is
-- past expires_at is `expired`, without its result.
CREATE OR REPLACE VIEW beds_tickets_v AS
SELECT ticket_id,
       CASE WHEN status <> 'running' AND expires_at < NOW(6) THEN 'expired' ELSE status END AS status,
       template, op, caller_id, attempts,
       CASE WHEN expires_at < NOW(6) THEN NULL ELSE result END AS result,
       error_code, error_message, parent_id, depth, created_at, started_at, ended_at, expires_at
  FROM beds_tickets;

-- Records a ticket unless its scope has one; answers the scope's ticket (new or existing) as a poll reads it.
CREATE OR REPLACE PROCEDURE beds_ticket_open(
  IN p_ticket_id VARCHAR(120), IN p_scope VARCHAR(120), IN p_template VARCHAR(64), IN p_op VARCHAR(64),
  IN p_caller_id VARCHAR(128), IN p_request LONGTEXT, IN p_notify_to VARCHAR(255),
  IN p_parent_id VARCHAR(120), IN p_depth INT, IN p_keep_s INT)
BEGIN
  DECLARE CONTINUE HANDLER FOR 1062 BEGIN END;
  INSERT INTO beds_tickets (ticket_id, scope, template, op, caller_id, request, notify_to,
                            status, parent_id, depth, keep_s, created_at, expires_at)
    VALUES (p_ticket_id, p_scope, p_template, p_op, p_caller_id, p_request, p_notify_to,
            'pending', p_parent_id, p_depth, p_keep_s, NOW(6), NOW(6) + INTERVAL p_keep_s SECOND);
  SELECT v.* FROM beds_tickets_v v JOIN beds_tickets t ON t.ticket_id = v.ticket_id WHERE t.scope = p_scope;
END;

-- Claims a job for p_owner for p_lease_s seconds: the ticket p_ticket_id, or (NULL) the oldest one any
-- node may take: pending, or running with its lease run out (its node stopped). A job already started
-- p_max_attempts times ends `failed` instead. Answers the ticket with its request and its new status
-- (running: the caller runs it; failed: it ended here), or nothing when there was none to claim.
CREATE OR REPLACE PROCEDURE beds_ticket_claim(IN p_ticket_id VARCHAR(120), IN p_owner VARCHAR(64), IN p_lease_s INT, IN p_max_attempts INT)
BEGIN
  DECLARE v_id VARCHAR(120) DEFAULT NULL;
  DECLARE v_attempts INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_id = NULL;
  START TRANSACTION;
  IF p_ticket_id IS NULL THEN
    SELECT ticket_id, attempts INTO v_id, v_attempts FROM beds_tickets
     WHERE (status = 'pending' AND expires_at > NOW(6)) OR (status = 'running' AND lease_until < NOW(6))
     ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED;
  ELSE
    SELECT ticket_id, attempts INTO v_id, v_attempts FROM beds_tickets
     WHERE ticket_id = p_ticket_id
       AND ((status = 'pending' AND expires_at > NOW(6)) OR (status = 'running' AND lease_until < NOW(6)))
     FOR UPDATE SKIP LOCKED;
  END IF;
  IF v_id IS NOT NULL THEN
    IF v_attempts >= p_max_attempts THEN
      UPDATE beds_tickets
         SET status = 'failed', owner = NULL, lease_until = NULL, error_code = 'unavailable',
             error_message = CONCAT('the job was started ', v_attempts, ' times and its node stopped each time before it ended (no heartbeat within the lease)'),
             ended_at = NOW(6), expires_at = NOW(6) + INTERVAL keep_s SECOND
       WHERE ticket_id = v_id;
    ELSE
      UPDATE beds_tickets
         SET status = 'running', owner = p_owner, lease_until = NOW(6) + INTERVAL p_lease_s SECOND,
             attempts = attempts + 1, started_at = COALESCE(started_at, NOW(6))
       WHERE ticket_id = v_id;
    END IF;
  END IF;
  COMMIT;
  SELECT ticket_id, status, request, attempts, notify_to, parent_id, depth
    FROM beds_tickets WHERE ticket_id = v_id;
END;

-- Renews the lease of a job its owner still holds; answers held = 1, or 0 when it lost the job.
CREATE OR REPLACE PROCEDURE beds_ticket_beat(IN p_ticket_id VARCHAR(120), IN p_owner VARCHAR(64), IN p_lease_s INT)
BEGIN
  UPDATE beds_tickets SET lease_until = NOW(6) + INTERVAL p_lease_s SECOND
   WHERE ticket_id = p_ticket_id AND owner = p_owner AND status = 'running';
  SELECT ROW_COUNT() AS held;
END;

-- Ends a job its owner still holds: done with its result (JSON), or failed with an error code and
-- message; it is then kept keep_s seconds. Answers ended = 1, or 0 when the owner had lost the job.
CREATE OR REPLACE PROCEDURE beds_ticket_finish(
  IN p_ticket_id VARCHAR(120), IN p_owner VARCHAR(64), IN p_status VARCHAR(16), IN p_result LONGTEXT,
  IN p_error_code VARCHAR(32), IN p_error_message TEXT)
BEGIN
  UPDATE beds_tickets
     SET status = p_status, result = p_result, error_code = p_error_code, error_message = p_error_message,
         owner = NULL, lease_until = NULL, ended_at = NOW(6), expires_at = NOW(6) + INTERVAL keep_s SECOND
   WHERE ticket_id = p_ticket_id AND owner = p_owner AND status = 'running' AND p_status IN ('done', 'failed');
  SELECT ROW_COUNT() AS ended;
END;

-- Removes up to p_limit tickets that have been expired for as long again as they were kept (until
-- then a poll answers `expired`; afterwards `unknown`). Safe on every node at once.
CREATE OR REPLACE PROCEDURE beds_ticket_sweep(IN p_limit INT)
BEGIN
  DELETE FROM beds_tickets
   WHERE status <> 'running' AND expires_at < NOW(6) - INTERVAL keep_s SECOND
   ORDER BY expires_at LIMIT p_limit;
  SELECT ROW_COUNT() AS removed;
END;
