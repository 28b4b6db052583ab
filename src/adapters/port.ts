import { Context, type Effect } from "effect"
import type { InProgress, KeyReused, OperationError, Unavailable } from "../protocol/errors.js"
import type { Template } from "../templates/schema.js"
import type { TicketStore } from "./tickets.js"

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

/** The four ways a request changes data: the standard writes, and a template's named writes. */
export type WriteKind = "create" | "update" | "delete" | "named"

/**
 * A mutation's idempotency: it runs at most once per `scope`, and its outcome is recorded with it
 * (kept `retentionS` seconds) for every repeat. `fingerprint` says what the request means: a repeat
 * with another one is refused as KeyReused, and nothing runs.
 */
export interface Once {
  readonly scope: string
  readonly fingerprint: string
  readonly retentionS: number
}

/** What a write's first run ended with, as recorded with it and given to every repeat. */
export type Recorded =
  | { readonly ok: true; readonly data: unknown }
  | { readonly ok: false; readonly code: "conflict" | "not_found" | "validation"; readonly message: string }

export interface Written {
  readonly recorded: Recorded
  /** The outcome of an earlier run of the scope, returned without running again. */
  readonly replayed: boolean
  /** The record before the write, when asked (the journal's `before`), read in the same transaction. */
  readonly before: Row | null
}

/**
 * The one interface every database adapter provides (the seeds' NamasteCore). Adapters call only
 * the database objects the template names, with request values bound, never spliced into text.
 * Reads fail only with the error catalog's operation errors; a write's caller errors (conflict,
 * not_found, validation) are its recorded outcome, and it fails only when it may not have run
 * (Unavailable) or must not run (KeyReused, InProgress). A failure that is a defect of the
 * deployment (a missing object, a refused command) is a defect on purpose (see each adapter).
 */
export interface NamasteCoreService {
  readonly fetchRecords: (call: CoreCall) => Effect.Effect<ReadonlyArray<Row>, OperationError>
  /** A named read: the records the object (procedure, pipeline, index) gives for the call's values. */
  readonly readNamed: (call: CoreCall) => Effect.Effect<ReadonlyArray<Row>, OperationError>
  /**
   * A write, at most once per scope: the write and its recorded outcome commit together (each
   * adapter says how, and what holds where its store cannot do that); a repeat of the scope gets
   * the recorded outcome. `before` names the fetch object to read the record from first.
   */
  readonly write: (
    call: CoreCall,
    kind: WriteKind,
    once: Once,
    options: { readonly before: string | undefined }
  ) => Effect.Effect<Written, Unavailable | KeyReused | InProgress>
  /**
   * The ticket store (async jobs), on the stores that keep one: MariaDB only (docs/protocol.md,
   * Tickets, says why one store is enough).
   */
  readonly tickets?: TicketStore
  /** Removes up to `limit` idempotency records past their retention; answers how many. */
  readonly sweepExpired: (limit: number) => Effect.Effect<number, Unavailable>
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
