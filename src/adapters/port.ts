import { Context, type Effect } from "effect"
import type { OperationError } from "../protocol/errors.js"
import type { Template } from "../templates/schema.js"

export type Row = Readonly<Record<string, unknown>>

/** What the factory hands an adapter: a template, the object it names, and decoded values. */
export interface CoreCall {
  readonly template: Template
  /** A database object name from the template (already an identifier). */
  readonly object: string
  /** Decoded request values, keyed by field name. */
  readonly values: Readonly<Record<string, unknown>>
  /** Field names in the order the object takes them (procedure arguments, pipeline slots). */
  readonly params: ReadonlyArray<string>
}

/**
 * The one interface every database adapter provides (the seeds' NamasteCore). Adapters call only
 * the database objects the template names, with request values bound, never spliced into text.
 * Each method fails only with the error catalog's operation errors; a failure that is a defect of
 * the deployment (a missing object, a refused command) is a defect on purpose (see each adapter).
 */
export interface NamasteCoreService {
  readonly createRecord: (call: CoreCall) => Effect.Effect<Row, OperationError>
  readonly fetchRecords: (call: CoreCall) => Effect.Effect<ReadonlyArray<Row>, OperationError>
  readonly updateRecord: (call: CoreCall) => Effect.Effect<Row, OperationError>
  /** Answers with the deleted record's key. */
  readonly deleteRecord: (call: CoreCall) => Effect.Effect<Row, OperationError>
  readonly callOperation: (call: CoreCall & { readonly kind: "read" | "write" }) => Effect.Effect<unknown, OperationError>
  /** Whether an object the template names exists, for the IPL's template check. */
  readonly objectExists: (template: Template, object: string, kind: ObjectKind) => Effect.Effect<boolean, OperationError>
}

export type ObjectKind = "procedure" | "view" | "collection" | "pipeline" | "table" | "index"

/** The kind of object a store uses for each sort of operation (the IPL checks each exists). */
export interface StoreObjectKinds {
  readonly fetch: ObjectKind
  readonly write: ObjectKind
  readonly named: ObjectKind
}

export class NamasteCore extends Context.Tag("beds/NamasteCore")<NamasteCore, NamasteCoreService>() {}

/**
 * Records look the same whichever store holds them: every template field is present (null when
 * unset), plus what the store keeps beside them (version). Document and key-value stores omit
 * unset attributes; relational views return them as NULL.
 */
export const completeRow = (template: Template, row: Row): Row => {
  const complete: Record<string, unknown> = {}
  for (const field of Object.keys(template.fields)) complete[field] = row[field] ?? null
  for (const [key, value] of Object.entries(row)) if (!(key in complete)) complete[key] = value
  return complete
}
