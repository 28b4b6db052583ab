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
 */
export interface NamasteCoreService {
  readonly createRecord: (call: CoreCall) => Effect.Effect<Row, OperationError>
  readonly fetchRecords: (call: CoreCall) => Effect.Effect<ReadonlyArray<Row>, OperationError>
  readonly updateRecord: (call: CoreCall) => Effect.Effect<Row, OperationError>
  readonly deleteRecord: (call: CoreCall) => Effect.Effect<Row, OperationError>
  readonly callOperation: (call: CoreCall & { readonly kind: "read" | "write" }) => Effect.Effect<unknown, OperationError>
  /** Whether a named object exists, for the IPL's template check. */
  readonly objectExists: (object: string, kind: ObjectKind) => Effect.Effect<boolean, OperationError>
}

export type ObjectKind = "procedure" | "view" | "collection" | "pipeline" | "table" | "index"

export class NamasteCore extends Context.Tag("beds/NamasteCore")<NamasteCore, NamasteCoreService>() {}
