import { Effect } from "effect"
import type { AdapterName, Template } from "../templates/schema.js"
import { dynamoDbObjectKinds } from "./dynamodb/core.js"
import { mariaDbObjectKinds } from "./mariadb/core.js"
import { mongoDbObjectKinds } from "./mongodb/core.js"
import type { NamasteCoreService, ObjectKind, StoreObjectKinds } from "./port.js"

const objectKinds: Readonly<Record<AdapterName, StoreObjectKinds>> = {
  mariadb: mariaDbObjectKinds,
  mongodb: mongoDbObjectKinds,
  dynamodb: dynamoDbObjectKinds
}

/** The database objects a template names, with the kind each must be on its adapter. */
export const namedObjects = (template: Template): ReadonlyArray<{ readonly object: string; readonly kind: ObjectKind }> => {
  const kinds = objectKinds[template.adapter]
  const standard = (["create", "fetch", "update", "delete"] as const).flatMap((op) => {
    const declared = template.operations[op]
    return declared === undefined ? [] : [{ object: declared.object, kind: op === "fetch" ? kinds.fetch : kinds.write }]
  })
  const named = Object.values(template.operations.named).map((op) => ({ object: op.object, kind: kinds.named }))
  return [...standard, ...named]
}

/** The objects of `template` its adapter does not have; empty when all exist. */
export const missingObjects = (template: Template, adapter: NamasteCoreService) =>
  Effect.filter(namedObjects(template), ({ kind, object }) => Effect.map(adapter.objectExists(template, object, kind), (exists) => !exists))
