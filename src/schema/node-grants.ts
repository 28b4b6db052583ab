import { Effect, Schema } from "effect"
import { mariaDbOwnObjects, mariaDbTicketObjects } from "../adapters/mariadb/core.js"
import { namedObjects } from "../adapters/objects.js"
import type { ObjectKind } from "../adapters/port.js"
import { Identifier } from "../protocol/envelope.js"
import { loadTemplates } from "../templates/load.js"
import type { Template } from "../templates/schema.js"

/** What a node may do with each kind of object: call a procedure, read a view, use a store's table. */
const privilegeOn: Partial<Record<ObjectKind, string>> = {
  procedure: "EXECUTE ON PROCEDURE",
  view: "SELECT ON",
  table: "SELECT, INSERT, UPDATE, DELETE ON"
}

/** A database name that cannot be spliced into a GRANT (not an identifier). */
export class GrantRefused extends Schema.TaggedError<GrantRefused>()("GrantRefused", { message: Schema.String }) {}

/**
 * The node's MariaDB account's privileges, and nothing more: the objects its MariaDB templates name
 * (procedures to call, views to read) and BEDS's own stores' objects. The lists of the latter are
 * `mariaDbOwnObjects` and `mariaDbTicketObjects` (src/adapters/mariadb/core.ts): an object added
 * there (one line, with its kind) is checked by the IPL and granted here. Each statement is `GRANT ... TO ?@?`, for the caller
 * to bind the account's user and host. Object names are identifiers (the template Schema checks
 * them; BEDS's own are constants); `database` is checked here.
 */
export const nodeGrantStatements = (database: string, templates: ReadonlyArray<Template>) =>
  Effect.gen(function*() {
    if (!Schema.is(Identifier)(database)) return yield* new GrantRefused({ message: `not a database name: ${database}` })
    // BEDS's own objects always: the node's idempotency sweep calls them on every store it has,
    // whether or not a template writes there, and its job runner and ticket sweep call the ticket store's.
    const objects = [...mariaDbOwnObjects, ...mariaDbTicketObjects, ...templates.filter((template) => template.adapter === "mariadb").flatMap(namedObjects)]
    const statements = objects.flatMap(({ kind, object }) => {
      const privilege = privilegeOn[kind]
      return privilege === undefined ? [] : [`GRANT ${privilege} \`${database}\`.\`${object}\` TO ?@?`]
    })
    return [...new Set(statements)]
  })

/** nodeGrantStatements for the templates in `directory` (decoded as the node decodes them). */
export const nodeGrantStatementsFor = (database: string, directory: string) =>
  loadTemplates(directory).pipe(
    Effect.flatMap((loaded) => nodeGrantStatements(database, loaded.map(({ template }) => template)))
  )
