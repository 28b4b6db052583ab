import { Effect } from "effect"
import type { AdapterName, Template } from "../templates/schema.js"
import { dynamoDbObjectKinds } from "./dynamodb/core.js"
import { IDEMPOTENCY } from "./dynamodb/once.js"
import { TICKETS_TEMPLATE } from "../protocol/routing.js"
import { mariaDbObjectKinds, mariaDbOwnObjects, mariaDbTicketObjects } from "./mariadb/core.js"
import { mongoDbObjectKinds, mongoDbOwnObjects } from "./mongodb/core.js"
import type { NamasteCoreService, ObjectKind, StoreObjectKinds } from "./port.js"

const objectKinds: Readonly<Record<AdapterName, StoreObjectKinds>> = {
  mariadb: mariaDbObjectKinds,
  mongodb: mongoDbObjectKinds,
  dynamodb: dynamoDbObjectKinds
}

/** BEDS's own objects a store needs for the templates that write there (schema/beds). */
const ownObjects: Readonly<Record<AdapterName, ReadonlyArray<{ readonly object: string; readonly kind: ObjectKind }>>> = {
  mariadb: mariaDbOwnObjects,
  mongodb: mongoDbOwnObjects,
  dynamodb: [{ object: IDEMPOTENCY, kind: "table" }]
}

const writes = (template: Template) =>
  template.operations.create !== undefined || template.operations.update !== undefined || template.operations.delete !== undefined ||
  Object.values(template.operations.named).some((op) => op.kind === "write")

/**
 * The database objects a template needs, with the kind each must be on its adapter: those it
 * names, BEDS's own idempotency objects on its store when it has a write, and the ticket store's
 * objects for the `tickets` template (a poll reads its view; the jobs use its procedures).
 */
export const namedObjects = (template: Template): ReadonlyArray<{ readonly object: string; readonly kind: ObjectKind }> => {
  const kinds = objectKinds[template.adapter]
  const standard = (["create", "fetch", "update", "delete"] as const).flatMap((op) => {
    const declared = template.operations[op]
    return declared === undefined ? [] : [{ object: declared.object, kind: op === "fetch" ? kinds.fetch : kinds.write }]
  })
  const named = Object.values(template.operations.named).map((op) => ({ object: op.object, kind: kinds.named }))
  const tickets = template.name === TICKETS_TEMPLATE && template.adapter === "mariadb" ? mariaDbTicketObjects : []
  return [...standard, ...named, ...(writes(template) ? ownObjects[template.adapter] : []), ...tickets]
}

/** The objects of `template` its adapter does not have; empty when all exist. */
export const missingObjects = (template: Template, adapter: NamasteCoreService) =>
  Effect.filter(namedObjects(template), ({ kind, object }) => Effect.map(adapter.objectExists(template, object, kind), (exists) => !exists))
