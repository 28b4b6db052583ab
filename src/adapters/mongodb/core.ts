import { Effect } from "effect"
import { MongoError, MongoServerError, type Document, type MongoClient } from "mongodb"
import { completeRow, type CoreCall, type NamasteCoreService, type Row, type StoreObjectKinds } from "../port.js"
import { Conflict, NotFound, Unavailable, type OperationError } from "../../protocol/errors.js"
import type { Template } from "../../templates/schema.js"
import { driverCall } from "../driver-call.js"
import { connectMongo, type MongoDbConfig } from "./client.js"
import { bindPipeline, type NamedPipeline } from "./pipelines.js"

// Server codes that mean "try again": shutdown, stepdown, not primary, timeouts, network.
const TRANSIENT_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436])

/**
 * MongoDB errors by class: network, server selection, stepdown, a retryable label -> transient;
 * duplicate key -> conflict. Anything else (a command the server refuses, a malformed pipeline)
 * is a deployment defect: made a defect on purpose, so the message is dead-lettered and logged.
 */
const classify = (error: unknown): Effect.Effect<never, OperationError> => {
  if (error instanceof MongoServerError && error.code === 11000) return Effect.fail(new Conflict({ message: "duplicate key" }))
  if (
    error instanceof MongoError &&
    (error.name === "MongoNetworkError" || error.name === "MongoServerSelectionError" || error.name === "MongoNetworkTimeoutError" ||
      (typeof error.code === "number" && TRANSIENT_CODES.has(error.code)) ||
      error.hasErrorLabel("RetryableWriteError") || error.hasErrorLabel("TransientTransactionError"))
  ) {
    return Effect.fail(new Unavailable({ message: `mongodb: ${error.message}` }))
  }
  return Effect.die(error)
}

const attempt = <A>(operation: () => Promise<A>) => driverCall(operation).pipe(Effect.catchAll((failed) => classify(failed.cause)))

/** Documents go out as the template's records: no _id (the template's key identifies a record). */
const toRow = (template: Template, document: Document): Row => {
  const { _id, ...rest } = document
  return completeRow(template, rest)
}

/** The standard operations use a collection; named reads run a pipeline (a file of the DBA's). */
export const mongoDbObjectKinds: StoreObjectKinds = { fetch: "collection", write: "collection", named: "pipeline" }

/**
 * The MongoDB NamasteCore: a named collection (with the DBA's unique index on the key) for the
 * standard operations; named reads run the DBA's aggregation pipelines with request values bound
 * into their declared slots.
 */
export const makeMongoDbCore = (
  config: MongoDbConfig,
  options: { readonly appName: string; readonly timeoutMs: number; readonly pipelines: ReadonlyMap<string, NamedPipeline> }
) =>
  Effect.gen(function*() {
    const client: MongoClient = yield* connectMongo(config, options).pipe(Effect.mapError((error) => new Unavailable({ message: error.reason })))
    const db = client.db(config.database)
    const locking = (template: Template) => template.capabilities.optimistic_locking
    const keyFilter = (call: CoreCall) => ({ [call.template.key]: call.values[call.template.key] })
    const staleOrMissing = (call: CoreCall): Effect.Effect<never, OperationError> =>
      Effect.flatMap(attempt(() => db.collection(call.object).findOne(keyFilter(call))), (found): Effect.Effect<never, OperationError> =>
        found !== null
          ? Effect.fail(new Conflict({ message: "stale version" }))
          : Effect.fail(new NotFound({ message: `no ${call.template.name} with that ${call.template.key}` })))
    const versioned = (call: CoreCall) =>
      locking(call.template) && call.values["version"] !== undefined ? { ...keyFilter(call), version: call.values["version"] } : keyFilter(call)

    const service: NamasteCoreService = {
      createRecord: (call) => {
        const document: Record<string, unknown> = { ...call.values, ...(locking(call.template) ? { version: 1 } : {}) }
        return attempt(() => db.collection(call.object).insertOne({ ...document })).pipe(
          Effect.as(completeRow(call.template, document))
        )
      },
      fetchRecords: (call) =>
        attempt(() => db.collection(call.object).find(keyFilter(call)).limit(2).toArray()).pipe(
          Effect.map((documents) => documents.map((document) => toRow(call.template, document)))
        ),
      updateRecord: (call) => {
        const fields = Object.fromEntries(Object.entries(call.values).filter(([field]) => field !== call.template.key && field !== "version"))
        const update: Document = {
          ...(Object.keys(fields).length > 0 ? { $set: fields } : {}),
          ...(locking(call.template) ? { $inc: { version: 1 } } : {})
        }
        return attempt(() => db.collection(call.object).findOneAndUpdate(versioned(call), update, { returnDocument: "after" })).pipe(
          Effect.flatMap((document) => document === null ? staleOrMissing(call) : Effect.succeed(toRow(call.template, document)))
        )
      },
      // deleteOne, not findOneAndDelete: a delete answers with the key on every adapter.
      deleteRecord: (call) =>
        attempt(() => db.collection(call.object).deleteOne(versioned(call))).pipe(
          Effect.flatMap((result) => result.deletedCount === 0 ? staleOrMissing(call) : Effect.succeed(keyFilter(call)))
        ),
      callOperation: (call) => {
        const pipeline = options.pipelines.get(call.object)
        if (pipeline === undefined) return Effect.die(`pipeline ${call.object} is not loaded`)
        if (call.kind === "write") return Effect.die(`named writes are not supported on mongodb (${call.template.name})`)
        return attempt(() => db.collection(pipeline.collection).aggregate(bindPipeline(pipeline, call.values)).toArray()).pipe(
          Effect.map((documents) => documents.map((document) => toRow(call.template, document)))
        )
      },
      objectExists: (_template, object, kind) => {
        if (kind === "pipeline") return Effect.succeed(options.pipelines.has(object))
        // A collection is the DBA's when it has the DBA's indexes (at least the key's unique index),
        // not only `_id_`: listIndexes fails with NamespaceNotFound (26) for a missing collection on
        // MongoDB, and some servers (jongodb) answer `_id_` for any name. listCollections is not
        // available on every server.
        return attempt(() => db.collection(object).listIndexes().toArray()).pipe(
          Effect.map((indexes) => indexes.some((index) => index["name"] !== "_id_")),
          Effect.catchAllDefect((defect) =>
            defect instanceof MongoServerError && defect.code === 26 ? Effect.succeed(false) : Effect.die(defect))
        )
      }
    }
    return service
  })
