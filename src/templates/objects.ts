import { Effect } from "effect"
import type { NamasteCoreService, ObjectKind } from "../core/namaste-core.js"
import type { Template } from "./schema.js"

/** The database objects a template names, with the kind each must be on its adapter. */
export const namedObjects = (template: Template): ReadonlyArray<{ readonly object: string; readonly kind: ObjectKind }> => {
  const { operations } = template
  const standard = (["create", "fetch", "update", "delete"] as const).flatMap((op) => {
    const declared = operations[op]
    if (declared === undefined) return []
    const kind: ObjectKind = template.adapter === "mariadb"
      ? (op === "fetch" ? "view" : "procedure")
      : template.adapter === "mongodb" ? "collection" : "table"
    return [{ object: declared.object, kind }]
  })
  const named = Object.values(operations.named).map((op) => ({
    object: op.object,
    kind: (template.adapter === "mariadb" ? "procedure" : template.adapter === "mongodb" ? "pipeline" : "index") as ObjectKind
  }))
  return [...standard, ...named]
}

/** The objects of `template` its adapter does not have; empty when all exist. */
export const missingObjects = (template: Template, adapter: NamasteCoreService) =>
  Effect.filter(namedObjects(template), ({ kind, object }) => Effect.map(adapter.objectExists(template, object, kind), (exists) => !exists))
