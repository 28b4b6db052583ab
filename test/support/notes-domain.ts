/** A small domain that is not shipped: a template and its MariaDB objects, for tests that add a domain. */
export const notesTemplate = `
template_version = 1
name = "notes"
acronym = "NTE"
store = "rel"
adapter = "mariadb"
key = "id"

[fields.id]
type = "integer"
min = 1

[fields.body]
type = "string"
required = true
max_length = 500

[operations.create]
object = "nte_create"
params = ["body"]

[operations.fetch]
object = "nte_view"
`
export const notesSchema = `
CREATE TABLE IF NOT EXISTS nte_notes (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, body VARCHAR(500) NOT NULL) ENGINE = InnoDB;
CREATE OR REPLACE VIEW nte_view AS SELECT id, body FROM nte_notes;
CREATE OR REPLACE PROCEDURE nte_create(IN p_body VARCHAR(500))
BEGIN
  INSERT INTO nte_notes (body) VALUES (p_body);
  SELECT id, body FROM nte_notes WHERE id = LAST_INSERT_ID();
END;
`
